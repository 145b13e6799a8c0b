// The differential sweep shared by the backend tests (native, CUDA printer,
// CUDA on a GPU): every elementwise op of the op table applied to inputs of
// one dtype, with every variant of its attributes.
#pragma once

#include <climits>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "ir/node.hpp"
#include "kiln/kiln.hpp"

namespace kiln_test {

inline constexpr kiln::DType kAllDTypes[] = {kiln::DType::Bool, kiln::DType::I8,  kiln::DType::I16,
                                             kiln::DType::I32,  kiln::DType::I64, kiln::DType::U8,
                                             kiln::DType::F16,  kiln::DType::BF16, kiln::DType::F32,
                                             kiln::DType::F64};

struct Sweep {
  std::vector<kiln::Tensor> outs;
  std::vector<kiln::ir::OpCode> ops;  // the op of each output
};

// Every elementwise op of the table with `arity` inputs, applied to `xs`
// (where: cond, xs[0], xs[1]); casts to every dtype, polygamma of orders
// 0-3. Ops that reject the inputs' dtype are skipped.
inline Sweep sweep_ops(const std::vector<kiln::Tensor>& xs, const kiln::Tensor& cond, int arity) {
  using kiln::ir::OpCode;
  Sweep s;
  for (const kiln::ir::OpInfo& info : kiln::ir::all_ops()) {
    if (!kiln::ir::is_elementwise(info.code) || info.arity != arity) continue;
    std::vector<kiln::ir::NodeRef> in;
    if (info.code == OpCode::Where) in = {cond.node(), xs[0].node(), xs[1].node()};
    else
      for (int i = 0; i < arity; ++i) in.push_back(xs[static_cast<std::size_t>(i)].node());
    std::vector<kiln::ir::Attrs> variants;
    if (info.code == OpCode::Cast) {
      for (kiln::DType to : kAllDTypes) variants.push_back(kiln::ir::Attrs{{"dtype", to}});
    } else if (info.code == OpCode::Polygamma) {
      for (std::int64_t n : {0, 1, 2, 3}) variants.push_back(kiln::ir::Attrs{{"n", n}});
    } else {
      variants.push_back(kiln::ir::Attrs{});
    }
    for (const kiln::ir::Attrs& a : variants) {
      try {
        s.outs.push_back(kiln::Tensor(kiln::ir::make_node(info.code, in, a, kiln::SourceLoc{})));
        s.ops.push_back(info.code);
      } catch (const kiln::Error&) {
        // the op does not accept this dtype
      }
    }
  }
  return s;
}

// The sweep over fresh inputs x0.. of dtype t and shape `dims` (and a bool
// condition c of the same shape).
inline std::vector<kiln::Tensor> sweep(kiln::DType t, int arity, const std::vector<kiln::DimSpec>& dims) {
  std::vector<kiln::Tensor> xs;
  for (int i = 0; i < arity; ++i) xs.push_back(kiln::tensor("x" + std::to_string(i), t, dims));
  return sweep_ops(xs, kiln::tensor("c", kiln::DType::Bool, dims), arity).outs;
}

// ---- comparing a sweep's results with the interpreter ----

// The math-library ops: within a few ULP of the correctly rounded value.
inline const std::set<kiln::ir::OpCode> kSweepLibmOps = {
    kiln::ir::OpCode::Exp,   kiln::ir::OpCode::Exp2,     kiln::ir::OpCode::Expm1,    kiln::ir::OpCode::Log,
    kiln::ir::OpCode::Log2,  kiln::ir::OpCode::Log10,    kiln::ir::OpCode::Log1p,    kiln::ir::OpCode::Log1mexp,
    kiln::ir::OpCode::Sin,   kiln::ir::OpCode::Cos,      kiln::ir::OpCode::Tan,      kiln::ir::OpCode::Asin,
    kiln::ir::OpCode::Acos,  kiln::ir::OpCode::Atan,     kiln::ir::OpCode::Sinh,     kiln::ir::OpCode::Cosh,
    kiln::ir::OpCode::Tanh,  kiln::ir::OpCode::Asinh,    kiln::ir::OpCode::Acosh,    kiln::ir::OpCode::Atanh,
    kiln::ir::OpCode::Sigmoid, kiln::ir::OpCode::Softplus, kiln::ir::OpCode::Erf,    kiln::ir::OpCode::Erfc,
    kiln::ir::OpCode::Pow,   kiln::ir::OpCode::Atan2,    kiln::ir::OpCode::Rsqrt};

// One unit in the last place of dtype t at |x|.
inline double sweep_ulp(kiln::DType t, double x) {
  x = std::fabs(x);
  const int e = x == 0 ? -1000 : std::ilogb(x);
  switch (t) {
    case kiln::DType::F64: return std::nextafter(x, INFINITY) - x;
    case kiln::DType::F32: return static_cast<double>(std::nextafter(static_cast<float>(x), INFINITY)) - x;
    case kiln::DType::F16: return std::ldexp(1.0, std::max(e, -14) - 10);
    case kiln::DType::BF16: return std::ldexp(1.0, std::max(e, -126) - 7);
    default: return 0;
  }
}

// The printed CUDA kernels run on the host (glibc's math) against the
// interpreter: exact but for f16/bf16 (1 ULP), math-library ops (4 ULP, or
// 4 ULP of 1 near a zero), f32 floor_div/mod (1 ULP), and kiln's own
// digamma/polygamma (1e-13 relative in f64, 1 ULP below). NaN matches NaN;
// a zero must have the expected sign.
inline bool sweep_close(kiln::ir::OpCode op, kiln::DType in, kiln::DType out, double got, double want) {
  using kiln::ir::OpCode;
  if (std::isnan(got) && std::isnan(want)) return true;
  if (got == want) return got != 0 || std::signbit(got) == std::signbit(want);
  if (std::isnan(got) || std::isnan(want) || std::isinf(got) || std::isinf(want)) return false;
  if (!kiln::is_float(out) || op == OpCode::Cast) return false;
  const double d = std::fabs(got - want);
  if (out == kiln::DType::F16 || out == kiln::DType::BF16) return d <= sweep_ulp(out, want);
  if (op == OpCode::Digamma || op == OpCode::Polygamma)
    return out == kiln::DType::F64 ? d <= 1e-13 * std::max(1.0, std::fabs(want)) : d <= sweep_ulp(out, want);
  if (kSweepLibmOps.count(op)) return d <= 4 * sweep_ulp(out, want) || d <= 4 * sweep_ulp(out, 1.0);
  if ((op == OpCode::FloorDiv || op == OpCode::Mod) && in != kiln::DType::F64) return d <= sweep_ulp(out, want);
  return false;
}

// n input values of dtype t, special values first (signed zeros, halves,
// infinities, NaN, f16's largest, tiny and huge values; integer extremes);
// `small`: integers in [-3, 13) (divisors 0 and -1, exponents, shift counts).
inline kiln::Array sweep_values(kiln::DType t, std::int64_t n, std::uint64_t seed, bool small) {
  using kiln::Array;
  using kiln::DType;
  if (kiln::is_float(t)) {
    const double inf = INFINITY;
    std::vector<double> v = {0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0, -3.0, inf, -inf, NAN, 1e-3,
                             100.0, -100.0, 0.9, -0.9, 7.0, 1e30, -1e30, 65519.0, 1e-6};
    std::vector<double> r = Array::uniform({n}, DType::F64, seed, -6.0, 6.0).to_doubles();
    for (std::size_t i = 0; v.size() < static_cast<std::size_t>(n); ++i) v.push_back(r[i]);
    v.resize(static_cast<std::size_t>(n));
    return Array::from_doubles(v, {n}, t);
  }
  if (t == DType::Bool) return Array::randint({n}, 0, 2, DType::I64, seed).astype(t);
  if (small) return Array::randint({n}, t == DType::U8 ? 0 : -3, 13, DType::I64, seed).astype(t);
  const int bits = kiln::int_bits(t);
  const std::int64_t lo = t == DType::U8 ? 0 : bits >= 32 ? -1000000 : -(std::int64_t{1} << (bits - 1));
  const std::int64_t hi = t == DType::U8 ? 256 : bits >= 32 ? 1000000 : (std::int64_t{1} << (bits - 1));
  std::vector<std::int64_t> r = Array::randint({n}, lo, hi, DType::I64, seed).to_int64s();
  std::vector<std::int64_t> special = {0, 1, -1, 2, 7};
  if (t == DType::I64) special.insert(special.end(), {INT64_MIN, INT64_MAX, INT64_MIN + 1});
  for (std::size_t i = 0; i < special.size() && i < r.size(); ++i) r[i] = special[i];
  Array out = Array::empty({n}, DType::I64);
  for (std::int64_t i = 0; i < n; ++i) out.data<std::int64_t>()[i] = r[static_cast<std::size_t>(i)];
  return out.astype(t);
}

}  // namespace kiln_test
