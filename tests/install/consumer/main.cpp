// Built against the installed headers and library only.
#include <cmath>
#include <iostream>

#include <kiln/kiln.hpp>

int main() {
  using namespace kiln;
  Tensor x = vector("x", f64);
  Function f = function({x}, {sum(x * x)});
  double r = f(Array::from({1., 2., 3.}))[0].item();
  std::cout << "sum of squares: " << r << "\n";
  return std::fabs(r - 14.0) < 1e-12 ? 0 : 1;  // 1 + 4 + 9, by hand
}
