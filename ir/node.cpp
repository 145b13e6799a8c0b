#include "ir/node.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace kiln::ir {

// ---- op table ----

namespace {
constexpr OpInfo kOps[] = {
#define X(name, text, arity, cat) {OpCode::name, text, arity, OpCategory::cat},
#include "ir/ops.def"
#undef X
};
}  // namespace

const OpInfo& op_info(OpCode op) { return kOps[static_cast<std::size_t>(op)]; }
std::span<const OpInfo> all_ops() { return std::span<const OpInfo>(kOps); }

std::optional<OpCode> op_from_name(std::string_view name) {
  for (const OpInfo& i : kOps)
    if (i.name == name) return i.code;
  return std::nullopt;
}

bool is_elementwise(OpCode op) {
  switch (op_info(op).category) {
    case OpCategory::UnaryNumeric: case OpCategory::UnaryFloat: case OpCategory::UnaryBool:
    case OpCategory::UnaryIntegral: case OpCategory::UnaryPredicate: case OpCategory::UnaryAny:
    case OpCategory::Cast: case OpCategory::BinaryNumeric: case OpCategory::BinaryFloat:
    case OpCategory::Compare: case OpCategory::BinaryBool: case OpCategory::BinaryIntegral:
    case OpCategory::BinaryShift: case OpCategory::Where: case OpCategory::Clip:
      return true;
    default:
      return false;
  }
}

// ---- attributes ----

namespace {
inline std::size_t mix(std::size_t h, std::size_t v) {
  return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}
std::size_t hash_bytes(const void* p, std::size_t n) {
  // FNV-1a: content hashing of constants.
  std::uint64_t h = 1469598103934665603ULL;
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ULL;
  return static_cast<std::size_t>(h);
}
std::size_t hash_array(const Array& a) {
  Array c = a.contiguous();
  std::size_t h = mix(static_cast<std::size_t>(a.dtype()), a.shape().size());
  for (auto d : a.shape()) h = mix(h, static_cast<std::size_t>(d));
  return mix(h, hash_bytes(c.raw_data(), static_cast<std::size_t>(c.size()) * dtype_size(c.dtype())));
}
std::size_t hash_attr(const AttrValue& v) {
  std::size_t h = v.index();
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::vector<std::int64_t>>) {
          for (auto e : x) h = mix(h, std::hash<std::int64_t>()(e));
        } else if constexpr (std::is_same_v<T, Array>) {
          h = mix(h, hash_array(x));
        } else if constexpr (std::is_same_v<T, double>) {
          std::uint64_t bits;
          std::memcpy(&bits, &x, 8);
          h = mix(h, std::hash<std::uint64_t>()(bits));
        } else if constexpr (std::is_same_v<T, DType>) {
          h = mix(h, static_cast<std::size_t>(x));
        } else {
          h = mix(h, std::hash<T>()(x));
        }
      },
      v);
  return h;
}
}  // namespace

bool attr_equal(const AttrValue& a, const AttrValue& b) {
  if (a.index() != b.index()) return false;
  if (const auto* x = std::get_if<Array>(&a)) {
    const Array& y = std::get<Array>(b);
    if (x->dtype() != y.dtype() || x->shape() != y.shape()) return false;
    Array cx = x->contiguous(), cy = y.contiguous();
    return std::memcmp(cx.raw_data(), cy.raw_data(), static_cast<std::size_t>(cx.size()) * dtype_size(cx.dtype())) == 0;
  }
  if (const auto* x = std::get_if<double>(&a)) {  // bitwise: -0.0 != 0.0, NaN == NaN
    double y = std::get<double>(b);
    return std::memcmp(x, &y, sizeof(double)) == 0;
  }
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Array>) {
          return false;  // handled above
        } else {
          return x == std::get<T>(b);
        }
      },
      a);
}

Attrs::Attrs(std::initializer_list<std::pair<std::string, AttrValue>> items) {
  for (auto& [k, v] : items) set(k, v);
}

