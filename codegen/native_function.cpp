#include "codegen/native_function.hpp"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "codegen/blas.hpp"
#include "codegen/llvm/emit.hpp"
#include "codegen/llvm/jit.hpp"
#include "codegen/views.hpp"
#include "ir/interp_util.hpp"
#include "runtime/parallel.hpp"

namespace kiln::codegen {

namespace {

// The process's JIT and kernel cache (kernel text → entry point).
struct KernelCache {
  std::mutex mu;
  std::unique_ptr<Jit> jit;
  std::unordered_map<std::string, KilnKernelFn> fns;
  std::size_t next_id = 0;
};
KernelCache& cache() {
  static KernelCache* c = new KernelCache;  // never destroyed: kernels may run at exit
  return *c;
}
std::atomic<std::size_t> g_compiled{0};

std::vector<KilnKernelFn> compile(const std::vector<std::string>& texts, const std::vector<const Kernel*>& kernels) {
  KernelCache& kc = cache();
  std::lock_guard<std::mutex> lock(kc.mu);
  if (!kc.jit) {
    kc.jit = Jit::create();
    define_kernel_helpers(*kc.jit);
  }
  std::vector<KilnKernelFn> fns(kernels.size(), nullptr);
  std::unordered_map<std::string, std::string> pending;  // text → symbol
  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> m;
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    if (kc.fns.count(texts[i]) || pending.count(texts[i])) continue;
    if (!m) m = kc.jit->new_module("kiln_kernels_" + std::to_string(kc.next_id), *ctx);
    std::string name = "kiln_kernel_" + std::to_string(kc.next_id++);
    emit_kernel(*kernels[i], name, *m);
    pending.emplace(texts[i], name);
  }
  if (m) {
    kc.jit->add_module(std::move(m), std::move(ctx));
    for (auto& [text, name] : pending) kc.fns[text] = reinterpret_cast<KilnKernelFn>(kc.jit->lookup(name));
    g_compiled += pending.size();
  }
  for (std::size_t i = 0; i < kernels.size(); ++i) fns[i] = kc.fns.at(texts[i]);
  return fns;
}

}  // namespace

std::size_t native_kernels_compiled() { return g_compiled.load(); }

NativeFunction::NativeFunction(const std::vector<ir::NodeRef>& roots) : plan_(partition(roots)) {
  std::vector<std::string> texts = kernel_texts();
  std::vector<const Kernel*> kernels;
  for (const Cluster& c : plan_.clusters) kernels.push_back(&c.kernel);
  fns_ = compile(texts, kernels);
}

std::vector<std::string> NativeFunction::kernel_texts() const {
  std::vector<std::string> r;
  for (const Cluster& c : plan_.clusters) r.push_back(print_kernel(c.kernel));
  return r;
}

namespace {

// A kernel splits its rows across threads (runtime/parallel.hpp) when its
// elements times its per-element cost reach this; smaller ones run on the
// caller alone. Measured on 2 cores: exp(x) * 2 + 1 gains from 64K elements
// on (2x at 1M), x * 2 + 1 (memory-bound; waking a helper costs ~20 us) not
// even at 1M.
constexpr std::int64_t kParallelWork = std::int64_t{1} << 20;

// Per-element cost: 16 for a libm-style function, 1 for other ops.
std::int64_t kernel_cost(const Kernel& k) {
  std::int64_t cost = 0;
  for (const KernelExpr& e : k.body) {
    if (e.kind != KernelExpr::Kind::Op) continue;
    const bool heavy = ir::op_info(e.op).category == ir::OpCategory::UnaryFloat || e.op == ir::OpCode::Pow ||
                       e.op == ir::OpCode::Atan2;
    cost += heavy ? 16 : 1;
  }
  return std::max<std::int64_t>(cost, 1);
}

// Runs one fused kernel: run-time shapes of every fused node (the
// interpreter's checks and messages), the output, the operand views.
Array run_kernel(const Cluster& c, KilnKernelFn fn, const std::vector<const Array*>& ins) {
  std::unordered_map<const ir::Node*, Shape> shapes;
  for (std::size_t i = 0; i < c.inputs.size(); ++i) shapes[c.inputs[i]] = ins[i]->shape();
  static const Shape kScalar;
  for (const ir::Node* n : c.nodes) {
    std::vector<const Shape*> ss;
    std::vector<const std::vector<ir::Dim>*> dims;
    for (const ir::NodeRef& in : n->inputs()) {
      auto it = shapes.find(in.get());
      ss.push_back(it == shapes.end() ? &kScalar : &it->second);  // inline constants are 0-d
      dims.push_back(&in->type().dims);
    }
    Shape out;
    if (ss.size() == 1) {
      out = *ss[0];
    } else {
      std::string why;
      if (!ir::interp::broadcast_runtime(ss, dims, &out, &why)) {
        std::string s;
        for (std::size_t i = 0; i < ss.size(); ++i)
          s += (i == 0 ? "" : i + 1 == ss.size() ? " and " : ", ") + ir::interp::shape_string(*ss[i]);
        ir::interp::fail(*n, "cannot broadcast shapes " + s + (why.empty() ? "" : ": " + why));
      }
    }
    shapes[n] = std::move(out);
  }
  const Shape& shape = shapes.at(c.root);
  Array result = Array::empty(shape, c.root->dtype());
  if (shape_size(shape) == 0) return result;

  const std::size_t r = shape.size();
  const std::size_t nops = ins.size() + 1;
  std::vector<Shape> strides(nops, Shape(r, 0));
  std::vector<KilnBuffer> bufs(nops);
  for (std::size_t o = 0; o < ins.size(); ++o) {
    const Array& a = *ins[o];
    const std::size_t lead = r - a.shape().size();
    for (std::size_t ax = 0; ax < a.shape().size(); ++ax)
      if (a.shape()[ax] == shape[lead + ax]) strides[o][lead + ax] = a.strides()[ax];
    bufs[o] = {a.raw_data(), shape.data(), strides[o].data()};
  }
  strides.back() = result.strides();
  bufs.back() = {result.raw_data(), shape.data(), strides.back().data()};
  std::int64_t rows = 1;
  for (std::size_t d = 0; d + 1 < r; ++d) rows *= shape[d];
  if (r == 0 || shape_size(shape) * kernel_cost(c.kernel) < kParallelWork) {
    fn(bufs.data(), 0, rows);
  } else if (rows >= 2) {
    detail::parallel_for(static_cast<int>(std::min<std::int64_t>(rows, 64)), [&](int t, int nt) {
      const std::int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
      if (begin < end) fn(bufs.data(), begin, end);
    });
  } else {
    // One long row: each thread runs the kernel on its own part of it.
    const std::size_t in = r - 1;
    detail::parallel_for(64, [&](int t, int nt) {
      const std::int64_t begin = shape[in] * t / nt, end = shape[in] * (t + 1) / nt;
      if (begin >= end) return;
      Shape part_shape = shape;
      part_shape[in] = end - begin;
      std::vector<KilnBuffer> part = bufs;
      for (std::size_t o = 0; o < nops; ++o) {
        const auto es = static_cast<std::int64_t>(dtype_size(c.kernel.operands[o].dtype));
        part[o].data = static_cast<std::byte*>(bufs[o].data) + begin * strides[o][in] * es;
        part[o].shape = part_shape.data();
      }
      fn(part.data(), 0, 1);
    });
  }
  return result;
}

}  // namespace

