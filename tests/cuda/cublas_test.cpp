// cuBLAS matmul (codegen/cuda/cublas.*).
//
// Without a GPU: plan_gemm's decisions against hand-computed expectations,
// and every plan of an exhaustive sweep of small shapes, layouts (row- and
// column-major, padded, negative, broadcast, unusable strides) and batch
// broadcasts run by run_gemm_plan over host stand-ins for cuBLAS (a naive
// column-major GEMM with BLAS's semantics, memcpy, memset) against a naive
// NumPy matmul; the loader's errors (a missing library, from a child
// process through KILN_CUBLAS). With a GPU: cublas_matmul against the
// interpreter for every dtype and several layouts.
#include "codegen/cuda/cublas.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "ir/interpreter.hpp"
#include "kiln/kiln.hpp"
#include "runtime/cuda_driver.hpp"

namespace kiln::codegen::cuda {
namespace {

using i64 = std::int64_t;
namespace E = cublas_enum;

// ---- hand-computed plans ----

TEST(CublasPlan, RowMajorMatrices) {
  // A [2, 3] @ B [3, 4], both C-contiguous: C^T (4 x 2) = B^T A^T, both op N.
  const GemmPlan p = plan_gemm({2, 3}, {3, 1}, {3, 4}, {4, 1});
  EXPECT_EQ(p.out_shape, (Shape{2, 4}));
  EXPECT_EQ(p.m, 2);
  EXPECT_EQ(p.n, 4);
  EXPECT_EQ(p.k, 3);
  EXPECT_EQ(p.batch, 1);
  EXPECT_FALSE(p.no_work);
  EXPECT_FALSE(p.zero_fill);
  EXPECT_FALSE(p.strided_batched);
  EXPECT_EQ(p.a.op, E::kOpN);
  EXPECT_EQ(p.a.ld, 3);
  EXPECT_EQ(p.b.op, E::kOpN);
  EXPECT_EQ(p.b.ld, 4);
  EXPECT_EQ(p.ldc, 4);
  EXPECT_EQ(p.a.staging, GemmStaging::None);
  EXPECT_EQ(p.b.staging, GemmStaging::None);
}

TEST(CublasPlan, TransposedOperandIsPassedWithOpT) {
  // B = transpose of a C-contiguous [4, 3]: shape [3, 4], strides (1, 3).
  const GemmPlan p = plan_gemm({2, 3}, {3, 1}, {3, 4}, {1, 3});
  EXPECT_EQ(p.b.op, E::kOpT);
  EXPECT_EQ(p.b.ld, 3);
  EXPECT_EQ(p.b.staging, GemmStaging::None);
  // A = transpose of [3, 2]: shape [2, 3], strides (1, 2).
  const GemmPlan q = plan_gemm({2, 3}, {1, 2}, {3, 4}, {4, 1});
  EXPECT_EQ(q.a.op, E::kOpT);
  EXPECT_EQ(q.a.ld, 2);
}

TEST(CublasPlan, PaddedLeadingDimension) {
  // Rows of a [5, 10] array, first 3 columns: strides (10, 1).
  const GemmPlan p = plan_gemm({5, 3}, {10, 1}, {3, 2}, {2, 1});
  EXPECT_EQ(p.a.op, E::kOpN);
  EXPECT_EQ(p.a.ld, 10);
  EXPECT_EQ(p.a.staging, GemmStaging::None);
}

TEST(CublasPlan, UniformBatchIsOneStridedBatchedCall) {
  const GemmPlan p = plan_gemm({4, 2, 3}, {6, 3, 1}, {4, 3, 5}, {15, 5, 1});
  EXPECT_TRUE(p.strided_batched);
  EXPECT_EQ(p.batch, 4);
  EXPECT_EQ(p.stride_a, 6);
  EXPECT_EQ(p.stride_b, 15);
  EXPECT_EQ(p.stride_c, 10);
  EXPECT_EQ(p.out_shape, (Shape{4, 2, 5}));
}

TEST(CublasPlan, BroadcastOperandHasStrideZero) {
  // [4, 2, 3] @ [3, 5]: B is shared by every batch.
  const GemmPlan p = plan_gemm({4, 2, 3}, {6, 3, 1}, {3, 5}, {5, 1});
  EXPECT_TRUE(p.strided_batched);
  EXPECT_EQ(p.stride_a, 6);
  EXPECT_EQ(p.stride_b, 0);
  // [1, 2, 3] @ [4, 3, 5]: A's size-1 batch dim broadcasts.
  const GemmPlan q = plan_gemm({1, 2, 3}, {6, 3, 1}, {4, 3, 5}, {15, 5, 1});
  EXPECT_TRUE(q.strided_batched);
  EXPECT_EQ(q.stride_a, 0);
  EXPECT_EQ(q.out_shape, (Shape{4, 2, 5}));
}

TEST(CublasPlan, NonUniformBatchLoops) {
  // [2, 1] x [1, 3] batch dims broadcast to [2, 3]: A's offsets 0,0,0,6,6,6.
  const GemmPlan p = plan_gemm({2, 1, 2, 3}, {6, 6, 3, 1}, {1, 3, 3, 5}, {45, 15, 5, 1});
  EXPECT_FALSE(p.strided_batched);
  EXPECT_EQ(p.batch, 6);
  EXPECT_EQ(p.a.batch_offsets, (std::vector<i64>{0, 0, 0, 6, 6, 6}));
  EXPECT_EQ(p.b.batch_offsets, (std::vector<i64>{0, 15, 30, 0, 15, 30}));
  // A negative batch stride: a loop too.
  const GemmPlan q = plan_gemm({3, 2, 2}, {-4, 2, 1}, {3, 2, 2}, {4, 2, 1});
  EXPECT_FALSE(q.strided_batched);
  EXPECT_EQ(q.a.batch_offsets, (std::vector<i64>{0, -4, -8}));
}

TEST(CublasPlan, StagingForNegativeAndOverlappingStrides) {
  // Rows reversed (a[::-1]): rows contiguous, staged by rows.
  const GemmPlan p = plan_gemm({3, 2}, {-2, 1}, {2, 2}, {2, 1});
  EXPECT_EQ(p.a.staging, GemmStaging::Rows);
  EXPECT_EQ(p.a.staged_strides, (Shape{2, 1}));
  EXPECT_EQ(p.a.op, E::kOpN);
  EXPECT_EQ(p.a.ld, 2);
  // Columns reversed (a[:, ::-1]) of a column-major matrix: staged by columns.
  const GemmPlan q = plan_gemm({3, 2}, {1, -3}, {2, 2}, {2, 1});
  EXPECT_EQ(q.a.staging, GemmStaging::Cols);
  EXPECT_EQ(q.a.staged_strides, (Shape{1, 3}));
  EXPECT_EQ(q.a.op, E::kOpT);
  EXPECT_EQ(q.a.ld, 3);
  // A broadcast row vector [1, 4] → [3, 4] (strides 0, 1): rows overlap.
  const GemmPlan r = plan_gemm({2, 3}, {3, 1}, {3, 4}, {0, 1});
  EXPECT_EQ(r.b.staging, GemmStaging::Rows);
  // Staged operands keep their own batch: [2, 3, 2] with strides (6, -2, 1).
  const GemmPlan s = plan_gemm({2, 3, 2}, {6, -2, 1}, {2, 2}, {2, 1});
  EXPECT_EQ(s.a.staged_strides, (Shape{6, 2, 1}));
  EXPECT_TRUE(s.strided_batched);
  EXPECT_EQ(s.stride_a, 6);
}

TEST(CublasPlan, ZeroSizes) {
  EXPECT_TRUE(plan_gemm({0, 3}, {3, 1}, {3, 4}, {4, 1}).no_work);
  EXPECT_TRUE(plan_gemm({2, 3}, {3, 1}, {3, 0}, {0, 1}).no_work);
  EXPECT_TRUE(plan_gemm({0, 2, 3}, {6, 3, 1}, {3, 4}, {4, 1}).no_work);
  const GemmPlan p = plan_gemm({2, 0}, {0, 1}, {0, 4}, {4, 1});
  EXPECT_FALSE(p.no_work);
  EXPECT_TRUE(p.zero_fill);
  EXPECT_EQ(p.out_shape, (Shape{2, 4}));
}

TEST(CublasPlan, Errors) {
  auto msg = [](auto f) {
    try {
      f();
    } catch (const RuntimeError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string k = msg([] { plan_gemm({2, 3}, {3, 1}, {4, 5}, {5, 1}); });
  EXPECT_NE(k.find("matmul"), std::string::npos) << k;
  EXPECT_NE(k.find("[2, 3] @ [4, 5]"), std::string::npos) << k;
  const std::string b = msg([] { plan_gemm({2, 2, 3}, {6, 3, 1}, {3, 3, 5}, {15, 5, 1}); });
  EXPECT_NE(b.find("broadcast"), std::string::npos) << b;
  const std::string l = msg([] { plan_gemm({2, 3}, {6, 2}, {3, 4}, {4, 1}); });
  EXPECT_NE(l.find("neither contiguous rows nor contiguous columns"), std::string::npos) << l;
  const std::string r = msg([] { plan_gemm({3}, {1}, {3, 4}, {4, 1}); });
  EXPECT_NE(r.find("rank"), std::string::npos) << r;
}

// ---- the sweep: plans run over host stand-ins for cuBLAS ----

// BLAS semantics, column-major: C = op(A) op(B), alpha 1, beta 0.
void host_gemm(int opa, int opb, i64 m, i64 n, i64 k, const double* A, i64 lda, const double* B, i64 ldb,
               double* C, i64 ldc) {
  ASSERT_GE(lda, std::max<i64>(1, opa == E::kOpN ? m : k));
  ASSERT_GE(ldb, std::max<i64>(1, opb == E::kOpN ? k : n));
  ASSERT_GE(ldc, std::max<i64>(1, m));
  ASSERT_LE(lda, INT32_MAX);
  for (i64 j = 0; j < n; ++j)
    for (i64 i = 0; i < m; ++i) {
      double s = 0;
      for (i64 l = 0; l < k; ++l) {
        const double a = opa == E::kOpN ? A[i + l * lda] : A[l + i * lda];
        const double b = opb == E::kOpN ? B[l + j * ldb] : B[j + l * ldb];
        s += a * b;
      }
      C[i + j * ldc] = s;
    }
}

struct Calls {
  int gemm = 0, batched = 0, copies = 0, zeros = 0;
};

GemmBackend host_backend(Calls* calls) {
  GemmBackend be;
  be.gemm = [calls](int opa, int opb, i64 m, i64 n, i64 k, const void* A, i64 lda, const void* B, i64 ldb, void* C,
                    i64 ldc) {
    ++calls->gemm;
    host_gemm(opa, opb, m, n, k, static_cast<const double*>(A), lda, static_cast<const double*>(B), ldb,
              static_cast<double*>(C), ldc);
  };
  be.gemm_strided_batched = [calls](int opa, int opb, i64 m, i64 n, i64 k, const void* A, i64 lda, i64 sa,
                                    const void* B, i64 ldb, i64 sb, void* C, i64 ldc, i64 sc, i64 batch) {
    ++calls->batched;
    EXPECT_GE(sa, 0);
    EXPECT_GE(sb, 0);
    for (i64 i = 0; i < batch; ++i)
      host_gemm(opa, opb, m, n, k, static_cast<const double*>(A) + i * sa, lda, static_cast<const double*>(B) + i * sb,
                ldb, static_cast<double*>(C) + i * sc, ldc);
  };
  be.copy = [calls](void* d, const void* s, std::size_t bytes) {
    ++calls->copies;
    std::memcpy(d, s, bytes);
  };
  be.zero = [calls](void* d, std::size_t bytes) {
    ++calls->zeros;
    std::memset(d, 0, bytes);
  };
  return be;
}

// A view of `shape` with `strides` over a pool of small integers (so sums are
// exact in double and the plan's result must equal the reference exactly).
Array strided_view(const Shape& shape, const Shape& strides, std::mt19937& rng) {
  i64 lo = 0, hi = 0;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return Array::empty(shape, DType::F64);
    (strides[i] < 0 ? lo : hi) += (shape[i] - 1) * strides[i];
  }
  const i64 n = hi - lo + 1;
  Array pool = Array::empty({n}, DType::F64);
  std::uniform_int_distribution<int> dist(-4, 4);
  for (i64 i = 0; i < n; ++i) pool.data<double>()[i] = dist(rng);
  return Array::view(pool.buffer(), shape, DType::F64, strides, -lo);
}

// NumPy matmul, the slow way.
Array reference(const Array& a, const Array& b, const Shape& out_shape) {
  Array c = Array::zeros(out_shape, DType::F64);
  const std::size_t ra = a.shape().size(), rb = b.shape().size(), rc = out_shape.size();
  const i64 m = out_shape[rc - 2], n = out_shape[rc - 1], k = a.shape()[ra - 1];
  const Shape batch(out_shape.begin(), out_shape.end() - 2);
  const i64 nb = shape_size(batch);
  for (i64 bi = 0; bi < nb; ++bi) {
    std::vector<i64> idx(batch.size());
    for (i64 r = bi, ax = static_cast<i64>(batch.size()) - 1; ax >= 0; --ax) {
      idx[ax] = r % batch[ax];
      r /= batch[ax];
    }
    auto sub = [&](const Array& x, std::size_t rank) {
      std::vector<i64> v(rank, 0);
      for (std::size_t ax = 0; ax + 2 < rank; ++ax) {
        const i64 d = x.shape()[ax];
        v[ax] = d == 1 ? 0 : idx[batch.size() - (rank - 2) + ax];
      }
      return v;
    };
    std::vector<i64> ia = sub(a, ra), ib = sub(b, rb), ic(idx);
    ic.push_back(0);
    ic.push_back(0);
    for (i64 i = 0; i < m; ++i)
      for (i64 j = 0; j < n; ++j) {
        double s = 0;
        for (i64 l = 0; l < k; ++l) {
          ia[ra - 2] = i;
          ia[ra - 1] = l;
          ib[rb - 2] = l;
          ib[rb - 1] = j;
          s += a.get(ia) * b.get(ib);
        }
        ic[rc - 2] = i;
        ic[rc - 1] = j;
        c.set(ic, s);
      }
  }
  return c;
}

// The layouts of a rows x cols matrix the sweep tries.
enum class L { Row, RowPadded, Col, ColPadded, RowsReversed, ColsReversed, RowsBroadcast, ColsBroadcast, Neither };
constexpr L kLayouts[] = {L::Row,          L::RowPadded,     L::Col,           L::ColPadded, L::RowsReversed,
                          L::ColsReversed, L::RowsBroadcast, L::ColsBroadcast, L::Neither};

// Strides of the last two dims; `bad` when neither rows nor columns are contiguous.
std::pair<i64, i64> inner_strides(L l, i64 rows, i64 cols, bool* bad) {
  *bad = false;
  switch (l) {
    case L::Row: return {cols, 1};
    case L::RowPadded: return {cols + 3, 1};
    case L::Col: return {1, rows};
    case L::ColPadded: return {1, rows + 2};
    case L::RowsReversed: return {-cols, 1};
    case L::ColsReversed: return {1, -rows};
    case L::RowsBroadcast: return {0, 1};
    case L::ColsBroadcast: return {1, 0};
    case L::Neither:
      *bad = rows > 1 && cols > 1;
      return {2 * cols * 2, 2};
  }
  return {0, 0};
}

// Batch-dim strides: 0 contiguous (outermost the largest), 1 reversed, 2 zero, 3 padded.
Shape full_strides(const Shape& shape, i64 s0, i64 s1, int batch_kind) {
  const std::size_t r = shape.size();
  Shape st(r);
  st[r - 2] = s0;
  st[r - 1] = s1;
  const i64 span = std::max<i64>(1, std::max(std::abs(s0) * shape[r - 2], std::abs(s1) * shape[r - 1]));
  i64 acc = span + (batch_kind == 3 ? 5 : 0);
  for (std::size_t ax = r - 2; ax-- > 0;) {
    st[ax] = batch_kind == 1 ? -acc : batch_kind == 2 ? 0 : acc;
    acc *= std::max<i64>(1, shape[ax]);
  }
  return st;
}

// cublasLtMatmul's semantics over a plan_lt description, column-major:
// D_i = op(A_i) op(B_i) (+ bias[row]) (relu), i < batch.
void host_lt(const LtPlan& lp, const double* A, const double* B, double* D, const double* bias, bool relu) {
  const i64 m = lp.D.rows, n = lp.D.cols;  // D is m x n here (cuBLAS's names)
  const i64 k = lp.transa == E::kOpN ? lp.A.cols : lp.A.rows;
  ASSERT_EQ(lp.transa == E::kOpN ? lp.A.rows : lp.A.cols, m);
  ASSERT_EQ(lp.transb == E::kOpN ? lp.B.rows : lp.B.cols, k);
  ASSERT_EQ(lp.transb == E::kOpN ? lp.B.cols : lp.B.rows, n);
  ASSERT_GE(lp.A.ld, std::max<i64>(1, lp.A.rows));
  ASSERT_GE(lp.B.ld, std::max<i64>(1, lp.B.rows));
  ASSERT_GE(lp.D.ld, std::max<i64>(1, lp.D.rows));
  for (i64 bi = 0; bi < lp.batch; ++bi)
    for (i64 j = 0; j < n; ++j)
      for (i64 i = 0; i < m; ++i) {
        double s = 0;
        for (i64 l = 0; l < k; ++l) {
          const double* a = A + bi * lp.A.batch_stride;
          const double* b = B + bi * lp.B.batch_stride;
          const double x = lp.transa == E::kOpN ? a[i + l * lp.A.ld] : a[l + i * lp.A.ld];
          const double y = lp.transb == E::kOpN ? b[l + j * lp.B.ld] : b[j + l * lp.B.ld];
          s += x * y;
        }
        if (bias) s += bias[i];
        if (relu) s = std::max(s, 0.0);
        D[bi * lp.D.batch_stride + i + j * lp.D.ld] = s;
      }
}

TEST(CublasPlan, LtPlanOfRowMajorAndTransposed) {
  // [2, 3] @ [3, 4]: D^T is 4 x 2; "A" is B^T (4 x 3, ld 4), "B" is A^T (3 x 2, ld 3).
  const LtPlan p = plan_lt(plan_gemm({2, 3}, {3, 1}, {3, 4}, {4, 1}));
  EXPECT_EQ(p.transa, E::kOpN);
  EXPECT_EQ(p.transb, E::kOpN);
  EXPECT_EQ(p.A.rows, 4);
  EXPECT_EQ(p.A.cols, 3);
  EXPECT_EQ(p.A.ld, 4);
  EXPECT_EQ(p.B.rows, 3);
  EXPECT_EQ(p.B.cols, 2);
  EXPECT_EQ(p.B.ld, 3);
  EXPECT_EQ(p.D.rows, 4);
  EXPECT_EQ(p.D.cols, 2);
  EXPECT_EQ(p.D.ld, 4);
  EXPECT_EQ(p.batch, 1);
  // B transposed ([3, 4] with strides (1, 3)): "A" is stored 3 x 4, op T.
  const LtPlan q = plan_lt(plan_gemm({2, 3}, {3, 1}, {3, 4}, {1, 3}));
  EXPECT_EQ(q.transa, E::kOpT);
  EXPECT_EQ(q.A.rows, 3);
  EXPECT_EQ(q.A.cols, 4);
  EXPECT_EQ(q.A.ld, 3);
  // A batch with a broadcast operand.
  const LtPlan r = plan_lt(plan_gemm({5, 2, 3}, {6, 3, 1}, {3, 4}, {4, 1}));
  EXPECT_EQ(r.batch, 5);
  EXPECT_EQ(r.B.batch_stride, 6);
  EXPECT_EQ(r.A.batch_stride, 0);
  EXPECT_EQ(r.D.batch_stride, 8);
  EXPECT_FALSE(cublaslt_supports(plan_gemm({3, 2}, {-2, 1}, {2, 2}, {2, 1})));  // staged
  EXPECT_FALSE(cublaslt_supports(plan_gemm({2, 0}, {0, 1}, {0, 4}, {4, 1})));   // k == 0
  EXPECT_TRUE(cublaslt_supports(plan_gemm({2, 3}, {3, 1}, {3, 4}, {1, 3})));
}

TEST(CublasPlan, SweepAgainstNaiveMatmul) {
  const std::vector<std::pair<Shape, Shape>> batches = {
      {{}, {}}, {{2}, {}}, {{}, {3}}, {{2}, {2}}, {{1}, {3}}, {{2, 1}, {3}}, {{2, 1}, {1, 2}}, {{0}, {}}};
  std::mt19937 rng(1234);
  int cases = 0, thrown = 0, batched = 0, staged = 0, lt = 0;
  for (const auto& [ba, bb] : batches)
    for (i64 m : {0, 1, 2, 3})
      for (i64 n : {0, 1, 3})
        for (i64 k : {0, 1, 2, 3})
          for (L la : kLayouts)
            for (L lb : kLayouts) {
              const int bk_a = cases % 4, bk_b = (cases / 4) % 4;
              ++cases;
              Shape as = ba, bs = bb;
              as.push_back(m);
              as.push_back(k);
              bs.push_back(k);
              bs.push_back(n);
              bool bad_a = false, bad_b = false;
              const auto [a0, a1] = inner_strides(la, m, k, &bad_a);
              const auto [b0, b1] = inner_strides(lb, k, n, &bad_b);
              const Array a = strided_view(as, full_strides(as, a0, a1, bk_a), rng);
              const Array b = strided_view(bs, full_strides(bs, b0, b1, bk_b), rng);
              const std::string what = shape_str(as) + " strides " + shape_str(a.strides()) + " @ " + shape_str(bs) +
                                       " strides " + shape_str(b.strides());
              const bool work = m > 0 && n > 0 && k > 0 && shape_size(ba) > 0 && shape_size(bb) > 0;
              GemmPlan plan;
              try {
                plan = plan_gemm(as, a.strides(), bs, b.strides());
              } catch (const RuntimeError& e) {
                ++thrown;
                EXPECT_TRUE(work && (bad_a || bad_b)) << what << ": " << e.what();
                continue;
              }
              EXPECT_FALSE(work && (bad_a || bad_b)) << what << ": no error";
              std::vector<double> sa(static_cast<std::size_t>(shape_size(as))),
                  sb(static_cast<std::size_t>(shape_size(bs)));
              Array c = Array::full(plan.out_shape, 99, DType::F64);  // garbage where nothing is written
              Calls calls;
              const void* pa = a.size() ? a.raw_data() : nullptr;
              const void* pb = b.size() ? b.raw_data() : nullptr;
              run_gemm_plan(plan, pa, sa.data(), pb, sb.data(), c.size() ? c.raw_data() : nullptr, sizeof(double),
                            host_backend(&calls));
              const Array want = reference(a, b, plan.out_shape);
              EXPECT_TRUE(c.equals(want)) << what << "\ngot\n" << c << "\nwant\n" << want;
              if (!work) {
                EXPECT_EQ(calls.gemm + calls.batched + calls.copies, 0) << what;
                EXPECT_EQ(calls.zeros, plan.zero_fill ? 1 : 0) << what;
              } else if (plan.strided_batched) {
                ++batched;
                EXPECT_EQ(calls.batched, 1) << what;
                EXPECT_EQ(calls.gemm, 0) << what;
              } else {
                EXPECT_EQ(calls.gemm, plan.batch) << what;
              }
              // Row- and column-major operands are never copied.
              if (work && (la == L::Row || la == L::RowPadded || la == L::Col || la == L::ColPadded)) {
                EXPECT_EQ(plan.a.staging, GemmStaging::None) << what;
              }
              if (work && (lb == L::Row || lb == L::RowPadded || lb == L::Col || lb == L::ColPadded)) {
                EXPECT_EQ(plan.b.staging, GemmStaging::None) << what;
              }
              if (plan.a.staging != GemmStaging::None || plan.b.staging != GemmStaging::None) ++staged;
              // The cuBLASLt description of the same plan, with a bias and relu.
              if (cublaslt_supports(plan)) {
                ++lt;
                std::vector<double> bias(static_cast<std::size_t>(plan.n));
                for (std::size_t j = 0; j < bias.size(); ++j) bias[j] = static_cast<double>(j % 5) - 2;
                Array d = Array::full(plan.out_shape, 99, DType::F64);
                const bool relu = cases % 2;
                host_lt(plan_lt(plan), static_cast<const double*>(pb), static_cast<const double*>(pa),
                        d.data<double>(), bias.data(), relu);
                Array want_lt = want.copy();
                const std::vector<double> wv = want.to_doubles();
                double* wl = want_lt.data<double>();
                for (std::size_t i = 0; i < wv.size(); ++i) {
                  const double v = wv[i] + bias[i % bias.size()];
                  wl[i] = relu ? std::max(v, 0.0) : v;
                }
                EXPECT_TRUE(d.equals(want_lt)) << what << " (cuBLASLt)\ngot\n" << d << "\nwant\n" << want_lt;
              }
            }
  EXPECT_GT(thrown, 0);
  EXPECT_GT(batched, 0);
  EXPECT_GT(staged, 0);
  EXPECT_GT(lt, 0);
  std::printf("[ cublas ] plan sweep: %d cases, %d rejected layouts, %d strided-batched, %d staged, %d cuBLASLt\n",
              cases, thrown, batched, staged, lt);
}

// ---- the loader ----

TEST(CublasLoader, MissingLibraryIsAnError) {
  try {
    load_cublas("/nonexistent/libcublas.so.13");
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("no cuBLAS: /nonexistent/libcublas.so.13 could not be loaded"), std::string::npos) << m;
  }
  // A library that is not cuBLAS.
  try {
    load_cublas("libm.so.6");
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("lacks cublasCreate_v2"), std::string::npos) << e.what();
  }
}

#ifdef KILN_CUBLAS_LIBRARY
TEST(CublasLoader, TheToolkitsLibraryHasEveryEntryPoint) {
  // Loading needs no GPU: every symbol kiln binds must be there.
  const CublasApi api = load_cublas(KILN_CUBLAS_LIBRARY);
  EXPECT_NE(api.gemm_strided_batched_ex, nullptr);
  EXPECT_NE(api.status_string, nullptr);
  EXPECT_NE(api.error_string(15).find("CUBLAS_STATUS_NOT_SUPPORTED"), std::string::npos) << api.error_string(15);
}
#endif

TEST(CublasLoader, MissingLtLibraryIsAnError) {
  try {
    load_cublaslt("/nonexistent/libcublasLt.so.13");
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("no cuBLASLt: /nonexistent/libcublasLt.so.13 could not be loaded"),
              std::string::npos)
        << e.what();
  }
}

