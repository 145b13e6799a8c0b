// kiln — the error types.
//
// Three kinds (as in Halide and LLVM):
//   kiln::Error          your input is wrong (a shape, dtype, axis, argument,
//                        file); the message names the op, the shapes and the
//                        file:line of your code that built the node.
//   kiln::InternalError  an invariant inside kiln failed: a kiln bug; the
//                        message says so.
//   kiln::RuntimeError   the environment failed (allocation, a driver, a
//                        compiler); a kind of kiln::Error, as the user can
//                        often act on it.
// Nothing in kiln aborts the process on bad input.
#pragma once

#include <source_location>
#include <sstream>
#include <stdexcept>
#include <string>

namespace kiln {

// Where a user's code created a node. file is the full path as the compiler
// saw it; messages print it as given.
struct SourceLoc {
  const char* file = "";
  unsigned line = 0;
  const char* function = "";

  SourceLoc() = default;
  SourceLoc(const char* f, unsigned l, const char* fn = "") : file(f), line(l), function(fn) {}
  static SourceLoc from(const std::source_location& s) {
    return SourceLoc(s.file_name(), static_cast<unsigned>(s.line()), s.function_name());
  }
  bool known() const { return line != 0; }
  // "file.cpp:12", or "" when unknown.
  std::string str() const;
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

class RuntimeError : public Error {
 public:
  explicit RuntimeError(const std::string& msg) : Error(msg) {}
};

class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& msg)
      : std::logic_error("kiln internal error (this is a bug in kiln, please report it): " + msg) {}
};

namespace detail {
[[noreturn]] void throw_internal(const char* cond, const char* file, int line, const std::string& msg);
}  // namespace detail

}  // namespace kiln

// Marks code that must not be reached (an internal error when it is).
#define KILN_UNREACHABLE(...)                                                      \
  do {                                                                             \
    std::ostringstream kiln_check_os_;                                             \
    kiln_check_os_ << "" __VA_OPT__(<<) __VA_ARGS__;                               \
    ::kiln::detail::throw_internal("unreachable", __FILE__, __LINE__, kiln_check_os_.str()); \
  } while (0)

// Internal invariant check; stays on in release builds. The message is only
// built when the check fails.
#define KILN_CHECK(cond, ...)                                                           \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::ostringstream kiln_check_os_;                                                \
      kiln_check_os_ << "" __VA_OPT__(<<) __VA_ARGS__;                                  \
      ::kiln::detail::throw_internal(#cond, __FILE__, __LINE__, kiln_check_os_.str()); \
    }                                                                                   \
  } while (0)
