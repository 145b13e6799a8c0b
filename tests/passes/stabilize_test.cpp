// The stabilize rule set (passes/rules_stabilize.cpp): for every rule a
// golden test (input text → expected text) with a differential test against
// the interpreter, a check that it fired, and a graph where the expression as
// written gives inf, NaN or 0 and the rewritten one gives the right finite
// value, computed independently (closed forms; mpmath for log erfc). Also the
// new op log1mexp, the cross-entropies, and that the front end's stable
// composites are left alone.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include <kiln/kiln.hpp>

#include "rewrite_test_util.hpp"

namespace {

using namespace kiln_test;
using kiln::DType;
using kiln::passes::RuleCounts;
using kiln::passes::RuleSet;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const RuleSet& stabilize() {
  static const RuleSet rules = kiln::passes::stabilize_rules();
  return rules;
}

// ---- golden + differential + fired, one case per rule ----

// The finite max over axis 1 of x: f64[2,3], as the front end's logsumexp and
// the rules build it (%m).
const std::string kFiniteMax23 = R"(
%mx = max(%x) axes=[1] keepdims=true : f64[2,1]
%fin = isfinite(%mx) : bool[2,1]
%zero = constant 0 : f64[]
%w = where(%fin, %mx, %zero) : f64[2,1]
%m = stop_gradient(%w) : f64[2,1]
)";

// The front end's softmax of x: f64[2,3] over axis 1 (shifted by a plain max).
const std::string kFrontEndSoftmax23 = R"(
%x = input "x" : f64[2,3]
%mx = max(%x) axes=[1] keepdims=true : f64[2,1]
%m = stop_gradient(%mx) : f64[2,1]
%d = sub(%x, %m) : f64[2,3]
%e = exp(%d) : f64[2,3]
%s = sum(%e) axes=[1] keepdims=true : f64[2,1]
%p = div(%e, %s) : f64[2,3]
)";

// log erfc(x) for x: f64[3] with threshold t (its dtype `d`).
std::string log_erfc_expected(const std::string& d, const std::string& t) {
  return "%x = input \"x\" : " + d + "[3]\n"
         "%t = constant " + t + " : " + d + "[]\n"
         "%lo = minimum(%x, %t) : " + d + "[3]\n"
         "%ec = erfc(%lo) : " + d + "[3]\n"
         "%small = log(%ec) : " + d + "[3]\n"
         "%hi = maximum(%x, %t) : " + d + "[3]\n"
         "%x2 = mul(%hi, %hi) : " + d + "[3]\n"
         "%u = reciprocal(%x2) : " + d + "[3]\n"
         "%c5 = constant -29.53125 : " + d + "[]\n"
         "%s5 = mul(%u, %c5) : " + d + "[3]\n"
         "%c4 = constant 6.5625 : " + d + "[]\n"
         "%a4 = add(%s5, %c4) : " + d + "[3]\n"
         "%s4 = mul(%u, %a4) : " + d + "[3]\n"
         "%c3 = constant -1.875 : " + d + "[]\n"
         "%a3 = add(%s4, %c3) : " + d + "[3]\n"
         "%s3 = mul(%u, %a3) : " + d + "[3]\n"
         "%c2 = constant 0.75 : " + d + "[]\n"
         "%a2 = add(%s3, %c2) : " + d + "[3]\n"
         "%s2 = mul(%u, %a2) : " + d + "[3]\n"
         "%c1 = constant -0.5 : " + d + "[]\n"
         "%a1 = add(%s2, %c1) : " + d + "[3]\n"
         "%series = mul(%u, %a1) : " + d + "[3]\n"
         "%nx2 = neg(%x2) : " + d + "[3]\n"
         "%lx = log(%hi) : " + d + "[3]\n"
         "%l1 = sub(%nx2, %lx) : " + d + "[3]\n"
         "%lsp = constant 0.5723649429247001 : " + d + "[]\n"
         "%l2 = sub(%l1, %lsp) : " + d + "[3]\n"
         "%lp = log1p(%series) : " + d + "[3]\n"
         "%large = add(%l2, %lp) : " + d + "[3]\n"
         "%big = gt(%x, %t) : bool[3]\n"
         "%y = where(%big, %large, %small) : " + d + "[3]\n"
         "output %y\n";
}

