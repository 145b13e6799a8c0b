// canonicalize: shape ops (passes/canon_shape.cpp) — useless ops removed,
// chains composed, transposes and slices lifted through elementwise ops,
// inc_* into zeros.
#include <gtest/gtest.h>

#include "passes/canon_test_util.hpp"

namespace {

using namespace kiln_test;

// ---- useless ops ----

TEST(CanonShape, ReshapeToTheSameShape) {
  check_canon("reshape_same", R"(
    %x = input "x" : f64[?,3]
    %a = reshape(%x) shape=[-1, 3] : f64[?,3]
    output %a)",
              R"(
    %x = input "x" : f64[?,3]
    output %x)");
  // [?,?] to [-1, 3] is a real reshape
  expect_unchanged(R"(
    %x = input "x" : f64[?,?]
    %a = reshape(%x) shape=[-1, 3] : f64[?,3]
    output %a)");
}

TEST(CanonShape, ReshapeOfReshape) {
  check_canon("reshape_reshape", R"(
    %x = input "x" : f64[6]
    %a = reshape(%x) shape=[2, 3] : f64[2,3]
    %b = reshape(%a) shape=[3, 2] : f64[3,2]
    output %b)",
              R"(
    %x = input "x" : f64[6]
    %b = reshape(%x) shape=[3, 2] : f64[3,2]
    output %b)");
}

TEST(CanonShape, IdentityTranspose) {
  check_canon("transpose_identity", R"(
    %x = input "x" : f64[2,?,4]
    %a = transpose(%x) perm=[0, 1, 2] : f64[2,?,4]
    output %a)",
              R"(
    %x = input "x" : f64[2,?,4]
    output %x)");
}

// out[i] = in[q[i]] = x[p[q[i]]]
TEST(CanonShape, TransposesCompose) {
  check_canon("transpose_transpose", R"(
    %y = input "y" : f64[2,3,4]
    %t = transpose(%y) perm=[1, 2, 0] : f64[3,4,2]
    %u = transpose(%t) perm=[1, 0, 2] : f64[4,3,2]
    %v = transpose(%t) perm=[2, 0, 1] : f64[2,3,4]
    output %u
    output %v)",
              R"(
    %y = input "y" : f64[2,3,4]
    %u = transpose(%y) perm=[2, 1, 0] : f64[4,3,2]
    output %u
    output %y)");
}

TEST(CanonShape, CastToTheSameDtype) {
  check_canon("cast_same", R"(
    %x = input "x" : i32[3]
    %a = cast(%x) dtype=i32 : i32[3]
    output %a)",
              R"(
    %x = input "x" : i32[3]
    output %x)");
}

// cast(cast(x, w), t) → cast(x, t) when x → w is exact; not through a float
// to a narrower integer (a float saturates where an integer wraps), nor
// through a narrower type (f64 → f32 → f64 rounds).
TEST(CanonShape, CastChains) {
  check_canon("cast_cast", R"(
    %x = input "x" : f32[3]
    %a = cast(%x) dtype=f64 : f64[3]
    %b = cast(%a) dtype=f16 : f16[3]
    %i = input "i" : i8[3]
    %c = cast(%i) dtype=i32 : i32[3]
    %d = cast(%c) dtype=i8 : i8[3]
    %j = input "j" : i16[3]
    %e = cast(%j) dtype=f32 : f32[3]
    %f = cast(%e) dtype=i8 : i8[3]
    %g = cast(%i) dtype=f32 : f32[3]
    %h = cast(%g) dtype=i32 : i32[3]
    %k = input "k" : f64[3]
    %l = cast(%k) dtype=f32 : f32[3]
    %m = cast(%l) dtype=f64 : f64[3]
    %bo = input "bo" : bool[3]
    %n = cast(%bo) dtype=f32 : f32[3]
    %o = cast(%n) dtype=i32 : i32[3]
    %u = input "u" : u8[3]
    %p = cast(%u) dtype=bf16 : bf16[3]
    %q = cast(%p) dtype=u8 : u8[3]
    output %b
    output %d
    output %f
    output %h
    output %m
    output %o
    output %q)",
              R"(
    %x = input "x" : f32[3]
    %i = input "i" : i8[3]
    %j = input "j" : i16[3]
    %k = input "k" : f64[3]
    %bo = input "bo" : bool[3]
    %u = input "u" : u8[3]
    %b = cast(%x) dtype=f16 : f16[3]
    %e = cast(%j) dtype=f32 : f32[3]
    %f = cast(%e) dtype=i8 : i8[3]
    %h = cast(%i) dtype=i32 : i32[3]
    %l = cast(%k) dtype=f32 : f32[3]
    %m = cast(%l) dtype=f64 : f64[3]
    %o = cast(%bo) dtype=i32 : i32[3]
    output %b
    output %i
    output %f
    output %h
    output %m
    output %o
    output %u)", canon_rules(), -300, 300);
}

