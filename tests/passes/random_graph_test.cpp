// Random expression graphs rewritten by the whole pipeline and evaluated
// against the graph as written (Halide's test/fuzz/simplify.cpp, for kiln).
//
// A graph: 2-4 inputs of mixed dtypes (f64, f32, i32, i64, bool) and ranks
// 0-3 with static dims 1-3 (so they broadcast) or unknown dims (3 at run
// time), then 4-16 steps, each result at most 6 steps deep, operands shared
// between steps. A step is mostly an op drawn from the whole op table
// (ir/ops.def; the test fails if some op is never drawn), sometimes the left
// side of a random pattern rule of the pipeline, a front-end composite
// (softmax, logsumexp, var, cross-entropy...) or a gradient (grad of a sum),
// so that the rules have something to match. The generator inserts casts
// where an op needs another dtype and, most of the time, domain guards
// (log(abs(x) + 0.5), asin(0.9 * tanh(x))) so that values stay finite; the
// rest of the time NaN and inf flow through.
//
// For each graph, in both modes (default and strict_ieee):
//   - every output keeps its type;
//   - optimize(optimize(g)) is optimize(g), node for node (pointer-equal);
//   - the optimised graph computes the same values on random inputs (three
//     trials: small values, larger ones, and some inf, NaN and signed zeros).
// Values: ints and bools exactly; floats within a relative tolerance
// (rewrite_test_util's tolerance_for of the least precise float dtype on the
// way to the output), NaN == NaN, inf == inf. A float rewrite may change
// rounding (log(1 + x) → log1p(x)), so elements that are sensitive to
// rounding in the graph *as written* are not compared: the original is also
// evaluated ten times with noise on every float value computed from the
// inputs (1-4 ulps: all up, all down, then in random directions, kept in the
// op's range; an inf made from finite values may become a large finite
// value, since stabilize rewrites exist to avoid such overflows; a float
// comparison whose operands are equal within the tolerance may go the other
// way, and a sum that cancels within the tolerance may be exactly ±0), and an
// element that moves under that noise is ill-conditioned (cancellation, a
// floor or a comparison on a tie, an underflow, an overflow). The test fails
// if fewer than half the elements can be compared. In the default mode,
// identities that only hold for finite values are allowed, so a trial with a
// NaN or inf anywhere in the original is compared only in strict mode.
//
// The noise models an overflow or an underflow into a pole only roughly (a
// large finite value, a denormal), so a long run may report a stabilize rule
// being *more* accurate than the graph as written where an overflowed value
// then meets a comparison or a bitwise op (about one graph in 50000; the
// seeds of make test are clean). Such a report is not a bug.
//
// The native backend (RandomGraphs.NativeBackendComputesTheSameValues): the
// graph as written and the optimised graph are also run by the native
// executor (codegen::NativeFunction, what function() uses by default) on the
// same three trials and compared with the interpreter on the same graph, with
// the same tolerances and the same noise filter (native f32 code computes in
// f32 where the interpreter computes in double: rounding noise, which an
// ill-conditioned element amplifies). A graph the interpreter rejects with a
// kiln::Error must be rejected by the native backend too. The test fails if
// some op of the op table never ran natively.
// KILN_RANDOM_NATIVE_GRAPHS=N sets how many (default 120, which run every
// op; each graph is compiled to machine code twice, about 60 ms).
// RandomGraphs.CudaBackendComputesTheSameValues runs the same check on the
// CUDA executor (Device::cuda(0)), KILN_RANDOM_CUDA_GRAPHS graphs (default
// 120), and skips where there is no CUDA device or emulator.
//
// KILN_RANDOM_GRAPHS=N runs N graphs (default 500, about a second);
// KILN_RANDOM_SEED=S starts at seed S (graph i has seed S + i). A failure
// prints the seed, a minimised graph that still fails, the full graph, and
// the rules that fired; the test stops after KILN_RANDOM_MAX_FAILURES
// failing graphs (default 5).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "codegen/cuda/cuda_function.hpp"
#include "codegen/native_function.hpp"
#include "ir/graph.hpp"
#include "ir/interpreter.hpp"
#include "ir/printer.hpp"
#include "passes/pipeline.hpp"
#include "passes/random_graph.hpp"
#include "passes/rewrite_test_util.hpp"