#ifdef KILN_CUBLASLT_LIBRARY
TEST(CublasLoader, TheToolkitsLtLibraryHasEveryEntryPoint) {
  const CublasLtApi api = load_cublaslt(KILN_CUBLASLT_LIBRARY);
  EXPECT_NE(api.matmul, nullptr);
}
#endif

// Run in a child process (a fresh cublas_api()) with KILN_CUBLAS set.
TEST(CublasLoader, ChildWithKilnCublas) {
  if (!std::getenv("KILN_CUBLAS_TEST_CHILD")) GTEST_SKIP() << "run by EnvironmentOverride in a child process";
  EXPECT_FALSE(cublas_available());
  try {
    cublas_api();
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("no cuBLAS: /nonexistent/cublas.so could not be loaded"), std::string::npos) << m;
    EXPECT_NE(m.find("KILN_CUBLAS"), std::string::npos) << m;
  }
  // Asked twice: the same error, no crash.
  EXPECT_THROW(cublas_api(), RuntimeError);
}

TEST(CublasLoader, EnvironmentOverride) {
  const std::string cmd =
      "KILN_CUBLAS=/nonexistent/cublas.so KILN_CUBLAS_TEST_CHILD=1 /proc/" + std::to_string(::getpid()) +
      "/exe --gtest_filter=CublasLoader.ChildWithKilnCublas > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST(Cublas, Supports) {
  EXPECT_TRUE(cublas_supports(DType::F16));
  EXPECT_TRUE(cublas_supports(DType::BF16));
  EXPECT_TRUE(cublas_supports(DType::F32));
  EXPECT_TRUE(cublas_supports(DType::F64));
  EXPECT_FALSE(cublas_supports(DType::I32));
  EXPECT_FALSE(cublas_supports(DType::Bool));
}