// i16 → f32 → i8 saturates (300 → 127) where i16 → i8 wraps (300 → 44);
// u8 → i8 is not exact (200 → -56), i16 → f16 neither (2049 → 2048).
TEST(CanonShape, LossyChainsStay) {
  expect_unchanged(R"(
    %j = input "j" : i16[3]
    %e = cast(%j) dtype=f32 : f32[3]
    %f = cast(%e) dtype=i8 : i8[3]
    %u = input "u" : u8[3]
    %a = cast(%u) dtype=i8 : i8[3]
    %b = cast(%a) dtype=i16 : i16[3]
    %h = cast(%j) dtype=f16 : f16[3]
    %i = cast(%h) dtype=f32 : f32[3]
    output %f
    output %b
    output %i)");
}

TEST(CanonShape, BroadcastToTheSameShape) {
  check_canon("broadcast_to_same", R"(
    %x = input "x" : f64[2,3]
    %a = broadcast_to(%x) shape=[2, 3] : f64[2,3]
    output %a)",
              R"(
    %x = input "x" : f64[2,3]
    output %x)");
  // an unknown dim is checked against the static one at run time: kept
  expect_unchanged(R"(
    %x = input "x" : f64[?,3]
    %a = broadcast_to(%x) shape=[2, 3] : f64[2,3]
    output %a)");
}

TEST(CanonShape, BroadcastLikeThatStretchesNothing) {
  check_canon("broadcast_like_same", R"(
    %x = input "x" : f64[?,3]
    %r = input "r" : f32[?,3]
    %a = broadcast_like(%x, %r) : f64[?,3]
    output %a)",
              R"(
    %x = input "x" : f64[?,3]
    output %x)");
  expect_unchanged(R"(
    %x = input "x" : f64[1]
    %r = input "r" : f64[?]
    %a = broadcast_like(%x, %r) : f64[?]
    output %a)");
}

TEST(CanonShape, SliceOfTheWhole) {
  check_canon("slice_whole", R"(
    %x = input "x" : f64[?,5]
    %a = slice(%x) slices=[0:, -5:100] : f64[?,5]
    output %a)",
              R"(
    %x = input "x" : f64[?,5]
    output %x)");
  expect_unchanged(R"(
    %x = input "x" : f64[?,5]
    %a = slice(%x) slices=[:, ::-1] : f64[?,5]
    %b = slice(%x) slices=[:5, :] : f64[?,5]
    output %a
    output %b)");
}

TEST(CanonShape, EmptyAxesLists) {
  check_canon("expand_dims_none", R"(
    %x = input "x" : f64[2]
    %a = expand_dims(%x) axes=[] : f64[2]
    output %a)",
              R"(
    %x = input "x" : f64[2]
    output %x)");
  check_canon("squeeze_none", R"(
    %x = input "x" : f64[2]
    %a = squeeze(%x) axes=[] : f64[2]
    output %a)",
              R"(
    %x = input "x" : f64[2]
    output %x)");
}

TEST(CanonShape, SqueezeOfExpandDims) {
  check_canon("squeeze_expand_dims", R"(
    %x = input "x" : f64[?,2]
    %a = expand_dims(%x) axes=[0, 2] : f64[1,?,1,2]
    %b = squeeze(%a) axes=[0, 2] : f64[?,2]
    output %b)",
              R"(
    %x = input "x" : f64[?,2]
    output %x)");
}

