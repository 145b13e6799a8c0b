#include "codegen/slot_program.hpp"

#include <algorithm>
#include <unordered_map>

#include "ir/interp_util.hpp"
#include "ir/interpreter.hpp"

namespace kiln::codegen {

SlotProgram lower_plan(const Plan& plan, const std::vector<ir::NodeRef>& params) {
  SlotProgram prog;
  prog.params = params;
  std::unordered_map<const ir::Node*, int> slot;
  for (const ir::NodeRef& p : params) slot.emplace(p.get(), static_cast<int>(slot.size()));
  auto slot_of = [&](const ir::Node* n) {
    auto it = slot.find(n);
    if (it != slot.end()) return it->second;
    const int s = static_cast<int>(slot.size());
    slot.emplace(n, s);
    return s;
  };
  std::vector<int> last_use;  // per slot: the last instruction reading it (-1: none)
  auto use = [&](int s, int at) {
    if (static_cast<std::size_t>(s) >= last_use.size()) last_use.resize(static_cast<std::size_t>(s) + 1, -1);
    last_use[static_cast<std::size_t>(s)] = at;
  };
  for (const Step& st : plan.steps) {
    const ir::Node* n = st.node;
    if (st.kind == Step::Kind::Host && (n->op() == ir::OpCode::Input || n->op() == ir::OpCode::Shared)) {
      if (!slot.count(n))  // not a parameter: the graph reads a variable the call does not bind
        ir::interp::fail_unbound(*n);
      continue;
    }
    if (st.kind == Step::Kind::Host && ir::op_info(n->op()).category == ir::OpCategory::Leaf) {
      prog.constants.push_back({slot_of(n), ir::eval_node(*n, {})});  // evaluated once
      continue;
    }
    SlotInstr ins;
    ins.kind = st.kind;
    ins.node = n;
    ins.cluster = st.cluster;
    const int at = static_cast<int>(prog.instrs.size());
    if (st.kind == Step::Kind::Kernel) {
      const Cluster& c = plan.clusters[static_cast<std::size_t>(st.cluster)];
      for (std::size_t k = 0; k < c.inputs.size(); ++k) {
        ins.in.push_back(slot_of(c.inputs[k]));
        const KernelOperand& o = c.kernel.operands[k];
        const bool elementwise_read = std::none_of(o.broadcast.begin(), o.broadcast.end(), [](bool b) { return b; });
        if (!c.kernel.has_reduction() && o.dtype == c.root->dtype() && c.inputs[k]->rank() == c.root->rank() &&
            elementwise_read)
          ins.in_place.push_back(static_cast<int>(k));
      }
    } else {
      for (const ir::NodeRef& i : n->inputs()) ins.in.push_back(slot_of(i.get()));
    }
    for (int s : ins.in) use(s, at);
    ins.out = slot_of(n);
    prog.instrs.push_back(std::move(ins));
  }
  for (const ir::NodeRef& r : plan.roots) prog.results.push_back(slot_of(r.get()));
  prog.num_slots = slot.size();
  last_use.resize(prog.num_slots, -1);
  // A value dies after its last reader, unless it is a result or a parameter.
  std::vector<bool> keep(prog.num_slots, false);
  for (int r : prog.results) keep[static_cast<std::size_t>(r)] = true;
  for (std::size_t s = 0; s < params.size(); ++s) keep[s] = true;
  for (auto& [s, v] : prog.constants) keep[static_cast<std::size_t>(s)] = true;
  for (std::size_t s = 0; s < prog.num_slots; ++s)
    if (!keep[s] && last_use[s] >= 0) prog.instrs[static_cast<std::size_t>(last_use[s])].release.push_back(static_cast<int>(s));
  // In place only into an input that dies at this very step.
  for (SlotInstr& ins : prog.instrs) {
    std::vector<int> ok;
    for (int k : ins.in_place) {
      const int s = ins.in[static_cast<std::size_t>(k)];
      if (std::find(ins.release.begin(), ins.release.end(), s) != ins.release.end() &&
          std::count(ins.in.begin(), ins.in.end(), s) == 1)
        ok.push_back(k);
    }
    ins.in_place = std::move(ok);
  }
  return prog;
}

Array* in_place_input(const SlotInstr& ins, std::vector<Array>& vals, const Shape& shape) {
  for (int k : ins.in_place) {
    Array& v = vals[static_cast<std::size_t>(ins.in[static_cast<std::size_t>(k)])];
    if (v.buffer().use_count() == 1 && v.buffer()->deleter && v.shape() == shape && v.is_contiguous() &&
        v.offset() == 0)
      return &v;
  }
  return nullptr;
}

bool result_needs_copy(const Array& v, const SlotProgram& prog, const std::vector<Array>& vals,
                       const std::vector<Array>& earlier) {
  if (!v.is_contiguous()) return true;
  const Buffer* b = v.buffer().get();
  for (std::size_t i = 0; i < prog.params.size(); ++i)
    if (vals[i].buffer().get() == b) return true;
  for (const auto& [s, c] : prog.constants)
    if (vals[static_cast<std::size_t>(s)].buffer().get() == b) return true;
  for (const Array& e : earlier)
    if (e.buffer().get() == b) return true;
  return false;
}

}  // namespace kiln::codegen
