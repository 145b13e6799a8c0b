// The CUDA executor: the plan of the CPU executor (codegen/partition.hpp,
// lowered to slots by codegen/slot_program.hpp) run on one CUDA device.
//
// Steps:
//   - kernel: the cluster's kernel printed as CUDA C++, compiled by NVRTC for
//     the device's architecture and launched (codegen/cuda/launch.hpp);
//   - matmul: cuBLAS (f16, bf16, f32, f64; codegen/cuda/cublas.hpp). A
//     matmul whose only reader is a kernel computing exactly
//     relu(mm + bias), mm + bias or relu(mm) (bias of shape [n], broadcast
//     over the rows) runs as one cuBLASLt call with that epilogue, and the
//     kernel is skipped, when cuBLASLt is present and accepts the operands'
//     layout (else the two steps run as they are; a cuBLASLt call that
//     fails turns the fusion off for the process). The bias is then added
//     before the product is rounded, and relu(NaN) is cuBLASLt's;
//     docs/cuda.md says so;
//   - view: a strided view of the device buffer, as on the CPU;
//   - everything else (indexing, concatenation, integer matmul, shape ops
//     that must copy, kernels the printer cannot express, clusters whose
//     shapes the fused kernel cannot iterate): a *host step* — the stream is
//     synchronised, the inputs copied to the host, the interpreter's result
//     copied back. Correct, and slow; `step_counts()` says how many a plan
//     has, and docs/cuda.md lists the ops that take this path.
//
// Streams and memory. A call runs on a stream of its own thread (one per
// thread and device, created on first use), so calls from several threads
// overlap on the GPU; the call synchronises that stream before it returns,
// so its results are ready. Buffers that die within a call are reused by
// later steps of the same call (stream order makes that safe) and handed
// back to the device allocator only after the final synchronisation, so
// another thread's stream never receives a block this stream still reads.
// Kernels write in place into dying inputs as on the CPU.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "codegen/cuda/launch.hpp"
#include "codegen/partition.hpp"
#include "codegen/slot_program.hpp"
#include "kiln/device.hpp"

namespace kiln::codegen::cuda {

class CudaFunction {
 public:
  // Partitions the graph computing `roots`, compiles its kernels for
  // `device` and uploads its constants there. `params` are the variables a
  // call binds, in call order. A kiln::RuntimeError without a driver or
  // device, or when NVRTC fails.
  CudaFunction(const std::vector<ir::NodeRef>& params, const std::vector<ir::NodeRef>& roots, Device device);
  ~CudaFunction();

  // One value per parameter (dtype and rank checked by the caller), on this
  // function's device or on the host (copied to the device first). Returns
  // fresh C-contiguous device arrays sharing no memory with the
  // parameters, constants or each other.
  std::vector<Array> run(const std::vector<Array>& params) const;

  Device device() const { return device_; }
  const Plan& plan() const { return plan_; }

  // How the plan's steps run (tests, docs).
  struct StepCounts {
    std::size_t kernels = 0;     // CUDA kernels
    std::size_t cublas = 0;      // cuBLAS matmuls
    std::size_t views = 0;       // device views
    std::size_t host = 0;        // host steps (the interpreter, copies both ways)
  };
  StepCounts step_counts() const { return counts_; }
  // Matmul + kernel pairs that may run as one cuBLASLt call (plan), and such
  // calls made so far by any CudaFunction (tests).
  std::size_t lt_candidates() const { return lt_.size(); }
  static std::size_t lt_epilogue_runs();
  // Why each host step runs on the host ("host take: no CUDA kernel yet").
  const std::vector<std::string>& host_reasons() const { return host_reasons_; }

 private:
  Plan plan_;
  SlotProgram prog_;
  Device device_;
  std::vector<std::unique_ptr<CudaKernel>> kernels_;  // per cluster; null: run on the host
  std::vector<bool> host_matmul_;                      // per instruction: a matmul cuBLAS cannot do
  struct LtFusion {
    int kernel_instr = -1;  // the kernel computing the epilogue
    int bias_slot = -1;     // -1: no bias
    bool relu = false;
  };
  std::vector<LtFusion> lt_;
  std::vector<int> lt_at_;  // per instruction: index into lt_ (a fusable matmul) or -1
  bool lt_available_ = false;
  std::vector<std::pair<int, Array>> constants_;       // slot, device value
  StepCounts counts_;
  std::vector<std::string> host_reasons_;
  // Strided → contiguous copies on the device, one kernel per (dtype, rank).
  mutable std::mutex copy_mu_;
  mutable std::map<std::pair<int, int>, std::unique_ptr<CudaKernel>> copy_kernels_;
  const CudaKernel& copy_kernel(DType t, int rank) const;
  void plan_lt_fusions();
};

// The calling thread's stream on `device` (created on first use; a CUstream).
void* cuda_thread_stream(Device device);

}  // namespace kiln::codegen::cuda
