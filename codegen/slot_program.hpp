// A plan (codegen/partition.hpp) lowered to instructions over value slots:
// what every executor (CPU, CUDA) runs, whatever device its steps use.
//
// Slots 0 .. params.size()-1 hold the call's parameters; constants (leaf
// nodes) are evaluated once on the host at lowering; each instruction reads
// slots and writes one, and lists the slots that die after it (their last
// reader, unless they are results, parameters or constants), so an executor
// can free or reuse their buffers within a call. `in_place` lists the kernel
// operands the output may be written into: same dtype and rank as the
// output, read element for element (not broadcast), dying at this very step
// and read only once by it.
#pragma once

#include <utility>
#include <vector>

#include "codegen/partition.hpp"

namespace kiln::codegen {

struct SlotInstr {
  Step::Kind kind = Step::Kind::Host;
  const ir::Node* node = nullptr;
  int cluster = -1;
  std::vector<int> in;       // slots read (kernel: operand order)
  int out = -1;              // slot written
  std::vector<int> release;  // slots that die after this step
  std::vector<int> in_place; // kernel: operand indices that may take the output
};

struct SlotProgram {
  std::vector<ir::NodeRef> params;
  std::size_t num_slots = 0;
  std::vector<std::pair<int, Array>> constants;  // slot, host value
  std::vector<SlotInstr> instrs;
  std::vector<int> results;  // slot of each root
};

// Lowers `plan` with `params` bound to the first slots, in order. A graph
// reading a variable that is not a parameter is the interpreter's unbound
// variable error.
SlotProgram lower_plan(const Plan& plan, const std::vector<ir::NodeRef>& params);

// The input of kernel step `ins` to write its output into (shape `shape`):
// one of ins.in_place whose buffer the call holds alone (an executor-made
// buffer) and that is C-contiguous in `shape` from its start; null if none.
Array* in_place_input(const SlotInstr& ins, std::vector<Array>& vals, const Shape& shape);

// Must result `v` be copied before it is handed out? It must be fresh and
// C-contiguous: no view of a parameter's or constant's buffer (still in
// `vals` at their slots), nor of a result before it (`earlier`).
bool result_needs_copy(const Array& v, const SlotProgram& prog, const std::vector<Array>& vals,
                       const std::vector<Array>& earlier);

}  // namespace kiln::codegen
