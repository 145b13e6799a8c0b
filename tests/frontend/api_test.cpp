// The public API's behaviour: dtypes of operators and weak scalars, indexing,
// set/inc_subtensor, joining and splitting, contractions, composite
// reductions and shared variables. Values are checked by running the graphs
// (NumPy's results, computed by hand or with NumPy as noted).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <kiln/kiln.hpp>

#include "kiln_test_util.hpp"

#include "ir/graph.hpp"
#include "ir/node.hpp"

namespace {

using namespace kiln;
using kiln_test::error_of;
using kiln_test::expect_array;
using ::testing::HasSubstr;


// Evaluates expressions of the given inputs once.
std::vector<Array> run(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                       const std::vector<Array>& args) {
  return function(inputs, outputs)(args);
}
Array run1(const std::vector<Tensor>& inputs, const Tensor& output, const std::vector<Array>& args) {
  return run(inputs, {output}, args)[0];
}

Array iota(const Shape& shape, DType t = f64) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return Array::arange(0, static_cast<double>(n), 1, t).reshape(shape);
}

bool graph_has(const Tensor& t, ir::OpCode op) {
  for (const ir::Node* n : ir::topo_order({t.node()}))
    if (n->op() == op) return true;
  return false;
}

// ---- dtypes of operators and weak scalars (NEP 50) ----

TEST(Api, WeakScalarsKeepTheTensorDtype) {
  Tensor xf32 = vector("xf32", f32), xi32 = vector("xi32", i32), xu8 = vector("xu8", u8);
  Tensor xf16 = vector("xf16", f16), xi8 = vector("xi8", i8);
  EXPECT_EQ((xf32 * 2).dtype(), f32);
  EXPECT_EQ((2 * xf32).dtype(), f32);
  EXPECT_EQ((xf32 * 2.5).dtype(), f32);
  EXPECT_EQ((xf16 + 1.5).dtype(), f16);
  EXPECT_EQ((xi32 * 2.5).dtype(), f64);  // a float scalar with an integer tensor
  EXPECT_EQ((xi32 * 2).dtype(), i32);
  EXPECT_EQ((xu8 + 1).dtype(), u8);
  EXPECT_EQ((xi8 - 1).dtype(), i8);
  EXPECT_EQ((xu8 + true).dtype(), u8);
  Tensor b = vector("b", boolean);
  EXPECT_EQ((b + 1).dtype(), i64);  // an int scalar with a bool tensor
  EXPECT_EQ((b * 1.5).dtype(), f64);
}

TEST(Api, TwoTensorsPromote) {
  Tensor xf32 = vector("xf32", f32), xi32 = vector("xi32", i32), xu8 = vector("xu8", u8);
  Tensor xi8 = vector("xi8", i8), xf16 = vector("xf16", f16), xi64 = vector("xi64", i64);
  EXPECT_EQ((xi32 + xf32).dtype(), f64);
  EXPECT_EQ((xi8 + xu8).dtype(), i16);
  EXPECT_EQ((xu8 * xf16).dtype(), f16);
  EXPECT_EQ((xi64 + xi32).dtype(), i64);
  EXPECT_EQ((xi32 / xi32).dtype(), f64);  // true division
  EXPECT_EQ((xf32 / 2).dtype(), f32);
  EXPECT_EQ(exp(xi32).dtype(), f64);
  EXPECT_EQ(exp(xi8).dtype(), f16);
  EXPECT_EQ(sum(xi32).dtype(), i64);
  EXPECT_EQ(sum(xf32).dtype(), f32);
  EXPECT_EQ(mean(xi32).dtype(), f64);
}

TEST(Api, WeakScalarValues) {
  Tensor u = vector("u", u8);
  // u8 arithmetic wraps like NumPy: 255 + 1 = 0.
  expect_array(run1({u}, u + 1, {Array::from({0, 254, 255}).astype(u8)}), u8, {3}, {1, 255, 0});
  Tensor i = vector("i", i32);
  expect_array(run1({i}, i * 2.5, {Array::from({1, 2})}), f64, {2}, {2.5, 5});
  Tensor f = vector("f", f32);
  // 0.1 is rounded to f32 before the addition (weak scalar).
  Array r = run1({f}, f + 0.1, {Array::from({1.f})});
  EXPECT_EQ(r.dtype(), f32);
  EXPECT_EQ(r.data<float>()[0], 1.0f + 0.1f);
}

