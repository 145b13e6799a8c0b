#include "codegen/cuda/cublas.hpp"

#include <dlfcn.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "ir/interp_util.hpp"
#include "kiln/error.hpp"
#include "runtime/cuda_driver.hpp"

namespace kiln::codegen::cuda {

namespace {

using i64 = std::int64_t;

const char* known_status(int s) {
  switch (s) {
    case 0: return "CUBLAS_STATUS_SUCCESS";
    case 1: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case 3: return "CUBLAS_STATUS_ALLOC_FAILED";
    case 7: return "CUBLAS_STATUS_INVALID_VALUE";
    case 8: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case 11: return "CUBLAS_STATUS_MAPPING_ERROR";
    case 13: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case 14: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case 15: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case 16: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return nullptr;
  }
}

template <class Api, class F>
void bind(Api& api, F& fn, const char* name, const char* lib = "cuBLAS") {
  dlerror();
  void* p = dlsym(api.handle, name);
  if (!p) {
    const char* e = dlerror();
    throw RuntimeError(std::string(lib) + " " + api.path + " lacks " + name +
                       (e ? std::string(" (") + e + ")" : std::string()));
  }
  fn = reinterpret_cast<F>(p);
}

std::string shapes_str(const Shape& a, const Shape& b) { return shape_str(a) + " @ " + shape_str(b); }

[[noreturn]] void fail(const Shape& a, const Shape& b, const std::string& why) {
  throw RuntimeError("matmul (cuBLAS): " + shapes_str(a, b) + ": " + why);
}

}  // namespace

std::string CublasApi::error_string(Status s) const {
  const char* name = known_status(s);
  std::string out = name ? name : "cuBLAS status " + std::to_string(s);
  if (status_string) {
    const char* t = status_string(s);
    if (t && *t && (!name || std::strcmp(t, name) != 0)) out += std::string(" (") + t + ")";
  }
  return out;
}

CublasApi load_cublas(const std::string& path) {
  CublasApi api;
  api.path = path;
  dlerror();
  api.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!api.handle) {
    const char* e = dlerror();
    throw RuntimeError("no cuBLAS: " + path + " could not be loaded (" + (e ? e : "unknown reason") + ")");
  }
  bind(api, api.create, "cublasCreate_v2");
  bind(api, api.destroy, "cublasDestroy_v2");
  bind(api, api.set_stream, "cublasSetStream_v2");
  bind(api, api.set_math_mode, "cublasSetMathMode");
  bind(api, api.gemm_ex, "cublasGemmEx");
  bind(api, api.gemm_strided_batched_ex, "cublasGemmStridedBatchedEx");
  api.status_string = reinterpret_cast<decltype(api.status_string)>(dlsym(api.handle, "cublasGetStatusString"));
  return api;
}

namespace {

struct ApiState {
  std::once_flag once;
  std::unique_ptr<CublasApi> api;
  std::string error;
};
ApiState& api_state() {
  static ApiState s;
  return s;
}

}  // namespace

const CublasApi& cublas_api() {
  ApiState& s = api_state();
  std::call_once(s.once, [&] {
    const char* env = std::getenv("KILN_CUBLAS");
    std::vector<std::string> paths;
    if (env && *env)
      paths = {env};
    else
      paths = {"libcublas.so.13", "libcublas.so"};
    std::string errors;
    for (const std::string& p : paths) {
      try {
        s.api = std::make_unique<CublasApi>(load_cublas(p));
        return;
      } catch (const Error& e) {
        errors += (errors.empty() ? "" : "; ") + std::string(e.what());
      }
    }
    s.error = errors + (env && *env ? " (from KILN_CUBLAS)" : "");
  });
  if (!s.api) throw RuntimeError(s.error);
  return *s.api;
}

bool cublas_supports(DType t) {
  return t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64;
}

bool cublas_available() {
  try {
    cublas_api();
    return runtime::cuda_available();
  } catch (...) {
    return false;
  }
}

// ---------------------------------------------------------------------------
// The plan

