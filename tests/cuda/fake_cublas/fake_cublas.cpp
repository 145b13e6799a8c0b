// A fake cuBLAS for tests: the entry points kiln binds (codegen/cuda/cublas.cpp),
// computing on host memory — which is what the CUDA driver emulator
// (tests/cuda_emu, libkiln_cuda_emu.so) hands out as device memory. Loaded by
// cublas_test through KILN_CUBLAS next to KILN_CUDA_DRIVER=the emulator.
//
// cuBLASLt too (KILN_CUBLASLT = this library): descriptors with the
// attributes kiln sets (sizes checked as cuBLASLt checks them), and
// cublasLtMatmul with the DEFAULT, RELU, BIAS and RELU_BIAS epilogues.
//
// cublasGemmEx / cublasGemmStridedBatchedEx: BLAS semantics, column-major,
// C = alpha op(A) op(B) + beta C (beta = 0: C not read), f16/bf16/f32 data
// with f32 compute, f64 with f64; the argument checks real cuBLAS makes
// (leading dimensions at least the stored rows, sizes not negative) answer
// CUBLAS_STATUS_INVALID_VALUE, so a bad plan fails here as it would on a GPU.
// KILN_FAKE_CUBLAS_FAIL=STATUS makes every GEMM answer STATUS (error-path tests).
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kiln/half.hpp"

namespace {

constexpr int kSuccess = 0, kNotInitialized = 1, kInvalidValue = 7, kNotSupported = 15;
constexpr int kOpN = 0, kOpT = 1;
constexpr int kR16F = 2, kR16BF = 14, kR32F = 0, kR64F = 1;
constexpr int kCompute32F = 68, kCompute64F = 70;

struct Handle {
  int magic = 0x6b696c6e;
};

double load(const void* p, int type, std::int64_t i) {
  switch (type) {
    case kR16F: return static_cast<float>(static_cast<const kiln::half*>(p)[i]);
    case kR16BF: return static_cast<float>(static_cast<const kiln::bfloat16*>(p)[i]);
    case kR32F: return static_cast<const float*>(p)[i];
    default: return static_cast<const double*>(p)[i];
  }
}

void store(void* p, int type, std::int64_t i, double v) {
  switch (type) {
    case kR16F: static_cast<kiln::half*>(p)[i] = kiln::half(static_cast<float>(v)); break;
    case kR16BF: static_cast<kiln::bfloat16*>(p)[i] = kiln::bfloat16(static_cast<float>(v)); break;
    case kR32F: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    default: static_cast<double*>(p)[i] = v; break;
  }
}

std::int64_t max1(std::int64_t v) { return v < 1 ? 1 : v; }

int check(void* h, int ta, int tb, int m, int n, int k, int atype, int lda, int btype, int ldb, int ctype, int ldc,
          int compute) {
  if (!h || static_cast<Handle*>(h)->magic != 0x6b696c6e) return kNotInitialized;
  // Tests of kiln's error path: every GEMM answers this status.
  if (const char* f = std::getenv("KILN_FAKE_CUBLAS_FAIL")) return std::atoi(f);
  if ((ta != kOpN && ta != kOpT) || (tb != kOpN && tb != kOpT) || m < 0 || n < 0 || k < 0) return kInvalidValue;
  if (lda < max1(ta == kOpN ? m : k) || ldb < max1(tb == kOpN ? k : n) || ldc < max1(m)) return kInvalidValue;
  if (atype != btype || atype != ctype) return kNotSupported;
  if (atype == kR64F ? compute != kCompute64F : compute != kCompute32F) return kNotSupported;
  if (atype != kR16F && atype != kR16BF && atype != kR32F && atype != kR64F) return kNotSupported;
  return kSuccess;
}

void gemm(int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int type, int lda, const void* B,
          int ldb, const void* beta, void* C, int ldc, int compute) {
  const bool f64 = compute == kCompute64F;
  const double al = f64 ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
  const double be = f64 ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t i = 0; i < m; ++i) {
      // Accumulated in the compute type.
      double s64 = 0;
      float s32 = 0;
      for (std::int64_t l = 0; l < k; ++l) {
        const double a = ta == kOpN ? load(A, type, i + l * lda) : load(A, type, l + i * lda);
        const double b = tb == kOpN ? load(B, type, l + j * ldb) : load(B, type, j + l * ldb);
        if (f64)
          s64 += a * b;
        else
          s32 += static_cast<float>(a) * static_cast<float>(b);
      }
      double v = al * (f64 ? s64 : s32);
      if (be != 0) v += be * load(C, type, i + j * static_cast<std::int64_t>(ldc));
      store(C, type, i + j * static_cast<std::int64_t>(ldc), v);
    }
}

}  // namespace

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

