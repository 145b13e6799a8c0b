// The native CPU executor: a graph partitioned into fused kernels (compiled
// once with LLVM), BLAS matmuls, views and host steps (the interpreter's
// eval_node), run in order.
//
// Construction partitions the graph, compiles its kernels (codegen/
// kernel_cache.hpp) and lowers the plan to a list of instructions over value
// slots: which slots each step reads, which slot it writes, which slots die
// after it, and the constants, evaluated once. A call binds the parameters,
// runs the instructions and returns the outputs.
//
// Memory. Each call has its own values (so a function may run on several
// threads at once). A kernel writes its output in place into an input that
// dies at that step when the two have the same shape and dtype, the input is
// read element for element (not broadcast) and no other value shares its
// buffer; otherwise it takes a buffer of the right size that an earlier step
// of the same call freed, or a new one (large host blocks are recycled across
// calls by the Array allocator). A buffer is only ever reused when this call
// holds its one reference, which excludes arguments, shared values, constants
// and views of them: those always have an owner outside the call.
#pragma once

#include <memory>
#include <vector>

#include "codegen/kernel_cache.hpp"
#include "codegen/partition.hpp"
#include "codegen/slot_program.hpp"
#include "ir/interpreter.hpp"

namespace kiln::codegen {

class NativeFunction {
 public:
  // Partitions and compiles the graph computing `roots`; `params` are the
  // variables (inputs and shared variables) a call binds, in call order.
  NativeFunction(const std::vector<ir::NodeRef>& params, const std::vector<ir::NodeRef>& roots);
  // The same, with the graph's free variables as parameters (bound by name
  // through ir::Bindings).
  explicit NativeFunction(const std::vector<ir::NodeRef>& roots);

  // One value per parameter (dtype and rank checked by the caller). Returns
  // fresh C-contiguous results sharing no memory with the parameters,
  // constants or each other (such a view, or a strided one, is copied).
  std::vector<Array> run(const std::vector<Array>& params) const;
  // Like ir::interpret.
  std::vector<Array> run(const ir::Bindings& bindings) const;

  const Plan& plan() const { return plan_; }
  // The text of each kernel (plan order), for tests and debugging.
  std::vector<std::string> kernel_texts() const;

  // Calls so far that wrote a kernel's output in place into a dying input
  // (tests).
  static std::size_t in_place_writes();

 private:
  Plan plan_;
  std::vector<KilnKernelFn> fns_;  // per cluster
  SlotProgram prog_;
};

}  // namespace kiln::codegen
