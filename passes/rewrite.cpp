#include "passes/rewrite.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include "ir/graph.hpp"
#include "ir/shape_util.hpp"

namespace kiln::passes {

using ir::Node;
using ir::OpCode;

// ---- patterns ----

struct Pattern {
  enum Kind { Op, Var, ConstVar, Number, ZerosLike, OnesLike } kind = Var;
  OpCode op{};
  std::string name;
  double value = 0;
  std::vector<Pattern> args;
};

namespace {

class PatternParser {
 public:
  PatternParser(const std::string& text, const std::string& rule) : s_(text), rule_(rule) {}

  Pattern parse() {
    Pattern p = term();
    skip();
    return p;
  }
  bool at_arrow() {
    skip();
    return s_.compare(i_, 2, "->") == 0;
  }
  void expect_arrow() {
    if (!at_arrow()) fail("expected '->'");
    i_ += 2;
  }
  void expect_end() {
    skip();
    if (i_ != s_.size()) fail("unexpected text");
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    KILN_UNREACHABLE("rule '" << rule_ << "': " << what << " at column " << i_ << " of \"" << s_ << "\"");
  }
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  std::string ident() {
    std::size_t b = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) ++i_;
    return s_.substr(b, i_ - b);
  }
  Pattern term() {
    skip();
    Pattern p;
    if (i_ >= s_.size()) fail("unexpected end");
    char c = s_[i_];
    if (c == '#') {
      ++i_;
      p.kind = Pattern::ConstVar;
      p.name = "#" + ident();
      return p;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.') {
      std::size_t used = 0;
      p.kind = Pattern::Number;
      p.value = std::stod(s_.substr(i_), &used);
      i_ += used;
      return p;
    }
    std::string id = ident();
    if (id.empty()) fail("expected a term");
    skip();
    if (i_ < s_.size() && s_[i_] == '(') {
      ++i_;
      if (id == "zeros_like" || id == "ones_like") {
        p.kind = id == "zeros_like" ? Pattern::ZerosLike : Pattern::OnesLike;
      } else {
        auto op = ir::op_from_name(id);
        if (!op) fail("unknown op '" + id + "'");
        p.kind = Pattern::Op;
        p.op = *op;
      }
      skip();
      if (i_ < s_.size() && s_[i_] == ')') {
        ++i_;
        return p;
      }
      while (true) {
        p.args.push_back(term());
        skip();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == ')') {
          ++i_;
          break;
        }
        fail("expected ',' or ')'");
      }
      return p;
    }
    p.kind = Pattern::Var;
    p.name = id;
    return p;
  }

  std::string s_;
  std::string rule_;
  std::size_t i_ = 0;
};

bool commutative(OpCode op) {
  switch (op) {
    case OpCode::Add: case OpCode::Mul: case OpCode::Maximum: case OpCode::Minimum: case OpCode::Eq:
    case OpCode::Ne: case OpCode::LogicalAnd: case OpCode::LogicalOr: case OpCode::LogicalXor:
    case OpCode::BitwiseAnd: case OpCode::BitwiseOr: case OpCode::BitwiseXor:
      return true;
    default:
      return false;
  }
}

bool is_constant_like(const Node& n) {
  return n.op() == OpCode::Constant || n.op() == OpCode::Fill;
}

bool match(const Pattern& p, const NodeRef& n, Bindings& b) {
  switch (p.kind) {
    case Pattern::Var: {
      auto it = b.find(p.name);
      if (it != b.end()) return it->second == n;
      b[p.name] = n;
      return true;
    }
    case Pattern::ConstVar: {
      if (!is_constant_like(*n)) return false;
      auto it = b.find(p.name);
      if (it != b.end()) return it->second == n;
      b[p.name] = n;
      return true;
    }
    case Pattern::Number:
      return is_constant_value(*n, p.value);
    case Pattern::ZerosLike: case Pattern::OnesLike:
      return false;  // replacement-only
    case Pattern::Op: {
      if (n->op() != p.op || n->inputs().size() != p.args.size()) return false;
      Bindings saved = b;
      bool ok = true;
      for (std::size_t i = 0; ok && i < p.args.size(); ++i) ok = match(p.args[i], n->input(i), b);
      if (ok) return true;
      b = saved;
      if (commutative(p.op) && p.args.size() == 2) {
        if (match(p.args[0], n->input(1), b) && match(p.args[1], n->input(0), b)) return true;
        b = saved;
      }
      return false;
    }
  }
  return false;
}