FAKE_EXPORT int cublasCreate_v2(void** h) {
  if (!h) return kInvalidValue;
  *h = new Handle;
  return kSuccess;
}
FAKE_EXPORT int cublasDestroy_v2(void* h) {
  delete static_cast<Handle*>(h);
  return kSuccess;
}
FAKE_EXPORT int cublasSetStream_v2(void* h, void*) { return h ? kSuccess : kNotInitialized; }
FAKE_EXPORT int cublasSetMathMode(void* h, int mode) {
  if (!h) return kNotInitialized;
  return (mode & 0xf) == 0 ? kSuccess : kInvalidValue;  // kiln asks for the default math only
}
FAKE_EXPORT const char* cublasGetStatusString(int s) {
  switch (s) {
    case kSuccess: return "success (fake cuBLAS)";
    case kInvalidValue: return "an invalid value (fake cuBLAS)";
    case kNotSupported: return "not supported (fake cuBLAS)";
    default: return "error (fake cuBLAS)";
  }
}
FAKE_EXPORT int cublasGemmEx(void* h, int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int atype,
                             int lda, const void* B, int btype, int ldb, const void* beta, void* C, int ctype, int ldc,
                             int compute, int /*algo*/) {
  if (const int s = check(h, ta, tb, m, n, k, atype, lda, btype, ldb, ctype, ldc, compute)) return s;
  gemm(ta, tb, m, n, k, alpha, A, atype, lda, B, ldb, beta, C, ldc, compute);
  return kSuccess;
}
FAKE_EXPORT int cublasGemmStridedBatchedEx(void* h, int ta, int tb, int m, int n, int k, const void* alpha,
                                           const void* A, int atype, int lda, long long sa, const void* B, int btype,
                                           int ldb, long long sb, const void* beta, void* C, int ctype, int ldc,
                                           long long sc, int batch, int compute, int /*algo*/) {
  if (const int s = check(h, ta, tb, m, n, k, atype, lda, btype, ldb, ctype, ldc, compute)) return s;
  if (batch < 0) return kInvalidValue;
  const std::size_t e = atype == kR64F ? 8 : atype == kR32F ? 4 : 2;
  for (long long i = 0; i < batch; ++i)
    gemm(ta, tb, m, n, k, alpha, static_cast<const char*>(A) + i * sa * static_cast<long long>(e), atype, lda,
         static_cast<const char*>(B) + i * sb * static_cast<long long>(e), ldb, beta,
         static_cast<char*>(C) + i * sc * static_cast<long long>(e), ldc, compute);
  return kSuccess;
}

// ---- cuBLASLt ----

namespace {

struct LtDesc {
  int compute = 0, scale = 0;
  std::int32_t transa = kOpN, transb = kOpN;
  std::uint32_t epilogue = 1;
  const void* bias = nullptr;
};
struct LtLayout {
  int type = 0;
  std::uint64_t rows = 0, cols = 0;
  std::int64_t ld = 0;
  std::int32_t batch = 1;
  std::int64_t stride = 0;
};

template <class T>
int set(void* dst, const void* buf, std::size_t size) {
  if (!buf || size != sizeof(T)) return kInvalidValue;
  std::memcpy(dst, buf, sizeof(T));
  return kSuccess;
}

}  // namespace

