// Behaviour of function(): compiling graphs into callables, arguments,
// outputs, updates of shared variables, givens, and the errors a caller can
// make. Expected values are computed by hand (or with NumPy, as noted).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include <kiln/kiln.hpp>

#include "kiln_test_util.hpp"

namespace {

using namespace kiln;
using kiln_test::error_of;
using kiln_test::expect_array;
using ::testing::HasSubstr;



// ---- seeds ----

TEST(Function, TheanoLogisticSeed) {
  Tensor x = matrix("x", f64);
  Tensor s = 1 / (1 + exp(-x));
  Function logistic = function({x}, {s});
  EXPECT_EQ(logistic.num_inputs(), 1u);
  EXPECT_EQ(logistic.num_outputs(), 1u);
  std::vector<Array> out = logistic(Array::from({{0., 1.}, {-1., -2.}}));
  ASSERT_EQ(out.size(), 1u);
  // 1/(1+e^0) = 0.5, 1/(1+e^-1), 1/(1+e^1), 1/(1+e^2)
  expect_array(out[0], f64, {2, 2}, {0.5, 0.7310585786300049, 0.2689414213699951, 0.11920292202211755}, 1e-15);
}

TEST(Function, TensorFlowMultiplySeed) {
  Tensor a = vector("a", i32), b = vector("b", i32);
  Function f = function({a, b}, {a * b});
  std::vector<Array> out = f(Array::from({1, 2, 3, 4}), Array::from({5, 6, 7, 8}));
  ASSERT_EQ(out.size(), 1u);
  expect_array(out[0], i32, {4}, {5, 12, 21, 32});
}

TEST(Function, SeveralOutputs) {
  Tensor x = vector("x"), y = vector("y");
  Function f = function({x, y}, {x + y, x * y, sum(x), y});
  EXPECT_EQ(f.num_outputs(), 4u);
  std::vector<Array> out = f(Array::from({1., 2., 3.}), Array::from({10., 20., 30.}));
  ASSERT_EQ(out.size(), 4u);
  expect_array(out[0], f64, {3}, {11, 22, 33});
  expect_array(out[1], f64, {3}, {10, 40, 90});
  expect_array(out[2], f64, {}, {6});
  expect_array(out[3], f64, {3}, {10, 20, 30});
}

TEST(Function, NoOutputsIsAllowed) {
  Tensor x = vector("x");
  Function f = function({x}, {});
  EXPECT_EQ(f.num_outputs(), 0u);
  EXPECT_TRUE(f(Array::from({1.})).empty());
}

TEST(Function, SameOutputTwiceGivesTwoIndependentArrays) {
  Tensor x = vector("x");
  Tensor y = x * 2;
  Function f = function({x}, {y, y});
  std::vector<Array> out = f(Array::from({1., 2.}));
  ASSERT_EQ(out.size(), 2u);
  out[0].data<double>()[0] = -1;
  expect_array(out[1], f64, {2}, {2, 4});
}

TEST(Function, OutputThatIsAnInputDoesNotAliasTheArgument) {
  Tensor x = vector("x");
  Function f = function({x}, {x});
  Array arg = Array::from({1., 2., 3.});
  Array out = f(arg)[0];
  expect_array(out, f64, {3}, {1, 2, 3});
  EXPECT_NE(out.buffer(), arg.buffer());
  out.data<double>()[0] = 100;  // writing the result leaves the argument alone
  expect_array(arg, f64, {3}, {1, 2, 3});
  arg.data<double>()[1] = -5;  // and the other way round
  expect_array(out, f64, {3}, {100, 2, 3});
}

TEST(Function, OutputThatIsASharedVariableIsACopy) {
  Tensor w = shared(Array::from({1., 2.}), "w");
  Function f = function({}, {w});
  Array out = f()[0];
  expect_array(out, f64, {2}, {1, 2});
  out.data<double>()[0] = 100;
  expect_array(w.get_value(), f64, {2}, {1, 2});
}

TEST(Function, ConstantOutput) {
  Function f = function({}, {constant(Array::from({{1, 2}, {3, 4}}))});
  Array a = f()[0];
  expect_array(a, i32, {2, 2}, {1, 2, 3, 4});
  a.data<std::int32_t>()[0] = 9;  // must not change the constant in the graph
  expect_array(f()[0], i32, {2, 2}, {1, 2, 3, 4});
}

// ---- updates ----

TEST(Function, CounterUpdate) {
  Tensor c = shared(Array::scalar(0, i64), "c");
  Function f = function({}, {c}, {.updates = {{c, c + 1}}});
  // Each call returns the value from before the call.
  expect_array(f()[0], i64, {}, {0});
  expect_array(f()[0], i64, {}, {1});
  expect_array(f()[0], i64, {}, {2});
  expect_array(c.get_value(), i64, {}, {3});
}

TEST(Function, UpdatesReadPreCallValues_Swap) {
  Tensor a = shared(Array::from({1., 2.}), "a");
  Tensor b = shared(Array::from({3., 4.}), "b");
  Function swap = function({}, {a, b}, {.updates = {{a, b}, {b, a}}});
  std::vector<Array> out = swap();
  expect_array(out[0], f64, {2}, {1, 2});
  expect_array(out[1], f64, {2}, {3, 4});
  expect_array(a.get_value(), f64, {2}, {3, 4});
  expect_array(b.get_value(), f64, {2}, {1, 2});
  swap();
  expect_array(a.get_value(), f64, {2}, {1, 2});
  expect_array(b.get_value(), f64, {2}, {3, 4});
}

TEST(Function, UpdatesReadPreCallValues_Expressions) {
  // a ← a + b, b ← a * b: both read the old a and b.
  Tensor a = shared(Array::scalar(2, f64), "a");
  Tensor b = shared(Array::scalar(5, f64), "b");
  Function f = function({}, {}, {.updates = {{a, a + b}, {b, a * b}}});
  f();
  expect_array(a.get_value(), f64, {}, {7});
  expect_array(b.get_value(), f64, {}, {10});
  f();
  expect_array(a.get_value(), f64, {}, {17});
  expect_array(b.get_value(), f64, {}, {70});
}

TEST(Function, UpdateExpressionThatIsAlsoAnOutput) {
  Tensor c = shared(Array::from({1., 2.}), "c");
  Tensor doubled = c * 2;
  Function f = function({}, {doubled}, {.updates = {{c, doubled}}});
  Array r = f()[0];
  expect_array(r, f64, {2}, {2, 4});
  expect_array(c.get_value(), f64, {2}, {2, 4});
  // The returned output and the new value of c are separate arrays.
  r.data<double>()[0] = -1;
  expect_array(c.get_value(), f64, {2}, {2, 4});
  expect_array(f()[0], f64, {2}, {4, 8});
  expect_array(c.get_value(), f64, {2}, {4, 8});
}

TEST(Function, UpdateWithInputs) {
  Tensor x = vector("x");
  Tensor acc = shared(Array::from({0., 0.}), "acc");
  Function f = function({x}, {sum(acc)}, {.updates = {{acc, acc + x}}});
  expect_array(f(Array::from({1., 2.}))[0], f64, {}, {0});
  expect_array(f(Array::from({10., 20.}))[0], f64, {}, {3});
  expect_array(acc.get_value(), f64, {2}, {11, 22});
}

TEST(Function, FailedCallLeavesSharedVariablesUnchanged) {
  // The update of s has an unknown size that only fails at run time; the
  // counter's update (listed first) must not be applied either.
  Tensor c = shared(Array::scalar(0, i64), "c");
  Tensor s = shared(Array::from({1., 2.}), "s");
  Tensor v = vector("v");
  Function f = function({v}, {}, {.updates = {{c, c + 1}, {s, v}}});
  f(Array::from({5., 6.}));
  expect_array(c.get_value(), i64, {}, {1});
  expect_array(s.get_value(), f64, {2}, {5, 6});
  std::string m = error_of([&] { f(Array::from({1., 2., 3.})); });
  EXPECT_THAT(m, HasSubstr("'s'"));
  expect_array(c.get_value(), i64, {}, {1});
  expect_array(s.get_value(), f64, {2}, {5, 6});
}

// ---- givens ----

TEST(Function, GivensReplaceAnInputWithAnExpressionOfAnother) {
  Tensor x = vector("x"), y = vector("y");
  Function f = function({y}, {x * 2}, {.givens = {{x, y + 1}}});
  expect_array(f(Array::from({1., 2.}))[0], f64, {2}, {4, 6});
}

TEST(Function, GivensApplyToUpdates) {
  Tensor x = scalar("x"), y = scalar("y");
  Tensor c = shared(Array::scalar(1, f64), "c");
  Function f = function({y}, {}, {.updates = {{c, c + x}}, .givens = {{x, y * 10}}});
  f(Array::scalar(2, f64));
  expect_array(c.get_value(), f64, {}, {21});
}

TEST(Function, GivensWithMismatchedTypeIsAnError) {
  Tensor x = vector("x"), y = matrix("y"), z = vector("z", f32);
  std::string m = error_of([&] { function({y}, {x * 2}, {.givens = {{x, y}}}); });
  EXPECT_THAT(m, HasSubstr("givens"));
  EXPECT_THAT(m, HasSubstr("f64[?]"));
  EXPECT_THAT(m, HasSubstr("f64[?,?]"));
  m = error_of([&] { function({z}, {x * 2}, {.givens = {{x, z}}}); });
  EXPECT_THAT(m, HasSubstr("f32[?]"));
}

// ---- shared variables ----

TEST(Function, SharedGetAndSetValue) {
  Array init = Array::from({1., 2.});
  Tensor w = shared(init, "w");
  EXPECT_TRUE(w.is_shared());
  EXPECT_EQ(w.name(), "w");
  EXPECT_EQ(w.type_str(), "f64[2]");
  init.data<double>()[0] = 50;  // shared() copied its initial value
  expect_array(w.get_value(), f64, {2}, {1, 2});

  Array v = w.get_value();  // a copy
  v.data<double>()[0] = 99;
  expect_array(w.get_value(), f64, {2}, {1, 2});

  Tensor x = vector("x");
  Function f = function({x}, {x * w});
  expect_array(f(Array::from({1., 1.}))[0], f64, {2}, {1, 2});
  Array nv = Array::from({5., 6.});
  w.set_value(nv);
  nv.data<double>()[0] = 0;  // set_value copied too
  expect_array(w.get_value(), f64, {2}, {5, 6});
  expect_array(f(Array::from({1., 2.}))[0], f64, {2}, {5, 12});
}

TEST(Function, SetValueWithWrongDtypeOrShapeIsAnError) {
  Tensor w = shared(Array::from({1., 2.}), "w");
  std::string m = error_of([&] { w.set_value(Array::from({1.f, 2.f})); });
  EXPECT_THAT(m, HasSubstr("set_value"));
  EXPECT_THAT(m, HasSubstr("'w'"));
  EXPECT_THAT(m, HasSubstr("f32"));
  EXPECT_THAT(m, HasSubstr("f64[2]"));
  m = error_of([&] { w.set_value(Array::from({1., 2., 3.})); });
  EXPECT_THAT(m, HasSubstr("'w'"));
  EXPECT_THAT(m, HasSubstr("f64[2]"));
  EXPECT_THAT(m, HasSubstr("3"));
  m = error_of([&] { w.set_value(Array::from({{1., 2.}})); });
  EXPECT_THAT(m, HasSubstr("'w'"));
  m = error_of([&] { w.set_value(Array()); });
  EXPECT_THAT(m, HasSubstr("empty"));
  expect_array(w.get_value(), f64, {2}, {1, 2});  // unchanged by the failures
}

TEST(Function, GetOrSetValueOfANonSharedTensorIsAnError) {
  Tensor x = vector("x");
  std::string m = error_of([&] { x.get_value(); });
  EXPECT_THAT(m, HasSubstr("not a shared variable"));
  m = error_of([&] { (x * 2).set_value(Array::from({1.})); });
  EXPECT_THAT(m, HasSubstr("set_value"));
  EXPECT_THAT(m, HasSubstr("not a shared variable"));
}

// ---- argument checking ----

TEST(Function, WrongNumberOfArguments) {
  Tensor x = matrix("x"), y = vector("y");
  Function f = function({x, y}, {x + y});
  std::string m = error_of([&] { f(Array::from({{1.}})); });
  EXPECT_THAT(m, HasSubstr("expected 2 arguments"));
  EXPECT_THAT(m, HasSubstr("x: f64[?,?]"));
  EXPECT_THAT(m, HasSubstr("y: f64[?]"));
  EXPECT_THAT(m, HasSubstr("got 1"));
  EXPECT_THAT(m, HasSubstr("function_test.cpp"));  // where the function was made
  m = error_of([&] { f(Array::from({{1.}}), Array::from({1.}), Array::from({1.})); });
  EXPECT_THAT(m, HasSubstr("got 3"));
}

TEST(Function, WrongDtypeNamesTheArgument) {
  Tensor x = vector("x"), y = vector("y");
  Function f = function({x, y}, {x + y});
  std::string m = error_of([&] { f(Array::from({1., 2.}), Array::from({1.f, 2.f})); });
  EXPECT_THAT(m, HasSubstr("argument 1"));
  EXPECT_THAT(m, HasSubstr("'y'"));
  EXPECT_THAT(m, HasSubstr("f32"));
  EXPECT_THAT(m, HasSubstr("f64"));
  // No implicit conversion, not even a widening one.
  Tensor i = vector("i", i64);
  Function g = function({i}, {i * 2});
  m = error_of([&] { g(Array::from({1, 2})); });  // i32 data
  EXPECT_THAT(m, HasSubstr("'i'"));
  EXPECT_THAT(m, HasSubstr("i32"));
  EXPECT_THAT(m, HasSubstr("i64"));
}

TEST(Function, WrongRankNamesTheArgument) {
  Tensor x = matrix("x");
  Function f = function({x}, {x * 2});
  std::string m = error_of([&] { f(Array::from({1., 2.})); });
  EXPECT_THAT(m, HasSubstr("argument 0"));
  EXPECT_THAT(m, HasSubstr("'x'"));
  EXPECT_THAT(m, HasSubstr("f64[?,?]"));
  EXPECT_THAT(m, HasSubstr("dims"));
  m = error_of([&] { f(Array::scalar(1, f64)); });
  EXPECT_THAT(m, HasSubstr("'x'"));
}

TEST(Function, WrongStaticDimNamesTheArgument) {
  Tensor t = tensor("t", f64, {-1, 3});
  Function f = function({t}, {t * 2});
  expect_array(f(Array::zeros({2, 3}, f64))[0], f64, {2, 3}, {0, 0, 0, 0, 0, 0});
  std::string m = error_of([&] { f(Array::zeros({2, 4}, f64)); });
  EXPECT_THAT(m, HasSubstr("'t'"));
  EXPECT_THAT(m, HasSubstr("f64[?,3]"));
  EXPECT_THAT(m, HasSubstr("axis 1"));
  EXPECT_THAT(m, HasSubstr("size 4"));
}

TEST(Function, EmptyArrayArgument) {
  Tensor x = vector("x");
  Function f = function({x}, {x * 2});
  std::string m = error_of([&] { f(Array()); });
  EXPECT_THAT(m, HasSubstr("'x'"));
  EXPECT_THAT(m, HasSubstr("empty"));
}

TEST(Function, CallingAnEmptyFunctionIsAnError) {
  Function f;
  std::string m = error_of([&] { f(); });
  EXPECT_THAT(m, HasSubstr("empty Function"));
}

// ---- building errors ----

TEST(Function, OutputDependingOnAnUnlistedInput) {
  Tensor x = vector("x"), y = vector("why_not_listed");
  std::string m = error_of([&] { function({x}, {x + y}); });
  EXPECT_THAT(m, HasSubstr("'why_not_listed'"));
  EXPECT_THAT(m, HasSubstr("not among the function's inputs"));
  EXPECT_THAT(m, HasSubstr("function_test.cpp"));
  // Through an update as well.
  Tensor c = shared(Array::scalar(0, f64), "c");
  Tensor s = scalar("s_unlisted");
  m = error_of([&] { function({}, {}, {.updates = {{c, c + s}}}); });
  EXPECT_THAT(m, HasSubstr("'s_unlisted'"));
}

TEST(Function, ASharedVariableListedAsInput) {
  Tensor w = shared(Array::from({1.}), "w");
  std::string m = error_of([&] { function({w}, {w * 2}); });
  EXPECT_THAT(m, HasSubstr("shared"));
  EXPECT_THAT(m, HasSubstr("input 0"));
}

TEST(Function, AnExpressionListedAsInput) {
  Tensor x = vector("x");
  std::string m = error_of([&] { function({x * 2}, {x}); });
  EXPECT_THAT(m, HasSubstr("not an input variable"));
  EXPECT_THAT(m, HasSubstr("mul"));
}

TEST(Function, AnInputListedTwice) {
  Tensor x = vector("x");
  std::string m = error_of([&] { function({x, x}, {x}); });
  EXPECT_THAT(m, HasSubstr("'x'"));
  EXPECT_THAT(m, HasSubstr("twice"));
}

TEST(Function, UpdatingANonSharedIsAnError) {
  Tensor x = vector("x");
  std::string m = error_of([&] { function({x}, {}, {.updates = {{x, x + 1}}}); });
  EXPECT_THAT(m, HasSubstr("updates"));
  EXPECT_THAT(m, HasSubstr("only shared variables"));
  EXPECT_THAT(m, HasSubstr("f64[?]"));
}

TEST(Function, DuplicateUpdateIsAnError) {
  Tensor c = shared(Array::scalar(0, f64), "c");
  std::string m = error_of([&] { function({}, {}, {.updates = {{c, c + 1}, {c, c + 2}}}); });
  EXPECT_THAT(m, HasSubstr("'c'"));
  EXPECT_THAT(m, HasSubstr("twice"));
}

TEST(Function, UpdateDtypeMismatchIsAnError) {
  Tensor c = shared(Array::scalar(0, f64), "c");
  std::string m = error_of([&] { function({}, {}, {.updates = {{c, cast(c, f32)}}}); });
  EXPECT_THAT(m, HasSubstr("'c'"));
  EXPECT_THAT(m, HasSubstr("f32[]"));
  EXPECT_THAT(m, HasSubstr("f64[]"));
}

TEST(Function, UpdateStaticShapeMismatchIsAnError) {
  Tensor c = shared(Array::from({1., 2.}), "c");
  std::string m = error_of([&] { function({}, {}, {.updates = {{c, constant(Array::from({1., 2., 3.}))}}}); });
  EXPECT_THAT(m, HasSubstr("'c'"));
  EXPECT_THAT(m, HasSubstr("f64[3]"));
  EXPECT_THAT(m, HasSubstr("f64[2]"));
}

TEST(Function, CudaDeviceWithoutDriverIsAnErrorAtTheUsersLine) {
  Tensor x = vector("x");
  try {  // a machine with a GPU (or the emulator) compiles it instead
    Array::empty({1}, f32, Device::cuda(0));
    GTEST_SKIP() << "a CUDA device is present";
  } catch (const Error&) {
  }
  std::string m = error_of([&] { function({x}, {x * 2}, {.device = Device::cuda(0)}); });
  EXPECT_THAT(m, HasSubstr("cuda:0"));
  EXPECT_THAT(m, HasSubstr("function_test.cpp"));
}

TEST(Function, InterpreterOnACudaDeviceIsAnError) {
  // Checked before the driver: the same message with or without a GPU.
  Tensor x = vector("x");
  std::string m =
      error_of([&] { function({x}, {x * 2}, {.backend = Backend::Interpreter, .device = Device::cuda(0)}); });
  EXPECT_THAT(m, HasSubstr("interpreter runs on the CPU only"));
  EXPECT_THAT(m, HasSubstr("cuda:0"));
  EXPECT_THAT(m, HasSubstr("function_test.cpp"));
}

// ---- threads, views, empty arrays ----

TEST(Function, CalledFromFourThreadsAtOnce) {
  Tensor x = vector("x");
  Tensor w = shared(Array::from({1., 2., 3.}), "w");
  Function f = function({x}, {sum(x * w), x + 1});
  std::atomic<int> wrong{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int it = 0; it < 200; ++it) {
        try {
          double k = t * 1000 + it;
          std::vector<Array> out = f(Array::from({k, 1., 0.}));
          // k*1 + 1*2 + 0*3
          if (out[0].item() != k + 2) ++wrong;
          std::vector<double> v = out[1].to_doubles();
          if (v != std::vector<double>{k + 1, 2, 1}) ++wrong;
        } catch (...) {
          ++errors;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}

TEST(Function, StridedViewArguments) {
  std::vector<double> buf = {0, 1, 2, 3, 4, 5};
  Tensor x = matrix("x");
  Function f = function({x}, {x * 10, sum(x, 1)});
  // A transposed view of the 2x3 row-major buffer: shape [3,2], strides [1,3].
  Array t = Array::view(buf.data(), {3, 2}, f64, {1, 3});
  std::vector<Array> out = f(t);
  expect_array(out[0], f64, {3, 2}, {0, 30, 10, 40, 20, 50});
  expect_array(out[1], f64, {3}, {3, 5, 7});
  // Every other element, backwards: negative stride.
  Tensor v = vector("v");
  Function g = function({v}, {v + 0.5});
  Array rev = Array::view(buf.data() + 5, {3}, f64, {-2});
  expect_array(g(rev)[0], f64, {3}, {5.5, 3.5, 1.5});
  // A broadcast view (zero stride): the same row three times.
  Array rows = Array::view(buf.data(), {3, 2}, f64, {0, 1});
  expect_array(f(rows)[0], f64, {3, 2}, {0, 10, 0, 10, 0, 10});
  // The caller's memory is not written.
  EXPECT_EQ(buf, (std::vector<double>{0, 1, 2, 3, 4, 5}));
}

TEST(Function, ZeroSizeInputs) {
  Tensor x = matrix("x");
  Function f = function({x}, {x * 2, sum(x, 0), sum(x, 1), mean(x, 1)});
  std::vector<Array> out = f(Array::zeros({0, 3}, f64));
  expect_array(out[0], f64, {0, 3}, {});
  expect_array(out[1], f64, {3}, {0, 0, 0});
  expect_array(out[2], f64, {0}, {});
  expect_array(out[3], f64, {0}, {});
}

TEST(Function, GraphTextMentionsOutputsAndUpdates) {
  Tensor x = vector("x");
  Tensor c = shared(Array::scalar(0, f64), "counter");
  Function f = function({x}, {x * 3}, {.updates = {{c, c + 1}}});
  std::string text = f.graph_text();
  EXPECT_THAT(text, HasSubstr("mul"));
  EXPECT_THAT(text, HasSubstr("add"));
  EXPECT_THAT(text, HasSubstr("counter"));
  EXPECT_EQ(Function().graph_text(), "");
}

}  // namespace
