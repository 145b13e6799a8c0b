// kiln::Array: construction, views of caller memory, element access,
// reshaping, assignment and dtype conversion (NumPy's astype on defined
// inputs from tests/data/npy/astype_cases.txt; the undefined corners by the
// documented rules).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>

#include "kiln/array.hpp"
#include "runtime_test_util.hpp"

using kiln::Array;
using kiln::DType;
using kiln::Shape;
using kiln_test::expect_error;

namespace {

TEST(Array, EmptyZerosOnesFull) {
  const Array z = Array::zeros({2, 3}, kiln::f32);
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  EXPECT_EQ(z.size(), 6);
  EXPECT_EQ(z.ndim(), 2);
  EXPECT_EQ(z.dtype(), kiln::f32);
  EXPECT_TRUE(z.is_contiguous());
  EXPECT_EQ(z.to_doubles(), std::vector<double>(6, 0.0));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(z.raw_data()) % 64, 0u);
  EXPECT_EQ(Array::ones({4}, kiln::i16).to_int64s(), (std::vector<std::int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(Array::ones({2}, kiln::f16).to_doubles(), (std::vector<double>{1, 1}));
  EXPECT_EQ(Array::full({2, 2}, -2.75, kiln::f64).to_doubles(), (std::vector<double>{-2.75, -2.75, -2.75, -2.75}));
  EXPECT_EQ(Array::full({3}, 300.9, kiln::u8).to_int64s(), (std::vector<std::int64_t>{255, 255, 255}));
  EXPECT_EQ(Array::full({1}, 2.5, kiln::boolean).to_int64s(), (std::vector<std::int64_t>{1}));
  const Array s = Array::scalar(4.5, kiln::f64);
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.size(), 1);
  EXPECT_EQ(s.item(), 4.5);
  const Array e = Array::empty({0, 5}, kiln::i32);
  EXPECT_EQ(e.size(), 0);
  EXPECT_TRUE(e.to_doubles().empty());
  // big buffers are aligned for huge pages
  const Array big = Array::empty({1 << 19}, kiln::f64);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big.raw_data()) % (2u << 20), 0u);
  EXPECT_TRUE(Array().is_null());
  EXPECT_FALSE(z.is_null());
}

TEST(Array, ConstructionErrors) {
  expect_error([] { Array::empty({2, -1}, kiln::f32); }, {"negative dimension", "[2, -1]"});
  expect_error([] { Array::empty({std::int64_t{1} << 40, std::int64_t{1} << 40}, kiln::f32); }, {"too many"});
  expect_error([] { Array::zeros({2}, kiln::f32, kiln::Device::cuda(0)); }, {"Array::zeros", "cuda:0", "CUDA"});
  expect_error([] { Array::from({{1.0, 2.0}, {3.0}}); }, {"ragged"});
  expect_error([] { Array::from_doubles({1, 2, 3}, {2, 2}, kiln::f64); }, {"3 values", "[2, 2]"});
  expect_error([] { Array::from_vector(std::vector<float>{1, 2}, {3}); }, {"2 values"});
}

TEST(Array, FromInitializerLists) {
  const Array a = Array::from({{1.0, 2.0}, {3.0, 4.0}});
  EXPECT_EQ(a.dtype(), kiln::f64);
  EXPECT_EQ(a.shape(), (Shape{2, 2}));
  EXPECT_EQ(a.at<double>({1, 0}), 3.0);
  EXPECT_EQ(Array::from({1, 2, 3}).dtype(), kiln::i32);
  EXPECT_EQ(Array::from({1.0f}).dtype(), kiln::f32);
  EXPECT_EQ(Array::from({true, false}).dtype(), kiln::boolean);
  EXPECT_EQ(Array::from({1.5, 2.5}, kiln::i64).to_int64s(), (std::vector<std::int64_t>{1, 2}));
  const Array c = Array::from({{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}});
  EXPECT_EQ(c.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(c.at<std::int32_t>({1, 0, 1}), 6);
  EXPECT_EQ(Array::from_vector(std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}, {3, 2}).get({2, 1}), 6.0);
}

