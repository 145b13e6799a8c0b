// LLVM target of the kernel IR: one Kernel → one function of the kernel ABI
// (codegen/kernel.hpp) in an LLVM module, compiled by codegen/llvm/jit.hpp.
//
// Numerics (the interpreter is the oracle; docs/ops.md):
//  - f64 computes in double, f32 in float, f16/bf16 in float with the result
//    of every op rounded to the dtype (nearest even), as the interpreter
//    stores each node's value. Casts from f64 to f16/bf16 round once (through
//    round-to-odd f32, like the interpreter).
//  - +, -, *, /, sqrt, reciprocal, floor/ceil/trunc/round (half to even),
//    abs, neg, sign, maximum/minimum (NaN-propagating), compare, where, clip,
//    isnan/isinf/isfinite and every cast are exact (bit-equal to the
//    interpreter). Exception: i64 → f16/bf16 of |v| > 2^53 may round twice.
//  - exp, log, sin, tanh, pow, atan2, erf, ... call libm (glibc's libmvec in
//    vectorised loops: at most 4 ULP in the computing type).
//  - sigmoid, softplus, log1mexp use the interpreter's stable formulas with
//    those calls (a few ULP more).
//  - erfinv, lgamma, digamma, polygamma and integer pow call the
//    interpreter's own scalar code (helpers exported from libkiln), in
//    double: bit-equal for f64 and f32.
//  - Reductions: float sum/prod/mean accumulate in the computing type (f32
//    for f32/f16/bf16, rounded once at the end), reassociated so that they
//    vectorise: within a few ULP times the row length of the interpreter's
//    double sums, not bit-equal. max/min propagate NaN (any NaN gives a NaN;
//    the interpreter keeps the first one's payload) and may return +0 where
//    the interpreter returns -0 for a row holding both zeros. Integer
//    sum/prod wrap like the interpreter's int64 arithmetic stored to the
//    dtype (exact); all/any/argmax/argmin are exact (first occurrence; the
//    first NaN wins).
//  - Integers wrap (two's complement); floor_div/mod follow Python's signs
//    with x // 0 = x % 0 = 0; shifts by out-of-range counts give 0 (or the
//    sign for right shifts of negative values); float → int casts truncate,
//    saturate and map NaN to 0. All exact.
#pragma once

#include <string>

#include "codegen/kernel.hpp"

namespace llvm {
class Module;
}

namespace kiln::codegen {

class Jit;

// Adds `void name(const KilnBuffer*, i64 row_begin, i64 row_end)` computing
// `k` to `m`.
void emit_kernel(const Kernel& k, const std::string& name, llvm::Module& m);

// Makes the runtime helpers emitted code calls resolvable by `jit`.
void define_kernel_helpers(Jit& jit);

}  // namespace kiln::codegen
