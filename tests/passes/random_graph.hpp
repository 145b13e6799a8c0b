// Random expression graphs for the pipeline's random-graph test
// (random_graph_test.cpp): a generator over the whole op table, the left
// sides of the pipeline's pattern rules, front-end composites and gradients.
// Deterministic for a seed.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.hpp"
#include "ir/shape_util.hpp"
#include "kiln/grad.hpp"
#include "kiln/tensor.hpp"
#include "passes/pipeline.hpp"
#include "passes/rewrite_test_util.hpp"

namespace kiln_test::random_graph {

using kiln::Array;
using kiln::DType;
using kiln::ir::Attrs;
using kiln::ir::Dim;
using kiln::ir::Node;
using kiln::ir::NodeRef;
using kiln::ir::OpCategory;
using kiln::ir::OpCode;
using kiln::ir::TensorType;
namespace ir = kiln::ir;
namespace passes = kiln::passes;

inline constexpr std::int64_t kRunTimeSize = 3;  // the run-time size of every unknown dim
inline constexpr int kMaxDepth = 6;
inline constexpr int kMaxRank = 4;
inline constexpr std::int64_t kMaxElements = 512;

// Run-time shape of a type (unknown dims are kRunTimeSize).
inline std::vector<std::int64_t> run_time_shape(const TensorType& t) {
  std::vector<std::int64_t> s;
  for (const Dim& d : t.dims) s.push_back(d.known() ? d.size : kRunTimeSize);
  return s;
}
inline std::int64_t run_time_size(const TensorType& t) {
  std::int64_t n = 1;
  for (auto s : run_time_shape(t)) n *= s;
  return n;
}

// Do the types broadcast together, statically and at run time?
inline bool broadcasts(const TensorType& a, const TensorType& b, std::vector<Dim>* out = nullptr) {
  std::vector<Dim> dims;
  std::vector<std::int64_t> shape;
  if (!ir::broadcast_dims(a.dims, b.dims, &dims, nullptr) ||
      !ir::broadcast_shapes(run_time_shape(a), run_time_shape(b), &shape))
    return false;
  if (out) *out = dims;
  return true;
}

// A random graph per seed: Generator(seed).graph(&ops_used).
class Generator {
  using Shape = std::vector<std::int64_t>;

 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  // A random graph: its outputs.
  std::vector<NodeRef> graph(std::set<OpCode>* used) {
    used_ = used;
    int inputs = uniform(2, 4);
    for (int i = 0; i < inputs; ++i) add(input_leaf(std::string(1, static_cast<char>('a' + i))), 0);
    int steps = uniform(4, 16);
    std::vector<const ir::OpInfo*> ops;
    for (const ir::OpInfo& info : ir::all_ops())
      if (info.code != OpCode::Input) ops.push_back(&info);
    for (int s = 0; s < steps; ++s) {
      for (int attempt = 0; attempt < 8; ++attempt) {
        // Mostly an op of the table; sometimes the left side of a rewrite
        // rule, a front-end composite (softmax, cross-entropy...) or a
        // gradient, so that the rules have something to match.
        double kind = std::uniform_real_distribution<double>(0, 1)(rng_);
        const ir::OpInfo* info = nullptr;
        std::vector<NodeRef> ins;
        NodeRef n;
        try {
          if (kind < 0.2) {
            n = rule_seed(ins);
          } else if (kind < 0.28) {
            n = composite(ins);
          } else if (kind < 0.33) {
            n = gradient(ins);
          } else {
            info = ops[static_cast<std::size_t>(uniform(0, static_cast<int>(ops.size()) - 1))];
            n = make_op(*info, ins);
          }
        } catch (const kiln::Error&) {
          n = nullptr;  // the operands did not fit: draw again
        }
        if (!n || n->rank() > kMaxRank || run_time_size(n->type()) > kMaxElements) continue;
        add(n, depth_of(ins));
        if (used_ && info) used_->insert(info->code);
        break;
      }
    }
    // Outputs: the last one or two results, and sometimes an earlier one.
    std::vector<NodeRef> outs{pool_.back()};
    if (pool_.size() > 2 && chance(0.5)) outs.push_back(pool_[pool_.size() - 2]);
    if (pool_.size() > 3 && chance(0.3)) outs.push_back(pool_[static_cast<std::size_t>(uniform(0, static_cast<int>(pool_.size()) - 3))]);
    return outs;
  }

 private:
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  template <class T>
  const T& one_of(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(uniform(0, static_cast<int>(v.size()) - 1))];
  }

