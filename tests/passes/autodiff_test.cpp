// Symbolic differentiation (passes/autodiff, include/kiln/grad.hpp) against
// values derived by hand: the documented conventions at kinks and ties
// (docs/gradients.md), closed-form second derivatives and Hessians, the
// options of grad(), integer paths, and the errors. The op-by-op finite
// difference sweep is in grad_ops_test.cpp; forward mode in rop_lop_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <kiln/kiln.hpp>

#include "kiln_test_util.hpp"

namespace {

using namespace kiln;
using kiln_test::error_of;
using ::testing::HasSubstr;
using ::testing::Not;

const GradOptions kIgnore{.disconnected_inputs = DisconnectedInputs::Ignore};

std::vector<Array> run(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                       const std::vector<Array>& args) {
  return function(inputs, outputs)(args);
}

void expect_values(const Array& got, const std::vector<double>& want, double tol = 1e-12) {
  std::vector<double> v = got.to_doubles();
  ASSERT_EQ(v.size(), want.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isinf(want[i]))
      EXPECT_EQ(v[i], want[i]) << "element " << i;
    else
      EXPECT_NEAR(v[i], want[i], tol * (1 + std::fabs(want[i]))) << "element " << i;
  }
}

// d sum(expr(x)) / dx at a point.
Array grad_at(const Tensor& x, const Tensor& cost, const Array& at) { return run({x}, {grad(cost, x)}, {at})[0]; }

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

// ---- conventions at ties and kinks ----

TEST(GradConventions, MaxAndMinSplitTiesEqually) {
  Tensor x = tensor("x", f64, {4});
  expect_values(grad_at(x, max(x), Array::from({1.0, 3.0, 3.0, 2.0})), {0, 0.5, 0.5, 0});
  expect_values(grad_at(x, min(x), Array::from({1.0, 1.0, 2.0, 1.0})), {1. / 3, 1. / 3, 0, 1. / 3});
  // Per row, with keepdims, the rows weighted 1 and 2.
  Tensor m = tensor("m", f64, {2, 3});
  Tensor cost = sum(max(m, 1, true) * constant(Array::from({{1.0}, {2.0}})));
  expect_values(grad_at(m, cost, Array::from({{2.0, 5.0, 5.0}, {4.0, 4.0, 4.0}})), {0, 0.5, 0.5, 2. / 3, 2. / 3, 2. / 3});
  // Over axes 0 and 2: the slice j = 0 has two tied minima, j = 1 one.
  Tensor t = tensor("t", f64, {2, 2, 2});
  Array at = Array::from({{{0.0, 3.0}, {0.0, 5.0}}, {{7.0, 0.0}, {1.0, 2.0}}});
  expect_values(grad_at(t, sum(min(t, Axes{0, 2})), at), {0.5, 0, 1, 0, 0, 0.5, 0, 0});
}

TEST(GradConventions, MaximumAndMinimumSplitTiesEqually) {
  Tensor a = tensor("a", f64, {3}), b = tensor("b", f64, {3});
  Array av = Array::from({1.0, 2.0, 3.0}), bv = Array::from({1.0, 5.0, 0.0});
  auto g = run({a, b}, grad(sum(maximum(a, b)), {a, b}), {av, bv});
  expect_values(g[0], {0.5, 0, 1});
  expect_values(g[1], {0.5, 1, 0});
  g = run({a, b}, grad(sum(minimum(a, b)), {a, b}), {av, bv});
  expect_values(g[0], {0.5, 1, 0});
  expect_values(g[1], {0.5, 0, 1});
  // relu is maximum(x, 0): the tie at 0 gives 1/2.
  expect_values(grad_at(a, sum(relu(a)), Array::from({-1.0, 0.0, 2.0})), {0, 0.5, 1});
}

