// kiln's CUDA backend on the emulator (no GPU): device arrays, every kernel
// of the elementwise sweep through codegen::cuda::CudaKernel (both entries,
// with and without a stream) against the interpreter, broadcasting and
// strided operands, the device allocator, and function() on Device::cuda(0).
//
// The kernels run on the host (glibc's math for CUDA's), so the bounds are
// tests/codegen/cuda_host_exec_test.cpp's: exact but for f16/bf16 (1 ULP),
// glibc math functions and formulas on them (4 ULP, or 4 ULP of 1 near a
// zero), f32/f16/bf16 floor_div/mod (1 ULP), digamma/polygamma (relative
// 1e-13 in f64, 1 ULP else). A dtype's kernels are compiled in one host
// compile (kilnEmuPrecompile) and cached on disk ($KILN_CACHE_DIR/emu).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "codegen/cuda/cuda_function.hpp"
#include "codegen/cuda/launch.hpp"
#include "codegen/cuda/print.hpp"
#include "codegen/partition.hpp"
#include "cuda_emu/emu_test_util.hpp"
#include "elementwise_sweep.hpp"
#include "ir/node.hpp"
#include "kiln/kiln.hpp"

namespace {

using namespace kiln;
using namespace kiln::cuda_emu_test;
using ir::OpCode;

// A device copy of `a` one element past an aligned block: the contiguous
// entry's alignment check fails and the strided entry runs.
// (Bytes copied, not doubles: i64 values stay exact.)
Array misaligned_on_device(const Array& a, Array& keep) {
  const Array c = a.contiguous();
  keep = Array::zeros({a.size() + 1}, a.dtype(), Device::cuda(0));
  const std::size_t size = dtype_size(a.dtype());
  EXPECT_EQ(drv().cuMemcpyHtoD(reinterpret_cast<std::uintptr_t>(keep.buffer()->data) + size, c.raw_data(),
                               static_cast<std::size_t>(a.size()) * size),
            0);
  return Array::view(keep.buffer()->data + dtype_size(a.dtype()), a.shape(), a.dtype(), a.strides(), Device::cuda(0));
}

// One host compile for many kernels: CudaKernel then finds each compiled.
void precompile(const std::vector<codegen::Kernel>& ks) {
  std::vector<std::string> srcs;
  for (const codegen::Kernel& k : ks) srcs.push_back(codegen::cuda::print_cuda_kernel(k, codegen::cuda::cuda_kernel_name(k)).source);
  std::vector<const char*> p;
  for (const std::string& s : srcs) p.push_back(s.c_str());
  auto pre = emu_fn<runtime::cu::Result (*)(const char* const*, int)>("kilnEmuPrecompile");
  const runtime::cu::Result r = pre(p.data(), static_cast<int>(p.size()));
  ASSERT_EQ(r, 0) << error_text(r);
}

runtime::cu::Stream new_stream() {
  runtime::cuda_device(Device::cuda(0), "test");
  runtime::cu::Stream s = nullptr;
  EXPECT_EQ(drv().cuStreamCreate(&s, 0), 0);
  return s;
}

TEST(KilnOnEmulator, DeviceArraysRoundTrip) {
  const Device g = Device::cuda(0);
  for (DType t : {DType::F32, DType::F64, DType::I8, DType::BF16, DType::Bool}) {
    Array h = kiln_test::sweep_values(t, 1000, 3, false).reshape({10, 100});
    Array d = h.to(g);
    EXPECT_EQ(d.device(), g);
    EXPECT_TRUE(d.to(Device::cpu()).equals(h)) << dtype_name(t);
    Array z = Array::zeros({7, 3}, t, g);
    EXPECT_TRUE(z.to(Device::cpu()).equals(Array::zeros({7, 3}, t))) << dtype_name(t);
    Array e = Array::empty({5}, t, g);
    EXPECT_EQ(e.device(), g);
    EXPECT_EQ(e.to(Device::cpu()).shape(), Shape({5}));
    Array c = d.copy();  // device to device
    EXPECT_TRUE(c.to(Device::cpu()).equals(h)) << dtype_name(t);
  }
  Array f = Array::full({4}, 2.5, DType::F32, g);
  EXPECT_TRUE(f.to(Device::cpu()).equals(Array::full({4}, 2.5, DType::F32)));
}

class KilnSweepOnEmulator : public ::testing::TestWithParam<DType> {};

TEST_P(KilnSweepOnEmulator, EveryKernelMatchesTheInterpreterThroughBothEntriesAndStreams) {
  const DType t = GetParam();
  const Device g = Device::cuda(0);
  const Shape shape = {7, 131};  // odd sizes: vector tails run; 4 blocks of 256 for the strided entry
  struct Case {
    std::vector<Tensor> ins, outs;
    std::vector<codegen::Plan> plans;
  };
  std::vector<Case> cases;
  std::vector<codegen::Kernel> all;
  for (int arity = 1; arity <= 3; ++arity) {
    Case c;
    c.outs = kiln_test::sweep(t, arity, {"a", "b"});
    if (c.outs.empty()) continue;
    std::set<const ir::Node*> seen;
    for (const Tensor& o : c.outs) {
      for (const ir::NodeRef& in : o.node()->inputs())
        if (seen.insert(in.get()).second) c.ins.push_back(Tensor(in));
      c.plans.push_back(codegen::partition({o.node()}));
      ASSERT_EQ(c.plans.back().clusters.size(), 1u);
      all.push_back(c.plans.back().clusters[0].kernel);
    }
    cases.push_back(std::move(c));
  }
  precompile(all);
  runtime::cu::Stream stream = new_stream();
  std::size_t launches = 0;
  for (const Case& c : cases) {
    std::vector<std::unique_ptr<codegen::cuda::CudaKernel>> ks;
    for (const codegen::Plan& p : c.plans) ks.push_back(std::make_unique<codegen::cuda::CudaKernel>(p.clusters[0].kernel, g));
    // integers: full-range values, then small ones for the second operand (divisors, shifts, exponents)
    for (bool small : {false, true}) {
      if (small && (c.ins.size() != 2 || !is_integer(t))) continue;
      std::map<const ir::Node*, Array> host;
      std::vector<Array> args;
      std::uint64_t seed = 17;
      for (const Tensor& in : c.ins) {
        host[in.node().get()] = kiln_test::sweep_values(in.node()->type().dtype, 7 * 131, seed++,
                                            small && in.node()->var_name() == "x1").reshape(shape);
        args.push_back(host[in.node().get()]);
      }
      FunctionOptions o;
      o.backend = Backend::Interpreter;
      o.optimize = false;
      const std::vector<Array> want = function(c.ins, c.outs, o)(args);
      for (std::size_t i = 0; i < c.outs.size(); ++i) {
        const codegen::Cluster& cl = c.plans[i].clusters[0];
        const codegen::cuda::CudaKernel& k = *ks[i];
        const OpCode op = c.outs[i].node()->op();
        const std::string what = std::string(ir::op_name(op)) + " on " + std::string(dtype_name(t)) + " -> " +
                                 std::string(dtype_name(want[i].dtype())) + (small ? " (small operands)" : "");
        for (int variant = 0; variant < 2; ++variant) {  // 0: contiguous entry, default stream; 1: strided, a stream
          std::vector<Array> dev, keep(cl.inputs.size());
          for (std::size_t j = 0; j < cl.inputs.size(); ++j) {
            const Array& h = host.at(cl.inputs[j]);
            dev.push_back(variant == 0 ? h.to(g) : misaligned_on_device(h, keep[j]));
          }
          Array out = Array::empty(shape, want[i].dtype(), g);
          if (variant == 0) {
            k.run(dev, out);
          } else {
            k.run(dev, out, stream);
            ASSERT_EQ(drv().cuStreamSynchronize(stream), 0);
          }
          ++launches;
          if (variant == 0 && !k.source().vec_name.empty()) {
            EXPECT_TRUE(k.last_run_vectorised()) << what;
          }
          if (variant == 1) {
            EXPECT_FALSE(k.last_run_vectorised()) << what;
          }
          const std::vector<double> got = out.to(Device::cpu()).to_doubles(), w = want[i].to_doubles();
          for (std::size_t e = 0; e < w.size(); ++e)
            if (!kiln_test::sweep_close(op, t, want[i].dtype(), got[e], w[e])) {
              ADD_FAILURE() << what << (variant ? " (strided)" : " (vec)") << " at " << e << ": emulator " << got[e]
                            << " vs interpreter " << w[e];
              break;
            }
        }
      }
    }
  }
  EXPECT_GT(launches, 0u);
  EXPECT_EQ(drv().cuStreamDestroy(stream), 0);
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, KilnSweepOnEmulator, ::testing::ValuesIn(kiln_test::kAllDTypes),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

// Broadcast operands (size-1 and missing dims, a scalar) and a transposed
// (strided) device view, through the strided entry.
TEST(KilnOnEmulator, BroadcastingTransposedAndRank0Operands) {
  const Device g = Device::cuda(0);
  Tensor x = tensor("x", DType::F32, {"a", 1}), y = tensor("y", DType::F32, {"b"}), s = tensor("s", DType::F32, {});
  Tensor w = tensor("w", DType::F32, {"a", "b"});
  Tensor z = exp(x) * y + s - w;
  codegen::Plan plan = codegen::partition({z.node()});
  ASSERT_EQ(plan.clusters.size(), 1u);
  codegen::cuda::CudaKernel k(plan.clusters[0].kernel, g);
  Array xa = Array::randn({5, 1}, DType::F32, 1), ya = Array::randn({9}, DType::F32, 2), sa = Array::scalar(0.25, DType::F32);
  Array wt = Array::randn({9, 5}, DType::F32, 3);  // w is its transpose
  Array wa = Array::view(wt.buffer(), {5, 9}, DType::F32, {1, 5}, 0);
  FunctionOptions o;
  o.backend = Backend::Interpreter;
  Array want = function({x, y, s, w}, {z}, o)({xa, ya, sa, wa})[0];
  Array wt_dev = wt.to(g);
  Array wa_dev = Array::view(wt_dev.buffer(), {5, 9}, DType::F32, {1, 5}, 0);
  std::map<const ir::Node*, Array> dev = {
      {x.node().get(), xa.to(g)}, {y.node().get(), ya.to(g)}, {s.node().get(), sa.to(g)}, {w.node().get(), wa_dev}};
  std::vector<Array> args;
  for (const ir::Node* n : plan.clusters[0].inputs) args.push_back(dev.at(n));
  Array out = Array::empty({5, 9}, DType::F32, g);
  k.run(args, out);
  EXPECT_FALSE(k.last_run_vectorised());
  const std::vector<double> got = out.to(Device::cpu()).to_doubles(), wv = want.to_doubles();
  for (std::size_t e = 0; e < wv.size(); ++e) EXPECT_TRUE(kiln_test::sweep_close(OpCode::Exp, DType::F32, DType::F32, got[e], wv[e])) << e;
  // the transposed device view copied back to the host (a strided device → host copy)
  EXPECT_TRUE(wa_dev.to(Device::cpu()).equals(wa.copy()));
}

TEST(KilnOnEmulator, DeviceAllocatorReusesBlocksKeepsStatsAndEmptiesItsCache) {
  const Device g = Device::cuda(0);
  auto info = emu_fn<runtime::cu::Result (*)(std::size_t*, std::size_t*, std::size_t*)>("kilnEmuMemoryInfo");
  auto limit = emu_fn<runtime::cu::Result (*)(std::size_t)>("kilnEmuSetMemoryLimit");
  runtime::cuda_empty_cache(g);
  std::size_t live0 = 0, bytes0 = 0;
  info(&live0, &bytes0, nullptr);
  const runtime::CudaMemoryStats s0 = runtime::cuda_memory_stats(g);
  const std::size_t size = runtime::cuda_rounded_size(4000 * 4);
  {
    Array a = Array::empty({4000}, DType::F32, g);
    const runtime::CudaMemoryStats s1 = runtime::cuda_memory_stats(g);
    EXPECT_EQ(s1.driver_allocations, s0.driver_allocations + 1);
    EXPECT_EQ(s1.bytes_in_use, s0.bytes_in_use + size);
    std::size_t live = 0;
    info(&live, nullptr, nullptr);
    EXPECT_EQ(live, live0 + 1);
  }
  runtime::CudaMemoryStats s2 = runtime::cuda_memory_stats(g);
  EXPECT_EQ(s2.bytes_in_use, s0.bytes_in_use);
  EXPECT_EQ(s2.bytes_cached, s0.bytes_cached + size);
  {
    Array b = Array::empty({3999}, DType::F32, g);  // the same rounded size: the cached block
    EXPECT_EQ(runtime::cuda_memory_stats(g).driver_allocations, s0.driver_allocations + 1);
    std::size_t live = 0;
    info(&live, nullptr, nullptr);
    EXPECT_EQ(live, live0 + 1);
  }
  runtime::cuda_empty_cache(g);
  s2 = runtime::cuda_memory_stats(g);
  EXPECT_EQ(s2.bytes_cached, 0u);
  std::size_t live = 0, bytes = 0;
  info(&live, &bytes, nullptr);
  EXPECT_EQ(live, live0);
  // Out of device memory: the cache is given back and the allocation retried.
  {
    Array keep = Array::empty({1 << 18}, DType::F32, g);  // 1 MiB
    { Array cached = Array::empty({1 << 19}, DType::F32, g); }  // 2 MiB, now cached
    info(nullptr, &bytes, nullptr);
    limit(bytes + (std::size_t{5} << 19));  // room for 2.5 MiB more: not for 4 MiB unless the 2 MiB block goes
    const std::size_t allocs = runtime::cuda_memory_stats(g).driver_allocations;
    Array big = Array::empty({1 << 20}, DType::F32, g);  // 4 MiB
    EXPECT_EQ(runtime::cuda_memory_stats(g).driver_allocations, allocs + 1);
    EXPECT_EQ(runtime::cuda_memory_stats(g).bytes_cached, 0u);
    try {
      Array too_big = Array::empty({1 << 22}, DType::F32, g);
      ADD_FAILURE() << "allocated past the limit";
    } catch (const RuntimeError& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA_ERROR_OUT_OF_MEMORY"), std::string::npos) << e.what();
    }
    limit(std::size_t{8} << 30);
  }
  runtime::cuda_empty_cache(g);
}

TEST(KilnOnEmulator, FunctionsRunOnTheEmulatedDevice) {
  const Device g = Device::cuda(0);
  Tensor x = matrix("x", DType::F32), y = vector("y", DType::F32);
  Tensor z = exp(x) * y + 1;
  FunctionOptions o;
  o.device = g;
  auto f = function({x, y}, {z}, o);
  Array xa = Array::randn({6, 40}, DType::F32, 5), ya = Array::randn({40}, DType::F32, 6);
  Array out = f({xa, ya})[0];
  EXPECT_EQ(out.device(), g);
  FunctionOptions oi;
  oi.backend = Backend::Interpreter;
  Array want = function({x, y}, {z}, oi)({xa, ya})[0];
  const std::vector<double> got = out.to(Device::cpu()).to_doubles(), w = want.to_doubles();
  ASSERT_EQ(got.size(), w.size());
  for (std::size_t e = 0; e < w.size(); ++e) EXPECT_TRUE(kiln_test::sweep_close(OpCode::Exp, DType::F32, DType::F32, got[e], w[e])) << e;
}

// The executor with matmuls (kiln's cuBLAS path on the emulator's fake
// cuBLAS, KILN_CUBLAS), reductions, softmax, views and elementwise kernels,
// against the interpreter.
TEST(KilnOnEmulator, ExecutorRunsMatmulsReductionsAndSoftmax) {
  const Device g = Device::cuda(0);
  for (DType t : {DType::F32, DType::F64}) {
    Tensor x = matrix("x", t), w = matrix("w", t), b = vector("b", t);
    Tensor h = relu(x.matmul(w) + b);
    std::vector<Tensor> outs = {h, sum(h), mean(h, {1}), softmax(h, -1), exp(x).matmul(w.T()) * 2};
    std::vector<ir::NodeRef> params = {x.node(), w.node(), b.node()}, roots;
    for (const Tensor& o : outs) roots.push_back(o.node());
    codegen::cuda::CudaFunction f(params, roots, g);
    EXPECT_GE(f.step_counts().cublas, 2u) << dtype_name(t);
    EXPECT_GE(f.step_counts().kernels, 1u) << dtype_name(t);
    const Array xa = Array::randn({6, 10}, t, 11), wa = Array::randn({10, 10}, t, 12), ba = Array::randn({10}, t, 13);
    const std::vector<Array> got = f.run({xa.to(g), wa.to(g), ba});
    FunctionOptions oi;
    oi.backend = Backend::Interpreter;
    const std::vector<Array> want = function({x, w, b}, outs, oi)({xa, wa, ba});
    ASSERT_EQ(got.size(), want.size());
    const double rtol = t == DType::F32 ? 1e-5 : 1e-12;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].device(), g);
      const std::vector<double> gv = got[i].to(Device::cpu()).to_doubles(), wv = want[i].to_doubles();
      ASSERT_EQ(gv.size(), wv.size()) << i;
      for (std::size_t e = 0; e < wv.size(); ++e)
        EXPECT_NEAR(gv[e], wv[e], rtol * (1 + std::fabs(wv[e]))) << dtype_name(t) << " output " << i << " at " << e;
    }
  }
}

