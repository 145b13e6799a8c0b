// cuBLAS matmul: the matmul op over CUDA device arrays.
//
// cuBLAS is loaded at run time with dlopen, like the driver
// (runtime/cuda_driver.cpp): `$KILN_CUBLAS` when set, else libcublas.so.13,
// then libcublas.so. kiln declares the few entry points and enum values it
// uses itself (values from the toolkit's cublas_api.h and library_types.h),
// so this file builds without the toolkit and libkiln links no cuBLAS. A
// machine without cuBLAS gets a kiln::RuntimeError ("no cuBLAS: ...").
//
// Semantics are the CPU step's (codegen/blas.cpp): NumPy's matmul over
// operands of rank >= 2, batch dims broadcast. Row-major C = A @ B is
// computed as the column-major C^T = B^T A^T. An operand whose last two
// dims are row-major or column-major (a `transpose` view) is passed as is
// (CUBLAS_OP_N / CUBLAS_OP_T, any leading dimension); one cuBLAS call does
// the whole batch (cublasGemmStridedBatchedEx) when both operands' batches
// are evenly spaced (stride 0 for a broadcast operand), else one
// cublasGemmEx per batch. Other layouts (negative strides in the last two
// dims, non-unit inner strides) are first copied on the device to a
// contiguous staging array, one cuMemcpyDtoDAsync per row (rows contiguous)
// or per column (columns contiguous); an operand with neither rows nor
// columns contiguous (e.g. x[:, ::2]) is an error (the caller must make it
// contiguous). Accuracy: cuBLAS's default math mode (no TF32) with f32
// accumulation for f16/bf16/f32 and reduced-precision split-K reductions
// disallowed; f64 in f64.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "codegen/blas.hpp"  // OutputAllocator
#include "ir/node.hpp"

namespace kiln::codegen::cuda {

// The value of the matmul `node` over device arrays in[0] @ in[1] (f16,
// bf16, f32, f64; NumPy matmul over operands of rank >= 2, batch dims
// broadcast), computed by cuBLAS on `stream` (a CUstream; null = the default
// stream), written into an array from `alloc` (a C-contiguous device array
// of the shape and dtype; Array::empty on the node's device when none).
// Does not synchronise (except after a staging copy, whose temporary must
// outlive the gemm). Errors: kiln::RuntimeError naming the op, the shapes
// and the cuBLAS status.
Array cublas_matmul(const ir::Node& node, const std::vector<Array>& in, void* stream,
                    const OutputAllocator& alloc = {});

// f16, bf16, f32, f64. Integer/bool matmul: false (the executor runs those elsewhere).
bool cublas_supports(DType t);

// cuBLAS loads and a CUDA device is present. Never throws.
bool cublas_available();

// ---- the loader ----

struct CublasApi {
  void* handle = nullptr;  // dlopen's; never closed
  std::string path;
  using Status = int;
  using Handle = void*;
  Status (*create)(Handle*) = nullptr;                // cublasCreate_v2
  Status (*destroy)(Handle) = nullptr;                // cublasDestroy_v2
  Status (*set_stream)(Handle, void*) = nullptr;      // cublasSetStream_v2
  Status (*set_math_mode)(Handle, int) = nullptr;     // cublasSetMathMode
  Status (*gemm_ex)(Handle, int transa, int transb, int m, int n, int k, const void* alpha, const void* A,
                    int Atype, int lda, const void* B, int Btype, int ldb, const void* beta, void* C, int Ctype,
                    int ldc, int compute, int algo) = nullptr;  // cublasGemmEx
  Status (*gemm_strided_batched_ex)(Handle, int transa, int transb, int m, int n, int k, const void* alpha,
                                    const void* A, int Atype, int lda, long long strideA, const void* B, int Btype,
                                    int ldb, long long strideB, const void* beta, void* C, int Ctype, int ldc,
                                    long long strideC, int batch, int compute,
                                    int algo) = nullptr;  // cublasGemmStridedBatchedEx
  const char* (*status_string)(Status) = nullptr;      // cublasGetStatusString; optional

