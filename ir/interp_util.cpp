// Loading, storing and walking elements for the reference interpreter.
#include "ir/interp_util.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "ir/shape_util.hpp"

namespace kiln::ir::interp {

namespace {

template <class T>
T read(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <class T>
void write(std::byte* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

// Rounds a double to float with round-to-odd: an inexact result gets its last
// mantissa bit set. Rounding that float once more to nearest-even (to half or
// bfloat16, which have fewer than 22 mantissa bits) then gives the correctly
// rounded result, so no value is rounded twice the wrong way.
float to_float_odd(double d) {
  float f = static_cast<float>(d);
  if (!std::isfinite(d) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);  // truncate
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(f) | 1u);
}

// The base of a zero-size view: never dereferenced, but not null, so that
// offset arithmetic on it stays defined.
std::byte* empty_base() {
  static std::byte dummy[16];
  return dummy;
}

}  // namespace

LoadF load_f(DType t) {
  switch (t) {
    case DType::F64: return [](const std::byte* p) { return read<double>(p); };
    case DType::F32: return [](const std::byte* p) { return static_cast<double>(read<float>(p)); };
    case DType::F16:
      return [](const std::byte* p) { return static_cast<double>(static_cast<float>(read<half>(p))); };
    case DType::BF16:
      return [](const std::byte* p) { return static_cast<double>(static_cast<float>(read<bfloat16>(p))); };
    default: break;
  }
  KILN_UNREACHABLE("load_f of non-float dtype " << dtype_name(t));
}

LoadI load_i(DType t) {
  switch (t) {
    case DType::Bool: return [](const std::byte* p) { return std::int64_t{read<std::uint8_t>(p) != 0}; };
    case DType::I8: return [](const std::byte* p) { return std::int64_t{read<std::int8_t>(p)}; };
    case DType::I16: return [](const std::byte* p) { return std::int64_t{read<std::int16_t>(p)}; };
    case DType::I32: return [](const std::byte* p) { return std::int64_t{read<std::int32_t>(p)}; };
    case DType::I64: return [](const std::byte* p) { return read<std::int64_t>(p); };
    case DType::U8: return [](const std::byte* p) { return std::int64_t{read<std::uint8_t>(p)}; };
    default: break;
  }
  KILN_UNREACHABLE("load_i of non-integer dtype " << dtype_name(t));
}

StoreF store_f(DType t) {
  switch (t) {
    case DType::F64: return [](std::byte* p, double v) { write(p, v); };
    case DType::F32: return [](std::byte* p, double v) { write(p, static_cast<float>(v)); };
    case DType::F16: return [](std::byte* p, double v) { write(p, half(to_float_odd(v))); };
    case DType::BF16: return [](std::byte* p, double v) { write(p, bfloat16(to_float_odd(v))); };
    default: break;
  }
  KILN_UNREACHABLE("store_f of non-float dtype " << dtype_name(t));
}

StoreI store_i(DType t) {
  // Conversion of an out-of-range value to a narrower integer type is modular
  // in C++20, which is the two's complement wrap we want.
  switch (t) {
    case DType::Bool: return [](std::byte* p, std::int64_t v) { write(p, static_cast<std::uint8_t>(v != 0)); };
    case DType::I8: return [](std::byte* p, std::int64_t v) { write(p, static_cast<std::int8_t>(v)); };
    case DType::I16: return [](std::byte* p, std::int64_t v) { write(p, static_cast<std::int16_t>(v)); };
    case DType::I32: return [](std::byte* p, std::int64_t v) { write(p, static_cast<std::int32_t>(v)); };
    case DType::I64: return [](std::byte* p, std::int64_t v) { write(p, v); };
    case DType::U8: return [](std::byte* p, std::int64_t v) { write(p, static_cast<std::uint8_t>(v)); };
    default: break;
  }
  KILN_UNREACHABLE("store_i of non-integer dtype " << dtype_name(t));
}

std::int64_t float_to_int(double v, DType to) {
  if (to == DType::Bool) return v != 0;  // NaN != 0 is true
  if (std::isnan(v)) return 0;
  double lo, hi;
  switch (to) {
    case DType::I8: lo = -128.0; hi = 127.0; break;
    case DType::I16: lo = -32768.0; hi = 32767.0; break;
    case DType::I32: lo = -2147483648.0; hi = 2147483647.0; break;
    case DType::U8: lo = 0.0; hi = 255.0; break;
    case DType::I64:
      // 2^63 is not an int64; compare against it rather than INT64_MAX (which
      // rounds to 2^63 as a double).
      if (v >= 9223372036854775808.0) return std::numeric_limits<std::int64_t>::max();
      if (v <= -9223372036854775808.0) return std::numeric_limits<std::int64_t>::min();
      return static_cast<std::int64_t>(v);
    default: KILN_UNREACHABLE("float_to_int to " << dtype_name(to));
  }
  double t = std::trunc(v);
  if (t < lo) t = lo;
  if (t > hi) t = hi;
  return static_cast<std::int64_t>(t);
}

double int_to_float(std::int64_t v, DType to) {
  if (to == DType::F64) return static_cast<double>(v);  // rounds once, to nearest even
  std::uint64_t m = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  if (m <= (std::uint64_t{1} << 53)) return static_cast<double>(v);  // exact
  // Round to odd at 53 bits: keep the top 53 bits, OR a sticky bit into the last.
  int shift = (63 - std::countl_zero(m)) - 52;
  std::uint64_t kept = (m >> shift) << shift;
  if (kept != m) kept |= std::uint64_t{1} << shift;
  double d = static_cast<double>(kept);  // exact: at most 53 significant bits
  return v < 0 ? -d : d;
}

View view_of(const Array& a) {
  KILN_CHECK(a.device().is_cpu(), "the interpreter reads host arrays only, got one on " << a.device().str());
  View v;
  v.dtype = a.dtype();
  v.shape = a.shape();
  const auto es = static_cast<std::int64_t>(dtype_size(a.dtype()));
  v.strides.resize(a.shape().size());
  for (std::size_t i = 0; i < v.strides.size(); ++i) v.strides[i] = a.strides()[i] * es;
  v.base = a.size() > 0 ? static_cast<std::byte*>(a.raw_data()) : empty_base();
  return v;
}

Array new_array(const Shape& shape, DType t, View* v) {
  Array a = Array::empty(shape, t);
  v->dtype = t;
  v->shape = shape;
  v->strides.assign(shape.size(), 0);
  std::int64_t s = static_cast<std::int64_t>(dtype_size(t));
  for (std::size_t i = shape.size(); i-- > 0;) {
    v->strides[i] = s;
    s *= shape[i];
  }
  v->base = a.size() > 0 ? static_cast<std::byte*>(a.raw_data()) : empty_base();
  return a;
}

std::int64_t num_elements(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const Shape& s) { return ints_str(s); }

void fail(const Node& node, const std::string& what) { user_error(node.loc(), node.name(), what); }

bool broadcast_runtime(const std::vector<const Shape*>& shapes, const std::vector<const std::vector<Dim>*>& dims,
                       Shape* out, std::string* why) {
  Shape r;
  for (const Shape* s : shapes)
    if (!broadcast_shapes(r, *s, &r)) {
      *why = "";
      return false;
    }
  // kiln's rule: only a dim statically known to be 1 may stretch.
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = *shapes[i];
    const std::size_t lead = r.size() - s.size();
    for (std::size_t ax = 0; ax < s.size(); ++ax) {
      const Dim& d = (*dims[i])[ax];
      if (s[ax] != r[lead + ax] && !(d.known() && d.size == 1)) {
        *why = "dim " + std::to_string(ax) + " of operand " + std::to_string(i) + " is " + std::to_string(s[ax]) +
               " at run time but not statically 1 (" + dims_str(*dims[i]) + "), so it must match " +
               std::to_string(r[lead + ax]);
        return false;
      }
    }
  }
  *out = std::move(r);
  return true;
}

Shape broadcast_inputs(const Node& node, const std::vector<const Array*>& ins,
                       const std::vector<const TensorType*>& types) {
  std::vector<const Shape*> shapes;
  std::vector<const std::vector<Dim>*> dims;
  for (std::size_t i = 0; i < ins.size(); ++i) {
    shapes.push_back(&ins[i]->shape());
    dims.push_back(&types[i]->dims);
  }
  Shape out;
  std::string why;
  if (!broadcast_runtime(shapes, dims, &out, &why)) {
    std::string s;
    for (std::size_t i = 0; i < ins.size(); ++i)
      s += (i == 0 ? "" : i + 1 == ins.size() ? " and " : ", ") + shape_string(ins[i]->shape());
    fail(node, "cannot broadcast shapes " + s + (why.empty() ? "" : ": " + why));
  }
  return out;
}

View broadcast_view(const Node& node, const View& v, const std::vector<Dim>& dims, const Shape& target,
                    const std::string& what) {
  if (v.shape.size() > target.size())
    fail(node, what + " " + shape_string(v.shape) + " to the lower-rank shape " + shape_string(target));
  View r;
  r.base = v.base;
  r.dtype = v.dtype;
  r.shape = target;
  r.strides.assign(target.size(), 0);
  const std::size_t lead = target.size() - v.shape.size();
  for (std::size_t ax = 0; ax < v.shape.size(); ++ax) {
    const std::int64_t have = v.shape[ax], want = target[lead + ax];
    if (have == want) {
      r.strides[lead + ax] = v.strides[ax];
    } else if (have == 1 && dims[ax].known() && dims[ax].size == 1) {
      r.strides[lead + ax] = 0;
    } else {
      std::string why = have == 1 ? " (dim " + std::to_string(ax) + " is 1 at run time but not statically 1, so it must match)"
                                  : "";
      fail(node, what + " " + shape_string(v.shape) + " to " + shape_string(target) + why);
    }
  }
  return r;
}

void copy_view(const View& dst, const View& src) {
  KILN_CHECK(dst.shape == src.shape && dst.dtype == src.dtype, "copy_view of mismatched views");
  const std::size_t es = dtype_size(dst.dtype);
  for_each_row<2>(dst.shape, {&dst.strides, &src.strides},
                  [&](const std::array<std::int64_t, 2>& off, std::int64_t n, const std::array<std::int64_t, 2>& in) {
                    std::byte* d = dst.base + off[0];
                    const std::byte* s = src.base + off[1];
                    for (std::int64_t j = 0; j < n; ++j) std::memcpy(d + j * in[0], s + j * in[1], es);
                  });
}

void add_into_view(const View& dst, const View& src) {
  KILN_CHECK(dst.shape == src.shape && dst.dtype == src.dtype, "add_into_view of mismatched views");
  const std::array<const Shape*, 2> strides{&dst.strides, &src.strides};
  if (float_domain(dst.dtype)) {
    LoadF ld = load_f(dst.dtype);
    StoreF st = store_f(dst.dtype);
    for_each_row<2>(dst.shape, strides,
                    [&](const std::array<std::int64_t, 2>& off, std::int64_t n, const std::array<std::int64_t, 2>& in) {
                      for (std::int64_t j = 0; j < n; ++j) {
                        std::byte* d = dst.base + off[0] + j * in[0];
                        st(d, ld(d) + ld(src.base + off[1] + j * in[1]));
                      }
                    });
  } else {
    LoadI ld = load_i(dst.dtype);
    StoreI st = store_i(dst.dtype);
    for_each_row<2>(dst.shape, strides,
                    [&](const std::array<std::int64_t, 2>& off, std::int64_t n, const std::array<std::int64_t, 2>& in) {
                      for (std::int64_t j = 0; j < n; ++j) {
                        std::byte* d = dst.base + off[0] + j * in[0];
                        std::uint64_t sum = static_cast<std::uint64_t>(ld(d)) +
                                            static_cast<std::uint64_t>(ld(src.base + off[1] + j * in[1]));
                        st(d, static_cast<std::int64_t>(sum));
                      }
                    });
  }
}

std::vector<std::int64_t> element_offsets(const Shape& shape, const Shape& strides) {
  std::vector<std::int64_t> offs;
  offs.reserve(static_cast<std::size_t>(num_elements(shape)));
  for_each_row<1>(shape, {&strides}, [&](const std::array<std::int64_t, 1>& off, std::int64_t n,
                                         const std::array<std::int64_t, 1>& in) {
    for (std::int64_t j = 0; j < n; ++j) offs.push_back(off[0] + j * in[0]);
  });
  return offs;
}

Array fill_array(const Shape& shape, double value, DType t) {
  View v;
  Array a = new_array(shape, t, &v);
  const std::size_t es = dtype_size(t);
  const std::int64_t n = num_elements(shape);
  if (float_domain(t)) {
    StoreF st = store_f(t);
    for (std::int64_t e = 0; e < n; ++e) st(v.base + e * es, value);
  } else {
    StoreI st = store_i(t);
    const std::int64_t iv = float_to_int(value, t);
    for (std::int64_t e = 0; e < n; ++e) st(v.base + e * es, iv);
  }
  return a;
}

Array materialize(const View& v) {
  View dst;
  Array a = new_array(v.shape, v.dtype, &dst);
  copy_view(dst, v);
  return a;
}

}  // namespace kiln::ir::interp
