// Reductions as fused native kernels, against the reference interpreter:
// every reduction (sum prod max min mean all any argmax argmin) on every dtype it
// accepts, over no/first/middle/last/several/negative axes, with and without
// keepdims; fused producers and consumers (softmax, log_softmax, logsumexp,
// mean/var patterns); broadcast and strided inputs; empty dims; NaNs; the
// plans (softmax is one kernel) and the kernel text; vectorised row loops.
#include <gtest/gtest.h>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <string>
#include <vector>

#include "codegen/llvm/emit.hpp"
#include "codegen/llvm/jit.hpp"
#include "codegen/native_function.hpp"
#include "codegen/partition.hpp"
#include "kiln/kiln.hpp"
#include "kiln_test_util.hpp"
#include "passes/pipeline.hpp"

namespace {

using namespace kiln;
using kiln_test::error_of;

std::vector<Array> run_with(const std::vector<Tensor>& ins, const std::vector<Tensor>& outs,
                            const std::vector<Array>& args, Backend backend, bool optimize) {
  FunctionOptions o;
  o.backend = backend;
  o.optimize = optimize;
  return function(ins, outs, o)(args);
}

// Relative tolerance of a dtype's float results (the interpreter sums in
// double, kernels in the computing type, reassociated).
double tol_of(DType t) {
  switch (t) {
    case DType::F64: return 1e-12;
    case DType::F32: return 2e-5;
    case DType::F16: return 2e-3;
    case DType::BF16: return 1.6e-2;
    default: return 0;
  }
}

// Same dtype and shape; |got - want| <= tol * max(1, |want|), NaN where the
// interpreter has NaN; integers exactly.
void expect_close(const Array& got, const Array& want, double tol, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<double> g = got.to_doubles(), w = want.to_doubles();
  if (!is_float(want.dtype())) tol = 0;  // integer, bool and index results are exact
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i])) {
      ASSERT_TRUE(std::isnan(g[i])) << what << " at " << i << ": native " << g[i] << " vs interpreter NaN";
      continue;
    }
    if (std::isinf(w[i])) {
      ASSERT_EQ(g[i], w[i]) << what << " at " << i;
      continue;
    }
    ASSERT_LE(std::fabs(g[i] - w[i]), tol * std::max(1.0, std::fabs(w[i])))
        << what << " at " << i << ": native " << g[i] << " vs interpreter " << w[i];
  }
}

// Both backends, optimised or not.
void check_both(const std::vector<Tensor>& ins, const std::vector<Tensor>& outs, const std::vector<Array>& args,
                double tol, const std::string& what) {
  for (bool opt : {false, true}) {
    auto want = run_with(ins, outs, args, Backend::Interpreter, opt);
    auto got = run_with(ins, outs, args, Backend::Native, opt);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < outs.size(); ++i)
      expect_close(got[i], want[i], tol, what + (opt ? " (optimized)" : "") + " output " + std::to_string(i));
  }
}

std::string plan_of(const std::vector<Tensor>& outs) {
  std::vector<ir::NodeRef> roots;
  for (const Tensor& t : outs) roots.push_back(t.node());
  return codegen::print_plan(codegen::NativeFunction(roots).plan());
}
std::string optimized_plan_of(const std::vector<Tensor>& ins, const std::vector<Tensor>& outs) {
  FunctionOptions o;
  o.backend = Backend::Native;
  o.optimize = true;
  (void)ins;
  std::vector<ir::NodeRef> roots;
  for (const Tensor& t : outs) roots.push_back(t.node());
  return codegen::print_plan(codegen::NativeFunction(kiln::passes::optimize(roots)).plan());
}

// Test data for a dtype: floats in [lo, hi], small integers, bools.
Array data_of(const Shape& s, DType t, std::uint64_t seed, double lo = -1, double hi = 1) {
  if (t == DType::Bool) return Array::randint(s, 0, 2, DType::I64, seed).astype(DType::Bool);
  if (t == DType::U8) return Array::randint(s, 0, 6, DType::I64, seed).astype(t);
  if (!is_float(t)) return Array::randint(s, -4, 5, DType::I64, seed).astype(t);
  return Array::uniform(s, DType::F64, seed, lo, hi).astype(t);
}

using ReduceFn = Tensor (*)(const Tensor&, const Axes&, bool, Loc);

struct ReduceOp {
  const char* name;
  ReduceFn fn;
};

