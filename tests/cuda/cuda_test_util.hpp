// Shared by the CUDA tests: the kernels the CPU differential suites
// (tests/codegen/native_test.cpp, native_reduce_test.cpp) build, built the
// same way, and the reduction graphs with their test data.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "codegen/kernel.hpp"
#include "codegen/partition.hpp"
#include "elementwise_sweep.hpp"
#include "ir/node.hpp"
#include "kiln/kiln.hpp"

namespace kiln::cuda_test {

using codegen::Kernel;
using ir::OpCode;

using kiln_test::kAllDTypes;

// The kernels of the plan computing `outs` (one per cluster).
inline std::vector<Kernel> kernels_of(const std::vector<Tensor>& outs) {
  std::vector<ir::NodeRef> roots;
  for (const Tensor& t : outs) roots.push_back(t.node());
  codegen::Plan plan = codegen::partition(roots);
  std::vector<Kernel> ks;
  for (const codegen::Cluster& c : plan.clusters) ks.push_back(c.kernel);
  return ks;
}

using kiln_test::sweep;

// ---- reduction kernels (as tests/codegen/native_reduce_test.cpp) ----

// Float data in [lo, hi]; small integers (ties for argmax); bools.
inline Array reduce_data(const Shape& s, DType t, std::uint64_t seed, double lo = -1, double hi = 1) {
  if (t == DType::Bool) return Array::randint(s, 0, 2, DType::I64, seed).astype(DType::Bool);
  if (t == DType::U8) return Array::randint(s, 0, 6, DType::I64, seed).astype(t);
  if (!is_float(t)) return Array::randint(s, -4, 5, DType::I64, seed).astype(t);
  return Array::uniform(s, DType::F64, seed, lo, hi).astype(t);
}

// Relative tolerance of a float result (the interpreter sums in double,
// kernels in the dtype's compute type, in another order).
inline double reduce_tol(DType t) {
  switch (t) {
    case DType::F64: return 1e-12;
    case DType::F32: return 2e-5;
    case DType::F16: return 2e-3;
    case DType::BF16: return 1.6e-2;
    default: return 0;
  }
}

// Graphs whose kernels have reduced dims, with inputs to run them on.
struct ReduceCase {
  std::string what;
  std::vector<Tensor> ins;
  std::vector<Array> args;
  std::vector<Tensor> outs;
  double tol = 0;  // relative, float results; integers, bools and indices exact
  bool one_plan = false;  // the outputs partitioned together (else each on its own)
};

// The root sets to partition for a case: each output alone, or all together.
inline std::vector<std::vector<ir::NodeRef>> plan_roots(const ReduceCase& c) {
  std::vector<std::vector<ir::NodeRef>> rs;
  if (c.one_plan) rs.emplace_back();
  for (const Tensor& o : c.outs) {
    if (!c.one_plan) rs.emplace_back();
    rs.back().push_back(o.node());
  }
  return rs;
}

using ReduceFn = Tensor (*)(const Tensor&, const Axes&, bool, Loc);
struct ReduceOp {
  const char* name;
  ReduceFn fn;
};
inline const std::vector<ReduceOp>& reduce_ops() {
  static const std::vector<ReduceOp> ops = {{"sum", &sum},   {"prod", &prod}, {"max", &max},
                                            {"min", &min},   {"mean", &mean}, {"all", &all},
                                            {"any", &any},   {"argmax", &argmax}, {"argmin", &argmin}};
  return ops;
}
inline bool reduce_accepts(const std::string& op, DType t) {
  if (op == "sum" || op == "prod") return t != DType::Bool;
  if (op == "mean") return is_float(t);
  if (op == "all" || op == "any") return t == DType::Bool;
  return true;
}
inline const std::vector<DType>& reduce_dtypes() {
  static const std::vector<DType> ts = {DType::F32, DType::F64, DType::F16, DType::BF16,
                                        DType::I32, DType::I64, DType::U8,  DType::Bool};
  return ts;
}

// `every_axis`: every axes × keepdims case of the CPU suite (the host run);
// otherwise five that cover the kernel shapes (inner, outer, middle,
// several, all; with and without keepdims), for NVRTC's compile time.
inline std::vector<ReduceCase> reduce_cases(bool every_axis) {
  std::vector<ReduceCase> cs;
  const double nan = NAN, inf = INFINITY;
  // every op x dtype x axes x keepdims
  for (const ReduceOp& op : reduce_ops()) {
    for (DType t : reduce_dtypes()) {
      if (!reduce_accepts(op.name, t)) continue;
      Tensor x = tensor("x", t, {-1, -1, -1});
      ReduceCase c{std::string(op.name) + " " + std::string(dtype_name(t)), {x}, {}, {}, reduce_tol(t)};
      const std::vector<std::pair<Axes, bool>> all_axes = {
          {Axes{}, false}, {Axes{}, true}, {Axes{0}, false}, {Axes{0}, true}, {Axes{1}, false}, {Axes{1}, true},
          {Axes{2}, false}, {Axes{2}, true}, {Axes{0, 2}, false}, {Axes{0, 2}, true}, {Axes{1, 2}, false},
          {Axes{1, 2}, true}, {Axes{0, 1}, false}, {Axes{0, 1}, true}};
      const std::vector<std::pair<Axes, bool>> few = {
          {Axes{2}, false}, {Axes{0}, true}, {Axes{1}, false}, {Axes{0, 2}, true}, {Axes{}, false}};
      for (const auto& [ax, keep] : every_axis ? all_axes : few) c.outs.push_back(op.fn(x, ax, keep, Loc::current()));
      const bool p = std::string(op.name) == "prod";
      c.args = {reduce_data({3, 4, 5}, t, 7, p ? 0.6 : -1, p ? 1.4 : 1)};
      // argmax/argmin: few distinct values, so ties test that the first occurrence wins.
      if (std::string(op.name).rfind("arg", 0) == 0 && is_float(t))
        c.args = {Array::randint({3, 4, 5}, -2, 3, DType::I64, 7).astype(t)};
      cs.push_back(std::move(c));
    }
  }
  for (DType t : {DType::F32, DType::F64, DType::F16, DType::BF16}) {
    const std::string tn(dtype_name(t));
    // fused producers and consumers
    {
      Tensor x = matrix("x", t), y = matrix("y", t), b = vector("b", t), c = vector("c", t);
      cs.push_back({"fused " + tn, {x, y, b, c},
                    {reduce_data({6, 7}, t, 1), reduce_data({6, 7}, t, 2), reduce_data({7}, t, 3), reduce_data({6}, t, 4)},
                    {sum(x * x, 1), kiln::sqrt(mean(square(x - y), -1)) + c, x - mean(x, -1, true), sum(x + b, 0),
                     var(x, 1), max(exp(x) * 2, 0, true) - min(x, 0, true), softmax(x, 0), kiln::stddev(x, 0, true),
                     argmax(x - mean(x, -1, true), -1), argmin(exp(x) - mean(x, 0, true), 0, true)},
                    reduce_tol(t) * 4});
    }
    // the softmax family over rows of 1, 31, 32, 33 and 1000 elements (a
    // warp's worth and around it, several warps), and along other axes
    for (std::int64_t n : {1, 31, 32, 33, 1000}) {
      Tensor x = matrix("x", t);
      cs.push_back({"softmax " + tn + " rows of " + std::to_string(n), {x}, {reduce_data({3, n}, t, 3, -20, 20)},
                    {softmax(x), log_softmax(x), logsumexp(x, -1), logsumexp(x, -1, true), softmax(x, 0)},
                    reduce_tol(t) * (n == 1000 ? 8 : 4)});
    }
    {
      Tensor x3 = tensor("x3", t, {-1, -1, -1});
      cs.push_back({"softmax 3-d " + tn, {x3}, {reduce_data({3, 4, 19}, t, 4, -5, 5)},
                    {softmax(x3, 1), log_softmax(x3, 0), softmax(x3, -1)}, reduce_tol(t) * 4});
    }
    // NaN, inf, a row of NaN: max/min/arg propagate the first NaN
    {
      Tensor x = matrix("x", t);
      Array xv = Array::from({{1.0, nan, 3.0, -2.0}, {-1.0, 2.0, 0.5, nan}, {inf, -inf, 1.0, 2.0},
                              {nan, nan, nan, nan}, {4.0, 5.0, -6.0, 7.0}, {-inf, -inf, -inf, -inf}})
                     .astype(t);
      cs.push_back({"NaN " + tn, {x}, {xv},
                    {max(x, 1), min(x, 0), max(x, 0, true) + 1, sum(x, 1), softmax(x), prod(x, 0), argmax(x, 1),
                     argmin(x, 0), argmax(x, 0), argmin(x, 1, true)},
                    reduce_tol(t) * 4});
    }
  }
  // integer sums and products wrap
  for (DType t : {DType::I32, DType::U8, DType::I64}) {
    Tensor x = matrix("x", t);
    Array xv = t == DType::U8 ? Array::randint({9, 40}, 0, 256, DType::I64, 5).astype(t)
                              : Array::randint({9, 40}, -100000, 100000, DType::I64, 5).astype(t);
    cs.push_back({"wrapping " + std::string(dtype_name(t)), {x}, {xv},
                  {sum(x * x, 1), prod(x, 0), max(x - 3, -1), min(x, 0, true) + 1}, 0});
  }
  // strided and transposed inputs
  for (DType t : {DType::F32, DType::I32}) {
    Tensor x = tensor("x", t, {-1, -1, -1});
    Tensor xt = transpose(x, {2, 0, 1}), xf = flip(x, Axes{2});
    cs.push_back({"strided " + std::string(dtype_name(t)), {x}, {reduce_data({4, 5, 6}, t, 9, 0.5, 1.5)},
                  {sum(xt, -1), max(xt, 0), sum(xf, {0, 2}), min(xf, -1, true) * 2, sum(transpose(x), 1),
                   prod(xt, {1, 2}, true)},
                  reduce_tol(t)});
  }
  // broadcast inputs inside the reduction; reduced-shape operands
  {
    Tensor x = matrix("x", DType::F32), r = tensor("r", DType::F32, {-1, 1}), s = scalar("s", DType::F32);
    cs.push_back({"broadcast inputs", {x, r, s},
                  {reduce_data({7, 9}, DType::F32, 1), reduce_data({7, 1}, DType::F32, 2), Array::scalar(0.25, DType::F32)},
                  {sum(x * r, -1), sum(x * r, 0), max(x + s, {0, 1}), sum(r + s, -1, true), mean(x - r, 1, true) * r},
                  1e-5});
    Tensor x3 = tensor("x3", DType::F64, {-1, -1, -1}), c = vector("c", DType::F64);
    cs.push_back({"kept-dim operand", {x3, c}, {reduce_data({2, 3, 4}, DType::F64, 1), reduce_data({4}, DType::F64, 2)},
                  {sum(x3, 1) * c}, 1e-12});
  }
  // rows of 700 (a block of 128 threads a row) and 2100 (256), all lanes
  // of every warp busy; argmax/argmin on few distinct values (ties)
  for (DType t : {DType::F32, DType::F16, DType::F64, DType::I32, DType::U8, DType::Bool}) {
    Tensor x = matrix("x", t);
    std::vector<Tensor> outs = {max(x, 1), argmax(x, 1), argmin(x, Axes{}, false), min(x, 0), argmax(x, 0, true)};
    if (t == DType::Bool) {
      outs.push_back(any(x, 1));
      outs.push_back(all(x));
    } else {
      outs.push_back(sum(x, 1));
      outs.push_back(sum(x));
    }
    if (is_float(t)) outs.push_back(softmax(x));
    Array xv = is_float(t) ? Array::randint({3, 700}, -3, 4, DType::I64, 11).astype(t) : reduce_data({3, 700}, t, 11);
    cs.push_back({"long rows " + std::string(dtype_name(t)), {x}, {xv}, outs, reduce_tol(t) * 8});
  }
  // long rows and columns
  for (const Shape& s : {Shape{300, 300}, Shape{3, 1100}, Shape{1, 70000}, Shape{70000, 1}}) {
    Tensor x = matrix("x", DType::F32);
    cs.push_back({"shape " + std::to_string(s[0]) + "x" + std::to_string(s[1]), {x}, {reduce_data(s, DType::F32, 4)},
                  {sum(x, 0), max(x, 0), mean(x, 0, true), softmax(x), sum(x, -1), softmax(x, 0)}, 1e-4});
  }
  // keepdims sums that are outputs, read by kernels over the sums' space
  // whose reduced dims hold no reduction (one plan)
  {
    Tensor x = matrix("x", DType::F32), c = vector("c", DType::F32);
    Tensor r = sum(x, 1, true), k = sum(x, 0, true);
    ReduceCase sq{"squeezed", {x, c}, {reduce_data({5, 5}, DType::F32, 1), reduce_data({5}, DType::F32, 2)},
                  {r, squeeze(r, Axes{1}) * 2 + c, k, squeeze(k, Axes{0}) - 1}, 1e-5};
    sq.one_plan = true;
    cs.push_back(std::move(sq));
  }
  // empty rows: sum 0, prod 1, mean NaN, any false, all true
  for (const Shape& s : {Shape{0, 4}, Shape{3, 0}}) {
    Tensor x = matrix("x", DType::F32);
    cs.push_back({"empty " + std::to_string(s[0]) + "x" + std::to_string(s[1]), {x}, {Array::zeros(s, DType::F32)},
                  {sum(x, 1), prod(x, 1, true), mean(x, 1), sum(x, 0) + 1, sum(x), any(x > 0, 1), all(x > 0, 0, true)},
                  0});
  }
  return cs;
}

}  // namespace kiln::cuda_test
