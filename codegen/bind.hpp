// Binding a fused kernel to run-time arrays: the run-time shape checks of
// every fused node (the interpreter's rules and messages), the shape of the
// output, and the operand views in the kernel ABI (codegen/kernel.hpp).
#pragma once

#include <vector>

#include "codegen/kernel.hpp"
#include "codegen/partition.hpp"
#include "kiln/array.hpp"

namespace kiln::codegen {

// One call's arguments to a kernel: the iteration space and, per operand
// (inputs, then the output), its strides over that space and its buffer.
struct KernelArgs {
  Shape space;                       // the iteration space
  std::vector<Shape> strides;        // per operand, in elements (0 on broadcast dims)
  std::vector<KilnBuffer> bufs;      // per operand; shape points at `space`
  std::int64_t rows = 0;             // rows of the iteration space (ABI's row_begin/row_end range)
  bool splittable_row = false;       // a single row may be cut into parts along its innermost dim
  std::int64_t elements() const { return shape_size(space); }
};

// The output shape of the cluster for these inputs (operand order); a
// kiln::Error naming the failing node when shapes do not fit.
// `fused` is set false when the shapes are valid but the one kernel cannot
// iterate them (a keepdims result broadcast against operands whose size
// along a reduced axis differs from the reduction's input, which static
// types of unknown size cannot rule out): evaluate_cluster computes it.
Shape cluster_output_shape(const Cluster& c, const std::vector<const Array*>& ins, bool* fused);

// The cluster's value computed node by node by the interpreter.
Array evaluate_cluster(const Cluster& c, const std::vector<const Array*>& ins);

// Fills `args` to run the cluster's kernel on `ins`, writing `out` (of
// cluster_output_shape's shape). `args` may be reused across calls.
void bind_kernel(const Cluster& c, const std::vector<const Array*>& ins, const Array& out, KernelArgs* args);

}  // namespace kiln::codegen
