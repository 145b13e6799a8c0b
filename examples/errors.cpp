// What a mistake looks like: the message names the op, the shapes, and the
// line of this file that built the bad node.
#include <iostream>

#include <kiln/kiln.hpp>

using namespace kiln;

int main() {
  Tensor a = tensor("a", f32, {3, 4});
  Tensor b = tensor("b", f32, {5});
  try {
    Tensor c = a + b;  // shapes [3,4] and [5] do not broadcast
    (void)c;
  } catch (const kiln::Error& e) {
    std::cout << e.what() << "\n";
  }
  Tensor x = vector("x", f64);
  Function f = function({x}, {sum(x * 2)});
  try {
    f(Array::from({1.f, 2.f}));  // float32 passed where float64 is declared
  } catch (const kiln::Error& e) {
    std::cout << e.what() << "\n";
  }
}
