// Helpers for rewrite-rule tests: golden tests (input text → expected text)
// and differential tests (interpreter before vs after on random inputs).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "ir/graph.hpp"
#include "ir/interpreter.hpp"
#include "ir/parser.hpp"
#include "ir/printer.hpp"
#include "passes/pipeline.hpp"
#include "passes/rewrite.hpp"

namespace kiln_test {

using kiln::Array;
using kiln::ir::Graph;
using kiln::ir::NodeRef;

// Parses `text`, a graph in the text format ("kiln.graph v1" is prepended
// when missing), with fresh variable ids.
inline Graph parse(const std::string& text) {
  std::string t = text.rfind("kiln.graph", 0) == 0 ? text : "kiln.graph v1\n" + text;
  return kiln::ir::parse_graph(t, "<test>");
}

// The graph's outputs rewritten by `rules` (to a fixed point).
inline Graph apply(const Graph& g, const kiln::passes::RuleSet& rules, kiln::passes::RuleCounts* counts = nullptr) {
  Graph out = g;
  out.outputs = kiln::passes::rewrite(g.outputs, rules, counts);
  out.inputs.clear();
  for (const NodeRef& v : g.inputs) out.inputs.push_back(v);
  return out;
}

// Prints a graph with only its outputs' reachable nodes (inputs in the
// original order, unreachable ones dropped), without ids, for comparisons.
inline std::string normal_text(const Graph& g) {
  Graph h = g;
  std::vector<NodeRef> reachable = kiln::ir::free_variables(g.outputs);
  h.inputs.clear();
  for (const NodeRef& v : g.inputs)
    for (const NodeRef& r : reachable)
      if (r == v) h.inputs.push_back(v);
  std::string s = kiln::ir::print_graph(h);
  // Drop " id=N" so texts built from different parses compare equal.
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s.compare(i, 4, " id=") == 0) {
      i += 4;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    } else {
      out += s[i++];
    }
  }
  return out;
}

// Golden test: `input` rewritten by `rules` prints like `expected` (both in
// the text format; the expected text is normalised through the parser, so
// ref names and spacing in it are free). Input variables are matched by
// name: write them in the same order in both texts.
inline void expect_rewrites_to(const kiln::passes::RuleSet& rules, const std::string& input, const std::string& expected,
                               kiln::passes::RuleCounts* counts = nullptr) {
  Graph got = apply(parse(input), rules, counts);
  Graph want = parse(expected);
  EXPECT_EQ(normal_text(got), normal_text(want)) << "input:\n" << input;
}

// Random values for a type: unknown dims get size `unknown_size`; floats
// uniform in [lo, hi), ints in [-5, 5] (u8: [0, 9]), bools random.
inline Array random_value(const kiln::ir::TensorType& t, std::uint64_t seed, double lo = -2, double hi = 2,
                          std::int64_t unknown_size = 3) {
  kiln::Shape shape;
  for (const auto& d : t.dims) shape.push_back(d.known() ? d.size : unknown_size);
  if (kiln::is_float(t.dtype)) return Array::uniform(shape, kiln::DType::F64, seed, lo, hi).astype(t.dtype);
  if (t.dtype == kiln::DType::Bool) return Array::randint(shape, 0, 2, kiln::DType::I64, seed).astype(t.dtype);
  if (t.dtype == kiln::DType::U8) return Array::randint(shape, 0, 10, kiln::DType::I64, seed).astype(t.dtype);
  return Array::randint(shape, -5, 6, kiln::DType::I64, seed).astype(t.dtype);
}

// Relative tolerance for comparing a rewritten graph with the original.
inline double tolerance_for(kiln::DType t) {
  switch (t) {
    case kiln::DType::F64: return 1e-12;
    case kiln::DType::F32: return 1e-5;
    case kiln::DType::F16: return 2e-3;
    case kiln::DType::BF16: return 1.6e-2;
    default: return 0;
  }
}

// Values of a and b agree: exact for ints/bool; within rel tolerance (and a
// small absolute floor) for floats; NaN matches NaN, inf matches inf.
inline ::testing::AssertionResult close(const Array& a, const Array& b, double rel) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return ::testing::AssertionFailure() << "dtype/shape differ: " << a.to_string() << " vs " << b.to_string();
  std::vector<double> x = a.to_doubles(), y = b.to_doubles();
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) && std::isnan(y[i])) continue;
    if (std::isinf(x[i]) || std::isinf(y[i])) {
      if (x[i] == y[i]) continue;
      return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " vs " << y[i];
    }
    double tol = rel * std::max({1.0, std::fabs(x[i]), std::fabs(y[i])});
    if (!(std::fabs(x[i] - y[i]) <= tol))
      return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " vs " << y[i];
  }
  return ::testing::AssertionSuccess();
}

// Differential test: the graph and its rewrite agree on `trials` random
// inputs (floats in [lo, hi)).
inline void expect_same_values(const Graph& before, const Graph& after, int trials = 3, double lo = -2,
                               double hi = 2) {
  std::vector<NodeRef> vars = kiln::ir::free_variables(before.outputs);
  for (int t = 0; t < trials; ++t) {
    kiln::ir::Bindings b;
    std::uint64_t seed = 1000 + t;
    for (const NodeRef& v : vars) b[v.get()] = random_value(v->type(), seed++, lo, hi);
    std::vector<Array> want = kiln::ir::interpret(before.outputs, b);
    std::vector<Array> got = kiln::ir::interpret(after.outputs, b);
    ASSERT_EQ(want.size(), got.size());
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_TRUE(close(want[i], got[i], tolerance_for(want[i].dtype()))) << "output " << i << ", trial " << t;
  }
}

// Both tests at once for a rule set.
inline void check_rule(const kiln::passes::RuleSet& rules, const std::string& input, const std::string& expected,
                       double lo = -2, double hi = 2) {
  Graph g = parse(input);
  Graph r = apply(g, rules);
  EXPECT_EQ(normal_text(r), normal_text(parse(expected))) << "input:\n" << input;
  expect_same_values(g, r, 3, lo, hi);
}

// One golden case of a rule set: `input` rewrites to `expected`, the rules
// in `fires` fire (none: nothing fires), values agree on random inputs in
// [lo, hi).
struct GoldenCase {
  std::string name;                // the test's name
  std::vector<std::string> fires;  // rules that must fire
  std::string input, expected;
  double lo = -2, hi = 2;  // range of the random inputs for the differential test
};

inline void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

// check_rule for a golden case, plus: the listed rules fired, and a second
// rewrite changes nothing (the same nodes). Returns the rewritten graph.
inline Graph check_golden_case(const kiln::passes::RuleSet& rules, const GoldenCase& c) {
  check_rule(rules, c.input, c.expected, c.lo, c.hi);
  kiln::passes::RuleCounts counts;
  Graph once = apply(parse(c.input), rules, &counts);
  for (const std::string& rule : c.fires) EXPECT_GE(counts[rule], 1) << rule << " did not fire";
  if (c.fires.empty()) {
    EXPECT_TRUE(counts.empty()) << counts.begin()->first;
  }
  kiln::passes::RuleCounts again;
  Graph twice = apply(once, rules, &again);
  EXPECT_EQ(twice.outputs, once.outputs);
  EXPECT_TRUE(again.empty()) << again.begin()->first;
  return once;
}

}  // namespace kiln_test
