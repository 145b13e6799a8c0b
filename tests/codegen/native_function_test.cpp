// kiln::function on the native backend (the default) against the reference
// interpreter, as a user calls it: strided and zero-size arguments for every
// kind of step (fused kernels, BLAS matmul, reductions, shape views, host
// steps), aliasing between arguments, results and shared variables, calls
// from several threads at once, fused against unfused kernels, and every
// non-elementwise op of the op table on every dtype it accepts (the
// elementwise ones are swept in native_test.cpp).
//
// The oracle is always the interpreter (on contiguous copies of the
// arguments) or values computed by hand, never the native code itself.
// Tolerances, relative to max(1, |interpreter value|), per float dtype
// (integers and bools are always exact):
//  - Exact: data movement, compares, integer math, and float arithmetic on
//    values where every rounding is exact (small dyadic numbers): bitwise
//    equal, signed zeros and NaN included;
//  - Libm: chains of a few libm/libmvec functions and arithmetic: 16 ULP of
//    the dtype at 1 (native f32 computes in f32, the interpreter in double);
//  - Sum: accumulations (sum, mean, matmul) whose order native code may
//    choose (BLAS, split loops): 64 ULP at 1 of the dtype times max(1, |x|).
// See docs/ops.md, "Native backend accuracy".
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "codegen/native_function.hpp"
#include "codegen/partition.hpp"
#include "ir/node.hpp"
#include "kiln/kiln.hpp"
#include "kiln_test_util.hpp"

namespace {

using namespace kiln;
using ir::OpCode;

// ---- running and comparing ----

Function compile(const std::vector<Tensor>& ins, const std::vector<Tensor>& outs, Backend backend,
                 bool optimize = true) {
  FunctionOptions o;
  o.backend = backend;
  o.optimize = optimize;
  return function(ins, outs, o);
}

enum class Acc { Exact, Libm, Sum };

// One unit in the last place of a float dtype at 1.0.
double eps_of(DType t) {
  switch (t) {
    case DType::F64: return 0x1p-52;
    case DType::F32: return 0x1p-23;
    case DType::F16: return 0x1p-10;
    case DType::BF16: return 0x1p-7;
    default: return 0;
  }
}

double rel_tol(DType t, Acc acc) {
  if (!is_float(t) || acc == Acc::Exact) return 0;
  return (acc == Acc::Libm ? 16 : 64) * eps_of(t);
}

bool same_bits(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

// "" when `got` matches `want` (dtype, shape, values within `acc`), else
// the first mismatches.
std::string mismatch(const Array& got, const Array& want, Acc acc) {
  std::ostringstream os;
  if (got.is_null()) return "got a null Array";
  if (got.dtype() != want.dtype() || got.shape() != want.shape())
    return "got " + std::string(dtype_name(got.dtype())) + shape_str(got.shape()) + ", want " +
           std::string(dtype_name(want.dtype())) + shape_str(want.shape());
  const double tol = rel_tol(want.dtype(), acc);
  int bad = 0;
  if (!is_float(want.dtype())) {
    const std::vector<std::int64_t> g = got.to_int64s(), w = want.to_int64s();
    for (std::size_t i = 0; i < g.size(); ++i)
      if (g[i] != w[i] && bad++ < 5) os << "\n  at " << i << ": native " << g[i] << ", interpreter " << w[i];
  } else {
    const std::vector<double> g = got.to_doubles(), w = want.to_doubles();
    for (std::size_t i = 0; i < g.size(); ++i) {
      bool ok = tol == 0 || std::isnan(w[i]) || std::isinf(w[i])
                    ? same_bits(g[i], w[i])
                    : std::fabs(g[i] - w[i]) <= tol * std::max(1.0, std::fabs(w[i]));
      if (!ok && bad++ < 5)
        os << "\n  at " << i << ": native " << g[i] << ", interpreter " << w[i] << " (allowed "
           << tol * std::max(1.0, std::fabs(w[i])) << ")";
    }
  }
  if (bad == 0) return "";
  return std::to_string(bad) + " of " + std::to_string(want.size()) + " elements differ:" + os.str();
}

void expect_match(const Array& got, const Array& want, Acc acc, const std::string& what) {
  const std::string m = mismatch(got, want, acc);
  EXPECT_TRUE(m.empty()) << what << ": " << m;
}

// Do the memory ranges of two arrays' buffers overlap?
bool overlaps(const Array& a, const Array& b) {
  const std::byte* pa = a.buffer()->data;
  const std::byte* pb = b.buffer()->data;
  return pa < pb + b.buffer()->bytes && pb < pa + a.buffer()->bytes;
}

// Calls `f`; fails if the call changed any argument.
std::vector<Array> call_checked(const Function& f, const std::vector<Array>& args, const std::string& what) {
  std::vector<Array> before;
  for (const Array& a : args) before.push_back(a.copy());
  std::vector<Array> r = f(args);
  for (std::size_t i = 0; i < args.size(); ++i)
    EXPECT_TRUE(mismatch(args[i], before[i], Acc::Exact).empty()) << what << ": the call wrote into argument " << i;
  return r;
}

// The native results of (ins → outs) on `args` against the interpreter's on
// contiguous copies of `args`; accs[i] is output i's accuracy class.
void check_against_interpreter(const Function& native, const Function& interp, const std::vector<Array>& args,
                               const std::vector<Acc>& accs, const std::string& what) {
  std::vector<Array> copies;
  for (const Array& a : args) copies.push_back(a.copy());
  std::vector<Array> want;
  std::string want_error, got_error;
  try {
    want = interp(copies);
  } catch (const Error& e) {
    want_error = e.what();
  }
  std::vector<Array> got;
  try {
    got = call_checked(native, args, what);
  } catch (const Error& e) {
    got_error = e.what();
  }
  ASSERT_EQ(got_error, want_error) << what << ": the backends disagree on the error";
  if (!want_error.empty()) return;
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    expect_match(got[i], want[i], accs[i], what + ", output " + std::to_string(i));
    EXPECT_TRUE(got[i].is_contiguous()) << what << ", output " << i << " is not C-contiguous";
    for (std::size_t k = 0; k < args.size(); ++k) {
      if (got[i].size() > 0 && args[k].size() > 0) {
        EXPECT_FALSE(overlaps(got[i], args[k])) << what << ": output " << i << " shares memory with argument " << k;
      }
    }
  }
}

// Small dyadic values (multiples of 1/4 in [-3, 3]) as dtype t: every sum,
// product and mean of a few of them rounds the same way in any order, in
// f16, f32 and f64 (so results are bitwise comparable).
Array dyadic(const Shape& shape, DType t, std::uint64_t seed) {
  Array q = Array::randint(shape, -12, 13, DType::I64, seed);
  if (!is_float(t)) return t == DType::Bool ? q.astype(DType::I64).astype(DType::Bool) : q.astype(t);
  std::vector<double> v = q.to_doubles();
  for (double& x : v) x /= 4;
  return Array::from_doubles(v, shape, t);
}

// ---- strided views from Array APIs ----

// A view of `base`'s buffer: shape, strides (elements) and offset (elements
// from base's first element).
Array view_of(const Array& base, const Shape& shape, const Shape& strides, std::int64_t offset) {
  return Array::view(base.buffer(), shape, base.dtype(), strides, base.offset() + offset);
}

// The layouts of a [r, c] argument: each holds different values (seeded),
// the point is how it is laid out in memory.
enum class Layout { Contiguous, Transposed, Stepped, Flipped, RowBroadcast, ColBroadcast, ScalarBroadcast };
constexpr Layout kLayouts[] = {Layout::Contiguous,   Layout::Transposed,   Layout::Stepped,        Layout::Flipped,
                               Layout::RowBroadcast, Layout::ColBroadcast, Layout::ScalarBroadcast};
const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Contiguous: return "contiguous";
    case Layout::Transposed: return "transposed";
    case Layout::Stepped: return "sliced with steps 2 and 3";
    case Layout::Flipped: return "flipped (negative strides)";
    case Layout::RowBroadcast: return "a row broadcast (stride 0)";
    case Layout::ColBroadcast: return "a column broadcast (stride 0)";
    case Layout::ScalarBroadcast: return "one element broadcast (strides 0, 0)";
  }
  return "?";
}

