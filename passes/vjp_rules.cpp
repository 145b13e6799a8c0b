// Every op's vector-Jacobian product, in one place.
//
// vjp_rule(node, g) returns, for each input of `node`, the gradient of
// <node, g> with respect to that input (nullptr: no gradient flows: the
// input is not differentiable, or the op is piecewise constant in it).
// Conventions (documented in docs/gradients.md):
//   - maximum/minimum and max/min reductions split the gradient equally
//     between tied elements;
//   - abs and sign-like kinks take the subgradient 0 at 0 (g * sign(x));
//   - clip passes the gradient where lo <= x <= hi (to x), else to the
//     active bound;
//   - set_take with repeated indices: x gets no gradient at any indexed
//     position; of the y entries written to one position only the last
//     (the one that stays) gets its gradient.
#include <cmath>
#include <numbers>

#include "passes/autodiff.hpp"
#include "passes/builder.hpp"

namespace kiln::passes {

using ir::Attrs;
using ir::Node;
using ir::OpCode;

namespace {

std::vector<std::int64_t> inverse_perm(const std::vector<std::int64_t>& p) {
  std::vector<std::int64_t> inv(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) inv[p[i]] = static_cast<std::int64_t>(i);
  return inv;
}

// Gradient of an elementwise binary op's result wrt its operands, reduced
// to each operand's type.
std::vector<NodeRef> binary(const Builder& b, const Node& n, NodeRef da, NodeRef db) {
  return {da ? b.unbroadcast(da, n.input(0)->type()) : nullptr, db ? b.unbroadcast(db, n.input(1)->type()) : nullptr};
}

// 1 where the elements equal the (broadcast) extreme, split evenly on ties.
NodeRef tie_share(const Builder& b, const NodeRef& mask_bool, const NodeRef& like, const ir::Node* reduce) {
  NodeRef m = b.cast(mask_bool, like->dtype());
  if (!reduce) return m;
  NodeRef count = b.reduce(OpCode::Sum, m, reduce->attrs().get_ints("axes"), true);
  return b.div(m, count);
}

// For set_take(x, y, idx): true where the write of an index position
// survives (the last of each repeated index), shaped to broadcast against
// take's result; nullptr when idx's size is not static (then every y entry
// gets its gradient, as if indices were unique). Found by writing each
// position's number into a line as long as the axis and reading back.
NodeRef surviving_writes(const Builder& b, const Node& n) {
  const NodeRef &x = n.input(0), &idx = n.input(2);
  std::int64_t axis = n.attrs().get_int("axis"), m = idx->type().static_size();
  if (m == ir::kUnknown) return nullptr;
  Array numbers = Array::arange(0, static_cast<double>(m), 1, DType::I64).reshape(idx->type().sizes());
  NodeRef pos = b.op(OpCode::Constant, {}, Attrs{{"value", numbers}});
  const ir::Dim& len = x->type().dims[axis];
  NodeRef line;
  if (len.known()) {
    line = b.op(OpCode::Fill, {}, Attrs{{"shape", std::vector<std::int64_t>{len.size}}, {"value", -1.0}, {"dtype", DType::I64}});
  } else {
    std::vector<std::int64_t> other_axes;
    for (std::int64_t i = 0; i < x->rank(); ++i)
      if (i != axis) other_axes.push_back(i);
    line = b.sum(b.op(OpCode::FillLike, {x}, Attrs{{"value", -1.0}, {"dtype", DType::I64}}), other_axes, false);
  }
  Attrs axis0{{"axis", std::int64_t(0)}};
  NodeRef written = b.op(OpCode::SetTake, {line, pos, idx}, axis0);
  NodeRef kept = b.op(OpCode::Eq, {b.op(OpCode::Take, {written, idx}, axis0), pos});
  std::vector<std::int64_t> trailing;
  for (std::int64_t i = 0; i < x->rank() - axis - 1; ++i) trailing.push_back(idx->rank() + i);
  return b.expand_dims(kept, trailing);
}

}  // namespace

std::vector<NodeRef> vjp_rule(const NodeRef& self, const NodeRef& g) {
  const Node& n = *self;
  Builder b(n.loc());
  auto in = [&](std::size_t i) -> const NodeRef& { return n.input(i); };
  const double ln2 = std::numbers::ln2, ln10 = std::numbers::ln10;
  const double two_over_sqrt_pi = 2.0 / std::sqrt(std::numbers::pi);
  if (!has_derivative(n.op())) return std::vector<NodeRef>(n.inputs().size(), nullptr);
  switch (n.op()) {
    // ---- unary ----
    case OpCode::Neg: return {b.neg(g)};
    case OpCode::Abs: return {b.mul(g, b.unary(OpCode::Sign, in(0)))};
    case OpCode::Square: return {b.mul(g, b.mul(in(0), 2.0))};
    case OpCode::Exp: return {b.mul(g, self)};
    case OpCode::Exp2: return {b.mul(g, b.mul(self, ln2))};
    case OpCode::Expm1: return {b.mul(g, b.add(self, 1.0))};
    case OpCode::Log: return {b.div(g, in(0))};
    case OpCode::Log2: return {b.div(g, b.mul(in(0), ln2))};
    case OpCode::Log10: return {b.div(g, b.mul(in(0), ln10))};
    case OpCode::Log1p: return {b.div(g, b.add(in(0), 1.0))};
    case OpCode::Log1mexp: return {b.neg(b.div(g, b.unary(OpCode::Expm1, b.neg(in(0)))))};  // -1/expm1(-x)
    case OpCode::Sqrt: return {b.div(g, b.mul(self, 2.0))};
    case OpCode::Rsqrt: return {b.mul(g, b.mul(b.div(self, in(0)), -0.5))};  // -x^{-3/2}/2
    case OpCode::Reciprocal: return {b.neg(b.mul(g, b.square(self)))};
    case OpCode::Sin: return {b.mul(g, b.unary(OpCode::Cos, in(0)))};
    case OpCode::Cos: return {b.neg(b.mul(g, b.unary(OpCode::Sin, in(0))))};
    case OpCode::Tan: return {b.mul(g, b.add(b.square(self), 1.0))};
    case OpCode::Asin: return {b.mul(g, b.unary(OpCode::Rsqrt, b.sub(b.like(1, g), b.square(in(0)))))};
    case OpCode::Acos: return {b.neg(b.mul(g, b.unary(OpCode::Rsqrt, b.sub(b.like(1, g), b.square(in(0))))))};
    case OpCode::Atan: return {b.div(g, b.add(b.square(in(0)), 1.0))};
    case OpCode::Sinh: return {b.mul(g, b.unary(OpCode::Cosh, in(0)))};
    case OpCode::Cosh: return {b.mul(g, b.unary(OpCode::Sinh, in(0)))};
    case OpCode::Tanh: return {b.mul(g, b.sub(b.like(1, g), b.square(self)))};
    case OpCode::Asinh: return {b.mul(g, b.unary(OpCode::Rsqrt, b.add(b.square(in(0)), 1.0)))};
    case OpCode::Acosh: return {b.mul(g, b.unary(OpCode::Rsqrt, b.add(b.square(in(0)), -1.0)))};
    case OpCode::Atanh: return {b.div(g, b.sub(b.like(1, g), b.square(in(0))))};
    case OpCode::Sigmoid: return {b.mul(g, b.mul(self, b.sub(b.like(1, g), self)))};
    case OpCode::Softplus: return {b.mul(g, b.unary(OpCode::Sigmoid, in(0)))};
    case OpCode::Erf:
      return {b.mul(g, b.mul(b.unary(OpCode::Exp, b.neg(b.square(in(0)))), two_over_sqrt_pi))};
    case OpCode::Erfc:
      return {b.mul(g, b.mul(b.unary(OpCode::Exp, b.neg(b.square(in(0)))), -two_over_sqrt_pi))};
    case OpCode::Erfinv:  // d/dx erfinv(x) = sqrt(pi)/2 * exp(erfinv(x)^2)
      return {b.mul(g, b.mul(b.unary(OpCode::Exp, b.square(self)), 1.0 / two_over_sqrt_pi))};
    case OpCode::Lgamma: return {b.mul(g, b.unary(OpCode::Digamma, in(0)))};
    case OpCode::Digamma:
      return {b.mul(g, b.op(OpCode::Polygamma, {in(0)}, Attrs{{"n", std::int64_t(1)}}))};
    case OpCode::Polygamma:
      return {b.mul(g, b.op(OpCode::Polygamma, {in(0)}, Attrs{{"n", n.attrs().get_int("n") + 1}}))};
    case OpCode::Cast:
      if (!differentiable_dtype(in(0)->dtype())) return {nullptr};
      return {b.cast(g, in(0)->dtype())};

    // ---- binary ----
    case OpCode::Add: return binary(b, n, g, g);
    case OpCode::Sub: return binary(b, n, g, b.neg(g));
    case OpCode::Mul: return binary(b, n, b.mul(g, in(1)), b.mul(g, in(0)));
    case OpCode::Div: return binary(b, n, b.div(g, in(1)), b.neg(b.div(b.mul(g, self), in(1))));
    case OpCode::Mod:  // a mod b = a - floor(a / b) * b
      return binary(b, n, g, b.neg(b.mul(g, b.op(OpCode::FloorDiv, {in(0), in(1)}))));
    case OpCode::Pow: {
      // d/da = b a^(b-1): exact at a = 0 and for negative a with integer b;
      // 0 where b = 0 (a^0 is constant, even at a = 0). d/db = a^b log(a),
      // taken as 0 where a = 0 (the limit for b > 0). The untaken branches
      // get safe operands (a -> 1), so derivatives of these gradients are
      // not 0 * inf = NaN there.
      NodeRef zero = b.like(0, g), one = b.like(1, g);
      NodeRef b_zero = b.op(OpCode::Eq, {in(1), zero}), a_zero = b.op(OpCode::Eq, {in(0), zero});
      NodeRef a_safe = b.where(b_zero, one, in(0));
      NodeRef da = b.where(b_zero, zero, b.mul(g, b.mul(in(1), b.op(OpCode::Pow, {a_safe, b.add(in(1), -1.0)}))));
      NodeRef logs = b.where(a_zero, zero, b.unary(OpCode::Log, b.where(a_zero, one, in(0))));
      NodeRef db = b.mul(g, b.mul(self, logs));
      return binary(b, n, da, db);
    }
    case OpCode::Maximum: case OpCode::Minimum: {
      OpCode wins = n.op() == OpCode::Maximum ? OpCode::Gt : OpCode::Lt;
      NodeRef a_wins = b.cast(b.op(wins, {in(0), in(1)}), g->dtype());
      NodeRef tie = b.mul(b.cast(b.op(OpCode::Eq, {in(0), in(1)}), g->dtype()), 0.5);
      NodeRef share_a = b.add(a_wins, tie);
      NodeRef share_b = b.sub(b.like(1, g), share_a);
      return binary(b, n, b.mul(g, share_a), b.mul(g, share_b));
    }
    case OpCode::Atan2: {  // atan2(y, x)
      NodeRef r2 = b.add(b.square(in(0)), b.square(in(1)));
      return binary(b, n, b.div(b.mul(g, in(1)), r2), b.neg(b.div(b.mul(g, in(0)), r2)));
    }
    case OpCode::Where: {
      NodeRef zero = b.like(0, g);
      return {nullptr, b.unbroadcast(b.where(in(0), g, zero), in(1)->type()),
              b.unbroadcast(b.where(in(0), zero, g), in(2)->type())};
    }
    case OpCode::Clip: {  // min(max(x, lo), hi)
      NodeRef zero = b.like(0, g);
      NodeRef below = b.op(OpCode::Lt, {in(0), in(1)});
      NodeRef above = b.op(OpCode::Gt, {b.op(OpCode::Maximum, {in(0), in(1)}), in(2)});
      NodeRef to_hi = b.where(above, g, zero);
      NodeRef rest = b.where(above, zero, g);
      NodeRef to_lo = b.where(below, rest, zero);
      NodeRef to_x = b.where(below, zero, rest);
      return {b.unbroadcast(to_x, in(0)->type()), b.unbroadcast(to_lo, in(1)->type()),
              b.unbroadcast(to_hi, in(2)->type())};
    }

    // ---- reductions ----
    case OpCode::Sum: return {b.expand_reduced(g, n, in(0))};
    case OpCode::Mean:
      return {b.div(b.expand_reduced(g, n, in(0)), b.reduced_count(n, in(0), g->dtype()))};
    case OpCode::Prod: {
      // d/dx_j = prod_{k != j} x_k, without dividing by zero. Write x = nz * s
      // with nz = x off the zeros (1 on them) and s = x on the zeros (1 off
      // them): the product of the others is prod(nz) / nz_j times the product
      // of the *other* zeros, which is 1 when there are none and 0 otherwise.
      // With exactly one other zero it is written as that zero's value (the
      // sum of the other zeros), which is 0 but has the right derivative, so
      // Hessians of prod are exact at zeros too.
      const auto& axes = n.attrs().get_ints("axes");
      NodeRef x = in(0), zero = b.like(0, x), one = b.like(1, x);
      NodeRef is_zero = b.op(OpCode::Eq, {x, zero});
      NodeRef nz = b.where(is_zero, one, x), on_zeros = b.where(is_zero, x, zero);
      NodeRef z = b.cast(is_zero, x->dtype());
      NodeRef other_zeros = b.sub(b.reduce(OpCode::Sum, z, axes, true), z);
      NodeRef other_zeros_sum = b.sub(b.reduce(OpCode::Sum, on_zeros, axes, true), on_zeros);
      NodeRef of_zeros = b.where(b.op(OpCode::Eq, {other_zeros, zero}), one,
                                 b.where(b.op(OpCode::Eq, {other_zeros, one}), other_zeros_sum, zero));
      NodeRef others = b.mul(b.div(b.reduce(OpCode::Prod, nz, axes, true), nz), of_zeros);
      return {b.mul(b.expand_reduced(g, n, x), others)};
    }
    case OpCode::Max: case OpCode::Min: {
      NodeRef out = n.attrs().get_bool("keepdims") ? self : b.expand_dims(self, n.attrs().get_ints("axes"));
      NodeRef mask = b.op(OpCode::Eq, {in(0), out});
      return {b.mul(b.expand_reduced(g, n, in(0)), tie_share(b, mask, g, &n))};
    }

    // ---- linear algebra ----
    case OpCode::Matmul: {
      NodeRef da = b.matmul(g, b.mT(in(1)));
      NodeRef db = b.matmul(b.mT(in(0)), g);
      return {b.unbroadcast(da, in(0)->type()), b.unbroadcast(db, in(1)->type())};
    }

    // ---- shapes ----
    case OpCode::Reshape: return {b.reshape_like(g, in(0))};
    case OpCode::ReshapeLike: return {b.reshape_like(g, in(0)), nullptr};
    case OpCode::Transpose: return {b.transpose(g, inverse_perm(n.attrs().get_ints("perm")))};
    case OpCode::ExpandDims: return {b.squeeze(g, n.attrs().get_ints("axes"))};
    case OpCode::Squeeze: return {b.reshape_like(g, in(0))};
    case OpCode::BroadcastTo: return {b.unbroadcast(g, in(0)->type())};
    case OpCode::BroadcastLike: return {b.unbroadcast(g, in(0)->type()), nullptr};
    case OpCode::Flip: return {b.op(OpCode::Flip, {g}, n.attrs())};
    case OpCode::Concatenate: {
      std::vector<NodeRef> out;
      for (std::size_t i = 0; i < n.inputs().size(); ++i) {
        std::vector<NodeRef> ins{g};
        ins.insert(ins.end(), n.inputs().begin(), n.inputs().end());
        out.push_back(b.op(OpCode::Unconcat, ins,
                           Attrs{{"axis", n.attrs().get_int("axis")}, {"index", static_cast<std::int64_t>(i)}}));
      }
      return out;
    }
    case OpCode::Unconcat: {  // the gradient of a part goes back into its place
      std::vector<NodeRef> out(n.inputs().size(), nullptr);
      std::int64_t index = n.attrs().get_int("index");
      std::vector<NodeRef> parts;
      for (std::size_t i = 1; i < n.inputs().size(); ++i)
        parts.push_back(static_cast<std::int64_t>(i - 1) == index ? g : b.zeros_like(in(i)));
      out[0] = parts.size() == 1 ? parts[0] : b.op(OpCode::Concatenate, parts, Attrs{{"axis", n.attrs().get_int("axis")}});
      return out;
    }
    case OpCode::Slice:
      return {b.op(OpCode::IncSlice, {b.zeros_like(in(0)), g}, n.attrs())};
    case OpCode::SetSlice: {
      NodeRef gx = b.op(OpCode::SetSlice, {g, b.like(0, g)}, n.attrs());
      NodeRef gy = b.unbroadcast(b.op(OpCode::Slice, {g}, n.attrs()), in(1)->type());
      return {gx, gy};
    }
    case OpCode::IncSlice:
      return {g, b.unbroadcast(b.op(OpCode::Slice, {g}, n.attrs()), in(1)->type())};
    case OpCode::Take:
      return {b.op(OpCode::IncTake, {b.zeros_like(in(0)), g, in(1)}, n.attrs()), nullptr};
    case OpCode::SetTake: {  // y's entries overwritten by a later repeated index get nothing
      NodeRef gx = b.op(OpCode::SetTake, {g, b.like(0, g), in(2)}, n.attrs());
      NodeRef gy = b.op(OpCode::Take, {g, in(2)}, n.attrs());
      if (NodeRef kept = surviving_writes(b, n)) gy = b.where(kept, gy, b.like(0, g));
      return {gx, b.unbroadcast(gy, in(1)->type()), nullptr};
    }
    case OpCode::IncTake:
      return {g, b.unbroadcast(b.op(OpCode::Take, {g, in(2)}, n.attrs()), in(1)->type()), nullptr};
    default:
      break;  // ops without a derivative returned above; a new op lands here
  }
  KILN_UNREACHABLE("no gradient rule for op " << n.name());
}

}  // namespace kiln::passes
