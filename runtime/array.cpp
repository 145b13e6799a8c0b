// kiln::Array: storage, views, element access and dtype conversion.
//
// Loading and saving .npy files lives in npy.cpp, printing in print.cpp and
// the random constructors in random.cpp.
#include "kiln/array.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <type_traits>

#include "runtime/cuda_driver.hpp"

namespace kiln {

Buffer::~Buffer() {
  if (deleter) deleter(data);
}

// ---------------------------------------------------------------------------
// Shapes

std::int64_t shape_size(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) return 0;  // an invalid shape holds nothing; validate_shape reports it
    if (__builtin_mul_overflow(n, d, &n))
      throw Error("shape " + shape_str(shape) + " has too many elements");
  }
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape s(shape.size());
  std::int64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    s[i] = stride;
    stride *= std::max<std::int64_t>(shape[i], 1);
  }
  return s;
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;

// Checks that every dimension is non-negative and that the array's byte size
// fits in a signed 64-bit count.
void validate_shape(const Shape& shape, DType dtype, const char* what) {
  for (std::int64_t d : shape)
    if (d < 0) throw Error(std::string(what) + ": negative dimension in shape " + shape_str(shape));
  std::int64_t n = 1;
  for (std::int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n))
      throw Error(std::string(what) + ": shape " + shape_str(shape) + " has too many elements");
  std::int64_t bytes = 0;
  if (__builtin_mul_overflow(n, static_cast<std::int64_t>(dtype_size(dtype)), &bytes))
    throw Error(std::string(what) + ": shape " + shape_str(shape) + " is too large");
}

// Host memory. Blocks of kCacheMin bytes and more are kept when their last
// array dies and handed out again for a request of the same rounded size:
// getting a fresh 64 MB block from the OS and touching it costs 25-39 ms of
// page faults on the machines we measured, more than computing an
// elementwise kernel over it, and a compiled function called in a loop asks
// for the same sizes every call. The cache is bounded (kCacheLimit, oldest
// blocks go first) and free_cached_memory() empties it.
constexpr std::size_t kCacheMin = std::size_t{1} << 20;
constexpr std::size_t kCacheLimit = std::size_t{1} << 30;

struct BlockCache {
  std::mutex mu;
  std::vector<std::pair<std::size_t, void*>> blocks;  // (rounded size, block), oldest first
  std::size_t bytes = 0;
};
BlockCache& block_cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: arrays may die at exit
  return *c;
}

void release_block(void* p, std::size_t rounded) {
  if (rounded >= kCacheMin && rounded <= kCacheLimit) {
    BlockCache& c = block_cache();
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(c.mu);
      while (c.bytes + rounded > kCacheLimit && !c.blocks.empty()) {
        evicted.push_back(c.blocks.front().second);
        c.bytes -= c.blocks.front().first;
        c.blocks.erase(c.blocks.begin());
      }
      c.blocks.push_back({rounded, p});
      c.bytes += rounded;
    }
    for (void* e : evicted) std::free(e);
    return;
  }
  std::free(p);
}

void* take_cached_block(std::size_t rounded) {
  if (rounded < kCacheMin) return nullptr;
  BlockCache& c = block_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (std::size_t i = c.blocks.size(); i-- > 0;) {  // newest first: likeliest still in cache
    if (c.blocks[i].first != rounded) continue;
    void* p = c.blocks[i].second;
    c.bytes -= rounded;
    c.blocks.erase(c.blocks.begin() + static_cast<std::ptrdiff_t>(i));
    return p;
  }
  return nullptr;
}

std::shared_ptr<Buffer> allocate_host(std::size_t bytes) {
  const bool huge = bytes >= kHugePage;
  const std::size_t align = huge ? kHugePage : 64;
  const std::size_t round_to = huge ? kHugePage : bytes >= kCacheMin ? std::size_t{1} << 16 : align;
  const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + round_to - 1) / round_to * round_to;
  void* p = take_cached_block(rounded);
  if (!p) {
    p = std::aligned_alloc(align, rounded);
    if (!p) throw RuntimeError("Array: out of memory allocating " + std::to_string(bytes) + " bytes");
#ifdef MADV_HUGEPAGE
    if (huge) (void)madvise(p, rounded, MADV_HUGEPAGE);  // a hint; failure is harmless
#endif
  }
  auto buf = std::make_shared<Buffer>();
  buf->data = static_cast<std::byte*>(p);
  buf->bytes = bytes;
  buf->device = Device::cpu();
  buf->deleter = [rounded](std::byte* d) { release_block(d, rounded); };
  return buf;
}

}  // namespace