TEST(GradConventions, AbsAndSignAtZero) {
  Tensor x = tensor("x", f64, {3});
  Array at = Array::from({-2.0, 0.0, 3.0});
  expect_values(grad_at(x, sum(abs(x)), at), {-1, 0, 1});
  expect_values(run({x}, {grad(sum(sign(x) * 5.0 + x), x)}, {at})[0], {1, 1, 1});  // sign is flat
  expect_values(grad_at(x, sum(floor(x) + round(x) + ceil(x) + trunc(x) + x), at), {1, 1, 1});
}

TEST(GradConventions, ClipSendsTheGradientToTheActiveBound) {
  Tensor x = tensor("x", f64, {5}), lo = scalar("lo"), hi = scalar("hi");
  // x below lo, at lo, inside, at hi, above hi: the bounds themselves go to x.
  Array xv = Array::from({-1.0, -0.5, 0.2, 0.5, 2.0});
  auto g = run({x, lo, hi}, grad(sum(clip(x, lo, hi) * constant(Array::from({1.0, 2.0, 3.0, 4.0, 5.0}))), {x, lo, hi}),
               {xv, Array::scalar(-0.5, f64), Array::scalar(0.5, f64)});
  expect_values(g[0], {0, 2, 3, 4, 0});
  expect_values(g[1], {1});
  expect_values(g[2], {5});
  // lo > hi: the result is hi everywhere, so is the gradient.
  g = run({x, lo, hi}, grad(sum(clip(x, lo, hi)), {x, lo, hi}), {xv, Array::scalar(1.0, f64), Array::scalar(0.0, f64)});
  expect_values(g[0], {0, 0, 0, 0, 0});
  expect_values(g[1], {0});
  expect_values(g[2], {5});
}

TEST(GradConventions, PowAtZeroAndNegativeBases) {
  Tensor x = tensor("x", f64, {3});
  Array at = Array::from({0.0, -2.0, 1.5});
  expect_values(grad_at(x, sum(pow(x, 0)), at), {0, 0, 0});
  expect_values(grad_at(x, sum(pow(x, 1)), at), {1, 1, 1});
  expect_values(grad_at(x, sum(pow(x, 2)), at), {0, -4, 3});
  expect_values(grad_at(x, sum(pow(x, 3)), at), {0, 12, 6.75});
  Array pos = Array::from({0.0, 0.25, 4.0});
  double inf = std::numeric_limits<double>::infinity();
  expect_values(grad_at(x, sum(pow(x, 0.5)), pos), {inf, 1.0, 0.25});  // infinite, not NaN
  expect_values(grad_at(x, sum(sqrt(x)), pos), {inf, 1.0, 0.25});
  expect_values(grad_at(x, sum(pow(x, -1)), Array::from({-2.0, 0.5, 1.0})), {-0.25, -4, -1});
  // d/db 0^b = 0 for b > 0 (the limit), not 0 * log(0) = NaN.
  Tensor b = tensor("b", f64, {3});
  expect_values(grad_at(b, sum(pow(constant(0.0), b)), Array::from({1.0, 2.0, 0.5})), {0, 0, 0});
  // Second derivatives at 0: 2 for x^2, 0 for x^3, 0 for x^0 (no 0 * inf).
  Tensor d2_0 = grad(sum(grad(sum(pow(x, 0)), x)), x), d2_2 = grad(sum(grad(sum(pow(x, 2)), x)), x);
  Tensor d2_3 = grad(sum(grad(sum(pow(x, 3)), x)), x);
  auto d2 = run({x}, {d2_0, d2_2, d2_3}, {at});
  expect_values(d2[0], {0, 0, 0});
  expect_values(d2[1], {2, 2, 2});
  expect_values(d2[2], {0, -12, 9});
}

