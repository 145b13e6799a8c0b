// The CUDA driver API, loaded at run time with dlopen("libcuda.so.1").
//
// kiln links no CUDA library for running kernels: a machine without a GPU
// or driver still loads libkiln, and asking for Device::cuda(n) there is a
// kiln::RuntimeError ("no CUDA driver: libcuda.so.1 could not be loaded
// (...)"), not a crash. The few types and functions kiln needs are declared
// here with kiln's own names (cuda.h is neither needed nor included, so this
// builds without the toolkit); their layout is the driver's documented ABI
// (CUresult an int, handles opaque pointers, CUdeviceptr 64 bits).
// Versioned entry points are looked up by the names cuda.h maps them to
// (cuMemAlloc → cuMemAlloc_v2, ...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/device.hpp"

namespace kiln::runtime {

namespace cu {
using Result = int;  // CUresult; 0 is CUDA_SUCCESS
using Device = int;  // CUdevice
using DevicePtr = std::uint64_t;  // CUdeviceptr
struct CtxSt;
struct ModSt;
struct FuncSt;
struct StreamSt;
using Context = CtxSt*;
using Module = ModSt*;
using Function = FuncSt*;
using Stream = StreamSt*;
// CUdevice_attribute values kiln asks for.
constexpr int kAttrMultiprocessorCount = 16;
constexpr int kAttrComputeCapabilityMajor = 75;
constexpr int kAttrComputeCapabilityMinor = 76;
constexpr Result kErrorStubLibrary = 34;
constexpr Result kErrorNoDevice = 100;
}  // namespace cu

// The driver's entry points, as loaded.
struct CudaDriver {
  void* handle = nullptr;  // dlopen's; never closed (the driver stays for the process)
  std::string path;        // what was loaded

  cu::Result (*cuInit)(unsigned flags) = nullptr;
  cu::Result (*cuDriverGetVersion)(int* version) = nullptr;
  cu::Result (*cuGetErrorString)(cu::Result, const char** str) = nullptr;
  cu::Result (*cuGetErrorName)(cu::Result, const char** str) = nullptr;
  cu::Result (*cuDeviceGetCount)(int* count) = nullptr;
  cu::Result (*cuDeviceGet)(cu::Device* dev, int ordinal) = nullptr;
  cu::Result (*cuDeviceGetAttribute)(int* value, int attribute, cu::Device dev) = nullptr;
  cu::Result (*cuDeviceGetName)(char* name, int len, cu::Device dev) = nullptr;
  cu::Result (*cuDevicePrimaryCtxRetain)(cu::Context* ctx, cu::Device dev) = nullptr;
  cu::Result (*cuDevicePrimaryCtxRelease)(cu::Device dev) = nullptr;  // _v2
  cu::Result (*cuCtxSetCurrent)(cu::Context ctx) = nullptr;
  cu::Result (*cuCtxSynchronize)() = nullptr;
  cu::Result (*cuModuleLoadData)(cu::Module* mod, const void* image) = nullptr;
  cu::Result (*cuModuleUnload)(cu::Module mod) = nullptr;
  cu::Result (*cuModuleGetFunction)(cu::Function* fn, cu::Module mod, const char* name) = nullptr;
  cu::Result (*cuLaunchKernel)(cu::Function f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned shared_bytes, cu::Stream stream, void** params,
                               void** extra) = nullptr;
  cu::Result (*cuMemAlloc)(cu::DevicePtr* ptr, std::size_t bytes) = nullptr;              // _v2
  cu::Result (*cuMemFree)(cu::DevicePtr ptr) = nullptr;                                   // _v2
  cu::Result (*cuMemcpyHtoD)(cu::DevicePtr dst, const void* src, std::size_t bytes) = nullptr;  // _v2
  cu::Result (*cuMemcpyDtoH)(void* dst, cu::DevicePtr src, std::size_t bytes) = nullptr;        // _v2
  cu::Result (*cuMemcpyDtoD)(cu::DevicePtr dst, cu::DevicePtr src, std::size_t bytes) = nullptr;  // _v2
  cu::Result (*cuMemcpyHtoDAsync)(cu::DevicePtr dst, const void* src, std::size_t bytes, cu::Stream s) = nullptr;
  cu::Result (*cuMemcpyDtoHAsync)(void* dst, cu::DevicePtr src, std::size_t bytes, cu::Stream s) = nullptr;
  cu::Result (*cuMemcpyDtoDAsync)(cu::DevicePtr dst, cu::DevicePtr src, std::size_t bytes, cu::Stream s) = nullptr;
  cu::Result (*cuStreamCreate)(cu::Stream* s, unsigned flags) = nullptr;
  cu::Result (*cuStreamSynchronize)(cu::Stream s) = nullptr;
  cu::Result (*cuStreamDestroy)(cu::Stream s) = nullptr;  // _v2
  // Optional (null when the library lacks it, e.g. an emulator): the
  // caller falls back to copying zeros from the host.
  cu::Result (*cuMemsetD8Async)(cu::DevicePtr dst, unsigned char value, std::size_t bytes, cu::Stream s) = nullptr;

