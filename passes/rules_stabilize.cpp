// stabilize: rewrites that keep values finite and accurate where the
// expression as written overflows, underflows or cancels.
#include "passes/pipeline.hpp"

namespace kiln::passes {

RuleSet stabilize_rules(const RuleOptions&) {
  RuleSet s{"stabilize", {}};
  auto& r = s.rules;
  r.push_back(pattern_rule("log1p", "log(add(1, x)) -> log1p(x)"));
  r.push_back(pattern_rule("expm1", "sub(exp(x), 1) -> expm1(x)"));
  r.push_back(pattern_rule("log_sigmoid", "log(sigmoid(x)) -> neg(softplus(neg(x)))"));
  r.push_back(pattern_rule("log_one_minus_sigmoid", "log(sub(1, sigmoid(x))) -> neg(softplus(x))"));
  r.push_back(pattern_rule("one_minus_sigmoid", "sub(1, sigmoid(x)) -> sigmoid(neg(x))"));
  return s;
}

}  // namespace kiln::passes
