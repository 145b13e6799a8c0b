// canonicalize: the canonical forms of sums and products
// (passes/canon_add_mul.cpp).
#include <gtest/gtest.h>

#include "passes/canon_test_util.hpp"

namespace {

using namespace kiln_test;

// ---- sums ----

TEST(CanonSum, OperandsAreSorted) {
  check_canon("canonical_sum", R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[2,3]
    %s = add(%y, %x) : f64[2,3]
    output %s)",
              R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[2,3]
    %s = add(%x, %y) : f64[2,3]
    output %s)");
}

// a + (b - c) - (d - e) = (a + b + e) - (c + d)
TEST(CanonSum, TreesFlattenIntoPositiveMinusNegative) {
  check_canon("canonical_sum", R"(
    %a = input "a" : f64[3]
    %b = input "b" : f64[3]
    %c = input "c" : f64[3]
    %d = input "d" : f64[3]
    %e = input "e" : f64[3]
    %s1 = sub(%b, %c) : f64[3]
    %s2 = add(%a, %s1) : f64[3]
    %s3 = sub(%d, %e) : f64[3]
    %s4 = sub(%s2, %s3) : f64[3]
    output %s4)",
              R"(
    %a = input "a" : f64[3]
    %b = input "b" : f64[3]
    %c = input "c" : f64[3]
    %d = input "d" : f64[3]
    %e = input "e" : f64[3]
    %p = add(%a, %b) : f64[3]
    %p2 = add(%p, %e) : f64[3]
    %n = add(%c, %d) : f64[3]
    %s = sub(%p2, %n) : f64[3]
    output %s)");
}

TEST(CanonSum, OnlyNegativeTermsGiveOneNeg) {
  check_canon("canonical_sum", R"(
    %x = input "x" : f32[3]
    %y = input "y" : f32[3]
    %n = neg(%x) : f32[3]
    %s = sub(%n, %y) : f32[3]
    output %s)",
              R"(
    %x = input "x" : f32[3]
    %y = input "y" : f32[3]
    %a = add(%x, %y) : f32[3]
    %s = neg(%a) : f32[3]
    output %s)");
}

// Constants combine into one, written positive and last: stabilize's
// patterns (sub(exp(x), 1), sub(1, sigmoid(x))) see the forms they expect.
TEST(CanonSum, ConstantsCombineWithAPositiveSign) {
  check_canon("canonical_sum", R"(
    %x = input "x" : f64[3]
    %c1 = constant 1 : f64[]
    %c2 = constant 2 : f64[]
    %c3 = constant 3 : f64[]
    %cm = constant -1 : f64[]
    %a = add(%x, %c1) : f64[3]
    %b = add(%c2, %a) : f64[3]
    %m = sub(%c2, %x) : f64[3]
    %n = sub(%m, %c3) : f64[3]
    %e = exp(%x) : f64[3]
    %f = add(%cm, %e) : f64[3]
    output %b
    output %n
    output %f)",
              R"(
    %x = input "x" : f64[3]
    %c3 = constant 3 : f64[]
    %b = add(%x, %c3) : f64[3]
    %c1 = constant 1 : f64[]
    %a = add(%x, %c1) : f64[3]
    %n = neg(%a) : f64[3]
    %e = exp(%x) : f64[3]
    %f = sub(%e, %c1) : f64[3]
    output %b
    output %n
    output %f)");
}

// u8 wraps: x + 255 is x - 1, and reads better so.
TEST(CanonSum, UnsignedConstantsFromHalfUpAreSubtracted) {
  check_canon("canonical_sum", R"(
    %x = input "x" : u8[3]
    %c = constant 255 : u8[]
    %a = add(%c, %x) : u8[3]
    output %a)",
              R"(
    %x = input "x" : u8[3]
    %c = constant 1 : u8[]
    %a = sub(%x, %c) : u8[3]
    output %a)");
}