  void add(const NodeRef& n, int depth) {
    pool_.push_back(n);
    depth_[n.get()] = depth;
  }

  // An operand from the pool, shallow enough for one more op on top;
  // recent results are favoured so that graphs grow deep.
  NodeRef pick() {
    std::vector<NodeRef> ok;
    for (const NodeRef& n : pool_)
      if (depth_[n.get()] < kMaxDepth) ok.push_back(n);
    if (chance(0.5) && ok.size() > 2) return ok[ok.size() - 1 - static_cast<std::size_t>(uniform(0, 2))];
    return one_of(ok);
  }
  int depth_of(const std::vector<NodeRef>& ins) {
    int d = 0;
    for (const NodeRef& n : ins) {
      auto it = depth_.find(n.get());
      d = std::max(d, it == depth_.end() ? 0 : it->second);
    }
    return d + 1;
  }

  NodeRef node(OpCode op, std::vector<NodeRef> ins, Attrs attrs = {}) {
    return ir::make_node(op, std::move(ins), std::move(attrs), kiln::SourceLoc());
  }

  // ---- leaves ----

  std::vector<Dim> random_dims(int max_rank) {
    std::vector<Dim> dims;
    int rank = uniform(0, max_rank);
    for (int i = 0; i < rank; ++i) dims.push_back(chance(0.15) ? Dim::unknown() : Dim(uniform(1, 3)));
    return dims;
  }
  NodeRef input_leaf(const std::string& name) {
    static const std::vector<DType> dtypes{DType::F64, DType::F64, DType::F32, DType::F32,
                                           DType::I32, DType::I64, DType::Bool};
    TensorType t(one_of(dtypes), random_dims(3));
    OpCode op = chance(0.1) ? OpCode::Shared : OpCode::Input;
    return ir::make_node(op, {}, Attrs{{"name", name}, {"id", ir::fresh_var_id()}}, kiln::SourceLoc(), &t);
  }
  double special_value(DType t) {
    if (t == DType::Bool) return uniform(0, 1);
    static const std::vector<double> floats{0, 1, -1, 2, 0.5, -0.5, 3, 10};
    static const std::vector<double> ints{0, 1, -1, 2, 3, 7};
    return kiln::is_float(t) ? one_of(floats) : one_of(ints);
  }
  NodeRef scalar(double v, DType t) { return node(OpCode::Constant, {}, Attrs{{"value", Array::scalar(v, t)}}); }
  NodeRef special(DType t) { return scalar(special_value(t), t); }
  NodeRef constant_array(DType t) {
    std::vector<Dim> dims = random_dims(2);
    TensorType type(t, {});
    for (const Dim& d : dims) type.dims.push_back(d.known() ? d : Dim(2));
    Array v = kiln_test::random_value(type, rng_());
    return node(OpCode::Constant, {}, Attrs{{"value", v}});
  }

  // ---- dtype coercions the generator inserts ----

  NodeRef cast(const NodeRef& x, DType t) {
    return x->dtype() == t ? x : node(OpCode::Cast, {x}, Attrs{{"dtype", t}});
  }
  NodeRef as_float(const NodeRef& x) {
    if (kiln::is_float(x->dtype())) return x;
    return cast(x, chance(0.5) ? DType::F64 : DType::F32);
  }
  NodeRef as_numeric(const NodeRef& x) { return x->dtype() == DType::Bool ? cast(x, DType::I32) : x; }
  NodeRef as_integer(const NodeRef& x, bool bool_ok) {
    if (kiln::is_integer(x->dtype()) || (bool_ok && x->dtype() == DType::Bool)) return x;
    return cast(x, chance(0.7) ? DType::I32 : DType::I64);
  }
  NodeRef as_bool(const NodeRef& x) {
    if (x->dtype() == DType::Bool) return x;
    if (kiln::is_float(x->dtype()) && chance(0.2)) return node(chance(0.5) ? OpCode::IsFinite : OpCode::IsNan, {x});
    static const std::vector<OpCode> cmp{OpCode::Gt, OpCode::Lt, OpCode::Ne, OpCode::Eq, OpCode::Ge, OpCode::Le};
    return node(one_of(cmp), {x, scalar(uniform(0, 1), x->dtype())});
  }
  // Both operands in one dtype (NumPy promotion).
  void unify(NodeRef& a, NodeRef& b) {
    DType t = kiln::promote(a->dtype(), b->dtype());
    a = cast(a, t);
    b = cast(b, t);
  }
  // A second operand for x: a special constant, x itself, or another pool
  // node whose dims broadcast with x's (statically and at run time).
  NodeRef partner(const NodeRef& x) {
    if (chance(0.25)) return special(x->dtype());
    if (chance(0.15)) return x;
    for (int i = 0; i < 6; ++i) {
      NodeRef y = pick();
      if (broadcasts(x->type(), y->type())) return y;
    }
    return special(x->dtype());
  }

