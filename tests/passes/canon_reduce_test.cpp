// canonicalize: reductions (passes/canon_reduce.cpp) — nested ones merged,
// trivial ones removed, broadcast axes counted, big fills folded.
#include <gtest/gtest.h>

#include "passes/canon_test_util.hpp"

namespace {

using namespace kiln_test;

// The outer axes name positions of the inner result: without keepdims they
// skip the axes the inner sum dropped.
TEST(CanonReduce, SumOfSum) {
  check_canon("reduce_reduce", R"(
    %x = input "x" : f64[2,3,4]
    %a = sum(%x) axes=[1] keepdims=false : f64[2,4]
    %b = sum(%a) axes=[1] keepdims=false : f64[2]
    %c = sum(%x) axes=[1] keepdims=true : f64[2,1,4]
    %d = sum(%c) axes=[0, 2] keepdims=true : f64[1,1,1]
    output %b
    output %d)",
              R"(
    %x = input "x" : f64[2,3,4]
    %b = sum(%x) axes=[1, 2] keepdims=false : f64[2]
    %d = sum(%x) axes=[0, 1, 2] keepdims=true : f64[1,1,1]
    output %b
    output %d)");
}

TEST(CanonReduce, SumOfSumWithMixedKeepdims) {
  check_canon("reduce_reduce", R"(
    %x = input "x" : f64[2,3,4]
    %a = sum(%x) axes=[1] keepdims=false : f64[2,4]
    %e = sum(%a) axes=[0] keepdims=true : f64[1,4]
    %c = sum(%x) axes=[1] keepdims=true : f64[2,1,4]
    %d = sum(%c) axes=[0, 1] keepdims=false : f64[4]
    %f = sum(%c) axes=[0] keepdims=false : f64[1,4]
    output %e
    output %d
    output %f)",
              R"(
    %x = input "x" : f64[2,3,4]
    %s = sum(%x) axes=[0, 1] keepdims=false : f64[4]
    %e = expand_dims(%s) axes=[0] : f64[1,4]
    %k = sum(%x) axes=[0, 1] keepdims=true : f64[1,1,4]
    %f = squeeze(%k) axes=[0] : f64[1,4]
    output %e
    output %s
    output %f)");
}

TEST(CanonReduce, MaxOfMaxAndAllOfAll) {
  check_canon("reduce_reduce", R"(
    %x = input "x" : i32[2,3,4]
    %g = max(%x) axes=[1] keepdims=true : i32[2,1,4]
    %h = max(%g) axes=[2] keepdims=true : i32[2,1,1]
    %b = input "b" : bool[2,3]
    %p = all(%b) axes=[1] keepdims=false : bool[2]
    %q = all(%p) axes=[0] keepdims=false : bool[]
    output %h
    output %q)",
              R"(
    %x = input "x" : i32[2,3,4]
    %b = input "b" : bool[2,3]
    %h = max(%x) axes=[1, 2] keepdims=true : i32[2,1,1]
    %q = all(%b) axes=[0, 1] keepdims=false : bool[]
    output %h
    output %q)");
}

// argmax of argmax indexes different things: never merged.
TEST(CanonReduce, ArgmaxIsNotMerged) {
  expect_unchanged(R"(
    %x = input "x" : f64[2,3,4]
    %a = max(%x) axes=[1] keepdims=false : f64[2,4]
    %b = argmax(%a) axes=[1] keepdims=false : i64[2]
    %c = sum(%x) axes=[1] keepdims=false : f64[2,4]
    %d = max(%c) axes=[1] keepdims=false : f64[2]
    output %b
    output %d)");
}

// Reducing static-1 axes (or none) moves no values: the sum of one element
// is the element (-0 stays -0, where the interpreter's sum gives +0).
TEST(CanonReduce, TrivialReductions) {
  check_canon("reduce_trivial", R"(
    %x = input "x" : f64[3,1]
    %a = sum(%x) axes=[1] keepdims=false : f64[3]
    %b = max(%x) axes=[1] keepdims=true : f64[3,1]
    %c = prod(%x) axes=[] keepdims=false : f64[3,1]
    %m = mean(%x) axes=[1] keepdims=false : f64[3]
    output %a
    output %b
    output %c
    output %m)",
              R"(
    %x = input "x" : f64[3,1]
    %a = squeeze(%x) axes=[1] : f64[3]
    output %a
    output %x
    output %x
    output %a)");
  // an unknown dim may be any size
  expect_unchanged(R"(
    %x = input "x" : f64[3,?]
    %a = sum(%x) axes=[1] keepdims=false : f64[3]
    output %a)");
}

