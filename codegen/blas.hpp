// BLAS steps: f32/f64 matmul through CBLAS (OpenBLAS).
//
// NumPy's matmul over operands of rank >= 2 (the front end expands vectors):
// the batch dims broadcast and each batch is one gemm call. An operand whose
// last two dims are row-major or column-major (a transpose) is passed as is,
// with CblasNoTrans or CblasTrans; other layouts (negative or broadcast
// strides) are copied to C-contiguous first. OpenBLAS runs a gemm on one
// thread below a size threshold, where threads cost more than they save.
#pragma once

#include <functional>
#include <vector>

#include "ir/node.hpp"

namespace kiln::codegen {

// Where a step's output goes: a C-contiguous array of the shape and dtype.
using OutputAllocator = std::function<Array(const Shape&, DType)>;

// The value of the matmul `node` (f32 or f64) over in[0] @ in[1], written
// into an array from `alloc` (Array::empty when none); run-time errors are
// the interpreter's, with its messages.
Array blas_matmul(const ir::Node& node, const std::vector<Array>& in, const OutputAllocator& alloc = {});

// m * n * k at or above which one gemm call uses every OpenBLAS thread.
// Measured on 2 cores (sgemm): 64x1000x100 and 128^3 are 15-45% slower on 2
// threads; 256^3 is about even; 320^3 and up are 1.5-1.9x faster.
inline constexpr std::int64_t kGemmParallelWork = std::int64_t{1} << 24;

}  // namespace kiln::codegen
