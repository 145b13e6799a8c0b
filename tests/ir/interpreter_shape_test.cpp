// The reference interpreter against hand-computed values, structural part:
// reductions, matmul, shape and indexing ops, and interpret() itself
// (bindings, fresh outputs, shared subexpressions).
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
// ===================== reductions =====================

TEST(Interpreter, ReduceAxesAndKeepdims) {
  Array x = f64s({1, 2, 3, 4, 5, 6}, {2, 3});
  auto red = [&](OpCode c, std::vector<i64> axes, bool keep = false) {
    Env e;
    return e.run(op(c, {e.in(x)}, reduce_attrs(std::move(axes), keep)));
  };
  expect_array(red(OpCode::Sum, {0}), DType::F64, {3}, {5, 7, 9});
  expect_array(red(OpCode::Sum, {1}, true), DType::F64, {2, 1}, {6, 15});
  expect_array(red(OpCode::Sum, {0, 1}), DType::F64, {}, {21});
  expect_array(red(OpCode::Sum, {0, 1}, true), DType::F64, {1, 1}, {21});
  expect_array(red(OpCode::Sum, {}), DType::F64, {2, 3}, {1, 2, 3, 4, 5, 6});  // no axes: identity
  expect_array(red(OpCode::Prod, {1}), DType::F64, {2}, {6, 120});
  expect_array(red(OpCode::Mean, {1}), DType::F64, {2}, {2, 5});
  expect_array(red(OpCode::Max, {0}), DType::F64, {3}, {4, 5, 6});
  expect_array(red(OpCode::Min, {1}, true), DType::F64, {2, 1}, {1, 4});
  expect_ints(red(OpCode::Argmax, {1}), DType::I64, {2}, {2, 2});
  expect_ints(red(OpCode::Argmin, {0}), DType::I64, {3}, {0, 0, 0});
  expect_ints(red(OpCode::Argmax, {}), DType::I64, {2, 3}, {0, 0, 0, 0, 0, 0});
}

TEST(Interpreter, ReduceSeveralAxes) {
  // x[i, j, k] = 6i + 2j + k, shape [2, 3, 2].
  std::vector<double> v(12);
  for (int i = 0; i < 12; ++i) v[i] = i;
  Env e;
  NodeRef x = e.in(f64s(v, {2, 3, 2}));
  // Sum over i and k: j=0: 0+1+6+7, j=1: 2+3+8+9, j=2: 4+5+10+11.
  expect_array(e.run(op(OpCode::Sum, {x}, reduce_attrs({0, 2}, true))), DType::F64, {1, 3, 1}, {14, 22, 30});
  expect_array(e.run(op(OpCode::Max, {x}, reduce_attrs({0, 2}))), DType::F64, {3}, {7, 9, 11});
  // argmax over (i, k) is the flat index i * 2 + k of the reduced axes.
  Array y = f64s({1, 0,  5, 2,  7, 3,   9, 1,  4, 5,  2, 7}, {2, 3, 2});
  //              j=0    j=1    j=2    (i=0)  then i=1
  // j=0: (0,0)=1 (0,1)=0 (1,0)=9 (1,1)=1 → max at (1,0) → 2, min at (0,1) → 1
  // j=1: 5 2 4 5 → max 5 first at (0,0) → 0, min 2 at (0,1) → 1
  // j=2: 7 3 2 7 → max 7 first at (0,0) → 0, min 2 at (1,0) → 2
  NodeRef yn = e.in(y, "y");
  expect_ints(e.run(op(OpCode::Argmax, {yn}, reduce_attrs({0, 2}))), DType::I64, {3}, {2, 0, 0});
  expect_ints(e.run(op(OpCode::Argmin, {yn}, reduce_attrs({0, 2}, true))), DType::I64, {1, 3, 1}, {1, 1, 2});
}