// sum(broadcast_to(x[1,4], [3,4]), axes=[0]) is x * 3, laid out as [4].
TEST(CanonReduce, SumOverBroadcastAxesCounts) {
  check_canon("reduce_broadcast", R"(
    %x = input "x" : f64[1,4]
    %b = broadcast_to(%x) shape=[3, 4] : f64[3,4]
    %s = sum(%b) axes=[0] keepdims=false : f64[4]
    output %s)",
              R"(
    %x = input "x" : f64[1,4]
    %c = constant 3 : f64[]
    %m = mul(%x, %c) : f64[1,4]
    %s = reshape(%m) shape=[4] : f64[4]
    output %s)");
}

// Leading axes, a real axis reduced too, and a broadcast axis not reduced.
TEST(CanonReduce, SumOverBroadcastMixedAxes) {
  check_canon("reduce_broadcast", R"(
    %y = input "y" : f64[?]
    %c = broadcast_to(%y) shape=[2, 5, 3] : f64[2,5,3]
    %t = sum(%c) axes=[0, 2] keepdims=true : f64[1,5,1]
    %z = input "z" : i32[3,1]
    %d = broadcast_to(%z) shape=[2, 3, 4] : i32[2,3,4]
    %v = sum(%d) axes=[0] keepdims=false : i32[3,4]
    output %t
    output %v)",
              R"(
    %y = input "y" : f64[?]
    %z = input "z" : i32[3,1]
    %s = sum(%y) axes=[0] keepdims=true : f64[1]
    %c2 = constant 2 : f64[]
    %m = mul(%s, %c2) : f64[1]
    %r = reshape(%m) shape=[1, 1, 1] : f64[1,1,1]
    %t = broadcast_to(%r) shape=[1, 5, 1] : f64[1,5,1]
    %i2 = constant 2 : i32[]
    %n = mul(%z, %i2) : i32[3,1]
    %v = broadcast_to(%n) shape=[3, 4] : i32[3,4]
    output %t
    output %v)");
}

// The mean (and max, min) of copies is the value itself.
TEST(CanonReduce, MeanOverBroadcastAxes) {
  check_canon("reduce_broadcast", R"(
    %y = input "y" : f64[?]
    %c = broadcast_to(%y) shape=[2, 5, 3] : f64[2,5,3]
    %u = mean(%c) axes=[0, 2] keepdims=false : f64[5]
    %w = input "w" : f32[4]
    %b = broadcast_to(%w) shape=[3, 4] : f32[3,4]
    %m = max(%b) axes=[0] keepdims=false : f32[4]
    output %u
    output %m)",
              R"(
    %y = input "y" : f64[?]
    %w = input "w" : f32[4]
    %a = mean(%y) axes=[0] keepdims=true : f64[1]
    %u = broadcast_to(%a) shape=[5] : f64[5]
    output %u
    output %w)");
}

// Reductions of fills too big for fold_constants: v * n, v^n, or v.
TEST(CanonReduce, ReductionsOfBigFills) {
  check_canon("reduce_fill", R"(
    %f = fill shape=[300, 300] value=0.5 dtype=f32 : f32[300,300]
    %s = sum(%f) axes=[1] keepdims=false : f32[300]
    %p = prod(%f) axes=[0, 1] keepdims=false : f32[]
    %i = fill shape=[300, 300] value=3.0 dtype=i8 : i8[300,300]
    %t = sum(%i) axes=[0, 1] keepdims=true : i8[1,1]
    %m = max(%i) axes=[0] keepdims=false : i8[300]
    output %s
    output %p
    output %t
    output %m)",
              R"(
    %s = fill shape=[300] value=150.0 dtype=f32 : f32[300]
    %p = constant 0 : f32[]
    %t = fill shape=[1, 1] value=-80.0 dtype=i8 : i8[1,1]
    %m = fill shape=[300] value=3.0 dtype=i8 : i8[300]
    output %s
    output %p
    output %t
    output %m)");
}

}  // namespace
