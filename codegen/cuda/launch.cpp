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

  // Each operand's element-0 pointer, shape and strides.
  std::vector<const void*> data;
  std::vector<std::vector<std::int64_t>> shapes, strides;
  auto add = [&](const Array& a, const KernelOperand& o) {
    if (a.device() != device_)
      throw Error("CUDA kernel: an operand lives on " + a.device().str() + ", the kernel on " + device_.str());
    if (a.dtype() != o.dtype)
      throw Error("CUDA kernel: an operand of dtype " + std::string(dtype_name(a.dtype())) + " where " +
                  std::string(dtype_name(o.dtype)) + " is expected");
    KILN_CHECK(static_cast<int>(a.ndim()) <= kernel_.rank, "an operand of higher rank than the kernel");
    data.push_back(a.buffer()->data + a.offset() * static_cast<std::int64_t>(dtype_size(a.dtype())));
    shapes.push_back(a.shape());
    strides.push_back(a.strides());
  };
  for (std::size_t i = 0; i < inputs.size(); ++i) add(inputs[i], kernel_.operands[i]);
  add(out, kernel_.output());
  if (!kernel_.has_reduction())
    KILN_CHECK(out.ndim() == kernel_.rank, "CudaKernel::run: output of rank " << out.ndim() << " for a rank-"
                                                                             << kernel_.rank << " kernel");
  const CudaBinding b = cuda_bind(kernel_, shapes, strides);
  const KilnCudaSpace space = cuda_space(b.space);
  // Nothing to write. (An empty reduction still writes its identity a row.)
  if (out.size() == 0) return;
  auto* s = static_cast<runtime::cu::Stream>(stream);
  std::vector<void*> params;
  std::vector<KilnCudaOperand> ops;
  std::vector<std::uintptr_t> ptrs;
  auto strided_params = [&] {
    for (std::size_t o = 0; o < data.size(); ++o) ops.push_back(cuda_operand(const_cast<void*>(data[o]), b.strides[o]));
    params.push_back(const_cast<KilnCudaSpace*>(&space));
    for (KilnCudaOperand& o : ops) params.push_back(&o);
  };
  if (src_.reduction) {
    last_vec_.store(false, std::memory_order_relaxed);
    strided_params();
    const CudaReduceDims dims = cuda_reduce_launch_dims(kernel_, b.space, multiprocessors_);
    d.check(d.cuLaunchKernel(static_cast<Function>(strided_), dims.grid, 1, 1, dims.block_x, dims.block_y, 1, 0, s,
                             params.data(), nullptr),
            "cuLaunchKernel " + src_.name);
  } else {
    const bool vec = vec_ && cuda_vec_applies(kernel_, src_, b.space, data, b.strides);
    last_vec_.store(vec, std::memory_order_relaxed);
    std::int64_t numel = space.numel;
    std::int64_t items = numel;
    Function f = static_cast<Function>(strided_);
    if (vec) {
      f = static_cast<Function>(vec_);
      items = (numel + src_.vec_width - 1) / src_.vec_width;
      for (const void* p : data) ptrs.push_back(reinterpret_cast<std::uintptr_t>(p));
      params.push_back(&numel);
      for (std::uintptr_t& p : ptrs) params.push_back(&p);
    } else {
      strided_params();
    }
    const CudaLaunchDims dims = cuda_launch_dims(items, multiprocessors_);
    d.check(d.cuLaunchKernel(f, dims.grid, 1, 1, dims.block, 1, 1, 0, s, params.data(), nullptr),
            "cuLaunchKernel " + src_.name);
  }
  // A null stream: synchronous, as the device allocator assumes today. A
  // caller's stream: the caller synchronises (cuLaunchKernel has copied the
  // parameters, so nothing here needs to outlive the call).
  if (!s) d.check(d.cuCtxSynchronize(), "running " + src_.name);
}

}  // namespace kiln::codegen::cuda
