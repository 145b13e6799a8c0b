#include "codegen/bind.hpp"

#include <algorithm>

#include "ir/interp_util.hpp"
#include "ir/interpreter.hpp"
#include "ir/shape_util.hpp"

namespace kiln::codegen {

namespace {

// The output shape of a reduction of `in` (the interpreter's rule), or its
// error for an empty max/min.
void reduce_shape(const ir::Node& n, const Shape& in, Shape* out) {
  const auto& axes = n.attrs().get_ints("axes");
  const bool keep = n.attrs().get_bool("keepdims");
  out->clear();
  std::int64_t count = 1;
  std::size_t next = 0;
  for (std::size_t ax = 0; ax < in.size(); ++ax) {
    if (next < axes.size() && axes[next] == static_cast<std::int64_t>(ax)) {
      ++next;
      count *= in[ax];
      if (keep) out->push_back(1);
    } else {
      out->push_back(in[ax]);
    }
  }
  const ir::OpCode op = n.op();
  if (count == 0 && (op == ir::OpCode::Max || op == ir::OpCode::Min || op == ir::OpCode::Argmax || op == ir::OpCode::Argmin))
    ir::interp::fail(n, "zero-size array to reduction " + std::string(n.name()) + " has no identity (reducing axes " +
                            ir::ints_str(axes) + " of shape " + ir::interp::shape_string(in) + ")");
}

}  // namespace

Shape cluster_output_shape(const Cluster& c, const std::vector<const Array*>& ins, bool* fused) {
  *fused = true;
  // Shapes by slot (inputs, then nodes); a per-thread scratch, so a call
  // allocates nothing once warm.
  thread_local std::vector<Shape> shapes;
  thread_local std::vector<const Shape*> ss;
  thread_local std::vector<const std::vector<ir::Dim>*> dims;
  static const Shape kScalar;
  const std::size_t ni = c.inputs.size();
  if (shapes.size() < ni + c.nodes.size()) shapes.resize(ni + c.nodes.size());
  for (std::size_t i = 0; i < ni; ++i) shapes[i] = ins[i]->shape();
  for (std::size_t j = 0; j < c.nodes.size(); ++j) {
    const ir::Node* n = c.nodes[j];
    const std::vector<int>& slots = c.arg_slots[j];
    ss.clear();
    dims.clear();
    for (std::size_t a = 0; a < slots.size(); ++a) {
      ss.push_back(slots[a] < 0 ? &kScalar : &shapes[static_cast<std::size_t>(slots[a])]);  // inline constants are 0-d
      dims.push_back(&n->input(a)->type().dims);
    }
    Shape& out = shapes[ni + j];
    if (n->op() == ir::OpCode::Squeeze) {  // of statically-1 dims
      const auto& axes = n->attrs().get_ints("axes");
      out.clear();
      for (std::size_t ax = 0; ax < ss[0]->size(); ++ax)
        if (std::find(axes.begin(), axes.end(), static_cast<std::int64_t>(ax)) == axes.end()) out.push_back((*ss[0])[ax]);
    } else if (!ir::is_elementwise(n->op())) {
      reduce_shape(*n, *ss[0], &out);
    } else if (ss.size() == 1) {
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
  }
  // The kernel iterates one space: every reduction must see the same sizes
  // along the reduced dims, and a result over the reductions' input space
  // must not be larger there (which happens only when a reduced dim of
  // unknown size is 1 at run time and a keepdims result is broadcast
  // against a larger operand).
  const Kernel& k = c.kernel;
  if (!c.reductions.empty()) {
    const Shape& first_in = shapes[static_cast<std::size_t>(c.arg_slots[static_cast<std::size_t>(c.reductions[0])][0])];
    // Valid shapes the fused kernel cannot iterate: the caller evaluates
    // the cluster node by node instead (evaluate_cluster).
    auto mismatch = [&] { *fused = false; };
    for (int r : c.reductions) {
      const Shape& in = shapes[static_cast<std::size_t>(c.arg_slots[static_cast<std::size_t>(r)][0])];
      for (std::size_t d = 0; d < k.reduced.size(); ++d)
        if (k.reduced[d] && in[d] != first_in[d]) mismatch();
    }
    const Shape& root = shapes[ni + c.nodes.size() - 1];
    if (!c.root_kept && !c.kernel.body.back().row) {
      const std::size_t lead = k.reduced.size() - root.size();
      for (std::size_t d = lead; d < k.reduced.size(); ++d)
        if (k.reduced[d] && root[d - lead] != first_in[d] && root[d - lead] != 1) mismatch();
    }
  }
  return shapes[ni + c.nodes.size() - 1];
}

Array evaluate_cluster(const Cluster& c, const std::vector<const Array*>& ins) {
  std::vector<Array> values(c.nodes.size());
  std::vector<Array> args;
  for (std::size_t j = 0; j < c.nodes.size(); ++j) {
    const ir::Node& n = *c.nodes[j];
    args.clear();
    for (std::size_t a = 0; a < n.inputs().size(); ++a) {
      const int slot = c.arg_slots[j][a];
      const std::size_t ni = c.inputs.size();
      if (slot < 0) args.push_back(ir::eval_node(*n.input(a), {}));  // an inline constant
      else if (static_cast<std::size_t>(slot) < ni) args.push_back(*ins[static_cast<std::size_t>(slot)]);
      else args.push_back(values[static_cast<std::size_t>(slot) - ni]);
    }
    values[j] = ir::eval_node(n, args);
  }
  return values.back();
}

void bind_kernel(const Cluster& c, const std::vector<const Array*>& ins, const Array& out, KernelArgs* args) {
  KernelArgs& a = *args;
  const Kernel& k = c.kernel;
  const auto r = static_cast<std::size_t>(k.rank);
  const std::size_t nops = ins.size() + 1;
  // The iteration space: the output's dims; along a reduction's reduced
  // dims, the size the operands have there (they broadcast to it, as
  // cluster_output_shape checked: the first size that is not 1).
  a.space.assign(r, 1);
  auto place = [&](const KernelOperand& op, const Shape& s, auto&& fn) {
    const std::size_t q = s.size();
    for (std::size_t ax = 0; ax < q; ++ax) fn(op.axes.empty() ? r - q + ax : static_cast<std::size_t>(op.axes[ax]), ax);
  };
  place(k.output(), out.shape(), [&](std::size_t d, std::size_t ax) { a.space[d] = out.shape()[ax]; });
  if (k.has_reduction()) {
    for (std::size_t d = 0; d < r; ++d) {
      if (!k.reduced[d]) continue;
      std::int64_t size = 1;
      for (std::size_t o = 0; o < ins.size() && size == 1; ++o)
        place(k.operands[o], ins[o]->shape(), [&](std::size_t d2, std::size_t ax) {
          if (d2 == d && ins[o]->shape()[ax] != 1) size = ins[o]->shape()[ax];
        });
      a.space[d] = size;
    }
  }
  a.strides.resize(nops);
  a.bufs.resize(nops);
  for (std::size_t o = 0; o < nops; ++o) {
    const Array& in = o + 1 < nops ? *ins[o] : out;
    Shape& st = a.strides[o];
    st.assign(r, 0);
    place(k.operands[o], in.shape(), [&](std::size_t d, std::size_t ax) {
      if (in.shape()[ax] == a.space[d] && !k.operands[o].broadcast[d]) st[d] = in.strides()[ax];
    });
    a.bufs[o] = {in.raw_data(), a.space.data(), st.data()};
  }
  // Rows (kernel.hpp's ABI): every dim but the innermost; in a reduction
  // kernel the kept dims, with the innermost (kept) one in blocks.
  a.rows = 1;
  const bool inner_reduced = k.inner_reduced();
  for (std::size_t d = 0; d + (inner_reduced ? 0 : 1) < r; ++d)
    if (!k.has_reduction() || !k.reduced[d]) a.rows *= a.space[d];
  if (k.has_reduction() && !inner_reduced) a.rows *= (a.space[r - 1] + kKeptInnerBlock - 1) / kKeptInnerBlock;
  a.splittable_row = r > 0 && !k.has_reduction();
}

}  // namespace kiln::codegen
