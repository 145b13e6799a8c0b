// The canonicalize rule set: constant folding, identities, gradient
// clean-up, strict_ieee, and properties of the whole set (every rule fires
// on an example, a second rewrite changes nothing, types are kept, the set
// converges on random expressions). Sums and products, shape ops and
// reductions have their own files: canon_add_mul_test.cpp,
// canon_shape_test.cpp, canon_reduce_test.cpp.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "passes/canon_test_util.hpp"

namespace {

using namespace kiln_test;
using kiln::passes::RuleCounts;

// ---- constant folding ----

TEST(CanonFold, ElementwiseOfConstants) {
  check_canon("fold_constants", R"(
    %a = constant [1, 2] : f64[2]
    %b = constant [3, 5] : f64[2]
    %c = add(%a, %b) : f64[2]
    output %c)",
              R"(
    %c = constant [4, 7] : f64[2]
    output %c)");
}

TEST(CanonFold, UniformResultIsAFill) {
  check_canon("fold_constants", R"(
    %a = fill shape=[2, 3] value=2.0 dtype=f32 : f32[2,3]
    %b = exp(%a) : f32[2,3]
    output %b)",
              R"(
    %b = fill shape=[2, 3] value=7.389056205749512 dtype=f32 : f32[2,3]
    output %b)");
}

TEST(CanonFold, IntegersWrap) {
  check_canon("fold_constants", R"(
    %a = constant [100, -128] : i8[2]
    %b = constant [100, 1] : i8[2]
    %c = add(%a, %b) : i8[2]
    %d = sub(%a, %b) : i8[2]
    output %c
    output %d)",
              R"(
    %c = constant [-56, -127] : i8[2]
    %d = constant [0, 127] : i8[2]
    output %c
    output %d)");
}

TEST(CanonFold, ReductionOfAConstant) {
  check_canon("fold_constants", R"(
    %a = constant [[1, 2], [3, 4]] : i32[2,2]
    %s = sum(%a) axes=[0] keepdims=false : i32[2]
    %m = max(%a) axes=[0, 1] keepdims=false : i32[]
    output %s
    output %m)",
              R"(
    %s = constant [4, 6] : i32[2]
    %m = constant 4 : i32[]
    output %s
    output %m)");
}

TEST(CanonFold, StaticShapesOfLikeOps) {
  check_canon("fold_constants", R"(
    %x = input "x" : f64[6]
    %r = input "r" : f32[2,3]
    %a = reshape_like(%x, %r) : f64[2,3]
    %v = input "v" : f64[3]
    %b = broadcast_like(%v, %r) : f64[2,3]
    %c = fill_like(%r) value=1.5 dtype=f64 : f64[2,3]
    %m = mul(%b, %c) : f64[2,3]
    %s = add(%a, %m) : f64[2,3]
    output %s)",
              R"(
    %x = input "x" : f64[6]
    %v = input "v" : f64[3]
    %a = reshape(%x) shape=[2, 3] : f64[2,3]
    %b = broadcast_to(%v) shape=[2, 3] : f64[2,3]
    %c = fill shape=[2, 3] value=1.5 dtype=f64 : f64[2,3]
    %m = mul(%b, %c) : f64[2,3]
    %s = add(%m, %a) : f64[2,3]
    output %s)");
}

TEST(CanonFold, UnknownShapesStay) {
  expect_unchanged(R"(
    %x = input "x" : f64[?]
    %r = input "r" : f64[2,?]
    %a = reshape_like(%x, %r) : f64[2,?]
    %c = fill_like(%r) value=1.5 dtype=f64 : f64[2,?]
    output %a
    output %c)");
}