TEST(Array, Arange) {
  EXPECT_EQ(Array::arange(0, 5, 1, kiln::i64).to_int64s(), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Array::arange(0, 1, 0.3, kiln::f64).size(), 4);  // ceil(1 / 0.3)
  EXPECT_EQ(Array::arange(5, 0, -2, kiln::i32).to_int64s(), (std::vector<std::int64_t>{5, 3, 1}));
  EXPECT_EQ(Array::arange(0, 0, 1, kiln::f64).size(), 0);
  EXPECT_EQ(Array::arange(3, 0, 1, kiln::f64).size(), 0);
  EXPECT_EQ(Array::arange(0, 5, 1.5, kiln::f32).to_doubles(), (std::vector<double>{0, 1.5, 3, 4.5}));
  // NumPy's values: start, start + step, then start + i * ((start + step) - start)
  const auto v = Array::arange(1, 2, 0.1, kiln::f64).to_doubles();
  ASSERT_EQ(v.size(), 10u);
  const double delta = (1 + 0.1) - 1;
  EXPECT_EQ(v[1], 1 + 0.1);
  EXPECT_EQ(v[7], 1 + 7 * delta);
  expect_error([] { Array::arange(0, 1, 0, kiln::f64); }, {"step"});
  expect_error([] { Array::arange(0, INFINITY, 1, kiln::f64); }, {"finite"});
}

TEST(Array, ViewOfCallerMemory) {
  double mem[6] = {0, 1, 2, 3, 4, 5};
  const Array v = Array::view(mem, {2, 3}, kiln::f64);
  EXPECT_EQ(v.raw_data(), static_cast<void*>(mem));
  EXPECT_EQ(v.buffer()->deleter, nullptr);  // not owned
  v.at<double>({1, 2}) = 50;
  EXPECT_EQ(mem[5], 50);  // writes through the view reach the memory
  mem[0] = -7;
  EXPECT_EQ(v.get({0, 0}), -7);  // and writes to the memory show in the view
  v.set({0, 1}, 9.5);
  EXPECT_EQ(mem[1], 9.5);
  // a strided view: every other element
  const Array evens = Array::view(mem, {3}, kiln::f64, {2});
  EXPECT_EQ(evens.to_doubles(), (std::vector<double>{-7, 2, 4}));
  EXPECT_FALSE(evens.is_contiguous());
  // negative strides: mem[5], mem[4], ... starting from the last element
  const Array rev = Array::view(&mem[5], {6}, kiln::f64, {-1});
  EXPECT_EQ(rev.to_doubles(), (std::vector<double>{50, 4, 3, 2, 9.5, -7}));
  rev.set({5}, 100);
  EXPECT_EQ(mem[0], 100);
  // a copy is independent
  const Array c = v.copy();
  mem[3] = 1234;
  EXPECT_EQ(c.get({1, 0}), 3);
  EXPECT_NE(c.buffer()->deleter, nullptr);
  // a view with the owner alive after the views are gone: nothing is freed
  { Array tmp = Array::view(mem, {6}, kiln::f64); }
  EXPECT_EQ(mem[2], 2);
  expect_error([] { Array::view(nullptr, {2}, kiln::f32); }, {"null data"});
  expect_error([&] { Array::view(mem, {2, 3}, kiln::f64, {1}); }, {"strides"});
}

