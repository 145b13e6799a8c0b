// .npy loading and saving against files written by NumPy
// (tests/data/npy/*.npy and manifest.txt, from gen_runtime_data.py).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "kiln/array.hpp"
#include "runtime_test_util.hpp"

using kiln::Array;
using kiln::DType;
using kiln::Shape;
using kiln_test::data_path;
using kiln_test::expect_error;
using kiln_test::read_bytes;
using kiln_test::TempDir;
using kiln_test::write_bytes;

namespace {

struct Fixture {
  std::string file;
  DType dtype;
  Shape shape;
  std::vector<std::string> values;
};

std::vector<Fixture> manifest() {
  std::ifstream in(data_path("npy/manifest.txt"));
  EXPECT_TRUE(in.good()) << "cannot read manifest.txt";
  std::vector<Fixture> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto w = kiln_test::split_ws(line);
    Fixture f;
    f.file = w.at(0);
    f.dtype = *kiln::dtype_from_name(w.at(1));
    if (w.at(2) != "-") {
      std::stringstream dims(w.at(2));
      for (std::string d; std::getline(dims, d, ',');) f.shape.push_back(std::stoll(d));
    }
    f.values.assign(w.begin() + 3, w.end());
    out.push_back(f);
  }
  return out;
}

void expect_values(const Array& a, const Fixture& f) {
  ASSERT_EQ(a.dtype(), f.dtype) << f.file;
  ASSERT_EQ(a.shape(), f.shape) << f.file;
  ASSERT_EQ(static_cast<std::size_t>(a.size()), f.values.size()) << f.file;
  if (kiln::is_float(f.dtype)) {
    const auto got = a.to_doubles();
    for (std::size_t i = 0; i < got.size(); ++i)
      EXPECT_TRUE(kiln_test::same_double(got[i], kiln_test::parse_double(f.values[i])))
          << f.file << " element " << i << ": " << got[i] << " vs " << f.values[i];
  } else {
    const auto got = a.to_int64s();
    for (std::size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(got[i], std::stoll(f.values[i])) << f.file << " element " << i;
  }
}

TEST(Npy, LoadsEveryNumPyFixture) {
  const auto fixtures = manifest();
  ASSERT_GE(fixtures.size(), 25u);
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.file);
    const Array a = Array::load(data_path("npy/" + f.file));
    EXPECT_TRUE(a.is_contiguous());
    expect_values(a, f);
  }
}

TEST(Npy, FortranOrderAndBigEndianSpotChecks) {
  // np.asfortranarray(np.arange(12.).reshape(3, 4) * 0.5): element [i, j] is (4i + j) / 2
  const Array f = Array::load(data_path("npy/fortran_f8.npy"));
  ASSERT_EQ(f.shape(), (Shape{3, 4}));
  EXPECT_EQ(f.at<double>({1, 2}), 3.0);
  EXPECT_EQ(f.at<double>({2, 3}), 5.5);
  const Array g = Array::load(data_path("npy/fortran_i4_3d.npy"));
  EXPECT_EQ(g.at<std::int32_t>({1, 2, 3}), 23);
  EXPECT_EQ(g.at<std::int32_t>({0, 1, 2}), 6);
  const Array b = Array::load(data_path("npy/be_i4.npy"));
  EXPECT_EQ(b.at<std::int32_t>({1}), 2147483647);
  EXPECT_EQ(Array::load(data_path("npy/be_f8.npy")).at<double>({2}), 1e300);
  EXPECT_EQ(Array::load(data_path("npy/v2_f8.npy")).at<double>({1, 1}), 4.5);
  EXPECT_EQ(Array::load(data_path("npy/scalar_f8.npy")).item(), 3.5);
  EXPECT_EQ(Array::load(data_path("npy/scalar_f8.npy")).ndim(), 0);
}