TEST(GradConventions, SingularPointsGiveInfinityNotNaN) {
  Tensor x = scalar("x");
  double inf = std::numeric_limits<double>::infinity();
  auto at = [&](const Tensor& y, double v) { return run({x}, {grad(y, x)}, {Array::scalar(v, f64)})[0].item(); };
  EXPECT_EQ(at(log(x), 0), inf);
  EXPECT_EQ(at(sqrt(x), 0), inf);
  EXPECT_EQ(at(rsqrt(x), 0), -inf);
  EXPECT_EQ(at(reciprocal(x), 0), -inf);
  EXPECT_EQ(at(asin(x), 1), inf);
  EXPECT_EQ(at(acos(x), -1), -inf);
  EXPECT_EQ(at(atanh(x), 1), inf);
  EXPECT_EQ(at(acosh(x), 1), inf);
  EXPECT_EQ(at(erfinv(x), -1), inf);
  EXPECT_EQ(at(log1p(x), -1), inf);
}

TEST(GradConventions, ProdWithZeros) {
  Tensor x = tensor("x", f64, {3});
  expect_values(grad_at(x, prod(x), Array::from({2.0, -1.0, 4.0})), {-4, 8, -2});
  expect_values(grad_at(x, prod(x), Array::from({2.0, 0.0, 3.0})), {0, 6, 0});
  expect_values(grad_at(x, prod(x), Array::from({0.0, 0.0, 3.0})), {0, 0, 0});
  Tensor m = tensor("m", f64, {2, 3});
  expect_values(grad_at(m, sum(prod(m, 1)), Array::from({{2.0, 0.0, 3.0}, {1.0, 2.0, 3.0}})), {0, 6, 0, 6, 3, 2});
  // Hessians: d^2 prod / dx_i dx_j = the product of the entries other than i and j.
  Tensor h = hessian(prod(x), x);
  expect_values(run({x}, {h}, {Array::from({2.0, -1.0, 4.0})})[0], {0, 4, -1, 4, 0, 2, -1, 2, 0});
  expect_values(run({x}, {h}, {Array::from({2.0, 0.0, 3.0})})[0], {0, 3, 0, 3, 0, 2, 0, 2, 0});
  expect_values(run({x}, {h}, {Array::from({0.0, 0.0, 3.0})})[0], {0, 3, 0, 3, 0, 0, 0, 0, 0});
  expect_values(run({x}, {h}, {Array::from({0.0, 0.0, 0.0})})[0], {0, 0, 0, 0, 0, 0, 0, 0, 0});
}

TEST(GradConventions, IndexingWithRepeatedIndices) {
  Tensor x = tensor("x", f64, {3}), y = tensor("y", f64, {3});
  Tensor idx = constant(Array::from({1, 1, 2}));
  Tensor w = constant(Array::from({1.0, 2.0, 3.0}));
  Array xv = Array::from({0.5, -1.0, 2.0}), yv = Array::from({4.0, 5.0, 6.0});
  // set: the last write to position 1 stays (y[1]); y[0] is overwritten and gets nothing.
  auto g = run({x, y}, grad(sum(w * set_subtensor(take(x, idx), y)), {x, y}), {xv, yv});
  expect_values(g[0], {1, 0, 0});
  expect_values(g[1], {0, 2, 3});
  // inc: both writes to position 1 count.
  g = run({x, y}, grad(sum(w * inc_subtensor(take(x, idx), y)), {x, y}), {xv, yv});
  expect_values(g[0], {1, 2, 3});
  expect_values(g[1], {2, 2, 3});
  // take: a repeated index gathers the gradient twice.
  expect_values(grad_at(x, sum(take(x, idx) * w), xv), {0, 3, 3});
  // along axis 1, with y broadcast over rows: the winner is the last column write
  Tensor m = tensor("m", f64, {2, 3}), r = tensor("r", f64, {2});
  g = run({m, r}, grad(sum(set_subtensor(m[{Slice{}, constant(Array::from({2, 0, 2}))}], r.reshape({2, 1}) * w)), {m, r}),
          {Array::zeros({2, 3}, f64), Array::from({1.0, 1.0})});
  expect_values(g[0], {0, 1, 0, 0, 1, 0});
  expect_values(g[1], {5, 5});  // w[1] + w[2]: columns 0 and 2 are written by w[1] and w[2]
}