namespace {

// cuBLAS's view of a rows x cols row-major-indexed matrix with element
// strides (s0, s1), as the first/second factor of the column-major call.
bool layout(i64 rows, i64 cols, i64 s0, i64 s1, int* op, i64* ld) {
  if ((cols <= 1 || s1 == 1) && (rows <= 1 || s0 >= std::max<i64>(1, cols))) {
    *op = cublas_enum::kOpN;  // row-major: column-major (cols x rows) with ld s0
    *ld = rows <= 1 ? std::max<i64>(1, cols) : s0;
    return true;
  }
  if ((rows <= 1 || s0 == 1) && (cols <= 1 || s1 >= std::max<i64>(1, rows))) {
    *op = cublas_enum::kOpT;  // column-major: the stored matrix is itself, transposed by cuBLAS
    *ld = cols <= 1 ? std::max<i64>(1, rows) : s1;
    return true;
  }
  return false;
}

std::vector<i64> offsets_over(const Shape& batch, const Shape& strides) {
  std::vector<i64> offs{0};
  for (std::size_t ax = 0; ax < batch.size(); ++ax) {
    std::vector<i64> next;
    next.reserve(offs.size() * static_cast<std::size_t>(batch[ax]));
    for (i64 o : offs)
      for (i64 i = 0; i < batch[ax]; ++i) next.push_back(o + i * strides[ax]);
    offs = std::move(next);
  }
  return offs;
}

// Evenly spaced offsets 0, d, 2d, ... with d >= 0.
bool uniform(const std::vector<i64>& offs, i64* d) {
  *d = offs.size() > 1 ? offs[1] - offs[0] : 0;
  if (*d < 0) return false;
  for (std::size_t i = 0; i < offs.size(); ++i)
    if (offs[i] != static_cast<i64>(i) * *d) return false;
  return true;
}

void plan_operand(GemmOperandPlan& p, const Shape& batch, i64 rows, i64 cols, const Shape& a, const Shape& b,
                  const char* which) {
  const std::size_t r = p.shape.size();
  const i64 s0 = p.strides[r - 2], s1 = p.strides[r - 1];
  p.staged_strides = p.strides;
  if (!layout(rows, cols, s0, s1, &p.op, &p.ld)) {
    // Staged: the operand's own shape, C order (Rows) or last-two-dims
    // column-major (Cols).
    Shape st(r, 0);
    if (cols <= 1 || s1 == 1) {
      p.staging = GemmStaging::Rows;
      st[r - 1] = 1;
      st[r - 2] = cols;
    } else if (rows <= 1 || s0 == 1) {
      p.staging = GemmStaging::Cols;
      st[r - 2] = 1;
      st[r - 1] = rows;
    } else {
      fail(a, b,
           std::string(which) + " has neither contiguous rows nor contiguous columns (strides " +
               shape_str(p.strides) + "); make it contiguous first");
    }
    i64 acc = rows * cols;
    for (std::size_t ax = r - 2; ax-- > 0;) {
      st[ax] = acc;
      acc *= p.shape[ax];
    }
    p.staged_strides = st;
    if (!layout(rows, cols, st[r - 2], st[r - 1], &p.op, &p.ld))
      fail(a, b, "internal error: a staged operand has no BLAS layout");
  }
  if (p.ld > INT_MAX) fail(a, b, std::string(which) + "'s leading dimension exceeds cuBLAS's 32-bit int");
  // Batch strides over the broadcast batch: 0 where this operand broadcasts.
  Shape bs(batch.size(), 0);
  const std::size_t own = r - 2, lead = batch.size() - own;
  for (std::size_t ax = 0; ax < own; ++ax)
    if (p.shape[ax] == batch[lead + ax] && p.shape[ax] != 1) bs[lead + ax] = p.staged_strides[ax];
  p.batch_offsets = offsets_over(batch, bs);
}

}  // namespace