std::size_t free_cached_memory() {
  BlockCache& c = block_cache();
  std::vector<std::pair<std::size_t, void*>> blocks;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    blocks.swap(c.blocks);
    c.bytes = 0;
  }
  std::size_t freed = 0;
  for (auto& [n, p] : blocks) {
    freed += n;
    std::free(p);
  }
  return freed;
}

namespace {

const char* cpp_type_name(DType t) {
  switch (t) {
    case DType::Bool: return "bool";
    case DType::I8: return "int8_t";
    case DType::I16: return "int16_t";
    case DType::I32: return "int32_t";
    case DType::I64: return "int64_t";
    case DType::U8: return "uint8_t";
    case DType::F16: return "half";
    case DType::BF16: return "bfloat16";
    case DType::F32: return "float";
    case DType::F64: return "double";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Per-dtype storage and conversion.
//
// Every value is read into one of three exact carriers (bool, int64 for the
// integer dtypes, double for the float dtypes) and written from one of them
// with NumPy's casting rules, tightened where NumPy leaves the result
// undefined: float → int truncates toward zero, NaN gives 0 and values out of
// range saturate; int → int wraps (two's complement), as NumPy does; anything
// → bool is `!= 0` (NaN is true); float → f16/bf16 rounds to nearest even
// with a single rounding.

template <DType T> struct Traits;
template <> struct Traits<DType::Bool> { using S = std::uint8_t; };
template <> struct Traits<DType::I8> { using S = std::int8_t; };
template <> struct Traits<DType::I16> { using S = std::int16_t; };
template <> struct Traits<DType::I32> { using S = std::int32_t; };
template <> struct Traits<DType::I64> { using S = std::int64_t; };
template <> struct Traits<DType::U8> { using S = std::uint8_t; };
template <> struct Traits<DType::F16> { using S = half; };
template <> struct Traits<DType::BF16> { using S = bfloat16; };
template <> struct Traits<DType::F32> { using S = float; };
template <> struct Traits<DType::F64> { using S = double; };

template <DType T> constexpr bool kIsFloat =
    T == DType::F16 || T == DType::BF16 || T == DType::F32 || T == DType::F64;

template <DType T> using DT = std::integral_constant<DType, T>;

template <class F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::Bool: return f(DT<DType::Bool>{});
    case DType::I8: return f(DT<DType::I8>{});
    case DType::I16: return f(DT<DType::I16>{});
    case DType::I32: return f(DT<DType::I32>{});
    case DType::I64: return f(DT<DType::I64>{});
    case DType::U8: return f(DT<DType::U8>{});
    case DType::F16: return f(DT<DType::F16>{});
    case DType::BF16: return f(DT<DType::BF16>{});
    case DType::F32: return f(DT<DType::F32>{});
    case DType::F64: return f(DT<DType::F64>{});
  }
  KILN_UNREACHABLE("bad dtype " << static_cast<int>(t));
}

// Reads an element as its exact carrier: bool, std::int64_t or double.
template <DType T>
auto load_elem(const std::byte* p) {
  typename Traits<T>::S v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (T == DType::Bool) return v != 0;
  else if constexpr (T == DType::F64) return v;
  else if constexpr (kIsFloat<T>) return static_cast<double>(static_cast<float>(v));
  else return static_cast<std::int64_t>(v);
}

// A double rounded to float, rounding to odd: truncate toward zero and set
// the last bit when the result is inexact. Rounding that float once more to
// nearest even (to half or bfloat16, at least two bits shorter) then gives
// the correctly rounded result of the double.
float to_float_round_odd(double d) {
  float f = static_cast<float>(d);
  if (static_cast<double>(f) == d) return f;
  if (std::isinf(f)) {
    f = std::copysign(std::numeric_limits<float>::max(), f);  // largest finite, odd
  } else if (std::fabs(static_cast<double>(f)) > std::fabs(d)) {
    f = std::nextafter(f, 0.0f);
  }
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(f) | 1u);
}