TEST(Array, ViewOverBuffer) {
  const Array base = Array::arange(0, 12, 1, kiln::f64);
  // transpose of a 3x4 matrix
  const Array t = Array::view(base.buffer(), {4, 3}, kiln::f64, {1, 4}, 0);
  EXPECT_EQ(t.get({2, 1}), 6);
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.contiguous().to_doubles(), (std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  EXPECT_TRUE(t.contiguous().is_contiguous());
  // rows reversed, columns reversed
  const Array r = Array::view(base.buffer(), {3, 4}, kiln::f64, {-4, -1}, 11);
  EXPECT_EQ(r.to_doubles(), (std::vector<double>{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(r.get({0, 0}), 11);
  // broadcasting by a zero stride
  const Array b = Array::view(base.buffer(), {2, 3}, kiln::f64, {0, 1}, 1);
  EXPECT_EQ(b.to_doubles(), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  // writes through a view land in the buffer
  r.set({2, 3}, -1);
  EXPECT_EQ(base.get({0}), -1);
  expect_error([&] { Array::view(base.buffer(), {3, 4}, kiln::f64, {4, 1}, 1); }, {"outside the buffer"});
  expect_error([&] { Array::view(base.buffer(), {3}, kiln::f64, {-1}, 1); }, {"outside the buffer"});
  expect_error([&] { Array::view(base.buffer(), {2}, kiln::f64, {1}, -1); }, {"negative offset"});
  expect_error([] { Array::view(std::shared_ptr<kiln::Buffer>(), {2}, kiln::f64, {1}, 0); }, {"null buffer"});
}

TEST(Array, DimAndIndexing) {
  const Array a = Array::zeros({2, 3, 4}, kiln::i32);
  EXPECT_EQ(a.dim(0), 2);
  EXPECT_EQ(a.dim(-1), 4);
  EXPECT_EQ(a.dim(-3), 2);
  expect_error([&] { a.dim(3); }, {"axis 3", "[2, 3, 4]"});
  expect_error([&] { a.dim(-4); }, {"axis -4"});
  a.at<std::int32_t>({1, 2, 3}) = 17;
  EXPECT_EQ(a.get({1, 2, 3}), 17);
  expect_error([&] { a.at<std::int32_t>({1, 3, 0}); }, {"[1, 3, 0]", "[2, 3, 4]"});
  expect_error([&] { a.at<std::int32_t>({-1, 0, 0}); }, {"[-1, 0, 0]", "[2, 3, 4]"});
  expect_error([&] { a.get({0, 0}); }, {"[0, 0]", "3 dimensions"});
  expect_error([&] { a.data<float>(); }, {"Array::data<float>: array has dtype i32"});
  expect_error([&] { a.at<double>({0, 0, 0}); }, {"array has dtype i32"});
  expect_error([] { Array::zeros({2}, kiln::f64).data<float>(); }, {"Array::data<float>: array has dtype f64"});
  expect_error([&] { a.item(); }, {"24 elements"});
  EXPECT_EQ(Array::zeros({1, 1}, kiln::f32).item(), 0.0);
  EXPECT_EQ(Array::scalar(7, kiln::i8).item_as<int>(), 7);
  expect_error([] { Array().raw_data(); }, {"null"});
  expect_error([] { Array().item(); }, {"null"});
}

TEST(Array, Int64ValuesStayExact) {
  const std::int64_t big = (std::int64_t{1} << 62) + 1;
  const Array a = Array::from_vector(std::vector<std::int64_t>{big, INT64_MIN, INT64_MAX}, {3});
  EXPECT_EQ(a.to_int64s(), (std::vector<std::int64_t>{big, INT64_MIN, INT64_MAX}));
  EXPECT_EQ(a.astype(kiln::i64).to_int64s()[0], big);
  EXPECT_EQ(a.copy().to_int64s()[2], INT64_MAX);
}

TEST(Array, CopyContiguousTo) {
  const Array a = Array::arange(0, 6, 1, kiln::f32).reshape({2, 3});
  EXPECT_EQ(a.contiguous().buffer(), a.buffer());  // already contiguous: same storage
  const Array c = a.copy();
  EXPECT_NE(c.buffer(), a.buffer());
  EXPECT_TRUE(c.equals(a));
  c.set({0, 0}, 99);
  EXPECT_EQ(a.get({0, 0}), 0);
  EXPECT_EQ(a.to(kiln::Device::cpu()).buffer(), a.buffer());
  expect_error([&] { a.to(kiln::Device::cuda(1)); }, {"Array::to", "cuda:1", "CUDA"});
  EXPECT_EQ(kiln::Device::cpu().str(), "cpu");
  EXPECT_EQ(kiln::Device::cuda(2).str(), "cuda:2");
  // an array on a device the host cannot read
  float mem[2] = {1, 2};
  const Array dev = Array::view(mem, {2}, kiln::f32, {}, kiln::Device::cuda(0));
  EXPECT_EQ(dev.device(), kiln::Device::cuda(0));
  expect_error([&] { dev.raw_data(); }, {"cuda:0"});
  expect_error([&] { dev.to(kiln::Device::cpu()); }, {"Array::to", "CUDA"});
}

TEST(Array, Reshape) {
  const Array a = Array::arange(0, 12, 1, kiln::i64);
  const Array r = a.reshape({3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 4}));
  EXPECT_EQ(r.buffer(), a.buffer());  // a view
  r.set({2, 3}, -5);
  EXPECT_EQ(a.get({11}), -5);
  EXPECT_EQ(a.reshape({2, 2, 3}).get({1, 0, 2}), 8);
  EXPECT_EQ(Array::scalar(3, kiln::f64).reshape({1, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(a.reshape({12, 1, 1}).shape(), (Shape{12, 1, 1}));
  EXPECT_EQ(Array::zeros({1, 1}, kiln::f32).reshape({}).ndim(), 0);
  expect_error([&] { a.reshape({}); }, {"[12]", "[]"});
  // a non-contiguous array is copied
  const Array t = Array::view(a.buffer(), {4, 3}, kiln::i64, {1, 4}, 0);
  const Array tr = t.reshape({12});
  EXPECT_NE(tr.buffer(), a.buffer());
  EXPECT_EQ(tr.to_int64s()[1], 4);
  expect_error([&] { a.reshape({5, 3}); }, {"[12]", "[5, 3]"});
  expect_error([&] { a.reshape({-1, -1}); }, {"more than one -1"});
  expect_error([&] { a.reshape({5, -1}); }, {"[5, -1]"});
  expect_error([&] { a.reshape({-2, 6}); }, {"negative"});
  expect_error([] { Array::zeros({0}, kiln::f32).reshape({0, -1}); }, {"cannot reshape"});
}

TEST(Array, Assign) {
  const Array a = Array::zeros({2, 3}, kiln::f32);
  a.assign(Array::arange(0, 6, 1, kiln::i64).reshape({2, 3}));  // converting
  EXPECT_EQ(a.to_doubles(), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  // into a strided view
  const Array col = Array::view(a.buffer(), {2}, kiln::f32, {3}, 1);
  col.assign(Array::from({10.0, 20.0}));
  EXPECT_EQ(a.to_doubles(), (std::vector<double>{0, 10, 2, 3, 20, 5}));
  // overlapping source and destination (reverse in place)
  const Array v = Array::arange(0, 5, 1, kiln::f64);
  v.assign(Array::view(v.buffer(), {5}, kiln::f64, {-1}, 4));
  EXPECT_EQ(v.to_doubles(), (std::vector<double>{4, 3, 2, 1, 0}));
  expect_error([&] { a.assign(Array::zeros({3, 2}, kiln::f32)); }, {"[3, 2]", "[2, 3]"});
  expect_error([&] { a.assign(Array::zeros({6}, kiln::f32)); }, {"[6]", "[2, 3]"});
  expect_error([&] { a.assign(Array::zeros({1, 3}, kiln::f32)); }, {"does not match"});
}

TEST(Array, Equals) {
  const Array a = Array::from_doubles({1, NAN, -0.0}, {3}, kiln::f64);
  EXPECT_TRUE(a.equals(Array::from_doubles({1, NAN, 0.0}, {3}, kiln::f64)));  // NaN == NaN, -0 == 0
  EXPECT_FALSE(a.equals(Array::from_doubles({1, 2, 0.0}, {3}, kiln::f64)));
  EXPECT_FALSE(a.equals(a.astype(kiln::f32)));  // dtype differs
  EXPECT_FALSE(a.equals(a.reshape({3, 1})));    // shape differs
  EXPECT_TRUE(Array().equals(Array()));
  EXPECT_FALSE(a.equals(Array()));
  const Array base = Array::arange(0, 4, 1, kiln::i8);
  EXPECT_TRUE(Array::view(base.buffer(), {4}, kiln::i8, {-1}, 3).equals(Array::from({3, 2, 1, 0}, kiln::i8)));
}

TEST(Array, ShapeHelpers) {
  EXPECT_EQ(kiln::shape_str({2, 3}), "[2, 3]");
  EXPECT_EQ(kiln::shape_str({}), "[]");
  EXPECT_EQ(kiln::contiguous_strides({2, 3, 4}), (Shape{12, 4, 1}));
  EXPECT_EQ(kiln::contiguous_strides({}), Shape{});
  EXPECT_EQ(kiln::shape_size({2, 3, 4}), 24);
  EXPECT_EQ(kiln::shape_size({}), 1);
  EXPECT_EQ(kiln::shape_size({5, 0}), 0);
}

// ---------------------------------------------------------------------------
// astype

TEST(Astype, MatchesNumPyTable) {
  std::ifstream in(kiln_test::data_path("npy/astype_cases.txt"));
  ASSERT_TRUE(in.good());
  int rows = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto bar1 = line.find(" | "), bar2 = line.rfind(" | ");
    const auto head = kiln_test::split_ws(line.substr(0, bar1));
    const auto src_v = kiln_test::split_ws(line.substr(bar1 + 3, bar2 - bar1 - 3));
    const auto dst_v = kiln_test::split_ws(line.substr(bar2 + 3));
    const DType src = *kiln::dtype_from_name(head.at(0)), dst = *kiln::dtype_from_name(head.at(1));
    SCOPED_TRACE(head[0] + " -> " + head[1]);
    ASSERT_EQ(src_v.size(), dst_v.size());
    const Shape shape{static_cast<std::int64_t>(src_v.size())};
    const Array a = kiln_test::array_from_text(src, shape, src_v);
    const Array got = a.astype(dst);
    EXPECT_EQ(got.dtype(), dst);
    const Array want = kiln_test::array_from_text(dst, shape, dst_v);
    if (kiln::is_float(dst)) {
      const auto g = got.to_doubles(), w = want.to_doubles();
      for (std::size_t i = 0; i < g.size(); ++i)
        EXPECT_TRUE(kiln_test::same_double(g[i], w[i])) << src_v[i] << " -> " << g[i] << ", NumPy " << dst_v[i];
    } else {
      EXPECT_EQ(got.to_int64s(), want.to_int64s());
    }
    ++rows;
  }
  EXPECT_EQ(rows, 81);
}

TEST(Astype, RulesWhereNumPyIsUndefined) {
  const Array f = Array::from_doubles({NAN, INFINITY, -INFINITY, 1e30, -1e30, 2.9, -2.9, -0.5}, {8}, kiln::f64);
  EXPECT_EQ(f.astype(kiln::i32).to_int64s(), (std::vector<std::int64_t>{0, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, 2, -2, 0}));
  EXPECT_EQ(f.astype(kiln::i8).to_int64s(), (std::vector<std::int64_t>{0, 127, -128, 127, -128, 2, -2, 0}));
  EXPECT_EQ(f.astype(kiln::u8).to_int64s(), (std::vector<std::int64_t>{0, 255, 0, 255, 0, 2, 0, 0}));
  EXPECT_EQ(f.astype(kiln::i64).to_int64s(), (std::vector<std::int64_t>{0, INT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN, 2, -2, 0}));
  EXPECT_EQ(Array::from({9.3e18, -9.3e18, 9.2e18}).astype(kiln::i64).to_int64s(),
            (std::vector<std::int64_t>{INT64_MAX, INT64_MIN, 9200000000000000000}));
  EXPECT_EQ(f.astype(kiln::boolean).to_int64s(), (std::vector<std::int64_t>{1, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(Array::from({0.0, -0.0}).astype(kiln::boolean).to_int64s(), (std::vector<std::int64_t>{0, 0}));
  // to_int64s follows the same rules
  EXPECT_EQ(f.to_int64s()[0], 0);
  EXPECT_EQ(f.to_int64s()[2], INT64_MIN);
  // int → int wraps, as NumPy's astype does
  EXPECT_EQ(Array::from({300, -129, 65535}).astype(kiln::i8).to_int64s(), (std::vector<std::int64_t>{44, 127, -1}));
  EXPECT_EQ(Array::from({-1, 256}).astype(kiln::u8).to_int64s(), (std::vector<std::int64_t>{255, 0}));
  // bool ↔ numbers
  EXPECT_EQ(Array::from({true, false}).astype(kiln::f16).to_doubles(), (std::vector<double>{1, 0}));
  EXPECT_EQ(Array::from({true, false}).astype(kiln::bf16).to_doubles(), (std::vector<double>{1, 0}));
  EXPECT_EQ(Array::from({-3, 0, 2}).astype(kiln::boolean).to_int64s(), (std::vector<std::int64_t>{1, 0, 1}));
  // f64 → bf16 and i64 → bf16 round once, to nearest even
  EXPECT_EQ(Array::from({1.0 + std::ldexp(1.0, -8)}).astype(kiln::bf16).item(), 1.0);  // tie to even
  EXPECT_EQ(Array::from({1.0 + 3 * std::ldexp(1.0, -8)}).astype(kiln::bf16).item(), 1.0 + std::ldexp(1.0, -6));
  const std::int64_t tie_plus = (std::int64_t{1} << 60) + (std::int64_t{1} << 52) + 1;  // above a bf16 tie
  EXPECT_EQ(Array::from_vector(std::vector<std::int64_t>{tie_plus}, {1}).astype(kiln::bf16).item(),
            std::ldexp(1.0, 60) + std::ldexp(1.0, 53));
  EXPECT_EQ(Array::from({70000}).astype(kiln::f16).item(), INFINITY);
  EXPECT_EQ(Array::from({65519}).astype(kiln::f16).item(), 65504);
  // bf16 → everything through its float value
  EXPECT_EQ(Array::from({-2.5}, kiln::bf16).astype(kiln::i32).item(), -2);
  EXPECT_EQ(Array::from({1e10}, kiln::bf16).astype(kiln::f64).item(), static_cast<double>(static_cast<float>(kiln::bfloat16(1e10f))));
  // a non-contiguous source
  const Array base = Array::arange(0, 6, 1, kiln::f64);
  EXPECT_EQ(Array::view(base.buffer(), {3}, kiln::f64, {-2}, 5).astype(kiln::i16).to_int64s(),
            (std::vector<std::int64_t>{5, 3, 1}));
}

TEST(Astype, SetAndFullConvert) {
  const Array a = Array::zeros({3}, kiln::i16);
  a.set({0}, 1e9);
  a.set({1}, NAN);
  a.set({2}, -7.9);
  EXPECT_EQ(a.to_int64s(), (std::vector<std::int64_t>{32767, 0, -7}));
  const Array h = Array::zeros({1}, kiln::f16);
  h.set({0}, 0.1);
  EXPECT_EQ(h.data<kiln::half>()[0].bits, 0x2e66);  // np.float16(0.1)
}

}  // namespace
