// kiln GPU benchmark (`make bench-gpu`). Built only with the CUDA toolkit.
//
// Every timed region is bracketed by cuCtxSynchronize (the device idle
// before, all its work done after); each number is the median of several
// runs after one untimed warm-up. Lines:
//
//   G1 workload=W1|W2|W3 kiln_ms=… copy_ms=… ratio=…
//        bench/bench_kiln.cpp's W1 (logistic), W2 (tanh(a)*b + exp(-c*c)*0.5)
//        and W3 (row softmax) over 8192 x 8192 float32 inputs (64M elements)
//        already on the device, through function(..., {.device = cuda(0)}).
//        copy_ms: one cuMemcpyDtoD moving the same bytes the workload must
//        move (every input read once and the output written once: a copy
//        of (inputs + output) / 2 bytes reads and writes that many),
//        measured in the same run; ratio = kiln_ms / copy_ms (1 is the
//        bandwidth limit).
//   G4 kiln_ms=… cublas_ms=… ratio=…
//        relu(A @ B + bias), A and B 4096 x 4096 float32 on the device;
//        cublas_ms: kiln's cublas_matmul alone (A @ B, no bias or relu) on the
//        same device operands; ratio = kiln_ms / cublas_ms. Also
//        cublaslt_bias_relu_ms: the whole expression as one cublasLtMatmul
//        with the RELU_BIAS epilogue (-1 when it fails).
//   G5 kiln_ms=… cpu_ms=…
//        500 SGD steps of the two-layer network (examples/two_layer_net.cpp;
//        the weights are shared variables), on cuda(0) (x and y on the device
//        once) and on the CPU backend in the same run.
//   NVRTC kernel=NAME cold_ms=… disk_ms=… warm_ms=…
//        every kernel of W1–W3 printed as CUDA and compiled for the device's
//        architecture: cold = empty memory cache and KILN_CACHE_DIR=off,
//        disk = empty memory cache and a disk cache holding it (a fresh
//        process's first compile), warm = the memory cache.
//
// Without a GPU the program prints one line saying so and exits 0;
// `bench_gpu --nvrtc` prints only the NVRTC lines, which need no GPU
// (sm_90 then).
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <kiln/kiln.hpp>

#include "codegen/cuda/cublas.hpp"
#include "codegen/cuda/nvrtc.hpp"
#include "codegen/cuda/print.hpp"
#include "codegen/partition.hpp"
#include "passes/pipeline.hpp"
#include "runtime/cuda_driver.hpp"

using namespace kiln;

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

const Device kGpu = Device::cuda(0);

void sync() {
  const runtime::CudaDriver& d = runtime::cuda_driver();
  runtime::cuda_device(kGpu, "bench_gpu");  // the context current on this thread
  d.check(d.cuCtxSynchronize(), "cuCtxSynchronize");
}

// The median of `runs` timed calls of `fn`, after one untimed warm-up, each
// between two synchronisations.
double time_ms(int runs, const std::function<void()>& fn) {
  fn();
  sync();
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    sync();
    const auto t0 = Clock::now();
    fn();
    sync();
    t.push_back(ms_since(t0));
  }
  return median(t);
}

// A device-to-device copy of `bytes` (both buffers allocated once).
double copy_ms(std::size_t bytes, int runs) {
  const Array src = Array::zeros({static_cast<std::int64_t>(bytes)}, DType::U8, kGpu);
  const Array dst = Array::empty({static_cast<std::int64_t>(bytes)}, DType::U8, kGpu);
  const runtime::CudaDriver& d = runtime::cuda_driver();
  auto ptr = [](const Array& a) { return static_cast<runtime::cu::DevicePtr>(reinterpret_cast<std::uintptr_t>(a.buffer()->data)); };
  return time_ms(runs, [&] { d.check(d.cuMemcpyDtoD(ptr(dst), ptr(src), bytes), "cuMemcpyDtoD"); });
}

// Runs one benchmark line, printing an error line instead of stopping.
void guarded(const char* label, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    std::string m = e.what();
    std::replace(m.begin(), m.end(), '\n', ' ');
    std::printf("%s error=\"%s\"\n", label, m.c_str());
  }
  std::fflush(stdout);
}

// ---------------------------------------------------------------- G1

constexpr std::int64_t R = 8192, C = 8192, RC = R * C;  // 64M elements

Tensor w1_graph(const Tensor& x) { return 1 / (1 + exp(-x)); }
Tensor w2_graph(const Tensor& a, const Tensor& b, const Tensor& c) { return tanh(a) * b + exp(-c * c) * 0.5; }
Tensor w3_graph(const Tensor& x) { return softmax(x, -1); }