std::vector<Array> NativeFunction::run(const ir::Bindings& bindings) const {
  // Buffers this call does not own (arguments, shared values, constants):
  // a result that is a view of one is copied.
  std::unordered_set<const Buffer*> borrowed;
  // Remaining reads of each value, so intermediates are freed early.
  std::unordered_map<const ir::Node*, std::size_t> uses;
  auto reads = [&](const Step& s) -> std::vector<const ir::Node*> {
    if (s.kind == Step::Kind::Kernel) return plan_.clusters[static_cast<std::size_t>(s.cluster)].inputs;
    std::vector<const ir::Node*> r;
    for (const ir::NodeRef& in : s.node->inputs()) r.push_back(in.get());
    return r;
  };
  for (const Step& s : plan_.steps)
    for (const ir::Node* n : reads(s)) ++uses[n];
  for (const ir::NodeRef& o : plan_.roots) ++uses[o.get()];

  std::unordered_map<const ir::Node*, Array> values;
  std::vector<Array> args;
  for (const Step& s : plan_.steps) {
    const ir::Node* n = s.node;
    const std::vector<const ir::Node*> in = reads(s);
    if (s.kind == Step::Kind::Host && (n->op() == ir::OpCode::Input || n->op() == ir::OpCode::Shared)) {
      auto it = bindings.find(n);
      if (it == bindings.end())
        ir::interp::fail(*n, std::string(n->op() == ir::OpCode::Shared ? "shared variable" : "input") + " '" +
                                 n->var_name() + "' is not bound");
      values[n] = it->second;
      borrowed.insert(it->second.buffer().get());
      continue;
    }
    if (s.kind != Step::Kind::Kernel) {
      args.clear();
      for (const ir::Node* i : in) args.push_back(values.at(i));
      Array v = s.kind == Step::Kind::Matmul ? blas_matmul(*n, args)
                : s.kind == Step::Kind::View ? eval_view(*n, args)
                                             : ir::eval_node(*n, args);
      if (ir::op_info(n->op()).category == ir::OpCategory::Leaf) borrowed.insert(v.buffer().get());
      values[n] = std::move(v);
      args.clear();
    } else {
      std::vector<const Array*> ptrs;
      for (const ir::Node* i : in) ptrs.push_back(&values.at(i));
      const auto ci = static_cast<std::size_t>(s.cluster);
      values[n] = run_kernel(plan_.clusters[ci], fns_[ci], ptrs);
    }
    for (const ir::Node* i : in)
      if (--uses[i] == 0) values.erase(i);
  }

  // Fresh C-contiguous results: never a view of a borrowed buffer, nor two
  // results sharing one.
  std::vector<Array> results;
  std::unordered_set<const Buffer*> returned;
  for (const ir::NodeRef& o : plan_.roots) {
    Array v = values.at(o.get());
    if (!v.is_contiguous() || borrowed.count(v.buffer().get()) || returned.count(v.buffer().get())) v = v.copy();
    returned.insert(v.buffer().get());
    results.push_back(std::move(v));
  }
  return results;
}

}  // namespace kiln::codegen
