// On a GPU (every test skips itself without one): every kernel of the
// differential sweep run on Device::cuda(0) through the driver against the
// interpreter, through the contiguous entry (aligned device arrays) and the
// strided one (the same inputs one element off alignment, and transposed).
// NOT YET RUN ON A GPU: written without one; the first GPU session runs it
// (scripts/gpu-run.sh) and adjusts the bounds below to what CUDA's math
// library documents, if a case needs it.
//
// Bounds (ULP of the output dtype, vs the interpreter's double):
//  - exact: integer/bool ops, casts, compares, arithmetic, sqrt, rounding
//    ops, min/max/clip, where (IEEE division and sqrt, no FMA contraction);
//  - f16/bf16: 1;
//  - f32/f64 math functions (CUDA's libdevice, 1-4 ULP documented for most)
//    and formulas on them: 4, lgamma/erfc/tgamma-like 8, with an absolute
//    4 ULP of 1 near a zero of the result, as the CPU suite allows;
//  - f32 erfinv/lgamma/digamma/polygamma: computed in double, 1; f64:
//    relative 1e-13 (kiln's digamma/polygamma, CUDA's erfinv and lgamma).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "codegen/cuda/launch.hpp"
#include "codegen/partition.hpp"
#include "cuda/cuda_test_util.hpp"
#include "ir/node.hpp"
#include "kiln/kiln.hpp"
#include "runtime/cuda_driver.hpp"

namespace {

using namespace kiln;
using namespace kiln::cuda_test;

const std::set<OpCode> kInDouble = {OpCode::Erfinv, OpCode::Lgamma, OpCode::Digamma, OpCode::Polygamma};

bool close(OpCode op, DType in, DType out, double got, double want) {
  if (std::isnan(got) && std::isnan(want)) return true;
  if (got == want) return got != 0 || std::signbit(got) == std::signbit(want);
  if (std::isnan(got) || std::isnan(want) || std::isinf(got) || std::isinf(want)) return false;
  if (!is_float(out) || op == OpCode::Cast) return false;
  const double d = std::fabs(got - want);
  if (out == DType::F16 || out == DType::BF16) return d <= kiln_test::sweep_ulp(out, want);
  if (kInDouble.count(op)) return out == DType::F64 ? d <= 1e-13 * std::max(1.0, std::fabs(want)) : d <= kiln_test::sweep_ulp(out, want);
  if (kiln_test::kSweepLibmOps.count(op)) {
    const double ulps = (op == OpCode::Erfc || op == OpCode::Pow) ? 8 : 4;
    return d <= ulps * kiln_test::sweep_ulp(out, want) || d <= 4 * kiln_test::sweep_ulp(out, 1.0);
  }
  if ((op == OpCode::FloorDiv || op == OpCode::Mod) && in != DType::F64) return d <= kiln_test::sweep_ulp(out, want);
  return false;
}

class CudaGpu : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    if (!runtime::cuda_available()) GTEST_SKIP() << "no CUDA device";
  }
};

// A device copy of `a` one element past an aligned block: the contiguous
// entry's alignment check fails and the strided entry runs.
Array misaligned_on_gpu(const Array& a, Array& keep) {
  std::vector<double> v = a.to_doubles();
  v.insert(v.begin(), 0.0);
  keep = Array::from_doubles(v, {a.size() + 1}, a.dtype()).to(Device::cuda(0));
  return Array::view(keep.buffer()->data + dtype_size(a.dtype()), a.shape(), a.dtype(), a.strides(), Device::cuda(0));
}

