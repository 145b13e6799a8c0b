// The optimisation pipeline as a whole: IR dumps (KILN_DUMP_IR and
// PipelineOptions::dump_after), function() optimising by default, the
// same results with and without optimisation for the seed programs, and
// docs/rewrites.md listing every rule.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <kiln/kiln.hpp>

#include "ir/graph.hpp"
#include "ir/printer.hpp"
#include "passes/pipeline.hpp"
#include "passes/rewrite_test_util.hpp"

namespace {

using namespace kiln;
namespace passes = kiln::passes;
using kiln::ir::NodeRef;

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// log(1 + x) and x - x: one rule for stabilize, one for canonicalize.
std::vector<NodeRef> small_graph() {
  Tensor x = vector("x");
  return {log(1 + x).node(), (x - x).node()};
}

// ---- dumping the IR ----

TEST(PipelineDump, EnvironmentVariableNamesAStage) {
  ScopedEnv env("KILN_DUMP_IR", "after:canonicalize");
  std::ostringstream os;
  passes::PipelineOptions po;
  po.dump_stream = &os;
  passes::optimize(small_graph(), po);
  EXPECT_EQ(count(os.str(), "# kiln IR after "), 1) << os.str();
  EXPECT_EQ(count(os.str(), "# kiln IR after canonicalize"), 1) << os.str();
  EXPECT_EQ(count(os.str(), "kiln.graph v1"), 1);
  // After canonicalize, before stabilize: log(1 + x) is still there.
  EXPECT_NE(os.str().find("log("), std::string::npos) << os.str();
}

TEST(PipelineDump, EnvironmentVariableGoesToStandardErrorByDefault) {
  ScopedEnv env("KILN_DUMP_IR", "stabilize");  // "after:" may be left out
  ::testing::internal::CaptureStderr();
  passes::optimize(small_graph());
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, "# kiln IR after "), 1) << err;
  EXPECT_NE(err.find("# kiln IR after stabilize"), std::string::npos) << err;
  EXPECT_NE(err.find("log1p("), std::string::npos) << err;
}

TEST(PipelineDump, AllPrintsEveryStageInOrder) {
  ScopedEnv env("KILN_DUMP_IR", "after:all");
  std::ostringstream os;
  passes::PipelineOptions po;
  po.dump_stream = &os;
  passes::optimize(small_graph(), po);
  std::size_t at = 0;
  for (const std::string& stage : passes::pipeline_stages()) {
    std::size_t p = os.str().find("# kiln IR after " + stage + " ", at);
    ASSERT_NE(p, std::string::npos) << stage << " missing or out of order in:\n" << os.str();
    at = p;
  }
  EXPECT_EQ(count(os.str(), "# kiln IR after "), static_cast<int>(passes::pipeline_stages().size()));
}

TEST(PipelineDump, OptionsAndListsOfStages) {
  ScopedEnv env("KILN_DUMP_IR", "");
  std::ostringstream os;
  passes::PipelineOptions po;
  po.dump_stream = &os;
  po.dump_after = {"stabilize", "specialize"};
  passes::optimize(small_graph(), po);
  EXPECT_EQ(count(os.str(), "# kiln IR after "), 2) << os.str();
  EXPECT_EQ(count(os.str(), "# kiln IR after stabilize"), 1);
  EXPECT_EQ(count(os.str(), "# kiln IR after specialize"), 1);

  ScopedEnv list("KILN_DUMP_IR", "after:canonicalize,specialize");
  std::ostringstream os2;
  passes::PipelineOptions po2;
  po2.dump_stream = &os2;
  passes::optimize(small_graph(), po2);
  EXPECT_EQ(count(os2.str(), "# kiln IR after "), 2) << os2.str();
  EXPECT_EQ(count(os2.str(), "# kiln IR after canonicalize"), 1);
  EXPECT_EQ(count(os2.str(), "# kiln IR after specialize"), 1);
}

TEST(PipelineDump, DumpedTextParses) {
  std::ostringstream os;
  passes::PipelineOptions po;
  po.dump_stream = &os;
  po.dump_after = {"specialize"};
  std::vector<NodeRef> out = passes::optimize(small_graph(), po);
  std::string text = os.str();
  text = text.substr(text.find("kiln.graph v1"));
  kiln::ir::Graph g = kiln_test::parse(text);
  EXPECT_EQ(g.outputs.size(), out.size());
}

