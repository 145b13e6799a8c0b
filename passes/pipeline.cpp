// The optimisation pipeline, in one readable function.
#include "passes/pipeline.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "ir/graph.hpp"
#include "ir/printer.hpp"

namespace kiln::passes {

const std::vector<std::string>& pipeline_stages() {
  static const std::vector<std::string> stages{"canonicalize", "stabilize", "cleanup", "specialize"};
  return stages;
}

namespace {

// Stage names requested by KILN_DUMP_IR ("after:canonicalize,specialize",
// "canonicalize", or "all").
std::vector<std::string> dump_request_from_env() {
  std::vector<std::string> out;
  const char* env = std::getenv("KILN_DUMP_IR");
  if (!env || !*env) return out;
  std::string s = env;
  if (s.rfind("after:", 0) == 0) s = s.substr(6);
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool wants(const std::vector<std::string>& req, const std::string& stage) {
  for (const std::string& r : req)
    if (r == stage || r == "all") return true;
  return false;
}

// A misspelt stage name would silently dump nothing: say so instead.
void warn_unknown_stages(const std::vector<std::string>& req, std::ostream& os) {
  const auto& stages = pipeline_stages();
  for (const std::string& r : req)
    if (r != "all" && std::find(stages.begin(), stages.end(), r) == stages.end()) {
      os << "# kiln: no pipeline stage '" << r << "' to dump the IR after (stages:";
      for (const std::string& s : stages) os << " " << s;
      os << ", or all)\n";
    }
}

// The pipeline's invariant: every stage keeps the outputs' types (the
// engine checks each rewrite; this catches a stage that does not).
void check_types(const std::vector<NodeRef>& before, const std::vector<NodeRef>& after, const std::string& stage) {
  KILN_CHECK(before.size() == after.size(), "stage " << stage << " changed the number of outputs");
  for (std::size_t i = 0; i < before.size(); ++i) {
    const ir::TensorType &want = before[i]->type(), &got = after[i]->type();
    bool ok = want.dtype == got.dtype && want.rank() == got.rank();
    for (std::int64_t k = 0; ok && k < want.rank(); ++k) ok = !want.dims[k].known() || want.dims[k] == got.dims[k];
    KILN_CHECK(ok, "stage " << stage << " changed output " << i << " from " << want.str() << " to " << got.str());
  }
}

// Rounds of the whole pipeline before giving up on a fixed point (the graph
// is correct after any number of rounds; the random-graph test checks that
// a second optimize changes nothing).
constexpr int kMaxRounds = 4;

}  // namespace

std::vector<NodeRef> optimize(const std::vector<NodeRef>& outputs, const PipelineOptions& options) {
  std::vector<std::string> dump = options.dump_after;
  for (const std::string& s : dump_request_from_env()) dump.push_back(s);
  std::ostream& os = options.dump_stream ? *options.dump_stream : std::cerr;
  warn_unknown_stages(dump, os);
  int round = 1;
  auto stage = [&](const std::string& name, const RuleSet& rules, const std::vector<NodeRef>& in) {
    std::vector<NodeRef> out = rewrite(in, rules, options.counts);
    check_types(in, out, name);
    if (wants(dump, name) && (round == 1 || out != in)) {
      ir::Graph graph;
      graph.inputs = ir::free_variables(out);
      graph.outputs = out;
      graph.output_names.assign(out.size(), "");
      os << "# kiln IR after " << name << (round > 1 ? " (round " + std::to_string(round) + ")" : "") << " ("
         << ir::node_count(in) << " -> " << ir::node_count(out) << " nodes)\n"
         << ir::print_graph(graph);
    }
    return out;
  };

  const RuleSet canonicalize = canonicalize_rules(options.rules);
  const RuleSet stabilize = stabilize_rules(options.rules);
  const RuleSet specialize = specialize_rules(options.rules);
  std::vector<NodeRef> g = outputs;
  for (; round <= kMaxRounds; ++round) {
    std::vector<NodeRef> start = g;
    g = stage("canonicalize", canonicalize, g);
    g = stage("stabilize", stabilize, g);
    // The stable forms come out as their rules wrote them
    // (neg(softplus(neg(neg(x))))); the canonicalize rules tidy them.
    g = stage("cleanup", canonicalize, g);
    g = stage("specialize", specialize, g);
    // Specialize's forms can open new canonicalize rewrites (square(neg(x))
    // becomes mul(neg(x), neg(x))): go round again until nothing changes,
    // so that optimising an optimised graph leaves it as it is.
    if (g == start) break;
  }
  return g;
}

}  // namespace kiln::passes
