// The reference interpreter: evaluates any graph, every op and dtype, on the
// host. Plain and obviously correct rather than fast; it is the oracle every
// rewrite, gradient and backend is tested against.
//
// Numerics: float dtypes are computed in double and rounded once to the
// output dtype (f16/bf16/f32 results are therefore correctly rounded for the
// basic operations); integer and bool dtypes are computed in 64-bit integer
// arithmetic and wrapped to the output type (two's complement), so overflow
// wraps like NumPy.
#pragma once

#include <unordered_map>
#include <vector>

#include "ir/node.hpp"

namespace kiln::ir {

using Bindings = std::unordered_map<const Node*, Array>;

// Evaluates `outputs`; every Input and Shared leaf reachable from them must
// have a host Array in `bindings` (a kiln::Error otherwise). Bound arrays
// must match the leaf's dtype and static dims. Results are fresh
// C-contiguous arrays that share no memory with the bindings.
std::vector<Array> interpret(const std::vector<NodeRef>& outputs, const Bindings& bindings);

// One op applied to concrete input arrays (the node supplies op, attrs,
// types and the location for error messages). Used by interpret() and by
// constant folding.
Array eval_node(const Node& node, const std::vector<Array>& inputs);

}  // namespace kiln::ir
