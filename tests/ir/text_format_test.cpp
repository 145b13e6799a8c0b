// The text format: printer and parser (ir/printer.hpp, ir/parser.hpp).
//
// The central property: parse(print(g)) returns the identical nodes while g
// is alive (hash-consing), for every op of the op table, and constants and
// double attributes keep every bit.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>

#include "ir/graph.hpp"
#include "ir/parser.hpp"
#include "ir/printer.hpp"

namespace kiln::ir {
namespace {

// ---- building graphs ----

TensorType ty(DType d, std::vector<Dim> dims) { return TensorType(d, std::move(dims)); }

NodeRef var(const std::string& name, const TensorType& t, OpCode op = OpCode::Input) {
  return make_node(op, {}, Attrs{{"name", name}, {"id", fresh_var_id()}}, SourceLoc(), &t);
}

NodeRef mk(OpCode op, std::vector<NodeRef> in, Attrs a = {}) {
  return make_node(op, std::move(in), std::move(a), SourceLoc());
}

NodeRef constant(const Array& a) { return mk(OpCode::Constant, {}, Attrs{{"value", a}}); }

NodeRef fill(std::vector<std::int64_t> shape, double value) {
  return mk(OpCode::Fill, {}, Attrs{{"shape", std::move(shape)}, {"value", value}, {"dtype", DType::F32}});
}

Graph graph_of(std::vector<NodeRef> outputs, std::vector<std::string> names = {}) {
  Graph g;
  g.inputs = free_variables(outputs);
  g.outputs = std::move(outputs);
  names.resize(g.outputs.size());
  g.output_names = std::move(names);
  return g;
}

// One small graph per op; nullopt for an op nobody wrote a case for.
std::optional<Graph> graph_for(const OpInfo& info) {
  const Dim batch = Dim::unknown("batch");
  NodeRef xf = var("x", ty(DType::F32, {Dim::unknown(), 3, batch}));
  NodeRef a = var("a", ty(DType::F64, {Dim::unknown(), 3}));
  NodeRef b = var("b", ty(DType::F64, {3}));
  const OpCode op = info.code;
  using Ints = std::vector<std::int64_t>;
  // Ops with attributes their category does not imply come first.
  switch (op) {
    case OpCode::Polygamma: return graph_of({mk(op, {xf}, Attrs{{"n", std::int64_t{2}}})});
    case OpCode::Unconcat: {
      NodeRef p = var("p", ty(DType::F64, {2, 4})), q = var("q", ty(DType::F64, {Dim::unknown(), 4}));
      NodeRef whole = var("g", ty(DType::F64, {Dim::unknown(), 4}));
      return graph_of({mk(op, {whole, p, q}, Attrs{{"axis", std::int64_t{0}}, {"index", std::int64_t{1}}})});
    }
    default: break;
  }
  switch (info.category) {
    case OpCategory::UnaryNumeric: case OpCategory::UnaryFloat: case OpCategory::UnaryAny:
    case OpCategory::UnaryPredicate:
      return graph_of({mk(op, {xf})}, {"y"});
    case OpCategory::UnaryBool:
      return graph_of({mk(op, {var("p", ty(DType::Bool, {2, Dim::unknown()}))})});
    case OpCategory::UnaryIntegral:
      return graph_of({mk(op, {var("i", ty(DType::I32, {4}))})});
    case OpCategory::Cast:
      return graph_of({mk(op, {xf}, Attrs{{"dtype", DType::F16}})});
    case OpCategory::BinaryNumeric: case OpCategory::BinaryFloat: case OpCategory::Compare:
      return graph_of({mk(op, {a, b})}, {"out"});
    case OpCategory::BinaryBool: {
      NodeRef p = var("p", ty(DType::Bool, {2, 1})), q = var("q", ty(DType::Bool, {5}));
      return graph_of({mk(op, {p, q})});
    }
    case OpCategory::BinaryIntegral: case OpCategory::BinaryShift: {
      NodeRef i = var("i", ty(DType::I64, {Dim::unknown()}));
      NodeRef k = constant(Array::from({1, 2, 3}).astype(DType::I64));
      return graph_of({mk(op, {i, k})});
    }
    case OpCategory::Where:
      return graph_of({mk(op, {var("c", ty(DType::Bool, {2, 3})), a, b})});
    case OpCategory::Clip:
      return graph_of({mk(op, {a, constant(Array::scalar(-1.5, DType::F64)), b})});
    case OpCategory::Reduce: {
      DType d = op == OpCode::All || op == OpCode::Any ? DType::Bool : DType::F32;
      NodeRef x = var("x", ty(d, {2, Dim::unknown(), 4}));
      return graph_of({mk(op, {x}, Attrs{{"axes", std::vector<std::int64_t>{0, 2}}, {"keepdims", false}}),
                       mk(op, {x}, Attrs{{"axes", std::vector<std::int64_t>{1}}, {"keepdims", true}})},
                      {"", "kept"});
    }
    case OpCategory::Matmul:
      return graph_of({mk(op, {var("m", ty(DType::F32, {Dim::unknown(), 4})),
                               var("w", ty(DType::F32, {4, 5}), OpCode::Shared)})});
    case OpCategory::Leaf:
    case OpCategory::Shape:
      break;
  }
  NodeRef m = var("m", ty(DType::F32, {4, 3}));
  NodeRef t5 = var("t", ty(DType::F64, {5, 4}));
  NodeRef idx = var("idx", ty(DType::I64, {3}));
  switch (op) {
    case OpCode::Input: return graph_of({xf}, {"x"});
    case OpCode::Shared: return graph_of({var("w", ty(DType::F32, {1000, 100}), OpCode::Shared)});
    case OpCode::Constant: return graph_of({constant(Array::from({{1.f, 2.5f}, {-3.f, 0.1f}}))});
    case OpCode::Fill:
      return graph_of({mk(op, {}, Attrs{{"shape", Ints{2, 3}}, {"value", 1.5}, {"dtype", DType::F32}})});
    case OpCode::Arange:
      return graph_of({mk(op, {}, Attrs{{"start", 0.5}, {"stop", 3.0}, {"step", 0.25}, {"dtype", DType::F64}})});
    case OpCode::Eye:
      return graph_of({mk(op, {}, Attrs{{"n", std::int64_t{3}}, {"m", std::int64_t{4}}, {"k", std::int64_t{1}},
                                        {"dtype", DType::F32}})});
    case OpCode::Reshape: return graph_of({mk(op, {m}, Attrs{{"shape", Ints{6, -1}}})});
    case OpCode::ReshapeLike: return graph_of({mk(op, {m, var("s", ty(DType::I8, {2, 6}))})});
    case OpCode::Transpose: return graph_of({mk(op, {m}, Attrs{{"perm", Ints{1, 0}}})});
    case OpCode::ExpandDims: return graph_of({mk(op, {m}, Attrs{{"axes", Ints{0, 2}}})});
    case OpCode::Squeeze:
      return graph_of({mk(op, {var("s", ty(DType::F32, {1, 3, 1}))}, Attrs{{"axes", Ints{0, 2}}})});
    case OpCode::BroadcastTo: return graph_of({mk(op, {b}, Attrs{{"shape", Ints{2, 3}}})});
    case OpCode::BroadcastLike: return graph_of({mk(op, {b, a})});
    case OpCode::FillLike: return graph_of({mk(op, {m}, Attrs{{"value", 2.0}, {"dtype", DType::I32}})});
    case OpCode::Concatenate: return graph_of({mk(op, {a, a, constant(Array::zeros({2, 3}, DType::F64))},
                                                  Attrs{{"axis", std::int64_t{0}}})});
    case OpCode::Flip: return graph_of({mk(op, {m}, Attrs{{"axes", Ints{1}}})});
    case OpCode::Slice:
      return graph_of({mk(op, {xf}, Attrs{{"slices", Ints{1, 3, 1, kNone, kNone, -1, kNone, 2, 1}}})});
    case OpCode::SetSlice: case OpCode::IncSlice:
      return graph_of({mk(op, {t5, var("v", ty(DType::F64, {2, 1}))},
                          Attrs{{"slices", Ints{1, 3, 1, kNone, kNone, 1}}})});
    case OpCode::Take: return graph_of({mk(op, {t5, idx}, Attrs{{"axis", std::int64_t{0}}})});
    case OpCode::SetTake: case OpCode::IncTake:
      return graph_of({mk(op, {t5, var("v", ty(DType::F64, {3, 4})), idx}, Attrs{{"axis", std::int64_t{0}}})});
    default:
      return std::nullopt;
  }
}

// Checks parse(print(g)) is g itself and prints the same text again.
void expect_round_trip(const Graph& g, const TextOptions& opts = {}) {
  std::string text = print_graph(g, opts);
  Graph h = parse_graph(text);
  ASSERT_EQ(h.outputs.size(), g.outputs.size()) << text;
  for (std::size_t i = 0; i < g.outputs.size(); ++i) {
    EXPECT_EQ(h.outputs[i].get(), g.outputs[i].get()) << "output " << i << " of\n" << text;
    EXPECT_EQ(h.output_names[i], g.output_names[i]);
  }
  ASSERT_EQ(h.inputs.size(), g.inputs.size()) << text;
  for (std::size_t i = 0; i < g.inputs.size(); ++i) EXPECT_EQ(h.inputs[i].get(), g.inputs[i].get());
  EXPECT_EQ(print_graph(h, opts), text);
}

std::string parse_error(std::string_view text, std::string_view file = "<text>") {
  try {
    parse_graph(text, file);
  } catch (const Error& e) {
    return e.what();
  }
  return "(parsed without error)";
}

const char* kHeader = "kiln.graph v1\n";

// ---- round trips ----

TEST(TextFormat, EveryOpRoundTrips) {
  for (const OpInfo& info : all_ops()) {
    SCOPED_TRACE(std::string(info.name));
    std::optional<Graph> g = graph_for(info);
    ASSERT_TRUE(g.has_value()) << "no text-format test graph for op '" << info.name
                               << "': add a case to graph_for()";
    std::string text = print_graph(*g);
    EXPECT_NE(text.find(" = " + std::string(info.name)), std::string::npos) << text;
    expect_round_trip(*g);
    expect_round_trip(*g, TextOptions{.with_locations = true});
  }
}

TEST(TextFormat, PrintsTheDocumentedShape) {
  NodeRef x = var("x", ty(DType::F64, {Dim::unknown(), Dim::unknown()}));
  NodeRef w = var("w", ty(DType::F32, {1000, 100}), OpCode::Shared);
  NodeRef s = mk(OpCode::Sum, {mk(OpCode::Neg, {x})},
                 Attrs{{"axes", std::vector<std::int64_t>{0, 1}}, {"keepdims", false}});
  NodeRef sl = mk(OpCode::Slice, {x}, Attrs{{"slices", std::vector<std::int64_t>{1, 3, 1, kNone, kNone, -1}}});
  NodeRef c = mk(OpCode::Cast, {s}, Attrs{{"dtype", DType::F32}});
  NodeRef k = constant(Array::from({{1.f, 2.f}, {3.f, 4.f}}));
  Graph g;
  g.inputs = {x, w};
  g.outputs = {s, sl, c, k};
  g.output_names = {"y", "", "z", ""};
  std::string id_x = std::to_string(x->attrs().get_int("id")), id_w = std::to_string(w->attrs().get_int("id"));
  EXPECT_EQ(print_graph(g),
            "kiln.graph v1\n"
            "%0 = input \"x\" id=" + id_x + " : f64[?,?]\n"
            "%1 = shared \"w\" id=" + id_w + " : f32[1000,100]\n"
            "%2 = neg(%0) : f64[?,?]\n"
            "%3 = sum(%2) axes=[0, 1] keepdims=false : f64[]\n"
            "%4 = slice(%0) slices=[1:3, ::-1] : f64[?,?]\n"
            "%5 = cast(%3) dtype=f32 : f32[]\n"
            "%6 = constant [[1, 2], [3, 4]] : f32[2,2]\n"
            "output \"y\" = %3\n"
            "output %4\n"
            "output \"z\" = %5\n"
            "output %6\n");
  expect_round_trip(g);
}

TEST(TextFormat, PrintNodesListsFreeVariablesFirst) {
  NodeRef x = var("x", ty(DType::F64, {2}));
  NodeRef y = var("y", ty(DType::F64, {2}));
  NodeRef e = mk(OpCode::Exp, {x});
  std::string text = print_nodes({mk(OpCode::Add, {e, y})});
  Graph g = parse_graph(text);
  ASSERT_EQ(g.inputs.size(), 2u);
  EXPECT_EQ(g.inputs[0], x);
  EXPECT_EQ(g.inputs[1], y);
  EXPECT_NE(text.find("%1 = input \"y\""), std::string::npos) << text;
  EXPECT_NE(text.find("output %3\n"), std::string::npos) << text;
}

TEST(TextFormat, UnusedInputsAndGraphInputOrderSurvive) {
  NodeRef x = var("x", ty(DType::F64, {2}));
  NodeRef unused = var("unused", ty(DType::I8, {}));
  NodeRef y = var("y", ty(DType::F64, {2}));
  Graph g;
  g.inputs = {y, unused, x};
  g.outputs = {mk(OpCode::Sub, {x, y}), x};
  g.output_names = {"d", "x"};
  expect_round_trip(g);
}

TEST(TextFormat, NamesWithEscapesRoundTrip) {
  std::string odd = "a \"quoted\"\\ name\n\twith\x01 bytes \x7f and UTF-8 \xc3\xa9";
  NodeRef x = var(odd, ty(DType::F32, {}));
  expect_round_trip(graph_of({mk(OpCode::Neg, {x})}, {odd + "!"}));
  EXPECT_NE(print_nodes({x}).find(R"("a \"quoted\"\\ name\n\twith\x01 bytes \x7f and UTF-8 )"), std::string::npos);
}

// ---- constants: every bit of every dtype ----

template <class T>
Array array_of(const std::vector<T>& v) {
  return Array::from_vector(v, {static_cast<std::int64_t>(v.size())});
}

Array from_bits16(DType d, const std::vector<std::uint16_t>& bits) {
  Array a = Array::empty({static_cast<std::int64_t>(bits.size())}, d);
  std::memcpy(a.raw_data(), bits.data(), bits.size() * 2);
  return a;
}

void expect_constant_round_trips(const Array& a) {
  NodeRef c = constant(a);
  std::string text = print_nodes({c});
  Graph g = parse_graph(text);
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.outputs[0].get(), c.get()) << "constant of " << dtype_name(a.dtype()) << " did not round-trip";
}

TEST(TextFormat, EveryHalfAndBfloat16BitPatternRoundTrips) {
  std::vector<std::uint16_t> all(65536);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint16_t>(i);
  expect_constant_round_trips(from_bits16(DType::F16, all));
  expect_constant_round_trips(from_bits16(DType::BF16, all));
}

TEST(TextFormat, FloatConstantsRoundTripBitExactly) {
  std::mt19937_64 rng(42);
  std::vector<double> d = {0.0, -0.0, 1.0, -1.5, 0.1, 1.0 / 3, 5e-324, 2.2250738585072014e-308,
                           std::numeric_limits<double>::max(), -std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
                           std::bit_cast<double>(std::uint64_t{0x7ff0000000000001}),   // signalling NaN
                           std::bit_cast<double>(std::uint64_t{0xfff8000000000000}),   // -nan
                           std::bit_cast<double>(std::uint64_t{0x7ff8dead00000000}), 1e21, 1e-7, 123456789012345678.0};
  std::vector<float> f = {0.f, -0.f, 0.1f, 1e-45f, 3.4028235e38f, 16777217.f, 1.f / 3,
                          std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                          std::bit_cast<float>(0x7f800001u), std::bit_cast<float>(0xffc00000u)};
  for (int i = 0; i < 20000; ++i) {
    d.push_back(std::bit_cast<double>(rng()));
    f.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(rng())));
  }
  expect_constant_round_trips(array_of(d));
  expect_constant_round_trips(array_of(f));
}

