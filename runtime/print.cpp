// Printing arrays the way NumPy's str() does.
//
// The layout follows numpy/_core/arrayprint.py (_formatArray, FloatingFormat,
// IntegerFormat, BoolFormat with the default options: floatmode 'maxprec',
// linewidth 75), and the digits follow NumPy's Dragon4 (Steele & White,
// Burger & Dybvig): the shortest digits that read back as the same value of
// the element's own dtype, cut off at `precision` fractional digits with the
// exact value rounded half to even. Only the observable behaviour is
// reproduced; the code is a fresh implementation with a plain big integer.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <ostream>
#include <string_view>

#include "kiln/array.hpp"

namespace kiln {

namespace {

// ---------------------------------------------------------------------------
// A small unsigned big integer: just what digit generation needs.

class BigInt {
 public:
  static BigInt of(std::uint64_t v) {
    BigInt r;
    r.b_ = {static_cast<std::uint32_t>(v), static_cast<std::uint32_t>(v >> 32)};
    r.trim();
    return r;
  }
  static BigInt pow2(int n) {
    BigInt r;
    r.b_.assign(static_cast<std::size_t>(n / 32 + 1), 0);
    r.b_.back() = 1u << (n % 32);
    return r;
  }
  void shift_left(int n) {
    if (b_.empty()) return;
    const std::size_t words = static_cast<std::size_t>(n / 32);
    const int bits = n % 32;
    std::vector<std::uint32_t> out(b_.size() + words + 1, 0);
    for (std::size_t i = 0; i < b_.size(); ++i) {
      out[i + words] |= b_[i] << bits;
      if (bits) out[i + words + 1] |= b_[i] >> (32 - bits);
    }
    b_ = std::move(out);
    trim();
  }
  void mul(std::uint32_t m) {
    std::uint64_t carry = 0;
    for (auto& x : b_) {
      const std::uint64_t t = static_cast<std::uint64_t>(x) * m + carry;
      x = static_cast<std::uint32_t>(t);
      carry = t >> 32;
    }
    if (carry) b_.push_back(static_cast<std::uint32_t>(carry));
  }
  void mul_pow10(int n) {
    static constexpr std::uint32_t kPow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
    for (; n >= 9; n -= 9) mul(1000000000u);
    if (n > 0) mul(kPow10[n]);
  }
  BigInt plus(const BigInt& o) const {
    BigInt r;
    const std::size_t n = std::max(b_.size(), o.b_.size());
    r.b_.resize(n + 1, 0);
    std::uint64_t carry = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t t = carry + (i < b_.size() ? b_[i] : 0u) + (i < o.b_.size() ? o.b_[i] : 0u);
      r.b_[i] = static_cast<std::uint32_t>(t);
      carry = t >> 32;
    }
    r.b_[n] = static_cast<std::uint32_t>(carry);
    r.trim();
    return r;
  }
  void minus(const BigInt& o) {  // requires *this >= o
    std::int64_t borrow = 0;
    for (std::size_t i = 0; i < b_.size(); ++i) {
      std::int64_t t = static_cast<std::int64_t>(b_[i]) - borrow - (i < o.b_.size() ? o.b_[i] : 0u);
      borrow = t < 0;
      if (t < 0) t += std::int64_t{1} << 32;
      b_[i] = static_cast<std::uint32_t>(t);
    }
    trim();
  }
  friend int compare(const BigInt& a, const BigInt& c) {
    if (a.b_.size() != c.b_.size()) return a.b_.size() < c.b_.size() ? -1 : 1;
    for (std::size_t i = a.b_.size(); i-- > 0;)
      if (a.b_[i] != c.b_[i]) return a.b_[i] < c.b_[i] ? -1 : 1;
    return 0;
  }
  // Sets *this to *this mod d and returns the quotient, known to be < 10.
  std::uint32_t divmod_small(const BigInt& d) {
    std::uint32_t q = 0;
    while (compare(*this, d) >= 0) {
      minus(d);
      ++q;
    }
    return q;
  }

