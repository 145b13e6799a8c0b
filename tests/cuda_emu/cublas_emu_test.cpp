// The emulator's fake cuBLAS (cublas_emu.cpp), called as kiln's cuBLAS
// loader would (dlsym on the library): column-major GEMM with op N/T,
// padded leading dimensions (the padding holds NaN: a read would show),
// alpha/beta, f32/f64/f16/bf16, strided batches with a broadcast operand,
// and the documented errors. Inputs are small integers, so every sum is
// exact and the only rounding is the final one to f16/bf16.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_emu/emu_test_util.hpp"
#include "kiln/kiln.hpp"

namespace {

using namespace kiln;
using namespace kiln::cuda_emu_test;

using Handle = void*;
using GemmEx = int (*)(Handle, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                       const void*, void*, int, int, int, int);
using GemmStridedBatchedEx = int (*)(Handle, int, int, int, int, int, const void*, const void*, int, int, long long,
                                     const void*, int, int, long long, const void*, void*, int, int, long long, int,
                                     int, int);
constexpr int kOpN = 0, kOpT = 1;
constexpr int kCompute16F = 64, kCompute32F = 68, kCompute64F = 70;

int cuda_type(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F64: return 1;
    case DType::F16: return 2;
    default: return 14;  // CUDA_R_16BF
  }
}

struct Blas {
  Handle h = nullptr;
  GemmEx gemm = emu_fn<GemmEx>("cublasGemmEx");
  GemmStridedBatchedEx batched = emu_fn<GemmStridedBatchedEx>("cublasGemmStridedBatchedEx");
  Blas() {
    runtime::cuda_device(Device::cuda(0), "test");
    EXPECT_EQ(emu_fn<int (*)(Handle*)>("cublasCreate_v2")(&h), 0);
    EXPECT_EQ(emu_fn<int (*)(Handle, int)>("cublasSetMathMode")(h, 16), 0);
    EXPECT_EQ(emu_fn<int (*)(Handle, void*)>("cublasSetStream_v2")(h, nullptr), 0);
  }
  ~Blas() { emu_fn<int (*)(Handle)>("cublasDestroy_v2")(h); }
};

// A column-major rows x cols matrix with leading dimension ld (padding NaN for floats), values in [-3, 3].
std::vector<double> matrix_values(int rows, int cols, int ld, int batch, std::uint64_t seed) {
  std::vector<std::int64_t> r = Array::randint({std::int64_t{ld} * cols * batch}, -3, 4, DType::I64, seed).to_int64s();
  std::vector<double> v(r.size(), NAN);
  for (int b = 0; b < batch; ++b)
    for (int j = 0; j < cols; ++j)
      for (int i = 0; i < rows; ++i) {
        const std::size_t e = static_cast<std::size_t>((b * cols + j) * ld + i);
        v[e] = static_cast<double>(r[e]);
      }
  return v;
}

TEST(CublasOnEmulator, GemmMatchesTheDefinitionForEveryTypeAndTranspose) {
  Blas blas;
  const Device g = Device::cuda(0);
  const int m = 5, n = 4, k = 7;
  for (DType t : {DType::F32, DType::F64, DType::F16, DType::BF16}) {
    for (int ta : {kOpN, kOpT})
      for (int tb : {kOpN, kOpT})
        for (int batch : {1, 3}) {
          const int ar = ta == kOpN ? m : k, ac = ta == kOpN ? k : m, br = tb == kOpN ? k : n, bc = tb == kOpN ? n : k;
          const int lda = ar + 2, ldb = br + 1, ldc = m + 3;
          const std::vector<double> a = matrix_values(ar, ac, lda, batch, 1), b = matrix_values(br, bc, ldb, 1, 2),
                                    c0 = matrix_values(m, n, ldc, batch, 3);
          Array da = Array::from_doubles(a, {static_cast<std::int64_t>(a.size())}, t).to(g);
          Array db = Array::from_doubles(b, {static_cast<std::int64_t>(b.size())}, t).to(g);
          Array dc = Array::from_doubles(c0, {static_cast<std::int64_t>(c0.size())}, t).to(g);
          const double alpha = 2, beta = -1;
          const float af = 2, bf = -1;
          const std::uint16_t ah = 0x4000, bh = 0xbc00;  // 2 and -1 in f16
          const bool half_compute = t == DType::F16 && batch == 3;  // CUBLAS_COMPUTE_16F: halves for alpha/beta
          const int compute = t == DType::F64 ? kCompute64F : half_compute ? kCompute16F : kCompute32F;
          const void* pa = t == DType::F64 ? static_cast<const void*>(&alpha) : half_compute ? static_cast<const void*>(&ah) : &af;
          const void* pb = t == DType::F64 ? static_cast<const void*>(&beta) : half_compute ? static_cast<const void*>(&bh) : &bf;
          int st;
          if (batch == 1)
            st = blas.gemm(blas.h, ta, tb, m, n, k, pa, da.buffer()->data, cuda_type(t), lda, db.buffer()->data,
                           cuda_type(t), ldb, pb, dc.buffer()->data, cuda_type(t), ldc, compute, -1);
          else  // B broadcast over the batch (stride 0)
            st = blas.batched(blas.h, ta, tb, m, n, k, pa, da.buffer()->data, cuda_type(t), lda,
                              static_cast<long long>(lda) * ac, db.buffer()->data, cuda_type(t), ldb, 0, pb,
                              dc.buffer()->data, cuda_type(t), ldc, static_cast<long long>(ldc) * n, batch, compute, -1);
          const std::string what = std::string(dtype_name(t)) + (ta ? " T" : " N") + (tb ? "T" : "N") + " batch " +
                                   std::to_string(batch);
          ASSERT_EQ(st, 0) << what;
          // the definition, exact in double, rounded once to t
          std::vector<double> want = c0;
          for (int bi = 0; bi < batch; ++bi)
            for (int j = 0; j < n; ++j)
              for (int i = 0; i < m; ++i) {
                double s = 0;
                for (int p = 0; p < k; ++p) {
                  const double x = a[static_cast<std::size_t>(bi * lda * ac + (ta == kOpN ? i + p * lda : p + i * lda))];
                  const double y = b[static_cast<std::size_t>(tb == kOpN ? p + j * ldb : j + p * ldb)];
                  s += x * y;
                }
                double& w = want[static_cast<std::size_t>(bi * ldc * n + j * ldc + i)];
                w = alpha * s + beta * w;
              }
          const std::vector<double> w = Array::from_doubles(want, {static_cast<std::int64_t>(want.size())}, t).to_doubles();
          const std::vector<double> got = dc.to(Device::cpu()).to_doubles();
          for (std::size_t e = 0; e < w.size(); ++e) {
            if (std::isnan(w[e])) {
              EXPECT_TRUE(std::isnan(got[e])) << what << ": padding of C written at " << e;
            } else {
              EXPECT_EQ(got[e], w[e]) << what << " at " << e;
            }
          }
        }
  }
}

