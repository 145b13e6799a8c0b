// Forward mode (Rop, passes/jvp_rules.cpp) and vector-Jacobian products
// (Lop) against independent references:
//   - every case of grad_cases.cpp: Rop along a random direction t equals the
//     central finite difference of fn along t, the adjoint identity
//     <J t, c> = <t, J^T c> ties Rop to Lop, and both equal J t and J^T c
//     for the Jacobians built with jacobian();
//   - a set of functions whose full Jacobians are built with jacobian(): Rop
//     is J t, Lop is J^T c, for every wrt.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "grad_cases.hpp"

namespace kiln::grad_test {
namespace {

using V = const std::vector<Tensor>&;

std::vector<Tensor> inputs_like(const std::vector<Array>& points) {
  std::vector<Tensor> xs;
  for (std::size_t i = 0; i < points.size(); ++i) {
    std::vector<DimSpec> shape(points[i].shape().begin(), points[i].shape().end());
    xs.push_back(tensor("x" + std::to_string(i), points[i].dtype(), shape));
  }
  return xs;
}

double dot(const Array& a, const Array& b) {
  std::vector<double> x = a.to_doubles(), y = b.to_doubles();
  EXPECT_EQ(x.size(), y.size());
  double s = 0;
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) s += x[i] * y[i];
  return s;
}

// points + h * dirs, elementwise.
std::vector<Array> step(const std::vector<Array>& points, const std::vector<Array>& dirs, double h) {
  std::vector<Array> r;
  for (std::size_t i = 0; i < points.size(); ++i) {
    std::vector<double> p = points[i].to_doubles(), d = dirs[i].to_doubles();
    for (std::size_t k = 0; k < p.size(); ++k) p[k] += h * d[k];
    r.push_back(Array::from_doubles(p, points[i].shape(), f64));
  }
  return r;
}

class RopLop : public ::testing::TestWithParam<std::size_t> {};

TEST_P(RopLop, RopMatchesFiniteDifferencesAndLopIsItsAdjoint) {
  const GradCase& c = grad_cases()[GetParam()];
  std::vector<Tensor> xs = inputs_like(c.points);
  Tensor out = c.fn(xs);
  std::vector<Array> dirs;
  std::vector<Tensor> ts;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    dirs.push_back(uniform(c.points[i].shape(), -1, 1, 300 + i));
    ts.push_back(constant(dirs.back()));
  }
  Array cot = uniform(out.shape(), -1, 1, 400);
  Tensor r = Rop({out}, xs, ts)[0];
  std::vector<Tensor> l = Lop({out}, xs, {constant(cot)});
  ASSERT_EQ(r.shape(), out.shape());
  for (std::size_t i = 0; i < xs.size(); ++i) ASSERT_EQ(l[i].shape(), xs[i].shape());

  std::vector<Tensor> outs{r};
  outs.insert(outs.end(), l.begin(), l.end());
  std::vector<Array> got = function(xs, outs)(c.points);
  Function f = function(xs, {out});
  double h = c.f64_options.eps > 0 ? c.f64_options.eps : 1e-6;
  double rel = c.f64_options.rel_tol > 0 ? c.f64_options.rel_tol : 1e-6;
  std::vector<double> fp = f(step(c.points, dirs, h))[0].to_doubles(), fm = f(step(c.points, dirs, -h))[0].to_doubles();
  std::vector<double> jt = got[0].to_doubles();
  for (std::size_t k = 0; k < jt.size() && c.joint_steps; ++k) {
    double numeric = (fp[k] - fm[k]) / (2 * h);
    EXPECT_NEAR(jt[k], numeric, 1e-8 + rel * std::max(std::fabs(jt[k]), std::fabs(numeric)))
        << c.name << ": element " << k << " of Rop";
  }
  // <J t, c> = sum_i <t_i, J_i^T c>
  double lhs = dot(got[0], cot), rhs = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) rhs += dot(dirs[i], got[1 + i]);
  double adjoint_tol = c.f64_options.rel_tol > 0 ? c.f64_options.rel_tol : 1e-10;  // f32 inside: looser
  EXPECT_NEAR(lhs, rhs, adjoint_tol * (1 + std::fabs(lhs))) << c.name << ": <J t, c> != <t, J^T c>";

  // And both against the explicit Jacobians: Rop = sum_i J_i t_i, Lop_i = J_i^T c.
  std::vector<Tensor> jacs;
  for (const Tensor& x : xs) jacs.push_back(jacobian(out, x));
  std::vector<Array> j = function(xs, jacs)(c.points);
  std::int64_t m = static_cast<std::int64_t>(jt.size());
  std::vector<double> j_t(m, 0.0), cv = cot.to_doubles();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    std::vector<double> ji = j[i].to_doubles(), t = dirs[i].to_doubles(), lop = got[1 + i].to_doubles();
    std::int64_t n = static_cast<std::int64_t>(t.size());
    ASSERT_EQ(static_cast<std::int64_t>(ji.size()), m * n);
    for (std::int64_t k = 0; k < n; ++k) {
      double jtc = 0;
      for (std::int64_t r = 0; r < m; ++r) {
        j_t[r] += ji[r * n + k] * t[k];
        jtc += ji[r * n + k] * cv[r];
      }
      EXPECT_NEAR(lop[k], jtc, adjoint_tol * (1 + std::fabs(jtc))) << c.name << ": Lop wrt input " << i << ", element " << k;
    }
  }
  for (std::int64_t r = 0; r < m; ++r)
    EXPECT_NEAR(jt[r], j_t[r], adjoint_tol * (1 + std::fabs(j_t[r]))) << c.name << ": Rop element " << r << " vs J t";
}

