// kiln — element types.
//
// A leaf vocabulary header: it depends on nothing else in kiln, so every layer
// (ir/, passes/, codegen/, runtime/) may include it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kiln {

// The element types, in the order NumPy's promotion lattice lists them.
enum class DType : std::uint8_t {
  Bool,
  I8,
  I16,
  I32,
  I64,
  U8,
  F16,
  BF16,
  F32,
  F64,
};

inline constexpr int kNumDTypes = 10;

// Short names for user code: `matrix("x", f64)`.
inline constexpr DType boolean = DType::Bool;
inline constexpr DType i8 = DType::I8;
inline constexpr DType i16 = DType::I16;
inline constexpr DType i32 = DType::I32;
inline constexpr DType i64 = DType::I64;
inline constexpr DType u8 = DType::U8;
inline constexpr DType f16 = DType::F16;
inline constexpr DType bf16 = DType::BF16;
inline constexpr DType f32 = DType::F32;
inline constexpr DType f64 = DType::F64;

// Short name as used in the text format and in messages: "f32", "i64", "bool".
std::string_view dtype_name(DType t);
// Inverse of dtype_name; also accepts NumPy-like long names ("float32", "int64").
std::optional<DType> dtype_from_name(std::string_view name);

std::size_t dtype_size(DType t);
bool is_float(DType t);     // f16, bf16, f32, f64
bool is_integer(DType t);   // i8..i64, u8 (not bool)
bool is_signed_int(DType t);
bool is_unsigned_int(DType t);
inline bool is_bool(DType t) { return t == DType::Bool; }
// Width in bits of an integer type (8 for i8 and u8, 64 for i64; 1 for bool).
int int_bits(DType t);

// NumPy (NEP 50) promotion of two strongly typed dtypes:
// bool < integers < floats; mixed signed/unsigned goes to the next wider
// signed type; f16 with bf16 gives f32; an integer of 16 bits or more with
// f16 gives the float that can hold it (i16 → f32, i32/i64 → f64).
DType promote(DType a, DType b);

// The kind of a C++ scalar in an expression (`x * 2`, `x * 2.5`, `x & true`).
// Scalars are "weak" (NEP 50): they adopt the tensor's dtype unless their kind
// is higher (a float scalar with an integer tensor gives f64, like NumPy's
// default float; an int scalar with a bool tensor gives i64).
enum class ScalarKind : std::uint8_t { Bool, Int, Float };
DType promote_weak(DType tensor, ScalarKind scalar);

// The float dtype NumPy uses when a float-only function (exp, sqrt, true
// division, mean, ...) is applied to an integer or bool dtype: bool, i8, u8 →
// f16; i16 → f32; i32, i64 → f64. Float dtypes are returned unchanged.
DType float_for(DType t);

}  // namespace kiln
