// Every user mistake of the foundation gives a kiln::Error (never a
// kiln::InternalError, never a crash) whose message names the op, the
// shapes/dtypes involved and the file:line of the user's expression.
//
// The expected line is taken with __LINE__ on the same line as the offending
// expression, so keep each such lambda on one line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include <kiln/kiln.hpp>

#include "kiln_test_util.hpp"

namespace {

using namespace kiln;
using kiln_test::error_of;
using ::testing::HasSubstr;
using ::testing::Not;


// "…/errors_test.cpp:123" as the messages spell it.
std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

// The common shape of every message: "<file>:<line>: error: <op>: ...".
void expect_points_at(const std::string& m, int line, const std::string& op) {
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: " + op + ":")) << "message: " << m;
  EXPECT_THAT(m, Not(HasSubstr("internal error")));
}

// ---- elementwise ----

TEST(Errors, BinaryShapeMismatchNamesOpTypesAndLine) {
  Tensor a = tensor("a", f32, {3, 4});
  Tensor b = tensor("b", f32, {5});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; Tensor c = a + b; });
  expect_points_at(m, line, "add");
  EXPECT_THAT(m, HasSubstr("f32[3,4]"));
  EXPECT_THAT(m, HasSubstr("f32[5]"));
  EXPECT_THAT(m, HasSubstr("cannot broadcast"));
}

TEST(Errors, BinaryShapeMismatchThroughFunctionFormsAndCompoundAssignment) {
  Tensor a = tensor("a", f64, {2});
  Tensor b = tensor("b", f64, {3});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; mul(a, b); });
  expect_points_at(m, line, "mul");
  EXPECT_THAT(m, HasSubstr("f64[2]"));
  EXPECT_THAT(m, HasSubstr("f64[3]"));
  m = error_of([&] { line = __LINE__; Tensor c = a; c -= b; });
  expect_points_at(m, line, "sub");
  m = error_of([&] { line = __LINE__; maximum(a, b); });
  expect_points_at(m, line, "maximum");
  m = error_of([&] { line = __LINE__; where(a > 0, a, b); });
  expect_points_at(m, line, "where");
}

TEST(Errors, StaticBroadcastOfDifferentDtypesShowsPromotedTypes) {
  Tensor a = tensor("a", i32, {3});
  Tensor b = tensor("b", f32, {4});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; a* b; });
  expect_points_at(m, line, "mul");
  EXPECT_THAT(m, HasSubstr("[3]"));
  EXPECT_THAT(m, HasSubstr("[4]"));
}

TEST(Errors, BitwiseOpsOnFloats) {
  Tensor x = vector("x", f32);
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; x& x; });
  expect_points_at(m, line, "bitwise_and");
  EXPECT_THAT(m, HasSubstr("f32"));
  m = error_of([&] { line = __LINE__; x | 1; });
  expect_points_at(m, line, "bitwise_or");
  m = error_of([&] { line = __LINE__; ~x; });
  expect_points_at(m, line, "bitwise_not");
  EXPECT_THAT(m, HasSubstr("f32[?]"));
  m = error_of([&] { line = __LINE__; x << 2; });
  expect_points_at(m, line, "left_shift");
  // An integer tensor with a float scalar is a float operation too.
  Tensor i = vector("i", i32);
  m = error_of([&] { line = __LINE__; i ^ 1.5; });
  expect_points_at(m, line, "bitwise_xor");
  EXPECT_THAT(m, HasSubstr("f64"));
}

TEST(Errors, NegOfBool) {
  Tensor b = vector("b", boolean);
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; -b; });
  expect_points_at(m, line, "neg");
  EXPECT_THAT(m, HasSubstr("bool[?]"));
  m = error_of([&] { line = __LINE__; neg(b); });
  expect_points_at(m, line, "neg");
  m = error_of([&] { line = __LINE__; b - b; });
  expect_points_at(m, line, "sub");
  EXPECT_THAT(m, HasSubstr("bool"));
}

TEST(Errors, WeakIntScalarThatDoesNotFit) {
  Tensor u = vector("u", u8);
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; u + 300; });
  expect_points_at(m, line, "add");
  EXPECT_THAT(m, HasSubstr("300"));
  EXPECT_THAT(m, HasSubstr("u8"));
  m = error_of([&] { line = __LINE__; u* -1; });
  expect_points_at(m, line, "mul");
  EXPECT_THAT(m, HasSubstr("-1"));
  Tensor s = vector("s", i8);
  m = error_of([&] { line = __LINE__; s - 128; });  // -128 fits, 128 does not
  EXPECT_THAT(m, HasSubstr("128"));
  expect_points_at(m, line, "sub");
  EXPECT_NO_THROW(s - (-128));
  EXPECT_NO_THROW(u + 255);
}

