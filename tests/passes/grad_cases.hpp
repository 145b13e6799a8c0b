// The op sweep shared by the gradient tests: one case per differentiable op
// (and per interesting shape, broadcast or attribute), each a function of
// float inputs and a point inside the op's domain, away from kinks, poles
// and ties. grad_ops_test.cpp checks reverse mode against finite
// differences (first and second order) and that every op of ir/ops.def that
// carries derivatives appears in some case; rop_lop_test.cpp checks forward
// mode and the adjoint identity on the same cases.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <kiln/kiln.hpp>

namespace kiln::grad_test {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradCase {
  std::string name;            // a GoogleTest-safe name
  Fn fn;                       // builds the expression from inputs shaped like `points`
  std::vector<Array> points;   // f64; the f32 run casts them
  bool f32 = true;             // also checked in f32 with the f32 defaults
  bool second_order = true;    // also check the gradient's own gradient (f64)
  bool joint_steps = true;     // false where stepping all inputs at once leaves the domain
  VerifyGradOptions f64_options = {};  // overrides; empty means the defaults
};

// Every case, built once.
const std::vector<GradCase>& grad_cases();

// Random-looking but fixed points.
Array uniform(const Shape& shape, double lo, double hi, std::uint64_t seed);
// Magnitudes in [lo, hi] with random signs (away from 0).
Array signed_uniform(const Shape& shape, double lo, double hi, std::uint64_t seed);
// Distinct values on a grid of step 0.25 (no ties, even after an f32 step).
Array distinct(const Shape& shape, std::uint64_t seed, double offset = 0);

}  // namespace kiln::grad_test