Attrs& Attrs::set(const std::string& name, AttrValue v) {
  auto it = std::lower_bound(items_.begin(), items_.end(), name,
                             [](const auto& p, const std::string& n) { return p.first < n; });
  if (it != items_.end() && it->first == name)
    it->second = std::move(v);
  else
    items_.insert(it, {name, std::move(v)});
  return *this;
}

const AttrValue* Attrs::find(std::string_view name) const {
  for (auto& [k, v] : items_)
    if (k == name) return &v;
  return nullptr;
}
bool Attrs::has(std::string_view name) const { return find(name) != nullptr; }

namespace {
template <class T>
const T& get_attr(const Attrs& a, std::string_view name) {
  const AttrValue* v = a.find(name);
  KILN_CHECK(v != nullptr, "missing attribute '" << name << "'");
  const T* p = std::get_if<T>(v);
  KILN_CHECK(p != nullptr, "attribute '" << name << "' has the wrong kind");
  return *p;
}
}  // namespace

std::int64_t Attrs::get_int(std::string_view n) const { return get_attr<std::int64_t>(*this, n); }
double Attrs::get_double(std::string_view n) const { return get_attr<double>(*this, n); }
bool Attrs::get_bool(std::string_view n) const { return get_attr<bool>(*this, n); }
const std::string& Attrs::get_string(std::string_view n) const { return get_attr<std::string>(*this, n); }
const std::vector<std::int64_t>& Attrs::get_ints(std::string_view n) const {
  return get_attr<std::vector<std::int64_t>>(*this, n);
}
DType Attrs::get_dtype(std::string_view n) const { return get_attr<DType>(*this, n); }
const Array& Attrs::get_array(std::string_view n) const { return get_attr<Array>(*this, n); }

std::size_t Attrs::hash() const {
  std::size_t h = items_.size();
  for (auto& [k, v] : items_) h = mix(mix(h, std::hash<std::string>()(k)), hash_attr(v));
  return h;
}

bool operator==(const Attrs& a, const Attrs& b) {
  if (a.items_.size() != b.items_.size()) return false;
  for (std::size_t i = 0; i < a.items_.size(); ++i)
    if (a.items_[i].first != b.items_[i].first || !attr_equal(a.items_[i].second, b.items_[i].second))
      return false;
  return true;
}

// ---- errors ----

void user_error(const SourceLoc& loc, std::string_view op, const std::string& what) {
  std::string m;
  if (loc.known()) m = loc.str() + ": ";
  m += "error: ";
  if (!op.empty()) m += std::string(op) + ": ";
  m += what;
  throw Error(m);
}

// ---- variable ids ----

namespace {
std::atomic<std::int64_t> g_next_var_id{1};
}
std::int64_t fresh_var_id() { return g_next_var_id.fetch_add(1); }
void reserve_var_id(std::int64_t id) {
  std::int64_t cur = g_next_var_id.load();
  while (cur <= id && !g_next_var_id.compare_exchange_weak(cur, id + 1)) {
  }
}

// ---- the hash-consing factory ----

namespace {
std::atomic<void (*)(std::int64_t)> g_shared_release_hook{nullptr};
}  // namespace

namespace {
struct InternTable {
  std::mutex mu;
  std::unordered_multimap<std::size_t, std::weak_ptr<const Node>> nodes;
  std::uint64_t next_serial = 1;
};
InternTable& table() {
  static InternTable* t = new InternTable;  // never destroyed: nodes may outlive static destructors
  return *t;
}

bool same_node(const Node& n, OpCode op, const std::vector<NodeRef>& inputs, const Attrs& attrs,
               const TensorType& type) {
  if (n.op() != op || n.inputs().size() != inputs.size() || !(n.type() == type)) return false;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (n.inputs()[i] != inputs[i]) return false;
  return n.attrs() == attrs;
}
}  // namespace

