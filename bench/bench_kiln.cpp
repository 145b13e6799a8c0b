// kiln benchmark harness (`make bench`).
//
// Every workload is timed with Google Benchmark (fixed iterations, a few
// repetitions, median kept); a summary is printed at the end, one line each:
//   W1 kiln_ms=… eigen_ms=… handc_ms=… bound_ms=…
// Fields that do not apply are left out.
//
//   kiln_ms   Backend::Native through the public API, as a user calls it: inputs
//             are Arrays, outputs come back as fresh Arrays (their allocation and
//             first-touch page faults are part of the time).
//   eigen_ms  the same math with Eigen expression templates (single-threaded: no
//             OpenMP), written into preallocated outputs.
//   handc_ms  hand-written -O3 -march=native loops split over all hardware threads
//             with std::thread (no -ffast-math, so expf/tanhf are libm calls);
//             matmuls use OpenBLAS sgemm. Preallocated outputs.
//   bound_ms  bytes that must move (each input read once, each output written
//             once) ÷ the best bandwidth of STREAM-style copy and triad kernels
//             (all threads) measured in the same run. Only for the memory-bound
//             workloads W1–W3; W4–W6 are compute/latency bound and get none.
//   C1, C5    compile time, graph to callable, of W1's function and of W5's
//             training function: from building the graph (for C5 including grad)
//             to function() returning, each in a new process (this program
//             re-executed with --kiln-compile-child=C1|C5), so nothing is in the
//             in-memory kernel cache. cold = an empty on-disk cache directory
//             (KILN_CACHE_DIR pointed at a fresh temporary one: LLVM compiles every
//             kernel), warm = the same directory filled by the cold run (kernels
//             are linked from their stored objects). Medians of 3 cold and 6 warm
//             processes; process start-up is not counted.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <kiln/kiln.hpp>

using namespace kiln;

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------- results

std::map<std::string, std::map<std::string, double>> g_results;  // workload → field → ms
void record(const std::string& w, const std::string& field, double ms) { g_results[w][field] = ms; }

// Keeps the median of each benchmark "W/field" and forwards everything to the console.
class MedianReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const std::string& name = r.run_name.function_name;
      bool take = (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median") ||
                  (r.run_type == Run::RT_Iteration && r.repetitions <= 1);
      if (!take || r.error_occurred) continue;
      auto slash = name.find('/');
      record(name.substr(0, slash), name.substr(slash + 1), r.GetAdjustedRealTime());  // unit: ms
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

void add(const std::string& name, int iters, int reps, std::function<void()> body) {
  benchmark::RegisterBenchmark(name.c_str(),
                               [body](benchmark::State& st) {
                                 for (auto _ : st) body();
                               })
      ->Iterations(iters)
      ->Repetitions(reps)
      ->ReportAggregatesOnly(reps > 1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

// ---------------------------------------------------------------- helpers

const int kThreads = std::max(1u, std::thread::hardware_concurrency());

// Runs f(begin, end) over [0, n) split into kThreads contiguous parts.
template <class F>
void par(std::int64_t n, F f) {
  if (kThreads == 1 || n < 4096) return f(std::int64_t{0}, n);
  std::vector<std::thread> ts;
  std::int64_t chunk = (n + kThreads - 1) / kThreads;
  for (int t = 1; t < kThreads; ++t) {
    std::int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) ts.emplace_back([=] { f(b, e); });
  }
  f(0, std::min(n, chunk));
  for (auto& t : ts) t.join();
}

using EA = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using EM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using EV = Eigen::Matrix<float, 1, Eigen::Dynamic>;
Eigen::Map<const EA> ea(const Array& a) { return {a.data<float>(), a.shape()[0], a.shape()[1]}; }
Eigen::Map<const EM> em(const Array& a) { return {a.data<float>(), a.shape()[0], a.shape()[1]}; }

std::vector<float> vec(const Array& a) {
  const float* p = a.data<float>();
  return std::vector<float>(p, p + shape_size(a.shape()));
}

void check(const char* what, const float* got, const float* want, std::int64_t n, double tol = 1e-4) {
  double worst = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    double d = std::abs(double(got[i]) - double(want[i])) / (1.0 + std::abs(double(want[i])));
    if (!(d <= worst)) worst = d;  // NaN counts
  }
  if (!(worst <= tol)) std::fprintf(stderr, "bench: WARNING %s differs from the baseline (rel err %g)\n", what, worst);
}

// ---------------------------------------------------------------- STREAM

double g_bw = 0;  // bytes per ms

void measure_bandwidth() {
  const std::int64_t n = 32 << 20;  // 128 MiB per array: far past the 32 MiB L3
  std::vector<float> a(n), b(n), c(n);
  par(n, [&](std::int64_t s, std::int64_t e) {
    for (std::int64_t i = s; i < e; ++i) a[i] = 1, b[i] = 2, c[i] = 0;
  });
  double best_copy = 1e30, best_triad = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = Clock::now();
    par(n, [&](std::int64_t s, std::int64_t e) {
      for (std::int64_t i = s; i < e; ++i) c[i] = a[i];
    });
    best_copy = std::min(best_copy, ms_since(t0));
    t0 = Clock::now();
    par(n, [&](std::int64_t s, std::int64_t e) {
      for (std::int64_t i = s; i < e; ++i) a[i] = b[i] + 3.0f * c[i];
    });
    best_triad = std::min(best_triad, ms_since(t0));
  }
  benchmark::DoNotOptimize(a.data());
  double copy_bw = 2.0 * n * 4 / best_copy, triad_bw = 3.0 * n * 4 / best_triad;
  g_bw = std::max(copy_bw, triad_bw);
  std::printf("STREAM copy %.2f GB/s, triad %.2f GB/s (%d threads); bound uses %.2f GB/s\n", copy_bw / 1e6,
              triad_bw / 1e6, kThreads, g_bw / 1e6);
}
double bound_ms(double bytes) { return bytes / g_bw; }