TEST(TextFormat, IntegerAndBoolConstantsRoundTrip) {
  expect_constant_round_trips(array_of(std::vector<std::int8_t>{-128, -1, 0, 127}));
  expect_constant_round_trips(array_of(std::vector<std::int16_t>{-32768, 5, 32767}));
  expect_constant_round_trips(array_of(std::vector<std::int32_t>{INT32_MIN, 0, INT32_MAX}));
  expect_constant_round_trips(array_of(std::vector<std::int64_t>{INT64_MIN, -7, INT64_MAX}));
  expect_constant_round_trips(array_of(std::vector<std::uint8_t>{0, 1, 255}));
  expect_constant_round_trips(Array::from({{true, false, true}, {false, false, true}}));
}

TEST(TextFormat, ConstantShapes) {
  EXPECT_NE(print_nodes({constant(Array::scalar(1, DType::F64))}).find("= constant 1 : f64[]\n"), std::string::npos);
  EXPECT_NE(print_nodes({constant(Array::scalar(0.1, DType::F32))}).find("= constant 0.1 : f32[]\n"),
            std::string::npos);
  EXPECT_NE(print_nodes({constant(Array::zeros({0, 3}, DType::I32))}).find("= constant [] : i32[0,3]\n"),
            std::string::npos);
  EXPECT_NE(print_nodes({constant(Array::ones({2, 0}, DType::Bool))}).find("= constant [[], []] : bool[2,0]\n"),
            std::string::npos);
  EXPECT_NE(print_nodes({constant(Array::ones({1, 1, 2}, DType::Bool))}).find("= constant [[[true, true]]]"),
            std::string::npos);
  for (const Shape& s : std::vector<Shape>{{}, {0}, {3, 0, 2}, {2, 3, 1, 2}, {1}})
    expect_constant_round_trips(Array::arange(0, static_cast<double>(shape_size(s)), 1, DType::F64).reshape(s));
  // A strided view prints its elements, not its buffer.
  Array m = Array::from({{1., 2., 3.}, {4., 5., 6.}});
  Graph g = parse_graph(print_nodes({mk(OpCode::Constant, {}, Attrs{{"value", m}})}));
  EXPECT_TRUE(g.outputs[0]->attrs().get_array("value").equals(m));
}