TEST(PipelineDump, AMisspeltStageIsReported) {
  std::ostringstream os;
  passes::PipelineOptions po;
  po.dump_stream = &os;
  po.dump_after = {"canonicalise"};
  passes::optimize(small_graph(), po);
  EXPECT_NE(os.str().find("no pipeline stage 'canonicalise'"), std::string::npos) << os.str();
  EXPECT_EQ(count(os.str(), "# kiln IR after "), 0);
}

TEST(PipelineDump, NothingWithoutARequest) {
  ScopedEnv env("KILN_DUMP_IR", "");
  std::ostringstream os;
  passes::PipelineOptions po;
  po.dump_stream = &os;
  passes::optimize(small_graph(), po);
  EXPECT_EQ(os.str(), "");
}

// ---- the pipeline itself ----

TEST(Pipeline, KeepsTypesAndIsIdempotent) {
  std::vector<NodeRef> g = small_graph();
  for (bool strict : {false, true}) {
    passes::PipelineOptions po;
    po.rules.strict_ieee = strict;
    std::vector<NodeRef> once = passes::optimize(g, po);
    std::vector<NodeRef> twice = passes::optimize(once, po);
    ASSERT_EQ(once.size(), g.size());
    for (std::size_t i = 0; i < g.size(); ++i) {
      EXPECT_EQ(once[i]->type(), g[i]->type());
      EXPECT_EQ(once[i], twice[i]) << "strict_ieee=" << strict;
    }
  }
}

TEST(Pipeline, RunsAgainUntilNothingChanges) {
  // specialize writes square(-x) as mul(neg(x), neg(x)); the next round's
  // canonicalize drops the negations.
  Tensor x = vector("x");
  std::vector<NodeRef> once = passes::optimize({square(-x).node()});
  std::string text = kiln::ir::print_nodes(once);
  EXPECT_NE(text.find("mul(%0, %0)"), std::string::npos) << text;
  EXPECT_EQ(text.find("neg("), std::string::npos) << text;
  EXPECT_EQ(passes::optimize(once), once);
}

TEST(Pipeline, CountsTheRulesThatFired) {
  passes::RuleCounts counts;
  passes::PipelineOptions po;
  po.counts = &counts;
  passes::optimize(small_graph(), po);
  EXPECT_GE(counts["log1p"], 1);
  EXPECT_GE(counts["sub_self"], 1);
}

// ---- function() ----

TEST(PipelineFunction, OptimisesByDefault) {
  Tensor x = vector("x");
  Function f = function({x}, {log(1 + x)});
  EXPECT_NE(f.graph_text().find("log1p("), std::string::npos) << f.graph_text();
  EXPECT_EQ(f.graph_text().find("log("), std::string::npos) << f.graph_text();

  Function plain = function({x}, {log(1 + x)}, {.optimize = false});
  EXPECT_NE(plain.graph_text().find("log("), std::string::npos) << plain.graph_text();
  EXPECT_NE(plain.graph_text().find("add("), std::string::npos) << plain.graph_text();
  EXPECT_EQ(plain.graph_text().find("log1p("), std::string::npos) << plain.graph_text();

  // log1p is accurate where log(1 + x) loses everything.
  Array tiny = Array::from({1e-20, 0.5});
  EXPECT_EQ(f(tiny)[0].to_doubles()[0], 1e-20);
  EXPECT_EQ(plain(tiny)[0].to_doubles()[0], 0.0);
}

