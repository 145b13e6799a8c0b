// The kernel IR: backend-neutral fused elementwise and reduction kernels.
//
// A Kernel computes one output over an iteration space of rank `rank` (sizes
// known only at run time). Its operands are the inputs, then the output;
// each is a strided view aligned to the iteration space (by default an
// operand of lower rank is left-padded; `axes` says otherwise; a padded or
// statically-1 dim is a broadcast dim whose stride is 0 at run time). The
// body is an SSA list of expressions: load operand k at the current index,
// 0-d constants, unary/binary/ternary ops that reuse ir::OpCode for the math,
// and reductions.
//
// Reductions. Some dims of the space may be `reduced`; the others are kept.
// A *row* is one index of the kept dims. An expression is either
// per-element (its value depends on the reduced index) or per-row (`row`:
// one value per kept index — loads of operands broadcast along every
// reduced dim, constants, Reduce results and ops on per-row values only).
// A Reduce turns a per-element value into a per-row one; per-element
// expressions may read per-row values (a reduction's result broadcast back
// over the reduced dims, as softmax does). The output is per-element (the
// stored value is, and the output iterates every dim) or per-row (broadcast
// along every reduced dim: one store per row).
//
// A target schedules a reduction kernel in phases (kernel_phases): phase p
// visits the reduced dims of a row once, computing the per-element values of
// phase p and folding them into the reductions of phase p; per-row values
// whose reductions are done become available to phase p + 1. The last
// phase stores the output. Row softmax is three phases over a row: max,
// sum of exp, store. A CPU target runs rows on threads; a GPU target may
// map a row to a block or a warp.
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
// inputs, then the output. In a reduction kernel (below) rows follow the
// kept dims only: with the innermost dim reduced, a row is one index of the
// kept dims; with it kept, one index of the kept dims but the innermost
// times one block of kKeptInnerBlock consecutive innermost indices (the
// last block may be short), block fastest.
typedef void (*KilnKernelFn)(const KilnBuffer* operands, std::int64_t row_begin, std::int64_t row_end);
}

namespace kiln::codegen {

// The innermost-dim block of a row of a reduction kernel whose innermost
// dim is kept (the ABI above): a 4 KiB page of f32, so that walking the
// reduced dims streams whole pages (256 was 3x slower for column sums).
constexpr std::int64_t kKeptInnerBlock = 1024;

struct KernelOperand {
  DType dtype = DType::F64;
  // Per dim of the iteration space: true when this operand is broadcast
  // along it (left-padded, or statically 1 where the output is not).
  std::vector<bool> broadcast;
  // The iteration dim of each of the operand's own dims, in order (empty:
  // left-padded, dims rank - q .. rank - 1). An operand computed in a
  // reduction's reduced shape (keepdims=false) maps onto the kept dims.
  std::vector<int> axes;
};

struct KernelExpr {
  enum class Kind : std::uint8_t { Load, Const, Op, Reduce };
  Kind kind = Kind::Op;
  DType dtype = DType::F64;           // the value's dtype
  ir::OpCode op = ir::OpCode::Add;    // Op: the math (an elementwise op of ir/ops.def);
                                      // Reduce: sum prod max min mean all any argmax argmin
                                      // (argmax/argmin: the flat index over the reduced dims, i64)
  std::vector<int> args;              // Op, Reduce: earlier expressions (Reduce: one, per-element)
  int operand = -1;                   // Load: the input operand
  double fvalue = 0;                  // Const of a float dtype
  std::int64_t ivalue = 0;            // Const of an integer or bool dtype
  std::int64_t attr = 0;              // Polygamma: the order n
  bool row = false;                   // a per-row value (only in kernels with reduced dims)
};

struct Kernel {
  int rank = 0;
  std::vector<bool> reduced;            // per dim of the space: reduced (empty: an elementwise kernel)
  std::vector<KernelOperand> operands;  // inputs, then the output (last)
  std::vector<KernelExpr> body;         // SSA; the last expression is stored to the output
  std::size_t num_inputs() const { return operands.size() - 1; }
  const KernelOperand& output() const { return operands.back(); }
  bool has_reduction() const;
  // Is the innermost dim reduced (a row's elements are contiguous in
  // C-order inputs)? Otherwise the innermost dim is kept and a target
  // should iterate rows of the output along it.
  bool inner_reduced() const { return has_reduction() && reduced.back(); }
};

// Builders (append one expression, return its index). Set `reduced` and
// the operands first: the builders derive `row`.
int add_load(Kernel& k, int operand);
int add_const(Kernel& k, DType t, double fvalue, std::int64_t ivalue);
int add_op(Kernel& k, ir::OpCode op, DType t, std::vector<int> args, std::int64_t attr = 0);
int add_reduce(Kernel& k, ir::OpCode op, DType t, int arg);

// Is `op` a reduction a kernel computes?
bool is_kernel_reduction(ir::OpCode op);

// The schedule of a reduction kernel. Per expression, `phase`: for a
// per-element value, the phase whose loop computes it (it may be recomputed
// in later ones); for a per-row value, the first phase that may read it (0
// for loads and constants, p + 1 for a reduction in phase p). `num_phases`:
// the loops over a row (the reduction phases, plus one storing a
// per-element output).
struct KernelPhases {
  std::vector<int> phase;
  int reduction_phases = 0;
  int num_phases = 0;
};
KernelPhases kernel_phases(const Kernel& k);

// The dtype an expression computes on (its first argument's; for Where the
// branches'): what selects the float or integer semantics of an op.
DType operand_dtype(const Kernel& k, const KernelExpr& e);

// The kernel as text, for golden tests, debugging and as the cache key:
//   kernel rank=2 (in0: f32[b,_], in1: f32[_,_]) -> out: f32[_,_]
//     %0 = load in0
//     %1 = exp %0 : f32
//     ...
//     store %3
// `[b,_]`: b is a broadcast dim, _ an iterated one. A reduction kernel's
// header lists its reduced dims (`reduce=[_,r]`), per-row values are marked
// `row`, and an operand mapped onto other dims than the last ones says which
// (`f32[_,b]@(0)`):
//   kernel rank=2 reduce=[_,r] (in0: f32[_,_]) -> out: f32[_,b]@(0)
//     %0 = load in0 : f32
//     %1 = reduce sum %0 : f32 row
//     store %1
std::string print_kernel(const Kernel& k);

// Internal invariants (arity, argument order, dtypes); an InternalError if broken.
void verify_kernel(const Kernel& k);

}  // namespace kiln::codegen
