// The CUDA printer: a kernel of the kernel IR (codegen/kernel.hpp) as CUDA
// C++ source for NVRTC, with the launch ABI of codegen/cuda/abi.hpp.
//
// The source of one kernel is the prelude (device helpers shared by every
// kernel: f16/bf16 conversions, wrapping integer arithmetic, NumPy's
// floor_div/mod, digamma/polygamma, ...) followed by the kernel's own text:
//   - NAME_elem: a __device__ function computing one output element from the
//     inputs' values (already converted to their compute types). It is the
//     "map" part every future kernel shape reuses (a row reduction prints the
//     same function and folds its results: one row per block or warp);
//   - NAME: the strided entry (grid-stride loop, index → per-operand offsets);
//   - NAME_vec: the contiguous entry with 128-bit loads and stores, when the
//     kernel's broadcast pattern allows it (see abi.hpp).
// A kernel with reduced dims instead has one entry NAME (same parameters):
// rows over blockIdx.x/threadIdx.y, a row's elements over threadIdx.x, one
// loop over the row per phase of kernel_phases(), the threads of a row
// folded by warp shuffles and __shared__ slots a warp (abi.hpp; launch with
// cuda_reduce_launch_dims). Its per-element values print with the same
// expression printer as NAME_elem.
// Several kernels may share one NVRTC program: print the prelude once and
// each kernel's body (print_cuda_kernel_body) after it.
//
// Semantics are the interpreter's and the CPU backend's (docs/ops.md,
// codegen/llvm/emit.cpp): f16/bf16 are stored as raw 16 bits and computed in
// f32, rounded to the dtype after every op; integer ops wrap; x // 0 and
// x % 0 are 0; shifts by a negative or too-large count give 0 (or -1 for a
// negative value shifted right); maximum/minimum propagate NaN; casts from
// float to integer truncate, saturate and map NaN to 0. No fast-math: the
// program is compiled with IEEE division and square root, denormals kept and
// no FMA contraction (--fmad=false), so arithmetic rounds exactly like the
// CPU; math functions use CUDA's accurate libdevice versions (a few ULP).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/cuda/abi.hpp"
#include "codegen/kernel.hpp"

namespace kiln::codegen::cuda {

struct CudaKernelSource {
  std::string name;       // the strided entry (NAME), or a reduction kernel's only entry
  bool reduction = false; // a kernel with reduced dims: launch with cuda_reduce_launch_dims
  std::string vec_name;   // the contiguous entry (NAME_vec), "" when there is none
  int vec_width = 0;      // elements per vector access of the contiguous entry
  std::string body;       // the kernel's text, without the prelude
  std::string source;     // prelude + body: one complete NVRTC program
};

// The device helpers every kernel's body uses; printed once per program.
const std::string& cuda_prelude();

// Prints `k` as CUDA C++ with entries named `name` (and name + "_vec").
// `name` must be a C identifier. Every kernel the partitioner builds
// prints, elementwise or with reductions; kernels the ABI cannot hold (rank
// above KILN_CUDA_MAX_RANK, more than 48 operands) are a kiln::Error naming
// the reason.
CudaKernelSource print_cuda_kernel(const Kernel& k, const std::string& name);

// Just the kernel's own text (for programs holding several kernels).
std::string print_cuda_kernel_body(const Kernel& k, const std::string& name);

// A stable kernel name from the kernel's printed IR: "kiln_k" + 16 hex
// digits of its FNV-1a hash.
std::string cuda_kernel_name(const Kernel& k);

// ---- launching (host side, no driver needed) ----

// The ABI structs for one launch: `shape` the iteration space (rank ==
// k.rank), `strides` one list per operand (inputs, then the output), in
// elements. An Error when the rank exceeds KILN_CUDA_MAX_RANK.
KilnCudaSpace cuda_space(const std::vector<std::int64_t>& shape);
KilnCudaOperand cuda_operand(void* data, const std::vector<std::int64_t>& strides);

// Does the contiguous entry apply to this launch? `data` and `strides`: one
// per operand (inputs, then the output). True when the source has a vec
// entry, every iterated operand is C-contiguous over `shape` (size-1 dims
// ignored) and every iterated pointer is aligned to vec_width * its size.
bool cuda_vec_applies(const Kernel& k, const CudaKernelSource& src, const std::vector<std::int64_t>& shape,
                      const std::vector<const void*>& data, const std::vector<std::vector<std::int64_t>>& strides);

// Grid and block sizes for `items` loop iterations (elements, or vectors for
// the contiguous entry) on a device with `multiprocessors` SMs: 256 threads
// a block, enough blocks to cover the items but at most 32 per SM (the
// grid-stride loop does the rest); at least one block.
struct CudaLaunchDims {
  unsigned grid = 1;
  unsigned block = 256;
};
CudaLaunchDims cuda_launch_dims(std::int64_t items, int multiprocessors);

// The iteration space and each operand's strides over it (elements, 0 along
// broadcast dims) for one launch, from the operands' own shapes and strides
// (inputs, then the output; codegen/bind.cpp's rules): the space is the
// output's shape placed on the kept dims, and along a reduced dim the
// first input size there that is not 1.
struct CudaBinding {
  std::vector<std::int64_t> space;
  std::vector<std::vector<std::int64_t>> strides;
};
CudaBinding cuda_bind(const Kernel& k, const std::vector<std::vector<std::int64_t>>& shapes,
                      const std::vector<std::vector<std::int64_t>>& strides);

// Grid and block of a reduction kernel's entry (abi.hpp): block (x, y, 1),
// grid (grid, 1, 1). x threads share a row: 1, or a multiple of 32 up to
// KILN_CUDA_REDUCE_MAX_BLOCK; y rows a block (1 when x > 32). Inner dim kept
// with many rows or short columns: (1, 256), a thread a row. Otherwise a
// warp a row (32, 8) for rows up to 256 elements, else (x, 1) with x the
// power of two up to 256 giving about 8 elements a thread. Grid: enough
// blocks for the rows, at most 32 per SM (grid-stride), at least one.
struct CudaReduceDims {
  unsigned grid = 1;
  unsigned block_x = 1;
  unsigned block_y = 1;
};
CudaReduceDims cuda_reduce_launch_dims(const Kernel& k, const std::vector<std::int64_t>& space, int multiprocessors);

}  // namespace kiln::codegen::cuda
