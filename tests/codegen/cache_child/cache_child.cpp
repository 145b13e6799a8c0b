// A separate process for the disk cache tests (tests/codegen/disk_cache_test.cpp):
// compiles a small two-kernel graph with the native backend, using whatever
// KILN_CACHE_DIR it was started with, runs it, checks the results against the
// reference interpreter and prints the kernel cache's counters:
//   compiled=N loaded=N rejected=N
// Exit status: 0 correct, 1 wrong results, 2 an exception.
//
// usage: kiln_cache_child CONSTANT   (the constant goes into the kernels, so
// different tests compile different kernels)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "codegen/kernel_cache.hpp"
#include "kiln/kiln.hpp"

int main(int argc, char** argv) {
  using namespace kiln;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CONSTANT\n", argv[0]);
    return 2;
  }
  const double c = std::atof(argv[1]);
  try {
    Tensor x = matrix("x", f32);
    // Two outputs: two fused kernels.
    std::vector<Tensor> outs = {1 / (1 + exp(-x)), tanh(x) * c + x};
    Function native = function({x}, outs, {.backend = Backend::Native});
    Function oracle = function({x}, outs, {.backend = Backend::Interpreter});
    Array in = Array::randn({37, 61}, f32, 7);
    std::vector<Array> got = native(in), want = oracle(in);
    int bad = 0;
    for (std::size_t o = 0; o < got.size(); ++o) {
      const float* g = got[o].data<float>();
      const float* w = want[o].data<float>();
      for (std::int64_t i = 0; i < 37 * 61; ++i)
        if (!(std::fabs(g[i] - w[i]) <= 1e-5f * (1 + std::fabs(w[i])))) ++bad;
    }
    codegen::KernelCacheStats s = codegen::native_kernel_cache_stats();
    std::printf("compiled=%zu loaded=%zu rejected=%zu\n", s.compiled, s.loaded, s.rejected);
    if (bad) std::fprintf(stderr, "kiln_cache_child: %d wrong values\n", bad);
    return bad ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kiln_cache_child: %s\n", e.what());
    return 2;
  }
}
