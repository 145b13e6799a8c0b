#include "codegen/partition.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "ir/graph.hpp"
#include "ir/interp_util.hpp"

namespace kiln::codegen {

using ir::Node;
using ir::OpCode;

bool is_inline_constant(const Node& n) {
  return (n.op() == OpCode::Constant || n.op() == OpCode::Fill) && n.rank() == 0;
}

namespace {

// The step kind of a node that is not fused into a kernel.
Step::Kind host_kind(const Node& n) {
  switch (n.op()) {
    case OpCode::Matmul:
      return n.dtype() == DType::F32 || n.dtype() == DType::F64 ? Step::Kind::Matmul : Step::Kind::Host;
    case OpCode::Transpose: case OpCode::ExpandDims: case OpCode::Squeeze: case OpCode::BroadcastTo:
    case OpCode::BroadcastLike: case OpCode::Reshape: case OpCode::ReshapeLike: case OpCode::Slice:
    case OpCode::Flip:
      return Step::Kind::View;
    default:
      return Step::Kind::Host;
  }
}

}  // namespace

std::string print_plan(const Plan& plan) {
  std::string s;
  for (const Step& st : plan.steps) {
    switch (st.kind) {
      case Step::Kind::Kernel: s += "kernel " + std::to_string(st.cluster); break;
      case Step::Kind::Matmul: s += "matmul (blas)"; break;
      case Step::Kind::View: s += "view " + std::string(st.node->name()); break;
      case Step::Kind::Host: s += "host " + std::string(st.node->name()); break;
    }
    s += "\n";
  }
  return s;
}

namespace {

// The literal of a 0-d constant, in the kernel's value representation.
int add_constant_expr(Kernel& k, const Node& n) {
  const DType t = n.dtype();
  if (n.op() == OpCode::Constant) {
    const Array& a = n.attrs().get_array("value");
    if (is_float(t)) return add_const(k, t, a.to_doubles().at(0), 0);
    return add_const(k, t, 0, a.to_int64s().at(0));
  }
  const double v = n.attrs().get_double("value");  // Fill: converted like Cast
  if (is_float(t)) {
    Array a = ir::interp::fill_array({}, v, t);  // rounded to the dtype once
    return add_const(k, t, a.to_doubles().at(0), 0);
  }
  return add_const(k, t, 0, ir::interp::float_to_int(v, t));
}

KernelOperand operand_for(const Node& v, const Node& root) {
  KernelOperand o;
  o.dtype = v.dtype();
  const std::int64_t r = root.rank(), q = v.rank();
  o.broadcast.assign(static_cast<std::size_t>(r), true);
  for (std::int64_t d = r - q; d < r; ++d) {
    const ir::Dim& vd = v.type().dims[static_cast<std::size_t>(d - (r - q))];
    const ir::Dim& od = root.type().dims[static_cast<std::size_t>(d)];
    const bool stretched = vd.known() && vd.size == 1 && !(od.known() && od.size == 1);
    o.broadcast[static_cast<std::size_t>(d)] = stretched;
  }
  return o;
}

void build_kernel(Cluster& c) {
  Kernel& k = c.kernel;
  k.rank = static_cast<int>(c.root->rank());
  std::unordered_map<const Node*, int> expr;  // value → expression index
  std::unordered_set<const Node*> members(c.nodes.begin(), c.nodes.end());
  // Operands first (in order of first use), so that loads get stable numbers.
  for (const Node* n : c.nodes)
    for (const ir::NodeRef& in : n->inputs())
      if (!members.count(in.get()) && !is_inline_constant(*in) &&
          std::find(c.inputs.begin(), c.inputs.end(), in.get()) == c.inputs.end()) {
        c.inputs.push_back(in.get());
        k.operands.push_back(operand_for(*in, *c.root));
      }
  k.operands.push_back(operand_for(*c.root, *c.root));
  for (const Node* n : c.nodes) {
    std::vector<int> args;
    for (const ir::NodeRef& in : n->inputs()) {
      auto it = expr.find(in.get());
      if (it == expr.end()) {
        int e;
        if (is_inline_constant(*in)) {
          e = add_constant_expr(k, *in);
        } else {
          const auto pos = std::find(c.inputs.begin(), c.inputs.end(), in.get()) - c.inputs.begin();
          e = add_load(k, static_cast<int>(pos));
        }
        it = expr.emplace(in.get(), e).first;
      }
      args.push_back(it->second);
    }
    const std::int64_t attr = n->op() == OpCode::Polygamma ? n->attrs().get_int("n") : 0;
    expr[n] = add_op(k, n->op(), n->dtype(), std::move(args), attr);
  }
  verify_kernel(k);
}

}  // namespace

Plan partition(const std::vector<ir::NodeRef>& roots) {
  Plan plan;
  plan.roots = roots;
  const std::vector<const Node*> order = ir::topo_order(roots);
  std::unordered_map<const Node*, std::vector<const Node*>> users;
  for (const Node* n : order)
    for (const ir::NodeRef& in : n->inputs()) users[in.get()].push_back(n);
  std::unordered_set<const Node*> is_root;
  for (const ir::NodeRef& r : roots) is_root.insert(r.get());

  // Clusters, consumers first.
  std::unordered_map<const Node*, int> cluster_of;
  std::unordered_set<const Node*> needed;  // values some step reads, or outputs
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node* n = *it;
    const auto& us = users[n];
    if (ir::is_elementwise(n->op())) {
      int c = -1;
      bool fuse = !is_root.count(n) && !us.empty();
      for (const Node* u : us) {
        auto cu = cluster_of.find(u);
        if (cu == cluster_of.end() || (c >= 0 && cu->second != c)) {
          fuse = false;
          break;
        }
        c = cu->second;
      }
      if (fuse) {
        cluster_of[n] = c;
        plan.clusters[static_cast<std::size_t>(c)].nodes.push_back(n);
      } else {
        cluster_of[n] = static_cast<int>(plan.clusters.size());
        Cluster cl;
        cl.root = n;
        cl.nodes.push_back(n);
        plan.clusters.push_back(std::move(cl));
      }
      continue;
    }
    // A host value: needed when it is an output, or a host step or a kernel
    // reads it (kernels fold 0-d constants in instead).
    bool need = is_root.count(n) > 0;
    for (const Node* u : us) {
      if (need) break;
      if (cluster_of.count(u)) need = !is_inline_constant(*n);
      else need = needed.count(u) > 0;
    }
    if (need) needed.insert(n);
  }
  for (Cluster& c : plan.clusters) {
    std::reverse(c.nodes.begin(), c.nodes.end());  // collected consumers first
    build_kernel(c);
  }
  for (const Node* n : order) {
    auto c = cluster_of.find(n);
    if (c != cluster_of.end()) {
      if (plan.clusters[static_cast<std::size_t>(c->second)].root == n)
        plan.steps.push_back({Step::Kind::Kernel, n, c->second});
    } else if (needed.count(n)) {
      plan.steps.push_back({host_kind(*n), n, -1});
    }
  }
  return plan;
}

}  // namespace kiln::codegen
