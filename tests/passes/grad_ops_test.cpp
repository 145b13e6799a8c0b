// Reverse mode, op by op: every case of grad_cases.cpp checked against
// central finite differences with verify_grad, in f64 (relative 1e-6) and in
// f32 (the f32 defaults of grad.hpp), and the gradient's own gradient
// (a Hessian-vector product) in f64. A last test checks that every op of
// ir/ops.def that carries derivatives appears in some case, so a new op
// cannot go untested.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "grad_cases.hpp"
#include "ir/graph.hpp"
#include "ir/node.hpp"

namespace kiln::grad_test {
namespace {

using V = const std::vector<Tensor>&;

std::string case_name(const ::testing::TestParamInfo<std::size_t>& info) { return grad_cases()[info.param].name; }

std::vector<std::size_t> all_indices(bool (*keep)(const GradCase&)) {
  std::vector<std::size_t> r;
  for (std::size_t i = 0; i < grad_cases().size(); ++i)
    if (keep(grad_cases()[i])) r.push_back(i);
  return r;
}

// verify_grad, turning its kiln::Error into a test failure with its message.
void check(const Fn& fn, const std::vector<Array>& points, const VerifyGradOptions& options = {}) {
  try {
    verify_grad(fn, points, options);
  } catch (const Error& e) {
    ADD_FAILURE() << e.what();
  }
}

class GradF64 : public ::testing::TestWithParam<std::size_t> {};
class GradF32 : public ::testing::TestWithParam<std::size_t> {};
class GradSecondOrder : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GradF64, MatchesFiniteDifferences) {
  const GradCase& c = grad_cases()[GetParam()];
  check(c.fn, c.points, c.f64_options);
}

TEST_P(GradF32, MatchesFiniteDifferences) {
  const GradCase& c = grad_cases()[GetParam()];
  std::vector<Array> points;
  for (const Array& p : c.points) points.push_back(p.astype(f32));
  check(c.fn, points);
}

// The gradient is a graph like any other: its derivative along a random
// direction v (sum_i <v_i, d/dx_i <u, fn>>) must match finite differences too.
TEST_P(GradSecondOrder, GradientOfGradientMatchesFiniteDifferences) {
  const GradCase& c = grad_cases()[GetParam()];
  Fn fn = c.fn;
  std::vector<Array> dirs;
  for (std::size_t i = 0; i < c.points.size(); ++i) dirs.push_back(uniform(c.points[i].shape(), -1, 1, 500 + i));
  Fn hvp = [fn, dirs](V xs) {
    Tensor out = fn(xs);
    Tensor u = constant(uniform(out.shape(), 0.5, 1.5, 77).astype(out.dtype()));
    std::vector<Tensor> g = grad(sum(out * u), xs, {.disconnected_inputs = DisconnectedInputs::Ignore});
    Tensor s = constant(0.0, out.dtype());
    for (std::size_t i = 0; i < xs.size(); ++i) s = s + sum(g[i] * constant(dirs[i].astype(out.dtype())));
    return s;
  };
  check(hvp, c.points, c.f64_options);
}

INSTANTIATE_TEST_SUITE_P(Ops, GradF64, ::testing::ValuesIn(all_indices([](const GradCase&) { return true; })),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Ops, GradF32, ::testing::ValuesIn(all_indices([](const GradCase& c) { return c.f32; })),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Ops, GradSecondOrder,
                         ::testing::ValuesIn(all_indices([](const GradCase& c) { return c.second_order; })),
                         case_name);

// The same gradients when the input dims are unknown (static 1s stay, so
// broadcasting still type-checks): the rules' run-time shape paths
// (broadcast_like, reshape_like, counts of reduced elements) must give the
// static results. Cases that need static sizes are skipped.
class GradDynamicShapes : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GradDynamicShapes, MatchStaticShapes) {
  const GradCase& c = grad_cases()[GetParam()];
  Shape out_shape;
  auto build = [&](bool dynamic) {
    std::vector<Tensor> xs;
    for (std::size_t i = 0; i < c.points.size(); ++i) {
      std::vector<DimSpec> shape;
      for (auto d : c.points[i].shape()) shape.push_back(dynamic && d != 1 ? DimSpec(-1) : DimSpec(d));
      xs.push_back(tensor("x" + std::to_string(i), f64, shape));
    }
    Tensor out = c.fn(xs);
    if (!dynamic) out_shape = out.shape();
    Tensor u = constant(uniform(out_shape, 0.5, 1.5, 5));
    std::vector<Tensor> outs = Lop({out}, xs, {u});
    std::vector<Tensor> ts;
    for (std::size_t i = 0; i < xs.size(); ++i) ts.push_back(constant(uniform(c.points[i].shape(), -1, 1, 9 + i)));
    outs.push_back(Rop({out}, xs, ts)[0]);
    return function(xs, outs)(c.points);
  };
  std::vector<Array> want = build(false), got;
  try {
    got = build(true);
  } catch (const Error& e) {
    GTEST_SKIP() << "needs static sizes: " << e.what();
  }
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].shape(), want[i].shape()) << "output " << i;
    std::vector<double> g = got[i].to_doubles(), w = want[i].to_doubles();
    for (std::size_t k = 0; k < g.size() && k < w.size(); ++k)
      EXPECT_NEAR(g[k], w[k], 1e-12 * (1 + std::fabs(w[k]))) << "output " << i << ", element " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, GradDynamicShapes,
                         ::testing::ValuesIn(all_indices([](const GradCase&) { return true; })), case_name);

