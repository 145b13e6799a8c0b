// The canonicalize rule set, split by root op (internal to passes/).
//
//   rules_canonicalize.cpp  folding, identities, gradient clean-up; the set
//   canon_add_mul.cpp       canonical sums and products
//   canon_shape.cpp         useless shape ops, lifting, inc_* into zeros
//   canon_reduce.cpp        reductions
//   canon_util.cpp          the helpers below
#pragma once

#include <vector>

#include "passes/builder.hpp"
#include "passes/pipeline.hpp"

namespace kiln::passes::canon {

// Each appends its rules to `r`.
void add_mul_rules(std::vector<Rule>& r, const RuleOptions& o);
void shape_rules(std::vector<Rule>& r, const RuleOptions& o);
void reduce_rules(std::vector<Rule>& r, const RuleOptions& o);

// May identities that hold only for finite values (x - x = 0, x / x = 1,
// (a*b)/b = a) be applied to this dtype? Always for integers, where they are
// exact; for floats unless strict_ieee.
inline bool finite_identities(const RuleOptions& o, DType t) { return !o.strict_ieee || !is_float(t); }

// A 0-d constant or fill.
bool is_scalar_constant(const ir::Node& n);
// Is every element of n zero (of either sign) / one? (constant, fill, fill_like, broadcasts of them)
bool is_zeros(const ir::Node& n);
bool is_ones(const ir::Node& n);

// The order of operands in canonical sums and products: variables (by name),
// then other ops (by op, then operands, then attributes), then constants.
// Structural, so the same graph sorts the same way in every run.
bool term_less(const NodeRef& a, const NodeRef& b);

// Can a value of type `have` stand for one of type `want` without a
// broadcast? (As the engine's fit(): the same rank, every static dim of
// `want` equal in `have`, and no static 1 standing for an unknown dim.)
bool fits_without_broadcast(const ir::TensorType& have, const ir::TensorType& want);

// `r` broadcast (with broadcast_like against `refs`, in turn) until it fits
// n's type; r itself when it fits or when n's dims are static (the engine
// then broadcasts); nullptr when the refs do not get it there.
NodeRef broadcast_back(NodeRef r, const ir::Node& n, const std::vector<NodeRef>& refs);

// Bits of an integer dtype's magnitude: 7 for i8, 8 for u8 (int_bits counts the sign too).
int value_bits(DType t);
// Can k be a constant of dtype t: a finite number for floats, an integer of
// magnitude at most the dtype's maximum (and exact in a double) for integers?
bool representable(double k, DType t);

// Evaluates `op` on 0-d constant arrays with the interpreter (exact dtype
// semantics: wrapping integers, rounding once).
Array eval_scalar(OpCode op, const std::vector<Array>& args);

}  // namespace kiln::passes::canon