std::vector<GoldenCase> golden_cases() {
  return {
      {"log1p", {"log1p"},
       R"(%x = input "x" : f64[3]
          %one = constant 1 : f64[]
          %a = add(%one, %x) : f64[3]
          %y = log(%a) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %y = log1p(%x) : f64[3]
          output %y)"},
      {"log1p_operands_swapped_f32", {"log1p"},
       R"(%x = input "x" : f32[?]
          %one = constant 1 : f32[]
          %a = add(%x, %one) : f32[?]
          %y = log(%a) : f32[?]
          output %y)",
       R"(%x = input "x" : f32[?]
          %y = log1p(%x) : f32[?]
          output %y)"},
      {"log_one_minus", {"log_one_minus"},
       R"(%x = input "x" : f64[3]
          %one = constant 1 : f64[]
          %a = sub(%one, %x) : f64[3]
          %y = log(%a) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %n = neg(%x) : f64[3]
          %y = log1p(%n) : f64[3]
          output %y)",
       -0.9, 0.9},
      {"expm1", {"expm1"},
       R"(%x = input "x" : f64[3]
          %e = exp(%x) : f64[3]
          %one = constant 1 : f64[]
          %y = sub(%e, %one) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %y = expm1(%x) : f64[3]
          output %y)"},
      {"one_minus_exp", {"one_minus_exp"},
       R"(%x = input "x" : f64[3]
          %e = exp(%x) : f64[3]
          %one = constant 1 : f64[]
          %y = sub(%one, %e) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %e = expm1(%x) : f64[3]
          %y = neg(%e) : f64[3]
          output %y)"},
      {"log1mexp", {"one_minus_exp", "log1mexp"},
       R"(%x = input "x" : f64[3]
          %e = exp(%x) : f64[3]
          %one = constant 1 : f64[]
          %a = sub(%one, %e) : f64[3]
          %y = log(%a) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %y = log1mexp(%x) : f64[3]
          output %y)",
       -3, 0},
      {"log1mexp_of_expm1", {"log1mexp"},
       R"(%x = input "x" : f64[3]
          %e = expm1(%x) : f64[3]
          %n = neg(%e) : f64[3]
          %y = log(%n) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %y = log1mexp(%x) : f64[3]
          output %y)",
       -3, 0},
      {"softplus", {"log1p", "softplus"},
       R"(%x = input "x" : f64[3]
          %e = exp(%x) : f64[3]
          %one = constant 1 : f64[]
          %a = add(%one, %e) : f64[3]
          %y = log(%a) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %y = softplus(%x) : f64[3]
          output %y)"},
      {"one_minus_sigmoid", {"one_minus_sigmoid"},
       R"(%x = input "x" : f64[3]
          %s = sigmoid(%x) : f64[3]
          %one = constant 1 : f64[]
          %y = sub(%one, %s) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %n = neg(%x) : f64[3]
          %y = sigmoid(%n) : f64[3]
          output %y)"},
      {"log_one_minus_sigmoid", {"one_minus_sigmoid", "log_one_minus_sigmoid"},
       R"(%x = input "x" : f64[3]
          %s = sigmoid(%x) : f64[3]
          %one = constant 1 : f64[]
          %a = sub(%one, %s) : f64[3]
          %y = log(%a) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %sp = softplus(%x) : f64[3]
          %y = neg(%sp) : f64[3]
          output %y)"},
      {"log_sigmoid", {"log_sigmoid"},
       R"(%x = input "x" : f64[3]
          %s = sigmoid(%x) : f64[3]
          %y = log(%s) : f64[3]
          output %y)",
       R"(%x = input "x" : f64[3]
          %n = neg(%x) : f64[3]
          %sp = softplus(%n) : f64[3]
          %y = neg(%sp) : f64[3]
          output %y)"},
      {"stable_softmax", {"stable_softmax"},
       R"(%x = input "x" : f64[2,3]
          %e = exp(%x) : f64[2,3]
          %s = sum(%e) axes=[1] keepdims=true : f64[2,1]
          %y = div(%e, %s) : f64[2,3]
          output %y)",
       R"(%x = input "x" : f64[2,3])" + kFiniteMax23 + R"(
          %d = sub(%x, %m) : f64[2,3]
          %e = exp(%d) : f64[2,3]
          %s = sum(%e) axes=[1] keepdims=true : f64[2,1]
          %y = div(%e, %s) : f64[2,3]
          output %y)"},
      // Without keepdims the sum over the leading axis lines up with x's last.
      {"stable_softmax_leading_axis", {"stable_softmax"},
       R"(%x = input "x" : f32[4,3]
          %e = exp(%x) : f32[4,3]
          %s = sum(%e) axes=[0] keepdims=false : f32[3]
          %y = div(%e, %s) : f32[4,3]
          output %y)",
       R"(%x = input "x" : f32[4,3]
          %mx = max(%x) axes=[0] keepdims=true : f32[1,3]
          %fin = isfinite(%mx) : bool[1,3]
          %zero = constant 0 : f32[]
          %w = where(%fin, %mx, %zero) : f32[1,3]
          %m = stop_gradient(%w) : f32[1,3]
          %d = sub(%x, %m) : f32[4,3]
          %e = exp(%d) : f32[4,3]
          %s = sum(%e) axes=[0] keepdims=false : f32[3]
          %y = div(%e, %s) : f32[4,3]
          output %y)"},
      // x - y shifted by m is regrouped by canonicalize as x - (y + m): still shifted.
      {"stable_softmax_of_a_difference", {"stable_softmax"},
       R"(%x = input "x" : f64[2,3]
          %y = input "y" : f64[2,3]
          %d0 = sub(%x, %y) : f64[2,3]
          %e = exp(%d0) : f64[2,3]
          %s = sum(%e) axes=[1] keepdims=true : f64[2,1]
          %p = div(%e, %s) : f64[2,3]
          output %p)",
       R"(%x = input "x" : f64[2,3]
          %y = input "y" : f64[2,3]
          %d0 = sub(%x, %y) : f64[2,3]
          %mx = max(%d0) axes=[1] keepdims=true : f64[2,1]
          %fin = isfinite(%mx) : bool[2,1]
          %zero = constant 0 : f64[]
          %w = where(%fin, %mx, %zero) : f64[2,1]
          %m = stop_gradient(%w) : f64[2,1]
          %d = sub(%d0, %m) : f64[2,3]
          %e = exp(%d) : f64[2,3]
          %s = sum(%e) axes=[1] keepdims=true : f64[2,1]
          %p = div(%e, %s) : f64[2,3]
          output %p)"},
      // Summed over the last axis without keepdims the quotient pairs row i
      // with the sum of row j: not a softmax, left alone.
      {"stable_softmax_not_a_softmax", {},
       R"(%x = input "x" : f64[3,3]
          %e = exp(%x) : f64[3,3]
          %s = sum(%e) axes=[1] keepdims=false : f64[3]
          %y = div(%e, %s) : f64[3,3]
          output %y)",
       R"(%x = input "x" : f64[3,3]
          %e = exp(%x) : f64[3,3]
          %s = sum(%e) axes=[1] keepdims=false : f64[3]
          %y = div(%e, %s) : f64[3,3]
          output %y)"},
      {"log_softmax_of_front_end_softmax", {"log_softmax"},
       kFrontEndSoftmax23 + R"(
          %y = log(%p) : f64[2,3]
          output %y)",
       R"(%x = input "x" : f64[2,3]
          %mx = max(%x) axes=[1] keepdims=true : f64[2,1]
          %m = stop_gradient(%mx) : f64[2,1]
          %d = sub(%x, %m) : f64[2,3]
          %e = exp(%d) : f64[2,3]
          %s = sum(%e) axes=[1] keepdims=true : f64[2,1]
          %l = log(%s) : f64[2,1]
          %y = sub(%d, %l) : f64[2,3]
          output %y)"},
      {"log_softmax_written_by_hand", {"stable_softmax", "log_softmax"},
       R"(%x = input "x" : f64[2,3]
          %e = exp(%x) : f64[2,3]
          %s = sum(%e) axes=[1] keepdims=true : f64[2,1]
          %p = div(%e, %s) : f64[2,3]
          %y = log(%p) : f64[2,3]
          output %y)",
       R"(%x = input "x" : f64[2,3])" + kFiniteMax23 + R"(
          %d = sub(%x, %m) : f64[2,3]
          %e = exp(%d) : f64[2,3]
          %s = sum(%e) axes=[1] keepdims=true : f64[2,1]
          %l = log(%s) : f64[2,1]
          %y = sub(%d, %l) : f64[2,3]
          output %y)"},
      {"stable_logsumexp", {"stable_logsumexp"},
       R"(%x = input "x" : f64[2,3]
          %e = exp(%x) : f64[2,3]
          %s = sum(%e) axes=[1] keepdims=false : f64[2]
          %y = log(%s) : f64[2]
          output %y)",
       R"(%x = input "x" : f64[2,3])" + kFiniteMax23 + R"(
          %d = sub(%x, %m) : f64[2,3]
          %e = exp(%d) : f64[2,3]
          %s = sum(%e) axes=[1] keepdims=false : f64[2]
          %l = log(%s) : f64[2]
          %q = squeeze(%m) axes=[1] : f64[2]
          %y = add(%l, %q) : f64[2]
          output %y)"},
      {"stable_logsumexp_keepdims", {"stable_logsumexp"},
       R"(%x = input "x" : f64[2,3]
          %e = exp(%x) : f64[2,3]
          %s = sum(%e) axes=[1] keepdims=true : f64[2,1]
          %y = log(%s) : f64[2,1]
          output %y)",
       R"(%x = input "x" : f64[2,3])" + kFiniteMax23 + R"(
          %d = sub(%x, %m) : f64[2,3]
          %e = exp(%d) : f64[2,3]
          %s = sum(%e) axes=[1] keepdims=true : f64[2,1]
          %l = log(%s) : f64[2,1]
          %y = add(%l, %m) : f64[2,1]
          output %y)"},
      {"stable_logsumexp_all_axes_f32", {"stable_logsumexp"},
       R"(%x = input "x" : f32[?,3]
          %e = exp(%x) : f32[?,3]
          %s = sum(%e) axes=[0, 1] keepdims=false : f32[]
          %y = log(%s) : f32[]
          output %y)",
       R"(%x = input "x" : f32[?,3]
          %mx = max(%x) axes=[0, 1] keepdims=true : f32[1,1]
          %fin = isfinite(%mx) : bool[1,1]
          %zero = constant 0 : f32[]
          %w = where(%fin, %mx, %zero) : f32[1,1]
          %m = stop_gradient(%w) : f32[1,1]
          %d = sub(%x, %m) : f32[?,3]
          %e = exp(%d) : f32[?,3]
          %s = sum(%e) axes=[0, 1] keepdims=false : f32[]
          %l = log(%s) : f32[]
          %q = squeeze(%m) axes=[0, 1] : f32[]
          %y = add(%l, %q) : f32[]
          output %y)"},
      {"log_erfc", {"log_erfc"},
       R"(%x = input "x" : f64[3]
          %e = erfc(%x) : f64[3]
          %y = log(%e) : f64[3]
          output %y)",
       log_erfc_expected("f64", "26")},
      // Across the f64 threshold (26): both branches agree with log(erfc(x)).
      {"log_erfc_across_threshold", {"log_erfc"},
       R"(%x = input "x" : f64[3]
          %e = erfc(%x) : f64[3]
          %y = log(%e) : f64[3]
          output %y)",
       log_erfc_expected("f64", "26"), 20, 26.5},
      {"log_erfc_f32_across_threshold", {"log_erfc"},
       R"(%x = input "x" : f32[3]
          %e = erfc(%x) : f32[3]
          %y = log(%e) : f32[3]
          output %y)",
       log_erfc_expected("f32", "9"), 5, 9.15},
      {"log_erfc_bf16_across_threshold", {"log_erfc"},
       R"(%x = input "x" : bf16[3]
          %e = erfc(%x) : bf16[3]
          %y = log(%e) : bf16[3]
          output %y)",
       log_erfc_expected("bf16", "9"), 5, 9.15},
      {"log_erfc_f16_across_threshold", {"log_erfc"},
       R"(%x = input "x" : f16[3]
          %e = erfc(%x) : f16[3]
          %y = log(%e) : f16[3]
          output %y)",
       log_erfc_expected("f16", "2.75"), 2, 2.84},
  };
}