// Ops that carry no derivative at all: leaves, and ops on (or to) bool and
// integer values. stop_gradient is checked by hand in autodiff_test.cpp.
bool exempt(ir::OpCode op) {
  using O = ir::OpCode;
  switch (op) {
    case O::Input: case O::Shared: case O::Constant: case O::Fill: case O::Arange: case O::Eye:
    case O::LogicalNot: case O::BitwiseNot: case O::IsNan: case O::IsInf: case O::IsFinite: case O::Eq:
    case O::Ne: case O::Lt: case O::Le: case O::Gt: case O::Ge: case O::LogicalAnd: case O::LogicalOr:
    case O::LogicalXor: case O::BitwiseAnd: case O::BitwiseOr: case O::BitwiseXor: case O::LeftShift:
    case O::RightShift: case O::All: case O::Any: case O::Argmax: case O::Argmin: case O::StopGradient:
      return true;
    default:
      return false;
  }
}

// Every op with a vjp/jvp rule is exercised by some case (the forward-mode
// sweep in rop_lop_test.cpp runs the same cases).
TEST(GradCoverage, EveryDifferentiableOpHasACase) {
  std::set<ir::OpCode> seen;
  for (const GradCase& c : grad_cases()) {
    std::vector<Tensor> xs;
    for (std::size_t i = 0; i < c.points.size(); ++i) {
      std::vector<DimSpec> shape(c.points[i].shape().begin(), c.points[i].shape().end());
      xs.push_back(tensor("x" + std::to_string(i), f64, shape));
    }
    Tensor out = c.fn(xs);  // keeps the graph alive while it is walked
    for (const ir::Node* n : ir::topo_order({out.node()})) seen.insert(n->op());
  }
  std::string missing;
  for (const ir::OpInfo& op : ir::all_ops())
    if (!exempt(op.code) && !seen.count(op.code)) missing += " " + std::string(op.name);
  EXPECT_EQ(missing, "") << "ops with derivative rules but no case in tests/passes/grad_cases.cpp";
}

TEST(GradCoverage, CaseNamesAreUnique) {
  std::set<std::string> names;
  for (const GradCase& c : grad_cases()) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

}  // namespace
}  // namespace kiln::grad_test