TEST(TextFormat, DoubleAttributesKeepEveryBit) {
  std::mt19937_64 rng(7);
  std::vector<double> values = {0.0, -0.0, 2.0, 0.1, 1e20, -1e-300, 5e-324, std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::quiet_NaN(),
                                std::bit_cast<double>(std::uint64_t{0xfff4000000000001})};
  for (int i = 0; i < 2000; ++i) values.push_back(std::bit_cast<double>(rng()));
  for (double v : values) {
    NodeRef f = fill({2}, v);
    std::string text = print_nodes({f});
    Graph g = parse_graph(text);
    EXPECT_EQ(g.outputs[0].get(), f.get()) << text;
  }
  std::string two = print_nodes({fill({}, 2.0)});
  EXPECT_NE(two.find("value=2.0 "), std::string::npos) << two;
  std::string big = print_nodes({fill({}, 1e20)});
  EXPECT_NE(big.find("value=1e+20 "), std::string::npos) << big;
}

TEST(TextFormat, GenericAttributeValuesRoundTrip) {
  // Attribute kinds no current op uses still print and parse (the printer and
  // parser are generic over AttrValue).
  NodeRef x = var("x", ty(DType::F32, {2}));
  NodeRef n = mk(OpCode::StopGradient, {x},
                 Attrs{{"arr", Array::from({{1, 2}, {3, 4}}).astype(DType::I16)}, {"flag", true},
                       {"note", std::string("hi")}, {"empty", std::vector<std::int64_t>{}}, {"t", DType::BF16}});
  std::string text = print_nodes({n});
  EXPECT_NE(text.find("arr=array(i16[2,2], [[1, 2], [3, 4]]) empty=[] flag=true note=\"hi\" t=bf16 :"),
            std::string::npos)
      << text;
  EXPECT_EQ(parse_graph(text).outputs[0].get(), n.get());
}

