// Internal to the reference interpreter (ir/interpreter.cpp, ir/interp_*.cpp).
//
// Every element is read into one of two computation domains — double for the
// float dtypes, int64 for the integer dtypes and bool — by a per-dtype load
// function, computed on by a per-op scalar function, and written back by a
// per-dtype store function that rounds (floats) or wraps (integers) once.
// Nothing here is templated on the dtype, so adding an op costs one scalar
// function, not one per dtype.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/node.hpp"
#include "kiln/array.hpp"

namespace kiln::ir::interp {

// ---- loading and storing one element ----

using LoadF = double (*)(const std::byte*);
using LoadI = std::int64_t (*)(const std::byte*);
using StoreF = void (*)(std::byte*, double);
using StoreI = void (*)(std::byte*, std::int64_t);

// The domain a dtype computes in: double for floats, int64 otherwise.
inline bool float_domain(DType t) { return is_float(t); }

LoadF load_f(DType t);  // float dtypes
LoadI load_i(DType t);  // integer dtypes and bool (0/1)
// Float dtypes: rounds the double once to the dtype (nearest, ties to even).
StoreF store_f(DType t);
// Integer dtypes: keeps the low bits (two's complement wrap); bool: v != 0.
StoreI store_i(DType t);

// Conversions with Cast's semantics.
// float → integer: truncates toward zero, NaN → 0, saturates to the dtype's
// range; → bool: v != 0 (NaN → true).
std::int64_t float_to_int(double v, DType to);
// integer → float dtype `to`: the double to hand to store_f(to) so that the
// value is rounded exactly once (round-to-odd to 53 bits when it is not exact
// and `to` is narrower than f64).
double int_to_float(std::int64_t v, DType to);

// ---- strided views ----

// An n-d view of elements: base points at element [0, ...]; strides in bytes
// (any sign, 0 for broadcast axes).
struct View {
  std::byte* base = nullptr;
  Shape shape;
  Shape strides;  // bytes
  DType dtype = DType::F64;
};

View view_of(const Array& a);
// A fresh C-contiguous array of `shape` and its view.
Array new_array(const Shape& shape, DType t, View* v);

// kiln's broadcasting rule at run time (ir/type.hpp): NumPy's rules over the
// concrete shapes, except that a dim stretches only when its static type says
// 1 — an unknown dim must match the others. `dims[i]` are the static dims of
// `shapes[i]`. Returns false with a reason on a mismatch.
bool broadcast_runtime(const std::vector<const Shape*>& shapes, const std::vector<const std::vector<Dim>*>& dims,
                       Shape* out, std::string* why);
// The run-time shape of an elementwise result; a mismatch is a user error at
// the node naming the op and the shapes.
Shape broadcast_inputs(const Node& node, const std::vector<const Array*>& ins,
                       const std::vector<const TensorType*>& types);
// `v` (of static dims `dims`) broadcast to `target` under the same rule, as
// a view with zero strides on broadcast axes; a mismatch is a user error at
// `node` whose message starts with `what` ("cannot broadcast value").
View broadcast_view(const Node& node, const View& v, const std::vector<Dim>& dims, const Shape& target,
                    const std::string& what);

// Visits every row (all axes but the last) of `shape` in C order, calling
// f(offsets, n, inner) where offsets[k] is operand k's byte offset of the
// row's first element, n the row length and inner[k] operand k's byte stride
// along the row. A rank-0 shape is one row of one element; a zero-size shape
// has no rows.
template <std::size_t K, class F>
void for_each_row(const Shape& shape, const std::array<const Shape*, K>& strides, F&& f) {
  std::array<std::int64_t, K> off{}, inner{};
  const std::size_t rank = shape.size();
  for (std::int64_t d : shape)
    if (d == 0) return;
  if (rank == 0) {
    f(off, std::int64_t{1}, inner);
    return;
  }
  for (std::size_t k = 0; k < K; ++k) inner[k] = (*strides[k])[rank - 1];
  const std::int64_t n = shape[rank - 1];
  std::vector<std::int64_t> idx(rank - 1, 0);
  while (true) {
    f(off, n, inner);
    // Advance the multi-index over the outer axes, keeping offsets in step.
    bool done = true;
    for (std::size_t ax = rank - 1; ax-- > 0;) {
      if (++idx[ax] < shape[ax]) {
        for (std::size_t k = 0; k < K; ++k) off[k] += (*strides[k])[ax];
        done = false;
        break;
      }
      for (std::size_t k = 0; k < K; ++k) off[k] -= (*strides[k])[ax] * (shape[ax] - 1);
      idx[ax] = 0;
    }
    if (done) return;
  }
}

// Copies src into dst (same shape and dtype), element by element as bytes.
void copy_view(const View& dst, const View& src);
// dst += src (same shape and dtype), in the dtype's domain.
void add_into_view(const View& dst, const View& src);
// The byte offsets of every element of (shape, strides), in C order.
std::vector<std::int64_t> element_offsets(const Shape& shape, const Shape& strides);
// A fresh array of `shape` with every element `value` converted like Cast.
Array fill_array(const Shape& shape, double value, DType t);
// A fresh C-contiguous copy of a view.
Array materialize(const View& v);

// Number of elements of a shape.
std::int64_t num_elements(const Shape& shape);
// "[2, 3]"
std::string shape_string(const Shape& s);

// A user error at the node: "file:line: error: <op>: <what>".
[[noreturn]] void fail(const Node& node, const std::string& what);
// The error for an input or shared variable with no value bound to it.
[[noreturn]] void fail_unbound(const Node& var);

// Scalar special functions of the interpreter (ir/interp_elementwise.cpp),
// exported so that compiled backends call the very same code per element.
double erfinv_scalar(double v);
double lgamma_scalar(double v);
double digamma_scalar(double v);
double polygamma_scalar(int order, double v);
std::int64_t pow_int_scalar(std::int64_t a, std::int64_t b);  // wrapping; see docs/ops.md

// The op families (one file each).
Array eval_leaf(const Node& node);
Array eval_elementwise(const Node& node, const std::vector<Array>& in);
Array eval_reduce(const Node& node, const std::vector<Array>& in);
Array eval_matmul(const Node& node, const std::vector<Array>& in);
Array eval_shape_op(const Node& node, const std::vector<Array>& in);

}  // namespace kiln::ir::interp
