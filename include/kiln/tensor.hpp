// kiln — symbolic tensors and the operations that build graphs.
//
// A Tensor is a handle to an immutable graph node: building expressions
// computes nothing. Every function records the caller's source line, so a
// shape or dtype error names the op, the types and *your* line:
//
//   example.cpp:12: error: add: cannot broadcast f32[3,4], f32[5]: ...
//
// Dtypes follow NumPy (NEP 50): two tensors promote (i32 + f32 → f64);
// C++ scalars are weak (x * 2 keeps x's dtype; an i32 tensor * 2.5 → f64).
// Broadcasting follows NumPy for static sizes; a dim of unknown size is
// never assumed to be 1 (Theano's rule), so compiled code is the same for
// every size.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/dtype.hpp"
#include "kiln/error.hpp"

namespace kiln {

namespace ir {
class Node;
}

using Loc = std::source_location;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<const ir::Node> node) : node_(std::move(node)) {}

  bool is_null() const { return node_ == nullptr; }
  const std::shared_ptr<const ir::Node>& node() const { return node_; }

  DType dtype() const;
  std::int64_t ndim() const;
  // Static sizes, -1 where unknown.
  std::vector<std::int64_t> shape() const;
  // "f32[?,3]"
  std::string type_str() const;
  // The name of an input or shared variable ("" otherwise).
  std::string name() const;
  bool is_shared() const;
  bool is_input() const;

  // Shared variables (see shared()): the current value, and replacing it
  // (same dtype and shape; the array is copied).
  Array get_value() const;
  void set_value(const Array& value, Loc loc = Loc::current()) const;

  // Method forms of common operations.
  Tensor matmul(const Tensor& other, Loc loc = Loc::current()) const;
  Tensor T(Loc loc = Loc::current()) const;
  Tensor reshape(const std::vector<std::int64_t>& shape, Loc loc = Loc::current()) const;
  Tensor astype(DType dtype, Loc loc = Loc::current()) const;

  // Indexing, like NumPy basic indexing plus one integer-array index:
  //   x[2]                 one element along axis 0 (the axis is dropped)
  //   x[{1, Slice{0, 3}}]  an int drops its axis; a Slice keeps it
  //   x[{Slice{}, idx}]    idx an integer Tensor: gather along that axis
  struct Index;
  Tensor operator[](const Index& index) const;
  Tensor operator[](std::initializer_list<Index> index) const;

 private:
  std::shared_ptr<const ir::Node> node_;
};

// Python's start:stop:step; an omitted bound is std::nullopt:
// Slice{1, 3}, Slice{{}, {}, -1} (reversed), Slice{} (everything).
struct Slice {
  std::optional<std::int64_t> start;
  std::optional<std::int64_t> stop;
  std::int64_t step = 1;
};

// One entry of an indexing expression (it records where it was written).
struct Tensor::Index {
  std::variant<std::int64_t, Slice, Tensor> v;
  Loc loc;
  Index(std::int64_t i, Loc l = Loc::current()) : v(i), loc(l) {}            // NOLINT
  Index(int i, Loc l = Loc::current()) : v(std::int64_t(i)), loc(l) {}       // NOLINT
  Index(Slice s, Loc l = Loc::current()) : v(s), loc(l) {}                   // NOLINT
  Index(Tensor t, Loc l = Loc::current()) : v(std::move(t)), loc(l) {}       // NOLINT
};

// A C++ number in an expression: a weakly typed scalar (NEP 50).
struct Scalar {
  double f = 0;
  std::int64_t i = 0;
  ScalarKind kind = ScalarKind::Float;
  template <class T>
    requires std::is_arithmetic_v<T>
  Scalar(T v) {  // NOLINT
    if constexpr (std::is_same_v<T, bool>) {
      kind = ScalarKind::Bool;
      i = v;
      f = v;
    } else if constexpr (std::is_integral_v<T>) {
      kind = ScalarKind::Int;
      i = static_cast<std::int64_t>(v);
      f = static_cast<double>(v);
    } else {
      kind = ScalarKind::Float;
      f = static_cast<double>(v);
      i = static_cast<std::int64_t>(v);
    }
  }
};