// ---- reductions and shapes ----

TEST(Errors, BadAxisInSum) {
  Tensor x = matrix("x");
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; sum(x, 2); });
  expect_points_at(m, line, "sum");
  EXPECT_THAT(m, HasSubstr("axis 2"));
  EXPECT_THAT(m, HasSubstr("f64[?,?]"));
  m = error_of([&] { line = __LINE__; mean(x, -3); });
  expect_points_at(m, line, "mean");
  EXPECT_THAT(m, HasSubstr("axis -3"));
  m = error_of([&] { line = __LINE__; max(x, {0, -2}); });
  expect_points_at(m, line, "max");
  EXPECT_THAT(m, HasSubstr("repeated axis"));
  m = error_of([&] { line = __LINE__; softmax(x, 5); });
  expect_points_at(m, line, "softmax");
  m = error_of([&] { line = __LINE__; var(x, 3); });
  expect_points_at(m, line, "var");
}

TEST(Errors, BadAxisInTranspose) {
  Tensor x = matrix("x");
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; transpose(x, {0, 2}); });
  expect_points_at(m, line, "transpose");
  EXPECT_THAT(m, HasSubstr("[0, 2]"));
  EXPECT_THAT(m, HasSubstr("f64[?,?]"));
  m = error_of([&] { line = __LINE__; transpose(x, {0, 0}); });
  expect_points_at(m, line, "transpose");
  m = error_of([&] { line = __LINE__; transpose(x, {1, 0, 2}); });
  expect_points_at(m, line, "transpose");
}

TEST(Errors, BadAxisInExpandDims) {
  Tensor x = matrix("x");
  int line = 0;
  // The result has rank 3: axes -3..2 are valid.
  std::string m = error_of([&] { line = __LINE__; expand_dims(x, 3); });
  expect_points_at(m, line, "expand_dims");
  EXPECT_THAT(m, HasSubstr("axis 3"));
  EXPECT_THAT(m, HasSubstr("f64[?,?]"));
  EXPECT_NO_THROW(expand_dims(x, -3));
  EXPECT_NO_THROW(expand_dims(x, 2));
}

TEST(Errors, BadAxisInConcatenate) {
  Tensor x = matrix("x"), y = matrix("y");
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; concatenate({x, y}, 2); });
  expect_points_at(m, line, "concatenate");
  EXPECT_THAT(m, HasSubstr("axis 2"));
  Tensor v = vector("v");
  m = error_of([&] { line = __LINE__; concatenate({x, v}, 0); });
  expect_points_at(m, line, "concatenate");
  EXPECT_THAT(m, HasSubstr("f64[?]"));
  Tensor a = tensor("a", f64, {2, 3}), b = tensor("b", f64, {2, 4});
  m = error_of([&] { line = __LINE__; concatenate({a, b}, 0); });
  expect_points_at(m, line, "concatenate");
  EXPECT_THAT(m, HasSubstr("f64[2,3]"));
  EXPECT_THAT(m, HasSubstr("f64[2,4]"));
  m = error_of([&] { line = __LINE__; concatenate({}, 0); });
  expect_points_at(m, line, "concatenate");
  m = error_of([&] { line = __LINE__; stack({x, v}); });
  expect_points_at(m, line, "stack");
}

TEST(Errors, ReshapeToAnImpossibleSize) {
  Tensor x = tensor("x", f64, {2, 3});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; reshape(x, {4}); });
  expect_points_at(m, line, "reshape");
  EXPECT_THAT(m, HasSubstr("f64[2,3]"));
  EXPECT_THAT(m, HasSubstr("[4]"));
  m = error_of([&] { line = __LINE__; x.reshape({-1, 4}); });
  expect_points_at(m, line, "reshape");
  m = error_of([&] { line = __LINE__; x.reshape({-1, -1}); });
  expect_points_at(m, line, "reshape");
  EXPECT_THAT(m, HasSubstr("-1"));
  m = error_of([&] { line = __LINE__; x.reshape({3, -2}); });
  expect_points_at(m, line, "reshape");
}

