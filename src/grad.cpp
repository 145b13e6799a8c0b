// The public differentiation API over passes/autodiff.
#include "kiln/grad.hpp"

#include <cmath>
#include <cstdio>
#include <iostream>

#include "ir/shape_util.hpp"
#include "passes/autodiff.hpp"
#include "passes/builder.hpp"
#include "src/frontend.hpp"

namespace kiln {

using namespace detail;
using passes::Builder;

namespace {

std::vector<NodeRef> nodes_of(const std::vector<Tensor>& ts, const SourceLoc& l, std::string_view op) {
  std::vector<NodeRef> out;
  for (const Tensor& t : ts) out.push_back(node_of(t, l, op));
  return out;
}

std::vector<Tensor> tensors_of(const std::vector<NodeRef>& ns) {
  std::vector<Tensor> out;
  for (const NodeRef& n : ns) out.push_back(Tensor(n));
  return out;
}

}  // namespace

std::vector<Tensor> grad(const Tensor& cost, const std::vector<Tensor>& wrt, const GradOptions& options, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef c = node_of(cost, l, "grad");
  if (c->rank() != 0)
    ir::user_error(l, "grad", "the cost must be a scalar (0-d), got " + c->type().str() +
                                  "; reduce it (e.g. sum) or use Lop for a vector-Jacobian product");
  if (!is_float(c->dtype()))
    ir::user_error(l, "grad", "the cost must have a float dtype, got " + c->type().str());
  passes::VjpOptions o;
  o.consider_constant = nodes_of(options.consider_constant, l, "grad");
  o.disconnected = static_cast<passes::Disconnected>(options.disconnected_inputs);
  for (auto& [e, g] : options.known_grads) {
    NodeRef en = node_of(e, l, "grad"), gn = node_of(g, l, "grad");
    if (gn->dtype() != en->dtype()) gn = cast_node(gn, en->dtype(), l);
    o.known_grads.push_back({en, gn});
  }
  std::vector<NodeRef> w = nodes_of(wrt, l, "grad");
  Builder b(l);
  passes::VjpResult r = passes::vjp({c}, {b.like(1, c)}, w, o, l);
  for (const std::string& d : r.disconnected)
    if (options.disconnected_inputs == DisconnectedInputs::Warn)
      std::cerr << l.str() << ": warning: grad: the cost does not depend on " << d << "; its gradient is zero\n";
  for (std::size_t i = 0; i < w.size(); ++i)
    if (!r.grads[i]) r.grads[i] = b.zeros_like(w[i]);
  return tensors_of(r.grads);
}

Tensor grad(const Tensor& cost, const Tensor& wrt, const GradOptions& options, Loc loc) {
  return grad(cost, std::vector<Tensor>{wrt}, options, loc)[0];
}

std::vector<Tensor> Lop(const std::vector<Tensor>& f, const std::vector<Tensor>& wrt,
                        const std::vector<Tensor>& eval_points, Loc loc) {
  SourceLoc l = loc_of(loc);
  if (f.size() != eval_points.size())
    ir::user_error(l, "Lop", "needs one evaluation point per expression, got " + std::to_string(f.size()) +
                                 " expressions and " + std::to_string(eval_points.size()) + " points");
  std::vector<NodeRef> fs = nodes_of(f, l, "Lop"), ps = nodes_of(eval_points, l, "Lop");
  for (std::size_t i = 0; i < fs.size(); ++i) {
    bool fits = ps[i]->rank() == fs[i]->rank();
    for (std::int64_t d = 0; fits && d < ps[i]->rank(); ++d) {
      const ir::Dim &p = ps[i]->type().dims[d], &f = fs[i]->type().dims[d];
      fits = !(p.known() && f.known() && p.size != f.size);
    }
    if (!fits)
      ir::user_error(l, "Lop", "evaluation point " + std::to_string(i) + " has type " + ps[i]->type().str() +
                                   " but the expression is " + fs[i]->type().str());
    if (is_float(fs[i]->dtype())) ps[i] = cast_node(ps[i], fs[i]->dtype(), l);
  }
  passes::VjpOptions o;
  o.disconnected = passes::Disconnected::Ignore;
  std::vector<NodeRef> w = nodes_of(wrt, l, "Lop");
  passes::VjpResult r = passes::vjp(fs, ps, w, o, l);
  Builder b(l);
  for (std::size_t i = 0; i < w.size(); ++i)
    if (!r.grads[i]) r.grads[i] = b.zeros_like(w[i]);
  return tensors_of(r.grads);
}

std::vector<Tensor> Rop(const std::vector<Tensor>& f, const std::vector<Tensor>& wrt,
                        const std::vector<Tensor>& eval_points, Loc loc) {
  SourceLoc l = loc_of(loc);
  if (wrt.size() != eval_points.size())
    ir::user_error(l, "Rop", "needs one evaluation point per wrt, got " + std::to_string(wrt.size()) + " and " +
                                 std::to_string(eval_points.size()));
  return tensors_of(passes::jvp(nodes_of(f, l, "Rop"), nodes_of(wrt, l, "Rop"), nodes_of(eval_points, l, "Rop"), l));
}

Tensor jacobian(const Tensor& expr, const Tensor& wrt, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef e = node_of(expr, l, "jacobian"), w = node_of(wrt, l, "jacobian");
  std::int64_t n = e->type().static_size();
  if (n == ir::kUnknown)
    ir::user_error(l, "jacobian", "the expression needs a static size, got " + e->type().str());
  if (!is_float(e->dtype())) ir::user_error(l, "jacobian", "the expression must be float, got " + e->type().str());
  if (!is_float(w->dtype())) ir::user_error(l, "jacobian", "cannot differentiate with respect to " + w->type().str());
  Builder b(l);
  if (e->rank() == 0) return grad(expr, wrt, {.disconnected_inputs = DisconnectedInputs::Ignore}, loc);
  NodeRef flat = b.op(ir::OpCode::Reshape, {e}, ir::Attrs{{"shape", std::vector<std::int64_t>{n}}});
  std::vector<NodeRef> rows;
  passes::VjpOptions o;
  o.disconnected = passes::Disconnected::Ignore;
  for (std::int64_t i = 0; i < n; ++i) {
    // row i = d flat[i] / d wrt = Lop with the i-th unit vector
    Array unit = Array::zeros({n}, e->dtype());
    unit.set({i}, 1.0);
    NodeRef u = b.op(ir::OpCode::Constant, {}, ir::Attrs{{"value", unit}});
    NodeRef g = passes::vjp({flat}, {u}, {w}, o, l).grads[0];
    if (!g) g = b.zeros_like(w);
    rows.push_back(b.expand_dims(g, {0}));
  }
  NodeRef j = rows.size() == 1 ? rows[0] : b.op(ir::OpCode::Concatenate, rows, ir::Attrs{{"axis", std::int64_t(0)}});
  if (e->rank() == 1) return Tensor(j);
  std::vector<std::int64_t> shape = e->type().sizes();
  int unknown = 0;
  for (const ir::Dim& d : w->type().dims) {
    shape.push_back(d.known() ? d.size : -1);
    unknown += !d.known();
  }
  if (unknown > 1)
    ir::user_error(l, "jacobian", "of a " + std::to_string(e->rank()) + "-d expression needs wrt with at most one "
                                  "unknown dim, got " + w->type().str());
  return Tensor(b.op(ir::OpCode::Reshape, {j}, ir::Attrs{{"shape", shape}}));
}

Tensor hessian(const Tensor& cost, const Tensor& wrt, Loc loc) {
  SourceLoc l = loc_of(loc);
  NodeRef w = node_of(wrt, l, "hessian");
  if (w->type().static_size() == ir::kUnknown)
    ir::user_error(l, "hessian", "wrt needs a static size, got " + w->type().str());
  Tensor g = grad(cost, wrt, {.disconnected_inputs = DisconnectedInputs::Ignore}, loc);
  return jacobian(g, wrt, loc);
}

// ---- verify_grad ----

namespace {

struct Tolerances {
  double eps, abs_tol, rel_tol;
};

Tolerances tolerances_for(DType t, const VerifyGradOptions& o) {
  Tolerances d{1e-6, 1e-9, 1e-6};
  if (t == DType::F32) d = {1e-3, 1e-3, 1e-2};
  if (t == DType::F16 || t == DType::BF16) d = {1e-1, 5e-2, 5e-2};
  if (o.eps > 0) d.eps = o.eps;
  if (o.abs_tol > 0) d.abs_tol = o.abs_tol;
  if (o.rel_tol > 0) d.rel_tol = o.rel_tol;
  return d;
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string index_str(std::int64_t flat, const Shape& shape) {
  std::vector<std::int64_t> idx(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    idx[k] = shape[k] ? flat % shape[k] : 0;
    flat = shape[k] ? flat / shape[k] : 0;
  }
  return ir::ints_str(idx);
}

}  // namespace

void verify_grad(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Array>& points,
                 const VerifyGradOptions& options, Loc loc) {
  SourceLoc l = loc_of(loc);
  if (points.empty()) ir::user_error(l, "verify_grad", "needs at least one point");
  std::vector<Tensor> xs;
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (points[i].is_null()) ir::user_error(l, "verify_grad", "point " + std::to_string(i) + " is an empty Array");
    if (!is_float(points[i].dtype()))
      ir::user_error(l, "verify_grad", "point " + std::to_string(i) + " has dtype " +
                                           std::string(dtype_name(points[i].dtype())) + "; only float inputs have gradients");
    std::vector<DimSpec> shape(points[i].shape().begin(), points[i].shape().end());
    xs.push_back(tensor("x" + std::to_string(i), points[i].dtype(), shape, loc));
  }
  Tensor out = fn(xs);
  if (out.is_null()) ir::user_error(l, "verify_grad", "fn returned an empty Tensor");
  if (!is_float(out.dtype())) ir::user_error(l, "verify_grad", "fn must return a float tensor, got " + out.type_str());
  // A random projection makes the cost scalar and exercises every output element.
  std::vector<std::int64_t> out_shape = out.shape();
  for (auto d : out_shape)
    if (d < 0) ir::user_error(l, "verify_grad", "fn's output needs a static shape, got " + out.type_str());
  // The projection is summed in f64 whatever fn's dtype, so the cost's own
  // rounding (large next to an f16 or f32 difference quotient) adds no noise.
  Array u = Array::uniform(out_shape, DType::F64, options.seed, 0.5, 1.5);
  Tensor cost = sum(mul(Operand(cast(out, DType::F64, loc), loc), Operand(constant(u, loc), loc)), {}, false, loc);
  std::vector<Tensor> grads = grad(cost, xs, {.disconnected_inputs = DisconnectedInputs::Ignore}, loc);
  Function f_cost = function(xs, {cost}, {}, loc);
  Function f_grad = function(xs, grads, {}, loc);