  // "CUBLAS_STATUS_NOT_SUPPORTED (...)": the library's text when it has one.
  std::string error_string(Status s) const;
};

// Loads cuBLAS from `path` (dlopen's search rules for a bare name) and binds
// every entry point; nothing is cached. A kiln::RuntimeError "no cuBLAS:
// PATH could not be loaded (...)" or "cuBLAS PATH lacks NAME".
CublasApi load_cublas(const std::string& path);

// The process's cuBLAS: loaded once ($KILN_CUBLAS, else libcublas.so.13,
// else libcublas.so); a failure is remembered and thrown again on every use.
const CublasApi& cublas_api();

// ---- the plan: every decision about shapes and strides, as a pure host function ----

// cuBLAS enum values (cublas_api.h, library_types.h).
namespace cublas_enum {
constexpr int kOpN = 0, kOpT = 1;
constexpr int kR16F = 2, kR16BF = 14, kR32F = 0, kR64F = 1;        // cudaDataType
constexpr int kCompute32F = 68, kCompute64F = 70;                  // cublasComputeType_t
constexpr int kGemmDefault = -1;                                   // cublasGemmAlgo_t
constexpr int kDefaultMath = 0, kDisallowReducedPrecisionReduction = 16;  // cublasMath_t
}  // namespace cublas_enum

// How an operand is staged before the gemm.
enum class GemmStaging {
  None,  // passed as is
  Rows,  // copied to C order (last two dims row-major), one copy per row: its rows are contiguous
  Cols,  // copied to last-two-dims column-major order, one copy per column: its columns are contiguous
};

struct GemmOperandPlan {
  Shape shape, strides;  // the operand's own (element strides, any sign)
  GemmStaging staging = GemmStaging::None;
  // The strides after staging (the original ones when None); staged arrays
  // have the operand's own shape (its batch dims unbroadcast).
  Shape staged_strides;
  int op = cublas_enum::kOpN;  // for the column-major call
  std::int64_t ld = 1;
  // Element offset of every batch (C order over the broadcast batch), from
  // element [0, ...] of the (staged) operand.
  std::vector<std::int64_t> batch_offsets;
};

struct GemmPlan {
  Shape out_shape;             // batch..., m, n (row-major, what the user sees)
  std::int64_t m = 0, n = 0, k = 0;  // of the row-major product
  std::int64_t batch = 0;      // product of the broadcast batch dims
  bool no_work = false;        // out has no elements: no cuBLAS call
  bool zero_fill = false;      // k == 0: the output is zeros, no cuBLAS call
  GemmOperandPlan a, b;        // in[0] and in[1]
  // The column-major call: C^T (n x m, ldc = n) = op(B-side) (n x k) * op(A-side) (k x m).
  // cublas_m = n, cublas_n = m; first matrix from b, second from a.
  bool strided_batched = false;  // one cublasGemmStridedBatchedEx over the batch
  std::int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // when strided_batched
  std::int64_t ldc = 1;
};

// Plans a @ b for operands of these shapes and element strides. Throws
// kiln::RuntimeError (naming "matmul" and the shapes) when the shapes do not
// multiply or broadcast, a rank is below 2, an operand's layout can be
// neither passed nor staged, or a size exceeds cuBLAS's 32-bit ints.
GemmPlan plan_gemm(const Shape& a_shape, const Shape& a_strides, const Shape& b_shape, const Shape& b_strides);

// What running a plan needs; the real one is cuBLAS and the driver, tests
// plug in host stand-ins. Pointers are device addresses as integers-in-pointers.
struct GemmBackend {
  // cublasGemmEx's arguments (alpha = 1, beta = 0).
  std::function<void(int opa, int opb, std::int64_t m, std::int64_t n, std::int64_t k, const void* A,
                     std::int64_t lda, const void* B, std::int64_t ldb, void* C, std::int64_t ldc)>
      gemm;
  // cublasGemmStridedBatchedEx's.
  std::function<void(int opa, int opb, std::int64_t m, std::int64_t n, std::int64_t k, const void* A,
                     std::int64_t lda, std::int64_t stride_a, const void* B, std::int64_t ldb, std::int64_t stride_b,
                     void* C, std::int64_t ldc, std::int64_t stride_c, std::int64_t batch)>
      gemm_strided_batched;
  std::function<void(void* dst, const void* src, std::size_t bytes)> copy;  // device to device
  std::function<void(void* dst, std::size_t bytes)> zero;
};

// Runs `plan` over a (element [0, ...] at `a`; `a_staged`: room for a
// staged copy of its own shape when the plan stages it, else unused), b
// likewise, into the C-contiguous c; `elem` is the dtype's size in bytes.
void run_gemm_plan(const GemmPlan& plan, const void* a, void* a_staged, const void* b, void* b_staged, void* c,
                   std::size_t elem, const GemmBackend& backend);

// ---- cuBLASLt: matmul with a fused bias and/or relu epilogue ----
//
// relu(a @ b + bias), a @ b + bias or relu(a @ b) in one cublasLtMatmul
// (CUBLASLT_EPILOGUE_RELU_BIAS / BIAS / RELU), for the executor to use when
// it finds, over one device and one float dtype T (f16, bf16, f32, f64):
//   relu(add(matmul(A, B), bias)), add(matmul(A, B), bias) or relu(matmul(A, B))
// where the matmul's only user is the add (or the relu) and the add's only
// user is the relu; `bias` has shape [n] or [1, n] (n = B's last dim; a
// [1, ..., 1, n] broadcast is fine too) and dtype T, broadcast over the
// rows; A and B have rank >= 2 and a layout cublaslt_supports() accepts
// (no staging; batches evenly spaced or broadcast). The bias is added in the
// compute type (f32 for 16-bit types) before the single rounding to T, so
// results may differ from the unfused graph's (which rounds the product
// first) by one rounding of T; relu of NaN follows cuBLASLt (max(x, 0)).
// The algorithm is cuBLASLt's implicit heuristic without a workspace.
//
// `bias` may be a null Array (no bias). Errors as cublas_matmul's.
Array cublaslt_matmul_bias_relu(const Array& a, const Array& b, const Array& bias, bool relu, void* stream,
                                const OutputAllocator& alloc = {});

// Whether a plan can run as one cublasLtMatmul (no staged operand, at most
// one evenly spaced batch, some work to do).
bool cublaslt_supports(const GemmPlan& plan);

// The cublasLtMatmul description of a plan (column-major, as cuBLAS sees
// it): matrix "A" is the b-side, "B" the a-side, D (= C) is n x m with ld n.
struct LtLayout {
  std::int64_t rows = 0, cols = 0, ld = 0;  // cublasLtMatrixLayoutCreate's
  std::int64_t batch_stride = 0;            // CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET
};
struct LtPlan {
  int transa = cublas_enum::kOpN, transb = cublas_enum::kOpN;
  LtLayout A, B, D;
  std::int64_t batch = 1;  // CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT of every layout
};
LtPlan plan_lt(const GemmPlan& plan);

struct CublasLtApi {
  void* handle = nullptr;
  std::string path;
  using Status = int;
  Status (*create)(void**) = nullptr;                                          // cublasLtCreate
  Status (*destroy)(void*) = nullptr;                                          // cublasLtDestroy
  Status (*desc_create)(void** desc, int compute, int scale_type) = nullptr;   // cublasLtMatmulDescCreate
  Status (*desc_destroy)(void*) = nullptr;                                     // cublasLtMatmulDescDestroy
  Status (*desc_set)(void*, int attr, const void* buf, std::size_t size) = nullptr;  // ...SetAttribute
  Status (*layout_create)(void** layout, int type, std::uint64_t rows, std::uint64_t cols,
                          std::int64_t ld) = nullptr;                          // cublasLtMatrixLayoutCreate
  Status (*layout_destroy)(void*) = nullptr;                                   // cublasLtMatrixLayoutDestroy
  Status (*layout_set)(void*, int attr, const void* buf, std::size_t size) = nullptr;  // ...SetAttribute
  Status (*matmul)(void* lt, void* desc, const void* alpha, const void* A, void* Adesc, const void* B, void* Bdesc,
                   const void* beta, const void* C, void* Cdesc, void* D, void* Ddesc, const void* algo,
                   void* workspace, std::size_t workspace_bytes, void* stream) = nullptr;  // cublasLtMatmul
};

// Loads cuBLASLt from `path`; errors as load_cublas's ("no cuBLASLt: ...").
CublasLtApi load_cublaslt(const std::string& path);
// The process's: $KILN_CUBLASLT, else libcublasLt.so.13, else libcublasLt.so; once.
const CublasLtApi& cublaslt_api();

namespace cublaslt_enum {
constexpr int kDescTransA = 3, kDescTransB = 4, kDescEpilogue = 7, kDescBiasPointer = 8;  // cublasLtMatmulDescAttributes_t
constexpr int kLayoutBatchCount = 5, kLayoutStridedBatchOffset = 6;  // cublasLtMatrixLayoutAttribute_t
constexpr std::uint32_t kEpilogueDefault = 1, kEpilogueRelu = 2, kEpilogueBias = 4,
                        kEpilogueReluBias = 6;  // cublasLtEpilogue_t
}  // namespace cublaslt_enum

}  // namespace kiln::codegen::cuda