// A uniform result too big to evaluate is computed on one element.
TEST(CanonFold, HugeUniformResultIsComputedOnOneElement) {
  check_canon("fold_constants", R"(
    %a = fill shape=[1] value=-1.0 dtype=f64 : f64[1]
    %b = broadcast_to(%a) shape=[512, 512] : f64[512,512]
    %c = abs(%b) : f64[512,512]
    output %c)",
              R"(
    %c = fill shape=[512, 512] value=1.0 dtype=f64 : f64[512,512]
    output %c)");
}

TEST(CanonFold, RunTimeErrorsAreLeftForRunTime) {
  expect_unchanged(R"(
    %a = constant [1, 2] : f64[2]
    %i = constant 5 : i64[]
    %t = take(%a, %i) axis=0 : f64[]
    output %t)");
}

// ---- identities ----

TEST(CanonIdentity, AddZero) {
  check_canon("add_zero", R"(
    %x = input "x" : f64[3]
    %z = constant 0 : f64[]
    %y = add(%z, %x) : f64[3]
    output %y)",
              R"(
    %x = input "x" : f64[3]
    output %x)");
}

// x + zeros of a bigger shape broadcasts x; it does not drop the shape.
TEST(CanonIdentity, AddZerosOfABiggerShapeBroadcasts) {
  check_canon("add_zero", R"(
    %x = input "x" : f64[3]
    %z = fill shape=[2, 3] value=0.0 dtype=f64 : f64[2,3]
    %y = add(%x, %z) : f64[2,3]
    output %y)",
              R"(
    %x = input "x" : f64[3]
    %y = broadcast_to(%x) shape=[2, 3] : f64[2,3]
    output %y)");
}

TEST(CanonIdentity, SubZero) {
  check_canon("sub_zero", R"(
    %x = input "x" : i32[3]
    %z = constant 0 : i32[]
    %y = sub(%x, %z) : i32[3]
    output %y)",
              R"(
    %x = input "x" : i32[3]
    output %x)");
}

TEST(CanonIdentity, ZeroSub) {
  check_canon("zero_sub", R"(
    %x = input "x" : f32[?]
    %z = constant 0 : f32[]
    %y = sub(%z, %x) : f32[?]
    output %y)",
              R"(
    %x = input "x" : f32[?]
    %y = neg(%x) : f32[?]
    output %y)");
}

TEST(CanonIdentity, MulOne) {
  check_canon("mul_one", R"(
    %x = input "x" : u8[3]
    %o = constant 1 : u8[]
    %y = mul(%o, %x) : u8[3]
    output %y)",
              R"(
    %x = input "x" : u8[3]
    output %x)");
}

TEST(CanonIdentity, DivOne) {
  check_canon("div_one", R"(
    %x = input "x" : f64[2,2]
    %o = fill shape=[2] value=1.0 dtype=f64 : f64[2]
    %y = div(%x, %o) : f64[2,2]
    output %y)",
              R"(
    %x = input "x" : f64[2,2]
    output %x)");
}

TEST(CanonIdentity, NegNeg) {
  check_canon("neg_neg", R"(
    %x = input "x" : i64[3]
    %a = neg(%x) : i64[3]
    %b = neg(%a) : i64[3]
    output %b)",
              R"(
    %x = input "x" : i64[3]
    output %x)");
}

TEST(CanonIdentity, NegTimesNeg) {
  check_canon("neg_mul_neg", R"(
    %a = input "a" : f64[3]
    %b = input "b" : f64[3]
    %na = neg(%a) : f64[3]
    %nb = neg(%b) : f64[3]
    %y = mul(%nb, %na) : f64[3]
    output %y)",
              R"(
    %a = input "a" : f64[3]
    %b = input "b" : f64[3]
    %y = mul(%a, %b) : f64[3]
    output %y)");
}

TEST(CanonIdentity, PowOne) {
  check_canon("pow_one", R"(
    %x = input "x" : f64[3]
    %k = constant 1 : f64[]
    %y = pow(%x, %k) : f64[3]
    output %y)",
              R"(
    %x = input "x" : f64[3]
    output %x)");
}

