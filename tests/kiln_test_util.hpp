// Helpers shared by the test suites that use the public API.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <vector>

#include <kiln/kiln.hpp>

namespace kiln_test {

// The message of the kiln::Error that f throws; a test failure if f throws
// nothing, an InternalError (a kiln bug) or anything else.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const kiln::InternalError& e) {
    ADD_FAILURE() << "expected kiln::Error, got kiln::InternalError: " << e.what();
    return e.what();
  } catch (const kiln::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected kiln::Error, got another exception: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected kiln::Error, nothing was thrown";
  return "";
}

// `got` has this dtype and shape and these values (exactly, or within an
// absolute tolerance).
inline void expect_array(const kiln::Array& got, kiln::DType dtype, const kiln::Shape& shape,
                         const std::vector<double>& want, double tol = 0) {
  ASSERT_FALSE(got.is_null());
  EXPECT_EQ(got.dtype(), dtype) << "got dtype " << kiln::dtype_name(got.dtype());
  ASSERT_EQ(got.shape(), shape) << "got shape " << kiln::shape_str(got.shape());
  std::vector<double> v = got.to_doubles();
  ASSERT_EQ(v.size(), want.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (tol == 0)
      EXPECT_EQ(v[i], want[i]) << "element " << i;
    else
      EXPECT_NEAR(v[i], want[i], tol) << "element " << i;
  }
}

}  // namespace kiln_test
