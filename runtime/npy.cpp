// .npy files: Array::load and Array::save.
//
// The format (NumPy's NEP 1): the magic "\x93NUMPY", a major and minor
// version byte, the header length (2 bytes little-endian in version 1.0, 4
// bytes in 2.0 and 3.0), then a Python dict literal such as
//   {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a newline, then the raw data. Loading checks every
// length against the file size before reading or allocating, so a damaged
// file gives a kiln::Error, never a crash or a huge allocation.
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string_view>

#include "kiln/array.hpp"

namespace kiln {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLen = 6;
constexpr std::uint64_t kMaxHeaderLen = std::uint64_t{1} << 20;

[[noreturn]] void load_error(const std::string& path, const std::string& problem) {
  throw Error("Array::load: " + path + ": " + problem);
}

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

// Parses the header dict; accepts exactly what a Python literal of this form
// may hold (either quote, optional trailing commas, Python 2 'L' suffixes).
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    expect('{');
    for (;;) {
      skip_ws();
      if (eat('}')) break;
      if (!at_quote()) fail("expected a quoted key");
      std::string key = parse_string();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (have_descr) fail("key 'descr' appears twice");
        have_descr = true;
        if (peek() == '[') fail("structured dtypes (a list descr) are not supported");
        if (!at_quote()) fail("'descr' is not a string");
        h.descr = parse_string();
      } else if (key == "fortran_order") {
        if (have_order) fail("key 'fortran_order' appears twice");
        have_order = true;
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        if (have_shape) fail("key 'shape' appears twice");
        have_shape = true;
        h.shape = parse_shape();
      } else {
        fail("unexpected key '" + key + "'");
      }
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      expect('}');
      break;
    }
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the dict");
    if (!have_descr) fail("missing key 'descr'");
    if (!have_order) fail("missing key 'fortran_order'");
    if (!have_shape) fail("missing key 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    load_error(path_, "malformed header (" + what + " at offset " + std::to_string(pos_) + "): " +
                          printable(s_));
  }
  static std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 200)) {
      auto u = static_cast<unsigned char>(c);
      if (u >= 32 && u < 127) out += c;
      else if (c == '\n') out += "\\n";
      else out += '?';
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool at_quote() const { return peek() == '\'' || peek() == '"'; }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool eat(char c) {
    if (peek() != c || pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  std::string parse_string() {
    const char q = s_[pos_++];
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != q) {
      if (s_[pos_] == '\\') fail("escape sequences are not supported");
      out += s_[pos_++];
    }
    if (pos_ >= s_.size()) fail("unterminated string");
    ++pos_;
    return out;
  }
  bool parse_bool() {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("'fortran_order' is not True or False");
  }
  std::int64_t parse_dim() {
    if (peek() == '-') fail("negative dimension");
    if (peek() < '0' || peek() > '9') fail("a dimension is not an integer");
    std::int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, peek() - '0', &v))
        fail("dimension too large");
      ++pos_;
    }
    if (peek() == 'L' || peek() == 'l') ++pos_;
    return v;
  }
  Shape parse_shape() {
    if (!eat('(')) fail("'shape' is not a tuple");
    Shape shape;
    skip_ws();
    if (eat(')')) return shape;
    for (;;) {
      skip_ws();
      shape.push_back(parse_dim());
      if (shape.size() > 64) fail("more than 64 dimensions");
      skip_ws();
      if (eat(',')) {
        skip_ws();
        if (eat(')')) break;
        continue;
      }
      expect(')');
      break;
    }
    return shape;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  const std::string& path_;
};

struct Descr {
  DType dtype;
  bool swap;  // big-endian data on this (little-endian) machine, or the reverse
};