void g1() {
  const int runs = 7;
  const FunctionOptions on_gpu{.device = kGpu};
  const std::size_t f32_bytes = static_cast<std::size_t>(RC) * 4;
  auto line = [&](const char* w, double kiln, std::size_t moved) {
    const double copy = copy_ms(moved / 2, runs);
    std::printf("G1 workload=%s kiln_ms=%.3f copy_ms=%.3f ratio=%.2f\n", w, kiln, copy, kiln / copy);
  };
  Array x, a, b, c;
  guarded("G1 workload=W1", [&] {
    x = Array::randn({R, C}, f32, 11).to(kGpu);
    Tensor tx = matrix("x", f32);
    Function f = function({tx}, {w1_graph(tx)}, on_gpu);
    line("W1", time_ms(runs, [&] { f(x); }), 2 * f32_bytes);
  });
  guarded("G1 workload=W2", [&] {
    a = Array::randn({R, C}, f32, 12).to(kGpu);
    b = Array::randn({R, C}, f32, 13).to(kGpu);
    c = Array::randn({R, C}, f32, 14).to(kGpu);
    Tensor ta = matrix("a", f32), tb = matrix("b", f32), tc = matrix("c", f32);
    Function f = function({ta, tb, tc}, {w2_graph(ta, tb, tc)}, on_gpu);
    line("W2", time_ms(runs, [&] { f(a, b, c); }), 4 * f32_bytes);
    a = b = c = Array();
  });
  guarded("G1 workload=W3", [&] {
    if (x.is_null()) x = Array::randn({R, C}, f32, 11).to(kGpu);
    Tensor tx = matrix("x", f32);
    Function f = function({tx}, {w3_graph(tx)}, on_gpu);
    line("W3", time_ms(runs, [&] { f(x); }), 2 * f32_bytes);
  });
}

// ---------------------------------------------------------------- G4

void g4() {
  guarded("G4", [] {
    const std::int64_t n = 4096;
    const Array A = Array::randn({n, n}, f32, 21).to(kGpu), B = Array::randn({n, n}, f32, 22).to(kGpu);
    const Array bias = Array::randn({n}, f32, 23).to(kGpu);
    Tensor ta = matrix("A", f32), tb = matrix("B", f32), tbias = vector("bias", f32);
    const Tensor prod = ta.matmul(tb);
    Function f = function({ta, tb, tbias}, {relu(prod + tbias)}, {.device = kGpu});
    const double kiln = time_ms(10, [&] { f(A, B, bias); });
    const double cublas = time_ms(10, [&] { codegen::cuda::cublas_matmul(*prod.node(), {A, B}, nullptr); });
    // The fused epilogue, for reference: what the executor could reach.
    double lt = -1;
    try {
      lt = time_ms(10, [&] { codegen::cuda::cublaslt_matmul_bias_relu(A, B, bias, true, nullptr); });
    } catch (const std::exception&) {
    }
    std::printf("G4 kiln_ms=%.3f cublas_ms=%.3f ratio=%.2f cublaslt_bias_relu_ms=%.3f\n", kiln, cublas,
                kiln / cublas, lt);
  });
}

// ---------------------------------------------------------------- G5

constexpr std::int64_t N = 64, D_in = 1000, H = 100, D_out = 10;
constexpr int kSteps = 500;
constexpr double kLr = 1e-6;

Function two_layer_step(Device device) {
  Tensor x = matrix("x", f32), y = matrix("y", f32);
  Tensor w1 = shared(Array::randn({D_in, H}, f32, 3), "w1");
  Tensor w2 = shared(Array::randn({H, D_out}, f32, 4), "w2");
  Tensor loss = sum(square(relu(x.matmul(w1)).matmul(w2) - y));
  std::vector<Tensor> g = grad(loss, {w1, w2});
  return function({x, y}, {loss}, {.updates = {{w1, w1 - kLr * g[0]}, {w2, w2 - kLr * g[1]}}, .device = device});
}

