// IEEE binary16 and bfloat16 conversions, bit-exact.
//
// float → half follows NumPy (npy_floatbits_to_halfbits): round to nearest,
// ties to even; overflow to infinity; NaN keeps its sign and the top payload
// bits (a payload that would vanish becomes 1, so it stays a NaN).
// float → bfloat16 follows ml_dtypes: round to nearest even; NaN becomes the
// canonical quiet NaN 0x7fc0 with the sign kept.
#include "kiln/half.hpp"

#include <bit>
#include <cstdint>

namespace kiln {

namespace {

std::uint16_t float_to_half_bits(float value) {
  std::uint32_t f = std::bit_cast<std::uint32_t>(value);
  std::uint16_t sign = static_cast<std::uint16_t>((f >> 16) & 0x8000u);
  std::uint32_t a = f & 0x7fffffffu;
  if (a >= 0x7f800000u) {  // inf or nan
    if (a == 0x7f800000u) return sign | 0x7c00u;
    std::uint16_t h = static_cast<std::uint16_t>(0x7c00u + ((a & 0x007fffffu) >> 13));
    if (h == 0x7c00u) ++h;
    return sign | h;
  }
  // 65520 lies halfway between 65504 (odd mantissa) and 65536: ties go to
  // the even neighbour, which is infinity.
  if (a >= 0x477ff000u) return sign | 0x7c00u;
  if (a < 0x38800000u) {  // below 2^-14: a half subnormal (or zero)
    std::uint32_t e = a >> 23;
    std::uint32_t m = (a & 0x007fffffu) | 0x00800000u;
    // value = m * 2^(e-150); in units of 2^-24 that is m >> (126 - e).
    std::uint32_t shift = 126 - e;
    if (shift > 24) return sign;  // below 2^-25: rounds to zero
    std::uint32_t q = m >> shift;
    std::uint32_t r = m & ((1u << shift) - 1);
    std::uint32_t halfway = 1u << (shift - 1);
    if (r > halfway || (r == halfway && (q & 1u))) ++q;
    return sign | static_cast<std::uint16_t>(q);
  }
  std::uint32_t h = (a >> 13) - ((127u - 15u) << 10);
  std::uint32_t r = a & 0x1fffu;
  if (r > 0x1000u || (r == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is right
  return sign | static_cast<std::uint16_t>(h);
}

float half_bits_to_float(std::uint16_t h) {
  std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t e = (h >> 10) & 0x1fu;
  std::uint32_t m = h & 0x3ffu;
  if (e == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  if (e != 0) return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
  if (m == 0) return std::bit_cast<float>(sign);
  // subnormal: m * 2^-24, normalised into a float
  int shift = std::countl_zero(m) - 21;  // bring the top bit to position 10
  m <<= shift;
  std::uint32_t fe = static_cast<std::uint32_t>(113 - shift);  // 2^-14 has biased exponent 113
  return std::bit_cast<float>(sign | (fe << 23) | ((m & 0x3ffu) << 13));
}

std::uint16_t float_to_bfloat16_bits(float value) {
  std::uint32_t f = std::bit_cast<std::uint32_t>(value);
  if ((f & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>(((f >> 16) & 0x8000u) | 0x7fc0u);
  std::uint32_t rounding = 0x7fffu + ((f >> 16) & 1u);
  return static_cast<std::uint16_t>((f + rounding) >> 16);
}

}  // namespace

half::half(float f) : bits(float_to_half_bits(f)) {}
half::operator float() const { return half_bits_to_float(bits); }

bfloat16::bfloat16(float f) : bits(float_to_bfloat16_bits(f)) {}
bfloat16::operator float() const { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

}  // namespace kiln