// pow(x, 0) is 1 for every x, NaN and 0 included (C's pow, integer 0 ** 0).
TEST(CanonIdentity, PowZero) {
  check_canon("pow_zero", R"(
    %x = input "x" : f64[?,2]
    %k = constant 0 : f64[]
    %y = pow(%x, %k) : f64[?,2]
    %i = input "i" : i32[3]
    %l = constant 0 : i32[]
    %j = pow(%i, %l) : i32[3]
    output %y
    output %j)",
              R"(
    %x = input "x" : f64[?,2]
    %y = fill_like(%x) value=1.0 dtype=f64 : f64[?,2]
    %j = fill shape=[3] value=1.0 dtype=i32 : i32[3]
    output %y
    output %j)");
}

TEST(CanonIdentity, SubSelf) {
  check_canon("sub_self", R"(
    %x = input "x" : f64[?]
    %y = sub(%x, %x) : f64[?]
    output %y)",
              R"(
    %x = input "x" : f64[?]
    %y = fill_like(%x) value=0.0 dtype=f64 : f64[?]
    output %y)");
}

TEST(CanonIdentity, DivSelf) {
  check_canon("div_self", R"(
    %x = input "x" : f32[2]
    %y = div(%x, %x) : f32[2]
    output %y)",
              R"(
    %y = fill shape=[2] value=1.0 dtype=f32 : f32[2]
    output %y)", canon_rules(), 0.5, 2);
}

// x * 0 is NaN for x = inf or NaN: never rewritten.
TEST(CanonIdentity, TimesZeroStays) {
  expect_unchanged(R"(
    %x = input "x" : f64[3]
    %z = constant 0 : f64[]
    %y = mul(%x, %z) : f64[3]
    output %y)");
}

// ---- strict_ieee ----

// The finite-only identities are off for floats under strict_ieee...
TEST(CanonStrict, FiniteOnlyIdentitiesAreOffForFloats) {
  const std::string graph = R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[3]
    %a = sub(%x, %x) : f64[3]
    %b = div(%x, %x) : f64[3]
    %s = add(%x, %y) : f64[3]
    %c = sub(%s, %y) : f64[3]
    %p = mul(%x, %y) : f64[3]
    %d = div(%p, %y) : f64[3]
    output %a
    output %b
    output %c
    output %d)";
  expect_unchanged(graph, strict_canon_rules());
  RuleCounts counts;
  apply(parse(graph), canon_rules(), &counts);
  EXPECT_GT(counts["sub_self"], 0);
  EXPECT_GT(counts["div_self"], 0);
}

// ... and stay on for integers, where they are exact.
TEST(CanonStrict, IntegerCancellingIsExact) {
  check_canon("sub_self", R"(
    %x = input "x" : i32[3]
    %y = sub(%x, %x) : i32[3]
    output %y)",
              R"(
    %y = fill shape=[3] value=0.0 dtype=i32 : i32[3]
    output %y)", strict_canon_rules());
  check_canon("canonical_sum", R"(
    %x = input "x" : i16[3]
    %y = input "y" : i16[3]
    %s = add(%y, %x) : i16[3]
    %d = sub(%s, %y) : i16[3]
    output %d)",
              R"(
    %x = input "x" : i16[3]
    output %x)", strict_canon_rules());
}

// Under strict_ieee inf and NaN come out as they would without rewriting.
TEST(CanonStrict, InfAndNaNAreKept) {
  Graph g = parse(R"(
    %x = input "x" : f64[4]
    %y = input "y" : f64[4]
    %a = sub(%x, %x) : f64[4]
    %s = add(%x, %y) : f64[4]
    %c = sub(%s, %y) : f64[4]
    output %a
    output %c)");
  Graph r = apply(g, strict_canon_rules());
  double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  kiln::ir::Bindings b{{g.inputs[0].get(), Array::from({inf, nan, 1.0, -inf})},
                       {g.inputs[1].get(), Array::from({1.0, 2.0, inf, 3.0})}};
  auto want = kiln::ir::interpret(g.outputs, b), got = kiln::ir::interpret(r.outputs, b);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(close(want[i], got[i], 0)) << i;
}

