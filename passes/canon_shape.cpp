// Canonical shape ops: useless ones removed, chains composed, transposes
// and slices lifted through elementwise ops toward the leaves (so that
// transposes meet and cancel, and slices shrink the work), inc_* into zeros
// turned into set_*.
#include <algorithm>
#include <set>

#include "ir/graph.hpp"
#include "ir/shape_util.hpp"
#include "passes/canon_rules.hpp"

namespace kiln::passes::canon {

using ir::Attrs;
using ir::kNone;
using ir::Node;

namespace {

using Ints = std::vector<std::int64_t>;

const Ints& ints(const Node& n, const char* name) { return n.attrs().get_ints(name); }

bool is_identity_perm(const Ints& p) {
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<std::int64_t>(i)) return false;
  return true;
}

// Is the cast from `from` to `to` exact for every value of `from`?
bool lossless(DType from, DType to) {
  if (from == to || from == DType::Bool) return true;
  auto mantissa = [](DType t) {  // integers a float holds exactly: |v| <= 2^mantissa
    switch (t) {
      case DType::F16: return 11;
      case DType::BF16: return 8;
      case DType::F32: return 24;
      case DType::F64: return 53;
      default: return 0;
    }
  };
  if (is_integer(from)) {
    if (is_float(to)) return value_bits(from) <= mantissa(to);
    if (!is_integer(to) || (is_signed_int(from) && is_unsigned_int(to))) return false;
    return value_bits(from) <= value_bits(to);
  }
  if (is_float(from) && is_float(to)) {  // wider in both mantissa and exponent
    if (from == DType::F16) return to == DType::F32 || to == DType::F64;
    if (from == DType::BF16) return to == DType::F32 || to == DType::F64;
    return from == DType::F32 && to == DType::F64;
  }
  return false;
}

// Is the slice triple the whole axis of size `n` (kUnknown allowed)?
bool whole_axis(std::int64_t n, std::int64_t start, std::int64_t stop, std::int64_t step) {
  if (step != 1) return false;
  bool from_start = start == kNone || start == 0 || (n >= 0 && start <= -n);
  bool to_end = stop == kNone || (n >= 0 && stop >= n);
  return from_start && to_end;
}

bool whole_slice(const Node& x, const Ints& sl) {
  for (std::int64_t i = 0; i < x.rank(); ++i)
    if (!whole_axis(x.type().dims[i].size, sl[3 * i], sl[3 * i + 1], sl[3 * i + 2])) return false;
  return true;
}

// An elementwise op rebuilt with `f` applied to each operand of the output's
// rank (0-d operands are kept); nullptr when another operand would broadcast.
template <class F>
NodeRef lift(const Node& ew, bool same_dims, F f) {
  if (!ir::is_elementwise(ew.op()) || ew.rank() == 0) return nullptr;
  std::vector<NodeRef> ins;
  for (const NodeRef& in : ew.inputs()) {
    if (in->rank() == 0) {
      ins.push_back(in);
    } else if (in->rank() == ew.rank() && (!same_dims || in->type().sizes() == ew.type().sizes())) {
      ins.push_back(f(in));
    } else {
      return nullptr;
    }
  }
  return ir::with_inputs(ew, std::move(ins));
}

// Are the constant indices distinct once wrapped into an axis of size n?
bool distinct_indices(const Node& idx, std::int64_t n) {
  if (idx.op() != OpCode::Constant) return false;
  std::set<double> seen;
  for (double i : idx.attrs().get_array("value").to_doubles()) {
    if (i < 0) {
      if (n < 0) return false;
      i += static_cast<double>(n);
    }
    if (!seen.insert(i).second) return false;
  }
  return true;
}

// An operand of an elementwise op (or fill_like) with the op's run-time shape, or nullptr.
NodeRef same_shape_operand(const Node& n) {
  if (!ir::is_elementwise(n.op()) && n.op() != OpCode::FillLike) return nullptr;
  for (const NodeRef& in : n.inputs())
    if (fits_without_broadcast(in->type(), n.type())) return in;
  return nullptr;
}

}  // namespace