class StabilizeRule : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(StabilizeRule, GoldenDifferentialFiresIdempotent) {
  const GoldenCase& c = GetParam();
  Graph once = check_golden_case(stabilize(), c);
  // So is the whole pipeline, although canonicalize regroups the shifted
  // sums ((a - b) - m becomes a - (b + m)).
  std::vector<NodeRef> optimized = kiln::passes::optimize(once.outputs);
  EXPECT_EQ(kiln::passes::optimize(optimized), optimized);
}

INSTANTIATE_TEST_SUITE_P(Stabilize, StabilizeRule, ::testing::ValuesIn(golden_cases()),
                         [](const auto& info) { return info.param.name; });

// Every rule of the set has a golden case that makes it fire.
TEST(StabilizeCoverage, EveryRuleHasAGoldenCase) {
  for (const kiln::passes::Rule& rule : stabilize().rules) {
    bool found = false;
    for (const GoldenCase& c : golden_cases())
      for (const std::string& f : c.fires) found |= f == rule.name;
    EXPECT_TRUE(found) << rule.name;
  }
}

// ---- where the written form fails: inf, NaN or 0 instead of the value ----

// The outputs of `g` with `args` bound to its inputs in order.
std::vector<Array> eval(const Graph& g, const std::vector<Array>& args) {
  kiln::ir::Bindings b;
  for (std::size_t i = 0; i < args.size(); ++i) b[g.inputs.at(i).get()] = args[i];
  return kiln::ir::interpret(g.outputs, b);
}