Array make_layout(Layout l, std::int64_t r, std::int64_t c, DType t, std::uint64_t seed) {
  switch (l) {
    case Layout::Contiguous: return dyadic({r, c}, t, seed);
    case Layout::Transposed: return view_of(dyadic({c, r}, t, seed), {r, c}, {1, r}, 0);
    case Layout::Stepped: return view_of(dyadic({2 * r + 1, 3 * c + 1}, t, seed), {r, c}, {2 * (3 * c + 1), 3}, 1);
    case Layout::Flipped: return view_of(dyadic({r, c}, t, seed), {r, c}, {-c, -1}, std::max<std::int64_t>(r * c - 1, 0));
    case Layout::RowBroadcast: return view_of(dyadic({c}, t, seed), {r, c}, {0, 1}, 0);
    case Layout::ColBroadcast: return view_of(dyadic({r}, t, seed), {r, c}, {1, 0}, 0);
    case Layout::ScalarBroadcast: return view_of(dyadic({1}, t, seed), {r, c}, {0, 0}, 0);
  }
  return {};
}

// One graph per dtype with a step of every kind reading x and y ([a, b]).
struct Probe {
  std::vector<Tensor> outs;
  std::vector<Acc> accs;
};

// `with_max`: also max over axis 1, an error for an empty row.
Probe probe_graph(const Tensor& x, const Tensor& y, bool with_max = true) {
  const DType t = x.dtype();
  Probe p;
  auto add = [&](Tensor e, Acc a) {
    p.outs.push_back(std::move(e));
    p.accs.push_back(a);
  };
  // elementwise (fused), exact on dyadic values
  add(x * y + x - 1, Acc::Exact);
  add(maximum(x, y) * 2, Acc::Exact);
  if (is_float(t)) add(exp(x) * tanh(y), Acc::Libm);  // (a product: no cancellation)
  // matmul (BLAS for f32/f64, a host step otherwise); transposed operands
  add(x.matmul(y.T()), Acc::Sum);
  add(x.T().matmul(y), Acc::Sum);
  // reductions
  add(sum(x, {0}), Acc::Sum);
  add(sum(x * y), Acc::Sum);
  if (with_max) add(max(y, {1}, true), Acc::Exact);
  if (is_float(t)) add(mean(x, {1}), Acc::Sum);
  // shape ops (views), alone and feeding kernels
  add(x.T(), Acc::Exact);
  add(reshape(x, {-1}), Acc::Exact);
  add(flip(y, {0}), Acc::Exact);
  add(slice(x, {Slice{std::nullopt, std::nullopt, 2}, Slice{std::nullopt, std::nullopt, -1}}), Acc::Exact);
  add(concatenate({x, y}, 1), Acc::Exact);
  add(expand_dims(y, {0}) + 1, Acc::Exact);
  add(reshape(x.T(), {-1}) * 3, Acc::Exact);
  return p;
}

TEST(NativeFunction, StridedViewsAsArguments) {
  for (DType t : {DType::F64, DType::F32, DType::I32, DType::F16}) {
    Tensor x = tensor("x", t, {"a", "b"}), y = tensor("y", t, {"a", "b"});
    Probe p = probe_graph(x, y);
    Function nat = compile({x, y}, p.outs, Backend::Native), ref = compile({x, y}, p.outs, Backend::Interpreter);
    std::uint64_t seed = 1;
    for (Layout lx : kLayouts)
      for (Layout ly : kLayouts) {
        Array xv = make_layout(lx, 5, 7, t, seed++), yv = make_layout(ly, 5, 7, t, seed++);
        check_against_interpreter(nat, ref, {xv, yv}, p.accs,
                                  std::string(dtype_name(t)) + " x " + layout_name(lx) + ", y " + layout_name(ly));
        if (::testing::Test::HasFailure()) return;  // one failing layout says enough
      }
  }
}

TEST(NativeFunction, LargeStridedArgumentsSplitAcrossThreads) {
  // Large enough (about 200k elements) that kernels are split across cores
  // (runtime/parallel.hpp), so that every part starts at its own offset
  // into the strided arguments; odd sizes so vector loops have remainders.
  for (DType t : {DType::F32, DType::F64}) {
    Tensor x = tensor("x", t, {"a", "b"}), y = tensor("y", t, {"a", "b"});
    const std::vector<Tensor> outs = {x * y + x - 1, exp(x) * tanh(y), sum(x * y, {1}), x.T() * 2,
                                      maximum(flip(x, {1}), y)};
    const std::vector<Acc> accs = {Acc::Exact, Acc::Libm, Acc::Sum, Acc::Exact, Acc::Exact};
    Function nat = compile({x, y}, outs, Backend::Native), ref = compile({x, y}, outs, Backend::Interpreter);
    const std::pair<Layout, Layout> pairs[] = {{Layout::Transposed, Layout::Flipped},
                                               {Layout::Stepped, Layout::RowBroadcast},
                                               {Layout::ColBroadcast, Layout::ScalarBroadcast}};
    std::uint64_t seed = 100;
    for (auto [lx, ly] : pairs)
      check_against_interpreter(nat, ref, {make_layout(lx, 211, 1031, t, seed++), make_layout(ly, 211, 1031, t, seed++)},
                                accs, std::string(dtype_name(t)) + " x " + layout_name(lx) + ", y " + layout_name(ly));
  }
}

