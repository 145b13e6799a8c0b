// canonicalize: constant folding, identities, canonical add/mul forms,
// useless ops, reductions, lifting, gradient clean-up. One rule per line;
// docs/rewrites.md lists every rule.
#include "passes/pipeline.hpp"

namespace kiln::passes {

RuleSet canonicalize_rules(const RuleOptions& o) {
  RuleSet s{"canonicalize", {}};
  auto& r = s.rules;
  r.push_back(fold_constants_rule());
  // identities
  r.push_back(pattern_rule("add_zero", "add(x, 0) -> x"));            // x + 0 = x (turns -0 + 0 into -0)
  r.push_back(pattern_rule("sub_zero", "sub(x, 0) -> x"));
  r.push_back(pattern_rule("zero_sub", "sub(0, x) -> neg(x)"));
  r.push_back(pattern_rule("mul_one", "mul(x, 1) -> x"));
  r.push_back(pattern_rule("div_one", "div(x, 1) -> x"));
  r.push_back(pattern_rule("neg_neg", "neg(neg(x)) -> x"));
  r.push_back(pattern_rule("neg_mul_neg", "mul(neg(a), neg(b)) -> mul(a, b)"));
  r.push_back(pattern_rule("pow_one", "pow(x, 1) -> x"));
  r.push_back(pattern_rule("pow_zero", "pow(x, 0) -> ones_like(x)"));  // IEEE: pow(nan, 0) = 1, exact
  if (!o.strict_ieee) {
    r.push_back(pattern_rule("sub_self", "sub(x, x) -> zeros_like(x)"));  // not for inf/nan (Theano's choice)
    r.push_back(pattern_rule("div_self", "div(x, x) -> ones_like(x)"));   // not for 0, inf, nan
  }
  return s;
}

}  // namespace kiln::passes