// Exact for 0, inf and NaN; else within `rel` of |want| (no absolute floor:
// 1e-20 must not pass for 0).
void expect_values(const Array& got, const std::vector<double>& want, double rel) {
  std::vector<double> v = got.to_doubles();
  ASSERT_EQ(v.size(), want.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(want[i]))
      EXPECT_TRUE(std::isnan(v[i])) << "element " << i << ": " << v[i];
    else if (want[i] == 0 || std::isinf(want[i]))
      EXPECT_EQ(v[i], want[i]) << "element " << i;
    else
      EXPECT_NEAR(v[i], want[i], rel * std::fabs(want[i])) << "element " << i;
  }
}

// `text` evaluated at `args` gives `as_written` (the failure), and after
// stabilize gives `right` (relative tolerance by the output's dtype); so does
// the whole pipeline (canonicalize must leave the forms stabilize matches).
void expect_fixed(const std::string& text, const std::vector<Array>& args, const std::vector<double>& as_written,
                  const std::vector<double>& right) {
  Graph g = parse(text);
  Graph s = apply(g, stabilize());
  Graph p = g;
  p.outputs = kiln::passes::optimize(g.outputs);
  Array before = eval(g, args).at(0);
  double rel = before.dtype() == DType::F64 ? 1e-15 : 1e-6;
  SCOPED_TRACE("graph:\n" + text);
  expect_values(before, as_written, rel);
  expect_values(eval(s, args).at(0), right, rel);
  SCOPED_TRACE("after the pipeline:\n" + normal_text(p));
  expect_values(eval(p, args).at(0), right, rel);
}

