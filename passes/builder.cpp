#include "passes/builder.hpp"

#include <algorithm>

namespace kiln::passes {

using ir::Attrs;

NodeRef Builder::scalar(double v, DType t) const {
  return op(OpCode::Constant, {}, Attrs{{"value", Array::scalar(v, t)}});
}

NodeRef Builder::cast(const NodeRef& a, DType t) const {
  if (a->dtype() == t) return a;
  return op(OpCode::Cast, {a}, Attrs{{"dtype", t}});
}

NodeRef Builder::zeros_like(const NodeRef& x) const {
  return op(OpCode::FillLike, {x}, Attrs{{"value", 0.0}, {"dtype", x->dtype()}});
}
NodeRef Builder::ones_like(const NodeRef& x) const {
  return op(OpCode::FillLike, {x}, Attrs{{"value", 1.0}, {"dtype", x->dtype()}});
}

NodeRef Builder::reduce(OpCode o, const NodeRef& x, std::vector<std::int64_t> axes, bool keepdims) const {
  std::sort(axes.begin(), axes.end());
  return op(o, {x}, Attrs{{"axes", axes}, {"keepdims", keepdims}});
}
NodeRef Builder::sum(const NodeRef& x, std::vector<std::int64_t> axes, bool keepdims) const {
  if (axes.empty()) return x;
  return reduce(OpCode::Sum, x, std::move(axes), keepdims);
}

NodeRef Builder::expand_dims(const NodeRef& x, std::vector<std::int64_t> axes) const {
  if (axes.empty()) return x;
  std::sort(axes.begin(), axes.end());
  return op(OpCode::ExpandDims, {x}, Attrs{{"axes", axes}});
}
NodeRef Builder::squeeze(const NodeRef& x, std::vector<std::int64_t> axes) const {
  if (axes.empty()) return x;
  std::sort(axes.begin(), axes.end());
  return op(OpCode::Squeeze, {x}, Attrs{{"axes", axes}});
}
NodeRef Builder::transpose(const NodeRef& x, std::vector<std::int64_t> perm) const {
  bool id = true;
  for (std::size_t i = 0; i < perm.size(); ++i) id &= perm[i] == static_cast<std::int64_t>(i);
  if (id) return x;
  return op(OpCode::Transpose, {x}, Attrs{{"perm", perm}});
}
NodeRef Builder::mT(const NodeRef& x) const {
  std::vector<std::int64_t> perm;
  for (std::int64_t i = 0; i < x->rank(); ++i) perm.push_back(i);
  std::swap(perm[x->rank() - 1], perm[x->rank() - 2]);
  return transpose(x, perm);
}
NodeRef Builder::broadcast_like(const NodeRef& x, const NodeRef& ref) const {
  if (x->type().dims == ref->type().dims && x->type().all_known()) return x;
  if (ref->type().all_known()) return op(OpCode::BroadcastTo, {x}, Attrs{{"shape", ref->type().sizes()}});
  return op(OpCode::BroadcastLike, {x, ref});
}
NodeRef Builder::reshape_like(const NodeRef& x, const NodeRef& ref) const {
  if (x->type().dims == ref->type().dims && x->type().all_known()) return x;
  if (ref->type().all_known()) return op(OpCode::Reshape, {x}, Attrs{{"shape", ref->type().sizes()}});
  return op(OpCode::ReshapeLike, {x, ref});
}

NodeRef Builder::unbroadcast(const NodeRef& g, const ir::TensorType& x) const {
  std::int64_t lead = g->rank() - x.rank();
  std::vector<std::int64_t> lead_axes, one_axes;
  for (std::int64_t i = 0; i < lead; ++i) lead_axes.push_back(i);
  NodeRef r = sum(g, lead_axes, false);
  for (std::int64_t i = 0; i < x.rank(); ++i)
    if (x.dims[i].known() && x.dims[i].size == 1 && !(r->type().dims[i].known() && r->type().dims[i].size == 1))
      one_axes.push_back(i);
  return sum(r, one_axes, true);
}

NodeRef Builder::expand_reduced(const NodeRef& g, const ir::Node& red, const NodeRef& input) const {
  NodeRef r = g;
  if (!red.attrs().get_bool("keepdims")) r = expand_dims(r, red.attrs().get_ints("axes"));
  return broadcast_like(r, input);
}

NodeRef Builder::reduced_count(const ir::Node& red, const NodeRef& input, DType t) const {
  const auto& axes = red.attrs().get_ints("axes");
  std::int64_t n = 1;
  bool known = true;
  for (auto a : axes) {
    const ir::Dim& d = input->type().dims[a];
    if (!d.known()) known = false;
    else n *= d.size;
  }
  if (known) return scalar(static_cast<double>(n), t);
  // counted at run time: ones summed over the reduced axes (kept as size-1 dims)
  NodeRef ones = op(OpCode::FillLike, {input}, Attrs{{"value", 1.0}, {"dtype", t}});
  return reduce(OpCode::Sum, ones, axes, true);
}

}  // namespace kiln::passes