// ---- locations ----

TEST(TextFormat, SourceLocations) {
  NodeRef x = var("x", ty(DType::F64, {3}));
  NodeRef y = make_node(OpCode::Log1p, {x}, {}, SourceLoc("model.cpp", 12));
  std::string with = print_nodes({y}, TextOptions{.with_locations = true});
  EXPECT_NE(with.find("log1p(%0) : f64[3] loc=\"model.cpp\":12\n"), std::string::npos) << with;
  EXPECT_EQ(print_nodes({y}).find("loc="), std::string::npos);
  expect_round_trip(graph_of({y}), TextOptions{.with_locations = true});

  // A node the parser creates takes its loc= suffix, or else its line.
  Graph g = parse_graph(std::string(kHeader) +
                            "%0 = constant 918273.5 : f64[] loc=\"a \\\"b\\\".py\":42\n"
                            "%1 = constant 918274.5 : f64[]\n"
                            "output %0\noutput %1\n",
                        "g.kiln");
  EXPECT_STREQ(g.outputs[0]->loc().file, "a \"b\".py");
  EXPECT_EQ(g.outputs[0]->loc().line, 42u);
  EXPECT_STREQ(g.outputs[1]->loc().file, "g.kiln");
  EXPECT_EQ(g.outputs[1]->loc().line, 3u);
}

