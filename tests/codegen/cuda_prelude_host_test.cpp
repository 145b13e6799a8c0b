// The CUDA kernels' device helpers (codegen/cuda/prelude.cuh) compiled for
// the host and checked against the reference interpreter: wrapping integer
// arithmetic, floor division and modulo, shifts, integer powers, float
// floor_div/mod/maximum/minimum/sign, saturating float → int casts, f16/bf16
// rounding, round-to-odd, and kiln's own digamma/polygamma. No GPU and no
// toolkit needed; what a GPU computes differently (its libdevice math, the
// PTX f16 conversion) is left to the GPU differential run.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <math.h>
#include <numbers>
#include <string>
#include <vector>

#include "ir/interp_util.hpp"
#include "ir/node.hpp"
#include "kiln/half.hpp"
#include "kiln/kiln.hpp"

// ---- host stand-ins for the CUDA built-ins the prelude uses ----
namespace host_prelude {
using std::copysign;
using std::isinf;
using std::signbit;
inline float __int_as_float(int i) { return std::bit_cast<float>(i); }
inline float __uint_as_float(unsigned u) { return std::bit_cast<float>(u); }
inline unsigned __float_as_uint(float f) { return std::bit_cast<unsigned>(f); }
inline double __longlong_as_double(long long v) { return std::bit_cast<double>(v); }
// Not exact like CUDA's (the reflection's error shows up for large |x|).
inline double sinpi(double x) { return std::sin(std::numbers::pi * std::remainder(x, 2.0)); }
inline double cospi(double x) { return std::cos(std::numbers::pi * std::remainder(x, 2.0)); }
inline float kiln_host_h2f(unsigned short h) { return static_cast<float>(kiln::half::from_bits(h)); }
inline unsigned short kiln_host_f2h(float f) { return kiln::half(f).bits; }
#define KILN_PRELUDE_ON_HOST 1
#define __device__
#define __forceinline__ inline
#define __align__(n) alignas(n)
#include "codegen/cuda/prelude.cuh"
#undef __device__
#undef __forceinline__
#undef __align__
}  // namespace host_prelude