// ---- gradient clean-up: zeros and ones whose shape is known at run time ----

TEST(CanonCleanup, AddZerosLike) {
  check_canon("add_zeros_like", R"(
    %x = input "x" : f64[1]
    %y = input "y" : f64[?,?]
    %z = fill_like(%y) value=0.0 dtype=f64 : f64[?,?]
    %s = add(%z, %x) : f64[?,?]
    output %s)",
              R"(
    %x = input "x" : f64[1]
    %y = input "y" : f64[?,?]
    %s = broadcast_like(%x, %y) : f64[?,?]
    output %s)");
}

TEST(CanonCleanup, SubZerosLike) {
  check_canon("sub_zeros_like", R"(
    %x = input "x" : f32[?]
    %y = input "y" : i32[2,?]
    %z = fill_like(%y) value=0.0 dtype=f32 : f32[2,?]
    %s = sub(%x, %z) : f32[2,?]
    output %s)",
              R"(
    %x = input "x" : f32[?]
    %y = input "y" : i32[2,?]
    %s = broadcast_like(%x, %y) : f32[2,?]
    output %s)");
}

TEST(CanonCleanup, MulOnesLike) {
  check_canon("mul_ones_like", R"(
    %x = input "x" : f64[]
    %y = input "y" : f64[?]
    %o = fill_like(%y) value=1.0 dtype=f64 : f64[?]
    %s = mul(%x, %o) : f64[?]
    output %s)",
              R"(
    %x = input "x" : f64[]
    %y = input "y" : f64[?]
    %s = broadcast_like(%x, %y) : f64[?]
    output %s)");
}

// Another fill is not a zero: add(fill_like(y, 0), fill_like(y, 2)) is 2.
TEST(CanonCleanup, OnlyZerosAreDropped) {
  check_canon("add_zero", R"(
    %y = input "y" : f64[?]
    %z = fill_like(%y) value=0.0 dtype=f64 : f64[?]
    %t = fill_like(%y) value=2.0 dtype=f64 : f64[?]
    %s = add(%z, %t) : f64[?]
    output %s)",
              R"(
    %y = input "y" : f64[?]
    %t = fill_like(%y) value=2.0 dtype=f64 : f64[?]
    output %t)");
}

// The gradient of a sum of sliced and indexed parts comes out clean.
TEST(CanonCleanup, GradientOfSlices) {
  check_canon("inc_slice_zeros", R"(
    %g = input "g" : f64[2]
    %x = input "x" : f64[?]
    %z = fill_like(%x) value=0.0 dtype=f64 : f64[?]
    %i = inc_slice(%z, %g) slices=[1:3] : f64[?]
    %o = fill_like(%x) value=1.0 dtype=f64 : f64[?]
    %m = mul(%i, %o) : f64[?]
    output %m)",
              R"(
    %g = input "g" : f64[2]
    %x = input "x" : f64[?]
    %z = fill_like(%x) value=0.0 dtype=f64 : f64[?]
    %i = set_slice(%z, %g) slices=[1:3] : f64[?]
    output %i)");
}

// ---- the whole set ----