// ---- hand-written text ----

TEST(TextFormat, HandWrittenTextNormalises) {
  std::string text = R"(# a comment line

kiln.graph v1   # header comment
%x = input "x" id=9001 : f64[?,3]      # named refs, any order of numbers
%two=constant 2:f64[]
%y = mul( %x , %two ) : f64[?,3]
%s = sum(%y) keepdims=true axes=[1] : f64[?,1]
%sl = slice(%x) slices=[ : , 2:0:-1 ] : f64[?,2]
output "s" = %s
output %sl
)";
  Graph g = parse_graph(text);
  EXPECT_EQ(print_graph(g),
            "kiln.graph v1\n"
            "%0 = input \"x\" id=9001 : f64[?,3]\n"
            "%1 = constant 2 : f64[]\n"
            "%2 = mul(%0, %1) : f64[?,3]\n"
            "%3 = sum(%2) axes=[1] keepdims=true : f64[?,1]\n"
            "%4 = slice(%0) slices=[:, 2:0:-1] : f64[?,2]\n"
            "output \"s\" = %3\n"
            "output %4\n");
  // Ids written in the text are reserved: fresh ids come after them.
  EXPECT_GT(fresh_var_id(), 9001);
}

TEST(TextFormat, InputWithoutIdGetsAFreshOne) {
  Graph g = parse_graph(std::string(kHeader) +
                        "%0 = input \"q\" : f32[2]\n%1 = input \"q\" : f32[2]\noutput %0\noutput %1\n");
  ASSERT_EQ(g.inputs.size(), 2u);
  EXPECT_NE(g.inputs[0], g.inputs[1]);
  EXPECT_EQ(g.inputs[0]->var_name(), "q");
}