TEST(CanonSum, LikeTermsAreCollected) {
  check_canon("canonical_sum", R"(
    %x = input "x" : f64[3]
    %c2 = constant 2 : f64[]
    %c3 = constant 3 : f64[]
    %a = mul(%c2, %x) : f64[3]
    %b = mul(%x, %c3) : f64[3]
    %s = add(%a, %b) : f64[3]
    %t = sub(%x, %a) : f64[3]
    %h = div(%x, %c2) : f64[3]
    %u = add(%h, %h) : f64[3]
    %xx = add(%x, %x) : f64[3]
    %x3 = add(%xx, %x) : f64[3]
    output %s
    output %t
    output %u
    output %x3)",
              R"(
    %x = input "x" : f64[3]
    %c5 = constant 5 : f64[]
    %s = mul(%x, %c5) : f64[3]
    %t = neg(%x) : f64[3]
    %c3 = constant 3 : f64[]
    %x3 = mul(%x, %c3) : f64[3]
    output %s
    output %t
    output %x
    output %x3)");
}

// Integer coefficients wrap like the sums they replace.
TEST(CanonSum, IntegerLikeTerms) {
  check_canon("canonical_sum", R"(
    %x = input "x" : i8[3]
    %c = constant 100 : i8[]
    %a = mul(%x, %c) : i8[3]
    %b = add(%a, %x) : i8[3]
    %d = add(%b, %x) : i8[3]
    output %d)",
              R"(
    %x = input "x" : i8[3]
    %c = constant 102 : i8[]
    %d = mul(%x, %c) : i8[3]
    output %d)");
}

// Coefficients wrap too: 100x + 100x is -56x in i8; in u8 x - 2x is -x.
TEST(CanonSum, IntegerCoefficientsWrap) {
  check_canon("canonical_sum", R"(
    %x = input "x" : i8[3]
    %c = constant 100 : i8[]
    %a = mul(%x, %c) : i8[3]
    %b = mul(%c, %x) : i8[3]
    %d = add(%a, %b) : i8[3]
    %u = input "u" : u8[3]
    %v = add(%u, %u) : u8[3]
    %w = sub(%u, %v) : u8[3]
    output %d
    output %w)",
              R"(
    %x = input "x" : i8[3]
    %c = constant 56 : i8[]
    %a = mul(%x, %c) : i8[3]
    %d = neg(%a) : i8[3]
    %u = input "u" : u8[3]
    %w = neg(%u) : u8[3]
    output %d
    output %w)");
}

TEST(CanonSum, TermsCancel) {
  check_canon("canonical_sum", R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[3]
    %s = add(%y, %x) : f64[3]
    %d = sub(%s, %y) : f64[3]
    %e = sub(%y, %s) : f64[3]
    output %d
    output %e)",
              R"(
    %x = input "x" : f64[3]
    %e = neg(%x) : f64[3]
    output %x
    output %e)");
}

// A cancelled term still broadcasts what is left (static dims: broadcast_to).
TEST(CanonSum, CancellingKeepsTheBroadcastShape) {
  check_canon("canonical_sum", R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[2,3]
    %s = add(%x, %y) : f64[2,3]
    %d = sub(%s, %y) : f64[2,3]
    output %d)",
              R"(
    %x = input "x" : f64[3]
    %d = broadcast_to(%x) shape=[2, 3] : f64[2,3]
    output %d)");
}

// ... and with dims known only at run time, broadcast_like.
TEST(CanonSum, CancellingKeepsARunTimeShape) {
  check_canon("canonical_sum", R"(
    %x = input "x" : f64[?]
    %y = input "y" : f64[?,?]
    %s = add(%x, %y) : f64[?,?]
    %d = sub(%s, %y) : f64[?,?]
    %z = input "z" : f64[]
    %t = add(%z, %y) : f64[?,?]
    %u = sub(%y, %t) : f64[?,?]
    output %d
    output %u)",
              R"(
    %x = input "x" : f64[?]
    %y = input "y" : f64[?,?]
    %d = broadcast_like(%x, %y) : f64[?,?]
    %z = input "z" : f64[]
    %n = neg(%z) : f64[]
    %u = broadcast_like(%n, %y) : f64[?,?]
    output %d
    output %u)");
}