// One example per rule: every rule of the set must have one, and fire on it.
const std::map<std::string, std::string>& firing_examples() {
  static const std::map<std::string, std::string> ex = {
      {"fold_constants", "%a = constant 2 : f64[]\n%b = exp(%a) : f64[]\noutput %b"},
      {"add_zero", "%x = input \"x\" : f64[2]\n%z = constant 0 : f64[]\n%y = add(%x, %z) : f64[2]\noutput %y"},
      {"sub_zero", "%x = input \"x\" : f64[2]\n%z = constant 0 : f64[]\n%y = sub(%x, %z) : f64[2]\noutput %y"},
      {"zero_sub", "%x = input \"x\" : f64[2]\n%z = constant 0 : f64[]\n%y = sub(%z, %x) : f64[2]\noutput %y"},
      {"mul_one", "%x = input \"x\" : f64[2]\n%o = constant 1 : f64[]\n%y = mul(%x, %o) : f64[2]\noutput %y"},
      {"div_one", "%x = input \"x\" : f64[2]\n%o = constant 1 : f64[]\n%y = div(%x, %o) : f64[2]\noutput %y"},
      {"neg_neg", "%x = input \"x\" : f64[2]\n%a = neg(%x) : f64[2]\n%b = neg(%a) : f64[2]\noutput %b"},
      {"neg_mul_neg",
       "%x = input \"x\" : f64[2]\n%a = neg(%x) : f64[2]\n%b = mul(%a, %a) : f64[2]\noutput %b"},
      {"pow_one", "%x = input \"x\" : f64[2]\n%k = constant 1 : f64[]\n%y = pow(%x, %k) : f64[2]\noutput %y"},
      {"pow_zero", "%x = input \"x\" : f64[?]\n%k = constant 0 : f64[]\n%y = pow(%x, %k) : f64[?]\noutput %y"},
      {"sub_self", "%x = input \"x\" : f64[?]\n%y = sub(%x, %x) : f64[?]\noutput %y"},
      {"div_self", "%x = input \"x\" : f64[?]\n%y = div(%x, %x) : f64[?]\noutput %y"},
      {"add_zeros_like",
       "%x = input \"x\" : f64[1]\n%y = input \"y\" : f64[?]\n"
       "%z = fill_like(%y) value=0.0 dtype=f64 : f64[?]\n%s = add(%x, %z) : f64[?]\noutput %s"},
      {"sub_zeros_like",
       "%x = input \"x\" : f64[1]\n%y = input \"y\" : f64[?]\n"
       "%z = fill_like(%y) value=0.0 dtype=f64 : f64[?]\n%s = sub(%x, %z) : f64[?]\noutput %s"},
      {"mul_ones_like",
       "%x = input \"x\" : f64[1]\n%y = input \"y\" : f64[?]\n"
       "%z = fill_like(%y) value=1.0 dtype=f64 : f64[?]\n%s = mul(%x, %z) : f64[?]\noutput %s"},
      {"canonical_sum", "%x = input \"x\" : f64[2]\n%y = input \"y\" : f64[2]\n%s = add(%y, %x) : f64[2]\noutput %s"},
      {"canonical_product",
       "%x = input \"x\" : f64[2]\n%y = input \"y\" : f64[2]\n%s = mul(%y, %x) : f64[2]\noutput %s"},
      {"reshape_same", "%x = input \"x\" : f64[2,3]\n%y = reshape(%x) shape=[2, 3] : f64[2,3]\noutput %y"},
      {"reshape_reshape",
       "%x = input \"x\" : f64[6]\n%a = reshape(%x) shape=[2, 3] : f64[2,3]\n"
       "%b = reshape(%a) shape=[3, 2] : f64[3,2]\noutput %b"},
      {"transpose_identity", "%x = input \"x\" : f64[2,3]\n%y = transpose(%x) perm=[0, 1] : f64[2,3]\noutput %y"},
      {"transpose_transpose",
       "%x = input \"x\" : f64[2,3,4]\n%a = transpose(%x) perm=[1, 2, 0] : f64[3,4,2]\n"
       "%b = transpose(%a) perm=[1, 0, 2] : f64[4,3,2]\noutput %b"},
      {"cast_same", "%x = input \"x\" : f64[2]\n%y = cast(%x) dtype=f64 : f64[2]\noutput %y"},
      {"cast_cast",
       "%x = input \"x\" : f32[2]\n%a = cast(%x) dtype=f64 : f64[2]\n%b = cast(%a) dtype=f16 : f16[2]\noutput %b"},
      {"broadcast_to_same", "%x = input \"x\" : f64[2]\n%y = broadcast_to(%x) shape=[2] : f64[2]\noutput %y"},
      {"broadcast_like_same",
       "%x = input \"x\" : f64[?]\n%r = input \"r\" : f64[?]\n%y = broadcast_like(%x, %r) : f64[?]\noutput %y"},
      {"slice_whole", "%x = input \"x\" : f64[?,3]\n%y = slice(%x) slices=[:, 0:3] : f64[?,3]\noutput %y"},
      {"expand_dims_none", "%x = input \"x\" : f64[2]\n%y = expand_dims(%x) axes=[] : f64[2]\noutput %y"},
      {"squeeze_none", "%x = input \"x\" : f64[2]\n%y = squeeze(%x) axes=[] : f64[2]\noutput %y"},
      {"squeeze_expand_dims",
       "%x = input \"x\" : f64[2]\n%a = expand_dims(%x) axes=[0] : f64[1,2]\n"
       "%b = squeeze(%a) axes=[0] : f64[2]\noutput %b"},
      {"expand_dims_squeeze",
       "%x = input \"x\" : f64[1,2]\n%a = squeeze(%x) axes=[0] : f64[2]\n"
       "%b = expand_dims(%a) axes=[0] : f64[1,2]\noutput %b"},
      {"like_ref_elementwise",
       "%x = input \"x\" : f64[?]\n%e = exp(%x) : f64[?]\n%z = fill_like(%e) value=0.0 dtype=f64 : f64[?]\n"
       "output %z"},
      {"lift_transpose",
       "%x = input \"x\" : f64[2,3]\n%a = exp(%x) : f64[2,3]\n%b = transpose(%a) perm=[1, 0] : f64[3,2]\noutput %b"},
      {"lift_slice",
       "%x = input \"x\" : f64[4]\n%a = exp(%x) : f64[4]\n%b = slice(%a) slices=[1:3] : f64[2]\noutput %b"},
      {"slice_matmul",
       "%a = input \"a\" : f64[4,3]\n%b = input \"b\" : f64[3,2]\n%m = matmul(%a, %b) : f64[4,2]\n"
       "%s = slice(%m) slices=[1:3, :] : f64[2,2]\noutput %s"},
      {"inc_slice_zeros",
       "%z = input \"z\" : f64[4]\n%y = input \"y\" : f64[2]\n%f = fill_like(%z) value=0.0 dtype=f64 : f64[4]\n"
       "%i = inc_slice(%f, %y) slices=[0:2] : f64[4]\noutput %i"},
      {"inc_take_zeros",
       "%y = input \"y\" : f64[2]\n%f = fill shape=[4] value=0.0 dtype=f64 : f64[4]\n"
       "%k = constant [3, 1] : i64[2]\n%i = inc_take(%f, %y, %k) axis=0 : f64[4]\noutput %i"},
      {"reduce_reduce",
       "%x = input \"x\" : f64[2,3]\n%a = sum(%x) axes=[0] keepdims=false : f64[3]\n"
       "%b = sum(%a) axes=[0] keepdims=false : f64[]\noutput %b"},
      {"reduce_trivial", "%x = input \"x\" : f64[2]\n%a = sum(%x) axes=[] keepdims=false : f64[2]\noutput %a"},
      {"reduce_broadcast",
       "%x = input \"x\" : f64[3]\n%b = broadcast_to(%x) shape=[2, 3] : f64[2,3]\n"
       "%s = sum(%b) axes=[0] keepdims=false : f64[3]\noutput %s"},
      {"reduce_fill",
       "%f = fill shape=[300, 300] value=0.5 dtype=f32 : f32[300,300]\n"
       "%s = sum(%f) axes=[1] keepdims=false : f32[300]\noutput %s"},
  };
  return ex;
}