TEST(GradConventions, StopGradientAndIntegerPathsCarryNothing) {
  Tensor x = tensor("x", f64, {3});
  Array at = Array::from({-1.5, 0.5, 2.5});
  expect_values(grad_at(x, sum(stop_gradient(x) * x), at), {-1.5, 0.5, 2.5});
  // x through an i32 cast and a comparison: no gradient from those paths.
  Tensor through_int = cast(cast(x * 2.0, i32), f64);
  expect_values(grad_at(x, sum(through_int * x), at), run({x}, {through_int}, {at})[0].to_doubles());
  expect_values(grad_at(x, sum(where(x > 0.0, x, 3.0 * x)), at), {3, 1, 1});
  expect_values(grad_at(x, take(x, argmax(x)) * 4.0 + sum(cast(x > 1.0, f64)), at), {0, 0, 4});
  // Only an integer/bool path left: the cost does not depend on x through a
  // differentiable path, so x is disconnected.
  for (Tensor cost : {sum(cast(cast(x, i32), f64)), sum(cast(x > 0.0, f64)), sum(stop_gradient(x))}) {
    EXPECT_THAT(error_of([&] { grad(cost, x); }), HasSubstr("does not depend on 'x'"));
    expect_values(run({x}, {grad(cost, x, kIgnore)}, {at})[0], {0, 0, 0});
  }
}

TEST(GradConventions, GradientHasTheWrtsDtypeAndType) {
  Tensor x = tensor("x", f32, {2, -1});
  Tensor cost = sum(cast(x, f64) * 3.0);
  Tensor g = grad(cost, x);
  EXPECT_EQ(g.dtype(), f32);
  EXPECT_EQ(g.type_str(), x.type_str());
  expect_values(run({x}, {g}, {Array::ones({2, 5}, f32)})[0], std::vector<double>(10, 3.0));
  // A static wrt keeps its static dims even when the graph around it has unknown ones.
  Tensor a = tensor("a", f64, {-1, -1}), w = tensor("w", f64, {3});
  std::vector<Tensor> gs = grad(sum(matmul(a, w)), {a, w});
  EXPECT_EQ(gs[0].type_str(), "f64[?,3]");  // what the graph proves: a has 3 columns
  EXPECT_EQ(gs[1].type_str(), "f64[3]");
  EXPECT_EQ(Lop({matmul(a, w)}, {w}, {constant(Array::ones({2}, f64))})[0].type_str(), "f64[3]");
  expect_values(run({a, w}, {gs[1]}, {Array::ones({2, 3}, f64), Array::ones({3}, f64)})[0], {2, 2, 2});
}

TEST(GradConventions, ReductionsOverUnknownSizesCountAtRunTime) {
  Tensor x = tensor("x", f64, {-1, 3});
  Array at = Array::from({{1.0, 2.0, 3.0}, {4.0, 6.0, 8.0}, {1.0, 1.0, 1.0}, {2.0, 3.0, 0.0}});
  Tensor w = constant(Array::from({1.0, 2.0, 3.0}));
  // mean over 4 rows: w / 4
  expect_values(grad_at(x, sum(mean(x, 0) * w), at), {0.25, 0.5, 0.75, 0.25, 0.5, 0.75, 0.25, 0.5, 0.75, 0.25, 0.5, 0.75});
  // var with ddof 1: 2 (x - mean) / (N - 1) per column
  std::vector<double> v = at.to_doubles(), want(12);
  for (int c = 0; c < 3; ++c) {
    double mu = (v[c] + v[3 + c] + v[6 + c] + v[9 + c]) / 4;
    for (int r = 0; r < 4; ++r) want[r * 3 + c] = 2 * (v[r * 3 + c] - mu) / 3;
  }
  expect_values(grad_at(x, sum(var(x, 0, false, 1)), at), want);
}

