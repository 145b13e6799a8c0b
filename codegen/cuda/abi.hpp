// The launch ABI of kiln's CUDA kernels: plain C, so the printer, the
// run-time launcher and an ahead-of-time launcher agree on one layout.
//
// Every elementwise kernel `NAME` has a strided entry
//
//   extern "C" __global__ void NAME(KilnCudaSpace space,
//                                   KilnCudaOperand in0, ..., KilnCudaOperand out);
//
// passed by value (cuLaunchKernel's kernelParams: one pointer per parameter,
// &space, &operand[0], ...). It mirrors the CPU ABI of codegen/kernel.hpp
// (KilnBuffer): element [0, ...] at `data`, strides in elements, any sign, 0
// along broadcast dims; one shape for all operands (the iteration space).
// Entries past the kernel's rank are ignored. A grid-stride loop covers the
// flat C-order index [0, numel): any grid size is correct.
//
// When every input is either iterated along every dim or broadcast along
// every dim (a scalar), the kernel also has a contiguous entry
//
//   extern "C" __global__ void NAME_vec(long long numel,
//                                       const IN0* in0, ..., OUT* out);
//
// valid only when every iterated operand is C-contiguous over the iteration
// space and its pointer is aligned to `vec_width * dtype size` bytes (16 for
// the widest operand): it moves `vec_width` elements per 128-bit access and
// finishes the numel % vec_width tail one element at a time. A scalar input
// is read once per thread. The launcher checks both conditions
// (cuda_vec_applies) and otherwise launches the strided entry.
//
// In place: the output may be the same memory as an input with the same
// layout (element i read then written by one thread), never a partial
// overlap: inputs are declared __restrict__ in the contiguous entry.
//
// A kernel with reduced dims (codegen/kernel.hpp) has one entry, with the
// strided entry's parameters:
//
//   extern "C" __global__ void NAME(KilnCudaSpace space,
//                                   KilnCudaOperand in0, ..., KilnCudaOperand out);
//
// `space.shape` is the whole iteration space, kept and reduced dims (an
// operand mapped onto the kept dims by its `axes` has its strides placed on
// those dims: cuda_bind); `numel` is not read. A row is one index of the
// kept dims (C order); its elements are the flat C-order index j over the
// reduced dims. Launch with block (x, y, 1) and grid (g, 1, 1)
// (cuda_reduce_launch_dims):
//   - x threads share a row, thread t taking j = t, t + x, ...: x is 1 or a
//     multiple of 32 up to KILN_CUDA_REDUCE_MAX_BLOCK (256);
//   - y rows a block (row = blockIdx.x * y + threadIdx.y, then += g * y):
//     y must be 1 when x > 32 (the block's threads then share one row and
//     meet at __syncthreads), x * y <= 256;
//   - any g >= 1 (grid-stride over rows); no dynamic shared memory.
// Results are deterministic for a given (x, y): each thread folds its
// elements in order, then the warp's lanes fold in a fixed butterfly and
// the warps in warp order. A per-row output is written by thread x = 0 of
// its row; an empty reduction (no elements) still writes a row's identity
// (sum 0, prod 1, mean NaN, argmax 0, max -inf), so launch whenever the
// output has elements.
#pragma once

#include <cstdint>

extern "C" {
#define KILN_CUDA_MAX_RANK 8
#define KILN_CUDA_REDUCE_MAX_BLOCK 256  // threads a block of a reduction entry (prelude.cuh too)
struct KilnCudaSpace {
  std::int64_t numel;                       // product of shape[0..rank)
  std::int64_t shape[KILN_CUDA_MAX_RANK];
};
struct KilnCudaOperand {
  void* data;                                 // a device pointer
  std::int64_t strides[KILN_CUDA_MAX_RANK];   // in elements
};
}