TEST(CanonRules, EveryRuleHasAnExampleAndFiresOnIt) {
  std::set<std::string> names;
  for (const auto& rule : canon_rules().rules) {
    names.insert(rule.name);
    auto it = firing_examples().find(rule.name);
    if (it == firing_examples().end()) {
      ADD_FAILURE() << "rule " << rule.name << " has no example in firing_examples()";
      continue;
    }
    RuleCounts counts;
    Graph g = parse(it->second);
    Graph r = apply(g, canon_rules(), &counts);
    EXPECT_GT(counts[rule.name], 0) << rule.name << " did not fire on\n" << it->second;
    expect_same_values(g, r);
  }
  for (const auto& [name, text] : firing_examples()) EXPECT_TRUE(names.count(name)) << "no rule named " << name;
}

TEST(CanonRules, NamesAreUnique) {
  std::set<std::string> names;
  for (const auto& rule : canon_rules().rules) EXPECT_TRUE(names.insert(rule.name).second) << rule.name;
}

// Rewriting canonical graphs changes nothing (the same nodes come back).
TEST(CanonRules, CanonicalGraphsAreFixedPoints) {
  expect_unchanged(R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[3]
    %z = input "z" : f64[3]
    %one = constant 1 : f64[]
    %two = constant 2 : f64[]
    %e = exp(%x) : f64[3]
    %a = sub(%e, %one) : f64[3]
    %s = sigmoid(%y) : f64[3]
    %b = sub(%one, %s) : f64[3]
    %p = add(%x, %y) : f64[3]
    %c = sub(%p, %z) : f64[3]
    %m = mul(%x, %two) : f64[3]
    %d = neg(%m) : f64[3]
    %q = mul(%x, %y) : f64[3]
    %f = div(%q, %z) : f64[3]
    %r = reciprocal(%z) : f64[3]
    %g = pow(%x, %two) : f64[3]
    output %a
    output %b
    output %c
    output %d
    output %f
    output %r
    output %g)");
}

