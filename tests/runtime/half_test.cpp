// half and bfloat16 conversions: exhaustive round trips and NumPy/ml_dtypes
// tables (tests/data/npy/conv_*.npy, written by gen_runtime_data.py).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>

#include "kiln/array.hpp"
#include "kiln/half.hpp"
#include "runtime_test_util.hpp"

using kiln::Array;
using kiln::bfloat16;
using kiln::half;

namespace {

std::uint32_t bits_of(float f) { return std::bit_cast<std::uint32_t>(f); }

TEST(Half, EveryBitPatternRoundTrips) {
  int nans = 0;
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const auto h = half::from_bits(static_cast<std::uint16_t>(b));
    const float f = static_cast<float>(h);
    ASSERT_EQ(half(f).bits, h.bits) << "bits " << std::hex << b;
    const bool is_nan = (b & 0x7c00u) == 0x7c00u && (b & 0x3ffu) != 0;
    ASSERT_EQ(std::isnan(f), is_nan) << std::hex << b;
    nans += is_nan;
  }
  EXPECT_EQ(nans, 2 * 1023);
}

TEST(Half, KnownValues) {
  EXPECT_EQ(static_cast<float>(half::from_bits(0x3c00)), 1.0f);
  EXPECT_EQ(static_cast<float>(half::from_bits(0x7bff)), 65504.0f);
  EXPECT_EQ(static_cast<float>(half::from_bits(0x0001)), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(static_cast<float>(half::from_bits(0x03ff)), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(static_cast<float>(half::from_bits(0x0400)), std::ldexp(1.0f, -14));
  EXPECT_EQ(bits_of(static_cast<float>(half::from_bits(0x8000))), 0x80000000u);
  EXPECT_TRUE(std::isinf(static_cast<float>(half::from_bits(0xfc00))));
  EXPECT_EQ(half(65519.996f).bits, 0x7bff);  // below the halfway point to 65536
  EXPECT_EQ(half(65520.0f).bits, 0x7c00);    // the tie goes to even: infinity
  EXPECT_EQ(half(std::ldexp(1.0f, -25)).bits, 0x0000);  // tie between 0 and 2^-24: even
  EXPECT_EQ(half(std::ldexp(3.0f, -26)).bits, 0x0001);  // 0.75 * 2^-24 rounds up
  EXPECT_EQ(half(1.0f + std::ldexp(1.0f, -11)).bits, 0x3c00);  // tie, even mantissa stays
  EXPECT_EQ(half(1.0f + std::ldexp(3.0f, -11)).bits, 0x3c02);  // tie, odd mantissa rounds up
  EXPECT_EQ(half(-0.0f).bits, 0x8000);
}

TEST(BFloat16, EveryBitPatternRoundTrips) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const auto h = bfloat16::from_bits(static_cast<std::uint16_t>(b));
    const float f = static_cast<float>(h);
    ASSERT_EQ(bits_of(f), b << 16);
    if (std::isnan(f)) {
      ASSERT_EQ(bfloat16(f).bits, (b & 0x8000u) | 0x7fc0u) << std::hex << b;  // canonical quiet NaN
    } else {
      ASSERT_EQ(bfloat16(f).bits, h.bits) << std::hex << b;
    }
  }
}