Descr parse_descr(const std::string& descr, const std::string& path) {
  auto unsupported = [&](const std::string& why) -> Descr {
    load_error(path, "unsupported dtype descr '" + descr + "'" + why);
  };
  if (descr.size() < 2) return unsupported("");
  const char order = descr[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') return unsupported("");
  const std::string code = descr.substr(1);
  if (code.rfind("O", 0) == 0) return unsupported(": object arrays cannot be loaded");
  struct Known {
    const char* code;
    DType dtype;
  };
  static constexpr Known kKnown[] = {
      {"f8", DType::F64}, {"f4", DType::F32}, {"f2", DType::F16}, {"i8", DType::I64}, {"i4", DType::I32},
      {"i2", DType::I16}, {"i1", DType::I8},  {"u1", DType::U8},  {"b1", DType::Bool},
  };
  for (const Known& k : kKnown) {
    if (code != k.code) continue;
    const bool one_byte = dtype_size(k.dtype) == 1;
    if (!one_byte && order == '|') return unsupported(": '|' is only valid for one-byte types");
    const bool big = order == '>' || (order == '=' && std::endian::native == std::endian::big);
    const bool swap = !one_byte && (big != (std::endian::native == std::endian::big));
    return {k.dtype, swap};
  }
  return unsupported(" (kiln reads f8, f4, f2, i8, i4, i2, i1, u1 and b1)");
}

void byteswap_elements(std::byte* p, std::size_t count, std::size_t item) {
  for (std::size_t i = 0; i < count; ++i, p += item)
    for (std::size_t a = 0, b = item - 1; a < b; ++a, --b) std::swap(p[a], p[b]);
}

std::string descr_for(DType t) {
  const char* little = std::endian::native == std::endian::little ? "<" : ">";
  switch (t) {
    case DType::Bool: return "|b1";
    case DType::I8: return "|i1";
    case DType::U8: return "|u1";
    case DType::I16: return std::string(little) + "i2";
    case DType::I32: return std::string(little) + "i4";
    case DType::I64: return std::string(little) + "i8";
    case DType::F16: return std::string(little) + "f2";
    case DType::F32: return std::string(little) + "f4";
    case DType::F64: return std::string(little) + "f8";
    case DType::BF16: break;
  }
  return "";
}

}  // namespace

Array Array::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) load_error(path, "cannot open file (no such file)");
  if (fs::is_directory(status)) load_error(path, "cannot open file (it is a directory)");
  if (!fs::is_regular_file(status)) load_error(path, "cannot open file (not a regular file)");
  const std::uintmax_t file_size = fs::file_size(path, ec);
  if (ec) load_error(path, "cannot read the file size (" + ec.message() + ")");

  std::ifstream in(path, std::ios::binary);
  if (!in) load_error(path, std::string("cannot open file (") + std::strerror(errno) + ")");

  char prefix[12];
  if (file_size < kMagicLen + 2 || !in.read(prefix, kMagicLen + 2))
    load_error(path, "not a .npy file (only " + std::to_string(file_size) + " bytes)");
  if (std::memcmp(prefix, kMagic, kMagicLen) != 0) load_error(path, "not a .npy file (bad magic string)");
  const int major = static_cast<unsigned char>(prefix[6]), minor = static_cast<unsigned char>(prefix[7]);
  if (major < 1 || major > 3 || minor != 0)
    load_error(path, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor));
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  if (!in.read(prefix + 8, static_cast<std::streamsize>(len_bytes)))
    load_error(path, "truncated header (the file ends inside the header length)");
  std::uint64_t header_len = 0;
  for (std::size_t i = 0; i < len_bytes; ++i)
    header_len |= static_cast<std::uint64_t>(static_cast<unsigned char>(prefix[8 + i])) << (8 * i);
  const std::uint64_t data_start = kMagicLen + 2 + len_bytes + header_len;
  if (data_start > file_size)
    load_error(path, "truncated header (the header claims " + std::to_string(header_len) +
                         " bytes, the file has " + std::to_string(file_size - kMagicLen - 2 - len_bytes) +
                         " after the prefix)");
  if (header_len > kMaxHeaderLen) load_error(path, "header too large (" + std::to_string(header_len) + " bytes)");
  std::string text(static_cast<std::size_t>(header_len), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(header_len)))
    load_error(path, "truncated header (could not read " + std::to_string(header_len) + " bytes)");
  for (char c : text)
    if (c == '\0') load_error(path, "malformed header (contains a NUL byte)");

  const NpyHeader h = HeaderParser(text, path).parse();
  const Descr d = parse_descr(h.descr, path);
  const std::size_t item = dtype_size(d.dtype);
  std::int64_t count = 1;
  std::int64_t bytes = 0;
  for (std::int64_t dim : h.shape)
    if (__builtin_mul_overflow(count, dim, &count))
      load_error(path, "shape " + shape_str(h.shape) + " has too many elements");
  if (__builtin_mul_overflow(count, static_cast<std::int64_t>(item), &bytes))
    load_error(path, "shape " + shape_str(h.shape) + " is too large");
  const std::uint64_t available = file_size - data_start;
  if (available < static_cast<std::uint64_t>(bytes))
    load_error(path, "truncated data: shape " + shape_str(h.shape) + " of '" + h.descr + "' needs " +
                         std::to_string(bytes) + " bytes, the file has " + std::to_string(available));
  if (available > static_cast<std::uint64_t>(bytes))
    load_error(path, "size mismatch: shape " + shape_str(h.shape) + " of '" + h.descr + "' needs " +
                         std::to_string(bytes) + " bytes, the file has " + std::to_string(available) +
                         " bytes of data");

  Array raw = empty({count}, d.dtype);
  if (bytes > 0 && !in.read(reinterpret_cast<char*>(raw.buffer()->data), static_cast<std::streamsize>(bytes)))
    load_error(path, "truncated data (read failed after " + std::to_string(in.gcount()) + " bytes)");
  if (d.swap) byteswap_elements(raw.buffer()->data, static_cast<std::size_t>(count), item);
  if (d.dtype == DType::Bool)  // NumPy bools are 0 or 1; make sure of it
    for (std::int64_t i = 0; i < count; ++i) raw.buffer()->data[i] = std::byte{raw.buffer()->data[i] != std::byte{0}};

  if (!h.fortran_order || h.shape.size() < 2) return raw.reshape(h.shape);
  Shape fstrides(h.shape.size());
  std::int64_t stride = 1;
  for (std::size_t i = 0; i < h.shape.size(); ++i) {
    fstrides[i] = stride;
    stride *= std::max<std::int64_t>(h.shape[i], 1);
  }
  return view(raw.buffer(), h.shape, d.dtype, fstrides, 0).copy();
}