FAKE_EXPORT int cublasLtCreate(void** h) { return cublasCreate_v2(h); }
FAKE_EXPORT int cublasLtDestroy(void* h) { return cublasDestroy_v2(h); }
FAKE_EXPORT int cublasLtMatmulDescCreate(void** d, int compute, int scale) {
  if (!d) return kInvalidValue;
  auto* x = new LtDesc;
  x->compute = compute;
  x->scale = scale;
  *d = x;
  return kSuccess;
}
FAKE_EXPORT int cublasLtMatmulDescDestroy(void* d) {
  delete static_cast<LtDesc*>(d);
  return kSuccess;
}
FAKE_EXPORT int cublasLtMatmulDescSetAttribute(void* d, int attr, const void* buf, std::size_t size) {
  auto* x = static_cast<LtDesc*>(d);
  switch (attr) {
    case 3: return set<std::int32_t>(&x->transa, buf, size);
    case 4: return set<std::int32_t>(&x->transb, buf, size);
    case 7: return set<std::uint32_t>(&x->epilogue, buf, size);
    case 8: return set<const void*>(&x->bias, buf, size);
    default: return kInvalidValue;
  }
}
FAKE_EXPORT int cublasLtMatrixLayoutCreate(void** l, int type, std::uint64_t rows, std::uint64_t cols, std::int64_t ld) {
  if (!l || ld < max1(static_cast<std::int64_t>(rows))) return kInvalidValue;
  *l = new LtLayout{type, rows, cols, ld, 1, 0};
  return kSuccess;
}
FAKE_EXPORT int cublasLtMatrixLayoutDestroy(void* l) {
  delete static_cast<LtLayout*>(l);
  return kSuccess;
}
FAKE_EXPORT int cublasLtMatrixLayoutSetAttribute(void* l, int attr, const void* buf, std::size_t size) {
  auto* x = static_cast<LtLayout*>(l);
  switch (attr) {
    case 5: return set<std::int32_t>(&x->batch, buf, size);
    case 6: return set<std::int64_t>(&x->stride, buf, size);
    default: return kInvalidValue;
  }
}
FAKE_EXPORT int cublasLtMatmul(void* lt, void* desc, const void* alpha, const void* A, void* Adesc, const void* B,
                               void* Bdesc, const void* beta, const void* C, void* Cdesc, void* D, void* Ddesc,
                               const void* algo, void* /*ws*/, std::size_t /*ws_bytes*/, void* /*stream*/) {
  if (!lt || !desc || !Adesc || !Bdesc || !Cdesc || !Ddesc || algo) return kInvalidValue;
  const auto& d = *static_cast<LtDesc*>(desc);
  const auto& la = *static_cast<LtLayout*>(Adesc);
  const auto& lb = *static_cast<LtLayout*>(Bdesc);
  const auto& lc = *static_cast<LtLayout*>(Cdesc);
  const auto& ld = *static_cast<LtLayout*>(Ddesc);
  const auto m = static_cast<std::int64_t>(ld.rows), n = static_cast<std::int64_t>(ld.cols);
  const auto k = static_cast<std::int64_t>(d.transa == kOpN ? la.cols : la.rows);
  if (static_cast<std::int64_t>(d.transa == kOpN ? la.rows : la.cols) != m ||
      static_cast<std::int64_t>(d.transb == kOpN ? lb.rows : lb.cols) != k ||
      static_cast<std::int64_t>(d.transb == kOpN ? lb.cols : lb.rows) != n)
    return kInvalidValue;
  if (la.batch != ld.batch || lb.batch != ld.batch || lc.batch != ld.batch || C != D) return kInvalidValue;
  if (d.epilogue != 1 && d.epilogue != 2 && d.epilogue != 4 && d.epilogue != 6) return kNotSupported;
  if ((d.epilogue & 4) && !d.bias) return kInvalidValue;
  const int type = ld.type;
  if (la.type != type || lb.type != type) return kNotSupported;
  const bool f64 = d.compute == kCompute64F;
  const std::size_t e = type == kR64F ? 8 : type == kR32F ? 4 : 2;
  for (std::int32_t bi = 0; bi < ld.batch; ++bi) {
    const char* a = static_cast<const char*>(A) + bi * la.stride * static_cast<std::int64_t>(e);
    const char* b = static_cast<const char*>(B) + bi * lb.stride * static_cast<std::int64_t>(e);
    char* out = static_cast<char*>(D) + bi * ld.stride * static_cast<std::int64_t>(e);
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t i = 0; i < m; ++i) {
        double s64 = 0;
        float s32 = 0;
        for (std::int64_t l = 0; l < k; ++l) {
          const double x = d.transa == kOpN ? load(a, type, i + l * la.ld) : load(a, type, l + i * la.ld);
          const double y = d.transb == kOpN ? load(b, type, l + j * lb.ld) : load(b, type, j + l * lb.ld);
          if (f64)
            s64 += x * y;
          else
            s32 += static_cast<float>(x) * static_cast<float>(y);
        }
        const double al = f64 ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
        const double be = f64 ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
        if (be != 0) return kNotSupported;  // kiln passes beta = 0
        double v = al * (f64 ? s64 : static_cast<double>(s32));
        if (d.epilogue & 4) v += load(d.bias, type, i);
        if ((d.epilogue & 2) && !(v > 0)) v = v != v ? v : 0;
        store(out, type, i + j * ld.ld, v);
      }
  }
  return kSuccess;
}
