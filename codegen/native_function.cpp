#include "codegen/native_function.hpp"

#include <algorithm>
#include <atomic>
#include <unordered_map>

#include "codegen/bind.hpp"
#include "codegen/blas.hpp"
#include "codegen/launch.hpp"
#include "codegen/views.hpp"
#include "ir/graph.hpp"
#include "ir/interp_util.hpp"

namespace kiln::codegen {

namespace {
std::atomic<std::size_t> g_in_place{0};
}  // namespace

std::size_t NativeFunction::in_place_writes() { return g_in_place.load(); }

NativeFunction::NativeFunction(const std::vector<ir::NodeRef>& params, const std::vector<ir::NodeRef>& roots)
    : plan_(partition(roots)) {
  std::vector<const Kernel*> kernels;
  for (const Cluster& c : plan_.clusters) kernels.push_back(&c.kernel);
  fns_ = compile_kernels(kernels);
  prog_ = lower_plan(plan_, params);
}

NativeFunction::NativeFunction(const std::vector<ir::NodeRef>& roots)
    : NativeFunction(ir::free_variables(roots), roots) {}

std::vector<std::string> NativeFunction::kernel_texts() const {
  std::vector<std::string> r;
  for (const Cluster& c : plan_.clusters) r.push_back(print_kernel(c.kernel));
  return r;
}

namespace {

// Buffers freed during one call, offered to later steps of that call.
class CallScratch {
 public:
  // Keeps `v`'s buffer when this call holds its only reference.
  void offer(Array& v) {
    if (v.is_null() || v.buffer().use_count() != 1 || !v.buffer()->deleter) return;
    free_.push_back(v.buffer());
  }
  // A C-contiguous array of this shape and dtype, on a recycled buffer when
  // one of a fitting size is free.
  Array take(const Shape& shape, DType dtype) {
    const std::size_t bytes = static_cast<std::size_t>(shape_size(shape)) * dtype_size(dtype);
    for (std::size_t i = free_.size(); i-- > 0;) {
      const std::size_t have = free_[i]->bytes;
      if (have < bytes || have > 2 * bytes + 4096) continue;
      std::shared_ptr<Buffer> b = std::move(free_[i]);
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
      return Array::view(std::move(b), shape, dtype, contiguous_strides(shape), 0);
    }
    return Array::empty(shape, dtype);
  }
  void clear() { free_.clear(); }

 private:
  std::vector<std::shared_ptr<Buffer>> free_;
};

}  // namespace

std::vector<Array> NativeFunction::run(const ir::Bindings& bindings) const {
  std::vector<Array> params;
  params.reserve(prog_.params.size());
  for (const ir::NodeRef& p : prog_.params) {
    auto it = bindings.find(p.get());
    if (it == bindings.end())
      ir::interp::fail_unbound(*p);
    params.push_back(it->second);
  }
  return run(params);
}

namespace {

// The per-call working state, kept per thread so that its vectors' capacity
// survives from one call to the next (a batch-1 call is a few microseconds;
// a dozen mallocs are a visible part of that). Emptied of every Array at the
// end of each call.
struct CallState {
  bool busy = false;
  std::vector<Array> vals, args;
  std::vector<const Array*> ptrs;
  KernelArgs kargs;
  CallScratch scratch;
  void clear() {
    vals.clear();
    args.clear();
    ptrs.clear();
    scratch.clear();
  }
};

}  // namespace

std::vector<Array> NativeFunction::run(const std::vector<Array>& params) const {
  KILN_CHECK(params.size() == prog_.params.size(), "native function called with " << params.size() << " parameters");
  static thread_local CallState tls;
  CallState local;
  CallState& st = tls.busy ? local : tls;  // a nested call (none today) gets its own
  st.busy = true;
  struct Done {
    CallState& st;
    ~Done() {
      st.clear();
      st.busy = false;
    }
  } done{st};
  std::vector<Array>& vals = st.vals;
  vals.resize(prog_.num_slots);
  for (std::size_t i = 0; i < params.size(); ++i) vals[i] = params[i];
  for (const auto& [s, v] : prog_.constants) vals[static_cast<std::size_t>(s)] = v;
  CallScratch& scratch = st.scratch;
  std::vector<Array>& args = st.args;
  std::vector<const Array*>& ptrs = st.ptrs;
  KernelArgs& kargs = st.kargs;
  for (const SlotInstr& ins : prog_.instrs) {
    const ir::Node& n = *ins.node;
    Array out;
    if (ins.kind == Step::Kind::Kernel) {
      const auto ci = static_cast<std::size_t>(ins.cluster);
      const Cluster& c = plan_.clusters[ci];
      ptrs.clear();
      for (int s : ins.in) ptrs.push_back(&vals[static_cast<std::size_t>(s)]);
      bool fused = true;
      const Shape shape = cluster_output_shape(c, ptrs, &fused);
      if (!fused) {
        out = evaluate_cluster(c, ptrs);  // valid shapes the one kernel cannot iterate
      } else {
        if (Array* v = in_place_input(ins, vals, shape)) {
          out = *v;  // written in place: every element is read before it is written, at the same index
          g_in_place.fetch_add(1, std::memory_order_relaxed);
        }
        if (out.is_null()) out = scratch.take(shape, c.root->dtype());
        bind_kernel(c, ptrs, out, &kargs);
        launch_kernel(c.kernel, fns_[ci], kargs);
      }
    } else {
      args.clear();
      for (int s : ins.in) args.push_back(vals[static_cast<std::size_t>(s)]);
      if (ins.kind == Step::Kind::Matmul) {
        out = blas_matmul(n, args, [&](const Shape& sh, DType t) { return scratch.take(sh, t); });
      } else if (ins.kind == Step::Kind::View) {
        out = eval_view(n, args);
      } else {
        out = ir::eval_node(n, args);
      }
      args.clear();
    }
    vals[static_cast<std::size_t>(ins.out)] = std::move(out);
    for (int s : ins.release) {
      Array& v = vals[static_cast<std::size_t>(s)];
      Array dead = std::move(v);
      v = Array();
      scratch.offer(dead);
    }
  }

  std::vector<Array> results;
  results.reserve(prog_.results.size());
  for (int r : prog_.results) {
    Array v = vals[static_cast<std::size_t>(r)];
    if (result_needs_copy(v, prog_, vals, results)) v = v.copy();
    results.push_back(std::move(v));
  }
  return results;
}

}  // namespace kiln::codegen