TEST(NativeFunction, ArgumentsThatOverlapEachOther) {
  // x and y are views of one buffer, shifted by one element; then the very
  // same Array twice.
  Tensor x = tensor("x", DType::F32, {"n"}), y = tensor("y", DType::F32, {"n"});
  Array base = dyadic({9}, DType::F32, 3);
  Array xv = view_of(base, {8}, {1}, 0), yv = view_of(base, {8}, {1}, 1);
  const std::vector<Tensor> outs = {x * y - x, x.reshape({2, 4}).matmul(y.reshape({4, 2})), sum(y), flip(x, {0})};
  const std::vector<Acc> accs = {Acc::Exact, Acc::Sum, Acc::Sum, Acc::Exact};
  Function nat = compile({x, y}, outs, Backend::Native), ref = compile({x, y}, outs, Backend::Interpreter);
  check_against_interpreter(nat, ref, {xv, yv}, accs, "overlapping views");
  check_against_interpreter(nat, ref, {xv, xv}, accs, "the same Array twice");
  // A square matrix times itself, and its transpose, from one Array.
  Tensor a = matrix("a", DType::F64), b = matrix("b", DType::F64);
  Array m = dyadic({6, 6}, DType::F64, 4);
  Function mn = compile({a, b}, {a.matmul(b), a.T().matmul(b) + a}, Backend::Native);
  Function mr = compile({a, b}, {a.matmul(b), a.T().matmul(b) + a}, Backend::Interpreter);
  check_against_interpreter(mn, mr, {m, m}, {Acc::Sum, Acc::Sum}, "matmul of an Array with itself");
}

// ---- zero-size dims ----

TEST(NativeFunction, ZeroSizeDims) {
  for (DType t : {DType::F64, DType::F32, DType::I64}) {
    Tensor x = tensor("x", t, {"a", "b"}), y = tensor("y", t, {"a", "b"});
    Probe p = probe_graph(x, y, false);
    if (is_float(t)) {
      p.outs.push_back(prod(x, {0}));  // empty → 1
      p.accs.push_back(Acc::Exact);
      p.outs.push_back(mean(x));  // empty → NaN
      p.accs.push_back(Acc::Exact);
    }
    Function nat = compile({x, y}, p.outs, Backend::Native), ref = compile({x, y}, p.outs, Backend::Interpreter);
    for (Shape s : {Shape{0, 4}, Shape{4, 0}, Shape{0, 0}}) {
      const std::string what = std::string(dtype_name(t)) + shape_str(s);
      check_against_interpreter(nat, ref, {dyadic(s, t, 1), dyadic(s, t, 2)}, p.accs, what);
      // zero-size strided views (odd strides, flipped)
      check_against_interpreter(nat, ref, {view_of(dyadic({3}, t, 3), s, {-5, 7}, 2), view_of(dyadic({1}, t, 4), s, {0, 0}, 0)},
                                p.accs, what + " as strided views");
    }
  }
  // max over an empty set is an error (NumPy's), on both backends alike,
  // even when the output is empty too; over a non-empty one it is not.
  Tensor z = tensor("z", DType::F32, {"a", "b"});
  Function mx = compile({z}, {max(z, {1})}, Backend::Native), mref = compile({z}, {max(z, {1})}, Backend::Interpreter);
  for (Shape s : {Shape{4, 0}, Shape{0, 0}, Shape{0, 4}})
    check_against_interpreter(mx, mref, {dyadic(s, DType::F32, 1)}, {Acc::Exact}, "max of " + shape_str(s));
  EXPECT_THROW(mx(dyadic({4, 0}, DType::F32, 1)), Error);
  // Matmuls that contract over k = 0 (all zeros) or have m = 0.
  Tensor a = tensor("a", DType::F32, {"m", "k"}), b = tensor("b", DType::F32, {"k", "n"});
  const std::vector<Tensor> outs = {a.matmul(b), sum(a, {1}), a.T(), exp(a) + 1};
  Function nat = compile({a, b}, outs, Backend::Native), ref = compile({a, b}, outs, Backend::Interpreter);
  const std::vector<Acc> accs = {Acc::Exact, Acc::Exact, Acc::Exact, Acc::Libm};
  check_against_interpreter(nat, ref, {dyadic({4, 0}, DType::F32, 1), dyadic({0, 3}, DType::F32, 2)}, accs, "k = 0");
  std::vector<Array> r = nat(dyadic({4, 0}, DType::F32, 1), dyadic({0, 3}, DType::F32, 2));
  kiln_test::expect_array(r[0], DType::F32, {4, 3}, std::vector<double>(12, 0.0));  // by hand
  kiln_test::expect_array(r[1], DType::F32, {4}, std::vector<double>(4, 0.0));
  check_against_interpreter(nat, ref, {dyadic({0, 5}, DType::F32, 1), dyadic({5, 3}, DType::F32, 2)}, accs, "m = 0");
}

// ---- aliasing ----

TEST(NativeFunction, OutputsThatAreArgumentsOrViewsOfThemAreFreshArrays) {
  Tensor x = tensor("x", DType::F64, {3, 4});
  const std::vector<Tensor> outs = {x,         x.T(),          x.reshape({12}), expand_dims(x, {0}), squeeze(expand_dims(x, {1}), {1}),
                                    flip(x, {1}), slice(x, {Slice{1, 3}}), broadcast_to(x, {2, 3, 4})};
  Function f = compile({x}, outs, Backend::Native);
  Function ref = compile({x}, outs, Backend::Interpreter);
  Array xv = dyadic({3, 4}, DType::F64, 7);
  const Array x0 = xv.copy();
  std::vector<Array> got = f(xv);
  std::vector<Array> want = ref(x0.copy());
  ASSERT_EQ(got.size(), outs.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    expect_match(got[i], want[i], Acc::Exact, "output " + std::to_string(i));
    EXPECT_FALSE(overlaps(got[i], xv)) << "output " << i << " shares memory with the argument";
    // Writing into the result must not change the argument.
    std::memset(got[i].raw_data(), 0xff, static_cast<std::size_t>(got[i].size()) * dtype_size(got[i].dtype()));
    EXPECT_TRUE(xv.equals(x0)) << "writing into output " << i << " changed the argument";
  }
}

