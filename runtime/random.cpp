// Deterministic random arrays: Array::randn, Array::uniform, Array::randint.
#include "runtime/random.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "kiln/array.hpp"

namespace kiln {
namespace detail {

PhiloxCounter philox4x32_10(PhiloxCounter c, PhiloxKey k) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += kW0;
      k[1] += kW1;
    }
    const std::uint64_t p0 = static_cast<std::uint64_t>(kM0) * c[0];
    const std::uint64_t p1 = static_cast<std::uint64_t>(kM1) * c[2];
    c = {static_cast<std::uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<std::uint32_t>(p1),
         static_cast<std::uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<std::uint32_t>(p0)};
  }
  return c;
}

PhiloxCounter random_words(std::uint64_t seed, RandomStream stream, std::uint64_t index) {
  return philox4x32_10({static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32),
                        static_cast<std::uint32_t>(stream), 0u},
                       {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
}

namespace {
constexpr double kTwoM53 = 1.0 / 9007199254740992.0;  // 2^-53
std::uint64_t top53(std::uint32_t hi, std::uint32_t lo) {
  return ((static_cast<std::uint64_t>(hi) << 32) | lo) >> 11;
}
}  // namespace

double uniform53(const PhiloxCounter& w) { return static_cast<double>(top53(w[0], w[1])) * kTwoM53; }

double uniform24(const PhiloxCounter& w) { return static_cast<double>(w[0] >> 8) * (1.0 / 16777216.0); }

double portable_log(double x) {
  int e = 0;
  double m = std::frexp(x, &e);  // exact: x = m 2^e, m in [0.5, 1)
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    e -= 1;
  }
  // ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), |s| <= 0.1716.
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double p = 1.0 / 25.0;
  for (int k = 23; k >= 1; k -= 2) p = p * s2 + 1.0 / k;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // ln 2 with trailing zero bits
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  const double de = static_cast<double>(e);
  return de * kLn2Hi + (de * kLn2Lo + 2.0 * s * p);
}

namespace {
double cos_series(double x) {  // |x| <= pi/4
  const double x2 = x * x;
  double term = 1.0, sum = 1.0;
  for (int n = 1; n <= 11; ++n) {
    term *= -x2 / static_cast<double>((2 * n - 1) * (2 * n));
    sum += term;
  }
  return sum;
}
double sin_series(double x) {  // |x| <= pi/4
  const double x2 = x * x;
  double term = x, sum = x;
  for (int n = 1; n <= 11; ++n) {
    term *= -x2 / static_cast<double>((2 * n) * (2 * n + 1));
    sum += term;
  }
  return sum;
}
}  // namespace

double portable_cos_2pi(double u) {
  // u = q/4 + r with |r| <= 1/8 (exact: both are multiples of u's last bit),
  // so cos(2 pi u) = cos(q pi/2 + x) with x = 2 pi r in [-pi/4, pi/4].
  const double q = std::floor(u * 4.0 + 0.5);
  const double r = u - q * 0.25;
  const double x = r * 6.28318530717958647693;
  switch (static_cast<int>(q) & 3) {
    case 0: return cos_series(x);
    case 1: return -sin_series(x);
    case 2: return -cos_series(x);
    default: return sin_series(x);
  }
}

double normal(const PhiloxCounter& w) {
  const double u1 = static_cast<double>(top53(w[0], w[1]) + 1) * kTwoM53;  // (0, 1]
  const double u2 = static_cast<double>(top53(w[2], w[3])) * kTwoM53;      // [0, 1)
  return std::sqrt(-2.0 * portable_log(u1)) * portable_cos_2pi(u2);
}

}  // namespace detail

namespace {

__extension__ using uint128 = unsigned __int128;

std::uint16_t step16(std::uint16_t b, bool up) {  // neighbour of a 16-bit float pattern
  const bool neg = (b & 0x8000u) != 0, zero = (b & 0x7fffu) == 0;
  if (zero) return up ? 0x0001u : 0x8001u;
  return static_cast<std::uint16_t>((neg != up) ? b + 1 : b - 1);
}

// The representable neighbour of v (a value of dtype t) above or below it.
double next_in_dtype(DType t, double v, bool up) {
  const double inf = std::numeric_limits<double>::infinity();
  switch (t) {
    case DType::F64: return std::nextafter(v, up ? inf : -inf);
    case DType::F32: return std::nextafter(static_cast<float>(v), up ? HUGE_VALF : -HUGE_VALF);
    case DType::F16: return static_cast<float>(half::from_bits(step16(half(static_cast<float>(v)).bits, up)));
    case DType::BF16:
      return static_cast<float>(bfloat16::from_bits(step16(bfloat16(static_cast<float>(v)).bits, up)));
    default: return v;
  }
}

double round_to(DType t, double v) { return Array::scalar(v, t).item(); }

void check_float_dtype(DType t, const char* what) {
  if (!is_float(t))
    throw Error(std::string(what) + ": dtype " + std::string(dtype_name(t)) +
                " is not a float dtype (use f16, bf16, f32 or f64; randint gives integers)");
}

template <class F>
std::vector<double> generate(const Shape& shape, const char* what, F&& f) {
  for (std::int64_t d : shape)
    if (d < 0) throw Error(std::string(what) + ": negative dimension in shape " + shape_str(shape));
  const std::int64_t n = shape_size(shape);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = f(static_cast<std::uint64_t>(i));
  return v;
}

}  // namespace

