#include "ir/parser.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace kiln::ir {

namespace {

// File names of source locations must outlive every node: keep them in a
// pool that is never freed.
const char* intern(std::string_view s) {
  static auto* mu = new std::mutex;
  static auto* pool = new std::unordered_set<std::string>;
  std::lock_guard<std::mutex> lock(*mu);
  return pool->emplace(s).first->c_str();
}

// Attrs is a sorted vector: bound its size so a hostile line cannot make
// parsing quadratic.
constexpr std::size_t kMaxAttrs = 256;

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_char(char c) { return is_alpha(c) || is_digit(c); }
bool is_ref_char(char c) { return is_ident_char(c) || c == '.'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::string plural(std::int64_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// "error: sum: axis 5 ..." → "sum: axis 5 ..."
std::string strip_error(std::string_view m) {
  if (m.substr(0, 7) == "error: ") m.remove_prefix(7);
  return std::string(m);
}

// The message part of a KILN_CHECK failure ("... failed at f.cpp:12: missing
// attribute 'axes'" → "missing attribute 'axes'").
std::string check_detail(std::string_view m) {
  std::size_t at = m.find("failed at ");
  if (at != std::string_view::npos) {
    std::size_t colon = m.find(": ", at);
    if (colon != std::string_view::npos) return std::string(m.substr(colon + 2));
  }
  return std::string(m);
}

class Parser {
 public:
  Parser(std::string_view src, std::string_view filename)
      : src_(src), file_(filename), loc_file_(intern(filename.empty() ? "<text>" : filename)) {}

  Graph parse() {
    header();
    while (pos_ < src_.size()) {
      if (at_eol()) {
        end_line();
        continue;
      }
      if (src_[pos_] == '%') {
        node_stmt();
      } else if (peek_word("output")) {
        pos_ += 6;
        output_stmt();
      } else {
        fail(pos_, "expected a node ('%N = op ...') or an 'output' line, got " + here());
      }
    }
    return std::move(g_);
  }

 private:
  struct Value {
    NodeRef node;
    std::size_t line;
  };

  std::string_view src_;
  std::string file_;
  const char* loc_file_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::size_t line_start_ = 0;
  std::unordered_map<std::string, Value> values_;
  std::unordered_set<std::string> output_names_;
  std::unordered_set<const Node*> variables_;
  Graph g_;

  // ---- errors ----

  [[noreturn]] void fail(std::size_t at, const std::string& msg) const {
    std::string m = file_.empty() ? "" : file_ + ":";
    std::size_t col = at >= line_start_ ? at - line_start_ + 1 : 1;
    m += std::to_string(line_) + ":" + std::to_string(col) + ": error: " + msg;
    throw Error(m);
  }

  // What is at the cursor, for "expected X, got Y".
  std::string here() const {
    if (pos_ >= src_.size()) return "end of file";
    char c = src_[pos_];
    if (c == '\n') return "end of line";
    if (is_ident_char(c) || c == '-' || c == '%') {
      std::size_t e = pos_ + 1;
      while (e < src_.size() && e - pos_ < 40 && is_ref_char(src_[e])) ++e;
      return "'" + std::string(src_.substr(pos_, e - pos_)) + "'";
    }
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", u);
    return buf;
  }

  // ---- characters ----

  void skip_ws() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  bool at_eol() {
    skip_ws();
    return pos_ >= src_.size() || src_[pos_] == '\n';
  }

  void end_line() {
    if (!at_eol()) fail(pos_, "unexpected " + here() + " at the end of the line");
    if (pos_ < src_.size()) {
      ++pos_;
      ++line_;
      line_start_ = pos_;
    }
  }

  bool peek_char(char c) {
    skip_ws();
    return pos_ < src_.size() && src_[pos_] == c;
  }

  bool accept(char c) {
    if (!peek_char(c)) return false;
    ++pos_;
    return true;
  }

  void expect(char c, const std::string& what) {
    if (!accept(c)) fail(pos_, "expected " + what + ", got " + here());
  }

  // The identifier `w` at the cursor (and not just a prefix of a longer one)?
  bool peek_word(std::string_view w) {
    skip_ws();
    if (src_.substr(pos_, w.size()) != w) return false;
    std::size_t e = pos_ + w.size();
    return e >= src_.size() || !is_ident_char(src_[e]);
  }

  // An identifier followed by '=' (an attribute, not a value)?
  bool peek_attr_name() {
    skip_ws();
    std::size_t p = pos_;
    if (p >= src_.size() || !is_alpha(src_[p])) return false;
    while (p < src_.size() && is_ident_char(src_[p])) ++p;
    while (p < src_.size() && (src_[p] == ' ' || src_[p] == '\t')) ++p;
    return p < src_.size() && src_[p] == '=';
  }

  // ---- tokens ----

  std::string_view ident(const std::string& what) {
    skip_ws();
    if (pos_ >= src_.size() || !is_alpha(src_[pos_])) fail(pos_, "expected " + what + ", got " + here());
    std::size_t s = pos_;
    while (pos_ < src_.size() && is_ident_char(src_[pos_])) ++pos_;
    return src_.substr(s, pos_ - s);
  }

  std::string ref() {
    skip_ws();
    std::size_t s = pos_;
    if (!accept('%')) fail(pos_, "expected a value reference like '%0', got " + here());
    std::size_t b = pos_;
    while (pos_ < src_.size() && is_ref_char(src_[pos_])) ++pos_;
    if (pos_ == b) fail(s, "expected a name or number after '%'");
    return std::string(src_.substr(s, pos_ - s));
  }

  NodeRef use(const std::string& name, std::size_t at) {
    auto it = values_.find(name);
    if (it == values_.end()) fail(at, "use of undefined value " + name);
    return it->second.node;
  }

  std::string string_lit() {
    skip_ws();
    std::size_t s = pos_;
    if (!accept('"')) fail(pos_, "expected a string in double quotes, got " + here());
    std::string r;
    while (true) {
      if (pos_ >= src_.size() || src_[pos_] == '\n') fail(s, "unterminated string");
      char c = src_[pos_++];
      if (c == '"') break;
      if (c != '\\') {
        r += c;
        continue;
      }
      if (pos_ >= src_.size() || src_[pos_] == '\n') fail(s, "unterminated string");
      char e = src_[pos_++];
      switch (e) {
        case '"': case '\\': r += e; break;
        case 'n': r += '\n'; break;
        case 't': r += '\t'; break;
        case 'r': r += '\r'; break;
        case 'x': {
          if (pos_ + 2 > src_.size() || !is_hex(src_[pos_]) || !is_hex(src_[pos_ + 1]))
            fail(pos_ - 2, "expected two hex digits after '\\x'");
          unsigned v = 0;
          std::from_chars(src_.data() + pos_, src_.data() + pos_ + 2, v, 16);
          r += static_cast<char>(v);
          pos_ += 2;
          break;
        }
        default:
          fail(pos_ - 2, "unknown escape sequence in string (use \\\" \\\\ \\n \\t \\r or \\xHH)");
      }
    }
    return r;
  }

  // A number token: -?digits[.digits][e[+-]digits], -?inf, -?nan, nan(0xHEX).
  struct Number {
    std::string_view text;
    std::size_t at;
    bool is_int;
  };

  Number number(const std::string& what) {
    skip_ws();
    std::size_t s = pos_, p = pos_;
    auto word_at = [&](std::size_t q, std::string_view w) {
      return src_.substr(q, w.size()) == w && (q + w.size() >= src_.size() || !is_ident_char(src_[q + w.size()]));
    };
    if (p < src_.size() && src_[p] == '-') ++p;
    bool is_int = false;
    if (word_at(p, "inf")) {
      p += 3;
    } else if (word_at(p, "nan")) {
      p += 3;
      if (p < src_.size() && src_[p] == '(') {
        ++p;
        while (p < src_.size() && (is_ident_char(src_[p]))) ++p;
        if (p >= src_.size() || src_[p] != ')') fail(s, "expected nan(0xBITS)");
        ++p;
      }
    } else {
      std::size_t d = p;
      while (p < src_.size() && is_digit(src_[p])) ++p;
      if (p == d) fail(s, "expected " + what + ", got " + here());
      is_int = true;
      if (p < src_.size() && src_[p] == '.') {
        is_int = false;
        ++p;
        while (p < src_.size() && is_digit(src_[p])) ++p;
      }
      if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
        is_int = false;
        ++p;
        if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
        std::size_t ed = p;
        while (p < src_.size() && is_digit(src_[p])) ++p;
        if (p == ed) fail(s, "malformed number: missing exponent digits");
      }
    }
    if (p < src_.size() && (is_ident_char(src_[p]) || src_[p] == '.'))
      fail(s, "malformed number '" + std::string(src_.substr(s, p + 1 - s)) + "'");
    pos_ = p;
    return {src_.substr(s, p - s), s, is_int};
  }

  std::int64_t to_int(const Number& n) {
    if (!n.is_int) fail(n.at, "expected an integer, got '" + std::string(n.text) + "'");
    std::int64_t v = 0;
    auto r = std::from_chars(n.text.data(), n.text.data() + n.text.size(), v);
    if (r.ec != std::errc() || r.ptr != n.text.data() + n.text.size())
      fail(n.at, "integer '" + std::string(n.text) + "' is out of range for i64");
    return v;
  }

  std::int64_t int_lit(const std::string& what) { return to_int(number(what)); }

  // A NaN spelled nan, -nan or nan(0xBITS) as the bits of a float type of
  // `bits` width with `mant` mantissa bits whose canonical quiet NaN is
  // `canonical`.
  std::uint64_t nan_lit(const Number& n, int bits, int mant, std::uint64_t canonical) {
    std::string_view t = n.text;
    std::uint64_t sign = std::uint64_t{1} << (bits - 1);
    if (t == "nan") return canonical;
    if (t == "-nan") return canonical | sign;
    std::string_view hex = t.substr(4, t.size() - 5);  // nan( ... )
    std::uint64_t v = 0;
    if (t[0] == '-' || hex.substr(0, 2) != "0x" || hex.size() < 3 ||
        std::from_chars(hex.data() + 2, hex.data() + hex.size(), v, 16).ptr != hex.data() + hex.size())
      fail(n.at, "expected nan(0xBITS) with hexadecimal bits");
    std::uint64_t mask = bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
    std::uint64_t exp_mask = (mask >> (mant + 1)) << mant;  // all exponent bits
    std::uint64_t man_mask = (std::uint64_t{1} << mant) - 1;
    if ((v & ~mask) || (v & exp_mask) != exp_mask || !(v & man_mask))
      fail(n.at, "'" + std::string(t) + "' is not a NaN of " + std::to_string(bits) + " bits");
    return v;
  }

  double to_double(const Number& n) {
    std::string_view t = n.text;
    if (t == "inf") return std::numeric_limits<double>::infinity();
    if (t == "-inf") return -std::numeric_limits<double>::infinity();
    if (t.find("nan") != std::string_view::npos) {
      double q = std::numeric_limits<double>::quiet_NaN();
      std::uint64_t canon;
      std::memcpy(&canon, &q, 8);
      std::uint64_t b = nan_lit(n, 64, 52, canon);
      double d;
      std::memcpy(&d, &b, 8);
      return d;
    }
    double v = 0;
    auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (r.ec != std::errc() || r.ptr != t.data() + t.size())
      fail(n.at, "number '" + std::string(t) + "' is out of range for f64");
    return v;
  }

  float to_float(const Number& n, const char* dtype) {
    std::string_view t = n.text;
    if (t == "inf") return std::numeric_limits<float>::infinity();
    if (t == "-inf") return -std::numeric_limits<float>::infinity();
    float v = 0;
    auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (r.ec != std::errc() || r.ptr != t.data() + t.size())
      fail(n.at, "number '" + std::string(t) + "' is out of range for " + dtype);
    return v;
  }

  // ---- types ----

  TensorType type() {
    skip_ws();
    std::size_t at = pos_;
    std::string_view name = ident("a type like f32[?,3]");
    std::optional<DType> dt = dtype_from_name(name);
    if (!dt) fail(at, "unknown dtype '" + std::string(name) + "'");
    expect('[', "'[' and the dims after the dtype (f32[] for a scalar)");
    std::vector<Dim> dims;
    if (!accept(']')) {
      do {
        skip_ws();
        if (dims.size() >= static_cast<std::size_t>(kMaxTextRank))
          fail(pos_, "rank exceeds the limit of " + std::to_string(kMaxTextRank));
        if (accept('?')) {
          dims.push_back(Dim::unknown());
        } else if (pos_ < src_.size() && is_digit(src_[pos_])) {
          dims.push_back(Dim(int_lit("a dim")));
        } else if (pos_ < src_.size() && is_alpha(src_[pos_])) {
          dims.push_back(Dim::unknown(std::string(ident("a dim"))));
        } else {
          fail(pos_, "expected a dim (a size, '?' or a name), got " + here());
        }
      } while (accept(','));
      expect(']', "',' or ']' in the dims");
    }
    // Keep element counts far from overflow in the shape arithmetic of the
    // type rules (a real array has fewer than 2^62 elements anyway).
    std::int64_t elements = 1;
    for (const Dim& d : dims)
      if (d.known() && __builtin_mul_overflow(elements, std::max<std::int64_t>(d.size, 1), &elements))
        elements = INT64_MAX;
    if (elements > (std::int64_t{1} << 62)) fail(at, "the type has more than 2^62 elements");
    return TensorType(*dt, std::move(dims));
  }

  // ---- array literals ----

  template <class T>
  static void put(std::vector<std::byte>& out, T v) {
    std::size_t n = out.size();
    out.resize(n + sizeof(T));
    std::memcpy(out.data() + n, &v, sizeof(T));
  }

  void element(DType t, std::vector<std::byte>& out) {
    skip_ws();
    std::size_t at = pos_;
    if (t == DType::Bool) {
      if (peek_word("true")) {
        pos_ += 4;
        put<bool>(out, true);
      } else if (peek_word("false")) {
        pos_ += 5;
        put<bool>(out, false);
      } else {
        fail(at, "expected true or false, got " + here());
      }
      return;
    }
    Number n = number(std::string("a value of type ") + std::string(dtype_name(t)));
    if (is_integer(t)) {
      if (!n.is_int)
        fail(at, "expected an integer for " + std::string(dtype_name(t)) + ", got '" + std::string(n.text) + "'");
      std::int64_t v = to_int(n);
      std::int64_t lo = INT64_MIN, hi = INT64_MAX;
      switch (t) {
        case DType::I8: lo = INT8_MIN; hi = INT8_MAX; break;
        case DType::I16: lo = INT16_MIN; hi = INT16_MAX; break;
        case DType::I32: lo = INT32_MIN; hi = INT32_MAX; break;
        case DType::U8: lo = 0; hi = UINT8_MAX; break;
        default: break;
      }
      if (v < lo || v > hi) fail(at, std::to_string(v) + " is out of range for " + std::string(dtype_name(t)));
      switch (t) {
        case DType::I8: put(out, static_cast<std::int8_t>(v)); break;
        case DType::I16: put(out, static_cast<std::int16_t>(v)); break;
        case DType::I32: put(out, static_cast<std::int32_t>(v)); break;
        case DType::U8: put(out, static_cast<std::uint8_t>(v)); break;
        default: put(out, v); break;
      }
      return;
    }
    bool nan = n.text.find("nan") != std::string_view::npos;
    switch (t) {
      case DType::F64:
        put(out, to_double(n));
        break;
      case DType::F32:
        if (nan) {
          float q = std::numeric_limits<float>::quiet_NaN();
          std::uint32_t canon;
          std::memcpy(&canon, &q, 4);
          put(out, static_cast<std::uint32_t>(nan_lit(n, 32, 23, canon)));
        } else {
          put(out, to_float(n, "f32"));
        }
        break;
      case DType::F16:
        if (nan)
          put(out, static_cast<std::uint16_t>(nan_lit(n, 16, 10, half(std::numeric_limits<float>::quiet_NaN()).bits)));
        else
          put(out, half(to_float(n, "f16")).bits);
        break;
      case DType::BF16:
        if (nan)
          put(out, static_cast<std::uint16_t>(
                       nan_lit(n, 16, 7, bfloat16(std::numeric_limits<float>::quiet_NaN()).bits)));
        else
          put(out, bfloat16(to_float(n, "bf16")).bits);
        break;
      default:
        KILN_UNREACHABLE("unhandled dtype");
    }
  }

  void literal_level(const TensorType& t, std::size_t axis, std::vector<std::byte>& out) {
    skip_ws();
    std::size_t open = pos_;
    std::int64_t want = t.dims[axis].size;
    if (!accept('['))
      fail(pos_, "expected '[' (the type " + t.str() + " needs " + plural(t.rank(), "level") +
                     " of brackets), got " + here());
    std::int64_t count = 0;
    if (!accept(']')) {
      do {
        if (count == want)
          fail(pos_, "too many elements: axis " + std::to_string(axis) + " of " + t.str() + " has size " +
                         std::to_string(want));
        if (axis + 1 == t.dims.size())
          element(t.dtype, out);
        else
          literal_level(t, axis + 1, out);
        ++count;
      } while (accept(','));
      expect(']', "',' or ']'");
    }
    if (count != want)
      fail(open, "expected " + plural(want, "element") + " along axis " + std::to_string(axis) + " of " + t.str() +
                     ", got " + std::to_string(count));
  }

  Array literal(const TensorType& t, std::size_t type_at) {
    if (!t.all_known()) fail(type_at, "a constant needs a type with static dims, got " + t.str());
    std::vector<std::byte> bytes;
    if (t.dims.empty())
      element(t.dtype, bytes);
    else
      literal_level(t, 0, bytes);
    Array a = Array::empty(t.sizes(), t.dtype);
    if (!bytes.empty()) std::memcpy(a.raw_data(), bytes.data(), bytes.size());
    return a;
  }

  // Skips a constant's literal before its type is known: a bracketed list
  // (matched without recursion) or one scalar token.
  void skip_literal() {
    skip_ws();
    std::size_t s = pos_;
    if (pos_ < src_.size() && src_[pos_] == '[') {
      std::size_t depth = 0;
      while (pos_ < src_.size() && src_[pos_] != '\n') {
        char c = src_[pos_++];
        if (c == '[') ++depth;
        if (c == ']' && --depth == 0) return;
      }
      fail(s, "unterminated '[' in the constant");
    }
    while (pos_ < src_.size() &&
           (is_ident_char(src_[pos_]) || src_[pos_] == '-' || src_[pos_] == '+' || src_[pos_] == '.' ||
            src_[pos_] == '(' || src_[pos_] == ')'))
      ++pos_;
    if (pos_ == s) fail(s, "expected the constant's value, got " + here());
  }

  // ---- attribute values ----

  AttrValue list_value() {
    std::size_t open = pos_;
    expect('[', "'['");
    std::vector<std::int64_t> v;
    if (accept(']')) return v;
    int kind = 0;  // 1: integers, 2: slices
    do {
      skip_ws();
      std::size_t at = pos_;
      auto bound = [&](std::int64_t dflt) {
        skip_ws();
        if (pos_ < src_.size() && (src_[pos_] == '-' || is_digit(src_[pos_]))) return int_lit("an integer");
        return dflt;
      };
      std::int64_t first = bound(kNone);
      int k = 1;
      if (accept(':')) {
        k = 2;
        std::int64_t stop = bound(kNone);
        std::int64_t step = 1;
        if (accept(':')) {
          skip_ws();
          std::size_t step_at = pos_;
          step = bound(1);
          if (step == INT64_MIN) fail(step_at, "slice step is out of range");
        }
        v.insert(v.end(), {first, stop, step});
      } else {
        if (first == kNone && !(pos_ > at)) fail(at, "expected an integer or a slice, got " + here());
        v.push_back(first);
      }
      if (kind && kind != k) fail(at, "a list holds either integers or slices, not both");
      kind = k;
    } while (accept(','));
    if (!accept(']')) fail(pos_, "expected ',' or ']' to close the list opened at column " +
                                     std::to_string(open - line_start_ + 1) + ", got " + here());
    return v;
  }

  AttrValue attr_value() {
    skip_ws();
    std::size_t at = pos_;
    if (pos_ >= src_.size() || src_[pos_] == '\n') fail(at, "expected an attribute value, got " + here());
    char c = src_[pos_];
    if (c == '"') return string_lit();
    if (c == '[') return list_value();
    if (c == '-' || is_digit(c)) {
      Number n = number("a number");
      if (n.is_int) return to_int(n);
      return to_double(n);
    }
    if (is_alpha(c)) {
      if (peek_word("true")) { pos_ += 4; return true; }
      if (peek_word("false")) { pos_ += 5; return false; }
      if (peek_word("inf") || peek_word("nan")) return to_double(number("a number"));
      if (peek_word("array")) {
        pos_ += 5;
        expect('(', "'(' after 'array'");
        skip_ws();
        std::size_t type_at = pos_;
        TensorType t = type();
        expect(',', "',' after the array's type");
        Array a = literal(t, type_at);
        expect(')', "')' to close 'array('");
        return a;
      }
      std::string_view w = ident("an attribute value");
      if (auto dt = dtype_from_name(w)) return *dt;
      fail(at, "unknown attribute value '" + std::string(w) + "' (expected a number, true, false, a string, "
               "a list, a dtype or array(...))");
    }
    fail(at, "expected an attribute value, got " + here());
  }

  // ---- statements ----

  void header() {
    while (pos_ < src_.size() && at_eol()) end_line();
    skip_ws();
    std::size_t at = pos_;
    std::size_t e = pos_;
    while (e < src_.size() && is_ref_char(src_[e])) ++e;
    if (src_.substr(at, e - at) != "kiln.graph")
      fail(at, "expected the header 'kiln.graph v1', got " + here());
    pos_ = e;
    skip_ws();
    std::size_t vat = pos_;
    if (!peek_word("v1")) {
      if (pos_ < src_.size() && src_[pos_] == 'v')
        fail(vat, "unsupported text format version " + here() + " (this kiln reads v1)");
      fail(vat, "expected the version 'v1' after 'kiln.graph', got " + here());
    }
    pos_ += 2;
    end_line();
  }

  void output_stmt() {
    std::string name;
    if (peek_char('"')) {
      std::size_t at = pos_;
      name = string_lit();
      if (!name.empty() && !output_names_.insert(name).second)
        fail(at, "duplicate output name \"" + name + "\"");
      expect('=', "'=' after the output name");
    }
    skip_ws();
    std::size_t at = pos_;
    std::string r = ref();
    NodeRef n = use(r, at);
    if (!at_eol()) fail(pos_, "unexpected " + here() + " after the output");
    g_.outputs.push_back(std::move(n));
    g_.output_names.push_back(std::move(name));
    end_line();
  }

  void node_stmt() {
    std::size_t ref_at = pos_;
    std::string name = ref();
    if (auto it = values_.find(name); it != values_.end())
      fail(ref_at, "redefinition of " + name + " (first defined on line " + std::to_string(it->second.line) + ")");
    expect('=', "'=' after " + name);
    skip_ws();
    std::size_t op_at = pos_;
    std::string_view opname = ident("an op name");
    std::optional<OpCode> op = op_from_name(opname);
    if (!op) fail(op_at, "unknown op '" + std::string(opname) + "'");
    const OpInfo& info = op_info(*op);
    const bool is_var = *op == OpCode::Input || *op == OpCode::Shared;

    std::vector<NodeRef> inputs;
    Attrs attrs;
    std::size_t literal_at = std::string::npos, literal_end = 0;
    if (is_var) {
      if (peek_char('"')) attrs.set("name", string_lit());
    } else if (*op == OpCode::Constant) {
      if (!peek_attr_name() && !peek_char(':')) {
        literal_at = pos_;
        skip_literal();
        literal_end = pos_;
      }
    } else if (accept('(')) {
      if (!accept(')')) {
        do {
          skip_ws();
          std::size_t at = pos_;
          inputs.push_back(use(ref(), at));
        } while (accept(','));
        expect(')', "',' or ')' after an input");
      }
    } else if (info.category != OpCategory::Leaf) {
      fail(pos_, "expected '(' and the inputs of " + std::string(opname) + ", got " + here());
    }

    while (!peek_char(':')) {
      if (at_eol()) fail(pos_, "expected an attribute or ':' and the type, got " + here());
      std::size_t at = pos_;
      std::string key(ident("an attribute name or ':'"));
      if (attrs.items().size() >= kMaxAttrs)
        fail(at, "too many attributes (the limit is " + std::to_string(kMaxAttrs) + ")");
      if (attrs.has(key) || (key == "value" && literal_at != std::string::npos))
        fail(at, "duplicate attribute '" + key + "'");
      expect('=', "'=' after the attribute name '" + key + "'");
      attrs.set(key, attr_value());
    }
    expect(':', "':'");
    skip_ws();
    std::size_t type_at = pos_;
    TensorType written = type();

    SourceLoc loc(loc_file_, static_cast<unsigned>(std::min<std::size_t>(line_, UINT_MAX)));
    if (peek_word("loc")) {
      pos_ += 3;
      expect('=', "'=' after 'loc'");
      std::string file = string_lit();
      expect(':', "':' and a line number after the file of 'loc'");
      skip_ws();
      std::size_t at = pos_;
      std::int64_t line = int_lit("a line number");
      if (line < 1 || line > UINT_MAX) fail(at, "line number out of range");
      loc = SourceLoc(intern(file), static_cast<unsigned>(line));
    }
    if (!at_eol()) fail(pos_, "unexpected " + here() + " after the type");

    const std::string op_str(opname);
    if (info.arity >= 0 && static_cast<int>(inputs.size()) != info.arity)
      fail(op_at, op_str + " expects " + plural(info.arity, "input") + ", got " + std::to_string(inputs.size()));
    if (info.arity < 0 && inputs.empty()) fail(op_at, op_str + " expects at least one input");

    NodeRef node;
    if (is_var) {
      const AttrValue* vname = attrs.find("name");
      if (!vname) fail(op_at, op_str + " needs a name: " + op_str + " \"x\" ... : " + written.str());
      if (!std::holds_alternative<std::string>(*vname)) fail(op_at, op_str + ": the name must be a string");
      const AttrValue* id = attrs.find("id");
      if (!id) {
        attrs.set("id", fresh_var_id());
      } else {
        const auto* v = std::get_if<std::int64_t>(id);
        if (!v || *v < 1 || *v > (std::int64_t{1} << 62))
          fail(op_at, op_str + ": id must be an integer from 1 to 2^62");
        reserve_var_id(*v);
      }
      node = build(*op, {}, std::move(attrs), loc, &written, op_at);
      if (!variables_.insert(node.get()).second)
        fail(ref_at, name + " repeats an earlier " + op_str + " (same name, id and type)");
      g_.inputs.push_back(node);
    } else {
      if (literal_at != std::string::npos) {
        std::size_t resume = pos_;
        pos_ = literal_at;
        attrs.set("value", literal(written, type_at));
        if (pos_ != literal_end) fail(pos_, "unexpected " + here() + " in the constant");
        pos_ = resume;
      }
      std::vector<TensorType> in_types;
      for (const NodeRef& in : inputs) in_types.push_back(in->type());
      TensorType inferred;
      try {
        inferred = infer_type(*op, in_types, attrs);
      } catch (const InternalError& e) {
        fail(op_at, op_str + ": " + check_detail(e.what()));
      } catch (const Error& e) {
        fail(op_at, strip_error(e.what()));
      }
      if (!(inferred == written))
        fail(type_at, "type mismatch: " + op_str + " here has type " + inferred.str() + ", but the line says " +
                          written.str());
      node = build(*op, std::move(inputs), std::move(attrs), loc, nullptr, op_at);
    }
    values_.emplace(name, Value{std::move(node), line_});
    end_line();
  }

  NodeRef build(OpCode op, std::vector<NodeRef> inputs, Attrs attrs, const SourceLoc& loc,
                const TensorType* leaf_type, std::size_t op_at) {
    try {
      return make_node(op, std::move(inputs), std::move(attrs), loc, leaf_type);
    } catch (const InternalError& e) {
      fail(op_at, std::string(op_name(op)) + ": " + check_detail(e.what()));
    } catch (const Error& e) {
      // make_node prefixes its own location; the text position is the useful one.
      std::string m = e.what();
      std::size_t p = m.find("error: ");
      fail(op_at, strip_error(p == std::string::npos ? m : m.substr(p)));
    }
  }
};

}  // namespace

Graph parse_graph(std::string_view text, std::string_view filename) {
  return Parser(text, filename).parse();
}

Graph parse_graph_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": error: is a directory, not a graph file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": error: cannot open file (" + std::strerror(errno) + ")");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(path + ": error: cannot read file");
  return parse_graph(text.str(), path);
}

}  // namespace kiln::ir
