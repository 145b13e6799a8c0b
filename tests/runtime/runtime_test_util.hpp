// Helpers shared by the runtime tests: fixture paths, exact value parsing,
// temporary directories, and checks on kiln::Error messages.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/array.hpp"

namespace kiln_test {

inline std::string data_path(const std::string& rel) { return std::string(KILN_TEST_DATA) + "/" + rel; }

inline std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Values as written by gen_runtime_data.py: repr() of doubles, "nan", "inf".
inline double parse_double(const std::string& s) {
  if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (s == "inf") return std::numeric_limits<double>::infinity();
  if (s == "-inf") return -std::numeric_limits<double>::infinity();
  return std::strtod(s.c_str(), nullptr);  // correctly rounded, so exact for repr() output
}

// An array of the given dtype holding exactly the listed values.
inline kiln::Array array_from_text(kiln::DType dtype, const kiln::Shape& shape,
                                   const std::vector<std::string>& values) {
  if (kiln::is_float(dtype)) {
    std::vector<double> v;
    for (const auto& s : values) v.push_back(parse_double(s));
    return kiln::Array::from_doubles(v, shape, dtype);
  }
  std::vector<std::int64_t> v;
  for (const auto& s : values) v.push_back(std::stoll(s));
  kiln::Array a = kiln::Array::from_vector(v, shape);
  return dtype == kiln::DType::I64 ? a : a.astype(dtype);
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A fresh directory, removed with everything in it at the end of the scope.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("kiln_runtime_") + std::to_string(::getpid()) + "_" +
                       (info ? std::string(info->test_suite_name()) + "_" + info->name() : "x");
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs f, which must throw kiln::Error with every one of `parts` in its message.
inline void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const kiln::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected kiln::Error, got another exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "expected kiln::Error, nothing was thrown";
}

// Exact equality of two doubles, NaN equal to NaN, -0 distinct from +0.
inline bool same_double(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

}  // namespace kiln_test
