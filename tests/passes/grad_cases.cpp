// The op sweep: see grad_cases.hpp.
#include "grad_cases.hpp"

#include <algorithm>
#include <cmath>

#include "ir/node.hpp"

namespace kiln::grad_test {

using V = const std::vector<Tensor>&;

Array uniform(const Shape& shape, double lo, double hi, std::uint64_t seed) {
  return Array::uniform(shape, f64, seed, lo, hi);
}

Array signed_uniform(const Shape& shape, double lo, double hi, std::uint64_t seed) {
  std::vector<double> m = uniform(shape, lo, hi, seed).to_doubles();
  std::vector<double> s = uniform(shape, 0, 1, seed + 1000).to_doubles();
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = s[i] < 0.5 ? -m[i] : m[i];
  return Array::from_doubles(m, shape, f64);
}

Array distinct(const Shape& shape, std::uint64_t seed, double offset) {
  std::int64_t n = shape_size(shape);
  std::vector<double> key = uniform({n}, 0, 1, seed).to_doubles();
  std::vector<std::int64_t> order(n);
  for (std::int64_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return key[a] < key[b]; });
  std::vector<double> v(n);
  for (std::int64_t i = 0; i < n; ++i) v[order[i]] = 0.25 * static_cast<double>(i) - 0.125 * static_cast<double>(n) + offset;
  return Array::from_doubles(v, shape, f64);
}

namespace {

// A constant with the dtype of the run (f64 or f32).
Tensor C(const Array& a, const Tensor& like) { return constant(a.astype(like.dtype())); }
Tensor I(std::initializer_list<int> v) { return constant(Array::from(v)); }  // an i32 index vector
Tensor raw(ir::OpCode op, std::vector<ir::NodeRef> ins, ir::Attrs attrs = {}) {
  return Tensor(ir::make_node(op, std::move(ins), std::move(attrs), SourceLoc(__FILE__, __LINE__)));
}
Array from(std::initializer_list<double> v) { return Array::from(v); }
Array from(std::initializer_list<std::initializer_list<double>> v) { return Array::from(v); }

using UnaryFn = Tensor (*)(const Tensor&, Loc);

struct Builder {
  std::vector<GradCase> cases;
  std::uint64_t seed = 1;

  GradCase& add(std::string name, Fn fn, std::vector<Array> points) {
    cases.push_back(GradCase{std::move(name), std::move(fn), std::move(points)});
    return cases.back();
  }
  std::uint64_t next() { return seed += 7; }

  // A unary op on a [2,3] matrix, a 0-d scalar and a [1,4,1] tensor with size-1 dims.
  void unary(const std::string& name, UnaryFn f, double lo, double hi, bool signed_magnitude = false) {
    auto pt = [&](const Shape& s) { return signed_magnitude ? signed_uniform(s, lo, hi, next()) : uniform(s, lo, hi, next()); };
    Fn fn = [f](V x) { return f(x[0], Loc::current()); };
    add(name, fn, {pt({2, 3})});
    add(name + "_scalar", fn, {pt({})});
    add(name + "_size1", fn, {pt({1, 4, 1})});
  }
};

}  // namespace

