// Helpers shared by the canonicalize rules (passes/canon_rules.hpp).
#include <algorithm>
#include <cmath>

#include "ir/interpreter.hpp"
#include "ir/printer.hpp"
#include "ir/shape_util.hpp"
#include "passes/canon_rules.hpp"

namespace kiln::passes::canon {

using ir::Node;

bool is_scalar_constant(const Node& n) {
  return (n.op() == OpCode::Constant || n.op() == OpCode::Fill) && n.rank() == 0;
}

bool is_zeros(const Node& n) {
  auto v = uniform_value(n);
  return v && *v == 0;
}

bool is_ones(const Node& n) { return is_constant_value(n, 1.0); }

namespace {

// 0: variables, 1: other ops, 2: constants.
int kind_rank(const Node& n) {
  switch (n.op()) {
    case OpCode::Input: case OpCode::Shared: return 0;
    case OpCode::Constant: case OpCode::Fill: case OpCode::Arange: case OpCode::Eye: return 2;
    default: return 1;
  }
}

template <class T>
int cmp(const T& a, const T& b) {
  return a < b ? -1 : b < a ? 1 : 0;
}

int compare_attrs(const Node& a, const Node& b) {
  const auto& x = a.attrs().items();
  const auto& y = b.attrs().items();
  if (int c = cmp(x.size(), y.size())) return c;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (int c = cmp(x[i].first, y[i].first)) return c;
    if (ir::attr_equal(x[i].second, y[i].second)) continue;
    if (const auto* arr = std::get_if<Array>(&x[i].second); arr && arr->size() > 64) continue;  // too big to print
    if (int c = cmp(ir::attr_value_str(x[i].second), ir::attr_value_str(y[i].second))) return c;
  }
  return 0;
}

int compare_nodes(const Node* a, const Node* b, int depth) {
  if (a == b) return 0;
  if (int c = cmp(kind_rank(*a), kind_rank(*b))) return c;
  if (int c = cmp(static_cast<int>(a->op()), static_cast<int>(b->op()))) return c;
  if (a->op() == OpCode::Input || a->op() == OpCode::Shared) {
    if (int c = cmp(a->var_name(), b->var_name())) return c;
    return cmp(a->attrs().get_int("id"), b->attrs().get_int("id"));
  }
  if (int c = cmp(a->inputs().size(), b->inputs().size())) return c;
  if (depth < 16)
    for (std::size_t i = 0; i < a->inputs().size(); ++i)
      if (int c = compare_nodes(a->input(i).get(), b->input(i).get(), depth + 1)) return c;
  if (int c = cmp(a->type().sizes(), b->type().sizes())) return c;
  if (int c = cmp(static_cast<int>(a->dtype()), static_cast<int>(b->dtype()))) return c;
  if (int c = compare_attrs(*a, *b)) return c;
  return cmp(a->serial(), b->serial());  // structurally equal beyond the depth limit
}

}  // namespace

bool term_less(const NodeRef& a, const NodeRef& b) { return compare_nodes(a.get(), b.get(), 0) < 0; }

bool fits_without_broadcast(const ir::TensorType& have, const ir::TensorType& want) {
  if (have.rank() != want.rank()) return false;
  for (std::int64_t i = 0; i < want.rank(); ++i) {
    const ir::Dim &h = have.dims[i], &w = want.dims[i];
    if (w.known() ? !(h.known() && h.size == w.size) : h.known() && h.size == 1) return false;
  }
  return true;
}

NodeRef broadcast_back(NodeRef r, const Node& n, const std::vector<NodeRef>& refs) {
  Builder b(n.loc());
  for (const NodeRef& ref : refs) {
    if (fits_without_broadcast(r->type(), n.type()) || n.type().all_known()) return r;
    // broadcast_like needs a ref of at least r's rank: lift a lower-rank ref first
    NodeRef big = ref->rank() >= r->rank() ? ref : b.op(OpCode::BroadcastLike, {ref, r});
    r = b.op(OpCode::BroadcastLike, {r, big});
  }
  return fits_without_broadcast(r->type(), n.type()) || n.type().all_known() ? r : nullptr;
}

int value_bits(DType t) { return is_signed_int(t) ? int_bits(t) - 1 : int_bits(t); }

bool representable(double k, DType t) {
  if (is_float(t)) return std::isfinite(k);
  if (k != std::floor(k)) return false;
  return std::fabs(k) <= std::min(std::ldexp(1.0, value_bits(t)) - 1, 9007199254740991.0);
}

Array eval_scalar(OpCode op, const std::vector<Array>& args) {
  std::vector<NodeRef> ins;
  for (const Array& a : args) ins.push_back(ir::make_node(OpCode::Constant, {}, ir::Attrs{{"value", a}}, {}));
  NodeRef n = ir::make_node(op, ins, {}, {});
  return ir::eval_node(*n, args);
}

}  // namespace kiln::passes::canon