FunctionOptions native() { return {.backend = Backend::Native}; }

// ---------------------------------------------------------------- graphs

Tensor w1_graph(Tensor x) { return 1 / (1 + exp(-x)); }

struct TwoLayer {
  Tensor x, y, w1, w2;
  Function step;
};
constexpr std::int64_t N = 64, D_in = 1000, H = 100, D_out = 10;
constexpr int kSteps = 500;
constexpr double kLr = 1e-6;
TwoLayer two_layer(const Array& w1_0, const Array& w2_0, double* compile_ms = nullptr) {
  TwoLayer t;
  t.x = matrix("x", f32), t.y = matrix("y", f32);
  t.w1 = shared(w1_0.copy(), "w1");
  t.w2 = shared(w2_0.copy(), "w2");
  Tensor y_pred = relu(t.x.matmul(t.w1)).matmul(t.w2);
  Tensor loss = sum(square(y_pred - t.y));
  std::vector<Tensor> g = grad(loss, {t.w1, t.w2});
  auto t0 = Clock::now();
  t.step = function({t.x, t.y}, {loss},
                    {.updates = {{t.w1, t.w1 - kLr * g[0]}, {t.w2, t.w2 - kLr * g[1]}}, .backend = Backend::Native});
  if (compile_ms) *compile_ms = ms_since(t0);
  return t;
}

// ---------------------------------------------------------------- C1, C5

constexpr const char* kCompileChildFlag = "--kiln-compile-child=";

// CPU time of this process (all threads): on a busy machine a compile's
// wall time mostly measures waiting for a core, so the bench shows both.
double process_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// In the child: one compile of C1's or C5's graph; prints its time from
// building the graph to the callable, and of function() alone.
int compile_child(const std::string& which) {
  if (which != "C1" && which != "C5") {
    std::fprintf(stderr, "bench: unknown compile child '%s'\n", which.c_str());
    return 2;
  }
  double function_ms = -1;
  Array w1_0, w2_0;  // C5's initial weights: made before the clock starts
  if (which == "C5") w1_0 = Array::randn({D_in, H}, f32, 3), w2_0 = Array::randn({H, D_out}, f32, 4);
  const double cpu0 = process_cpu_ms();
  auto t0 = Clock::now();
  if (which == "C1") {
    Tensor x = matrix("x", f32);
    Tensor s = w1_graph(x);
    auto t1 = Clock::now();
    Function f = function({x}, {s}, native());
    function_ms = ms_since(t1);
  } else {
    TwoLayer t = two_layer(w1_0, w2_0, &function_ms);  // graph, grad and function()
  }
  const double ms = ms_since(t0), cpu = process_cpu_ms() - cpu0;
  std::printf("kiln-compile-ms %.6f %.6f %.6f\n", ms, function_ms, cpu);
  return 0;
}

