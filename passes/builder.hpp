// Building IR from passes (autodiff, rewrites): thin, typed wrappers over
// ir::make_node that keep the operands' dtype and carry a source location,
// so rules read like the math: mul(g, cos(x)).
#pragma once

#include <cstdint>
#include <vector>

#include "ir/node.hpp"

namespace kiln::passes {

using ir::NodeRef;
using ir::OpCode;

class Builder {
 public:
  explicit Builder(SourceLoc loc) : loc_(loc) {}
  const SourceLoc& loc() const { return loc_; }

  NodeRef op(OpCode op, std::vector<NodeRef> ins, ir::Attrs attrs = {}) const {
    return ir::make_node(op, std::move(ins), std::move(attrs), loc_);
  }
  // A 0-d constant with x's dtype.
  NodeRef scalar(double v, DType t) const;
  NodeRef like(double v, const NodeRef& x) const { return scalar(v, x->dtype()); }

  NodeRef add(const NodeRef& a, const NodeRef& b) const { return op(OpCode::Add, {a, b}); }
  NodeRef sub(const NodeRef& a, const NodeRef& b) const { return op(OpCode::Sub, {a, b}); }
  NodeRef mul(const NodeRef& a, const NodeRef& b) const { return op(OpCode::Mul, {a, b}); }
  NodeRef div(const NodeRef& a, const NodeRef& b) const { return op(OpCode::Div, {a, b}); }
  NodeRef neg(const NodeRef& a) const { return op(OpCode::Neg, {a}); }
  NodeRef mul(const NodeRef& a, double c) const { return mul(a, like(c, a)); }
  NodeRef add(const NodeRef& a, double c) const { return add(a, like(c, a)); }
  NodeRef unary(OpCode o, const NodeRef& a) const { return op(o, {a}); }
  NodeRef square(const NodeRef& a) const { return mul(a, a); }
  NodeRef where(const NodeRef& c, const NodeRef& a, const NodeRef& b) const { return op(OpCode::Where, {c, a, b}); }
  NodeRef cast(const NodeRef& a, DType t) const;
  NodeRef zeros_like(const NodeRef& x) const;
  NodeRef ones_like(const NodeRef& x) const;

  NodeRef sum(const NodeRef& x, std::vector<std::int64_t> axes, bool keepdims) const;
  NodeRef reduce(OpCode o, const NodeRef& x, std::vector<std::int64_t> axes, bool keepdims) const;
  NodeRef expand_dims(const NodeRef& x, std::vector<std::int64_t> axes) const;
  NodeRef squeeze(const NodeRef& x, std::vector<std::int64_t> axes) const;
  NodeRef transpose(const NodeRef& x, std::vector<std::int64_t> perm) const;
  // Swaps the last two axes.
  NodeRef mT(const NodeRef& x) const;
  NodeRef broadcast_like(const NodeRef& x, const NodeRef& ref) const;
  NodeRef reshape_like(const NodeRef& x, const NodeRef& ref) const;
  NodeRef matmul(const NodeRef& a, const NodeRef& b) const { return op(OpCode::Matmul, {a, b}); }

  // The gradient `g` of a broadcast result, summed back to the type of an
  // operand `x` (over its missing leading axes and its static-1 axes).
  NodeRef unbroadcast(const NodeRef& g, const ir::TensorType& x) const;
  // A reduction's output gradient brought back to the input's shape:
  // re-inserts reduced axes when keepdims was false, then broadcasts.
  NodeRef expand_reduced(const NodeRef& g, const ir::Node& reduce, const NodeRef& input) const;
  // Number of elements reduced by a reduction node: a 0-d constant when the
  // sizes are static, else counted at run time with the reduced axes kept as
  // size 1 (either way it broadcasts against the input).
  NodeRef reduced_count(const ir::Node& reduce, const NodeRef& input, DType t) const;

 private:
  SourceLoc loc_;
};

}  // namespace kiln::passes