// ---- random expressions: convergence, idempotence, types, values ----

// A random expression over x, y, z (dims [2,3], [3], [] so that operands
// broadcast) of add, sub, mul, neg, div, constants and shape ops; every
// rewrite must converge, keep the types, be a fixed point, and compute the
// same values.
class RandomExpr {
 public:
  RandomExpr(std::uint64_t seed, kiln::DType t) : rng_(seed), t_(t) {}

  std::string text() {
    lines_.clear();
    next_ = 0;
    std::string dt(kiln::dtype_name(t_));
    lines_.push_back("%x = input \"x\" : " + dt + "[2,3]");
    lines_.push_back("%y = input \"y\" : " + dt + "[3]");
    lines_.push_back("%z = input \"z\" : " + dt + "[]");
    auto [ref, rank] = expr(5);
    (void)rank;
    std::string s;
    for (const auto& l : lines_) s += l + "\n";
    return s + "output " + ref + "\n";
  }

 private:
  // (ref, dims) of a random subexpression
  std::pair<std::string, std::string> expr(int depth) {
    std::string dt(kiln::dtype_name(t_));
    int pick = depth <= 0 ? 0 : static_cast<int>(rng_() % 10);
    if (pick <= 1) {
      switch (rng_() % 4) {
        case 0: return {"%x", "[2,3]"};
        case 1: return {"%y", "[3]"};
        case 2: return {"%z", "[]"};
        default: {
          std::string c = "%c" + std::to_string(next_++);
          lines_.push_back(c + " = constant " + std::to_string(static_cast<int>(rng_() % 5) - 2) + " : " + dt + "[]");
          return {c, "[]"};
        }
      }
    }
    if (pick == 2) {
      auto [a, d] = expr(depth - 1);
      return emit("neg(" + a + ")", d);
    }
    if (pick == 3 && kiln::is_float(t_)) {  // keep away from zero: square plus one
      auto [a, d] = expr(depth - 1);
      auto sq = emit("mul(" + a + ", " + a + ")", d);
      std::string one = "%c" + std::to_string(next_++);
      lines_.push_back(one + " = constant 1 : " + dt + "[]");
      auto den = emit("add(" + sq.first + ", " + one + ")", d);
      auto [n, dn] = expr(depth - 1);
      return emit("div(" + n + ", " + den.first + ")", wider(dn, d));
    }
    if (pick == 4) {  // a transpose pair around an elementwise op
      auto [a, d] = expr(depth - 1);
      if (d != "[2,3]") return {a, d};
      auto t1 = emit("transpose(" + a + ") perm=[1, 0]", "[3,2]");
      auto e = emit("neg(" + t1.first + ")", "[3,2]");
      return emit("transpose(" + e.first + ") perm=[1, 0]", "[2,3]");
    }
    static const char* ops[] = {"add", "sub", "mul"};
    const char* op = ops[rng_() % 3];
    auto [a, da] = expr(depth - 1);
    auto [b, db] = expr(depth - 1);
    return emit(std::string(op) + "(" + a + ", " + b + ")", wider(da, db));
  }
  static std::string wider(const std::string& a, const std::string& b) {
    if (a == "[2,3]" || b == "[2,3]") return "[2,3]";
    if (a == "[3]" || b == "[3]") return "[3]";
    return "[]";
  }
  std::pair<std::string, std::string> emit(const std::string& body, const std::string& dims) {
    std::string r = "%n" + std::to_string(next_++);
    lines_.push_back(r + " = " + body + " : " + std::string(kiln::dtype_name(t_)) + dims);
    return {r, dims};
  }

