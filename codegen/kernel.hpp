// The kernel IR: backend-neutral fused elementwise kernels.
//
// A Kernel computes one output over an iteration space of rank `rank` (the
// output's shape, sizes known only at run time). Its operands are the
// inputs, then the output; each is a strided view aligned to the iteration
// space (an input of lower rank is left-padded; a padded or statically-1 dim
// is a broadcast dim whose stride is 0 at run time). The body is an SSA list
// of element expressions: load operand k at the current index, 0-d
// constants, and unary/binary/ternary ops that reuse ir::OpCode for the math.
//
// Every value has a dtype (the dtype of the graph node it computes); how a
// target computes it (f16/bf16 as f32, rounded to the dtype after each op) is
// the target's business, but the result must equal the interpreter's (docs/ops.md).
//
// Targets (codegen/llvm, later codegen/cuda and codegen/aot) share the ABI
// below: plain C, so generated code and hand-written launchers agree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/node.hpp"

extern "C" {
// One operand as a kernel sees it: element [0, ...] at `data`, `shape` and
// `strides` (in elements, any sign, 0 for broadcast dims) of the kernel's
// rank. Every operand's shape is the iteration space's shape.
struct KilnBuffer {
  void* data;
  const std::int64_t* shape;
  const std::int64_t* strides;
};
// A compiled kernel: iterates rows [row_begin, row_end) — a row is one index
// of all dims but the innermost, in C order — each a loop over the innermost
// dim. A rank-0 kernel has one row of one element. `operands` holds the
// inputs, then the output.
typedef void (*KilnKernelFn)(const KilnBuffer* operands, std::int64_t row_begin, std::int64_t row_end);
}

namespace kiln::codegen {

struct KernelOperand {
  DType dtype = DType::F64;
  // Per dim of the iteration space: true when this operand is broadcast
  // along it (left-padded, or statically 1 where the output is not).
  std::vector<bool> broadcast;
};

struct KernelExpr {
  enum class Kind : std::uint8_t { Load, Const, Op };
  Kind kind = Kind::Op;
  DType dtype = DType::F64;           // the value's dtype
  ir::OpCode op = ir::OpCode::Add;    // Op: the math (an elementwise op of ir/ops.def)
  std::vector<int> args;              // Op: earlier expressions
  int operand = -1;                   // Load: the input operand
  double fvalue = 0;                  // Const of a float dtype
  std::int64_t ivalue = 0;            // Const of an integer or bool dtype
  std::int64_t attr = 0;              // Polygamma: the order n
};

struct Kernel {
  int rank = 0;
  std::vector<KernelOperand> operands;  // inputs, then the output (last)
  std::vector<KernelExpr> body;         // SSA; the last expression is stored to the output
  std::size_t num_inputs() const { return operands.size() - 1; }
  const KernelOperand& output() const { return operands.back(); }
};

// Builders (append one expression, return its index).
int add_load(Kernel& k, int operand);
int add_const(Kernel& k, DType t, double fvalue, std::int64_t ivalue);
int add_op(Kernel& k, ir::OpCode op, DType t, std::vector<int> args, std::int64_t attr = 0);

// The dtype an expression computes on (its first argument's; for Where the
// branches'): what selects the float or integer semantics of an op.
DType operand_dtype(const Kernel& k, const KernelExpr& e);

// The kernel as text, for golden tests, debugging and as the cache key:
//   kernel rank=2 (in0: f32[b,_], in1: f32[_,_]) -> out: f32[_,_]
//     %0 = load in0
//     %1 = exp %0 : f32
//     ...
//     store %3
// `[b,_]`: b is a broadcast dim, _ an iterated one.
std::string print_kernel(const Kernel& k);

// Internal invariants (arity, argument order, dtypes); an InternalError if broken.
void verify_kernel(const Kernel& k);

}  // namespace kiln::codegen
