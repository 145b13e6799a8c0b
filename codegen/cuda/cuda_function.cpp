#include "codegen/cuda/cuda_function.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>

#include "codegen/bind.hpp"
#include "codegen/cuda/cublas.hpp"
#include "codegen/cuda/print.hpp"
#include "codegen/views.hpp"
#include "ir/interp_util.hpp"
#include "ir/interpreter.hpp"
#include "runtime/cuda_driver.hpp"
#include "runtime/parallel.hpp"

namespace kiln::codegen::cuda {

namespace {

using runtime::cu::Stream;

// One stream per (thread, device): the calls of one thread run in order,
// those of different threads overlap on the GPU.
struct ThreadStreams {
  std::map<int, Stream> streams;
  ~ThreadStreams() {
    if (streams.empty()) return;
    try {
      const runtime::CudaDriver& d = runtime::cuda_driver();
      for (auto& [ordinal, s] : streams) d.cuStreamDestroy(s);
    } catch (...) {  // the driver is gone at exit: nothing to give back
    }
  }
};

Array to_host(const Array& a) { return a.device().is_cpu() ? a : a.to(Device::cpu()); }

// A copy kernel: out = in, any strides, one dtype and rank.
Kernel copy_kernel_ir(DType t, int rank) {
  Kernel k;
  k.rank = rank;
  KernelOperand o;
  o.dtype = t;
  o.broadcast.assign(static_cast<std::size_t>(rank), false);
  k.operands = {o, o};
  add_load(k, 0);
  verify_kernel(k);
  return k;
}

std::atomic<std::size_t> g_lt_runs{0};
// Set when a cuBLASLt call failed (a library that loads but cannot run here,
// e.g. a real cuBLASLt under the emulator, or a status it refuses): from then
// on matmul + kernel pairs run unfused.
std::atomic<bool> g_lt_failed{false};

bool lt_dtype(DType t) { return t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64; }

// Is `k` exactly relu(mm + bias), mm + bias or relu(mm), with mm the
// operand `mo` read element for element and bias (the other operand, if
// any) broadcast along every dim but the last? Sets the bias operand (-1:
// none) and whether there is a relu.
bool match_epilogue(const Kernel& k, int mo, int* bias_operand, bool* relu) {
  const DType t = k.output().dtype;
  if (k.has_reduction() || k.rank < 2 || !lt_dtype(t) || k.num_inputs() > 2 || k.body.empty()) return false;
  const KernelOperand& m = k.operands[static_cast<std::size_t>(mo)];
  if (m.dtype != t || !m.axes.empty() || std::any_of(m.broadcast.begin(), m.broadcast.end(), [](bool b) { return b; }))
    return false;
  *bias_operand = -1;
  if (k.num_inputs() == 2) {
    const int bo = 1 - mo;
    const KernelOperand& b = k.operands[static_cast<std::size_t>(bo)];
    if (b.dtype != t || !b.axes.empty() || b.broadcast.back()) return false;
    for (int d = 0; d + 1 < k.rank; ++d)
      if (!b.broadcast[static_cast<std::size_t>(d)]) return false;
    *bias_operand = bo;
  }
  auto is_load = [&](int e, int operand) {
    const KernelExpr& x = k.body[static_cast<std::size_t>(e)];
    return x.kind == KernelExpr::Kind::Load && x.operand == operand && x.dtype == t;
  };
  auto is_zero = [&](int e) {
    const KernelExpr& x = k.body[static_cast<std::size_t>(e)];
    return x.kind == KernelExpr::Kind::Const && x.dtype == t && x.fvalue == 0 && !std::signbit(x.fvalue);
  };
  int e = static_cast<int>(k.body.size()) - 1;
  const KernelExpr& last = k.body.back();
  *relu = false;
  if (last.kind == KernelExpr::Kind::Op && last.op == ir::OpCode::Maximum && last.dtype == t && last.args.size() == 2) {
    if (is_zero(last.args[1])) e = last.args[0];
    else if (is_zero(last.args[0])) e = last.args[1];
    else return false;
    *relu = true;
  }
  if (*bias_operand < 0) return *relu && is_load(e, mo);
  const KernelExpr& add = k.body[static_cast<std::size_t>(e)];
  if (add.kind != KernelExpr::Kind::Op || add.op != ir::OpCode::Add || add.dtype != t || add.args.size() != 2)
    return false;
  return (is_load(add.args[0], mo) && is_load(add.args[1], *bias_operand)) ||
         (is_load(add.args[1], mo) && is_load(add.args[0], *bias_operand));
}

// Does this bias fit cuBLASLt's epilogue for an output with n columns: [n]
// or [1, ..., 1, n], contiguous?
bool lt_bias_fits(const Array& bias, std::int64_t n) {
  if (bias.ndim() < 1 || bias.shape().back() != n || !bias.is_contiguous()) return false;
  for (std::int64_t d = 0; d + 1 < bias.ndim(); ++d)
    if (bias.shape()[static_cast<std::size_t>(d)] != 1) return false;
  return true;
}

// The values that died during one call: their buffers serve later steps of
// the same call (in stream order) and go back to the device allocator only
// after the stream is synchronised.
class DeviceScratch {
 public:
  void bury(Array&& v) {
    if (!v.is_null()) dead_.push_back(std::move(v));
  }
  Array take(const Shape& shape, DType dtype, Device device) {
    const std::size_t bytes = static_cast<std::size_t>(shape_size(shape)) * dtype_size(dtype);
    for (std::size_t i = dead_.size(); i-- > 0;) {
      const std::shared_ptr<Buffer>& b = dead_[i].buffer();
      if (b.use_count() != 1 || !b->deleter || b->bytes < bytes || b->bytes > 2 * bytes + 4096) continue;
      std::shared_ptr<Buffer> keep = b;
      dead_.erase(dead_.begin() + static_cast<std::ptrdiff_t>(i));
      return Array::view(std::move(keep), shape, dtype, contiguous_strides(shape), 0);
    }
    return Array::empty(shape, dtype, device);
  }
  void clear() { dead_.clear(); }

