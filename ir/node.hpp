// Graph nodes: small, immutable, hash-consed.
//
// A node is {op, type, inputs, attrs, source location}. Nodes are created
// only through make_node(), which infers the type and returns the existing
// node when an equal one (same op, inputs, attrs, and for leaves the same
// type) is alive — so common subexpressions merge for free and pointer
// equality is structural equality. The source location is not part of a
// node's identity: the first creator's location is kept.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "ir/type.hpp"
#include "kiln/array.hpp"
#include "kiln/error.hpp"

namespace kiln::ir {

enum class OpCode : std::uint16_t {
#define X(name, text, arity, cat) name,
#include "ir/ops.def"
#undef X
};

enum class OpCategory : std::uint8_t {
  Leaf,
  UnaryNumeric,
  UnaryFloat,
  UnaryBool,
  UnaryIntegral,
  UnaryPredicate,
  UnaryAny,
  Cast,
  BinaryNumeric,
  BinaryFloat,
  Compare,
  BinaryBool,
  BinaryIntegral,
  BinaryShift,
  Where,
  Clip,
  Reduce,
  Matmul,
  Shape,
};

struct OpInfo {
  OpCode code;
  std::string_view name;
  int arity;  // -1: variadic (one or more)
  OpCategory category;
};

const OpInfo& op_info(OpCode op);
inline std::string_view op_name(OpCode op) { return op_info(op).name; }
std::span<const OpInfo> all_ops();
std::optional<OpCode> op_from_name(std::string_view name);
bool is_elementwise(OpCode op);  // unary/binary/ternary elementwise categories

// ---- attributes ----
// Attribute values; slices are stored as flat (start, stop, step) triples
// with kNone for an omitted bound.
inline constexpr std::int64_t kNone = INT64_MIN;
using AttrValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>, DType, Array>;

// A small map from attribute name to value, kept sorted by name.
class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<std::string, AttrValue>> items);
  Attrs& set(const std::string& name, AttrValue v);
  bool has(std::string_view name) const;
  const AttrValue* find(std::string_view name) const;
  // Typed access; a missing or mistyped attribute is an InternalError.
  std::int64_t get_int(std::string_view name) const;
  double get_double(std::string_view name) const;
  bool get_bool(std::string_view name) const;
  const std::string& get_string(std::string_view name) const;
  const std::vector<std::int64_t>& get_ints(std::string_view name) const;
  DType get_dtype(std::string_view name) const;
  const Array& get_array(std::string_view name) const;
  const std::vector<std::pair<std::string, AttrValue>>& items() const { return items_; }
  std::size_t hash() const;
  friend bool operator==(const Attrs& a, const Attrs& b);

 private:
  std::vector<std::pair<std::string, AttrValue>> items_;
};

bool attr_equal(const AttrValue& a, const AttrValue& b);

class Node;
using NodeRef = std::shared_ptr<const Node>;

class Node {
 public:
  OpCode op() const { return op_; }
  const OpInfo& info() const { return op_info(op_); }
  std::string_view name() const { return op_name(op_); }
  const TensorType& type() const { return type_; }
  DType dtype() const { return type_.dtype; }
  std::int64_t rank() const { return type_.rank(); }
  const std::vector<NodeRef>& inputs() const { return inputs_; }
  const NodeRef& input(std::size_t i) const { return inputs_[i]; }
  const Attrs& attrs() const { return attrs_; }
  const SourceLoc& loc() const { return loc_; }
  std::size_t hash() const { return hash_; }
  // Creation order, unique per process: a stable tie-breaker for sorting.
  std::uint64_t serial() const { return serial_; }
  bool is_leaf() const { return inputs_.empty(); }
  // For Input and Shared nodes.
  const std::string& var_name() const { return attrs_.get_string("name"); }

  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

 private:
  friend NodeRef make_node(OpCode, std::vector<NodeRef>, Attrs, const SourceLoc&, const TensorType*);
  friend void destroy_node(Node* n);
  Node() = default;
  OpCode op_{};
  TensorType type_;
  std::vector<NodeRef> inputs_;
  Attrs attrs_;
  SourceLoc loc_;
  std::size_t hash_ = 0;
  std::uint64_t serial_ = 0;
};

// The one factory. Infers the type from the inputs and attrs (a kiln::Error
// naming the op, the types and `loc` when they do not fit). Leaves (Input,
// Shared) take their type from `leaf_type`.
NodeRef make_node(OpCode op, std::vector<NodeRef> inputs, Attrs attrs, const SourceLoc& loc,
                  const TensorType* leaf_type = nullptr);

// Frees a node whose last reference is gone (used by make_node's deleter).
void destroy_node(Node* n);

// A fresh id for an Input or Shared node; ids seen while parsing text are
// reserved so fresh ones never collide with them.
std::int64_t fresh_var_id();
void reserve_var_id(std::int64_t id);

// Type inference for one op (the op table's type rules). Throws kiln::Error
// with a message naming the op and the input types (no location).
TensorType infer_type(OpCode op, std::span<const TensorType> inputs, const Attrs& attrs);

// "file.cpp:12: error: add: ..." — the shape of every user error message.
[[noreturn]] void user_error(const SourceLoc& loc, std::string_view op, const std::string& what);

// Called with the id of every Shared node when it is destroyed, so the
// front end can drop the variable's value. One hook per process.
void set_shared_release_hook(void (*hook)(std::int64_t id));

// Number of live nodes in the hash-consing table (for tests).
std::size_t live_node_count();

}  // namespace kiln::ir
