// Constant folding with the reference interpreter, and static shapes.
#include <cmath>

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
  for (const auto& in : n.inputs()) {
    if (!is_constant_input(*in)) return nullptr;
    if (in->type().static_size() > kMaxFoldedElements * 16) return nullptr;  // too costly to evaluate here
  }
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