namespace {

using namespace kiln;
using ir::OpCode;
namespace hp = host_prelude;

// The interpreter's result of `op` on 1-d arrays of equal length.
Array interp(OpCode op, const std::vector<Array>& args, ir::Attrs attrs = {}) {
  std::vector<Tensor> ins;
  std::vector<ir::NodeRef> nodes;
  for (std::size_t i = 0; i < args.size(); ++i) {
    ins.push_back(tensor("x" + std::to_string(i), args[i].dtype(), {"n"}));
    nodes.push_back(ins.back().node());
  }
  Tensor out(ir::make_node(op, nodes, attrs, SourceLoc{}));
  FunctionOptions o;
  o.backend = Backend::Interpreter;
  o.optimize = false;
  return function(ins, {out}, o)(args)[0];
}

// All pairs of `vals` as two arrays of dtype t.
std::pair<Array, Array> pairs(const std::vector<std::int64_t>& vals, DType t) {
  std::vector<double> a, b;
  for (std::int64_t x : vals)
    for (std::int64_t y : vals) {
      a.push_back(static_cast<double>(x));
      b.push_back(static_cast<double>(y));
    }
  const auto n = static_cast<std::int64_t>(a.size());
  return {Array::from_doubles(a, {n}, t), Array::from_doubles(b, {n}, t)};
}

template <class T>
void check_int_ops(DType t, std::vector<std::int64_t> vals) {
  auto [a, b] = pairs(vals, t);
  const std::vector<std::int64_t> av = a.to_int64s(), bv = b.to_int64s();
  const bool uns = t == DType::U8;
  const int bits = static_cast<int>(8 * sizeof(T));
  struct Case {
    OpCode op;
    T (*f)(T, T, int, bool);
  };
  const Case cases[] = {
      {OpCode::Add, [](T x, T y, int, bool) { return hp::kiln_add(x, y); }},
      {OpCode::Sub, [](T x, T y, int, bool) { return hp::kiln_sub(x, y); }},
      {OpCode::Mul, [](T x, T y, int, bool) { return hp::kiln_mul(x, y); }},
      {OpCode::FloorDiv, [](T x, T y, int, bool u) { return u ? hp::kiln_floordiv_u(x, y) : hp::kiln_floordiv_s(x, y); }},
      {OpCode::Mod, [](T x, T y, int, bool u) { return u ? hp::kiln_mod_u(x, y) : hp::kiln_mod_s(x, y); }},
      {OpCode::LeftShift, [](T x, T y, int w, bool) { return hp::kiln_shl(x, y, w); }},
      {OpCode::RightShift, [](T x, T y, int w, bool u) { return u ? hp::kiln_shr_u(x, y, w) : hp::kiln_shr(x, y, w); }},
      {OpCode::Pow, [](T x, T y, int, bool) { return static_cast<T>(hp::kiln_pow_i(x, y)); }},
  };
  for (const Case& c : cases) {
    const std::vector<std::int64_t> want = interp(c.op, {a, b}).to_int64s();
    for (std::size_t i = 0; i < av.size(); ++i) {
      const T got = c.f(static_cast<T>(av[i]), static_cast<T>(bv[i]), bits, uns);
      ASSERT_EQ(static_cast<std::int64_t>(got), want[i])
          << ir::op_name(c.op) << " on " << dtype_name(t) << ": " << av[i] << ", " << bv[i];
    }
  }
  const std::vector<std::int64_t> neg = interp(OpCode::Neg, {a}).to_int64s();
  for (std::size_t i = 0; i < av.size(); ++i)
    ASSERT_EQ(static_cast<std::int64_t>(hp::kiln_neg(static_cast<T>(av[i]))), neg[i]) << av[i];
}

TEST(CudaPrelude, IntegerHelpersMatchTheInterpreter) {
  const std::vector<std::int64_t> small = {0, 1, -1, 2, -2, 3, -3, 5, -7, 7, 8, 9, 31, 63, 64, 100};
  auto with = [&](std::vector<std::int64_t> v) {
    v.insert(v.end(), small.begin(), small.end());
    return v;
  };
  check_int_ops<signed char>(DType::I8, with({-128, 127, -127, 126}));
  check_int_ops<short>(DType::I16, with({-32768, 32767, 255, 300}));
  check_int_ops<int>(DType::I32, with({INT32_MIN, INT32_MAX, 65535, -65536, 123456789}));
  check_int_ops<long long>(DType::I64, with({INT64_MIN, INT64_MAX, INT64_MIN + 1, 4294967296LL, -3037000500LL}));
  check_int_ops<unsigned char>(DType::U8, {0, 1, 2, 3, 7, 8, 9, 15, 16, 100, 127, 128, 200, 254, 255});
}

// Float values: specials and a spread of magnitudes.
std::vector<double> float_values() {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> v = {0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0, -3.0, inf, -inf, std::nan(""),
                           1e-3, 100.0, -100.0, 0.9, -0.9, 7.0, 1e30, -1e30, 5e-324, 0.1, -7.25, 1e300};
  for (int i = 0; i < 40; ++i) v.push_back(std::ldexp(std::sin(i * 1.7), (i % 13) - 6));
  return v;
}

template <class T>
void check_float_ops(DType t) {
  std::vector<double> a, b;
  for (double x : float_values())
    for (double y : float_values()) {
      a.push_back(x);
      b.push_back(y);
    }
  const auto n = static_cast<std::int64_t>(a.size());
  Array A = Array::from_doubles(a, {n}, t), B = Array::from_doubles(b, {n}, t);
  const std::vector<double> av = A.to_doubles(), bv = B.to_doubles();  // rounded to t
  struct Case {
    OpCode op;
    T (*f)(T, T);
  };
  const Case cases[] = {
      {OpCode::FloorDiv, [](T x, T y) { return hp::kiln_floordiv(x, y); }},
      {OpCode::Mod, [](T x, T y) { return hp::kiln_mod(x, y); }},
      {OpCode::Maximum, [](T x, T y) { return hp::kiln_max(x, y); }},
      {OpCode::Minimum, [](T x, T y) { return hp::kiln_min(x, y); }},
  };
  for (const Case& c : cases) {
    const std::vector<double> want = interp(c.op, {A, B}).to_doubles();
    for (std::size_t i = 0; i < av.size(); ++i) {
      const double got = c.f(static_cast<T>(av[i]), static_cast<T>(bv[i]));
      if (std::isnan(want[i])) {
        ASSERT_TRUE(std::isnan(got)) << ir::op_name(c.op) << " " << av[i] << ", " << bv[i];
        continue;
      }
      if (got == want[i] && std::signbit(got) == std::signbit(want[i])) continue;  // incl. infinities
      // f32 floor_div/mod are computed in f32 (1 ULP, as on the CPU); the rest exactly.
      const double tol = (t == DType::F32 && (c.op == OpCode::FloorDiv || c.op == OpCode::Mod))
                             ? std::fabs(static_cast<double>(std::nextafter(static_cast<float>(want[i]), INFINITY)) - want[i])
                             : 0;
      ASSERT_LE(std::fabs(got - want[i]), tol) << ir::op_name(c.op) << " on " << dtype_name(t) << ": " << av[i] << ", "
                                               << bv[i] << " -> " << got << " vs " << want[i];
      if (tol == 0 && got == 0) {
        ASSERT_EQ(std::signbit(got), std::signbit(want[i])) << ir::op_name(c.op) << " " << av[i] << ", " << bv[i];
      }
    }
  }
  const std::vector<double> sign = interp(OpCode::Sign, {A}).to_doubles();
  for (std::size_t i = 0; i < av.size(); ++i) {
    const double got = hp::kiln_sign(static_cast<T>(av[i]));
    ASSERT_TRUE(got == sign[i] || (std::isnan(got) && std::isnan(sign[i]))) << av[i];
  }
}

TEST(CudaPrelude, FloatHelpersMatchTheInterpreter) {
  check_float_ops<double>(DType::F64);
  check_float_ops<float>(DType::F32);
}

TEST(CudaPrelude, CastsAndRoundingMatchTheInterpreter) {
  std::vector<double> v = float_values();
  for (double x : {65504.0, 65520.0, 65519.99, 1e-8, 6.1e-5, 3.4e38, 1.0000001, 2147483647.5, -2147483648.7, 255.9,
                   -128.9, 9.3e18, -9.3e18, 0.33333333333333331, 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)})
    v.push_back(x);
  const auto n = static_cast<std::int64_t>(v.size());
  Array d = Array::from_doubles(v, {n}, DType::F64);
  // f64 → f16/bf16: round to odd, then once to the dtype.
  const std::vector<double> h = interp(OpCode::Cast, {d}, ir::Attrs{{"dtype", DType::F16}}).to_doubles();
  const std::vector<double> bf = interp(OpCode::Cast, {d}, ir::Attrs{{"dtype", DType::BF16}}).to_doubles();
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double gh = hp::kiln_round_f16(hp::kiln_to_float_odd(v[i]));
    const double gb = hp::kiln_round_bf16(hp::kiln_to_float_odd(v[i]));
    ASSERT_TRUE(gh == h[i] || (std::isnan(gh) && std::isnan(h[i]))) << v[i] << ": " << gh << " vs " << h[i];
    ASSERT_TRUE(gb == bf[i] || (std::isnan(gb) && std::isnan(bf[i]))) << v[i] << ": " << gb << " vs " << bf[i];
    // storing an already rounded value keeps its bits
    if (!std::isnan(gb)) {
      ASSERT_EQ(hp::kiln_f2bf(static_cast<float>(gb)), bfloat16(static_cast<float>(gb)).bits) << v[i];
    }
  }
  // float → integer: truncation, saturation, NaN → 0
  for (DType to : {DType::I8, DType::I16, DType::I32, DType::I64, DType::U8}) {
    const std::vector<std::int64_t> want = interp(OpCode::Cast, {d}, ir::Attrs{{"dtype", to}}).to_int64s();
    std::int64_t lo = 0, hi = 255;
    if (to != DType::U8) {
      const int bits = int_bits(to);
      lo = bits == 64 ? INT64_MIN : -(std::int64_t{1} << (bits - 1));
      hi = bits == 64 ? INT64_MAX : (std::int64_t{1} << (bits - 1)) - 1;
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      ASSERT_EQ(hp::kiln_f2i(v[i], lo, hi), want[i]) << v[i] << " -> " << dtype_name(to);
      // from f32 too (the f32/f16/bf16 compute type)
      const float f = static_cast<float>(v[i]);
      if (static_cast<double>(f) == v[i]) {
        ASSERT_EQ(hp::kiln_f2i(f, lo, hi), want[i]) << v[i] << " (f32)";
      }
    }
  }
}