TEST(NativeFunction, EqualOutputsDoNotShareMemory) {
  Tensor x = tensor("x", DType::F32, {"n"});
  // The same expression twice is one node (hash-consing): the function must
  // still return distinct arrays. Likewise an input twice, a view twice.
  const std::vector<Tensor> outs = {x * 2, x * 2, x, x, x.reshape({-1, 2}), x.reshape({-1, 2}), sum(x), sum(x)};
  Function f = compile({x}, outs, Backend::Native);
  std::vector<Array> got = f(dyadic({6}, DType::F32, 1));
  ASSERT_EQ(got.size(), outs.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    for (std::size_t k = i + 1; k < got.size(); ++k)
      EXPECT_FALSE(overlaps(got[i], got[k])) << "outputs " << i << " and " << k << " share memory";
  const Array keep = got[1].copy();
  std::memset(got[0].raw_data(), 0, 6 * sizeof(float));
  EXPECT_TRUE(got[1].equals(keep));
}

// The results of one call of a function with updates, and the shared values after it.
struct UpdateRun {
  std::vector<Array> outs;
  std::vector<Array> after;
};

TEST(NativeFunction, UpdatesReadPreCallValues) {
  const Array a0 = Array::from({{1.0, 2.0}, {3.0, 4.0}}), b0 = Array::from({{5.0, 6.0}, {7.0, 8.0}});
  auto run = [&](Backend backend) {
    Tensor a = shared(a0, "a"), b = shared(b0, "b"), c = shared(a0, "c"), d = shared(b0, "d");
    FunctionOptions o;
    o.backend = backend;
    // a, b swap; c reads d, which another update writes; d ← d + c (the
    // same expression as an output); an output is c's old value.
    o.updates = {{a, b}, {b, a}, {c, c * d}, {d, d + c}};
    Function f = function({}, {c, d + c, a.T()}, o);
    std::vector<UpdateRun> runs;
    for (int call = 0; call < 2; ++call) {
      UpdateRun r;
      r.outs = f();
      for (const Tensor& s : {a, b, c, d}) r.after.push_back(s.get_value());
      // The returned arrays belong to the caller: writing into them must not
      // change any shared variable.
      for (Array& out : r.outs) {
        Array keep = out.copy();
        std::memset(out.raw_data(), 0, static_cast<std::size_t>(out.size()) * sizeof(double));
        out = keep;
      }
      for (std::size_t k = 0; k < 4; ++k)
        EXPECT_TRUE(std::vector<Tensor>({a, b, c, d})[k].get_value().equals(r.after[k]))
            << "writing into an output changed shared variable " << k;
      runs.push_back(r);
    }
    return runs;
  };
  const std::vector<UpdateRun> nat = run(Backend::Native), ref = run(Backend::Interpreter);
  // By hand, the first call: outputs c0, d0 + c0, a0ᵀ; then a = b0, b = a0,
  // c = c0 * d0, d = d0 + c0.
  kiln_test::expect_array(nat[0].outs[0], DType::F64, {2, 2}, {1, 2, 3, 4});
  kiln_test::expect_array(nat[0].outs[1], DType::F64, {2, 2}, {6, 8, 10, 12});
  kiln_test::expect_array(nat[0].outs[2], DType::F64, {2, 2}, {1, 3, 2, 4});
  kiln_test::expect_array(nat[0].after[0], DType::F64, {2, 2}, {5, 6, 7, 8});
  kiln_test::expect_array(nat[0].after[1], DType::F64, {2, 2}, {1, 2, 3, 4});
  kiln_test::expect_array(nat[0].after[2], DType::F64, {2, 2}, {5, 12, 21, 32});
  kiln_test::expect_array(nat[0].after[3], DType::F64, {2, 2}, {6, 8, 10, 12});
  // The second call reads the first call's values; both backends agree.
  for (std::size_t call = 0; call < 2; ++call) {
    for (std::size_t i = 0; i < 3; ++i)
      expect_match(nat[call].outs[i], ref[call].outs[i], Acc::Exact,
                   "call " + std::to_string(call) + " output " + std::to_string(i));
    for (std::size_t i = 0; i < 4; ++i)
      expect_match(nat[call].after[i], ref[call].after[i], Acc::Exact,
                   "call " + std::to_string(call) + " shared variable " + std::to_string(i));
  }
}

TEST(NativeFunction, OutputsNeverAliasSharedValues) {
  const Array w0 = dyadic({4, 3}, DType::F32, 5);
  Tensor w = shared(w0, "w"), v = shared(w0, "v");
  FunctionOptions o;
  o.backend = Backend::Native;
  o.updates = {{v, v.T().T() * 1}};  // an update that may simplify to v itself
  Function f = function({}, {w, w.T(), v}, o);
  std::vector<Array> out = f();
  for (Array& a : out) std::memset(a.raw_data(), 0, static_cast<std::size_t>(a.size()) * sizeof(float));
  EXPECT_TRUE(w.get_value().equals(w0)) << "writing into an output changed the shared variable it was read from";
  EXPECT_TRUE(v.get_value().equals(w0)) << "writing into an output changed an updated shared variable";
  out = f();
  EXPECT_TRUE(out[0].equals(w0));
  EXPECT_TRUE(out[2].equals(w0));
}

TEST(NativeFunction, ConstantsAndEarlierResultsAreNeverOverwritten) {
  // A non-scalar constant (not folded into kernels: the plan reads its
  // Array), returned as an output and read by a kernel, a matmul and a
  // reduction. Buffers reused between or within calls must never be one
  // the caller holds, nor the constant's.
  const Array cv = Array::from({{1.0f, -2.0f, 3.0f}, {0.5f, 4.0f, -1.0f}});
  Tensor c = constant(cv), x = tensor("x", DType::F32, {2, 3});
  const std::vector<Tensor> outs = {c, x + c, (x * c).matmul(c.T()), sum(c * x, {1}), c.T(), exp(x) - 1};
  Function f = compile({x}, outs, Backend::Native), ref = compile({x}, outs, Backend::Interpreter);
  const Array a = dyadic({2, 3}, DType::F32, 1), b = dyadic({2, 3}, DType::F32, 2);
  std::vector<Array> first = f(a);
  std::vector<Array> kept;
  for (const Array& r : first) kept.push_back(r.copy());
  // The caller scribbles on the constant it got back; the next calls must
  // still see the constant's value.
  std::memset(first[0].raw_data(), 0, 6 * sizeof(float));
  std::vector<Array> second = f(b), third = f(a);
  const std::vector<Array> want_b = ref(b), want_a = ref(a);
  const std::vector<Acc> accs = {Acc::Exact, Acc::Exact, Acc::Sum, Acc::Sum, Acc::Exact, Acc::Libm};
  for (std::size_t i = 0; i < outs.size(); ++i) {
    expect_match(second[i], want_b[i], accs[i], "second call, output " + std::to_string(i));
    expect_match(third[i], want_a[i], accs[i], "third call, output " + std::to_string(i));
    if (i > 0)  // (output 0 was overwritten by the caller on purpose)
      expect_match(first[i], kept[i], Acc::Exact, "the first call's output " + std::to_string(i) + " after later calls");
    for (std::size_t k = 0; k < outs.size(); ++k)
      EXPECT_FALSE(overlaps(second[i], first[k]) || overlaps(third[i], second[k]))
          << "output " << i << " of a call shares memory with output " << k << " of the call before";
  }
  kiln_test::expect_array(third[0], DType::F32, {2, 3}, {1, -2, 3, 0.5, 4, -1});
}

// ---- threads ----

TEST(NativeFunction, OneFunctionCalledFromManyThreads) {
  // Every kind of step: a fused kernel, a BLAS matmul, a reduction, a view
  // feeding a kernel, a host step (take) and a shared variable. Large enough
  // that calls overlap in time. Integer-valued floats: every sum is exact in
  // any order, so results must be bitwise equal.
  const std::int64_t n = 96;
  Tensor x = tensor("x", DType::F32, {"n", "n"}), y = tensor("y", DType::F32, {"n", "n"});
  Tensor idx = tensor("i", DType::I64, {"k"});
  Tensor w = shared(Array::randint({n, n}, -3, 4, DType::I64, 9).astype(DType::F32), "w");
  const std::vector<Tensor> outs = {sqrt(abs(x)) * y + w,        x.matmul(y.T()) + w, sum(x * y, {1}),
                                    take(x.T() + 1, idx, 1) * 2, flip(y, {0}) - x,    max(x, {0})};
  Function f = compile({x, y, idx}, outs, Backend::Native);
  Function ref = compile({x, y, idx}, outs, Backend::Interpreter);
  constexpr int kInputs = 8, kThreads = 8, kCalls = 12;
  std::vector<std::vector<Array>> args, want;
  for (int k = 0; k < kInputs; ++k) {
    const auto s = static_cast<std::uint64_t>(10 * k);
    args.push_back({Array::randint({n, n}, -5, 6, DType::I64, s + 1).astype(DType::F32),
                    Array::randint({n, n}, -5, 6, DType::I64, s + 2).astype(DType::F32),
                    Array::randint({7}, -n, n, DType::I64, s + 3)});
    want.push_back(ref(args.back()));
  }
  std::atomic<int> failures{0};
  std::vector<std::string> first_failure(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int c = 0; c < kCalls; ++c) {
        const int k = (t + c) % kInputs;  // threads run different inputs at the same time
        std::vector<Array> got = f(args[static_cast<std::size_t>(k)]);
        for (std::size_t o = 0; o < outs.size(); ++o) {
          const std::string m = mismatch(got[o], want[static_cast<std::size_t>(k)][o], Acc::Exact);
          if (!m.empty() && failures++ == 0)
            first_failure[static_cast<std::size_t>(t)] =
                "thread " + std::to_string(t) + " call " + std::to_string(c) + " output " + std::to_string(o) + ": " + m;
        }
      }
    });
  for (std::thread& th : threads) th.join();
  std::string msg;
  for (const std::string& s : first_failure) msg += s;
  EXPECT_EQ(failures.load(), 0) << msg;
}