Array f64(const std::vector<double>& v, kiln::Shape shape = {}) {
  if (shape.empty()) shape = {static_cast<std::int64_t>(v.size())};
  return Array::from_doubles(v, shape, DType::F64);
}
Array f32(const std::vector<double>& v) { return f64(v).astype(DType::F32); }
double as_f32(double v) { return static_cast<float>(v); }

TEST(StabilizeFixes, Log1p) {
  // log(1 + 1e-20) = 1e-20 - 5e-41: 1 + 1e-20 rounds to 1.
  expect_fixed(R"(%x = input "x" : f64[1]
                  %one = constant 1 : f64[]
                  %a = add(%one, %x) : f64[1]
                  %y = log(%a) : f64[1]
                  output %y)",
               {f64({1e-20})}, {0}, {1e-20});
}

TEST(StabilizeFixes, Log1pF32) {
  expect_fixed(R"(%x = input "x" : f32[1]
                  %one = constant 1 : f32[]
                  %a = add(%one, %x) : f32[1]
                  %y = log(%a) : f32[1]
                  output %y)",
               {f32({1e-10})}, {0}, {as_f32(1e-10)});
}

TEST(StabilizeFixes, LogOneMinus) {
  expect_fixed(R"(%x = input "x" : f64[1]
                  %one = constant 1 : f64[]
                  %a = sub(%one, %x) : f64[1]
                  %y = log(%a) : f64[1]
                  output %y)",
               {f64({1e-20})}, {0}, {-1e-20});
}

TEST(StabilizeFixes, Expm1) {
  // exp(1e-20) - 1 = 1e-20 + 5e-41
  expect_fixed(R"(%x = input "x" : f64[1]
                  %one = constant 1 : f64[]
                  %e = exp(%x) : f64[1]
                  %y = sub(%e, %one) : f64[1]
                  output %y)",
               {f64({1e-20})}, {0}, {1e-20});
}

TEST(StabilizeFixes, OneMinusExp) {
  expect_fixed(R"(%x = input "x" : f64[1]
                  %one = constant 1 : f64[]
                  %e = exp(%x) : f64[1]
                  %y = sub(%one, %e) : f64[1]
                  output %y)",
               {f64({1e-20})}, {0}, {-1e-20});
}

TEST(StabilizeFixes, Log1mexp) {
  // log(1 - exp(-1e-20)) = log(1e-20 - 5e-41) = -20 ln 10; log(1 - exp(-50))
  // = -exp(-50) - exp(-100)/2 (mpmath: -1.9287498479639178e-22).
  expect_fixed(R"(%x = input "x" : f64[2]
                  %one = constant 1 : f64[]
                  %e = exp(%x) : f64[2]
                  %a = sub(%one, %e) : f64[2]
                  %y = log(%a) : f64[2]
                  output %y)",
               {f64({-1e-20, -50})}, {-kInf, 0}, {-20 * std::numbers::ln10, -1.9287498479639178e-22});
}

TEST(StabilizeFixes, Log1mexpF32) {
  // log(1 - exp(-1e-10)) = -10 ln 10 - 5e-11 = -23.02585093 (mpmath)
  expect_fixed(R"(%x = input "x" : f32[1]
                  %one = constant 1 : f32[]
                  %e = exp(%x) : f32[1]
                  %a = sub(%one, %e) : f32[1]
                  %y = log(%a) : f32[1]
                  output %y)",
               {f32({-1e-10})}, {-kInf}, {as_f32(-23.025850929990458)});
}

TEST(StabilizeFixes, Softplus) {
  // log(1 + e^800) = 800 + log1p(e^-800) = 800
  expect_fixed(R"(%x = input "x" : f64[2]
                  %one = constant 1 : f64[]
                  %e = exp(%x) : f64[2]
                  %a = add(%one, %e) : f64[2]
                  %y = log(%a) : f64[2]
                  output %y)",
               {f64({800, -800})}, {kInf, 0}, {800, 0});
}

TEST(StabilizeFixes, OneMinusSigmoid) {
  // 1 - sigmoid(40) = e^-40 / (1 + e^-40) = 4.248354255291589e-18 (mpmath);
  // sigmoid(40) rounds to 1.
  expect_fixed(R"(%x = input "x" : f64[1]
                  %one = constant 1 : f64[]
                  %s = sigmoid(%x) : f64[1]
                  %y = sub(%one, %s) : f64[1]
                  output %y)",
               {f64({40})}, {0}, {4.248354255291589e-18});
}

