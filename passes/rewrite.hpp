// The rewrite engine: named rules in a small pattern notation, grouped in
// rule sets, applied bottom-up to a fixed point.
//
// A pattern rule is one line that reads like the math:
//
//   {"mul_one",   "mul(x, 1) -> x"}
//   {"log1p",     "log(add(1, x)) -> log1p(x)"}
//   {"neg_neg",   "neg(neg(x)) -> x"}
//
// Pattern syntax: op names from the op table with arguments; lowercase
// identifiers are variables (the same variable twice must be the same node);
// numbers match constants whose every element equals the number; `#name`
// matches any constant and binds it. Add, mul, maximum, minimum, eq, ne and
// the logical/bitwise and/or/xor ops are commutative: both operand orders
// are tried. In the replacement, numbers become 0-d constants of the matched
// node's dtype, and zeros_like(x) / ones_like(x) fill x's shape.
//
// A rule may also be a C++ function (for rules about attributes: axes,
// permutations, slices), and either kind may carry a guard. The engine keeps
// every node's type: a replacement with a different dtype is cast, one with
// fewer (static) dims is broadcast; one that cannot be made to fit is not
// applied.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/node.hpp"

namespace kiln::passes {

using ir::NodeRef;

// What a pattern bound: variable name → node.
using Bindings = std::unordered_map<std::string, NodeRef>;

struct Pattern;  // parsed pattern tree

struct Rule {
  std::string name;
  std::string text;  // "lhs -> rhs" for pattern rules; a description for function rules
  // Pattern rules: parsed lhs/rhs. Function rules: `apply`.
  std::shared_ptr<const Pattern> lhs, rhs;
  // Extra condition on a pattern match (nullptr: always).
  std::function<bool(const ir::Node& matched, const Bindings&)> guard;
  // Function rules: returns the replacement or nullptr.
  std::function<NodeRef(const NodeRef& node)> apply;
};

// A pattern rule from "lhs -> rhs" (an InternalError if the text is malformed:
// rules are kiln's own code).
Rule pattern_rule(std::string name, const std::string& text,
                  std::function<bool(const ir::Node&, const Bindings&)> guard = nullptr);
Rule function_rule(std::string name, std::string description, std::function<NodeRef(const NodeRef&)> apply);

struct RuleSet {
  std::string name;
  std::vector<Rule> rules;
};

// How often each rule fired (for debugging and tests).
using RuleCounts = std::map<std::string, int>;

struct RewriteOptions {
  int max_iterations = 50;  // whole-graph sweeps before declaring non-convergence
};

// Applies the rule set bottom-up until no rule fires. Throws InternalError
// naming the rules still firing when it does not converge (rules that undo
// each other). `counts` (optional) accumulates the rules that fired.
std::vector<NodeRef> rewrite(const std::vector<NodeRef>& outputs, const RuleSet& rules, RuleCounts* counts = nullptr,
                             const RewriteOptions& options = {});

// Tries one rule at one node; the replacement (already made to fit the
// node's type) or nullptr.
NodeRef try_rule(const Rule& rule, const NodeRef& node);

// Does `node` equal the number `v` everywhere (a constant, fill or fill_like)?
bool is_constant_value(const ir::Node& node, double v);
// The value of a constant or fill node when all its elements are equal.
std::optional<double> uniform_value(const ir::Node& node);

}  // namespace kiln::passes
