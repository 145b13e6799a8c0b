#include "kiln/error.hpp"

namespace kiln {

std::string SourceLoc::str() const {
  if (!known()) return "";
  return std::string(file) + ":" + std::to_string(line);
}

namespace detail {
void throw_internal(const char* cond, const char* file, int line, const std::string& msg) {
  std::string m = std::string("check '") + cond + "' failed at " + file + ":" + std::to_string(line);
  if (!msg.empty()) m += ": " + msg;
  throw InternalError(m);
}
}  // namespace detail

}  // namespace kiln