// An operand of a binary operation: a Tensor or a C++ number. It records
// where the expression was written (its constructor's default argument is
// evaluated in the user's code).
struct Operand {
  Tensor tensor;
  std::optional<Scalar> scalar;
  Loc loc;
  Operand(const Tensor& t, Loc l = Loc::current()) : tensor(t), loc(l) {}  // NOLINT
  template <class T>
    requires std::is_arithmetic_v<T>
  Operand(T v, Loc l = Loc::current()) : scalar(Scalar(v)), loc(l) {}  // NOLINT
};

// Reduction axes: all axes by default, one axis, or a list (negative axes
// count from the end). Axes{{}} — an empty list — reduces nothing.
struct Axes {
  std::vector<std::int64_t> axes;
  bool all = true;
  Axes() = default;
  Axes(std::int64_t a) : axes{a}, all(false) {}  // NOLINT
  Axes(int a) : axes{a}, all(false) {}           // NOLINT
  Axes(std::initializer_list<std::int64_t> a) : axes(a), all(false) {}  // NOLINT
  Axes(std::vector<std::int64_t> a) : axes(std::move(a)), all(false) {}  // NOLINT
};

// A dim of an input's declared shape: a static size, -1 for unknown, or a
// name for an unknown size ("batch").
struct DimSpec {
  std::int64_t size = -1;
  std::string name;
  DimSpec(std::int64_t s) : size(s) {}        // NOLINT
  DimSpec(int s) : size(s) {}                 // NOLINT
  DimSpec(const char* n) : name(n) {}         // NOLINT
  DimSpec(std::string n) : name(std::move(n)) {}  // NOLINT
};

// ---- inputs, constants, shared variables ----

Tensor scalar(const std::string& name, DType dtype = f64, Loc loc = Loc::current());
Tensor vector(const std::string& name, DType dtype = f64, Loc loc = Loc::current());
Tensor matrix(const std::string& name, DType dtype = f64, Loc loc = Loc::current());
Tensor tensor(const std::string& name, DType dtype, const std::vector<DimSpec>& shape,
              Loc loc = Loc::current());

// A shared variable (Theano's): a named value that lives between calls and
// that function updates can change. Its type has the value's dtype and shape.
Tensor shared(const Array& value, const std::string& name = "", Loc loc = Loc::current());

Tensor constant(const Array& value, Loc loc = Loc::current());
Tensor constant(double value, DType dtype = f64, Loc loc = Loc::current());
Tensor fill(const std::vector<std::int64_t>& shape, double value, DType dtype = f64,
            Loc loc = Loc::current());
Tensor zeros(const std::vector<std::int64_t>& shape, DType dtype = f64, Loc loc = Loc::current());
Tensor ones(const std::vector<std::int64_t>& shape, DType dtype = f64, Loc loc = Loc::current());
// Same shape as x; dtype x's unless given.
Tensor zeros_like(const Tensor& x, std::optional<DType> dtype = {}, Loc loc = Loc::current());
Tensor ones_like(const Tensor& x, std::optional<DType> dtype = {}, Loc loc = Loc::current());
Tensor full_like(const Tensor& x, double value, std::optional<DType> dtype = {},
                 Loc loc = Loc::current());
// NumPy's arange; the dtype defaults to i64 when start, stop and step are
// whole numbers and to f64 otherwise (arange(0, 1, 0.1) is float).
Tensor arange(double start, double stop, double step = 1, std::optional<DType> dtype = {},
              Loc loc = Loc::current());
Tensor eye(std::int64_t n, std::optional<std::int64_t> m = {}, std::int64_t k = 0, DType dtype = f64,
           Loc loc = Loc::current());

// ---- elementwise ----

