#include "ir/type.hpp"

namespace kiln::ir {

bool TensorType::all_known() const {
  for (const Dim& d : dims)
    if (!d.known()) return false;
  return true;
}

std::int64_t TensorType::static_size() const {
  std::int64_t n = 1;
  for (const Dim& d : dims) {
    if (!d.known()) return kUnknown;
    if (__builtin_mul_overflow(n, d.size, &n)) return kUnknown;  // beyond int64: no static size
  }
  return n;
}

std::vector<std::int64_t> TensorType::sizes() const {
  std::vector<std::int64_t> s;
  s.reserve(dims.size());
  for (const Dim& d : dims) s.push_back(d.size);
  return s;
}

std::string dims_str(const std::vector<Dim>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    if (dims[i].known())
      s += std::to_string(dims[i].size);
    else
      s += dims[i].name.empty() ? "?" : dims[i].name;
  }
  return s + "]";
}

std::string TensorType::str() const { return std::string(dtype_name(dtype)) + dims_str(dims); }

}  // namespace kiln::ir