TEST(Interpreter, ReduceNaNAndTies) {
  auto red = [](OpCode c, const Array& x) {
    Env e;
    return e.run(op(c, {e.in(x)}, reduce_attrs({1})));
  };
  Array x = f64s({1, kNaN, 3, kNaN,  2, 0, 5, -1}, {2, 4});
  expect_array(red(OpCode::Max, x), DType::F64, {2}, {kNaN, 5});
  expect_array(red(OpCode::Min, x), DType::F64, {2}, {kNaN, -1});
  expect_ints(red(OpCode::Argmax, x), DType::I64, {2}, {1, 2});  // the first NaN wins
  expect_ints(red(OpCode::Argmin, x), DType::I64, {2}, {1, 3});
  expect_ints(red(OpCode::Argmax, f64s({kNaN, kNaN, 1}, {1, 3})), DType::I64, {1}, {0});
  expect_ints(red(OpCode::Argmax, f64s({3, 1, 3}, {1, 3})), DType::I64, {1}, {0});  // first occurrence
  expect_ints(red(OpCode::Argmin, f64s({1, 0, 0}, {1, 3})), DType::I64, {1}, {1});
  expect_ints(red(OpCode::Argmax, arr({-5, 7, 7}, {1, 3}, DType::I8)), DType::I64, {1}, {1});
  expect_array(red(OpCode::Sum, f64s({1, kNaN}, {1, 2})), DType::F64, {1}, {kNaN});
}

TEST(Interpreter, ReduceIntegersWrap) {
  auto sum0 = [](OpCode c, const Array& x) {
    Env e;
    return e.run(op(c, {e.in(x)}, reduce_attrs({0})));
  };
  expect_ints(sum0(OpCode::Sum, vec({100, 100}, DType::I8)), DType::I8, {}, {-56});
  expect_ints(sum0(OpCode::Sum, vec({200, 100}, DType::U8)), DType::U8, {}, {44});
  expect_ints(sum0(OpCode::Prod, vec({65536, 65536}, DType::I32)), DType::I32, {}, {0});
  expect_ints(sum0(OpCode::Sum, ivec({kI64Max, 1})), DType::I64, {}, {kI64Min});
  expect_ints(sum0(OpCode::Max, vec({-3, 200}, DType::I16)), DType::I16, {}, {200});
  expect_ints(sum0(OpCode::Min, vec({-3, 200}, DType::I16)), DType::I16, {}, {-3});
  // Exact int64 sums beyond 2^53.
  const i64 big = (i64{1} << 53) + 1;
  expect_ints(sum0(OpCode::Sum, ivec({big, 2})), DType::I64, {}, {big + 2});
}

TEST(Interpreter, AllAny) {
  Array x = arr({1, 0, 1, 1}, {2, 2}, DType::Bool);
  auto red = [&](OpCode c, std::vector<i64> axes) {
    Env e;
    return e.run(op(c, {e.in(x)}, reduce_attrs(std::move(axes))));
  };
  expect_ints(red(OpCode::All, {1}), DType::Bool, {2}, {0, 1});
  expect_ints(red(OpCode::Any, {0}), DType::Bool, {2}, {1, 1});
  expect_ints(red(OpCode::All, {0, 1}), DType::Bool, {}, {0});
  Env e;
  NodeRef z = e.in(arr({}, {0}, DType::Bool));
  expect_ints(e.run(op(OpCode::All, {z}, reduce_attrs({0}))), DType::Bool, {}, {1});
  expect_ints(e.run(op(OpCode::Any, {z}, reduce_attrs({0}))), DType::Bool, {}, {0});
}

TEST(Interpreter, ReduceZeroSize) {
  Env e;
  NodeRef x = e.in(f64s({}, {2, 0}));
  expect_array(e.run(op(OpCode::Sum, {x}, reduce_attrs({1}))), DType::F64, {2}, {0, 0});
  expect_array(e.run(op(OpCode::Prod, {x}, reduce_attrs({1}))), DType::F64, {2}, {1, 1});
  expect_array(e.run(op(OpCode::Mean, {x}, reduce_attrs({1}))), DType::F64, {2}, {kNaN, kNaN});
  expect_array(e.run(op(OpCode::Sum, {x}, reduce_attrs({0}))), DType::F64, {0}, {});
  expect_array(e.run(op(OpCode::Max, {x}, reduce_attrs({0}))), DType::F64, {0}, {});  // no outputs, 2 elements each
  for (OpCode c : {OpCode::Max, OpCode::Min, OpCode::Argmax, OpCode::Argmin}) {
    std::string msg = error_of([&] { e.run(op(c, {x}, reduce_attrs({1}))); });
    EXPECT_CONTAINS(msg, "test.cpp:1: error: " + std::string(op_name(c)) + ": zero-size array to reduction " +
                             std::string(op_name(c)) + " has no identity");
  }
  // An empty output with a non-empty reduction is fine; an empty reduction
  // with an empty output is still an error (NumPy).
  Env g;
  NodeRef y = g.in(f64s({}, {0, 3}));
  expect_array(g.run(op(OpCode::Max, {y}, reduce_attrs({1}))), DType::F64, {0}, {});
  EXPECT_CONTAINS(error_of([&] { g.run(op(OpCode::Max, {y}, reduce_attrs({0, 1}))); }), "no identity");
  expect_ints(g.run(op(OpCode::Sum, {g.in(arr({}, {0}, DType::I32), "i")}, reduce_attrs({0}))), DType::I32, {}, {0});
  expect_ints(g.run(op(OpCode::Prod, {g.in(arr({}, {0}, DType::I32), "j")}, reduce_attrs({0}))), DType::I32, {}, {1});
}