TEST(CanonSum, EverythingCancelsToZeros) {
  check_canon("canonical_sum", R"(
    %x = input "x" : f64[?]
    %y = input "y" : f64[?]
    %s = add(%x, %y) : f64[?]
    %t = add(%y, %x) : f64[?]
    %d = sub(%s, %t) : f64[?]
    output %d)",
              R"(
    %x = input "x" : f64[?]
    %d = fill_like(%x) value=0.0 dtype=f64 : f64[?]
    output %d)");
}

// x - stop_gradient(max(x)) is a stabilizing shift: (x - m) - log(s) stays
// so; regrouped as x - (log(s) + m) it would round log(s) to m's precision
// (5e-7 for logits near 2^31 in f64, 1e-3 near 1e4 in f32).
TEST(CanonSum, MaxShiftsStayGrouped) {
  expect_unchanged(R"(
    %x = input "x" : f32[3]
    %m = max(%x) axes=[0] keepdims=true : f32[1]
    %g = stop_gradient(%m) : f32[1]
    %s = sub(%x, %g) : f32[3]
    %e = exp(%s) : f32[3]
    %t = sum(%e) axes=[0] keepdims=true : f32[1]
    %l = log(%t) : f32[1]
    %r = sub(%s, %l) : f32[3]
    output %r)");
  // the shift is one term of a bigger sum
  check_canon("canonical_sum", R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[3]
    %m = max(%x) axes=[0] keepdims=true : f64[1]
    %g = stop_gradient(%m) : f64[1]
    %s = sub(%x, %g) : f64[3]
    %a = add(%s, %y) : f64[3]
    output %a)",
              R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[3]
    %m = max(%x) axes=[0] keepdims=true : f64[1]
    %g = stop_gradient(%m) : f64[1]
    %s = sub(%x, %g) : f64[3]
    %a = add(%y, %s) : f64[3]
    output %a)");
}

// Under strict_ieee x + y - y stays (inf - inf is NaN), but x + x is still
// 2 * x (exact for every x).
TEST(CanonSum, StrictIeeeCollectsButDoesNotCancel) {
  expect_unchanged(R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[3]
    %s = add(%x, %y) : f64[3]
    %d = sub(%s, %y) : f64[3]
    output %d)",
                   strict_canon_rules());
  check_canon("canonical_sum", R"(
    %x = input "x" : f64[3]
    %s = add(%x, %x) : f64[3]
    output %s)",
              R"(
    %x = input "x" : f64[3]
    %c = constant 2 : f64[]
    %s = mul(%x, %c) : f64[3]
    output %s)", strict_canon_rules());
}

// ---- products ----

// (b a) / (d c) / e = (a b) / (c d e)
TEST(CanonProduct, TreesFlattenIntoNumeratorOverDenominator) {
  check_canon("canonical_product", R"(
    %a = input "a" : f64[3]
    %b = input "b" : f64[3]
    %c = input "c" : f64[3]
    %d = input "d" : f64[3]
    %e = input "e" : f64[3]
    %m1 = mul(%b, %a) : f64[3]
    %m2 = mul(%d, %c) : f64[3]
    %q = div(%m1, %m2) : f64[3]
    %r = div(%q, %e) : f64[3]
    %s = div(%c, %b) : f64[3]
    %t = div(%a, %s) : f64[3]
    output %r
    output %t)",
              R"(
    %a = input "a" : f64[3]
    %b = input "b" : f64[3]
    %c = input "c" : f64[3]
    %d = input "d" : f64[3]
    %e = input "e" : f64[3]
    %ab = mul(%a, %b) : f64[3]
    %cd = mul(%c, %d) : f64[3]
    %cde = mul(%cd, %e) : f64[3]
    %r = div(%ab, %cde) : f64[3]
    %t = div(%ab, %c) : f64[3]
    output %r
    output %t)", canon_rules(), 0.5, 2);
}