// One function called from four threads at once: each thread has its own
// stream and its own call state; results must be each call's own.
TEST(KilnOnEmulator, OneFunctionFromFourThreadsAtOnce) {
  const Device g = Device::cuda(0);
  Tensor x = matrix("x", DType::F32), w = matrix("w", DType::F32);
  Tensor y = softmax(relu(x.matmul(w)) * 0.5, -1);
  FunctionOptions o;
  o.device = g;
  const Function f = function({x, w}, {y}, o);
  FunctionOptions oi;
  oi.backend = Backend::Interpreter;
  const Function ref = function({x, w}, {y}, oi);
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      try {
        for (int call = 0; call < 5; ++call) {
          const auto seed = static_cast<std::uint64_t>(100 * t + call);
          const Array xa = Array::randn({7, 9}, DType::F32, seed), wa = Array::randn({9, 33}, DType::F32, seed + 50);
          const std::vector<double> got = f({xa, wa})[0].to(Device::cpu()).to_doubles();
          const std::vector<double> want = ref({xa, wa})[0].to_doubles();
          for (std::size_t e = 0; e < want.size(); ++e)
            if (std::fabs(got[e] - want[e]) > 1e-5 * (1 + std::fabs(want[e])))
              throw std::runtime_error("call " + std::to_string(call) + " element " + std::to_string(e));
        }
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(t)] = e.what();
      }
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(errors[static_cast<std::size_t>(t)], "") << "thread " << t;
}

