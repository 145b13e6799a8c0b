// The PyTorch seed's two-layer network: kiln's symbolic gradients (grad)
// must equal the seed's hand-derived formulas, computed here with plain
// loops in double (independent of kiln):
//   h = x @ w1, h_relu = max(h, 0), y_pred = h_relu @ w2
//   grad_y_pred = 2 (y_pred - y)
//   grad_w2 = h_relu.T @ grad_y_pred
//   grad_h = (grad_y_pred @ w2.T) * (h > 0)
//   grad_w1 = x.T @ grad_h
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <kiln/kiln.hpp>

using namespace kiln;

namespace {

using Mat = std::vector<double>;  // row-major

Mat matmul(const Mat& a, const Mat& b, int n, int k, int m) {
  Mat c(static_cast<std::size_t>(n) * m, 0.0);
  for (int i = 0; i < n; ++i)
    for (int p = 0; p < k; ++p)
      for (int j = 0; j < m; ++j) c[i * m + j] += a[i * k + p] * b[p * m + j];
  return c;
}
Mat transpose(const Mat& a, int n, int m) {
  Mat t(a.size());
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j) t[j * n + i] = a[i * m + j];
  return t;
}

TEST(TwoLayerSeed, GradientsMatchHandDerivedFormulas) {
  const int N = 64, D_in = 1000, H = 100, D_out = 10;
  Array xa = Array::randn({N, D_in}, f64, 1), ya = Array::randn({N, D_out}, f64, 2);
  Array w1a = Array::randn({D_in, H}, f64, 3), w2a = Array::randn({H, D_out}, f64, 4);

  Tensor x = matrix("x", f64), y = matrix("y", f64);
  Tensor w1 = shared(w1a, "w1"), w2 = shared(w2a, "w2");
  Tensor loss = sum(square(relu(x.matmul(w1)).matmul(w2) - y));
  std::vector<Tensor> g = grad(loss, {w1, w2});
  std::vector<Array> got = function({x, y}, {loss, g[0], g[1]})(xa, ya);

  Mat X = xa.to_doubles(), Y = ya.to_doubles(), W1 = w1a.to_doubles(), W2 = w2a.to_doubles();
  Mat h = matmul(X, W1, N, D_in, H), h_relu = h;
  for (double& v : h_relu) v = v > 0 ? v : 0;
  Mat y_pred = matmul(h_relu, W2, N, H, D_out);
  double loss_ref = 0;
  Mat grad_y_pred(y_pred.size());
  for (std::size_t i = 0; i < y_pred.size(); ++i) {
    loss_ref += (y_pred[i] - Y[i]) * (y_pred[i] - Y[i]);
    grad_y_pred[i] = 2 * (y_pred[i] - Y[i]);
  }
  Mat grad_w2 = matmul(transpose(h_relu, N, H), grad_y_pred, H, N, D_out);
  Mat grad_h = matmul(grad_y_pred, transpose(W2, H, D_out), N, D_out, H);
  for (std::size_t i = 0; i < grad_h.size(); ++i) grad_h[i] = h[i] > 0 ? grad_h[i] : 0;
  Mat grad_w1 = matmul(transpose(X, N, D_in), grad_h, D_in, N, H);

  EXPECT_NEAR(got[0].item(), loss_ref, 1e-9 * loss_ref);
  auto expect_close = [](const Array& a, const Mat& ref, const char* what) {
    std::vector<double> v = a.to_doubles();
    ASSERT_EQ(v.size(), ref.size()) << what;
    double scale = 0;
    for (double r : ref) scale = std::max(scale, std::fabs(r));
    for (std::size_t i = 0; i < v.size(); ++i) ASSERT_NEAR(v[i], ref[i], 1e-10 * scale) << what << " element " << i;
  };
  expect_close(got[1], grad_w1, "grad_w1");
  expect_close(got[2], grad_w2, "grad_w2");
}

TEST(TwoLayerSeed, SgdStepsReduceTheLoss) {
  // A few steps of the example's training function: updates read pre-call
  // values, and the loss goes down with learning rate 1e-6.
  const int N = 16, D_in = 50, H = 20, D_out = 5;
  Array xa = Array::randn({N, D_in}, f32, 1), ya = Array::randn({N, D_out}, f32, 2);
  Tensor x = matrix("x", f32), y = matrix("y", f32);
  Tensor w1 = shared(Array::randn({D_in, H}, f32, 3), "w1");
  Tensor w2 = shared(Array::randn({H, D_out}, f32, 4), "w2");
  Tensor loss = sum(square(relu(x.matmul(w1)).matmul(w2) - y));
  std::vector<Tensor> g = grad(loss, {w1, w2});
  Array w1_before = w1.get_value();
  Function step = function({x, y}, {loss, g[0]}, {.updates = {{w1, w1 - 1e-4 * g[0]}, {w2, w2 - 1e-4 * g[1]}}});
  std::vector<Array> first = step(xa, ya);
  // w1 after one step = w1_before - 1e-4 * grad (the grad returned by that same call)
  std::vector<double> before = w1_before.to_doubles(), gw = first[1].to_doubles(), after = w1.get_value().to_doubles();
  for (std::size_t i = 0; i < before.size(); ++i) ASSERT_NEAR(after[i], before[i] - 1e-4 * gw[i], 1e-5);
  double l0 = first[0].item(), l = l0;
  for (int t = 0; t < 20; ++t) l = step(xa, ya)[0].item();
  EXPECT_LT(l, l0);
}

}  // namespace