const ReduceOp kOps[] = {{"sum", &sum}, {"prod", &prod}, {"max", &max}, {"min", &min},
                         {"mean", &mean}, {"all", &all}, {"any", &any}, {"argmax", &argmax}, {"argmin", &argmin}};

bool accepts(const std::string& op, DType t) {
  if (op == "sum" || op == "prod") return t != DType::Bool;
  if (op == "mean") return is_float(t);
  if (op == "all" || op == "any") return t == DType::Bool;
  return true;
}

const DType kDTypes[] = {DType::F32, DType::F64, DType::F16, DType::BF16,
                         DType::I32, DType::I64, DType::U8,  DType::Bool};

// ---- every op × dtype × axes × keepdims ----

class NativeReduceOps : public ::testing::TestWithParam<ReduceOp> {};

TEST_P(NativeReduceOps, EveryDTypeAxesAndKeepdimsMatchTheInterpreter) {
  const ReduceOp op = GetParam();
  const Shape shape{3, 4, 5};
  const std::vector<Axes> axes_cases = {Axes{}, Axes{0}, Axes{1}, Axes{2}, Axes{-1}, Axes{0, 2}, Axes{1, 2},
                                        Axes{0, 1}, Axes{-3, -2, -1}};
  for (DType t : kDTypes) {
    if (!accepts(op.name, t)) continue;
    Tensor x = tensor("x", t, {-1, -1, -1});
    std::vector<Tensor> outs;
    for (const Axes& ax : axes_cases)
      for (bool keep : {false, true}) outs.push_back(op.fn(x, ax, keep, Loc::current()));
    // prod: values near 1, so 60 factors neither vanish nor overflow.
    const bool p = std::string(op.name) == "prod";
    Array xv = data_of(shape, t, 7, p ? 0.6 : -1, p ? 1.4 : 1);
    // argmax/argmin: few distinct values, so ties test that the first occurrence wins.
    if (std::string(op.name).rfind("arg", 0) == 0 && is_float(t)) xv = Array::randint(shape, -2, 3, DType::I64, 7).astype(t);
    const std::string what = std::string(op.name) + " " + std::string(dtype_name(t));
    check_both({x}, outs, {xv}, tol_of(t), what);
    // Each reduction is a kernel, not a host step.
    EXPECT_EQ(plan_of(outs).find("host " + std::string(op.name)), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, NativeReduceOps, ::testing::ValuesIn(kOps),
                         [](const ::testing::TestParamInfo<ReduceOp>& i) { return std::string(i.param.name); });

// ---- fused producers and consumers ----

TEST(NativeReduce, FusedProducersAndConsumersMatchTheInterpreter) {
  for (DType t : {DType::F32, DType::F64, DType::F16, DType::BF16}) {
    Tensor x = matrix("x", t), y = matrix("y", t), b = vector("b", t), c = vector("c", t);
    const std::vector<Tensor> outs = {
        sum(x * x, 1),                                   // producers over the input space
        kiln::sqrt(mean(square(x - y), -1)) + c,         // consumers over the reduced shape, another input there
        x - mean(x, -1, true),                           // keepdims result broadcast back
        sum(x + b, 0),                                   // a broadcast producer, column sums
        var(x, 1),                                       // mean, then a second phase
        max(exp(x) * 2, 0, true) - min(x, 0, true),      // two reductions over the first axis
        softmax(x, 0),                                   // softmax down the columns
        kiln::stddev(x, 0, true),
        argmax(x - mean(x, -1, true), -1),               // an index reduction in a second phase
        argmin(exp(x) - mean(x, 0, true), 0, true),
    };
    Array xv = data_of({6, 7}, t, 1), yv = data_of({6, 7}, t, 2), bv = data_of({7}, t, 3), cv = data_of({6}, t, 4);
    check_both({x, y, b, c}, outs, {xv, yv, bv, cv}, tol_of(t) * 4, std::string("fused ") + std::string(dtype_name(t)));
  }
}

TEST(NativeReduce, IntegerSumsWrapLikeTheInterpreter) {
  for (DType t : {DType::I32, DType::U8, DType::I64}) {
    Tensor x = matrix("x", t);
    const std::vector<Tensor> outs = {sum(x * x, 1), prod(x, 0), max(x - 3, -1), min(x, 0, true) + 1};
    Array xv = t == DType::U8 ? Array::randint({9, 40}, 0, 256, DType::I64, 5).astype(t)
                              : Array::randint({9, 40}, -100000, 100000, DType::I64, 5).astype(t);
    check_both({x}, outs, {xv}, 0, std::string("wrapping ") + std::string(dtype_name(t)));
  }
}

// ---- softmax family ----

TEST(NativeReduce, SoftmaxFamilyMatchesTheInterpreter) {
  for (DType t : {DType::F32, DType::F64, DType::F16, DType::BF16}) {
    Tensor x = matrix("x", t);
    Tensor x3 = tensor("x3", t, {-1, -1, -1});
    const std::vector<Tensor> outs = {softmax(x), log_softmax(x), logsumexp(x, -1), logsumexp(x, -1, true),
                                      softmax(x3, 1), log_softmax(x3, 0), softmax(x3, -1)};
    Array xv = data_of({5, 37}, t, 3, -20, 20), x3v = data_of({3, 4, 19}, t, 4, -5, 5);
    check_both({x, x3}, outs, {xv, x3v}, tol_of(t) * 4, std::string("softmax ") + std::string(dtype_name(t)));
  }
}

TEST(NativeReduce, SoftmaxIsOneKernel) {
  for (bool opt : {false, true}) {
    Tensor x = matrix("x", DType::F32);
    for (const Tensor& y : {softmax(x), log_softmax(x), softmax(x, 0)}) {
      const std::string plan = opt ? optimized_plan_of({x}, {y}) : plan_of({y});
      EXPECT_EQ(plan, "host input\nkernel 0\n") << (opt ? "optimized" : "");
    }
    // logsumexp too, with keepdims or without (its max is squeezed into the reduced shape).
    for (bool keep : {true, false}) {
      const Tensor y = logsumexp(x, -1, keep);
      EXPECT_EQ(opt ? optimized_plan_of({x}, {y}) : plan_of({y}), "host input\nkernel 0\n") << keep;
    }
  }
}

TEST(NativeReduce, SoftmaxKernelText) {
  Tensor x = matrix("x", DType::F32);
  std::vector<ir::NodeRef> roots{softmax(x).node()};
  codegen::NativeFunction f(roots);
  ASSERT_EQ(f.kernel_texts().size(), 1u);
  EXPECT_EQ(f.kernel_texts()[0],
            "kernel rank=2 reduce=[_,r] (in0: f32[_,_]) -> out: f32[_,_]\n"
            "  %0 = load in0 : f32\n"
            "  %1 = reduce max %0 : f32 row\n"
            "  %2 = stop_gradient %1 : f32 row\n"
            "  %3 = sub %0, %2 : f32\n"
            "  %4 = exp %3 : f32\n"
            "  %5 = reduce sum %4 : f32 row\n"
            "  %6 = div %4, %5 : f32\n"
            "  store %6\n");
}

TEST(NativeReduce, ReducedShapeOperandsAreMappedOntoTheKeptDims) {
  Tensor x = tensor("x", DType::F64, {-1, -1, -1}), c = vector("c", DType::F64);
  std::vector<ir::NodeRef> roots{(sum(x, 1) * c).node()};
  codegen::NativeFunction f(roots);
  ASSERT_EQ(f.kernel_texts().size(), 1u);
  EXPECT_EQ(f.kernel_texts()[0],
            "kernel rank=3 reduce=[_,r,_] (in0: f64[_,_,_], in1: f64[b,b,_]) -> out: f64[_,b,_]@(0,2)\n"
            "  %0 = load in0 : f64\n"
            "  %1 = reduce sum %0 : f64 row\n"
            "  %2 = load in1 : f64 row\n"
            "  %3 = mul %1, %2 : f64 row\n"
            "  store %3\n");
  Array xv = data_of({2, 3, 4}, DType::F64, 1), cv = data_of({4}, DType::F64, 2);
  check_both({x, c}, {sum(x, 1) * c}, {xv, cv}, 1e-12, "kept-dim operand");
}

TEST(NativeReduce, SqueezedKeepdimsResultsWithoutAReductionInTheKernel) {
  // The keepdims sums are outputs, so each squeeze's kernel reads them as
  // operands: kernels over the sums' space whose reduced dims hold no reduction.
  Tensor x = matrix("x", DType::F32), c = vector("c", DType::F32);
  Tensor r = sum(x, 1, true), k = sum(x, 0, true);
  const std::vector<Tensor> outs = {r, squeeze(r, Axes{1}) * 2 + c, k, squeeze(k, Axes{0}) - 1};
  Array xv = data_of({5, 5}, DType::F32, 1), cv = data_of({5}, DType::F32, 2);
  check_both({x, c}, outs, {xv, cv}, 1e-5, "squeezed");
  const std::string plan = plan_of(outs);  // four kernels, no squeeze view
  EXPECT_EQ(plan.find("view"), std::string::npos) << plan;
  EXPECT_NE(plan.find("kernel 3"), std::string::npos) << plan;
}

// ---- views, broadcasting, sizes ----

TEST(NativeReduce, StridedAndTransposedInputs) {
  for (DType t : {DType::F32, DType::I32}) {
    Tensor x = tensor("x", t, {-1, -1, -1});
    Tensor xt = transpose(x, {2, 0, 1});
    Tensor xf = flip(x, Axes{2});
    const std::vector<Tensor> outs = {sum(xt, -1), max(xt, 0), sum(xf, {0, 2}), min(xf, -1, true) * 2,
                                      sum(transpose(x), 1), prod(xt, {1, 2}, true)};
    Array xv = data_of({4, 5, 6}, t, 9, 0.5, 1.5);
    check_both({x}, outs, {xv}, tol_of(t), std::string("strided ") + std::string(dtype_name(t)));
  }
}

TEST(NativeReduce, BroadcastInputsInsideTheReduction) {
  Tensor x = matrix("x", DType::F32), r = tensor("r", DType::F32, {-1, 1}), s = scalar("s", DType::F32);
  const std::vector<Tensor> outs = {sum(x * r, -1), sum(x * r, 0), max(x + s, {0, 1}), sum(r + s, -1, true),
                                    mean(x - r, 1, true) * r};
  Array xv = data_of({7, 9}, DType::F32, 1), rv = data_of({7, 1}, DType::F32, 2), sv = Array::scalar(0.25, DType::F32);
  check_both({x, r, s}, outs, {xv, rv, sv}, 1e-5, "broadcast inputs");
}

TEST(NativeReduce, LongRowsAndColumnsAcrossChunksAndThreads) {
  Tensor x = matrix("x", DType::F32);
  const std::vector<Tensor> outs = {sum(x, 0), max(x, 0), mean(x, 0, true), softmax(x), sum(x, -1), softmax(x, 0)};
  // 300 and 1100 columns: several chunks of the kept-innermost schedule, a ragged last one.
  for (const Shape& s : {Shape{1200, 300}, Shape{3, 1100}, Shape{1, 70000}, Shape{70000, 1}}) {
    Array xv = data_of(s, DType::F32, 4);
    check_both({x}, outs, {xv}, 1e-4, "shape " + shape_str(s));
  }
}

TEST(NativeReduce, EmptyDims) {
  Tensor x = matrix("x", DType::F32);
  Array e0 = Array::zeros({0, 4}, DType::F32), e1 = Array::zeros({3, 0}, DType::F32);
  const std::vector<Tensor> outs = {sum(x, 1), prod(x, 1, true), mean(x, 1), sum(x, 0) + 1, sum(x), any(x > 0, 1),
                                    all(x > 0, 0, true)};
  for (const Array& a : {e0, e1}) check_both({x}, outs, {a}, 0, "empty " + shape_str(a.shape()));
  // Hand-computed: an empty sum is 0, an empty product 1, an empty mean NaN.
  auto got = run_with({x}, {sum(x, 1), prod(x, 1), mean(x, 1), all(x > 0, 1)}, {e1}, Backend::Native, false);
  kiln_test::expect_array(got[0], DType::F32, {3}, {0, 0, 0});
  kiln_test::expect_array(got[1], DType::F32, {3}, {1, 1, 1});
  EXPECT_TRUE(std::isnan(got[2].to_doubles().at(0)));
  kiln_test::expect_array(got[3], DType::Bool, {3}, {1, 1, 1});
}

TEST(NativeReduce, MaxOfAnEmptyAxisIsTheInterpretersError) {
  Tensor x = matrix("x", DType::F32);
  for (const Tensor& y : {max(x, 1), min(exp(x), 1, true) + 1, argmax(x, 1), argmin(x * 2, 1)}) {
    Array e1 = Array::zeros({3, 0}, DType::F32);
    const std::string want = error_of([&] { run_with({x}, {y}, {e1}, Backend::Interpreter, false); });
    const std::string got = error_of([&] { run_with({x}, {y}, {e1}, Backend::Native, false); });
    EXPECT_EQ(got, want);
    EXPECT_NE(got.find("zero-size array to reduction"), std::string::npos) << got;
    EXPECT_NE(got.find("native_reduce_test.cpp"), std::string::npos) << got;
  }
}

TEST(NativeReduce, MismatchedShapesAreTheInterpretersError) {
  Tensor x = matrix("x", DType::F32), c = vector("c", DType::F32);
  Tensor y = sum(x, 1) + c;
  std::vector<Array> args = {data_of({3, 4}, DType::F32, 1), data_of({5}, DType::F32, 2)};
  const std::string want = error_of([&] { run_with({x, c}, {y}, args, Backend::Interpreter, false); });
  const std::string got = error_of([&] { run_with({x, c}, {y}, args, Backend::Native, false); });
  EXPECT_EQ(got, want);
}

TEST(NativeReduce, NaNsPropagateLikeTheInterpreter) {
  for (DType t : {DType::F32, DType::F64, DType::F16, DType::BF16}) {
    Tensor x = matrix("x", t);
    const std::vector<Tensor> outs = {max(x, 1), min(x, 0), max(x, 0, true) + 1, sum(x, 1), softmax(x), prod(x, 0),
                                      argmax(x, 1), argmin(x, 0), argmax(x, 0), argmin(x, 1, true)};
    const double nan = NAN, inf = INFINITY;
    Array xv = Array::from({{1.0, nan, 3.0, -2.0},
                            {-1.0, 2.0, 0.5, nan},
                            {inf, -inf, 1.0, 2.0},
                            {nan, nan, nan, nan},
                            {4.0, 5.0, -6.0, 7.0}})
                   .astype(t);
    check_both({x}, outs, {xv}, tol_of(t) * 4, std::string("NaN ") + std::string(dtype_name(t)));
    auto got = run_with({x}, {max(x, 1), min(x, 1)}, {xv}, Backend::Native, false);
    const std::vector<double> mx = got[0].to_doubles(), mn = got[1].to_doubles();
    EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mx[1]) && std::isnan(mn[3])) << dtype_name(t);
    EXPECT_EQ(mx[2], INFINITY);
    EXPECT_EQ(mn[2], -INFINITY);
    EXPECT_EQ(mx[4], 7.0);
  }
}