GemmPlan plan_gemm(const Shape& a_shape, const Shape& a_strides, const Shape& b_shape, const Shape& b_strides) {
  const std::size_t ra = a_shape.size(), rb = b_shape.size();
  if (ra < 2 || rb < 2) fail(a_shape, b_shape, "operands must have rank >= 2");
  if (a_strides.size() != ra || b_strides.size() != rb) fail(a_shape, b_shape, "strides do not match the shapes");
  GemmPlan p;
  p.m = a_shape[ra - 2];
  p.k = a_shape[ra - 1];
  p.n = b_shape[rb - 1];
  if (b_shape[rb - 2] != p.k)
    fail(a_shape, b_shape,
         "the contracted dims differ (" + std::to_string(p.k) + " vs " + std::to_string(b_shape[rb - 2]) + ")");
  // NumPy broadcast of the batch dims.
  const std::size_t na = ra - 2, nb = rb - 2, nbatch = std::max(na, nb);
  Shape batch(nbatch, 1);
  for (std::size_t i = 0; i < nbatch; ++i) {
    const i64 da = i + na >= nbatch ? a_shape[i + na - nbatch] : 1;
    const i64 db = i + nb >= nbatch ? b_shape[i + nb - nbatch] : 1;
    if (da != db && da != 1 && db != 1) fail(a_shape, b_shape, "the batch dims do not broadcast");
    batch[i] = da == 1 ? db : da;
  }
  p.out_shape = batch;
  p.out_shape.push_back(p.m);
  p.out_shape.push_back(p.n);
  p.batch = shape_size(batch);
  p.a.shape = a_shape;
  p.a.strides = a_strides;
  p.b.shape = b_shape;
  p.b.strides = b_strides;
  p.ldc = std::max<i64>(1, p.n);
  if (p.batch == 0 || p.m == 0 || p.n == 0) {
    p.no_work = true;
    return p;
  }
  if (p.k == 0) {
    p.zero_fill = true;
    return p;
  }
  if (p.m > INT_MAX || p.n > INT_MAX || p.k > INT_MAX) fail(a_shape, b_shape, "a size exceeds cuBLAS's 32-bit int");
  plan_operand(p.a, batch, p.m, p.k, a_shape, b_shape, "the left operand");
  plan_operand(p.b, batch, p.k, p.n, a_shape, b_shape, "the right operand");
  i64 da = 0, db = 0;
  if (p.batch > 1 && p.batch <= INT_MAX && uniform(p.a.batch_offsets, &da) && uniform(p.b.batch_offsets, &db)) {
    p.strided_batched = true;
    p.stride_a = da;
    p.stride_b = db;
    p.stride_c = p.m * p.n;
  }
  return p;
}

namespace {

// Copies one operand to its staged layout, one copy per row or column.
void stage(const GemmOperandPlan& p, const void* src, void* dst, std::size_t elem, const GemmBackend& be) {
  const std::size_t r = p.shape.size();
  const i64 rows = p.shape[r - 2], cols = p.shape[r - 1];
  const Shape own_batch(p.shape.begin(), p.shape.end() - 2);
  const Shape own_strides(p.strides.begin(), p.strides.end() - 2);
  const std::vector<i64> offs = offsets_over(own_batch, own_strides);
  const auto* s = static_cast<const std::byte*>(src);
  auto* d = static_cast<std::byte*>(dst);
  const i64 e = static_cast<i64>(elem);
  for (std::size_t bi = 0; bi < offs.size(); ++bi) {
    std::byte* dbase = d + static_cast<i64>(bi) * rows * cols * e;
    if (p.staging == GemmStaging::Rows) {
      for (i64 i = 0; i < rows; ++i)
        be.copy(dbase + i * cols * e, s + (offs[bi] + i * p.strides[r - 2]) * e, static_cast<std::size_t>(cols * e));
    } else {
      for (i64 j = 0; j < cols; ++j)
        be.copy(dbase + j * rows * e, s + (offs[bi] + j * p.strides[r - 1]) * e, static_cast<std::size_t>(rows * e));
    }
  }
}

}  // namespace