struct CompileTime {
  double total = -1, function = -1, cpu = -1;  // negative: the child failed
};

// Runs this program as a compile child with KILN_CACHE_DIR=dir.
CompileTime run_compile_child(const std::string& which, const std::string& dir) {
  CompileTime r;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return r;
  exe[n] = '\0';
  // mkdtemp names need no shell quoting beyond single quotes.
  const std::string cmd = "KILN_CACHE_DIR='" + dir + "' '" + exe + "' " + kCompileChildFlag + which;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char line[256];
  while (std::fgets(line, sizeof line, p))
    if (std::sscanf(line, "kiln-compile-ms %lf %lf %lf", &r.total, &r.function, &r.cpu) == 3) break;
  while (std::fgets(line, sizeof line, p)) {
  }
  if (pclose(p) != 0) r.total = -1;
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void compile_times() {
  for (const char* w : {"C1", "C5"}) {
    std::vector<double> cold, warm, cold_fn, warm_fn, cold_cpu, warm_cpu;
    bool failed = false;
    for (int round = 0; round < 3 && !failed; ++round) {
      char templ[] = "/tmp/kiln-bench-cache-XXXXXX";
      if (!mkdtemp(templ)) {
        failed = true;
        break;
      }
      const std::string dir = templ;
      for (int k = 0; k < 3 && !failed; ++k) {  // the first fills the empty directory
        CompileTime t = run_compile_child(w, dir);
        failed = t.total < 0;
        (k == 0 ? cold : warm).push_back(t.total);
        (k == 0 ? cold_fn : warm_fn).push_back(t.function);
        (k == 0 ? cold_cpu : warm_cpu).push_back(t.cpu);
      }
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
    if (failed) {
      std::fprintf(stderr, "bench: WARNING the %s compile child failed\n", w);
      continue;
    }
    record(w, "cold", median(cold));
    record(w, "warm", median(warm));
    std::printf(
        "%s compile, new process: cold %.2f ms, warm %.2f ms (function() alone: cold %.2f, warm %.2f; "
        "CPU time: cold %.2f, warm %.2f)\n",
        w, median(cold), median(warm), median(cold_fn), median(warm_fn), median(cold_cpu), median(warm_cpu));
  }
}

// ---------------------------------------------------------------- W1–W3 (elementwise, softmax)

constexpr std::int64_t R = 4000, C = 4000, RC = R * C;

void elementwise() {
  Array x = Array::randn({R, C}, f32, 11);
  Array a = Array::randn({R, C}, f32, 12), b = Array::randn({R, C}, f32, 13), c = Array::randn({R, C}, f32, 14);
  auto out = std::make_shared<std::vector<float>>(RC);
  auto eout = std::make_shared<EA>(R, C);

  // W1 logistic
  {
    Tensor tx = matrix("x", f32);
    Function f = function({tx}, {w1_graph(tx)}, native());
    const float* px = x.data<float>();
    auto handc = [=] {
      float* o = out->data();
      par(RC, [&](std::int64_t s, std::int64_t e) {
        for (std::int64_t i = s; i < e; ++i) o[i] = 1.0f / (1.0f + std::exp(-px[i]));
      });
    };
    handc();
    check("W1", f(x)[0].data<float>(), out->data(), RC);
    add("W1/kiln_ms", 1, 7, [=] { benchmark::DoNotOptimize(f(x)); });
    add("W1/eigen_ms", 1, 7, [=] { *eout = 1.0f / (1.0f + (-ea(x)).exp()); });
    add("W1/handc_ms", 1, 7, handc);
    record("W1", "bound_ms", bound_ms(2.0 * RC * 4));
  }
  // W2 tanh(a)*b + exp(-c*c)*0.5
  {
    Tensor ta = matrix("a", f32), tb = matrix("b", f32), tc = matrix("c", f32);
    Function f = function({ta, tb, tc}, {tanh(ta) * tb + exp(-tc * tc) * 0.5}, native());
    const float *pa = a.data<float>(), *pb = b.data<float>(), *pc = c.data<float>();
    auto handc = [=] {
      float* o = out->data();
      par(RC, [&](std::int64_t s, std::int64_t e) {
        for (std::int64_t i = s; i < e; ++i) o[i] = std::tanh(pa[i]) * pb[i] + std::exp(-pc[i] * pc[i]) * 0.5f;
      });
    };
    handc();
    check("W2", f(a, b, c)[0].data<float>(), out->data(), RC);
    add("W2/kiln_ms", 1, 7, [=] { benchmark::DoNotOptimize(f(a, b, c)); });
    add("W2/eigen_ms", 1, 7, [=] { *eout = ea(a).tanh() * ea(b) + (-(ea(c) * ea(c))).exp() * 0.5f; });
    add("W2/handc_ms", 1, 7, handc);
    record("W2", "bound_ms", bound_ms(4.0 * RC * 4));
  }
  // W3 row softmax
  {
    Tensor tx = matrix("x", f32);
    Function f = function({tx}, {softmax(tx, -1)}, native());
    const float* px = x.data<float>();
    auto handc = [=] {
      float* o = out->data();
      par(R, [&](std::int64_t s, std::int64_t e) {
        for (std::int64_t r = s; r < e; ++r) {
          const float* xi = px + r * C;
          float* oi = o + r * C;
          float m = xi[0];
          for (std::int64_t j = 1; j < C; ++j) m = std::max(m, xi[j]);
          float sum = 0;
          for (std::int64_t j = 0; j < C; ++j) sum += (oi[j] = std::exp(xi[j] - m));
          float inv = 1.0f / sum;
          for (std::int64_t j = 0; j < C; ++j) oi[j] *= inv;
        }
      });
    };
    handc();
    auto t0 = Clock::now();
    check("W3", f(x)[0].data<float>(), out->data(), RC);
    double one = ms_since(t0);
    int reps = one > 2000 ? 1 : 3;  // the reductions still run on the interpreter
    add("W3/kiln_ms", 1, reps, [=] { benchmark::DoNotOptimize(f(x)); });
    add("W3/eigen_ms", 1, 5, [=] {
      auto xm = ea(x);
      Eigen::Array<float, Eigen::Dynamic, 1> m = xm.rowwise().maxCoeff();
      *eout = (xm.colwise() - m).exp();
      Eigen::Array<float, Eigen::Dynamic, 1> inv = 1.0f / eout->rowwise().sum();
      eout->colwise() *= inv;
    });
    add("W3/handc_ms", 1, 5, handc);
    record("W3", "bound_ms", bound_ms(2.0 * RC * 4));
  }
}

// ---------------------------------------------------------------- W4 relu(A@B + bias)

void matmul_bias_relu() {
  const std::int64_t n = 1024;
  Array A = Array::randn({n, n}, f32, 21), B = Array::randn({n, n}, f32, 22), bias = Array::randn({n}, f32, 23);
  Tensor ta = matrix("A", f32), tb = matrix("B", f32), tbias = vector("bias", f32);
  Function f = function({ta, tb, tbias}, {relu(ta.matmul(tb) + tbias)}, native());
  auto out = std::make_shared<std::vector<float>>(n * n);
  auto eout = std::make_shared<EM>(n, n);
  auto handc = [=] {
    float* o = out->data();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A.data<float>(), n, B.data<float>(), n,
                0.0f, o, n);
    const float* pb = bias.data<float>();
    par(n * n, [&](std::int64_t s, std::int64_t e) {
      for (std::int64_t i = s; i < e; ++i) o[i] = std::max(o[i] + pb[i % n], 0.0f);
    });
  };
  handc();
  check("W4", f(A, B, bias)[0].data<float>(), out->data(), n * n, 1e-3);
  add("W4/kiln_ms", 5, 5, [=] { benchmark::DoNotOptimize(f(A, B, bias)); });
  add("W4/eigen_ms", 1, 5, [=] {
    Eigen::Map<const EV> bv(bias.data<float>(), n);
    eout->noalias() = em(A) * em(B);
    *eout = (eout->rowwise() + bv).cwiseMax(0.0f);
  });
  add("W4/handc_ms", 5, 5, handc);
}

// ---------------------------------------------------------------- W5 two-layer training

void training(const Array& w1_0, const Array& w2_0) {
  Array x = Array::randn({N, D_in}, f32, 1), y = Array::randn({N, D_out}, f32, 2);
  auto t = std::make_shared<TwoLayer>(two_layer(w1_0, w2_0));
  auto kiln_run = [t, x, y] {
    double l = 0;
    for (int s = 0; s < kSteps; ++s) l = t->step(x, y)[0].item();
    benchmark::DoNotOptimize(l);
  };
  // A single step's time decides the repetitions (parts of it run on the interpreter).
  auto t0 = Clock::now();
  t->step(x, y);
  int reps = ms_since(t0) * kSteps > 20000 ? 1 : 3;
  add("W5/kiln_ms", 1, reps, kiln_run);

  // Eigen: the same forward, backward and SGD update.
  struct EState { EM w1, w2, h, hr, yp, gy, gw2, ghr, gw1; };
  auto es = std::make_shared<EState>();
  add("W5/eigen_ms", 1, 3, [=] {
    EState& e = *es;
    e.w1 = em(w1_0), e.w2 = em(w2_0);
    auto X = em(x), Y = em(y);
    float l = 0;
    for (int s = 0; s < kSteps; ++s) {
      e.h.noalias() = X * e.w1;
      e.hr = e.h.cwiseMax(0.0f);
      e.yp.noalias() = e.hr * e.w2;
      e.gy = 2.0f * (e.yp - Y);
      l = (e.yp - Y).squaredNorm();
      e.gw2.noalias() = e.hr.transpose() * e.gy;
      e.ghr.noalias() = e.gy * e.w2.transpose();
      e.ghr = (e.h.array() > 0.0f).select(e.ghr, 0.0f);
      e.gw1.noalias() = X.transpose() * e.ghr;
      e.w1 -= float(kLr) * e.gw1;
      e.w2 -= float(kLr) * e.gw2;
    }
    benchmark::DoNotOptimize(l);
  });

  // Hand-written: OpenBLAS sgemm for the five matmuls, loops for the rest.
  struct HState { std::vector<float> w1, w2, h, yp, gy, gw2, ghr, gw1; };
  auto hs = std::make_shared<HState>();
  add("W5/handc_ms", 1, 3, [=] {
    HState& st = *hs;
    st.w1 = vec(w1_0), st.w2 = vec(w2_0);
    st.h.resize(N * H), st.yp.resize(N * D_out), st.gy.resize(N * D_out), st.gw2.resize(H * D_out);
    st.ghr.resize(N * H), st.gw1.resize(D_in * H);
    const float *X = x.data<float>(), *Y = y.data<float>();
    float l = 0;
    for (int s = 0; s < kSteps; ++s) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, H, D_in, 1, X, D_in, st.w1.data(), H, 0, st.h.data(), H);
      for (auto& v : st.h) v = std::max(v, 0.0f);  // h now holds relu(h); relu' = (h > 0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D_out, H, 1, st.h.data(), H, st.w2.data(), D_out, 0,
                  st.yp.data(), D_out);
      l = 0;
      for (std::int64_t i = 0; i < N * D_out; ++i) {
        float d = st.yp[i] - Y[i];
        l += d * d;
        st.gy[i] = 2 * d;
      }
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, D_out, N, 1, st.h.data(), H, st.gy.data(), D_out, 0,
                  st.gw2.data(), D_out);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, H, D_out, 1, st.gy.data(), D_out, st.w2.data(), D_out,
                  0, st.ghr.data(), H);
      for (std::int64_t i = 0; i < N * H; ++i)
        if (!(st.h[i] > 0)) st.ghr[i] = 0;
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D_in, H, N, 1, X, D_in, st.ghr.data(), H, 0,
                  st.gw1.data(), H);
      for (std::int64_t i = 0; i < D_in * H; ++i) st.w1[i] -= float(kLr) * st.gw1[i];
      for (std::int64_t i = 0; i < H * D_out; ++i) st.w2[i] -= float(kLr) * st.gw2[i];
    }
    benchmark::DoNotOptimize(l);
  });
}

