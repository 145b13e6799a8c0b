// Whole-graph utilities: traversal, substitution, and the Graph record the
// text format and the CLI exchange.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "ir/node.hpp"

namespace kiln::ir {

// A graph as a unit: its free variables (Input and Shared leaves, in a fixed
// order) and its outputs (optionally named).
struct Graph {
  std::vector<NodeRef> inputs;
  std::vector<NodeRef> outputs;
  std::vector<std::string> output_names;  // same length as outputs; "" for unnamed
};

// Every node reachable from `outputs`, inputs before users (post-order,
// deterministic for a given graph). Iterative: deep graphs are fine.
std::vector<const Node*> topo_order(const std::vector<NodeRef>& outputs);

// The Input and Shared leaves reachable from `outputs`, in topological order.
std::vector<NodeRef> free_variables(const std::vector<NodeRef>& outputs);

// Rebuilds `outputs` with every node n that is a key of `replace` replaced by
// replace[n] (types must match: same dtype and compatible dims). Untouched
// subgraphs are shared, not copied.
std::vector<NodeRef> substitute(const std::vector<NodeRef>& outputs,
                                const std::unordered_map<const Node*, NodeRef>& replace);

// The same node with new inputs (same op, attrs and location).
NodeRef with_inputs(const Node& n, std::vector<NodeRef> inputs);

// Number of distinct nodes reachable from `outputs`.
std::size_t node_count(const std::vector<NodeRef>& outputs);

}  // namespace kiln::ir
