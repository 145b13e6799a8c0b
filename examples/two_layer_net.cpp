// The PyTorch seed, symbolically: a two-layer network trained with SGD.
// The gradients come from grad(), not from hand-written formulas; the
// weights are shared variables updated inside one compiled function.
// With this data (kiln's Philox randn, seeds 1-4) the loss first rises
// (3.65e7, 3.95e7, 4.77e7) and ends near 4.8e-5 at step 499: the same
// trajectory NumPy gives with the seed's hand-written gradients on the same
// arrays (saved with Array::save). The last loss is f32 rounding noise (in
// f64 the loss goes on down to 1.6e-6), so its second digit depends on the
// summation order: the native backend (the default; BLAS sums in f32) ends
// at 4.68e-5, the interpreter (sums in double) at 4.80e-5. In f64 the two
// backends agree to 9 digits all the way.
//
// `two_layer_net --cuda` trains on Device::cuda(0): the weights move to the
// GPU on the first step and stay there; only x, y and the loss cross the bus.
#include <cstdio>
#include <cstring>

#include <kiln/kiln.hpp>

using namespace kiln;

int main(int argc, char** argv) try {
  const bool cuda = argc > 1 && std::strcmp(argv[1], "--cuda") == 0;
  const std::int64_t N = 64, D_in = 1000, H = 100, D_out = 10;
  Array x_data = Array::randn({N, D_in}, f32, /*seed=*/1);
  Array y_data = Array::randn({N, D_out}, f32, /*seed=*/2);

  Tensor x = matrix("x", f32), y = matrix("y", f32);
  Tensor w1 = shared(Array::randn({D_in, H}, f32, /*seed=*/3), "w1");
  Tensor w2 = shared(Array::randn({H, D_out}, f32, /*seed=*/4), "w2");

  Tensor y_pred = relu(x.matmul(w1)).matmul(w2);
  Tensor loss = sum(square(y_pred - y));
  std::vector<Tensor> g = grad(loss, {w1, w2});

  const double learning_rate = 1e-6;
  Function step = function({x, y}, {loss},
                           {.updates = {{w1, w1 - learning_rate * g[0]}, {w2, w2 - learning_rate * g[1]}},
                            .device = cuda ? Device::cuda(0) : Device::cpu()});
  if (cuda) {  // the data too, once
    x_data = x_data.to(Device::cuda(0));
    y_data = y_data.to(Device::cuda(0));
  }
  for (int t = 0; t < 500; ++t) {
    double l = step(x_data, y_data)[0].to(Device::cpu()).item();
    if (t < 3 || t >= 497) std::printf("%d %.6g\n", t, l);
  }
} catch (const Error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