void run_gemm_plan(const GemmPlan& plan, const void* a, void* a_staged, const void* b, void* b_staged, void* c,
                   std::size_t elem, const GemmBackend& be) {
  if (plan.no_work) return;
  if (plan.zero_fill) {
    be.zero(c, static_cast<std::size_t>(shape_size(plan.out_shape)) * elem);
    return;
  }
  if (plan.a.staging != GemmStaging::None) {
    stage(plan.a, a, a_staged, elem, be);
    a = a_staged;
  }
  if (plan.b.staging != GemmStaging::None) {
    stage(plan.b, b, b_staged, elem, be);
    b = b_staged;
  }
  // Column-major: C^T (n x m) = op(b-side) (n x k) * op(a-side) (k x m).
  if (plan.strided_batched) {
    be.gemm_strided_batched(plan.b.op, plan.a.op, plan.n, plan.m, plan.k, b, plan.b.ld, plan.stride_b, a, plan.a.ld,
                            plan.stride_a, c, plan.ldc, plan.stride_c, plan.batch);
    return;
  }
  const auto* pa = static_cast<const std::byte*>(a);
  const auto* pb = static_cast<const std::byte*>(b);
  auto* pc = static_cast<std::byte*>(c);
  const i64 e = static_cast<i64>(elem);
  for (i64 i = 0; i < plan.batch; ++i)
    be.gemm(plan.b.op, plan.a.op, plan.n, plan.m, plan.k, pb + plan.b.batch_offsets[i] * e, plan.b.ld,
            pa + plan.a.batch_offsets[i] * e, plan.a.ld, pc + i * plan.m * plan.n * e, plan.ldc);
}

// ---------------------------------------------------------------------------
// cuBLAS

namespace {

// One handle per (device, thread), destroyed when the thread ends.
struct Handles {
  std::map<int, void*> by_device;
  std::map<int, void*> lt_by_device;
  ~Handles() {
    try {
      if (!by_device.empty()) {
        const CublasApi& api = cublas_api();
        for (auto& [dev, h] : by_device) api.destroy(h);
      }
      if (!lt_by_device.empty()) {
        const CublasLtApi& lt = cublaslt_api();
        for (auto& [dev, h] : lt_by_device) lt.destroy(h);
      }
    } catch (...) {
    }
  }
};
thread_local Handles handles;

template <class What>
void* handle_for(const CublasApi& api, int ordinal, const What& what) {
  auto it = handles.by_device.find(ordinal);
  if (it != handles.by_device.end()) return it->second;
  void* h = nullptr;
  const int s = api.create(&h);
  if (s != 0) throw RuntimeError(what() + ": cublasCreate failed: " + api.error_string(s));
  // The default math mode (no TF32); split-K reductions in f32 even for a
  // 16-bit output, so the results match the CPU backend's bounds.
  const int ms = api.set_math_mode(h, cublas_enum::kDefaultMath | cublas_enum::kDisallowReducedPrecisionReduction);
  if (ms != 0) {
    api.destroy(h);
    throw RuntimeError(what() + ": cublasSetMathMode failed: " + api.error_string(ms));
  }
  handles.by_device.emplace(ordinal, h);
  return h;
}

void* device_ptr(const Array& x) {
  return x.buffer()->data + x.offset() * static_cast<i64>(dtype_size(x.dtype()));
}

// cuBLAS's data type, compute type and alpha/beta (host scalars of the scale type).
struct TypeInfo {
  int data = 0, compute = cublas_enum::kCompute32F, scale = cublas_enum::kR32F;
  float one_f = 1.0f, zero_f = 0.0f;
  double one_d = 1.0, zero_d = 0.0;
  const void* alpha() const { return compute == cublas_enum::kCompute64F ? static_cast<const void*>(&one_d) : &one_f; }
  const void* beta() const { return compute == cublas_enum::kCompute64F ? static_cast<const void*>(&zero_d) : &zero_f; }
};
TypeInfo type_info(DType t) {
  TypeInfo ti;
  switch (t) {
    case DType::F16: ti.data = cublas_enum::kR16F; break;
    case DType::BF16: ti.data = cublas_enum::kR16BF; break;
    case DType::F32: ti.data = cublas_enum::kR32F; break;
    default:
      ti.data = cublas_enum::kR64F;
      ti.compute = cublas_enum::kCompute64F;
      ti.scale = cublas_enum::kR64F;
      break;
  }
  return ti;
}

}  // namespace