// kiln's digamma/polygamma against the interpreter (Boost): relative error
// below 1e-13 (absolute near a zero of the function), with the host's
// inexact sinpi standing in for CUDA's in the reflection.
TEST(CudaPrelude, DigammaAndPolygammaMatchBoost) {
  std::vector<double> v = float_values();
  for (int i = 0; i < 400; ++i) v.push_back(-12.0 + 0.0619 * i);
  for (double x : {1.4616321449683622, 1e-10, -1e-10, 1e-300, 1e6, 1e15, -0.5, -1.5, -20.25, 10.0, 9.999999, 30.5})
    v.push_back(x);
  for (int n = 0; n <= 4; ++n) {
    double worst = 0;
    for (double x : v) {
      const double want = ir::interp::polygamma_scalar(n, x);
      const double got = hp::kiln_polygamma(n, x);
      if (std::isnan(want) || std::isinf(want)) {
        ASSERT_TRUE(std::isnan(want) ? std::isnan(got) : got == want) << "n=" << n << " x=" << x << ": " << got;
        continue;
      }
      const double err = std::fabs(got - want) / std::max(1.0, std::fabs(want));
      worst = std::max(worst, err);
      ASSERT_LE(err, 1e-13) << "n=" << n << " x=" << x << ": " << got << " vs " << want;
    }
    std::printf("[ cuda ] polygamma n=%d: worst relative error %.2g over %zu values\n", n, worst, v.size());
  }
}

}  // namespace