namespace {

using namespace kiln_test::random_graph;

std::int64_t env_int(const char* name, std::int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoll(v, nullptr, 10) : fallback;
}

// ---- evaluation ----

// The unit in the last place of v in dtype t.
double ulp(double v, DType t) {
  int mant = 52, emin = -1022;
  switch (t) {
    case DType::F32: mant = 23; emin = -126; break;
    case DType::F16: mant = 10; emin = -14; break;
    case DType::BF16: mant = 7; emin = -126; break;
    default: break;
  }
  if (v == 0) return std::ldexp(1.0, emin - mant);
  int e = 0;
  std::frexp(v, &e);
  return std::ldexp(1.0, std::max(e - 1, emin) - mant);
}

// The largest finite value of a float dtype.
double max_finite(DType t) {
  switch (t) {
    case DType::F32: return 3.4028234663852886e38;
    case DType::F16: return 65504;
    case DType::BF16: return 3.3895313892515355e38;
    default: return 1.7976931348623157e308;
  }
}

// The range of an op's values: noise must not push sigmoid(x) = 1 above 1
// (1 - sigmoid(x) would turn negative and its log NaN, which no rounding
// can do).
std::pair<double, double> value_range(OpCode op) {
  constexpr double inf = INFINITY, pi = 3.141592653589793;
  switch (op) {
    case OpCode::Sigmoid: return {0, 1};
    case OpCode::Tanh: case OpCode::Erf: case OpCode::Sin: case OpCode::Cos: return {-1, 1};
    case OpCode::Erfc: return {0, 2};
    case OpCode::Exp: case OpCode::Exp2: case OpCode::Softplus: case OpCode::Sqrt: case OpCode::Rsqrt:
    case OpCode::Abs: case OpCode::Square: return {0, inf};
    case OpCode::Cosh: return {1, inf};
    case OpCode::Expm1: return {-1, inf};
    case OpCode::Acos: return {0, pi};
    case OpCode::Asin: case OpCode::Atan: return {-pi / 2, pi / 2};
    case OpCode::Atan2: return {-pi, pi};
    default: return {-inf, inf};
  }
}

bool all_finite(const Array& a) {
  if (!kiln::is_float(a.dtype())) return true;
  for (double x : a.to_doubles())
    if (!std::isfinite(x)) return false;
  return true;
}

// Rounding noise on the value of node n: 1-4 ulps on every finite element
// (zeros stay exact when `sign` > 0), up for `sign` > 0, down for < 0,
// either way for 0, kept finite and in n's range; an inf that n made from finite inputs (made_inf[i]: an overflow, or
// a pole such as log(0)) may as well have been some large finite value
// (always when `sign` != 0, half the time otherwise).
Array perturb(const Node& n, const Array& a, const std::vector<bool>& made_inf, int sign, std::mt19937_64& rng) {
  std::vector<double> v = a.to_doubles();
  std::uniform_int_distribution<int> steps(1, 4);
  auto [lo, hi] = value_range(n.op());
  const double big = max_finite(a.dtype());
  for (std::size_t i = 0; i < v.size(); ++i) {
    double& x = v[i];
    int s = sign != 0 ? sign : (rng() & 1) ? 1 : -1;
    if (x == 0 && sign > 0) {
      // (the run that sends cancellations to exactly 0 keeps zeros exact)
    } else if (std::isfinite(x)) {
      // Noise never overflows nor leaves the op's range (it goes the other
      // way at the edge: exp(x) = 0 may be a denormal, never negative).
      double step = s * steps(rng) * ulp(x, a.dtype()), lo_x = std::min(lo, x), hi_x = std::max(hi, x);
      double y = x + step;
      if (y < lo_x || y > hi_x) y = x - step;
      x = std::clamp(std::clamp(y, lo_x, hi_x), -big, big);
    } else if (std::isinf(x) && made_inf[i] && (sign != 0 || (rng() & 1))) {
      x = std::copysign(std::ldexp(big, -static_cast<int>(rng() % 8)), x);  // some large value
    }
  }
  return Array::from_doubles(v, a.shape(), a.dtype());
}

// Elementwise ops: the values of n(ins) computed from finite inputs only,
// one flag per output element. Other ops: all or nothing.
std::vector<bool> from_finite_inputs(const Node& n, const std::vector<Array>& ins, std::size_t size) {
  if (!ir::is_elementwise(n.op())) {
    bool all = true;
    for (const Array& a : ins) all = all && all_finite(a);
    return std::vector<bool>(size, all);
  }
  // and(isfinite(in0), isfinite(in1), ...), broadcast like n itself.
  kiln::SourceLoc loc;
  NodeRef mask_node;
  Array mask;
  for (std::size_t k = 0; k < ins.size(); ++k) {
    NodeRef f = ir::make_node(OpCode::IsFinite, {n.input(k)}, {}, loc);
    Array fv = ir::eval_node(*f, {ins[k]});
    if (!mask_node) {
      mask_node = f;
      mask = fv;
    } else {
      mask_node = ir::make_node(OpCode::LogicalAnd, {mask_node, f}, {}, loc);
      mask = ir::eval_node(*mask_node, {mask, fv});
    }
  }
  std::vector<bool> out;
  for (double x : mask.to_doubles()) out.push_back(x != 0);
  return out;
}

// Where rounding alone decides the value of node n: float comparisons whose
// operands are equal within the tolerance (a rewrite may make the two sides
// the very same node), and float sums and differences that cancel to within
// the tolerance of their operands (a rewrite may make them cancel exactly).
std::vector<bool> knife_edges(const Node& n, const std::vector<Array>& ins, const Array& value) {
  std::vector<bool> edges(static_cast<std::size_t>(value.size()), false);
  bool compare = ir::op_info(n.op()).category == OpCategory::Compare;
  bool sum = n.op() == OpCode::Add || n.op() == OpCode::Sub;
  if ((!compare && !sum) || !kiln::is_float(n.input(0)->dtype()) || n.input(0) == n.input(1)) return edges;
  kiln::SourceLoc loc;
  NodeRef a0 = ir::make_node(OpCode::Abs, {n.input(0)}, {}, loc), a1 = ir::make_node(OpCode::Abs, {n.input(1)}, {}, loc);
  NodeRef m = ir::make_node(OpCode::Maximum, {a0, a1}, {}, loc);
  std::vector<double> mv = ir::eval_node(*m, {ir::eval_node(*a0, {ins[0]}), ir::eval_node(*a1, {ins[1]})}).to_doubles();
  std::vector<double> dv =
      compare ? ir::eval_node(*ir::make_node(OpCode::Sub, {n.input(0), n.input(1)}, {}, loc), ins).to_doubles()
              : value.to_doubles();
  double rel = kiln_test::tolerance_for(n.input(0)->dtype());
  for (std::size_t i = 0; i < edges.size(); ++i)
    edges[i] = std::isfinite(mv[i]) && (compare ? std::fabs(dv[i]) <= rel * std::max(1.0, mv[i])
                                                : dv[i] != 0 && std::fabs(dv[i]) <= rel * mv[i]);
  return edges;
}


struct Evaluation {
  std::vector<Array> outputs;
  bool all_finite = true;  // every float value of every node, inputs included
};

// The value v of node n (inputs `ins`) as rounding might have made it:
// perturbed; on a knife edge, a comparison the other way and a cancellation
// exactly 0 of either sign (always when noise goes up, then -0; half the
// time when it goes either way).
Array noisy_value(const Node& n, const std::vector<Array>& ins, Array v, int sign, std::mt19937_64& rng) {
  const std::size_t size = static_cast<std::size_t>(v.size());
  if (kiln::is_float(v.dtype())) v = perturb(n, v, from_finite_inputs(n, ins, size), sign, rng);
  std::vector<bool> edges = knife_edges(n, ins, v);
  std::vector<double> x = v.to_doubles();
  bool any = false;
  for (std::size_t i = 0; i < size; ++i)
    if (edges[i] && (sign > 0 || (sign == 0 && (rng() & 1)))) {
      x[i] = v.dtype() == DType::Bool ? !x[i] : sign > 0 || (rng() & 1) ? -0.0 : 0.0;
      any = true;
    }
  return any ? Array::from_doubles(x, v.shape(), v.dtype()) : v;
}

// Evaluates node by node; with `noise`, every value computed from the
// inputs is a noisy_value() (in the direction `sign`). Constant expressions
// get no noise: they are folded exactly, as written and rewritten (2 - 1 is
// 1, not 1 + ulp).
Evaluation evaluate(const std::vector<NodeRef>& outputs, const ir::Bindings& bindings, std::mt19937_64* noise,
                    int sign = 0) {
  Evaluation e;
  std::unordered_map<const Node*, Array> values;
  std::unordered_set<const Node*> variable;  // nodes that depend on an input
  for (const Node* n : ir::topo_order(outputs)) {
    Array v;
    if (n->op() == OpCode::Input || n->op() == OpCode::Shared) {
      v = bindings.at(n);
      variable.insert(n);
    } else {
      std::vector<Array> ins;
      bool depends = false;
      for (const NodeRef& in : n->inputs()) {
        ins.push_back(values.at(in.get()));
        depends = depends || variable.count(in.get());
      }
      v = ir::eval_node(*n, ins);
      if (depends) {
        variable.insert(n);
        if (noise) v = noisy_value(*n, ins, v, sign, *noise);
      }
    }
    e.all_finite = e.all_finite && all_finite(v);
    values[n] = v;
  }
  for (const NodeRef& o : outputs) e.outputs.push_back(values.at(o.get()));
  return e;
}

// Random inputs for a trial: floats in [-2, 2), [-6, 6), or in [-2, 2) with
// about one element in five replaced by inf, -inf, NaN, 0 or -0.
ir::Bindings random_bindings(const std::vector<NodeRef>& vars, std::uint64_t seed, int trial) {
  ir::Bindings b;
  std::mt19937_64 rng(seed);
  for (const NodeRef& v : vars) {
    Array a = kiln_test::random_value(v->type(), rng(), trial == 1 ? -6 : -2, trial == 1 ? 6 : 2, kRunTimeSize);
    if (trial == 2 && kiln::is_float(a.dtype())) {
      static const double specials[] = {INFINITY, -INFINITY, NAN, 0.0, -0.0};
      std::vector<double> x = a.to_doubles();
      for (double& e : x)
        if (rng() % 5 == 0) e = specials[rng() % 5];
      a = Array::from_doubles(x, a.shape(), a.dtype());
    }
    b[v.get()] = a;
  }
  return b;
}

bool agree(double x, double y, double rel) {
  if (std::isnan(x) && std::isnan(y)) return true;
  if (std::isinf(x) || std::isinf(y)) return x == y;
  return std::fabs(x - y) <= rel * std::max({1.0, std::fabs(x), std::fabs(y)});
}

struct Stats {
  long compared = 0, ill_conditioned = 0, skipped_nonfinite = 0, original_errors = 0;
};

struct Mode {
  const char* name;
  passes::PipelineOptions options;
};

std::vector<Mode> modes() {
  Mode dflt{"default", {}};
  Mode strict{"strict_ieee", {}};
  strict.options.rules.strict_ieee = true;
  return {dflt, strict};
}

std::string type_list(const std::vector<NodeRef>& v) {
  std::string s;
  for (const NodeRef& n : v) s += (s.empty() ? "" : ", ") + n->type().str();
  return s;
}

// Checks one graph; "" when it passes, else what went wrong.
std::string check(const std::vector<NodeRef>& outs, std::uint64_t seed, Stats* stats) {
  std::ostringstream why;
  for (const Mode& mode : modes()) {
    std::vector<NodeRef> opt, again;
    try {
      opt = passes::optimize(outs, mode.options);
      again = passes::optimize(opt, mode.options);
    } catch (const std::exception& e) {
      return std::string(mode.name) + ": optimize threw: " + e.what();
    }
    for (std::size_t i = 0; i < outs.size(); ++i) {
      const TensorType &want = outs[i]->type(), &got = opt[i]->type();
      bool ok = want.dtype == got.dtype && want.rank() == got.rank();
      for (std::int64_t k = 0; ok && k < want.rank(); ++k)
        ok = !want.dims[k].known() || want.dims[k] == got.dims[k];
      if (!ok) why << mode.name << ": output " << i << " changed type from " << want.str() << " to " << got.str() << "\n";
      if (again[i] != opt[i])
        why << mode.name << ": optimizing twice changes output " << i << ":\n"
            << ir::print_nodes({opt[i]}) << "became\n" << ir::print_nodes({again[i]});
    }
    if (!why.str().empty()) return why.str();

    std::vector<NodeRef> vars = ir::free_variables(outs);
    for (int trial = 0; trial < 3; ++trial) {
      std::uint64_t s = seed * 7919 + static_cast<std::uint64_t>(trial) * 131;
      ir::Bindings b = random_bindings(vars, s, trial);
      Evaluation clean;
      try {
        clean = evaluate(outs, b, nullptr);
      } catch (const kiln::Error&) {
        if (stats) stats->original_errors++;
        continue;  // the graph as written fails here: the rewrite may do anything
      } catch (const std::exception& e) {
        return std::string("evaluating the graph as written: ") + e.what();
      }
      std::vector<Array> got;
      try {
        got = ir::interpret(opt, b);
      } catch (const std::exception& e) {
        return std::string(mode.name) + ": the optimised graph throws where the original does not: " + e.what();
      }
      if (!mode.options.rules.strict_ieee && !clean.all_finite) {
        if (stats) stats->skipped_nonfinite++;
        continue;
      }
      std::vector<Evaluation> noisy;
      std::mt19937_64 noise(s);
      for (int sign : {1, -1, 0, 0, 0, 0, 0, 0, 0, 0}) noisy.push_back(evaluate(outs, b, &noise, sign));
      for (std::size_t i = 0; i < outs.size(); ++i) {
        const Array &w = clean.outputs[i], &g = got[i];
        if (w.dtype() != g.dtype() || w.shape() != g.shape()) {
          why << mode.name << ": output " << i << " is " << g.to_string() << ", expected " << w.to_string() << "\n";
          break;
        }
        // Floats: the tolerance of the least precise float computed on the
        // way (a rewrite of an f32 part changes f32 roundings).
        double rel = kiln_test::tolerance_for(w.dtype());
        if (kiln::is_float(w.dtype()))
          for (const Node* n : ir::topo_order({outs[i]}))
            if (kiln::is_float(n->dtype())) rel = std::max(rel, kiln_test::tolerance_for(n->dtype()));
        std::vector<double> wv = w.to_doubles(), gv = g.to_doubles();
        std::vector<std::vector<double>> nv;
        for (auto& n : noisy) nv.push_back(n.outputs[i].to_doubles());
        for (std::size_t e = 0; e < wv.size(); ++e) {
          bool stable = true;
          for (auto& v : nv) stable &= agree(wv[e], v[e], rel / 8);
          if (!stable) {
            if (stats) stats->ill_conditioned++;
            continue;
          }
          if (stats) stats->compared++;
          if (!agree(wv[e], gv[e], rel)) {
            why << mode.name << ": output " << i << " element " << e << " is " << gv[e] << ", expected " << wv[e]
                << " (trial " << trial << ")\ninputs:\n";
            for (const NodeRef& v : vars) why << "  " << v->var_name() << " = " << b.at(v.get()).to_string() << "\n";
            why << "optimised:\n" << ir::print_nodes(opt);
            return why.str();
          }
        }
      }
      if (!why.str().empty()) return why.str();
    }
  }
  return "";
}

// Shrinks a failing graph: keeps one output, and replaces nodes by one of
// their inputs of the same type or by a fresh input, while it still fails.
template <class Fails>
std::vector<NodeRef> minimise_with(std::vector<NodeRef> outs, Fails fails) {
  for (bool progress = true; progress;) {
    progress = false;
    if (outs.size() > 1)
      for (const NodeRef& o : outs)
        if (fails({o})) {
          outs = {o};
          progress = true;
          break;
        }
    if (progress) continue;
    std::vector<const Node*> order = ir::topo_order(outs);
    for (auto it = order.rbegin(); it != order.rend() && !progress; ++it) {
      const Node* n = *it;
      if (n->is_leaf()) continue;
      std::vector<NodeRef> candidates;
      for (const NodeRef& in : n->inputs())
        if (in->type() == n->type()) candidates.push_back(in);
      TensorType t = n->type();
      candidates.push_back(ir::make_node(OpCode::Input, {}, Attrs{{"name", std::string("r")}, {"id", ir::fresh_var_id()}},
                                         kiln::SourceLoc(), &t));
      for (const NodeRef& c : candidates) {
        std::vector<NodeRef> smaller = ir::substitute(outs, {{n, c}});
        if (ir::node_count(smaller) < ir::node_count(outs) && fails(smaller)) {
          outs = smaller;
          progress = true;
          break;
        }
      }
    }
  }
  return outs;
}

std::vector<NodeRef> minimise(const std::vector<NodeRef>& outs, std::uint64_t seed) {
  return minimise_with(outs, [&](const std::vector<NodeRef>& g) { return !check(g, seed, nullptr).empty(); });
}

// ---- the native backend ----

// Where run_native runs: the CPU executor, or the CUDA executor on this
// device (RandomGraphs.CudaBackend*).
kiln::Device g_target = kiln::Device::cpu();

// The native executor's results for `outs` (a kiln::Error passes through).
std::vector<Array> run_native(const std::vector<NodeRef>& outs, const ir::Bindings& b) {
  if (g_target.is_cpu()) return kiln::codegen::NativeFunction(outs).run(b);
  const std::vector<NodeRef> params = ir::free_variables(outs);
  std::vector<Array> args;
  for (const NodeRef& p : params) args.push_back(b.at(p.get()));
  std::vector<Array> r = kiln::codegen::cuda::CudaFunction(params, outs, g_target).run(args);
  for (Array& a : r) a = a.to(kiln::Device::cpu());
  return r;
}

// Compares native results for `graph` with the interpreter's (`want`),
// skipping elements that move under rounding noise in `noisy`; appends
// to `why` and returns false on the first difference.
bool compare_native(const char* which, const std::vector<NodeRef>& graph, const std::vector<Array>& want,
                    const std::vector<Array>& got, const std::vector<Evaluation>& noisy, const ir::Bindings& b,
                    int trial, Stats* stats, std::ostringstream& why) {
  for (std::size_t i = 0; i < graph.size(); ++i) {
    const Array &w = want[i], &g = got[i];
    if (w.dtype() != g.dtype() || w.shape() != g.shape()) {
      why << which << ": native output " << i << " is " << g.to_string() << ", the interpreter's " << w.to_string()
          << "\n";
      return false;
    }
    double rel = kiln_test::tolerance_for(w.dtype());
    if (kiln::is_float(w.dtype()))
      for (const Node* n : ir::topo_order({graph[i]}))
        if (kiln::is_float(n->dtype())) rel = std::max(rel, kiln_test::tolerance_for(n->dtype()));
    std::vector<double> wv = w.to_doubles(), gv = g.to_doubles();
    std::vector<std::vector<double>> nv;
    for (const Evaluation& n : noisy) nv.push_back(n.outputs[i].to_doubles());
    for (std::size_t e = 0; e < wv.size(); ++e) {
      bool stable = true;
      for (const std::vector<double>& v : nv) stable &= agree(wv[e], v[e], rel / 8);
      if (!stable) {
        if (stats) stats->ill_conditioned++;
        continue;
      }
      if (stats) stats->compared++;
      if (!agree(wv[e], gv[e], rel)) {
        why << which << ": native output " << i << " element " << e << " is " << gv[e] << ", the interpreter's "
            << wv[e] << " (trial " << trial << ")\ninputs:\n";
        for (const auto& [v, a] : b) why << "  " << v->var_name() << " = " << a.to_string() << "\n";
        why << "the graph:\n" << ir::print_nodes(graph) << "the native plan:\n"
            << kiln::codegen::print_plan(kiln::codegen::NativeFunction(graph).plan());
        return false;
      }
    }
  }
  return true;
}

// Checks one graph on the native backend, as written and optimised (default
// mode); "" when it passes.
std::string check_native(const std::vector<NodeRef>& outs, std::uint64_t seed, Stats* stats) {
  std::ostringstream why;
  std::vector<NodeRef> opt;
  try {
    opt = passes::optimize(outs);
  } catch (const std::exception& e) {
    return std::string("optimize threw: ") + e.what();
  }
  std::vector<NodeRef> vars = ir::free_variables(outs);
  for (int trial = 0; trial < 3; ++trial) {
    const std::uint64_t s = seed * 7919 + static_cast<std::uint64_t>(trial) * 131;
    const ir::Bindings b = random_bindings(vars, s, trial);
    for (int version = 0; version < 2; ++version) {
      const char* which = version == 0 ? "as written" : "optimised";
      const std::vector<NodeRef>& graph = version == 0 ? outs : opt;
      std::vector<Array> want, got;
      std::string interp_error;
      try {
        want = ir::interpret(graph, b);
      } catch (const kiln::Error& e) {
        interp_error = e.what();
      } catch (const std::exception& e) {
        return std::string(which) + ": the interpreter threw: " + e.what();
      }
      try {
        got = run_native(graph, b);
      } catch (const kiln::Error& e) {
        if (interp_error.empty())
          return std::string(which) + ": the native backend throws where the interpreter does not: " + e.what() +
                 "\n" + ir::print_nodes(graph);
        if (stats) stats->original_errors++;
        continue;
      } catch (const std::exception& e) {
        return std::string(which) + ": the native backend threw a non-kiln::Error: " + e.what() + "\n" +
               ir::print_nodes(graph);
      }
      if (!interp_error.empty())
        return std::string(which) + ": the interpreter throws (" + interp_error +
               ") but the native backend does not\n" + ir::print_nodes(graph);
      std::vector<Evaluation> noisy;
      std::mt19937_64 noise(s);
      for (int sign : {1, -1, 0, 0, 0, 0}) noisy.push_back(evaluate(graph, b, &noise, sign));
      if (!compare_native(which, graph, want, got, noisy, b, trial, stats, why)) return why.str();
    }
  }
  return "";
}

void native_backend_computes_the_same_values(std::int64_t count) {
  const std::uint64_t first = static_cast<std::uint64_t>(env_int("KILN_RANDOM_SEED", 1));
  const std::int64_t max_failures = env_int("KILN_RANDOM_MAX_FAILURES", 5);
  Stats stats;
  std::set<OpCode> used;
  int failures = 0;
  for (std::int64_t i = 0; i < count && failures < max_failures; ++i) {
    const std::uint64_t seed = first + static_cast<std::uint64_t>(i);
    Generator gen(seed);
    std::set<OpCode> ops;
    std::vector<NodeRef> outs = gen.graph(&ops);
    std::string why = check_native(outs, seed, &stats);
    if (why.empty()) {
      used.insert(ops.begin(), ops.end());
      continue;
    }
    ++failures;
    std::vector<NodeRef> small =
        minimise_with(outs, [&](const std::vector<NodeRef>& g) { return !check_native(g, seed, nullptr).empty(); });
    ADD_FAILURE() << "random graph with seed " << seed << " on the native backend, " << g_target.str()
                  << " (rerun: KILN_RANDOM_SEED=" << seed
                  << " KILN_RANDOM_NATIVE_GRAPHS=1 (or _CUDA_) --gtest_filter=RandomGraphs.*Backend*)\nminimised:\n"
                  << ir::print_nodes(small) << check_native(small, seed, nullptr) << "\nthe whole graph ("
                  << type_list(outs) << "):\n" << ir::print_nodes(outs) << why;
  }
  std::cout << "[random graphs, native on " << g_target.str() << "] " << count << " graphs from seed " << first << ": " << stats.compared
            << " elements compared, " << stats.ill_conditioned << " ill-conditioned, " << stats.original_errors
            << " runs where both backends throw; " << used.size() << " ops run natively\n";
  if (count >= 120) {  // (fewer graphs need not run every op)
    const long total = stats.compared + stats.ill_conditioned;
    EXPECT_GE(stats.compared * 2, total) << "most elements should be well-conditioned";
    std::string missing;
    for (const ir::OpInfo& info : ir::all_ops())
      if (info.code != OpCode::Input && !used.count(info.code)) missing += " " + std::string(info.name);
    EXPECT_TRUE(missing.empty()) << "ops never run natively by a passing graph:" << missing;
  }
}

TEST(RandomGraphs, NativeBackendComputesTheSameValues) {
  native_backend_computes_the_same_values(env_int("KILN_RANDOM_NATIVE_GRAPHS", 120));
}

// The same graphs on the CUDA executor (Device::cuda(0)); skips without a
// CUDA device. The emulator's CI run sets KILN_RANDOM_CUDA_GRAPHS lower
// (each kernel is a host compile there).
TEST(RandomGraphs, CudaBackendComputesTheSameValues) {
  try {
    Array::empty({1}, kiln::DType::F32, kiln::Device::cuda(0));
  } catch (const kiln::Error&) {
    GTEST_SKIP() << "no CUDA device (or emulator) here";
  }
  g_target = kiln::Device::cuda(0);
  struct Reset {
    ~Reset() { g_target = kiln::Device::cpu(); }
  } reset;
  native_backend_computes_the_same_values(env_int("KILN_RANDOM_CUDA_GRAPHS", 120));
}

TEST(RandomGraphs, OptimisedGraphsComputeTheSameValues) {
  const std::int64_t count = env_int("KILN_RANDOM_GRAPHS", 500);
  const std::uint64_t first = static_cast<std::uint64_t>(env_int("KILN_RANDOM_SEED", 1));
  Stats stats;
  std::set<OpCode> used;
  std::map<std::string, int> fired;
  const std::int64_t max_failures = env_int("KILN_RANDOM_MAX_FAILURES", 5);
  int failures = 0;
  for (std::int64_t i = 0; i < count && failures < max_failures; ++i) {
    std::uint64_t seed = first + static_cast<std::uint64_t>(i);
    Generator gen(seed);
    std::vector<NodeRef> outs = gen.graph(&used);
    passes::RuleCounts counts;
    passes::PipelineOptions po;
    po.counts = &counts;
    try {
      passes::optimize(outs, po);
    } catch (const std::exception&) {
    }
    for (auto& [name, n] : counts) fired[name] += n;
    std::string why = check(outs, seed, &stats);
    if (why.empty()) continue;
    ++failures;
    std::vector<NodeRef> small = minimise(outs, seed);
    std::string rules;
    for (auto& [name, n] : counts) rules += " " + name;
    ADD_FAILURE() << "random graph with seed " << seed << " (rerun: KILN_RANDOM_SEED=" << seed
                  << " KILN_RANDOM_GRAPHS=1)\n"
                  << "minimised:\n" << ir::print_nodes(small) << check(small, seed, nullptr) << "\nthe whole graph ("
                  << type_list(outs) << "):\n" << ir::print_nodes(outs) << why << "rules that fired:" << rules;
  }
  long total = stats.compared + stats.ill_conditioned;
  std::cout << "[random graphs] " << count << " graphs from seed " << first << ": " << stats.compared
            << " elements compared, " << stats.ill_conditioned << " ill-conditioned, " << stats.skipped_nonfinite
            << " default-mode trials with NaN/inf skipped, " << stats.original_errors
            << " trials where the original throws; " << used.size() << " ops generated; rules fired:";
  for (auto& [name, n] : fired) std::cout << " " << name << "=" << n;
  std::cout << "; never fired:";
  for (const passes::RuleSet& set : {passes::canonicalize_rules(), passes::stabilize_rules(), passes::specialize_rules()})
    for (const passes::Rule& r : set.rules)
      if (!fired.count(r.name)) std::cout << " " << r.name;
  std::cout << "\n";
  if (count >= 200) {  // (a few graphs alone may all be ill-conditioned)
    EXPECT_GE(stats.compared * 2, total) << "most elements should be well-conditioned";
    std::string missing;
    for (const ir::OpInfo& info : ir::all_ops())
      if (info.code != OpCode::Input && !used.count(info.code)) missing += " " + std::string(info.name);
    EXPECT_TRUE(missing.empty()) << "ops never generated (teach the generator to build them):" << missing;
  }
}

}  // namespace