#define KILN_UNARY(name) Tensor name(const Tensor& x, Loc loc = Loc::current());
KILN_UNARY(neg) KILN_UNARY(abs) KILN_UNARY(sign) KILN_UNARY(exp) KILN_UNARY(exp2) KILN_UNARY(expm1)
KILN_UNARY(log) KILN_UNARY(log2) KILN_UNARY(log10) KILN_UNARY(log1p) KILN_UNARY(log1mexp) KILN_UNARY(sqrt)
KILN_UNARY(rsqrt)
KILN_UNARY(square) KILN_UNARY(reciprocal) KILN_UNARY(sin) KILN_UNARY(cos) KILN_UNARY(tan)
KILN_UNARY(asin) KILN_UNARY(acos) KILN_UNARY(atan) KILN_UNARY(sinh) KILN_UNARY(cosh) KILN_UNARY(tanh)
KILN_UNARY(asinh) KILN_UNARY(acosh) KILN_UNARY(atanh) KILN_UNARY(sigmoid) KILN_UNARY(softplus)
KILN_UNARY(erf) KILN_UNARY(erfc) KILN_UNARY(erfinv) KILN_UNARY(lgamma) KILN_UNARY(digamma)
KILN_UNARY(floor) KILN_UNARY(ceil) KILN_UNARY(round) KILN_UNARY(trunc) KILN_UNARY(isnan)
KILN_UNARY(isinf) KILN_UNARY(isfinite) KILN_UNARY(logical_not) KILN_UNARY(bitwise_not)
KILN_UNARY(relu) KILN_UNARY(stop_gradient)
#undef KILN_UNARY

#define KILN_BINARY(name) Tensor name(const Operand& a, const Operand& b);
KILN_BINARY(add) KILN_BINARY(sub) KILN_BINARY(mul) KILN_BINARY(div) KILN_BINARY(floor_div)
KILN_BINARY(mod) KILN_BINARY(pow) KILN_BINARY(maximum) KILN_BINARY(minimum) KILN_BINARY(atan2)
KILN_BINARY(eq) KILN_BINARY(ne) KILN_BINARY(lt) KILN_BINARY(le) KILN_BINARY(gt) KILN_BINARY(ge)
KILN_BINARY(logical_and) KILN_BINARY(logical_or) KILN_BINARY(logical_xor)
KILN_BINARY(bitwise_and) KILN_BINARY(bitwise_or) KILN_BINARY(bitwise_xor)
KILN_BINARY(left_shift) KILN_BINARY(right_shift)
#undef KILN_BINARY

Tensor where(const Operand& cond, const Operand& a, const Operand& b);
Tensor clip(const Operand& x, const Operand& lo, const Operand& hi);
Tensor cast(const Tensor& x, DType dtype, Loc loc = Loc::current());

// Operators: arithmetic (/ is true division, % is Python's mod), comparisons
// (they return bool tensors, like NumPy), bitwise/logical &, |, ^, ~, shifts.
Tensor operator-(const Operand& x);
Tensor operator~(const Operand& x);
#define KILN_OPERATOR(op) Tensor operator op(const Operand& a, const Operand& b);
KILN_OPERATOR(+) KILN_OPERATOR(-) KILN_OPERATOR(*) KILN_OPERATOR(/) KILN_OPERATOR(%)
KILN_OPERATOR(==) KILN_OPERATOR(!=) KILN_OPERATOR(<) KILN_OPERATOR(<=) KILN_OPERATOR(>)
KILN_OPERATOR(>=) KILN_OPERATOR(&) KILN_OPERATOR(|) KILN_OPERATOR(^) KILN_OPERATOR(<<)
KILN_OPERATOR(>>)
#undef KILN_OPERATOR
Tensor& operator+=(Tensor& a, const Operand& b);
Tensor& operator-=(Tensor& a, const Operand& b);
Tensor& operator*=(Tensor& a, const Operand& b);
Tensor& operator/=(Tensor& a, const Operand& b);

// ---- reductions ----

#define KILN_REDUCE(name) \
  Tensor name(const Tensor& x, const Axes& axes = {}, bool keepdims = false, Loc loc = Loc::current());