 private:
  void trim() {
    while (!b_.empty() && b_.back() == 0) b_.pop_back();
  }
  std::vector<std::uint32_t> b_;  // little-endian 32-bit blocks, no leading zeros
};

// ---------------------------------------------------------------------------
// A float value taken apart: value = mantissa * 2^exponent.

struct FloatBits {
  bool neg = false, inf = false, nan = false;
  std::uint64_t mantissa = 0;
  int exponent = 0;
  int mantissa_bit = 0;    // index of the highest set bit of mantissa
  bool unequal = false;    // the gap above is twice the gap below (a power of two)
};

FloatBits decode(DType t, double v) {
  std::uint64_t raw = 0;
  int mbits = 52, ebits = 11, bias = 1023;
  switch (t) {
    case DType::F32:
      raw = std::bit_cast<std::uint32_t>(static_cast<float>(v));
      mbits = 23, ebits = 8, bias = 127;
      break;
    case DType::F16:
      raw = half(static_cast<float>(v)).bits;
      mbits = 10, ebits = 5, bias = 15;
      break;
    case DType::BF16:
      raw = bfloat16(static_cast<float>(v)).bits;
      mbits = 7, ebits = 8, bias = 127;
      break;
    default: raw = std::bit_cast<std::uint64_t>(v); break;
  }
  FloatBits f;
  const std::uint64_t fm = raw & ((std::uint64_t{1} << mbits) - 1);
  const std::uint64_t emax = (std::uint64_t{1} << ebits) - 1;
  const std::uint64_t fe = (raw >> mbits) & emax;
  f.neg = ((raw >> (mbits + ebits)) & 1) != 0;
  if (fe == emax) {
    f.nan = fm != 0;
    f.inf = fm == 0;
    return f;
  }
  if (fe != 0) {
    f.mantissa = (std::uint64_t{1} << mbits) | fm;
    f.exponent = static_cast<int>(fe) - bias - mbits;
    f.mantissa_bit = mbits;
    f.unequal = fe != 1 && fm == 0;
  } else {
    f.mantissa = fm;
    f.exponent = 1 - bias - mbits;
    f.mantissa_bit = fm ? 63 - std::countl_zero(fm) : 0;
  }
  return f;
}

// ---------------------------------------------------------------------------
// Digit generation (Dragon4 in "unique" mode with optional cutoffs).

struct Digits {
  std::string digits;  // no leading zeros (except the single digit "0")
  int exponent = 0;    // base-10 exponent of the first digit
};

enum class Cutoff { Fraction, Total };

// The shortest digits that identify f among its dtype's values, but at least
// down to cutoff_min and at most down to cutoff_max (counted as digits after
// the decimal point, or as total digits; -1 means no limit). Where digits are
// cut off, the exact value is rounded half to even.
Digits generate_digits(const FloatBits& f, Cutoff mode, int cutoff_max, int cutoff_min) {
  if (f.mantissa == 0) return {"0", 0};
  const bool is_even = (f.mantissa & 1) == 0;
  const bool unequal = f.unequal;
  const int e = f.exponent;
  // value = scaled / scale; the margins are half the gaps to the neighbours.
  BigInt value = BigInt::of(f.mantissa), scale, margin_low, margin_high;
  if (unequal) {
    if (e > 0) {
      value.shift_left(e + 2);
      scale = BigInt::of(4);
      margin_low = BigInt::pow2(e);
      margin_high = BigInt::pow2(e + 1);
    } else {
      value.shift_left(2);
      scale = BigInt::pow2(-e + 2);
      margin_low = BigInt::of(1);
      margin_high = BigInt::of(2);
    }
  } else {
    if (e > 0) {
      value.shift_left(e + 1);
      scale = BigInt::of(2);
      margin_low = BigInt::pow2(e);
    } else {
      value.shift_left(1);
      scale = BigInt::pow2(-e + 1);
      margin_low = BigInt::of(1);
    }
  }
  auto update_high = [&] {
    if (unequal) {
      margin_high = margin_low;
      margin_high.mul(2);
    }
  };
  auto high_margin = [&]() -> const BigInt& { return unequal ? margin_high : margin_low; };

  // An estimate of floor(log10(value)) + 1 that is right or one too small.
  int digit_exp = static_cast<int>(
      std::ceil(static_cast<double>(f.mantissa_bit + e) * 0.30102999566398119521373889472449 - 0.69));
  if (cutoff_max >= 0 && mode == Cutoff::Fraction && digit_exp <= -cutoff_max) digit_exp = -cutoff_max + 1;
  if (digit_exp > 0) {
    scale.mul_pow10(digit_exp);
  } else if (digit_exp < 0) {
    value.mul_pow10(-digit_exp);
    margin_low.mul_pow10(-digit_exp);
    update_high();
  }
  if (compare(value, scale) >= 0) {
    ++digit_exp;
  } else {
    value.mul(10);
    margin_low.mul(10);
    update_high();
  }

  int cutoff_max_exp = digit_exp - 4096;
  if (cutoff_max >= 0) {
    const int desired = mode == Cutoff::Total ? digit_exp - cutoff_max : -cutoff_max;
    cutoff_max_exp = std::max(cutoff_max_exp, desired);
  }
  int cutoff_min_exp = digit_exp;
  if (cutoff_min >= 0) {
    const int desired = mode == Cutoff::Total ? digit_exp - cutoff_min : -cutoff_min;
    cutoff_min_exp = std::min(cutoff_min_exp, desired);
  }

  Digits out;
  out.exponent = digit_exp - 1;
  bool low = false, high = false;
  std::uint32_t digit = 0;
  for (;;) {
    --digit_exp;
    digit = value.divmod_small(scale);
    const BigInt value_high = value.plus(high_margin());
    int c = compare(value, margin_low);
    low = is_even ? c <= 0 : c < 0;
    c = compare(value_high, scale);
    high = is_even ? c >= 0 : c > 0;
    if (((low || high) && digit_exp <= cutoff_min_exp) || digit_exp == cutoff_max_exp) break;
    out.digits += static_cast<char>('0' + digit);
    value.mul(10);
    margin_low.mul(10);
    update_high();
  }
  // Round the last digit: down or up where only one is within the margins,
  // else to the nearer one, ties to the even digit.
  bool round_down = low;
  if (low == high) {
    BigInt twice = value;
    twice.mul(2);
    const int c = compare(twice, scale);
    round_down = c < 0 || (c == 0 && (digit & 1) == 0);
  }
  if (round_down) {
    out.digits += static_cast<char>('0' + digit);
  } else if (digit < 9) {
    out.digits += static_cast<char>('0' + digit + 1);
  } else {
    for (;;) {
      if (out.digits.empty()) {
        out.digits = "1";
        ++out.exponent;
        break;
      }
      if (out.digits.back() != '9') {
        ++out.digits.back();
        break;
      }
      out.digits.pop_back();
    }
  }
  return out;
}

// How trailing zeros and the decimal point are trimmed (NumPy's trim modes).
enum class Trim {
  None,          // 'k': keep trailing zeros
  Zeros,         // '.': trim trailing zeros, keep the point
  LeaveOneZero,  // '0': trim trailing zeros, leave one after the point
  PointZeros,    // '-': trim trailing zeros and the point
};

// Positional notation ("12.5"), padded to pad_left characters before the
// point and pad_right after it (-1: no padding). f must be finite.
std::string format_positional(const FloatBits& f, int precision, int min_digits, Trim trim, int pad_left,
                              int pad_right) {
  const Digits d = generate_digits(f, Cutoff::Fraction, precision, min_digits);
  const int n = static_cast<int>(d.digits.size());
  int whole = 1, frac = 0;
  std::string body;
  if (d.exponent >= 0) {
    whole = d.exponent + 1;
    if (n <= whole) {
      body = d.digits + std::string(static_cast<std::size_t>(whole - n), '0');
    } else {
      body = d.digits.substr(0, static_cast<std::size_t>(whole)) + "." + d.digits.substr(static_cast<std::size_t>(whole));
      frac = n - whole;
    }
  } else {
    const int zeros = -(d.exponent + 1);
    body = "0." + std::string(static_cast<std::size_t>(zeros), '0') + d.digits;
    frac = zeros + n;
  }
  if (trim != Trim::PointZeros && frac == 0) body += '.';
  const int wanted = std::max(min_digits, 0);
  if (trim == Trim::LeaveOneZero) {
    if (frac == 0) {
      body += '0';
      ++frac;
    }
  } else if (trim == Trim::None && wanted > frac) {
    body.append(static_cast<std::size_t>(wanted - frac), '0');
    frac = wanted;
  }
  if (trim != Trim::None && frac > 0) {
    while (body.back() == '0') {
      body.pop_back();
      --frac;
    }
    if (body.back() == '.') {
      if (trim == Trim::LeaveOneZero) {
        body += '0';
        ++frac;
      } else if (trim == Trim::PointZeros) {
        body.pop_back();
      }
    }
  }
  if (pad_right >= frac) {
    if (trim == Trim::PointZeros && frac == 0) body += ' ';
    body.append(static_cast<std::size_t>(pad_right - frac), ' ');
  }
  std::string out = f.neg ? "-" + body : body;
  const int left = whole + (f.neg ? 1 : 0);
  if (pad_left > left) out.insert(0, static_cast<std::size_t>(pad_left - left), ' ');
  return out;
}

// Scientific notation ("1.25e+01"); exp_digits is the least number of
// exponent digits (-1: two). f must be finite.
std::string format_scientific(const FloatBits& f, int precision, int min_digits, Trim trim, int pad_left,
                              int exp_digits) {
  std::string out;
  const int left = 1 + (f.neg ? 1 : 0);
  if (pad_left > left) out.append(static_cast<std::size_t>(pad_left - left), ' ');
  if (f.neg) out += '-';
  const Digits d = generate_digits(f, Cutoff::Total, precision < 0 ? -1 : precision + 1,
                                   min_digits < 0 ? -1 : min_digits + 1);
  out += d.digits[0];
  int frac = static_cast<int>(d.digits.size()) - 1;
  if (frac > 0) out += "." + d.digits.substr(1);
  if (trim != Trim::PointZeros && frac == 0) out += '.';
  const int wanted = std::max(min_digits, 0);
  if (trim == Trim::LeaveOneZero) {
    if (frac == 0) {
      out += '0';
      ++frac;
    }
  } else if (trim == Trim::None && wanted > frac) {
    out.append(static_cast<std::size_t>(wanted - frac), '0');
    frac = wanted;
  }
  if (trim != Trim::None && frac > 0) {
    while (out.back() == '0') out.pop_back();
    if (trim == Trim::LeaveOneZero && out.back() == '.') out += '0';
  }
  int exp = d.exponent;
  out += exp < 0 ? "e-" : "e+";
  std::string e = std::to_string(exp < 0 ? -exp : exp);
  const int min_e = exp_digits < 0 ? 2 : std::min(exp_digits, 5);
  if (static_cast<int>(e.size()) < min_e) e.insert(0, static_cast<std::size_t>(min_e) - e.size(), '0');
  return out + e;
}

// ---------------------------------------------------------------------------
// Element formatters, built from the elements that will be shown.

// A value rounded to the dtype (for NumPy's thresholds, which compare in the
// array's own dtype).
double in_dtype(DType t, double v) {
  switch (t) {
    case DType::F32: return static_cast<float>(v);
    case DType::F16: return static_cast<float>(half(static_cast<float>(v)));
    case DType::BF16: return static_cast<float>(bfloat16(static_cast<float>(v)));
    default: return v;
  }
}

// NumPy (>= 2.3) switches to scientific notation at 10^min(8, precision),
// precision being finfo's decimal digits: f16 3, bf16 2 (ml_dtypes), f32 6.
double exp_cutoff(DType t) {
  switch (t) {
    case DType::F16: return 1e3;
    case DType::BF16: return 1e2;
    case DType::F32: return 1e6;
    default: return 1e8;
  }
}

class FloatFormat {
 public:
  FloatFormat(DType dtype, const std::vector<double>& shown, int precision, bool align)
      : dtype_(dtype), precision_(precision), align_(align) {
    std::vector<double> finite;
    bool has_neg_inf = false;
    for (double v : shown) {
      if (std::isfinite(v)) finite.push_back(v);
      else if (std::isinf(v) && v < 0) has_neg_inf = true;
    }
    double max_abs = -1, min_abs = 0;
    for (double v : finite) {
      if (v == 0) continue;
      const double a = std::fabs(v);
      if (max_abs < 0 || a > max_abs) max_abs = a;
      if (min_abs == 0 || a < min_abs) min_abs = a;
    }
    if (max_abs > 0) {
      const double ratio = dtype == DType::F64
                               ? max_abs / min_abs
                               : in_dtype(dtype, static_cast<float>(max_abs) / static_cast<float>(min_abs));
      exp_format_ = max_abs >= in_dtype(dtype, exp_cutoff(dtype)) || min_abs < in_dtype(dtype, 0.0001) ||
                    ratio > in_dtype(dtype, 1000.0);
    }
    if (finite.empty()) {
      pad_left_ = pad_right_ = 0;
    } else if (exp_format_) {
      int frac = 0, whole = 0, exp_len = 0;
      for (double v : finite) {
        const std::string s = format_scientific(decode(dtype, v), precision_, -1, Trim::Zeros, -1, -1);
        const auto dot = s.find('.'), e = s.find('e');
        whole = std::max(whole, static_cast<int>(dot));
        frac = std::max(frac, static_cast<int>(e - dot - 1));
        exp_len = std::max(exp_len, static_cast<int>(s.size() - e - 1));
      }
      exp_size_ = exp_len - 1;
      trim_ = Trim::None;
      precision_ = min_digits_ = frac;
      pad_left_ = whole;
      pad_right_ = exp_size_ + 2 + precision_;
    } else {
      int frac = 0, whole = 0;
      for (double v : finite) {
        const std::string s = format_positional(decode(dtype, v), precision_, -1, Trim::Zeros, -1, -1);
        const auto dot = s.find('.');
        whole = std::max(whole, static_cast<int>(dot));
        frac = std::max(frac, static_cast<int>(s.size() - dot - 1));
      }
      pad_left_ = whole;
      pad_right_ = frac;
      min_digits_ = 0;
    }
    if (finite.size() != shown.size()) {  // room for "nan", "inf", "-inf"
      const int offset = pad_right_ + 1;
      pad_left_ = std::max({pad_left_, 3 - offset, 3 + (has_neg_inf ? 1 : 0) - offset});
    }
  }