Array cublas_matmul(const ir::Node& node, const std::vector<Array>& in, void* stream, const OutputAllocator& alloc) {
  const DType t = node.dtype();
  if (in.size() != 2 || in[0].is_null() || in[1].is_null())
    throw RuntimeError("matmul (cuBLAS): needs two arrays");
  const Shape& as = in[0].shape();
  const Shape& bs = in[1].shape();
  if (!cublas_supports(t))
    fail(as, bs, "dtype " + std::string(dtype_name(t)) + " is not supported by cuBLAS (f16, bf16, f32, f64)");
  if (in[0].dtype() != t || in[1].dtype() != t)
    fail(as, bs,
         "operand dtypes " + std::string(dtype_name(in[0].dtype())) + ", " + std::string(dtype_name(in[1].dtype())) +
             " differ from the result's " + std::string(dtype_name(t)));
  const Device dev = in[0].device();
  if (!dev.is_cuda() || in[1].device() != dev)
    fail(as, bs, "operands must be on one CUDA device (they are on " + dev.str() + " and " +
                     in[1].device().str() + ")");
  // The interpreter's shape checks and errors (as the CPU step gives them):
  // a batch dim stretches only where its static type says 1.
  if (as.size() >= 2 && bs.size() >= 2 && node.inputs().size() == 2) {
    const std::size_t ra = as.size(), rb = bs.size();
    if (as[ra - 1] != bs[rb - 2])
      ir::interp::fail(node, "contracted dims differ: " + ir::interp::shape_string(as) + " @ " +
                                 ir::interp::shape_string(bs) + " (" + std::to_string(as[ra - 1]) + " vs " +
                                 std::to_string(bs[rb - 2]) + ")");
    const auto& da = node.input(0)->type().dims;
    const auto& db = node.input(1)->type().dims;
    if (da.size() == ra && db.size() == rb) {
      const Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
      const std::vector<ir::Dim> sa(da.begin(), da.end() - 2), sb(db.begin(), db.end() - 2);
      Shape batch;
      std::string why;
      if (!ir::interp::broadcast_runtime({&ab, &bb}, {&sa, &sb}, &batch, &why))
        ir::interp::fail(node, "batch dims do not broadcast: " + ir::interp::shape_string(as) + " @ " +
                                   ir::interp::shape_string(bs) + (why.empty() ? "" : ": " + why));
    }
  }
  const GemmPlan plan = plan_gemm(as, in[0].strides(), bs, in[1].strides());

  const runtime::CudaDeviceInfo& info = runtime::cuda_device(dev, "matmul (cuBLAS)");  // context current
  Array out = alloc ? alloc(plan.out_shape, t) : Array::empty(plan.out_shape, t, dev);
  if (out.shape() != plan.out_shape || out.dtype() != t || out.device() != dev || !out.is_contiguous())
    fail(as, bs, "the output allocator returned a " + std::string(dtype_name(out.dtype())) + " array of shape " +
                     shape_str(out.shape()) + " on " + out.device().str() + ", not a C-contiguous " +
                     std::string(dtype_name(t)) + " " + shape_str(plan.out_shape) + " on " + dev.str());
  if (plan.no_work) return out;

  const runtime::CudaDriver& d = runtime::cuda_driver();
  const auto s = static_cast<runtime::cu::Stream>(stream);
  const std::size_t elem = dtype_size(t);
  auto dptr = [](const void* p) { return static_cast<runtime::cu::DevicePtr>(reinterpret_cast<std::uintptr_t>(p)); };
  // Error texts are built only on failure (this runs for every matmul of a call).
  auto what = [&] { return "matmul (cuBLAS) " + shapes_str(as, bs) + " " + std::string(dtype_name(t)); };
  auto drv = [&](runtime::cu::Result r, const char* call) {
    if (r != 0) d.check(r, what() + ": " + call);
  };

  GemmBackend be;
  be.copy = [&](void* dst, const void* src, std::size_t bytes) {
    drv(d.cuMemcpyDtoDAsync(dptr(dst), dptr(src), bytes, s), "staging copy (cuMemcpyDtoDAsync)");
  };
  be.zero = [&](void* dst, std::size_t bytes) {
    if (d.cuMemsetD8Async) {
      drv(d.cuMemsetD8Async(dptr(dst), 0, bytes, s), "cuMemsetD8Async");
    } else {  // a driver without memset (an emulator): zeros from the host, synchronously
      const std::vector<unsigned char> zeros(bytes, 0);
      drv(d.cuStreamSynchronize(s), "cuStreamSynchronize");
      drv(d.cuMemcpyHtoD(dptr(dst), zeros.data(), bytes), "cuMemcpyHtoD");
    }
  };
  if (plan.zero_fill) {
    run_gemm_plan(plan, nullptr, nullptr, nullptr, nullptr, device_ptr(out), elem, be);
    return out;
  }

  const CublasApi& api = cublas_api();
  void* h = handle_for(api, info.ordinal, what);
  if (const int st = api.set_stream(h, stream); st != 0)
    throw RuntimeError(what() + ": cublasSetStream failed: " + api.error_string(st));

  const TypeInfo ti = type_info(t);
  const int dt = ti.data, compute = ti.compute;
  const void* alpha = ti.alpha();
  const void* beta = ti.beta();
  auto I = [](i64 v) { return static_cast<int>(v); };
  be.gemm = [&](int opa, int opb, i64 m, i64 n, i64 k, const void* A, i64 lda, const void* B, i64 ldb, void* C,
                i64 ldc) {
    const int st = api.gemm_ex(h, opa, opb, I(m), I(n), I(k), alpha, A, dt, I(lda), B, dt, I(ldb), beta, C, dt, I(ldc),
                               compute, cublas_enum::kGemmDefault);
    if (st != 0) throw RuntimeError(what() + ": cublasGemmEx failed: " + api.error_string(st));
  };
  be.gemm_strided_batched = [&](int opa, int opb, i64 m, i64 n, i64 k, const void* A, i64 lda, i64 sa, const void* B,
                                i64 ldb, i64 sb, void* C, i64 ldc, i64 sc, i64 batch) {
    const int st = api.gemm_strided_batched_ex(h, opa, opb, I(m), I(n), I(k), alpha, A, dt, I(lda), sa, B, dt, I(ldb),
                                               sb, beta, C, dt, I(ldc), sc, I(batch), compute,
                                               cublas_enum::kGemmDefault);
    if (st != 0) throw RuntimeError(what() + ": cublasGemmStridedBatchedEx failed: " + api.error_string(st));
  };

  Array a_staged, b_staged;
  if (plan.a.staging != GemmStaging::None) a_staged = Array::empty(as, t, dev);
  if (plan.b.staging != GemmStaging::None) b_staged = Array::empty(bs, t, dev);
  run_gemm_plan(plan, device_ptr(in[0]), a_staged.is_null() ? nullptr : device_ptr(a_staged), device_ptr(in[1]),
                b_staged.is_null() ? nullptr : device_ptr(b_staged), device_ptr(out), elem, be);
  // The staging arrays go back to the caching allocator when they die here;
  // another stream could reuse them before this one has read them.
  if (!a_staged.is_null() || !b_staged.is_null()) drv(d.cuStreamSynchronize(s), "cuStreamSynchronize");
  return out;
}