TEST(NativeFunction, ConcurrentCallsWithUpdatesNeverSeeTornValues) {
  // Calls from several threads of a function that updates a shared
  // variable. Concurrent read-modify-write calls may lose increments (no
  // call promises atomicity across calls), but every call must read one
  // consistent pre-call value (all elements equal here) and every stored
  // value must be one some call computed: an update written in place into
  // the buffer other calls are reading would show up as a mixed vector.
  const std::int64_t n = 4096;
  Tensor w = shared(Array::zeros({n}, DType::F64), "w");
  FunctionOptions o;
  o.backend = Backend::Native;
  o.updates = {{w, w + 1}};
  Function f = function({}, {w * 1, sum(w)}, o);
  constexpr int kThreads = 6, kCalls = 40;
  std::atomic<int> torn{0};
  std::string first;
  std::mutex mu;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int c = 0; c < kCalls; ++c) {
        std::vector<Array> r = f();
        const std::vector<double> v = r[0].to_doubles();
        const bool same = std::all_of(v.begin(), v.end(), [&](double e) { return e == v[0]; });
        if (!same || r[1].item() != v[0] * static_cast<double>(n)) {
          std::lock_guard<std::mutex> lock(mu);
          if (torn++ == 0) first = "a call read " + r[0].to_string() + " (sum " + std::to_string(r[1].item()) + ")";
        }
      }
    });
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(torn.load(), 0) << first;
  const std::vector<double> end = w.get_value().to_doubles();
  EXPECT_TRUE(std::all_of(end.begin(), end.end(), [&](double e) { return e == end[0]; })) << "the stored value is torn";
  EXPECT_GE(end[0], 1.0);
  EXPECT_LE(end[0], static_cast<double>(kThreads * kCalls));
}

TEST(NativeFunction, FunctionsCompiledConcurrently) {
  // Several threads compile different functions (different kernels: the
  // constants are part of the kernel text) at the same time, then call them.
  constexpr int kThreads = 6;
  Tensor x = tensor("x", DType::F64, {"n"}), m = matrix("m", DType::F32);
  std::vector<std::vector<Tensor>> graphs;
  for (int t = 0; t < kThreads; ++t) {
    const double c = 1.25 + 0.5 * t;
    graphs.push_back({exp(x * c) - c, tanh(x + c) * x, sum(m * static_cast<float>(c), {0}),
                      (m.T() * c).matmul(m)});
  }
  Array xv = Array::uniform({101}, DType::F64, 3, -2, 2), mv = dyadic({5, 3}, DType::F32, 4);
  std::vector<std::vector<Array>> got(kThreads);
  std::vector<std::string> errors(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      const auto ti = static_cast<std::size_t>(t);
      start.arrive_and_wait();
      try {
        got[ti] = compile({x, m}, graphs[ti], Backend::Native)(xv, mv);
      } catch (const std::exception& e) {
        errors[ti] = e.what();
      }
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    const auto ti = static_cast<std::size_t>(t);
    ASSERT_EQ(errors[ti], "") << "thread " << t;
    std::vector<Array> want = compile({x, m}, graphs[ti], Backend::Interpreter)(xv, mv);
    const std::vector<Acc> accs = {Acc::Libm, Acc::Libm, Acc::Exact, Acc::Exact};
    for (std::size_t o = 0; o < want.size(); ++o)
      expect_match(got[ti][o], want[o], accs[o], "thread " + std::to_string(t) + " output " + std::to_string(o));
  }
}

// ---- fused and unfused ----

std::size_t kernels_of(const std::vector<Tensor>& outs) {
  std::vector<ir::NodeRef> roots;
  for (const Tensor& t : outs) roots.push_back(t.node());
  return codegen::NativeFunction(roots).plan().num_kernels();
}

TEST(NativeFunction, FusedAndUnfusedKernelsAgree) {
  for (DType t : {DType::F32, DType::F64, DType::F16, DType::BF16}) {
    Tensor x = tensor("x", t, {"n"}), y = tensor("y", t, {"n"});
    // Correctly rounded ops only (one rounding per op, in the dtype): the
    // fused and the unfused versions must be bitwise equal.
    Tensor a = abs(y), b = sqrt(a) * x, c = b - y / (a + 1), z = maximum(c * c, x) - 0.5;
    // With libm functions: bitwise equality is not promised (vector and
    // scalar calls, different vector widths), the Libm tolerance is.
    Tensor e = exp(-abs(x)), g = tanh(e * y), h = log1p(e) + g;
    const std::vector<Tensor> fused = {z, h}, unfused = {z, h, a, b, c, e, g};
    // Intermediates as outputs cut the fused kernels apart (one kernel per
    // output). If kernels may one day have several outputs, this no longer
    // holds and the test must find another way to keep intermediates apart.
    EXPECT_LE(kernels_of(fused), 2u) << dtype_name(t) << ": z and h should each be one fused kernel";
    EXPECT_GE(kernels_of(unfused), 7u) << dtype_name(t)
                                       << ": intermediates that are outputs no longer get kernels of their own,"
                                          " so this test no longer compares fused with unfused code";
    Array xv = Array::uniform({1001}, DType::F64, 1, -3, 3).astype(t);
    Array yv = Array::uniform({1001}, DType::F64, 2, -3, 3).astype(t);
    // (unoptimized, so that the graphs stay as written)
    std::vector<Array> f = compile({x, y}, fused, Backend::Native, false)(xv, yv);
    std::vector<Array> u = compile({x, y}, unfused, Backend::Native, false)(xv, yv);
    std::vector<Array> r = compile({x, y}, unfused, Backend::Interpreter, false)(xv, yv);
    const std::string d(dtype_name(t));
    expect_match(f[0], u[0], Acc::Exact, d + ": fused vs unfused, arithmetic");
    expect_match(f[1], u[1], Acc::Libm, d + ": fused vs unfused, libm");
    expect_match(u[0], r[0], Acc::Exact, d + ": unfused vs interpreter, arithmetic");
    for (std::size_t i = 1; i < r.size(); ++i)
      expect_match(u[i], r[i], i == 1 || i >= 5 ? Acc::Libm : Acc::Exact,
                   d + ": unfused vs interpreter, output " + std::to_string(i));
    // The optimised pipeline (the default) agrees as well.
    std::vector<Array> o = compile({x, y}, fused, Backend::Native, true)(xv, yv);
    expect_match(o[0], r[0], Acc::Libm, d + ": optimised, arithmetic");
    expect_match(o[1], r[1], Acc::Libm, d + ": optimised, libm");
  }
}

