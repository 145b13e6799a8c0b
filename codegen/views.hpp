// View steps: shape ops computed as a strided view of their input, no copy.
//
// transpose, expand_dims, squeeze, broadcast_to/_like, slice and flip are
// always views; reshape is a view of a C-contiguous input and a copy
// otherwise. Kernels, BLAS calls and the interpreter all read strided inputs,
// so a view flows on like any other value; the executor copies a view before
// handing it to the user (results never alias arguments or shared values).
#pragma once

#include <functional>
#include <vector>

#include "ir/node.hpp"

namespace kiln::codegen {

// Computes a shape op that cannot be a view (and raises its errors).
using ViewFallback = std::function<Array(const ir::Node&, const std::vector<Array>&)>;

// The value of the shape op `node` (Step::Kind::View) over `in`: a view of
// in[0] where legal (reading no data: `in` may live on a device), otherwise
// `fallback`'s result (default: the interpreter's, on host arrays). Run-time
// errors are the interpreter's, with its messages.
Array eval_view(const ir::Node& node, const std::vector<Array>& in, const ViewFallback& fallback = {});

}  // namespace kiln::codegen
