// Printing: every case in tests/data/print/cases.txt is NumPy's own str()
// (or array2string with a separator) of the same array and options.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "kiln/array.hpp"
#include "runtime_test_util.hpp"

using kiln::Array;
using kiln::PrintOptions;

namespace {

struct PrintCase {
  std::string name;
  Array array;
  PrintOptions opts;
  std::string expected;
};

std::string after(const std::string& line, const std::string& key) {
  EXPECT_EQ(line.rfind(key + " ", 0) == 0 || line == key, true) << "expected '" << key << "', got: " << line;
  return line.size() > key.size() ? line.substr(key.size() + 1) : "";
}

std::vector<PrintCase> load_cases() {
  std::ifstream in(kiln_test::data_path("print/cases.txt"));
  EXPECT_TRUE(in.good()) << "cannot read print/cases.txt";
  std::vector<PrintCase> out;
  std::string line;
  auto next = [&] {
    std::getline(in, line);
    return line;
  };
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    PrintCase c;
    c.name = after(line, "case");
    const auto dtype = kiln::dtype_from_name(after(next(), "dtype"));
    kiln::Shape shape;
    for (const auto& d : kiln_test::split_ws(after(next(), "shape"))) shape.push_back(std::stoll(d));
    c.opts.precision = std::stoi(after(next(), "precision"));
    const std::string sep = after(next(), "separator");
    c.opts.separator = sep.substr(1, sep.size() - 2);  // strip the quotes
    c.opts.threshold = std::stoll(after(next(), "threshold"));
    c.opts.edge_items = std::stoi(after(next(), "edge_items"));
    const auto values = kiln_test::split_ws(after(next(), "values"));
    const int n = std::stoi(after(next(), "expect"));
    for (int i = 0; i < n; ++i) c.expected += (i ? "\n" : "") + next();
    c.array = kiln_test::array_from_text(*dtype, shape, values);
    out.push_back(std::move(c));
  }
  return out;
}

TEST(Print, MatchesNumPy) {
  const auto cases = load_cases();
  ASSERT_GT(cases.size(), 400u);
  int failures = 0;
  for (const auto& c : cases) {
    const std::string got = c.array.to_string(c.opts);
    if (got != c.expected && ++failures <= 20)
      ADD_FAILURE() << "case " << c.name << "\n got:\n" << got << "\n NumPy:\n" << c.expected;
  }
  EXPECT_EQ(failures, 0);
}

TEST(Print, KilnOnlyOptions) {
  const Array logistic =
      Array::from({{0.5, 0.7310585786300049}, {0.2689414213699951, 0.11920292202211755}});
  PrintOptions repr;
  repr.separator = ", ";
  repr.one_line = true;
  repr.align = false;
  EXPECT_EQ(logistic.to_string(repr), "[[0.5, 0.73105858], [0.26894142, 0.11920292]]");
  PrintOptions unaligned;
  unaligned.align = false;
  EXPECT_EQ(Array::from({5, 12, 21, 32}).to_string(unaligned), "[5 12 21 32]");
  EXPECT_EQ(Array::from({1.0, 2.5}).to_string(unaligned), "[1. 2.5]");
  EXPECT_EQ(Array::from({true, false}).to_string(unaligned), "[True False]");
  EXPECT_EQ(Array::from_doubles({NAN, 1.5, -INFINITY}, {3}, kiln::f64).to_string(unaligned), "[nan 1.5 -inf]");
  PrintOptions one_line;
  one_line.one_line = true;
  EXPECT_EQ(Array::from({{1, 2}, {3, 4}}).to_string(one_line), "[[1 2] [3 4]]");
  EXPECT_EQ(Array::arange(0, 8, 1, kiln::i32).reshape({2, 2, 2}).to_string(one_line), "[[[0 1] [2 3]] [[4 5] [6 7]]]");
  EXPECT_EQ(Array::arange(0, 40, 1, kiln::f64).to_string(one_line).find('\n'), std::string::npos);
  one_line.threshold = 5;
  one_line.edge_items = 1;
  EXPECT_EQ(Array::arange(0, 9, 1, kiln::i64).reshape({3, 3}).to_string(one_line), "[[0 ... 2] ... [6 ... 8]]");
}

// bfloat16 has no NumPy printer; it follows the f16 rules with bf16's own
// shortest digits (hand-checked: bf16(0.1) = 0.10009765625, whose bf16
// neighbours are 0.0996... and 0.1005..., so "0.1" identifies it).
TEST(Print, Bfloat16) {
  EXPECT_EQ(Array::from({0.1, 1.5, 3.0}, kiln::bf16).to_string(), "[0.1 1.5 3. ]");
  EXPECT_EQ(Array::from({99.5, 0.5}, kiln::bf16).to_string(), "[99.5  0.5]");
  EXPECT_EQ(Array::from({256.0, 0.5}, kiln::bf16).to_string(), "[2.56e+02 5.00e-01]");  // >= 1e2: scientific
  EXPECT_EQ(Array::from({3.14159}, kiln::bf16).to_string(), "[3.14]");
  EXPECT_EQ(Array::scalar(1.0, kiln::bf16).to_string(), "1.0");
  EXPECT_EQ(Array::scalar(99.5, kiln::bf16).to_string(), "99.5");
  EXPECT_EQ(Array::scalar(1000.0, kiln::bf16).to_string(), "1e+03");
  EXPECT_EQ(Array::from({1e-5, 1.0}, kiln::bf16).to_string(), "[1.e-05 1.e+00]");
}

TEST(Print, StreamAndNull) {
  std::ostringstream os;
  os << Array::from({1, 2});
  EXPECT_EQ(os.str(), "[1 2]");
  EXPECT_EQ(Array().to_string(), "Array(null)");
  // a strided view prints its own elements
  const Array base = Array::arange(0, 6, 1, kiln::i32);
  EXPECT_EQ(Array::view(base.buffer(), {3}, kiln::i32, {-2}, 5).to_string(), "[5 3 1]");
}

}  // namespace