// A training step on the device: the shared weights move to the device on the
// first call and are updated there; the trajectory is the interpreter's.
TEST(KilnOnEmulator, SharedVariablesLiveOnTheDeviceAcrossSteps) {
  const Device g = Device::cuda(0);
  Tensor x = matrix("x", DType::F64), y = matrix("y", DType::F64);
  const Array w0 = Array::randn({5, 3}, DType::F64, 7);
  Tensor wg = shared(w0, "wg"), wi = shared(w0, "wi");
  auto step = [&](Tensor w, FunctionOptions o) {
    Tensor loss = sum(square(x.matmul(w) - y));
    o.updates = {{w, w - 0.01 * grad(loss, {w})[0]}};
    return function({x, y}, {loss}, o);
  };
  FunctionOptions og, oi;
  og.device = g;
  oi.backend = Backend::Interpreter;
  const Function fg = step(wg, og), fi = step(wi, oi);
  const Array xa = Array::randn({8, 5}, DType::F64, 1), ya = Array::randn({8, 3}, DType::F64, 2);
  for (int s = 0; s < 5; ++s) {
    const double lg = fg({xa, ya})[0].to(Device::cpu()).item(), li = fi({xa, ya})[0].item();
    EXPECT_NEAR(lg, li, 1e-10 * (1 + std::fabs(li))) << "step " << s;
  }
  const Array got = wg.get_value();  // a host copy of the device value
  EXPECT_EQ(got.device(), Device::cpu());
  const std::vector<double> gv = got.to_doubles(), wv = wi.get_value().to_doubles();
  for (std::size_t e = 0; e < wv.size(); ++e) EXPECT_NEAR(gv[e], wv[e], 1e-10) << e;
}

// A device array passed to a CPU function: a kiln::Error naming the
// argument, both devices and the line that created the function.
TEST(KilnOnEmulator, ADeviceArgumentToACpuFunctionIsAnError) {
  Tensor x = vector("x", DType::F32);
  const Function f = function({x}, {x * 2});
  const Array d = Array::zeros({3}, DType::F32, Device::cuda(0));
  std::string m;
  try {
    f({d});
  } catch (const Error& e) {
    m = e.what();
  }
  EXPECT_NE(m.find("argument 0 ('x') lives on cuda:0; this function runs on cpu"), std::string::npos) << m;
  EXPECT_NE(m.find("kiln_on_emulator_test.cpp"), std::string::npos) << m;
}

}  // namespace
