// Canonical reductions: nested ones merged, trivial ones removed, broadcast
// axes counted instead of summed, reductions of big fills folded.
#include <algorithm>
#include <cmath>

#include "passes/canon_rules.hpp"

namespace kiln::passes::canon {

using ir::Attrs;
using ir::Node;

namespace {

using Ints = std::vector<std::int64_t>;

bool is_reduction(OpCode op) {
  switch (op) {
    case OpCode::Sum: case OpCode::Prod: case OpCode::Max: case OpCode::Min: case OpCode::Mean:
    case OpCode::All: case OpCode::Any:
      return true;
    default:
      return false;  // argmax/argmin: indices do not compose
  }
}

const Ints& axes_of(const Node& n) { return n.attrs().get_ints("axes"); }
bool keepdims(const Node& n) { return n.attrs().get_bool("keepdims"); }
bool contains(const Ints& v, std::int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// red(red(x, a, k1), b, k2) as one reduction of x (b mapped to x's axes).
NodeRef merge_nested(const Node& n, const Builder& bl) {
  const NodeRef& inner = n.input(0);
  if (inner->op() != n.op()) return nullptr;
  const NodeRef& x = inner->input(0);
  const Ints &a = axes_of(*inner), &b = axes_of(n);
  bool k1 = keepdims(*inner), k2 = keepdims(n);
  Ints all = a, remaining;
  for (std::int64_t i = 0; i < x->rank(); ++i)
    if (!contains(a, i)) remaining.push_back(i);
  for (auto q : b) all.push_back(k1 ? q : remaining[q]);
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  if (k1 == k2) return bl.reduce(n.op(), x, all, k1);
  if (k2) return bl.expand_dims(bl.reduce(n.op(), x, all, false), b);   // inner dropped a, outer keeps b
  if (all == b) return bl.reduce(n.op(), x, all, false);              // inner kept a, outer drops a and more
  return bl.squeeze(bl.reduce(n.op(), x, all, true), b);              // inner kept a, outer drops b
}

// A reduction over no axes or static-1 axes only moves no values.
NodeRef trivial_reduction(const Node& n, const Builder& bl) {
  const NodeRef& x = n.input(0);
  for (auto a : axes_of(n))
    if (x->type().dims[a].size != 1) return nullptr;
  return keepdims(n) ? x : bl.squeeze(x, axes_of(n));
}

// red(broadcast_to(x, shape), axes): the stretched axes hold copies, so they
// need no reducing (a sum multiplies by their count instead).
NodeRef reduce_broadcast(const Node& n, const Builder& bl) {
  const NodeRef& bc = n.input(0);
  if (bc->op() != OpCode::BroadcastTo || n.op() == OpCode::Prod) return nullptr;
  const NodeRef& x = bc->input(0);
  const Ints& shape = bc->attrs().get_ints("shape");
  const Ints& axes = axes_of(n);
  std::int64_t lead = static_cast<std::int64_t>(shape.size()) - x->rank();
  auto stretched = [&](std::int64_t i) {
    return i < lead || (x->type().dims[i - lead].size == 1 && shape[i] != 1);
  };
  Ints real;  // reduced axes of x itself
  double count = 1;
  for (auto i : axes) {
    if (stretched(i)) count *= static_cast<double>(shape[i]);
    else real.push_back(i - lead);
  }
  if (real.size() == axes.size() || count == 0) return nullptr;
  NodeRef z = real.empty() ? x : bl.reduce(n.op(), x, real, true);
  if (n.op() == OpCode::Sum && count != 1) {
    if (!representable(count, x->dtype())) return nullptr;
    z = bl.mul(z, count);
  }
  // z has x's rank with 1 on every reduced axis: lay it out as the result, then stretch what is left
  Ints laid, want;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(shape.size()); ++i) {
    bool reduced = contains(axes, i);
    if (reduced && !keepdims(n)) continue;
    laid.push_back(reduced || stretched(i) ? 1 : shape[i]);
    want.push_back(reduced ? 1 : shape[i]);
  }
  if (z->type().sizes() != laid) z = bl.op(OpCode::Reshape, {z}, Attrs{{"shape", laid}});
  if (laid != want) z = bl.op(OpCode::BroadcastTo, {z}, Attrs{{"shape", want}});
  return z;
}

// x * n or x^n in x's dtype (integers wrap), as the double a fill holds; nullopt if it cannot hold it.
std::optional<double> repeat(OpCode op, double v, std::int64_t n, DType t) {
  if (is_float(t)) {
    Array x = Array::scalar(v, DType::F64), k = Array::scalar(static_cast<double>(n), DType::F64);
    return eval_scalar(op == OpCode::Sum ? OpCode::Mul : OpCode::Pow, {x, k}).to_doubles()[0];
  }
  if (std::fabs(v) >= 9007199254740992.0) return std::nullopt;
  Array x = Array::from_vector<std::int64_t>({static_cast<std::int64_t>(v)}, {});
  Array k = Array::from_vector<std::int64_t>({n}, {});
  double r = eval_scalar(op == OpCode::Sum ? OpCode::Mul : OpCode::Pow, {x, k}).astype(t).to_doubles()[0];
  return std::fabs(r) < 9007199254740992.0 ? std::optional<double>(r) : std::nullopt;
}

// red(fill(v)) → fill(red of v), for fills too big for fold_constants to evaluate.
NodeRef reduce_fill(const Node& n, const Builder& bl) {
  const Node& f = *n.input(0);
  if (f.op() != OpCode::Fill || !n.type().all_known()) return nullptr;
  double v = f.attrs().get_double("value");
  v = Array::scalar(v, f.dtype()).to_doubles()[0];  // as the fill holds it
  std::int64_t count = 1;
  for (auto a : axes_of(n)) count *= f.type().dims[a].size;
  std::optional<double> out;
  switch (n.op()) {
    case OpCode::Sum: case OpCode::Prod: out = repeat(n.op(), v, count, f.dtype()); break;
    case OpCode::All: out = count == 0 ? 1.0 : v; break;
    case OpCode::Any: out = count == 0 ? 0.0 : v; break;
    default: if (count > 0) out = v; break;  // max, min, mean; an empty max is an error at run time
  }
  if (!out) return nullptr;
  if (n.rank() == 0) return bl.scalar(*out, n.dtype());
  return bl.op(OpCode::Fill, {}, Attrs{{"shape", n.type().sizes()}, {"value", *out}, {"dtype", n.dtype()}});
}

}  // namespace

void reduce_rules(std::vector<Rule>& r, const RuleOptions&) {
  auto rule = [&r](const char* name, const char* text, auto f) {
    r.push_back(function_rule(name, text, [f](const NodeRef& n) -> NodeRef {
      return is_reduction(n->op()) ? f(*n, Builder(n->loc())) : nullptr;
    }));
  };
  rule("reduce_reduce", "sum(sum(x, a), b) → sum(x, a ∪ b); also prod, max, min, mean, all, any", merge_nested);
  rule("reduce_trivial", "sum(x, axes of static size 1 or none) → x, or squeeze(x, axes) (-0 stays -0)",
       trivial_reduction);
  rule("reduce_broadcast", "sum(broadcast_to(x, s), a) → sum of x over its own axes times the copies",
       reduce_broadcast);
  rule("reduce_fill", "sum(fill(v), a) → fill(v * n); prod → v^n; max, min, mean, all, any → v", reduce_fill);
}

}  // namespace kiln::passes::canon
