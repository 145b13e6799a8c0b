// The CUDA executor's cuBLASLt epilogue: a matmul whose one reader is a
// kernel computing exactly relu(mm + bias), mm + bias or relu(mm) runs as one
// cuBLASLt call (codegen/cuda/cuda_function.hpp). Checked against the
// interpreter, with the count of fused calls, on a GPU or on the emulator
// (ctest cuda_function_lt_emulator: KILN_CUDA_DRIVER = the emulator, its
// cuBLAS, and the fake cuBLASLt of tests/cuda/fake_cublas); with
// KILN_TEST_REQUIRE_DEVICE set, no device is a failure instead of a skip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "codegen/cuda/cuda_function.hpp"
#include "ir/interpreter.hpp"
#include "kiln/kiln.hpp"
#include "passes/pipeline.hpp"
#include "runtime/cuda_driver.hpp"

namespace {

using namespace kiln;
using codegen::cuda::CudaFunction;

class CudaFunctionLt : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime::cuda_available()) return;
    if (std::getenv("KILN_TEST_REQUIRE_DEVICE")) FAIL() << "no CUDA device (the emulator did not load)";
    GTEST_SKIP() << "no CUDA device";
  }
};

struct Outcome {
  std::size_t candidates = 0;  // fusable pairs in the plan
  std::size_t fused = 0;       // cuBLASLt calls made by the run
};

// Compiles `outs` over `ins` for cuda:0, runs it on `args` and compares every
// output with the interpreter's (relative `rtol`).
Outcome check(const std::vector<Tensor>& ins, const std::vector<Tensor>& outs, const std::vector<Array>& args,
          double rtol) {
  std::vector<ir::NodeRef> params, roots;
  for (const Tensor& t : ins) params.push_back(t.node());
  for (const Tensor& t : outs) roots.push_back(t.node());
  roots = passes::optimize(roots);
  const CudaFunction f(params, roots, Device::cuda(0));
  const std::size_t before = CudaFunction::lt_epilogue_runs();
  const std::vector<Array> got = f.run(args);
  Outcome r{f.lt_candidates(), CudaFunction::lt_epilogue_runs() - before};
  ir::Bindings b;
  for (std::size_t i = 0; i < params.size(); ++i) b[params[i].get()] = args[i];
  const std::vector<Array> want = ir::interpret(roots, b);
  EXPECT_EQ(got.size(), want.size());
  for (std::size_t o = 0; o < got.size() && o < want.size(); ++o) {
    EXPECT_EQ(got[o].device(), Device::cuda(0));
    const Array g = got[o].to(Device::cpu());
    EXPECT_EQ(g.shape(), want[o].shape());
    EXPECT_EQ(g.dtype(), want[o].dtype());
    const std::vector<double> gv = g.to_doubles(), wv = want[o].to_doubles();
    for (std::size_t e = 0; e < gv.size() && e < wv.size(); ++e)
      EXPECT_NEAR(gv[e], wv[e], rtol * (1 + std::abs(wv[e]))) << "output " << o << " element " << e;
  }
  return r;
}

TEST_F(CudaFunctionLt, BiasReluBiasAndReluFuse) {
  for (DType t : {f32, f64}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    const double rtol = t == f32 ? 1e-5 : 1e-12;
    Tensor a = matrix("a", t), b = matrix("b", t), bias = vector("bias", t);
    const Array av = Array::randn({5, 7}, t, 1), bv = Array::randn({7, 3}, t, 2), cv = Array::randn({3}, t, 3);
    Outcome r = check({a, b, bias}, {relu(a.matmul(b) + bias)}, {av, bv, cv}, rtol);
    EXPECT_EQ(r.candidates, 1u);
    EXPECT_EQ(r.fused, 1u);
    r = check({a, b, bias}, {bias + a.matmul(b)}, {av, bv, cv}, rtol);  // either operand order
    EXPECT_EQ(r.fused, 1u);
    r = check({a, b}, {relu(a.matmul(b))}, {av, bv}, rtol);
    EXPECT_EQ(r.fused, 1u);
    // A transposed operand is passed as is.
    r = check({a, b, bias}, {relu(transpose(a).matmul(b) + bias)}, {Array::randn({7, 5}, t, 4), bv, cv}, rtol);
    EXPECT_EQ(r.fused, 1u);
    // A [1, n] bias.
    Tensor row = tensor("row", t, {1, -1});  // statically one row
    r = check({a, b, row}, {relu(a.matmul(b) + row)}, {av, bv, Array::randn({1, 3}, t, 5)}, rtol);
    EXPECT_EQ(r.candidates, 1u);
  }
}

TEST_F(CudaFunctionLt, OtherEpiloguesAndSharedProductsDoNotFuse) {
  Tensor a = matrix("a", f32), b = matrix("b", f32), bias = vector("bias", f32);
  const Array av = Array::randn({4, 6}, f32, 1), bv = Array::randn({6, 5}, f32, 2), cv = Array::randn({5}, f32, 3);
  Outcome r = check({a, b, bias}, {relu(a.matmul(b) + bias) * 2}, {av, bv, cv}, 1e-5);  // one more op
  EXPECT_EQ(r.candidates, 0u);
  EXPECT_EQ(r.fused, 0u);
  Tensor mm = a.matmul(b);
  r = check({a, b, bias}, {relu(mm + bias), mm}, {av, bv, cv}, 1e-5);  // the product is an output too
  EXPECT_EQ(r.candidates, 0u);
  r = check({a, b, bias}, {tanh(a.matmul(b) + bias)}, {av, bv, cv}, 1e-5);
  EXPECT_EQ(r.candidates, 0u);
  // A bias that is not a row (a full matrix) is an ordinary add.
  Tensor c = matrix("c", f32);
  r = check({a, b, c}, {relu(a.matmul(b) + c)}, {av, bv, Array::randn({4, 5}, f32, 4)}, 1e-5);
  EXPECT_EQ(r.candidates, 0u);
}

TEST_F(CudaFunctionLt, ShapeErrorsAreStillTheInterpreters) {
  Tensor a = matrix("a", f32), b = matrix("b", f32), bias = vector("bias", f32);
  std::vector<ir::NodeRef> roots = passes::optimize({relu(a.matmul(b) + bias).node()});
  const CudaFunction f({a.node(), b.node(), bias.node()}, roots, Device::cuda(0));
  EXPECT_THROW(f.run({Array::randn({4, 6}, f32, 1), Array::randn({5, 5}, f32, 2), Array::randn({5}, f32, 3)}),
               Error);  // 6 != 5
  EXPECT_THROW(f.run({Array::randn({4, 6}, f32, 1), Array::randn({6, 5}, f32, 2), Array::randn({4}, f32, 3)}),
               Error);  // the bias does not broadcast
}

}  // namespace
