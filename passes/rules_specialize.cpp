// specialize: the forms the backends run fastest.
#include "passes/pipeline.hpp"

namespace kiln::passes {

RuleSet specialize_rules(const RuleOptions&) {
  RuleSet s{"specialize", {}};
  auto& r = s.rules;
  r.push_back(pattern_rule("pow_two", "pow(x, 2) -> mul(x, x)"));
  r.push_back(pattern_rule("pow_half", "pow(x, 0.5) -> sqrt(x)"));
  r.push_back(pattern_rule("pow_minus_one", "pow(x, -1) -> reciprocal(x)"));
  r.push_back(pattern_rule("pow_minus_half", "pow(x, -0.5) -> rsqrt(x)"));
  return s;
}

}  // namespace kiln::passes
