// The specialize rule set (passes/rules_specialize.cpp): for every rule a
// golden test (input text → expected text) with a differential test against
// the interpreter, a check that it fired and that a second rewrite changes
// nothing; the cases where a rule must not apply; strict_ieee.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "rewrite_test_util.hpp"

namespace {

using namespace kiln_test;
using kiln::DType;
using kiln::passes::RuleCounts;
using kiln::passes::RuleSet;

const RuleSet& specialize() {
  static const RuleSet rules = kiln::passes::specialize_rules();
  return rules;
}

// pow(x, k) for x: `type`, the exponent a 0-d constant of x's dtype.
std::string pow_of(const std::string& type, const std::string& k) {
  std::string d = type.substr(0, type.find('['));
  return "%x = input \"x\" : " + type + "\n%k = constant " + k + " : " + d + "[]\n%y = pow(%x, %k) : " + type +
         "\noutput %y\n";
}

std::vector<GoldenCase> golden_cases() {
  return {
      {"pow_two", {"pow_two"}, pow_of("f64[3]", "2"),
       R"(%x = input "x" : f64[3]
          %y = mul(%x, %x) : f64[3]
          output %y)"},
      {"pow_two_i32", {"pow_two"}, pow_of("i32[3]", "2"),
       R"(%x = input "x" : i32[3]
          %y = mul(%x, %x) : i32[3]
          output %y)"},
      // The exponent broadcast to x's shape still counts as the number 2.
      {"pow_two_broadcast_exponent", {"pow_two"},
       R"(%x = input "x" : f32[2,3]
          %k = constant [[2, 2, 2], [2, 2, 2]] : f32[2,3]
          %y = pow(%x, %k) : f32[2,3]
          output %y)",
       R"(%x = input "x" : f32[2,3]
          %y = mul(%x, %x) : f32[2,3]
          output %y)"},
      {"pow_half", {"pow_half"}, pow_of("f64[3]", "0.5"),
       R"(%x = input "x" : f64[3]
          %y = sqrt(%x) : f64[3]
          output %y)",
       0, 4},
      {"pow_minus_one", {"pow_minus_one"}, pow_of("f64[3]", "-1"),
       R"(%x = input "x" : f64[3]
          %y = reciprocal(%x) : f64[3]
          output %y)"},
      {"pow_minus_half", {"pow_minus_half"}, pow_of("f32[?]", "-0.5"),
       R"(%x = input "x" : f32[?]
          %y = rsqrt(%x) : f32[?]
          output %y)",
       0.1, 4},
      {"pow_three", {"pow_small_int"}, pow_of("f64[3]", "3"),
       R"(%x = input "x" : f64[3]
          %s = mul(%x, %x) : f64[3]
          %y = mul(%s, %x) : f64[3]
          output %y)"},
      {"pow_four_shares_the_square", {"pow_small_int"}, pow_of("f64[3]", "4"),
       R"(%x = input "x" : f64[3]
          %s = mul(%x, %x) : f64[3]
          %y = mul(%s, %s) : f64[3]
          output %y)"},
      {"pow_seven", {"pow_small_int"}, pow_of("f64[3]", "7"),
       R"(%x = input "x" : f64[3]
          %s = mul(%x, %x) : f64[3]
          %c = mul(%s, %x) : f64[3]
          %c2 = mul(%c, %c) : f64[3]
          %y = mul(%c2, %x) : f64[3]
          output %y)"},
      {"pow_eight", {"pow_small_int"}, pow_of("f32[3]", "8"),
       R"(%x = input "x" : f32[3]
          %s = mul(%x, %x) : f32[3]
          %q = mul(%s, %s) : f32[3]
          %y = mul(%q, %q) : f32[3]
          output %y)"},
      {"pow_five_i64_wraps_alike", {"pow_small_int"}, pow_of("i64[3]", "5"),
       R"(%x = input "x" : i64[3]
          %s = mul(%x, %x) : i64[3]
          %q = mul(%s, %s) : i64[3]
          %y = mul(%q, %x) : i64[3]
          output %y)"},
      {"pow_minus_two", {"pow_small_int"}, pow_of("f64[3]", "-2"),
       R"(%x = input "x" : f64[3]
          %s = mul(%x, %x) : f64[3]
          %y = reciprocal(%s) : f64[3]
          output %y)",
       0.2, 3},
      {"pow_minus_three", {"pow_small_int"}, pow_of("f64[3]", "-3"),
       R"(%x = input "x" : f64[3]
          %s = mul(%x, %x) : f64[3]
          %c = mul(%s, %x) : f64[3]
          %y = reciprocal(%c) : f64[3]
          output %y)",
       0.2, 3},
      // Not applied: |k| > 8, a fractional k, a negative k for integers, a variable k.
      {"pow_nine_left_alone", {}, pow_of("f64[3]", "9"), pow_of("f64[3]", "9")},
      {"pow_fraction_left_alone", {}, pow_of("f64[3]", "1.5"), pow_of("f64[3]", "1.5"), 0, 3},
      {"pow_negative_integer_dtype_left_alone", {}, pow_of("i32[3]", "-3"), pow_of("i32[3]", "-3")},
      {"pow_variable_exponent_left_alone", {},
       R"(%x = input "x" : f64[3]
          %k = input "k" : f64[3]
          %y = pow(%x, %k) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %k = input "k" : f64[3]
          %y = pow(%x, %k) : f64[3]
          output %y)",
       0.5, 2},
      {"square_to_mul", {"square_to_mul"},
       R"(%x = input "x" : f64[2,3]
          %y = square(%x) : f64[2,3]
          output %y)",
       R"(%x = input "x" : f64[2,3]
          %y = mul(%x, %x) : f64[2,3]
          output %y)"},
      // A sum of squares reaches the backends as one multiply-reduce.
      {"sum_of_squares", {"square_to_mul"},
       R"(%x = input "x" : f32[?,3]
          %q = square(%x) : f32[?,3]
          %y = sum(%q) axes=[1] keepdims=false : f32[?]
          output %y)",
       R"(%x = input "x" : f32[?,3]
          %q = mul(%x, %x) : f32[?,3]
          %y = sum(%q) axes=[1] keepdims=false : f32[?]
          output %y)"},
      {"sum_of_pow_two", {"pow_two"},
       R"(%x = input "x" : f64[4]
          %two = constant 2 : f64[]
          %q = pow(%x, %two) : f64[4]
          %y = sum(%q) axes=[0] keepdims=false : f64[]
          output %y)",
       R"(%x = input "x" : f64[4]
          %q = mul(%x, %x) : f64[4]
          %y = sum(%q) axes=[0] keepdims=false : f64[]
          output %y)"},
      {"div_by_power_of_two", {"div_by_power_of_two"},
       R"(%x = input "x" : f64[3]
          %c = constant 8 : f64[]
          %y = div(%x, %c) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %r = constant 0.125 : f64[]
          %y = mul(%x, %r) : f64[3]
          output %y)"},
      {"div_by_negative_power_of_two_f16", {"div_by_power_of_two"},
       R"(%x = input "x" : f16[3]
          %c = fill shape=[3] value=-0.25 dtype=f16 : f16[3]
          %y = div(%x, %c) : f16[3]
          output %y)",
       R"(%x = input "x" : f16[3]
          %r = constant -4 : f16[]
          %y = mul(%x, %r) : f16[3]
          output %y)"},
      // 1/3 is not exact; 2^-24 is an f16 (subnormal) whose reciprocal 2^24 is not.
      {"div_by_three_left_alone", {},
       R"(%x = input "x" : f64[3]
          %c = constant 3 : f64[]
          %y = div(%x, %c) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %c = constant 3 : f64[]
          %y = div(%x, %c) : f64[3]
          output %y)"},
      {"div_by_tiny_f16_left_alone", {},
       R"(%x = input "x" : f16[3]
          %c = constant 5.96e-08 : f16[]
          %y = div(%x, %c) : f16[3]
          output %y)",
       R"(%x = input "x" : f16[3]
          %c = constant 5.96e-08 : f16[]
          %y = div(%x, %c) : f16[3]
          output %y)"},
  };
}