// Destroying a node releases its inputs, which may destroy them in turn: done
// with an explicit work list instead of recursion, so a chain of a million
// nodes does not overflow the stack.
void destroy_node(Node* n) {
  thread_local std::vector<NodeRef>* pending = nullptr;
  std::vector<NodeRef> inputs = std::move(n->inputs_);
  delete n;
  if (pending) {  // already inside the loop below, further up this thread's stack
    for (auto& in : inputs) pending->push_back(std::move(in));
    return;
  }
  std::vector<NodeRef> work = std::move(inputs);
  pending = &work;
  while (!work.empty()) {
    NodeRef last = std::move(work.back());
    work.pop_back();
    last.reset();  // may run destroy_node, which appends to `work`
  }
  pending = nullptr;
}

NodeRef make_node(OpCode op, std::vector<NodeRef> inputs, Attrs attrs, const SourceLoc& loc,
                  const TensorType* leaf_type) {
  const OpInfo& info = op_info(op);
  if (info.arity >= 0 && static_cast<int>(inputs.size()) != info.arity)
    user_error(loc, info.name,
               "expects " + std::to_string(info.arity) + " inputs, got " + std::to_string(inputs.size()));
  if (info.arity < 0 && inputs.empty()) user_error(loc, info.name, "expects at least one input");
  for (auto& in : inputs) KILN_CHECK(in != nullptr, "null input to " << info.name);

  TensorType type;
  if (op == OpCode::Input || op == OpCode::Shared) {
    KILN_CHECK(leaf_type != nullptr, "leaf node needs a type");
    type = *leaf_type;
  } else {
    std::vector<TensorType> in_types;
    in_types.reserve(inputs.size());
    for (auto& in : inputs) in_types.push_back(in->type());
    try {
      type = infer_type(op, in_types, attrs);
    } catch (const Error& e) {
      std::string m;
      if (loc.known()) m = loc.str() + ": ";
      throw Error(m + e.what());
    }
  }

  std::size_t h = mix(static_cast<std::size_t>(op), attrs.hash());
  for (auto& in : inputs) h = mix(h, std::hash<const Node*>()(in.get()));
  h = mix(h, static_cast<std::size_t>(type.dtype));
  for (auto& d : type.dims) h = mix(h, static_cast<std::size_t>(d.size));

  InternTable& t = table();
  // Nodes locked while probing are released only after the mutex (declared
  // first, destroyed last): dropping the last handle runs the deleter, which
  // takes the mutex itself.
  std::vector<NodeRef> probed;
  std::lock_guard<std::mutex> lock(t.mu);
  auto [lo, hi] = t.nodes.equal_range(h);
  for (auto it = lo; it != hi;) {
    if (NodeRef existing = it->second.lock()) {
      if (same_node(*existing, op, inputs, attrs, type)) return existing;
      probed.push_back(std::move(existing));
      ++it;
    } else {
      it = t.nodes.erase(it);  // expired entry
    }
  }
  auto* raw = new Node();
  raw->op_ = op;
  raw->type_ = std::move(type);
  raw->inputs_ = std::move(inputs);
  raw->attrs_ = std::move(attrs);
  raw->loc_ = loc;
  raw->hash_ = h;
  raw->serial_ = t.next_serial++;
  NodeRef ref(raw, [](const Node* n) {
    {
      InternTable& tt = table();
      std::lock_guard<std::mutex> l(tt.mu);
      auto [a, b] = tt.nodes.equal_range(n->hash());
      for (auto it = a; it != b;) {
        if (it->second.expired())
          it = tt.nodes.erase(it);
        else
          ++it;
      }
    }
    if (n->op() == OpCode::Shared) {
      if (auto hook = g_shared_release_hook.load()) hook(n->attrs().get_int("id"));
    }
    destroy_node(const_cast<Node*>(n));
  });
  t.nodes.emplace(h, ref);
  return ref;
}

void set_shared_release_hook(void (*hook)(std::int64_t)) { g_shared_release_hook = hook; }

std::size_t live_node_count() {
  InternTable& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  std::size_t n = 0;
  for (auto& [h, w] : t.nodes) n += !w.expired();
  return n;
}

}  // namespace kiln::ir
