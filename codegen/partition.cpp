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

// Does reduction `n` see the same static sizes along its reduced `axes` as
// `space` (the cluster's iteration space, or its root's dims)? A known size
// on either side must be the same known size on the other (the kernel
// iterates one extent per reduced dim); `per_row_ok`: a static 1 in `space`
// is a per-row value broadcast back, which fits any size. Two unknown sizes
// are taken to agree (unknown dims never stretch, so elementwise ops force
// equality; the rare exception is caught at binding with a clear error).
bool reduced_dims_agree(const std::vector<ir::Dim>& space, const Node* n, const std::vector<std::int64_t>& axes,
                        bool per_row_ok) {
  const std::vector<ir::Dim>& in = n->input(0)->type().dims;
  for (std::int64_t ax : axes) {
    const auto a = static_cast<std::size_t>(ax);
    if (a >= space.size() || a >= in.size()) return false;
    const ir::Dim &s = space[a], &d = in[a];
    if (per_row_ok && s.known() && s.size == 1) continue;
    if (s.known() != d.known() || (s.known() && s.size != d.size)) return false;
  }
  return true;
}

// Where a cluster's nodes live: over the iteration space (the reductions'
// input space, or the root's shape for an elementwise cluster) or over the
// reduced shape of keepdims=false reductions (`kept`).
struct ClusterState {
  bool has_reduce = false;              // the space is fixed: a reduction (or a squeeze into the reduced shape) joined
  bool has_reduction = false;           // a reduction joined (`space` has its input's static sizes)
  int rank = 0;                         // the iteration space's rank
  std::vector<std::int64_t> axes;       // the reduced axes
  std::vector<ir::Dim> space;           // the iteration space's static dims
};

// Operand `v` of a kernel of `k.rank` dims (`space`: their static sizes),
// read over the iteration space or, when `kept`, over the kept dims.
KernelOperand operand_for(const Node& v, bool kept, const Kernel& k, const std::vector<ir::Dim>& space) {
  KernelOperand o;
  o.dtype = v.dtype();
  const int r = k.rank;
  std::vector<int> dims;  // the iteration dims v's dims may map onto
  for (int d = 0; d < r; ++d)
    if (!kept || k.reduced.empty() || !k.reduced[static_cast<std::size_t>(d)]) dims.push_back(d);
  const auto q = static_cast<std::size_t>(v.rank());
  KILN_CHECK(q <= dims.size(), "an operand of rank " << q << " in a kernel of rank " << r);
  o.broadcast.assign(static_cast<std::size_t>(r), true);
  std::vector<int> axes;
  for (std::size_t a = 0; a < q; ++a) {
    const int d = dims[dims.size() - q + a];
    axes.push_back(d);
    const ir::Dim& vd = v.type().dims[a];
    const ir::Dim& od = space[static_cast<std::size_t>(d)];
    o.broadcast[static_cast<std::size_t>(d)] = vd.known() && vd.size == 1 && !(od.known() && od.size == 1);
  }
  bool left_padded = true;
  for (std::size_t a = 0; a < q; ++a) left_padded = left_padded && axes[a] == r - static_cast<int>(q) + static_cast<int>(a);
  if (!left_padded) o.axes = std::move(axes);
  return o;
}

void build_kernel(Cluster& c, const ClusterState& st, const std::unordered_map<const Node*, bool>& kept) {
  Kernel& k = c.kernel;
  k.rank = st.has_reduce ? st.rank : static_cast<int>(c.root->rank());
  std::vector<ir::Dim> space = st.has_reduce ? st.space : c.root->type().dims;
  if (st.has_reduce) {
    k.reduced.assign(static_cast<std::size_t>(k.rank), false);
    for (std::int64_t ax : st.axes) k.reduced[static_cast<std::size_t>(ax)] = true;
  }
  std::unordered_map<const Node*, int> expr;  // value → expression index
  std::unordered_map<const Node*, int> position;
  for (std::size_t i = 0; i < c.nodes.size(); ++i) position[c.nodes[i]] = static_cast<int>(i);
  // Operands first (in order of first use), so that loads get stable numbers.
  for (const Node* n : c.nodes) {
    // A reduction or a squeeze reads its input over the iteration space;
    // other nodes read theirs where they themselves live.
    const bool reads_kept = ir::is_elementwise(n->op()) && kept.at(n);
    for (const ir::NodeRef& in : n->inputs())
      if (!position.count(in.get()) && !is_inline_constant(*in) &&
          std::find(c.inputs.begin(), c.inputs.end(), in.get()) == c.inputs.end()) {
        c.inputs.push_back(in.get());
        k.operands.push_back(operand_for(*in, reads_kept, k, space));
      }
  }
  c.root_kept = kept.at(c.root);
  k.operands.push_back(operand_for(*c.root, c.root_kept, k, space));
  for (const Node* n : c.nodes) {
    std::vector<int> args, slots;
    for (const ir::NodeRef& in : n->inputs()) {
      const auto pos = std::find(c.inputs.begin(), c.inputs.end(), in.get()) - c.inputs.begin();
      auto p = position.find(in.get());
      slots.push_back(p != position.end() ? static_cast<int>(c.inputs.size()) + p->second
                      : is_inline_constant(*in) ? -1
                                                : static_cast<int>(pos));
      auto it = expr.find(in.get());
      if (it == expr.end()) {
        const int e = is_inline_constant(*in) ? add_constant_expr(k, *in) : add_load(k, static_cast<int>(pos));
        it = expr.emplace(in.get(), e).first;
      }
      args.push_back(it->second);
    }
    c.arg_slots.push_back(std::move(slots));
    if (n->op() == OpCode::Squeeze) {  // a per-row value, the same in the reduced shape
      expr[n] = args.at(0);
      continue;
    }
    if (is_kernel_reduction(n->op())) {
      c.reductions.push_back(position.at(n));
      expr[n] = add_reduce(k, n->op(), n->dtype(), args.at(0));
      continue;
    }
    const std::int64_t attr = n->op() == OpCode::Polygamma ? n->attrs().get_int("n") : 0;
    expr[n] = add_op(k, n->op(), n->dtype(), std::move(args), attr);
  }
  // A per-row output is stored once per row, whatever the static sizes say.
  if (k.body.back().row)
    for (std::size_t d = 0; d < k.reduced.size(); ++d)
      if (k.reduced[d]) k.operands.back().broadcast[d] = true;
  verify_kernel(k);
}