class SpecializeRule : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(SpecializeRule, GoldenDifferentialFiresIdempotent) {
  const GoldenCase& c = GetParam();
  check_golden_case(specialize(), c);
}

INSTANTIATE_TEST_SUITE_P(Specialize, SpecializeRule, ::testing::ValuesIn(golden_cases()),
                         [](const auto& info) { return info.param.name; });

// Every rule of the set has a golden case that makes it fire.
TEST(SpecializeCoverage, EveryRuleHasAGoldenCase) {
  for (bool strict : {false, true})
    for (const kiln::passes::Rule& rule : kiln::passes::specialize_rules({.strict_ieee = strict}).rules) {
      bool found = false;
      for (const GoldenCase& c : golden_cases())
        for (const std::string& f : c.fires) found |= f == rule.name;
      EXPECT_TRUE(found) << rule.name;
    }
}

std::vector<Array> eval(const Graph& g, const std::vector<Array>& args) {
  kiln::ir::Bindings b;
  for (std::size_t i = 0; i < args.size(); ++i) b[g.inputs.at(i).get()] = args[i];
  return kiln::ir::interpret(g.outputs, b);
}

// x / 2^k and x * 2^-k are the same real number rounded once: equal bits,
// subnormals and signed zeros included.
TEST(SpecializeValues, DivisionByPowerOfTwoIsBitExact) {
  for (DType t : {DType::F64, DType::F32, DType::F16, DType::BF16}) {
    std::string d(kiln::dtype_name(t));
    Graph g = parse("%x = input \"x\" : " + d + "[8]\n%c = constant 1024 : " + d + "[]\n%y = div(%x, %c) : " +
                    d + "[8]\noutput %y\n");
    Graph s = apply(g, specialize());
    ASSERT_EQ(s.outputs[0]->op(), kiln::ir::OpCode::Mul) << d;
    double tiny = std::ldexp(1.0, t == DType::F64 ? -1070 : t == DType::F16 ? -14 : -130);  // near subnormal
    Array x = Array::from_doubles({tiny, 3 * tiny, -tiny, 1.0 / 3, -0.0, 1e4, std::numeric_limits<double>::infinity(),
                                   std::numeric_limits<double>::quiet_NaN()},
                                  {8}, DType::F64)
                  .astype(t);
    std::vector<double> want = eval(g, {x})[0].to_doubles(), got = eval(s, {x})[0].to_doubles();
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << d;
        continue;
      }
      EXPECT_EQ(got[i], want[i]) << d << " element " << i;
      EXPECT_EQ(std::signbit(got[i]), std::signbit(want[i])) << d << " element " << i;
    }
  }
}