TEST(StabilizeFixes, LogOneMinusSigmoid) {
  // log(1 - sigmoid(800)) = -800 - log1p(e^-800) = -800
  expect_fixed(R"(%x = input "x" : f64[1]
                  %one = constant 1 : f64[]
                  %s = sigmoid(%x) : f64[1]
                  %a = sub(%one, %s) : f64[1]
                  %y = log(%a) : f64[1]
                  output %y)",
               {f64({800})}, {-kInf}, {-800});
}

TEST(StabilizeFixes, LogSigmoid) {
  // log(sigmoid(-800)) = -800 - log1p(e^-800) = -800
  expect_fixed(R"(%x = input "x" : f64[1]
                  %s = sigmoid(%x) : f64[1]
                  %y = log(%s) : f64[1]
                  output %y)",
               {f64({-800})}, {-kInf}, {-800});
}

TEST(StabilizeFixes, LogSigmoidF32) {
  // sigmoid(-200) = 1.4e-87 is 0 in f32.
  expect_fixed(R"(%x = input "x" : f32[1]
                  %s = sigmoid(%x) : f32[1]
                  %y = log(%s) : f32[1]
                  output %y)",
               {f32({-200})}, {-kInf}, {-200});
}

const std::string kSoftmaxByHand = R"(%x = input "x" : f64[2]
                                      %e = exp(%x) : f64[2]
                                      %s = sum(%e) axes=[0] keepdims=true : f64[1]
                                      %y = div(%e, %s) : f64[2]
)";

TEST(StabilizeFixes, StableSoftmax) {
  // softmax([1000, 0]) = [1/(1 + e^-1000), e^-1000/(1 + e^-1000)] = [1, 0]; as written inf/inf.
  expect_fixed(kSoftmaxByHand + "output %y", {f64({1000, 0})}, {kNaN, 0}, {1, 0});
}

TEST(StabilizeFixes, StableSoftmaxF32) {
  // softmax([100, 80]) = [1/(1 + e^-20), e^-20/(1 + e^-20)] = [0.9999999979388464, 2.0611536181902037e-09];
  // e^100 overflows f32.
  expect_fixed(R"(%x = input "x" : f32[2]
                  %e = exp(%x) : f32[2]
                  %s = sum(%e) axes=[0] keepdims=true : f32[1]
                  %y = div(%e, %s) : f32[2]
                  output %y)",
               {f32({100, 80})}, {kNaN, 0}, {as_f32(0.9999999979388464), as_f32(2.0611536181902037e-09)});
}

TEST(StabilizeFixes, LogSoftmax) {
  // log(softmax([1000, 0])) = [0, -1000] - log1p(e^-1000) = [0, -1000]
  // Row 2: log(1/3) either way.
  const double l3 = -std::log(3.0);
  expect_fixed(kFrontEndSoftmax23 + "%y = log(%p) : f64[2,3]\noutput %y", {f64({1000, 0, 0, -5, -5, -5}, {2, 3})},
               {0, -kInf, -kInf, l3, l3, l3}, {0, -1000, -1000, l3, l3, l3});
  expect_fixed(kSoftmaxByHand + "%z = log(%y) : f64[2]\noutput %z", {f64({1000, 0})}, {kNaN, -kInf}, {0, -1000});
}

TEST(StabilizeFixes, Logsumexp) {
  // log(e^1000 + e^1000) = 1000 + ln 2; log(2 e^-1000) = -1000 + ln 2; log(0) = -inf
  const char* text = R"(%x = input "x" : f64[3,2]
                        %e = exp(%x) : f64[3,2]
                        %s = sum(%e) axes=[1] keepdims=false : f64[3]
                        %y = log(%s) : f64[3]
                        output %y)";
  expect_fixed(text, {f64({1000, 1000, -1000, -1000, -kInf, -kInf}, {3, 2})}, {kInf, -kInf, -kInf},
               {1000 + std::numbers::ln2, -1000 + std::numbers::ln2, -kInf});
}

TEST(StabilizeFixes, LogsumexpF32) {
  expect_fixed(R"(%x = input "x" : f32[2]
                  %e = exp(%x) : f32[2]
                  %s = sum(%e) axes=[0] keepdims=false : f32[]
                  %y = log(%s) : f32[]
                  output %y)",
               {f32({100, 100})}, {kInf}, {as_f32(100 + std::numbers::ln2)});
}

TEST(StabilizeFixes, LogErfc) {
  // mpmath (50 digits): log(erfc(30)) = -903.97411711064387808,
  // log(erfc(-1)) = 0.6112323176780705. erfc(30) = 2.6e-393 underflows.
  expect_fixed(R"(%x = input "x" : f64[3]
                  %e = erfc(%x) : f64[3]
                  %y = log(%e) : f64[3]
                  output %y)",
               {f64({30, -1, kInf})}, {-kInf, 0.6112323176780705, -kInf},
               {-903.97411711064387808, 0.6112323176780705, -kInf});
}