  // Most of the time, keep x inside op's domain so that values stay finite.
  NodeRef guard_domain(OpCode op, NodeRef x) {
    if (!chance(0.75)) return x;
    DType t = x->dtype();
    auto abs_plus = [&](double c) { return node(OpCode::Add, {node(OpCode::Abs, {x}), scalar(c, t)}); };
    switch (op) {
      case OpCode::Log: case OpCode::Log2: case OpCode::Log10: case OpCode::Sqrt: case OpCode::Rsqrt:
      case OpCode::Lgamma: case OpCode::Digamma: case OpCode::Polygamma: case OpCode::Reciprocal:
        return abs_plus(chance(0.5) ? 1 : 0.5);
      case OpCode::Log1p:
        return node(OpCode::Abs, {x});
      case OpCode::Acosh:
        return abs_plus(1.5);
      case OpCode::Asin: case OpCode::Acos: case OpCode::Atanh: case OpCode::Erfinv:
        return node(OpCode::Mul, {node(OpCode::Tanh, {x}), scalar(0.9, t)});
      case OpCode::Exp: case OpCode::Exp2: case OpCode::Expm1: case OpCode::Sinh: case OpCode::Cosh:
        return node(OpCode::Tanh, {x});
      default:
        // Ops added later with a restricted domain (log1mexp: x < 0) get a
        // negative argument; others a bounded one.
        if (ir::op_name(op).find("log") != std::string_view::npos)
          return node(OpCode::Neg, {abs_plus(0.25)});
        return x;
    }
  }

  // ---- rule seeds, composites, gradients ----