void shape_rules(std::vector<Rule>& r, const RuleOptions&) {
  auto rule = [&r](const char* name, const char* text, OpCode root, auto f) {
    r.push_back(function_rule(name, text, [root, f](const NodeRef& n) -> NodeRef {
      return n->op() == root ? f(*n, Builder(n->loc())) : nullptr;
    }));
  };
  // useless ops
  rule("reshape_same", "reshape(x, shape of x) → x", OpCode::Reshape, [](const Node& n, const Builder&) {
    return n.type().sizes() == n.input(0)->type().sizes() ? n.input(0) : nullptr;
  });
  rule("reshape_reshape", "reshape(reshape(x, s), t) → reshape(x, t)", OpCode::Reshape,
       [](const Node& n, const Builder& b) -> NodeRef {
         const NodeRef& in = n.input(0);
         if (in->op() != OpCode::Reshape && in->op() != OpCode::ReshapeLike) return nullptr;
         return b.op(OpCode::Reshape, {in->input(0)}, n.attrs());
       });
  rule("transpose_identity", "transpose(x, [0, 1, ...]) → x", OpCode::Transpose,
       [](const Node& n, const Builder&) { return is_identity_perm(ints(n, "perm")) ? n.input(0) : nullptr; });
  rule("transpose_transpose", "transpose(transpose(x, p), q) → transpose(x, p[q])", OpCode::Transpose,
       [](const Node& n, const Builder& b) -> NodeRef {
         const NodeRef& in = n.input(0);
         if (in->op() != OpCode::Transpose) return nullptr;
         const Ints &p = ints(*in, "perm"), &q = ints(n, "perm");
         Ints composed;
         for (auto i : q) composed.push_back(p[i]);
         return b.transpose(in->input(0), composed);
       });
  rule("cast_same", "cast(x, dtype of x) → x", OpCode::Cast,
       [](const Node& n, const Builder&) { return n.input(0)->dtype() == n.dtype() ? n.input(0) : nullptr; });
  // cast(cast(x, w), t) → cast(x, t) when x → w is exact and w → t treats x's values as x → t
  // would (not so for int → float → narrower int: a float saturates where an integer wraps)
  rule("cast_cast", "cast(cast(x, w), t) → cast(x, t) when x → w is exact", OpCode::Cast,
       [](const Node& n, const Builder& b) -> NodeRef {
         const NodeRef& in = n.input(0);
         if (in->op() != OpCode::Cast) return nullptr;
         DType x = in->input(0)->dtype(), w = in->dtype(), t = n.dtype();
         if (!lossless(x, w)) return nullptr;
         if (is_integer(x) && is_float(w) && is_integer(t) && !lossless(x, t)) return nullptr;
         return b.cast(in->input(0), t);
       });
  rule("broadcast_to_same", "broadcast_to(x, shape of x) → x", OpCode::BroadcastTo,
       [](const Node& n, const Builder&) { return n.input(0)->type().dims == n.type().dims ? n.input(0) : nullptr; });
  rule("broadcast_like_same", "broadcast_like(x, ref) → x when nothing stretches", OpCode::BroadcastLike,
       [](const Node& n, const Builder&) {
         return fits_without_broadcast(n.input(0)->type(), n.type()) ? n.input(0) : nullptr;
       });
  rule("slice_whole", "slice(x, [:, :, ...]) → x", OpCode::Slice, [](const Node& n, const Builder&) {
    return whole_slice(*n.input(0), ints(n, "slices")) ? n.input(0) : nullptr;
  });
  rule("expand_dims_none", "expand_dims(x, []) → x", OpCode::ExpandDims,
       [](const Node& n, const Builder&) { return ints(n, "axes").empty() ? n.input(0) : nullptr; });
  rule("squeeze_none", "squeeze(x, []) → x", OpCode::Squeeze,
       [](const Node& n, const Builder&) { return ints(n, "axes").empty() ? n.input(0) : nullptr; });
  rule("squeeze_expand_dims", "squeeze(expand_dims(x, a), a) → x", OpCode::Squeeze,
       [](const Node& n, const Builder&) -> NodeRef {
         const NodeRef& in = n.input(0);
         bool undo = in->op() == OpCode::ExpandDims && ints(*in, "axes") == ints(n, "axes");
         return undo ? in->input(0) : nullptr;
       });
  rule("expand_dims_squeeze", "expand_dims(squeeze(x, a), a) → x when x's dims a are 1", OpCode::ExpandDims,
       [](const Node& n, const Builder&) -> NodeRef {
         const NodeRef& in = n.input(0);
         if (in->op() != OpCode::Squeeze || ints(*in, "axes") != ints(n, "axes")) return nullptr;
         for (auto a : ints(n, "axes"))
           if (in->input(0)->type().dims[a].size != 1) return nullptr;
         return in->input(0);
       });
  // the shape of f(a, b) is a's when a fits it: shape-only uses look through elementwise ops
  r.push_back(function_rule("like_ref_elementwise", "fill_like(f(a, b)) → fill_like(a), a of f's dims; also *_like refs",
                            [](const NodeRef& n) -> NodeRef {
                              std::size_t i = n->op() == OpCode::FillLike ? 0 : 1;
                              if (n->op() != OpCode::FillLike && n->op() != OpCode::BroadcastLike &&
                                  n->op() != OpCode::ReshapeLike)
                                return nullptr;
                              NodeRef a = same_shape_operand(*n->input(i));
                              if (!a) return nullptr;
                              std::vector<NodeRef> ins = n->inputs();
                              ins[i] = a;
                              return ir::with_inputs(*n, std::move(ins));
                            }));
  // lifting
  rule("lift_transpose", "transpose(f(a, b)) → f(transpose(a), transpose(b)), f elementwise", OpCode::Transpose,
       [](const Node& n, const Builder& b) {
         return lift(*n.input(0), false, [&](const NodeRef& x) { return b.transpose(x, ints(n, "perm")); });
       });
  rule("lift_slice", "slice(f(a, b)) → f(slice(a), slice(b)), f elementwise, a and b of f's shape", OpCode::Slice,
       [](const Node& n, const Builder& b) {
         return lift(*n.input(0), true, [&](const NodeRef& x) { return b.op(OpCode::Slice, {x}, n.attrs()); });
       });
  rule("slice_matmul", "slice(matmul(a, b), [r, c]) → matmul(slice(a, [r, :]), slice(b, [:, c]))", OpCode::Slice,
       [](const Node& n, const Builder& b) -> NodeRef {
         const NodeRef& mm = n.input(0);
         if (mm->op() != OpCode::Matmul || mm->input(0)->rank() != 2 || mm->input(1)->rank() != 2) return nullptr;
         const Ints& sl = ints(n, "slices");
         Ints rows{sl[0], sl[1], sl[2], kNone, kNone, 1}, cols{kNone, kNone, 1, sl[3], sl[4], sl[5]};
         NodeRef a = mm->input(0), c = mm->input(1);
         if (!whole_slice(*a, rows)) a = b.op(OpCode::Slice, {a}, Attrs{{"slices", rows}});
         if (!whole_slice(*c, cols)) c = b.op(OpCode::Slice, {c}, Attrs{{"slices", cols}});
         return b.matmul(a, c);
       });
  // gradient clean-up: adding into zeros is setting (caveat: 0 + -0 is +0, the set keeps -0)
  rule("inc_slice_zeros", "inc_slice(zeros, y) → set_slice(zeros, y)", OpCode::IncSlice,
       [](const Node& n, const Builder& b) -> NodeRef {
         return is_zeros(*n.input(0)) ? b.op(OpCode::SetSlice, n.inputs(), n.attrs()) : nullptr;
       });
  // with repeated indices inc_take accumulates where set_take keeps the last: constant distinct indices only
  rule("inc_take_zeros", "inc_take(zeros, y, idx) → set_take(zeros, y, idx), idx constant and distinct",
       OpCode::IncTake, [](const Node& n, const Builder& b) -> NodeRef {
         const auto& x = n.input(0);
         if (!is_zeros(*x) || !distinct_indices(*n.input(2), x->type().dims[n.attrs().get_int("axis")].size))
           return nullptr;
         return b.op(OpCode::SetTake, n.inputs(), n.attrs());
       });
}

}  // namespace kiln::passes::canon