TEST(StabilizeFixes, LogErfcF32) {
  // mpmath: log(erfc(12)) = -147.06071417798700949; erfc(12) = 1.4e-64 is 0 in f32.
  expect_fixed(R"(%x = input "x" : f32[1]
                  %e = erfc(%x) : f32[1]
                  %y = log(%e) : f32[1]
                  output %y)",
               {f32({12})}, {-kInf}, {as_f32(-147.06071417798700949)});
}

// Neither branch of the split makes inf/NaN that the where's gradient would
// turn into NaN: d/dx log erfc(x) = -2 e^{-x²} / (√π erfc(x)) (mpmath values).
TEST(StabilizeFixes, LogErfcGradientIsFinite) {
  kiln::Tensor x = kiln::vector("x");
  kiln::Tensor y = kiln::log(kiln::erfc(x));
  kiln::Tensor stable(kiln::passes::rewrite({y.node()}, stabilize()).at(0));
  kiln::Tensor g = kiln::grad(kiln::sum(stable), x);
  kiln::ir::Bindings b{{x.node().get(), f64({30, -1})}};
  expect_values(kiln::ir::interpret({g.node()}, b).at(0), {-60.03329639875623, -0.22527124262865744}, 1e-14);
}

// ---- cross-entropies: composed from the rules above ----