// Only when the squeezed dims are statically 1: squeeze checks a run-time 1.
TEST(CanonShape, ExpandDimsOfSqueeze) {
  check_canon("expand_dims_squeeze", R"(
    %x = input "x" : f64[1,?]
    %a = squeeze(%x) axes=[0] : f64[?]
    %b = expand_dims(%a) axes=[0] : f64[1,?]
    output %b)",
              R"(
    %x = input "x" : f64[1,?]
    output %x)");
  expect_unchanged(R"(
    %x = input "x" : f64[?,2]
    %a = squeeze(%x) axes=[0] : f64[2]
    %b = expand_dims(%a) axes=[0] : f64[1,2]
    output %b)");
}

// Only the shape of a *_like ref matters: an elementwise ref is as good as
// its operand of the same dims (which may let the ref's op go).
TEST(CanonShape, LikeRefsLookThroughElementwiseOps) {
  check_canon("like_ref_elementwise", R"(
    %x = input "x" : f64[?]
    %y = input "y" : f64[?]
    %s = add(%x, %y) : f64[?]
    %z = fill_like(%s) value=0.0 dtype=f32 : f32[?]
    %v = input "v" : f64[1]
    %e = exp(%s) : f64[?]
    %b = broadcast_like(%v, %e) : f64[?]
    %u = input "u" : f64[?,?]
    %w = input "w" : f64[?,?]
    %c = neg(%w) : f64[?,?]
    %r = reshape_like(%u, %c) : f64[?,?]
    output %z
    output %b
    output %r)",
              R"(
    %x = input "x" : f64[?]
    %y = input "y" : f64[?]
    %z = fill_like(%x) value=0.0 dtype=f32 : f32[?]
    %v = input "v" : f64[1]
    %b = broadcast_like(%v, %x) : f64[?]
    %u = input "u" : f64[?,?]
    %w = input "w" : f64[?,?]
    %r = reshape_like(%u, %w) : f64[?,?]
    output %z
    output %b
    output %r)");
  // x[1] stretches in add(x, y): y's shape is the sum's
  check_canon("like_ref_elementwise", R"(
    %x = input "x" : f64[1]
    %y = input "y" : f64[?]
    %s = add(%x, %y) : f64[?]
    %z = fill_like(%s) value=0.0 dtype=f64 : f64[?]
    output %z)",
              R"(
    %x = input "x" : f64[1]
    %y = input "y" : f64[?]
    %z = fill_like(%y) value=0.0 dtype=f64 : f64[?]
    output %z)");
}

// ---- lifting ----

// Transposes move toward the leaves, where they meet and cancel.
TEST(CanonLift, TransposeThroughElementwise) {
  check_canon("lift_transpose", R"(
    %x = input "x" : f64[3,2]
    %y = input "y" : f64[2,3]
    %t = transpose(%x) perm=[1, 0] : f64[2,3]
    %a = add(%t, %y) : f64[2,3]
    %b = transpose(%a) perm=[1, 0] : f64[3,2]
    %c2 = constant 2 : f64[]
    %m = mul(%y, %c2) : f64[2,3]
    %e = exp(%m) : f64[2,3]
    %mt = transpose(%e) perm=[1, 0] : f64[3,2]
    output %b
    output %mt)",
              R"(
    %x = input "x" : f64[3,2]
    %y = input "y" : f64[2,3]
    %yt = transpose(%y) perm=[1, 0] : f64[3,2]
    %b = add(%x, %yt) : f64[3,2]
    %c2 = constant 2 : f64[]
    %m = mul(%yt, %c2) : f64[3,2]
    %mt = exp(%m) : f64[3,2]
    output %b
    output %mt)");
}

// An operand of lower rank would need its own dims permuted: not lifted.
TEST(CanonLift, TransposeStopsAtABroadcastOperand) {
  expect_unchanged(R"(
    %y = input "y" : f64[2,3]
    %v = input "v" : f64[3]
    %a = add(%v, %y) : f64[2,3]
    %t = transpose(%a) perm=[1, 0] : f64[3,2]
    output %t)");
}

TEST(CanonLift, TransposeThroughWhereAndCast) {
  check_canon("lift_transpose", R"(
    %c = input "c" : bool[2,3]
    %y = input "y" : f32[2,3]
    %z = input "z" : f32[]
    %w = where(%c, %y, %z) : f32[2,3]
    %d = cast(%w) dtype=f64 : f64[2,3]
    %t = transpose(%d) perm=[1, 0] : f64[3,2]
    output %t)",
              R"(
    %c = input "c" : bool[2,3]
    %y = input "y" : f32[2,3]
    %z = input "z" : f32[]
    %ct = transpose(%c) perm=[1, 0] : bool[3,2]
    %yt = transpose(%y) perm=[1, 0] : f32[3,2]
    %w = where(%ct, %yt, %z) : f32[3,2]
    %t = cast(%w) dtype=f64 : f64[3,2]
    output %t)");
}