TEST(Api, BoolArithmeticIsLogical) {
  Tensor a = vector("a", boolean), b = vector("b", boolean);
  Tensor s = a + b, p = a * b;
  EXPECT_EQ(s.dtype(), boolean);
  EXPECT_EQ(p.dtype(), boolean);
  Array av = Array::from({true, true, false, false}), bv = Array::from({true, false, true, false});
  std::vector<Array> out = run({a, b}, {s, p, maximum(a, b), minimum(a, b)}, {av, bv});
  expect_array(out[0], boolean, {4}, {1, 1, 1, 0});  // or
  expect_array(out[1], boolean, {4}, {1, 0, 0, 0});  // and
  expect_array(out[2], boolean, {4}, {1, 1, 1, 0});
  expect_array(out[3], boolean, {4}, {1, 0, 0, 0});
}

TEST(Api, ComparisonsReturnBool) {
  Tensor x = vector("x", f32), y = vector("y", i32);
  for (const Tensor& c : {x < 2, x <= 2, x > y, x >= 1.5, x == y, x != 0}) EXPECT_EQ(c.dtype(), boolean);
  std::vector<Array> out =
      run({x, y}, {x < 2, x == y, x != y, x >= 2}, {Array::from({1.f, 2.f, 3.f}), Array::from({1, 3, 3})});
  expect_array(out[0], boolean, {3}, {1, 0, 0});
  expect_array(out[1], boolean, {3}, {1, 0, 1});
  expect_array(out[2], boolean, {3}, {0, 1, 0});
  expect_array(out[3], boolean, {3}, {0, 1, 1});
}

TEST(Api, LogicalAndBitwiseOperators) {
  Tensor a = vector("a", i32), b = vector("b", boolean);
  std::vector<Array> out = run({a, b}, {a & 6, a | 1, a ^ 3, ~a, a << 2, a >> 1, ~b, b & true},
                               {Array::from({5, 12, -1}), Array::from({true, false, true})});
  expect_array(out[0], i32, {3}, {4, 4, 6});
  expect_array(out[1], i32, {3}, {5, 13, -1});
  expect_array(out[2], i32, {3}, {6, 15, -4});
  expect_array(out[3], i32, {3}, {-6, -13, 0});
  expect_array(out[4], i32, {3}, {20, 48, -4});
  expect_array(out[5], i32, {3}, {2, 6, -1});
  expect_array(out[6], boolean, {3}, {0, 1, 0});
  expect_array(out[7], boolean, {3}, {1, 0, 1});
}

TEST(Api, DivisionAndModFollowPython) {
  Tensor a = vector("a", i32);
  std::vector<Array> out =
      run({a}, {a / 2, floor_div(a, 2), a % 3, a % -3}, {Array::from({7, -7, 6})});
  expect_array(out[0], f64, {3}, {3.5, -3.5, 3});
  expect_array(out[1], i32, {3}, {3, -4, 3});
  expect_array(out[2], i32, {3}, {1, 2, 0});
  expect_array(out[3], i32, {3}, {-2, -1, 0});
}

TEST(Api, CompoundAssignmentBuildsNewNodes) {
  Tensor x = vector("x");
  Tensor y = x;
  y += 1;
  y *= 3;
  y -= x;
  y /= 2;
  expect_array(run1({x}, y, {Array::from({1., 3.})}), f64, {2}, {2.5, 4.5});  // ((x+1)*3 - x)/2
  EXPECT_TRUE(x.is_input());  // x itself is untouched
}

// ---- indexing ----

TEST(Api, IntegerIndexDropsTheAxis) {
  Tensor m = matrix("m");
  Tensor r = m[2];
  EXPECT_EQ(r.ndim(), 1);
  Tensor e = m[{1, 2}];
  EXPECT_EQ(e.ndim(), 0);
  std::vector<Array> out = run({m}, {r, e, m[-1], m[{-1, -1}]}, {iota({3, 4})});
  expect_array(out[0], f64, {4}, {8, 9, 10, 11});
  expect_array(out[1], f64, {}, {6});
  expect_array(out[2], f64, {4}, {8, 9, 10, 11});
  expect_array(out[3], f64, {}, {11});
}

TEST(Api, IntAndSliceIndex) {
  Tensor m = matrix("m");
  Tensor r = m[{1, Slice{0, 3}}];
  EXPECT_EQ(r.ndim(), 1);
  expect_array(run1({m}, r, {iota({3, 4})}), f64, {3}, {4, 5, 6});
  Tensor s = tensor("s", f64, {3, 4});
  EXPECT_EQ((s[{1, Slice{0, 3}}].shape()), (std::vector<std::int64_t>{3}));
  EXPECT_EQ((s[{Slice{1}, Slice{{}, {}, 2}}].shape()), (std::vector<std::int64_t>{2, 2}));
}