TEST(Cublas, HostArraysAreAnError) {
  const Tensor x = matrix("x", f32), y = matrix("y", f32);
  const Tensor z = matmul(x, y);
  const Array a = Array::ones({2, 3}, DType::F32), b = Array::ones({3, 2}, DType::F32);
  try {
    cublas_matmul(*z.node(), {a, b}, nullptr);
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("one CUDA device"), std::string::npos) << e.what();
  }
}

// ---- on a GPU ----

class CublasGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    // Run by CublasEmulator below: not having a device is then a failure.
    const bool required = std::getenv("KILN_CUBLAS_TEST_REQUIRE_DEVICE") != nullptr;
    if (!runtime::cuda_available()) {
      if (required) FAIL() << "no CUDA device";
      GTEST_SKIP() << "no CUDA device";
    }
    if (!cublas_available()) {
      if (required) FAIL() << "no cuBLAS";
      GTEST_SKIP() << "no cuBLAS";
    }
  }
};

// Compares cublas_matmul on `a`, `b` (host arrays, copied to the device as
// views with the same strides over a device copy of their buffers) with the
// interpreter.
// `static_ones`: the operands' size-1 dims are static (so they may broadcast).
void check_on_gpu(const Array& a, const Array& b, double rtol, bool static_ones = false) {
  const Device dev = Device::cuda(0);
  auto to_device_view = [&](const Array& x) {
    // The whole host buffer to the device, then the same view over it.
    const i64 n = static_cast<i64>(x.buffer()->bytes / dtype_size(x.dtype()));
    const Array whole = Array::view(x.buffer(), {n}, x.dtype(), {1}, 0).to(dev);
    return Array::view(whole.buffer(), x.shape(), x.dtype(), x.strides(), x.offset());
  };
  std::vector<DimSpec> da, db;
  for (std::int64_t d : a.shape()) da.push_back(static_ones && d == 1 ? DimSpec(1) : DimSpec(-1));
  for (std::int64_t d : b.shape()) db.push_back(static_ones && d == 1 ? DimSpec(1) : DimSpec(-1));
  const Tensor ta = tensor("a", a.dtype(), da), tb = tensor("b", b.dtype(), db);
  const Tensor tc = matmul(ta, tb);
  const Array got = cublas_matmul(*tc.node(), {to_device_view(a), to_device_view(b)}, nullptr);
  const runtime::CudaDriver& d = runtime::cuda_driver();
  d.check(d.cuCtxSynchronize(), "sync");
  const Array want = ir::eval_node(*tc.node(), {a, b});
  ASSERT_EQ(got.shape(), want.shape());
  const std::vector<double> g = got.to(Device::cpu()).to_doubles(), w = want.to_doubles();
  const i64 k = a.shape().back();
  for (std::size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], w[i], rtol * std::sqrt(static_cast<double>(k)) * (1 + std::abs(w[i])))
        << "element " << i << " of " << shape_str(a.shape()) << " @ " << shape_str(b.shape());
}