TEST(CanonProduct, Reciprocals) {
  check_canon("canonical_product", R"(
    %a = input "a" : f64[3]
    %b = input "b" : f64[3]
    %u = reciprocal(%a) : f64[3]
    %v = mul(%u, %b) : f64[3]
    %w = reciprocal(%u) : f64[3]
    output %v
    output %u
    output %w)",
              R"(
    %a = input "a" : f64[3]
    %b = input "b" : f64[3]
    %v = div(%b, %a) : f64[3]
    %u = reciprocal(%a) : f64[3]
    output %v
    output %u
    output %a)", canon_rules(), 0.5, 2);
}

// One constant, last; a constant denominator alone stays a division (x / 3
// is not x * 0.333...); the signs come out as one neg.
TEST(CanonProduct, ConstantsAndSigns) {
  check_canon("canonical_product", R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[3]
    %c2 = constant 2 : f64[]
    %c3 = constant 3 : f64[]
    %cm = constant -2 : f64[]
    %a = mul(%c2, %x) : f64[3]
    %b = mul(%a, %c3) : f64[3]
    %h = div(%x, %c3) : f64[3]
    %k = mul(%c3, %x) : f64[3]
    %k2 = div(%k, %c2) : f64[3]
    %r = div(%c2, %x) : f64[3]
    %n = mul(%x, %cm) : f64[3]
    %nx = neg(%x) : f64[3]
    %ny = mul(%y, %nx) : f64[3]
    output %b
    output %h
    output %k2
    output %r
    output %n
    output %ny)",
              R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[3]
    %c6 = constant 6 : f64[]
    %b = mul(%x, %c6) : f64[3]
    %c3 = constant 3 : f64[]
    %h = div(%x, %c3) : f64[3]
    %c15 = constant 1.5 : f64[]
    %k2 = mul(%x, %c15) : f64[3]
    %c2 = constant 2 : f64[]
    %r = div(%c2, %x) : f64[3]
    %m = mul(%x, %c2) : f64[3]
    %n = neg(%m) : f64[3]
    %xy = mul(%x, %y) : f64[3]
    %ny = neg(%xy) : f64[3]
    output %b
    output %h
    output %k2
    output %r
    output %n
    output %ny)", canon_rules(), 0.5, 2);
}

// Repeated factors become pow(x, k) (specialize turns small powers back
// into multiplications); x / x^2 is 1 / x.
TEST(CanonProduct, Powers) {
  check_canon("canonical_product", R"(
    %x = input "x" : f64[3]
    %c2 = constant 2 : f64[]
    %p2 = pow(%x, %c2) : f64[3]
    %a = mul(%x, %p2) : f64[3]
    %c3 = constant 3 : f64[]
    %p3 = pow(%x, %c3) : f64[3]
    %b = div(%p3, %x) : f64[3]
    %xx = mul(%x, %x) : f64[3]
    %c = div(%x, %xx) : f64[3]
    output %a
    output %b
    output %c)",
              R"(
    %x = input "x" : f64[3]
    %c3 = constant 3 : f64[]
    %a = pow(%x, %c3) : f64[3]
    %c2 = constant 2 : f64[]
    %b = pow(%x, %c2) : f64[3]
    %c = reciprocal(%x) : f64[3]
    output %a
    output %b
    output %c)", canon_rules(), 0.5, 2);
}

// (a * b) / b = a for finite nonzero b only.
TEST(CanonProduct, FactorsCancel) {
  check_canon("canonical_product", R"(
    %a = input "a" : f64[2,3]
    %b = input "b" : f64[3]
    %m = mul(%b, %a) : f64[2,3]
    %d = div(%m, %b) : f64[2,3]
    %e = div(%b, %m) : f64[2,3]
    output %d
    output %e)",
              R"(
    %a = input "a" : f64[2,3]
    %e = reciprocal(%a) : f64[2,3]
    output %a
    output %e)", canon_rules(), 0.5, 2);
}

