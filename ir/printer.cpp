#include "ir/printer.hpp"

#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace kiln::ir {

namespace {

// ---- scalars ----

std::string hex_bits(std::uint64_t bits, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%0*" PRIx64, digits, bits);
  return buf;
}

// A NaN other than the canonical quiet one keeps its bits: nan(0x7ff4...).
std::string nan_str(std::uint64_t bits, std::uint64_t canonical, int digits) {
  return bits == canonical ? "nan" : "nan(" + hex_bits(bits, digits) + ")";
}

template <class F>
std::string shortest(F v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string f64_str(double v) {
  if (std::isnan(v)) {
    std::uint64_t bits, canon;
    double q = std::numeric_limits<double>::quiet_NaN();
    std::memcpy(&bits, &v, 8);
    std::memcpy(&canon, &q, 8);
    return nan_str(bits, canon, 16);
  }
  return shortest(v);
}

std::string f32_str(float v) {
  if (std::isnan(v)) {
    std::uint32_t bits, canon;
    float q = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(&bits, &v, 4);
    std::memcpy(&canon, &q, 4);
    return nan_str(bits, canon, 8);
  }
  return shortest(v);  // the shortest digits that read back (strtof) to v
}

// f16 / bf16: the fewest significant digits whose float value converts back
// to the same 16 bits — the exact path the parser takes.
template <class H>
std::string half_str(std::uint16_t bits) {
  float f = static_cast<float>(H::from_bits(bits));
  if (std::isnan(f)) return nan_str(bits, H(std::numeric_limits<float>::quiet_NaN()).bits, 4);
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[64];
  for (int p = 1; p <= 9; ++p) {
    auto r = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::general, p);
    float back = 0;
    std::from_chars(buf, r.ptr, back);
    if (H(back).bits == bits) return std::string(buf, r.ptr);
  }
  return shortest(f);  // unreachable: 9 digits always round-trip a float
}

void element_str(std::string& out, DType t, const std::byte* p) {
  switch (t) {
    case DType::Bool: {
      bool b;
      std::memcpy(&b, p, 1);
      out += b ? "true" : "false";
      return;
    }
    case DType::I8: { std::int8_t v; std::memcpy(&v, p, 1); out += std::to_string(v); return; }
    case DType::I16: { std::int16_t v; std::memcpy(&v, p, 2); out += std::to_string(v); return; }
    case DType::I32: { std::int32_t v; std::memcpy(&v, p, 4); out += std::to_string(v); return; }
    case DType::I64: { std::int64_t v; std::memcpy(&v, p, 8); out += std::to_string(v); return; }
    case DType::U8: { std::uint8_t v; std::memcpy(&v, p, 1); out += std::to_string(v); return; }
    case DType::F16: { std::uint16_t b; std::memcpy(&b, p, 2); out += half_str<half>(b); return; }
    case DType::BF16: { std::uint16_t b; std::memcpy(&b, p, 2); out += half_str<bfloat16>(b); return; }
    case DType::F32: { float v; std::memcpy(&v, p, 4); out += f32_str(v); return; }
    case DType::F64: { double v; std::memcpy(&v, p, 8); out += f64_str(v); return; }
  }
  KILN_UNREACHABLE("unknown dtype");
}

void literal_level(std::string& out, const Array& a, const std::byte* base, std::size_t esize,
                   std::size_t axis, std::int64_t* offset) {
  if (axis == a.shape().size()) {
    element_str(out, a.dtype(), base + static_cast<std::size_t>(*offset) * esize);
    ++*offset;
    return;
  }
  out += '[';
  for (std::int64_t i = 0; i < a.shape()[axis]; ++i) {
    if (i) out += ", ";
    literal_level(out, a, base, esize, axis + 1, offset);
  }
  out += ']';
}

std::string quote(std::string_view s) {
  std::string r = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': r += "\\\""; break;
      case '\\': r += "\\\\"; break;
      case '\n': r += "\\n"; break;
      case '\t': r += "\\t"; break;
      case '\r': r += "\\r"; break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", u);
          r += buf;
        } else {
          r += c;  // printable ASCII and UTF-8 bytes as they are
        }
    }
  }
  return r + "\"";
}

std::string slice_bound(std::int64_t v) { return v == kNone ? "" : std::to_string(v); }

std::string slices_str(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i + 2 < v.size(); i += 3) {
    if (i) s += ", ";
    s += slice_bound(v[i]) + ":" + slice_bound(v[i + 1]);
    if (v[i + 2] != 1) s += ":" + std::to_string(v[i + 2]);
  }
  return s + "]";
}

// ---- nodes ----

