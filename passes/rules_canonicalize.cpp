// canonicalize: constant folding, identities, canonical add/mul forms,
// useless ops, reductions, lifting, gradient clean-up. One rule per line;
// docs/rewrites.md lists every rule. The rules split by root op live in
// canon_add_mul.cpp, canon_shape.cpp and canon_reduce.cpp.
//
// IEEE caveats (the engine keeps types, not signed zeros):
//   x + 0 → x    gives -0 for x = -0, where -0 + 0 is +0 (x + -0 and x - 0 are exact)
//   0 - x → -x   gives -0 for x = +0, where 0 - 0 is +0
//   x * 0        is never rewritten: it is NaN for x = inf or NaN, and -0 for x < 0
//   x - x → 0, x / x → 1 and cancelling in sums and products hold for finite
//   values only (inf - inf and 0/0 are NaN): not for floats under strict_ieee.
#include "passes/canon_rules.hpp"

namespace kiln::passes {

namespace {

// The operand of a matched binary node other than the bound `x`.
bool other_operand_is(const ir::Node& n, const Bindings& b, double v) {
  const NodeRef& x = b.at("x");
  return is_constant_value(*(n.input(0) == x ? n.input(1) : n.input(0)), v);
}

}  // namespace

RuleSet canonicalize_rules(const RuleOptions& o) {
  RuleSet s{"canonicalize", {}};
  auto& r = s.rules;
  r.push_back(fold_constants_rule());
  // identities
  r.push_back(pattern_rule("add_zero", "add(x, 0) -> x"));  // not exact for x = -0 (see above)
  r.push_back(pattern_rule("sub_zero", "sub(x, 0) -> x"));
  r.push_back(pattern_rule("zero_sub", "sub(0, x) -> neg(x)"));  // not exact for x = +0
  r.push_back(pattern_rule("mul_one", "mul(x, 1) -> x"));
  r.push_back(pattern_rule("div_one", "div(x, 1) -> x"));
  r.push_back(pattern_rule("neg_neg", "neg(neg(x)) -> x"));
  r.push_back(pattern_rule("neg_mul_neg", "mul(neg(a), neg(b)) -> mul(a, b)"));
  r.push_back(pattern_rule("pow_one", "pow(x, 1) -> x"));
  r.push_back(pattern_rule("pow_zero", "pow(x, 0) -> ones_like(x)"));  // exact: pow(nan, 0) = 1, int 0 ** 0 = 1
  auto finite = [o](const ir::Node& n, const Bindings&) { return canon::finite_identities(o, n.dtype()); };
  r.push_back(pattern_rule("sub_self", "sub(x, x) -> zeros_like(x)", finite));  // inf - inf is nan
  r.push_back(pattern_rule("div_self", "div(x, x) -> ones_like(x)", finite));   // 0/0, inf/inf are nan
  // gradient clean-up: zeros and ones of a shape only known at run time (add_zero etc. cover static shapes)
  auto other_is = [](double v) { return [v](const ir::Node& n, const Bindings& b) { return other_operand_is(n, b, v); }; };
  r.push_back(pattern_rule("add_zeros_like", "add(x, fill_like(y)) -> broadcast_like(x, y)", other_is(0)));
  r.push_back(pattern_rule("sub_zeros_like", "sub(x, fill_like(y)) -> broadcast_like(x, y)", other_is(0)));
  r.push_back(pattern_rule("mul_ones_like", "mul(x, fill_like(y)) -> broadcast_like(x, y)", other_is(1)));
  canon::add_mul_rules(r, o);
  canon::shape_rules(r, o);
  canon::reduce_rules(r, o);
  return s;
}

}  // namespace kiln::passes
