// Shared by the CUDA tests: the kernels the CPU differential suite
// (tests/codegen/native_test.cpp) builds, built the same way.
#pragma once

#include <string>
#include <vector>

#include "codegen/kernel.hpp"
#include "codegen/partition.hpp"
#include "elementwise_sweep.hpp"
#include "ir/node.hpp"
#include "kiln/kiln.hpp"

namespace kiln::cuda_test {

using codegen::Kernel;
using ir::OpCode;

using kiln_test::kAllDTypes;

// The kernels of the plan computing `outs` (one per cluster).
inline std::vector<Kernel> kernels_of(const std::vector<Tensor>& outs) {
  std::vector<ir::NodeRef> roots;
  for (const Tensor& t : outs) roots.push_back(t.node());
  codegen::Plan plan = codegen::partition(roots);
  std::vector<Kernel> ks;
  for (const codegen::Cluster& c : plan.clusters) ks.push_back(c.kernel);
  return ks;
}

using kiln_test::sweep;

}  // namespace kiln::cuda_test
