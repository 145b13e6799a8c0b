// The Theano seed: the logistic function, elementwise, in float64.
//   expected: [[0.5, 0.73105858], [0.26894142, 0.11920292]]
#include <iostream>

#include <kiln/kiln.hpp>

using namespace kiln;

int main() {
  Tensor x = matrix("x", f64);                 // symbolic input, shape [?, ?]
  Tensor s = 1 / (1 + exp(-x));                 // builds a graph, computes nothing
  Function logistic = function({x}, {s});       // checks the graph, returns a callable
  Array out = logistic(Array::from({{0., 1.}, {-1., -2.}}))[0];
  std::cout << out.to_string({.separator = ", ", .align = false, .one_line = true}) << "\n";
  std::cout << out << "\n";                     // NumPy's str() layout
}
