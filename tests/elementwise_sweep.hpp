// The differential sweep shared by the backend tests (native, CUDA printer,
// CUDA on a GPU): every elementwise op of the op table applied to inputs of
// one dtype, with every variant of its attributes.
#pragma once

#include <string>
#include <vector>

#include "ir/node.hpp"
#include "kiln/kiln.hpp"

namespace kiln_test {

inline constexpr kiln::DType kAllDTypes[] = {kiln::DType::Bool, kiln::DType::I8,  kiln::DType::I16,
                                             kiln::DType::I32,  kiln::DType::I64, kiln::DType::U8,
                                             kiln::DType::F16,  kiln::DType::BF16, kiln::DType::F32,
                                             kiln::DType::F64};

struct Sweep {
  std::vector<kiln::Tensor> outs;
  std::vector<kiln::ir::OpCode> ops;  // the op of each output
};

// Every elementwise op of the table with `arity` inputs, applied to `xs`
// (where: cond, xs[0], xs[1]); casts to every dtype, polygamma of orders
// 0-3. Ops that reject the inputs' dtype are skipped.
inline Sweep sweep_ops(const std::vector<kiln::Tensor>& xs, const kiln::Tensor& cond, int arity) {
  using kiln::ir::OpCode;
  Sweep s;
  for (const kiln::ir::OpInfo& info : kiln::ir::all_ops()) {
    if (!kiln::ir::is_elementwise(info.code) || info.arity != arity) continue;
    std::vector<kiln::ir::NodeRef> in;
    if (info.code == OpCode::Where) in = {cond.node(), xs[0].node(), xs[1].node()};
    else
      for (int i = 0; i < arity; ++i) in.push_back(xs[static_cast<std::size_t>(i)].node());
    std::vector<kiln::ir::Attrs> variants;
    if (info.code == OpCode::Cast) {
      for (kiln::DType to : kAllDTypes) variants.push_back(kiln::ir::Attrs{{"dtype", to}});
    } else if (info.code == OpCode::Polygamma) {
      for (std::int64_t n : {0, 1, 2, 3}) variants.push_back(kiln::ir::Attrs{{"n", n}});
    } else {
      variants.push_back(kiln::ir::Attrs{});
    }
    for (const kiln::ir::Attrs& a : variants) {
      try {
        s.outs.push_back(kiln::Tensor(kiln::ir::make_node(info.code, in, a, kiln::SourceLoc{})));
        s.ops.push_back(info.code);
      } catch (const kiln::Error&) {
        // the op does not accept this dtype
      }
    }
  }
  return s;
}

// The sweep over fresh inputs x0.. of dtype t and shape `dims` (and a bool
// condition c of the same shape).
inline std::vector<kiln::Tensor> sweep(kiln::DType t, int arity, const std::vector<kiln::DimSpec>& dims) {
  std::vector<kiln::Tensor> xs;
  for (int i = 0; i < arity; ++i) xs.push_back(kiln::tensor("x" + std::to_string(i), t, dims));
  return sweep_ops(xs, kiln::tensor("c", kiln::DType::Bool, dims), arity).outs;
}

}  // namespace kiln_test