void Array::save(const std::string& path) const {
  auto fail = [&](const std::string& problem) { throw Error("Array::save: " + path + ": " + problem); };
  if (!buffer_) fail("null array");
  if (dtype_ == DType::BF16)
    fail("NumPy has no bfloat16 dtype, so .npy cannot hold one; convert first, e.g. a.astype(f32).save(...)");
  if (!device().is_cpu()) fail("the array is on " + device().str() + "; copy it to the cpu first");
  const Array c = contiguous();

  std::string shape = "(";
  for (std::size_t i = 0; i < shape_.size(); ++i) shape += (i ? ", " : "") + std::to_string(shape_[i]);
  if (shape_.size() == 1) shape += ",";
  shape += ")";
  std::string header = "{'descr': '" + descr_for(dtype_) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // As NumPy: room to grow the first axis in place, then pad with spaces and
  // a newline so that the data starts on a 64-byte boundary.
  if (!shape_.empty()) {
    const std::size_t digits = std::to_string(shape_[0]).size();
    if (digits < 21) header.append(21 - digits, ' ');
  }
  const std::size_t hlen = header.size() + 1;
  const bool v1 = kMagicLen + 2 + 2 + hlen + 64 <= 0xffff;
  const std::size_t len_bytes = v1 ? 2 : 4;
  const std::size_t pad = 64 - ((kMagicLen + 2 + len_bytes + hlen) % 64);
  header.append(pad, ' ');
  header += '\n';

  std::string prefix(kMagic, kMagicLen);
  prefix += static_cast<char>(v1 ? 1 : 2);
  prefix += '\0';
  for (std::size_t i = 0; i < len_bytes; ++i) prefix += static_cast<char>((header.size() >> (8 * i)) & 0xff);

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(std::string("cannot open the file for writing (") + std::strerror(errno) + ")");
  out.write(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  const std::size_t bytes = static_cast<std::size_t>(c.size()) * dtype_size(dtype_);
  if (bytes) out.write(static_cast<const char*>(c.raw_data()), static_cast<std::streamsize>(bytes));
  out.close();
  if (!out) fail("write failed");
}

}  // namespace kiln