// ---- every non-elementwise op of the op table, every dtype ----

constexpr DType kAllDTypes[] = {DType::Bool, DType::I8, DType::I16, DType::I32, DType::I64,
                                DType::U8,   DType::F16, DType::BF16, DType::F32, DType::F64};

// The inputs every case may use: x [4, 6], y [6, 4] of the dtype under test,
// idx (i64 [3]) with a negative and a repeated index.
struct Operands {
  Tensor x, y;
  Tensor idx, idx_rep;
  DType t;
};

ir::NodeRef mk(OpCode op, const std::vector<ir::NodeRef>& ins, const ir::Attrs& attrs) {
  return ir::make_node(op, ins, attrs, SourceLoc{});
}
ir::Attrs reduce_attrs(std::vector<std::int64_t> axes, bool keepdims) {
  return ir::Attrs{{"axes", std::move(axes)}, {"keepdims", keepdims}};
}
// Flat (start, stop, step) triples of rows 1:4:2 and columns reversed.
const std::vector<std::int64_t> kSlices = {1, 4, 2, ir::kNone, ir::kNone, -1};

// Nodes with op `op` (and what they need) on the operands; their accuracy class.
using CaseFn = std::function<std::vector<ir::NodeRef>(const Operands&)>;
struct OpCase {
  CaseFn build;
  Acc acc = Acc::Exact;
};

const std::map<OpCode, OpCase>& op_cases() {
  using V = std::vector<ir::NodeRef>;
  using I = std::vector<std::int64_t>;
  static const std::map<OpCode, OpCase> m = {
      {OpCode::Input, {[](const Operands& o) { return V{o.x.node()}; }}},
      {OpCode::Shared, {[](const Operands& o) { return V{shared(dyadic({2, 3}, o.t, 77), "s").node()}; }}},
      {OpCode::Constant, {[](const Operands& o) { return V{constant(dyadic({3, 2}, o.t, 78)).node()}; }}},
      {OpCode::Fill, {[](const Operands& o) { return V{mk(OpCode::Fill, {}, {{"shape", I{2, 3}}, {"value", 2.5}, {"dtype", o.t}})}; }}},
      {OpCode::Arange,
       {[](const Operands& o) {
          return V{mk(OpCode::Arange, {}, {{"start", 1.0}, {"stop", 7.0}, {"step", 1.5}, {"dtype", o.t}})};
        }}},
      {OpCode::Eye,
       {[](const Operands& o) {
          return V{mk(OpCode::Eye, {}, {{"n", std::int64_t{3}}, {"m", std::int64_t{4}}, {"k", std::int64_t{1}}, {"dtype", o.t}})};
        }}},
      {OpCode::Sum,
       {[](const Operands& o) {
          return V{mk(OpCode::Sum, {o.x.node()}, reduce_attrs({1}, false)), mk(OpCode::Sum, {o.x.node()}, reduce_attrs({0, 1}, true))};
        },
        Acc::Sum}},
      {OpCode::Prod, {[](const Operands& o) { return V{mk(OpCode::Prod, {o.x.node()}, reduce_attrs({0}, false))}; }, Acc::Sum}},
      {OpCode::Max, {[](const Operands& o) { return V{mk(OpCode::Max, {o.x.node()}, reduce_attrs({1}, true))}; }}},
      {OpCode::Min, {[](const Operands& o) { return V{mk(OpCode::Min, {o.x.node()}, reduce_attrs({0, 1}, false))}; }}},
      {OpCode::Mean, {[](const Operands& o) { return V{mk(OpCode::Mean, {o.x.node()}, reduce_attrs({0}, false))}; }, Acc::Sum}},
      {OpCode::All, {[](const Operands& o) { return V{mk(OpCode::All, {o.x.node()}, reduce_attrs({1}, false))}; }}},
      {OpCode::Any, {[](const Operands& o) { return V{mk(OpCode::Any, {o.x.node()}, reduce_attrs({0, 1}, false))}; }}},
      {OpCode::Argmax, {[](const Operands& o) { return V{mk(OpCode::Argmax, {o.x.node()}, reduce_attrs({1}, false))}; }}},
      {OpCode::Argmin, {[](const Operands& o) { return V{mk(OpCode::Argmin, {o.x.node()}, reduce_attrs({0, 1}, true))}; }}},
      {OpCode::Matmul,
       {[](const Operands& o) {
          return V{mk(OpCode::Matmul, {o.x.node(), o.y.node()}, {}),
                   mk(OpCode::Matmul, {o.y.node(), mk(OpCode::Transpose, {o.y.node()}, {{"perm", I{1, 0}}})}, {})};
        },
        Acc::Sum}},
      {OpCode::Reshape, {[](const Operands& o) { return V{mk(OpCode::Reshape, {o.x.node()}, {{"shape", I{3, -1}}})}; }}},
      {OpCode::ReshapeLike, {[](const Operands& o) { return V{mk(OpCode::ReshapeLike, {o.x.node(), o.y.node()}, {})}; }}},
      {OpCode::Transpose, {[](const Operands& o) { return V{mk(OpCode::Transpose, {o.x.node()}, {{"perm", I{1, 0}}})}; }}},
      {OpCode::ExpandDims, {[](const Operands& o) { return V{mk(OpCode::ExpandDims, {o.x.node()}, {{"axes", I{0, 2}}})}; }}},
      {OpCode::Squeeze,
       {[](const Operands& o) {
          return V{mk(OpCode::Squeeze, {mk(OpCode::ExpandDims, {o.x.node()}, {{"axes", I{1}}})}, {{"axes", I{1}}})};
        }}},
      {OpCode::BroadcastTo, {[](const Operands& o) { return V{mk(OpCode::BroadcastTo, {o.x.node()}, {{"shape", I{2, 4, 6}}})}; }}},
      {OpCode::BroadcastLike,
       {[](const Operands& o) {
          ir::NodeRef row = mk(OpCode::Slice, {o.x.node()}, {{"slices", I{0, 1, 1, ir::kNone, ir::kNone, 1}}});
          return V{mk(OpCode::BroadcastLike, {row, o.x.node()}, {})};
        }}},
      {OpCode::FillLike,
       {[](const Operands& o) { return V{mk(OpCode::FillLike, {o.x.node()}, {{"value", 1.5}, {"dtype", o.t}})}; }}},
      {OpCode::Concatenate,
       {[](const Operands& o) {
          ir::NodeRef yt = mk(OpCode::Transpose, {o.y.node()}, {{"perm", I{1, 0}}});
          return V{mk(OpCode::Concatenate, {o.x.node(), yt, o.x.node()}, {{"axis", std::int64_t{1}}})};
        }}},
      {OpCode::Unconcat,
       {[](const Operands& o) {
          ir::NodeRef yt = mk(OpCode::Transpose, {o.y.node()}, {{"perm", I{1, 0}}});
          ir::NodeRef g = mk(OpCode::Concatenate, {yt, o.x.node()}, {{"axis", std::int64_t{0}}});
          return V{mk(OpCode::Unconcat, {g, o.x.node(), o.x.node()}, {{"axis", std::int64_t{0}}, {"index", std::int64_t{1}}})};
        }}},
      {OpCode::Flip, {[](const Operands& o) { return V{mk(OpCode::Flip, {o.x.node()}, {{"axes", I{0, 1}}})}; }}},
      {OpCode::Slice, {[](const Operands& o) { return V{mk(OpCode::Slice, {o.x.node()}, {{"slices", kSlices}})}; }}},
      {OpCode::SetSlice,
       {[](const Operands& o) {
          // y[0:6, 0:2]ᵀ: [2, 6], the slice's shape
          ir::NodeRef vt = mk(OpCode::Transpose, {mk(OpCode::Slice, {o.y.node()}, {{"slices", I{0, 6, 1, 0, 2, 1}}})},
                              {{"perm", I{1, 0}}});
          return V{mk(OpCode::SetSlice, {o.x.node(), vt}, {{"slices", kSlices}})};
        }}},
      {OpCode::IncSlice,
       {[](const Operands& o) {
          ir::NodeRef vt = mk(OpCode::Transpose, {mk(OpCode::Slice, {o.y.node()}, {{"slices", I{0, 6, 1, 0, 2, 1}}})},
                              {{"perm", I{1, 0}}});
          return V{mk(OpCode::IncSlice, {o.x.node(), vt}, {{"slices", kSlices}})};
        },
        Acc::Sum}},
      {OpCode::Take,
       {[](const Operands& o) {
          return V{mk(OpCode::Take, {o.x.node(), o.idx.node()}, {{"axis", std::int64_t{1}}}),
                   mk(OpCode::Take, {o.y.node(), o.idx_rep.node()}, {{"axis", std::int64_t{0}}})};
        }}},
      {OpCode::SetTake,
       {[](const Operands& o) {
          ir::NodeRef v = mk(OpCode::Take, {o.y.node(), o.idx.node()}, {{"axis", std::int64_t{0}}});  // [3, 4]
          ir::NodeRef vt = mk(OpCode::Transpose, {v}, {{"perm", I{1, 0}}});                               // [4, 3]
          return V{mk(OpCode::SetTake, {o.x.node(), vt, o.idx_rep.node()}, {{"axis", std::int64_t{1}}})};
        }}},
      {OpCode::IncTake,
       {[](const Operands& o) {
          ir::NodeRef v = mk(OpCode::Take, {o.y.node(), o.idx.node()}, {{"axis", std::int64_t{0}}});
          ir::NodeRef vt = mk(OpCode::Transpose, {v}, {{"perm", I{1, 0}}});
          return V{mk(OpCode::IncTake, {o.x.node(), vt, o.idx_rep.node()}, {{"axis", std::int64_t{1}}})};
        },
        Acc::Sum}},
  };
  return m;
}