TEST_P(CudaGpu, EveryElementwiseKernelMatchesTheInterpreter) {
  const DType t = GetParam();
  const Device g = Device::cuda(0);
  for (int arity = 1; arity <= 3; ++arity) {
    const Shape shape = {7, 131};  // odd sizes: vector tails run
    std::vector<DimSpec> dims = {"a", "b"};
    std::vector<Tensor> outs = sweep(t, arity, dims);
    if (outs.empty()) continue;
    // the sweep's inputs, by node
    std::map<const ir::Node*, Array> host;
    std::vector<Tensor> ins;
    for (const Tensor& o : outs)
      for (const ir::NodeRef& in : o.node()->inputs())
        if (!host.count(in.get())) {
          ins.push_back(Tensor(in));
          host[in.get()] =
              kiln_test::sweep_values(in->type().dtype, 7 * 131, 17 + host.size(), /*small=*/true).reshape(shape);
        }
    std::vector<Array> args;
    for (const Tensor& in : ins) args.push_back(host[in.node().get()]);
    FunctionOptions o;
    o.backend = Backend::Interpreter;
    o.optimize = false;
    std::vector<Array> want = function(ins, outs, o)(args);
    for (std::size_t i = 0; i < outs.size(); ++i) {
      codegen::Plan plan = codegen::partition({outs[i].node()});
      ASSERT_EQ(plan.clusters.size(), 1u);
      const codegen::Cluster& c = plan.clusters[0];
      codegen::cuda::CudaKernel k(c.kernel, g);
      const OpCode op = outs[i].node()->op();
      const std::string what = std::string(ir::op_name(op)) + " on " + std::string(dtype_name(t));
      for (int variant = 0; variant < 2; ++variant) {  // 0: contiguous entry, 1: strided entry
        std::vector<Array> dev, keep(c.inputs.size());
        for (std::size_t j = 0; j < c.inputs.size(); ++j) {
          const Array& h = host[c.inputs[j]];
          dev.push_back(variant == 0 ? h.to(g) : misaligned_on_gpu(h, keep[j]));
        }
        Array out = Array::empty(shape, want[i].dtype(), g);
        k.run(dev, out);
        if (variant == 0 && !k.source().vec_name.empty()) {
          EXPECT_TRUE(k.last_run_vectorised()) << what;
        }
        if (variant == 1) {
          EXPECT_FALSE(k.last_run_vectorised()) << what;
        }
        const std::vector<double> got = out.to(Device::cpu()).to_doubles(), w = want[i].to_doubles();
        for (std::size_t e = 0; e < w.size(); ++e)
          if (!close(op, t, want[i].dtype(), got[e], w[e])) {
            ADD_FAILURE() << what << " -> " << dtype_name(want[i].dtype()) << (variant ? " (strided)" : " (vec)")
                          << " at " << e << ": gpu " << got[e] << " vs interpreter " << w[e];
            break;
          }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, CudaGpu, ::testing::ValuesIn(kAllDTypes),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

TEST(CudaGpuLayouts, BroadcastingTransposedAndRank0) {
  if (!runtime::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Device g = Device::cuda(0);
  Tensor x = tensor("x", DType::F32, {"a", 1}), y = tensor("y", DType::F32, {"b"}), s = tensor("s", DType::F32, {});
  Tensor z = exp(x) * y + s;
  codegen::Plan plan = codegen::partition({z.node()});
  ASSERT_EQ(plan.clusters.size(), 1u);
  codegen::cuda::CudaKernel k(plan.clusters[0].kernel, g);
  Array xa = Array::randn({5, 1}, DType::F32, 1), ya = Array::randn({9}, DType::F32, 2), sa = Array::scalar(0.25, DType::F32);
  FunctionOptions o;
  o.backend = Backend::Interpreter;
  Array want = function({x, y, s}, {z}, o)({xa, ya, sa})[0];
  std::map<const ir::Node*, Array> host = {{x.node().get(), xa}, {y.node().get(), ya}, {s.node().get(), sa}};
  std::vector<Array> dev;
  for (const ir::Node* n : plan.clusters[0].inputs) dev.push_back(host[n].to(g));
  Array out = Array::empty({5, 9}, DType::F32, g);
  k.run(dev, out);
  const std::vector<double> got = out.to(Device::cpu()).to_doubles(), w = want.to_doubles();
  for (std::size_t e = 0; e < w.size(); ++e) EXPECT_TRUE(close(OpCode::Exp, DType::F32, DType::F32, got[e], w[e])) << e;
}

}  // namespace
