// kiln — compiling graphs into callable functions.
//
//   auto f = function({x}, {1 / (1 + exp(-x))});
//   Array y = f(Array::from({{0., 1.}, {-1., -2.}}))[0];
//
// A Function takes one Array per input (dtype exactly the input's, static
// dims matching) and returns one fresh Array per output. Updates change
// shared variables after the outputs are computed; every update and output
// reads the values from before the call. A Function may be called from
// several threads at once.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/device.hpp"
#include "kiln/tensor.hpp"

namespace kiln {

enum class Backend {
  // The reference interpreter (ir/interpreter.cpp): the oracle every other
  // backend is tested against. Floats are computed in double and rounded
  // once per op; slow.
  Interpreter,
  // LLVM-compiled CPU code (the default): fused elementwise kernels, BLAS
  // matmul (f32/f64), shape ops as strided views. Ops without a native kernel
  // yet (some reductions, indexing, concatenation, integer matmul) run as
  // interpreter host steps inside the native plan. f32 is computed in f32, so
  // results may differ from the interpreter's by a few ULP (docs/ops.md,
  // "Native backend accuracy").
  Native,
};

struct FunctionOptions {
  // shared variable ← new value expression
  std::vector<std::pair<Tensor, Tensor>> updates;
  // expression → replacement expression (same dtype and rank), applied to the
  // outputs and the updates before compiling, like Theano's givens
  std::vector<std::pair<Tensor, Tensor>> givens;
  // Native by default; Backend::Interpreter runs the reference interpreter.
  Backend backend = Backend::Native;
  // Where the function runs. Device::cuda(n): its kernels are compiled for
  // that GPU (docs/cuda.md); arguments may be host arrays (copied there) or
  // arrays on that device; results are arrays on that device (copy them
  // with to(Device::cpu())); shared variables move to the device on the
  // first call and stay there (get_value() still returns a host copy).
  Device device = Device::cpu();
  // Run the rewrite pipeline (canonicalize → stabilize → cleanup → specialize) on the
  // graph before compiling. KILN_DUMP_IR=after:STAGE (or all) prints the IR.
  bool optimize = true;
  // With optimize: do not apply identities that only hold for finite values
  // (x - x → 0, x / x → 1); by default they are applied, as Theano does.
  bool strict_ieee = false;
};

class Function {
 public:
  Function() = default;

  std::vector<Array> operator()(const std::vector<Array>& args) const;
  std::vector<Array> operator()(std::initializer_list<Array> args) const {
    return (*this)(std::vector<Array>(args));
  }
  template <class... A>
    requires(std::is_convertible_v<A, Array> && ...)
  std::vector<Array> operator()(const A&... args) const {
    return (*this)(std::vector<Array>{Array(args)...});
  }

  std::size_t num_inputs() const;
  std::size_t num_outputs() const;
  // The compiled graph as text (outputs, then the update expressions).
  std::string graph_text() const;

  struct Impl;

 private:
  friend Function function(const std::vector<Tensor>&, const std::vector<Tensor>&, const FunctionOptions&,
                           Loc);
  std::shared_ptr<const Impl> impl_;
};

Function function(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                  const FunctionOptions& options = {}, Loc loc = Loc::current());

}  // namespace kiln
