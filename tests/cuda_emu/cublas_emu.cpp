// Fake cuBLAS in the CUDA emulator's library, so kiln's cuBLAS path
// (dlopen'ed, KILN_CUBLAS=/path/libkiln_cuda_emu.so) runs without a GPU:
// cublasCreate_v2, cublasDestroy_v2, cublasSetStream_v2, cublasSetMathMode,
// cublasGetMathMode, cublasSetPointerMode_v2, cublasGetPointerMode_v2,
// cublasGemmEx, cublasGemmStridedBatchedEx, cublasGetStatusString.
//
// A naive column-major GEMM over the emulator's device memory (host memory):
// C = alpha op(A) op(B) + beta C, op N or T (C = T for real types), leading
// dimensions checked as cuBLAS documents, C not read when beta is 0.
// Data types (A, B, C alike) and compute types:
//   CUDA_R_32F with CUBLAS_COMPUTE_32F (and its _PEDANTIC/_FAST_* variants),
//   CUDA_R_64F with CUBLAS_COMPUTE_64F(_PEDANTIC),
//   CUDA_R_16F / CUDA_R_16BF with CUBLAS_COMPUTE_32F*: inputs widened to f32,
//     the f32 result rounded once to the data type (nearest even),
//   CUDA_R_16F with CUBLAS_COMPUTE_16F(_PEDANTIC): alpha/beta are halves,
//     accumulated in f32 and rounded once (real cuBLAS may round more often);
// anything else is CUBLAS_STATUS_NOT_SUPPORTED. Sums run over k in order in
// the compute type. Every matrix's extent is checked against the live device
// allocations: outside one is CUBLAS_STATUS_EXECUTION_FAILED (a GPU would
// fault), with the reason on stderr.
//
// The enum values are cuBLAS's and CUDA's (cublas_api.h, library_types.h),
// written here so the emulator builds without the toolkit.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#define KILN_EMU_EXPORT extern "C" __attribute__((visibility("default")))

namespace kiln_emu {
bool initialised();
bool device_range_ok(std::uintptr_t p, std::size_t n);
bool stream_ok(void* s);
}  // namespace kiln_emu