// ---------------------------------------------------------------------------
// cuBLASLt

CublasLtApi load_cublaslt(const std::string& path) {
  CublasLtApi api;
  api.path = path;
  dlerror();
  api.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!api.handle) {
    const char* e = dlerror();
    throw RuntimeError("no cuBLASLt: " + path + " could not be loaded (" + (e ? e : "unknown reason") + ")");
  }
  bind(api, api.create, "cublasLtCreate", "cuBLASLt");
  bind(api, api.destroy, "cublasLtDestroy", "cuBLASLt");
  bind(api, api.desc_create, "cublasLtMatmulDescCreate", "cuBLASLt");
  bind(api, api.desc_destroy, "cublasLtMatmulDescDestroy", "cuBLASLt");
  bind(api, api.desc_set, "cublasLtMatmulDescSetAttribute", "cuBLASLt");
  bind(api, api.layout_create, "cublasLtMatrixLayoutCreate", "cuBLASLt");
  bind(api, api.layout_destroy, "cublasLtMatrixLayoutDestroy", "cuBLASLt");
  bind(api, api.layout_set, "cublasLtMatrixLayoutSetAttribute", "cuBLASLt");
  bind(api, api.matmul, "cublasLtMatmul", "cuBLASLt");
  return api;
}

namespace {

struct LtState {
  std::once_flag once;
  std::unique_ptr<CublasLtApi> api;
  std::string error;
};
LtState& lt_state() {
  static LtState s;
  return s;
}

}  // namespace