TEST(PipelineFunction, StrictIeeeKeepsIdentitiesThatFailForInfAndNan) {
  Tensor x = vector("x");
  Function fast = function({x}, {x - x});
  Function strict = function({x}, {x - x}, {.strict_ieee = true});
  EXPECT_EQ(fast.graph_text().find("sub("), std::string::npos) << fast.graph_text();
  EXPECT_NE(strict.graph_text().find("sub("), std::string::npos) << strict.graph_text();
  Array v = Array::from({1.0, std::numeric_limits<double>::infinity(), std::nan("")});
  std::vector<double> a = fast(v)[0].to_doubles(), b = strict(v)[0].to_doubles();
  EXPECT_EQ(a, (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(b[0], 0);
  EXPECT_TRUE(std::isnan(b[1]) && std::isnan(b[2]));
}

// The same function compiled with and without the pipeline gives the same
// results (within rounding) on the same arguments.
void expect_same_with_and_without(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                                  const std::vector<Array>& args, const char* what) {
  Function opt = function(inputs, outputs);
  Function plain = function(inputs, outputs, {.optimize = false});
  std::vector<Array> a = opt(args), b = plain(args);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(kiln_test::close(b[i], a[i], 10 * kiln_test::tolerance_for(a[i].dtype())))
        << what << ", output " << i << "\noptimised graph:\n" << opt.graph_text();
}

TEST(PipelineFunction, SeedsGiveTheSameResults) {
  Tensor x = matrix("x", f64);
  expect_same_with_and_without({x}, {1 / (1 + exp(-x))}, {Array::from({{0., 1.}, {-1., -2.}})}, "Theano seed");
  Tensor a = vector("a", i32), b = vector("b", i32);
  expect_same_with_and_without({a, b}, {a * b}, {Array::from({1, 2, 3, 4}), Array::from({5, 6, 7, 8})},
                               "TensorFlow seed");
}

TEST(PipelineFunction, TwoLayerNetworkGradientsGiveTheSameResults) {
  const std::int64_t N = 16, D_in = 40, H = 20, D_out = 5;
  Tensor x = matrix("x", f64), y = matrix("y", f64);
  Tensor w1 = shared(Array::randn({D_in, H}, f64, 3), "w1");
  Tensor w2 = shared(Array::randn({H, D_out}, f64, 4), "w2");
  Tensor loss = sum(square(relu(x.matmul(w1)).matmul(w2) - y));
  std::vector<Tensor> g = grad(loss, {w1, w2});
  expect_same_with_and_without({x, y}, {loss, g[0], g[1]},
                               {Array::randn({N, D_in}, f64, 1), Array::randn({N, D_out}, f64, 2)}, "two-layer net");
}

TEST(PipelineFunction, LogisticRegressionGradientsGiveTheSameResults) {
  const std::int64_t N = 32, D = 6;
  for (DType t : {f64, f32}) {
    Tensor x = matrix("x", t), y = vector("y", t);
    Tensor w = shared(Array::randn({D}, t, 5), "w");
    Tensor b = shared(Array::scalar(0.1, t), "b");
    Tensor p = sigmoid(x.matmul(w) + b);
    Tensor loss = mean(-(y * log(p) + (1 - y) * log(1 - p)));
    std::vector<Tensor> g = grad(loss, {w, b});
    Array ya = Array::randint({N}, 0, 2, i64, 7).astype(t);
    expect_same_with_and_without({x, y}, {loss, g[0], g[1]}, {Array::randn({N, D}, t, 6), ya},
                                 t == f64 ? "logistic regression f64" : "logistic regression f32");
  }
}

// ---- docs/rewrites.md lists every rule ----

// Rule names in the rule tables of docs/rewrites.md, by set: rows
// "| `name` | ... |" under a heading "### <set>" (one of `sets`).
std::map<std::string, std::set<std::string>> documented_rules(const std::set<std::string>& sets) {
  std::ifstream in(std::string(KILN_SOURCE_DIR) + "/docs/rewrites.md");
  EXPECT_TRUE(in) << "cannot read docs/rewrites.md";
  std::map<std::string, std::set<std::string>> out;
  std::string line, set;
  std::regex heading(R"(^###\s+(\w+))"), row(R"(^\|\s*`(\w+)`\s*\|)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, heading)) set = sets.count(m[1]) ? std::string(m[1]) : "";
    else if (line.rfind("## ", 0) == 0) set.clear();
    else if (!set.empty() && std::regex_search(line, m, row)) out[set].insert(m[1]);
  }
  return out;
}

TEST(PipelineDocs, RewritesMdListsEveryRule) {
  std::map<std::string, std::set<std::string>> code;
  std::set<std::string> sets;
  for (bool strict : {false, true}) {
    passes::RuleOptions o;
    o.strict_ieee = strict;
    for (const passes::RuleSet& s : {passes::canonicalize_rules(o), passes::stabilize_rules(o), passes::specialize_rules(o)}) {
      sets.insert(s.name);
      for (const passes::Rule& r : s.rules) code[s.name].insert(r.name);
    }
  }
  std::map<std::string, std::set<std::string>> docs = documented_rules(sets);
  for (auto& [set, names] : code)
    for (const std::string& n : names)
      EXPECT_TRUE(docs[set].count(n)) << "docs/rewrites.md has no row \"| `" << n << "` | ... |\" under \"### " << set
                                      << "\"";
  for (auto& [set, names] : docs)
    for (const std::string& n : names)
      EXPECT_TRUE(code[set].count(n)) << "docs/rewrites.md lists rule '" << n << "' under \"### " << set
                                      << "\", but the " << set << " rule set has no such rule";
}

}  // namespace