// ---- second order ----

TEST(GradSecondOrder, SecondDerivativeOfSinIsMinusSin) {
  Tensor x = tensor("x", f64, {4});
  Array at = Array::from({-2.0, 0.0, 0.5, 3.0});
  Tensor d1 = grad(sum(sin(x)), x);
  Tensor d2 = grad(sum(d1), x);
  Tensor d3 = grad(sum(d2), x);
  auto r = run({x}, {d1, d2, d3}, {at});
  std::vector<double> v = at.to_doubles();
  for (std::size_t i = 0; i < v.size(); ++i) {
    EXPECT_NEAR(r[0].to_doubles()[i], std::cos(v[i]), 1e-15);
    EXPECT_NEAR(r[1].to_doubles()[i], -std::sin(v[i]), 1e-15);
    EXPECT_NEAR(r[2].to_doubles()[i], -std::cos(v[i]), 1e-15);
  }
}

TEST(GradSecondOrder, HessianOfQuadraticFormIsAPlusATranspose) {
  Tensor x = tensor("x", f64, {3});
  Array a = Array::from({{1.0, 2.0, -1.0}, {0.5, 3.0, 4.0}, {-2.0, 0.0, 1.5}});
  Tensor h = hessian(dot(x, matmul(constant(a), x)), x);
  ASSERT_EQ(h.shape(), (std::vector<std::int64_t>{3, 3}));
  Array got = run({x}, {h}, {Array::from({0.3, -1.0, 2.0})})[0];
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 3; ++j) EXPECT_DOUBLE_EQ(got.get({i, j}), a.get({i, j}) + a.get({j, i}));
}

TEST(GradSecondOrder, HessianOfLogSigmoidLayer) {
  // sum(log(sigmoid(W x))) w.r.t. x: -W^T diag(s (1 - s)) W with s = sigmoid(W x).
  Tensor x = tensor("x", f64, {2});
  Array w = Array::from({{1.0, -2.0}, {0.5, 0.25}, {-1.5, 3.0}});
  Array xv = Array::from({0.4, -0.3});
  Array got = run({x}, {hessian(sum(log(sigmoid(matmul(constant(w), x)))), x)}, {xv})[0];
  double s[3];
  for (std::int64_t r = 0; r < 3; ++r) {
    double z = w.get({r, 0}) * xv.get({0}) + w.get({r, 1}) * xv.get({1});
    s[r] = 1 / (1 + std::exp(-z));
  }
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 2; ++j) {
      double want = 0;
      for (std::int64_t r = 0; r < 3; ++r) want -= w.get({r, i}) * s[r] * (1 - s[r]) * w.get({r, j});
      EXPECT_NEAR(got.get({i, j}), want, 1e-14);
    }
}

TEST(GradSecondOrder, HessianOfSoftmaxCrossEntropy) {
  // -sum(y log softmax(x)) with sum(y) = 1: the Hessian is diag(p) - p p^T.
  Tensor x = tensor("x", f64, {3});
  Array y = Array::from({0.2, 0.5, 0.3}), xv = Array::from({1.0, -0.5, 0.25});
  Array got = run({x}, {hessian(-sum(constant(y) * log(softmax(x))), x)}, {xv})[0];
  std::vector<double> e = {std::exp(1.0), std::exp(-0.5), std::exp(0.25)};
  double z = e[0] + e[1] + e[2];
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      EXPECT_NEAR(got.get({i, j}), (i == j) * e[i] / z - e[i] * e[j] / (z * z), 1e-14);
}