TEST(CanonProduct, CancellingKeepsTheBroadcastShape) {
  check_canon("canonical_product", R"(
    %a = input "a" : f64[?]
    %b = input "b" : f64[?,?]
    %m = mul(%a, %b) : f64[?,?]
    %d = div(%m, %b) : f64[?,?]
    %n = div(%b, %m) : f64[?,?]
    output %d
    output %n)",
              R"(
    %a = input "a" : f64[?]
    %b = input "b" : f64[?,?]
    %d = broadcast_like(%a, %b) : f64[?,?]
    %r = reciprocal(%a) : f64[?]
    %n = broadcast_like(%r, %b) : f64[?,?]
    output %d
    output %n)", canon_rules(), 0.5, 2);
}

TEST(CanonProduct, StrictIeeeDoesNotCancel) {
  expect_unchanged(R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[3]
    %c3 = constant 3 : f64[]
    %p3 = pow(%x, %c3) : f64[3]
    %b = div(%p3, %x) : f64[3]
    %xy = mul(%x, %y) : f64[3]
    %d = div(%xy, %x) : f64[3]
    output %b
    output %d)",
                   strict_canon_rules());
}

// Integer products wrap: x * 16 * 16 is x * 0 in i8, -x * -3 is x * 3.
TEST(CanonProduct, IntegerProducts) {
  check_canon("canonical_product", R"(
    %x = input "x" : i8[3]
    %c16 = constant 16 : i8[]
    %a = mul(%x, %c16) : i8[3]
    %b = mul(%a, %c16) : i8[3]
    %xx = mul(%x, %x) : i8[3]
    %n = neg(%x) : i8[3]
    %cm = constant -3 : i8[]
    %d = mul(%n, %cm) : i8[3]
    output %b
    output %xx
    output %d)",
              R"(
    %x = input "x" : i8[3]
    %c0 = constant 0 : i8[]
    %b = mul(%x, %c0) : i8[3]
    %c2 = constant 2 : i8[]
    %xx = pow(%x, %c2) : i8[3]
    %c3 = constant 3 : i8[]
    %d = mul(%x, %c3) : i8[3]
    output %b
    output %xx
    output %d)");
}

// The minimum integer is its own negation: no sign to move out.
TEST(CanonProduct, MinimumIntegerConstantStays) {
  expect_unchanged(R"(
    %q = input "q" : i32[3]
    %c = constant -2147483648 : i32[]
    %m = mul(%q, %c) : i32[3]
    %x = input "x" : i8[3]
    %d = constant -128 : i8[]
    %n = mul(%x, %d) : i8[3]
    output %m
    output %n)");
}

// Sums of products: like terms whose coefficients sit in canonical products.
TEST(CanonProduct, SumsOfProducts) {
  check_canon("canonical_sum", R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[3]
    %xy = mul(%y, %x) : f64[3]
    %yx = mul(%x, %y) : f64[3]
    %c2 = constant 2 : f64[]
    %r = div(%c2, %y) : f64[3]
    %q = reciprocal(%y) : f64[3]
    %s = add(%xy, %yx) : f64[3]
    %t = add(%r, %q) : f64[3]
    %u = sub(%t, %s) : f64[3]
    output %u)",
              R"(
    %x = input "x" : f64[3]
    %y = input "y" : f64[3]
    %c3 = constant 3 : f64[]
    %r = div(%c3, %y) : f64[3]
    %xy = mul(%x, %y) : f64[3]
    %c2 = constant 2 : f64[]
    %s = mul(%xy, %c2) : f64[3]
    %u = sub(%r, %s) : f64[3]
    output %u)", canon_rules(), 0.5, 2);
}

}  // namespace
