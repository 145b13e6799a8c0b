// Canonical sums and products.
//
// A sum (a tree of add, sub and neg) becomes
//     sub(add(add(p1, p2), c), add(n1, n2))        neg(add(n1, n2)) without positive terms
// with each side's terms sorted by term_less, like terms collected
// (x + x → mul(x, 2), 2*x - x → x), x - x cancelled, and the 0-d constants
// combined into one constant c written with a positive sign (x + -1 →
// sub(x, 1)) — the forms stabilize's patterns expect (sub(exp(x), 1),
// sub(1, sigmoid(x))). One exception: a shift x - stop_gradient(m) (the
// max shift of softmax and logsumexp) stays one term, see is_shift.
//
// A product (a tree of mul, div, reciprocal, neg, and pow with a constant
// integer exponent) becomes
//     neg(mul(div(mul(f1, f2), mul(g1, g2)), c))   div(c, ...) / reciprocal(...) without factors on top
// with factors sorted, repeated factors as pow(x, k) (specialize turns small
// powers back into multiplications), x / x cancelled, constants combined
// into one positive c and all signs into one neg. x * 0 stays: it is not 0
// for inf or NaN.
//
// Cancelling (x - x → 0, (a*b)/b → a) holds for finite values only; it is
// applied to floats unless strict_ieee (Theano's choice), to integers always.
// Reordering float sums and products changes rounding, as in Theano.
#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "passes/canon_rules.hpp"