// kiln writes the same bytes NumPy's np.save does (format 1.0, C order).
TEST(Npy, SavedBytesEqualNumPys) {
  TempDir tmp;
  for (const char* name : {"f8.npy", "f4.npy", "f2.npy", "i8.npy", "i4.npy", "i2.npy", "i1.npy", "u1.npy", "b1.npy",
                           "i4_1d.npy", "f8_3d.npy", "scalar_f8.npy", "scalar_i4.npy", "empty_f4.npy",
                           "empty_i8.npy"}) {
    SCOPED_TRACE(name);
    const std::string want = read_bytes(data_path(std::string("npy/") + name));
    const std::string out = tmp.file(name);
    Array::load(data_path(std::string("npy/") + name)).save(out);
    EXPECT_EQ(read_bytes(out), want);
  }
  // big-endian, Fortran-order and version 2.0 files come back as NumPy's
  // default layout
  Array::load(data_path("npy/v2_f8.npy")).save(tmp.file("v2.npy"));
  const std::string v2 = read_bytes(tmp.file("v2.npy"));
  EXPECT_EQ(v2[6], '\x01');
  EXPECT_EQ(v2.size() % 64, 32u);  // 128-byte header + 4 doubles
}

TEST(Npy, NonContiguousArraysSaveInCOrder) {
  TempDir tmp;
  const Array a = Array::load(data_path("npy/f8.npy"));  // shape [2, 3]
  const Array t = Array::view(a.buffer(), {3, 2}, kiln::f64, {1, 3}, a.offset());  // the transpose
  ASSERT_FALSE(t.is_contiguous());
  t.save(tmp.file("t.npy"));
  EXPECT_EQ(read_bytes(tmp.file("t.npy")), read_bytes(data_path("npy/f8_t.npy")));
}

