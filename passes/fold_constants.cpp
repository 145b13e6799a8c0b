// Constant folding with the reference interpreter, and static shapes.
#include <cmath>

#include "ir/graph.hpp"
#include "ir/interpreter.hpp"
#include "passes/pipeline.hpp"

namespace kiln::passes {

using ir::Attrs;
using ir::Node;
using ir::OpCode;

namespace {

constexpr std::int64_t kMaxFoldedElements = 1 << 12;  // larger results stay graphs unless uniform

bool is_constant_input(const Node& n) {
  switch (n.op()) {
    case OpCode::Constant: case OpCode::Fill: case OpCode::Arange: case OpCode::Eye: return true;
    default: return false;
  }
}

// The value of a constant-like node, materialised (bounded in size by the caller).
Array value_of(const Node& n) {
  if (n.op() == OpCode::Constant) return n.attrs().get_array("value");
  return ir::eval_node(n, {});
}

// Does the op give a uniform result for uniform inputs, computable from one element of each?
bool maps_elements(OpCode op) {
  switch (op) {
    case OpCode::BroadcastTo: case OpCode::Reshape: case OpCode::Transpose: case OpCode::ExpandDims:
    case OpCode::Squeeze: case OpCode::Flip: case OpCode::Slice:
      return true;
    default:
      return ir::is_elementwise(op);
  }
}

// A result too big to evaluate (broadcast_to(fill, [1e9]) would take any
// amount of memory): folded only when it is a fill, computed on one element.
NodeRef fold_uniform(const NodeRef& node) {
  const Node& n = *node;
  if (!maps_elements(n.op())) return nullptr;
  std::vector<NodeRef> ins;
  std::vector<Array> vals;
  for (const auto& in : n.inputs()) {
    auto v = uniform_value(*in);
    if (!v || (!is_float(in->dtype()) && std::fabs(*v) >= 9007199254740992.0)) return nullptr;  // inexact as a double
    vals.push_back(Array::scalar(*v, in->dtype()));
    ins.push_back(ir::make_node(OpCode::Constant, {}, Attrs{{"value", vals.back()}}, n.loc()));
  }
  double value = 0;
  try {
    value = ir::is_elementwise(n.op()) ? ir::eval_node(*ir::with_inputs(n, ins), vals).to_doubles()[0]
                                       : vals[0].to_doubles()[0];
  } catch (const Error&) {
    return nullptr;
  }
  if (!is_float(n.dtype()) && std::fabs(value) >= 9007199254740992.0) return nullptr;
  return ir::make_node(OpCode::Fill, {}, Attrs{{"shape", n.type().sizes()}, {"value", value}, {"dtype", n.dtype()}},
                       n.loc());
}

NodeRef fold(const NodeRef& node) {
  const Node& n = *node;
  if (n.is_leaf() || n.op() == OpCode::StopGradient) return nullptr;
  // Shapes known statically: the "like" ops become their static forms.
  if (n.op() == OpCode::ReshapeLike && n.input(1)->type().all_known())
    return ir::make_node(OpCode::Reshape, {n.input(0)}, Attrs{{"shape", n.input(1)->type().sizes()}}, n.loc());
  if (n.op() == OpCode::BroadcastLike && n.input(1)->type().all_known())
    return ir::make_node(OpCode::BroadcastTo, {n.input(0)}, Attrs{{"shape", n.input(1)->type().sizes()}}, n.loc());
  if (n.op() == OpCode::FillLike && n.input(0)->type().all_known())
    return ir::make_node(OpCode::Fill, {},
                         Attrs{{"shape", n.input(0)->type().sizes()}, {"value", n.attrs().get_double("value")},
                               {"dtype", n.attrs().get_dtype("dtype")}},
                         n.loc());
  if (!n.type().all_known()) return nullptr;
  bool too_big = n.type().static_size() > kMaxFoldedElements * 16;  // too costly to evaluate here
  for (const auto& in : n.inputs()) {
    if (!is_constant_input(*in)) return nullptr;
    too_big |= in->type().static_size() > kMaxFoldedElements * 16;
  }
  if (too_big) return fold_uniform(node);
  std::vector<Array> ins;
  for (const auto& in : n.inputs()) ins.push_back(value_of(*in));
  Array out;
  try {
    out = ir::eval_node(n, ins);
  } catch (const Error&) {
    return nullptr;  // e.g. an index out of range: leave it for run time, where it is reported
  }
  // A uniform result of any size folds to a fill; others only when small.
  std::vector<double> v = out.size() <= kMaxFoldedElements * 16 ? out.to_doubles() : std::vector<double>{};
  bool uniform = !v.empty();
  for (double x : v)
    if (!(x == v[0] || (std::isnan(x) && std::isnan(v[0]))) || std::signbit(x) != std::signbit(v[0])) {
      uniform = false;
      break;
    }
  if (uniform && out.ndim() > 0 && (is_float(out.dtype()) || std::fabs(v[0]) < 9007199254740992.0))
    return ir::make_node(OpCode::Fill, {},
                         Attrs{{"shape", out.shape()}, {"value", v[0]}, {"dtype", out.dtype()}}, n.loc());
  if (out.size() > kMaxFoldedElements) return nullptr;
  return ir::make_node(OpCode::Constant, {}, Attrs{{"value", out}}, n.loc());
}

}  // namespace

Rule fold_constants_rule() {
  return function_rule("fold_constants", "evaluate ops whose inputs are all constants; static *_like shapes", fold);
}

}  // namespace kiln::passes
