// specialize: the forms the backends run fastest. docs/rewrites.md lists
// every rule.
//
// Powers with small integer exponents become multiplications (no pow call,
// and x^2 shares one product), square(x) becomes mul(x, x), so a sum of
// squares reaches the backends as sum(mul(x, x)): one multiply-and-add per
// element, the form a fused reduction (or a dot product) takes directly.
// Division by a power of two becomes multiplication by its reciprocal, which
// gives the same bits.
#include <cmath>
#include <cstdlib>

#include "passes/builder.hpp"
#include "passes/pipeline.hpp"

namespace kiln::passes {

namespace {

// x^k for k >= 1 by repeated squaring: x^3 = (x*x)*x, x^4 = (x*x)*(x*x).
NodeRef power(const Builder& b, const NodeRef& x, int k) {
  if (k == 1) return x;
  if (k % 2 == 0) return b.square(power(b, x, k / 2));
  return b.mul(power(b, x, k - 1), x);
}

// pow(x, k) for an integer 3 <= |k| <= 8 or k = -2 (2, -1 have their own
// lines): the product by squaring, its reciprocal for negative k (floats only).
NodeRef pow_small_int(const NodeRef& n) {
  if (n->op() != OpCode::Pow) return nullptr;
  std::optional<double> e = uniform_value(*n->input(1));
  if (!e || *e != std::trunc(*e) || std::fabs(*e) > 8) return nullptr;
  int k = static_cast<int>(*e);
  if ((k >= -1 && k <= 2) || (k < 0 && !is_float(n->dtype()))) return nullptr;
  Builder b(n->loc());
  NodeRef p = power(b, n->input(0), std::abs(k));
  return k < 0 ? b.unary(OpCode::Reciprocal, p) : p;
}

// x / c -> x * (1/c) for c a power of two whose reciprocal the dtype holds
// exactly: both round the same real number once, so the bits are equal.
NodeRef div_by_power_of_two(const NodeRef& n) {
  if (n->op() != OpCode::Div) return nullptr;
  std::optional<double> c = uniform_value(*n->input(1));
  int exp = 0;
  if (!c || !std::isfinite(*c) || std::fabs(std::frexp(*c, &exp)) != 0.5) return nullptr;
  double r = 1.0 / *c;
  if (!std::isfinite(r) || Array::scalar(r, n->dtype()).to_doubles()[0] != r) return nullptr;
  Builder b(n->loc());
  return b.mul(n->input(0), b.like(r, n->input(0)));
}

}  // namespace

RuleSet specialize_rules(const RuleOptions& o) {
  RuleSet s{"specialize", {}};
  auto& r = s.rules;
  r.push_back(pattern_rule("pow_two", "pow(x, 2) -> mul(x, x)"));
  r.push_back(pattern_rule("pow_minus_one", "pow(x, -1) -> reciprocal(x)"));
  if (!o.strict_ieee) {  // differ at -0.0 and -inf: pow(-0.0, 0.5) = 0, sqrt(-0.0) = -0.0
    r.push_back(pattern_rule("pow_half", "pow(x, 0.5) -> sqrt(x)"));
    r.push_back(pattern_rule("pow_minus_half", "pow(x, -0.5) -> rsqrt(x)"));
  }
  r.push_back(function_rule("pow_small_int", "pow(x, k) -> x*x*..., 3 <= |k| <= 8, by squaring; 1/(...) for k < 0",
                            pow_small_int));
  r.push_back(pattern_rule("square_to_mul", "square(x) -> mul(x, x)"));
  r.push_back(function_rule("div_by_power_of_two", "div(x, c) -> mul(x, 1/c), c = 2^k", div_by_power_of_two));
  return s;
}

}  // namespace kiln::passes
