// kiln — Array: an n-dimensional array of values (owning, or a view).
//
// A leaf vocabulary type like DType: every layer may use it. An Array is a
// dtype, a shape, strides (in elements, may be zero or negative), an offset
// into a shared buffer, and the device the buffer lives on. Copying an Array
// copies the handle, not the data (like a NumPy view); use copy() for a deep
// copy.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "kiln/device.hpp"
#include "kiln/dtype.hpp"
#include "kiln/error.hpp"
#include "kiln/half.hpp"

namespace kiln {

using Shape = std::vector<std::int64_t>;

// Raw memory shared by arrays. `data` is owned unless `deleter` is empty
// (a view of caller memory).
struct Buffer {
  std::byte* data = nullptr;
  std::size_t bytes = 0;
  Device device = Device::cpu();
  std::function<void(std::byte*)> deleter;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();
};

// The C++ type stored for each dtype.
template <class T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<std::int8_t> { static constexpr DType value = DType::I8; };
template <> struct dtype_of<std::int16_t> { static constexpr DType value = DType::I16; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::I32; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::I64; };
template <> struct dtype_of<long long> { static constexpr DType value = DType::I64; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::U8; };
template <> struct dtype_of<half> { static constexpr DType value = DType::F16; };
template <> struct dtype_of<bfloat16> { static constexpr DType value = DType::BF16; };
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <class T> inline constexpr DType dtype_of_v = dtype_of<std::remove_cv_t<T>>::value;

struct PrintOptions {
  int precision = 8;            // significant fractional digits, like NumPy
  std::string separator = " ";  // NumPy's str() uses " ", repr() uses ", "
  bool align = true;            // pad elements to a common width (NumPy does)
  bool one_line = false;        // rows on one line instead of one per line
  std::int64_t threshold = 1000;  // summarise with "..." above this many elements
  int edge_items = 3;
};

class Array {
 public:
  Array() = default;  // an empty handle: is_null() is true