TEST(StabilizeCrossEntropy, SigmoidEndsInSoftplus) {
  const char* text = R"(%x = input "x" : f64[3]
                        %y = input "y" : f64[3]
                        %one = constant 1 : f64[]
                        %s = sigmoid(%x) : f64[3]
                        %ls = log(%s) : f64[3]
                        %a = mul(%y, %ls) : f64[3]
                        %omy = sub(%one, %y) : f64[3]
                        %oms = sub(%one, %s) : f64[3]
                        %l1s = log(%oms) : f64[3]
                        %b = mul(%omy, %l1s) : f64[3]
                        %sum = add(%a, %b) : f64[3]
                        %ce = neg(%sum) : f64[3]
                        output %ce)";
  RuleCounts counts;
  Graph g = parse(text);
  Graph s = apply(g, stabilize(), &counts);
  EXPECT_EQ(normal_text(s), normal_text(parse(R"(%x = input "x" : f64[3]
                                                 %y = input "y" : f64[3]
                                                 %one = constant 1 : f64[]
                                                 %nx = neg(%x) : f64[3]
                                                 %sp1 = softplus(%nx) : f64[3]
                                                 %ls = neg(%sp1) : f64[3]
                                                 %a = mul(%y, %ls) : f64[3]
                                                 %omy = sub(%one, %y) : f64[3]
                                                 %sp2 = softplus(%x) : f64[3]
                                                 %l1s = neg(%sp2) : f64[3]
                                                 %b = mul(%omy, %l1s) : f64[3]
                                                 %sum = add(%a, %b) : f64[3]
                                                 %ce = neg(%sum) : f64[3]
                                                 output %ce)")));
  EXPECT_EQ(counts["log_sigmoid"], 1);
  EXPECT_EQ(counts["log_one_minus_sigmoid"], 1);
  expect_same_values(g, s);
  // -(y log σ(x) + (1-y) log(1-σ(x))) = y softplus(-x) + (1-y) softplus(x):
  // x = 800, y = 0 → 800; x = -800, y = 1 → 800; x = 800, y = 1 → 0.
  std::vector<Array> args{f64({800, -800, 800}), f64({0, 1, 1})};
  expect_values(eval(g, args)[0], {kInf, kInf, kNaN}, 0);
  expect_values(eval(s, args)[0], {800, 800, 0}, 1e-15);
}

TEST(StabilizeCrossEntropy, SoftmaxGoesThroughLogSoftmax) {
  // -sum(y * log(softmax(x))) with the front end's softmax
  kiln::Tensor x = kiln::vector("x"), y = kiln::vector("y");
  kiln::Tensor ce = -kiln::sum(y * kiln::log(kiln::softmax(x)));
  RuleCounts counts;
  kiln::Tensor s(kiln::passes::rewrite({ce.node()}, stabilize(), &counts).at(0));
  EXPECT_EQ(counts["log_softmax"], 1);
  EXPECT_EQ(counts.size(), 1u);
  // x = [1000, 0]: y = [0, 1] → 1000 (as written inf), y = [1, 0] → 0 (as written 0 * -inf = NaN)
  for (auto [yv, written, right] : {std::tuple{std::vector<double>{0, 1}, kInf, 1000.0},
                                    std::tuple{std::vector<double>{1, 0}, kNaN, 0.0}}) {
    kiln::ir::Bindings b{{x.node().get(), f64({1000, 0})}, {y.node().get(), f64(yv)}};
    expect_values(kiln::ir::interpret({ce.node()}, b)[0], {written}, 0);
    expect_values(kiln::ir::interpret({s.node()}, b)[0], {right}, 1e-15);
  }
}

// ---- the front end's stable composites are not stabilized again ----

TEST(StabilizeFrontEnd, StableCompositesAreLeftAlone) {
  kiln::Tensor x = kiln::matrix("x"), v = kiln::tensor("v", kiln::f32, {4, 3});
  std::vector<NodeRef> outs{kiln::softmax(x, 1).node(),          kiln::logsumexp(x, 1).node(),
                            kiln::logsumexp(x, kiln::Axes(), true).node(), kiln::log_softmax(x, 0).node(),
                            kiln::softmax(v, 0).node(),          kiln::log_softmax(v, 1).node()};
  RuleCounts counts;
  EXPECT_EQ(kiln::passes::rewrite(outs, stabilize(), &counts), outs);
  EXPECT_TRUE(counts.empty()) << counts.begin()->first;
  // Nor after canonicalize has rewritten them, in the whole pipeline.
  RuleCounts all;
  kiln::passes::optimize(outs, {.counts = &all});
  for (const kiln::passes::Rule& rule : stabilize().rules) EXPECT_EQ(all.count(rule.name), 0u) << rule.name;
}

// log(softmax(x)) from the front end becomes its log_softmax shape, x - m -
// log(sum(exp(x - m))), and logsumexp written by hand becomes the front
// end's logsumexp node for node.
TEST(StabilizeFrontEnd, HandWrittenLogsumexpIsTheFrontEndsNode) {
  kiln::Tensor x = kiln::matrix("x");
  kiln::Tensor by_hand = kiln::log(kiln::sum(kiln::exp(x), 1));
  kiln::Tensor by_hand_kept = kiln::log(kiln::sum(kiln::exp(x), 1, true));
  std::vector<NodeRef> got = kiln::passes::rewrite({by_hand.node(), by_hand_kept.node()}, stabilize());
  EXPECT_EQ(got[0], kiln::logsumexp(x, 1).node());
  EXPECT_EQ(got[1], kiln::logsumexp(x, 1, true).node());
}

// Through function(), which runs the whole pipeline by default.
TEST(StabilizeFrontEnd, FunctionGivesFiniteValues) {
  kiln::Tensor x = kiln::vector("x");
  kiln::Function f = kiln::function(
      {x}, {kiln::log(kiln::sigmoid(x)), kiln::log1p(kiln::exp(x)), kiln::log(kiln::sum(kiln::exp(x)))});
  std::vector<Array> out = f({f64({-800, 800})});
  expect_values(out[0], {-800, 0}, 1e-15);
  expect_values(out[1], {0, 800}, 1e-15);
  expect_values(out[2], {800}, 1e-15);
}

// ---- the op log1mexp ----

TEST(StabilizeLog1mexp, Values) {
  // log(1 - e^x): x = -ln 2 → log(1/2); x = -1e-300 → log(1e-300); x = -800 → -e^-800 = -0.0;
  // x = 0 → -inf; x > 0 and NaN → NaN; x = -inf → log(1) (-0.0).
  kiln::Tensor x = kiln::vector("x");
  kiln::ir::Bindings b{{x.node().get(), f64({-std::numbers::ln2, -1e-300, -800, 0, 0.5, kNaN, -kInf})}};
  Array y = kiln::ir::interpret({kiln::log1mexp(x).node()}, b)[0];
  expect_values(y, {-std::numbers::ln2, -300 * std::numbers::ln10, 0, -kInf, kNaN, kNaN, 0}, 1e-15);
  // f32: log(1 - e^-1e-10) = -23.02585093 (mpmath)
  kiln::Tensor xf = kiln::vector("xf", kiln::f32);
  Array yf = kiln::ir::interpret({kiln::log1mexp(xf).node()}, {{xf.node().get(), f32({-1e-10})}})[0];
  EXPECT_EQ(yf.dtype(), DType::F32);
  expect_values(yf, {as_f32(-23.025850929990458)}, 1e-7);
}

TEST(StabilizeLog1mexp, Gradient) {
  // d/dx log(1 - e^x) = -e^x / (1 - e^x) = -1 / expm1(-x): x = -ln 2 → -1; x = -1e-20 → -1e20.
  kiln::Tensor x = kiln::vector("x");
  kiln::Tensor g = kiln::grad(kiln::sum(kiln::log1mexp(x)), x);
  kiln::ir::Bindings b{{x.node().get(), f64({-std::numbers::ln2, -1e-20})}};
  expect_values(kiln::ir::interpret({g.node()}, b)[0], {-1, -1e20}, 1e-15);
}

}  // namespace