TEST(TextFormat, EmptyGraph) {
  Graph g = parse_graph("kiln.graph v1\n");
  EXPECT_TRUE(g.outputs.empty());
  EXPECT_EQ(print_graph(g), "kiln.graph v1\n");
  EXPECT_TRUE(parse_graph("kiln.graph v1").inputs.empty());  // no final newline
  EXPECT_TRUE(parse_graph("kiln.graph v1\r\n\r\n").outputs.empty());
}

// ---- errors ----

TEST(TextFormatErrors, SpecificMessages) {
  const std::string x = std::string(kHeader) + "%0 = input \"x\" id=1 : f64[?,3]\n";
  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      {x + "%1 = foo(%0) : f64[?,3]\n", "m.kiln:3:6: error: unknown op 'foo'"},
      {x + "%1 = neg(%7) : f64[?,3]\n", "m.kiln:3:10: error: use of undefined value %7"},
      {x + "%1 = neg(%0) : f64[?,3]\n%1 = exp(%0) : f64[?,3]\n",
       "m.kiln:4:1: error: redefinition of %1 (first defined on line 3)"},
      {x + "output %3\n", "m.kiln:3:8: error: use of undefined value %3"},
      {x + "%1 = neg(%0) : f65[?,3]\n", "m.kiln:3:16: error: unknown dtype 'f65'"},
      {x + "%1 = neg(%0) : f64[?,-3]\n", "m.kiln:3:22: error: expected a dim (a size, '?' or a name), got '-3'"},
      {x + "%1 = input \"y\" : f32[4611686018427387904,4]\n",
       "m.kiln:3:18: error: the type has more than 2^62 elements"},
      {x + "%1 = neg(%0) : f64\n",
       "m.kiln:3:19: error: expected '[' and the dims after the dtype (f32[] for a scalar), got end of line"},
      {x + "%1 = add(%0) : f64[?,3]\n", "m.kiln:3:6: error: add expects 2 inputs, got 1"},
      {x + "%1 = concatenate() axis=0 : f64[?,3]\n", "m.kiln:3:6: error: concatenate expects at least one input"},
      {x + "%1 = neg(%0) : f32[?,3]\n",
       "m.kiln:3:16: error: type mismatch: neg here has type f64[?,3], but the line says f32[?,3]"},
      {x + "%1 = sum(%0) axes=[5] keepdims=false : f64[?]\n",
       "m.kiln:3:6: error: sum: axis 5 is out of range for f64[?,3]"},
      {x + "%1 = sum(%0) axes=true keepdims=false : f64[?]\n",
       "m.kiln:3:6: error: sum: attribute 'axes' has the wrong kind"},
      {x + "%1 = sum(%0) axes=[0] : f64[3]\n", "m.kiln:3:6: error: sum: missing attribute 'keepdims'"},
      {x + "%1 = sum(%0) axes=zero keepdims=false : f64[3]\n",
       "m.kiln:3:19: error: unknown attribute value 'zero' (expected a number, true, false, a string, a list, a "
       "dtype or array(...))"},
      {x + "%1 = sum(%0) axes=[0, 1:2] keepdims=false : f64[3]\n",
       "m.kiln:3:23: error: a list holds either integers or slices, not both"},
      {x + "%1 = sum(%0) axes=[0] axes=[1] : f64[3]\n", "m.kiln:3:23: error: duplicate attribute 'axes'"},
      {x + "%1 = add(%0, %0) : f64[?,3] extra\n", "m.kiln:3:29: error: unexpected 'extra' after the type"},
      {x + "%1 = neg %0 : f64[?,3]\n", "m.kiln:3:10: error: expected '(' and the inputs of neg, got '%0'"},
      {x + "%1 = neg(%0)\n", "m.kiln:3:13: error: expected an attribute or ':' and the type, got end of line"},
      {x + "%1 = constant [1, 2, 3] : f32[2]\n", "m.kiln:3:21: error: too many elements: axis 0 of f32[2] has size 2"},
      {x + "%1 = constant [1] : f32[2]\n", "m.kiln:3:15: error: expected 2 elements along axis 0 of f32[2], got 1"},
      {x + "%1 = constant [300] : u8[1]\n", "m.kiln:3:16: error: 300 is out of range for u8"},
      {x + "%1 = constant [1.5] : i32[1]\n", "m.kiln:3:16: error: expected an integer for i32, got '1.5'"},
      {x + "%1 = constant [1, 2] : f32[?]\n",
       "m.kiln:3:24: error: a constant needs a type with static dims, got f32[?]"},
      {x + "%1 = constant 1 : f32[1]\n",
       "m.kiln:3:15: error: expected '[' (the type f32[1] needs 1 level of brackets), got '1'"},
      {x + "%1 = constant [1, 2 : f32[2]\n", "m.kiln:3:15: error: unterminated '[' in the constant"},
      {x + "%1 = constant 1e999 : f64[]\n", "m.kiln:3:15: error: number '1e999' is out of range for f64"},
      {x + "%1 = constant nan(0x1) : f64[]\n", "m.kiln:3:15: error: 'nan(0x1)' is not a NaN of 64 bits"},
      {x + "%1 = constant 1.2.3 : f64[]\n", "m.kiln:3:15: error: malformed number '1.2.'"},
      {x + "%1 = input id=2 : f64[]\n", "m.kiln:3:6: error: input needs a name: input \"x\" ... : f64[]"},
      {x + "%1 = input \"x\" id=-2 : f64[]\n", "m.kiln:3:6: error: input: id must be an integer from 1 to 2^62"},
      {x + "%1 = input \"x\" id=1 : f64[?,3]\n",
       "m.kiln:3:1: error: %1 repeats an earlier input (same name, id and type)"},
      {x + "%1 = input \"x\n", "m.kiln:3:12: error: unterminated string"},
      {x + "%1 = input \"\\q\" : f64[]\n",
       "m.kiln:3:13: error: unknown escape sequence in string (use \\\" \\\\ \\n \\t \\r or \\xHH)"},
      {x + "output \"y\" = %0\noutput \"y\" = %0\n", "m.kiln:4:8: error: duplicate output name \"y\""},
      {x + "oops\n", "m.kiln:3:1: error: expected a node ('%N = op ...') or an 'output' line, got 'oops'"},
      {x + "%1 = neg(%0) : f64[?,3] loc=\"f.cpp\":0\n", "m.kiln:3:37: error: line number out of range"},
      {x + "%1 = add(%0, %2) : f64[?,3]\n%2 = neg(%0) : f64[?,3]\n", "m.kiln:3:14: error: use of undefined value %2"},
      {"%0 = input \"x\" : f64[]\n", "m.kiln:1:1: error: expected the header 'kiln.graph v1', got '%0'"},
      {"kiln.graph v2\n", "m.kiln:1:12: error: unsupported text format version 'v2' (this kiln reads v1)"},
      {"", "m.kiln:1:1: error: expected the header 'kiln.graph v1', got end of file"},
  };
  for (const Case& c : cases) EXPECT_EQ(parse_error(c.text, "m.kiln"), c.message) << c.text;
}