void g5() {
  guarded("G5", [] {
    const Array x = Array::randn({N, D_in}, f32, 1), y = Array::randn({N, D_out}, f32, 2);
    // A fresh function (fresh weights) per run, compiled outside the timed region.
    auto run = [&](Device device, const Array& xa, const Array& ya, bool gpu) {
      std::vector<double> t;
      double last = 0;
      for (int r = 0; r < 3; ++r) {
        Function step = two_layer_step(device);
        step(xa, ya);  // compiles and warms up (one step more than the timed 500)
        if (gpu) sync();
        const auto t0 = Clock::now();
        Array l;
        for (int s = 0; s < kSteps; ++s) l = step(xa, ya)[0];
        if (gpu) sync();
        t.push_back(ms_since(t0));
        last = l.to(Device::cpu()).item();
      }
      return std::make_pair(median(t), last);
    };
    const auto [gpu_ms, gpu_loss] = run(kGpu, x.to(kGpu), y.to(kGpu), true);
    const auto [cpu_ms, cpu_loss] = run(Device::cpu(), x, y, false);
    std::printf("G5 kiln_ms=%.3f cpu_ms=%.3f (final loss: cuda %.4g, cpu %.4g)\n", gpu_ms, cpu_ms, gpu_loss,
                cpu_loss);
  });
}

// ---------------------------------------------------------------- NVRTC

void nvrtc(const std::string& arch) {
  namespace cu = codegen::cuda;
  if (!cu::nvrtc_available()) {
    std::printf("NVRTC error=\"not available in this build\"\n");
    return;
  }
  Tensor x = matrix("x", f32), a = matrix("a", f32), b = matrix("b", f32), c = matrix("c", f32);
  const std::vector<std::pair<std::string, Tensor>> graphs = {
      {"W1", w1_graph(x)}, {"W2", w2_graph(a, b, c)}, {"W3", w3_graph(x)}};
  const char* old = std::getenv("KILN_CACHE_DIR");
  const std::string saved = old ? old : "";
  std::string dir = (std::filesystem::temp_directory_path() / "kiln-bench-gpu-XXXXXX").string();
  if (!::mkdtemp(dir.data())) dir.clear();
  for (const auto& [w, t] : graphs) {
    const codegen::Plan plan = codegen::partition(passes::optimize({t.node()}));
    for (const codegen::Cluster& cl : plan.clusters) {
      const std::string name = cu::cuda_kernel_name(cl.kernel);
      guarded(("NVRTC workload=" + w + " kernel=" + name).c_str(), [&] {
        const std::string src = cu::print_cuda_kernel(cl.kernel, name).source;
        std::vector<double> cold, disk, warm;
        for (int r = 0; r < 3; ++r) {
          ::setenv("KILN_CACHE_DIR", "off", 1);
          cu::nvrtc_cache_clear();
          auto t0 = Clock::now();
          cu::nvrtc_compile(src, arch, name);
          cold.push_back(ms_since(t0));
          t0 = Clock::now();
          cu::nvrtc_compile(src, arch, name);
          warm.push_back(ms_since(t0));
          if (!dir.empty()) {
            ::setenv("KILN_CACHE_DIR", dir.c_str(), 1);
            cu::nvrtc_cache_clear();
            cu::nvrtc_compile(src, arch, name);  // stores it
            cu::nvrtc_cache_clear();
            t0 = Clock::now();
            const cu::CudaBinary hit = cu::nvrtc_compile(src, arch, name);
            disk.push_back(hit.from_disk ? ms_since(t0) : -1);
          }
        }
        std::printf("NVRTC workload=%s kernel=%s arch=%s cold_ms=%.2f disk_ms=%.3f warm_ms=%.4f\n", w.c_str(),
                    name.c_str(), arch.c_str(), median(cold), disk.empty() ? -1.0 : median(disk), median(warm));
      });
    }
  }
  if (old)
    ::setenv("KILN_CACHE_DIR", saved.c_str(), 1);
  else
    ::unsetenv("KILN_CACHE_DIR");
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool nvrtc_only = argc > 1 && std::strcmp(argv[1], "--nvrtc") == 0;
  if (nvrtc_only) {
    nvrtc("sm_90");
    return 0;
  }
  if (!runtime::cuda_available()) {
    std::string why = "no CUDA device";
    try {
      runtime::cuda_driver();
    } catch (const std::exception& e) {
      why = e.what();
    }
    std::printf("bench_gpu: no GPU on this machine, nothing measured (%s)\n", why.c_str());
    return 0;
  }
  const runtime::CudaDeviceInfo& info = runtime::cuda_device(kGpu, "bench_gpu");
  std::printf("# %s (%s, %d SMs)\n", info.name.c_str(), info.arch().c_str(), info.multiprocessors);
  std::fflush(stdout);
  g1();
  g4();
  g5();
  nvrtc(info.arch());
  return 0;
}