  std::vector<Array> base;
  for (const Array& p : points) base.push_back(p.copy());
  std::vector<Array> analytic = f_grad(base);
  for (std::size_t i = 0; i < base.size(); ++i) {
    Tolerances tol = tolerances_for(base[i].dtype(), options);
    std::vector<double> a = analytic[i].to_doubles();
    Array probe = base[i];
    std::vector<double> x0 = probe.to_doubles();
    for (std::int64_t j = 0; j < static_cast<std::int64_t>(x0.size()); ++j) {
      std::vector<std::int64_t> idx(probe.ndim());
      std::int64_t rest = j;
      for (std::int64_t k = probe.ndim(); k-- > 0;) {
        idx[k] = rest % probe.shape()[k];
        rest /= probe.shape()[k];
      }
      probe.set(idx, x0[j] + tol.eps);
      double up_x = probe.get(idx);
      double fp = f_cost(base)[0].item();
      probe.set(idx, x0[j] - tol.eps);
      double down_x = probe.get(idx);
      double fm = f_cost(base)[0].item();
      probe.set(idx, x0[j]);
      double numeric = (fp - fm) / (up_x - down_x);  // the step actually taken in the dtype
      double diff = std::fabs(a[j] - numeric);
      double bound = tol.abs_tol + tol.rel_tol * std::max(std::fabs(a[j]), std::fabs(numeric));
      if (!(diff <= bound))
        ir::user_error(l, "verify_grad",
                       "the gradient of input " + std::to_string(i) + " (" + std::string(dtype_name(base[i].dtype())) +
                           shape_str(base[i].shape()) + ") at element " + index_str(j, base[i].shape()) +
                           " disagrees with finite differences: analytic " + num(a[j]) + ", numeric " + num(numeric) + ", |difference| " + num(diff) +
                           " > tolerance " + num(bound));
    }
  }
}

}  // namespace kiln
