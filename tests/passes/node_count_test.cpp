// Node counts before and after the pipeline for the two gradient graphs of
// docs/rewrites.md: the two-layer network of examples/two_layer_net.cpp and
// logistic regression with cross-entropy. Prints the tables the docs show
// (in Markdown) and checks that the pipeline never makes them bigger.
//
//   ./tests/test_passes --gtest_filter='NodeCounts*'
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <kiln/kiln.hpp>

#include "ir/graph.hpp"
#include "passes/pipeline.hpp"

namespace {

using namespace kiln;
namespace passes = kiln::passes;
using kiln::ir::NodeRef;

std::map<std::string, int> op_counts(const std::vector<NodeRef>& outputs) {
  std::map<std::string, int> c;
  for (const kiln::ir::Node* n : kiln::ir::topo_order(outputs)) c[std::string(n->name())]++;
  return c;
}

struct Measured {
  std::size_t before, after, after_strict;
};

// Optimises `outputs` (default and strict_ieee), prints the Markdown table
// of op counts and the rules that fired, and returns the totals.
Measured measure(const std::string& title, const std::vector<Tensor>& outputs) {
  std::vector<NodeRef> g;
  for (const Tensor& t : outputs) g.push_back(t.node());
  passes::RuleCounts fired;
  passes::PipelineOptions po;
  po.counts = &fired;
  std::vector<NodeRef> opt = passes::optimize(g, po);
  passes::PipelineOptions strict;
  strict.rules.strict_ieee = true;
  std::vector<NodeRef> opt_strict = passes::optimize(g, strict);

  std::map<std::string, int> b = op_counts(g), a = op_counts(opt), s = op_counts(opt_strict);
  std::map<std::string, int> all = b;
  for (auto& [op, n] : a) all[op] += 0;
  for (auto& [op, n] : s) all[op] += 0;
  std::ostringstream os;
  os << "#### " << title << "\n\n"
     << "| op | before | after | after (strict_ieee) |\n|---|---:|---:|---:|\n"
     << "| **all nodes** | **" << kiln::ir::node_count(g) << "** | **" << kiln::ir::node_count(opt) << "** | **"
     << kiln::ir::node_count(opt_strict) << "** |\n";
  for (auto& [op, n] : all) os << "| " << op << " | " << b[op] << " | " << a[op] << " | " << s[op] << " |\n";
  os << "\nRules that fired (default options): ";
  bool first = true;
  for (auto& [rule, n] : fired) {
    os << (first ? "" : ", ") << "`" << rule << "` " << n;
    first = false;
  }
  os << ".\n\n";
  std::cout << os.str();
  return {kiln::ir::node_count(g), kiln::ir::node_count(opt), kiln::ir::node_count(opt_strict)};
}

TEST(NodeCounts, TwoLayerNetworkGradients) {
  // examples/two_layer_net.cpp: loss and its gradients wrt w1 and w2.
  const std::int64_t D_in = 1000, H = 100, D_out = 10;
  Tensor x = matrix("x", f32), y = matrix("y", f32);
  Tensor w1 = shared(Array::randn({D_in, H}, f32, 3), "w1");
  Tensor w2 = shared(Array::randn({H, D_out}, f32, 4), "w2");
  Tensor loss = sum(square(relu(x.matmul(w1)).matmul(w2) - y));
  std::vector<Tensor> g = grad(loss, {w1, w2});
  Measured m = measure("Two-layer network: loss, d loss / d w1, d loss / d w2 (f32)", {loss, g[0], g[1]});
  EXPECT_LE(m.after, m.before);
  EXPECT_LE(m.after_strict, m.before);
}

TEST(NodeCounts, LogisticRegressionGradients) {
  // p = sigmoid(x @ w + b), cross-entropy loss, gradients wrt w and b.
  const std::int64_t D = 100;
  Tensor x = matrix("x", f64), y = vector("y", f64);
  Tensor w = shared(Array::randn({D}, f64, 1), "w");
  Tensor b = shared(Array::scalar(0.0, f64), "b");
  Tensor p = sigmoid(x.matmul(w) + b);
  Tensor loss = mean(-(y * log(p) + (1 - y) * log(1 - p)));
  std::vector<Tensor> g = grad(loss, {w, b});
  Measured m = measure("Logistic regression with cross-entropy: loss, d loss / d w, d loss / d b (f64)",
                       {loss, g[0], g[1]});
  EXPECT_LE(m.after, m.before);
  EXPECT_LE(m.after_strict, m.before);
}

}  // namespace