  // A term of a rule's left side ("log(add(1, x))"), in the engine's notation.
  struct Term {
    enum Kind { Op, Var, ConstVar, Number } kind = Var;
    std::string name;  // op or variable
    double value = 0;
    std::vector<Term> args;
  };
  static Term parse_term(const std::string& s, std::size_t& i) {
    while (i < s.size() && s[i] == ' ') ++i;
    Term t;
    if (s[i] == '#') {
      t.kind = Term::ConstVar;
      ++i;
    } else if (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '-' || s[i] == '.') {
      std::size_t used = 0;
      t.kind = Term::Number;
      t.value = std::stod(s.substr(i), &used);
      i += used;
      return t;
    }
    std::size_t b = i;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
    t.name = s.substr(b, i - b);
    if (i < s.size() && s[i] == '(') {
      t.kind = Term::Op;
      ++i;
      while (i < s.size() && s[i] != ')') {
        t.args.push_back(parse_term(s, i));
        while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
      }
      ++i;
    }
    return t;
  }
  // The left sides of every pattern rule of the pipeline.
  static const std::vector<Term>& rule_lhs() {
    static const std::vector<Term> lhs = [] {
      std::vector<Term> out;
      for (const passes::RuleSet& set : {passes::canonicalize_rules(), passes::stabilize_rules(), passes::specialize_rules()})
        for (const passes::Rule& r : set.rules)
          if (r.lhs) {
            std::size_t i = 0;
            out.push_back(parse_term(r.text.substr(0, r.text.find("->")), i));
          }
      return out;
    }();
    return lhs;
  }
  // An op applied to arguments coerced to what its category needs.
  NodeRef apply(OpCode op, std::vector<NodeRef> a) {
    switch (ir::op_info(op).category) {
      case OpCategory::UnaryFloat: a[0] = as_float(a[0]); break;
      case OpCategory::UnaryNumeric: a[0] = as_numeric(a[0]); break;
      case OpCategory::UnaryBool: a[0] = as_bool(a[0]); break;
      case OpCategory::UnaryIntegral: a[0] = as_integer(a[0], true); break;
      case OpCategory::BinaryNumeric: a[0] = as_numeric(a[0]); a[1] = as_numeric(a[1]); unify(a[0], a[1]); break;
      case OpCategory::BinaryFloat: a[0] = as_float(a[0]); a[1] = as_float(a[1]); unify(a[0], a[1]); break;
      case OpCategory::Compare: unify(a[0], a[1]); break;
      case OpCategory::BinaryBool: a[0] = as_bool(a[0]); a[1] = as_bool(a[1]); break;
      case OpCategory::BinaryIntegral: case OpCategory::BinaryShift:
        a[0] = as_integer(a[0], false); a[1] = as_integer(a[1], false); unify(a[0], a[1]); break;
      case OpCategory::Where: a[0] = as_bool(a[0]); unify(a[1], a[2]); break;
      case OpCategory::Clip:
        for (auto& x : a) x = as_numeric(x);
        unify(a[0], a[1]); unify(a[0], a[2]); unify(a[1], a[2]);
        break;
      default: break;
    }
    return node(op, std::move(a));
  }
  NodeRef instantiate(const Term& t, DType theme, std::map<std::string, NodeRef>& vars, std::vector<NodeRef>& ins,
                      DType number_dtype) {
    switch (t.kind) {
      case Term::Number: return scalar(t.value, number_dtype);
      case Term::ConstVar: case Term::Var: {
        auto it = vars.find(t.name + (t.kind == Term::ConstVar ? "#" : ""));
        if (it != vars.end()) return it->second;
        NodeRef v;
        if (t.kind == Term::ConstVar) {
          v = chance(0.7) ? special(theme) : cast(constant_array(DType::F64), theme);
        } else {
          // Variables after the first broadcast with it (at run time too).
          NodeRef p = pick();
          for (int i = 0; i < 6 && !ins.empty() && !broadcasts(p->type(), ins.front()->type()); ++i) p = pick();
          ins.push_back(p);
          v = cast(p, theme);
        }
        vars[t.name + (t.kind == Term::ConstVar ? "#" : "")] = v;
        return v;
      }
      case Term::Op: {
        auto op = ir::op_from_name(t.name);
        if (!op) return nullptr;
        std::vector<NodeRef> args(t.args.size());
        DType dt = theme;
        for (std::size_t i = 0; i < t.args.size(); ++i)
          if (t.args[i].kind != Term::Number) {
            args[i] = instantiate(t.args[i], theme, vars, ins, theme);
            if (!args[i]) return nullptr;
            if (*op != OpCode::Where || i > 0) dt = args[i]->dtype();
          }
        for (std::size_t i = 0; i < t.args.size(); ++i)
          if (!args[i]) args[i] = instantiate(t.args[i], theme, vars, ins, dt);
        return apply(*op, std::move(args));
      }
    }
    return nullptr;
  }
  // The left side of a random pattern rule, on pool operands.
  NodeRef rule_seed(std::vector<NodeRef>& ins) {
    const std::vector<Term>& all = rule_lhs();
    if (all.empty()) return nullptr;
    DType theme = one_of(std::vector<DType>{DType::F64, DType::F64, DType::F32, DType::F32, DType::I32});
    std::map<std::string, NodeRef> vars;
    try {
      return instantiate(one_of(all), theme, vars, ins, theme);
    } catch (const kiln::InternalError&) {
      return nullptr;  // an op that needs attributes the notation does not give
    }
  }

  // A front-end composite on a pool operand.
  NodeRef composite(std::vector<NodeRef>& ins) {
    NodeRef xn = pick();
    ins = {xn};
    kiln::Tensor x(as_float(xn));
    std::int64_t rank = xn->rank();
    std::int64_t axis = rank > 0 ? uniform(0, static_cast<int>(rank) - 1) : 0;
    std::vector<std::int64_t> axes = random_axes(rank, true);
    bool keep = chance(0.5);
    kiln::Tensor y(as_float(partner(xn)));
    switch (uniform(0, 15)) {
      case 0: return rank ? kiln::softmax(x, axis).node() : nullptr;
      case 1: return rank ? kiln::log_softmax(x, axis).node() : nullptr;
      case 2: return kiln::logsumexp(x, kiln::Axes(axes), keep).node();
      case 3: return kiln::var(x, kiln::Axes(axes), keep, uniform(0, 1)).node();
      case 4: return kiln::stddev(x, kiln::Axes(axes), keep).node();
      case 5: return kiln::relu(x).node();
      case 6: return (1 / (1 + kiln::exp(-x))).node();
      case 7: return kiln::log(1 - kiln::sigmoid(x)).node();
      case 8: {  // binary cross-entropy of sigmoid(x) against y in [0, 1]
        kiln::Tensor p = kiln::sigmoid(x), t = kiln::sigmoid(y);
        return kiln::mean(-(t * kiln::log(p) + (1 - t) * kiln::log(1 - p))).node();
      }
      case 9: return kiln::mean(kiln::square(x - y)).node();
      case 10: return rank ? kiln::log(kiln::softmax(x, axis)).node() : nullptr;
      case 11: return kiln::log(kiln::erfc(x)).node();
      case 12: return (x - kiln::zeros_like(y)).node();  // fill_like when y's dims are not all static
      case 13: {  // reshape of a reshape, squeeze of an expand_dims
        std::int64_t n = run_time_size(xn->type());
        kiln::Tensor r = kiln::reshape(kiln::reshape(x, {n}), {1, n});
        return kiln::squeeze(kiln::expand_dims(r, chance(0.5) ? 0 : 2), chance(0.5) ? 0 : 1).node();
      }
      case 14: {  // a slice of a product
        if (rank != 2) return nullptr;
        kiln::Tensor m = kiln::matmul(x, kiln::transpose(x));
        return kiln::slice(m, {kiln::Slice{0, 1}, kiln::Slice{{}, {}, -1}}).node();
      }
      default: return kiln::sum(kiln::exp(x) / kiln::sum(kiln::exp(x), kiln::Axes(axes), true)).node();
    }
  }

