// The front end: shape operations and indexing.
#include "src/frontend.hpp"

namespace kiln {

using namespace detail;
using ir::Attrs;
using ir::kNone;

Tensor reshape(const Tensor& x, const std::vector<std::int64_t>& shape, Loc loc) {
  SourceLoc l = loc_of(loc);
  return make(OpCode::Reshape, {node_of(x, l, "reshape")}, Attrs{{"shape", shape}}, l);
}

Tensor transpose(const Tensor& x, const std::vector<std::int64_t>& perm, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = node_of(x, l, "transpose");
  std::vector<std::int64_t> p = perm;
  if (p.empty())
    for (std::int64_t i = n->rank() - 1; i >= 0; --i) p.push_back(i);
  else
    for (auto& a : p)
      if (a < 0 && a >= -n->rank()) a += n->rank();
  return make(OpCode::Transpose, {n}, Attrs{{"perm", p}}, l);
}

Tensor expand_dims(const Tensor& x, const Axes& axes, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = node_of(x, l, "expand_dims");
  if (axes.all) ir::user_error(l, "expand_dims", "needs explicit axes");
  std::int64_t out_rank = n->rank() + static_cast<std::int64_t>(axes.axes.size());
  auto ax = normalize_axes(axes, out_rank, l, "expand_dims", n->type().str());
  return make(OpCode::ExpandDims, {n}, Attrs{{"axes", ax}}, l);
}

Tensor squeeze(const Tensor& x, const Axes& axes, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = node_of(x, l, "squeeze");
  std::vector<std::int64_t> ax;
  if (axes.all) {
    for (std::int64_t i = 0; i < n->rank(); ++i)
      if (n->type().dims[i].size == 1) ax.push_back(i);
  } else {
    ax = normalize_axes(axes, n->rank(), l, "squeeze", n->type().str());
  }
  return make(OpCode::Squeeze, {n}, Attrs{{"axes", ax}}, l);
}

Tensor broadcast_to(const Tensor& x, const std::vector<std::int64_t>& shape, Loc loc) {
  SourceLoc l = loc_of(loc);
  return make(OpCode::BroadcastTo, {node_of(x, l, "broadcast_to")}, Attrs{{"shape", shape}}, l);
}

Tensor concatenate(const std::vector<Tensor>& xs, std::int64_t axis, Loc loc) {
  SourceLoc l = loc_of(loc);
  if (xs.empty()) ir::user_error(l, "concatenate", "needs at least one tensor");
  DType t = node_of(xs[0], l, "concatenate")->dtype();
  for (const Tensor& x : xs) t = promote(t, node_of(x, l, "concatenate")->dtype());
  std::vector<NodeRef> ins;
  for (const Tensor& x : xs) ins.push_back(cast_node(x.node(), t, l));
  std::int64_t ax = normalize_axis(axis, ins[0]->rank(), l, "concatenate", ins[0]->type().str());
  if (ins.size() == 1) return Tensor(ins[0]);
  return make(OpCode::Concatenate, ins, Attrs{{"axis", ax}}, l);
}

Tensor stack(const std::vector<Tensor>& xs, std::int64_t axis, Loc loc) {
  SourceLoc l = loc_of(loc);
  if (xs.empty()) ir::user_error(l, "stack", "needs at least one tensor");
  std::int64_t r = node_of(xs[0], l, "stack")->rank();
  for (const Tensor& x : xs)
    if (node_of(x, l, "stack")->rank() != r)
      ir::user_error(l, "stack", "all tensors must have the same shape, got " + xs[0].type_str() + " and " +
                                     x.type_str());
  std::int64_t ax = normalize_axis(axis, r + 1, l, "stack", xs[0].type_str());
  std::vector<Tensor> ex;
  for (const Tensor& x : xs) ex.push_back(expand_dims(x, ax, loc));
  return concatenate(ex, ax, loc);
}

Tensor flip(const Tensor& x, const Axes& axes, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = node_of(x, l, "flip");
  return make(OpCode::Flip, {n}, Attrs{{"axes", normalize_axes(axes, n->rank(), l, "flip", n->type().str())}}, l);
}

namespace {
NodeRef slice_node(const NodeRef& n, const std::vector<Slice>& slices, const SourceLoc& l) {
  if (static_cast<std::int64_t>(slices.size()) > n->rank())
    ir::user_error(l, "slice", "too many indices (" + std::to_string(slices.size()) + ") for " + n->type().str());
  std::vector<std::int64_t> flat;
  for (std::int64_t i = 0; i < n->rank(); ++i) {
    Slice s = i < static_cast<std::int64_t>(slices.size()) ? slices[i] : Slice{};
    if (s.step == 0) ir::user_error(l, "slice", "slice step must not be zero (axis " + std::to_string(i) + ")");
    flat.push_back(s.start.value_or(kNone));
    flat.push_back(s.stop.value_or(kNone));
    flat.push_back(s.step);
  }
  return mk(OpCode::Slice, {n}, Attrs{{"slices", flat}}, l);
}
}  // namespace

Tensor slice(const Tensor& x, const std::vector<Slice>& slices, Loc loc) {
  SourceLoc l = loc_of(loc);
  return Tensor(slice_node(node_of(x, l, "slice"), slices, l));
}

Tensor take(const Tensor& x, const Tensor& indices, std::int64_t axis, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = node_of(x, l, "take"), idx = node_of(indices, l, "take");
  std::int64_t ax = normalize_axis(axis, n->rank(), l, "take", n->type().str());
  if (!is_integer(idx->dtype()))
    ir::user_error(l, "take", "indices must have an integer dtype, got " + idx->type().str());
  return make(OpCode::Take, {n, idx}, Attrs{{"axis", ax}}, l);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& indices, std::int64_t axis, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = node_of(x, l, "split");
  std::int64_t ax = normalize_axis(axis, n->rank(), l, "split", n->type().str());
  std::vector<Tensor> parts;
  std::optional<std::int64_t> start;
  for (std::size_t i = 0; i <= indices.size(); ++i) {
    std::optional<std::int64_t> stop;
    if (i < indices.size()) stop = indices[i];
    std::vector<Slice> sl(ax + 1);
    sl[ax] = Slice{start, stop, 1};
    parts.push_back(Tensor(slice_node(n, sl, l)));
    start = stop;
  }
  return parts;
}

std::vector<Tensor> split(const Tensor& x, std::int64_t sections, std::int64_t axis, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = node_of(x, l, "split");
  std::int64_t ax = normalize_axis(axis, n->rank(), l, "split", n->type().str());
  const ir::Dim& d = n->type().dims[ax];
  if (sections <= 0) ir::user_error(l, "split", "the number of sections must be positive");
  if (!d.known())
    ir::user_error(l, "split", "splitting into equal sections needs a static size on axis " + std::to_string(ax) +
                                   " of " + n->type().str() + "; pass split indices instead");
  if (d.size % sections != 0)
    ir::user_error(l, "split", "axis " + std::to_string(ax) + " of " + n->type().str() +
                                   " does not divide into " + std::to_string(sections) + " equal sections");
  std::vector<std::int64_t> idx;
  for (std::int64_t i = 1; i < sections; ++i) idx.push_back(i * (d.size / sections));
  return split(x, idx, ax, loc);
}

// ---- indexing ----

namespace {

Tensor index_impl(const Tensor& self, const std::vector<Tensor::Index>& index, const SourceLoc& l) {
  NodeRef n = node_of(self, l, "index");
  if (static_cast<std::int64_t>(index.size()) > n->rank())
    ir::user_error(l, "index", "too many indices (" + std::to_string(index.size()) + ") for " + n->type().str());
  std::vector<Slice> slices;
  std::vector<std::int64_t> dropped;
  std::optional<std::pair<std::int64_t, NodeRef>> gather;
  bool any_slice = false;
  for (std::size_t i = 0; i < index.size(); ++i) {
    const auto& v = index[i].v;
    if (auto* k = std::get_if<std::int64_t>(&v)) {
      const ir::Dim& d = n->type().dims[i];
      if (d.known() && (*k >= d.size || *k < -d.size))
        ir::user_error(l, "index", "index " + std::to_string(*k) + " is out of range for axis " + std::to_string(i) +
                                       " of " + n->type().str());
      // x[k] as the slice k:k+1 (k = -1 must become -1:None) then a squeeze
      std::optional<std::int64_t> stop = *k == -1 ? std::nullopt : std::optional<std::int64_t>(*k + 1);
      slices.push_back(Slice{*k, stop, 1});
      dropped.push_back(static_cast<std::int64_t>(i));
      any_slice = true;
    } else if (auto* s = std::get_if<Slice>(&v)) {
      slices.push_back(*s);
      any_slice = true;  // even x[{Slice{}}] is a slice node, so set_subtensor can see it
    } else {
      if (gather) ir::user_error(l, "index", "at most one index array is supported per indexing expression");
      gather = {{static_cast<std::int64_t>(i), node_of(std::get<Tensor>(v), l, "index")}};
      slices.push_back(Slice{});
    }
  }
  NodeRef r = n;
  if (any_slice) r = slice_node(r, slices, l);
  if (!dropped.empty()) r = mk(OpCode::Squeeze, {r}, Attrs{{"axes", dropped}}, l);
  if (gather) {
    std::int64_t ax = gather->first;
    for (auto d : dropped) ax -= d < gather->first;
    Tensor idx(gather->second);
    if (!is_integer(gather->second->dtype()))
      ir::user_error(l, "index", "index arrays must have an integer dtype, got " + gather->second->type().str());
    r = mk(OpCode::Take, {r, gather->second}, Attrs{{"axis", ax}}, l);
  }
  return Tensor(r);
}

}  // namespace

Tensor Tensor::operator[](const Index& index) const { return index_impl(*this, {index}, loc_of(index.loc)); }
Tensor Tensor::operator[](std::initializer_list<Index> index) const {
  SourceLoc l = index.size() ? loc_of(index.begin()->loc) : SourceLoc();
  return index_impl(*this, std::vector<Index>(index), l);
}

// set_subtensor / inc_subtensor look through the indexing expression to the
// tensor it indexes, Theano style.
namespace {

Tensor update_subtensor(const Tensor& sub, const Operand& y, bool inc) {
  SourceLoc l = loc_of(y.loc);
  const char* name = inc ? "inc_subtensor" : "set_subtensor";
  NodeRef s = node_of(sub, l, name);
  DType t = s->dtype();
  NodeRef v = y.scalar ? scalar_node(*y.scalar, t, l, name) : cast_node(node_of(y.tensor, l, name), t, l);
  NodeRef base = s;
  std::vector<std::int64_t> dropped;
  if (base->op() == OpCode::Squeeze && base->input(0)->op() == OpCode::Slice) {
    dropped = base->attrs().get_ints("axes");
    base = base->input(0);
  }
  if (base->op() == OpCode::Slice) {
    if (!dropped.empty()) {
      if (v->rank() > s->rank())
        ir::user_error(l, name, "value " + v->type().str() + " has more dims than the indexed part " + s->type().str());
      if (v->rank() < s->rank()) {  // left-pad like broadcasting, then restore the dropped axes
        std::vector<std::int64_t> lead;
        for (std::int64_t i = 0; i < s->rank() - v->rank(); ++i) lead.push_back(i);
        v = mk(OpCode::ExpandDims, {v}, Attrs{{"axes", lead}}, l);
      }
      v = mk(OpCode::ExpandDims, {v}, Attrs{{"axes", dropped}}, l);
    }
    return make(inc ? OpCode::IncSlice : OpCode::SetSlice, {base->input(0), v},
                Attrs{{"slices", base->attrs().get_ints("slices")}}, l);
  }
  if (base->op() == OpCode::Take && dropped.empty()) {
    const NodeRef& inner = base->input(0);
    NodeRef r = mk(inc ? OpCode::IncTake : OpCode::SetTake, {inner, v, base->input(1)},
                   Attrs{{"axis", base->attrs().get_int("axis")}}, l);
    // x[{1, Slice{}, idx}] gathers from a basic-indexed part of x: write the
    // updated part back into x, so that the result is x, as for every other
    // indexing expression.
    bool basic_inner = inner->op() == OpCode::Slice ||
                       (inner->op() == OpCode::Squeeze && inner->input(0)->op() == OpCode::Slice);
    if (basic_inner) return update_subtensor(Tensor(inner), Operand(Tensor(r), y.loc), false);
    return Tensor(r);
  }
  ir::user_error(l, name,
                 "the first argument must be an indexing expression such as x[{Slice{1, 3}}] or take(x, idx), "
                 "got a '" + std::string(s->name()) + "' node of type " + s->type().str());
}

}  // namespace

Tensor set_subtensor(const Tensor& sub, const Operand& y) { return update_subtensor(sub, y, false); }
Tensor inc_subtensor(const Tensor& sub, const Operand& y) { return update_subtensor(sub, y, true); }

}  // namespace kiln