struct NodePrinter {
  const TextOptions& opts;
  std::unordered_map<const Node*, std::size_t> ids;
  std::string out;

  std::string ref(const Node* n) const { return "%" + std::to_string(ids.at(n)); }

  void node(const Node* n) {
    std::size_t id = ids.size();
    ids.emplace(n, id);
    out += "%" + std::to_string(id) + " = ";
    out += n->name();
    std::string_view positional;  // the attribute printed right after the op name
    if (n->op() == OpCode::Input || n->op() == OpCode::Shared) {
      const AttrValue* name = n->attrs().find("name");
      if (name && std::holds_alternative<std::string>(*name)) {
        out += " " + quote(std::get<std::string>(*name));
        positional = "name";
      }
    } else if (n->op() == OpCode::Constant) {
      const AttrValue* value = n->attrs().find("value");
      if (value && std::holds_alternative<Array>(*value)) {
        out += " " + array_literal_str(std::get<Array>(*value));
        positional = "value";
      }
    } else if (!n->is_leaf()) {
      out += "(";
      for (std::size_t i = 0; i < n->inputs().size(); ++i) out += (i ? ", " : "") + ref(n->input(i).get());
      out += ")";
    }
    for (const auto& [k, v] : n->attrs().items()) {
      if (k == positional) continue;
      out += " " + k + "=" + attr_value_str(v, k == "slices");
    }
    out += " : " + n->type().str();
    if (opts.with_locations && n->loc().known())
      out += " loc=" + quote(n->loc().file ? n->loc().file : "") + ":" + std::to_string(n->loc().line);
    out += "\n";
  }
};

bool is_variable(const Node* n) { return n->op() == OpCode::Input || n->op() == OpCode::Shared; }

}  // namespace

std::string attr_value_str(const AttrValue& v, bool slices) {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return std::to_string(x);
        } else if constexpr (std::is_same_v<T, double>) {
          std::string s = f64_str(x);
          // Keep doubles distinguishable from ints: 2.0, not 2.
          if (s.find_first_of(".en") == std::string::npos) s += ".0";
          return s;
        } else if constexpr (std::is_same_v<T, std::string>) {
          return quote(x);
        } else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>) {
          if (slices && x.size() % 3 == 0) return slices_str(x);
          std::string s = "[";
          for (std::size_t i = 0; i < x.size(); ++i) s += (i ? ", " : "") + std::to_string(x[i]);
          return s + "]";
        } else if constexpr (std::is_same_v<T, DType>) {
          return std::string(dtype_name(x));
        } else {
          static_assert(std::is_same_v<T, Array>);
          std::vector<Dim> dims(x.shape().begin(), x.shape().end());
          return "array(" + TensorType(x.dtype(), dims).str() + ", " + array_literal_str(x) + ")";
        }
      },
      v);
}

std::string array_literal_str(const Array& a) {
  KILN_CHECK(!a.is_null(), "printing a null array");
  Array host = a.device().is_cpu() ? a.contiguous() : a.to(Device::cpu()).contiguous();
  std::string out;
  std::int64_t offset = 0;
  literal_level(out, host, static_cast<const std::byte*>(host.raw_data()), dtype_size(host.dtype()), 0, &offset);
  return out;
}

std::string print_graph(const Graph& g, const TextOptions& opts) {
  NodePrinter p{opts, {}, "kiln.graph v1\n"};
  // Variables first (the graph's inputs in order, then any other free
  // variable), so the numbering of the rest does not depend on where a
  // variable is first used.
  for (const NodeRef& in : g.inputs) {
    KILN_CHECK(in != nullptr, "null graph input");
    if (!p.ids.count(in.get())) p.node(in.get());
  }
  for (const NodeRef& o : g.outputs) KILN_CHECK(o != nullptr, "null graph output");
  std::vector<const Node*> order = topo_order(g.outputs);
  for (const Node* n : order)
    if (is_variable(n) && !p.ids.count(n)) p.node(n);
  for (const Node* n : order)
    if (!p.ids.count(n)) p.node(n);
  for (std::size_t i = 0; i < g.outputs.size(); ++i) {
    const std::string name = i < g.output_names.size() ? g.output_names[i] : "";
    p.out += "output ";
    if (!name.empty()) p.out += quote(name) + " = ";
    p.out += p.ref(g.outputs[i].get()) + "\n";
  }
  return std::move(p.out);
}

std::string print_nodes(const std::vector<NodeRef>& outputs, const TextOptions& opts) {
  Graph g;
  g.inputs = free_variables(outputs);
  g.outputs = outputs;
  g.output_names.assign(outputs.size(), "");
  return print_graph(g, opts);
}

}  // namespace kiln::ir