TEST(Errors, MatmulContractedDimMismatch) {
  Tensor a = tensor("a", f64, {2, 3});
  Tensor b = tensor("b", f64, {4, 5});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; matmul(a, b); });
  expect_points_at(m, line, "matmul");
  EXPECT_THAT(m, HasSubstr("f64[2,3]"));
  EXPECT_THAT(m, HasSubstr("f64[4,5]"));
  EXPECT_THAT(m, HasSubstr("3 vs 4"));
  m = error_of([&] { line = __LINE__; a.matmul(b); });
  expect_points_at(m, line, "matmul");
  Tensor u = tensor("u", f64, {3}), w = tensor("w", f64, {4});
  m = error_of([&] { line = __LINE__; matmul(u, w); });
  expect_points_at(m, line, "matmul");
  EXPECT_THAT(m, HasSubstr("3 vs 4"));
  m = error_of([&] { line = __LINE__; dot(a, b); });
  expect_points_at(m, line, "matmul");
  m = error_of([&] { line = __LINE__; tensordot(a, b, 1); });
  expect_points_at(m, line, "tensordot");
  EXPECT_THAT(m, HasSubstr("f64[2,3]"));
  EXPECT_THAT(m, HasSubstr("f64[4,5]"));
  Tensor s = scalar("s");
  m = error_of([&] { line = __LINE__; matmul(s, a); });
  expect_points_at(m, line, "matmul");
}

TEST(Errors, BoolMatmul) {
  Tensor a = matrix("a", boolean), b = matrix("b", boolean);
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; matmul(a, b); });
  expect_points_at(m, line, "matmul");
  EXPECT_THAT(m, HasSubstr("bool[?,?]"));
  m = error_of([&] { line = __LINE__; dot(a, b); });
  expect_points_at(m, line, "matmul");
  m = error_of([&] { line = __LINE__; outer(a, b); });
  expect_points_at(m, line, "outer");
}

TEST(Errors, SqueezeOfANonOneDim) {
  Tensor x = tensor("x", f64, {3, 1});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; squeeze(x, 0); });
  expect_points_at(m, line, "squeeze");
  EXPECT_THAT(m, HasSubstr("axis 0"));
  EXPECT_THAT(m, HasSubstr("size 3"));
  EXPECT_THAT(m, HasSubstr("f64[3,1]"));
  m = error_of([&] { line = __LINE__; squeeze(x, 2); });
  expect_points_at(m, line, "squeeze");
  EXPECT_EQ(squeeze(x).shape(), (std::vector<std::int64_t>{3}));
}

TEST(Errors, BroadcastToAnIncompatibleShape) {
  Tensor x = tensor("x", f64, {3});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; broadcast_to(x, {2, 4}); });
  expect_points_at(m, line, "broadcast_to");
  EXPECT_THAT(m, HasSubstr("f64[3]"));
  EXPECT_THAT(m, HasSubstr("[2, 4]"));
  Tensor y = tensor("y", f64, {2, 3});
  m = error_of([&] { line = __LINE__; broadcast_to(y, {3}); });
  expect_points_at(m, line, "broadcast_to");
  EXPECT_THAT(m, HasSubstr("lower-rank"));
}

TEST(Errors, SetSubtensorOnANonIndexingExpression) {
  Tensor x = vector("x");
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; set_subtensor(x + 1, 0.0); });
  expect_points_at(m, line, "set_subtensor");
  EXPECT_THAT(m, HasSubstr("indexing expression"));
  EXPECT_THAT(m, HasSubstr("add"));
  m = error_of([&] { line = __LINE__; inc_subtensor(x, 1.0); });
  expect_points_at(m, line, "inc_subtensor");
  EXPECT_THAT(m, HasSubstr("input"));
}

TEST(Errors, SetSubtensorValueThatDoesNotBroadcast) {
  Tensor x = tensor("x", f64, {4, 3});
  Tensor y = tensor("y", f64, {2});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; set_subtensor(x[{Slice{0, 2}}], y); });
  EXPECT_THAT(m, HasSubstr(here(line)));
  EXPECT_THAT(m, HasSubstr("f64[2]"));
  EXPECT_THAT(m, HasSubstr("f64[4,3]"));
}

TEST(Errors, TakeWithFloatIndices) {
  Tensor x = vector("x");
  Tensor fi = vector("fi", f64);
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; take(x, fi); });
  expect_points_at(m, line, "take");
  EXPECT_THAT(m, HasSubstr("integer"));
  EXPECT_THAT(m, HasSubstr("f64[?]"));
  m = error_of([&] { line = __LINE__; x[fi]; });
  expect_points_at(m, line, "index");
  EXPECT_THAT(m, HasSubstr("integer"));
  Tensor b = vector("b", boolean);
  m = error_of([&] { line = __LINE__; take(x, b); });
  expect_points_at(m, line, "take");
  EXPECT_THAT(m, HasSubstr("bool[?]"));
  Tensor i = vector("i", i64);
  m = error_of([&] { line = __LINE__; take(x, i, 1); });
  expect_points_at(m, line, "take");
  EXPECT_THAT(m, HasSubstr("axis 1"));
}

