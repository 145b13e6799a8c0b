// The TensorFlow seed: elementwise product of two int32 vectors.
//   expected: [5 12 21 32]
#include <iostream>

#include <kiln/kiln.hpp>

using namespace kiln;

int main() {
  Tensor a = vector("a", i32);
  Tensor b = vector("b", i32);
  Function f = function({a, b}, {a * b});
  Array r = f(Array::from({1, 2, 3, 4}), Array::from({5, 6, 7, 8}))[0];
  std::cout << r.to_string({.align = false}) << "\n";
}