TEST(GradSecondOrder, HessianOfAMatrixWrt) {
  // sum(X^3) over a [2,2] X: the Hessian is diag(6 X) with shape [2,2,2,2].
  Tensor x = tensor("x", f64, {2, 2});
  Array got = run({x}, {hessian(sum(x * x * x), x)}, {Array::from({{1.0, 2.0}, {-1.0, 0.5}})})[0];
  ASSERT_EQ(got.shape(), (Shape{2, 2, 2, 2}));
  expect_values(got, {6, 0, 0, 0, 0, 12, 0, 0, 0, 0, -6, 0, 0, 0, 0, 3});
}

// ---- the options of grad() ----

TEST(GradOptions, TheDocExample) {  // docs/gradients.md
  Tensor x = matrix("x"), y = vector("y");
  Tensor w = shared(Array::from({0.5, -1.0, 2.0}), "w");
  Tensor loss = mean(square(matmul(x, w) - y));
  Tensor gw = grad(loss, w);
  EXPECT_EQ(gw.type_str(), w.type_str());
  Function step = function({x, y}, {loss}, {.updates = {{w, w - 0.1 * gw}}});
  Tensor v = vector("v");
  Tensor hv = grad(sum(grad(loss, w) * v), w);  // Hessian-vector product: 2/N X^T X v
  Array xv = Array::from({{1.0, 2.0, 0.0}, {0.0, 1.0, -1.0}}), yv = Array::from({1.0, 2.0});
  expect_values(run({x, y, v}, {hv}, {xv, yv, Array::from({1.0, 0.0, 0.0})})[0], {1, 2, 0});
  // loss = ((0.5 - 2) - 1)^2 / 2 + ((-1 - 2) - 2)^2 / 2 = 6.25 / 2 + 25 / 2
  expect_values(step(xv, yv)[0], {(6.25 + 25) / 2});
  // gw = X^T (2 r / N) with r = [-2.5, -5]: [-2.5, -5 - 5, 5]
  expect_values(w.get_value(), {0.5 + 0.25, -1.0 + 1.0, 2.0 - 0.5});
}


TEST(GradOptions, ConsiderConstantStopsTheFlowThroughAnExpression) {
  Tensor x = tensor("x", f64, {3}), y = tensor("y", f64, {3});
  Tensor h = x * x;
  Tensor cost = sum(h * y) + sum(x);
  Array xv = Array::from({1.0, -2.0, 3.0}), yv = Array::from({0.5, 0.25, 2.0});
  auto g = run({x, y}, grad(cost, {x, y}, {.consider_constant = {h}}), {xv, yv});
  expect_values(g[0], {1, 1, 1});         // only the sum(x) term
  expect_values(g[1], {1, 4, 9});         // h itself is still a value
  g = run({x, y}, grad(cost, {x, y}), {xv, yv});
  expect_values(g[0], {2, -0.0, 13});     // 2 x y + 1
}

TEST(GradOptions, KnownGradsStartBackPropagationAtAnIntermediate) {
  Tensor x = tensor("x", f64, {3}), gh = tensor("gh", f64, {2});
  Tensor h = matmul(constant(Array::from({{1.0, 2.0, 0.5}, {-1.0, 0.0, 3.0}})), sin(x));
  Array xv = Array::from({0.3, -1.2, 2.0}), ghv = Array::from({0.7, -0.4});
  Tensor from_known = grad(constant(0.0), x, {.known_grads = {{h, gh}}});
  Tensor lop = Lop({h}, {x}, {gh})[0];
  auto r = run({x, gh}, {from_known, lop}, {xv, ghv});
  expect_values(r[0], r[1].to_doubles());
  // Hand value: J^T gh = cos(x) * (A^T gh).
  std::vector<double> want = {std::cos(0.3) * (0.7 + 0.4), std::cos(-1.2) * (1.4 - 0.0), std::cos(2.0) * (0.35 - 1.2)};
  expect_values(r[0], want);
  // With a cost too, the two contributions add.
  Tensor both = grad(sum(x * x), x, {.known_grads = {{h, gh}}});
  Array b = run({x, gh}, {both}, {xv, ghv})[0];
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(b.to_doubles()[i], want[i] + 2 * xv.to_doubles()[i], 1e-14);
}