TEST(Api, IndexArrayGathers) {
  Tensor m = matrix("m");
  Tensor idx = vector("idx", i64);
  Tensor g = m[{Slice{}, idx}];
  EXPECT_EQ(g.ndim(), 2);
  Array iv = Array::from({3, 0, 3}).astype(i64);
  expect_array(run1({m, idx}, g, {iota({3, 4}), iv}), f64, {3, 3}, {3, 0, 3, 7, 4, 7, 11, 8, 11});
  // Along axis 0, with a negative index, and a 2-d index array.
  Tensor rows = m[idx];
  expect_array(run1({m, idx}, rows, {iota({3, 4}), Array::from({-1, 0}).astype(i64)}), f64, {2, 4},
               {8, 9, 10, 11, 0, 1, 2, 3});
  Tensor idx2 = matrix("idx2", i32);
  Tensor v = vector("v");
  expect_array(run1({v, idx2}, v[idx2], {Array::from({10., 20., 30.}), Array::from({{2, 1}, {0, 2}})}), f64,
               {2, 2}, {30, 20, 10, 30});
  // An int index before the index array drops its axis first.
  Tensor t = tensor("t", f64, {2, 3, 4});
  Tensor ti = t[{1, Slice{}, idx}];
  EXPECT_EQ(ti.ndim(), 2);
  expect_array(run1({t, idx}, ti, {iota({2, 3, 4}), Array::from({0, 3}).astype(i64)}), f64, {3, 2},
               {12, 15, 16, 19, 20, 23});
}

