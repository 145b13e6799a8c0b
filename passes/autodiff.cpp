// The reverse- and forward-mode drivers. The per-op rules live in
// vjp_rules.cpp and jvp_rules.cpp.
#include "passes/autodiff.hpp"

#include <unordered_map>
#include <unordered_set>

#include "ir/graph.hpp"
#include "passes/builder.hpp"

namespace kiln::passes {

using ir::Node;
using ir::OpCode;

namespace {

std::string describe(const NodeRef& n) {
  std::string s = (n->op() == OpCode::Input || n->op() == OpCode::Shared) ? "'" + n->var_name() + "' "
                                                                           : "a '" + std::string(n->name()) + "' expression ";
  return s + "(" + n->type().str() + ")";
}

// Same rank, and no two static sizes differ (an unknown size is checked at run time).
bool same_shape(const ir::TensorType& a, const ir::TensorType& b) {
  if (a.rank() != b.rank()) return false;
  for (std::int64_t i = 0; i < a.rank(); ++i)
    if (a.dims[i].known() && b.dims[i].known() && a.dims[i].size != b.dims[i].size) return false;
  return true;
}

// Sums gradient contributions, bringing each to the target's type first.
NodeRef accumulate(const NodeRef& have, NodeRef add, const NodeRef& target, const SourceLoc& loc) {
  Builder b(loc);
  if (add->dtype() != target->dtype()) add = b.cast(add, target->dtype());
  if (!have) return add;
  return b.add(have, add);
}

// A gradient has its wrt's type: where the rules lost a static size (e.g.
// through a matmul with an operand of unknown size) it is restored with a
// reshape (to the static shape, or like the wrt when some dims are unknown).
NodeRef with_static_dims(const NodeRef& g, const NodeRef& wrt, const SourceLoc& loc) {
  const auto &have = g->type().dims, &want = wrt->type().dims;
  for (std::size_t i = 0; i < want.size(); ++i)
    if (want[i].known() && !have[i].known()) return Builder(loc).reshape_like(g, wrt);
  return g;
}

}  // namespace

bool has_derivative(OpCode op) {
  switch (op) {
    case OpCode::Input: case OpCode::Shared: case OpCode::Constant: case OpCode::Fill: case OpCode::Arange:
    case OpCode::Eye: case OpCode::Sign: case OpCode::Floor: case OpCode::Ceil: case OpCode::Round:
    case OpCode::Trunc: case OpCode::LogicalNot: case OpCode::BitwiseNot: case OpCode::IsNan: case OpCode::IsInf:
    case OpCode::IsFinite: case OpCode::StopGradient: case OpCode::FloorDiv: case OpCode::Eq: case OpCode::Ne:
    case OpCode::Lt: case OpCode::Le: case OpCode::Gt: case OpCode::Ge: case OpCode::LogicalAnd:
    case OpCode::LogicalOr: case OpCode::LogicalXor: case OpCode::BitwiseAnd: case OpCode::BitwiseOr:
    case OpCode::BitwiseXor: case OpCode::LeftShift: case OpCode::RightShift: case OpCode::All: case OpCode::Any:
    case OpCode::Argmax: case OpCode::Argmin: case OpCode::FillLike:
      return false;
    default:
      return true;
  }
}

VjpResult vjp(const std::vector<NodeRef>& outputs, const std::vector<NodeRef>& output_grads,
              const std::vector<NodeRef>& wrt, const VjpOptions& options, const SourceLoc& loc) {
  KILN_CHECK(outputs.size() == output_grads.size(), "vjp: outputs and output_grads differ in length");
  std::vector<NodeRef> roots = outputs;
  for (auto& [n, g] : options.known_grads) roots.push_back(n);
  std::vector<const Node*> order = ir::topo_order(roots);

  for (const NodeRef& w : wrt)
    if (!differentiable_dtype(w->dtype()))
      ir::user_error(loc, "grad", "cannot differentiate with respect to " + describe(w) +
                                      ": only float dtypes carry gradients (integer and bool inputs get none)");

  std::unordered_set<const Node*> constant;
  for (const NodeRef& c : options.consider_constant) constant.insert(c.get());

  // Which nodes depend on a wrt: only those get gradients (so e.g. x ** 2
  // never builds log(x) for the constant exponent).
  std::unordered_set<const Node*> wrt_set, depends;
  for (const NodeRef& w : wrt) wrt_set.insert(w.get());
  for (const Node* n : order) {
    if (wrt_set.count(n)) {
      depends.insert(n);
      continue;
    }
    if (constant.count(n) || n->op() == OpCode::StopGradient) continue;
    for (const NodeRef& in : n->inputs())
      if (depends.count(in.get()) && differentiable_dtype(in->dtype())) {
        depends.insert(n);
        break;
      }
  }

  // Shared ownership of every node in the graph, to hand rules a NodeRef.
  std::unordered_map<const Node*, NodeRef> ref;
  for (const NodeRef& r : roots) ref.emplace(r.get(), r);
  for (const Node* n : order)
    for (const NodeRef& in : n->inputs()) ref.emplace(in.get(), in);

  std::unordered_map<const Node*, NodeRef> grads;
  auto seed = [&](const NodeRef& n, const NodeRef& g, const char* what) {
    if (!g) return;
    if (!same_shape(g->type(), n->type()))
      ir::user_error(loc, "grad", std::string(what) + " for " + describe(n) + " has type " + g->type().str() +
                                      "; it must have the expression's shape");
    if (!differentiable_dtype(n->dtype())) return;
    grads[n.get()] = accumulate(grads[n.get()], g, n, loc);
  };
  for (std::size_t i = 0; i < outputs.size(); ++i) seed(outputs[i], output_grads[i], "the output gradient");
  for (auto& [n, g] : options.known_grads) seed(n, g, "the known gradient");

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node* n = *it;
    auto gi = grads.find(n);
    if (gi == grads.end() || !depends.count(n) || (wrt_set.count(n) && n->is_leaf())) continue;
    if (constant.count(n)) continue;
    bool any = false;
    for (const NodeRef& in : n->inputs()) any |= depends.count(in.get()) > 0;
    if (!any) continue;
    std::vector<NodeRef> in_grads = vjp_rule(ref.at(n), gi->second);
    KILN_CHECK(in_grads.size() == n->inputs().size(), "vjp rule of " << n->name() << " returned "
                                                                     << in_grads.size() << " gradients");
    for (std::size_t k = 0; k < in_grads.size(); ++k) {
      const NodeRef& in = n->inputs()[k];
      if (!in_grads[k] || !depends.count(in.get())) continue;
      grads[in.get()] = accumulate(grads[in.get()], in_grads[k], in, loc);
    }
  }

