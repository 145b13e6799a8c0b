// Internal helpers of the front end (src/): turning user calls into IR
// nodes with dtype promotion, broadcasting checks and source locations.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ir/node.hpp"
#include "ir/shape_util.hpp"
#include "kiln/tensor.hpp"

namespace kiln::detail {

using ir::NodeRef;
using ir::OpCode;

inline SourceLoc loc_of(const Loc& l) { return SourceLoc::from(l); }

// The node of a tensor argument; an empty handle is a user error.
const NodeRef& node_of(const Tensor& t, const SourceLoc& loc, std::string_view op);

Tensor make(OpCode op, std::vector<NodeRef> inputs, ir::Attrs attrs, const SourceLoc& loc);
NodeRef mk(OpCode op, std::vector<NodeRef> inputs, ir::Attrs attrs, const SourceLoc& loc);

// Does the integer v fit the integer dtype t?
bool int_fits(std::int64_t v, DType t);

// A 0-d constant of the given dtype.
NodeRef scalar_node(const Scalar& s, DType dtype, const SourceLoc& loc, std::string_view op);
NodeRef scalar_node(double v, DType dtype, const SourceLoc& loc);
// x cast to dtype (x itself when it already has it).
NodeRef cast_node(const NodeRef& x, DType dtype, const SourceLoc& loc);

// Normalises user axes (negative, out of range, duplicates) for a tensor of
// the given rank; returns them sorted.
std::vector<std::int64_t> normalize_axes(const Axes& axes, std::int64_t rank, const SourceLoc& loc,
                                         std::string_view op, const std::string& type_str);
std::int64_t normalize_axis(std::int64_t axis, std::int64_t rank, const SourceLoc& loc, std::string_view op,
                            const std::string& type_str);

Tensor reduce(OpCode op, const Tensor& x, const Axes& axes, bool keepdims, const SourceLoc& loc);
NodeRef reduce_node(OpCode op, const NodeRef& x, const std::vector<std::int64_t>& axes, bool keepdims,
                    const SourceLoc& loc);

// ---- shared variables ----
struct SharedState {
  std::mutex mu;
  Array value;
  std::string name;
};
// The state behind a Shared node id (nullptr when it has none, e.g. a
// shared variable parsed from text).
std::shared_ptr<SharedState> shared_state(std::int64_t id);

}  // namespace kiln::detail