TEST(Api, NegativeSteps) {
  Tensor m = matrix("m");
  std::vector<Array> out = run({m},
                               {m[{Slice{{}, {}, -1}}],            // rows reversed
                                m[{Slice{}, Slice{3, 0, -2}}],     // columns 3, 1
                                m[{Slice{-1, {}, -2}, Slice{{}, {}, -3}}],  // rows 2, 0; columns 3, 0
                                m[{Slice{0, 3, -1}}]},             // empty
                               {iota({3, 4})});
  expect_array(out[0], f64, {3, 4}, {8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3});
  expect_array(out[1], f64, {3, 2}, {3, 1, 7, 5, 11, 9});
  expect_array(out[2], f64, {2, 2}, {11, 8, 3, 0});
  expect_array(out[3], f64, {0, 4}, {});
  Tensor s = tensor("s", f64, {3, 4});
  EXPECT_EQ((s[{Slice{}, Slice{3, 0, -2}}].shape()), (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(flip(s, 1).shape(), (std::vector<std::int64_t>{3, 4}));
  expect_array(run1({m}, flip(m, 1), {iota({2, 3})}), f64, {2, 3}, {2, 1, 0, 5, 4, 3});
}

// ---- set_subtensor / inc_subtensor ----

TEST(Api, SetSubtensorThroughSlices) {
  Tensor m = matrix("m");
  std::vector<Array> out =
      run({m},
          {set_subtensor(m[{Slice{}, Slice{1, 3}}], 7.0),  // a block
           set_subtensor(m[1], -1.0),                        // an int index: a row
           set_subtensor(m[{2, 0}], 100.0),                  // one element
           inc_subtensor(m[{1, Slice{0, 3}}], constant(Array::from({1., 2., 3.}))),
           set_subtensor(m[{Slice{{}, {}, -1}, 0}], constant(Array::from({10., 20., 30.})))},
          {iota({3, 4})});
  expect_array(out[0], f64, {3, 4}, {0, 7, 7, 3, 4, 7, 7, 7, 8, 7, 7, 11});
  expect_array(out[1], f64, {3, 4}, {0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11});
  expect_array(out[2], f64, {3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 100, 9, 10, 11});
  expect_array(out[3], f64, {3, 4}, {0, 1, 2, 3, 5, 7, 9, 7, 8, 9, 10, 11});
  // Rows reversed: row 2 gets 10, row 1 gets 20, row 0 gets 30.
  expect_array(out[4], f64, {3, 4}, {30, 1, 2, 3, 20, 5, 6, 7, 10, 9, 10, 11});
}

TEST(Api, SetSubtensorIntIndexOfVector) {
  Tensor v = vector("v");
  Tensor i = scalar("i", f64);
  std::vector<Array> out = run({v, i}, {set_subtensor(v[2], i), inc_subtensor(v[-1], 5)},
                               {Array::from({1., 2., 3., 4.}), Array::scalar(9, f64)});
  expect_array(out[0], f64, {4}, {1, 2, 9, 4});
  expect_array(out[1], f64, {4}, {1, 2, 3, 9});
}

TEST(Api, IncSubtensorAccumulatesRepeatedIndices) {
  Tensor v = vector("v");
  Tensor idx = vector("idx", i64);
  Tensor inc = inc_subtensor(v[idx], 1.0);
  Tensor set = set_subtensor(v[idx], constant(Array::from({5., 6., 7., 8.})));
  std::vector<Array> out = run({v, idx}, {inc, set}, {Array::from({0., 0., 0.}), Array::from({0, 0, 2, 0}).astype(i64)});
  expect_array(out[0], f64, {3}, {3, 0, 1});
  // set_subtensor keeps the last value written to a repeated index.
  expect_array(out[1], f64, {3}, {8, 0, 7});
  // Along axis 1 of a matrix, through take().
  Tensor m = matrix("m");
  Tensor ci = vector("ci", i32);
  Tensor r = inc_subtensor(take(m, ci, 1), 1.0);
  expect_array(run1({m, ci}, r, {Array::zeros({2, 3}, f64), Array::from({1, 1, 2})}), f64, {2, 3},
               {0, 2, 1, 0, 2, 1});
  Tensor r2 = inc_subtensor(m[{Slice{}, ci}], constant(Array::from({{1., 10., 100.}})));
  expect_array(run1({m, ci}, r2, {Array::zeros({2, 3}, f64), Array::from({1, 1, 2})}), f64, {2, 3},
               {0, 11, 100, 0, 11, 100});
}

TEST(Api, SubtensorOfMixedBasicAndIndexArrayIndexing) {
  // One indexing expression mixing an int or a slice with an index array:
  // the result is the whole x with that part set (not the sliced part).
  Tensor t = tensor("t", f64, {2, 3, 4});
  Tensor idx = vector("idx", i64);
  Tensor r = set_subtensor(t[{1, Slice{}, idx}], -1.0);
  EXPECT_EQ(r.type_str(), "f64[2,3,4]");
  expect_array(run1({t, idx}, r, {iota({2, 3, 4}), Array::from({0, 3}).astype(i64)}), f64, {2, 3, 4},
               {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                -1, 13, 14, -1, -1, 17, 18, -1, -1, 21, 22, -1});
  // A slice then an index array, with repeated indices accumulating.
  Tensor m = matrix("m");
  Tensor inc = inc_subtensor(m[{Slice{1, 3}, idx}], 10.0);
  EXPECT_EQ(inc.ndim(), 2);
  expect_array(run1({m, idx}, inc, {iota({3, 4}), Array::from({0, 0, 2}).astype(i64)}), f64, {3, 4},
               {0, 1, 2, 3, 24, 5, 16, 7, 28, 9, 20, 11});
}

TEST(Api, SubtensorValueIsCastToTheTargetDtype) {
  Tensor v = vector("v", i32);
  Tensor r = set_subtensor(v[{Slice{0, 2}}], 7);
  EXPECT_EQ(r.dtype(), i32);
  expect_array(run1({v}, r, {Array::from({1, 2, 3})}), i32, {3}, {7, 7, 3});
}

// ---- joining and splitting ----

TEST(Api, SplitStackConcatenate) {
  Tensor v = tensor("v", f64, {6});
  std::vector<Tensor> parts = split(v, 3);
  ASSERT_EQ(parts.size(), 3u);
  for (auto& p : parts) EXPECT_EQ(p.shape(), (std::vector<std::int64_t>{2}));
  std::vector<Tensor> at = split(v, std::vector<std::int64_t>{1, 4}, 0);
  ASSERT_EQ(at.size(), 3u);
  std::vector<Array> out = run({v}, {parts[0], parts[2], at[0], at[1], at[2]}, {iota({6})});
  expect_array(out[0], f64, {2}, {0, 1});
  expect_array(out[1], f64, {2}, {4, 5});
  expect_array(out[2], f64, {1}, {0});
  expect_array(out[3], f64, {3}, {1, 2, 3});
  expect_array(out[4], f64, {2}, {4, 5});

  Tensor a = vector("a"), b = vector("b");
  Tensor s0 = stack({a, b}), s1 = stack({a, b}, 1), sm = stack({a, b}, -1);
  EXPECT_EQ(s0.ndim(), 2);
  out = run({a, b}, {s0, s1, sm, concatenate({a, b, a})}, {Array::from({1., 2.}), Array::from({3., 4.})});
  expect_array(out[0], f64, {2, 2}, {1, 2, 3, 4});
  expect_array(out[1], f64, {2, 2}, {1, 3, 2, 4});
  expect_array(out[2], f64, {2, 2}, {1, 3, 2, 4});
  expect_array(out[3], f64, {6}, {1, 2, 3, 4, 1, 2});

  Tensor m = tensor("m", f64, {2, 2}), n = tensor("n", i32, {2, 1});
  Tensor c = concatenate({m, n}, 1);  // dtypes promote
  EXPECT_EQ(c.dtype(), f64);
  EXPECT_EQ(c.shape(), (std::vector<std::int64_t>{2, 3}));
  expect_array(run1({m, n}, c, {iota({2, 2}), Array::from({{7}, {8}})}), f64, {2, 3}, {0, 1, 7, 2, 3, 8});
  // split along axis 1 of a matrix with unknown rows
  Tensor w = tensor("w", f64, {-1, 4});
  std::vector<Tensor> halves = split(w, 2, 1);
  expect_array(run1({w}, halves[1], {iota({2, 4})}), f64, {2, 2}, {2, 3, 6, 7});
}

// ---- contractions ----

TEST(Api, TensordotBlasShapedPathWithUnknownDims) {
  Tensor a = tensor("a", f64, {-1, 3}), b = tensor("b", f64, {3, -1});
  Tensor r = tensordot(a, b, 1);
  EXPECT_EQ(r.ndim(), 2);
  EXPECT_TRUE(graph_has(r, ir::OpCode::Matmul));
  // NumPy: np.tensordot(np.arange(6.).reshape(2,3), np.arange(12.).reshape(3,4), 1)
  expect_array(run1({a, b}, r, {iota({2, 3}), iota({3, 4})}), f64, {2, 4}, {20, 23, 26, 29, 56, 68, 80, 92});
  // All sizes unknown, contracting a's axis 0 with b's axis 1: still one matmul.
  Tensor p = matrix("p"), q = matrix("q");
  Tensor pq = tensordot(p, q, std::vector<std::int64_t>{0}, std::vector<std::int64_t>{1});
  EXPECT_TRUE(graph_has(pq, ir::OpCode::Matmul));
  // p = [[0,1],[2,3]] (2x2), q = [[0,1],[2,3],[4,5]] (3x2): r[i,j] = sum_k p[k,i] q[j,k]
  expect_array(run1({p, q}, pq, {iota({2, 2}), iota({3, 2})}), f64, {2, 3}, {2, 6, 10, 3, 11, 19});

  // Two contracted axes, one unknown free dim.
  Tensor c = tensor("c", f64, {-1, 2, 3}), d = tensor("d", f64, {2, 3, 4});
  Tensor r2 = tensordot(c, d, 2);
  EXPECT_EQ(r2.shape(), (std::vector<std::int64_t>{-1, 4}));
  EXPECT_TRUE(graph_has(r2, ir::OpCode::Matmul));
  // NumPy: np.tensordot(np.arange(12.).reshape(2,2,3), np.arange(24.).reshape(2,3,4), 2)
  expect_array(run1({c, d}, r2, {iota({2, 2, 3}), iota({2, 3, 4})}), f64, {2, 4},
               {220, 235, 250, 265, 580, 631, 682, 733});
}

TEST(Api, TensordotGeneralPathWithUnknownDims) {
  Tensor a = tensor("a", f64, {-1, -1, 3}), b = tensor("b", f64, {3, -1, -1});
  Tensor r = tensordot(a, b, 1);
  EXPECT_EQ(r.ndim(), 4);
  EXPECT_FALSE(graph_has(r, ir::OpCode::Matmul));
  // NumPy: np.tensordot(np.arange(12.).reshape(2,2,3), np.arange(12.).reshape(3,2,2), 1)
  expect_array(run1({a, b}, r, {iota({2, 2, 3}), iota({3, 2, 2})}), f64, {2, 2, 2, 2},
               {20, 23, 26, 29, 56, 68, 80, 92, 92, 113, 134, 155, 128, 158, 188, 218});
  // Explicit axes: contract a's axes 0 and 2 with b's axes 2 and 0.
  // NumPy: np.tensordot(np.arange(12.).reshape(2,2,3), np.arange(18.).reshape(3,3,2), ([0,2],[2,0]))
  Tensor c = tensor("c", f64, {-1, -1, 3}), d = tensor("d", f64, {3, -1, -1});
  Tensor cd = tensordot(c, d, std::vector<std::int64_t>{0, 2}, std::vector<std::int64_t>{2, 0});
  EXPECT_EQ(cd.ndim(), 2);
  expect_array(run1({c, d}, cd, {iota({2, 2, 3}), iota({3, 3, 2})}), f64, {2, 3}, {189, 237, 285, 306, 390, 474});
}

TEST(Api, DotOnNDims) {
  Tensor a = tensor("a", f64, {-1, 3, 4}), b = matrix("b");
  Tensor r = dot(a, b);
  EXPECT_EQ(r.ndim(), 3);
  // NumPy: np.dot(np.arange(24.).reshape(2,3,4), np.arange(20.).reshape(4,5))
  expect_array(run1({a, b}, r, {iota({2, 3, 4}), iota({4, 5})}), f64, {2, 3, 5},
               {70, 76, 82, 88, 94, 190, 212, 234, 256, 278, 310, 348, 386, 424, 462,
                430, 484, 538, 592, 646, 550, 620, 690, 760, 830, 670, 756, 842, 928, 1014});
  // A matrix with a 3-d tensor: a's last axis with b's second to last.
  Tensor m = matrix("m"), t = tensor("t", f64, {-1, 3, -1});
  Tensor mt = dot(m, t);
  EXPECT_EQ(mt.ndim(), 3);
  // NumPy: np.dot(np.arange(6.).reshape(2,3), np.arange(24.).reshape(4,3,2)), shape (2, 4, 2)
  expect_array(run1({m, t}, mt, {iota({2, 3}), iota({4, 3, 2})}), f64, {2, 4, 2},
               {10, 13, 28, 31, 46, 49, 64, 67, 28, 40, 100, 112, 172, 184, 244, 256});
  // Vector · vector is a 0-d inner product; scalar · x is a product.
  Tensor u = vector("u"), s = scalar("s");
  std::vector<Array> out = run({u, s}, {dot(u, u), dot(s, u)}, {Array::from({1., 2., 3.}), Array::scalar(2, f64)});
  expect_array(out[0], f64, {}, {14});
  expect_array(out[1], f64, {3}, {2, 4, 6});
}

TEST(Api, MatmulWithVectorsAndBatches) {
  Tensor a = matrix("a"), v = vector("v"), bt = tensor("bt", f64, {-1, 2, 2});
  std::vector<Array> out = run({a, v, bt}, {matmul(a, v), matmul(v, a), a.matmul(a), matmul(bt, a), a.T()},
                               {Array::from({{1., 2.}, {3., 4.}}), Array::from({1., 1.}), iota({2, 2, 2})});
  expect_array(out[0], f64, {2}, {3, 7});
  expect_array(out[1], f64, {2}, {4, 6});
  expect_array(out[2], f64, {2, 2}, {7, 10, 15, 22});
  // [[0,1],[2,3]] @ a = [[3,4],[11,16]]; [[4,5],[6,7]] @ a = [[19,28],[27,40]]
  expect_array(out[3], f64, {2, 2, 2}, {3, 4, 11, 16, 19, 28, 27, 40});
  expect_array(out[4], f64, {2, 2}, {1, 3, 2, 4});
  EXPECT_EQ(matmul(v, v).ndim(), 0);
}

TEST(Api, MoreContractionShapes) {
  Tensor u = vector("u"), w = vector("w");
  // n = 0: the outer product.
  expect_array(run1({u, w}, tensordot(u, w, 0), {Array::from({1., 2.}), Array::from({3., 4., 5.})}), f64, {2, 3},
               {3, 4, 5, 6, 8, 10});
  // A vector with a 3-d tensor: u's axis with t's second to last.
  Tensor t = tensor("t", f64, {2, 3, 2});
  Tensor ut = dot(u, t);
  EXPECT_EQ(ut.shape(), (std::vector<std::int64_t>{2, 2}));
  // NumPy: np.dot([1., 2., 3.], np.arange(12.).reshape(2,3,2)) = [[16, 22], [52, 58]]
  expect_array(run1({u, t}, ut, {Array::from({1., 2., 3.}), iota({2, 3, 2})}), f64, {2, 2}, {16, 22, 52, 58});
  // matmul of a batch with a vector on either side.
  Tensor b = tensor("b", f64, {-1, 2, 2});
  std::vector<Array> out = run({b, u}, {matmul(b, u), matmul(u, b)}, {iota({2, 2, 2}), Array::from({1., -1.})});
  expect_array(out[0], f64, {2, 2}, {-1, -1, -1, -1});
  expect_array(out[1], f64, {2, 2}, {-2, -2, -2, -2});
  // Integer contractions keep their dtype.
  Tensor i = matrix("i", i32);
  Array ip = run1({i}, matmul(i, i), {Array::from({{1, 2}, {3, 4}})});
  expect_array(ip, i32, {2, 2}, {7, 10, 15, 22});
}

TEST(Api, TransposeAndExpandWithNegativeAxes) {
  Tensor t = tensor("t", f64, {2, 3, 4});
  EXPECT_EQ(transpose(t, {-1, 0, 1}).shape(), (std::vector<std::int64_t>{4, 2, 3}));
  EXPECT_EQ(expand_dims(t, {0, -1}).shape(), (std::vector<std::int64_t>{1, 2, 3, 4, 1}));
  EXPECT_EQ(squeeze(expand_dims(t, {0, -1})).shape(), (std::vector<std::int64_t>{2, 3, 4}));
  Tensor m = matrix("m");
  expect_array(run1({m}, transpose(m, {-1, -2}), {iota({2, 3})}), f64, {3, 2}, {0, 3, 1, 4, 2, 5});
}

TEST(Api, Outer) {
  Tensor a = vector("a"), b = vector("b", i32);
  Tensor o = outer(a, b);
  EXPECT_EQ(o.dtype(), f64);
  expect_array(run1({a, b}, o, {Array::from({1., 2., 3.}), Array::from({4, 5})}), f64, {3, 2},
               {4, 5, 8, 10, 12, 15});
  // NumPy flattens N-d operands.
  Tensor m = matrix("m");
  expect_array(run1({m, b}, outer(m, b), {Array::from({{1., 2.}}), Array::from({1, -1})}), f64, {2, 2},
               {1, -1, 2, -2});
}

// ---- composite reductions ----

TEST(Api, VarAndStdWithDdofOnUnknownDims) {
  Tensor v = vector("v");
  std::vector<Array> out =
      run({v}, {var(v), var(v, {}, false, 1), kiln::std(v, {}, false, 1), var(v, 0, true, 1)}, {Array::from({1., 2., 3., 4.})});
  expect_array(out[0], f64, {}, {1.25});
  expect_array(out[1], f64, {}, {5.0 / 3.0}, 1e-15);
  expect_array(out[2], f64, {}, {1.2909944487358056}, 1e-15);
  expect_array(out[3], f64, {1}, {5.0 / 3.0}, 1e-15);

  Tensor m = matrix("m");
  Array mv = Array::from({{1., 2., 4.}, {3., 5., 10.}});
  out = run({m}, {var(m, 1, false, 1), kiln::std(m, 0, false, 1), var(m, {}, false, 2), kiln::std(m, 1, true)}, {mv});
  // NumPy: np.var(mv, axis=1, ddof=1), np.std(mv, axis=0, ddof=1), np.var(mv, ddof=2)
  expect_array(out[0], f64, {2}, {2.333333333333333, 13.0}, 1e-14);
  expect_array(out[1], f64, {3}, {1.4142135623730951, 2.1213203435596424, 4.242640687119285}, 1e-14);
  expect_array(out[2], f64, {}, {12.708333333333332}, 1e-13);
  // ddof 0: sqrt(14/9) and sqrt(26/3)
  expect_array(out[3], f64, {2, 1}, {std::sqrt(14.0 / 9.0), std::sqrt(26.0 / 3.0)}, 1e-14);

  // Static dims give the same values.
  Tensor s = tensor("s", f64, {2, 3});
  expect_array(run1({s}, var(s, 1, false, 1), {mv}), f64, {2}, {2.333333333333333, 13.0}, 1e-14);
  // Integer input: NumPy's var of ints is f64.
  Tensor iv = vector("iv", i32);
  expect_array(run1({iv}, var(iv, {}, false, 1), {Array::from({1, 2, 3, 4})}), f64, {}, {5.0 / 3.0}, 1e-15);
}

TEST(Api, LogsumexpIsStable) {
  Tensor v = vector("v");
  const double inf = std::numeric_limits<double>::infinity();
  Function f = function({v}, {logsumexp(v)});
  expect_array(f(Array::from({-inf, -inf}))[0], f64, {}, {-inf});
  expect_array(f(Array::from({1000., 1000.}))[0], f64, {}, {1000.6931471805599}, 1e-12);
  expect_array(f(Array::from({-1000., -1000.}))[0], f64, {}, {-999.3068528194401}, 1e-12);
  expect_array(f(Array::from({0., -inf}))[0], f64, {}, {0});
  expect_array(f(Array::from({1., inf}))[0], f64, {}, {inf});
  Tensor m = matrix("m");
  std::vector<Array> out = run({m}, {logsumexp(m, 1), logsumexp(m, 0, true)}, {Array::from({{0., 0.}, {1000., 1000.}})});
  expect_array(out[0], f64, {2}, {std::log(2.0), 1000.6931471805599}, 1e-12);
  expect_array(out[1], f64, {1, 2}, {1000, 1000}, 1e-12);
}

TEST(Api, SoftmaxRowsSumToOneWithLargeInputs) {
  Tensor m = matrix("m");
  Array in = Array::from({{1000., 1001., 1002.}, {-1000., 0., 1000.}});
  std::vector<Array> out = run({m}, {softmax(m), log_softmax(m)}, {in});
  // NumPy: e = np.exp(x - x.max(1, keepdims=True)); e / e.sum(1, keepdims=True)
  expect_array(out[0], f64, {2, 3}, {0.09003057317038046, 0.24472847105479764, 0.6652409557748218, 0, 0, 1}, 1e-15);
  std::vector<double> s = out[0].to_doubles();
  EXPECT_NEAR(s[0] + s[1] + s[2], 1.0, 1e-15);
  EXPECT_NEAR(s[3] + s[4] + s[5], 1.0, 1e-15);
  // log_softmax: x - logsumexp(x); no -inf or NaN from overflow.
  std::vector<double> ls = out[1].to_doubles();
  EXPECT_NEAR(ls[2], std::log(0.6652409557748218), 1e-12);
  EXPECT_NEAR(ls[3], -2000.0, 1e-9);
  EXPECT_NEAR(ls[5], 0.0, 1e-12);
  // Along axis 0, f32.
  Tensor x = matrix("x", f32);
  Array r = run1({x}, softmax(x, 0), {Array::from({{100.f, 1.f}, {100.f, 1.f}})});
  expect_array(r, f32, {2, 2}, {0.5, 0.5, 0.5, 0.5});
}

// ---- shared variables in graphs ----

TEST(Api, SharedVariablesInGraphs) {
  Tensor w = shared(Array::from({{1., 2.}, {3., 4.}}), "w");
  EXPECT_EQ(w.shape(), (std::vector<std::int64_t>{2, 2}));
  EXPECT_FALSE(w.is_input());
  Tensor x = matrix("x");
  Function f = function({x}, {x.matmul(w) + sum(w)});
  expect_array(f(Array::from({{1., 0.}, {0., 1.}}))[0], f64, {2, 2}, {11, 12, 13, 14});
  w.set_value(Array::from({{0., 1.}, {1., 0.}}));
  expect_array(f(Array::from({{1., 2.}, {3., 4.}}))[0], f64, {2, 2}, {4, 3, 6, 5});
  // Two shared variables with the same value are distinct variables.
  Tensor a = shared(Array::from({1.}), "a"), b = shared(Array::from({1.}), "a");
  EXPECT_NE(a.node(), b.node());
  Function g = function({}, {a + b}, {.updates = {{a, a * 5}}});
  expect_array(g()[0], f64, {1}, {2});
  expect_array(g()[0], f64, {1}, {6});
  expect_array(b.get_value(), f64, {1}, {1});
}

TEST(Api, TensorMetadata) {
  Tensor t = tensor("t", f32, {"batch", 3, -1});
  EXPECT_EQ(t.dtype(), f32);
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.shape(), (std::vector<std::int64_t>{-1, 3, -1}));
  EXPECT_EQ(t.type_str(), "f32[batch,3,?]");
  EXPECT_EQ(t.name(), "t");
  EXPECT_TRUE(t.is_input());
  EXPECT_EQ((t * 2).name(), "");
  EXPECT_EQ(scalar("s", i8).type_str(), "i8[]");
  EXPECT_EQ(matrix("m").type_str(), "f64[?,?]");
  EXPECT_EQ(t.astype(f64).dtype(), f64);
  EXPECT_EQ(t.T().type_str(), "f32[?,3,batch]");
  EXPECT_EQ(t.reshape({-1}).type_str(), "f32[?]");
}

}  // namespace
