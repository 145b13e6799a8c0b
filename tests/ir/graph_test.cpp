// The IR graph: hash-consing, attributes, type inference, traversal,
// substitution, node lifetime.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <atomic>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <kiln/kiln.hpp>

#include "ir/graph.hpp"
#include "ir/node.hpp"
#include "ir/type.hpp"

namespace {

using namespace kiln;
using ir::Attrs;
using ir::Dim;
using ir::NodeRef;
using ir::OpCode;
using ir::TensorType;
using ::testing::HasSubstr;

const ir::Node* P(const Tensor& t) { return t.node().get(); }

// ---- hash-consing ----

TEST(HashConsing, SameExpressionTwiceIsTheSameNode) {
  Tensor x = vector("x"), y = vector("y");
  Tensor a = exp(x * 2 + y);
  Tensor b = exp(x * 2 + y);
  EXPECT_EQ(P(a), P(b));
  EXPECT_EQ(P(x * y), P(x * y));
  // Operand order matters; so do attributes.
  EXPECT_NE(P(x - y), P(y - x));
  Tensor m = matrix("m");
  EXPECT_EQ(P(sum(m, 0)), P(sum(m, 0)));
  EXPECT_NE(P(sum(m, 0)), P(sum(m, 1)));
  EXPECT_NE(P(sum(m, 0)), P(sum(m, 0, true)));
  EXPECT_EQ(P(m[{Slice{0, 2}}]), P(m[{Slice{0, 2}}]));
  EXPECT_NE(P(m[{Slice{0, 2}}]), P(m[{Slice{0, 3}}]));
}

TEST(HashConsing, DifferentSourceLinesStillTheSameNode) {
  Tensor x = vector("x");
  const unsigned first_line = __LINE__; Tensor a = x + 1;
  Tensor b =
      x +
      1;
  EXPECT_EQ(P(a), P(b));
  // The first creator's location is kept.
  EXPECT_EQ(a.node()->loc().line, first_line);
  EXPECT_THAT(std::string(a.node()->loc().file), HasSubstr("graph_test.cpp"));
}

TEST(HashConsing, InputsWithTheSameNameAreDistinct) {
  Tensor a = vector("x"), b = vector("x");
  EXPECT_NE(P(a), P(b));
  EXPECT_NE(P(a + 1), P(b + 1));
  Tensor s1 = shared(Array::from({1.}), "w"), s2 = shared(Array::from({1.}), "w");
  EXPECT_NE(P(s1), P(s2));
}

TEST(HashConsing, ConstantsAreEqualByValue) {
  EXPECT_EQ(P(constant(2.0)), P(constant(2.0)));
  EXPECT_NE(P(constant(2.0)), P(constant(3.0)));
  EXPECT_NE(P(constant(2.0, f64)), P(constant(2.0, f32)));
  // Array constants compare by content, not by buffer.
  Array v1 = Array::from({1., 2., 3.}), v2 = Array::from({1., 2., 3.});
  EXPECT_EQ(P(constant(v1)), P(constant(v2)));
  EXPECT_NE(P(constant(v1)), P(constant(Array::from({1., 2., 4.}))));
  EXPECT_NE(P(constant(v1)), P(constant(v1.reshape({3, 1}))));
  // A strided array equals its contiguous copy.
  std::vector<double> buf = {1, 9, 2, 9, 3, 9};
  EXPECT_EQ(P(constant(Array::view(buf.data(), {3}, f64, {2}))), P(constant(v1)));
  // Weak scalars are constants too.
  Tensor x = vector("x");
  EXPECT_EQ(P(x * 2), P(x * 2.0));  // both become the f64 constant 2
}

TEST(HashConsing, NaNConstantsAreEqual) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(P(constant(nan)), P(constant(nan)));
  EXPECT_EQ(P(constant(Array::from({1., nan}))), P(constant(Array::from({1., nan}))));
  Tensor x = vector("x");
  EXPECT_EQ(P(x + nan), P(x + nan));
}

