// The native CPU executor: a graph partitioned into fused kernels (compiled
// once with LLVM), BLAS matmuls, views and host steps (the interpreter's
// eval_node), run in order.
//
// Compiling looks every kernel up in a process-wide in-memory cache keyed by
// the kernel IR's text; the kernels a plan still needs are compiled together
// in one LLVM module. Running binds the inputs, checks run-time shapes with
// the interpreter's rules and messages, allocates each kernel's output
// (C-contiguous) and calls it over all its rows — split across the cores
// (runtime/parallel.hpp) when elements × per-element cost is large.
#pragma once

#include <memory>
#include <vector>

#include "codegen/kernel_cache.hpp"
#include "codegen/partition.hpp"
#include "ir/interpreter.hpp"

namespace kiln::codegen {

class NativeFunction {
 public:
  // Partitions and compiles the graph computing `roots`.
  explicit NativeFunction(const std::vector<ir::NodeRef>& roots);

  // Like ir::interpret: fresh C-contiguous results sharing no memory with
  // the bindings, constants or each other (such a view, or a strided one, is
  // copied).
  std::vector<Array> run(const ir::Bindings& bindings) const;

  const Plan& plan() const { return plan_; }
  // The text of each kernel (plan order), for tests and debugging.
  std::vector<std::string> kernel_texts() const;

 private:
  Plan plan_;
  std::vector<KilnKernelFn> fns_;  // per cluster
};

}  // namespace kiln::codegen
