// Running one kernel (elementwise or with reductions) on a CUDA device: print, compile for the
// device's architecture (NVRTC, cached), load the cubin with the driver
// (dlopen'ed, runtime/cuda_driver.hpp), launch with the ABI of abi.hpp.
//
// Synchronous with a null stream (the default stream, synchronised after
// the launch), as the device allocator assumes; with a caller's stream the
// launch is asynchronous. Not yet run on a GPU: tests/cuda/cuda_gpu_test.cpp is
// the first check, on a machine with one.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "codegen/cuda/print.hpp"
#include "codegen/kernel.hpp"
#include "kiln/array.hpp"
#include "kiln/device.hpp"

namespace kiln::codegen::cuda {

class CudaKernel {
 public:
  // Prints `k`, compiles it for `device`'s sm_XX and loads it there. A
  // kiln::RuntimeError without a driver or device, or when NVRTC fails.
  CudaKernel(const Kernel& k, Device device);
  ~CudaKernel();
  CudaKernel(const CudaKernel&) = delete;
  CudaKernel& operator=(const CudaKernel&) = delete;

  // out = kernel(inputs...): arrays on this kernel's device, the inputs
  // broadcast to `out`'s shape as the kernel's operands say (an input of
  // lower rank is left-padded, or placed by the operand's `axes`), `out` of
  // the output's dtype and of the cluster's output shape (a reduction's,
  // keepdims or not). Elementwise: the contiguous entry when
  // cuda_vec_applies, else the strided one; a reduction kernel: its entry
  // with cuda_reduce_launch_dims. `stream`: a CUstream to launch on, and
  // then nothing is synchronised (the caller synchronises before reading
  // `out` or freeing an operand); null: the default stream, synchronised
  // before returning.
  void run(const std::vector<Array>& inputs, const Array& out, void* stream = nullptr) const;

  const CudaKernelSource& source() const { return src_; }
  // Whether the last run took the contiguous entry (tests; with several
  // threads running one kernel, one of theirs).
  bool last_run_vectorised() const { return last_vec_.load(std::memory_order_relaxed); }
  double compile_ms() const { return compile_ms_; }

 private:
  Kernel kernel_;
  Device device_;
  CudaKernelSource src_;
  void* module_ = nullptr;  // CUmodule
  void* strided_ = nullptr;  // CUfunction
  void* vec_ = nullptr;      // CUfunction, null without a contiguous entry
  int multiprocessors_ = 1;
  double compile_ms_ = 0;
  mutable std::atomic<bool> last_vec_{false};  // CudaFunction runs a kernel from many threads
};

}  // namespace kiln::codegen::cuda