// Can `n` be computed in a kernel at all?
bool fusible(const Node& n) {
  if (ir::is_elementwise(n.op())) return true;
  return is_kernel_reduction(n.op()) && n.input(0)->rank() > 0 && !n.attrs().get_ints("axes").empty();
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
  std::unordered_map<const Node*, bool> kept;  // fused nodes: computed over the reduced shape
  std::vector<ClusterState> states;
  std::unordered_set<const Node*> needed;  // values some step reads, or outputs
  // The space in which fused user `u` reads its inputs: a reduction reads
  // over the iteration space.
  auto reads_kept = [&](const Node* u) { return ir::is_elementwise(u->op()) && kept.at(u); };
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node* n = *it;
    const auto& us = users[n];
    // Which cluster reads n, and in which space (c = -1: none, or several).
    int c = -1;
    bool fuse = !is_root.count(n) && !us.empty();
    bool space_kept = false;
    for (const Node* u : us) {
      auto cu = cluster_of.find(u);
      if (cu == cluster_of.end() || (c >= 0 && (cu->second != c || reads_kept(u) != space_kept))) {
        fuse = false;
        break;
      }
      c = cu->second;
      space_kept = reads_kept(u);
    }
    if (n->op() == OpCode::Squeeze && fuse && (space_kept || !states[static_cast<std::size_t>(c)].has_reduce)) {
      // Squeezing a keepdims result's reduced axes moves a per-row value
      // into the reduced shape: nothing to compute (logsumexp's `+ m`).
      // The first such node in a cluster fixes its iteration space, as a
      // keepdims=false reduction would (the squeeze may be visited first).
      ClusterState& st = states[static_cast<std::size_t>(c)];
      const Cluster& cl = plan.clusters[static_cast<std::size_t>(c)];
      const auto& axes = n->attrs().get_ints("axes");
      const auto in_rank = static_cast<int>(n->input(0)->rank());
      if (!st.has_reduce && !axes.empty() && n->rank() == cl.root->rank()) {
        for (const Node* m : cl.nodes) kept[m] = true;
        st.has_reduce = true;
        st.rank = in_rank;
        st.axes = axes;
        st.space = n->input(0)->type().dims;
        for (std::int64_t ax : axes) st.space[static_cast<std::size_t>(ax)] = ir::Dim();  // sizes a reduction may tell
      }
      if (st.has_reduce && axes == st.axes && in_rank == st.rank) {
        cluster_of[n] = c;
        kept[n] = true;
        plan.clusters[static_cast<std::size_t>(c)].nodes.push_back(n);
        continue;
      }
    }
    if (fusible(*n)) {
      const bool reduction = !ir::is_elementwise(n->op());
      if (fuse && reduction) {
        // A reduction joins when it reduces the same axes of an input of
        // the same rank as the cluster's others, and its result lands where
        // its users read it: keepdims over the iteration space, or the
        // reduced shape itself.
        ClusterState& st = states[static_cast<std::size_t>(c)];
        const Cluster& cl = plan.clusters[static_cast<std::size_t>(c)];
        const auto& axes = n->attrs().get_ints("axes");
        const bool keep = n->attrs().get_bool("keepdims");
        const auto in_rank = static_cast<int>(n->input(0)->rank());
        if (!st.has_reduce) {
          fuse = n->rank() == cl.root->rank() && (!keep || reduced_dims_agree(cl.root->type().dims, n, axes, true));
          if (fuse && !keep)
            for (const Node* m : cl.nodes) kept[m] = true;  // the cluster so far lives in the reduced shape
          space_kept = !keep;
        } else {
          fuse = axes == st.axes && in_rank == st.rank && (space_kept ? !keep : keep) &&
                 (!st.has_reduction || reduced_dims_agree(st.space, n, axes, false));
        }
        if (fuse && !st.has_reduction) {
          st.has_reduce = st.has_reduction = true;
          st.rank = in_rank;
          st.axes = axes;
          st.space = n->input(0)->type().dims;
        }
      }
      if (fuse) {
        cluster_of[n] = c;
        kept[n] = space_kept;
        plan.clusters[static_cast<std::size_t>(c)].nodes.push_back(n);
      } else {
        cluster_of[n] = static_cast<int>(plan.clusters.size());
        Cluster cl;
        cl.root = n;
        cl.nodes.push_back(n);
        plan.clusters.push_back(std::move(cl));
        ClusterState st;
        if (reduction) {
          st.has_reduce = st.has_reduction = true;
          st.rank = static_cast<int>(n->input(0)->rank());
          st.axes = n->attrs().get_ints("axes");
          st.space = n->input(0)->type().dims;
        }
        states.push_back(std::move(st));
        kept[n] = reduction && !n->attrs().get_bool("keepdims");
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
  for (std::size_t i = 0; i < plan.clusters.size(); ++i) {
    Cluster& c = plan.clusters[i];
    std::reverse(c.nodes.begin(), c.nodes.end());  // collected consumers first
    build_kernel(c, states[i], kept);
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