  // New, uninitialised / filled arrays (host unless a device is given).
  static Array empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Array zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Array ones(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Array full(const Shape& shape, double value, DType dtype, Device device = Device::cpu());
  static Array scalar(double value, DType dtype);
  static Array arange(double start, double stop, double step, DType dtype);

  // Deterministic random arrays: the same seed gives the same values on every
  // machine (a counter-based generator, not std::random).
  static Array randn(const Shape& shape, DType dtype = DType::F64, std::uint64_t seed = 0);
  static Array uniform(const Shape& shape, DType dtype = DType::F64, std::uint64_t seed = 0,
                       double low = 0.0, double high = 1.0);
  static Array randint(const Shape& shape, std::int64_t low, std::int64_t high,
                       DType dtype = DType::I64, std::uint64_t seed = 0);

  // From nested initializer lists: Array::from({{1., 2.}, {3., 4.}}).
  // The dtype follows the C++ type (double → f64, float → f32, int → i32,
  // bool → bool) unless one is given; ragged lists are an error.
  template <class T>
  static Array from(std::initializer_list<T> v);
  template <class T>
  static Array from(std::initializer_list<std::initializer_list<T>> v);
  template <class T>
  static Array from(std::initializer_list<std::initializer_list<std::initializer_list<T>>> v);
  template <class T>
  static Array from(
      std::initializer_list<std::initializer_list<std::initializer_list<std::initializer_list<T>>>> v);
  template <class T>
  static Array from(std::initializer_list<T> v, DType dtype) { return from(v).astype(dtype); }
  template <class T>
  static Array from(std::initializer_list<std::initializer_list<T>> v, DType dtype) {
    return from(v).astype(dtype);
  }
  // From a flat vector and a shape (copies).
  template <class T>
  static Array from_vector(const std::vector<T>& v, const Shape& shape);
  static Array from_doubles(const std::vector<double>& v, const Shape& shape, DType dtype);

  // A non-copying view of caller memory. Strides are in elements (default:
  // C-contiguous). The caller keeps the memory alive while the view is used.
  static Array view(void* data, const Shape& shape, DType dtype, const Shape& strides = {},
                    Device device = Device::cpu());
  // A view over an existing buffer (used by kiln internally, too).
  static Array view(std::shared_ptr<Buffer> buffer, const Shape& shape, DType dtype,
                    const Shape& strides, std::int64_t offset);

  // .npy files (format 1.0–3.0, little- and big-endian, C and Fortran order).
  static Array load(const std::string& path);
  void save(const std::string& path) const;

  bool is_null() const { return buffer_ == nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  std::int64_t offset() const { return offset_; }
  std::int64_t ndim() const { return static_cast<std::int64_t>(shape_.size()); }
  std::int64_t size() const;  // number of elements
  std::int64_t dim(std::int64_t axis) const;  // negative axes count from the end
  Device device() const { return buffer_ ? buffer_->device : Device::cpu(); }
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }
  bool is_contiguous() const;  // C order

  // Pointer to element [0, 0, ...]. Host arrays only; T must match the dtype.
  template <class T>
  T* data() const {
    check_dtype(dtype_of_v<T>);
    return reinterpret_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // Element access by multi-index (host): a.at<float>({1, 2}).
  template <class T>
  T& at(std::initializer_list<std::int64_t> index) const {
    check_dtype(dtype_of_v<T>);
    return *reinterpret_cast<T*>(element_ptr(index.begin(), index.size()));
  }
  // Any element read as double / written from double (converting).
  double get(const std::vector<std::int64_t>& index) const;
  void set(const std::vector<std::int64_t>& index, double value) const;
  // The value of a one-element array, converted.
  double item() const;
  template <class T> T item_as() const { return static_cast<T>(item()); }

  // All elements in C order, converted.
  std::vector<double> to_doubles() const;
  std::vector<std::int64_t> to_int64s() const;

  Array copy() const;          // deep, C-contiguous, same device
  Array contiguous() const;    // this if already C-contiguous, else copy()
  Array astype(DType t) const;  // converting copy (NumPy's casting rules, see docs)
  Array to(Device device) const;
  Array reshape(const Shape& shape) const;  // a view when contiguous, else a copy
  // Copy all elements of src (same shape; converting dtype) into this array.
  void assign(const Array& src) const;

  std::string to_string(const PrintOptions& opts = {}) const;

  // Exact equality of dtype, shape and every element (NaN equals NaN).
  bool equals(const Array& other) const;

 private:
  void check_dtype(DType t) const;
  std::byte* element_ptr(const std::int64_t* index, std::size_t n) const;
  template <class T>
  static Array from_flat(const std::vector<T>& flat, const Shape& shape);

  std::shared_ptr<Buffer> buffer_;
  DType dtype_ = DType::F64;
  Shape shape_;
  Shape strides_;
  std::int64_t offset_ = 0;  // in elements
};

std::ostream& operator<<(std::ostream& os, const Array& a);

// Host blocks of 1 MiB and more are kept for reuse when their last array
// dies (at most 1 GiB, oldest dropped first), so that a function called in a
// loop does not pay the OS's page faults for its outputs every call. This
// returns them to the OS now and says how many bytes that was.
std::size_t free_cached_memory();

// C-contiguous strides (in elements) for a shape.
Shape contiguous_strides(const Shape& shape);
std::int64_t shape_size(const Shape& shape);
// "[2, 3]"
std::string shape_str(const Shape& shape);

// ---- template implementations ----

template <class T>
Array Array::from_flat(const std::vector<T>& flat, const Shape& shape) {
  using S = T;
  Array a = empty(shape, dtype_of_v<S>);
  S* p = a.data<S>();
  for (std::size_t i = 0; i < flat.size(); ++i) p[i] = static_cast<S>(flat[i]);
  return a;
}

template <class T>
Array Array::from_vector(const std::vector<T>& v, const Shape& shape) {
  if (static_cast<std::int64_t>(v.size()) != shape_size(shape))
    throw Error("Array::from_vector: " + std::to_string(v.size()) + " values do not fill shape " +
                shape_str(shape));
  return from_flat(v, shape);
}

template <class T>
Array Array::from(std::initializer_list<T> v) {
  return from_flat(std::vector<T>(v), {static_cast<std::int64_t>(v.size())});
}

template <class T>
Array Array::from(std::initializer_list<std::initializer_list<T>> v) {
  std::vector<T> flat;
  std::int64_t inner = v.size() ? static_cast<std::int64_t>(v.begin()->size()) : 0;
  for (auto& row : v) {
    if (static_cast<std::int64_t>(row.size()) != inner)
      throw Error("Array::from: ragged nested list (rows of length " + std::to_string(inner) +
                  " and " + std::to_string(row.size()) + ")");
    flat.insert(flat.end(), row.begin(), row.end());
  }
  return from_flat(flat, {static_cast<std::int64_t>(v.size()), inner});
}

template <class T>
Array Array::from(std::initializer_list<std::initializer_list<std::initializer_list<T>>> v) {
  std::vector<T> flat;
  Shape shape{static_cast<std::int64_t>(v.size()), -1, -1};
  for (auto& m : v) {
    Array sub = from(m);
    if (shape[1] < 0) { shape[1] = sub.shape()[0]; shape[2] = sub.shape()[1]; }
    if (sub.shape()[0] != shape[1] || sub.shape()[1] != shape[2])
      throw Error("Array::from: ragged nested list");
    for (auto& row : m) flat.insert(flat.end(), row.begin(), row.end());
  }
  if (shape[1] < 0) { shape[1] = 0; shape[2] = 0; }
  return from_flat(flat, shape);
}

template <class T>
Array Array::from(
    std::initializer_list<std::initializer_list<std::initializer_list<std::initializer_list<T>>>> v) {
  std::vector<T> flat;
  Shape shape{static_cast<std::int64_t>(v.size()), 0, 0, 0};
  bool first = true;
  for (auto& t : v) {
    Array sub = from(t);
    if (first) { shape[1] = sub.shape()[0]; shape[2] = sub.shape()[1]; shape[3] = sub.shape()[2]; first = false; }
    if (sub.shape()[0] != shape[1] || sub.shape()[1] != shape[2] || sub.shape()[2] != shape[3])
      throw Error("Array::from: ragged nested list");
    for (auto& m : t)
      for (auto& row : m) flat.insert(flat.end(), row.begin(), row.end());
  }
  return from_flat(flat, shape);
}

}  // namespace kiln
