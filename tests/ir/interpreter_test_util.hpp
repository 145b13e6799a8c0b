// Helpers shared by the reference interpreter's tests: building small
// graphs over bound arrays and checking results against hand-computed values.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "ir/interpreter.hpp"
#include "ir/node.hpp"

namespace kiln::ir::interp_test {

using i64 = std::int64_t;
inline const double kNaN = std::numeric_limits<double>::quiet_NaN();
inline const double kInf = std::numeric_limits<double>::infinity();
inline const i64 kI64Min = std::numeric_limits<i64>::min();
inline const i64 kI64Max = std::numeric_limits<i64>::max();
inline const SourceLoc kLoc("test.cpp", 1);

// ---- building graphs ----

// Holds the input leaves alive and their bound arrays.
struct Env {
  std::vector<NodeRef> keep;
  Bindings bindings;

  // An input of the given static dims (kUnknown for ?), bound to `a`.
  NodeRef in(const Array& a, std::vector<Dim> dims, const std::string& name = "x") {
    TensorType t(a.dtype(), std::move(dims));
    NodeRef n = make_node(OpCode::Input, {}, Attrs{{"name", name}, {"id", fresh_var_id()}}, kLoc, &t);
    keep.push_back(n);
    bindings[n.get()] = a;
    return n;
  }
  // An input whose static dims are the array's shape.
  NodeRef in(const Array& a, const std::string& name = "x") {
    std::vector<Dim> dims(a.shape().begin(), a.shape().end());
    return in(a, dims, name);
  }
  // An input with every dim unknown.
  NodeRef in_unknown(const Array& a, const std::string& name = "x") {
    return in(a, std::vector<Dim>(a.shape().size(), Dim::unknown()), name);
  }
  Array run(const NodeRef& out) const { return interpret({out}, bindings)[0]; }
};

inline NodeRef op(OpCode c, std::vector<NodeRef> ins, Attrs a = {}) { return make_node(c, std::move(ins), std::move(a), kLoc); }
inline NodeRef constant(const Array& a) { return make_node(OpCode::Constant, {}, Attrs{{"value", a}}, kLoc); }

inline Array f64s(const std::vector<double>& v, const Shape& s) { return Array::from_doubles(v, s, DType::F64); }
inline Array arr(const std::vector<double>& v, const Shape& s, DType t) { return Array::from_doubles(v, s, t); }
inline Array i64s(const std::vector<i64>& v, const Shape& s) { return Array::from_vector(v, s); }
inline Array vec(const std::vector<double>& v, DType t = DType::F64) { return arr(v, {static_cast<i64>(v.size())}, t); }
inline Array ivec(const std::vector<i64>& v) { return i64s(v, {static_cast<i64>(v.size())}); }

inline Attrs reduce_attrs(std::vector<i64> axes, bool keep = false) {
  return Attrs{{"axes", std::move(axes)}, {"keepdims", keep}};
}

// ---- checking results ----

inline bool same(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b;
}

// Exact comparison of dtype, shape and values (NaN equals NaN; -0 equals 0).
inline void expect_array(const Array& a, DType t, const Shape& shape, const std::vector<double>& want) {
  ASSERT_FALSE(a.is_null());
  EXPECT_EQ(a.dtype(), t) << dtype_name(a.dtype());
  ASSERT_EQ(a.shape(), shape);
  EXPECT_TRUE(a.is_contiguous());
  std::vector<double> got = a.to_doubles();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(same(got[i], want[i])) << "element " << i << ": got " << got[i] << ", want " << want[i];
}

// Exact comparison of integer results through int64 (no double rounding).
inline void expect_ints(const Array& a, DType t, const Shape& shape, const std::vector<i64>& want) {
  ASSERT_FALSE(a.is_null());
  EXPECT_EQ(a.dtype(), t) << dtype_name(a.dtype());
  ASSERT_EQ(a.shape(), shape);
  EXPECT_EQ(a.to_int64s(), want);
}

inline void expect_near(const Array& a, const std::vector<double>& want, double tol = 1e-12) {
  std::vector<double> got = a.to_doubles();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i]) || std::isinf(want[i])) EXPECT_TRUE(same(got[i], want[i])) << "element " << i << ": " << got[i];
    else EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
  }
}

// The message of the kiln::Error `f` throws ("" when it throws none).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InternalError& e) {
    return std::string("INTERNAL: ") + e.what();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "message: " << (haystack)

// Evaluates a unary op on a vector.
inline Array unary(OpCode c, const Array& x) {
  Env e;
  return e.run(op(c, {e.in(x)}));
}
inline Array binary(OpCode c, const Array& a, const Array& b) {
  Env e;
  return e.run(op(c, {e.in(a, "a"), e.in(b, "b")}));
}


}  // namespace kiln::ir::interp_test
