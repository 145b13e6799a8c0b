#include "kiln/dtype.hpp"

#include <array>

#include "kiln/error.hpp"

namespace kiln {

namespace {
struct DTypeInfo {
  std::string_view name;
  std::string_view long_name;
  std::size_t size;
};
constexpr std::array<DTypeInfo, kNumDTypes> kInfo = {{
    {"bool", "bool", 1},
    {"i8", "int8", 1},
    {"i16", "int16", 2},
    {"i32", "int32", 4},
    {"i64", "int64", 8},
    {"u8", "uint8", 1},
    {"f16", "float16", 2},
    {"bf16", "bfloat16", 2},
    {"f32", "float32", 4},
    {"f64", "float64", 8},
}};
const DTypeInfo& info(DType t) { return kInfo[static_cast<int>(t)]; }
}  // namespace

std::string_view dtype_name(DType t) { return info(t).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (kInfo[i].name == name || kInfo[i].long_name == name) return static_cast<DType>(i);
  return std::nullopt;
}

std::size_t dtype_size(DType t) { return info(t).size; }

bool is_float(DType t) {
  return t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64;
}
bool is_signed_int(DType t) {
  return t == DType::I8 || t == DType::I16 || t == DType::I32 || t == DType::I64;
}
bool is_unsigned_int(DType t) { return t == DType::U8; }
bool is_integer(DType t) { return is_signed_int(t) || is_unsigned_int(t); }

int int_bits(DType t) {
  switch (t) {
    case DType::Bool: return 1;
    case DType::I8: case DType::U8: return 8;
    case DType::I16: return 16;
    case DType::I32: return 32;
    case DType::I64: return 64;
    default: return 0;
  }
}

namespace {
// Smallest signed type holding both a signed type of `sbits` and u8.
DType signed_of_bits(int bits) {
  if (bits <= 8) return DType::I8;
  if (bits <= 16) return DType::I16;
  if (bits <= 32) return DType::I32;
  return DType::I64;
}
int float_rank(DType t) {  // f16 and bf16 share a rank; they meet at f32
  switch (t) {
    case DType::F16: case DType::BF16: return 16;
    case DType::F32: return 32;
    case DType::F64: return 64;
    default: return 0;
  }
}
}  // namespace

DType promote(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::Bool) return b;
  if (b == DType::Bool) return a;
  if (is_integer(a) && is_integer(b)) {
    if (is_signed_int(a) && is_signed_int(b)) return int_bits(a) >= int_bits(b) ? a : b;
    // one unsigned (u8), one signed
    DType s = is_signed_int(a) ? a : b;
    if (int_bits(s) > 8) return s;
    return signed_of_bits(16);  // i8 with u8 → i16
  }
  if (is_float(a) && is_float(b)) {
    int ra = float_rank(a), rb = float_rank(b);
    if (ra == rb) return DType::F32;  // f16 with bf16
    return ra > rb ? a : b;
  }
  // one integer, one float: the float must hold the integer's values as NumPy does
  DType f = is_float(a) ? a : b;
  DType n = is_float(a) ? b : a;
  DType need = float_for(n);
  if (f == DType::BF16) {  // NumPy has no bf16; ml_dtypes-style: widen like f16 would
    if (need == DType::F16) return DType::BF16;
    return need;
  }
  return float_rank(f) >= float_rank(need) ? f : need;
}

DType promote_weak(DType tensor, ScalarKind scalar) {
  switch (scalar) {
    case ScalarKind::Bool: return tensor;
    case ScalarKind::Int: return tensor == DType::Bool ? DType::I64 : tensor;
    case ScalarKind::Float: return is_float(tensor) ? tensor : DType::F64;
  }
  KILN_UNREACHABLE("bad ScalarKind");
}

DType float_for(DType t) {
  switch (t) {
    case DType::Bool: case DType::I8: case DType::U8: return DType::F16;
    case DType::I16: return DType::F32;
    case DType::I32: case DType::I64: return DType::F64;
    default: return t;
  }
}

}  // namespace kiln