NodeRef scalar_const(double v, DType t, const SourceLoc& loc) {
  return ir::make_node(OpCode::Constant, {}, ir::Attrs{{"value", Array::scalar(v, t)}}, loc);
}

NodeRef build(const Pattern& p, const Bindings& b, DType number_dtype, const SourceLoc& loc) {
  switch (p.kind) {
    case Pattern::Var: case Pattern::ConstVar: {
      auto it = b.find(p.name);
      KILN_CHECK(it != b.end(), "replacement uses unbound variable " << p.name);
      return it->second;
    }
    case Pattern::Number:
      return scalar_const(p.value, number_dtype, loc);
    case Pattern::ZerosLike: case Pattern::OnesLike: {
      NodeRef x = build(p.args.at(0), b, number_dtype, loc);
      return ir::make_node(OpCode::FillLike, {x},
                           ir::Attrs{{"value", p.kind == Pattern::ZerosLike ? 0.0 : 1.0}, {"dtype", number_dtype}}, loc);
    }
    case Pattern::Op: {
      // Numbers take the dtype of a non-number sibling (mul(x, 2): x's dtype).
      std::vector<NodeRef> args(p.args.size());
      DType t = number_dtype;
      for (std::size_t i = 0; i < p.args.size(); ++i)
        if (p.args[i].kind != Pattern::Number) {
          args[i] = build(p.args[i], b, number_dtype, loc);
          if (p.op != OpCode::Where || i > 0) t = args[i]->dtype();
        }
      for (std::size_t i = 0; i < p.args.size(); ++i)
        if (!args[i]) args[i] = build(p.args[i], b, t, loc);
      return ir::make_node(p.op, std::move(args), {}, loc);
    }
  }
  KILN_UNREACHABLE("bad pattern");
}

// Makes a replacement fit the type of the node it replaces, or nullptr.
NodeRef fit(NodeRef r, const Node& n) {
  if (r->type() == n.type()) return r;
  if (r->dtype() != n.dtype()) {
    r = ir::make_node(OpCode::Cast, {r}, ir::Attrs{{"dtype", n.dtype()}}, n.loc());
    if (r->type() == n.type()) return r;
  }
  const auto& want = n.type().dims;
  const auto& have = r->type().dims;
  if (have.size() == want.size()) {
    // The same or more specific dims are fine, but not a static 1 for an
    // unknown dim: the node may have stretched it (x + zeros_like(y) → x).
    bool ok = true;
    for (std::size_t i = 0; ok && i < want.size(); ++i)
      ok = want[i].known() ? have[i].known() && have[i].size == want[i].size : !(have[i].known() && have[i].size == 1);
    if (ok) return r;
  }
  if (n.type().all_known() && have.size() <= want.size()) {
    std::vector<ir::Dim> out;
    if (ir::broadcast_dims(have, want, &out, nullptr) && out == want)
      return ir::make_node(OpCode::BroadcastTo, {r}, ir::Attrs{{"shape", n.type().sizes()}}, n.loc());
  }
  return nullptr;
}

}  // namespace

Rule pattern_rule(std::string name, const std::string& text,
                  std::function<bool(const ir::Node&, const Bindings&)> guard) {
  Rule r;
  r.name = std::move(name);
  r.text = text;
  PatternParser p(text, r.name);
  auto lhs = std::make_shared<Pattern>(p.parse());
  p.expect_arrow();
  auto rhs = std::make_shared<Pattern>(p.parse());
  p.expect_end();
  KILN_CHECK(lhs->kind == Pattern::Op, "rule '" << r.name << "': the left side must be an op");
  r.lhs = lhs;
  r.rhs = rhs;
  r.guard = std::move(guard);
  return r;
}

Rule function_rule(std::string name, std::string description, std::function<NodeRef(const NodeRef&)> apply) {
  Rule r;
  r.name = std::move(name);
  r.text = std::move(description);
  r.apply = std::move(apply);
  return r;
}

