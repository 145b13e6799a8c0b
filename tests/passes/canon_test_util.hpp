// Helpers for the canonicalize tests (canonicalize_test.cpp, canon_*_test.cpp).
#pragma once

#include "passes/rewrite_test_util.hpp"

namespace kiln_test {

inline const kiln::passes::RuleSet& canon_rules() {
  static const kiln::passes::RuleSet rules = kiln::passes::canonicalize_rules();
  return rules;
}
inline const kiln::passes::RuleSet& strict_canon_rules() {
  static const kiln::passes::RuleSet rules = kiln::passes::canonicalize_rules({.strict_ieee = true});
  return rules;
}

// Everything a canonicalize rule must do, on one example:
//  - golden: `input` rewrites to `expected`, and the values agree on random
//    inputs in [lo, hi) (check_rule);
//  - `rule` fired;
//  - every output keeps its type (dtype and dims);
//  - rewriting the result again changes nothing (the same nodes).
inline void check_canon(const std::string& rule, const std::string& input, const std::string& expected,
                        const kiln::passes::RuleSet& rules = canon_rules(), double lo = -2, double hi = 2) {
  SCOPED_TRACE("rule " + rule);
  check_rule(rules, input, expected, lo, hi);
  Graph g = parse(input);
  kiln::passes::RuleCounts counts;
  Graph r = apply(g, rules, &counts);
  EXPECT_GT(counts[rule], 0) << rule << " did not fire on\n" << input;
  for (std::size_t i = 0; i < g.outputs.size(); ++i)
    EXPECT_EQ(r.outputs[i]->type(), g.outputs[i]->type()) << "output " << i << " changed its type";
  std::vector<NodeRef> again = kiln::passes::rewrite(r.outputs, rules);
  for (std::size_t i = 0; i < again.size(); ++i)
    EXPECT_EQ(again[i].get(), r.outputs[i].get()) << "a second rewrite changed output " << i;
}

// `input` is already canonical: rewriting it changes nothing.
inline void expect_unchanged(const std::string& input, const kiln::passes::RuleSet& rules = canon_rules()) {
  Graph g = parse(input);
  std::vector<NodeRef> out = kiln::passes::rewrite(g.outputs, rules);
  for (std::size_t i = 0; i < out.size(); ++i)
    EXPECT_EQ(out[i].get(), g.outputs[i].get()) << "output " << i << " of\n" << input << "became\n"
                                                << normal_text(apply(g, rules));
}

}  // namespace kiln_test