half double_to_half(double d) {
  if (std::isnan(d)) {  // keep the sign and the top payload bits, like NumPy
    std::uint64_t b = std::bit_cast<std::uint64_t>(d);
    auto h = static_cast<std::uint16_t>(0x7c00u + ((b & 0x000fffffffffffffull) >> 42));
    if (h == 0x7c00u) ++h;
    return half::from_bits(static_cast<std::uint16_t>(((b >> 48) & 0x8000u) | h));
  }
  return half(to_float_round_odd(d));
}

bfloat16 double_to_bfloat16(double d) {
  if (std::isnan(d)) return bfloat16(static_cast<float>(d));
  return bfloat16(to_float_round_odd(d));
}

__extension__ using int128 = __int128;  // holds every int64 and 2^63

// An int64 rounded to double with rounding to odd (exact below 2^53).
double int_to_double_round_odd(std::int64_t v) {
  double d = static_cast<double>(v);
  const int128 back = static_cast<int128>(d);
  if (back == v) return d;
  if ((back > v) == (v > 0)) d = std::nextafter(d, 0.0);  // now truncated toward zero
  return std::bit_cast<double>(std::bit_cast<std::uint64_t>(d) | 1u);
}

template <class I>
I float_to_int(double v) {
  if (std::isnan(v)) return 0;
  // Both limits as doubles are exact: min is -2^k, max + 1 is 2^k (2^8 for u8).
  constexpr double lo = static_cast<double>(std::numeric_limits<I>::min());
  constexpr double hi_excl = static_cast<double>(std::numeric_limits<I>::max() / 2 + 1) * 2.0;
  if (v <= lo) return std::numeric_limits<I>::min();
  if (v >= hi_excl) return std::numeric_limits<I>::max();
  return static_cast<I>(std::trunc(v));
}

template <DType D>
typename Traits<D>::S convert(bool v) {
  using S = typename Traits<D>::S;
  if constexpr (D == DType::F16 || D == DType::BF16) return S(v ? 1.0f : 0.0f);
  else return static_cast<S>(v ? 1 : 0);
}

template <DType D>
typename Traits<D>::S convert(std::int64_t v) {
  using S = typename Traits<D>::S;
  if constexpr (D == DType::Bool) return v != 0;
  else if constexpr (D == DType::F16) return double_to_half(int_to_double_round_odd(v));
  else if constexpr (D == DType::BF16) return double_to_bfloat16(int_to_double_round_odd(v));
  else return static_cast<S>(v);  // int → int wraps; int → float rounds to nearest
}

template <DType D>
typename Traits<D>::S convert(double v) {
  using S = typename Traits<D>::S;
  if constexpr (D == DType::Bool) return v != 0;  // NaN != 0
  else if constexpr (D == DType::F16) return double_to_half(v);
  else if constexpr (D == DType::BF16) return double_to_bfloat16(v);
  else if constexpr (kIsFloat<D>) return static_cast<S>(v);
  else return float_to_int<S>(v);
}

template <DType D, class V>
void store_elem(std::byte* p, V v) {
  typename Traits<D>::S s = convert<D>(v);
  std::memcpy(p, &s, sizeof s);
}

