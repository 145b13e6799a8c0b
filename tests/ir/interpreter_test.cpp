// The reference interpreter against hand-computed values, elementwise part:
// leaves, every unary and binary op family, integer wrap, Python-sign
// division, shifts, rounding, NaN propagation, casts, strided inputs and
// broadcasting (including its run-time errors).
#include "ir/interpreter.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "interpreter_test_util.hpp"

namespace kiln::ir {
namespace {

using namespace interp_test;
// ===================== leaves =====================

TEST(Interpreter, Constant) {
  Array v = f64s({1, 2, 3, 4}, {2, 2});
  Array r = interpret({constant(v)}, {})[0];
  expect_array(r, DType::F64, {2, 2}, {1, 2, 3, 4});
  EXPECT_NE(r.raw_data(), v.raw_data());  // a fresh copy
}

TEST(Interpreter, Fill) {
  auto fill = [](Shape s, double v, DType t) {
    return interpret({make_node(OpCode::Fill, {}, Attrs{{"shape", s}, {"value", v}, {"dtype", t}}, kLoc)}, {})[0];
  };
  expect_array(fill({2, 2}, 1.5, DType::F32), DType::F32, {2, 2}, {1.5, 1.5, 1.5, 1.5});
  expect_ints(fill({3}, 2.9, DType::I32), DType::I32, {3}, {2, 2, 2});     // truncates like cast
  expect_ints(fill({2}, -300.0, DType::I8), DType::I8, {2}, {-128, -128});  // saturates like cast
  expect_ints(fill({2}, 0.5, DType::Bool), DType::Bool, {2}, {1, 1});
  expect_array(fill({0, 3}, 1.0, DType::F64), DType::F64, {0, 3}, {});
  expect_array(fill({}, 7.0, DType::F64), DType::F64, {}, {7});
}

TEST(Interpreter, Arange) {
  auto arange = [](double a, double b, double s, DType t) {
    return interpret({make_node(OpCode::Arange, {},
                                Attrs{{"start", a}, {"stop", b}, {"step", s}, {"dtype", t}}, kLoc)},
                     {})[0];
  };
  expect_array(arange(1, 2, 0.25, DType::F64), DType::F64, {4}, {1, 1.25, 1.5, 1.75});
  // Elements computed in double then converted: 0, 1.5, 3, 4.5 → 0, 1, 3, 4.
  expect_ints(arange(0, 5, 1.5, DType::I32), DType::I32, {4}, {0, 1, 3, 4});
  expect_array(arange(3, 0, -1, DType::F32), DType::F32, {3}, {3, 2, 1});
  expect_array(arange(0, 0, 1, DType::F64), DType::F64, {0}, {});
}

TEST(Interpreter, Eye) {
  auto eye = [](i64 n, i64 m, i64 k, DType t) {
    return interpret({make_node(OpCode::Eye, {}, Attrs{{"n", n}, {"m", m}, {"k", k}, {"dtype", t}}, kLoc)}, {})[0];
  };
  expect_array(eye(2, 2, 0, DType::F32), DType::F32, {2, 2}, {1, 0, 0, 1});
  expect_ints(eye(3, 4, 1, DType::I32), DType::I32, {3, 4}, {0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
  expect_ints(eye(3, 3, -1, DType::Bool), DType::Bool, {3, 3}, {0, 0, 0, 1, 0, 0, 0, 1, 0});
  expect_ints(eye(2, 2, 5, DType::I64), DType::I64, {2, 2}, {0, 0, 0, 0});
}

// ===================== unary =====================

TEST(Interpreter, UnaryFloatBasics) {
  Array x = vec({-2.5, -0.0, 0.0, 1.5, kNaN});
  expect_array(unary(OpCode::Neg, x), DType::F64, {5}, {2.5, 0.0, -0.0, -1.5, kNaN});
  expect_array(unary(OpCode::Abs, x), DType::F64, {5}, {2.5, 0.0, 0.0, 1.5, kNaN});
  expect_array(unary(OpCode::Sign, x), DType::F64, {5}, {-1, 0, 0, 1, kNaN});
  expect_array(unary(OpCode::Square, x), DType::F64, {5}, {6.25, 0, 0, 2.25, kNaN});
  expect_array(unary(OpCode::Floor, x), DType::F64, {5}, {-3, -0.0, 0, 1, kNaN});
  expect_array(unary(OpCode::Ceil, x), DType::F64, {5}, {-2, -0.0, 0, 2, kNaN});
  expect_array(unary(OpCode::Trunc, x), DType::F64, {5}, {-2, -0.0, 0, 1, kNaN});
  expect_array(unary(OpCode::StopGradient, x), DType::F64, {5}, {-2.5, -0.0, 0.0, 1.5, kNaN});
  // sign(-0.0) is +0 (NumPy).
  EXPECT_FALSE(std::signbit(unary(OpCode::Sign, vec({-0.0})).to_doubles()[0]));
}

TEST(Interpreter, RoundHalfToEven) {
  Array x = vec({0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.6, -2.4});
  expect_array(unary(OpCode::Round, x), DType::F64, {8}, {0, 2, 2, -0.0, -2, -2, 3, -2});
  EXPECT_TRUE(std::signbit(unary(OpCode::Round, vec({-0.5})).to_doubles()[0]));
  // In f32 and f16 too (the values are exact there).
  expect_array(unary(OpCode::Round, vec({0.5, 1.5, 2.5}, DType::F32)), DType::F32, {3}, {0, 2, 2});
  expect_array(unary(OpCode::Round, vec({0.5, 1.5, 2.5}, DType::F16)), DType::F16, {3}, {0, 2, 2});
}

TEST(Interpreter, UnaryFloatFunctions) {
  expect_array(unary(OpCode::Exp, vec({0})), DType::F64, {1}, {1});
  expect_array(unary(OpCode::Exp2, vec({3, -1})), DType::F64, {2}, {8, 0.5});
  expect_array(unary(OpCode::Expm1, vec({0})), DType::F64, {1}, {0});
  expect_array(unary(OpCode::Log, vec({1, 0, -1})), DType::F64, {3}, {0, -kInf, kNaN});
  expect_array(unary(OpCode::Log2, vec({8})), DType::F64, {1}, {3});
  expect_array(unary(OpCode::Log10, vec({1000})), DType::F64, {1}, {3});
  expect_array(unary(OpCode::Log1p, vec({0, -1})), DType::F64, {2}, {0, -kInf});
  expect_array(unary(OpCode::Sqrt, vec({4, -1})), DType::F64, {2}, {2, kNaN});
  expect_array(unary(OpCode::Rsqrt, vec({4, 0})), DType::F64, {2}, {0.5, kInf});
  expect_array(unary(OpCode::Reciprocal, vec({4, -0.0})), DType::F64, {2}, {0.25, -kInf});
  expect_array(unary(OpCode::Sin, vec({0})), DType::F64, {1}, {0});
  expect_array(unary(OpCode::Cos, vec({0})), DType::F64, {1}, {1});
  expect_array(unary(OpCode::Tan, vec({0})), DType::F64, {1}, {0});
  expect_array(unary(OpCode::Asin, vec({1, 2})), DType::F64, {2}, {std::numbers::pi / 2, kNaN});
  expect_array(unary(OpCode::Acos, vec({1})), DType::F64, {1}, {0});
  expect_array(unary(OpCode::Atan, vec({kInf})), DType::F64, {1}, {std::numbers::pi / 2});
  expect_array(unary(OpCode::Sinh, vec({0})), DType::F64, {1}, {0});
  expect_array(unary(OpCode::Cosh, vec({0})), DType::F64, {1}, {1});
  expect_array(unary(OpCode::Tanh, vec({kInf, -kInf})), DType::F64, {2}, {1, -1});
  expect_array(unary(OpCode::Asinh, vec({0})), DType::F64, {1}, {0});
  expect_array(unary(OpCode::Acosh, vec({1})), DType::F64, {1}, {0});
  expect_array(unary(OpCode::Atanh, vec({0, 1})), DType::F64, {2}, {0, kInf});
  expect_array(unary(OpCode::Erf, vec({0, kInf})), DType::F64, {2}, {0, 1});
  expect_array(unary(OpCode::Erfc, vec({0, kInf})), DType::F64, {2}, {1, 0});
  // Values near 1: exp(1) = e, log(e) = 1 to a few ulps.
  expect_near(unary(OpCode::Exp, vec({1})), {std::numbers::e});
  expect_near(unary(OpCode::Atan, vec({1})), {std::numbers::pi / 4});
}

TEST(Interpreter, SigmoidSoftplusAreStable) {
  // sigmoid(-1000) would be 1/(1+inf) = 0 anyway, but exp(1000) must not make NaN;
  // softplus(1000) must not be log1p(inf) = inf.
  expect_array(unary(OpCode::Sigmoid, vec({0, 1000, -1000, kNaN, kInf, -kInf})), DType::F64, {6},
               {0.5, 1, 0, kNaN, 1, 0});
  expect_near(unary(OpCode::Sigmoid, vec({2, -2})), {1 / (1 + std::exp(-2.0)), 1 / (1 + std::exp(2.0))});
  expect_array(unary(OpCode::Softplus, vec({1000, -1000, kInf, -kInf, kNaN})), DType::F64, {5},
               {1000, 0, kInf, 0, kNaN});
  expect_near(unary(OpCode::Softplus, vec({0})), {std::numbers::ln2});
  // softplus(40) = 40 + log1p(e^-40) = 40 + 4.248e-18, which rounds to 40.
  expect_array(unary(OpCode::Softplus, vec({40})), DType::F64, {1}, {40});
  // f32 in, f32 out: sigmoid(0) = 0.5 exactly.
  expect_array(unary(OpCode::Sigmoid, vec({0}, DType::F32)), DType::F32, {1}, {0.5});
}

TEST(Interpreter, SpecialFunctionsAndTheirPoles) {
  // erfinv: ±1 → ±inf, |x| > 1 → NaN, never an exception.
  expect_array(unary(OpCode::Erfinv, vec({0, 1, -1, 1.5, -2, kNaN})), DType::F64, {6},
               {0, kInf, -kInf, kNaN, kNaN, kNaN});
  // erf(0.5) = 0.5204998778130465.
  expect_near(unary(OpCode::Erfinv, vec({0.5204998778130465})), {0.5}, 1e-14);
  // lgamma(1) = lgamma(2) = 0, lgamma(5) = log(24); poles → +inf.
  expect_array(unary(OpCode::Lgamma, vec({1, 2, 0, -1, -2})), DType::F64, {5}, {0, 0, kInf, kInf, kInf});
  expect_near(unary(OpCode::Lgamma, vec({5, 0.5})), {std::log(24.0), 0.5 * std::log(std::numbers::pi)});
  // digamma(1) = -γ; digamma(-0.5) = digamma(0.5) + 2 = -γ - 2 ln 2 + 2.
  const double gamma = 0.5772156649015329;
  expect_near(unary(OpCode::Digamma, vec({1, -0.5})), {-gamma, -gamma - 2 * std::numbers::ln2 + 2}, 1e-14);
  // Poles: +0 → -inf, -0 → +inf (one-sided limits), negative integers → NaN.
  expect_array(unary(OpCode::Digamma, vec({0.0, -0.0, -1, -2, kInf, -kInf, kNaN})), DType::F64, {7},
               {-kInf, kInf, kNaN, kNaN, kInf, kNaN, kNaN});
}

TEST(Interpreter, UnaryIntegerWraps) {
  // neg/abs of the minimum wrap to itself.
  expect_ints(unary(OpCode::Neg, vec({-128, 127, 0, 5}, DType::I8)), DType::I8, {4}, {-128, -127, 0, -5});
  expect_ints(unary(OpCode::Abs, vec({-128, -127, 3}, DType::I8)), DType::I8, {3}, {-128, 127, 3});
  expect_ints(unary(OpCode::Abs, ivec({kI64Min, -7})), DType::I64, {2}, {kI64Min, 7});
  expect_ints(unary(OpCode::Neg, ivec({kI64Min})), DType::I64, {1}, {kI64Min});
  expect_ints(unary(OpCode::Neg, vec({1, 0, 255}, DType::U8)), DType::U8, {3}, {255, 0, 1});
  expect_ints(unary(OpCode::Sign, vec({-5, 0, 7}, DType::I32)), DType::I32, {3}, {-1, 0, 1});
  expect_ints(unary(OpCode::Sign, vec({0, 200}, DType::U8)), DType::U8, {2}, {0, 1});
  // 16^2 = 256 → 0, 12^2 = 144 → -112 in i8.
  expect_ints(unary(OpCode::Square, vec({16, 12, -3}, DType::I8)), DType::I8, {3}, {0, -112, 9});
  for (OpCode c : {OpCode::Floor, OpCode::Ceil, OpCode::Round, OpCode::Trunc})
    expect_ints(unary(c, vec({-3, 4}, DType::I32)), DType::I32, {2}, {-3, 4});
}

TEST(Interpreter, BitwiseAndLogicalNot) {
  expect_ints(unary(OpCode::BitwiseNot, vec({0, -1, 5}, DType::I8)), DType::I8, {3}, {-1, 0, -6});
  expect_ints(unary(OpCode::BitwiseNot, vec({0, 255, 5}, DType::U8)), DType::U8, {3}, {255, 0, 250});
  expect_ints(unary(OpCode::BitwiseNot, vec({1, 0}, DType::Bool)), DType::Bool, {2}, {0, 1});  // logical on bool
  expect_ints(unary(OpCode::LogicalNot, vec({1, 0}, DType::Bool)), DType::Bool, {2}, {0, 1});
}

TEST(Interpreter, Predicates) {
  Array x = vec({1, kNaN, kInf, -kInf}, DType::F32);
  expect_ints(unary(OpCode::IsNan, x), DType::Bool, {4}, {0, 1, 0, 0});
  expect_ints(unary(OpCode::IsInf, x), DType::Bool, {4}, {0, 0, 1, 1});
  expect_ints(unary(OpCode::IsFinite, x), DType::Bool, {4}, {1, 0, 0, 0});
  Array i = vec({0, -3}, DType::I32);
  expect_ints(unary(OpCode::IsNan, i), DType::Bool, {2}, {0, 0});
  expect_ints(unary(OpCode::IsInf, i), DType::Bool, {2}, {0, 0});
  expect_ints(unary(OpCode::IsFinite, i), DType::Bool, {2}, {1, 1});
  expect_ints(unary(OpCode::IsFinite, vec({1}, DType::Bool)), DType::Bool, {1}, {1});
}

// ===================== binary =====================

TEST(Interpreter, BinaryFloatBroadcast) {
  Array a = f64s({1, 2, 3, 4, 5, 6}, {2, 3});
  Array b = f64s({10, 20, 30}, {3});
  expect_array(binary(OpCode::Add, a, b), DType::F64, {2, 3}, {11, 22, 33, 14, 25, 36});
  expect_array(binary(OpCode::Sub, a, b), DType::F64, {2, 3}, {-9, -18, -27, -6, -15, -24});
  expect_array(binary(OpCode::Mul, a, b), DType::F64, {2, 3}, {10, 40, 90, 40, 100, 180});
  // [2,1] against [3]: both stretch (the static 1 broadcasts).
  Array c = f64s({1, 2}, {2, 1});
  expect_array(binary(OpCode::Div, c, b), DType::F64, {2, 3}, {0.1, 0.05, 1.0 / 30, 0.2, 0.1, 2.0 / 30});
  expect_array(binary(OpCode::Div, vec({1, -1, 0}), vec({0, 0, 0})), DType::F64, {3}, {kInf, -kInf, kNaN});
  expect_array(binary(OpCode::Pow, vec({2, 2, 0, -8}), vec({-1, 0.5, 0, 1.0 / 3})), DType::F64, {4},
               {0.5, std::sqrt(2.0), 1, kNaN});
  expect_near(binary(OpCode::Atan2, vec({1, 1}), vec({1, -1})), {std::numbers::pi / 4, 3 * std::numbers::pi / 4});
  // Rank 0 with rank 0, and a scalar against a vector.
  expect_array(binary(OpCode::Add, f64s({2}, {}), f64s({3}, {})), DType::F64, {}, {5});
  expect_array(binary(OpCode::Mul, f64s({2}, {}), vec({1, 2})), DType::F64, {2}, {2, 4});
}

TEST(Interpreter, FloatFloorDivAndModFollowNumPy) {
  Array a = vec({7, -7, 7, -7, 1, -1, 0, 5.5, -0.5});
  Array b = vec({2, 2, -2, -2, 0, 0, 0, -2, 1});
  expect_array(binary(OpCode::FloorDiv, a, b), DType::F64, {9}, {3, -4, -4, 3, kInf, -kInf, kNaN, -3, -1});
  // mod has the sign of the divisor; x mod 0 is NaN.
  expect_array(binary(OpCode::Mod, a, b), DType::F64, {9}, {1, 1, -1, -1, kNaN, kNaN, kNaN, -0.5, 0.5});
  // Zero results carry the divisor's sign: -0 mod 1 = +0, 0 mod -1 = -0.
  Array z = binary(OpCode::Mod, vec({-0.0, 0.0, 4}), vec({1, -1, -2}));
  std::vector<double> zv = z.to_doubles();
  EXPECT_FALSE(std::signbit(zv[0]));
  EXPECT_TRUE(std::signbit(zv[1]));
  EXPECT_TRUE(std::signbit(zv[2]));
  // Infinite divisor: -1 mod inf = inf and -1 // inf = -1 (NumPy).
  expect_array(binary(OpCode::Mod, vec({-1, 1}), vec({kInf, kInf})), DType::F64, {2}, {kInf, 1});
  expect_array(binary(OpCode::FloorDiv, vec({-1, 1}), vec({kInf, kInf})), DType::F64, {2}, {-1, 0});
}

TEST(Interpreter, IntegerFloorDivAndModHavePythonSigns) {
  Array a = vec({7, -7, 7, -7, 5, -5, 0, 6}, DType::I32);
  Array b = vec({2, 2, -2, -2, 0, 0, 3, -3}, DType::I32);
  expect_ints(binary(OpCode::FloorDiv, a, b), DType::I32, {8}, {3, -4, -4, 3, 0, 0, 0, -2});
  expect_ints(binary(OpCode::Mod, a, b), DType::I32, {8}, {1, 1, -1, -1, 0, 0, 0, 0});
  // The minimum divided by -1 wraps (no trap); its remainder is 0.
  expect_ints(binary(OpCode::FloorDiv, ivec({kI64Min, kI64Min}), ivec({-1, 1})), DType::I64, {2}, {kI64Min, kI64Min});
  expect_ints(binary(OpCode::Mod, ivec({kI64Min, kI64Max}), ivec({-1, kI64Min})), DType::I64, {2}, {0, -1});
  expect_ints(binary(OpCode::FloorDiv, vec({-128}, DType::I8), vec({-1}, DType::I8)), DType::I8, {1}, {-128});
  // u8: 200 = 28 * 7 + 4.
  expect_ints(binary(OpCode::FloorDiv, vec({200, 7}, DType::U8), vec({7, 0}, DType::U8)), DType::U8, {2}, {28, 0});
  expect_ints(binary(OpCode::Mod, vec({200, 7}, DType::U8), vec({7, 0}, DType::U8)), DType::U8, {2}, {4, 0});
}

TEST(Interpreter, IntegerArithmeticWraps) {
  expect_ints(binary(OpCode::Add, vec({100, -100}, DType::I8), vec({100, -100}, DType::I8)), DType::I8, {2}, {-56, 56});
  expect_ints(binary(OpCode::Add, vec({200}, DType::U8), vec({100}, DType::U8)), DType::U8, {1}, {44});
  expect_ints(binary(OpCode::Sub, vec({1}, DType::U8), vec({2}, DType::U8)), DType::U8, {1}, {255});
  // 65536^2 = 2^32 → 0; 46341^2 = 2147488281 → 2147488281 - 2^32.
  expect_ints(binary(OpCode::Mul, vec({65536, 46341}, DType::I32), vec({65536, 46341}, DType::I32)), DType::I32, {2},
              {0, -2147479015});
  expect_ints(binary(OpCode::Add, ivec({kI64Max}), ivec({1})), DType::I64, {1}, {kI64Min});
  expect_ints(binary(OpCode::Mul, ivec({kI64Min}), ivec({-1})), DType::I64, {1}, {kI64Min});
  expect_ints(binary(OpCode::Maximum, vec({-3, 5}, DType::I16), vec({2, -7}, DType::I16)), DType::I16, {2}, {2, 5});
  expect_ints(binary(OpCode::Minimum, vec({-3, 5}, DType::I16), vec({2, -7}, DType::I16)), DType::I16, {2}, {-3, -7});
}

TEST(Interpreter, IntegerPow) {
  Array a = vec({2, 3, 1, -1, -1, 0, 2, 0, -2}, DType::I32);
  Array b = vec({10, 3, -5, -3, -4, -2, -1, 0, 3}, DType::I32);
  // Negative exponents: 0, except base 1 → 1 and base -1 → ±1.
  expect_ints(binary(OpCode::Pow, a, b), DType::I32, {9}, {1024, 27, 1, -1, 1, 0, 0, 1, -8});
  // Overflow wraps: 2^7 = 128 → -128 in i8; 3^40 mod 2^64 as int64.
  expect_ints(binary(OpCode::Pow, vec({2, 2}, DType::I8), vec({7, 8}, DType::I8)), DType::I8, {2}, {-128, 0});
  expect_ints(binary(OpCode::Pow, ivec({3}), ivec({40})), DType::I64, {1}, {-6289078614652622815LL});
}

TEST(Interpreter, Shifts) {
  // Shifts by >= the width or by a negative amount give 0 (left) / the sign (right).
  expect_ints(binary(OpCode::LeftShift, vec({1, 1, 1, 1, -1, 64}, DType::I8), vec({0, 7, 8, -1, 3, 1}, DType::I8)),
              DType::I8, {6}, {1, -128, 0, 0, -8, -128});
  expect_ints(binary(OpCode::RightShift, vec({-128, -5, 5, -5, 5, -1}, DType::I8), vec({1, 9, 8, -1, 1, 7}, DType::I8)),
              DType::I8, {6}, {-64, -1, 0, -1, 2, -1});
  expect_ints(binary(OpCode::LeftShift, vec({255, 1}, DType::U8), vec({1, 8}, DType::U8)), DType::U8, {2}, {254, 0});
  expect_ints(binary(OpCode::RightShift, vec({255, 255}, DType::U8), vec({7, 8}, DType::U8)), DType::U8, {2}, {1, 0});
  expect_ints(binary(OpCode::LeftShift, ivec({1, 1, 3}), ivec({63, 64, 62})), DType::I64, {3},
              {kI64Min, 0, static_cast<i64>(0xC000000000000000ULL)});
  expect_ints(binary(OpCode::RightShift, ivec({kI64Min, kI64Min, kI64Max}), ivec({63, 64, 64})), DType::I64, {3},
              {-1, -1, 0});
  expect_ints(binary(OpCode::RightShift, vec({-7}, DType::I32), vec({1}, DType::I32)), DType::I32, {1}, {-4});
}

TEST(Interpreter, BitwiseAndLogicalBinary) {
  Array a = vec({12, -1, 0}, DType::I32), b = vec({10, 5, 7}, DType::I32);
  expect_ints(binary(OpCode::BitwiseAnd, a, b), DType::I32, {3}, {8, 5, 0});
  expect_ints(binary(OpCode::BitwiseOr, a, b), DType::I32, {3}, {14, -1, 7});
  expect_ints(binary(OpCode::BitwiseXor, a, b), DType::I32, {3}, {6, -6, 7});
  Array p = vec({1, 1, 0, 0}, DType::Bool), q = vec({1, 0, 1, 0}, DType::Bool);
  for (OpCode c : {OpCode::BitwiseAnd, OpCode::LogicalAnd}) expect_ints(binary(c, p, q), DType::Bool, {4}, {1, 0, 0, 0});
  for (OpCode c : {OpCode::BitwiseOr, OpCode::LogicalOr}) expect_ints(binary(c, p, q), DType::Bool, {4}, {1, 1, 1, 0});
  for (OpCode c : {OpCode::BitwiseXor, OpCode::LogicalXor}) expect_ints(binary(c, p, q), DType::Bool, {4}, {0, 1, 1, 0});
}

TEST(Interpreter, MaximumMinimumPropagateNaN) {
  Array a = vec({1, kNaN, 3, kNaN}), b = vec({kNaN, 2, 1, kNaN});
  expect_array(binary(OpCode::Maximum, a, b), DType::F64, {4}, {kNaN, kNaN, 3, kNaN});
  expect_array(binary(OpCode::Minimum, a, b), DType::F64, {4}, {kNaN, kNaN, 1, kNaN});
  expect_array(binary(OpCode::Maximum, vec({-kInf, 2}, DType::F32), vec({-1, kInf}, DType::F32)), DType::F32, {2},
               {-1, kInf});
}

TEST(Interpreter, Compare) {
  Array a = vec({1, kNaN, 2, 3}), b = vec({1, kNaN, 3, 2});
  expect_ints(binary(OpCode::Eq, a, b), DType::Bool, {4}, {1, 0, 0, 0});
  expect_ints(binary(OpCode::Ne, a, b), DType::Bool, {4}, {0, 1, 1, 1});
  expect_ints(binary(OpCode::Lt, a, b), DType::Bool, {4}, {0, 0, 1, 0});
  expect_ints(binary(OpCode::Le, a, b), DType::Bool, {4}, {1, 0, 1, 0});
  expect_ints(binary(OpCode::Gt, a, b), DType::Bool, {4}, {0, 0, 0, 1});
  expect_ints(binary(OpCode::Ge, a, b), DType::Bool, {4}, {1, 0, 0, 1});
  // Integers compare exactly: 2^53 + 1 vs 2^53 are equal as doubles but not as int64.
  const i64 big = i64{1} << 53;
  expect_ints(binary(OpCode::Gt, ivec({big + 1, -1}), ivec({big, 0})), DType::Bool, {2}, {1, 0});
  expect_ints(binary(OpCode::Eq, ivec({big + 1}), ivec({big})), DType::Bool, {1}, {0});
  expect_ints(binary(OpCode::Gt, vec({200}, DType::U8), vec({100}, DType::U8)), DType::Bool, {1}, {1});
  expect_ints(binary(OpCode::Lt, vec({0, 1}, DType::Bool), vec({1, 1}, DType::Bool)), DType::Bool, {2}, {1, 0});
}

// ===================== where, clip, cast =====================

TEST(Interpreter, WhereBroadcasts) {
  Env e;
  NodeRef c = e.in(arr({1, 0}, {2, 1}, DType::Bool), "c");
  NodeRef a = e.in(f64s({1, 2, 3}, {1, 3}), "a");
  NodeRef b = e.in(f64s({-1}, {}), "b");
  expect_array(e.run(op(OpCode::Where, {c, a, b})), DType::F64, {2, 3}, {1, 2, 3, -1, -1, -1});
  Env f;
  NodeRef d = op(OpCode::Where, {f.in(vec({1, 0, 1}, DType::Bool), "c"), f.in(vec({1, 2, 3}, DType::I8), "a"),
                                 f.in(vec({-1, -2, -3}, DType::I8), "b")});
  expect_ints(f.run(d), DType::I8, {3}, {1, -2, 3});
}

TEST(Interpreter, Clip) {
  Env e;
  NodeRef x = e.in(vec({-2, 0.5, 3, kNaN}), "x");
  NodeRef lo = e.in(f64s({0}, {}), "lo");
  NodeRef hi = e.in(f64s({1}, {}), "hi");
  expect_array(e.run(op(OpCode::Clip, {x, lo, hi})), DType::F64, {4}, {0, 0.5, 1, kNaN});
  Env f;
  NodeRef y = op(OpCode::Clip, {f.in(vec({1, 2}), "x"), f.in(vec({kNaN, 0}), "lo"), f.in(vec({5, kNaN}), "hi")});
  expect_array(f.run(y), DType::F64, {2}, {kNaN, kNaN});
  Env g;
  NodeRef z = op(OpCode::Clip, {g.in(vec({-5, 5, 50}, DType::I32), "x"), g.in(vec({0}, DType::I32), "lo"),
                                g.in(vec({10}, DType::I32), "hi")});
  expect_ints(g.run(z), DType::I32, {3}, {0, 5, 10});
}

Array cast(const Array& x, DType to) {
  Env e;
  return e.run(op(OpCode::Cast, {e.in(x)}, Attrs{{"dtype", to}}));
}

TEST(Interpreter, CastFloatToInt) {
  // Truncation toward zero, NaN → 0, saturation.
  expect_ints(cast(vec({1.9, -1.9, kNaN, 1e20, -1e20, 2147483647.5, kInf}), DType::I32), DType::I32, {7},
              {1, -1, 0, 2147483647, -2147483647 - 1, 2147483647, 2147483647});
  expect_ints(cast(vec({-3, 300, 255.9, 0.99}), DType::U8), DType::U8, {4}, {0, 255, 255, 0});
  expect_ints(cast(vec({1e19, -1e19, 9.2e18, -kInf}), DType::I64), DType::I64, {4},
              {kI64Max, kI64Min, 9200000000000000000LL, kI64Min});
  expect_ints(cast(vec({-200, 127.9}), DType::I8), DType::I8, {2}, {-128, 127});
  expect_ints(cast(vec({0, -0.0, kNaN, 0.1, -kInf}), DType::Bool), DType::Bool, {5}, {0, 0, 1, 1, 1});
}

TEST(Interpreter, CastBetweenIntegers) {
  expect_ints(cast(vec({300, -129, 128}, DType::I32), DType::I8), DType::I8, {3}, {44, 127, -128});
  expect_ints(cast(vec({-1, 256, 255}, DType::I32), DType::U8), DType::U8, {3}, {255, 0, 255});
  expect_ints(cast(vec({255}, DType::U8), DType::I8), DType::I8, {1}, {-1});
  expect_ints(cast(vec({0, 2, -1}, DType::I32), DType::Bool), DType::Bool, {3}, {0, 1, 1});
  expect_array(cast(vec({1, 0}, DType::Bool), DType::F32), DType::F32, {2}, {1, 0});
  expect_ints(cast(vec({1, 0}, DType::Bool), DType::I64), DType::I64, {2}, {1, 0});
}

TEST(Interpreter, CastRoundsOnceToNarrowFloats) {
  const double u = std::ldexp(1.0, -11);  // half an f16 ulp at 1
  // Ties go to even; 1 + u + 2^-40 is just above a tie and must round up
  // (rounding to f32 first would land on the tie and round down).
  expect_array(cast(vec({1 + u, 1 + 3 * u, 1 + u + std::ldexp(1.0, -40), 65519, 65520, -65520, 1e-9}), DType::F16),
               DType::F16, {7}, {1, 1 + 4 * u, 1 + 2 * u, 65504, kInf, -kInf, 0});
  // f16 subnormals: 2^-24 is the smallest; 2^-25 is a tie → 0, 1.5 * 2^-25 → 2^-24.
  expect_array(cast(vec({std::ldexp(1.0, -24), std::ldexp(1.0, -25), std::ldexp(1.5, -25)}), DType::F16), DType::F16,
               {3}, {std::ldexp(1.0, -24), 0, std::ldexp(1.0, -24)});
  const double v = std::ldexp(1.0, -8);  // half a bf16 ulp at 1
  expect_array(cast(vec({1 + v, 1 + 3 * v, 1 + v + std::ldexp(1.0, -30)}), DType::BF16), DType::BF16, {3},
               {1, 1 + 4 * v, 1 + 2 * v});
  expect_array(cast(vec({kNaN, -kInf}), DType::BF16), DType::BF16, {2}, {kNaN, -kInf});
  // f64 → f32: 1 + 2^-24 is a tie → 1; 1 + 2^-24 + 2^-50 → 1 + 2^-23.
  expect_array(cast(vec({1 + std::ldexp(1.0, -24), 1 + std::ldexp(1.0, -24) + std::ldexp(1.0, -50)}), DType::F32),
               DType::F32, {2}, {1, 1 + std::ldexp(1.0, -23)});
  // int64 → f32: 2^60 + 2^36 + 1 is above the tie between 2^60 and 2^60 + 2^37
  // (via double it would become the tie and round to even, 2^60).
  const i64 p60 = i64{1} << 60;
  expect_array(cast(ivec({p60 + (i64{1} << 36) + 1, p60 + (i64{1} << 36)}), DType::F32), DType::F32, {2},
               {std::ldexp(1.0, 60) + std::ldexp(1.0, 37), std::ldexp(1.0, 60)});
  const i64 p62 = i64{1} << 62;
  expect_array(cast(ivec({p62 + (i64{1} << 54) + 1}), DType::BF16), DType::BF16, {1},
               {std::ldexp(1.0, 62) + std::ldexp(1.0, 55)});
  expect_array(cast(ivec({kI64Min, 3}), DType::F64), DType::F64, {2}, {-std::ldexp(1.0, 63), 3});
  expect_array(cast(vec({70000}, DType::I32), DType::F16), DType::F16, {1}, {kInf});
  // Float widening is exact.
  expect_array(cast(vec({65504, kNaN}, DType::F16), DType::F64), DType::F64, {2}, {65504, kNaN});
}

TEST(Interpreter, NarrowFloatArithmeticRoundsOnce) {
  // f16: 1 + 2^-11 is a tie → 1 (even); 1 + 3 * 2^-11 → 1 + 2^-9 (even).
  const double u = std::ldexp(1.0, -11);
  expect_array(binary(OpCode::Add, vec({1, 1}, DType::F16), vec({u, 3 * u}, DType::F16)), DType::F16, {2},
               {1, 1 + 4 * u});
  // f16 overflow goes to inf: 300 * 300 = 90000 > 65504.
  expect_array(binary(OpCode::Mul, vec({300}, DType::F16), vec({300}, DType::F16)), DType::F16, {1}, {kInf});
  // bf16: 256 + 1 = 257 is a tie between 256 and 258 → 256.
  expect_array(binary(OpCode::Add, vec({256, 256}, DType::BF16), vec({1, 3}, DType::BF16)), DType::BF16, {2}, {256, 260});
  // f32 sum of [1e8, 1, -1e8] accumulates in double: 1 (in f32 it would be 0).
  Env e;
  NodeRef s = op(OpCode::Sum, {e.in(vec({1e8, 1, -1e8}, DType::F32))}, reduce_attrs({0}));
  expect_array(e.run(s), DType::F32, {}, {1});
}

// ===================== strided inputs =====================

TEST(Interpreter, StridedInputs) {
  std::vector<double> data(12);
  for (int i = 0; i < 12; ++i) data[i] = i;
  // Every other column of a [3, 4] row-major matrix: [[0, 2], [4, 6], [8, 10]].
  Array v = Array::view(data.data(), {3, 2}, DType::F64, {4, 2});
  // Reversed with a negative stride: [11, 10, ..., 0].
  Array r = Array::view(data.data() + 11, {12}, DType::F64, {-1});
  // A zero stride repeats element 5.
  Array z = Array::view(data.data() + 5, {2, 3}, DType::F64, {0, 0});
  // A transposed view of the [3, 4] matrix: [4, 3] with strides [1, 4].
  Array t = Array::view(data.data(), {4, 3}, DType::F64, {1, 4});
  {
    Env e;
    expect_array(e.run(op(OpCode::Neg, {e.in(v)})), DType::F64, {3, 2}, {-0.0, -2, -4, -6, -8, -10});
  }
  {
    Env e;
    NodeRef s = op(OpCode::Sum, {e.in(v)}, reduce_attrs({0}));
    expect_array(e.run(s), DType::F64, {2}, {12, 18});
  }
  {
    Env e;
    expect_array(e.run(op(OpCode::Slice, {e.in(r)}, Attrs{{"slices", std::vector<i64>{0, 3, 1}}})), DType::F64, {3},
                 {11, 10, 9});
  }
  {
    Env e;
    expect_array(e.run(op(OpCode::Mul, {e.in(z, "z"), e.in(f64s({1, 2, 3}, {3}), "w")})), DType::F64, {2, 3},
                 {5, 10, 15, 5, 10, 15});
  }
  {
    Env e;
    // t @ [1, 1, 1]^T sums the rows of the transposed matrix: t[i] = [i, 4 + i, 8 + i].
    NodeRef m = op(OpCode::Matmul, {e.in(t, "t"), e.in(f64s({1, 1, 1}, {3, 1}), "o")});
    expect_array(e.run(m), DType::F64, {4, 1}, {12, 15, 18, 21});
    expect_array(e.run(op(OpCode::Transpose, {e.in(t, "t2")}, Attrs{{"perm", std::vector<i64>{1, 0}}})), DType::F64,
                 {3, 4}, data);
  }
  {
    // Strided int8 data: every third byte.
    std::vector<std::int8_t> bytes = {1, 0, 0, -2, 0, 0, 3, 0, 0};
    Array b = Array::view(bytes.data(), {3}, DType::I8, {3});
    Env e;
    expect_ints(e.run(op(OpCode::Abs, {e.in(b)})), DType::I8, {3}, {1, 2, 3});
  }
}

// ===================== broadcasting errors =====================

TEST(Interpreter, BroadcastErrorNamesOpAndShapes) {
  Env e;
  NodeRef a = e.in(f64s(std::vector<double>(12, 0), {3, 4}), {Dim::unknown(), Dim::unknown()}, "a");
  NodeRef b = e.in(f64s(std::vector<double>(5, 0), {5}), {Dim::unknown()}, "b");
  std::string msg = error_of([&] { e.run(op(OpCode::Add, {a, b})); });
  EXPECT_CONTAINS(msg, "test.cpp:1: error: add: cannot broadcast shapes [3, 4] and [5]");
  EXPECT_EQ(msg.find("INTERNAL"), std::string::npos);
}

TEST(Interpreter, OnlyStaticOnesBroadcast) {
  // An unknown dim that is 1 at run time does not stretch (kiln's rule, so
  // compiled kernels need not special-case it); a static 1 does.
  Env e;
  NodeRef a = e.in(f64s({1}, {1}), {Dim::unknown()}, "a");
  NodeRef b = e.in(f64s({1, 2, 3}, {3}), {Dim(3)}, "b");
  std::string msg = error_of([&] { e.run(op(OpCode::Mul, {a, b})); });
  EXPECT_CONTAINS(msg, "test.cpp:1: error: mul: cannot broadcast shapes [1] and [3]");
  EXPECT_CONTAINS(msg, "not statically 1");
  Env g;
  NodeRef c = g.in(f64s({2}, {1}), {Dim(1)}, "c");
  expect_array(g.run(op(OpCode::Mul, {c, g.in(f64s({1, 2, 3}, {3}), {Dim::unknown()}, "d")})), DType::F64, {3},
               {2, 4, 6});
  // Three operands: where.
  Env h;
  NodeRef cond = h.in(arr({1, 0}, {2}, DType::Bool), {Dim::unknown()}, "cond");
  NodeRef x = h.in(f64s({1, 2, 3}, {3}), {Dim::unknown()}, "x");
  NodeRef y = h.in(f64s({1, 2, 3}, {3}), {Dim::unknown()}, "y");
  EXPECT_CONTAINS(error_of([&] { h.run(op(OpCode::Where, {cond, x, y})); }),
                  "where: cannot broadcast shapes [2], [3] and [3]");
}

TEST(Interpreter, ZeroSizeElementwise) {
  Env e;
  NodeRef a = e.in(f64s({}, {0, 3}), "a");
  NodeRef b = e.in(f64s({1, 2, 3}, {3}), "b");
  expect_array(e.run(op(OpCode::Add, {a, b})), DType::F64, {0, 3}, {});
  expect_array(e.run(op(OpCode::Exp, {a})), DType::F64, {0, 3}, {});
  expect_ints(e.run(op(OpCode::Cast, {a}, Attrs{{"dtype", DType::I32}})), DType::I32, {0, 3}, {});
  // A static 1 stretches to 0.
  Env g;
  NodeRef c = g.in(f64s({5}, {1}), {Dim(1)}, "c");
  NodeRef d = g.in(f64s({}, {0}), {Dim::unknown()}, "d");
  expect_array(g.run(op(OpCode::Sub, {c, d})), DType::F64, {0}, {});
}

}  // namespace
}  // namespace kiln::ir
