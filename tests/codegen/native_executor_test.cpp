// The native executor's memory handling against the reference interpreter:
// outputs written in place into dying intermediates, buffers reused within a
// call, streaming stores for large outputs, the host block cache, and the
// rule that arguments, shared values and constants are never written.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "codegen/launch.hpp"
#include "codegen/llvm/emit.hpp"
#include "codegen/llvm/jit.hpp"
#include "codegen/partition.hpp"
#include "codegen/native_function.hpp"
#include "kiln/kiln.hpp"

namespace {

using namespace kiln;

FunctionOptions interp() {
  FunctionOptions o;
  o.backend = Backend::Interpreter;
  return o;
}
FunctionOptions native() {
  FunctionOptions o;
  o.backend = Backend::Native;
  return o;
}

// Element by element within a relative tolerance (exact when rel = 0).
void expect_close(const Array& got, const Array& want, double rel) {
  ASSERT_EQ(got.dtype(), want.dtype());
  ASSERT_EQ(got.shape(), want.shape());
  const std::vector<double> g = got.to_doubles(), w = want.to_doubles();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double tol = rel * std::max(1.0, std::abs(w[i]));
    if (!(std::abs(g[i] - w[i]) <= tol) && !(std::isnan(g[i]) && std::isnan(w[i])) && bad++ < 5)
      ADD_FAILURE() << "element " << i << ": got " << g[i] << ", want " << w[i];
  }
  EXPECT_EQ(bad, 0u);
}

bool same_bytes(const Array& a, const Array& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), static_cast<std::size_t>(a.size()) * dtype_size(a.dtype())) == 0;
}

TEST(NativeExecutor, BiasReluIsWrittenInPlaceIntoTheMatmulResult) {
  Tensor a = matrix("a", DType::F32), b = matrix("b", DType::F32), bias = vector("bias", DType::F32);
  Tensor y = relu(a.matmul(b) + bias);
  Array av = Array::randn({7, 5}, DType::F32, 1), bv = Array::randn({5, 9}, DType::F32, 2),
        biasv = Array::randn({9}, DType::F32, 3);
  Array a0 = av.copy(), b0 = bv.copy(), bias0 = biasv.copy();
  Function f = function({a, b, bias}, {y}, native());
  const std::size_t before = codegen::NativeFunction::in_place_writes();
  Array got = f(av, bv, biasv)[0];
  EXPECT_GT(codegen::NativeFunction::in_place_writes(), before) << "relu(mm + bias) should reuse the gemm output";
  expect_close(got, function({a, b, bias}, {y}, interp())(av, bv, biasv)[0], 1e-5);
  EXPECT_TRUE(same_bytes(av, a0) && same_bytes(bv, b0) && same_bytes(biasv, bias0)) << "an argument was written";
}

TEST(NativeExecutor, ElementwiseLoopsVectoriseWithoutOverlapChecks) {
  // An in-place kernel's output is its input's buffer: with LLVM's run-time
  // overlap check it would always take the scalar fallback loop.
  Tensor x = matrix("x", DType::F32), bias = vector("bias", DType::F32);
  std::vector<ir::NodeRef> roots{relu(x + bias).node()};
  codegen::Plan plan = codegen::partition(roots);
  ASSERT_EQ(plan.clusters.size(), 1u);
  auto jit = codegen::Jit::create();
  codegen::define_kernel_helpers(*jit);
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto m = jit->new_module("executor_test", *ctx);
  codegen::emit_kernel(plan.clusters.at(0).kernel, "k", *m);
  std::string ir;
  jit->add_module(std::move(m), std::move(ctx), &ir);
  EXPECT_NE(ir.find("x float>"), std::string::npos) << "the loop should vectorise";
  EXPECT_EQ(ir.find("found.conflict"), std::string::npos) << "no run-time overlap check expected";
}

TEST(NativeExecutor, ArgumentsSharedValuesAndConstantsAreNeverWritten) {
  Array wv = Array::randn({6, 6}, DType::F64, 4);
  Tensor w = shared(wv, "w");
  Tensor x = matrix("x", DType::F64);
  Tensor c = constant(Array::randn({6, 6}, DType::F64, 5));
  // Every kernel here reads a parameter, a shared value or a constant that
  // dies at that step: none may be overwritten.
  Tensor y = exp(x) * 2, z = tanh(w.matmul(x)) + c;
  Array xv = Array::randn({6, 6}, DType::F64, 6), x0 = xv.copy();
  Function f = function({x}, {y, z, w * 1}, native());
  Function g = function({x}, {y, z, w * 1}, interp());
  for (int call = 0; call < 3; ++call) {
    std::vector<Array> got = f(xv), want = g(xv);
    for (std::size_t i = 0; i < got.size(); ++i) expect_close(got[i], want[i], 1e-12);
  }
  EXPECT_TRUE(same_bytes(xv, x0));
  EXPECT_TRUE(same_bytes(w.get_value(), wv));
}