// Integer powers by squaring agree with pow at the edges: zeros (signed),
// infinities, NaN, and overflow to inf. (Not tested: where x^|k| overflows
// but x^-|k| would be subnormal, 1/inf gives 0 instead.)
TEST(SpecializeValues, SmallIntegerPowersAtTheEdges) {
  const double inf = std::numeric_limits<double>::infinity();
  Array x = Array::from_doubles({0.0, -0.0, inf, -inf, std::numeric_limits<double>::quiet_NaN(), 1e200, -1e30, 1.5},
                                {8}, DType::F64);
  for (int k : {2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8}) {
    Graph g = parse(pow_of("f64[8]", std::to_string(k)));
    Graph s = apply(g, specialize());
    ASSERT_NE(s.outputs[0]->op(), kiln::ir::OpCode::Pow) << k;
    std::vector<double> want = eval(g, {x})[0].to_doubles(), got = eval(s, {x})[0].to_doubles();
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << "k=" << k << " element " << i;
        continue;
      }
      if (want[i] == 0 || std::isinf(want[i])) {
        EXPECT_EQ(got[i], want[i]) << "k=" << k << " element " << i;
        EXPECT_EQ(std::signbit(got[i]), std::signbit(want[i])) << "k=" << k << " element " << i;
      } else {
        EXPECT_NEAR(got[i], want[i], 1e-14 * std::fabs(want[i])) << "k=" << k << " element " << i;
      }
    }
  }
}

// With strict_ieee, pow(x, ±0.5) stays: pow(-0.0, 0.5) = 0 but sqrt(-0.0) =
// -0.0, and pow(-inf, 0.5) = inf but sqrt(-inf) = NaN.
TEST(SpecializeValues, StrictIeeeKeepsHalfPowers) {
  RuleSet strict = kiln::passes::specialize_rules({.strict_ieee = true});
  for (const char* k : {"0.5", "-0.5"}) {
    RuleCounts counts;
    Graph g = parse(pow_of("f64[3]", k));
    EXPECT_EQ(apply(g, strict, &counts).outputs, g.outputs) << k;
    EXPECT_TRUE(counts.empty());
  }
  expect_rewrites_to(strict, pow_of("f64[3]", "2"), R"(%x = input "x" : f64[3]
                                                       %y = mul(%x, %x) : f64[3]
                                                       output %y)");
}

}  // namespace