  VjpResult result;
  for (const NodeRef& w : wrt) {
    auto g = grads.find(w.get());
    if (g != grads.end()) {
      result.grads.push_back(with_static_dims(g->second, w, loc));
      continue;
    }
    if (options.disconnected == Disconnected::Raise)
      ir::user_error(loc, "grad", "the cost does not depend on " + describe(w) +
                                      " through float values (a disconnected input: integer, bool and "
                                      "stop_gradient paths carry no gradient); pass disconnected_inputs = "
                                      "DisconnectedInputs::Warn or Ignore to get zeros");
    result.grads.push_back(nullptr);
    result.disconnected.push_back(describe(w));
  }
  return result;
}

std::vector<NodeRef> jvp(const std::vector<NodeRef>& outputs, const std::vector<NodeRef>& wrt,
                         const std::vector<NodeRef>& tangents, const SourceLoc& loc) {
  KILN_CHECK(wrt.size() == tangents.size(), "jvp: wrt and tangents differ in length");
  std::unordered_map<const Node*, NodeRef> tan;
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    if (!differentiable_dtype(wrt[i]->dtype()))
      ir::user_error(loc, "Rop", "cannot differentiate with respect to " + describe(wrt[i]) +
                                     ": only float dtypes carry derivatives");
    if (!same_shape(tangents[i]->type(), wrt[i]->type()))
      ir::user_error(loc, "Rop", "the evaluation point for " + describe(wrt[i]) + " has type " +
                                     tangents[i]->type().str() + "; it must have the same shape");
    tan[wrt[i].get()] = tangents[i]->dtype() == wrt[i]->dtype() ? tangents[i]
                                                                 : Builder(loc).cast(tangents[i], wrt[i]->dtype());
  }
  // Shared ownership of every node, to hand rules a NodeRef. (Filled before
  // the walk: a node's handle comes from its consumers, which come later.)
  std::vector<const Node*> order = ir::topo_order(outputs);
  std::unordered_map<const Node*, NodeRef> ref;
  for (const NodeRef& r : outputs) ref.emplace(r.get(), r);
  for (const Node* n : order)
    for (const NodeRef& in : n->inputs()) ref.emplace(in.get(), in);
  for (const Node* n : order) {
    if (tan.count(n) || n->is_leaf() || n->op() == OpCode::StopGradient) continue;
    std::vector<NodeRef> ins;
    bool any = false;
    for (const NodeRef& in : n->inputs()) {
      auto t = tan.find(in.get());
      ins.push_back(t == tan.end() || !differentiable_dtype(in->dtype()) ? nullptr : t->second);
      any |= ins.back() != nullptr;
    }
    if (!any || !differentiable_dtype(n->dtype())) continue;
    NodeRef t = jvp_rule(ref.at(n), ins);
    if (t) tan[n] = t;
  }
  std::vector<NodeRef> result;
  Builder b(loc);
  for (const NodeRef& o : outputs) {
    auto t = tan.find(o.get());
    result.push_back(t != tan.end() ? t->second : b.zeros_like(o));
  }
  return result;
}

}  // namespace kiln::passes
