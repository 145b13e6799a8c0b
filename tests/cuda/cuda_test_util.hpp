// Shared by the CUDA tests: the kernels the CPU differential suite
// (tests/codegen/native_test.cpp) builds, built the same way.
#pragma once

#include <string>
#include <vector>

#include "codegen/kernel.hpp"
#include "codegen/partition.hpp"
#include "ir/node.hpp"
#include "kiln/kiln.hpp"

namespace kiln::cuda_test {

using codegen::Kernel;
using ir::OpCode;

inline constexpr DType kAllDTypes[] = {DType::Bool, DType::I8, DType::I16, DType::I32, DType::I64,
                                DType::U8,   DType::F16, DType::BF16, DType::F32, DType::F64};

// The kernels of the plan computing `outs` (one per cluster).
inline std::vector<Kernel> kernels_of(const std::vector<Tensor>& outs) {
  std::vector<ir::NodeRef> roots;
  for (const Tensor& t : outs) roots.push_back(t.node());
  codegen::Plan plan = codegen::partition(roots);
  std::vector<Kernel> ks;
  for (const codegen::Cluster& c : plan.clusters) ks.push_back(c.kernel);
  return ks;
}

// Every elementwise op of the table with `arity` inputs of dtype t (where:
// bool, t, t), as native_test's sweep builds them; ops rejecting t are skipped.
inline std::vector<Tensor> sweep(DType t, int arity, const std::vector<DimSpec>& dims) {
  std::vector<Tensor> xs;
  for (int i = 0; i < arity; ++i) xs.push_back(tensor("x" + std::to_string(i), t, dims));
  Tensor cond = tensor("c", DType::Bool, dims);
  std::vector<Tensor> outs;
  for (const ir::OpInfo& info : ir::all_ops()) {
    if (!ir::is_elementwise(info.code) || info.arity != arity) continue;
    std::vector<ir::NodeRef> in;
    if (info.code == OpCode::Where) in = {cond.node(), xs[0].node(), xs[1].node()};
    else
      for (int i = 0; i < arity; ++i) in.push_back(xs[static_cast<std::size_t>(i)].node());
    std::vector<ir::Attrs> variants;
    if (info.code == OpCode::Cast) {
      for (DType to : kAllDTypes) variants.push_back(ir::Attrs{{"dtype", to}});
    } else if (info.code == OpCode::Polygamma) {
      for (std::int64_t n : {0, 1, 2, 3}) variants.push_back(ir::Attrs{{"n", n}});
    } else {
      variants.push_back(ir::Attrs{});
    }
    for (const ir::Attrs& a : variants) {
      try {
        outs.push_back(Tensor(ir::make_node(info.code, in, a, SourceLoc{})));
      } catch (const Error&) {
        // the op does not accept this dtype
      }
    }
  }
  return outs;
}

}  // namespace kiln::cuda_test