TEST_F(CublasGpu, EveryDtypeAgainstTheInterpreter) {
  for (DType t : {DType::F16, DType::BF16, DType::F32, DType::F64}) {
    const double rtol = t == DType::F16 ? 2e-3 : t == DType::BF16 ? 1.6e-2 : t == DType::F32 ? 2e-6 : 1e-14;
    SCOPED_TRACE(std::string(dtype_name(t)));
    check_on_gpu(Array::randn({33, 17}, DType::F64, 1).astype(t), Array::randn({17, 65}, DType::F64, 2).astype(t),
                 rtol);
    check_on_gpu(Array::randn({3, 33, 17}, DType::F64, 3).astype(t), Array::randn({17, 9}, DType::F64, 4).astype(t),
                 rtol);
    check_on_gpu(Array::randn({2, 1, 5, 7}, DType::F64, 5).astype(t),
                 Array::randn({3, 7, 4}, DType::F64, 6).astype(t), rtol, /*static_ones=*/true);
  }
}

TEST_F(CublasGpu, LayoutsAgainstTheInterpreter) {
  std::mt19937 rng(7);
  // Transposed, padded, reversed and broadcast operands through the same views as the sweep.
  for (L la : kLayouts)
    for (L lb : kLayouts) {
      bool bad_a, bad_b;
      const auto [a0, a1] = inner_strides(la, 5, 6, &bad_a);
      const auto [b0, b1] = inner_strides(lb, 6, 7, &bad_b);
      if (bad_a || bad_b) continue;
      const Array a = strided_view({2, 5, 6}, full_strides({2, 5, 6}, a0, a1, 0), rng);
      const Array b = strided_view({2, 6, 7}, full_strides({2, 6, 7}, b0, b1, 1), rng);
      check_on_gpu(a, b, 1e-14);
    }
}