// Calls f(offset) for each element in C order; offsets in elements, relative
// to element [0, 0, ...].
template <class F>
void for_each_offset(const Shape& shape, const Shape& strides, F&& f) {
  const std::size_t n = shape.size();
  for (std::int64_t d : shape)
    if (d == 0) return;
  if (n == 0) {
    f(std::int64_t{0});
    return;
  }
  std::vector<std::int64_t> idx(n, 0);
  const std::int64_t inner = shape[n - 1], inner_stride = strides[n - 1];
  std::int64_t base = 0;
  for (;;) {
    for (std::int64_t i = 0; i < inner; ++i) f(base + i * inner_stride);
    std::size_t d = n - 1;
    for (;;) {
      if (d == 0) return;
      --d;
      base += strides[d];
      if (++idx[d] < shape[d]) break;
      base -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

// The same walk over two arrays of one shape.
template <class F>
void for_each_offset_pair(const Shape& shape, const Shape& sa, const Shape& sb, F&& f) {
  const std::size_t n = shape.size();
  for (std::int64_t d : shape)
    if (d == 0) return;
  if (n == 0) {
    f(std::int64_t{0}, std::int64_t{0});
    return;
  }
  std::vector<std::int64_t> idx(n, 0);
  const std::int64_t inner = shape[n - 1], ia = sa[n - 1], ib = sb[n - 1];
  std::int64_t a = 0, b = 0;
  for (;;) {
    for (std::int64_t i = 0; i < inner; ++i) f(a + i * ia, b + i * ib);
    std::size_t d = n - 1;
    for (;;) {
      if (d == 0) return;
      --d;
      a += sa[d];
      b += sb[d];
      if (++idx[d] < shape[d]) break;
      a -= sa[d] * shape[d];
      b -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
}

// dst[...] = convert(src[...]) for arrays of the same shape (host).
void convert_into(const Array& src, const Array& dst) {
  const auto* sp = static_cast<const std::byte*>(src.raw_data());
  auto* dp = static_cast<std::byte*>(dst.raw_data());
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    std::size_t bytes = static_cast<std::size_t>(src.size()) * dtype_size(src.dtype());
    if (bytes) std::memmove(dp, sp, bytes);
    return;
  }
  visit_dtype(src.dtype(), [&](auto s) {
    constexpr DType S = decltype(s)::value;
    visit_dtype(dst.dtype(), [&](auto d) {
      constexpr DType D = decltype(d)::value;
      constexpr auto ss = sizeof(typename Traits<S>::S);
      constexpr auto ds = sizeof(typename Traits<D>::S);
      for_each_offset_pair(src.shape(), src.strides(), dst.strides(), [&](std::int64_t a, std::int64_t b) {
        store_elem<D>(dp + b * static_cast<std::int64_t>(ds), load_elem<S>(sp + a * static_cast<std::int64_t>(ss)));
      });
    });
  });
}

// The lowest and highest element offsets (in elements, relative to element
// [0, ...]) of a non-empty strided layout.
void offset_range(const Shape& shape, const Shape& strides, std::int64_t& lo, std::int64_t& hi,
                  const char* what) {
  lo = hi = 0;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    std::int64_t span = 0;
    bool overflow = __builtin_mul_overflow(shape[i] - 1, strides[i], &span);
    if (!overflow) overflow = span > 0 ? __builtin_add_overflow(hi, span, &hi) : __builtin_add_overflow(lo, span, &lo);
    if (overflow)
      throw Error(std::string(what) + ": strides " + shape_str(strides) + " overflow for shape " +
                  shape_str(shape));
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Construction

Array Array::empty(const Shape& shape, DType dtype, Device device) {
  validate_shape(shape, dtype, "Array::empty");
  if (device.is_cuda()) {
    Array a;
    a.buffer_ = runtime::cuda_allocate(device, static_cast<std::size_t>(shape_size(shape)) * dtype_size(dtype),
                                       "Array::empty");
    a.dtype_ = dtype;
    a.shape_ = shape;
    a.strides_ = contiguous_strides(shape);
    a.offset_ = 0;
    return a;
  }
  Array a;
  a.buffer_ = allocate_host(static_cast<std::size_t>(shape_size(shape)) * dtype_size(dtype));
  a.dtype_ = dtype;
  a.shape_ = shape;
  a.strides_ = contiguous_strides(shape);
  a.offset_ = 0;
  return a;
}

Array Array::zeros(const Shape& shape, DType dtype, Device device) {
  if (device.is_cuda()) {  // filled on the host, then copied
    runtime::cuda_device(device, "Array::zeros");
    return zeros(shape, dtype).to(device);
  }
  Array a = empty(shape, dtype, device);
  std::memset(a.buffer_->data, 0, a.buffer_->bytes);  // all-zero bits are 0 in every dtype
  return a;
}

Array Array::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Array Array::full(const Shape& shape, double value, DType dtype, Device device) {
  if (device.is_cuda()) {  // filled on the host, then copied
    runtime::cuda_device(device, "Array::full");
    return full(shape, value, dtype).to(device);
  }
  Array a = empty(shape, dtype, device);
  visit_dtype(dtype, [&](auto t) {
    constexpr DType T = decltype(t)::value;
    typename Traits<T>::S v = convert<T>(value);
    auto* p = reinterpret_cast<typename Traits<T>::S*>(a.buffer_->data);
    std::fill(p, p + a.size(), v);
  });
  return a;
}

Array Array::scalar(double value, DType dtype) { return full({}, value, dtype); }

Array Array::arange(double start, double stop, double step, DType dtype) {
  if (step == 0) throw Error("Array::arange: step must not be zero");
  if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
    throw Error("Array::arange: start, stop and step must be finite");
  double n = std::ceil((stop - start) / step);
  if (!(n > 0)) n = 0;
  if (n > 9.0e15) throw Error("Array::arange: too many elements (" + std::to_string(n) + ")");
  const auto len = static_cast<std::int64_t>(n);
  Array a = empty({len}, dtype);
  // As NumPy: the second value is start + step, later ones start + i * delta
  // with delta = (start + step) - start.
  const double second = start + step, delta = second - start;
  visit_dtype(dtype, [&](auto t) {
    constexpr DType T = decltype(t)::value;
    auto* p = reinterpret_cast<typename Traits<T>::S*>(a.buffer_->data);
    for (std::int64_t i = 0; i < len; ++i) {
      double v = i == 0 ? start : i == 1 ? second : start + static_cast<double>(i) * delta;
      p[i] = convert<T>(v);
    }
  });
  return a;
}

Array Array::from_doubles(const std::vector<double>& v, const Shape& shape, DType dtype) {
  validate_shape(shape, dtype, "Array::from_doubles");
  if (static_cast<std::int64_t>(v.size()) != shape_size(shape))
    throw Error("Array::from_doubles: " + std::to_string(v.size()) + " values do not fill shape " +
                shape_str(shape));
  Array a = empty(shape, dtype);
  visit_dtype(dtype, [&](auto t) {
    constexpr DType T = decltype(t)::value;
    auto* p = reinterpret_cast<typename Traits<T>::S*>(a.buffer_->data);
    for (std::size_t i = 0; i < v.size(); ++i) p[i] = convert<T>(v[i]);
  });
  return a;
}

Array Array::view(void* data, const Shape& shape, DType dtype, const Shape& strides, Device device) {
  validate_shape(shape, dtype, "Array::view");
  Shape st = strides.empty() ? contiguous_strides(shape) : strides;
  if (st.size() != shape.size())
    throw Error("Array::view: " + std::to_string(strides.size()) + " strides " + shape_str(strides) +
                " for shape " + shape_str(shape));
  const std::int64_t n = shape_size(shape);
  if (n > 0 && data == nullptr)
    throw Error("Array::view: null data pointer for shape " + shape_str(shape));
  std::int64_t lo = 0, hi = -1;
  if (n > 0) offset_range(shape, st, lo, hi, "Array::view");
  const auto item = static_cast<std::int64_t>(dtype_size(dtype));
  // The buffer covers exactly the elements the view can reach, so that a
  // negative stride still gives a non-negative offset into it.
  auto buf = std::make_shared<Buffer>();
  buf->data = n > 0 ? static_cast<std::byte*>(data) + lo * item : static_cast<std::byte*>(data);
  buf->bytes = n > 0 ? static_cast<std::size_t>((hi - lo + 1) * item) : 0;
  buf->device = device;  // no deleter: the caller owns the memory
  Array a;
  a.buffer_ = std::move(buf);
  a.dtype_ = dtype;
  a.shape_ = shape;
  a.strides_ = std::move(st);
  a.offset_ = -lo;
  return a;
}

Array Array::view(std::shared_ptr<Buffer> buffer, const Shape& shape, DType dtype, const Shape& strides,
                  std::int64_t offset) {
  if (!buffer) throw Error("Array::view: null buffer");
  validate_shape(shape, dtype, "Array::view");
  Shape st = strides.empty() ? contiguous_strides(shape) : strides;
  if (st.size() != shape.size())
    throw Error("Array::view: " + std::to_string(strides.size()) + " strides " + shape_str(strides) +
                " for shape " + shape_str(shape));
  if (offset < 0) throw Error("Array::view: negative offset " + std::to_string(offset));
  if (shape_size(shape) > 0) {
    std::int64_t lo = 0, hi = 0;
    offset_range(shape, st, lo, hi, "Array::view");
    const auto item = static_cast<std::int64_t>(dtype_size(dtype));
    const auto capacity = static_cast<std::int64_t>(buffer->bytes / static_cast<std::size_t>(item));
    if (__builtin_add_overflow(lo, offset, &lo) || __builtin_add_overflow(hi, offset, &hi) || lo < 0 ||
        hi >= capacity)
      throw Error("Array::view: shape " + shape_str(shape) + " with strides " + shape_str(st) +
                  " and offset " + std::to_string(offset) + " reaches outside the buffer of " +
                  std::to_string(buffer->bytes) + " bytes (" + std::string(dtype_name(dtype)) + ")");
  }
  Array a;
  a.buffer_ = std::move(buffer);
  a.dtype_ = dtype;
  a.shape_ = shape;
  a.strides_ = std::move(st);
  a.offset_ = offset;
  return a;
}

// ---------------------------------------------------------------------------
// Inspection and element access

std::int64_t Array::size() const { return shape_size(shape_); }

std::int64_t Array::dim(std::int64_t axis) const {
  const std::int64_t n = ndim();
  const std::int64_t a = axis < 0 ? axis + n : axis;
  if (a < 0 || a >= n)
    throw Error("Array::dim: axis " + std::to_string(axis) + " is out of range for an array of shape " +
                shape_str(shape_));
  return shape_[static_cast<std::size_t>(a)];
}

bool Array::is_contiguous() const {
  if (size() == 0) return true;
  std::int64_t expected = 1;
  for (std::size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] != 1 && strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

void* Array::raw_data() const {
  if (!buffer_) throw Error("Array: access to a null array");
  if (!buffer_->device.is_cpu())
    throw Error("Array: the data of an array on " + buffer_->device.str() +
                " cannot be accessed from the host; copy it with to(Device::cpu()) first");
  return buffer_->data + offset_ * static_cast<std::int64_t>(dtype_size(dtype_));
}

void Array::check_dtype(DType t) const {
  if (!buffer_) throw Error(std::string("Array::data<") + cpp_type_name(t) + ">: null array");
  if (t != dtype_)
    throw Error(std::string("Array::data<") + cpp_type_name(t) + ">: array has dtype " +
                std::string(dtype_name(dtype_)));
}

std::byte* Array::element_ptr(const std::int64_t* index, std::size_t n) const {
  auto* base = static_cast<std::byte*>(raw_data());
  auto index_str = [&] { return shape_str(Shape(index, index + n)); };
  if (n != shape_.size())
    throw Error("Array: index " + index_str() + " has " + std::to_string(n) + " entries, but shape " +
                shape_str(shape_) + " has " + std::to_string(shape_.size()) + " dimensions");
  std::int64_t off = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (index[i] < 0 || index[i] >= shape_[i])
      throw Error("Array: index " + index_str() + " is out of range for shape " + shape_str(shape_));
    off += index[i] * strides_[i];
  }
  return base + off * static_cast<std::int64_t>(dtype_size(dtype_));
}

double Array::get(const std::vector<std::int64_t>& index) const {
  const std::byte* p = element_ptr(index.data(), index.size());
  return visit_dtype(dtype_, [&](auto t) { return static_cast<double>(load_elem<decltype(t)::value>(p)); });
}

void Array::set(const std::vector<std::int64_t>& index, double value) const {
  std::byte* p = element_ptr(index.data(), index.size());
  visit_dtype(dtype_, [&](auto t) { store_elem<decltype(t)::value>(p, value); });
}

double Array::item() const {
  if (!buffer_) throw Error("Array::item: null array");
  if (size() != 1)
    throw Error("Array::item: array of shape " + shape_str(shape_) + " has " + std::to_string(size()) +
                " elements, not 1");
  const auto* p = static_cast<const std::byte*>(raw_data());
  return visit_dtype(dtype_, [&](auto t) { return static_cast<double>(load_elem<decltype(t)::value>(p)); });
}

std::vector<double> Array::to_doubles() const {
  const auto* p = static_cast<const std::byte*>(raw_data());
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(size()));
  visit_dtype(dtype_, [&](auto t) {
    constexpr DType T = decltype(t)::value;
    constexpr auto sz = static_cast<std::int64_t>(sizeof(typename Traits<T>::S));
    for_each_offset(shape_, strides_,
                    [&](std::int64_t o) { out.push_back(static_cast<double>(load_elem<T>(p + o * sz))); });
  });
  return out;
}

std::vector<std::int64_t> Array::to_int64s() const {
  const auto* p = static_cast<const std::byte*>(raw_data());
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(size()));
  visit_dtype(dtype_, [&](auto t) {
    constexpr DType T = decltype(t)::value;
    constexpr auto sz = static_cast<std::int64_t>(sizeof(typename Traits<T>::S));
    for_each_offset(shape_, strides_, [&](std::int64_t o) { out.push_back(convert<DType::I64>(load_elem<T>(p + o * sz))); });
  });
  return out;
}

// ---------------------------------------------------------------------------
// Copies, conversion, reshaping

namespace {
// The elements [lo, hi) (in elements from the buffer's start) that a view
// of `shape`/`strides` at `offset` can touch; empty for a zero-size view.
std::pair<std::int64_t, std::int64_t> view_extent(const Shape& shape, const Shape& strides, std::int64_t offset) {
  std::int64_t lo = offset, hi = offset + 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return {offset, offset};
    const std::int64_t span = (shape[i] - 1) * strides[i];
    (span < 0 ? lo : hi) += span;
  }
  return {lo, hi};
}
}  // namespace

Array Array::copy() const {
  if (!buffer_) throw Error("Array::copy: null array");
  if (device().is_cuda()) {
    if (is_contiguous()) {  // one device-to-device copy
      Array out = empty(shape_, dtype_, device());
      const std::size_t bytes = static_cast<std::size_t>(size()) * dtype_size(dtype_);
      const runtime::CudaDriver& d = runtime::cuda_driver();
      runtime::cuda_device(device(), "Array::copy");
      if (bytes)
        d.check(d.cuMemcpyDtoD(reinterpret_cast<std::uintptr_t>(out.buffer_->data),
                               reinterpret_cast<std::uintptr_t>(buffer_->data) +
                                   static_cast<std::uintptr_t>(offset_) * dtype_size(dtype_),
                               bytes),
                "Array::copy: cuMemcpyDtoD");
      return out;
    }
    return to(Device::cpu()).to(device());  // strided: through the host (the executor copies with a kernel)
  }
  Array out = empty(shape_, dtype_, device());
  convert_into(*this, out);
  return out;
}

Array Array::contiguous() const {
  if (!buffer_) throw Error("Array::contiguous: null array");
  return is_contiguous() ? *this : copy();
}

Array Array::astype(DType t) const {
  if (!buffer_) throw Error("Array::astype: null array");
  if (device().is_cuda()) return to(Device::cpu()).astype(t).to(device());  // through the host
  Array out = empty(shape_, t, device());
  convert_into(*this, out);
  return out;
}

Array Array::to(Device target) const {
  if (!buffer_) throw Error("Array::to: null array");
  if (target == device()) return *this;
  if (device().is_cuda() && target.is_cuda()) return to(Device::cpu()).to(target);  // through the host (TODO: peer copies)
  const std::size_t bytes = static_cast<std::size_t>(size()) * dtype_size(dtype_);
  if (target.is_cuda()) {  // host → device: a contiguous host copy, then one synchronous copy
    runtime::cuda_device(target, "Array::to");  // the reason first when there is no driver
    const Array src = contiguous();
    Array out = empty(shape_, dtype_, target);
    const runtime::CudaDriver& d = runtime::cuda_driver();
    if (bytes)
      d.check(d.cuMemcpyHtoD(reinterpret_cast<std::uintptr_t>(out.buffer_->data), src.raw_data(), bytes),
              "Array::to: cuMemcpyHtoD");
    return out;
  }
  // device → host
  runtime::cuda_device(device(), "Array::to");
  const runtime::CudaDriver& d = runtime::cuda_driver();
  const std::size_t esize = dtype_size(dtype_);
  if (!is_contiguous()) {  // the span the view touches, then a host copy of the view over it
    const auto [lo, hi] = view_extent(shape_, strides_, offset_);
    if (lo == hi) return empty(shape_, dtype_);
    Array span = empty({hi - lo}, dtype_);
    d.check(d.cuMemcpyDtoH(span.raw_data(), reinterpret_cast<std::uintptr_t>(buffer_->data) +
                                                static_cast<std::uintptr_t>(lo) * esize,
                           static_cast<std::size_t>(hi - lo) * esize),
            "Array::to: cuMemcpyDtoH");
    return view(span.buffer_, shape_, dtype_, strides_, offset_ - lo).copy();
  }
  Array out = empty(shape_, dtype_);
  const std::uintptr_t src = reinterpret_cast<std::uintptr_t>(buffer_->data) + static_cast<std::uintptr_t>(offset_) * esize;
  if (bytes) d.check(d.cuMemcpyDtoH(out.raw_data(), src, bytes), "Array::to: cuMemcpyDtoH");
  return out;
}

Array Array::reshape(const Shape& new_shape) const {
  if (!buffer_) throw Error("Array::reshape: null array");
  Shape shape = new_shape;
  int unknown = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (unknown >= 0)
        throw Error("Array::reshape: more than one -1 in shape " + shape_str(new_shape));
      unknown = static_cast<int>(i);
    } else if (shape[i] < 0) {
      throw Error("Array::reshape: negative dimension in shape " + shape_str(new_shape));
    } else if (__builtin_mul_overflow(known, shape[i], &known)) {
      throw Error("Array::reshape: shape " + shape_str(new_shape) + " has too many elements");
    }
  }
  const std::int64_t n = size();
  if (unknown >= 0) {
    if (known == 0 || n % known != 0)
      throw Error("Array::reshape: cannot reshape an array of shape " + shape_str(shape_) + " (" +
                  std::to_string(n) + " elements) into shape " + shape_str(new_shape));
    shape[static_cast<std::size_t>(unknown)] = n / known;
  } else if (known != n) {
    throw Error("Array::reshape: cannot reshape an array of shape " + shape_str(shape_) + " (" +
                std::to_string(n) + " elements) into shape " + shape_str(new_shape) + " (" +
                std::to_string(known) + " elements)");
  }
  if (!is_contiguous()) return copy().reshape(shape);
  Array a = *this;
  a.shape_ = shape;
  a.strides_ = contiguous_strides(shape);
  return a;
}