TEST(TextFormatErrors, TypeRuleFailuresPointAtTheLine) {
  std::string text = std::string(kHeader) +
                     "%0 = input \"a\" id=1 : f64[2]\n"
                     "%1 = input \"b\" id=2 : f64[3]\n"
                     "# a comment between\n"
                     "%2 = add(%0, %1) : f64[3]\n";
  std::string m = parse_error(text, "");
  EXPECT_EQ(m.rfind("5:6: error: add: cannot broadcast f64[2], f64[3]", 0), 0u) << m;
  std::string r = parse_error(std::string(kHeader) + "%0 = reshape(%0) shape=[2] : f64[2]\n");
  EXPECT_EQ(r, "<text>:2:14: error: use of undefined value %0");
}

TEST(TextFormatErrors, DeepNestingIsBounded) {
  std::string deep(100000, '[');
  std::string m = parse_error(std::string(kHeader) + "%0 = constant " + deep + " : f64[]\n");
  EXPECT_NE(m.find("error:"), std::string::npos);
  std::string dims = "f64[";
  for (int i = 0; i < 100; ++i) dims += i ? ",1" : "1";
  m = parse_error(std::string(kHeader) + "%0 = input \"x\" : " + dims + "]\n");
  EXPECT_NE(m.find("rank exceeds the limit of 64"), std::string::npos) << m;
}

