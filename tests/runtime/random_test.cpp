// The counter-based generator: Philox4x32-10 known answers (Random123's
// kat_vectors), the mapping to uniform / normal / integer values, and rough
// statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "kiln/array.hpp"
#include "runtime/random.hpp"
#include "runtime_test_util.hpp"

using kiln::Array;
using kiln_test::expect_error;
namespace d = kiln::detail;

namespace {

TEST(Philox, KnownAnswers) {
  EXPECT_EQ(d::philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (d::PhiloxCounter{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(d::philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}),
            (d::PhiloxCounter{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  EXPECT_EQ(d::philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}),
            (d::PhiloxCounter{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

// uniform(seed 0)[0] uses counter {0, 0, 0, 0} and key {0, 0}: the first
// known-answer block, whose top 53 bits (of 6627e8d5:e169c58d) make the value.
TEST(Random, UniformFromKnownBlock) {
  const double want = static_cast<double>(((0x6627e8d5ull << 32) | 0xe169c58dull) >> 11) * std::ldexp(1.0, -53);
  EXPECT_EQ(Array::uniform({3}, kiln::f64, 0).to_doubles()[0], want);
  const double want24 = static_cast<double>(0x6627e8d5u >> 8) * std::ldexp(1.0, -24);
  EXPECT_EQ(Array::uniform({3}, kiln::f32, 0).to_doubles()[0], want24);
  // low/high scale the same draw
  EXPECT_EQ(Array::uniform({1}, kiln::f64, 0, -2.0, 6.0).item(), -2.0 + 8.0 * want);
}

TEST(Random, NormalIsBoxMuller) {
  for (std::uint64_t seed : {0ull, 1ull, 123456789ull, ~0ull}) {
    const Array z = Array::randn({50}, kiln::f64, seed);
    for (std::int64_t i = 0; i < 50; ++i) {
      const auto w = d::random_words(seed, d::RandomStream::Normal, static_cast<std::uint64_t>(i));
      const double u1 = static_cast<double>((((static_cast<std::uint64_t>(w[0]) << 32) | w[1]) >> 11) + 1) *
                        std::ldexp(1.0, -53);
      const double u2 = static_cast<double>(((static_cast<std::uint64_t>(w[2]) << 32) | w[3]) >> 11) *
                        std::ldexp(1.0, -53);
      const double want = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
      ASSERT_NEAR(z.get({i}), want, 1e-13 * (1.0 + std::fabs(want))) << "seed " << seed << " element " << i;
    }
  }
}

TEST(Random, PortableMathIsAccurate) {
  for (double x : {1.0, 0.5, 0.7071, 1e-300, 2.220446049250313e-16, 0.999999999, 0.3, 0.123456789}) {
    EXPECT_NEAR(d::portable_log(x), std::log(x), 4e-16 * std::fabs(std::log(x)) + 1e-300) << x;
  }
  for (int i = 0; i <= 4096; ++i) {
    const double u = i / 4096.0 - (i == 4096 ? std::ldexp(1.0, -53) : 0.0);
    EXPECT_NEAR(d::portable_cos_2pi(u), std::cos(2.0 * M_PI * u), 1e-15) << u;
  }
}

TEST(Random, SameSeedSameValues) {
  EXPECT_TRUE(Array::randn({7, 9}, kiln::f64, 5).equals(Array::randn({7, 9}, kiln::f64, 5)));
  EXPECT_FALSE(Array::randn({7, 9}, kiln::f64, 5).equals(Array::randn({7, 9}, kiln::f64, 6)));
  // element i depends on i only, not on the shape
  EXPECT_EQ(Array::randn({63}, kiln::f64, 5).to_doubles(), Array::randn({7, 9}, kiln::f64, 5).to_doubles());
  // narrower dtypes hold the f64 values rounded
  EXPECT_TRUE(Array::randn({100}, kiln::f32, 9).equals(Array::randn({100}, kiln::f64, 9).astype(kiln::f32)));
  EXPECT_TRUE(Array::randn({100}, kiln::f16, 9).equals(Array::randn({100}, kiln::f64, 9).astype(kiln::f16)));
  // randn and uniform with one seed draw from different streams
  EXPECT_NE(Array::uniform({1}, kiln::f64, 3).item(), Array::randn({1}, kiln::f64, 3).item());
  EXPECT_TRUE(Array::randint({50}, 0, 1000, kiln::i64, 4).equals(Array::randint({50}, 0, 1000, kiln::i64, 4)));
}

// Regression pins: these change only if the generator changes, which would
// change every seeded array users rely on.
TEST(Random, PinnedValues) {
  const auto z = Array::randn({3}, kiln::f64, 0).to_doubles();
  EXPECT_EQ(z[0], 1.071173269799861);
  EXPECT_EQ(z[1], -0.68430328303560639);
  EXPECT_EQ(z[2], 0.18344082688524396);
  EXPECT_EQ(Array::randint({4}, -5, 5, kiln::i32, 3).to_int64s(), (std::vector<std::int64_t>{-4, -3, 4, -3}));
}

TEST(Random, NormalStatistics) {
  const auto z = Array::randn({100000}, kiln::f64, 2024).to_doubles();
  double sum = 0, sum2 = 0;
  int beyond3 = 0;
  for (double v : z) {
    sum += v;
    sum2 += v * v;
    beyond3 += std::fabs(v) > 3;
  }
  const double mean = sum / z.size(), var = sum2 / z.size() - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.015);  // 5 standard errors
  EXPECT_NEAR(std::sqrt(var), 1.0, 0.015);
  EXPECT_NEAR(beyond3 / 1e5, 0.0027, 0.001);
}

TEST(Random, UniformRangeAndStatistics) {
  for (kiln::DType t : {kiln::f64, kiln::f32, kiln::f16, kiln::bf16}) {
    SCOPED_TRACE(std::string(kiln::dtype_name(t)));
    const auto u = Array::uniform({100000}, t, 77, -1.0, 3.0).to_doubles();
    double sum = 0, lo = 10, hi = -10;
    for (double v : u) {
      sum += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_GE(lo, -1.0);
    EXPECT_LT(hi, 3.0);
    EXPECT_NEAR(sum / u.size(), 1.0, 0.02);
  }
  // rounding to a coarse dtype never reaches high
  const auto b = Array::uniform({20000}, kiln::bf16, 1, 0.0, 1.0).to_doubles();
  for (double v : b) ASSERT_LT(v, 1.0);
  expect_error([] { Array::uniform({2}, kiln::f64, 0, 1.0, 1.0); }, {"low < high"});
  expect_error([] { Array::uniform({2}, kiln::i32, 0); }, {"not a float dtype"});
  expect_error([] { Array::randn({2}, kiln::i64, 0); }, {"not a float dtype"});
  expect_error([] { Array::uniform({2}, kiln::f16, 0, 1.0001, 1.0002); }, {"no f16 value"});
  EXPECT_EQ(Array::uniform({3}, kiln::f16, 0, 1.0, 1.0001).to_doubles(), (std::vector<double>{1, 1, 1}));
}

TEST(Random, RandintRangeAndErrors) {
  const auto v = Array::randint({10000}, -3, 4, kiln::i8, 11).to_int64s();
  std::set<std::int64_t> seen(v.begin(), v.end());
  EXPECT_EQ(seen, (std::set<std::int64_t>{-3, -2, -1, 0, 1, 2, 3}));
  const auto big = Array::randint({1000}, INT64_MIN, INT64_MAX, kiln::i64, 1).to_int64s();
  EXPECT_NE(big[0], big[1]);
  const auto bools = Array::randint({100}, 0, 2, kiln::boolean, 2).to_int64s();
  EXPECT_EQ(std::set<std::int64_t>(bools.begin(), bools.end()), (std::set<std::int64_t>{0, 1}));
  expect_error([] { Array::randint({2}, 5, 5); }, {"low < high"});
  expect_error([] { Array::randint({2}, 0, 300, kiln::i8); }, {"does not fit", "i8"});
  expect_error([] { Array::randint({2}, -1, 3, kiln::u8); }, {"does not fit", "u8"});
  expect_error([] { Array::randint({-2}, 0, 3); }, {"negative dimension"});
}

}  // namespace