  // d sum(f) / d v for a pool node f and one of its float variables (or
  // an intermediate node).
  NodeRef gradient(std::vector<NodeRef>& ins) {
    NodeRef f = pick();
    ins = {f};
    if (!kiln::is_float(f->dtype())) return nullptr;
    std::vector<NodeRef> wrt;
    for (const Node* n : ir::topo_order({f}))
      if (kiln::is_float(n->dtype()) && n != f.get() && (n->op() == OpCode::Input || chance(0.2)))
        for (const NodeRef& p : pool_)
          if (p.get() == n) wrt.push_back(p);
    for (const NodeRef& v : ir::free_variables({f}))
      if (kiln::is_float(v->dtype())) wrt.push_back(v);
    if (wrt.empty()) return nullptr;
    kiln::Tensor cost = chance(0.5) ? kiln::sum(kiln::Tensor(f)) : kiln::sum(kiln::square(kiln::Tensor(f)));
    kiln::GradOptions go;
    go.disconnected_inputs = kiln::DisconnectedInputs::Ignore;
    return kiln::grad(cost, kiln::Tensor(one_of(wrt)), go).node();
  }

  // ---- one op of the table ----

  std::vector<std::int64_t> random_axes(std::int64_t rank, bool nonempty = false) {
    std::vector<std::int64_t> axes;
    for (std::int64_t i = 0; i < rank; ++i)
      if (chance(0.5)) axes.push_back(i);
    if (nonempty && axes.empty() && rank > 0) axes.push_back(uniform(0, static_cast<int>(rank) - 1));
    return axes;
  }
  // One random slice per axis, never empty at run time.
  std::vector<std::int64_t> random_slices(const TensorType& t) {
    std::vector<std::int64_t> sl;
    for (std::int64_t n : run_time_shape(t)) {
      std::int64_t start = ir::kNone, stop = ir::kNone, step = 1;
      int kind = uniform(0, 3);
      if (kind == 1) step = -1;
      if (kind >= 2) {
        do {
          start = chance(0.2) ? ir::kNone : uniform(-static_cast<int>(n) - 1, static_cast<int>(n));
          stop = chance(0.2) ? ir::kNone : uniform(-static_cast<int>(n) - 1, static_cast<int>(n) + 1);
          step = one_of(std::vector<std::int64_t>{1, 1, 2, -1, -2});
        } while (ir::slice_length(n, start, stop, step) < 1);
      }
      sl.insert(sl.end(), {start, stop, step});
    }
    return sl;
  }
  // A value for set/inc ops: a scalar, or a pool node that broadcasts to `dims`.
  NodeRef value_for(const TensorType& target) {
    for (int i = 0; i < 4 && chance(0.6); ++i) {
      NodeRef y = pick();
      std::vector<Dim> out;
      if (y->rank() <= target.rank() && broadcasts(y->type(), target, &out) && out == target.dims)
        return cast(y, target.dtype);
    }
    return special(target.dtype);
  }
  // Integer indices into an axis of run-time size n: a constant, or a pool
  // value wrapped into range with mod.
  NodeRef indices(std::int64_t n) {
    if (chance(0.5)) {
      NodeRef x = as_integer(pick(), false);
      return node(OpCode::Mod, {x, scalar(static_cast<double>(n), x->dtype())});
    }
    Shape shape;
    int rank = uniform(0, 2);
    for (int i = 0; i < rank; ++i) shape.push_back(uniform(1, 3));
    Array idx = Array::randint(shape, -n, n, DType::I64, rng_()).astype(chance(0.5) ? DType::I32 : DType::I64);
    return node(OpCode::Constant, {}, Attrs{{"value", idx}});
  }
  NodeRef make_op(const ir::OpInfo& info, std::vector<NodeRef>& ins) {
    OpCode op = info.code;
    static const std::vector<DType> cast_targets{DType::F64, DType::F32, DType::I32, DType::I64,
                                                 DType::Bool, DType::U8, DType::I8, DType::F16};
    switch (info.category) {
      case OpCategory::Leaf:
        switch (op) {
          case OpCode::Shared: return input_leaf("s");
          case OpCode::Constant: return constant_array(one_of(std::vector<DType>{DType::F64, DType::F32, DType::I32}));
          case OpCode::Fill: {
            std::vector<std::int64_t> shape;
            for (const Dim& d : random_dims(2)) shape.push_back(d.known() ? d.size : 2);
            DType t = one_of(std::vector<DType>{DType::F64, DType::F32, DType::I32, DType::Bool});
            return node(op, {}, Attrs{{"shape", shape}, {"value", special_value(t)}, {"dtype", t}});
          }
          case OpCode::Arange:
            return node(op, {}, Attrs{{"start", static_cast<double>(uniform(-2, 0))}, {"stop", 3.0},
                                      {"step", chance(0.5) ? 1.0 : 0.5}, {"dtype", chance(0.5) ? DType::F64 : DType::I32}});
          case OpCode::Eye:
            return node(op, {}, Attrs{{"n", std::int64_t{uniform(1, 3)}}, {"m", std::int64_t{uniform(1, 3)}},
                                      {"k", std::int64_t{uniform(-1, 1)}}, {"dtype", DType::F64}});
          default: return nullptr;
        }
      case OpCategory::UnaryNumeric: {
        NodeRef x = as_numeric(pick());
        ins = {x};
        return node(op, {x});
      }
      case OpCategory::UnaryFloat: {
        NodeRef x = pick();
        ins = {x};
        x = guard_domain(op, as_float(x));
        Attrs a;
        if (op == OpCode::Polygamma) a.set("n", std::int64_t{uniform(0, 2)});
        return node(op, {x}, a);
      }
      case OpCategory::UnaryBool: {
        NodeRef x = pick();
        ins = {x};
        return node(op, {as_bool(x)});
      }
      case OpCategory::UnaryIntegral: {
        NodeRef x = pick();
        ins = {x};
        return node(op, {as_integer(x, true)});
      }
      case OpCategory::UnaryPredicate: case OpCategory::UnaryAny: {
        NodeRef x = pick();
        ins = {x};
        return node(op, {x});
      }
      case OpCategory::Cast: {
        NodeRef x = pick();
        ins = {x};
        return node(op, {x}, Attrs{{"dtype", one_of(cast_targets)}});
      }
      case OpCategory::BinaryNumeric: case OpCategory::BinaryFloat: case OpCategory::Compare:
      case OpCategory::BinaryBool: case OpCategory::BinaryIntegral: case OpCategory::BinaryShift: {
        NodeRef a = pick();
        NodeRef b = partner(a);
        ins = {a, b};
        switch (info.category) {
          case OpCategory::BinaryNumeric: a = as_numeric(a); b = as_numeric(b); break;
          case OpCategory::BinaryFloat: a = as_float(a); b = as_float(b); break;
          case OpCategory::BinaryBool: a = as_bool(a); b = as_bool(b); break;
          case OpCategory::BinaryIntegral: a = as_integer(a, true); b = as_integer(b, true); break;
          case OpCategory::BinaryShift:
            a = as_integer(a, false);
            b = chance(0.7) ? scalar(uniform(0, 9), a->dtype()) : as_integer(b, false);
            break;
          default: break;
        }
        unify(a, b);
        if (op == OpCode::Div || op == OpCode::FloorDiv || op == OpCode::Mod) {
          if (kiln::is_float(b->dtype()) && chance(0.75)) b = node(OpCode::Add, {node(OpCode::Abs, {b}), scalar(0.5, b->dtype())});
        } else if (op == OpCode::Pow && kiln::is_float(a->dtype()) && chance(0.75)) {
          a = node(OpCode::Add, {node(OpCode::Abs, {a}), scalar(0.5, a->dtype())});
          b = node(OpCode::Tanh, {b});
        } else if (op == OpCode::Atan2 && chance(0.3)) {
          b = a;
        }
        return node(op, {a, b});
      }
      case OpCategory::Where: {
        NodeRef a = pick();
        NodeRef b = partner(a), c = partner(a);
        ins = {c, a, b};
        unify(a, b);
        return node(op, {as_bool(c), a, b});
      }
      case OpCategory::Clip: {
        NodeRef x = as_numeric(pick());
        ins = {x};
        NodeRef lo = chance(0.7) ? scalar(-1, x->dtype()) : cast(partner(x), x->dtype());
        NodeRef hi = chance(0.7) ? scalar(chance(0.5) ? 1 : 2, x->dtype()) : cast(partner(x), x->dtype());
        return node(op, {x, as_numeric(lo), as_numeric(hi)});
      }
      case OpCategory::Reduce: {
        NodeRef x = pick();
        ins = {x};
        if (op == OpCode::Sum || op == OpCode::Prod) x = as_numeric(x);
        if (op == OpCode::Mean) x = as_float(x);
        if (op == OpCode::All || op == OpCode::Any) x = as_bool(x);
        return node(op, {x}, Attrs{{"axes", random_axes(x->rank())}, {"keepdims", chance(0.3)}});
      }
      case OpCategory::Matmul: {
        NodeRef a = as_numeric(pick());
        ins = {a};
        if (a->rank() < 2) a = node(OpCode::ExpandDims, {a}, Attrs{{"axes", a->rank() == 0 ? Shape{0, 1} : Shape{0}}});
        NodeRef b;
        for (int i = 0; i < 6 && !b; ++i) {
          NodeRef c = pick();
          if (c->rank() < 2) continue;
          std::vector<std::int64_t> sa = run_time_shape(a->type()), sc = run_time_shape(c->type()), batch;
          if (sa.back() != sc[sc.size() - 2] ||
              !ir::broadcast_shapes({sa.begin(), sa.end() - 2}, {sc.begin(), sc.end() - 2}, &batch))
            continue;
          try {
            NodeRef x = a, y = as_numeric(c);
            unify(x, y);
            NodeRef m = node(op, {x, y});
            ins.push_back(c);
            return m;
          } catch (const kiln::Error&) {
          }
        }
        Shape perm;
        for (std::int64_t i = 0; i < a->rank(); ++i) perm.push_back(i);
        std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
        return node(op, {a, node(OpCode::Transpose, {a}, Attrs{{"perm", perm}})});
      }
      case OpCategory::Shape:
        return make_shape_op(op, ins);
    }
    return nullptr;
  }

