#include "codegen/cuda/launch.hpp"

#include <cstdint>

#include "codegen/cuda/nvrtc.hpp"
#include "kiln/error.hpp"
#include "runtime/cuda_driver.hpp"

namespace kiln::codegen::cuda {

namespace {
using runtime::cu::Function;
using runtime::cu::Module;
}  // namespace

CudaKernel::CudaKernel(const Kernel& k, Device device) : kernel_(k), device_(device) {
  const runtime::CudaDeviceInfo& info = runtime::cuda_device(device, "CUDA kernel");
  const runtime::CudaDriver& d = runtime::cuda_driver();
  multiprocessors_ = info.multiprocessors;
  src_ = print_cuda_kernel(k, cuda_kernel_name(k));
  CudaBinary bin;
  if (!d.emulated) {  // the emulator compiles the source for the host itself
    bin = nvrtc_compile(src_.source, info.arch(), src_.name);
    compile_ms_ = bin.compile_ms;
  }
  Module m = runtime::cuda_load_module(bin.cubin.data(), src_.source, src_.name + " (" + info.arch() + ")");
  module_ = m;
  Function f = nullptr;
  d.check(d.cuModuleGetFunction(&f, m, src_.name.c_str()), "cuModuleGetFunction " + src_.name);
  strided_ = f;
  if (!src_.vec_name.empty()) {
    d.check(d.cuModuleGetFunction(&f, m, src_.vec_name.c_str()), "cuModuleGetFunction " + src_.vec_name);
    vec_ = f;
  }
}

CudaKernel::~CudaKernel() {
  if (module_) runtime::cuda_driver().cuModuleUnload(static_cast<Module>(module_));
}

void CudaKernel::run(const std::vector<Array>& inputs, const Array& out, void* stream) const {
  KILN_CHECK(inputs.size() == kernel_.num_inputs(), "CudaKernel::run: " << inputs.size() << " inputs for "
                                                                         << kernel_.num_inputs());
  const runtime::CudaDriver& d = runtime::cuda_driver();
  runtime::cuda_device(device_, "CUDA kernel");  // its context current on this thread
  const int rank = kernel_.rank;
  KILN_CHECK(out.ndim() == rank, "CudaKernel::run: output of rank " << out.ndim() << " for a rank-" << rank << " kernel");
  const std::vector<std::int64_t> shape = out.shape();

  // Each operand's element-0 pointer and strides over the iteration space.
  std::vector<const void*> data;
  std::vector<std::vector<std::int64_t>> strides;
  auto add = [&](const Array& a, const KernelOperand& o) {
    if (a.device() != device_)
      throw Error("CUDA kernel: an operand lives on " + a.device().str() + ", the kernel on " + device_.str());
    if (a.dtype() != o.dtype)
      throw Error("CUDA kernel: an operand of dtype " + std::string(dtype_name(a.dtype())) + " where " +
                  std::string(dtype_name(o.dtype)) + " is expected");
    const auto pad = rank - static_cast<int>(a.ndim());
    KILN_CHECK(pad >= 0, "an operand of higher rank than the kernel");
    std::vector<std::int64_t> s(static_cast<std::size_t>(rank), 0);
    for (int dim = pad; dim < rank; ++dim)
      if (!o.broadcast[static_cast<std::size_t>(dim)]) s[static_cast<std::size_t>(dim)] = a.strides()[static_cast<std::size_t>(dim - pad)];
    data.push_back(a.buffer()->data + a.offset() * static_cast<std::int64_t>(dtype_size(a.dtype())));
    strides.push_back(std::move(s));
  };
  for (std::size_t i = 0; i < inputs.size(); ++i) add(inputs[i], kernel_.operands[i]);
  add(out, kernel_.output());

  const KilnCudaSpace space = cuda_space(shape);
  if (space.numel == 0) return;
  last_vec_ = vec_ && cuda_vec_applies(kernel_, src_, shape, data, strides);
  std::vector<void*> params;
  std::vector<KilnCudaOperand> ops;
  std::vector<std::uintptr_t> ptrs;
  std::int64_t numel = space.numel;
  std::int64_t items = numel;
  Function f = static_cast<Function>(strided_);
  if (last_vec_) {
    f = static_cast<Function>(vec_);
    items = (numel + src_.vec_width - 1) / src_.vec_width;
    for (const void* p : data) ptrs.push_back(reinterpret_cast<std::uintptr_t>(p));
    params.push_back(&numel);
    for (std::uintptr_t& p : ptrs) params.push_back(&p);
  } else {
    for (std::size_t o = 0; o < data.size(); ++o) ops.push_back(cuda_operand(const_cast<void*>(data[o]), strides[o]));
    params.push_back(const_cast<KilnCudaSpace*>(&space));
    for (KilnCudaOperand& o : ops) params.push_back(&o);
  }
  const CudaLaunchDims dims = cuda_launch_dims(items, multiprocessors_);
  d.check(d.cuLaunchKernel(f, dims.grid, 1, 1, dims.block, 1, 1, 0, static_cast<runtime::cu::Stream>(stream),
                           params.data(), nullptr),
          "cuLaunchKernel " + src_.name);
  if (!stream) d.check(d.cuCtxSynchronize(), "running " + src_.name);
}

}  // namespace kiln::codegen::cuda