TEST(CublasOnEmulator, BetaZeroDoesNotReadCAndErrorsAreCublasStatuses) {
  Blas blas;
  const Device g = Device::cuda(0);
  Array a = Array::full({6}, 1.0, DType::F32, g), b = Array::full({6}, 2.0, DType::F32, g);
  Array c = Array::full({4}, NAN, DType::F32, g);
  const float one = 1, zero = 0;
  void* A = a.buffer()->data;
  void* B = b.buffer()->data;
  void* C = c.buffer()->data;
  // C (2x2) = A (2x3) B (3x2): every entry 6; C held NaN, beta 0 ignores it
  ASSERT_EQ(blas.gemm(blas.h, kOpN, kOpN, 2, 2, 3, &one, A, 0, 2, B, 0, 3, &zero, C, 0, 2, kCompute32F, -1), 0);
  EXPECT_EQ(c.to(Device::cpu()).to_doubles(), std::vector<double>(4, 6.0));
  // lda below the rows of A: CUBLAS_STATUS_INVALID_VALUE
  EXPECT_EQ(blas.gemm(blas.h, kOpN, kOpN, 2, 2, 3, &one, A, 0, 1, B, 0, 3, &zero, C, 0, 2, kCompute32F, -1), 7);
  EXPECT_EQ(blas.gemm(blas.h, kOpN, kOpN, -1, 2, 3, &one, A, 0, 2, B, 0, 3, &zero, C, 0, 2, kCompute32F, -1), 7);
  // mixed types, or f32 data with a 64-bit compute type: CUBLAS_STATUS_NOT_SUPPORTED
  EXPECT_EQ(blas.gemm(blas.h, kOpN, kOpN, 2, 2, 3, &one, A, 0, 2, B, 1, 3, &zero, C, 0, 2, kCompute32F, -1), 15);
  EXPECT_EQ(blas.gemm(blas.h, kOpN, kOpN, 2, 2, 3, &one, A, 0, 2, B, 0, 3, &zero, C, 0, 2, kCompute64F, -1), 15);
  // B read past its allocation (6 floats; k = 4 needs 8; kiln's allocator would round the block up, so
  // straight from the driver): CUBLAS_STATUS_EXECUTION_FAILED
  DeviceVec<float> small(std::vector<float>(6, 2.0f));
  void* Bs = reinterpret_cast<void*>(static_cast<std::uintptr_t>(small.p));
  EXPECT_EQ(blas.gemm(blas.h, kOpN, kOpN, 2, 2, 3, &one, A, 0, 2, Bs, 0, 3, &zero, C, 0, 2, kCompute32F, -1), 0);
  EXPECT_EQ(blas.gemm(blas.h, kOpN, kOpN, 2, 2, 4, &one, A, 0, 2, Bs, 0, 4, &zero, C, 0, 2, kCompute32F, -1), 13);
  // a destroyed handle
  Handle h2 = nullptr;
  ASSERT_EQ(emu_fn<int (*)(Handle*)>("cublasCreate_v2")(&h2), 0);
  ASSERT_EQ(emu_fn<int (*)(Handle)>("cublasDestroy_v2")(h2), 0);
  EXPECT_EQ(blas.gemm(h2, kOpN, kOpN, 2, 2, 3, &one, A, 0, 2, B, 0, 3, &zero, C, 0, 2, kCompute32F, -1), 1);
  EXPECT_STREQ(emu_fn<const char* (*)(int)>("cublasGetStatusString")(13), "CUBLAS_STATUS_EXECUTION_FAILED");
}

}  // namespace