// ---------------------------------------------------------------- W6 inference MLP

void inference() {
  const std::int64_t I = 50, H1 = 64, H2 = 28, O = 10;
  Array V1 = Array::randn({I, H1}, f32, 31), c1 = Array::randn({H1}, f32, 32);
  Array V2 = Array::randn({H1, H2}, f32, 33), c2 = Array::randn({H2}, f32, 34);
  Array V3 = Array::randn({H2, O}, f32, 35), c3 = Array::randn({O}, f32, 36);
  Tensor x = matrix("x", f32);
  Tensor h1 = relu(x.matmul(shared(V1, "V1")) + shared(c1, "c1"));
  Tensor h2 = relu(h1.matmul(shared(V2, "V2")) + shared(c2, "c2"));
  Tensor p = softmax(h2.matmul(shared(V3, "V3")) + shared(c3, "c3"), -1);
  Function f = function({x}, {p}, native());

  for (std::int64_t batch : {std::int64_t{1}, std::int64_t{4096}}) {
    std::string w = "W6b" + std::to_string(batch);
    Array xb = Array::randn({batch, I}, f32, 37 + batch);
    // Hand-written: sgemm + fused bias/relu/softmax loops into preallocated buffers.
    auto buf = std::make_shared<std::vector<float>>(batch * (H1 + H2 + O));
    auto handc = [=] {
      float *a1 = buf->data(), *a2 = a1 + batch * H1, *a3 = a2 + batch * H2;
      auto dense = [&](const float* in, std::int64_t k, const Array& W, const Array& bias, std::int64_t m,
                       float* outp, bool relu_) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, m, k, 1, in, k, W.data<float>(), m, 0, outp, m);
        const float* pb = bias.data<float>();
        for (std::int64_t r = 0; r < batch; ++r)
          for (std::int64_t j = 0; j < m; ++j) {
            float v = outp[r * m + j] + pb[j];
            outp[r * m + j] = relu_ ? std::max(v, 0.0f) : v;
          }
      };
      dense(xb.data<float>(), I, V1, c1, H1, a1, true);
      dense(a1, H1, V2, c2, H2, a2, true);
      dense(a2, H2, V3, c3, O, a3, false);
      for (std::int64_t r = 0; r < batch; ++r) {
        float* z = a3 + r * O;
        float m = *std::max_element(z, z + O), s = 0;
        for (std::int64_t j = 0; j < O; ++j) s += (z[j] = std::exp(z[j] - m));
        for (std::int64_t j = 0; j < O; ++j) z[j] /= s;
      }
    };
    handc();
    check(w.c_str(), f(xb)[0].data<float>(), buf->data() + batch * (H1 + H2), batch * O, 1e-3);
    struct EState { EM a1, a2, a3; };
    auto es = std::make_shared<EState>();
    auto eigen = [=] {
      EState& e = *es;
      auto vb = [](const Array& a) { return Eigen::Map<const EV>(a.data<float>(), a.shape()[0]); };
      e.a1.noalias() = em(xb) * em(V1);
      e.a1 = (e.a1.rowwise() + vb(c1)).cwiseMax(0.0f);
      e.a2.noalias() = e.a1 * em(V2);
      e.a2 = (e.a2.rowwise() + vb(c2)).cwiseMax(0.0f);
      e.a3.noalias() = e.a2 * em(V3);
      e.a3.rowwise() += vb(c3);
      Eigen::VectorXf m = e.a3.rowwise().maxCoeff();
      e.a3 = (e.a3.array().colwise() - m.array()).exp().matrix();
      Eigen::VectorXf s = e.a3.rowwise().sum();
      e.a3.array().colwise() /= s.array();
    };
    int iters = batch == 1 ? 2000 : 5;
    add(w + "/kiln_ms", iters, 5, [=] { benchmark::DoNotOptimize(f(xb)); });
    add(w + "/eigen_ms", iters, 5, eigen);
    add(w + "/handc_ms", iters, 5, handc);
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)  // C1/C5's child processes
    if (std::strncmp(argv[i], kCompileChildFlag, std::strlen(kCompileChildFlag)) == 0)
      return compile_child(argv[i] + std::strlen(kCompileChildFlag));
  benchmark::Initialize(&argc, argv);
  Array w1_0 = Array::randn({D_in, H}, f32, 3), w2_0 = Array::randn({H, D_out}, f32, 4);
  compile_times();  // in child processes, each with its own cache directory
  measure_bandwidth();
  elementwise();
  matmul_bias_relu();
  training(w1_0, w2_0);
  inference();
  MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  std::printf("\n# medians in ms (bound: STREAM %.2f GB/s)\n", g_bw / 1e6);
  const char* fields[] = {"kiln_ms", "eigen_ms", "handc_ms", "bound_ms", "cold", "warm"};
  std::vector<std::string> order = {"W1", "W2", "W3", "W4", "W5", "W6b1", "W6b4096", "C1", "C5"};
  for (const std::string& w : order) {
    if (!g_results.count(w)) continue;
    std::printf("%s", w.c_str());
    for (const char* fld : fields) {
      auto it = g_results[w].find(fld);
      if (it == g_results[w].end()) continue;
      std::string name = fld;
      if (name == "cold" || name == "warm") name += "_ms";
      std::printf(" %s=%.4g", name.c_str(), it->second);
    }
    std::printf("\n");
  }
}