TEST(NativeCoverage, EveryNonElementwiseOpOnEveryDtypeMatchesTheInterpreter) {
  // The elementwise ops are swept over the op table and every dtype by
  // NativeOps.* in native_test.cpp; every other op needs a case here (the
  // test fails for an op added to ir/ops.def without one).
  std::map<OpCode, int> accepted;
  for (const ir::OpInfo& info : ir::all_ops())
    if (!ir::is_elementwise(info.code)) {
      EXPECT_TRUE(op_cases().count(info.code)) << "op '" << info.name << "' has no native differential case here";
      accepted[info.code] = 0;
    }
  for (DType t : kAllDTypes) {
    Operands o{tensor("x", t, {4, "b"}), tensor("y", t, {"b", 4}), tensor("i", DType::I64, {3}),
               tensor("j", DType::I64, {3}), t};
    std::vector<Tensor> outs;
    std::vector<Acc> accs;
    std::vector<std::string> names;
    for (auto& [op, c] : op_cases()) {
      std::vector<ir::NodeRef> nodes;
      try {
        nodes = c.build(o);
      } catch (const Error&) {
        continue;  // the op rejects this dtype
      }
      ++accepted[op];
      for (const ir::NodeRef& n : nodes) {
        outs.emplace_back(n);
        accs.push_back(c.acc);
        names.push_back(std::string(ir::op_name(op)) + " on " + std::string(dtype_name(t)));
      }
    }
    const std::vector<Array> args = {dyadic({4, 6}, t, 11), dyadic({6, 4}, t, 12), Array::from({5LL, -6LL, 2LL}),
                                     Array::from({1LL, -3LL, 1LL})};
    // Unoptimized, so that each op stays in the graph as built.
    std::vector<Array> want = compile({o.x, o.y, o.idx, o.idx_rep}, outs, Backend::Interpreter, false)(args);
    std::vector<Array> got =
        call_checked(compile({o.x, o.y, o.idx, o.idx_rep}, outs, Backend::Native, false), args, std::string(dtype_name(t)));
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) expect_match(got[i], want[i], accs[i], names[i]);
  }
  for (auto& [op, n] : accepted) EXPECT_GT(n, 0) << "op '" << ir::op_name(op) << "' accepted no dtype";
}

}  // namespace