const std::vector<GradCase>& grad_cases() {
  static const std::vector<GradCase> all = [] {
    Builder b;
    // ---- unary, each inside its domain ----
    b.unary("neg", neg, -2, 2);
    b.unary("abs", abs, 0.2, 2, true);
    b.unary("square", square, -2, 2);
    b.unary("exp", exp, -2, 2);
    b.unary("exp2", exp2, -2, 2);
    b.unary("expm1", expm1, -2, 2);
    b.unary("log", log, 0.2, 3);
    b.unary("log2", log2, 0.2, 3);
    b.unary("log10", log10, 0.2, 3);
    b.unary("log1p", log1p, -0.5, 2);
    b.unary("log1mexp", log1mexp, -3, -0.2);
    b.unary("sqrt", sqrt, 0.2, 3);
    b.unary("rsqrt", rsqrt, 0.2, 3);
    b.unary("reciprocal", reciprocal, 0.3, 2, true);
    b.unary("sin", sin, -3, 3);
    b.unary("cos", cos, -3, 3);
    b.unary("tan", tan, -1.2, 1.2);
    b.unary("asin", asin, -0.9, 0.9);
    b.unary("acos", acos, -0.9, 0.9);
    b.unary("atan", atan, -3, 3);
    b.unary("sinh", sinh, -2, 2);
    b.unary("cosh", cosh, -2, 2);
    b.unary("tanh", tanh, -2, 2);
    b.unary("asinh", asinh, -3, 3);
    b.unary("acosh", acosh, 1.2, 3);
    b.unary("atanh", atanh, -0.9, 0.9);
    b.unary("sigmoid", sigmoid, -4, 4);
    b.unary("softplus", softplus, -4, 4);
    b.unary("erf", erf, -2, 2);
    b.unary("erfc", erfc, -2, 2);
    b.unary("erfinv", erfinv, -0.9, 0.9);
    b.unary("lgamma", lgamma, 0.3, 4);
    b.unary("digamma", digamma, 0.3, 4);
    b.unary("relu", relu, 0.2, 2, true);
    // Left of 0: between the poles at the non-positive integers.
    b.add("lgamma_negative", [](V x) { return lgamma(x[0]); }, {from({-2.6, -1.3, -0.4, -3.7})});
    b.add("digamma_negative", [](V x) { return digamma(x[0]); }, {from({-2.6, -1.3, -0.4, -3.7})});
    // polygamma: the op directly, and as digamma's derivative (second derivative checked too).
    for (std::int64_t n : {0, 1, 2})
      b.add("polygamma_" + std::to_string(n),
            [n](V x) { return raw(ir::OpCode::Polygamma, {x[0].node()}, ir::Attrs{{"n", n}}); },
            {uniform({2, 3}, 0.5, 3, b.next())});
    b.add("polygamma_via_digamma", [](V x) { return grad(sum(digamma(x[0])), x[0]); },
          {uniform({5}, 0.5, 3, b.next())});
    // Piecewise-constant ops: zero gradient away from their jumps.
    Array steps = from({{-1.7, -0.3, 0.2}, {1.3, 2.8, -2.2}});
    b.add("sign", [](V x) { return sign(x[0]) * x[0]; }, {steps});
    b.add("floor", [](V x) { return floor(x[0]) + x[0]; }, {steps});
    b.add("ceil", [](V x) { return ceil(x[0]) * x[0]; }, {steps});
    b.add("round", [](V x) { return round(x[0]) * x[0]; }, {steps});
    b.add("trunc", [](V x) { return trunc(x[0]) * x[0]; }, {steps});
    // cast: f64 → f32 → f64 (and f32 → f64 → f32 in the f32 run). In f64 the
    // f32 rounding in the middle needs a wider step and tolerance.
    b.add("cast_roundtrip", [](V x) {
      DType t = x[0].dtype(), other = t == f64 ? f32 : f64;
      return sin(cast(cast(x[0], other), t));
    }, {uniform({2, 3}, -2, 2, b.next())}).f64_options = {.eps = 1e-3, .rel_tol = 1e-3};
    b.cases.back().second_order = false;
    b.add("cast_widen", [](V x) { return exp(cast(x[0], f64)); }, {uniform({4}, -1, 1, b.next())});

    // ---- elementwise binary, with NumPy broadcasting ----
    const std::vector<std::pair<Shape, Shape>> pairs = {
        {{2, 3}, {2, 3}}, {{3, 1}, {1, 4}}, {{4}, {3, 4}}, {{}, {2, 3}}, {{2, 1, 3}, {4, 1}}};
    auto shape_name = [](const Shape& s) {
      std::string r = "s";
      for (auto d : s) r += std::to_string(d);
      return r;
    };
    auto binary = [&](const std::string& name, Fn fn, double alo, double ahi, double blo, double bhi,
                      bool b_signed, std::size_t npairs) {
      for (std::size_t i = 0; i < npairs; ++i) {
        auto [sa, sb] = pairs[i];
        Array pb = b_signed ? signed_uniform(sb, blo, bhi, b.next()) : uniform(sb, blo, bhi, b.next());
        b.add(name + "_" + shape_name(sa) + "_" + shape_name(sb), fn, {uniform(sa, alo, ahi, b.next()), pb});
      }
    };
    binary("add", [](V x) { return x[0] + x[1]; }, -2, 2, -2, 2, false, 5);
    binary("sub", [](V x) { return x[0] - x[1]; }, -2, 2, -2, 2, false, 5);
    binary("mul", [](V x) { return x[0] * x[1]; }, -2, 2, -2, 2, false, 5);
    binary("div", [](V x) { return x[0] / x[1]; }, -2, 2, 0.5, 2, true, 5);
    // a mod b = a - floor(a/b) b, with a/b kept away from the integers.
    binary("mod", [](V x) { return x[0] % x[1]; }, 0.1, 0.9, 1.1, 2, false, 3);
    binary("mod_negative", [](V x) { return x[0] % x[1]; }, -0.9, -0.1, 1.1, 2, false, 2);
    binary("mod_quotient1", [](V x) { return x[0] % x[1]; }, 2.3, 2.5, 1.5, 1.6, false, 2);
    binary("floor_div", [](V x) { return floor_div(x[0], x[1]) * x[0] + x[1]; }, 2.3, 2.5, 1.5, 1.6, false, 2);
    binary("pow", [](V x) { return pow(x[0], x[1]); }, 0.5, 2, -1.5, 2, false, 5);
    binary("atan2", [](V x) { return atan2(x[0], x[1]); }, 0.3, 2, 0.3, 2, true, 3);
    binary("atan2_neg_y", [](V x) { return atan2(x[0], x[1]); }, -2, -0.3, 0.3, 2, true, 1);
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      auto [sa, sb] = pairs[i];
      // All values distinct across both operands: no ties even after broadcasting.
      Array pool = distinct({shape_size(sa) + shape_size(sb)}, b.next());
      std::vector<double> v = pool.to_doubles();
      Array pa = Array::from_doubles(std::vector<double>(v.begin(), v.begin() + shape_size(sa)), sa, f64);
      Array pb = Array::from_doubles(std::vector<double>(v.begin() + shape_size(sa), v.end()), sb, f64);
      std::string suffix = "_" + shape_name(sa) + "_" + shape_name(sb);
      b.add("maximum" + suffix, [](V x) { return maximum(x[0], x[1]); }, {pa, pb});
      b.add("minimum" + suffix, [](V x) { return minimum(x[0], x[1]); }, {pa, pb});
    }
    // pow with a constant exponent: x = 0 and negative bases with integer exponents.
    Array bases = from({-1.5, -0.5, 0.0, 0.7, 2.0});
    for (int e : {0, 1, 2, 3})
      b.add("pow_const_" + std::to_string(e), [e](V x) { return pow(x[0], e); }, {bases});
    b.add("pow_const_neg1", [](V x) { return pow(x[0], -1); }, {from({-1.5, -0.5, 0.7, 2.0})});
    b.add("pow_const_neg2", [](V x) { return pow(x[0], -2.0); }, {from({-1.5, -0.5, 0.7, 2.0})});
    b.add("pow_const_half", [](V x) { return pow(x[0], 0.5); }, {from({0.3, 0.7, 2.0})});
    b.add("pow_const_base", [](V x) { return pow(2.0, x[0]); }, {from({-1.5, 0.0, 0.7, 2.0})});
    b.add("pow_zero_base", [](V x) { return pow(0.0, x[0]) + x[0]; }, {from({0.5, 1.0, 2.0})});
    // At a = 0 only one input may move at a time (a < 0 with a non-integer b is NaN).
    GradCase& zero_base = b.add("pow_tensor_zero_base", [](V x) { return pow(x[0], x[1]); },
                                {from({0.0, 0.0, 1.5}), from({2.0, 3.0, 0.5})});
    zero_base.second_order = false;  // d/db (b a^(b-1)) at a = 0 is infinite for b = 2
    zero_base.joint_steps = false;

    // ---- ternary ----
    Array cond = Array::from({{true, false, true}, {false, false, true}});
    b.add("where", [cond](V x) { return where(constant(cond), x[0], x[1]); },
          {uniform({2, 3}, -2, 2, b.next()), uniform({3}, -2, 2, b.next())});
    b.add("where_scalar_branch", [cond](V x) { return where(constant(cond), x[0], x[1]); },
          {uniform({}, -2, 2, b.next()), uniform({2, 3}, -2, 2, b.next())});
    b.add("where_broadcast", [](V x) {
      return where(constant(Array::from({{true}, {false}, {true}})), x[0], x[1]);  // [3,1] [1,4] [4]
    }, {uniform({1, 4}, -2, 2, b.next()), uniform({4}, -2, 2, b.next())});
    b.add("where_computed_cond", [](V x) { return where(x[0] > 0.0, sin(x[0]), x[0] * x[0]); },
          {signed_uniform({2, 3}, 0.2, 2, b.next())});
    // x below lo, inside, above hi, per column; lo a vector, hi a scalar.
    b.add("clip", [](V x) { return clip(x[0], x[1], x[2]); },
          {from({{-1.5, -0.25, 0.1}, {0.45, 0.9, 2.0}}), from({-0.5, -0.3, 0.2}), Array::scalar(0.7, f64)});
    b.add("clip_const_bounds", [](V x) { return clip(x[0], -0.5, 0.5); }, {from({-1.0, -0.2, 0.3, 0.9})});
    b.add("clip_lo_above_hi", [](V x) { return clip(x[0], x[1], x[2]); },
          {from({-1.0, 0.7, 2.0}), from({1.0}), from({0.5})});

    // ---- reductions ----
    Shape s3{2, 3, 4};
    using Ax = std::vector<std::int64_t>;
    const std::vector<std::pair<Ax, bool>> axes_sets = {{{}, false}, {{0}, false}, {{1, 2}, true}, {{-1}, false},
                                                        {{0, 2}, true}};
    auto axes_name = [](const Ax& a, bool all, bool keep) {
      std::string r = all ? "all" : "ax";
      for (auto v : a) r += v < 0 ? "m" + std::to_string(-v) : std::to_string(v);
      return r + (keep ? "_keep" : "");
    };
    auto reduction = [&](const std::string& name, auto f, std::function<Array()> point) {
      b.add(name + "_all", [f](V x) { return f(x[0], Axes{}, false); }, {point()});
      for (auto& [ax, keep] : axes_sets) {
        Ax a = ax;
        bool k = keep;
        b.add(name + "_" + axes_name(ax, false, keep), [f, a, k](V x) { return f(x[0], Axes(a), k); }, {point()});
      }
    };
    auto sym = [&] { return uniform(s3, -2, 2, b.next()); };
    reduction("sum", [](const Tensor& x, const Axes& a, bool k) { return sum(x, a, k); }, sym);
    reduction("mean", [](const Tensor& x, const Axes& a, bool k) { return mean(x, a, k); }, sym);
    reduction("prod", [](const Tensor& x, const Axes& a, bool k) { return prod(x, a, k); },
              [&] { return signed_uniform(s3, 0.6, 1.4, b.next()); });
    reduction("max", [](const Tensor& x, const Axes& a, bool k) { return max(x, a, k); }, [&] { return distinct(s3, b.next()); });
    reduction("min", [](const Tensor& x, const Axes& a, bool k) { return min(x, a, k); }, [&] { return distinct(s3, b.next()); });
    reduction("logsumexp", [](const Tensor& x, const Axes& a, bool k) { return logsumexp(x, a, k); }, sym);
    // var/std over nothing (axes = []) are 0 (or 0/0): no derivative there.
    for (int ddof : {0, 1}) {
      std::string d = "_ddof" + std::to_string(ddof);
      for (auto& [ax, keep] : axes_sets) {
        if (ax.empty()) continue;
        Ax a = ax;
        bool k = keep;
        b.add("var" + d + "_" + axes_name(ax, false, keep), [a, k, ddof](V x) { return var(x[0], Axes(a), k, ddof); }, {sym()});
        b.add("std" + d + "_" + axes_name(ax, false, keep), [a, k, ddof](V x) { return kiln::std(x[0], Axes(a), k, ddof); }, {sym()});
      }
      b.add("var" + d + "_all", [ddof](V x) { return var(x[0], Axes{}, false, ddof); }, {sym()});
      b.add("std" + d + "_all", [ddof](V x) { return kiln::std(x[0], Axes{}, false, ddof); }, {sym()});
    }
    // prod with zeros: one zero in a reduced row, two zeros in another.
    Array zeros1 = from({{0.5, 0.0, -1.5, 2.0}, {1.5, -0.5, 0.7, 1.2}, {0.0, 0.9, 0.0, 1.1}});
    b.add("prod_zeros_axis1", [](V x) { return prod(x[0], 1); }, {zeros1});
    b.add("prod_zeros_axis0_keep", [](V x) { return prod(x[0], 0, true); }, {zeros1});
    b.add("prod_zeros_all", [](V x) { return prod(x[0]); }, {from({0.5, 0.0, -1.5, 2.0})});
    b.add("prod_two_zeros_all", [](V x) { return prod(x[0]); }, {from({0.5, 0.0, -1.5, 0.0})});
    for (std::int64_t axis : {0, 1}) {
      b.add("softmax_axis" + std::to_string(axis), [axis](V x) { return softmax(x[0], axis); },
            {uniform({3, 4}, -2, 2, b.next())});
      b.add("log_softmax_axis" + std::to_string(axis), [axis](V x) { return log_softmax(x[0], axis); },
            {uniform({3, 4}, -2, 2, b.next())});
    }
    b.add("softmax_size1", [](V x) { return softmax(x[0], -1); }, {uniform({2, 1}, -2, 2, b.next())});

    // ---- linear algebra, every NumPy form ----
    auto mm = [&](const std::string& name, Shape sa, Shape sb) {
      b.add("matmul_" + name, [](V x) { return matmul(x[0], x[1]); },
            {uniform(sa, -1.5, 1.5, b.next()), uniform(sb, -1.5, 1.5, b.next())});
    };
    mm("2d_2d", {2, 3}, {3, 4});
    mm("1d_2d", {3}, {3, 4});
    mm("2d_1d", {2, 3}, {3});
    mm("1d_1d", {4}, {4});
    mm("batched", {2, 3, 4}, {2, 4, 2});
    mm("batched_broadcast", {2, 1, 3, 4}, {5, 4, 2});
    mm("1d_batched", {3}, {2, 3, 2});
    mm("size1", {1, 3}, {3, 1});
    b.add("matmul_same_operand", [](V x) { return matmul(x[0], transpose(x[0])); }, {uniform({2, 3}, -1, 1, b.next())});
    b.add("dot_2d", [](V x) { return dot(x[0], x[1]); }, {uniform({2, 3}, -1, 1, b.next()), uniform({3, 2}, -1, 1, b.next())});
    b.add("dot_3d_1d", [](V x) { return dot(x[0], x[1]); }, {uniform({2, 2, 3}, -1, 1, b.next()), uniform({3}, -1, 1, b.next())});
    b.add("dot_3d_3d", [](V x) { return dot(x[0], x[1]); }, {uniform({2, 1, 3}, -1, 1, b.next()), uniform({2, 3, 2}, -1, 1, b.next())});
    b.add("outer", [](V x) { return outer(x[0], x[1]); }, {uniform({3}, -1, 1, b.next()), uniform({2, 2}, -1, 1, b.next())});
    b.add("tensordot_n2", [](V x) { return tensordot(x[0], x[1], 2); },
          {uniform({2, 3, 4}, -1, 1, b.next()), uniform({3, 4, 2}, -1, 1, b.next())});
    b.add("tensordot_n0", [](V x) { return tensordot(x[0], x[1], 0); }, {uniform({2}, -1, 1, b.next()), uniform({3}, -1, 1, b.next())});
    b.add("tensordot_axes", [](V x) { return tensordot(x[0], x[1], {0, 2}, {1, 0}); },
          {uniform({2, 3, 4}, -1, 1, b.next()), uniform({4, 2, 3}, -1, 1, b.next())});
    b.add("tensordot_axes_1", [](V x) { return tensordot(x[0], x[1], {1}, {0}); },
          {uniform({2, 3}, -1, 1, b.next()), uniform({3, 2, 2}, -1, 1, b.next())});

    // ---- shapes ----
    b.add("reshape", [](V x) { return reshape(x[0], {3, 2}) * C(from({1.0, 2.0}), x[0]); }, {uniform({2, 3}, -1, 1, b.next())});
    b.add("reshape_infer", [](V x) { return reshape(x[0], {-1}); }, {uniform({2, 1, 3}, -1, 1, b.next())});
    b.add("transpose", [](V x) { return transpose(x[0], {2, 0, 1}) * C(from({1.0, -2.0, 3.0}), x[0]); },
          {uniform({2, 3, 4}, -1, 1, b.next())});
    b.add("transpose_default", [](V x) { return transpose(x[0]); }, {uniform({2, 3}, -1, 1, b.next())});
    b.add("expand_dims", [](V x) { return expand_dims(x[0], {0, 2}) * C(uniform({3, 2, 1, 3}, -1, 1, 99), x[0]); },
          {uniform({2, 3}, -1, 1, b.next())});
    b.add("squeeze", [](V x) { return squeeze(x[0]); }, {uniform({2, 1, 3, 1}, -1, 1, b.next())});
    b.add("squeeze_axis", [](V x) { return squeeze(x[0], 1); }, {uniform({2, 1, 1}, -1, 1, b.next())});
    b.add("broadcast_to", [](V x) { return broadcast_to(x[0], {2, 3}); }, {uniform({3}, -1, 1, b.next())});
    b.add("broadcast_to_size1", [](V x) { return broadcast_to(x[0], {4, 2, 3}); }, {uniform({1, 3}, -1, 1, b.next())});
    b.add("flip", [](V x) { return flip(x[0], 0) * C(uniform({3, 2}, -1, 1, 98), x[0]); }, {uniform({3, 2}, -1, 1, b.next())});
    b.add("flip_all", [](V x) { return flip(x[0]) * C(uniform({3, 2}, -1, 1, 97), x[0]); }, {uniform({3, 2}, -1, 1, b.next())});
    b.add("concatenate_axis0", [](V x) { return concatenate({x[0], x[1], x[0]}, 0); },
          {uniform({2, 3}, -1, 1, b.next()), uniform({1, 3}, -1, 1, b.next())});
    b.add("concatenate_axis1", [](V x) { return concatenate({x[0], sin(x[1])}, 1); },
          {uniform({2, 3}, -1, 1, b.next()), uniform({2, 2}, -1, 1, b.next())});
    b.add("stack", [](V x) { return stack({x[0], x[1] * x[0]}, 1); },
          {uniform({2, 3}, -1, 1, b.next()), uniform({2, 3}, -1, 1, b.next())});
    b.add("split_sections", [](V x) {
      auto p = split(x[0], 3, 1);
      return p[0] * sin(p[1]) + p[2];
    }, {uniform({2, 6}, -1, 1, b.next())});
    b.add("split_indices", [](V x) {
      auto p = split(x[0], std::vector<std::int64_t>{1, 3}, 0);
      return concatenate({exp(p[2]), p[0]}, 0) * C(from({1.0, 2.0, 3.0}), x[0]);
    }, {uniform({4, 3}, -1, 1, b.next())});
    b.add("slice", [](V x) { return slice(x[0], {Slice{1, 4}, Slice{{}, {}, 2}}); }, {uniform({5, 3}, -1, 1, b.next())});
    b.add("slice_negative_steps", [](V x) { return slice(x[0], {Slice{4, 0, -2}, Slice{{}, {}, -1}}); },
          {uniform({5, 3}, -1, 1, b.next())});
    b.add("slice_negative_bounds", [](V x) { return slice(x[0], {Slice{-100, -1, 3}}); }, {uniform({7}, -1, 1, b.next())});
    b.add("index_int", [](V x) { return x[0][1] * x[0][-1]; }, {uniform({3, 2}, -1, 1, b.next())});
    b.add("index_mixed", [](V x) { return x[0][{Slice{}, 2}] + x[0][{Slice{{}, {}, -1}, 0}]; }, {uniform({3, 4}, -1, 1, b.next())});
    b.add("take_repeated", [](V x) { return take(x[0], I({2, 0, 2, 2}), 0); }, {uniform({3, 2}, -1, 1, b.next())});
    b.add("take_axis1_negative", [](V x) { return take(x[0], I({-1, 1, -1}), 1); }, {uniform({2, 3}, -1, 1, b.next())});
    b.add("take_2d_index", [](V x) {
      return take(x[0], constant(Array::from({{1, 0}, {1, 1}})), 0);
    }, {uniform({3, 2}, -1, 1, b.next())});
    b.add("take_scalar_index", [](V x) { return take(x[0], constant(Array::scalar(1, i64)), 1); }, {uniform({2, 3}, -1, 1, b.next())});
    b.add("gather_index_tensor", [](V x) { return x[0][{Slice{}, I({3, 3, 0})}]; }, {uniform({2, 4}, -1, 1, b.next())});
    b.add("set_subtensor_slice", [](V x) { return set_subtensor(x[0][{Slice{1, 3}}], x[1]) * x[0]; },
          {uniform({4, 3}, -1, 1, b.next()), uniform({2, 3}, -1, 1, b.next())});
    b.add("set_subtensor_broadcast", [](V x) { return set_subtensor(x[0][{Slice{{}, {}, -2}, Slice{1, 3}}], x[1]); },
          {uniform({4, 3}, -1, 1, b.next()), uniform({2}, -1, 1, b.next())});
    b.add("set_subtensor_int", [](V x) { return set_subtensor(x[0][1], x[1]); },
          {uniform({3, 2}, -1, 1, b.next()), uniform({2}, -1, 1, b.next())});
    b.add("inc_subtensor_slice", [](V x) { return inc_subtensor(x[0][{Slice{1, 3}}], x[1]) * x[0]; },
          {uniform({4, 3}, -1, 1, b.next()), uniform({1, 3}, -1, 1, b.next())});
    b.add("set_subtensor_take", [](V x) { return set_subtensor(take(x[0], I({2, 0}), 0), x[1]); },
          {uniform({3, 2}, -1, 1, b.next()), uniform({2, 2}, -1, 1, b.next())});
    // Repeated indices: the last write wins, so the first y row has no influence.
    b.add("set_subtensor_take_repeated", [](V x) { return set_subtensor(take(x[0], I({1, 0, 1}), 0), x[1]); },
          {uniform({3, 2}, -1, 1, b.next()), uniform({3, 2}, -1, 1, b.next())});
    b.add("set_subtensor_take_axis1_broadcast", [](V x) { return set_subtensor(x[0][{Slice{}, I({2, 2})}], x[1]); },
          {uniform({2, 3}, -1, 1, b.next()), uniform({2}, -1, 1, b.next())});
    b.add("inc_subtensor_take_repeated", [](V x) { return inc_subtensor(take(x[0], I({1, 0, 1}), 0), x[1]) * x[0]; },
          {uniform({3, 2}, -1, 1, b.next()), uniform({3, 2}, -1, 1, b.next())});
    b.add("inc_subtensor_take_broadcast", [](V x) { return inc_subtensor(x[0][{Slice{}, I({0, 2, 0})}], x[1]); },
          {uniform({2, 3}, -1, 1, b.next()), uniform({}, -1, 1, b.next())});
    // The ops that gradients themselves build, applied directly.
    b.add("unconcat", [](V x) {
      Tensor p0 = zeros({2, 3}, x[0].dtype()), p1 = zeros({3, 3}, x[0].dtype());
      return sin(raw(ir::OpCode::Unconcat, {x[0].node(), p0.node(), p1.node()},
                     ir::Attrs{{"axis", std::int64_t(0)}, {"index", std::int64_t(1)}}));
    }, {uniform({5, 3}, -1, 1, b.next())});
    b.add("unconcat_second_derivative", [](V x) {  // d/dx of a concatenation builds Unconcat
      Tensor c = concatenate({sin(x[0]), x[1] * x[0]}, 0);
      Tensor w = C(uniform({3, 2}, -1, 1, 96), x[0]);
      auto g = grad(sum(w * c * c), {x[0], x[1]});
      return concatenate({g[0], g[1]}, 0);
    }, {uniform({1, 2}, -1, 1, b.next()), uniform({2, 2}, -1, 1, b.next())});
    b.add("reshape_like", [](V x) {
      return raw(ir::OpCode::ReshapeLike, {x[0].node(), zeros({3, 2}, x[0].dtype()).node()}) * x[1];
    }, {uniform({2, 3}, -1, 1, b.next()), uniform({3, 2}, -1, 1, b.next())});
    b.add("broadcast_like", [](V x) {  // the reference operand gets no gradient
      return raw(ir::OpCode::BroadcastLike, {x[0].node(), x[1].node()});
    }, {uniform({1, 3}, -1, 1, b.next()), uniform({2, 3}, -1, 1, b.next())});
    b.add("fill_like", [](V x) {
      return raw(ir::OpCode::FillLike, {x[0].node()}, ir::Attrs{{"value", 2.0}, {"dtype", x[0].dtype()}}) * x[0];
    }, {uniform({2, 2}, -1, 1, b.next())});

    // ---- integer and bool paths carry nothing; the float path still does ----
    b.add("int_paths", [](V x) {
      Tensor i = cast(x[0] * 3.0, i32);
      Tensor mask = logical_and(x[0] > 0.0, logical_not(isnan(x[0])));
      return where(mask, x[0], -x[0]) * cast(i, x[0].dtype()) + take(x[0], argmax(x[0]), 0);
    }, {from({-1.1, 0.5, 0.8, -0.2})});
    return b.cases;
  }();
  return all;
}

}  // namespace kiln::grad_test