TEST(GradOptions, DisconnectedInputsRaiseNamesTheInputAndTheLine) {
  Tensor x = tensor("x", f64, {3}), y = tensor("y", f64, {3});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; grad(sum(x), {x, y}); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: grad:"));
  EXPECT_THAT(m, HasSubstr("'y' (f64[3])"));
  EXPECT_THAT(m, HasSubstr("disconnected"));
}

TEST(GradOptions, DisconnectedInputsWarnGivesZerosAndAWarning) {
  Tensor x = tensor("x", f64, {3}), y = tensor("y", f64, {2});
  testing::internal::CaptureStderr();
  int line = __LINE__; std::vector<Tensor> g = grad(sum(x), {x, y}, {.disconnected_inputs = DisconnectedInputs::Warn});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr(here(line) + ": warning: grad:"));
  EXPECT_THAT(err, HasSubstr("'y' (f64[2])"));
  EXPECT_THAT(err, Not(HasSubstr("'x'")));
  auto r = run({x, y}, g, {Array::ones({3}, f64), Array::ones({2}, f64)});
  expect_values(r[0], {1, 1, 1});
  expect_values(r[1], {0, 0});
}

TEST(GradOptions, DisconnectedInputsIgnoreGivesZerosSilently) {
  Tensor x = tensor("x", f64, {3}), y = tensor("y", f64, {2});
  testing::internal::CaptureStderr();
  std::vector<Tensor> g = grad(sum(x), {x, y}, kIgnore);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  expect_values(run({x, y}, g, {Array::ones({3}, f64), Array::ones({2}, f64)})[1], {0, 0});
}

TEST(GradOptions, GradientWithRespectToASharedVariable) {
  Tensor w = shared(Array::from({1.0, -2.0, 0.5}), "w");
  Tensor x = tensor("x", f64, {3});
  Tensor cost = sum(w * x) + sum(w * w);
  Array g = run({x}, {grad(cost, w)}, {Array::from({3.0, 4.0, 5.0})})[0];
  expect_values(g, {3 + 2, 4 - 4, 5 + 1});
  // A training step through updates moves w by -0.5 * gradient.
  Function step = function({x}, {cost}, {.updates = {{w, w - 0.5 * grad(cost, w)}}});
  step(Array::from({3.0, 4.0, 5.0}));
  expect_values(w.get_value(), {1 - 2.5, -2 - 0.0, 0.5 - 3});
}

TEST(GradOptions, GradientWithRespectToAnIntermediateExpression) {
  Tensor x = tensor("x", f64, {2});
  Tensor h = exp(x);
  Tensor cost = sum(h * h) + sum(x);
  Array xv = Array::from({0.5, -1.0});
  auto g = run({x}, grad(cost, {h, x}), {xv});
  expect_values(g[0], {2 * std::exp(0.5), 2 * std::exp(-1.0)});                   // d cost / d h
  expect_values(g[1], {2 * std::exp(1.0) + 1, 2 * std::exp(-2.0) + 1});           // total, through h
}

// ---- errors ----

TEST(GradErrors, NonScalarCost) {
  Tensor x = tensor("x", f64, {3});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; grad(x * 2.0, x); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: grad:"));
  EXPECT_THAT(m, HasSubstr("scalar"));
  EXPECT_THAT(m, HasSubstr("f64[3]"));
}

TEST(GradErrors, IntegerCost) {
  Tensor x = tensor("x", f64, {3});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; grad(sum(cast(x, i32)), x); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: grad:"));
  EXPECT_THAT(m, HasSubstr("float"));
  EXPECT_THAT(m, HasSubstr("i64"));  // sums of integers are i64
}