const CublasLtApi& cublaslt_api() {
  LtState& s = lt_state();
  std::call_once(s.once, [&] {
    const char* env = std::getenv("KILN_CUBLASLT");
    const std::vector<std::string> paths =
        env && *env ? std::vector<std::string>{env} : std::vector<std::string>{"libcublasLt.so.13", "libcublasLt.so"};
    std::string errors;
    for (const std::string& p : paths) {
      try {
        s.api = std::make_unique<CublasLtApi>(load_cublaslt(p));
        return;
      } catch (const Error& e) {
        errors += (errors.empty() ? "" : "; ") + std::string(e.what());
      }
    }
    s.error = errors + (env && *env ? " (from KILN_CUBLASLT)" : "");
  });
  if (!s.api) throw RuntimeError(s.error);
  return *s.api;
}

bool cublaslt_supports(const GemmPlan& p) {
  return !p.no_work && !p.zero_fill && p.a.staging == GemmStaging::None && p.b.staging == GemmStaging::None &&
         (p.batch == 1 || p.strided_batched);
}

LtPlan plan_lt(const GemmPlan& p) {
  LtPlan lt;
  lt.transa = p.b.op;
  lt.transb = p.a.op;
  lt.batch = p.batch;
  const bool n_a = p.b.op == cublas_enum::kOpN, n_b = p.a.op == cublas_enum::kOpN;
  lt.A = {n_a ? p.n : p.k, n_a ? p.k : p.n, p.b.ld, p.strided_batched ? p.stride_b : 0};
  lt.B = {n_b ? p.k : p.m, n_b ? p.m : p.k, p.a.ld, p.strided_batched ? p.stride_a : 0};
  lt.D = {p.n, p.m, p.ldc, p.strided_batched ? p.stride_c : 0};
  return lt;
}

namespace {

// Owns cuBLASLt descriptors.
struct LtObjects {
  const CublasLtApi& api;
  void* desc = nullptr;
  std::vector<void*> layouts;
  explicit LtObjects(const CublasLtApi& a) : api(a) {}
  ~LtObjects() {
    for (void* l : layouts) api.layout_destroy(l);
    if (desc) api.desc_destroy(desc);
  }
};

}  // namespace