namespace {

enum : int {
  kSuccess = 0,
  kNotInitialized = 1,
  kAllocFailed = 3,
  kInvalidValue = 7,
  kArchMismatch = 8,
  kMappingError = 11,
  kExecutionFailed = 13,
  kInternalError = 14,
  kNotSupported = 15,
};
enum : int { kOpN = 0, kOpT = 1, kOpC = 2 };
enum : int { kR32F = 0, kR64F = 1, kR16F = 2, kR16BF = 14 };
enum : int {
  kCompute16F = 64,
  kCompute16FPedantic = 65,
  kCompute32F = 68,
  kCompute32FPedantic = 69,
  kCompute32FFast16F = 74,
  kCompute32FFast16BF = 75,
  kCompute32FFastTF32 = 77,
  kCompute64F = 70,
  kCompute64FPedantic = 71,
};

struct Handle {
  void* stream = nullptr;
  int math_mode = 0;
  int pointer_mode = 0;  // CUBLAS_POINTER_MODE_HOST
};
std::mutex g_mu;
std::set<Handle*>& handles() {
  static std::set<Handle*>* h = new std::set<Handle*>;
  return *h;
}
bool valid(Handle* h) {
  std::lock_guard<std::mutex> lock(g_mu);
  return handles().count(h) != 0;
}

float h2f(std::uint16_t h) {
  _Float16 v;
  std::memcpy(&v, &h, 2);
  return static_cast<float>(v);
}
std::uint16_t f2h(float f) {
  const _Float16 v = static_cast<_Float16>(f);
  std::uint16_t h;
  std::memcpy(&h, &v, 2);
  return h;
}
float bf2f(std::uint16_t h) {
  const std::uint32_t b = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
std::uint16_t f2bf(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  if (f != f) return static_cast<std::uint16_t>(((b & 0x80000000u) | 0x7fc00000u) >> 16);
  return static_cast<std::uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

std::size_t type_size(int t) { return t == kR64F ? 8 : t == kR32F ? 4 : 2; }

// Element i of a matrix of data type t, widened to the accumulator type Acc.
template <class Acc>
Acc load(const void* p, int t, std::int64_t i) {
  switch (t) {
    case kR32F: return static_cast<Acc>(static_cast<const float*>(p)[i]);
    case kR64F: return static_cast<Acc>(static_cast<const double*>(p)[i]);
    case kR16F: return static_cast<Acc>(h2f(static_cast<const std::uint16_t*>(p)[i]));
    default: return static_cast<Acc>(bf2f(static_cast<const std::uint16_t*>(p)[i]));
  }
}
template <class Acc>
void store(void* p, int t, std::int64_t i, Acc v) {
  switch (t) {
    case kR32F: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case kR64F: static_cast<double*>(p)[i] = static_cast<double>(v); break;
    case kR16F: static_cast<std::uint16_t*>(p)[i] = f2h(static_cast<float>(v)); break;
    default: static_cast<std::uint16_t*>(p)[i] = f2bf(static_cast<float>(v)); break;
  }
}

template <class Acc>
void gemm(int ta, int tb, int m, int n, int k, Acc alpha, const void* A, int lda, const void* B, int ldb, Acc beta,
          void* C, int ldc, int t) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      Acc acc = 0;
      if (alpha != Acc(0))
        for (int p = 0; p < k; ++p) {
          const Acc a = load<Acc>(A, t, ta == kOpN ? i + static_cast<std::int64_t>(p) * lda : p + static_cast<std::int64_t>(i) * lda);
          const Acc b = load<Acc>(B, t, tb == kOpN ? p + static_cast<std::int64_t>(j) * ldb : j + static_cast<std::int64_t>(p) * ldb);
          acc += a * b;
        }
      const std::int64_t ci = i + static_cast<std::int64_t>(j) * ldc;
      Acc r = alpha * acc;
      if (beta != Acc(0)) r += beta * load<Acc>(C, t, ci);
      store<Acc>(C, t, ci, r);
    }
}

// The bytes a column-major rows x cols matrix with leading dimension ld spans.
std::size_t span(int rows, int cols, int ld, int t) {
  if (rows == 0 || cols == 0) return 0;
  return (static_cast<std::size_t>(cols - 1) * static_cast<std::size_t>(ld) + static_cast<std::size_t>(rows)) * type_size(t);
}

int check_matrix(const char* fn, const char* name, const void* p, int rows, int cols, int ld, int t, long long batch_offset) {
  const std::size_t bytes = span(rows, cols, ld, t);
  const auto base = reinterpret_cast<std::uintptr_t>(p) + static_cast<std::uintptr_t>(batch_offset * static_cast<long long>(type_size(t)));
  if (!kiln_emu::device_range_ok(base, bytes)) {
    std::fprintf(stderr,
                 "kiln CUDA emulator: %s: %s (%d x %d, ld %d, %zu bytes at %p) is not inside one live device allocation\n",
                 fn, name, rows, cols, ld, bytes, reinterpret_cast<void*>(base));
    return kExecutionFailed;
  }
  return kSuccess;
}

int gemm_batched(const char* fn, Handle* h, int transa, int transb, int m, int n, int k, const void* alpha, const void* A,
                 int at, int lda, long long sa, const void* B, int bt, int ldb, long long sb, const void* beta, void* C,
                 int ct, int ldc, long long sc, int batch, int compute) {
  if (!kiln_emu::initialised() || !valid(h)) return kNotInitialized;
  if (transa < 0 || transa > 2 || transb < 0 || transb > 2 || m < 0 || n < 0 || k < 0 || batch < 0) return kInvalidValue;
  const int ar = transa == kOpN ? m : k, ac = transa == kOpN ? k : m;
  const int br = transb == kOpN ? k : n, bc = transb == kOpN ? n : k;
  if (lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) || ldc < (m > 1 ? m : 1)) return kInvalidValue;
  if (!alpha || !beta) return kInvalidValue;
  if (at != bt || at != ct) return kNotSupported;
  const bool c32 = compute == kCompute32F || compute == kCompute32FPedantic || compute == kCompute32FFast16F ||
                   compute == kCompute32FFast16BF || compute == kCompute32FFastTF32;
  const bool c64 = compute == kCompute64F || compute == kCompute64FPedantic;
  const bool c16 = compute == kCompute16F || compute == kCompute16FPedantic;
  const bool ok = (c32 && (at == kR32F || at == kR16F || at == kR16BF)) || (c64 && at == kR64F) || (c16 && at == kR16F);
  if (!ok) return kNotSupported;
  if (m == 0 || n == 0) return kSuccess;
  for (int b = 0; b < batch; ++b) {
    if (k > 0) {
      if (int r = check_matrix(fn, "A", A, ar, ac, lda, at, b * sa)) return r;
      if (int r = check_matrix(fn, "B", B, br, bc, ldb, bt, b * sb)) return r;
    }
    if (int r = check_matrix(fn, "C", C, m, n, ldc, ct, b * sc)) return r;
  }
  const std::size_t es = type_size(at);
  for (int b = 0; b < batch; ++b) {
    const char* a = static_cast<const char*>(A) + b * sa * static_cast<long long>(es);
    const char* bb = static_cast<const char*>(B) + b * sb * static_cast<long long>(es);
    char* c = static_cast<char*>(C) + b * sc * static_cast<long long>(es);
    if (c64) {
      gemm<double>(transa, transb, m, n, k, *static_cast<const double*>(alpha), a, lda, bb, ldb,
                   *static_cast<const double*>(beta), c, ldc, at);
    } else if (c16) {
      gemm<float>(transa, transb, m, n, k, h2f(*static_cast<const std::uint16_t*>(alpha)), a, lda, bb, ldb,
                  h2f(*static_cast<const std::uint16_t*>(beta)), c, ldc, at);
    } else {
      gemm<float>(transa, transb, m, n, k, *static_cast<const float*>(alpha), a, lda, bb, ldb,
                  *static_cast<const float*>(beta), c, ldc, at);
    }
  }
  return kSuccess;
}

}  // namespace