  std::string operator()(double v) const {
    if (!std::isfinite(v)) {
      std::string s = std::isnan(v) ? "nan" : v < 0 ? "-inf" : "inf";
      const int width = pad_left_ + pad_right_ + 1;
      if (align_ && static_cast<int>(s.size()) < width) s.insert(0, static_cast<std::size_t>(width) - s.size(), ' ');
      return s;
    }
    const FloatBits f = decode(dtype_, v);
    if (exp_format_)
      return format_scientific(f, precision_, min_digits_, trim_, align_ ? pad_left_ : -1, exp_size_);
    return format_positional(f, precision_, min_digits_, trim_, align_ ? pad_left_ : -1, align_ ? pad_right_ : -1);
  }

 private:
  DType dtype_;
  int precision_;
  bool align_;
  bool exp_format_ = false;
  int min_digits_ = -1;
  Trim trim_ = Trim::Zeros;
  int pad_left_ = 0, pad_right_ = 0, exp_size_ = -1;
};

// str() of a single value, as NumPy prints a scalar (and a 0-d array): the
// shortest repr; positional from 1e-4 up to a bound that NumPy sets per
// dtype (f16 1e3, f32 1e6, f64 1e16; bf16, which NumPy lacks, 1e2).
std::string float_scalar_str(DType t, double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  const long double bound = t == DType::F64 ? 1e16L : t == DType::F32 ? 1e6L : t == DType::F16 ? 1e3L : 1e2L;
  const long double a = std::fabs(static_cast<long double>(v));
  const FloatBits f = decode(t, v);
  if (v == 0 || (a >= 1e-4L && a < bound)) return format_positional(f, -1, -1, Trim::LeaveOneZero, -1, -1);
  return format_scientific(f, -1, -1, Trim::PointZeros, -1, -1);
}

// ---------------------------------------------------------------------------
// Reading elements

double read_float(const std::byte* p, DType t) {
  switch (t) {
    case DType::F64: {
      double v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    case DType::F32: {
      float v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    case DType::F16: {
      half v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<float>(v);
    }
    case DType::BF16: {
      bfloat16 v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<float>(v);
    }
    default: return 0;
  }
}

std::int64_t read_int(const std::byte* p, DType t) {
  switch (t) {
    case DType::Bool: return *p != std::byte{0};
    case DType::I8: return static_cast<std::int8_t>(*p);
    case DType::U8: return static_cast<std::uint8_t>(*p);
    case DType::I16: {
      std::int16_t v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    case DType::I32: {
      std::int32_t v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    case DType::I64: {
      std::int64_t v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    default: return 0;
  }
}

// ---------------------------------------------------------------------------
// Layout (NumPy's _formatArray)

constexpr int kLineWidth = 75;  // NumPy's default linewidth

std::string rstrip(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
  return s;
}

class Layout {
 public:
  Layout(const Array& a, const PrintOptions& o) : a_(a), o_(o) {
    base_ = static_cast<const std::byte*>(a.raw_data());
    item_ = static_cast<std::int64_t>(dtype_size(a.dtype()));
    summarize_ = a.size() > o.threshold;
    edge_ = std::max(o.edge_items, 0);
    index_.reserve(a.shape().size());
  }

  // Every element that will be shown, in order (NumPy formats the summarised
  // data to choose widths).
  template <class F>
  void for_each_shown(F&& f) {
    index_.clear();
    visit_shown(0, f);
  }

  template <class Fmt>
  std::string render(const Fmt& fmt) {
    index_.clear();
    const std::string indent = o_.one_line ? "" : " ";
    return recurse(fmt, indent, kLineWidth);
  }

  const std::byte* element() const {
    std::int64_t off = 0;
    for (std::size_t i = 0; i < index_.size(); ++i) off += index_[i] * a_.strides()[i];
    return base_ + off * item_;
  }

 private:
  bool show_summary(std::int64_t len) const { return summarize_ && 2 * static_cast<std::int64_t>(edge_) < len; }

  template <class F>
  void visit_shown(std::size_t axis, F& f) {
    if (axis == a_.shape().size()) {
      f(element());
      return;
    }
    const std::int64_t len = a_.shape()[axis];
    const bool cut = show_summary(len);
    index_.push_back(0);
    for (std::int64_t i = 0; i < len; ++i) {
      if (cut && i == edge_) i = len - edge_;
      index_.back() = i;
      visit_shown(axis + 1, f);
    }
    index_.pop_back();
  }

  // NumPy's _extendLine: wrap before `word` if the line would grow too long,
  // unless the line holds nothing but its indent.
  void extend_line(std::string& s, std::string& line, const std::string& word, int width,
                   const std::string& indent) const {
    bool wrap = !o_.one_line && static_cast<int>(line.size() + word.size()) > width;
    if (line.size() <= indent.size()) wrap = false;
    if (wrap) {
      s += rstrip(line) + "\n";
      line = indent;
    }
    line += word;
  }

  template <class Fmt>
  std::string recurse(const Fmt& fmt, const std::string& indent, int width) {
    const std::size_t axis = index_.size();
    const std::size_t axes_left = a_.shape().size() - axis;
    if (axes_left == 0) return fmt(element());
    const std::string next_indent = o_.one_line ? "" : indent + " ";
    const int next_width = width - 1;
    const std::int64_t len = a_.shape()[axis];
    const bool cut = show_summary(len);
    const std::int64_t leading = cut ? edge_ : 0, trailing = cut ? edge_ : len;
    const std::string& sep = o_.separator;
    const std::string sep_stripped = rstrip(sep);
    std::string s;
    index_.push_back(0);
    auto child = [&](std::int64_t i) {
      index_.back() = i;
      return recurse(fmt, next_indent, next_width);
    };
    if (axes_left == 1) {
      const int elem_width = width - std::max<int>(static_cast<int>(sep_stripped.size()), 1);
      std::string line = indent;
      for (std::int64_t i = 0; i < leading; ++i) {
        extend_line(s, line, child(i), elem_width, indent);
        line += sep;
      }
      if (cut) {
        extend_line(s, line, "...", elem_width, indent);
        line += sep;
      }
      for (std::int64_t i = trailing; i > 1; --i) {
        extend_line(s, line, child(len - i), elem_width, indent);
        line += sep;
      }
      extend_line(s, line, child(len - 1), elem_width, indent);
      s += line;
    } else {
      const std::string line_sep =
          o_.one_line ? sep_stripped + " " : sep_stripped + std::string(axes_left - 1, '\n');
      for (std::int64_t i = 0; i < leading; ++i) s += indent + child(i) + line_sep;
      if (cut) s += indent + "..." + line_sep;
      for (std::int64_t i = trailing; i > 1; --i) s += indent + child(len - i) + line_sep;
      s += indent + child(len - 1);
    }
    index_.pop_back();
    return "[" + s.substr(indent.size()) + "]";
  }

  const Array& a_;
  const PrintOptions& o_;
  const std::byte* base_ = nullptr;
  std::int64_t item_ = 1;
  bool summarize_ = false;
  int edge_ = 3;
  std::vector<std::int64_t> index_;
};

}  // namespace

std::string Array::to_string(const PrintOptions& opts) const {
  if (!buffer_) return "Array(null)";
  if (!device().is_cpu())
    throw Error("Array::to_string: the array is on " + device().str() + "; copy it to the cpu to print it");
  const DType t = dtype_;
  if (ndim() == 0) {
    const auto* p = static_cast<const std::byte*>(raw_data());
    if (is_float(t)) return float_scalar_str(t, read_float(p, t));
    if (is_bool(t)) return read_int(p, t) ? "True" : "False";
    return std::to_string(read_int(p, t));
  }
  if (size() == 0) return "[]";

  Layout layout(*this, opts);
  if (is_float(t)) {
    std::vector<double> shown;
    layout.for_each_shown([&](const std::byte* p) { shown.push_back(read_float(p, t)); });
    FloatFormat fmt(t, shown, opts.precision, opts.align);
    return layout.render([&](const std::byte* p) { return fmt(read_float(p, t)); });
  }
  if (is_bool(t)) {
    return layout.render([&](const std::byte* p) -> std::string {
      if (read_int(p, t)) return opts.align ? " True" : "True";
      return "False";
    });
  }
  std::size_t width = 0;
  if (opts.align) {
    layout.for_each_shown([&](const std::byte* p) { width = std::max(width, std::to_string(read_int(p, t)).size()); });
  }
  return layout.render([&](const std::byte* p) {
    std::string s = std::to_string(read_int(p, t));
    if (s.size() < width) s.insert(0, width - s.size(), ' ');
    return s;
  });
}

std::ostream& operator<<(std::ostream& os, const Array& a) { return os << a.to_string(); }

}  // namespace kiln