Array cublaslt_matmul_bias_relu(const Array& a, const Array& b, const Array& bias, bool relu, void* stream,
                                const OutputAllocator& alloc) {
  if (a.is_null() || b.is_null()) throw RuntimeError("matmul (cuBLASLt): null operand");
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  const DType t = a.dtype();
  if (!cublas_supports(t)) fail(as, bs, "dtype " + std::string(dtype_name(t)) + " is not supported by cuBLASLt");
  if (b.dtype() != t || (!bias.is_null() && bias.dtype() != t))
    fail(as, bs, "the operands and the bias must have one dtype");
  const Device dev = a.device();
  if (!dev.is_cuda() || b.device() != dev || (!bias.is_null() && bias.device() != dev))
    fail(as, bs, "operands must be on one CUDA device");
  const GemmPlan plan = plan_gemm(as, a.strides(), bs, b.strides());
  if (!cublaslt_supports(plan))
    fail(as, bs, "not a layout cuBLASLt runs in one call (cublaslt_supports is false); use cublas_matmul");
  if (!bias.is_null()) {
    const Shape& sh = bias.shape();
    // [n], [1, n], [1, ..., 1, n]; its elements adjacent.
    bool ok = !sh.empty() && sh.back() == plan.n && (plan.n <= 1 || bias.strides().back() == 1);
    for (std::size_t i = 0; i + 1 < sh.size(); ++i) ok = ok && sh[i] == 1;
    if (!ok)
      fail(as, bs, "the bias " + shape_str(sh) + " must be a contiguous vector of the " + std::to_string(plan.n) +
                       " columns");
  }
  const runtime::CudaDeviceInfo& info = runtime::cuda_device(dev, "matmul (cuBLASLt)");
  Array out = alloc ? alloc(plan.out_shape, t) : Array::empty(plan.out_shape, t, dev);
  if (out.shape() != plan.out_shape || out.dtype() != t || out.device() != dev || !out.is_contiguous())
    fail(as, bs, "the output allocator returned an array of the wrong shape, dtype, device or layout");

  auto what = [&] { return "matmul (cuBLASLt) " + shapes_str(as, bs) + " " + std::string(dtype_name(t)); };
  const CublasLtApi& api = cublaslt_api();
  auto check = [&](int st, const char* call) {
    if (st != 0) {
      const char* name = known_status(st);
      throw RuntimeError(what() + ": " + call + " failed: " + (name ? name : "cuBLAS status " + std::to_string(st)));
    }
  };
  void*& h = handles.lt_by_device[info.ordinal];
  if (!h) check(api.create(&h), "cublasLtCreate");

  const TypeInfo ti = type_info(t);
  const LtPlan lp = plan_lt(plan);
  LtObjects o(api);
  check(api.desc_create(&o.desc, ti.compute, ti.scale), "cublasLtMatmulDescCreate");
  const std::int32_t ta = lp.transa, tb = lp.transb;
  check(api.desc_set(o.desc, cublaslt_enum::kDescTransA, &ta, sizeof ta), "cublasLtMatmulDescSetAttribute(TRANSA)");
  check(api.desc_set(o.desc, cublaslt_enum::kDescTransB, &tb, sizeof tb), "cublasLtMatmulDescSetAttribute(TRANSB)");
  const std::uint32_t epi = bias.is_null() ? (relu ? cublaslt_enum::kEpilogueRelu : cublaslt_enum::kEpilogueDefault)
                                           : (relu ? cublaslt_enum::kEpilogueReluBias : cublaslt_enum::kEpilogueBias);
  check(api.desc_set(o.desc, cublaslt_enum::kDescEpilogue, &epi, sizeof epi),
        "cublasLtMatmulDescSetAttribute(EPILOGUE)");
  if (!bias.is_null()) {
    const void* bp = device_ptr(bias);
    check(api.desc_set(o.desc, cublaslt_enum::kDescBiasPointer, &bp, sizeof bp),
          "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
  }
  auto layout = [&](const LtLayout& l) {
    void* ly = nullptr;
    check(api.layout_create(&ly, ti.data, static_cast<std::uint64_t>(l.rows), static_cast<std::uint64_t>(l.cols), l.ld),
          "cublasLtMatrixLayoutCreate");
    o.layouts.push_back(ly);
    if (lp.batch > 1) {
      const std::int32_t count = static_cast<std::int32_t>(lp.batch);
      const std::int64_t stride = l.batch_stride;
      check(api.layout_set(ly, cublaslt_enum::kLayoutBatchCount, &count, sizeof count),
            "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)");
      check(api.layout_set(ly, cublaslt_enum::kLayoutStridedBatchOffset, &stride, sizeof stride),
            "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)");
    }
    return ly;
  };
  void* la = layout(lp.A);
  void* lb = layout(lp.B);
  void* ld = layout(lp.D);
  void* c = device_ptr(out);
  check(api.matmul(h, o.desc, ti.alpha(), device_ptr(b), la, device_ptr(a), lb, ti.beta(), c, ld, c, ld, nullptr,
                   nullptr, 0, stream),
        "cublasLtMatmul");
  return out;
}

}  // namespace kiln::codegen::cuda
