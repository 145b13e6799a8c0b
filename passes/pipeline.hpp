// The graph optimisation pipeline and its rule sets.
//
//   canonicalize → stabilize → cleanup → specialize
//
// Each stage is a rule set run to a fixed point by the rewrite engine
// (passes/rewrite.hpp); constant folding is part of canonicalize, and
// cleanup runs the canonicalize rules again on what stabilize wrote. The IR
// can be printed after any stage: PipelineOptions::dump_after, or the
// environment variable KILN_DUMP_IR=after:canonicalize (a comma-separated
// list of stage names, or "all").
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "ir/node.hpp"
#include "passes/rewrite.hpp"

namespace kiln::passes {

struct RuleOptions {
  // Theano's choice, kept by default: identities that hold for finite values
  // (x - x → 0, x / x → 1, (a*b)/b → a) are applied although they change the
  // result for inf/NaN inputs. With strict_ieee they are not.
  bool strict_ieee = false;
};

// The rule sets (built once per options value).
RuleSet canonicalize_rules(const RuleOptions& o = {});
RuleSet stabilize_rules(const RuleOptions& o = {});
RuleSet specialize_rules(const RuleOptions& o = {});

// Constant folding: a rule that evaluates (with the reference interpreter)
// any op whose inputs are all constants, when the result is small or uniform;
// and ops whose shape argument is statically known (reshape_like,
// broadcast_like, fill_like) into their static forms.
Rule fold_constants_rule();

struct PipelineOptions {
  RuleOptions rules;
  // Stage names after which to print the graph ("all" for every stage).
  std::vector<std::string> dump_after;
  std::ostream* dump_stream = nullptr;  // default std::cerr
  RuleCounts* counts = nullptr;         // accumulates which rules fired
};

// Stage names in order: "canonicalize", "stabilize", "cleanup", "specialize".
const std::vector<std::string>& pipeline_stages();

// Runs the whole pipeline on the outputs; returns the optimised outputs
// (same types). Also reads KILN_DUMP_IR.
std::vector<NodeRef> optimize(const std::vector<NodeRef>& outputs, const PipelineOptions& options = {});

}  // namespace kiln::passes