// ---- generated code ----

// The optimised IR of the kernel computing `y` (one cluster).
std::string optimized_ir_of(const Tensor& y) {
  std::vector<ir::NodeRef> roots{y.node()};
  codegen::Plan plan = codegen::partition(roots);
  EXPECT_EQ(plan.clusters.size(), 1u);
  auto jit = codegen::Jit::create();
  codegen::define_kernel_helpers(*jit);
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto m = jit->new_module("reduce_test", *ctx);
  codegen::emit_kernel(plan.clusters.at(0).kernel, "k", *m);
  std::string ir;
  jit->add_module(std::move(m), std::move(ctx), &ir);
  return ir;
}

TEST(NativeReduce, RowSumMaxAndSoftmaxLoopsVectorise) {
  Tensor x = matrix("x", DType::F32);
  // Vector accumulators, then a horizontal reduction.
  const std::string s = optimized_ir_of(sum(x, -1));
  EXPECT_NE(s.find("fadd reassoc <16 x float>"), std::string::npos) << s;
  EXPECT_NE(s.find("llvm.vector.reduce.fadd"), std::string::npos) << s;
  const std::string m = optimized_ir_of(max(x, -1));
  EXPECT_NE(m.find("@llvm.maximum.v16f32"), std::string::npos) << m;
  EXPECT_NE(m.find("llvm.vector.reduce.fmaximum"), std::string::npos) << m;
  // Softmax: the max pass, and exp through libmvec in the sum and store passes.
  const std::string sm = optimized_ir_of(softmax(x));
  EXPECT_NE(sm.find("llvm.vector.reduce.fmaximum"), std::string::npos) << sm;
  EXPECT_NE(sm.find("llvm.vector.reduce.fadd"), std::string::npos) << sm;
  EXPECT_NE(sm.find("@_ZGV"), std::string::npos) << sm;
  // Column sums: vector adds across the kept innermost dim, no horizontal reduction.
  const std::string c = optimized_ir_of(sum(x, 0));
  EXPECT_NE(c.find("<16 x float>"), std::string::npos) << c;
}

}  // namespace
