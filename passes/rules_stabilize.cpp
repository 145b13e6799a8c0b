// stabilize: rewrites that keep values finite and accurate where the
// expression as written overflows, underflows or cancels. docs/rewrites.md
// lists every rule.
//
// The engine rewrites inputs before the nodes that use them, so a rule about
// log(1 - sigmoid(x)) sees log(sigmoid(-x)) (one_minus_sigmoid fired first),
// log(1 - exp(x)) arrives as log(-expm1(x)), and log(softmax(x)) arrives with
// the softmax already shifted. The rules are written for what they see.
//
// Signed zeros (as canonicalize's x + 0 → x): a rewritten form can give the
// other zero. For x = -0, log1p(x) and expm1(x) are -0 where log(1 + x) and
// exp(x) - 1 are +0; for x = +0, log1p(-x) and -expm1(x) are -0 where
// log(1 - x) and 1 - exp(x) are +0. Only atan2, 1/x and the like tell.
#include <cmath>
#include <numbers>

#include "passes/builder.hpp"
#include "passes/pipeline.hpp"

namespace kiln::passes {

namespace {

using Axes = std::vector<std::int64_t>;

// stop_gradient(max(y)) or stop_gradient(where(isfinite(max(y)), max(y), 0)).
bool is_max_shift(const ir::Node& n) {
  if (n.op() != OpCode::StopGradient) return false;
  const ir::Node* m = n.input(0).get();
  if (m->op() == OpCode::Where) m = m->input(1).get();
  return m->op() == OpCode::Max;
}

// x - stop_gradient(max(x)): already shifted by its max (by the front end's
// softmax, logsumexp, log_softmax or by these rules), so not to be shifted
// again. Canonicalize may have regrouped the sum ((a - b) - m becomes
// a - (b + m)), so any subtracted shift among x's terms counts.
bool is_max_shifted(const NodeRef& x) {
  std::vector<std::pair<const ir::Node*, bool>> terms{{x.get(), false}};  // (term, subtracted)
  while (!terms.empty()) {
    auto [n, minus] = terms.back();
    terms.pop_back();
    if (n->op() == OpCode::Add || n->op() == OpCode::Sub) {
      terms.push_back({n->input(0).get(), minus});
      terms.push_back({n->input(1).get(), n->op() == OpCode::Sub ? !minus : minus});
    } else if (n->op() == OpCode::Neg) {
      terms.push_back({n->input(0).get(), !minus});
    } else if (minus && is_max_shift(*n)) {
      return true;
    }
  }
  return false;
}

// stop_gradient(where(isfinite(max(x)), max(x), 0)) over `axes`, dims kept:
// the shift the front end's logsumexp uses (the same nodes, so they merge).
// Finite so that an all -inf row gives log(0) + 0 = -inf, not -inf - -inf.
NodeRef finite_max(const Builder& b, const NodeRef& x, const Axes& axes) {
  NodeRef mx = b.reduce(OpCode::Max, x, axes, true);
  return b.unary(OpCode::StopGradient, b.where(b.unary(OpCode::IsFinite, mx), mx, b.like(0, x)));
}

// exp(x) / sum(exp(x), axes) -> exp(x - m) / sum(exp(x - m), axes), m = finite_max(x).
// Without keepdims the quotient is a softmax only when the summed axes are
// the leading ones (the sum then lines up with x's trailing dims).
NodeRef stable_softmax(const NodeRef& n) {
  if (n->op() != OpCode::Div) return nullptr;
  const NodeRef &e = n->input(0), &s = n->input(1);
  if (e->op() != OpCode::Exp || s->op() != OpCode::Sum || s->input(0) != e) return nullptr;
  const NodeRef& x = e->input(0);
  const Axes& axes = s->attrs().get_ints("axes");
  bool keep = s->attrs().get_bool("keepdims");
  if (axes.empty() || is_max_shifted(x)) return nullptr;
  for (std::size_t i = 0; !keep && i < axes.size(); ++i)
    if (axes[i] != static_cast<std::int64_t>(i)) return nullptr;
  Builder b(n->loc());
  NodeRef shifted = b.unary(OpCode::Exp, b.sub(x, finite_max(b, x, axes)));
  return b.div(shifted, b.sum(shifted, axes, keep));
}

// log(sum(exp(x), axes)) -> log(sum(exp(x - m), axes)) + m, m = finite_max(x)
// (squeezed without keepdims): the front end's logsumexp.
NodeRef stable_logsumexp(const NodeRef& n) {
  if (n->op() != OpCode::Log) return nullptr;
  const NodeRef& s = n->input(0);
  if (s->op() != OpCode::Sum || s->input(0)->op() != OpCode::Exp) return nullptr;
  const NodeRef& x = s->input(0)->input(0);
  const Axes& axes = s->attrs().get_ints("axes");
  bool keep = s->attrs().get_bool("keepdims");
  if (axes.empty() || is_max_shifted(x)) return nullptr;
  Builder b(n->loc());
  NodeRef m = finite_max(b, x, axes);
  NodeRef lse = b.unary(OpCode::Log, b.sum(b.unary(OpCode::Exp, b.sub(x, m)), axes, keep));
  return b.add(lse, keep ? m : b.squeeze(m, axes));
}

// Where the asymptotic series of log(erfc(x)) below is accurate to the dtype
// and erfc(x) itself is still a normal number (it underflows near 26.5 in
// f64, 9.2 in f32/bf16, 2.85 in f16).
double log_erfc_threshold(DType t) {
  switch (t) {
    case DType::F64: return 26;
    case DType::F32: case DType::BF16: return 9;
    default: return 2.75;  // f16
  }
}

// log(erfc(x)) -> where(x > t, asymptotic(max(x, t)), log(erfc(min(x, t)))):
//   log erfc(x) = -x² - log(x) - log(√π) + log1p(Σ_{n=1..5} (-1)^n (2n-1)!! / (2x²)^n) + O(x^-12)
// Each branch gets an input clamped to its side of t, so neither makes an
// inf or NaN (erfc underflowing to 0, log of a negative x) that the where's
// gradient would multiply by 0 and turn into NaN.
NodeRef stable_log_erfc(const NodeRef& n) {
  if (n->op() != OpCode::Log) return nullptr;
  const NodeRef& erfc = n->input(0);
  if (erfc->op() != OpCode::Erfc) return nullptr;
  const NodeRef& x = erfc->input(0);
  const double t = log_erfc_threshold(x->dtype());
  if (x->op() == OpCode::Minimum && (is_constant_value(*x->input(0), t) || is_constant_value(*x->input(1), t)))
    return nullptr;  // already split
  Builder b(n->loc());
  NodeRef th = b.like(t, x);
  NodeRef small = b.unary(OpCode::Log, b.unary(OpCode::Erfc, b.op(OpCode::Minimum, {x, th})));
  NodeRef xl = b.op(OpCode::Maximum, {x, th});
  NodeRef x2 = b.mul(xl, xl);
  NodeRef u = b.unary(OpCode::Reciprocal, x2);  // 1/x²
  NodeRef series = b.mul(u, -945.0 / 32);          // Horner in u: -1/2 u + 3/4 u² - 15/8 u³ + 105/16 u⁴ - 945/32 u⁵
  for (double c : {105.0 / 16, -15.0 / 8, 3.0 / 4, -1.0 / 2}) series = b.mul(u, b.add(series, c));
  NodeRef large = b.sub(b.sub(b.neg(x2), b.unary(OpCode::Log, xl)), b.like(0.5 * std::log(std::numbers::pi), x));
  large = b.add(large, b.unary(OpCode::Log1p, series));
  return b.where(b.op(OpCode::Gt, {x, th}), large, small);
}

// s is sum(exp(a)) over any axes.
bool sums_exp_of(const ir::Node&, const Bindings& b) {
  const NodeRef& s = b.at("s");
  return s->op() == OpCode::Sum && s->input(0)->op() == OpCode::Exp && s->input(0)->input(0) == b.at("a");
}

}  // namespace

RuleSet stabilize_rules(const RuleOptions&) {
  RuleSet s{"stabilize", {}};
  auto& r = s.rules;
  // log(1 ± x) and exp(x) - 1 near 0
  r.push_back(pattern_rule("log1p", "log(add(1, x)) -> log1p(x)"));
  r.push_back(pattern_rule("log_one_minus", "log(sub(1, x)) -> log1p(neg(x))"));
  r.push_back(pattern_rule("expm1", "sub(exp(x), 1) -> expm1(x)"));
  r.push_back(pattern_rule("one_minus_exp", "sub(1, exp(x)) -> neg(expm1(x))"));
  r.push_back(pattern_rule("log1mexp", "log(neg(expm1(x))) -> log1mexp(x)"));  // log(1 - exp(x))
  r.push_back(pattern_rule("softplus", "log1p(exp(x)) -> softplus(x)"));       // log(1 + exp(x))
  // sigmoid
  r.push_back(pattern_rule("one_minus_sigmoid", "sub(1, sigmoid(x)) -> sigmoid(neg(x))"));
  r.push_back(pattern_rule("log_one_minus_sigmoid", "log(sigmoid(neg(x))) -> neg(softplus(x))"));  // log(1 - sigmoid(x))
  r.push_back(pattern_rule("log_sigmoid", "log(sigmoid(x)) -> neg(softplus(neg(x)))"));
  // softmax, log_softmax, logsumexp: shifted by the max
  r.push_back(function_rule("stable_softmax", "exp(x) / sum(exp(x)) -> exp(x - m) / sum(exp(x - m)), m = max(x)",
                            stable_softmax));
  r.push_back(pattern_rule("log_softmax", "log(div(exp(a), s)) -> sub(a, log(s))", sums_exp_of));  // s = sum(exp(a))
  r.push_back(function_rule("stable_logsumexp", "log(sum(exp(x))) -> log(sum(exp(x - m))) + m, m = max(x)",
                            stable_logsumexp));
  // erfc underflows: an asymptotic series for large x
  r.push_back(function_rule("log_erfc", "log(erfc(x)) -> asymptotic series for x above a threshold",
                            stable_log_erfc));
  return s;
}

}  // namespace kiln::passes