// ===================== matmul =====================

TEST(Interpreter, Matmul) {
  Array a = f64s({1, 2, 3, 4, 5, 6}, {2, 3});
  Array b = f64s({7, 8, 9, 10, 11, 12}, {3, 2});
  // [1 2 3; 4 5 6] @ [7 8; 9 10; 11 12] = [58 64; 139 154]
  expect_array(binary(OpCode::Matmul, a, b), DType::F64, {2, 2}, {58, 64, 139, 154});
  expect_ints(binary(OpCode::Matmul, a.astype(DType::I32), b.astype(DType::I32)), DType::I32, {2, 2},
              {58, 64, 139, 154});
  // i8 wraps: [16 16] @ [8; 8] = 256 → 0; [100] @ [3] = 300 → 44.
  expect_ints(binary(OpCode::Matmul, arr({16, 16}, {1, 2}, DType::I8), arr({8, 8}, {2, 1}, DType::I8)), DType::I8,
              {1, 1}, {0});
  expect_ints(binary(OpCode::Matmul, arr({100}, {1, 1}, DType::I8), arr({3}, {1, 1}, DType::I8)), DType::I8, {1, 1},
              {44});
  // k = 0 gives zeros.
  expect_array(binary(OpCode::Matmul, f64s({}, {2, 0}), f64s({}, {0, 3})), DType::F64, {2, 3}, {0, 0, 0, 0, 0, 0});
  // f32 result rounded once from the double dot product.
  expect_array(binary(OpCode::Matmul, arr({1e8, 1, -1e8}, {1, 3}, DType::F32), arr({1, 1, 1}, {3, 1}, DType::F32)),
               DType::F32, {1, 1}, {1});
}

TEST(Interpreter, MatmulBatchBroadcast) {
  // a: [2, 2, 2] = [I, 2I]; b: [1, 2, 1] = [[1], [2]] broadcast over the batch.
  Array a = f64s({1, 0, 0, 1,  2, 0, 0, 2}, {2, 2, 2});
  Array b = f64s({1, 2}, {1, 2, 1});
  expect_array(binary(OpCode::Matmul, a, b), DType::F64, {2, 2, 1}, {1, 2, 2, 4});
  // Rank 3 @ rank 2: b is shared by every batch.
  Array c = f64s({1, 1}, {2, 1});
  expect_array(binary(OpCode::Matmul, a, c), DType::F64, {2, 2, 1}, {1, 1, 2, 2});
  // [2, 1, 1, 2] @ [3, 2, 1] → [2, 3, 1, 1]: out[i, j] = a[i] . b[j].
  Array d = f64s({1, 2,  3, 4}, {2, 1, 1, 2});
  Array f = f64s({1, 0,  0, 1,  1, 1}, {3, 2, 1});
  expect_array(binary(OpCode::Matmul, d, f), DType::F64, {2, 3, 1, 1}, {1, 2, 3, 3, 4, 7});
}

TEST(Interpreter, MatmulRuntimeErrors) {
  Env e;
  NodeRef a = e.in(f64s({1, 2, 3, 4, 5, 6}, {2, 3}), {Dim(2), Dim::unknown()}, "a");
  NodeRef b = e.in(f64s({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2}), {Dim::unknown(), Dim(2)}, "b");
  std::string msg = error_of([&] { e.run(op(OpCode::Matmul, {a, b})); });
  EXPECT_CONTAINS(msg, "test.cpp:1: error: matmul: contracted dims differ: [2, 3] @ [4, 2]");
  Env g;
  NodeRef c = g.in(f64s(std::vector<double>(8, 1), {2, 2, 2}), {Dim::unknown(), Dim(2), Dim(2)}, "c");
  NodeRef d = g.in(f64s(std::vector<double>(12, 1), {3, 2, 2}), {Dim::unknown(), Dim(2), Dim(2)}, "d");
  msg = error_of([&] { g.run(op(OpCode::Matmul, {c, d})); });
  EXPECT_CONTAINS(msg, "matmul: batch dims do not broadcast: [2, 2, 2] @ [3, 2, 2]");
}