TEST(Npy, RoundTripsEveryDtype) {
  TempDir tmp;
  for (DType t : {kiln::f64, kiln::f32, kiln::f16, kiln::i64, kiln::i32, kiln::i16, kiln::i8, kiln::u8,
                  kiln::boolean}) {
    SCOPED_TRACE(std::string(kiln::dtype_name(t)));
    const Array a = Array::randint({3, 4, 5}, 0, 2, kiln::i64, 7).astype(t);
    const Array b = Array::arange(-30, 30, 1, kiln::f64).reshape({3, 4, 5}).astype(t);
    for (const Array& x : {a, b}) {
      const std::string path = tmp.file("x.npy");
      x.save(path);
      EXPECT_TRUE(Array::load(path).equals(x));
    }
  }
  // a reversed (negative-stride) view
  const Array base = Array::arange(0, 10, 1, kiln::f32);
  const Array rev = Array::view(base.buffer(), {10}, kiln::f32, {-1}, 9);
  rev.save(tmp.file("rev.npy"));
  const Array back = Array::load(tmp.file("rev.npy"));
  EXPECT_EQ(back.to_doubles(), (std::vector<double>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
  // special values survive
  const Array s = Array::from_doubles({NAN, INFINITY, -INFINITY, -0.0, 5e-324}, {5}, kiln::f64);
  s.save(tmp.file("s.npy"));
  EXPECT_TRUE(Array::load(tmp.file("s.npy")).equals(s));
}

TEST(Npy, SavingBfloat16IsAnError) {
  TempDir tmp;
  const std::string path = tmp.file("b.npy");
  expect_error([&] { Array::zeros({2}, kiln::bf16).save(path); }, {path, "bfloat16", "astype"});
  expect_error([&] { Array().save(path); }, {path, "null"});
  expect_error([&] { Array::zeros({2}, kiln::f32).save(tmp.file("no/such/dir/x.npy")); },
               {"no/such/dir/x.npy", "cannot open"});
}

// ---------------------------------------------------------------------------
// Damaged files

std::string npy_bytes(const std::string& header, const std::string& data = "", int major = 1) {
  std::string h = header;
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  while ((6 + 2 + len_bytes + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (std::size_t i = 0; i < len_bytes; ++i) out += static_cast<char>((h.size() >> (8 * i)) & 0xff);
  return out + h + data;
}

std::string f8_header(const std::string& shape) {
  return "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }";
}

TEST(Npy, MalformedFilesThrowNamingThePath) {
  TempDir tmp;
  static const char kNulHeader[] = "{'descr': '<f8'\0, 'fortran_order': False, 'shape': ()}";
  const std::string eight_bytes(8, '\0');
  struct Case {
    const char* name;
    std::string bytes;
    const char* expect;
  };
  std::string version4 = npy_bytes(f8_header("(1,)"), eight_bytes);
  version4[6] = 4;
  std::string huge_len = npy_bytes(f8_header("(1,)"), eight_bytes, 2);
  huge_len[8] = huge_len[9] = huge_len[10] = huge_len[11] = '\xff';
  const std::string valid = npy_bytes(f8_header("(2,)"), std::string(16, '\0'));
  const std::vector<Case> cases = {
      {"empty.npy", "", "not a .npy file"},
      {"short.npy", "\x93NUM", "not a .npy file"},
      {"magic.npy", std::string("\x93NUMPX\x01\x00\x10\x00{}", 12), "bad magic"},
      {"text.npy", "hello, world, this is not numpy", "bad magic"},
      {"version.npy", version4, "version 4.0"},
      {"minor.npy", std::string("\x93NUMPY\x01\x01", 8) + valid.substr(8), "version 1.1"},
      {"lenbytes.npy", std::string("\x93NUMPY\x01\x00\x40", 9), "truncated header"},
      {"hdrlen.npy", valid.substr(0, 40), "truncated header"},
      {"hugelen.npy", huge_len, "truncated header"},
      {"garbage.npy", npy_bytes("{'descr': <f8, 'shape': (2,)}", std::string(16, '\0')), "malformed header"},
      {"notdict.npy", npy_bytes("[1, 2, 3]"), "malformed header"},
      {"nokey.npy", npy_bytes("{'descr': '<f8', 'fortran_order': False}"), "missing key 'shape'"},
      {"extrakey.npy", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (), 'x': 1}", eight_bytes),
       "unexpected key"},
      {"dupkey.npy", npy_bytes("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': ()}", eight_bytes),
       "twice"},
      {"unterminated.npy", npy_bytes("{'descr': '<f8"), "unterminated"},
      {"order.npy", npy_bytes("{'descr': '<f8', 'fortran_order': maybe, 'shape': ()}", eight_bytes),
       "fortran_order"},
      {"trailing.npy", npy_bytes(f8_header("()") + " junk", eight_bytes), "after the dict"},
      {"nul.npy", npy_bytes(std::string(kNulHeader, sizeof kNulHeader - 1), eight_bytes), "NUL"},
      {"u4.npy", npy_bytes("{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }", "abcd"),
       "unsupported dtype descr '<u4'"},
      {"c16.npy", npy_bytes("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", std::string(16, 'x')),
       "unsupported dtype descr"},
      {"pipe_f8.npy", npy_bytes("{'descr': '|f8', 'fortran_order': False, 'shape': (1,), }", eight_bytes),
       "unsupported dtype descr"},
      {"object.npy", npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", eight_bytes), "object"},
      {"struct.npy", npy_bytes("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", eight_bytes),
       "structured"},
      {"descrnum.npy", npy_bytes("{'descr': 8, 'fortran_order': False, 'shape': (1,), }", eight_bytes),
       "not a string"},
      {"negdim.npy", npy_bytes(f8_header("(-2,)")), "negative dimension"},
      {"floatdim.npy", npy_bytes(f8_header("(2.5,)")), "malformed header"},
      {"shapestr.npy", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': '2', }"), "not a tuple"},
      {"bigdim.npy", npy_bytes(f8_header("(99999999999999999999,)")), "too large"},
      {"overflow.npy", npy_bytes(f8_header("(4294967296, 4294967296)")), "too many elements"},
      {"bytes_overflow.npy", npy_bytes(f8_header("(2305843009213693952,)")), "too large"},
      {"hugeshape.npy", npy_bytes(f8_header("(1000000000,)"), eight_bytes), "truncated data"},
      {"short_data.npy", valid.substr(0, valid.size() - 3), "truncated data"},
      {"long_data.npy", valid + "xyz", "size mismatch"},
      {"scalar_nodata.npy", npy_bytes(f8_header("()")), "truncated data"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = tmp.file(c.name);
    write_bytes(path, c.bytes);
    expect_error([&] { Array::load(path); }, {path, c.expect});
  }
  expect_error([&] { Array::load(tmp.file("missing.npy")); }, {tmp.file("missing.npy"), "no such file"});
  expect_error([&] { Array::load(tmp.path().string()); }, {tmp.path().string(), "directory"});
  // the hand-made valid file itself loads
  write_bytes(tmp.file("valid.npy"), valid);
  EXPECT_EQ(Array::load(tmp.file("valid.npy")).shape(), (Shape{2}));
}

// Headers NumPy itself does not write but accepts: '=' (native) and '|'
// byte orders, double quotes, Python 2 long suffixes, other key orders.
TEST(Npy, HeaderVariants) {
  TempDir tmp;
  const double one_and_half = 1.5;
  const std::string f8_bytes(reinterpret_cast<const char*>(&one_and_half), 8);
  struct Case {
    std::string header, data;
    DType dtype;
    Shape shape;
    std::vector<double> values;
  };
  const std::vector<Case> cases = {
      {"{'descr': '=f8', 'fortran_order': False, 'shape': (1,), }", f8_bytes, kiln::f64, {1}, {1.5}},
      {"{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (1L,)}", f8_bytes, kiln::f64, {1}, {1.5}},
      {"{'shape': (), 'fortran_order': False, 'descr': '<f8'}", f8_bytes, kiln::f64, {}, {1.5}},
      {"{'descr': '<i1', 'fortran_order': False, 'shape': (2,), }", "\x01\xff", kiln::i8, {2}, {1, -1}},
      {"{'descr': '=u1', 'fortran_order': False, 'shape': (2,), }", "\x01\xff", kiln::u8, {2}, {1, 255}},
      {"{'descr': '>b1', 'fortran_order': False, 'shape': (3,), }", std::string("\x00\x01\x07", 3), kiln::boolean, {3},
       {0, 1, 1}},
      {"{'descr': '>i2', 'fortran_order': True, 'shape': (2,), }", std::string("\x01\x02\xff\xfe", 4), kiln::i16, {2},
       {258, -2}},
      {"{'descr':'<f8','fortran_order':True,'shape':(1,1)}", f8_bytes, kiln::f64, {1, 1}, {1.5}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    const std::string path = tmp.file("h.npy");
    write_bytes(path, npy_bytes(c.header, c.data));
    const Array a = Array::load(path);
    EXPECT_EQ(a.dtype(), c.dtype);
    EXPECT_EQ(a.shape(), c.shape);
    EXPECT_EQ(a.to_doubles(), c.values);
  }
  // a nonzero byte other than 1 in a bool file reads as true, stored as 1
  write_bytes(tmp.file("b.npy"), npy_bytes("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", "\x07"));
  EXPECT_EQ(*static_cast<const std::uint8_t*>(Array::load(tmp.file("b.npy")).raw_data()), 1);
}

// Truncations of real files are errors, and random corruption gives either
// an array or a kiln::Error, never a crash or a hang. (Writing files is slow
// on some machines, so the cut points are sampled.)
TEST(Npy, TruncationsAndCorruptionNeverCrash) {
  TempDir tmp;
  const std::string path = tmp.file("x.npy");
  for (const char* name : {"f8.npy", "fortran_i4_3d.npy", "v3_i4.npy", "be_f2.npy"}) {
    const std::string good = read_bytes(data_path(std::string("npy/") + name));
    ASSERT_GT(good.size(), 128u);
    for (std::size_t n = 0; n < good.size(); n += n < 12 ? 1 : 9) {
      write_bytes(path, good.substr(0, n));
      EXPECT_THROW(Array::load(path), kiln::Error) << name << " cut to " << n << " bytes";
    }
    write_bytes(path, good.substr(0, good.size() - 1));
    EXPECT_THROW(Array::load(path), kiln::Error) << name << " without its last byte";
    std::mt19937 rng(42);
    for (int trial = 0; trial < 60; ++trial) {
      std::string bad = good;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) bad[rng() % std::min<std::size_t>(bad.size(), 140)] = static_cast<char>(rng());
      write_bytes(path, bad);
      try {
        const Array a = Array::load(path);
        (void)a.to_doubles();
      } catch (const kiln::Error&) {
      }
    }
  }
}

}  // namespace
