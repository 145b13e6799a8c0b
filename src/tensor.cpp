// The front end: inputs, constants and elementwise operations. Checks and
// converts user input (promotion, weak scalars, bool special cases) and then
// calls the IR factory, which checks the type rules.
#include <cmath>
#include <limits>
#include <unordered_map>

#include "src/frontend.hpp"

namespace kiln {

using namespace detail;
using ir::Attrs;
using ir::Dim;
using ir::TensorType;

// ---- helpers ----

namespace detail {

bool int_fits(std::int64_t v, DType t) {
  int bits = int_bits(t);
  if (bits == 64) return true;
  std::int64_t lo = is_unsigned_int(t) ? 0 : -(std::int64_t(1) << (bits - 1));
  std::int64_t hi = is_unsigned_int(t) ? (std::int64_t(1) << bits) - 1 : (std::int64_t(1) << (bits - 1)) - 1;
  return v >= lo && v <= hi;
}

const NodeRef& node_of(const Tensor& t, const SourceLoc& loc, std::string_view op) {
  if (t.is_null()) ir::user_error(loc, op, "got an empty Tensor handle (default-constructed, never assigned)");
  return t.node();
}

NodeRef mk(OpCode op, std::vector<NodeRef> inputs, Attrs attrs, const SourceLoc& loc) {
  return ir::make_node(op, std::move(inputs), std::move(attrs), loc);
}

Tensor make(OpCode op, std::vector<NodeRef> inputs, Attrs attrs, const SourceLoc& loc) {
  return Tensor(mk(op, std::move(inputs), std::move(attrs), loc));
}

NodeRef scalar_node(double v, DType dtype, const SourceLoc& loc) {
  return mk(OpCode::Constant, {}, Attrs{{"value", Array::scalar(v, dtype)}}, loc);
}

NodeRef scalar_node(const Scalar& s, DType dtype, const SourceLoc& loc, std::string_view op) {
  if (s.kind == ScalarKind::Int && is_integer(dtype)) {
    if (!int_fits(s.i, dtype))
      ir::user_error(loc, op,
                     "the scalar " + std::to_string(s.i) + " does not fit the tensor's dtype " +
                         std::string(dtype_name(dtype)) + " (NumPy's NEP 50 rule); cast the tensor first");
    Array a = Array::from_vector(std::vector<std::int64_t>{s.i}, {}).astype(dtype);
    return mk(OpCode::Constant, {}, Attrs{{"value", a}}, loc);
  }
  return scalar_node(s.kind == ScalarKind::Float ? s.f : static_cast<double>(s.i), dtype, loc);
}

NodeRef cast_node(const NodeRef& x, DType dtype, const SourceLoc& loc) {
  if (x->dtype() == dtype) return x;
  // Casting a constant folds right away: weak scalars stay readable in the graph.
  if (x->op() == OpCode::Constant && x->rank() == 0) {
    const Array& v = x->attrs().get_array("value");
    return mk(OpCode::Constant, {}, Attrs{{"value", v.astype(dtype)}}, loc);
  }
  return mk(OpCode::Cast, {x}, Attrs{{"dtype", dtype}}, loc);
}

std::int64_t normalize_axis(std::int64_t axis, std::int64_t rank, const SourceLoc& loc, std::string_view op,
                            const std::string& type_str) {
  if (axis < -rank || axis >= rank)
    ir::user_error(loc, op, "axis " + std::to_string(axis) + " is out of range for " + type_str + " (rank " +
                                std::to_string(rank) + ")");
  return axis < 0 ? axis + rank : axis;
}

std::vector<std::int64_t> normalize_axes(const Axes& axes, std::int64_t rank, const SourceLoc& loc,
                                         std::string_view op, const std::string& type_str) {
  std::vector<std::int64_t> out;
  if (axes.all) {
    for (std::int64_t i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (auto a : axes.axes) out.push_back(normalize_axis(a, rank, loc, op, type_str));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end())
    ir::user_error(loc, op, "repeated axis in " + ir::ints_str(axes.axes) + " for " + type_str);
  return out;
}

}  // namespace detail

// ---- Tensor members ----

namespace {
const ir::Node& N(const Tensor& t) {
  if (t.is_null()) throw Error("error: Tensor: the handle is empty (default-constructed, never assigned)");
  return *t.node();
}
}  // namespace

DType Tensor::dtype() const { return N(*this).dtype(); }
std::int64_t Tensor::ndim() const { return N(*this).rank(); }
std::vector<std::int64_t> Tensor::shape() const { return N(*this).type().sizes(); }
std::string Tensor::type_str() const { return N(*this).type().str(); }
bool Tensor::is_shared() const { return !is_null() && node_->op() == OpCode::Shared; }
bool Tensor::is_input() const { return !is_null() && node_->op() == OpCode::Input; }
std::string Tensor::name() const {
  if (is_shared() || is_input()) return node_->var_name();
  return "";
}

Tensor Tensor::matmul(const Tensor& other, Loc loc) const { return kiln::matmul(*this, other, loc); }
Tensor Tensor::T(Loc loc) const { return kiln::transpose(*this, {}, loc); }
Tensor Tensor::reshape(const std::vector<std::int64_t>& shape, Loc loc) const {
  return kiln::reshape(*this, shape, loc);
}
Tensor Tensor::astype(DType dtype, Loc loc) const { return kiln::cast(*this, dtype, loc); }

// ---- inputs and constants ----

namespace {
Tensor make_input(const std::string& name, DType dtype, const std::vector<DimSpec>& shape, const SourceLoc& loc) {
  std::vector<Dim> dims;
  for (const DimSpec& d : shape) {
    if (!d.name.empty())
      dims.push_back(Dim::unknown(d.name));
    else if (d.size < -1)
      ir::user_error(loc, "input", "invalid size " + std::to_string(d.size) + " for input '" + name +
                                       "' (use -1 or a name for an unknown size)");
    else
      dims.push_back(Dim(d.size));
  }
  TensorType t(dtype, dims);
  return Tensor(ir::make_node(OpCode::Input, {}, Attrs{{"name", name}, {"id", ir::fresh_var_id()}}, loc, &t));
}
}  // namespace

Tensor scalar(const std::string& name, DType dtype, Loc loc) { return make_input(name, dtype, {}, loc_of(loc)); }
Tensor vector(const std::string& name, DType dtype, Loc loc) { return make_input(name, dtype, {-1}, loc_of(loc)); }
Tensor matrix(const std::string& name, DType dtype, Loc loc) {
  return make_input(name, dtype, {-1, -1}, loc_of(loc));
}
Tensor tensor(const std::string& name, DType dtype, const std::vector<DimSpec>& shape, Loc loc) {
  return make_input(name, dtype, shape, loc_of(loc));
}

Tensor constant(const Array& value, Loc loc) {
  SourceLoc l = loc_of(loc);
  if (value.is_null()) ir::user_error(l, "constant", "the Array is empty (null handle)");
  if (!value.device().is_cpu()) ir::user_error(l, "constant", "the value must be a host array");
  return make(OpCode::Constant, {}, Attrs{{"value", value.copy()}}, l);
}
Tensor constant(double value, DType dtype, Loc loc) { return Tensor(scalar_node(value, dtype, loc_of(loc))); }

Tensor fill(const std::vector<std::int64_t>& shape, double value, DType dtype, Loc loc) {
  return make(OpCode::Fill, {}, Attrs{{"shape", shape}, {"value", value}, {"dtype", dtype}}, loc_of(loc));
}
Tensor zeros(const std::vector<std::int64_t>& shape, DType dtype, Loc loc) { return fill(shape, 0, dtype, loc); }
Tensor ones(const std::vector<std::int64_t>& shape, DType dtype, Loc loc) { return fill(shape, 1, dtype, loc); }

Tensor full_like(const Tensor& x, double value, std::optional<DType> dtype, Loc loc) {
  SourceLoc l = loc_of(loc);
  const NodeRef& n = node_of(x, l, "full_like");
  return make(OpCode::FillLike, {n}, Attrs{{"value", value}, {"dtype", dtype.value_or(n->dtype())}}, l);
}
Tensor zeros_like(const Tensor& x, std::optional<DType> dtype, Loc loc) { return full_like(x, 0, dtype, loc); }
Tensor ones_like(const Tensor& x, std::optional<DType> dtype, Loc loc) { return full_like(x, 1, dtype, loc); }

Tensor arange(double start, double stop, double step, std::optional<DType> dtype, Loc loc) {
  auto whole = [](double v) { return std::isfinite(v) && v == std::floor(v); };
  DType t = dtype.value_or(whole(start) && whole(stop) && whole(step) ? DType::I64 : DType::F64);
  return make(OpCode::Arange, {}, Attrs{{"start", start}, {"stop", stop}, {"step", step}, {"dtype", t}},
              loc_of(loc));
}

Tensor eye(std::int64_t n, std::optional<std::int64_t> m, std::int64_t k, DType dtype, Loc loc) {
  return make(OpCode::Eye, {}, Attrs{{"n", n}, {"m", m.value_or(n)}, {"k", k}, {"dtype", dtype}}, loc_of(loc));
}

// ---- elementwise unary ----

namespace {

Tensor unary(OpCode op, const Tensor& x, const Loc& loc) {
  SourceLoc l = loc_of(loc);
  NodeRef n = node_of(x, l, ir::op_name(op));
  DType t = n->dtype();
  switch (ir::op_info(op).category) {
    case ir::OpCategory::UnaryFloat:
      n = cast_node(n, float_for(t), l);  // NumPy: exp of i32 → f64, of i8 → f16
      break;
    case ir::OpCategory::UnaryNumeric:
      if (t == DType::Bool) {
        switch (op) {
          case OpCode::Abs: case OpCode::Floor: case OpCode::Ceil: case OpCode::Trunc:
            return x;  // NumPy 2 keeps bool
          case OpCode::Square:
            n = cast_node(n, DType::I8, l);  // NumPy: square of bool is int8
            break;
          case OpCode::Round:
            n = cast_node(n, float_for(t), l);  // NumPy gives f16
            break;
          default:
            ir::user_error(l, ir::op_name(op), "is not defined for bool (" + n->type().str() + "); cast first");
        }
      } else if (is_integer(t) && (op == OpCode::Floor || op == OpCode::Ceil || op == OpCode::Round ||
                                   op == OpCode::Trunc)) {
        return x;  // integers are already integral (NumPy 2 keeps the dtype)
      }
      break;
    case ir::OpCategory::UnaryBool:  // logical_not of a number: x == 0
      if (t != DType::Bool) return Tensor(mk(OpCode::Eq, {n, scalar_node(0, t, l)}, {}, l));
      break;
    case ir::OpCategory::UnaryIntegral:
      if (is_float(t))
        ir::user_error(l, ir::op_name(op), "is not defined for float dtypes (" + n->type().str() + ")");
      break;
    default:
      break;
  }
  return make(op, {n}, {}, l);
}

}  // namespace

#define KILN_UNARY_IMPL(name, OP) \
  Tensor name(const Tensor& x, Loc loc) { return unary(OpCode::OP, x, loc); }
KILN_UNARY_IMPL(abs, Abs) KILN_UNARY_IMPL(sign, Sign) KILN_UNARY_IMPL(exp, Exp)
KILN_UNARY_IMPL(exp2, Exp2) KILN_UNARY_IMPL(expm1, Expm1) KILN_UNARY_IMPL(log, Log) KILN_UNARY_IMPL(log2, Log2)
KILN_UNARY_IMPL(log10, Log10) KILN_UNARY_IMPL(log1p, Log1p) KILN_UNARY_IMPL(log1mexp, Log1mexp)
KILN_UNARY_IMPL(sqrt, Sqrt)
KILN_UNARY_IMPL(rsqrt, Rsqrt) KILN_UNARY_IMPL(square, Square) KILN_UNARY_IMPL(reciprocal, Reciprocal)
KILN_UNARY_IMPL(sin, Sin) KILN_UNARY_IMPL(cos, Cos) KILN_UNARY_IMPL(tan, Tan) KILN_UNARY_IMPL(asin, Asin)
KILN_UNARY_IMPL(acos, Acos) KILN_UNARY_IMPL(atan, Atan) KILN_UNARY_IMPL(sinh, Sinh) KILN_UNARY_IMPL(cosh, Cosh)
KILN_UNARY_IMPL(tanh, Tanh) KILN_UNARY_IMPL(asinh, Asinh) KILN_UNARY_IMPL(acosh, Acosh)
KILN_UNARY_IMPL(atanh, Atanh) KILN_UNARY_IMPL(sigmoid, Sigmoid) KILN_UNARY_IMPL(softplus, Softplus)
KILN_UNARY_IMPL(erf, Erf) KILN_UNARY_IMPL(erfc, Erfc) KILN_UNARY_IMPL(erfinv, Erfinv)
KILN_UNARY_IMPL(lgamma, Lgamma) KILN_UNARY_IMPL(digamma, Digamma) KILN_UNARY_IMPL(floor, Floor)
KILN_UNARY_IMPL(ceil, Ceil) KILN_UNARY_IMPL(round, Round) KILN_UNARY_IMPL(trunc, Trunc)
KILN_UNARY_IMPL(isnan, IsNan) KILN_UNARY_IMPL(isinf, IsInf) KILN_UNARY_IMPL(isfinite, IsFinite)
KILN_UNARY_IMPL(logical_not, LogicalNot) KILN_UNARY_IMPL(bitwise_not, BitwiseNot)
KILN_UNARY_IMPL(stop_gradient, StopGradient)
#undef KILN_UNARY_IMPL

Tensor neg(const Tensor& x, Loc loc) {
  SourceLoc l = loc_of(loc);
  if (node_of(x, l, "neg")->dtype() == DType::Bool)
    ir::user_error(l, "neg", "is not defined for bool (" + x.type_str() + "); use logical_not or ~");
  return unary(OpCode::Neg, x, loc);
}

Tensor relu(const Tensor& x, Loc loc) { return maximum(Operand(x, loc), Operand(0, loc)); }

Tensor cast(const Tensor& x, DType dtype, Loc loc) {
  SourceLoc l = loc_of(loc);
  return Tensor(cast_node(node_of(x, l, "cast"), dtype, l));
}

// ---- elementwise binary ----

namespace {

// Promotes a set of operands (tensors strong, scalars weak) to one dtype.
DType result_dtype(std::initializer_list<const Operand*> ops, const SourceLoc& l, std::string_view name) {
  std::optional<DType> strong;
  for (const Operand* o : ops)
    if (!o->scalar) {
      DType t = node_of(o->tensor, l, name)->dtype();
      strong = strong ? promote(*strong, t) : t;
    }
  if (!strong) {  // only scalars: NumPy's defaults
    ScalarKind k = ScalarKind::Bool;
    for (const Operand* o : ops) k = std::max(k, o->scalar->kind);
    strong = k == ScalarKind::Float ? DType::F64 : k == ScalarKind::Int ? DType::I64 : DType::Bool;
    return *strong;
  }
  DType t = *strong;
  for (const Operand* o : ops)
    if (o->scalar) t = promote_weak(t, o->scalar->kind);
  return t;
}

NodeRef operand_node(const Operand& o, DType t, const SourceLoc& l, std::string_view name) {
  if (o.scalar) return scalar_node(*o.scalar, t, l, name);
  return cast_node(node_of(o.tensor, l, name), t, l);
}

Tensor binary(OpCode op, const Operand& a, const Operand& b) {
  SourceLoc l = loc_of(a.loc);
  std::string_view name = ir::op_name(op);
  DType t = result_dtype({&a, &b}, l, name);
  auto category = ir::op_info(op).category;
  switch (category) {
    case ir::OpCategory::BinaryFloat:
      if (!is_float(t)) {
        if (op == OpCode::Div) {
          t = DType::F64;  // NumPy: i32 / i32 → f64
        } else {  // NumPy picks the first float loop both operands fit (atan2(i8, u8) → f16)
          DType fa = a.scalar ? float_for(t) : float_for(a.tensor.dtype());
          DType fb = b.scalar ? float_for(t) : float_for(b.tensor.dtype());
          t = promote(fa, fb);
        }
      }
      break;
    case ir::OpCategory::Compare: {
      // NumPy 2 compares an out-of-range Python int exactly (i8 == 300 is
      // False): compare in int64 then.
      const Operand* s = a.scalar ? &a : b.scalar ? &b : nullptr;
      if (s && s->scalar->kind == ScalarKind::Int && is_integer(t)) {
        if (!int_fits(s->scalar->i, t)) t = DType::I64;
      }
      break;
    }
    case ir::OpCategory::BinaryNumeric:
      if (t == DType::Bool) {
        switch (op) {  // NumPy's bool arithmetic
          case OpCode::Add: case OpCode::Maximum: op = OpCode::LogicalOr; break;
          case OpCode::Mul: case OpCode::Minimum: op = OpCode::LogicalAnd; break;
          case OpCode::Sub:
            ir::user_error(l, name, "is not defined for bool operands; use logical_xor or ^");
          default:
            t = DType::I8;  // floor_div, mod, pow of bools compute in int8, like NumPy
        }
      }
      break;
    case ir::OpCategory::BinaryBool: {
      NodeRef x = operand_node(a, t, l, name), y = operand_node(b, t, l, name);
      if (t != DType::Bool) {
        x = mk(OpCode::Ne, {x, scalar_node(0, t, l)}, {}, l);
        y = mk(OpCode::Ne, {y, scalar_node(0, t, l)}, {}, l);
      }
      return make(op, {x, y}, {}, l);
    }
    case ir::OpCategory::BinaryIntegral: case ir::OpCategory::BinaryShift:
      if (is_float(t))
        ir::user_error(l, name, "is not defined for float dtypes (got " + std::string(dtype_name(t)) + ")");
      if (category == ir::OpCategory::BinaryShift && t == DType::Bool) t = DType::I8;
      break;
    default:
      break;
  }
  return make(op, {operand_node(a, t, l, name), operand_node(b, t, l, name)}, {}, l);
}

}  // namespace

#define KILN_BINARY_IMPL(name, OP) \
  Tensor name(const Operand& a, const Operand& b) { return binary(OpCode::OP, a, b); }
KILN_BINARY_IMPL(add, Add) KILN_BINARY_IMPL(sub, Sub) KILN_BINARY_IMPL(mul, Mul) KILN_BINARY_IMPL(div, Div)
KILN_BINARY_IMPL(floor_div, FloorDiv) KILN_BINARY_IMPL(mod, Mod) KILN_BINARY_IMPL(pow, Pow)
KILN_BINARY_IMPL(maximum, Maximum) KILN_BINARY_IMPL(minimum, Minimum) KILN_BINARY_IMPL(atan2, Atan2)
KILN_BINARY_IMPL(eq, Eq) KILN_BINARY_IMPL(ne, Ne) KILN_BINARY_IMPL(lt, Lt) KILN_BINARY_IMPL(le, Le)
KILN_BINARY_IMPL(gt, Gt) KILN_BINARY_IMPL(ge, Ge) KILN_BINARY_IMPL(logical_and, LogicalAnd)
KILN_BINARY_IMPL(logical_or, LogicalOr) KILN_BINARY_IMPL(logical_xor, LogicalXor)
KILN_BINARY_IMPL(bitwise_and, BitwiseAnd) KILN_BINARY_IMPL(bitwise_or, BitwiseOr)
KILN_BINARY_IMPL(bitwise_xor, BitwiseXor) KILN_BINARY_IMPL(left_shift, LeftShift)
KILN_BINARY_IMPL(right_shift, RightShift)
#undef KILN_BINARY_IMPL

Tensor operator+(const Operand& a, const Operand& b) { return add(a, b); }
Tensor operator-(const Operand& a, const Operand& b) { return sub(a, b); }
Tensor operator*(const Operand& a, const Operand& b) { return mul(a, b); }
Tensor operator/(const Operand& a, const Operand& b) { return div(a, b); }
Tensor operator%(const Operand& a, const Operand& b) { return mod(a, b); }
Tensor operator==(const Operand& a, const Operand& b) { return eq(a, b); }
Tensor operator!=(const Operand& a, const Operand& b) { return ne(a, b); }
Tensor operator<(const Operand& a, const Operand& b) { return lt(a, b); }
Tensor operator<=(const Operand& a, const Operand& b) { return le(a, b); }
Tensor operator>(const Operand& a, const Operand& b) { return gt(a, b); }
Tensor operator>=(const Operand& a, const Operand& b) { return ge(a, b); }
Tensor operator&(const Operand& a, const Operand& b) { return bitwise_and(a, b); }
Tensor operator|(const Operand& a, const Operand& b) { return bitwise_or(a, b); }
Tensor operator^(const Operand& a, const Operand& b) { return bitwise_xor(a, b); }
Tensor operator<<(const Operand& a, const Operand& b) { return left_shift(a, b); }
Tensor operator>>(const Operand& a, const Operand& b) { return right_shift(a, b); }
Tensor& operator+=(Tensor& a, const Operand& b) { return a = add(Operand(a, b.loc), b); }
Tensor& operator-=(Tensor& a, const Operand& b) { return a = sub(Operand(a, b.loc), b); }
Tensor& operator*=(Tensor& a, const Operand& b) { return a = mul(Operand(a, b.loc), b); }
Tensor& operator/=(Tensor& a, const Operand& b) { return a = div(Operand(a, b.loc), b); }

namespace {
Tensor operand_tensor(const Operand& x, std::string_view op) {
  if (x.scalar) {
    SourceLoc l = loc_of(x.loc);
    DType t = x.scalar->kind == ScalarKind::Float ? f64 : x.scalar->kind == ScalarKind::Int ? i64 : boolean;
    return Tensor(scalar_node(*x.scalar, t, l, op));
  }
  return x.tensor;
}
}  // namespace

Tensor operator-(const Operand& x) { return neg(operand_tensor(x, "neg"), x.loc); }
Tensor operator~(const Operand& x) { return bitwise_not(operand_tensor(x, "bitwise_not"), x.loc); }

Tensor where(const Operand& cond, const Operand& a, const Operand& b) {
  SourceLoc l = loc_of(cond.loc);
  NodeRef c;
  if (cond.scalar)
    c = scalar_node(*cond.scalar, DType::Bool, l, "where");
  else {
    c = node_of(cond.tensor, l, "where");
    if (c->dtype() != DType::Bool) c = mk(OpCode::Ne, {c, scalar_node(0, c->dtype(), l)}, {}, l);
  }
  DType t = result_dtype({&a, &b}, l, "where");
  return make(OpCode::Where, {c, operand_node(a, t, l, "where"), operand_node(b, t, l, "where")}, {}, l);
}

Tensor clip(const Operand& x, const Operand& lo, const Operand& hi) {
  SourceLoc l = loc_of(x.loc);
  DType t = result_dtype({&x, &lo, &hi}, l, "clip");
  if (t == DType::Bool) ir::user_error(l, "clip", "is not defined for bool");
  return make(OpCode::Clip,
              {operand_node(x, t, l, "clip"), operand_node(lo, t, l, "clip"), operand_node(hi, t, l, "clip")}, {},
              l);
}

}  // namespace kiln