KILN_REDUCE(sum) KILN_REDUCE(prod) KILN_REDUCE(max) KILN_REDUCE(min) KILN_REDUCE(mean)
KILN_REDUCE(all) KILN_REDUCE(any) KILN_REDUCE(argmax) KILN_REDUCE(argmin) KILN_REDUCE(logsumexp)
#undef KILN_REDUCE
// Variance and standard deviation with NumPy's ddof (divide by N - ddof).
Tensor var(const Tensor& x, const Axes& axes = {}, bool keepdims = false, std::int64_t ddof = 0,
           Loc loc = Loc::current());
// Standard deviation. Unqualified `std(x)` clashes with namespace std under
// `using namespace kiln`: write kiln::std(x) or stddev(x).
Tensor std(const Tensor& x, const Axes& axes = {}, bool keepdims = false, std::int64_t ddof = 0,
           Loc loc = Loc::current());
Tensor stddev(const Tensor& x, const Axes& axes = {}, bool keepdims = false, std::int64_t ddof = 0,
              Loc loc = Loc::current());
Tensor softmax(const Tensor& x, std::int64_t axis = -1, Loc loc = Loc::current());
Tensor log_softmax(const Tensor& x, std::int64_t axis = -1, Loc loc = Loc::current());

// ---- linear algebra ----

Tensor matmul(const Tensor& a, const Tensor& b, Loc loc = Loc::current());  // NumPy matmul
Tensor dot(const Tensor& a, const Tensor& b, Loc loc = Loc::current());     // NumPy dot
Tensor outer(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
// Contract the last n axes of a with the first n of b.
Tensor tensordot(const Tensor& a, const Tensor& b, std::int64_t n = 2, Loc loc = Loc::current());
// Contract a's axes_a[i] with b's axes_b[i].
Tensor tensordot(const Tensor& a, const Tensor& b, const std::vector<std::int64_t>& axes_a,
                 const std::vector<std::int64_t>& axes_b, Loc loc = Loc::current());

// ---- shapes and indexing ----

Tensor reshape(const Tensor& x, const std::vector<std::int64_t>& shape, Loc loc = Loc::current());
// The reversed axes by default.
Tensor transpose(const Tensor& x, const std::vector<std::int64_t>& perm = {}, Loc loc = Loc::current());
Tensor expand_dims(const Tensor& x, const Axes& axes, Loc loc = Loc::current());
// All dims statically 1 by default.
Tensor squeeze(const Tensor& x, const Axes& axes = {}, Loc loc = Loc::current());
Tensor broadcast_to(const Tensor& x, const std::vector<std::int64_t>& shape, Loc loc = Loc::current());
Tensor concatenate(const std::vector<Tensor>& xs, std::int64_t axis = 0, Loc loc = Loc::current());
Tensor stack(const std::vector<Tensor>& xs, std::int64_t axis = 0, Loc loc = Loc::current());
// Into `sections` equal parts (the axis size must be static and divisible).
std::vector<Tensor> split(const Tensor& x, std::int64_t sections, std::int64_t axis = 0,
                          Loc loc = Loc::current());
// At the given indices, like numpy.split(x, [i, j]).
std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& indices, std::int64_t axis,
                          Loc loc = Loc::current());
Tensor flip(const Tensor& x, const Axes& axes = {}, Loc loc = Loc::current());
// x[slices...]: one Slice per leading axis; missing trailing axes are whole.
Tensor slice(const Tensor& x, const std::vector<Slice>& slices, Loc loc = Loc::current());
// Gather along an axis with an integer index tensor (negative indices wrap).
Tensor take(const Tensor& x, const Tensor& indices, std::int64_t axis = 0, Loc loc = Loc::current());
// Theano's set_subtensor / inc_subtensor: `sub` is an indexing expression
// of some x (x[...], slice(), take()); the result is x with that part set to
// (or incremented by) y, broadcast. With an index array, inc_subtensor
// accumulates repeated indices; set_subtensor keeps the last.
Tensor set_subtensor(const Tensor& sub, const Operand& y);
Tensor inc_subtensor(const Tensor& sub, const Operand& y);

}  // namespace kiln
