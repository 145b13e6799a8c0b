// The native backend's non-kernel steps against the reference interpreter:
// matmul through BLAS (every NumPy form, transposed and strided operands,
// zero sizes), shape ops as views (and no copy where a view feeds a kernel),
// results and updates that must not alias arguments or shared values,
// kernels split across threads, and the two-layer network's training step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "codegen/native_function.hpp"
#include "codegen/partition.hpp"
#include "kiln/kiln.hpp"
#include "passes/pipeline.hpp"

namespace {

using namespace kiln;

std::vector<Array> run_with(const std::vector<Tensor>& ins, const std::vector<Tensor>& outs,
                            const std::vector<Array>& args, Backend backend, bool optimize = false) {
  FunctionOptions o;
  o.backend = backend;
  o.optimize = optimize;
  return function(ins, outs, o)(args);
}

// |got - want| <= tol * max(1, |want|) elementwise, same dtype and shape.
void expect_near(const Array& got, const Array& want, double tol, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<double> g = got.to_doubles(), w = want.to_doubles();
  for (std::size_t i = 0; i < g.size(); ++i)
    ASSERT_LE(std::fabs(g[i] - w[i]), tol * std::max(1.0, std::fabs(w[i])))
        << what << " at " << i << ": native " << g[i] << " vs interpreter " << w[i];
}

std::vector<DimSpec> dims_of(const Shape& s) { return std::vector<DimSpec>(s.begin(), s.end()); }

// Both backends on the same graph, optimized or not.
void check_both(const std::vector<Tensor>& ins, const std::vector<Tensor>& outs, const std::vector<Array>& args,
                double tol, const std::string& what) {
  for (bool opt : {false, true}) {
    auto want = run_with(ins, outs, args, Backend::Interpreter, opt);
    auto got = run_with(ins, outs, args, Backend::Native, opt);
    for (std::size_t i = 0; i < outs.size(); ++i)
      expect_near(got[i], want[i], tol, what + (opt ? " (optimized)" : "") + " output " + std::to_string(i));
  }
}

double matmul_tol(DType t, std::int64_t k) { return (t == DType::F64 ? 1e-12 : 1e-5) * std::max<double>(1, k); }

std::string plan_of(const std::vector<Tensor>& outs) {
  std::vector<ir::NodeRef> roots;
  for (const Tensor& t : outs) roots.push_back(t.node());
  return codegen::print_plan(codegen::NativeFunction(roots).plan());
}

// ---- matmul ----

struct MatmulCase {
  Shape a, b;
};

TEST(NativePlan, MatmulInEveryNumPyForm) {
  const std::vector<MatmulCase> cases = {
      {{5}, {5}},             {{5}, {5, 3}},          {{4, 5}, {5}},          {{4, 5}, {5, 3}},
      {{2, 4, 5}, {5, 3}},    {{4, 5}, {3, 5, 2}},    {{2, 1, 4, 5}, {3, 5, 2}}, {{2, 3, 4, 5}, {2, 3, 5, 6}},
      {{3}, {2, 3, 4}},       {{1, 1}, {1, 7}},       {{4, 0}, {0, 3}},       {{0, 5}, {5, 3}},
      {{4, 5}, {5, 0}},       {{0, 4, 5}, {5, 3}},    {{2, 3, 0}, {0, 2}},    {{37, 64}, {64, 29}},
  };
  for (DType t : {DType::F32, DType::F64}) {
    for (const MatmulCase& c : cases) {
      Tensor a = tensor("a", t, dims_of(c.a)), b = tensor("b", t, dims_of(c.b));
      Array av = Array::uniform(c.a, t, 1, -1.0, 1.0), bv = Array::uniform(c.b, t, 2, -1.0, 1.0);
      const std::int64_t k = c.a.back();
      check_both({a, b}, {a.matmul(b)}, {av, bv}, matmul_tol(t, k),
                 std::string(dtype_name(t)) + " " + Array::from_vector(c.a, {static_cast<std::int64_t>(c.a.size())})
                                                         .to_string() + " @ " +
                     Array::from_vector(c.b, {static_cast<std::int64_t>(c.b.size())}).to_string());
    }
  }
}

TEST(NativePlan, MatmulOfTransposedAndStridedOperands) {
  for (DType t : {DType::F32, DType::F64}) {
    Tensor x = tensor("x", t, {6, 4}), y = tensor("y", t, {6, 3}), z = tensor("z", t, {3, 6});
    Tensor bx = tensor("bx", t, {2, 6, 4}), by = tensor("by", t, {2, 6, 3});
    Array xv = Array::uniform({6, 4}, t, 3, -1, 1), yv = Array::uniform({6, 3}, t, 4, -1, 1),
          zv = Array::uniform({3, 6}, t, 5, -1, 1), bxv = Array::uniform({2, 6, 4}, t, 6, -1, 1),
          byv = Array::uniform({2, 6, 3}, t, 7, -1, 1);
    const std::vector<Tensor> outs = {
        x.T().matmul(y),                                      // A transposed
        x.T().matmul(z.T()),                                  // both transposed
        z.matmul(x),                                          // plain
        transpose(bx, {0, 2, 1}).matmul(by),                  // batched, transposed
        slice(x, {Slice{{}, {}, 2}}).T().matmul(slice(y, {Slice{{}, {}, 2}})),  // row steps
        flip(x, {0}).T().matmul(y),                           // negative strides: copied
        broadcast_to(slice(y, {Slice{0, 1}}), {4, 3}).T().matmul(x.T()),  // zero strides: copied
    };
    check_both({x, y, z, bx, by}, outs, {xv, yv, zv, bxv, byv}, matmul_tol(t, 6), std::string(dtype_name(t)));
  }
}

TEST(NativePlan, MatmulStepsAreBlasForFloatsOnly) {
  Tensor x = tensor("x", DType::F32, {6, 4}), y = tensor("y", DType::F32, {6, 3});
  const std::string p = plan_of({x.T().matmul(y)});
  EXPECT_NE(p.find("view transpose"), std::string::npos) << p;
  EXPECT_NE(p.find("matmul (blas)"), std::string::npos) << p;
  EXPECT_EQ(p.find("host transpose"), std::string::npos) << p;
  Tensor i = tensor("i", DType::I32, {2, 3}), j = tensor("j", DType::I32, {3, 2});
  EXPECT_NE(plan_of({i.matmul(j)}).find("host matmul"), std::string::npos);
  Array iv = Array::randint({2, 3}, -5, 5, DType::I32, 1), jv = Array::randint({3, 2}, -5, 5, DType::I32, 2);
  EXPECT_TRUE(run_with({i, j}, {i.matmul(j)}, {iv, jv}, Backend::Native)[0].equals(
      run_with({i, j}, {i.matmul(j)}, {iv, jv}, Backend::Interpreter)[0]));
}

TEST(NativePlan, MatmulRunTimeErrorsAreTheInterpreters) {
  Tensor a = tensor("a", DType::F64, {"m", "k"}), b = tensor("b", DType::F64, {"k2", "n"});
  Array av = Array::zeros({2, 3}, DType::F64), bv = Array::zeros({4, 2}, DType::F64);
  Tensor c = a.matmul(b);
  std::string want, got;
  try { run_with({a, b}, {c}, {av, bv}, Backend::Interpreter); } catch (const Error& e) { want = e.what(); }
  try { run_with({a, b}, {c}, {av, bv}, Backend::Native); } catch (const Error& e) { got = e.what(); }
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(got, want);
}

// ---- views ----

TEST(NativePlan, ShapeOpsAreViewsAndEqualTheInterpreter) {
  Tensor x = tensor("x", DType::F64, {4, 6}), v = tensor("v", DType::F64, {1, 6});
  Array xv = Array::randn({4, 6}, DType::F64, 11), vv = Array::randn({1, 6}, DType::F64, 12);
  const std::vector<Tensor> views = {
      x.T(),
      expand_dims(x, {1}),
      squeeze(v, {0}),
      broadcast_to(v, {3, 4, 6}),
      x.reshape({2, 12}),
      x.T().reshape({24}),  // not contiguous: a copy
      slice(x, {Slice{1, 4, 2}, Slice{{}, {}, -2}}),
      slice(x, {Slice{3, 0, -1}, Slice{2, 2}}),  // empty
      flip(x, {0, 1}),
  };
  std::vector<Tensor> outs = views;
  for (const Tensor& t : views) outs.push_back(exp(t) * 2);  // a view feeding a kernel
  check_both({x, v}, outs, {xv, vv}, 1e-15, "views");

  const std::string p = plan_of({exp(x.T()) + 1});
  EXPECT_NE(p.find("view transpose"), std::string::npos) << p;
  EXPECT_EQ(p.find("host"), p.find("host input")) << p;  // the only host step reads x
}

TEST(NativePlan, ViewErrorsAreTheInterpreters) {
  Tensor x = tensor("x", DType::F64, {"n"});
  Array xv = Array::zeros({5}, DType::F64);
  Tensor r = x.reshape({2, -1});
  std::string want, got;
  try { run_with({x}, {r}, {xv}, Backend::Interpreter); } catch (const Error& e) { want = e.what(); }
  try { run_with({x}, {r}, {xv}, Backend::Native); } catch (const Error& e) { got = e.what(); }
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(got, want);
}

// ---- aliasing ----

bool overlaps(const Array& a, const Array& b) {
  const auto* pa = a.buffer()->data;
  const auto* pb = b.buffer()->data;
  return pa < pb + b.buffer()->bytes && pb < pa + a.buffer()->bytes;
}

TEST(NativePlan, OutputsNeverAliasArguments) {
  Tensor x = tensor("x", DType::F64, {3, 4});
  Array xv = Array::randn({3, 4}, DType::F64, 5);
  auto got = run_with({x}, {x.T(), slice(x, {Slice{1, 2}}), x.reshape({12}), x.T()}, {xv}, Backend::Native);
  for (const Array& g : got) {
    EXPECT_FALSE(overlaps(g, xv));
    EXPECT_TRUE(g.is_contiguous());
  }
  EXPECT_FALSE(overlaps(got[0], got[3]));  // the same output twice: two arrays
  EXPECT_TRUE(got[0].equals(run_with({x}, {x.T()}, {xv}, Backend::Interpreter)[0]));
}

TEST(NativePlan, UpdatesThatSwapOrTransposeSharedVariables) {
  Array a0 = Array::from({{1.0, 2.0}, {3.0, 4.0}}), b0 = Array::from({{5.0, 6.0}, {7.0, 8.0}});
  Tensor a = shared(a0.copy(), "a"), b = shared(b0.copy(), "b"), c = shared(a0.copy(), "c");
  FunctionOptions o;
  o.backend = Backend::Native;
  o.updates = {{a, b}, {b, a}, {c, c.T()}};
  Function f = function({}, {c}, o);
  Array out = f()[0];
  EXPECT_TRUE(out.equals(a0));
  EXPECT_TRUE(a.get_value().equals(b0));
  EXPECT_TRUE(b.get_value().equals(a0));
  EXPECT_TRUE(c.get_value().equals(Array::from({{1.0, 3.0}, {2.0, 4.0}})));
  EXPECT_FALSE(overlaps(a.get_value(), b.get_value()));
  EXPECT_FALSE(overlaps(c.get_value(), out));
  f();
  EXPECT_TRUE(a.get_value().equals(a0));
  EXPECT_TRUE(b.get_value().equals(b0));
  EXPECT_TRUE(c.get_value().equals(a0));
  EXPECT_TRUE(out.equals(a0));  // the earlier output did not change
}

// ---- threads ----

TEST(NativePlan, LargeKernelsSplitAcrossThreadsEqualTheInterpreter) {
  // Large enough (elements x per-element cost) to be split: by rows, and one
  // long row by parts; strided inputs (transposed, flipped) included.
  Tensor x = tensor("x", DType::F64, {"m", "n"}), y = tensor("y", DType::F64, {"n"});
  Tensor v = tensor("v", DType::F32, {"k"});
  Array xv = Array::randn({700, 301}, DType::F64, 1), yv = Array::randn({301}, DType::F64, 2);
  Array vv = Array::randn({200003}, DType::F32, 3);
  check_both({x, y, v},
             {exp(x) * y + sin(x.T().T()), exp(flip(x, {1})) - y, exp(v) * v + 1, x.T() * 2,
              tanh(expand_dims(flip(v, {0}), {0}))},  // one long row of rank 2
             {xv, yv, vv}, 1e-6, "threads");
  // Exactly the interpreter's where the math is correctly rounded.
  const std::vector<Tensor> exact = {sqrt(abs(x)) * y - 2, sqrt(abs(v)) + 1};
  auto want = run_with({x, y, v}, exact, {xv, yv, vv}, Backend::Interpreter);
  auto got = run_with({x, y, v}, exact, {xv, yv, vv}, Backend::Native);
  EXPECT_TRUE(got[0].equals(want[0]));
  EXPECT_TRUE(got[1].equals(want[1]));

  // Calls from several threads at once (one holds the helpers, the others run alone).
  FunctionOptions o;
  o.backend = Backend::Native;
  Function f = function({x, y, v}, exact, o);
  std::vector<std::vector<Array>> outs(4);
  std::vector<std::thread> callers;
  for (auto& out : outs) callers.emplace_back([&] { out = f(xv, yv, vv); });
  for (std::thread& t : callers) t.join();
  for (const auto& out : outs) {
    EXPECT_TRUE(out[0].equals(want[0]));
    EXPECT_TRUE(out[1].equals(want[1]));
  }
}

// ---- the two-layer network (examples/two_layer_net.cpp) ----

TEST(NativePlan, TwoLayerNetTrainingStepEqualsTheInterpreter) {
  const std::int64_t N = 64, D_in = 1000, H = 100, D_out = 10;
  Array x_data = Array::randn({N, D_in}, f32, 1), y_data = Array::randn({N, D_out}, f32, 2);
  Array w1_0 = Array::randn({D_in, H}, f32, 3), w2_0 = Array::randn({H, D_out}, f32, 4);
  struct Net {
    Tensor w1, w2;
    Function step;
  };
  auto build = [&](Backend backend) {
    Tensor x = matrix("x", f32), y = matrix("y", f32);
    Tensor w1 = shared(w1_0.copy(), "w1"), w2 = shared(w2_0.copy(), "w2");
    Tensor loss = sum(square(relu(x.matmul(w1)).matmul(w2) - y));
    std::vector<Tensor> g = grad(loss, {w1, w2});
    FunctionOptions o;
    o.backend = backend;
    o.updates = {{w1, w1 - 1e-6 * g[0]}, {w2, w2 - 1e-6 * g[1]}};
    return Net{w1, w2, function({x, y}, {loss}, o)};
  };
  Net ref = build(Backend::Interpreter), nat = build(Backend::Native);
  {
    // Every matmul of the optimized step (forward and gradients) is a BLAS call
    // whose transposed operands are views.
    Tensor x = matrix("x", f32), y = matrix("y", f32);
    Tensor loss = sum(square(relu(x.matmul(nat.w1)).matmul(nat.w2) - y));
    std::vector<Tensor> g = grad(loss, {nat.w1, nat.w2});
    const std::vector<ir::NodeRef> roots = passes::optimize({loss.node(), g[0].node(), g[1].node()});
    const std::string p = codegen::print_plan(codegen::NativeFunction(roots).plan());
    EXPECT_NE(p.find("matmul (blas)"), std::string::npos) << p;
    EXPECT_EQ(p.find("host matmul"), std::string::npos) << p;
    EXPECT_EQ(p.find("host transpose"), std::string::npos) << p;
  }
  for (int t = 0; t < 3; ++t) {
    const double want = ref.step(x_data, y_data)[0].item(), got = nat.step(x_data, y_data)[0].item();
    EXPECT_NEAR(got, want, 1e-5 * std::fabs(want)) << "step " << t;
  }
  expect_near(nat.w1.get_value(), ref.w1.get_value(), 1e-5, "w1");
  expect_near(nat.w2.get_value(), ref.w2.get_value(), 1e-5, "w2");
}

}  // namespace