TEST(TextFormatErrors, MissingFile) {
  try {
    parse_graph_file("/nonexistent/dir/g.kiln");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("/nonexistent/dir/g.kiln: error: cannot open file", 0), 0u) << e.what();
  }
  EXPECT_THROW(parse_graph_file("/"), Error);
}

TEST(TextFormat, ParseGraphFile) {
  std::string path = (std::filesystem::temp_directory_path() / "kiln_text_format_test.kiln").string();
  {
    std::ofstream f(path);
    f << kHeader << "%0 = input \"x\" : f64[2]\n%1 = bogus(%0) : f64[2]\n";
  }
  try {
    parse_graph_file(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ":3:6: error: unknown op 'bogus'");
  }
  std::filesystem::remove(path);
}

// ---- robustness: never anything but kiln::Error ----

// A text using every feature of the grammar.
std::string rich_text() {
  NodeRef x = var("x \"q\"\n", ty(DType::F32, {Dim::unknown(), 3, Dim::unknown("batch")}));
  NodeRef w = var("w", ty(DType::F64, {3}), OpCode::Shared);
  NodeRef s = mk(OpCode::Slice, {x},
                 Attrs{{"slices", std::vector<std::int64_t>{1, 3, 1, kNone, kNone, -1, kNone, 2, 1}}});
  NodeRef c = constant(Array::from({{1.f, -2.5f}, {std::numeric_limits<float>::quiet_NaN(), 1e-30f}}));
  NodeRef h = constant(from_bits16(DType::F16, {0x3c00, 0x7e01, 0xfc00}));
  NodeRef bo = constant(Array::from({true, false}));
  NodeRef r = mk(OpCode::Sum, {mk(OpCode::Cast, {s}, Attrs{{"dtype", DType::F64}})},
                 Attrs{{"axes", std::vector<std::int64_t>{0, 2}}, {"keepdims", false}});
  NodeRef f = make_node(OpCode::Fill, {},
                        Attrs{{"shape", std::vector<std::int64_t>{3}}, {"value", 0.1}, {"dtype", DType::F64}},
                        SourceLoc("loc.cpp", 7));
  NodeRef out = mk(OpCode::Add, {mk(OpCode::Add, {r, w}), f});
  Graph g = graph_of({out, c, h, bo, mk(OpCode::Eye, {}, Attrs{{"n", std::int64_t{2}}, {"m", std::int64_t{2}},
                                                             {"k", std::int64_t{0}}, {"dtype", DType::I8}})},
                     {"out", "", "half", "b\\ool", ""});
  return "# leading comment\n" + print_graph(g, TextOptions{.with_locations = true}) + "  # trailing\n";
}

void parse_or_error(const std::string& text) {
  try {
    parse_graph(text);
  } catch (const Error&) {
  }
  // Any other exception escapes and fails the test.
}

TEST(TextFormatRobustness, EveryPrefixParsesOrFailsCleanly) {
  std::string text = rich_text();
  ASSERT_NO_THROW(parse_graph(text)) << text;
  for (std::size_t n = 0; n <= text.size(); ++n) parse_or_error(text.substr(0, n));
}

TEST(TextFormatRobustness, RandomGarbage) {
  std::mt19937 rng(12345);
  const std::string alphabet = "%=()[],:?\"\\#-+.e \n0123456789abcdefinputsconstaxv_xyf64[?]\t\r";
  for (int i = 0; i < 3000; ++i) {
    std::string s = i % 2 ? kHeader : "";
    std::size_t len = rng() % 200;
    for (std::size_t k = 0; k < len; ++k)
      s += i % 3 == 0 ? static_cast<char>(rng() & 0xff) : alphabet[rng() % alphabet.size()];
    parse_or_error(s);
  }
}

TEST(TextFormatRobustness, MutatedValidText) {
  const std::string base = rich_text();
  std::mt19937 rng(777);
  for (int i = 0; i < 10000; ++i) {
    std::string s = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      std::size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0: s[at] = static_cast<char>(rng() & 0xff); break;
        case 1: s.insert(at, 1, "%=()[],:\"\\#-.0123456789\n"[rng() % 24]); break;
        case 2: s.erase(at, 1 + rng() % 8); break;
        default: {  // duplicate a chunk, e.g. a line
          std::size_t len = 1 + rng() % 40;
          s.insert(at, s.substr(rng() % s.size(), len));
        }
      }
    }
    parse_or_error(s);
  }
}

}  // namespace
}  // namespace kiln::ir