TEST(HashConsing, NegativeZeroDiffersFromZero) {
  EXPECT_NE(P(constant(-0.0)), P(constant(0.0)));
  Tensor x = vector("x");
  // x * -0.0 and x * 0.0 differ (signs of zeros and NaN for infinities).
  EXPECT_NE(P(x * -0.0), P(x * 0.0));
  EXPECT_NE(P(fill({2}, -0.0)), P(fill({2}, 0.0)));
}

TEST(HashConsing, ConcurrentBuildersGetTheSameNodes) {
  const std::size_t before = ir::live_node_count();
  {
    Tensor x = vector("x");
    std::vector<Tensor> ref;
    for (int k = 0; k < 300; ++k) ref.push_back(exp(x * static_cast<double>(k)) + 1);
    std::atomic<int> wrong{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        try {
          for (int round = 0; round < 5; ++round)
            for (int k = 0; k < 300; ++k) {
              Tensor e = exp(x * static_cast<double>(k)) + 1;
              if (P(e) != P(ref[k])) ++wrong;
              // Nodes that other threads build and drop at the same time.
              Tensor tmp = sin(x * static_cast<double>(k % 7)) * static_cast<double>(t);
              if (tmp.node()->input(0)->input(0)->input(0) != x.node()) ++wrong;
            }
        } catch (...) {
          ++errors;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(errors.load(), 0);
  }
  EXPECT_EQ(ir::live_node_count(), before);
}

TEST(HashConsing, NodeCountOfACommonSubexpression) {
  Tensor x = vector("x");
  Tensor a = x + 1;
  Tensor b = a * a;  // a appears once
  EXPECT_EQ(b.node()->input(0), b.node()->input(1));
  EXPECT_EQ(ir::node_count({b.node()}), 4u);  // x, 1, a, b
}

// ---- attributes ----

TEST(Attrs, KeptSortedByName) {
  Attrs a{{"zeta", std::int64_t{1}}, {"alpha", 2.0}, {"mid", std::string("s")}};
  ASSERT_EQ(a.items().size(), 3u);
  EXPECT_EQ(a.items()[0].first, "alpha");
  EXPECT_EQ(a.items()[1].first, "mid");
  EXPECT_EQ(a.items()[2].first, "zeta");
  a.set("beta", true);
  EXPECT_EQ(a.items()[1].first, "beta");
  a.set("alpha", 5.0);  // replaces
  EXPECT_EQ(a.items().size(), 4u);
  EXPECT_EQ(a.get_double("alpha"), 5.0);
  EXPECT_TRUE(a.has("mid"));
  EXPECT_FALSE(a.has("nope"));
  EXPECT_EQ(a.find("nope"), nullptr);
}

TEST(Attrs, EqualityIgnoresInsertionOrder) {
  Attrs a{{"b", std::int64_t{1}}, {"a", std::vector<std::int64_t>{1, 2}}};
  Attrs b{{"a", std::vector<std::int64_t>{1, 2}}, {"b", std::int64_t{1}}};
  EXPECT_TRUE(a == b);
  EXPECT_EQ(a.hash(), b.hash());
  Attrs c{{"a", std::vector<std::int64_t>{2, 1}}, {"b", std::int64_t{1}}};
  EXPECT_FALSE(a == c);
  Attrs d{{"a", std::vector<std::int64_t>{1, 2}}};
  EXPECT_FALSE(a == d);
  EXPECT_TRUE(Attrs() == Attrs());
}

TEST(Attrs, ValueKindsAreDistinct) {
  // An int 1, a double 1.0 and a bool true are different attribute values.
  EXPECT_FALSE(Attrs({{"v", std::int64_t{1}}}) == Attrs({{"v", 1.0}}));
  EXPECT_FALSE(Attrs({{"v", std::int64_t{1}}}) == Attrs({{"v", true}}));
  EXPECT_FALSE(Attrs({{"v", DType::F32}}) == Attrs({{"v", DType::F64}}));
  EXPECT_TRUE(Attrs({{"v", DType::F32}}) == Attrs({{"v", DType::F32}}));
  // Doubles compare by bits: -0.0 != 0.0, NaN == NaN.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(ir::attr_equal(-0.0, 0.0));
  EXPECT_TRUE(ir::attr_equal(nan, nan));
  EXPECT_EQ(Attrs({{"v", nan}}).hash(), Attrs({{"v", nan}}).hash());
  // Arrays by dtype, shape and content.
  EXPECT_TRUE(ir::attr_equal(Array::from({1., 2.}), Array::from({1., 2.})));
  EXPECT_FALSE(ir::attr_equal(Array::from({1., 2.}), Array::from({1.f, 2.f})));
  EXPECT_FALSE(ir::attr_equal(Array::from({1., 2.}), Array::from({{1., 2.}})));
}

TEST(Attrs, MistypedOrMissingAccessIsAnInternalError) {
  Attrs a{{"n", std::int64_t{3}}};
  EXPECT_EQ(a.get_int("n"), 3);
  EXPECT_THROW(a.get_double("n"), InternalError);
  EXPECT_THROW(a.get_int("missing"), InternalError);
}

// ---- type inference ----

TensorType T(DType t, std::vector<Dim> d) { return TensorType(t, std::move(d)); }
TensorType infer(OpCode op, std::vector<TensorType> in, const Attrs& a = {}) {
  return ir::infer_type(op, in, a);
}

TEST(Infer, TheanoBroadcastingRule) {
  const Dim q = Dim::unknown();
  // unknown vs 1 → unknown (the 1 stretches, the unknown is never assumed 1)
  EXPECT_EQ(infer(OpCode::Add, {T(f64, {q}), T(f64, {1})}).str(), "f64[?]");
  EXPECT_EQ(infer(OpCode::Add, {T(f64, {1}), T(f64, {q})}).str(), "f64[?]");
  // unknown vs 5 → 5 (checked at run time)
  EXPECT_EQ(infer(OpCode::Add, {T(f64, {q}), T(f64, {5})}).str(), "f64[5]");
  EXPECT_EQ(infer(OpCode::Mul, {T(f64, {5}), T(f64, {q})}).str(), "f64[5]");
  // 1 vs 5 → 5; missing leading dims broadcast
  EXPECT_EQ(infer(OpCode::Add, {T(f64, {1, 3}), T(f64, {4, 1})}).str(), "f64[4,3]");
  EXPECT_EQ(infer(OpCode::Add, {T(f64, {2, q, 3}), T(f64, {3})}).str(), "f64[2,?,3]");
  EXPECT_EQ(infer(OpCode::Add, {T(f64, {}), T(f64, {q, 2})}).str(), "f64[?,2]");
  // named dims are kept
  const Dim batch = Dim::unknown("batch");
  TensorType r = infer(OpCode::Add, {T(f32, {batch, 3}), T(f32, {3})});
  EXPECT_EQ(r.str(), "f32[batch,3]");
  EXPECT_EQ(r.dims[0].name, "batch");
  EXPECT_EQ(infer(OpCode::Add, {T(f32, {q}), T(f32, {batch})}).str(), "f32[batch]");
  EXPECT_EQ(infer(OpCode::Add, {T(f32, {batch}), T(f32, {q})}).str(), "f32[batch]");
  EXPECT_EQ(infer(OpCode::Add, {T(f32, {batch}), T(f32, {1})}).str(), "f32[batch]");
  // comparisons give bool
  EXPECT_EQ(infer(OpCode::Lt, {T(i32, {q}), T(i32, {1})}).str(), "bool[?]");
  // a static mismatch names the op and both types
  try {
    infer(OpCode::Add, {T(f32, {3, 4}), T(f32, {5})});
    ADD_FAILURE() << "expected an error";
  } catch (const InternalError& e) {
    ADD_FAILURE() << e.what();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("add"));
    EXPECT_THAT(e.what(), HasSubstr("f32[3,4]"));
    EXPECT_THAT(e.what(), HasSubstr("f32[5]"));
  }
  EXPECT_THROW(infer(OpCode::Add, {T(f32, {3}), T(f64, {3})}), Error);  // the IR needs one dtype
}

TEST(Infer, TheanoRuleThroughTheFrontEnd) {
  Tensor v = vector("v"), one = tensor("one", f64, {1}), five = tensor("five", f64, {5});
  Tensor b = tensor("b", f64, {"batch", 3});
  EXPECT_EQ((v + one).type_str(), "f64[?]");
  EXPECT_EQ((v + five).type_str(), "f64[5]");
  EXPECT_EQ((b * tensor("r", f64, {3})).type_str(), "f64[batch,3]");
  EXPECT_EQ((b + matrix("m")).type_str(), "f64[batch,3]");
  EXPECT_EQ((matrix("m") + b).type_str(), "f64[batch,3]");
  EXPECT_EQ((b + tensor("c", f64, {-1, 1})).type_str(), "f64[batch,3]");
}

TEST(Infer, Reductions) {
  const Dim q = Dim::unknown();
  TensorType x = T(f32, {2, q, 4});
  EXPECT_EQ(infer(OpCode::Sum, {x}, Attrs{{"axes", std::vector<std::int64_t>{1}}, {"keepdims", false}}).str(),
            "f32[2,4]");
  EXPECT_EQ(infer(OpCode::Max, {x}, Attrs{{"axes", std::vector<std::int64_t>{0, 2}}, {"keepdims", true}}).str(),
            "f32[1,?,1]");
  EXPECT_EQ(infer(OpCode::Argmax, {x}, Attrs{{"axes", std::vector<std::int64_t>{2}}, {"keepdims", false}}).str(),
            "i64[2,?]");
  EXPECT_EQ(infer(OpCode::Sum, {x}, Attrs{{"axes", std::vector<std::int64_t>{}}, {"keepdims", false}}).str(),
            "f32[2,?,4]");
  EXPECT_THROW(infer(OpCode::Sum, {x}, Attrs{{"axes", std::vector<std::int64_t>{3}}, {"keepdims", false}}), Error);
}

TEST(Infer, MatmulAndShapes) {
  const Dim q = Dim::unknown();
  EXPECT_EQ(infer(OpCode::Matmul, {T(f64, {q, 2, 3}), T(f64, {3, 4})}).str(), "f64[?,2,4]");
  EXPECT_EQ(infer(OpCode::Matmul, {T(f64, {2, 1, 2, 3}), T(f64, {5, 3, q})}).str(), "f64[2,5,2,?]");
  EXPECT_THROW(infer(OpCode::Matmul, {T(f64, {2, 3}), T(f64, {4, 5})}), Error);
  EXPECT_EQ(infer(OpCode::Reshape, {T(f64, {2, 3})}, Attrs{{"shape", std::vector<std::int64_t>{-1}}}).str(),
            "f64[6]");
  EXPECT_EQ(infer(OpCode::Reshape, {T(f64, {q, 3})}, Attrs{{"shape", std::vector<std::int64_t>{3, -1}}}).str(),
            "f64[3,?]");
  EXPECT_EQ(infer(OpCode::Transpose, {T(f64, {2, q, 4})}, Attrs{{"perm", std::vector<std::int64_t>{2, 0, 1}}}).str(),
            "f64[4,2,?]");
  EXPECT_EQ(infer(OpCode::ExpandDims, {T(f64, {2, 3})}, Attrs{{"axes", std::vector<std::int64_t>{0, 3}}}).str(),
            "f64[1,2,3,1]");
  EXPECT_EQ(infer(OpCode::Squeeze, {T(f64, {1, q, 1})}, Attrs{{"axes", std::vector<std::int64_t>{0, 2}}}).str(),
            "f64[?]");
  // take: x's dims before the axis, the index dims, x's dims after
  EXPECT_EQ(infer(OpCode::Take, {T(f32, {5, 4, 3}), T(i32, {2, q})}, Attrs{{"axis", std::int64_t{1}}}).str(),
            "f32[5,2,?,3]");
  // slices of static dims have static lengths (Python semantics)
  std::vector<std::int64_t> sl = {1, 8, 3, ir::kNone, ir::kNone, -1};
  EXPECT_EQ(infer(OpCode::Slice, {T(f64, {10, q})}, Attrs{{"slices", sl}}).str(), "f64[3,?]");
  EXPECT_EQ(infer(OpCode::Concatenate, {T(f64, {2, q}), T(f64, {3, 4})}, Attrs{{"axis", std::int64_t{0}}}).str(),
            "f64[5,4]");
  EXPECT_EQ(infer(OpCode::Concatenate, {T(f64, {2, 4}), T(f64, {q, 4})}, Attrs{{"axis", std::int64_t{0}}}).str(),
            "f64[?,4]");
  EXPECT_EQ(infer(OpCode::Cast, {T(f64, {q, 2})}, Attrs{{"dtype", DType::I8}}).str(), "i8[?,2]");
  EXPECT_EQ(infer(OpCode::Where, {T(boolean, {3, 1}), T(f32, {4}), T(f32, {})}).str(), "f32[3,4]");
  EXPECT_EQ(infer(OpCode::IsNan, {T(f16, {q})}).str(), "bool[?]");
  EXPECT_EQ(infer(OpCode::BroadcastTo, {T(f64, {1, 3})}, Attrs{{"shape", std::vector<std::int64_t>{2, 4, 3}}}).str(),
            "f64[2,4,3]");
}

// ---- traversal and substitution ----

TEST(Graph, TopoOrderVisitsInputsFirstAndEachNodeOnce) {
  Tensor x = vector("x"), y = vector("y");
  Tensor a = x * y;
  Tensor out1 = exp(a) + a;
  Tensor out2 = a - y;
  std::vector<const ir::Node*> order = ir::topo_order({out1.node(), out2.node()});
  std::unordered_set<const ir::Node*> seen;
  for (const ir::Node* n : order) {
    for (const NodeRef& in : n->inputs()) EXPECT_TRUE(seen.count(in.get())) << "input after its user";
    EXPECT_TRUE(seen.insert(n).second) << "visited twice";
  }
  // x, y, a, exp, add, sub
  EXPECT_EQ(order.size(), 6u);
  EXPECT_EQ(order, ir::topo_order({out1.node(), out2.node()}));  // deterministic
  EXPECT_TRUE(ir::topo_order({}).empty());
}

TEST(Graph, FreeVariables) {
  Tensor x = vector("x"), y = vector("y");
  Tensor w = shared(Array::from({1., 2.}), "w");
  Tensor out = (x + w) * exp(x) + constant(1.0);
  std::vector<NodeRef> vars = ir::free_variables({out.node()});
  ASSERT_EQ(vars.size(), 2u);
  EXPECT_EQ(vars[0].get(), P(x));
  EXPECT_EQ(vars[1].get(), P(w));
  vars = ir::free_variables({y.node(), out.node()});
  ASSERT_EQ(vars.size(), 3u);
  EXPECT_EQ(vars[0].get(), P(y));
  // An output that is itself a variable.
  vars = ir::free_variables({x.node()});
  ASSERT_EQ(vars.size(), 1u);
  EXPECT_EQ(vars[0], x.node());
  EXPECT_TRUE(ir::free_variables({constant(2.0).node()}).empty());
}

TEST(Graph, SubstituteReplacesAndSharesUntouchedParts) {
  Tensor x = vector("x"), y = vector("y"), z = tensor("z", f64, {3});
  Tensor untouched = exp(y) * 2;
  Tensor out = (x + 1) * untouched;
  std::unordered_map<const ir::Node*, NodeRef> rep{{P(x), z.node()}};
  std::vector<NodeRef> r = ir::substitute({out.node(), untouched.node()}, rep);
  ASSERT_EQ(r.size(), 2u);
  // The result is the node one would build directly (hash-consing).
  EXPECT_EQ(r[0].get(), P((z + 1) * untouched));
  // Types are re-inferred: [3] broadcast against [?] gives [3].
  EXPECT_EQ(r[0]->type().str(), "f64[3]");
  EXPECT_EQ(r[1].get(), P(untouched));
  EXPECT_EQ(r[0]->input(1).get(), P(untouched));
  // The original graph is unchanged.
  EXPECT_EQ(out.node()->input(0)->input(0).get(), P(x));
  // Nothing to replace: the same nodes come back.
  std::vector<NodeRef> same = ir::substitute({out.node()}, {});
  EXPECT_EQ(same[0].get(), P(out));
  // Replacing an output itself.
  std::vector<NodeRef> whole = ir::substitute({out.node()}, {{P(out), y.node()}});
  EXPECT_EQ(whole[0].get(), P(y));
}

TEST(Graph, WithInputsRebuildsTheSameOp) {
  Tensor x = vector("x"), y = vector("y");
  Tensor s = sum(x * 3, 0, true);
  NodeRef n = ir::with_inputs(*s.node(), {(y * 3).node()});
  EXPECT_EQ(n.get(), P(sum(y * 3, 0, true)));
  EXPECT_EQ(n->attrs(), s.node()->attrs());
}

// ---- lifetime ----

TEST(Lifetime, LiveNodeCountDropsWhenHandlesDie) {
  const std::size_t before = ir::live_node_count();
  {
    Tensor x = vector("live_x");
    Tensor y = exp(x) * 3.5 + x;  // x, exp, 3.5, mul, add
    EXPECT_GE(ir::live_node_count(), before + 5);
    Tensor again = exp(x) * 3.5 + x;  // no new nodes
    EXPECT_EQ(P(again), P(y));
  }
  EXPECT_EQ(ir::live_node_count(), before);
  {
    Tensor x = vector("live_f");
    Tensor c = shared(Array::from({1.}), "live_c");
    Function f = function({x}, {x * c}, {.updates = {{c, c + 1}}});
    EXPECT_GT(ir::live_node_count(), before);
  }
  EXPECT_EQ(ir::live_node_count(), before);
}

TEST(Lifetime, SubexpressionsLiveAsLongAsAUser) {
  const std::size_t before = ir::live_node_count();
  Tensor y;
  {
    Tensor x = vector("inner");
    y = sqrt(x);
  }
  EXPECT_EQ(ir::live_node_count(), before + 2);  // x kept alive by sqrt
  EXPECT_EQ(y.node()->input(0)->var_name(), "inner");
  y = Tensor();
  EXPECT_EQ(ir::live_node_count(), before);
}

// A chain of 100k nodes must build, be traversed and be destroyed without
// recursion deep enough to overflow the stack. Run in a child process so
// that a crash fails this test instead of the whole binary.
TEST(LifetimeDeathTest, DeepChainOf100kNodesBuildsAndIsDestroyed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const std::size_t before = ir::live_node_count();
        {
          Tensor x = vector("deep");
          Tensor y = x;
          for (int i = 0; i < 100000; ++i) y = y + 1.0;
          if (ir::node_count({y.node()}) != 100002) std::exit(3);  // x, the constant 1, 100000 adds
          if (ir::free_variables({y.node()}).size() != 1) std::exit(4);
        }  // destroys the chain
        if (ir::live_node_count() != before) std::exit(6);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(LifetimeDeathTest, DeepChainOf100kNodesSubstitutes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto body = [] {
    Tensor x = vector("deep"), z = vector("deep_z");
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = y + 1.0;
    std::unordered_map<const ir::Node*, NodeRef> rep{{P(x), z.node()}};
    std::vector<NodeRef> r = ir::substitute({y.node()}, rep);
    if (ir::free_variables(r)[0] != z.node()) std::exit(5);
    if (ir::node_count(r) != 100002) std::exit(3);
    std::exit(0);
  };
  EXPECT_EXIT(body(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