void Array::assign(const Array& src) const {
  if (!buffer_ || !src.buffer_) throw Error("Array::assign: null array");
  if (src.shape_ != shape_)
    throw Error("Array::assign: source shape " + shape_str(src.shape_) + " does not match destination shape " +
                shape_str(shape_));
  // Views of one buffer may overlap: copy the source out first.
  auto begin = [](const Buffer& b) { return reinterpret_cast<std::uintptr_t>(b.data); };
  if (src.buffer_ == buffer_ || (begin(*src.buffer_) < begin(*buffer_) + buffer_->bytes &&
                                 begin(*buffer_) < begin(*src.buffer_) + src.buffer_->bytes)) {
    convert_into(src.copy(), *this);
  } else {
    convert_into(src, *this);
  }
}

bool Array::equals(const Array& other) const {
  if (!buffer_ || !other.buffer_) return !buffer_ && !other.buffer_;
  if (dtype_ != other.dtype_ || shape_ != other.shape_) return false;
  const auto* pa = static_cast<const std::byte*>(raw_data());
  const auto* pb = static_cast<const std::byte*>(other.raw_data());
  bool same = true;
  visit_dtype(dtype_, [&](auto t) {
    constexpr DType T = decltype(t)::value;
    constexpr auto sz = static_cast<std::int64_t>(sizeof(typename Traits<T>::S));
    for_each_offset_pair(shape_, strides_, other.strides_, [&](std::int64_t a, std::int64_t b) {
      auto x = load_elem<T>(pa + a * sz);
      auto y = load_elem<T>(pb + b * sz);
      if constexpr (kIsFloat<T>) {
        if (!(x == y || (std::isnan(x) && std::isnan(y)))) same = false;
      } else {
        if (x != y) same = false;
      }
    });
  });
  return same;
}

}  // namespace kiln
