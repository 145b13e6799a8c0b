// The native CPU backend against the reference interpreter: every
// elementwise op of the op table × every dtype it accepts, broadcasting,
// strided and zero-size inputs, special values, fusion, kernel IR goldens
// and run-time shape errors.
//
// Accuracy bounds (ULP of the output dtype, vs the interpreter, which computes
// in double and rounds once):
//  - exact (0 ULP): arithmetic, sqrt, rounding ops, min/max/clip, casts,
//    compares, predicates, where, erfinv/lgamma/digamma/polygamma (the
//    interpreter's own scalar code), and every integer/bool op;
//  - f16/bf16 (computed in f32, rounded once to the dtype): 1 ULP;
//  - f32/f64 libm/libmvec functions (exp, log, sin, tanh, pow, erf, ...) and
//    the formulas built on them (sigmoid, softplus, log1mexp, floor_div/mod
//    of f32): 4 ULP, a few functions more (kLooseOps below).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "codegen/kernel.hpp"
#include "codegen/llvm/emit.hpp"
#include "codegen/llvm/jit.hpp"
#include "codegen/native_function.hpp"
#include "codegen/partition.hpp"
#include "elementwise_sweep.hpp"
#include "ir/node.hpp"
#include "kiln/kiln.hpp"

namespace {

using namespace kiln;
using ir::OpCategory;
using ir::OpCode;

using kiln_test::kAllDTypes;

// ---- inputs ----

// n values of dtype t: special values first, then deterministic random ones.
// `small`: integers in [-3, 12] (shift counts, exponents, divisors 0 and -1).
Array make_values(DType t, std::int64_t n, std::uint64_t seed, bool small = false) {
  std::vector<double> v;
  if (is_float(t)) {
    const double inf = std::numeric_limits<double>::infinity();
    v = {0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0, -3.0, inf, -inf, std::nan(""), 1e-3, 100.0, -100.0, 0.9,
         -0.9, 7.0, 1e30, -1e30};
    Array u = Array::uniform({n}, DType::F64, seed, -6.0, 6.0);
    std::vector<double> r = u.to_doubles();
    for (std::size_t i = 0; v.size() < static_cast<std::size_t>(n); ++i) v.push_back(r[i]);
  } else if (t == DType::Bool) {
    Array u = Array::randint({n}, 0, 2, DType::I64, seed);
    for (std::int64_t x : u.to_int64s()) v.push_back(static_cast<double>(x));
  } else {
    std::int64_t lo = -3, hi = 13;
    if (!small) {
      const int bits = int_bits(t);
      lo = is_unsigned_int(t) ? 0 : bits >= 32 ? -1000000 : -(std::int64_t{1} << (bits - 1));
      hi = is_unsigned_int(t) ? 256 : bits >= 32 ? 1000000 : (std::int64_t{1} << (bits - 1));
    }
    Array u = Array::randint({n}, lo, hi, DType::I64, seed);
    std::vector<std::int64_t> r = u.to_int64s();
    if (!small) {
      std::vector<std::int64_t> special = {0, 1, -1, 2, 7};
      if (t == DType::I64) special.insert(special.end(), {INT64_MIN, INT64_MAX, INT64_MIN + 1});
      for (std::size_t i = 0; i < special.size() && i < r.size(); ++i) r[i] = special[i];
    }
    Array out = Array::empty({n}, DType::I64);
    for (std::int64_t i = 0; i < n; ++i) out.data<std::int64_t>()[i] = r[static_cast<std::size_t>(i)];
    return out.astype(t);
  }
  v.resize(static_cast<std::size_t>(n));
  return Array::from_doubles(v, {n}, t);
}

// ---- comparison ----

// The spacing of dtype t at |x| (one ULP).
double ulp_of(DType t, double x) {
  x = std::fabs(x);
  int e = x == 0 ? -1000 : std::ilogb(x);
  switch (t) {
    case DType::F64: return std::nextafter(x, INFINITY) - x;
    case DType::F32: return static_cast<double>(std::nextafter(static_cast<float>(x), INFINITY)) - x;
    case DType::F16: return std::ldexp(1.0, std::max(e, -14) - 10);
    case DType::BF16: return std::ldexp(1.0, std::max(e, -126) - 7);
    default: return 0;
  }
}

// ULP distance of got from want (0 when equal, both NaN or both the same inf).
double ulp_distance(DType t, double got, double want) {
  if (std::isnan(got) && std::isnan(want)) return 0;
  if (got == want) return (got == 0 && std::signbit(got) != std::signbit(want)) ? 1 : 0;
  if (std::isnan(got) || std::isnan(want) || std::isinf(got) || std::isinf(want)) return INFINITY;
  return std::fabs(got - want) / ulp_of(t, want);
}

// Ops whose f32/f64 results come from libm/libmvec (or formulas on them).
const std::set<OpCode> kLibmOps = {
    OpCode::Exp,  OpCode::Exp2,    OpCode::Expm1,    OpCode::Log,   OpCode::Log2,  OpCode::Log10,
    OpCode::Log1p, OpCode::Log1mexp, OpCode::Sin,    OpCode::Cos,   OpCode::Tan,   OpCode::Asin,
    OpCode::Acos, OpCode::Atan,    OpCode::Sinh,     OpCode::Cosh,  OpCode::Tanh,  OpCode::Asinh,
    OpCode::Acosh, OpCode::Atanh,  OpCode::Sigmoid,  OpCode::Softplus, OpCode::Erf, OpCode::Erfc,
    OpCode::Pow,  OpCode::Atan2,   OpCode::Rsqrt};

double allowed_ulps(OpCode op, DType out, DType in) {
  if (!is_float(out)) return 0;
  if (op == OpCode::Cast) return 0;
  if (out == DType::F16 || out == DType::BF16) return 1;
  if (kLibmOps.count(op)) return 4;
  if ((op == OpCode::FloorDiv || op == OpCode::Mod) && in != DType::F64) return 1;
  return 0;
}

void expect_close(const Array& got, const Array& want, OpCode op, DType in, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  if (!is_float(want.dtype())) {
    std::vector<std::int64_t> g = got.to_int64s(), w = want.to_int64s();
    for (std::size_t i = 0; i < g.size(); ++i) ASSERT_EQ(g[i], w[i]) << what << " at " << i;
    return;
  }
  const double bound = allowed_ulps(op, want.dtype(), in);
  std::vector<double> g = got.to_doubles(), w = want.to_doubles();
  for (std::size_t i = 0; i < g.size(); ++i) {
    // f32 functions near a zero of the result (sin(pi), log(1)): libm's
    // error is relative to the true value, which the rounded input moves.
    const double d = ulp_distance(want.dtype(), g[i], w[i]);
    const double abs_ok = kLibmOps.count(op) ? 4 * ulp_of(want.dtype(), 1.0) : 0;
    if (d > bound && !(std::fabs(g[i] - w[i]) <= abs_ok))
      FAIL() << what << " at " << i << ": native " << g[i] << " vs interpreter " << w[i] << " (" << d << " ULP > "
             << bound << ")";
  }
}

// ---- running both backends ----

std::vector<Array> run(const std::vector<Tensor>& ins, const std::vector<Tensor>& outs, const std::vector<Array>& args,
                       Backend backend, bool optimize = false) {
  FunctionOptions o;
  o.backend = backend;
  o.optimize = optimize;
  return function(ins, outs, o)(args);
}

using kiln_test::Sweep;
using kiln_test::sweep_ops;

// Returns the number of (op, attrs) outputs checked.
std::size_t check_sweep(DType t, int arity, const Shape& shape, bool small) {
  const std::int64_t n = shape_size(shape);
  std::vector<Tensor> xs;
  std::vector<Array> args;
  std::vector<DimSpec> dims(shape.size(), DimSpec("n"));
  for (int i = 0; i < arity; ++i) {
    xs.push_back(tensor("x" + std::to_string(i), t, dims));
    args.push_back(make_values(t, n, 17 + static_cast<std::uint64_t>(i), small && i == 1).reshape(shape));
  }
  Tensor cond = tensor("c", DType::Bool, dims);
  if (arity == 3) {
    // where(c, x0, x1) and clip(x0, x1, x2)
    args.insert(args.begin(), make_values(DType::Bool, n, 5).reshape(shape));
  }
  Sweep s = sweep_ops(xs, cond, arity);
  if (s.outs.empty()) return 0;
  std::vector<Tensor> ins = xs;
  if (arity == 3) ins.insert(ins.begin(), cond);
  std::vector<Array> want = run(ins, s.outs, args, Backend::Interpreter);
  std::vector<Array> got = run(ins, s.outs, args, Backend::Native);
  for (std::size_t i = 0; i < s.outs.size(); ++i)
    expect_close(got[i], want[i], s.ops[i], t,
                 std::string(ir::op_name(s.ops[i])) + " on " + std::string(dtype_name(t)) + " -> " +
                     std::string(dtype_name(want[i].dtype())) + (small ? " (small ints)" : ""));
  return s.outs.size();
}

class NativeOps : public ::testing::TestWithParam<DType> {};

TEST_P(NativeOps, UnaryOpsMatchTheInterpreter) {
  // every dtype has at least the casts, stop_gradient and the predicates
  // (rank 2, rows of an odd length: the vector loop's remainder runs)
  const std::size_t checked = check_sweep(GetParam(), 1, {3, 335}, false);
  EXPECT_GE(checked, is_float(GetParam()) ? 56u : 14u);  // floats: + every float function
}
TEST_P(NativeOps, BinaryOpsMatchTheInterpreter) {
  check_sweep(GetParam(), 2, {1003}, false);
  if (is_integer(GetParam())) check_sweep(GetParam(), 2, {1003}, true);
}
TEST_P(NativeOps, TernaryOpsMatchTheInterpreter) { check_sweep(GetParam(), 3, {7, 13}, false); }

INSTANTIATE_TEST_SUITE_P(AllDTypes, NativeOps, ::testing::ValuesIn(kAllDTypes),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

// ---- layouts ----

TEST(Native, BroadcastsLikeTheInterpreter) {
  for (DType t : {DType::F32, DType::I32, DType::F16}) {
    Tensor x = tensor("x", t, {3, 1}), y = tensor("y", t, {1, 4}), s = tensor("s", t, {}), v = tensor("v", t, {5});
    std::vector<Tensor> outs = {x + y, x * y - x, maximum(x, y), s * v + s, v - s};
    std::vector<Array> args = {make_values(t, 3, 1).reshape({3, 1}), make_values(t, 4, 2).reshape({1, 4}),
                               Array::full({}, 2, t), make_values(t, 5, 3)};
    auto want = run({x, y, s, v}, outs, args, Backend::Interpreter);
    auto got = run({x, y, s, v}, outs, args, Backend::Native);
    for (std::size_t i = 0; i < outs.size(); ++i) expect_close(got[i], want[i], OpCode::Add, t, "broadcast " + std::to_string(i));
  }
}

TEST(Native, ReadsStridedAndReversedViews) {
  std::vector<double> base(4 * 36);
  for (std::size_t i = 0; i < base.size(); ++i) base[i] = std::sin(static_cast<double>(i)) * 3;
  Tensor x = tensor("x", DType::F64, {"a", "b"}), y = tensor("y", DType::F64, {"a", "b"});
  std::vector<Tensor> outs = {exp(x) * y + 1, x - y, tanh(x)};
  // x: every other row and every third column; y: rows and columns reversed.
  Array xv = Array::view(base.data(), {4, 6}, DType::F64, {36, 3});
  Array yv = Array::view(base.data() + base.size() - 1, {4, 6}, DType::F64, {-6, -1});
  auto want = run({x, y}, outs, {xv, yv}, Backend::Interpreter);
  auto got = run({x, y}, outs, {xv, yv}, Backend::Native);
  for (std::size_t i = 0; i < outs.size(); ++i) expect_close(got[i], want[i], OpCode::Exp, DType::F64, "strided");
  // A transposed input (inner stride != 1) takes the strided path.
  Array t = Array::view(base.data(), {6, 4}, DType::F64, {1, 6});
  auto w2 = run({x, y}, {x * y}, {t, t}, Backend::Interpreter);
  auto g2 = run({x, y}, {x * y}, {t, t}, Backend::Native);
  EXPECT_TRUE(g2[0].equals(w2[0]));
}

TEST(Native, ZeroSizeInputs) {
  Tensor x = tensor("x", DType::F32, {"a", "b"}), y = tensor("y", DType::F32, {1, "b"});
  for (Shape s : {Shape{0, 3}, Shape{3, 0}, Shape{0, 0}}) {
    Array xa = Array::zeros(s, DType::F32), ya = Array::zeros({1, s[1]}, DType::F32);
    auto got = run({x, y}, {exp(x) + y}, {xa, ya}, Backend::Native);
    EXPECT_EQ(got[0].shape(), s);
  }
}

TEST(Native, LargeOddSizesAndRank3) {
  Tensor x = tensor("x", DType::F32, {"a", "b", "c"}), y = tensor("y", DType::F32, {1, "b", 1});
  Array xa = Array::randn({3, 37, 131}, DType::F32, 1), ya = Array::randn({1, 37, 1}, DType::F32, 2);
  std::vector<Tensor> outs = {sigmoid(x) * y, log1p(abs(x)) - y};
  auto want = run({x, y}, outs, {xa, ya}, Backend::Interpreter);
  auto got = run({x, y}, outs, {xa, ya}, Backend::Native);
  for (std::size_t i = 0; i < outs.size(); ++i) expect_close(got[i], want[i], OpCode::Sigmoid, DType::F32, "rank 3");
}

// ---- fusion and plans ----

TEST(Native, AChainOfSixOpsIsOneKernel) {
  Tensor x = tensor("x", DType::F32, {"n"}), y = tensor("y", DType::F32, {"n"});
  Tensor z = tanh(exp(-x) * y + sqrt(abs(y)) - 0.5);
  codegen::NativeFunction nf({z.node()});
  EXPECT_EQ(nf.plan().num_kernels(), 1u);
  EXPECT_GE(nf.plan().clusters[0].nodes.size(), 6u);
  Array xa = make_values(DType::F32, 1001, 3), ya = make_values(DType::F32, 1001, 4);
  auto want = run({x, y}, {z}, {xa, ya}, Backend::Interpreter);
  auto got = run({x, y}, {z}, {xa, ya}, Backend::Native);
  // Several f32 libm calls in a row, then a subtraction that may cancel: the
  // errors add up (8 ULP of the result, or 4 ULP of the operands' size 1).
  std::vector<double> g = got[0].to_doubles(), w = want[0].to_doubles();
  for (std::size_t i = 0; i < g.size(); ++i)
    if (ulp_distance(DType::F32, g[i], w[i]) > 8) {
      ASSERT_LE(std::fabs(g[i] - w[i]), 4.8e-7) << i << ": " << g[i] << " vs " << w[i];
    }
}

TEST(Native, HostStepsSplitKernels) {
  Tensor x = tensor("x", DType::F64, {"a", "b"});
  Tensor s = sum(exp(x), {1});      // kernel, host reduction
  Tensor out = s * 2 + 1;           // kernel after the host step
  codegen::NativeFunction nf({out.node(), exp(x).node()});
  EXPECT_EQ(nf.plan().num_kernels(), 2u);  // exp (an output, read by sum) and the tail
  Array xa = Array::randn({5, 7}, DType::F64, 9);
  auto want = run({x}, {out, exp(x), x}, {xa}, Backend::Interpreter, true);
  auto got = run({x}, {out, exp(x), x}, {xa}, Backend::Native, true);
  for (std::size_t i = 0; i < got.size(); ++i) expect_close(got[i], want[i], OpCode::Exp, DType::F64, "mixed");
  EXPECT_NE(got[2].buffer(), xa.buffer());  // an input returned as an output is copied
}

TEST(Native, SharedVariablesAndUpdates) {
  Tensor w = shared(Array::from({1.0, 2.0, 3.0}), "w");
  Tensor x = tensor("x", DType::F64, {3});
  FunctionOptions o;
  o.backend = Backend::Native;
  o.updates = {{w, w - 0.5 * x}};
  Function f = function({x}, {w * x}, o);
  Array y = f(Array::from({2.0, 2.0, 2.0}))[0];
  EXPECT_TRUE(y.equals(Array::from({2.0, 4.0, 6.0})));
  EXPECT_TRUE(w.get_value().equals(Array::from({0.0, 1.0, 2.0})));
}

TEST(Native, KernelsAreCachedByTheirText) {
  Tensor x = tensor("x", DType::F64, {"n"});
  codegen::NativeFunction a({(x * 3 + 1).node()});
  const std::size_t before = codegen::native_kernels_compiled();
  Tensor x2 = tensor("x2", DType::F64, {"m"});
  codegen::NativeFunction b({(x2 * 3 + 1).node()});
  EXPECT_EQ(codegen::native_kernels_compiled(), before);
  EXPECT_EQ(a.kernel_texts(), b.kernel_texts());
}

// ---- golden kernel IR ----

TEST(Native, KernelIrGolden) {
  Tensor x = tensor("x", DType::F32, {"n", 1}), y = tensor("y", DType::F32, {"m"});
  codegen::NativeFunction a({(exp(x) * y + 2).node()});
  EXPECT_EQ(a.kernel_texts().at(0),
            "kernel rank=2 (in0: f32[_,b], in1: f32[b,_]) -> out: f32[_,_]\n"
            "  %0 = load in0 : f32\n"
            "  %1 = exp %0 : f32\n"
            "  %2 = load in1 : f32\n"
            "  %3 = mul %1, %2 : f32\n"
            "  %4 = const 2 : f32\n"
            "  %5 = add %3, %4 : f32\n"
            "  store %5\n");

  Tensor i = tensor("i", DType::I32, {"n"});
  codegen::NativeFunction b({where(i > 0, i.astype(DType::F16), 0.5).node()});
  EXPECT_EQ(b.kernel_texts().at(0),
            "kernel rank=1 (in0: i32[_]) -> out: f16[_]\n"
            "  %0 = load in0 : i32\n"
            "  %1 = const 0 : i32\n"
            "  %2 = gt %0, %1 : bool\n"
            "  %3 = cast %0 : f16\n"
            "  %4 = const 0.5 : f16\n"
            "  %5 = where %2, %3, %4 : f16\n"
            "  store %5\n");

  Tensor p = tensor("p", DType::F64, {});
  Tensor g(ir::make_node(OpCode::Polygamma, {p.node()}, ir::Attrs{{"n", std::int64_t{2}}}, SourceLoc{}));
  codegen::NativeFunction c({g.node()});
  EXPECT_EQ(c.kernel_texts().at(0),
            "kernel rank=0 (in0: f64[]) -> out: f64[]\n"
            "  %0 = load in0 : f64\n"
            "  %1 = polygamma[n=2] %0 : f64\n"
            "  store %1\n");
  auto want = run({p}, {g}, {Array::scalar(0.75, DType::F64)}, Backend::Interpreter);
  auto got = run({p}, {g}, {Array::scalar(0.75, DType::F64)}, Backend::Native);
  EXPECT_TRUE(got[0].equals(want[0]));
}

// ---- errors ----

TEST(Native, RunTimeShapeErrorsMatchTheInterpreter) {
  Tensor x = tensor("x", DType::F32, {"n"}), y = tensor("y", DType::F32, {"n"});
  Tensor z = exp(x) + y;
  auto message = [&](Backend b) -> std::string {
    try {
      run({x, y}, {z}, {Array::zeros({3}, DType::F32), Array::zeros({4}, DType::F32)}, b, true);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string want = message(Backend::Interpreter);
  EXPECT_NE(want.find("cannot broadcast shapes"), std::string::npos) << want;
  EXPECT_EQ(message(Backend::Native), want);
  // A run-time 1 where the type says unknown does not broadcast either.
  auto msg1 = [&](Backend b) -> std::string {
    try {
      run({x, y}, {z}, {Array::zeros({1}, DType::F32), Array::zeros({4}, DType::F32)}, b, true);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(msg1(Backend::Native), msg1(Backend::Interpreter));
}

}  // namespace

namespace {

// The contiguous path of an f32 kernel vectorises, calling libmvec's exp.
TEST(NativeEmit, ContiguousLoopVectorises) {
  using namespace kiln;
  Tensor x = tensor("x", DType::F32, {"n"}), y = tensor("y", DType::F32, {"n"});
  codegen::Plan plan = codegen::partition({(exp(x) * y).node()});
  ASSERT_EQ(plan.num_kernels(), 1u);
  auto jit = codegen::Jit::create();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto m = jit->new_module("vec_test", *ctx);
  codegen::emit_kernel(plan.clusters[0].kernel, "k", *m);
  std::string ir;
  jit->add_module(std::move(m), std::move(ctx), &ir);
  const bool avx512 = jit->cpu_features().find("+avx512f") != std::string::npos;
  EXPECT_NE(ir.find(avx512 ? "_ZGVeN16v_expf" : "_ZGVdN8v_expf"), std::string::npos) << ir;
}

}  // namespace
