#include "runtime/cuda_driver.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <memory>

#include "kiln/error.hpp"

namespace kiln::runtime {

namespace {

// Names of the errors a machine without a GPU meets, for when the driver
// cannot name them itself (the toolkit's stub library cannot).
const char* known_error(cu::Result r) {
  switch (r) {
    case 0: return "CUDA_SUCCESS";
    case 1: return "CUDA_ERROR_INVALID_VALUE";
    case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
    case 3: return "CUDA_ERROR_NOT_INITIALIZED";
    case cu::kErrorStubLibrary: return "CUDA_ERROR_STUB_LIBRARY (the toolkit's stub libcuda, not a driver)";
    case 35: return "CUDA_ERROR_INSUFFICIENT_DRIVER";
    case cu::kErrorNoDevice: return "CUDA_ERROR_NO_DEVICE";
    case 101: return "CUDA_ERROR_INVALID_DEVICE";
    case 200: return "CUDA_ERROR_INVALID_IMAGE";
    case 209: return "CUDA_ERROR_NO_BINARY_FOR_GPU";
    case 222: return "CUDA_ERROR_UNSUPPORTED_PTX_VERSION";
    case 500: return "CUDA_ERROR_NOT_FOUND";
    case 700: return "CUDA_ERROR_ILLEGAL_ADDRESS";
    case 701: return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
    default: return nullptr;
  }
}

template <class F>
void bind(CudaDriver& d, F& fn, const char* name) {
  dlerror();
  void* p = dlsym(d.handle, name);
  if (!p) {
    const char* e = dlerror();
    throw RuntimeError("CUDA driver " + d.path + " lacks " + name + (e ? std::string(" (") + e + ")" : std::string()));
  }
  fn = reinterpret_cast<F>(p);
}

}  // namespace

std::string CudaDriver::error_string(cu::Result r) const {
  const char* name = nullptr;
  const char* text = nullptr;
  if (cuGetErrorName && cuGetErrorName(r, &name) != 0) name = nullptr;
  if (cuGetErrorString && cuGetErrorString(r, &text) != 0) text = nullptr;
  if (!name) name = known_error(r);
  std::string s = name ? name : "CUDA error " + std::to_string(r);
  if (text) s += std::string(" (") + text + ")";
  return s;
}

void CudaDriver::check(cu::Result r, const std::string& what) const {
  if (r != 0) throw RuntimeError("CUDA driver: " + what + " failed: " + error_string(r));
}

CudaDriver load_cuda_driver(const std::string& path) {
  CudaDriver d;
  d.path = path;
  dlerror();
  // RTLD_LOCAL: the driver's symbols stay out of the global namespace.
  d.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!d.handle) {
    const char* e = dlerror();
    throw RuntimeError("no CUDA driver: " + path + " could not be loaded (" + (e ? e : "unknown reason") +
                       "); kiln runs on the CPU only on this machine");
  }
  bind(d, d.cuInit, "cuInit");
  bind(d, d.cuDriverGetVersion, "cuDriverGetVersion");
  bind(d, d.cuGetErrorString, "cuGetErrorString");
  bind(d, d.cuGetErrorName, "cuGetErrorName");
  bind(d, d.cuDeviceGetCount, "cuDeviceGetCount");
  bind(d, d.cuDeviceGet, "cuDeviceGet");
  bind(d, d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
  bind(d, d.cuDeviceGetName, "cuDeviceGetName");
  bind(d, d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  bind(d, d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
  bind(d, d.cuCtxSetCurrent, "cuCtxSetCurrent");
  bind(d, d.cuCtxSynchronize, "cuCtxSynchronize");
  bind(d, d.cuModuleLoadData, "cuModuleLoadData");
  bind(d, d.cuModuleUnload, "cuModuleUnload");
  bind(d, d.cuModuleGetFunction, "cuModuleGetFunction");
  bind(d, d.cuLaunchKernel, "cuLaunchKernel");
  bind(d, d.cuMemAlloc, "cuMemAlloc_v2");
  bind(d, d.cuMemFree, "cuMemFree_v2");
  bind(d, d.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
  bind(d, d.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
  bind(d, d.cuMemcpyDtoD, "cuMemcpyDtoD_v2");
  bind(d, d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  bind(d, d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  bind(d, d.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
  bind(d, d.cuStreamCreate, "cuStreamCreate");
  bind(d, d.cuStreamSynchronize, "cuStreamSynchronize");
  bind(d, d.cuStreamDestroy, "cuStreamDestroy_v2");
  // Optional: a missing memset leaves it null (see the header).
  d.cuMemsetD8Async = reinterpret_cast<decltype(d.cuMemsetD8Async)>(dlsym(d.handle, "cuMemsetD8Async"));
  // Optional: present only in kiln's emulator.
  d.kilnEmuModuleLoadSource =
      reinterpret_cast<decltype(d.kilnEmuModuleLoadSource)>(dlsym(d.handle, "kilnEmuModuleLoadSource"));
  d.emulated = d.kilnEmuModuleLoadSource != nullptr;
  return d;
}

namespace {

struct DriverState {
  std::once_flag once;
  std::unique_ptr<CudaDriver> driver;
  std::string error;  // why loading or cuInit failed, thrown on every use
  std::mutex mu;      // guards devices
  std::map<int, std::unique_ptr<CudaDeviceInfo>> devices;
};
DriverState& state() {
  static DriverState s;
  return s;
}

}  // namespace

cu::Module cuda_load_module(const void* cubin, const std::string& source, const std::string& what) {
  const CudaDriver& d = cuda_driver();
  cu::Module m = nullptr;
  if (d.emulated)
    d.check(d.kilnEmuModuleLoadSource(&m, source.c_str()), "loading " + what + " (emulator)");
  else
    d.check(d.cuModuleLoadData(&m, cubin), "cuModuleLoadData of " + what);
  return m;
}

const CudaDriver& cuda_driver() {
  DriverState& s = state();
  std::call_once(s.once, [&] {
    const char* env = std::getenv("KILN_CUDA_DRIVER");
    try {
      auto d = std::make_unique<CudaDriver>(load_cuda_driver(env && *env ? env : "libcuda.so.1"));
      const cu::Result r = d->cuInit(0);
      if (r != 0) {
        s.error = "no usable CUDA driver: cuInit failed: " + d->error_string(r);
        return;
      }
      s.driver = std::move(d);
    } catch (const Error& e) {
      s.error = e.what();
    }
  });
  if (!s.driver) throw RuntimeError(s.error);
  return *s.driver;
}

const CudaDeviceInfo& cuda_device(Device dev, const std::string& op) {
  const std::string pre = op.empty() ? "" : op + ": ";
  if (!dev.is_cuda()) throw Error(pre + dev.str() + " is not a CUDA device");
  const CudaDriver* d = nullptr;
  try {
    d = &cuda_driver();
  } catch (const Error& e) {
    throw RuntimeError(pre + "cannot use " + dev.str() + ": " + e.what());
  }
  DriverState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.devices.find(dev.ordinal());
  if (it == s.devices.end()) {
    int count = 0;
    d->check(d->cuDeviceGetCount(&count), "cuDeviceGetCount");
    if (dev.ordinal() < 0 || dev.ordinal() >= count)
      throw RuntimeError(pre + dev.str() + " does not exist: the driver sees " + std::to_string(count) +
                         " CUDA device(s)");
    auto info = std::make_unique<CudaDeviceInfo>();
    info->ordinal = dev.ordinal();
    d->check(d->cuDeviceGet(&info->device, dev.ordinal()), "cuDeviceGet");
    char name[256] = {};
    d->check(d->cuDeviceGetName(name, sizeof name - 1, info->device), "cuDeviceGetName");
    info->name = name;
    d->check(d->cuDeviceGetAttribute(&info->cc_major, cu::kAttrComputeCapabilityMajor, info->device),
             "cuDeviceGetAttribute");
    d->check(d->cuDeviceGetAttribute(&info->cc_minor, cu::kAttrComputeCapabilityMinor, info->device),
             "cuDeviceGetAttribute");
    d->check(d->cuDeviceGetAttribute(&info->multiprocessors, cu::kAttrMultiprocessorCount, info->device),
             "cuDeviceGetAttribute");
    // The primary context is shared with every other library in the
    // process (cuBLAS, PyTorch), as the runtime API does; never released.
    d->check(d->cuDevicePrimaryCtxRetain(&info->context, info->device), "cuDevicePrimaryCtxRetain");
    it = s.devices.emplace(dev.ordinal(), std::move(info)).first;
  }
  d->check(d->cuCtxSetCurrent(it->second->context), "cuCtxSetCurrent");
  return *it->second;
}

bool cuda_available() {
  try {
    const CudaDriver& d = cuda_driver();
    int count = 0;
    return d.cuDeviceGetCount(&count) == 0 && count > 0;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace kiln::runtime

namespace kiln::runtime {

namespace {

struct DeviceMemory {
  std::map<std::size_t, std::vector<cu::DevicePtr>> free;  // rounded size → blocks
  CudaMemoryStats stats;
};
struct MemoryState {
  std::mutex mu;
  std::map<int, DeviceMemory> devices;
};
// Never destroyed: Arrays alive at exit still return their blocks here.
MemoryState& memory() {
  static MemoryState* m = new MemoryState;
  return *m;
}

void release_cached(const CudaDriver& d, DeviceMemory& dm) {
  for (auto& [size, blocks] : dm.free) {
    for (cu::DevicePtr p : blocks) {
      d.cuMemFree(p);  // nothing to do about a failure here
      dm.stats.bytes_cached -= size;
    }
    blocks.clear();
  }
}

}  // namespace

std::size_t cuda_rounded_size(std::size_t bytes) {
  constexpr std::size_t kSmall = 512, kLarge = std::size_t{2} << 20, kLimit = std::size_t{1} << 20;
  if (bytes == 0) bytes = 1;
  const std::size_t step = bytes <= kLimit ? kSmall : kLarge;
  return (bytes + step - 1) / step * step;
}

std::shared_ptr<Buffer> cuda_allocate(Device dev, std::size_t bytes, const std::string& op) {
  const CudaDeviceInfo& info = cuda_device(dev, op);  // makes its context current
  const CudaDriver& d = cuda_driver();
  const std::size_t size = cuda_rounded_size(bytes);
  cu::DevicePtr p = 0;
  {
    std::lock_guard<std::mutex> lock(memory().mu);
    DeviceMemory& dm = memory().devices[info.ordinal];
    auto it = dm.free.find(size);
    if (it != dm.free.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      dm.stats.bytes_cached -= size;
    } else {
      cu::Result r = d.cuMemAlloc(&p, size);
      if (r != 0) {  // give the cache back and try once more
        release_cached(d, dm);
        r = d.cuMemAlloc(&p, size);
      }
      if (r != 0)
        throw RuntimeError((op.empty() ? "" : op + ": ") + "cannot allocate " + std::to_string(bytes) + " bytes on " +
                           dev.str() + ": " + d.error_string(r));
      ++dm.stats.driver_allocations;
    }
    dm.stats.bytes_in_use += size;
  }
  auto buf = std::make_shared<Buffer>();
  buf->data = reinterpret_cast<std::byte*>(static_cast<std::uintptr_t>(p));
  buf->bytes = bytes;
  buf->device = dev;
  const int ordinal = info.ordinal;
  buf->deleter = [ordinal, size](std::byte* data) {
    std::lock_guard<std::mutex> lock(memory().mu);
    DeviceMemory& dm = memory().devices[ordinal];
    dm.free[size].push_back(static_cast<cu::DevicePtr>(reinterpret_cast<std::uintptr_t>(data)));
    dm.stats.bytes_in_use -= size;
    dm.stats.bytes_cached += size;
  };
  return buf;
}

CudaMemoryStats cuda_memory_stats(Device dev) {
  std::lock_guard<std::mutex> lock(memory().mu);
  auto it = memory().devices.find(dev.ordinal());
  return it == memory().devices.end() ? CudaMemoryStats{} : it->second.stats;
}

void cuda_empty_cache(Device dev) {
  const CudaDriver& d = cuda_driver();
  cuda_device(dev, "cuda_empty_cache");
  std::lock_guard<std::mutex> lock(memory().mu);
  auto it = memory().devices.find(dev.ordinal());
  if (it != memory().devices.end()) release_cached(d, it->second);
}

}  // namespace kiln::runtime