  // Only in kiln's CUDA emulator (tests/cuda_emu, loaded through
  // KILN_CUDA_DRIVER): loads a module from its CUDA C++ source, which the
  // emulator compiles for the host. Null for a real driver. When set,
  // `emulated` is true and kernels are not compiled by NVRTC (see
  // cuda_load_module).
  cu::Result (*kilnEmuModuleLoadSource)(cu::Module* mod, const char* source) = nullptr;
  bool emulated = false;

  // "CUDA_ERROR_OUT_OF_MEMORY (out of memory)", from the driver when it can
  // say, else the number.
  std::string error_string(cu::Result r) const;
  // Throws a kiln::RuntimeError "CUDA driver: WHAT failed: ERROR" unless r is 0.
  void check(cu::Result r, const std::string& what) const;
};

// Loads the driver from `path` (dlopen's search rules apply to a bare
// name): every entry point above must be found. A kiln::RuntimeError when
// the library or a symbol is missing; nothing is cached (tests load the
// toolkit's stub library this way).
CudaDriver load_cuda_driver(const std::string& path = "libcuda.so.1");

// The process's driver: loaded once (KILN_CUDA_DRIVER overrides the path)
// and initialised (cuInit). A failure is remembered and thrown again, as a
// kiln::RuntimeError starting "no CUDA driver: " when the library could not
// be loaded.
const CudaDriver& cuda_driver();

// A CUDA device ready for work: the driver loaded and initialised, the
// ordinal checked, the primary context retained and made current on the
// calling thread. `op` names what the user asked for, for the message
// ("Array::empty"; "" for none, when the caller adds its own prefix).
// Throws kiln::RuntimeError otherwise.
struct CudaDeviceInfo {
  int ordinal = 0;
  cu::Device device = 0;
  cu::Context context = nullptr;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
  std::string arch() const { return "sm_" + std::to_string(cc_major * 10 + cc_minor); }
};
const CudaDeviceInfo& cuda_device(Device d, const std::string& op);

// Loads a compiled kernel module on the current context: `cubin` with
// cuModuleLoadData on a real driver; `source` (the CUDA C++ the cubin was
// compiled from) on the emulator, where `cubin` may be null. `what` names
// the kernel for the error. A kiln::RuntimeError on failure.
cu::Module cuda_load_module(const void* cubin, const std::string& source, const std::string& what);

// Is a usable CUDA driver with at least one device present? Never throws
// (tests and examples use it to skip GPU work).
bool cuda_available();

}  // namespace kiln::runtime

namespace kiln::runtime {

// ---- device memory: a caching allocator ----
//
// cuMemAlloc synchronises the device and costs microseconds to
// milliseconds, so freed blocks are kept for reuse instead of going back to
// the driver: per device, free lists keyed by the rounded size (512-byte
// steps below 1 MiB, 2 MiB steps above, so one shape allocated again and
// again always finds its block). When cuMemAlloc fails, the cached blocks
// are given back and the allocation is tried once more.
//
// Each block is a Buffer on the device whose deleter returns it to its
// free list. Blocks are reused as soon as their last Array is gone: correct while
// every launch and copy is synchronous on one stream per device (today's
// only path). Kernels on several streams will need the block's last stream
// recorded with an event before reuse (TODO with streams per call).
std::shared_ptr<Buffer> cuda_allocate(Device d, std::size_t bytes, const std::string& op);

struct CudaMemoryStats {
  std::size_t driver_allocations = 0;  // cuMemAlloc calls so far
  std::size_t bytes_in_use = 0;        // rounded sizes of live blocks
  std::size_t bytes_cached = 0;        // rounded sizes of free blocks kept
};
CudaMemoryStats cuda_memory_stats(Device d);

// Gives every cached free block of `d` back to the driver.
void cuda_empty_cache(Device d);

// The rounded size of a request (what the free lists are keyed by).
std::size_t cuda_rounded_size(std::size_t bytes);

}  // namespace kiln::runtime