Array Array::randn(const Shape& shape, DType dtype, std::uint64_t seed) {
  check_float_dtype(dtype, "Array::randn");
  auto v = generate(shape, "Array::randn", [&](std::uint64_t i) {
    return detail::normal(detail::random_words(seed, detail::RandomStream::Normal, i));
  });
  return from_doubles(v, shape, dtype);
}

Array Array::uniform(const Shape& shape, DType dtype, std::uint64_t seed, double low, double high) {
  check_float_dtype(dtype, "Array::uniform");
  if (!std::isfinite(low) || !std::isfinite(high) || !(low < high) || !std::isfinite(high - low))
    throw Error("Array::uniform: need finite low < high, got [" + std::to_string(low) + ", " +
                std::to_string(high) + ")");
  // The dtype's values in [low, high): rounding low + (high - low) u to the
  // dtype may land on high (or below low); such values are clamped.
  double lo = round_to(dtype, low), hi = round_to(dtype, high);
  if (lo < low) lo = next_in_dtype(dtype, lo, true);
  while (hi >= high) hi = next_in_dtype(dtype, hi, false);
  if (lo > hi)
    throw Error("Array::uniform: no " + std::string(dtype_name(dtype)) + " value lies in [" +
                std::to_string(low) + ", " + std::to_string(high) + ")");
  const bool wide = dtype == DType::F64;
  auto v = generate(shape, "Array::uniform", [&](std::uint64_t i) {
    auto w = detail::random_words(seed, detail::RandomStream::Uniform, i);
    return low + (high - low) * (wide ? detail::uniform53(w) : detail::uniform24(w));
  });
  Array a = from_doubles(v, shape, dtype);
  Array flat = a.reshape({a.size()});
  const std::vector<double> rounded = flat.to_doubles();
  for (std::size_t i = 0; i < rounded.size(); ++i) {
    if (rounded[i] < lo) flat.set({static_cast<std::int64_t>(i)}, lo);
    if (rounded[i] > hi) flat.set({static_cast<std::int64_t>(i)}, hi);
  }
  return a;
}

Array Array::randint(const Shape& shape, std::int64_t low, std::int64_t high, DType dtype, std::uint64_t seed) {
  if (high <= low)
    throw Error("Array::randint: need low < high, got [" + std::to_string(low) + ", " + std::to_string(high) + ")");
  if (is_integer(dtype) || is_bool(dtype)) {
    const int bits = int_bits(dtype);
    std::int64_t min = 0, max = 1;
    if (is_signed_int(dtype)) {
      min = bits == 64 ? std::numeric_limits<std::int64_t>::min() : -(std::int64_t{1} << (bits - 1));
      max = bits == 64 ? std::numeric_limits<std::int64_t>::max() : (std::int64_t{1} << (bits - 1)) - 1;
    } else if (is_unsigned_int(dtype)) {
      max = (std::int64_t{1} << bits) - 1;
    }
    if (low < min || high - 1 > max)
      throw Error("Array::randint: [" + std::to_string(low) + ", " + std::to_string(high) +
                  ") does not fit dtype " + std::string(dtype_name(dtype)));
  }
  for (std::int64_t d : shape)
    if (d < 0) throw Error("Array::randint: negative dimension in shape " + shape_str(shape));
  const std::int64_t n = shape_size(shape);
  // high - low as an unsigned 64-bit range; a 64x64 → 128-bit multiply maps
  // 64 random bits onto it (bias below 2^-64 * range, far below anything
  // measurable).
  const std::uint64_t range = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    auto w = detail::random_words(seed, detail::RandomStream::Integer, static_cast<std::uint64_t>(i));
    const std::uint64_t bits = (static_cast<std::uint64_t>(w[0]) << 32) | w[1];
    const auto r = static_cast<std::uint64_t>((static_cast<uint128>(bits) * range) >> 64);
    v[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(static_cast<std::uint64_t>(low) + r);
  }
  Array a = from_vector(v, shape);
  return dtype == DType::I64 ? a : a.astype(dtype);
}

}  // namespace kiln
