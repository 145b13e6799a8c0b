// Symbolic differentiation: gradients are ordinary graphs.
//
// Reverse mode (vjp) and forward mode (jvp) over the op table, one rule per
// op in passes/vjp_rules.cpp and passes/jvp_rules.cpp. Results can be
// printed, rewritten, compiled and differentiated again.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ir/node.hpp"

namespace kiln::passes {

using ir::NodeRef;

enum class Disconnected { Raise, Warn, Ignore };

struct VjpOptions {
  // Expressions treated as constants: no gradient flows through them.
  std::vector<NodeRef> consider_constant;
  // What to do when a `wrt` does not influence the outputs.
  Disconnected disconnected = Disconnected::Raise;
  // Gradients given for intermediate expressions (added to what flows back).
  std::vector<std::pair<NodeRef, NodeRef>> known_grads;
};

struct VjpResult {
  // One per wrt; nullptr where the wrt is disconnected (and the mode allowed it).
  std::vector<NodeRef> grads;
  // Names/types of the disconnected wrt entries (for warnings).
  std::vector<std::string> disconnected;
};

// Gradients of sum_i <outputs[i], output_grads[i]> with respect to `wrt`.
// output_grads[i] has outputs[i]'s type (entries may be nullptr when that
// output only contributes through known_grads). `loc` is the user's line
// for error messages.
VjpResult vjp(const std::vector<NodeRef>& outputs, const std::vector<NodeRef>& output_grads,
              const std::vector<NodeRef>& wrt, const VjpOptions& options, const SourceLoc& loc);

// The input gradients of one node given its output gradient `g`: one entry
// per input, nullptr where no gradient flows (non-differentiable inputs).
std::vector<NodeRef> vjp_rule(const NodeRef& node, const NodeRef& g);

// Forward mode: the tangents of `outputs` when each wrt[i] moves along
// tangents[i] (same type as wrt[i]). A disconnected output gets zeros.
std::vector<NodeRef> jvp(const std::vector<NodeRef>& outputs, const std::vector<NodeRef>& wrt,
                         const std::vector<NodeRef>& tangents, const SourceLoc& loc);

// The tangent of one node from its inputs' tangents (nullptr = zero tangent).
NodeRef jvp_rule(const NodeRef& node, const std::vector<NodeRef>& tangents);

// False for ops whose value is piecewise constant or not a function of real
// inputs (leaves, comparisons, rounding, integer and logical ops, argmax,
// stop_gradient): their rules give no derivative to any input.
bool has_derivative(ir::OpCode op);

// True when gradients flow through values of this dtype.
inline bool differentiable_dtype(DType t) { return is_float(t); }

}  // namespace kiln::passes