  NodeRef make_shape_op(OpCode op, std::vector<NodeRef>& ins) {
    NodeRef x = pick();
    ins = {x};
    const TensorType& t = x->type();
    std::int64_t rank = x->rank();
    switch (op) {
      case OpCode::Reshape: case OpCode::ReshapeLike: {
        // A random factorisation of the run-time size.
        std::int64_t n = run_time_size(t);
        Shape shape;
        std::int64_t left = n;
        int parts = uniform(0, 3);
        for (int i = 0; i < parts && left > 1; ++i) {
          std::vector<std::int64_t> divisors;
          for (std::int64_t d = 1; d <= left; ++d)
            if (left % d == 0) divisors.push_back(d);
          std::int64_t d = one_of(divisors);
          shape.push_back(d);
          left /= d;
        }
        if (left > 1 || shape.empty()) shape.push_back(left);
        std::shuffle(shape.begin(), shape.end(), rng_);
        if (op == OpCode::Reshape) {
          if (!t.all_known() || chance(0.3)) shape[static_cast<std::size_t>(uniform(0, static_cast<int>(shape.size()) - 1))] = -1;
          return node(op, {x}, Attrs{{"shape", shape}});
        }
        // reshape_like: a reference of that shape, from the pool or a fill.
        for (const NodeRef& c : pool_)
          if (c != x && run_time_size(c->type()) == n && chance(0.5)) return node(op, {x, c});
        return node(op, {x, node(OpCode::Fill, {}, Attrs{{"shape", shape}, {"value", 0.0}, {"dtype", DType::F32}})});
      }
      case OpCode::Transpose: {
        Shape perm;
        for (std::int64_t i = 0; i < rank; ++i) perm.push_back(i);
        std::shuffle(perm.begin(), perm.end(), rng_);
        return node(op, {x}, Attrs{{"perm", perm}});
      }
      case OpCode::ExpandDims: {
        int k = chance(0.1) ? 0 : uniform(1, 2);  // no axes at all is allowed (and useless)
        Shape axes;
        for (std::int64_t i = 0; i < rank + k; ++i)
          if (static_cast<int>(axes.size()) < k && chance(0.5)) axes.push_back(i);
        if (axes.empty() && k > 0) axes.push_back(rank);
        return node(op, {x}, Attrs{{"axes", axes}});
      }
      case OpCode::Squeeze: {
        Shape axes;
        for (std::int64_t i = 0; i < rank; ++i)
          if (t.dims[i].known() && t.dims[i].size == 1 && chance(0.7)) axes.push_back(i);
        return node(op, {x}, Attrs{{"axes", axes}});
      }
      case OpCode::BroadcastTo: case OpCode::BroadcastLike: {
        Shape shape;
        if (chance(0.4)) shape.push_back(uniform(1, 3));
        for (const Dim& d : t.dims) shape.push_back(!d.known() ? kRunTimeSize : d.size == 1 ? uniform(1, 3) : d.size);
        if (op == OpCode::BroadcastTo) return node(op, {x}, Attrs{{"shape", shape}});
        for (int i = 0; i < 4; ++i) {
          NodeRef ref = pick();
          std::vector<Dim> out;
          if (ref->rank() >= rank && broadcasts(t, ref->type(), &out)) return node(op, {x, ref});
        }
        return node(op, {x, node(OpCode::Fill, {}, Attrs{{"shape", shape}, {"value", 1.0}, {"dtype", DType::Bool}})});
      }
      case OpCode::FillLike: {
        DType d = one_of(std::vector<DType>{DType::F64, DType::F32, DType::I32, DType::Bool, x->dtype()});
        return node(op, {x}, Attrs{{"value", special_value(d)}, {"dtype", d}});
      }
      case OpCode::Concatenate: case OpCode::Unconcat: {
        if (rank == 0) return nullptr;
        std::int64_t axis = uniform(0, static_cast<int>(rank) - 1);
        std::vector<NodeRef> parts{x};
        int n = uniform(1, 2);
        for (int i = 0; i < 6 && static_cast<int>(parts.size()) <= n; ++i) {
          NodeRef c = chance(0.3) ? x : pick();
          if (c->rank() != rank) continue;
          bool fits = true;
          for (std::int64_t k = 0; k < rank; ++k)
            if (k != axis && run_time_shape(c->type())[k] != run_time_shape(t)[k]) fits = false;
          if (fits) parts.push_back(cast(c, x->dtype()));
        }
        NodeRef whole = node(OpCode::Concatenate, parts, Attrs{{"axis", axis}});
        if (op == OpCode::Concatenate) return whole;
        // unconcat(g, parts...): g has the concatenation's type.
        NodeRef g = whole;
        if (chance(0.7)) {
          NodeRef y = value_for(whole->type());
          if (whole->dtype() != DType::Bool) g = node(OpCode::Mul, {whole, y});
        }
        std::vector<NodeRef> args{g};
        args.insert(args.end(), parts.begin(), parts.end());
        std::int64_t index = uniform(0, static_cast<int>(parts.size()) - 1);
        return node(op, args, Attrs{{"axis", axis}, {"index", index}});
      }
      case OpCode::Flip:
        return node(op, {x}, Attrs{{"axes", random_axes(rank, true)}});
      case OpCode::Slice:
        return node(op, {x}, Attrs{{"slices", random_slices(t)}});
      case OpCode::SetSlice: case OpCode::IncSlice: {
        Shape sl = random_slices(t);
        NodeRef part = node(OpCode::Slice, {x}, Attrs{{"slices", sl}});
        NodeRef y = value_for(part->type());
        return node(op, {x, cast(y, x->dtype())}, Attrs{{"slices", sl}});
      }
      case OpCode::Take: case OpCode::SetTake: case OpCode::IncTake: {
        if (rank == 0) return nullptr;
        std::int64_t axis = uniform(0, static_cast<int>(rank) - 1);
        NodeRef idx = indices(run_time_shape(t)[static_cast<std::size_t>(axis)]);
        NodeRef taken = node(OpCode::Take, {x, idx}, Attrs{{"axis", axis}});
        if (op == OpCode::Take) return taken;
        NodeRef y = value_for(taken->type());
        return node(op, {x, cast(y, x->dtype()), idx}, Attrs{{"axis", axis}});
      }
      default:
        return nullptr;
    }
  }

  std::mt19937_64 rng_;
  std::vector<NodeRef> pool_;
  std::unordered_map<const Node*, int> depth_;
  std::set<OpCode>* used_ = nullptr;
};

}  // namespace kiln_test::random_graph
