// Tensor types: a dtype and a shape whose dims are static sizes or unknown
// (optionally named). Broadcasting follows Theano's rule so that kernels can
// be compiled once for all sizes: only dims statically known to be 1
// broadcast; an unknown dim must match the other side at run time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/dtype.hpp"

namespace kiln::ir {

inline constexpr std::int64_t kUnknown = -1;

struct Dim {
  std::int64_t size = kUnknown;  // >= 0 when static
  std::string name;              // optional name of an unknown dim ("batch")

  Dim() = default;
  Dim(std::int64_t s) : size(s) {}  // NOLINT: sizes convert implicitly
  Dim(std::int64_t s, std::string n) : size(s), name(std::move(n)) {}
  static Dim unknown(std::string name = "") { return Dim(kUnknown, std::move(name)); }
  bool known() const { return size >= 0; }
  friend bool operator==(const Dim&, const Dim&) = default;
};

struct TensorType {
  DType dtype = DType::F64;
  std::vector<Dim> dims;

  TensorType() = default;
  TensorType(DType t, std::vector<Dim> d) : dtype(t), dims(std::move(d)) {}
  static TensorType scalar(DType t) { return TensorType(t, {}); }
  std::int64_t rank() const { return static_cast<std::int64_t>(dims.size()); }
  bool all_known() const;
  // Product of the dims, or kUnknown.
  std::int64_t static_size() const;
  // The static sizes (kUnknown where unknown).
  std::vector<std::int64_t> sizes() const;
  // "f32[?,3,batch]" — the text format's spelling.
  std::string str() const;
  friend bool operator==(const TensorType&, const TensorType&) = default;
};

// "[?,3,batch]"
std::string dims_str(const std::vector<Dim>& dims);

}  // namespace kiln::ir