INSTANTIATE_TEST_SUITE_P(Ops, RopLop, ::testing::Range<std::size_t>(0, grad_cases().size()),
                         [](const auto& info) { return grad_cases()[info.param].name; });

// ---- against explicit Jacobians ----

struct JacobianCase {
  std::string name;
  Fn fn;
  std::vector<Array> points;
};

std::vector<JacobianCase> jacobian_cases() {
  Array m34 = uniform({3, 4}, -1, 1, 11), v4 = uniform({4}, -1, 1, 12), m23 = uniform({2, 3}, -1, 1, 13);
  return {
      {"elementwise", [](V x) { return sin(x[0]) * x[1] + exp(x[1]); }, {uniform({2, 3}, -1, 1, 1), uniform({3}, -1, 1, 2)}},
      {"matmul", [](V x) { return matmul(x[0], x[1]); }, {m23, m34}},
      {"matvec", [](V x) { return matmul(x[0], x[1]); }, {m34, v4}},
      {"softmax", [](V x) { return softmax(x[0], 0); }, {m34}},
      {"log_softmax", [](V x) { return log_softmax(x[0]); }, {m23}},
      {"sum_axis", [](V x) { return sum(x[0] * x[0], 1); }, {m34}},
      {"prod_axis", [](V x) { return prod(x[0], 0, true); }, {m34}},
      {"prod_with_zero", [](V x) { return prod(x[0]); }, {Array::from({0.5, 0.0, 2.0, -1.5})}},
      {"max_axis", [](V x) { return max(x[0], 1); }, {distinct({3, 4}, 5)}},
      {"min_all", [](V x) { return min(x[0]); }, {distinct({2, 3}, 6)}},
      {"mean_var", [](V x) { return mean(x[0], 0) + var(x[0], 0, false, 1); }, {m34}},
      {"slicing", [](V x) { return slice(x[0], {Slice{{}, {}, -2}, Slice{1, 3}}); }, {m34}},
      {"concatenate", [](V x) { return concatenate({x[0], cos(x[1])}, 0); }, {m23, uniform({1, 3}, -1, 1, 3)}},
      {"where", [](V x) { return where(x[0] > 0.0, x[0] * x[1], x[1]); }, {m23, uniform({2, 3}, -1, 1, 4)}},
      {"pow", [](V x) { return pow(x[0], x[1]); }, {uniform({2, 2}, 0.5, 2, 7), uniform({2}, -1, 2, 8)}},
      {"pow_at_zero", [](V x) { return pow(x[0], 3); }, {Array::from({0.0, -1.5, 2.0})}},
      {"clip", [](V x) { return clip(x[0], -0.5, 0.5); }, {Array::from({-1.0, -0.2, 0.3, 0.9})}},
      {"set_take", [](V x) { return set_subtensor(take(x[0], constant(Array::from({1, 0, 1})), 0), x[1]); },
       {m23, uniform({3, 3}, -1, 1, 9)}},
      {"inc_take", [](V x) { return inc_subtensor(take(x[0], constant(Array::from({1, 1})), 1), x[1]); },
       {m23, uniform({2, 2}, -1, 1, 10)}},
      {"set_slice", [](V x) { return set_subtensor(x[0][{Slice{1, 3}}], x[1]); }, {m34, v4}},
      {"matmul_batched", [](V x) { return matmul(x[0], x[1]); }, {uniform({2, 1, 2, 3}, -1, 1, 14), uniform({2, 3, 2}, -1, 1, 15)}},
  };
}