namespace kiln::passes::canon {

using ir::Node;

namespace {

Array scalar_array(const Node& n) {
  if (n.op() == OpCode::Constant) return n.attrs().get_array("value");
  return Array::full({}, n.attrs().get_double("value"), n.dtype());
}
double scalar_of(const Node& n) { return scalar_array(n).to_doubles()[0]; }

NodeRef const_node(const Array& a, const SourceLoc& loc) {
  return ir::make_node(OpCode::Constant, {}, ir::Attrs{{"value", a}}, loc);
}

NodeRef chain(OpCode op, const std::vector<NodeRef>& xs, const Builder& b) {
  NodeRef r;
  for (const NodeRef& x : xs) r = r ? b.op(op, {r, x}) : x;
  return r;
}

// A constant's sign moved out: c < 0 becomes -c and flips `negative`
// (floats, and signed integers other than the minimum). In sums, u8
// constants from 128 up count as negative too (x + 255 is x - 1).
Array positive_part(const Array& c, bool& negative, bool in_sum) {
  double v = c.to_doubles()[0];
  bool flip = is_float(c.dtype())         ? std::signbit(v) && !std::isnan(v)
              : is_signed_int(c.dtype()) ? v < 0 && representable(-v, c.dtype())
                                         : in_sum && v >= 128;
  if (!flip) return c;
  negative = !negative;
  return eval_scalar(OpCode::Neg, {c});
}

// Terms (factors) grouped by base, and by sign where nothing may cancel.
using GroupKey = std::pair<const Node*, int>;
struct GroupKeyHash {
  std::size_t operator()(const GroupKey& k) const { return std::hash<const Node*>()(k.first) ^ k.second; }
};

void sort_terms(std::vector<NodeRef>& xs) {
  if (!std::is_sorted(xs.begin(), xs.end(), term_less)) std::sort(xs.begin(), xs.end(), term_less);
}

// ---- products ----

struct Factor {
  NodeRef base;
  double exp;
  NodeRef original;  // the factor as written (x, or pow(x, k))
  int side;          // 1: numerator, -1: denominator, as written
};

struct Product {
  std::vector<Factor> factors;
  std::optional<Array> num_c, den_c;
  bool negative = false;
};

// An integer exponent pow(x, k) contributes (x, k) to a product.
std::optional<double> factor_exponent(const Node& n) {
  if (n.op() != OpCode::Pow || !is_scalar_constant(*n.input(1))) return std::nullopt;
  double k = scalar_of(*n.input(1));
  if (k != std::floor(k) || std::fabs(k) > 1024 || k == 0) return std::nullopt;
  if (k < 0 && !is_float(n.dtype())) return std::nullopt;  // integer pow with k < 0 is not 1/x^-k
  return k;
}

void flatten_product(const NodeRef& root, Product& p) {
  std::vector<std::pair<NodeRef, int>> stack{{root, 1}};
  auto mul_const = [](std::optional<Array>& acc, const Array& v) {
    acc = acc ? eval_scalar(OpCode::Mul, {*acc, v}) : v;
  };
  while (!stack.empty()) {
    auto [n, sign] = stack.back();
    stack.pop_back();
    switch (n->op()) {
      case OpCode::Mul:
        stack.push_back({n->input(1), sign});
        stack.push_back({n->input(0), sign});
        continue;
      case OpCode::Div:
        stack.push_back({n->input(1), -sign});
        stack.push_back({n->input(0), sign});
        continue;
      case OpCode::Reciprocal:
        stack.push_back({n->input(0), -sign});
        continue;
      case OpCode::Neg:  // exact for integers too: -a * b = -(a * b) modulo 2^bits
        p.negative = !p.negative;
        stack.push_back({n->input(0), sign});
        continue;
      default:
        break;
    }
    if (is_scalar_constant(*n)) {
      mul_const(sign > 0 ? p.num_c : p.den_c, scalar_array(*n));
    } else if (auto k = factor_exponent(*n)) {
      p.factors.push_back({n->input(0), sign * *k, n, sign});
    } else {
      p.factors.push_back({n, static_cast<double>(sign), n, sign});
    }
  }
}

NodeRef power(const NodeRef& x, double k, const Builder& b) {
  return k == 1 ? x : b.op(OpCode::Pow, {x, b.scalar(k, x->dtype())});
}

// The canonical form of a product node (mul, div, reciprocal), or nullptr.
NodeRef canonical_product(const NodeRef& node, const RuleOptions& o) {
  const Node& n = *node;
  if (n.op() != OpCode::Mul && n.op() != OpCode::Div && n.op() != OpCode::Reciprocal) return nullptr;
  DType t = n.dtype();
  Builder b(n.loc());
  Product p;
  flatten_product(node, p);
  // Group equal bases; without finite identities numerator and denominator stay apart.
  bool cancel = finite_identities(o, t);
  std::unordered_map<GroupKey, std::vector<const Factor*>, GroupKeyHash> groups;
  std::vector<GroupKey> order;
  for (const Factor& f : p.factors) {
    auto key = std::make_pair(f.base.get(), cancel ? 0 : (f.exp > 0 ? 1 : -1));
    if (groups[key].empty()) order.push_back(key);
    groups[key].push_back(&f);
  }
  std::vector<NodeRef> num, den, cancelled;
  for (const auto& key : order) {
    const auto& fs = groups[key];
    double e = 0;
    for (const Factor* f : fs) e += f->exp;
    if (fs.size() == 1 || !representable(std::fabs(e), t)) {  // as written
      for (const Factor* f : fs) (f->side > 0 ? num : den).push_back(f->original);
    } else if (e == 0) {
      cancelled.push_back(fs[0]->base);
    } else {
      (e > 0 ? num : den).push_back(power(fs[0]->base, std::fabs(e), b));
    }
  }
  if (p.num_c) p.num_c = positive_part(*p.num_c, p.negative, false);
  if (p.den_c) p.den_c = positive_part(*p.den_c, p.negative, false);
  auto is_one = [](const std::optional<Array>& c) { return c && c->to_doubles()[0] == 1; };
  if (is_one(p.num_c)) p.num_c.reset();
  if (is_one(p.den_c)) p.den_c.reset();
  if (p.num_c && p.den_c) {  // one constant: 3 * x / 2 → x * 1.5
    p.num_c = eval_scalar(OpCode::Div, {*p.num_c, *p.den_c});
    p.den_c.reset();
  }
  sort_terms(num);
  sort_terms(den);
  if (p.den_c) den.push_back(const_node(*p.den_c, n.loc()));
  NodeRef top = chain(OpCode::Mul, num, b), bottom = chain(OpCode::Mul, den, b), r;
  if (bottom && top) {
    r = b.div(top, bottom);
  } else if (bottom && p.num_c) {
    r = b.div(const_node(*p.num_c, n.loc()), bottom);
    p.num_c.reset();
  } else if (bottom) {
    r = b.unary(OpCode::Reciprocal, bottom);
  } else {
    r = top;
  }
  if (p.num_c) r = r ? b.mul(r, const_node(*p.num_c, n.loc())) : const_node(*p.num_c, n.loc());
  if (!r) r = cancelled.empty() ? b.scalar(1, t) : b.ones_like(cancelled[0]);
  if (p.negative) r = b.neg(r);
  return broadcast_back(r, n, cancelled);
}

// ---- sums ----

struct Term {
  NodeRef node;
  bool negated;
};

// (base, coefficient) of a term: mul(u, c) → (u, c), div(c, u) → (1/u, c).
std::pair<NodeRef, double> split_coefficient(const NodeRef& term) {
  auto usable = [&](const NodeRef& c) {
    if (!is_scalar_constant(*c)) return false;
    double v = scalar_of(*c);
    return v != 0 && representable(v, term->dtype());
  };
  if (term->op() == OpCode::Mul)
    for (int i = 0; i < 2; ++i)
      if (usable(term->input(i)) && !is_scalar_constant(*term->input(1 - i)))
        return {term->input(1 - i), scalar_of(*term->input(i))};
  if (term->op() == OpCode::Div && usable(term->input(0)) && !is_scalar_constant(*term->input(1)))
    return {Builder(term->loc()).unary(OpCode::Reciprocal, term->input(1)), scalar_of(*term->input(0))};
  return {term, 1.0};
}

// An integer coefficient wrapped into the signed range of t's width (u8
// too, so that -1 stays -1): sums of integers wrap, so coefficients may.
double wrap_to_width(double k, DType t) {
  int shift = 64 - int_bits(t);
  auto u = static_cast<std::uint64_t>(static_cast<std::int64_t>(k)) << shift;
  return static_cast<double>(static_cast<std::int64_t>(u) >> shift);
}

// base * k as a canonical product.
NodeRef scale(const NodeRef& base, double k, const RuleOptions& o) {
  if (k == 1) return base;
  Builder b(base->loc());
  NodeRef m = b.mul(base, b.scalar(k, base->dtype()));
  NodeRef c = canonical_product(m, o);
  return c ? c : m;
}

// Collects like terms once; true when anything merged.
bool collect_like_terms(std::vector<Term>& terms, std::vector<NodeRef>& cancelled, DType t, const RuleOptions& o) {
  bool cancel = finite_identities(o, t);
  struct Group {
    NodeRef base;
    double coef = 0;
    std::vector<const Term*> members;
  };
  std::unordered_map<GroupKey, Group, GroupKeyHash> groups;
  std::vector<GroupKey> order;
  for (const Term& term : terms) {
    auto [base, c] = split_coefficient(term.node);
    if (term.negated) c = -c;
    auto key = std::make_pair(base.get(), cancel ? 0 : (c > 0 ? 1 : -1));
    Group& g = groups[key];
    if (g.members.empty()) order.push_back(key);
    g.base = base;
    g.coef += c;
    g.members.push_back(&term);
  }
  std::vector<Term> out;
  bool merged = false;
  for (const auto& key : order) {
    const Group& g = groups[key];
    double k = is_float(t) ? g.coef : wrap_to_width(g.coef, t);  // x*100 + x*100 is x*-56 in i8
    if (g.members.size() == 1 || (!representable(std::fabs(k), t) && k != -std::ldexp(1.0, value_bits(t)))) {
      for (const Term* m : g.members) out.push_back(*m);
      continue;
    }
    merged = true;
    bool negative = k < 0 && representable(-k, t);  // not i8 -128: its magnitude is no i8
    if (k == 0)
      cancelled.push_back(g.base);
    else
      out.push_back({scale(g.base, negative ? -k : k, o), negative});
  }
  terms = std::move(out);
  return merged;
}

// x - stop_gradient(m) is a shift by a max (softmax, logsumexp, the
// stabilize rules): kept as one term, since regrouping (x - m) - L into
// x - (L + m) rounds L to the precision of m and undoes the stabilization.
bool is_shift(const Node& n) { return n.op() == OpCode::Sub && n.input(1)->op() == OpCode::StopGradient; }

void flatten_sum(const NodeRef& root, std::vector<Term>& terms, std::optional<Array>& constant) {
  std::vector<Term> stack{{root, false}};
  while (!stack.empty()) {
    Term x = stack.back();
    stack.pop_back();
    const NodeRef& n = x.node;
    if (n != root && is_shift(*n)) {
      terms.push_back(x);
    } else if (n->op() == OpCode::Add || n->op() == OpCode::Sub) {
      stack.push_back({n->input(1), n->op() == OpCode::Sub ? !x.negated : x.negated});
      stack.push_back({n->input(0), x.negated});
    } else if (n->op() == OpCode::Neg) {
      stack.push_back({n->input(0), !x.negated});
    } else if (is_scalar_constant(*n)) {
      Array v = scalar_array(*n);
      if (!constant) constant = x.negated ? eval_scalar(OpCode::Neg, {v}) : v;
      else constant = eval_scalar(x.negated ? OpCode::Sub : OpCode::Add, {*constant, v});
    } else {
      terms.push_back(x);
    }
  }
}

// Is n the left chain add(add(xs[0], xs[1]), ...)?
bool is_chain(const Node* n, const std::vector<NodeRef>& xs) {
  for (std::size_t i = xs.size() - 1; i > 0; --i) {
    if (n->op() != OpCode::Add || n->input(1) != xs[i]) return false;
    n = n->input(0).get();
  }
  return n == xs[0].get();
}

// Is the sum node already sub(chain(pos), chain(neg)) (neg(...), chain(pos))?
bool already_built(const NodeRef& n, const std::vector<NodeRef>& pos, const std::vector<NodeRef>& neg) {
  if (pos.empty()) return !neg.empty() && n->op() == OpCode::Neg && is_chain(n->input(0).get(), neg);
  if (neg.empty()) return is_chain(n.get(), pos);
  return n->op() == OpCode::Sub && is_chain(n->input(0).get(), pos) && is_chain(n->input(1).get(), neg);
}

// The canonical form of a sum node (add, sub, neg), or nullptr.
NodeRef canonical_sum(const NodeRef& node, const RuleOptions& o) {
  const Node& n = *node;
  if (n.op() != OpCode::Add && n.op() != OpCode::Sub && n.op() != OpCode::Neg) return nullptr;
  DType t = n.dtype();
  Builder b(n.loc());
  std::vector<Term> terms;
  std::optional<Array> constant;
  flatten_sum(node, terms, constant);
  std::vector<NodeRef> cancelled;
  while (collect_like_terms(terms, cancelled, t, o)) {
  }
  std::vector<NodeRef> pos, neg;
  for (const Term& term : terms) (term.negated ? neg : pos).push_back(term.node);
  sort_terms(pos);
  sort_terms(neg);
  if (constant && constant->to_doubles()[0] != 0) {  // a zero constant is dropped (x + 0 → x)
    bool negative = false;
    Array c = positive_part(*constant, negative, true);
    (negative ? neg : pos).push_back(const_node(c, n.loc()));
  }
  if (cancelled.empty() && already_built(node, pos, neg)) return nullptr;  // cheaper than rebuilding to find out
  NodeRef p = chain(OpCode::Add, pos, b), m = chain(OpCode::Add, neg, b), r;
  if (p && m) r = b.sub(p, m);
  else if (m) r = b.neg(m);
  else if (p) r = p;
  else r = cancelled.empty() ? b.scalar(0, t) : b.zeros_like(cancelled[0]);
  return broadcast_back(r, n, cancelled);
}

// A canonical form is a function of the node alone (nodes are immutable and
// hash-consed), and the engine asks again for every node of every sweep:
// remembered, so re-checking a canonical sum of n terms costs a lookup, not
// a rebuild of n nodes. (Building one is still O(n) at every level of an
// n-term chain, as in Theano.)
class Memo {
 public:
  template <class F>
  NodeRef get(const NodeRef& n, F canonical) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(n.get());
      if (it != map_.end() && it->second.node.lock() == n)
        if (NodeRef r = it->second.result.lock()) return r == n ? nullptr : r;
    }
    NodeRef r = canonical(n);
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.size() > (1u << 16)) map_.clear();  // forget nodes long gone
    map_[n.get()] = {n, r ? r : n};
    if (r) map_[r.get()] = {r, r};  // a canonical form is its own
    return r;
  }

 private:
  struct Entry {
    std::weak_ptr<const Node> node, result;
  };
  std::mutex mu_;
  std::unordered_map<const Node*, Entry> map_;
};

}  // namespace

void add_mul_rules(std::vector<Rule>& r, const RuleOptions& o) {
  auto sums = std::make_shared<Memo>(), products = std::make_shared<Memo>();
  // flatten add/sub/neg trees: sorted terms, like terms collected, constants combined
  r.push_back(function_rule("canonical_sum", "a + b - c → sub(add(a, b), c), sorted, collected, combined",
                            [o, sums](const NodeRef& n) -> NodeRef {
                              if (n->op() != OpCode::Add && n->op() != OpCode::Sub && n->op() != OpCode::Neg)
                                return nullptr;
                              return sums->get(n, [&o](const NodeRef& m) { return canonical_sum(m, o); });
                            }));
  // flatten mul/div/reciprocal/neg trees: sorted factors, powers collected, one constant, one neg
  r.push_back(function_rule("canonical_product", "a * b / c → div(mul(a, b), c), sorted, pow(x, k), combined",
                            [o, products](const NodeRef& n) -> NodeRef {
                              if (n->op() != OpCode::Mul && n->op() != OpCode::Div && n->op() != OpCode::Reciprocal)
                                return nullptr;
                              return products->get(n, [&o](const NodeRef& m) { return canonical_product(m, o); });
                            }));
}

}  // namespace kiln::passes::canon