// ===================== shape ops =====================

Array shape_op(OpCode c, const Array& x, Attrs a) {
  Env e;
  return e.run(op(c, {e.in(x)}, std::move(a)));
}

TEST(Interpreter, ReshapeAndReshapeLike) {
  Array x = f64s({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_array(shape_op(OpCode::Reshape, x, Attrs{{"shape", std::vector<i64>{3, -1}}}), DType::F64, {3, 2},
               {1, 2, 3, 4, 5, 6});
  expect_array(shape_op(OpCode::Reshape, x, Attrs{{"shape", std::vector<i64>{6}}}), DType::F64, {6}, {1, 2, 3, 4, 5, 6});
  // A transposed (non-contiguous) input reshapes in its logical C order.
  std::vector<double> d = {1, 2, 3, 4, 5, 6};
  Array t = Array::view(d.data(), {3, 2}, DType::F64, {1, 3});  // [[1, 4], [2, 5], [3, 6]]
  expect_array(shape_op(OpCode::Reshape, t, Attrs{{"shape", std::vector<i64>{-1}}}), DType::F64, {6}, {1, 4, 2, 5, 3, 6});
  // -1 inferred at run time; a size mismatch is an error.
  Env e;
  NodeRef u = e.in(f64s({1, 2, 3, 4, 5}, {5}), {Dim::unknown()});
  std::string msg = error_of([&] { e.run(op(OpCode::Reshape, {u}, Attrs{{"shape", std::vector<i64>{2, -1}}})); });
  EXPECT_CONTAINS(msg, "test.cpp:1: error: reshape: cannot reshape an array of shape [5] (5 elements) into shape [2, -1]");
  msg = error_of([&] { e.run(op(OpCode::Reshape, {u}, Attrs{{"shape", std::vector<i64>{2, 2}}})); });
  EXPECT_CONTAINS(msg, "reshape: cannot reshape an array of shape [5]");
  Env g;
  NodeRef v = g.in(f64s({1, 2, 3, 4, 5, 6}, {6}), {Dim::unknown()}, "v");
  NodeRef ref = g.in(f64s({0, 0, 0, 0, 0, 0}, {3, 2}), {Dim::unknown(), Dim::unknown()}, "ref");
  expect_array(g.run(op(OpCode::ReshapeLike, {v, ref})), DType::F64, {3, 2}, {1, 2, 3, 4, 5, 6});
  NodeRef bad = g.in(f64s({0, 0}, {1, 2}), {Dim::unknown(), Dim::unknown()}, "bad");
  EXPECT_CONTAINS(error_of([&] { g.run(op(OpCode::ReshapeLike, {v, bad})); }),
                  "reshape_like: cannot reshape an array of shape [6] (6 elements) into shape [1, 2]");
}

TEST(Interpreter, TransposeExpandSqueeze) {
  Array x = f64s({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_array(shape_op(OpCode::Transpose, x, Attrs{{"perm", std::vector<i64>{1, 0}}}), DType::F64, {3, 2},
               {1, 4, 2, 5, 3, 6});
  // [2, 1, 3] with perm [2, 0, 1] → [3, 2, 1].
  Array y = f64s({1, 2, 3, 4, 5, 6}, {2, 1, 3});
  expect_array(shape_op(OpCode::Transpose, y, Attrs{{"perm", std::vector<i64>{2, 0, 1}}}), DType::F64, {3, 2, 1},
               {1, 4, 2, 5, 3, 6});
  expect_array(shape_op(OpCode::ExpandDims, f64s({1, 2, 3}, {3}), Attrs{{"axes", std::vector<i64>{0, 2}}}), DType::F64,
               {1, 3, 1}, {1, 2, 3});
  expect_array(shape_op(OpCode::ExpandDims, f64s({7}, {}), Attrs{{"axes", std::vector<i64>{0}}}), DType::F64, {1}, {7});
  expect_array(shape_op(OpCode::Squeeze, y, Attrs{{"axes", std::vector<i64>{1}}}), DType::F64, {2, 3},
               {1, 2, 3, 4, 5, 6});
  Env e;
  NodeRef u = e.in(f64s({1, 2, 3, 4, 5, 6}, {2, 3}), {Dim(2), Dim::unknown()});
  EXPECT_CONTAINS(error_of([&] { e.run(op(OpCode::Squeeze, {u}, Attrs{{"axes", std::vector<i64>{1}}})); }),
                  "test.cpp:1: error: squeeze: cannot squeeze axis 1 of size 3");
}

TEST(Interpreter, BroadcastToAndLike) {
  expect_array(shape_op(OpCode::BroadcastTo, f64s({1, 2, 3}, {3}), Attrs{{"shape", std::vector<i64>{2, 3}}}),
               DType::F64, {2, 3}, {1, 2, 3, 1, 2, 3});
  expect_array(shape_op(OpCode::BroadcastTo, f64s({1, 2}, {2, 1}), Attrs{{"shape", std::vector<i64>{2, 3}}}),
               DType::F64, {2, 3}, {1, 1, 1, 2, 2, 2});
  expect_array(shape_op(OpCode::BroadcastTo, f64s({4}, {1}), Attrs{{"shape", std::vector<i64>{0}}}), DType::F64, {0}, {});
  Env e;
  NodeRef u = e.in(f64s({1, 2}, {2}), {Dim::unknown()});
  EXPECT_CONTAINS(error_of([&] { e.run(op(OpCode::BroadcastTo, {u}, Attrs{{"shape", std::vector<i64>{3}}})); }),
                  "test.cpp:1: error: broadcast_to: cannot broadcast [2] to [3]");
  Env g;
  NodeRef x = g.in(f64s({1, 2}, {2, 1}), {Dim::unknown(), Dim(1)}, "x");
  NodeRef ref = g.in(f64s(std::vector<double>(6, 0), {2, 3}), {Dim::unknown(), Dim::unknown()}, "ref");
  expect_array(g.run(op(OpCode::BroadcastLike, {x, ref})), DType::F64, {2, 3}, {1, 1, 1, 2, 2, 2});
  NodeRef ref3 = g.in(f64s(std::vector<double>(9, 0), {3, 3}), {Dim::unknown(), Dim::unknown()}, "ref3");
  EXPECT_CONTAINS(error_of([&] { g.run(op(OpCode::BroadcastLike, {x, ref3})); }),
                  "broadcast_like: cannot broadcast [2, 1] to [3, 3]");
}

TEST(Interpreter, FillLike) {
  Env e;
  NodeRef x = e.in(f64s({1, 2, 3, 4, 5, 6}, {2, 3}), {Dim::unknown(), Dim(3)});
  expect_ints(e.run(op(OpCode::FillLike, {x}, Attrs{{"value", 7.0}, {"dtype", DType::I16}})), DType::I16, {2, 3},
              {7, 7, 7, 7, 7, 7});
}

TEST(Interpreter, Concatenate) {
  Env e;
  NodeRef a = e.in(f64s({1, 2}, {2, 1}), "a");
  NodeRef b = e.in(f64s({3, 4, 5, 6}, {2, 2}), "b");
  NodeRef z = e.in(f64s({}, {2, 0}), "z");
  expect_array(e.run(op(OpCode::Concatenate, {a, z, b}, Attrs{{"axis", i64{1}}})), DType::F64, {2, 3},
               {1, 3, 4, 2, 5, 6});
  NodeRef c = e.in(f64s({7, 8}, {1, 2}), "c");
  expect_array(e.run(op(OpCode::Concatenate, {b, c}, Attrs{{"axis", i64{0}}})), DType::F64, {3, 2},
               {3, 4, 5, 6, 7, 8});
  expect_array(e.run(op(OpCode::Concatenate, {c}, Attrs{{"axis", i64{0}}})), DType::F64, {1, 2}, {7, 8});
  Env g;
  NodeRef p = g.in(f64s({1, 2, 3, 4}, {2, 2}), {Dim::unknown(), Dim(2)}, "p");
  NodeRef q = g.in(f64s({1, 2, 3, 4, 5, 6}, {3, 2}), {Dim::unknown(), Dim(2)}, "q");
  EXPECT_CONTAINS(error_of([&] { g.run(op(OpCode::Concatenate, {p, q}, Attrs{{"axis", i64{1}}})); }),
                  "test.cpp:1: error: concatenate: dims other than axis 1 must match, got shapes [2, 2], [3, 2]");
}

TEST(Interpreter, Flip) {
  Array x = f64s({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_array(shape_op(OpCode::Flip, x, Attrs{{"axes", std::vector<i64>{0}}}), DType::F64, {2, 3}, {4, 5, 6, 1, 2, 3});
  expect_array(shape_op(OpCode::Flip, x, Attrs{{"axes", std::vector<i64>{1}}}), DType::F64, {2, 3}, {3, 2, 1, 6, 5, 4});
  expect_array(shape_op(OpCode::Flip, x, Attrs{{"axes", std::vector<i64>{0, 1}}}), DType::F64, {2, 3},
               {6, 5, 4, 3, 2, 1});
  expect_array(shape_op(OpCode::Flip, f64s({}, {0, 2}), Attrs{{"axes", std::vector<i64>{0}}}), DType::F64, {0, 2}, {});
}

std::vector<i64> sl(std::initializer_list<i64> v) { return std::vector<i64>(v); }
const i64 N = kNone;

TEST(Interpreter, SlicePythonSemantics) {
  std::vector<double> v(10);
  for (int i = 0; i < 10; ++i) v[i] = i;
  Array x = vec(v);
  auto slice = [&](std::vector<i64> s) { return shape_op(OpCode::Slice, x, Attrs{{"slices", s}}); };
  expect_array(slice(sl({N, N, -1})), DType::F64, {10}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  expect_array(slice(sl({-3, N, 1})), DType::F64, {3}, {7, 8, 9});
  expect_array(slice(sl({8, 2, -2})), DType::F64, {3}, {8, 6, 4});
  expect_array(slice(sl({N, -1, 3})), DType::F64, {3}, {0, 3, 6});
  expect_array(slice(sl({100, N, 1})), DType::F64, {0}, {});
  expect_array(slice(sl({-100, 2, 1})), DType::F64, {2}, {0, 1});
  expect_array(slice(sl({100, -100, -4})), DType::F64, {3}, {9, 5, 1});
  expect_array(slice(sl({3, 3, 1})), DType::F64, {0}, {});
  // 2-D: rows reversed, every other column.
  Array m = f64s({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_array(shape_op(OpCode::Slice, m, Attrs{{"slices", sl({N, N, -1, N, N, 2})}}), DType::F64, {2, 2}, {4, 6, 1, 3});
  // An unknown dim sliced at run time.
  Env e;
  NodeRef u = e.in(x, {Dim::unknown()});
  expect_array(e.run(op(OpCode::Slice, {u}, Attrs{{"slices", sl({1, -1, 4})}})), DType::F64, {2}, {1, 5});
}

TEST(Interpreter, SetSliceAndIncSlice) {
  Env e;
  NodeRef x = e.in(f64s({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3}), "x");
  NodeRef s = e.in(f64s({10}, {}), "s");
  NodeRef row = e.in(f64s({10, 20}, {2}), "row");
  Attrs at{{"slices", sl({1, N, 1, N, N, 2})}};  // x[1:, ::2], shape [2, 2]
  expect_array(e.run(op(OpCode::SetSlice, {x, s}, at)), DType::F64, {3, 3}, {1, 2, 3, 10, 5, 10, 10, 8, 10});
  expect_array(e.run(op(OpCode::IncSlice, {x, row}, at)), DType::F64, {3, 3}, {1, 2, 3, 14, 5, 26, 17, 8, 29});
  // Negative step: x[::-1, 0] = [100, 200, 300] writes bottom to top.
  NodeRef col = e.in(f64s({100, 200, 300}, {3, 1}), "col");
  expect_array(e.run(op(OpCode::SetSlice, {x, col}, Attrs{{"slices", sl({N, N, -1, 0, 1, 1})}})), DType::F64, {3, 3},
               {300, 2, 3, 200, 5, 6, 100, 8, 9});
  // The input is untouched.
  expect_array(e.bindings.at(x.get()), DType::F64, {3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  // Integers wrap on increment.
  Env g;
  NodeRef i = g.in(arr({120, 1}, {2}, DType::I8), "i");
  NodeRef d = g.in(arr({10}, {1}, DType::I8), "d");
  expect_ints(g.run(op(OpCode::IncSlice, {i, d}, Attrs{{"slices", sl({0, 1, 1})}})), DType::I8, {2}, {-126, 1});
  // A value that does not fit the slice at run time.
  Env h;
  NodeRef y = h.in(f64s({1, 2, 3, 4}, {4}), {Dim::unknown()}, "y");
  NodeRef w = h.in(f64s({1, 2, 3}, {3}), {Dim::unknown()}, "w");
  EXPECT_CONTAINS(error_of([&] { h.run(op(OpCode::SetSlice, {y, w}, Attrs{{"slices", sl({N, 2, 1})}})); }),
                  "test.cpp:1: error: set_slice: cannot broadcast the value [3] to [2]");
}

TEST(Interpreter, Take) {
  Array x = f64s({1, 2, 3, 4, 5, 6}, {2, 3});
  Env e;
  NodeRef xn = e.in(x, "x");
  NodeRef idx = e.in(ivec({2, -1, 0}), "idx");
  expect_array(e.run(op(OpCode::Take, {xn, idx}, Attrs{{"axis", i64{1}}})), DType::F64, {2, 3}, {3, 3, 1, 6, 6, 4});
  // A 2-D index along axis 0 → shape [2, 1, 3].
  NodeRef idx2 = e.in(arr({1, 0}, {2, 1}, DType::I32), "idx2");
  expect_array(e.run(op(OpCode::Take, {xn, idx2}, Attrs{{"axis", i64{0}}})), DType::F64, {2, 1, 3},
               {4, 5, 6, 1, 2, 3});
  // A scalar index drops the axis.
  NodeRef idx0 = e.in(arr({1}, {}, DType::U8), "idx0");
  expect_array(e.run(op(OpCode::Take, {xn, idx0}, Attrs{{"axis", i64{1}}})), DType::F64, {2}, {2, 5});
  // An empty index.
  NodeRef none = e.in(i64s({}, {0}), "none");
  expect_array(e.run(op(OpCode::Take, {xn, none}, Attrs{{"axis", i64{0}}})), DType::F64, {0, 3}, {});
  // Out of range after wrapping.
  NodeRef bad = e.in(ivec({0, 3}), "bad");
  EXPECT_CONTAINS(error_of([&] { e.run(op(OpCode::Take, {xn, bad}, Attrs{{"axis", i64{1}}})); }),
                  "test.cpp:1: error: take: index 3 is out of bounds for axis 1 with size 3");
  NodeRef neg = e.in(ivec({-4}), "neg");
  EXPECT_CONTAINS(error_of([&] { e.run(op(OpCode::Take, {xn, neg}, Attrs{{"axis", i64{1}}})); }),
                  "take: index -4 is out of bounds for axis 1 with size 3");
}

TEST(Interpreter, SetTakeLaterDuplicatesWin) {
  Env e;
  NodeRef x = e.in(f64s({0, 0, 0, 0}, {4}), "x");
  NodeRef y = e.in(f64s({1, 2, 3}, {3}), "y");
  NodeRef idx = e.in(ivec({0, 2, -4}), "idx");  // -4 wraps to 0
  expect_array(e.run(op(OpCode::SetTake, {x, y, idx}, Attrs{{"axis", i64{0}}})), DType::F64, {4}, {3, 0, 2, 0});
  EXPECT_CONTAINS(error_of([&] {
                    e.run(op(OpCode::SetTake, {x, y, e.in(ivec({0, 1, 4}), "bad")}, Attrs{{"axis", i64{0}}}));
                  }),
                  "set_take: index 4 is out of bounds for axis 0 with size 4");
}

TEST(Interpreter, IncTakeAccumulatesRepeatedIndices) {
  Env e;
  NodeRef x = e.in(f64s({0, 0, 0, 0}, {4}), "x");
  NodeRef y = e.in(f64s({1, 2, 3}, {3}), "y");
  NodeRef idx = e.in(ivec({0, 2, 0}), "idx");
  expect_array(e.run(op(OpCode::IncTake, {x, y, idx}, Attrs{{"axis", i64{0}}})), DType::F64, {4}, {4, 0, 2, 0});
  // 2-D along axis 1 with a broadcast scalar value: each listed column gets
  // +1 per occurrence.
  Env g;
  NodeRef m = g.in(f64s({1, 2, 3, 4, 5, 6}, {2, 3}), "m");
  NodeRef one = g.in(f64s({1}, {}), "one");
  NodeRef cols = g.in(ivec({1, 1, 2, 1}), "cols");
  expect_array(g.run(op(OpCode::IncTake, {m, one, cols}, Attrs{{"axis", i64{1}}})), DType::F64, {2, 3},
               {1, 5, 4, 4, 8, 7});
  // The value has the indexed shape [2, 2] (rows, indices).
  NodeRef val = g.in(f64s({10, 20, 30, 40}, {2, 2}), "val");
  NodeRef c2 = g.in(ivec({0, 0}), "c2");
  expect_array(g.run(op(OpCode::IncTake, {m, val, c2}, Attrs{{"axis", i64{1}}})), DType::F64, {2, 3},
               {31, 2, 3, 74, 5, 6});
  expect_array(g.run(op(OpCode::SetTake, {m, val, c2}, Attrs{{"axis", i64{1}}})), DType::F64, {2, 3},
               {20, 2, 3, 40, 5, 6});
  // Integer accumulation wraps.
  Env h;
  NodeRef b = h.in(arr({0}, {1}, DType::I8), "b");
  NodeRef hundred = h.in(arr({100, 100}, {2}, DType::I8), "hundred");
  NodeRef zz = h.in(ivec({0, 0}), "zz");
  expect_ints(h.run(op(OpCode::IncTake, {b, hundred, zz}, Attrs{{"axis", i64{0}}})), DType::I8, {1}, {-56});
}

// ===================== interpret() =====================

TEST(Interpreter, BindingErrorsNameTheVariable) {
  TensorType t(DType::F32, {Dim::unknown(), Dim(3)});
  NodeRef x = make_node(OpCode::Input, {}, Attrs{{"name", std::string("x")}, {"id", fresh_var_id()}}, kLoc, &t);
  NodeRef y = op(OpCode::Exp, {x});
  EXPECT_CONTAINS(error_of([&] { interpret({y}, {}); }), "test.cpp:1: error: input: input 'x' is not bound");
  Array wrong_dtype = f64s({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_CONTAINS(error_of([&] { interpret({y}, {{x.get(), wrong_dtype}}); }),
                  "input 'x' expects f32[?,3], got an array of f64[2, 3]");
  Array wrong_dim = arr({1, 2, 3, 4}, {2, 2}, DType::F32);
  EXPECT_CONTAINS(error_of([&] { interpret({y}, {{x.get(), wrong_dim}}); }),
                  "input 'x' expects f32[?,3], got an array of f32[2, 2]");
  Array wrong_rank = arr({1, 2, 3}, {3}, DType::F32);
  EXPECT_CONTAINS(error_of([&] { interpret({y}, {{x.get(), wrong_rank}}); }),
                  "input 'x' expects f32[?,3], got an array of f32[3]");
  Array ok = arr({0, 0, 0}, {1, 3}, DType::F32);
  expect_array(interpret({y}, {{x.get(), ok}})[0], DType::F32, {1, 3}, {1, 1, 1});
  TensorType st(DType::F64, {});
  NodeRef w = make_node(OpCode::Shared, {}, Attrs{{"name", std::string("w")}, {"id", fresh_var_id()}}, kLoc, &st);
  EXPECT_CONTAINS(error_of([&] { interpret({w}, {}); }), "shared variable 'w' is not bound");
}

TEST(Interpreter, MultipleOutputsAreFresh) {
  Env e;
  Array xa = f64s({1, 2}, {2});
  NodeRef x = e.in(xa);
  NodeRef y = op(OpCode::Mul, {x, x});  // x used twice
  NodeRef z = op(OpCode::Add, {y, x});
  std::vector<Array> out = interpret({z, y, x, y}, e.bindings);
  ASSERT_EQ(out.size(), 4u);
  expect_array(out[0], DType::F64, {2}, {2, 6});
  expect_array(out[1], DType::F64, {2}, {1, 4});
  expect_array(out[2], DType::F64, {2}, {1, 2});
  expect_array(out[3], DType::F64, {2}, {1, 4});
  // Outputs share no memory with the bindings or with each other.
  EXPECT_NE(out[2].raw_data(), xa.raw_data());
  EXPECT_NE(out[1].raw_data(), out[3].raw_data());
  out[2].set({0}, 100);
  EXPECT_EQ(xa.get({0}), 1);
}

TEST(Interpreter, DeepChainAndSharedSubexpressions) {
  Env e;
  NodeRef x = e.in(f64s({1}, {}));
  NodeRef y = x;
  for (int i = 0; i < 1000; ++i) y = op(OpCode::Add, {y, x});
  expect_array(e.run(y), DType::F64, {}, {1001});
}

TEST(Interpreter, EvalNodeDirectly) {
  // Constant folding calls eval_node with concrete arrays.
  Env e;
  NodeRef x = e.in(f64s({1, 2, 3}, {3}), "x");
  NodeRef s = op(OpCode::Sum, {x}, reduce_attrs({0}));
  expect_array(eval_node(*s, {f64s({1, 2, 3}, {3})}), DType::F64, {}, {6});
  NodeRef c = constant(f64s({4, 5}, {2}));
  expect_array(eval_node(*c, {}), DType::F64, {2}, {4, 5});
  EXPECT_CONTAINS(error_of([&] { eval_node(*x, {}); }), "input 'x' is not bound");
}

}  // namespace
}  // namespace kiln::ir
