// The reference interpreter: graph evaluation, binding checks and leaves.
// The op families live in ir/interp_elementwise.cpp, ir/interp_reduce.cpp and
// ir/interp_shape.cpp; the element plumbing in ir/interp_util.cpp.
#include "ir/interpreter.hpp"

#include <unordered_map>

#include "ir/graph.hpp"
#include "ir/interp_util.hpp"
#include "ir/shape_util.hpp"

namespace kiln::ir {

namespace interp {

void fail_unbound(const Node& var) {
  fail(var, std::string(var.op() == OpCode::Shared ? "shared variable" : "input") + " '" + var.var_name() +
                "' is not bound");
}

Array eval_leaf(const Node& node) {
  const Attrs& at = node.attrs();
  switch (node.op()) {
    case OpCode::Input: case OpCode::Shared:
      fail_unbound(node);
    case OpCode::Constant:
      return materialize(view_of(at.get_array("value")));
    case OpCode::Fill:
      return fill_array(at.get_ints("shape"), at.get_double("value"), node.dtype());
    case OpCode::Arange: {
      // Element i is start + i * step in double, then converted like Cast.
      const double start = at.get_double("start"), step = at.get_double("step");
      const std::int64_t n = node.type().dims[0].size;
      View v;
      Array a = new_array({n}, node.dtype(), &v);
      const bool fl = float_domain(node.dtype());
      StoreF sf = fl ? store_f(node.dtype()) : nullptr;
      StoreI si = fl ? nullptr : store_i(node.dtype());
      for (std::int64_t i = 0; i < n; ++i) {
        const double x = start + static_cast<double>(i) * step;
        if (fl) sf(v.base + i * v.strides[0], x);
        else si(v.base + i * v.strides[0], float_to_int(x, node.dtype()));
      }
      return a;
    }
    case OpCode::Eye: {
      const std::int64_t n = at.get_int("n"), m = at.get_int("m"), k = at.get_int("k");
      Array a = fill_array({n, m}, 0.0, node.dtype());
      View v = view_of(a);
      const bool fl = float_domain(node.dtype());
      for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t j = i + k;
        if (j < 0 || j >= m) continue;
        std::byte* p = v.base + i * v.strides[0] + j * v.strides[1];
        if (fl) store_f(node.dtype())(p, 1.0);
        else store_i(node.dtype())(p, 1);
      }
      return a;
    }
    default: break;
  }
  KILN_UNREACHABLE(op_name(node.op()) << " is not a leaf");
}

}  // namespace interp

namespace {

std::string array_type_str(const Array& a) {
  return std::string(dtype_name(a.dtype())) + interp::shape_string(a.shape());
}

// An array bound to an Input or Shared leaf must be a host array of the
// leaf's dtype, rank and static dims.
void check_binding(const Node& leaf, const Array& a) {
  const std::string who = std::string(leaf.op() == OpCode::Shared ? "shared variable" : "input") + " '" +
                          leaf.var_name() + "'";
  if (a.is_null()) interp::fail(leaf, who + " is bound to a null array");
  if (!a.device().is_cpu())
    interp::fail(leaf, who + " is bound to an array on " + a.device().str() + "; the interpreter needs host arrays");
  const TensorType& t = leaf.type();
  bool ok = a.dtype() == t.dtype && a.ndim() == t.rank();
  for (std::int64_t i = 0; ok && i < t.rank(); ++i)
    if (t.dims[i].known() && t.dims[i].size != a.shape()[i]) ok = false;
  if (!ok) interp::fail(leaf, who + " expects " + t.str() + ", got an array of " + array_type_str(a));
}

}  // namespace

Array eval_node(const Node& node, const std::vector<Array>& inputs) {
  KILN_CHECK(inputs.size() == node.inputs().size(),
             op_name(node.op()) << " given " << inputs.size() << " arrays for " << node.inputs().size() << " inputs");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const TensorType& t = node.input(i)->type();
    const Array& a = inputs[i];
    bool ok = !a.is_null() && a.dtype() == t.dtype && a.ndim() == t.rank();
    for (std::int64_t d = 0; ok && d < t.rank(); ++d)
      ok = !t.dims[d].known() || t.dims[d].size == a.shape()[d];
    KILN_CHECK(ok, op_name(node.op()) << " input " << i << " of type " << t.str() << " given "
                                      << (a.is_null() ? std::string("a null array") : array_type_str(a)));
  }
  Array out;
  switch (node.info().category) {
    case OpCategory::Leaf: out = interp::eval_leaf(node); break;
    case OpCategory::Reduce: out = interp::eval_reduce(node, inputs); break;
    case OpCategory::Matmul: out = interp::eval_matmul(node, inputs); break;
    case OpCategory::Shape: out = interp::eval_shape_op(node, inputs); break;
    default: out = interp::eval_elementwise(node, inputs); break;
  }
  const TensorType& t = node.type();
  bool ok = out.dtype() == t.dtype && out.ndim() == t.rank();
  for (std::int64_t d = 0; ok && d < t.rank(); ++d) ok = !t.dims[d].known() || t.dims[d].size == out.shape()[d];
  KILN_CHECK(ok, op_name(node.op()) << " of type " << t.str() << " produced " << array_type_str(out));
  return out;
}

std::vector<Array> interpret(const std::vector<NodeRef>& outputs, const Bindings& bindings) {
  const std::vector<const Node*> order = topo_order(outputs);
  // Remaining uses of each value (by later nodes and by the outputs), so
  // intermediates are freed as soon as their last user has run.
  std::unordered_map<const Node*, std::size_t> uses;
  for (const Node* n : order)
    for (const NodeRef& in : n->inputs()) ++uses[in.get()];
  for (const NodeRef& o : outputs) ++uses[o.get()];

  std::unordered_map<const Node*, Array> values;
  std::vector<Array> args;
  for (const Node* n : order) {
    if (n->op() == OpCode::Input || n->op() == OpCode::Shared) {
      auto it = bindings.find(n);
      if (it == bindings.end())
        interp::fail_unbound(*n);
      check_binding(*n, it->second);
      values[n] = it->second;  // read in place through its strides
      continue;
    }
    args.clear();
    for (const NodeRef& in : n->inputs()) args.push_back(values.at(in.get()));
    values[n] = eval_node(*n, args);
    args.clear();
    for (const NodeRef& in : n->inputs())
      if (--uses[in.get()] == 0) values.erase(in.get());
  }

  std::vector<Array> results;
  results.reserve(outputs.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const Node* o = outputs[i].get();
    Array v = values.at(o);
    // Fresh memory per result: a bound array, or an output listed twice, is copied.
    bool repeated = false;
    for (std::size_t j = 0; j < i && !repeated; ++j) repeated = outputs[j].get() == o;
    if (o->op() == OpCode::Input || o->op() == OpCode::Shared || repeated)
      v = interp::materialize(interp::view_of(v));
    results.push_back(std::move(v));
  }
  return results;
}

}  // namespace kiln::ir
