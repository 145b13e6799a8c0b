// The optimisation pipeline, in one readable function.
#include "passes/pipeline.hpp"

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "ir/graph.hpp"
#include "ir/printer.hpp"

namespace kiln::passes {

const std::vector<std::string>& pipeline_stages() {
  static const std::vector<std::string> stages{"canonicalize", "stabilize", "specialize"};
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

}  // namespace

std::vector<NodeRef> optimize(const std::vector<NodeRef>& outputs, const PipelineOptions& options) {
  std::vector<std::string> dump = options.dump_after;
  for (const std::string& s : dump_request_from_env()) dump.push_back(s);
  std::ostream& os = options.dump_stream ? *options.dump_stream : std::cerr;
  auto stage = [&](const std::string& name, const RuleSet& rules, std::vector<NodeRef> g) {
    g = rewrite(g, rules, options.counts);
    if (wants(dump, name)) {
      ir::Graph graph;
      graph.inputs = ir::free_variables(g);
      graph.outputs = g;
      graph.output_names.assign(g.size(), "");
      os << "# kiln IR after " << name << "\n" << ir::print_graph(graph);
    }
    return g;
  };

  std::vector<NodeRef> g = outputs;
  g = stage("canonicalize", canonicalize_rules(options.rules), g);
  g = stage("stabilize", stabilize_rules(options.rules), g);
  g = stage("specialize", specialize_rules(options.rules), g);
  return g;
}

}  // namespace kiln::passes