TEST(CanonLift, SliceThroughElementwise) {
  check_canon("lift_slice", R"(
    %x = input "x" : f64[4]
    %y = input "y" : f64[4]
    %a = add(%x, %y) : f64[4]
    %e = exp(%a) : f64[4]
    %s = slice(%e) slices=[1:3] : f64[2]
    output %s)",
              R"(
    %x = input "x" : f64[4]
    %y = input "y" : f64[4]
    %xs = slice(%x) slices=[1:3] : f64[2]
    %ys = slice(%y) slices=[1:3] : f64[2]
    %a = add(%xs, %ys) : f64[2]
    %s = exp(%a) : f64[2]
    output %s)");
  // w broadcasts: slicing it too would be wrong
  expect_unchanged(R"(
    %x = input "x" : f64[4]
    %w = input "w" : f64[1]
    %a = add(%w, %x) : f64[4]
    %s = slice(%a) slices=[1:3] : f64[2]
    output %s)");
}

TEST(CanonLift, SliceOfMatmul) {
  check_canon("slice_matmul", R"(
    %a = input "a" : f64[4,3]
    %b = input "b" : f64[3,5]
    %m = matmul(%a, %b) : f64[4,5]
    %r = slice(%m) slices=[1:3, :] : f64[2,5]
    %c = slice(%m) slices=[:, ::2] : f64[4,3]
    %d = slice(%m) slices=[::-1, 1:2] : f64[4,1]
    output %r
    output %c
    output %d)",
              R"(
    %a = input "a" : f64[4,3]
    %b = input "b" : f64[3,5]
    %as = slice(%a) slices=[1:3, :] : f64[2,3]
    %r = matmul(%as, %b) : f64[2,5]
    %bs = slice(%b) slices=[:, ::2] : f64[3,3]
    %c = matmul(%a, %bs) : f64[4,3]
    %ar = slice(%a) slices=[::-1, :] : f64[4,3]
    %bc = slice(%b) slices=[:, 1:2] : f64[3,1]
    %d = matmul(%ar, %bc) : f64[4,1]
    output %r
    output %c
    output %d)");
}

// ---- inc_* into zeros ----

TEST(CanonIncrement, IncSliceIntoZerosIsASet) {
  check_canon("inc_slice_zeros", R"(
    %y = input "y" : f64[2,1]
    %z = fill shape=[4, 3] value=0.0 dtype=f64 : f64[4,3]
    %i = inc_slice(%z, %y) slices=[1:3, 2:] : f64[4,3]
    output %i)",
              R"(
    %y = input "y" : f64[2,1]
    %z = fill shape=[4, 3] value=0.0 dtype=f64 : f64[4,3]
    %i = set_slice(%z, %y) slices=[1:3, 2:] : f64[4,3]
    output %i)");
}

// Distinct constant indices only: with a repeated index inc_take adds up
// where set_take keeps the last value (-3 is 1 in an axis of 4).
TEST(CanonIncrement, IncTakeIntoZerosWithDistinctIndicesIsASet) {
  check_canon("inc_take_zeros", R"(
    %y = input "y" : f64[2]
    %f = fill shape=[4] value=0.0 dtype=f64 : f64[4]
    %k = constant [3, -3] : i64[2]
    %i = inc_take(%f, %y, %k) axis=0 : f64[4]
    output %i)",
              R"(
    %y = input "y" : f64[2]
    %f = fill shape=[4] value=0.0 dtype=f64 : f64[4]
    %k = constant [3, -3] : i64[2]
    %i = set_take(%f, %y, %k) axis=0 : f64[4]
    output %i)");
  expect_unchanged(R"(
    %y = input "y" : f64[2]
    %f = fill shape=[4] value=0.0 dtype=f64 : f64[4]
    %k = constant [1, -3] : i64[2]
    %i = inc_take(%f, %y, %k) axis=0 : f64[4]
    %j = input "j" : i64[2]
    %t = inc_take(%f, %y, %j) axis=0 : f64[4]
    output %i
    output %t)");
}

}  // namespace