KILN_EMU_EXPORT int cublasCreate_v2(Handle** h) {
  if (!h) return kInvalidValue;
  if (!kiln_emu::initialised()) return kNotInitialized;
  auto* x = new Handle;
  std::lock_guard<std::mutex> lock(g_mu);
  handles().insert(x);
  *h = x;
  return kSuccess;
}

KILN_EMU_EXPORT int cublasDestroy_v2(Handle* h) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!handles().erase(h)) return kNotInitialized;
  delete h;
  return kSuccess;
}

KILN_EMU_EXPORT int cublasSetStream_v2(Handle* h, void* stream) {
  if (!valid(h)) return kNotInitialized;
  if (!kiln_emu::stream_ok(stream)) return kInvalidValue;
  h->stream = stream;
  return kSuccess;
}

KILN_EMU_EXPORT int cublasGetStream_v2(Handle* h, void** stream) {
  if (!valid(h)) return kNotInitialized;
  if (!stream) return kInvalidValue;
  *stream = h->stream;
  return kSuccess;
}

// CUBLAS_DEFAULT_MATH 0, TENSOR_OP 1, PEDANTIC 2, TF32_TENSOR_OP 3, | DISALLOW_REDUCED_PRECISION_REDUCTION 16.
KILN_EMU_EXPORT int cublasSetMathMode(Handle* h, int mode) {
  if (!valid(h)) return kNotInitialized;
  if ((mode & ~16) < 0 || (mode & ~16) > 3) return kInvalidValue;
  h->math_mode = mode;
  return kSuccess;
}

KILN_EMU_EXPORT int cublasGetMathMode(Handle* h, int* mode) {
  if (!valid(h)) return kNotInitialized;
  if (!mode) return kInvalidValue;
  *mode = h->math_mode;
  return kSuccess;
}

// Device memory is host memory here, so both pointer modes read alpha and beta the same way.
KILN_EMU_EXPORT int cublasSetPointerMode_v2(Handle* h, int mode) {
  if (!valid(h)) return kNotInitialized;
  if (mode != 0 && mode != 1) return kInvalidValue;
  h->pointer_mode = mode;
  return kSuccess;
}

KILN_EMU_EXPORT int cublasGetPointerMode_v2(Handle* h, int* mode) {
  if (!valid(h)) return kNotInitialized;
  if (!mode) return kInvalidValue;
  *mode = h->pointer_mode;
  return kSuccess;
}

KILN_EMU_EXPORT const char* cublasGetStatusString(int s) {
  switch (s) {
    case kSuccess: return "CUBLAS_STATUS_SUCCESS";
    case kNotInitialized: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case kAllocFailed: return "CUBLAS_STATUS_ALLOC_FAILED";
    case kInvalidValue: return "CUBLAS_STATUS_INVALID_VALUE";
    case kArchMismatch: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case kMappingError: return "CUBLAS_STATUS_MAPPING_ERROR";
    case kExecutionFailed: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case kInternalError: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case kNotSupported: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

KILN_EMU_EXPORT int cublasGemmEx(Handle* h, int transa, int transb, int m, int n, int k, const void* alpha,
                                 const void* A, int at, int lda, const void* B, int bt, int ldb, const void* beta,
                                 void* C, int ct, int ldc, int compute, int /*algo*/) {
  return gemm_batched("cublasGemmEx", h, transa, transb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct,
                      ldc, 0, 1, compute);
}

KILN_EMU_EXPORT int cublasGemmStridedBatchedEx(Handle* h, int transa, int transb, int m, int n, int k,
                                               const void* alpha, const void* A, int at, int lda, long long sa,
                                               const void* B, int bt, int ldb, long long sb, const void* beta, void* C,
                                               int ct, int ldc, long long sc, int batch, int compute, int /*algo*/) {
  return gemm_batched("cublasGemmStridedBatchedEx", h, transa, transb, m, n, k, alpha, A, at, lda, sa, B, bt, ldb, sb,
                      beta, C, ct, ldc, sc, batch, compute);
}
