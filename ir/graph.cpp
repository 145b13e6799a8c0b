#include "ir/graph.hpp"

#include <unordered_set>

namespace kiln::ir {

std::vector<const Node*> topo_order(const std::vector<NodeRef>& outputs) {
  std::vector<const Node*> order;
  std::unordered_set<const Node*> done;
  std::vector<std::pair<const Node*, std::size_t>> stack;  // node, next input to visit
  for (const NodeRef& out : outputs) {
    if (!out || done.count(out.get())) continue;
    stack.push_back({out.get(), 0});
    while (!stack.empty()) {
      auto& [n, i] = stack.back();
      if (i < n->inputs().size()) {
        const Node* in = n->inputs()[i++].get();
        if (!done.count(in)) stack.push_back({in, 0});
      } else {
        if (done.insert(n).second) order.push_back(n);
        stack.pop_back();
      }
    }
  }
  return order;
}

std::vector<NodeRef> free_variables(const std::vector<NodeRef>& outputs) {
  std::vector<NodeRef> vars;
  std::unordered_map<const Node*, NodeRef> owner;
  // Recover shared ownership of leaves by walking the outputs' input edges.
  for (const Node* n : topo_order(outputs))
    for (const NodeRef& in : n->inputs()) owner.emplace(in.get(), in);
  for (const NodeRef& o : outputs) owner.emplace(o.get(), o);
  for (const Node* n : topo_order(outputs))
    if (n->op() == OpCode::Input || n->op() == OpCode::Shared) vars.push_back(owner.at(n));
  return vars;
}

NodeRef with_inputs(const Node& n, std::vector<NodeRef> inputs) {
  const TensorType* leaf = n.is_leaf() ? &n.type() : nullptr;
  return make_node(n.op(), std::move(inputs), n.attrs(), n.loc(), leaf);
}

std::vector<NodeRef> substitute(const std::vector<NodeRef>& outputs,
                                const std::unordered_map<const Node*, NodeRef>& replace) {
  std::unordered_map<const Node*, NodeRef> done;
  std::unordered_map<const Node*, NodeRef> owner;
  std::vector<const Node*> order = topo_order(outputs);
  for (const NodeRef& o : outputs) owner.emplace(o.get(), o);
  for (const Node* n : order)
    for (const NodeRef& in : n->inputs()) owner.emplace(in.get(), in);
  for (const Node* n : order) {
    auto r = replace.find(n);
    if (r != replace.end()) {
      done[n] = r->second;
      continue;
    }
    bool changed = false;
    std::vector<NodeRef> ins;
    ins.reserve(n->inputs().size());
    for (const NodeRef& in : n->inputs()) {
      const NodeRef& m = done.at(in.get());
      changed |= m != in;
      ins.push_back(m);
    }
    done[n] = changed ? with_inputs(*n, std::move(ins)) : owner.at(n);
  }
  std::vector<NodeRef> result;
  for (const NodeRef& o : outputs) result.push_back(o ? done.at(o.get()) : nullptr);
  return result;
}

std::size_t node_count(const std::vector<NodeRef>& outputs) { return topo_order(outputs).size(); }

}  // namespace kiln::ir
