// Every op's Jacobian-vector product (forward mode), in one place.
//
// jvp_rule(node, t) gets one tangent per input (nullptr = zero) and returns
// the tangent of the node's value (nullptr = zero). Tangents have their
// input's type; results are brought to the node's type.
#include <cmath>
#include <numbers>

#include "passes/autodiff.hpp"
#include "passes/builder.hpp"

namespace kiln::passes {

using ir::Attrs;
using ir::Node;
using ir::OpCode;

namespace {

// Sum of optional terms (nullptr = 0).
NodeRef plus(const Builder& b, NodeRef x, NodeRef y) {
  if (!x) return y;
  if (!y) return x;
  return b.add(x, y);
}
// t * f(...) when t is present.
template <class F>
NodeRef times(const NodeRef& t, F f) {
  return t ? f(t) : nullptr;
}

}  // namespace

NodeRef jvp_rule(const NodeRef& self, const std::vector<NodeRef>& t) {
  const Node& n = *self;
  Builder b(n.loc());
  auto in = [&](std::size_t i) -> const NodeRef& { return n.input(i); };
  auto fit = [&](const NodeRef& v) -> NodeRef {  // to the node's shape
    if (!v) return nullptr;
    return v->type().dims == self->type().dims ? v : b.broadcast_like(v, self);
  };
  const NodeRef& t0 = t.empty() ? self : t[0];  // unused when t is empty
  const double ln2 = std::numbers::ln2, ln10 = std::numbers::ln10;
  const double two_over_sqrt_pi = 2.0 / std::sqrt(std::numbers::pi);
  auto unary = [&](NodeRef factor) { return t0 ? b.mul(t0, factor) : nullptr; };
  if (!has_derivative(n.op())) return nullptr;
  switch (n.op()) {
    case OpCode::Neg: return t0 ? b.neg(t0) : nullptr;
    case OpCode::Abs: return unary(b.unary(OpCode::Sign, in(0)));
    case OpCode::Square: return unary(b.mul(in(0), 2.0));
    case OpCode::Exp: return unary(self);
    case OpCode::Exp2: return unary(b.mul(self, ln2));
    case OpCode::Expm1: return unary(b.add(self, 1.0));
    case OpCode::Log: return t0 ? b.div(t0, in(0)) : nullptr;
    case OpCode::Log2: return t0 ? b.div(t0, b.mul(in(0), ln2)) : nullptr;
    case OpCode::Log10: return t0 ? b.div(t0, b.mul(in(0), ln10)) : nullptr;
    case OpCode::Log1p: return t0 ? b.div(t0, b.add(in(0), 1.0)) : nullptr;
    case OpCode::Log1mexp: return t0 ? b.neg(b.div(t0, b.unary(OpCode::Expm1, b.neg(in(0))))) : nullptr;
    case OpCode::Sqrt: return t0 ? b.div(t0, b.mul(self, 2.0)) : nullptr;
    case OpCode::Rsqrt: return unary(b.mul(b.div(self, in(0)), -0.5));
    case OpCode::Reciprocal: return unary(b.neg(b.square(self)));
    case OpCode::Sin: return unary(b.unary(OpCode::Cos, in(0)));
    case OpCode::Cos: return unary(b.neg(b.unary(OpCode::Sin, in(0))));
    case OpCode::Tan: return unary(b.add(b.square(self), 1.0));
    case OpCode::Asin: return unary(b.unary(OpCode::Rsqrt, b.sub(b.like(1, self), b.square(in(0)))));
    case OpCode::Acos: return unary(b.neg(b.unary(OpCode::Rsqrt, b.sub(b.like(1, self), b.square(in(0))))));
    case OpCode::Atan: return t0 ? b.div(t0, b.add(b.square(in(0)), 1.0)) : nullptr;
    case OpCode::Sinh: return unary(b.unary(OpCode::Cosh, in(0)));
    case OpCode::Cosh: return unary(b.unary(OpCode::Sinh, in(0)));
    case OpCode::Tanh: return unary(b.sub(b.like(1, self), b.square(self)));
    case OpCode::Asinh: return unary(b.unary(OpCode::Rsqrt, b.add(b.square(in(0)), 1.0)));
    case OpCode::Acosh: return unary(b.unary(OpCode::Rsqrt, b.add(b.square(in(0)), -1.0)));
    case OpCode::Atanh: return t0 ? b.div(t0, b.sub(b.like(1, self), b.square(in(0)))) : nullptr;
    case OpCode::Sigmoid: return unary(b.mul(self, b.sub(b.like(1, self), self)));
    case OpCode::Softplus: return unary(b.unary(OpCode::Sigmoid, in(0)));
    case OpCode::Erf: return unary(b.mul(b.unary(OpCode::Exp, b.neg(b.square(in(0)))), two_over_sqrt_pi));
    case OpCode::Erfc: return unary(b.mul(b.unary(OpCode::Exp, b.neg(b.square(in(0)))), -two_over_sqrt_pi));
    case OpCode::Erfinv: return unary(b.mul(b.unary(OpCode::Exp, b.square(self)), 1.0 / two_over_sqrt_pi));
    case OpCode::Lgamma: return unary(b.unary(OpCode::Digamma, in(0)));
    case OpCode::Digamma: return unary(b.op(OpCode::Polygamma, {in(0)}, Attrs{{"n", std::int64_t(1)}}));
    case OpCode::Polygamma:
      return unary(b.op(OpCode::Polygamma, {in(0)}, Attrs{{"n", n.attrs().get_int("n") + 1}}));
    case OpCode::Cast: return t0 ? b.cast(t0, n.dtype()) : nullptr;

    case OpCode::Add: return fit(plus(b, t[0], t[1]));
    case OpCode::Sub: return fit(plus(b, t[0], t[1] ? b.neg(t[1]) : nullptr));
    case OpCode::Mul:
      return fit(plus(b, times(t[0], [&](auto& v) { return b.mul(v, in(1)); }),
                      times(t[1], [&](auto& v) { return b.mul(in(0), v); })));
    case OpCode::Div:
      return fit(plus(b, times(t[0], [&](auto& v) { return b.div(v, in(1)); }),
                      times(t[1], [&](auto& v) { return b.neg(b.div(b.mul(self, v), in(1))); })));
    case OpCode::Mod:
      return fit(plus(b, t[0], times(t[1], [&](auto& v) {
                        return b.neg(b.mul(v, b.op(OpCode::FloorDiv, {in(0), in(1)})));
                      })));
    case OpCode::Pow: {  // as the reverse rule: safe operands in the untaken branches
      NodeRef zero = b.like(0, self), one = b.like(1, self);
      NodeRef b_zero = b.op(OpCode::Eq, {in(1), zero}), a_zero = b.op(OpCode::Eq, {in(0), zero});
      NodeRef da = times(t[0], [&](auto& v) {
        NodeRef a_safe = b.where(b_zero, one, in(0));
        return b.where(b_zero, zero, b.mul(v, b.mul(in(1), b.op(OpCode::Pow, {a_safe, b.add(in(1), -1.0)}))));
      });
      NodeRef db = times(t[1], [&](auto& v) {
        NodeRef logs = b.where(a_zero, zero, b.unary(OpCode::Log, b.where(a_zero, one, in(0))));
        return b.mul(v, b.mul(self, logs));
      });
      return fit(plus(b, da, db));
    }
    case OpCode::Maximum: case OpCode::Minimum: {
      OpCode wins = n.op() == OpCode::Maximum ? OpCode::Gt : OpCode::Lt;
      NodeRef share_a = b.add(b.cast(b.op(wins, {in(0), in(1)}), self->dtype()),
                              b.mul(b.cast(b.op(OpCode::Eq, {in(0), in(1)}), self->dtype()), 0.5));
      NodeRef share_b = b.sub(b.like(1, self), share_a);
      return fit(plus(b, times(t[0], [&](auto& v) { return b.mul(v, share_a); }),
                      times(t[1], [&](auto& v) { return b.mul(v, share_b); })));
    }
    case OpCode::Atan2: {
      NodeRef r2 = b.add(b.square(in(0)), b.square(in(1)));
      return fit(plus(b, times(t[0], [&](auto& v) { return b.div(b.mul(v, in(1)), r2); }),
                      times(t[1], [&](auto& v) { return b.neg(b.div(b.mul(v, in(0)), r2)); })));
    }
    case OpCode::Where: {
      NodeRef zero = b.like(0, self);
      return fit(plus(b, times(t[1], [&](auto& v) { return b.where(in(0), v, zero); }),
                      times(t[2], [&](auto& v) { return b.where(in(0), zero, v); })));
    }
    case OpCode::Clip: {
      NodeRef zero = b.like(0, self);
      NodeRef below = b.op(OpCode::Lt, {in(0), in(1)});
      NodeRef above = b.op(OpCode::Gt, {b.op(OpCode::Maximum, {in(0), in(1)}), in(2)});
      NodeRef tx = times(t[0], [&](auto& v) { return b.where(above, zero, b.where(below, zero, v)); });
      NodeRef tl = times(t[1], [&](auto& v) { return b.where(above, zero, b.where(below, v, zero)); });
      NodeRef th = times(t[2], [&](auto& v) { return b.where(above, v, zero); });
      return fit(plus(b, plus(b, tx, tl), th));
    }

    case OpCode::Sum: return b.op(OpCode::Sum, {t0}, n.attrs());
    case OpCode::Mean: return b.op(OpCode::Mean, {t0}, n.attrs());
    case OpCode::Prod: {
      // d prod = sum over the reduced axes of t * (prod of the others); uses the
      // zero-safe "product of the others" of the reverse rule via a vjp with g = 1.
      NodeRef ones = b.ones_like(self);
      NodeRef others = vjp_rule(self, ones)[0];
      return b.op(OpCode::Sum, {b.mul(t0, others)}, n.attrs());
    }
    case OpCode::Max: case OpCode::Min: {
      NodeRef ones = b.ones_like(self);
      NodeRef share = vjp_rule(self, ones)[0];  // tie-split indicator of the extreme
      return b.op(OpCode::Sum, {b.mul(t0, share)}, n.attrs());
    }

    case OpCode::Matmul: {
      NodeRef da = t[0] ? b.matmul(t[0], in(1)) : nullptr;
      NodeRef db = t[1] ? b.matmul(in(0), t[1]) : nullptr;
      return fit(plus(b, da, db));
    }

    // Linear shape ops: the same op applied to the tangent.
    case OpCode::Reshape: case OpCode::Transpose: case OpCode::ExpandDims: case OpCode::Squeeze:
    case OpCode::BroadcastTo: case OpCode::Flip: case OpCode::Slice:
      return b.op(n.op(), {t0}, n.attrs());
    case OpCode::ReshapeLike: case OpCode::BroadcastLike:
      return t0 ? b.op(n.op(), {t0, in(1)}, n.attrs()) : nullptr;
    case OpCode::Concatenate: {
      std::vector<NodeRef> parts;
      for (std::size_t i = 0; i < t.size(); ++i) parts.push_back(t[i] ? t[i] : b.zeros_like(in(i)));
      return b.op(OpCode::Concatenate, parts, n.attrs());
    }
    case OpCode::Unconcat: {
      if (!t0) return nullptr;
      std::vector<NodeRef> ins{t0};
      ins.insert(ins.end(), n.inputs().begin() + 1, n.inputs().end());
      return b.op(OpCode::Unconcat, ins, n.attrs());
    }
    case OpCode::SetSlice: case OpCode::IncSlice: {
      NodeRef tx = t[0] ? t[0] : b.zeros_like(in(0));
      NodeRef ty = t[1] ? t[1] : b.like(0, self);
      return b.op(n.op(), {tx, ty}, n.attrs());
    }
    case OpCode::Take: return t0 ? b.op(OpCode::Take, {t0, in(1)}, n.attrs()) : nullptr;
    case OpCode::SetTake: case OpCode::IncTake: {
      NodeRef tx = t[0] ? t[0] : b.zeros_like(in(0));
      NodeRef ty = t[1] ? t[1] : b.like(0, self);
      return b.op(n.op(), {tx, ty, in(2)}, n.attrs());
    }
    default:
      break;  // ops without a derivative returned above; a new op lands here
  }
  KILN_UNREACHABLE("no forward-mode rule for op " << n.name());
}

}  // namespace kiln::passes