TEST(GradErrors, IntegerAndBoolWrt) {
  Tensor i = tensor("i", i32, {3}), flag = tensor("flag", boolean, {3});
  Tensor cost = sum(cast(i, f64) * cast(flag, f64));
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; grad(cost, i); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: grad:"));
  EXPECT_THAT(m, HasSubstr("cannot differentiate with respect to 'i' (i32[3])"));
  m = error_of([&] { line = __LINE__; grad(cost, flag); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: grad:"));
  EXPECT_THAT(m, HasSubstr("'flag' (bool[3])"));
  m = error_of([&] { line = __LINE__; Rop({cost}, {i}, {i}); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: Rop:"));
  EXPECT_THAT(m, HasSubstr("'i' (i32[3])"));
}

TEST(GradErrors, LopAndRopArgumentsMustMatch) {
  Tensor x = tensor("x", f64, {3}), y = tensor("y", f64, {2, 3});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; Lop({x * 2.0}, {x}, {}); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: Lop:"));
  m = error_of([&] { line = __LINE__; Lop({x * 2.0}, {x}, {y}); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: Lop:"));
  m = error_of([&] { line = __LINE__; Rop({x * 2.0}, {x}, {y}); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: Rop:"));
  EXPECT_THAT(m, HasSubstr("f64[2,3]"));
  m = error_of([&] { line = __LINE__; Rop({x * 2.0}, {x, y}, {x}); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: Rop:"));
  // Same rank, different static size.
  Tensor z = tensor("z", f64, {4});
  m = error_of([&] { line = __LINE__; Lop({x * 2.0}, {x}, {z}); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: Lop:"));
  EXPECT_THAT(m, HasSubstr("f64[4]"));
  m = error_of([&] { line = __LINE__; Rop({x * 2.0}, {x}, {z}); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: Rop:"));
  m = error_of([&] { line = __LINE__; grad(sum(x), x, {.known_grads = {{x * 2.0, z}}}); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: grad: the known gradient"));
  EXPECT_THAT(m, HasSubstr("f64[4]"));
}

TEST(GradErrors, JacobianAndHessianNeedStaticSizes) {
  Tensor x = tensor("x", f64, {-1});
  int line = 0;
  std::string m = error_of([&] { line = __LINE__; jacobian(x * 2.0, x); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: jacobian:"));
  m = error_of([&] { line = __LINE__; hessian(sum(x * x), x); });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: hessian:"));
}

TEST(VerifyGrad, ReportsTheInputElementAndBothValues) {
  // floor jumps at 1: the analytic gradient 0 disagrees with the difference quotient.
  int line = 0;
  std::string m = error_of([&] {
    line = __LINE__; verify_grad([](const std::vector<Tensor>& x) { return floor(x[0]) + x[0]; }, {Array::from({0.5, 1.0})});
  });
  EXPECT_THAT(m, HasSubstr(here(line) + ": error: verify_grad:"));
  EXPECT_THAT(m, HasSubstr("input 0 (f64[2]) at element [1]"));
  EXPECT_THAT(m, HasSubstr("analytic"));
  EXPECT_THAT(m, HasSubstr("numeric"));
  m = error_of([&] { verify_grad([](const std::vector<Tensor>& x) { return x[0]; }, {Array::from({1, 2})}); });
  EXPECT_THAT(m, HasSubstr("only float inputs"));
}

TEST(VerifyGrad, F32DefaultsAreLooserThanF64) {
  // A gradient off by a relative 1e-4 (the stop_gradient term is missing
  // from the analytic side) passes with the f32 defaults and fails in f64.
  auto off = [](const std::vector<Tensor>& x) { return exp(x[0]) + stop_gradient(exp(x[0]) * x[0]) * 1e-4; };
  verify_grad(off, {Array::from({0.5f, -1.0f, 2.0f})});
  EXPECT_THAT(error_of([&] { verify_grad(off, {Array::from({0.5, -1.0, 2.0})}); }), HasSubstr("disagrees"));
}

}  // namespace