TEST(NativeExecutor, IntermediatesFreedInACallAreReusedCorrectly) {
  // Kernels separated by host steps (indexing), so several intermediates of
  // the same size die and are handed to later steps.
  Tensor x = matrix("x", DType::F32);
  std::vector<std::int64_t> perm;
  for (std::int64_t i = 0; i < 33; ++i) perm.push_back((i * 7) % 33);
  Tensor idx = constant(Array::from_vector(perm, {33}));
  Tensor a = exp(x) + 1;
  Tensor s1 = take(a, idx, 0);
  Tensor b = s1 * s1 - 3;
  Tensor s2 = take(b, idx, 0);
  Tensor c = tanh(s2) * 0.5 + take(x * 2, idx, 0);
  Array xv = Array::randn({33, 17}, DType::F32, 7);
  std::vector<Array> got = function({x}, {c, b}, native())(xv), want = function({x}, {c, b}, interp())(xv);
  expect_close(got[0], want[0], 1e-5);
  expect_close(got[1], want[1], 1e-5);
  EXPECT_NE(got[0].buffer(), got[1].buffer());
}

TEST(NativeExecutor, LargeOutputsStreamedMatchTheInterpreter) {
  // 2000 x 1500 f32 = 12 MB and 2M f64 = 16 MB outputs: above the streaming
  // threshold; ragged row lengths and a transposed, a broadcast input.
  Tensor x = matrix("x", DType::F32), v = vector("v", DType::F32);
  Tensor y = abs(x - 1) * v + transpose(x);
  Array xv = Array::randn({1500, 1500}, DType::F32, 8), vv = Array::randn({1500}, DType::F32, 9);
  Array xt = Array::randn({2000, 1500}, DType::F32, 10);
  const std::size_t streamed = codegen::streamed_launches();
  Tensor x2 = matrix("x2", DType::F32);
  Tensor y2 = (x2 - 3) * v + 1;
  expect_close(function({x, v}, {y}, native())(xv, vv)[0], function({x, v}, {y}, interp())(xv, vv)[0], 1e-6);
  expect_close(function({x2, v}, {y2}, native())(xt, vv)[0], function({x2, v}, {y2}, interp())(xt, vv)[0], 1e-6);
  Tensor d = vector("d", DType::F64);
  Tensor yd = d * d + 1;
  Array dv = Array::randn({2'000'003}, DType::F64, 11);
  expect_close(function({d}, {yd}, native())(dv)[0], function({d}, {yd}, interp())(dv)[0], 0);
  EXPECT_EQ(codegen::streamed_launches(), streamed + 3) << "each of the three kernels should stream its output";
}

TEST(NativeExecutor, LargeSoftmaxesMatchTheInterpreter) {
  // 2100 x 1500 f32 (12.6 MB) and 1100 x 1000 f64 (8.8 MB), split across
  // threads by rows; not streamed (their exp is computed per element).
  Tensor x = matrix("x", DType::F32), d = matrix("d", DType::F64);
  Array xv = Array::randn({2100, 1500}, DType::F32, 12), dv = Array::randn({1100, 1000}, DType::F64, 13);
  const std::size_t streamed = codegen::streamed_launches();
  expect_close(function({x}, {softmax(x * 3, -1)}, native())(xv)[0],
               function({x}, {softmax(x * 3, -1)}, interp())(xv)[0], 1e-5);
  expect_close(function({d}, {log_softmax(d, -1)}, native())(dv)[0],
               function({d}, {log_softmax(d, -1)}, interp())(dv)[0], 1e-12);
  EXPECT_EQ(codegen::streamed_launches(), streamed) << "kernels calling exp do not stream";
}

TEST(NativeExecutor, ReductionsOverSizesTheFusedKernelCannotIterateStillRun) {
  // Unknown sizes cannot prove at compile time that a keepdims result is
  // broadcast against operands of the reduction's own size: with x [2, 3]
  // and y [2, 5] (or x [2, 1]) the fused kernel cannot iterate the shapes,
  // and the executor must compute the cluster node by node, not fail.
  Tensor x = matrix("x", DType::F32), y = matrix("y", DType::F32);
  const std::vector<Tensor> outs = {sum(x, Axes{1}, true) + y, max(x, Axes{1}, true) * 2 + sum(y, Axes{1}, true),
                                    exp(x - max(x, Axes{1}, true)) / sum(exp(y), Axes{1}, true)};
  for (const Shape& xs : {Shape{2, 3}, Shape{2, 1}, Shape{2, 5}}) {
    Array xv = Array::randn(xs, DType::F32, 14), yv = Array::randn({2, 5}, DType::F32, 15);
    for (std::size_t i = 0; i < outs.size(); ++i) {
      if (i == 2 && xs[1] != 1 && xs[1] != 5) continue;  // x - max(x) and y's sum do not broadcast
      SCOPED_TRACE("output " + std::to_string(i) + ", x " + shape_str(xs));
      expect_close(function({x, y}, {outs[i]}, native())(xv, yv)[0],
                   function({x, y}, {outs[i]}, interp())(xv, yv)[0], 1e-6);
    }
  }
}

TEST(NativeExecutor, HostBlocksAreRecycled) {
  free_cached_memory();
  const void* first;
  {
    Array a = Array::empty({1 << 20}, DType::F32);  // 4 MiB
    first = a.raw_data();
  }
  Array b = Array::empty({1 << 20}, DType::F32);
  EXPECT_EQ(b.raw_data(), first) << "a freed 4 MiB block should be handed out again";
  Array c = Array::empty({1 << 20}, DType::F32);
  EXPECT_NE(c.raw_data(), b.raw_data());
  b = Array();
  c = Array();
  EXPECT_GE(free_cached_memory(), std::size_t{8} << 20);
  EXPECT_EQ(free_cached_memory(), 0u);
}

}  // namespace