namespace {

// The ops whose f16/bf16 kernels compute an f32 libm/libmvec function and
// round its result: one rounding more than the interpreter, 1 ULP.
const std::set<OpCode> kLibmOps = {
    OpCode::Exp,   OpCode::Exp2,  OpCode::Expm1, OpCode::Log,     OpCode::Log2,     OpCode::Log10, OpCode::Log1p,
    OpCode::Log1mexp, OpCode::Sin, OpCode::Cos,  OpCode::Tan,     OpCode::Asin,     OpCode::Acos,  OpCode::Atan,
    OpCode::Sinh,  OpCode::Cosh,  OpCode::Tanh,  OpCode::Asinh,   OpCode::Acosh,    OpCode::Atanh, OpCode::Sigmoid,
    OpCode::Softplus, OpCode::Erf, OpCode::Erfc, OpCode::Rsqrt};

// One ULP of a 16-bit float dtype at |v| (subnormals included).
double ulp16(DType t, double v) {
  const int p = t == DType::F16 ? 11 : 8, emin = t == DType::F16 ? -14 : -126;
  v = std::fabs(v);
  const int e = v == 0 || !std::isfinite(v) ? emin : std::max(std::ilogb(v), emin);
  return std::ldexp(1.0, e - p + 1);
}

// Every f16 and bf16 bit pattern through every unary elementwise op of the
// table: bitwise the interpreter's result, except the libm functions (1 ULP).
// This covers the ops whose kernels call the interpreter's own scalar code
// in double (erfinv, lgamma, digamma, polygamma): their result must be
// rounded once to the dtype, as the interpreter rounds it.
TEST(NativeFunction, UnaryOpsOnEverySixteenBitValue) {
  for (DType t : {DType::F16, DType::BF16}) {
    // (the bit patterns as i16, viewed as the 16-bit float dtype)
    std::vector<std::int16_t> bits(65536);
    for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(i));
    Array x16 = Array::from_vector(bits, {65536});
    Array xv = Array::view(x16.buffer(), {65536}, t, {1}, 0);
    Tensor x = tensor("x", t, {"n"});
    std::vector<Tensor> outs;
    std::vector<OpCode> ops;
    for (const ir::OpInfo& info : ir::all_ops()) {
      if (!ir::is_elementwise(info.code) || info.arity != 1 || info.code == OpCode::Cast) continue;
      ir::Attrs a;
      if (info.code == OpCode::Polygamma) a = ir::Attrs{{"n", std::int64_t{1}}};
      try {
        outs.emplace_back(ir::make_node(info.code, {x.node()}, a, SourceLoc{}));
        ops.push_back(info.code);
      } catch (const Error&) {
        // not defined on floats (bitwise_not, logical_not)
      }
    }
    ASSERT_GE(ops.size(), 40u);
    std::vector<Array> want = compile({x}, outs, Backend::Interpreter, false)(xv);
    std::vector<Array> got = compile({x}, outs, Backend::Native, false)(xv);
    for (std::size_t i = 0; i < outs.size(); ++i) {
      const std::string what = std::string(ir::op_name(ops[i])) + " on every " + std::string(dtype_name(t)) + " value";
      if (!kLibmOps.count(ops[i]) || !is_float(want[i].dtype())) {
        expect_match(got[i], want[i], Acc::Exact, what);
        continue;
      }
      const std::vector<double> g = got[i].to_doubles(), w = want[i].to_doubles(), in = xv.to_doubles();
      int bad = 0;
      std::ostringstream os;
      for (std::size_t k = 0; k < g.size(); ++k) {
        const bool ok = std::isfinite(w[k]) ? std::fabs(g[k] - w[k]) <= ulp16(t, w[k]) : same_bits(g[k], w[k]);
        if (!ok && bad++ < 5) os << "\n  x = " << in[k] << ": native " << g[k] << ", interpreter " << w[k];
      }
      EXPECT_EQ(bad, 0) << what << ": " << bad << " elements more than 1 ULP off:" << os.str();
    }
  }
}

TEST(NativeFunction, HelperOpsRoundOnceToF16) {
  // The two smallest cases of the double rounding fixed in emit.cpp, with
  // SciPy's values: lgamma(0x1.198p-12) = 8.22265626396..., just above the
  // f16 midpoint 8.22265625 (so 8.2265625; via f32 it becomes the midpoint
  // and rounds to even, 8.21875); erfinv(0x1.9c8p-1) = 0.91772459864...,
  // just below the midpoint 0.917724609375 (so 0.91748046875, not 0.91796875).
  Tensor x = tensor("x", DType::F16, {2});
  const Array xv = Array::from({0x1.198p-12, 0x1.9c8p-1}).astype(DType::F16);
  const std::vector<Array> r = compile({x}, {lgamma(x), erfinv(x)}, Backend::Native)(xv);
  EXPECT_EQ(r[0].to_doubles()[0], 8.2265625);
  EXPECT_EQ(r[1].to_doubles()[1], 0.91748046875);
}

// Binary float ops on a broadcast grid of 512 x 512 values (every sign,
// zeros, subnormals, infinities, NaN): + - * / maximum minimum are correctly
// rounded on both backends (bitwise equal); floor_div and mod (computed in
// the dtype, or in f32 for f16/bf16) within 1 ULP, except that an f32
// floor_div may be off by one where |a / b| >= 2^22 (the f32 quotient is
// rounded to a multiple of 0.5 or more there); pow and atan2 (libm)
// within 1 ULP for f16/bf16 and 4 ULP for f32 (docs/ops.md).
TEST(NativeFunction, BinaryFloatOpsOnAGridOfValues) {
  for (DType t : {DType::F16, DType::BF16, DType::F32}) {
    // 512 values: 256 random bit patterns of the dtype's upper half (all
    // exponents), their negations in the other half.
    std::vector<double> v;
    const std::vector<double> specials = {0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, -3.0, INFINITY, -INFINITY, NAN, 1e-6};
    v.insert(v.end(), specials.begin(), specials.end());
    Array r = Array::uniform({512}, DType::F64, 42, -1, 1);
    for (double u : r.to_doubles()) {
      if (v.size() == 512) break;
      // magnitudes from 2^-30 to 2^30 (subnormal for f16 at the low end)
      v.push_back(std::copysign(std::ldexp(1.0 + std::fabs(u), static_cast<int>(u * 30)), u));
    }
    Array xs = Array::from_doubles(v, {512, 1}, t), ys = Array::from_doubles(v, {1, 512}, t);
    Tensor x = tensor("x", t, {"n", 1}), y = tensor("y", t, {1, "m"});
    const std::vector<std::pair<Tensor, int>> cases = {
        {x + y, 0}, {x - y, 0}, {x * y, 0}, {x / y, 0}, {maximum(x, y), 0}, {minimum(x, y), 0},
        {floor_div(x, y), 1}, {x % y, 1}, {pow(abs(x), y), t == DType::F32 ? 4 : 1}, {atan2(x, y), t == DType::F32 ? 4 : 1}};
    std::vector<Tensor> outs;
    for (auto& c : cases) outs.push_back(c.first);
    std::vector<Array> want = compile({x, y}, outs, Backend::Interpreter, false)(xs, ys);
    std::vector<Array> got = compile({x, y}, outs, Backend::Native, false)(xs, ys);
    const char* names[] = {"add", "sub", "mul", "div", "maximum", "minimum", "floor_div", "mod", "pow", "atan2"};
    for (std::size_t i = 0; i < outs.size(); ++i) {
      const std::string what = std::string(names[i]) + " on " + std::string(dtype_name(t));
      const int ulps = cases[i].second;
      if (ulps == 0) {
        expect_match(got[i], want[i], Acc::Exact, what);
        continue;
      }
      const std::vector<double> g = got[i].to_doubles(), w = want[i].to_doubles();
      int bad = 0;
      std::ostringstream os;
      for (std::size_t k = 0; k < g.size(); ++k) {
        const double ulp = t == DType::F32 ? std::ldexp(1.0, std::max(std::ilogb(w[k] == 0 ? 1e-300 : w[k]), -126) - 23)
                                           : ulp16(t, w[k]);
        const double off_by_one = i == 6 && t == DType::F32 && std::fabs(w[k]) >= 0x1p22 ? 1.0 : 0.0;
        const bool ok =
            std::isfinite(w[k]) ? std::fabs(g[k] - w[k]) <= std::max(ulps * ulp, off_by_one) : same_bits(g[k], w[k]);
        if (!ok && bad++ < 5)
          os << "\n  x = " << v[k / 512] << ", y = " << v[k % 512] << ": native " << g[k] << ", interpreter " << w[k];
      }
      EXPECT_EQ(bad, 0) << what << ": " << bad << " elements more than " << ulps << " ULP off:" << os.str();
    }
  }
}

}  // namespace