TEST_F(CublasGpu, LtBiasReluAgainstTheInterpreter) {
  const Device dev = Device::cuda(0);
  for (DType t : {DType::F16, DType::BF16, DType::F32, DType::F64}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    const double rtol = t == DType::F16 ? 4e-3 : t == DType::BF16 ? 3e-2 : t == DType::F32 ? 2e-6 : 1e-14;
    const Array a = Array::randn({3, 33, 17}, DType::F64, 8).astype(t), b = Array::randn({17, 40}, DType::F64, 9).astype(t);
    const Array bias = Array::randn({40}, DType::F64, 10).astype(t);
    std::vector<DimSpec> d3(3, DimSpec(-1)), d2(2, DimSpec(-1)), d1(1, DimSpec(-1));
    const Tensor ta = tensor("a", t, d3), tb = tensor("b", t, d2), tbias = tensor("bias", t, d1);
    for (int mode = 0; mode < 3; ++mode) {  // relu(a@b + bias), a@b + bias, relu(a@b)
      const Tensor prod = matmul(ta, tb);
      const Tensor e = mode == 0 ? relu(prod + tbias) : mode == 1 ? prod + tbias : relu(prod);
      const Array want = mode == 2 ? function({ta, tb}, {e}, {.backend = Backend::Interpreter})(a, b)[0]
                                   : function({ta, tb, tbias}, {e}, {.backend = Backend::Interpreter})(a, b, bias)[0];
      const Array got = cublaslt_matmul_bias_relu(a.to(dev), b.to(dev), mode == 2 ? Array() : bias.to(dev), mode != 1,
                                                  nullptr);
      const std::vector<double> g = got.to(Device::cpu()).to_doubles(), w = want.to_doubles();
      ASSERT_EQ(g.size(), w.size());
      for (std::size_t i = 0; i < g.size(); ++i)
        EXPECT_NEAR(g[i], w[i], rtol * std::sqrt(17.0) * (1 + std::abs(w[i]))) << "mode " << mode << " element " << i;
    }
  }
}