TEST(Errors, IndexingMistakes) {
  Tensor x = tensor("x", f64, {3, 4});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; x[3]; });
  expect_points_at(m, line, "index");
  EXPECT_THAT(m, HasSubstr("index 3"));
  EXPECT_THAT(m, HasSubstr("f64[3,4]"));
  m = error_of([&] { line = __LINE__; x[{0, -5}]; });
  expect_points_at(m, line, "index");
  m = error_of([&] { line = __LINE__; x[{0, 1, 2}]; });
  expect_points_at(m, line, "index");
  EXPECT_THAT(m, HasSubstr("too many indices"));
  m = error_of([&] { line = __LINE__; x[{Slice{}, Slice{0, 4, 0}}]; });
  expect_points_at(m, line, "slice");
  EXPECT_THAT(m, HasSubstr("step"));
  Tensor i = vector("i", i64), j = vector("j", i64);
  m = error_of([&] { line = __LINE__; x[{i, j}]; });
  expect_points_at(m, line, "index");
  EXPECT_THAT(m, HasSubstr("one index array"));
}

TEST(Errors, SplitMistakes) {
  Tensor x = tensor("x", f64, {5});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; split(x, 2); });
  expect_points_at(m, line, "split");
  EXPECT_THAT(m, HasSubstr("f64[5]"));
  Tensor v = vector("v");
  m = error_of([&] { line = __LINE__; split(v, 2); });
  expect_points_at(m, line, "split");
  EXPECT_THAT(m, HasSubstr("static"));
}

TEST(Errors, InputAndConstantMistakes) {
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; tensor("t", f64, {2, -3}); });
  expect_points_at(m, line, "input");
  EXPECT_THAT(m, HasSubstr("'t'"));
  m = error_of([&] { line = __LINE__; zeros({2, -1}); });
  expect_points_at(m, line, "fill");
  m = error_of([&] { line = __LINE__; arange(0, 10, 0); });
  expect_points_at(m, line, "arange");
  m = error_of([&] { line = __LINE__; constant(Array()); });
  expect_points_at(m, line, "constant");
  m = error_of([&] { line = __LINE__; shared(Array()); });
  expect_points_at(m, line, "shared");
}

// ---- an empty Tensor handle ----

TEST(Errors, EmptyTensorHandleUsedInAnOp) {
  Tensor t;
  Tensor x = vector("x");
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; t + x; });
  expect_points_at(m, line, "add");
  EXPECT_THAT(m, HasSubstr("empty Tensor"));
  m = error_of([&] { line = __LINE__; x* t; });
  expect_points_at(m, line, "mul");
  m = error_of([&] { line = __LINE__; exp(t); });
  expect_points_at(m, line, "exp");
  m = error_of([&] { line = __LINE__; -t; });
  expect_points_at(m, line, "neg");
  m = error_of([&] { line = __LINE__; sum(t); });
  expect_points_at(m, line, "sum");
  m = error_of([&] { line = __LINE__; matmul(x, t); });
  expect_points_at(m, line, "matmul");
  m = error_of([&] { line = __LINE__; reshape(t, {1}); });
  expect_points_at(m, line, "reshape");
  m = error_of([&] { line = __LINE__; concatenate({x, t}); });
  expect_points_at(m, line, "concatenate");
  m = error_of([&] { line = __LINE__; t[0]; });
  expect_points_at(m, line, "index");
  m = error_of([&] { line = __LINE__; function({x}, {t}); });
  expect_points_at(m, line, "function");
  // Its accessors too.
  m = error_of([&] { t.shape(); });
  EXPECT_THAT(m, HasSubstr("empty"));
  m = error_of([&] { t.dtype(); });
  EXPECT_THAT(m, HasSubstr("empty"));
  EXPECT_TRUE(t.is_null());
  EXPECT_FALSE(t.is_shared());
  EXPECT_FALSE(t.is_input());
  EXPECT_EQ(t.name(), "");
}

// ---- errors found at run time ----

TEST(Errors, RuntimeBroadcastMismatchOfUnknownDims) {
  Tensor x = vector("x"), y = vector("y");
  int line = __LINE__; Tensor s = x + y;
  Function f = function({x, y}, {s});
  std::string m = error_of([&] { f(Array::from({1., 2., 3.}), Array::from({1., 2., 3., 4.})); });
  expect_points_at(m, line, "add");
  EXPECT_THAT(m, HasSubstr("[3]"));
  EXPECT_THAT(m, HasSubstr("[4]"));
  EXPECT_THAT(m, HasSubstr("broadcast"));
}

