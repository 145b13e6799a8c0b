// Elementwise ops of the reference interpreter: unary, binary, compare,
// where, clip and cast. Each row of the (broadcast) output is loaded into
// double or int64 buffers, computed by a per-op scalar function and stored.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <math.h>  // lgamma_r (reentrant, unlike std::lgamma which writes signgam)

#include <boost/math/policies/policy.hpp>
#include <boost/math/special_functions/digamma.hpp>
#include <boost/math/special_functions/polygamma.hpp>
#include <boost/math/special_functions/erf.hpp>

#include "ir/interp_util.hpp"

namespace kiln::ir::interp {

namespace {

using u64 = std::uint64_t;
using i64 = std::int64_t;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Boost reports no errors through exceptions: the domain and pole cases are
// handled before calling it, and anything left returns NaN/inf.
namespace bmp = boost::math::policies;
using QuietPolicy = bmp::policy<bmp::domain_error<bmp::ignore_error>, bmp::pole_error<bmp::ignore_error>,
                                bmp::overflow_error<bmp::ignore_error>, bmp::evaluation_error<bmp::ignore_error>>;

// ---- float scalar functions ----

double sign_f(double v) {
  if (std::isnan(v)) return v;
  return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0;
}

double sigmoid(double v) {
  if (v >= 0) return 1.0 / (1.0 + std::exp(-v));
  double e = std::exp(v);  // v < 0 or NaN: exp cannot overflow
  return e / (1.0 + e);
}

// log(1 - exp(v)) without cancellation (Mächler 2012): near 0, 1 - exp(v) is
// -expm1(v); far below, exp(v) is tiny and log1p keeps it. v > 0 → NaN.
double log1mexp(double v) {
  if (v > 0) return std::numeric_limits<double>::quiet_NaN();
  return v > -std::numbers::ln2 ? std::log(-std::expm1(v)) : std::log1p(-std::exp(v));
}

double softplus(double v) {
  if (v > 0) return v + std::log1p(std::exp(-v));
  return std::log1p(std::exp(v));
}

double erfinv(double v) {
  if (std::isnan(v)) return v;
  if (v == 1) return kInf;
  if (v == -1) return -kInf;
  if (v > 1 || v < -1) return kNaN;
  return boost::math::erf_inv(v, QuietPolicy());
}

double lgamma_safe(double v) {
  int sign;
  return ::lgamma_r(v, &sign);
}

// Poles: digamma(+0) = -inf and digamma(-0) = +inf (the one-sided limits),
// negative integers → NaN, digamma(-inf) → NaN, digamma(+inf) = +inf.
// polygamma(n, x): the n-th derivative of digamma (n = 0 is digamma). Near a
// pole (x = 0, -1, ...) it behaves like (-1)^(n+1) n! / (x + k)^(n+1): +inf
// from both sides for odd n, NaN for even n >= 2 (the sides disagree).
double polygamma(int order, double v);

double digamma(double v) {
  if (std::isnan(v)) return v;
  if (v == 0) return std::signbit(v) ? kInf : -kInf;
  if (std::isinf(v)) return v > 0 ? kInf : kNaN;
  if (v < 0 && v == std::floor(v)) return kNaN;
  return boost::math::digamma(v, QuietPolicy());
}

double polygamma(int order, double v) {
  if (order == 0) return digamma(v);
  if (std::isnan(v)) return v;
  if (v <= 0 && v == std::floor(v))  // pole
    return order % 2 == 1 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(v)) return v > 0 ? 0.0 : std::numeric_limits<double>::quiet_NaN();
  return boost::math::polygamma(order, v, QuietPolicy());
}

// NumPy's npy_divmod: floor division with the remainder's sign fix-up.
double floor_div_f(double a, double b) {
  if (b == 0) return a / b;  // ±inf, or NaN for 0/0 and NaN/0
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, a / b);
  double fl = std::floor(div);
  if (div - fl > 0.5) fl += 1.0;
  return fl;
}

