// kiln — where arrays live and functions run.
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

class Device {
 public:
  enum class Kind : std::uint8_t { CPU, CUDA };

  constexpr Device() = default;
  static constexpr Device cpu() { return Device(Kind::CPU, 0); }
  static constexpr Device cuda(int ordinal = 0) { return Device(Kind::CUDA, ordinal); }

  constexpr Kind kind() const { return kind_; }
  constexpr int ordinal() const { return ordinal_; }
  constexpr bool is_cpu() const { return kind_ == Kind::CPU; }
  constexpr bool is_cuda() const { return kind_ == Kind::CUDA; }
  std::string str() const;  // "cpu", "cuda:0"

  friend constexpr bool operator==(Device a, Device b) {
    return a.kind_ == b.kind_ && a.ordinal_ == b.ordinal_;
  }

 private:
  constexpr Device(Kind k, int o) : kind_(k), ordinal_(o) {}
  Kind kind_ = Kind::CPU;
  int ordinal_ = 0;
};

}  // namespace kiln