class ExplicitJacobian : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ExplicitJacobian, RopIsJtAndLopIsJTransposeC) {
  JacobianCase jc = jacobian_cases()[GetParam()];
  std::vector<Tensor> xs = inputs_like(jc.points);
  Tensor out = jc.fn(xs);
  std::int64_t m = shape_size(out.shape());
  std::vector<Array> dirs;
  std::vector<Tensor> ts, jacs;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    dirs.push_back(uniform(jc.points[i].shape(), -1, 1, 30 + i));
    ts.push_back(constant(dirs.back()));
    Tensor j = jacobian(out, xs[i]);
    std::vector<std::int64_t> want = out.shape();
    for (auto d : xs[i].shape()) want.push_back(d);
    ASSERT_EQ(j.shape(), want) << "jacobian's shape is expr.shape + wrt.shape";
    jacs.push_back(j);
  }
  Array cot = uniform(out.shape(), -1, 1, 40);
  std::vector<Tensor> outs = jacs;
  outs.push_back(Rop({out}, xs, ts)[0]);
  for (const Tensor& l : Lop({out}, xs, {constant(cot)})) outs.push_back(l);
  std::vector<Array> got = function(xs, outs)(jc.points);
  std::size_t nx = xs.size();

  // J t, summed over the wrt entries, and J_i^T c for each.
  std::vector<double> jt(m, 0.0), c = cot.to_doubles();
  for (std::size_t i = 0; i < nx; ++i) {
    std::vector<double> j = got[i].to_doubles(), t = dirs[i].to_doubles(), jtc(t.size(), 0.0);
    std::int64_t n = static_cast<std::int64_t>(t.size());
    for (std::int64_t r = 0; r < m; ++r)
      for (std::int64_t k = 0; k < n; ++k) {
        jt[r] += j[r * n + k] * t[k];
        jtc[k] += j[r * n + k] * c[r];
      }
    std::vector<double> lop = got[nx + 1 + i].to_doubles();
    for (std::int64_t k = 0; k < n; ++k)
      EXPECT_NEAR(lop[k], jtc[k], 1e-12 * (1 + std::fabs(jtc[k]))) << "Lop wrt input " << i << ", element " << k;
  }
  std::vector<double> rop = got[nx].to_doubles();
  for (std::int64_t r = 0; r < m; ++r) EXPECT_NEAR(rop[r], jt[r], 1e-12 * (1 + std::fabs(jt[r]))) << "Rop element " << r;
  double lhs = 0, rhs = 0;
  for (std::int64_t r = 0; r < m; ++r) lhs += rop[r] * c[r];
  for (std::size_t i = 0; i < nx; ++i) rhs += dot(dirs[i], got[nx + 1 + i]);
  EXPECT_NEAR(lhs, rhs, 1e-12 * (1 + std::fabs(lhs)));
}

INSTANTIATE_TEST_SUITE_P(Functions, ExplicitJacobian, ::testing::Range<std::size_t>(0, jacobian_cases().size()),
                         [](const auto& info) { return jacobian_cases()[info.param].name; });

// The Jacobian itself against hand-derived values: d softmax_i / d x_j = p_i (delta_ij - p_j).
TEST(Jacobian, SoftmaxClosedForm) {
  Tensor x3 = tensor("x", f64, {3});
  Array p = Array::from({0.2, -1.0, 0.7});
  Array j = function({x3}, {jacobian(softmax(x3), x3)})(p)[0];
  ASSERT_EQ(j.shape(), (Shape{3, 3}));
  std::vector<double> e = {std::exp(0.2), std::exp(-1.0), std::exp(0.7)};
  double s = e[0] + e[1] + e[2];
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) {
      double pr = e[r] / s, pk = e[k] / s;
      EXPECT_NEAR(j.get({r, k}), pr * ((r == k) - pk), 1e-14);
    }
}

TEST(Jacobian, OfAMatrixExpressionHasShapeExprPlusWrt) {
  Tensor x = tensor("x", f64, {2, 3});
  Array a = uniform({2, 3}, -1, 1, 3);
  Array j = function({x}, {jacobian(x * x, x)})(a)[0];
  ASSERT_EQ(j.shape(), (Shape{2, 3, 2, 3}));
  for (std::int64_t r = 0; r < 2; ++r)
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t r2 = 0; r2 < 2; ++r2)
        for (std::int64_t c2 = 0; c2 < 3; ++c2)
          EXPECT_DOUBLE_EQ(j.get({r, c, r2, c2}), (r == r2 && c == c2) ? 2 * a.get({r, c}) : 0.0);
}

}  // namespace
}  // namespace kiln::grad_test