 private:
  std::vector<Array> dead_;
};

}  // namespace

void* cuda_thread_stream(Device device) {
  static thread_local ThreadStreams tls;
  auto it = tls.streams.find(device.ordinal());
  if (it != tls.streams.end()) return it->second;
  runtime::cuda_device(device, "CUDA stream");
  const runtime::CudaDriver& d = runtime::cuda_driver();
  Stream s = nullptr;
  // Flags 0: a blocking stream, ordered with the legacy default stream that
  // Array::to's synchronous copies use.
  d.check(d.cuStreamCreate(&s, 0), "cuStreamCreate");
  tls.streams.emplace(device.ordinal(), s);
  return s;
}

CudaFunction::CudaFunction(const std::vector<ir::NodeRef>& params, const std::vector<ir::NodeRef>& roots,
                           Device device)
    : plan_(partition(roots)), device_(device) {
  runtime::cuda_device(device, "function");  // the reason first: no driver, no such device
  prog_ = lower_plan(plan_, params);
  kernels_.resize(plan_.clusters.size());
  std::vector<std::size_t> todo;
  for (std::size_t ci = 0; ci < plan_.clusters.size(); ++ci) {
    try {
      print_cuda_kernel(plan_.clusters[ci].kernel, "probe");  // what the printer cannot express runs on the host
      todo.push_back(ci);
    } catch (const Error& e) {
      host_reasons_.push_back("kernel " + std::to_string(ci) + ": " + e.what());
    }
  }
  // NVRTC compiles (tens of ms each when cold) run in parallel; each worker
  // makes the device's context current on its own thread.
  std::atomic<std::size_t> next{0};
  std::mutex error_mu;
  std::exception_ptr error;
  detail::parallel_for(static_cast<int>(todo.size()), [&](int, int) {
    for (std::size_t i; (i = next.fetch_add(1)) < todo.size();) {
      try {
        const std::size_t ci = todo[i];
        kernels_[ci] = std::make_unique<CudaKernel>(plan_.clusters[ci].kernel, device);
      } catch (...) {  // parallel_for's parts must not throw: rethrown below
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
      }
    }
  });
  if (error) std::rethrow_exception(error);
  host_matmul_.assign(prog_.instrs.size(), false);
  for (std::size_t i = 0; i < prog_.instrs.size(); ++i) {
    const SlotInstr& ins = prog_.instrs[i];
    switch (ins.kind) {
      case Step::Kind::Kernel:
        if (kernels_[static_cast<std::size_t>(ins.cluster)]) {
          ++counts_.kernels;
        } else {
          ++counts_.host;
        }
        break;
      case Step::Kind::Matmul:
        if (cublas_supports(ins.node->dtype())) {
          ++counts_.cublas;
        } else {
          host_matmul_[i] = true;
          ++counts_.host;
          host_reasons_.push_back("matmul " + ins.node->type().str() + ": cuBLAS has no integer matmul");
        }
        break;
      case Step::Kind::View:
        ++counts_.views;
        break;
      case Step::Kind::Host:
        ++counts_.host;
        host_reasons_.push_back(std::string(ins.node->name()) + ": no CUDA kernel for this op yet");
        break;
    }
  }
  for (const auto& [slot, v] : prog_.constants) constants_.push_back({slot, v.to(device)});
  plan_lt_fusions();
}

void CudaFunction::plan_lt_fusions() {
  lt_at_.assign(prog_.instrs.size(), -1);
  std::vector<int> readers(prog_.num_slots, 0), producer(prog_.num_slots, -1);
  for (std::size_t i = 0; i < prog_.instrs.size(); ++i) {
    for (int s : prog_.instrs[i].in) ++readers[static_cast<std::size_t>(s)];
    producer[static_cast<std::size_t>(prog_.instrs[i].out)] = static_cast<int>(i);
  }
  for (std::size_t i = 0; i < prog_.instrs.size(); ++i) {
    const SlotInstr& mm = prog_.instrs[i];
    if (mm.kind != Step::Kind::Matmul || host_matmul_[i] || readers[static_cast<std::size_t>(mm.out)] != 1) continue;
    for (std::size_t j = i + 1; j < prog_.instrs.size(); ++j) {
      const SlotInstr& k = prog_.instrs[j];
      const auto at = std::find(k.in.begin(), k.in.end(), mm.out);
      if (at == k.in.end()) continue;
      // The matmul's one reader: a CUDA kernel, where the product dies.
      if (k.kind != Step::Kind::Kernel || !kernels_[static_cast<std::size_t>(k.cluster)] ||
          std::find(k.release.begin(), k.release.end(), mm.out) == k.release.end())
        break;
      int bias_operand = -1;
      bool relu = false;
      if (!match_epilogue(plan_.clusters[static_cast<std::size_t>(k.cluster)].kernel,
                          static_cast<int>(at - k.in.begin()), &bias_operand, &relu))
        break;
      const int bias = bias_operand < 0 ? -1 : k.in[static_cast<std::size_t>(bias_operand)];
      // The fused call runs at the matmul's place: the bias must exist by then.
      if (bias >= 0 && producer[static_cast<std::size_t>(bias)] > static_cast<int>(i)) break;
      lt_at_[i] = static_cast<int>(lt_.size());
      lt_.push_back({static_cast<int>(j), bias, relu});
      break;
    }
  }
  if (!lt_.empty()) {
    try {
      cublaslt_api();
      lt_available_ = true;
    } catch (const Error&) {  // no cuBLASLt: the matmul and the kernel run as they are
    }
  }
}

std::size_t CudaFunction::lt_epilogue_runs() { return g_lt_runs.load(); }

CudaFunction::~CudaFunction() = default;

const CudaKernel& CudaFunction::copy_kernel(DType t, int rank) const {
  std::lock_guard<std::mutex> lock(copy_mu_);
  auto& k = copy_kernels_[{static_cast<int>(t), rank}];
  if (!k) k = std::make_unique<CudaKernel>(copy_kernel_ir(t, rank), device_);
  return *k;
}

std::vector<Array> CudaFunction::run(const std::vector<Array>& params) const {
  KILN_CHECK(params.size() == prog_.params.size(), "CUDA function called with " << params.size() << " parameters");
  runtime::cuda_device(device_, "function");  // the context current on this thread
  const runtime::CudaDriver& d = runtime::cuda_driver();
  void* stream = cuda_thread_stream(device_);
  auto sync = [&] { d.check(d.cuStreamSynchronize(static_cast<Stream>(stream)), "running the function on " + device_.str()); };

  std::vector<Array> vals(prog_.num_slots);
  for (std::size_t i = 0; i < params.size(); ++i) vals[i] = params[i].device() == device_ ? params[i] : params[i].to(device_);
  for (const auto& [s, v] : constants_) vals[static_cast<std::size_t>(s)] = v;
  DeviceScratch scratch;
  // Whatever happens, nothing goes back to the allocator before the stream is done with it.
  struct Drain {
    const runtime::CudaDriver& d;
    void* stream;
    DeviceScratch& scratch;
    std::vector<Array>& vals;
    ~Drain() {
      d.cuStreamSynchronize(static_cast<Stream>(stream));
      vals.clear();
      scratch.clear();
    }
  } drain{d, stream, scratch, vals};

  // A step the device cannot do: the interpreter on host copies.
  auto host_step = [&](auto&& compute, const std::vector<int>& in) {
    sync();
    std::vector<Array> host;
    for (int s : in) host.push_back(to_host(vals[static_cast<std::size_t>(s)]));
    return compute(host).to(device_);
  };

  std::vector<const Array*> ptrs;
  std::vector<Array> args;
  std::vector<int> fused_kernels;  // kernel instructions already computed by a cuBLASLt epilogue
  for (std::size_t i = 0; i < prog_.instrs.size(); ++i) {
    const SlotInstr& ins = prog_.instrs[i];
    const ir::Node& n = *ins.node;
    Array out;
    if (lt_available_ && lt_at_[i] >= 0 && !g_lt_failed.load(std::memory_order_relaxed)) {
      const LtFusion& f = lt_[static_cast<std::size_t>(lt_at_[i])];
      const Array& a = vals[static_cast<std::size_t>(ins.in[0])];
      const Array& b = vals[static_cast<std::size_t>(ins.in[1])];
      const Array bias = f.bias_slot < 0 ? Array() : vals[static_cast<std::size_t>(f.bias_slot)];
      bool fits = a.ndim() >= 2 && b.ndim() >= 2 && (bias.is_null() || lt_bias_fits(bias, b.shape().back()));
      if (fits) {
        try {  // a layout cuBLASLt takes as is; shape errors come from the unfused path
          const GemmPlan p = plan_gemm(a.shape(), a.strides(), b.shape(), b.strides());
          fits = cublaslt_supports(p) && a.dtype() == ins.node->dtype();
        } catch (const Error&) {
          fits = false;
        }
      }
      Array fused;
      if (fits) {
        try {
          fused = cublaslt_matmul_bias_relu(a, b, bias, f.relu, stream,
                                            [&](const Shape& sh, DType t) { return scratch.take(sh, t, device_); });
        } catch (const Error&) {  // nothing was enqueued: the two steps run as they are
          g_lt_failed.store(true, std::memory_order_relaxed);
        }
      }
      if (!fused.is_null()) {
        const SlotInstr& k = prog_.instrs[static_cast<std::size_t>(f.kernel_instr)];
        vals[static_cast<std::size_t>(k.out)] = std::move(fused);
        fused_kernels.push_back(f.kernel_instr);
        g_lt_runs.fetch_add(1, std::memory_order_relaxed);
        for (int s : ins.release) scratch.bury(std::move(vals[static_cast<std::size_t>(s)]));
        continue;  // the product itself is never formed
      }
    }
    if (ins.kind == Step::Kind::Kernel &&
        std::find(fused_kernels.begin(), fused_kernels.end(), static_cast<int>(i)) != fused_kernels.end()) {
      for (int s : ins.release) scratch.bury(std::move(vals[static_cast<std::size_t>(s)]));
      continue;  // computed by the matmul's epilogue
    }
    if (ins.kind == Step::Kind::Kernel) {
      const auto ci = static_cast<std::size_t>(ins.cluster);
      const Cluster& c = plan_.clusters[ci];
      ptrs.clear();
      for (int s : ins.in) ptrs.push_back(&vals[static_cast<std::size_t>(s)]);
      bool fused = true;
      const Shape shape = cluster_output_shape(c, ptrs, &fused);
      if (!fused || !kernels_[ci]) {
        out = host_step(
            [&](const std::vector<Array>& host) {
              std::vector<const Array*> hp;
              for (const Array& h : host) hp.push_back(&h);
              return evaluate_cluster(c, hp);
            },
            ins.in);
      } else {
        if (Array* v = in_place_input(ins, vals, shape))
          out = *v;  // in place: each element is read before it is written, by the same thread
        if (out.is_null()) out = scratch.take(shape, c.root->dtype(), device_);
        args.clear();
        for (int s : ins.in) args.push_back(vals[static_cast<std::size_t>(s)]);
        kernels_[ci]->run(args, out, stream);
        args.clear();
      }
    } else if (ins.kind == Step::Kind::Matmul && !host_matmul_[i]) {
      args.clear();
      for (int s : ins.in) args.push_back(vals[static_cast<std::size_t>(s)]);
      for (Array& a : args) {
        // cuBLAS reads (or stages) matrices whose rows or columns are
        // contiguous; anything else is copied by a kernel first.
        const std::size_t r = a.ndim();
        if (r >= 2 && a.size() > 1 && a.strides()[r - 1] != 1 && a.strides()[r - 2] != 1 && a.shape()[r - 1] > 1 &&
            a.shape()[r - 2] > 1) {
          Array c = scratch.take(a.shape(), a.dtype(), device_);
          copy_kernel(a.dtype(), static_cast<int>(r)).run({a}, c, stream);
          a = std::move(c);
        }
      }
      out = cublas_matmul(n, args, stream, [&](const Shape& sh, DType t) { return scratch.take(sh, t, device_); });
      for (Array& a : args) scratch.bury(std::move(a));  // a staged copy lives until the stream is done
      args.clear();
    } else if (ins.kind == Step::Kind::View) {
      args.clear();
      for (int s : ins.in) args.push_back(vals[static_cast<std::size_t>(s)]);
      // A shape op that must copy (reshape of a strided value) or fail reads
      // the data: the interpreter on the host.
      out = eval_view(n, args, [&](const ir::Node& v, const std::vector<Array>&) {
        return host_step([&](const std::vector<Array>& host) { return ir::eval_node(v, host); }, ins.in);
      });
      args.clear();
    } else {
      out = host_step([&](const std::vector<Array>& host) { return ir::eval_node(n, host); }, ins.in);
    }
    vals[static_cast<std::size_t>(ins.out)] = std::move(out);
    for (int s : ins.release) scratch.bury(std::move(vals[static_cast<std::size_t>(s)]));
  }

  // Fresh C-contiguous results: never a view of a parameter's or constant's
  // buffer, nor two results sharing one; a strided one is copied by a kernel.
  std::vector<Array> results;
  results.reserve(prog_.results.size());
  for (int r : prog_.results) {
    Array v = vals[static_cast<std::size_t>(r)];
    if (result_needs_copy(v, prog_, vals, results)) {
      Array fresh = Array::empty(v.shape(), v.dtype(), device_);
      if (v.size() > 0) copy_kernel(v.dtype(), static_cast<int>(v.ndim())).run({v}, fresh, stream);
      v = std::move(fresh);
    }
    results.push_back(std::move(v));
  }
  sync();
  return results;
}

}  // namespace kiln::codegen::cuda
