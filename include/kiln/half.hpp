// kiln — 16-bit float storage types (IEEE binary16 and bfloat16).
//
// Storage only: arithmetic converts to float. Conversions from float round to
// nearest, ties to even; NaN stays NaN, overflow goes to infinity.
#pragma once

#include <cstdint>

namespace kiln {

struct half {
  std::uint16_t bits = 0;
  half() = default;
  explicit half(float f);
  explicit operator float() const;
  static half from_bits(std::uint16_t b) { half h; h.bits = b; return h; }
};

struct bfloat16 {
  std::uint16_t bits = 0;
  bfloat16() = default;
  explicit bfloat16(float f);
  explicit operator float() const;
  static bfloat16 from_bits(std::uint16_t b) { bfloat16 h; h.bits = b; return h; }
};

}  // namespace kiln
