// kiln — symbolic differentiation. Gradients are graphs: grad() returns new
// tensors that can be printed, compiled and differentiated again.
//
//   Tensor loss = sum(square(relu(x.matmul(w)) - y));
//   Tensor gw = grad(loss, w);                       // same type as w
//   Function step = function({x, y}, {loss}, {.updates = {{w, w - 1e-6 * gw}}});
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/function.hpp"
#include "kiln/tensor.hpp"

namespace kiln {

// What grad() does when a wrt does not influence the cost (Theano's
// disconnected_inputs): raise a kiln::Error, warn on stderr and return
// zeros, or silently return zeros.
enum class DisconnectedInputs { Raise, Warn, Ignore };

struct GradOptions {
  std::vector<Tensor> consider_constant;              // no gradient flows through these
  DisconnectedInputs disconnected_inputs = DisconnectedInputs::Raise;
  std::vector<std::pair<Tensor, Tensor>> known_grads;  // expression → its given gradient
};

// Reverse mode for a scalar (0-d) float cost: one gradient per wrt entry
// (inputs, shared variables or intermediate expressions), each with the
// type of its wrt. Integer and bool wrt entries are an error.
std::vector<Tensor> grad(const Tensor& cost, const std::vector<Tensor>& wrt, const GradOptions& options = {},
                         Loc loc = Loc::current());
Tensor grad(const Tensor& cost, const Tensor& wrt, const GradOptions& options = {}, Loc loc = Loc::current());

// Vector–Jacobian product: sum_i <eval_points[i], d f[i] / d wrt> for each
// wrt; eval_points[i] has f[i]'s shape.
std::vector<Tensor> Lop(const std::vector<Tensor>& f, const std::vector<Tensor>& wrt,
                        const std::vector<Tensor>& eval_points, Loc loc = Loc::current());
// Jacobian–vector product (forward mode): for each f[i], the derivative of
// f[i] along eval_points (one per wrt, with its shape).
std::vector<Tensor> Rop(const std::vector<Tensor>& f, const std::vector<Tensor>& wrt,
                        const std::vector<Tensor>& eval_points, Loc loc = Loc::current());

// d expr / d wrt with shape expr.shape + wrt.shape (expr needs a static size).
Tensor jacobian(const Tensor& expr, const Tensor& wrt, Loc loc = Loc::current());
// d² cost / d wrt², shape wrt.shape + wrt.shape (wrt needs a static size).
Tensor hessian(const Tensor& cost, const Tensor& wrt, Loc loc = Loc::current());

struct VerifyGradOptions {
  double eps = 0;      // finite-difference step; 0: 1e-6 for f64, 1e-3 for f32, 1e-1 for f16/bf16
  double abs_tol = 0;  // 0: 1e-9 for f64, 1e-3 for f32, 5e-2 for f16/bf16
  double rel_tol = 0;  // 0: 1e-6 for f64, 1e-2 for f32, 5e-2 for f16/bf16
  std::uint64_t seed = 0;  // for the random projection
};

// Theano's verify_grad: builds fn on inputs shaped like `points`, and checks
// grad of sum(u * fn(x)) for a random projection u against central finite
// differences at `points`, element by element. Throws kiln::Error naming the
// input, the element and both values when |analytic - numeric| >
// abs_tol + rel_tol * max(|analytic|, |numeric|).
void verify_grad(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Array>& points,
                 const VerifyGradOptions& options = {}, Loc loc = Loc::current());

}  // namespace kiln