// NumPy's np.remainder: the result has the sign of the divisor.
double mod_f(double a, double b) {
  double mod = std::fmod(a, b);
  if (b == 0) return mod;  // NaN
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

// NumPy's maximum/minimum: a NaN on either side wins.
double maximum_f(double a, double b) { return (a > b || std::isnan(a)) ? a : b; }
double minimum_f(double a, double b) { return (a < b || std::isnan(a)) ? a : b; }

// ---- integer scalar functions (values are exact; wrap happens at the store) ----

i64 wrap_add(i64 a, i64 b) { return static_cast<i64>(static_cast<u64>(a) + static_cast<u64>(b)); }
i64 wrap_sub(i64 a, i64 b) { return static_cast<i64>(static_cast<u64>(a) - static_cast<u64>(b)); }
i64 wrap_mul(i64 a, i64 b) { return static_cast<i64>(static_cast<u64>(a) * static_cast<u64>(b)); }
i64 wrap_neg(i64 a) { return static_cast<i64>(u64{0} - static_cast<u64>(a)); }

// Python's floor division; x // 0 = 0 (NumPy's result).
i64 floor_div_i(i64 a, i64 b) {
  if (b == 0) return 0;
  if (b == -1) return wrap_neg(a);  // INT64_MIN / -1 would overflow
  i64 q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

// Python's modulo (the sign of the divisor); x % 0 = 0 (NumPy's result).
i64 mod_i(i64 a, i64 b) {
  if (b == 0 || b == -1) return 0;
  i64 r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

// Exponentiation by squaring, wrapping. A negative exponent gives 0 except
// for the bases 1 (→ 1) and -1 (→ ±1); NumPy raises an error there instead.
i64 pow_i(i64 a, i64 b) {
  if (b < 0) {
    if (a == 1) return 1;
    if (a == -1) return (b & 1) ? -1 : 1;
    return 0;
  }
  u64 r = 1, base = static_cast<u64>(a);
  for (u64 e = static_cast<u64>(b); e != 0; e >>= 1) {
    if (e & 1) r *= base;
    base *= base;
  }
  return static_cast<i64>(r);
}

i64 left_shift(i64 a, i64 s, int bits) {
  if (s < 0 || s >= bits) return 0;
  return static_cast<i64>(static_cast<u64>(a) << s);
}

i64 right_shift(i64 a, i64 s, int bits) {
  if (s < 0 || s >= bits) return a < 0 ? -1 : 0;
  return a >> s;  // arithmetic in C++20; values are sign-extended from their dtype
}

// ---- rows ----

// The loaded inputs and the output of one row; each in its dtype's domain.
struct Rows {
  std::int64_t n = 0;
  std::array<const double*, 3> f{};
  std::array<const i64*, 3> i{};
  double* of = nullptr;
  i64* oi = nullptr;
};

template <class F>
void map1(const double* x, double* y, std::int64_t n, F f) {
  for (std::int64_t j = 0; j < n; ++j) y[j] = f(x[j]);
}
template <class F>
void map1(const i64* x, i64* y, std::int64_t n, F f) {
  for (std::int64_t j = 0; j < n; ++j) y[j] = f(x[j]);
}
template <class T, class R, class F>
void map2(const T* a, const T* b, R* y, std::int64_t n, F f) {
  for (std::int64_t j = 0; j < n; ++j) y[j] = f(a[j], b[j]);
}

void unary_f(OpCode op, const double* x, double* y, std::int64_t n) {
  switch (op) {
    case OpCode::Neg: return map1(x, y, n, [](double v) { return -v; });
    case OpCode::Abs: return map1(x, y, n, [](double v) { return std::fabs(v); });
    case OpCode::Sign: return map1(x, y, n, sign_f);
    case OpCode::Square: return map1(x, y, n, [](double v) { return v * v; });
    case OpCode::Floor: return map1(x, y, n, [](double v) { return std::floor(v); });
    case OpCode::Ceil: return map1(x, y, n, [](double v) { return std::ceil(v); });
    case OpCode::Round: return map1(x, y, n, [](double v) { return std::nearbyint(v); });  // half to even
    case OpCode::Trunc: return map1(x, y, n, [](double v) { return std::trunc(v); });
    case OpCode::Exp: return map1(x, y, n, [](double v) { return std::exp(v); });
    case OpCode::Exp2: return map1(x, y, n, [](double v) { return std::exp2(v); });
    case OpCode::Expm1: return map1(x, y, n, [](double v) { return std::expm1(v); });
    case OpCode::Log: return map1(x, y, n, [](double v) { return std::log(v); });
    case OpCode::Log2: return map1(x, y, n, [](double v) { return std::log2(v); });
    case OpCode::Log10: return map1(x, y, n, [](double v) { return std::log10(v); });
    case OpCode::Log1p: return map1(x, y, n, [](double v) { return std::log1p(v); });
    case OpCode::Log1mexp: return map1(x, y, n, log1mexp);
    case OpCode::Sqrt: return map1(x, y, n, [](double v) { return std::sqrt(v); });
    case OpCode::Rsqrt: return map1(x, y, n, [](double v) { return 1.0 / std::sqrt(v); });
    case OpCode::Reciprocal: return map1(x, y, n, [](double v) { return 1.0 / v; });
    case OpCode::Sin: return map1(x, y, n, [](double v) { return std::sin(v); });
    case OpCode::Cos: return map1(x, y, n, [](double v) { return std::cos(v); });
    case OpCode::Tan: return map1(x, y, n, [](double v) { return std::tan(v); });
    case OpCode::Asin: return map1(x, y, n, [](double v) { return std::asin(v); });
    case OpCode::Acos: return map1(x, y, n, [](double v) { return std::acos(v); });
    case OpCode::Atan: return map1(x, y, n, [](double v) { return std::atan(v); });
    case OpCode::Sinh: return map1(x, y, n, [](double v) { return std::sinh(v); });
    case OpCode::Cosh: return map1(x, y, n, [](double v) { return std::cosh(v); });
    case OpCode::Tanh: return map1(x, y, n, [](double v) { return std::tanh(v); });
    case OpCode::Asinh: return map1(x, y, n, [](double v) { return std::asinh(v); });
    case OpCode::Acosh: return map1(x, y, n, [](double v) { return std::acosh(v); });
    case OpCode::Atanh: return map1(x, y, n, [](double v) { return std::atanh(v); });
    case OpCode::Sigmoid: return map1(x, y, n, sigmoid);
    case OpCode::Softplus: return map1(x, y, n, softplus);
    case OpCode::Erf: return map1(x, y, n, [](double v) { return std::erf(v); });
    case OpCode::Erfc: return map1(x, y, n, [](double v) { return std::erfc(v); });
    case OpCode::Erfinv: return map1(x, y, n, erfinv);
    case OpCode::Lgamma: return map1(x, y, n, lgamma_safe);
    case OpCode::Digamma: return map1(x, y, n, digamma);
    case OpCode::StopGradient: return map1(x, y, n, [](double v) { return v; });
    default: break;
  }
  KILN_UNREACHABLE("no float kernel for " << op_name(op));
}

void unary_i(OpCode op, DType t, const i64* x, i64* y, std::int64_t n) {
  switch (op) {
    case OpCode::Neg: return map1(x, y, n, wrap_neg);
    case OpCode::Abs: return map1(x, y, n, [](i64 v) { return v < 0 ? wrap_neg(v) : v; });
    case OpCode::Sign: return map1(x, y, n, [](i64 v) { return i64{v > 0} - i64{v < 0}; });
    case OpCode::Square: return map1(x, y, n, [](i64 v) { return wrap_mul(v, v); });
    case OpCode::Floor: case OpCode::Ceil: case OpCode::Round: case OpCode::Trunc: case OpCode::StopGradient:
      return map1(x, y, n, [](i64 v) { return v; });
    case OpCode::LogicalNot: return map1(x, y, n, [](i64 v) { return i64{v == 0}; });
    case OpCode::BitwiseNot:
      if (t == DType::Bool) return map1(x, y, n, [](i64 v) { return i64{v == 0}; });  // logical on bool
      return map1(x, y, n, [](i64 v) { return ~v; });
    default: break;
  }
  KILN_UNREACHABLE("no integer kernel for " << op_name(op) << " on " << dtype_name(t));
}

void predicate(OpCode op, bool is_float, const double* xf, i64* y, std::int64_t n) {
  if (!is_float) {  // integers and bool are never NaN or infinite
    for (std::int64_t j = 0; j < n; ++j) y[j] = op == OpCode::IsFinite;
    return;
  }
  switch (op) {
    case OpCode::IsNan: return map2(xf, xf, y, n, [](double v, double) { return i64{std::isnan(v)}; });
    case OpCode::IsInf: return map2(xf, xf, y, n, [](double v, double) { return i64{std::isinf(v)}; });
    case OpCode::IsFinite: return map2(xf, xf, y, n, [](double v, double) { return i64{std::isfinite(v)}; });
    default: break;
  }
  KILN_UNREACHABLE("no predicate kernel for " << op_name(op));
}

void binary_f(OpCode op, const double* a, const double* b, double* y, std::int64_t n) {
  switch (op) {
    case OpCode::Add: return map2(a, b, y, n, [](double u, double v) { return u + v; });
    case OpCode::Sub: return map2(a, b, y, n, [](double u, double v) { return u - v; });
    case OpCode::Mul: return map2(a, b, y, n, [](double u, double v) { return u * v; });
    case OpCode::Div: return map2(a, b, y, n, [](double u, double v) { return u / v; });
    case OpCode::FloorDiv: return map2(a, b, y, n, floor_div_f);
    case OpCode::Mod: return map2(a, b, y, n, mod_f);
    case OpCode::Pow: return map2(a, b, y, n, [](double u, double v) { return std::pow(u, v); });
    case OpCode::Maximum: return map2(a, b, y, n, maximum_f);
    case OpCode::Minimum: return map2(a, b, y, n, minimum_f);
    case OpCode::Atan2: return map2(a, b, y, n, [](double u, double v) { return std::atan2(u, v); });
    default: break;
  }
  KILN_UNREACHABLE("no float kernel for " << op_name(op));
}

void binary_i(OpCode op, DType t, const i64* a, const i64* b, i64* y, std::int64_t n) {
  const int bits = int_bits(t);
  switch (op) {
    case OpCode::Add: return map2(a, b, y, n, wrap_add);
    case OpCode::Sub: return map2(a, b, y, n, wrap_sub);
    case OpCode::Mul: return map2(a, b, y, n, wrap_mul);
    case OpCode::FloorDiv: return map2(a, b, y, n, floor_div_i);
    case OpCode::Mod: return map2(a, b, y, n, mod_i);
    case OpCode::Pow: return map2(a, b, y, n, pow_i);
    case OpCode::Maximum: return map2(a, b, y, n, [](i64 u, i64 v) { return u > v ? u : v; });
    case OpCode::Minimum: return map2(a, b, y, n, [](i64 u, i64 v) { return u < v ? u : v; });
    case OpCode::LogicalAnd: return map2(a, b, y, n, [](i64 u, i64 v) { return i64{u != 0 && v != 0}; });
    case OpCode::LogicalOr: return map2(a, b, y, n, [](i64 u, i64 v) { return i64{u != 0 || v != 0}; });
    case OpCode::LogicalXor: return map2(a, b, y, n, [](i64 u, i64 v) { return i64{(u != 0) != (v != 0)}; });
    case OpCode::BitwiseAnd: return map2(a, b, y, n, [](i64 u, i64 v) { return u & v; });
    case OpCode::BitwiseOr: return map2(a, b, y, n, [](i64 u, i64 v) { return u | v; });
    case OpCode::BitwiseXor: return map2(a, b, y, n, [](i64 u, i64 v) { return u ^ v; });
    case OpCode::LeftShift: return map2(a, b, y, n, [bits](i64 u, i64 v) { return left_shift(u, v, bits); });
    case OpCode::RightShift: return map2(a, b, y, n, [bits](i64 u, i64 v) { return right_shift(u, v, bits); });
    default: break;
  }
  KILN_UNREACHABLE("no integer kernel for " << op_name(op) << " on " << dtype_name(t));
}

template <class T>
void compare(OpCode op, const T* a, const T* b, i64* y, std::int64_t n) {
  switch (op) {
    case OpCode::Eq: return map2(a, b, y, n, [](T u, T v) { return i64{u == v}; });
    case OpCode::Ne: return map2(a, b, y, n, [](T u, T v) { return i64{u != v}; });
    case OpCode::Lt: return map2(a, b, y, n, [](T u, T v) { return i64{u < v}; });
    case OpCode::Le: return map2(a, b, y, n, [](T u, T v) { return i64{u <= v}; });
    case OpCode::Gt: return map2(a, b, y, n, [](T u, T v) { return i64{u > v}; });
    case OpCode::Ge: return map2(a, b, y, n, [](T u, T v) { return i64{u >= v}; });
    default: break;
  }
  KILN_UNREACHABLE("no compare kernel for " << op_name(op));
}

void cast_row(DType from, DType to, const Rows& r) {
  const bool ff = float_domain(from), tf = float_domain(to);
  for (std::int64_t j = 0; j < r.n; ++j) {
    if (ff && tf) r.of[j] = r.f[0][j];                      // store_f rounds once
    else if (ff) r.oi[j] = float_to_int(r.f[0][j], to);     // truncate, saturate
    else if (tf) r.of[j] = int_to_float(r.i[0][j], to);     // store_f rounds once
    else r.oi[j] = r.i[0][j];                                // store_i wraps; bool: != 0
  }
}

void compute(const Node& node, const Rows& r) {
  const OpCode op = node.op();
  const DType t = node.input(node.op() == OpCode::Where ? 1 : 0)->dtype();
  const bool fl = float_domain(t);
  switch (node.info().category) {
    case OpCategory::UnaryNumeric: case OpCategory::UnaryFloat: case OpCategory::UnaryBool:
    case OpCategory::UnaryIntegral: case OpCategory::UnaryAny:
      if (op == OpCode::Polygamma) {
        const int order = static_cast<int>(node.attrs().get_int("n"));
        return map1(r.f[0], r.of, r.n, [order](double v) { return polygamma(order, v); });
      }
      return fl ? unary_f(op, r.f[0], r.of, r.n) : unary_i(op, t, r.i[0], r.oi, r.n);
    case OpCategory::UnaryPredicate:
      return predicate(op, fl, r.f[0], r.oi, r.n);
    case OpCategory::Cast:
      return cast_row(t, node.dtype(), r);
    case OpCategory::BinaryNumeric: case OpCategory::BinaryFloat: case OpCategory::BinaryBool:
    case OpCategory::BinaryIntegral: case OpCategory::BinaryShift:
      return fl ? binary_f(op, r.f[0], r.f[1], r.of, r.n) : binary_i(op, t, r.i[0], r.i[1], r.oi, r.n);
    case OpCategory::Compare:
      return fl ? compare(op, r.f[0], r.f[1], r.oi, r.n) : compare(op, r.i[0], r.i[1], r.oi, r.n);
    case OpCategory::Where:
      if (fl)
        for (std::int64_t j = 0; j < r.n; ++j) r.of[j] = r.i[0][j] ? r.f[1][j] : r.f[2][j];
      else
        for (std::int64_t j = 0; j < r.n; ++j) r.oi[j] = r.i[0][j] ? r.i[1][j] : r.i[2][j];
      return;
    case OpCategory::Clip:  // minimum(maximum(x, lo), hi)
      if (fl)
        for (std::int64_t j = 0; j < r.n; ++j) r.of[j] = minimum_f(maximum_f(r.f[0][j], r.f[1][j]), r.f[2][j]);
      else
        for (std::int64_t j = 0; j < r.n; ++j) r.oi[j] = std::min(std::max(r.i[0][j], r.i[1][j]), r.i[2][j]);
      return;
    default: break;
  }
  KILN_UNREACHABLE(op_name(op) << " is not elementwise");
}

// `v` stretched to `shape` (already checked to broadcast): leading and
// stretched axes get stride 0.
View stretch(const View& v, const Shape& shape) {
  View r = v;
  r.shape = shape;
  r.strides.assign(shape.size(), 0);
  const std::size_t lead = shape.size() - v.shape.size();
  for (std::size_t ax = 0; ax < v.shape.size(); ++ax)
    if (v.shape[ax] == shape[lead + ax]) r.strides[lead + ax] = v.strides[ax];
  return r;
}

}  // namespace

Array eval_elementwise(const Node& node, const std::vector<Array>& in) {
  const std::size_t k = in.size();
  KILN_CHECK(k >= 1 && k <= 3, op_name(node.op()) << " with " << k << " inputs");
  std::vector<const Array*> ptrs;
  std::vector<const TensorType*> types;
  for (std::size_t i = 0; i < k; ++i) {
    ptrs.push_back(&in[i]);
    types.push_back(&node.input(i)->type());
  }
  const Shape shape = k == 1 ? in[0].shape() : broadcast_inputs(node, ptrs, types);
  View out;
  Array result = new_array(shape, node.dtype(), &out);

  std::array<View, 3> v;
  const Shape zeros(shape.size(), 0);
  for (std::size_t i = 0; i < 3; ++i) v[i] = i < k ? stretch(view_of(in[i]), shape) : View{nullptr, shape, zeros};

  // Row buffers, allocated once.
  const std::int64_t row = shape.empty() ? 1 : shape.back();
  std::array<std::vector<double>, 3> fb;
  std::array<std::vector<i64>, 3> ib;
  std::array<LoadF, 3> lf{};
  std::array<LoadI, 3> li{};
  Rows r;
  for (std::size_t i = 0; i < k; ++i) {
    if (float_domain(in[i].dtype())) {
      fb[i].resize(row);
      lf[i] = load_f(in[i].dtype());
      r.f[i] = fb[i].data();
    } else {
      ib[i].resize(row);
      li[i] = load_i(in[i].dtype());
      r.i[i] = ib[i].data();
    }
  }
  std::vector<double> fo;
  std::vector<i64> io;
  const bool out_float = float_domain(node.dtype());
  StoreF sf = out_float ? store_f(node.dtype()) : nullptr;
  StoreI si = out_float ? nullptr : store_i(node.dtype());
  if (out_float) {
    fo.resize(row);
    r.of = fo.data();
  } else {
    io.resize(row);
    r.oi = io.data();
  }

  for_each_row<4>(shape, {&out.strides, &v[0].strides, &v[1].strides, &v[2].strides},
                  [&](const std::array<std::int64_t, 4>& off, std::int64_t n, const std::array<std::int64_t, 4>& st) {
                    r.n = n;
                    for (std::size_t i = 0; i < k; ++i) {
                      const std::byte* p = v[i].base + off[i + 1];
                      if (lf[i])
                        for (std::int64_t j = 0; j < n; ++j) fb[i][j] = lf[i](p + j * st[i + 1]);
                      else
                        for (std::int64_t j = 0; j < n; ++j) ib[i][j] = li[i](p + j * st[i + 1]);
                    }
                    compute(node, r);
                    std::byte* o = out.base + off[0];
                    if (out_float)
                      for (std::int64_t j = 0; j < n; ++j) sf(o + j * st[0], fo[j]);
                    else
                      for (std::int64_t j = 0; j < n; ++j) si(o + j * st[0], io[j]);
                  });
  return result;
}

}  // namespace kiln::ir::interp

namespace kiln::ir::interp {

// The interpreter's special functions, shared with backends that call them
// per element (their semantics are the oracle's by construction).
double erfinv_scalar(double v) { return erfinv(v); }
double lgamma_scalar(double v) { return lgamma_safe(v); }
double digamma_scalar(double v) { return digamma(v); }
double polygamma_scalar(int order, double v) { return polygamma(order, v); }
std::int64_t pow_int_scalar(std::int64_t a, std::int64_t b) { return pow_i(a, b); }

}  // namespace kiln::ir::interp
