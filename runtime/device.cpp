#include "kiln/device.hpp"

namespace kiln {

std::string Device::str() const {
  if (is_cpu()) return "cpu";
  return "cuda:" + std::to_string(ordinal_);
}

}  // namespace kiln