std::optional<double> uniform_value(const Node& n) {
  if (n.op() == OpCode::Fill || n.op() == OpCode::FillLike) return n.attrs().get_double("value");
  if (n.op() == OpCode::BroadcastTo || n.op() == OpCode::BroadcastLike) return uniform_value(*n.input(0));
  if (n.op() != OpCode::Constant) return std::nullopt;
  const Array& a = n.attrs().get_array("value");
  if (a.size() == 0) return std::nullopt;
  std::vector<double> v = a.to_doubles();
  for (double x : v)
    if (!(x == v[0]) || std::signbit(x) != std::signbit(v[0])) return std::nullopt;
  return v[0];
}

bool is_constant_value(const Node& n, double v) {
  auto u = uniform_value(n);
  return u && *u == v && std::signbit(*u) == std::signbit(v);
}

NodeRef try_rule(const Rule& rule, const NodeRef& node) {
  NodeRef r;
  try {
    if (rule.apply) {
      r = rule.apply(node);
    } else {
      Bindings b;
      if (!match(*rule.lhs, node, b)) return nullptr;
      if (rule.guard && !rule.guard(*node, b)) return nullptr;
      r = build(*rule.rhs, b, node->dtype(), node->loc());
    }
  } catch (const Error&) {
    return nullptr;  // the replacement does not type-check here: the rule does not apply
  }
  if (!r || r == node) return nullptr;
  r = fit(r, *node);
  return r == node ? nullptr : r;  // fitting may rebuild the node itself (broadcast_to(x) → x → broadcast_to(x))
}

std::vector<NodeRef> rewrite(const std::vector<NodeRef>& outputs, const RuleSet& rules, RuleCounts* counts,
                             const RewriteOptions& options) {
  // Index the rules by the op at the root of their pattern.
  std::unordered_map<int, std::vector<const Rule*>> by_op;
  std::vector<const Rule*> any_op;
  for (const Rule& r : rules.rules) {
    if (r.lhs) by_op[static_cast<int>(r.lhs->op)].push_back(&r);
    else any_op.push_back(&r);
  }
  std::vector<NodeRef> current = outputs;
  // Every graph seen so far, kept alive: a node's address identifies its
  // structure only while the node lives (hash-consing), so remembering bare
  // pointers would mistake a new node at a freed node's address for a cycle.
  std::vector<std::vector<NodeRef>> seen;
  std::map<std::string, int> last_fired;
  for (int iter = 0; iter < options.max_iterations; ++iter) {
    if (std::find(seen.begin(), seen.end(), current) != seen.end()) break;  // back to an earlier graph: a cycle
    seen.push_back(current);
    last_fired.clear();
    std::unordered_map<const Node*, NodeRef> done;
    std::unordered_map<const Node*, NodeRef> owner;
    for (const NodeRef& o : current) owner.emplace(o.get(), o);
    bool changed = false;
    std::vector<const Node*> order = ir::topo_order(current);
    for (const Node* n : order)
      for (const NodeRef& in : n->inputs()) owner.emplace(in.get(), in);
    for (const Node* n : order) {
      NodeRef cur = owner.at(n);
      if (!n->inputs().empty()) {
        std::vector<NodeRef> ins;
        bool any = false;
        for (const NodeRef& in : n->inputs()) {
          ins.push_back(done.at(in.get()));
          any |= ins.back() != in;
        }
        if (any) cur = ir::with_inputs(*n, std::move(ins));
      }
      for (int fired = 0; fired < 64; ++fired) {
        NodeRef next;
        const Rule* which = nullptr;
        auto it = by_op.find(static_cast<int>(cur->op()));
        if (it != by_op.end())
          for (const Rule* r : it->second)
            if ((next = try_rule(*r, cur))) {
              which = r;
              break;
            }
        if (!next)
          for (const Rule* r : any_op)
            if ((next = try_rule(*r, cur))) {
              which = r;
              break;
            }
        if (!next) break;
        if (counts) (*counts)[which->name]++;
        last_fired[which->name]++;
        cur = next;
      }
      if (cur.get() != n) changed = true;
      done[n] = cur;
    }
    std::vector<NodeRef> next;
    for (const NodeRef& o : current) next.push_back(done.at(o.get()));
    current = std::move(next);
    if (!changed) return current;
  }
  std::string names;
  for (auto& [name, c] : last_fired) names += (names.empty() ? "" : ", ") + name + " (" + std::to_string(c) + ")";
  KILN_UNREACHABLE("rule set '" << rules.name << "' did not converge; still firing: " << names);
}

}  // namespace kiln::passes
