// The front end: reductions (and their composites) and linear algebra.
#include <numeric>

#include "src/frontend.hpp"

namespace kiln {

using namespace detail;
using ir::Attrs;

namespace detail {

NodeRef reduce_node(OpCode op, const NodeRef& x, const std::vector<std::int64_t>& axes, bool keepdims,
                    const SourceLoc& loc) {
  return mk(op, {x}, Attrs{{"axes", axes}, {"keepdims", keepdims}}, loc);
}

Tensor reduce(OpCode op, const Tensor& x, const Axes& axes, bool keepdims, const SourceLoc& l) {
  std::string_view name = ir::op_name(op);
  NodeRef n = node_of(x, l, name);
  std::vector<std::int64_t> ax = normalize_axes(axes, n->rank(), l, name, n->type().str());
  DType t = n->dtype();
  switch (op) {
    case OpCode::Sum: case OpCode::Prod:
      if (!is_float(t)) n = cast_node(n, DType::I64, l);  // NumPy: integer sums are int64
      break;
    case OpCode::Mean:
      if (!is_float(t)) n = cast_node(n, DType::F64, l);
      break;
    case OpCode::All: case OpCode::Any:
      if (t != DType::Bool) n = mk(OpCode::Ne, {n, scalar_node(0, t, l)}, {}, l);
      break;
    default:
      break;
  }
  return Tensor(reduce_node(op, n, ax, keepdims, l));
}

}  // namespace detail

#define KILN_REDUCE_IMPL(name, OP)                                  \
  Tensor name(const Tensor& x, const Axes& axes, bool keepdims, Loc loc) { \
    return reduce(OpCode::OP, x, axes, keepdims, loc_of(loc));      \
  }
KILN_REDUCE_IMPL(sum, Sum) KILN_REDUCE_IMPL(prod, Prod) KILN_REDUCE_IMPL(max, Max) KILN_REDUCE_IMPL(min, Min)
KILN_REDUCE_IMPL(mean, Mean) KILN_REDUCE_IMPL(all, All) KILN_REDUCE_IMPL(any, Any)
KILN_REDUCE_IMPL(argmax, Argmax) KILN_REDUCE_IMPL(argmin, Argmin)
#undef KILN_REDUCE_IMPL

namespace {
NodeRef float_node(const Tensor& x, const SourceLoc& l, std::string_view op) {
  NodeRef n = node_of(x, l, op);
  return cast_node(n, float_for(n->dtype()), l);
}
}  // namespace

// log(sum(exp(x))) shifted by the (finite) max so it neither overflows nor
// underflows; the shift carries no gradient (the result does not depend on it).
Tensor logsumexp(const Tensor& x, const Axes& axes, bool keepdims, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = float_node(x, l, "logsumexp");
  auto ax = normalize_axes(axes, n->rank(), l, "logsumexp", n->type().str());
  NodeRef m = reduce_node(OpCode::Max, n, ax, true, l);
  NodeRef zero = scalar_node(0, n->dtype(), l);
  m = mk(OpCode::Where, {mk(OpCode::IsFinite, {m}, {}, l), m, zero}, {}, l);
  m = mk(OpCode::StopGradient, {m}, {}, l);
  NodeRef e = mk(OpCode::Exp, {mk(OpCode::Sub, {n, m}, {}, l)}, {}, l);
  NodeRef s = mk(OpCode::Log, {reduce_node(OpCode::Sum, e, ax, keepdims, l)}, {}, l);
  NodeRef shift = keepdims ? m : mk(OpCode::Squeeze, {m}, Attrs{{"axes", ax}}, l);
  return Tensor(mk(OpCode::Add, {s, shift}, {}, l));
}

Tensor var(const Tensor& x, const Axes& axes, bool keepdims, std::int64_t ddof, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = node_of(x, l, "var");
  if (!is_float(n->dtype())) n = cast_node(n, DType::F64, l);  // NumPy: var of ints is f64
  auto ax = normalize_axes(axes, n->rank(), l, "var", n->type().str());
  NodeRef mu = reduce_node(OpCode::Mean, n, ax, true, l);
  NodeRef d = mk(OpCode::Sub, {n, mu}, {}, l);
  NodeRef sq = mk(OpCode::Mul, {d, d}, {}, l);
  if (ddof == 0) return Tensor(reduce_node(OpCode::Mean, sq, ax, keepdims, l));
  // sum / (N - ddof), with N counted at run time when the sizes are unknown
  NodeRef count;
  std::int64_t n_static = 1;
  for (auto a : ax) n_static = (n_static < 0 || !n->type().dims[a].known()) ? -1 : n_static * n->type().dims[a].size;
  if (n_static >= 0) {
    count = scalar_node(static_cast<double>(n_static - ddof), n->dtype(), l);
  } else {
    NodeRef ones = mk(OpCode::FillLike, {n}, Attrs{{"value", 1.0}, {"dtype", n->dtype()}}, l);
    count = mk(OpCode::Sub, {reduce_node(OpCode::Sum, ones, ax, keepdims, l),
                                    scalar_node(static_cast<double>(ddof), n->dtype(), l)},
                      {}, l);
  }
  return Tensor(mk(OpCode::Div, {reduce_node(OpCode::Sum, sq, ax, keepdims, l), count}, {}, l));
}

Tensor std(const Tensor& x, const Axes& axes, bool keepdims, std::int64_t ddof, Loc loc) {
  return sqrt(var(x, axes, keepdims, ddof, loc), loc);
}

Tensor stddev(const Tensor& x, const Axes& axes, bool keepdims, std::int64_t ddof, Loc loc) {
  return kiln::std(x, axes, keepdims, ddof, loc);
}

Tensor softmax(const Tensor& x, std::int64_t axis, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = float_node(x, l, "softmax");
  std::vector<std::int64_t> ax{normalize_axis(axis, n->rank(), l, "softmax", n->type().str())};
  NodeRef m = mk(OpCode::StopGradient, {reduce_node(OpCode::Max, n, ax, true, l)}, {}, l);
  NodeRef e = mk(OpCode::Exp, {mk(OpCode::Sub, {n, m}, {}, l)}, {}, l);
  return Tensor(mk(OpCode::Div, {e, reduce_node(OpCode::Sum, e, ax, true, l)}, {}, l));
}

Tensor log_softmax(const Tensor& x, std::int64_t axis, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = float_node(x, l, "log_softmax");
  normalize_axis(axis, n->rank(), l, "log_softmax", n->type().str());
  Tensor xt(n);
  return Tensor(mk(OpCode::Sub, {n, logsumexp(xt, axis, true, loc).node()}, {}, l));
}

// ---- linear algebra ----

namespace {

// Promotes both operands of a product to one dtype.
std::pair<NodeRef, NodeRef> product_operands(const Tensor& a, const Tensor& b, const SourceLoc& l,
                                             std::string_view op) {
  NodeRef x = node_of(a, l, op), y = node_of(b, l, op);
  DType t = promote(x->dtype(), y->dtype());
  if (t == DType::Bool)
    ir::user_error(l, op, "bool operands are not supported (" + x->type().str() + ", " + y->type().str() +
                              "); cast to an integer or float dtype");
  return {cast_node(x, t, l), cast_node(y, t, l)};
}

NodeRef expand(const NodeRef& x, std::vector<std::int64_t> axes, const SourceLoc& l) {
  return mk(OpCode::ExpandDims, {x}, Attrs{{"axes", axes}}, l);
}
NodeRef squeeze_axes(const NodeRef& x, std::vector<std::int64_t> axes, const SourceLoc& l) {
  return mk(OpCode::Squeeze, {x}, Attrs{{"axes", axes}}, l);
}
NodeRef transpose_node(const NodeRef& x, const std::vector<std::int64_t>& perm, const SourceLoc& l) {
  bool identity = true;
  for (std::size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<std::int64_t>(i);
  if (identity) return x;
  return mk(OpCode::Transpose, {x}, Attrs{{"perm", perm}}, l);
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, Loc loc) {
  SourceLoc l = loc_of(loc);
  auto [x, y] = product_operands(a, b, l, "matmul");
  if (x->rank() == 0 || y->rank() == 0)
    ir::user_error(l, "matmul", "operands must have at least one dim, got " + x->type().str() + " @ " +
                                    y->type().str() + " (use * for scalars)");
  bool a_vec = x->rank() == 1, b_vec = y->rank() == 1;
  if (a_vec) x = expand(x, {0}, l);  // [K] → [1, K]
  if (b_vec) y = expand(y, {1}, l);  // [K] → [K, 1]
  NodeRef r = mk(OpCode::Matmul, {x, y}, {}, l);
  std::vector<std::int64_t> drop;
  if (a_vec) drop.push_back(r->rank() - 2);
  if (b_vec) drop.push_back(r->rank() - 1);
  return Tensor(drop.empty() ? r : squeeze_axes(r, drop, l));
}

Tensor tensordot(const Tensor& a, const Tensor& b, const std::vector<std::int64_t>& axes_a,
                 const std::vector<std::int64_t>& axes_b, Loc loc) {
  SourceLoc l = loc_of(loc);
  auto [x, y] = product_operands(a, b, l, "tensordot");
  if (axes_a.size() != axes_b.size())
    ir::user_error(l, "tensordot", "needs as many axes of a as of b, got " + ir::ints_str(axes_a) + " and " +
                                       ir::ints_str(axes_b));
  std::vector<std::int64_t> ca, cb;
  for (std::size_t i = 0; i < axes_a.size(); ++i) {
    ca.push_back(normalize_axis(axes_a[i], x->rank(), l, "tensordot", x->type().str()));
    cb.push_back(normalize_axis(axes_b[i], y->rank(), l, "tensordot", y->type().str()));
    const auto& da = x->type().dims[ca.back()];
    const auto& db = y->type().dims[cb.back()];
    if (da.known() && db.known() && da.size != db.size)
      ir::user_error(l, "tensordot", "contracted dims differ: axis " + std::to_string(ca.back()) + " of " +
                                         x->type().str() + " and axis " + std::to_string(cb.back()) + " of " +
                                         y->type().str());
  }
  auto check_unique = [&](std::vector<std::int64_t> v, const NodeRef& n) {
    std::sort(v.begin(), v.end());
    if (std::adjacent_find(v.begin(), v.end()) != v.end())
      ir::user_error(l, "tensordot", "repeated axis for " + n->type().str());
  };
  check_unique(ca, x);
  check_unique(cb, y);
  std::vector<std::int64_t> fa, fb;  // free axes in order
  for (std::int64_t i = 0; i < x->rank(); ++i)
    if (std::find(ca.begin(), ca.end(), i) == ca.end()) fa.push_back(i);
  for (std::int64_t i = 0; i < y->rank(); ++i)
    if (std::find(cb.begin(), cb.end(), i) == cb.end()) fb.push_back(i);
  // x → [free_a..., contracted...], y → [free_b..., contracted...] (same contracted order)
  std::vector<std::int64_t> pa = fa, pb = fb;
  pa.insert(pa.end(), ca.begin(), ca.end());
  pb.insert(pb.end(), cb.begin(), cb.end());
  NodeRef xt = transpose_node(x, pa, l), yt = transpose_node(y, pb, l);
  std::int64_t nfa = fa.size(), nfb = fb.size(), nc = ca.size();

  auto unknown_count = [](const NodeRef& n, std::int64_t from, std::int64_t to) {
    std::int64_t c = 0;
    for (std::int64_t i = from; i < to; ++i) c += !n->type().dims[i].known();
    return c;
  };
  auto prod = [](const NodeRef& n, std::int64_t from, std::int64_t to) {
    std::int64_t p = 1;
    for (std::int64_t i = from; i < to; ++i) p = n->type().dims[i].known() ? p * n->type().dims[i].size : p;
    return p;
  };
  // With one free axis on each side and one contracted axis, the product is
  // already [Fa, Fb]: no reshape is needed, so both free sizes may be unknown.
  bool plain = nfa == 1 && nfb == 1 && nc == 1;
  if (plain) {
    // [Fa, K] @ [K, Fb]
    NodeRef y2 = transpose_node(y, {cb[0], fb[0]}, l);
    return Tensor(mk(OpCode::Matmul, {xt, y2}, {}, l));
  }
  bool matmul_path = unknown_count(xt, 0, nfa + nc) <= 1 && unknown_count(yt, 0, nfb + nc) <= 1 &&
                     unknown_count(xt, 0, nfa) + unknown_count(yt, 0, nfb) <= 1 &&
                     unknown_count(xt, nfa, nfa + nc) == 0;
  if (matmul_path) {
    // [Fa, K] @ [K, Fb] with one BLAS-shaped product, then back to [free_a..., free_b...]
    std::int64_t K = prod(xt, nfa, nfa + nc);
    auto size_or_infer = [&](const NodeRef& n, std::int64_t nf) {
      return unknown_count(n, 0, nf) ? std::int64_t(-1) : prod(n, 0, nf);
    };
    NodeRef x2 = mk(OpCode::Reshape, {xt}, Attrs{{"shape", std::vector<std::int64_t>{size_or_infer(xt, nfa), K}}}, l);
    NodeRef y2 = mk(OpCode::Reshape, {yt}, Attrs{{"shape", std::vector<std::int64_t>{size_or_infer(yt, nfb), K}}}, l);
    y2 = transpose_node(y2, {1, 0}, l);
    NodeRef r = mk(OpCode::Matmul, {x2, y2}, {}, l);
    std::vector<std::int64_t> shape;
    for (std::int64_t i = 0; i < nfa; ++i) shape.push_back(xt->type().dims[i].size);
    for (std::int64_t i = 0; i < nfb; ++i) shape.push_back(yt->type().dims[i].size);
    return Tensor(mk(OpCode::Reshape, {r}, Attrs{{"shape", shape}}, l));
  }
  // General path: broadcast multiply and sum over the contracted axes.
  std::vector<std::int64_t> ex_a, ex_b;
  for (std::int64_t i = 0; i < nfb; ++i) ex_a.push_back(nfa + i);  // xt: [Fa, 1.., C]
  for (std::int64_t i = 0; i < nfa; ++i) ex_b.push_back(i);        // yt: [1.., Fb, C]
  NodeRef xe = ex_a.empty() ? xt : expand(xt, ex_a, l);
  NodeRef ye = ex_b.empty() ? yt : expand(yt, ex_b, l);
  NodeRef m = mk(OpCode::Mul, {xe, ye}, {}, l);
  std::vector<std::int64_t> red;
  for (std::int64_t i = 0; i < nc; ++i) red.push_back(nfa + nfb + i);
  return Tensor(reduce_node(OpCode::Sum, m, red, false, l));
}

Tensor tensordot(const Tensor& a, const Tensor& b, std::int64_t n, Loc loc) {
  SourceLoc l = loc_of(loc);
  std::int64_t ra = node_of(a, l, "tensordot")->rank(), rb = node_of(b, l, "tensordot")->rank();
  if (n < 0 || n > ra || n > rb)
    ir::user_error(l, "tensordot", "cannot contract " + std::to_string(n) + " axes of " + a.type_str() + " and " +
                                       b.type_str());
  std::vector<std::int64_t> aa, bb;
  for (std::int64_t i = 0; i < n; ++i) {
    aa.push_back(ra - n + i);
    bb.push_back(i);
  }
  return tensordot(a, b, aa, bb, loc);
}

Tensor dot(const Tensor& a, const Tensor& b, Loc loc) {
  SourceLoc l = loc_of(loc);
  std::int64_t ra = node_of(a, l, "dot")->rank(), rb = node_of(b, l, "dot")->rank();
  if (ra == 0 || rb == 0) return mul(Operand(a, loc), Operand(b, loc));
  if (ra <= 2 && rb <= 2) return matmul(a, b, loc);
  return tensordot(a, b, std::vector<std::int64_t>{ra - 1}, std::vector<std::int64_t>{rb == 1 ? 0 : rb - 2},
                   loc);
}

Tensor outer(const Tensor& a, const Tensor& b, Loc loc) {
  SourceLoc l = loc_of(loc);
  auto [x, y] = product_operands(a, b, l, "outer");
  NodeRef fx = mk(OpCode::Reshape, {x}, Attrs{{"shape", std::vector<std::int64_t>{-1, 1}}}, l);
  NodeRef fy = mk(OpCode::Reshape, {y}, Attrs{{"shape", std::vector<std::int64_t>{1, -1}}}, l);
  return Tensor(mk(OpCode::Mul, {fx, fy}, {}, l));
}

}  // namespace kiln
