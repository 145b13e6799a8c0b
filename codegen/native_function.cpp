#include "codegen/native_function.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "codegen/blas.hpp"
#include "codegen/kernel_cache.hpp"
#include "codegen/launch.hpp"
#include "codegen/views.hpp"
#include "ir/interp_util.hpp"

namespace kiln::codegen {

NativeFunction::NativeFunction(const std::vector<ir::NodeRef>& roots) : plan_(partition(roots)) {
  std::vector<const Kernel*> kernels;
  for (const Cluster& c : plan_.clusters) kernels.push_back(&c.kernel);
  fns_ = compile_kernels(kernels);
}

std::vector<std::string> NativeFunction::kernel_texts() const {
  std::vector<std::string> r;
  for (const Cluster& c : plan_.clusters) r.push_back(print_kernel(c.kernel));
  return r;
}

namespace {

Array run_kernel(const Cluster& c, KilnKernelFn fn, const std::vector<const Array*>& ins) {
  Array result = Array::empty(cluster_output_shape(c, ins), c.root->dtype());
  KernelArgs args;
  bind_kernel(c, ins, result, &args);
  launch_kernel(c.kernel, fn, args);
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