  std::mt19937_64 rng_;
  kiln::DType t_;
  std::vector<std::string> lines_;
  int next_ = 0;
};

// KILN_CANON_SEEDS=N runs N expressions per test instead of 150.
std::uint64_t random_expression_count() {
  const char* env = std::getenv("KILN_CANON_SEEDS");
  return env && *env ? std::strtoull(env, nullptr, 10) : 150;
}

void check_random_expressions(kiln::DType t, const kiln::passes::RuleSet& rules, double rel) {
  for (std::uint64_t seed = 1; seed <= random_expression_count(); ++seed) {
    std::string text = RandomExpr(seed, t).text();
    SCOPED_TRACE("seed " + std::to_string(seed) + ":\n" + text);
    Graph g = parse(text);
    Graph r;
    ASSERT_NO_THROW(r = apply(g, rules));
    ASSERT_EQ(r.outputs[0]->type(), g.outputs[0]->type());
    EXPECT_EQ(kiln::passes::rewrite(r.outputs, rules)[0].get(), r.outputs[0].get()) << normal_text(r);
    std::vector<NodeRef> vars = kiln::ir::free_variables(g.outputs);
    kiln::ir::Bindings b;
    std::uint64_t s = seed * 7;
    for (const NodeRef& v : vars) b[v.get()] = random_value(v->type(), s++, 0.5, 1.5);
    auto want = kiln::ir::interpret(g.outputs, b), got = kiln::ir::interpret(r.outputs, b);
    EXPECT_TRUE(close(want[0], got[0], rel)) << normal_text(r);
  }
}

// Integer arithmetic wraps: every reordering and collection is exact.
TEST(CanonRandom, IntegerExpressionsAreExact) { check_random_expressions(kiln::DType::I32, canon_rules(), 0); }
TEST(CanonRandom, FloatExpressions) { check_random_expressions(kiln::DType::F64, canon_rules(), 1e-9); }
TEST(CanonRandom, StrictFloatExpressions) { check_random_expressions(kiln::DType::F64, strict_canon_rules(), 1e-9); }

}  // namespace