TEST(BFloat16, KnownValues) {
  EXPECT_EQ(bfloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(bfloat16(std::bit_cast<float>(0x3f808000u)).bits, 0x3f80);  // tie to even
  EXPECT_EQ(bfloat16(std::bit_cast<float>(0x3f818000u)).bits, 0x3f82);  // tie to even (up)
  EXPECT_EQ(bfloat16(std::bit_cast<float>(0x3f808001u)).bits, 0x3f81);
  EXPECT_EQ(bfloat16(std::bit_cast<float>(0x7f7fffffu)).bits, 0x7f80);  // FLT_MAX rounds to inf
  EXPECT_EQ(bfloat16(-0.0f).bits, 0x8000);
}

// f32 → f16 must match NumPy bit for bit (NaN payloads included), f32 →
// bf16 must match ml_dtypes.
TEST(HalfTables, Float32MatchesNumPyAndMlDtypes) {
  const Array in = Array::load(kiln_test::data_path("npy/conv_f32_in.npy"));
  const Array f16 = Array::load(kiln_test::data_path("npy/conv_f32_to_f16.npy"));
  const Array bf16 = Array::load(kiln_test::data_path("npy/conv_f32_to_bf16.npy"));
  ASSERT_EQ(in.dtype(), kiln::f32);
  ASSERT_EQ(f16.dtype(), kiln::f16);
  ASSERT_EQ(bf16.dtype(), kiln::i16);
  ASSERT_GT(in.size(), 8000);
  ASSERT_EQ(in.size(), f16.size());
  ASSERT_EQ(in.size(), bf16.size());
  const float* x = in.data<float>();
  const half* h = f16.data<half>();
  const std::int16_t* b = bf16.data<std::int16_t>();
  int failures = 0;
  for (std::int64_t i = 0; i < in.size() && failures < 10; ++i) {
    if (half(x[i]).bits != h[i].bits) {
      ++failures;
      ADD_FAILURE() << "f16 of f32 bits 0x" << std::hex << bits_of(x[i]) << ": got 0x" << half(x[i]).bits
                    << ", NumPy 0x" << h[i].bits;
    }
    if (bfloat16(x[i]).bits != static_cast<std::uint16_t>(b[i])) {
      ++failures;
      ADD_FAILURE() << "bf16 of f32 bits 0x" << std::hex << bits_of(x[i]) << ": got 0x" << bfloat16(x[i]).bits
                    << ", ml_dtypes 0x" << static_cast<std::uint16_t>(b[i]);
    }
  }
}

// f64 → f16 through astype (one rounding, as NumPy does), and f64 → bf16
// with one rounding (the table comes from exact rational arithmetic; where
// the double is a float it agrees with ml_dtypes).
TEST(HalfTables, Float64AstypeRoundsOnce) {
  const Array in = Array::load(kiln_test::data_path("npy/conv_f64_in.npy"));
  const Array want16 = Array::load(kiln_test::data_path("npy/conv_f64_to_f16.npy"));
  const Array want_bf = Array::load(kiln_test::data_path("npy/conv_f64_to_bf16.npy"));
  const Array got16 = in.astype(kiln::f16);
  const Array got_bf = in.astype(kiln::bf16);
  const double* x = in.data<double>();
  int failures = 0;
  for (std::int64_t i = 0; i < in.size() && failures < 10; ++i) {
    const auto g16 = got16.data<half>()[i].bits, w16 = want16.data<half>()[i].bits;
    if (g16 != w16) {
      ++failures;
      ADD_FAILURE() << "f16 of " << x[i] << ": got 0x" << std::hex << g16 << ", NumPy 0x" << w16;
    }
    const auto gbf = got_bf.data<bfloat16>()[i].bits;
    const auto wbf = static_cast<std::uint16_t>(want_bf.data<std::int16_t>()[i]);
    if (gbf != wbf) {
      ++failures;
      ADD_FAILURE() << "bf16 of " << x[i] << ": got 0x" << std::hex << gbf << ", want 0x" << wbf;
    }
  }
}

TEST(HalfTables, DoubleRoundingIsAvoided) {
  // 1 + 2^-8 + 2^-30 is just above the bf16 tie 1 + 2^-8; through f32 it
  // would become the tie and round down to 1.
  const Array a = Array::from({1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30)});
  EXPECT_EQ(a.astype(kiln::bf16).data<bfloat16>()[0].bits, 0x3f81);
  EXPECT_EQ(bfloat16(static_cast<float>(a.item())).bits, 0x3f80);  // the two-step result
  const Array b = Array::from({1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)});
  EXPECT_EQ(b.astype(kiln::f16).data<half>()[0].bits, 0x3c01);
}

}  // namespace