TEST(Errors, RuntimeUnknownDimOfSizeOneDoesNotBroadcast) {
  // Theano's rule: a dim of unknown size is never stretched, even when it is
  // 1 at run time; only a dim statically 1 broadcasts.
  Tensor x = vector("x"), y = vector("y");
  int line = __LINE__; Tensor s = x * y;
  Function f = function({x, y}, {s});
  std::string m = error_of([&] { f(Array::from({1.}), Array::from({1., 2., 3., 4.})); });
  expect_points_at(m, line, "mul");
  EXPECT_THAT(m, HasSubstr("[1]"));
  EXPECT_THAT(m, HasSubstr("[4]"));
  Tensor one = tensor("one", f64, {1});
  Function g = function({one, y}, {one * y});
  std::vector<Array> out = g(Array::from({2.}), Array::from({1., 2., 3.}));
  EXPECT_EQ(out[0].to_doubles(), (std::vector<double>{2, 4, 6}));
}

TEST(Errors, RuntimeTakeIndexOutOfRange) {
  Tensor x = vector("x");
  Tensor i = vector("i", i64);
  int line = __LINE__; Tensor t = take(x, i);
  Function f = function({x, i}, {t});
  std::string m = error_of([&] { f(Array::from({1., 2., 3.}), Array::from({0, 5}).astype(i64)); });
  expect_points_at(m, line, "take");
  EXPECT_THAT(m, HasSubstr("5"));
  EXPECT_THAT(m, HasSubstr("3"));
  m = error_of([&] { f(Array::from({1., 2., 3.}), Array::from({-4}).astype(i64)); });
  expect_points_at(m, line, "take");
  EXPECT_THAT(m, HasSubstr("-4"));
  // -3 wraps to 0 (NumPy).
  EXPECT_EQ(f(Array::from({1., 2., 3.}), Array::from({-3, 2}).astype(i64))[0].to_doubles(),
            (std::vector<double>{1, 3}));
}

TEST(Errors, RuntimeIntIndexOutOfRange) {
  Tensor x = vector("x");
  int line = __LINE__; Tensor t = x[4];
  Function f = function({x}, {t});
  std::string m = error_of([&] { f(Array::from({1., 2., 3.})); });
  // x[4] is built as a slice and a squeeze; the message points at the line
  // (it names the squeeze, not the index: see docs/errors.md).
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: "));
  EXPECT_EQ(f(Array::from({1., 2., 3., 4., 5.}))[0].item(), 5.0);
}

TEST(Errors, RuntimeReshapeMinusOneImpossible) {
  Tensor x = vector("x");
  int line = __LINE__; Tensor r = reshape(x, {-1, 2});
  Function f = function({x}, {r});
  std::string m = error_of([&] { f(Array::from({1., 2., 3., 4., 5.})); });
  expect_points_at(m, line, "reshape");
  EXPECT_THAT(m, HasSubstr("[5]"));
  EXPECT_THAT(m, HasSubstr("[-1, 2]"));
  EXPECT_EQ(f(Array::from({1., 2., 3., 4.}))[0].shape(), (Shape{2, 2}));
}

TEST(Errors, RuntimeMaxOfAnEmptyArray) {
  Tensor x = vector("x");
  int line = __LINE__; Tensor mx = max(x);
  Function f = function({x}, {mx});
  std::string m = error_of([&] { f(Array::zeros({0}, f64)); });
  expect_points_at(m, line, "max");
  EXPECT_THAT(m, HasSubstr("[0]"));
  EXPECT_THAT(m, HasSubstr("zero-size"));
  Function g = function({x}, {argmin(x)});
  m = error_of([&] { g(Array::zeros({0}, f64)); });
  EXPECT_THAT(m, HasSubstr("argmin"));
  // sum of nothing is fine: 0.
  Function h = function({x}, {sum(x)});
  EXPECT_EQ(h(Array::zeros({0}, f64))[0].item(), 0.0);
}

TEST(Errors, RuntimeMatmulContractedDimMismatch) {
  Tensor a = matrix("a"), b = matrix("b");
  int line = __LINE__; Tensor c = matmul(a, b);
  Function f = function({a, b}, {c});
  std::string m = error_of([&] { f(Array::zeros({2, 3}, f64), Array::zeros({4, 5}, f64)); });
  expect_points_at(m, line, "matmul");
  EXPECT_THAT(m, HasSubstr("[2, 3]"));
  EXPECT_THAT(m, HasSubstr("[4, 5]"));
}

}  // namespace