TEST_F(CublasGpu, ShapeErrorsAreTheInterpreters) {
  const Device dev = Device::cuda(0);
  // A run-time 1 that is not statically 1 does not stretch.
  const Tensor ta = tensor("a", f32, {-1, -1, -1}), tb = tensor("b", f32, {-1, -1, -1});
  const Tensor tc = matmul(ta, tb);
  const Array a = Array::ones({1, 2, 3}, f32).to(dev), b = Array::ones({4, 3, 2}, f32).to(dev);
  try {
    cublas_matmul(*tc.node(), {a, b}, nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch dims do not broadcast: [1, 2, 3] @ [4, 3, 2]"), std::string::npos)
        << e.what();
  }
  const Array c = Array::ones({2, 5}, f32).to(dev);
  const Tensor tm = matmul(matrix("x", f32), matrix("y", f32));
  try {
    cublas_matmul(*tm.node(), {Array::ones({2, 3}, f32).to(dev), c}, nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("contracted dims differ: [2, 3] @ [2, 5]"), std::string::npos) << e.what();
  }
}

// Only on the fake cuBLAS (tests/cuda/fake_cublas), which can be told to fail.
TEST_F(CublasGpu, StatusErrorsNameTheOpTheShapesAndTheStatus) {
  const char* s = cublas_api().status_string ? cublas_api().status_string(0) : nullptr;
  if (!s || !std::strstr(s, "fake cuBLAS")) GTEST_SKIP() << "needs the fake cuBLAS";
  const Device dev = Device::cuda(0);
  const Tensor tm = matmul(matrix("x", f32), matrix("y", f32));
  const Array a = Array::ones({2, 3}, f32).to(dev), b = Array::ones({3, 4}, f32).to(dev);
  ::setenv("KILN_FAKE_CUBLAS_FAIL", "15", 1);
  try {
    cublas_matmul(*tm.node(), {a, b}, nullptr);
    ::unsetenv("KILN_FAKE_CUBLAS_FAIL");
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    ::unsetenv("KILN_FAKE_CUBLAS_FAIL");
    EXPECT_NE(std::string(e.what()).find("matmul (cuBLAS) [2, 3] @ [3, 4] f32: cublasGemmEx failed: "
                                         "CUBLAS_STATUS_NOT_SUPPORTED (not supported (fake cuBLAS))"),
              std::string::npos)
        << e.what();
  }
  // And it works again.
  const Array c = cublas_matmul(*tm.node(), {a, b}, nullptr).to(Device::cpu());
  EXPECT_EQ(c.to_doubles(), std::vector<double>(8, 3.0));
}

TEST_F(CublasGpu, ZeroSizedContractionIsZeros) {
  check_on_gpu(Array::ones({3, 0}, DType::F32), Array::ones({0, 4}, DType::F32), 0);
  check_on_gpu(Array::ones({0, 3}, DType::F32), Array::ones({3, 4}, DType::F32), 0);
}

// The GPU tests above, in a child process, on kiln's CUDA
// driver emulator (tests/cuda_emu: host memory as device memory) with the
// emulator's own fake cuBLAS when it exports one, else
// tests/cuda/fake_cublas (a naive column-major GEMM with cuBLAS's argument
// checks): cublas_matmul's whole path — handles, streams, pointers, staging
// copies, the zero fill — short of real cuBLAS. KILN_TEST_CUDA_EMU names the
// emulator library when this build has none.
TEST(CublasEmulator, GpuTestsOnTheEmulator) {
  std::string emu;
  if (const char* e = std::getenv("KILN_TEST_CUDA_EMU")) emu = e;
#ifdef KILN_CUDA_EMU_LIB
  if (emu.empty()) emu = KILN_CUDA_EMU_LIB;
#endif
  if (emu.empty()) GTEST_SKIP() << "built without the CUDA emulator";
  void* h = dlopen(emu.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) GTEST_SKIP() << "the emulator " << emu << " is not built";
  std::string cublas = emu;
  if (!dlsym(h, "cublasGemmEx") || !dlsym(h, "cublasGemmStridedBatchedEx")) {
#ifdef KILN_FAKE_CUBLAS_LIB
    cublas = KILN_FAKE_CUBLAS_LIB;
#else
    GTEST_SKIP() << "no fake cuBLAS";
#endif
  }
  // cuBLASLt: the emulator's when it has one, else the fake's, else not tested.
  std::string lt, filter = "CublasGpu.*";
  if (dlsym(h, "cublasLtMatmul")) {
    lt = emu;
  } else {
#ifdef KILN_FAKE_CUBLAS_LIB
    lt = KILN_FAKE_CUBLAS_LIB;
#else
    filter += "-CublasGpu.Lt*";
#endif
  }
  const std::string cmd = "KILN_CUDA_DRIVER=" + emu + " KILN_CUBLAS=" + cublas +
                          (lt.empty() ? std::string() : " KILN_CUBLASLT=" + lt) +
                          " KILN_CUBLAS_TEST_REQUIRE_DEVICE=1 /proc/" + std::to_string(::getpid()) +
                          "/exe '--gtest_filter=" + filter + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int rc = ::pclose(p);
  EXPECT_EQ(rc, 0) << cmd << "\n" << out;
  EXPECT_NE(out.find("[  PASSED  ]"), std::string::npos) << out;
  for (const char* t : {"EveryDtypeAgainstTheInterpreter", "LayoutsAgainstTheInterpreter", "ShapeErrorsAreTheInterpreters",
                        "ZeroSizedContractionIsZeros"})
    EXPECT_NE(out.find(std::string("[       OK ] CublasGpu.") + t), std::string::npos) << t << " did not run\n" << out;
  if (!lt.empty()) {
    EXPECT_NE(out.find("[       OK ] CublasGpu.LtBiasRelu"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace kiln::codegen::cuda
