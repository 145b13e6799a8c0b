#include "codegen/cuda/print.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "kiln/error.hpp"

namespace kiln::codegen::cuda {

const std::string& cuda_prelude() {
  static const std::string s =
#include "kiln_cuda_prelude.inc"  // codegen/cuda/prelude.cuh as a raw string (CMake)
      ;
  return s;
}

namespace {

using ir::OpCode;

// The C type a dtype has in memory (raw bits for bool, f16 and bf16) and
// the one it computes in.
const char* mem_type(DType t) {
  switch (t) {
    case DType::Bool: case DType::U8: return "unsigned char";
    case DType::I8: return "signed char";
    case DType::I16: return "short";
    case DType::I32: return "int";
    case DType::I64: return "long long";
    case DType::F16: case DType::BF16: return "unsigned short";
    case DType::F32: return "float";
    case DType::F64: return "double";
  }
  KILN_UNREACHABLE("no memory type");
}
const char* compute_type(DType t) {
  switch (t) {
    case DType::Bool: return "bool";
    case DType::F16: case DType::BF16: return "float";
    default: return mem_type(t);
  }
}

// A value read from memory (`m` is an lvalue of the memory type) as its
// compute type, and a computed value as its memory type.
std::string load(DType t, const std::string& m) {
  switch (t) {
    case DType::Bool: return "(" + m + " != 0)";
    case DType::F16: return "kiln_h2f(" + m + ")";
    case DType::BF16: return "kiln_bf2f(" + m + ")";
    default: return m;
  }
}
std::string store(DType t, const std::string& v) {
  switch (t) {
    case DType::Bool: return "(unsigned char)(" + v + ")";
    case DType::F16: return "kiln_f2h(" + v + ")";  // exact: already rounded
    case DType::BF16: return "kiln_f2bf(" + v + ")";
    default: return v;
  }
}

std::string int_literal(DType t, std::int64_t v) {
  if (t == DType::Bool) return v ? "true" : "false";
  // INT64_MIN has no literal: -9223372036854775808 is the negation of an
  // out-of-range unsigned literal.
  std::string lit = v == INT64_MIN ? "(-9223372036854775807LL - 1)" : std::to_string(v) + "LL";
  return std::string("(") + compute_type(t) + ")" + lit;
}

// A float constant in the compute type, exactly: hexadecimal literals
// (C++17), and bit patterns for inf and NaN.
std::string float_literal(DType t, double v) {
  const bool dbl = t == DType::F64;
  if (std::isnan(v)) return dbl ? (std::signbit(v) ? "(-KILN_NAN_D)" : "KILN_NAN_D")
                                : (std::signbit(v) ? "(-(float)KILN_NAN_D)" : "((float)KILN_NAN_D)");
  if (std::isinf(v)) {
    const char* inf = dbl ? "KILN_INF_D" : "KILN_INF_F";
    return v < 0 ? std::string("(-") + inf + ")" : inf;
  }
  char buf[64];
  if (dbl) std::snprintf(buf, sizeof buf, "%a", v);
  else std::snprintf(buf, sizeof buf, "%af", static_cast<double>(static_cast<float>(v)));
  return std::string("(") + buf + ")";
}

bool uns(DType t) { return t == DType::U8 || t == DType::Bool; }

// Integer range of a dtype, for saturating casts.
std::pair<std::int64_t, std::int64_t> int_range(DType t) {
  switch (t) {
    case DType::I8: return {-128, 127};
    case DType::I16: return {-32768, 32767};
    case DType::I32: return {INT32_MIN, INT32_MAX};
    case DType::I64: return {INT64_MIN, INT64_MAX};
    case DType::U8: return {0, 255};
    default: break;
  }
  KILN_UNREACHABLE("no integer range for " << dtype_name(t));
}

std::string lit64(std::int64_t v) { return v == INT64_MIN ? "(-9223372036854775807LL - 1)" : std::to_string(v) + "LL"; }

// Cast's semantics (docs/ops.md; codegen/llvm/emit.cpp's cast).
std::string cast(const std::string& x, DType from, DType to) {
  const bool ff = is_float(from), tf = is_float(to);
  const std::string ct = compute_type(to);
  if (ff && tf) {
    if (to == DType::F64) return "(double)" + x;
    if (from == DType::F64) return to == DType::F32 ? "(float)" + x : "kiln_to_float_odd(" + x + ")";
    return x;  // float → f32/f16/bf16: the op's rounding does the rest
  }
  if (ff) {
    if (to == DType::Bool) return "(" + x + " != 0)";  // NaN → true
    auto [lo, hi] = int_range(to);
    return "(" + ct + ")kiln_f2i(" + x + ", " + lit64(lo) + ", " + lit64(hi) + ")";
  }
  if (tf) {
    if (to == DType::F64 || to == DType::F32) return "(" + ct + ")" + x;  // one rounding
    return "kiln_to_float_odd((double)" + x + ")";
  }
  if (to == DType::Bool) return "(" + x + " != 0)";
  return "(" + ct + ")" + x;  // truncation or sign/zero extension
}

std::string call(const std::string& f, const std::vector<std::string>& a) {
  std::string s = f + "(";
  for (std::size_t i = 0; i < a.size(); ++i) s += (i ? ", " : "") + a[i];
  return s + ")";
}

// One float op on values computed as float (f16, bf16, f32) or double (f64).
std::string float_op(const KernelExpr& e, DType from, const std::vector<std::string>& a) {
  const bool dbl = from == DType::F64;
  const std::string T = dbl ? "double" : "float";
  auto m = [&](const char* name) { return call(std::string(name) + (dbl ? "" : "f"), a); };
  // Special functions are evaluated in double (the CPU backend calls the
  // interpreter's double code for them too) and rounded once.
  auto in_double = [&](const std::string& f) {
    const std::string r = f + "((double)" + a[0] + ")";
    return dbl ? r : "(float)" + r;
  };
  const std::string inf = dbl ? "KILN_INF_D" : "KILN_INF_F";
  switch (e.op) {
    case OpCode::Neg: return "(-" + a[0] + ")";
    case OpCode::Abs: return m("fabs");
    case OpCode::Sign: return call("kiln_sign", a);
    case OpCode::Square: return "(" + a[0] + " * " + a[0] + ")";
    case OpCode::Floor: return m("floor");
    case OpCode::Ceil: return m("ceil");
    case OpCode::Round: return m("rint");  // half to even
    case OpCode::Trunc: return m("trunc");
    case OpCode::Exp: return m("exp");
    case OpCode::Exp2: return m("exp2");
    case OpCode::Expm1: return m("expm1");
    case OpCode::Log: return m("log");
    case OpCode::Log2: return m("log2");
    case OpCode::Log10: return m("log10");
    case OpCode::Log1p: return m("log1p");
    case OpCode::Log1mexp: return call("kiln_log1mexp", a);
    case OpCode::Sqrt: return m("sqrt");
    // 1 / sqrt, like the CPU: rsqrt() is not correctly rounded.
    case OpCode::Rsqrt: return "((" + T + ")1 / " + m("sqrt") + ")";
    case OpCode::Reciprocal: return "((" + T + ")1 / " + a[0] + ")";
    case OpCode::Sin: return m("sin");
    case OpCode::Cos: return m("cos");
    case OpCode::Tan: return m("tan");
    case OpCode::Asin: return m("asin");
    case OpCode::Acos: return m("acos");
    case OpCode::Atan: return m("atan");
    case OpCode::Sinh: return m("sinh");
    case OpCode::Cosh: return m("cosh");
    case OpCode::Tanh: return m("tanh");
    case OpCode::Asinh: return m("asinh");
    case OpCode::Acosh: return m("acosh");
    case OpCode::Atanh: return m("atanh");
    case OpCode::Sigmoid: return call("kiln_sigmoid", a);
    case OpCode::Softplus: return call("kiln_softplus", a);
    case OpCode::Erf: return m("erf");
    case OpCode::Erfc: return m("erfc");
    case OpCode::Erfinv: return in_double("erfinv");
    case OpCode::Lgamma: return in_double("lgamma");
    case OpCode::Digamma: return in_double("kiln_digamma");
    case OpCode::Polygamma: {
      const std::string r = "kiln_polygamma(" + std::to_string(e.attr) + ", (double)" + a[0] + ")";
      return dbl ? r : "(float)" + r;
    }
    case OpCode::StopGradient: return a[0];
    case OpCode::IsNan: return "(" + a[0] + " != " + a[0] + ")";
    case OpCode::IsInf: return "(" + m("fabs") + " == " + inf + ")";
    case OpCode::IsFinite: return "(" + m("fabs") + " < " + inf + ")";
    case OpCode::Cast: return cast(a[0], from, e.dtype);
    case OpCode::Add: return "(" + a[0] + " + " + a[1] + ")";
    case OpCode::Sub: return "(" + a[0] + " - " + a[1] + ")";
    case OpCode::Mul: return "(" + a[0] + " * " + a[1] + ")";
    case OpCode::Div: return "(" + a[0] + " / " + a[1] + ")";
    case OpCode::FloorDiv: return call("kiln_floordiv", a);
    case OpCode::Mod: return call("kiln_mod", a);
    case OpCode::Pow: return m("pow");
    case OpCode::Maximum: return call("kiln_max", a);
    case OpCode::Minimum: return call("kiln_min", a);
    case OpCode::Atan2: return m("atan2");
    case OpCode::Eq: return "(" + a[0] + " == " + a[1] + ")";
    case OpCode::Ne: return "(" + a[0] + " != " + a[1] + ")";  // true on NaN
    case OpCode::Lt: return "(" + a[0] + " < " + a[1] + ")";
    case OpCode::Le: return "(" + a[0] + " <= " + a[1] + ")";
    case OpCode::Gt: return "(" + a[0] + " > " + a[1] + ")";
    case OpCode::Ge: return "(" + a[0] + " >= " + a[1] + ")";
    case OpCode::Clip: return "kiln_min(kiln_max(" + a[0] + ", " + a[1] + "), " + a[2] + ")";
    default: break;
  }
  throw Error("CUDA backend: no lowering for " + std::string(ir::op_name(e.op)) + " on " +
              std::string(dtype_name(from)));
}

// One integer or bool op (bool: `bool` values, logical).
std::string integer_op(const KernelExpr& e, DType from, const std::vector<std::string>& a) {
  const std::string T = compute_type(from);
  const bool u = uns(from);
  const std::string bits = std::to_string(8 * dtype_size(from));
  auto bin = [&](const char* op) { return "(" + a[0] + " " + op + " " + a[1] + ")"; };
  auto typed = [&](const std::string& v) { return "(" + T + ")" + v; };
  if (from == DType::Bool) {
    switch (e.op) {
      case OpCode::LogicalNot: case OpCode::BitwiseNot: return "(!" + a[0] + ")";
      case OpCode::LogicalAnd: case OpCode::BitwiseAnd: return bin("&&");
      case OpCode::LogicalOr: case OpCode::BitwiseOr: return bin("||");
      case OpCode::LogicalXor: case OpCode::BitwiseXor: return bin("!=");
      default: break;
    }
  }
  switch (e.op) {
    case OpCode::Neg: return call("kiln_neg", a);
    case OpCode::Abs: return u ? a[0] : "(" + a[0] + " < 0 ? kiln_neg(" + a[0] + ") : " + a[0] + ")";
    case OpCode::Sign: return u ? typed("(" + a[0] + " != 0)") : typed("((" + a[0] + " > 0) - (" + a[0] + " < 0))");
    case OpCode::Square: return "kiln_mul(" + a[0] + ", " + a[0] + ")";
    case OpCode::Floor: case OpCode::Ceil: case OpCode::Round: case OpCode::Trunc: case OpCode::StopGradient:
      return a[0];
    case OpCode::BitwiseNot: return typed("(~" + a[0] + ")");
    // (void): NVRTC warns about a value nothing reads.
    case OpCode::IsNan: case OpCode::IsInf: return "((void)" + a[0] + ", false)";
    case OpCode::IsFinite: return "((void)" + a[0] + ", true)";
    case OpCode::Cast: return cast(a[0], from, e.dtype);
    case OpCode::Add: return call("kiln_add", a);
    case OpCode::Sub: return call("kiln_sub", a);
    case OpCode::Mul: return call("kiln_mul", a);
    case OpCode::FloorDiv: return call(u ? "kiln_floordiv_u" : "kiln_floordiv_s", a);
    case OpCode::Mod: return call(u ? "kiln_mod_u" : "kiln_mod_s", a);
    case OpCode::Pow: return typed("kiln_pow_i((long long)" + a[0] + ", (long long)" + a[1] + ")");
    case OpCode::Maximum: return "(" + a[0] + " > " + a[1] + " ? " + a[0] + " : " + a[1] + ")";
    case OpCode::Minimum: return "(" + a[0] + " < " + a[1] + " ? " + a[0] + " : " + a[1] + ")";
    case OpCode::BitwiseAnd: return typed(bin("&"));
    case OpCode::BitwiseOr: return typed(bin("|"));
    case OpCode::BitwiseXor: return typed(bin("^"));
    case OpCode::LeftShift: return "kiln_shl(" + a[0] + ", " + a[1] + ", " + bits + ")";
    case OpCode::RightShift: return std::string(u ? "kiln_shr_u(" : "kiln_shr(") + a[0] + ", " + a[1] + ", " + bits + ")";
    case OpCode::Eq: return bin("==");
    case OpCode::Ne: return bin("!=");
    case OpCode::Lt: return bin("<");
    case OpCode::Le: return bin("<=");
    case OpCode::Gt: return bin(">");
    case OpCode::Ge: return bin(">=");
    case OpCode::Clip: {
      const std::string lo = "(" + a[0] + " > " + a[1] + " ? " + a[0] + " : " + a[1] + ")";
      return "(" + lo + " < " + a[2] + " ? " + lo + " : " + a[2] + ")";
    }
    default: break;
  }
  throw Error("CUDA backend: no lowering for " + std::string(ir::op_name(e.op)) + " on " +
              std::string(dtype_name(from)));
}

// The raw type moving `bytes` bytes in one access.
const char* raw_type(int bytes) {
  switch (bytes) {
    case 16: return "kiln_raw16";
    case 8: return "kiln_raw8";
    case 4: return "kiln_raw4";
    case 2: return "kiln_raw2";
    case 1: return "kiln_raw1";
  }
  KILN_UNREACHABLE("no raw type of " << bytes << " bytes");
}

bool all_broadcast(const KernelOperand& o) {
  return std::all_of(o.broadcast.begin(), o.broadcast.end(), [](bool b) { return b; });
}
bool none_broadcast(const KernelOperand& o) {
  return std::none_of(o.broadcast.begin(), o.broadcast.end(), [](bool b) { return b; });
}

// The contiguous entry's vector width, 0 when the kernel has none: every
// input iterated or a scalar, 16 bytes of the widest iterated operand.
int vec_width(const Kernel& k) {
  if (k.rank == 0 || k.has_reduction()) return 0;
  std::size_t widest = 0;
  for (const KernelOperand& o : k.operands) {
    if (none_broadcast(o)) widest = std::max(widest, dtype_size(o.dtype));
    else if (!all_broadcast(o)) return 0;
  }
  if (!none_broadcast(k.output())) return 0;
  return static_cast<int>(16 / widest);
}

// A constant's or an op's value from the values vI of its arguments (the
// element function and the reduction entry print the same expressions).
std::string expr_value(const Kernel& k, const KernelExpr& e) {
  if (e.kind == KernelExpr::Kind::Const)
    return is_float(e.dtype) ? float_literal(e.dtype, e.fvalue) : int_literal(e.dtype, e.ivalue);
  KILN_CHECK(e.kind == KernelExpr::Kind::Op, "expr_value of a load or a reduction");
  std::vector<std::string> args;
  for (int a : e.args) args.push_back("v" + std::to_string(a));
  const DType from = operand_dtype(k, e);
  std::string v;
  if (e.op == OpCode::Where) v = "(" + args[0] + " ? " + args[1] + " : " + args[2] + ")";
  else v = is_float(from) ? float_op(e, from, args) : integer_op(e, from, args);
  // f16/bf16 are computed in f32 and rounded after every op.
  if (e.dtype == DType::F16) v = "kiln_round_f16(" + v + ")";
  else if (e.dtype == DType::BF16) v = "kiln_round_bf16(" + v + ")";
  return v;
}

// ---- reduction kernels (docs/cuda.md, "Reduction kernels") ----

bool is_arg(const KernelExpr& e) { return e.op == OpCode::Argmax || e.op == OpCode::Argmin; }

// An accumulator's start (the CPU backend's acc_init): argmax/argmin's best
// value starts at the worst one and its index at 0, which is also the answer
// when nothing beats it (a row of -inf, an empty row).
std::string acc_init(const KernelExpr& e, DType t) {
  if (is_float(t)) {
    const std::string T = compute_type(t), inf = t == DType::F64 ? "KILN_INF_D" : "KILN_INF_F";
    switch (e.op) {
      case OpCode::Prod: return "(" + T + ")1";
      case OpCode::Max: case OpCode::Argmax: return "(-" + inf + ")";
      case OpCode::Min: case OpCode::Argmin: return inf;
      default: return "(" + T + ")0";
    }
  }
  if (t == DType::Bool) {
    switch (e.op) {
      case OpCode::All: case OpCode::Min: case OpCode::Argmin: case OpCode::Prod: return "true";
      default: return "false";
    }
  }
  const auto [lo, hi] = int_range(t);
  switch (e.op) {
    case OpCode::Prod: return int_literal(t, 1);
    case OpCode::Max: case OpCode::Argmax: return int_literal(t, lo);
    case OpCode::Min: case OpCode::Argmin: return int_literal(t, hi);
    default: return int_literal(t, 0);
  }
}

// acc (op) v in the accumulator's type `t`: integers wrap; max/min as the
// CPU's llvm.maximum/minimum (NaN wins, -0 < +0).
std::string fold(const KernelExpr& e, DType t, const std::string& a, const std::string& b) {
  if (is_float(t)) {
    switch (e.op) {
      case OpCode::Sum: case OpCode::Mean: return "(" + a + " + " + b + ")";
      case OpCode::Prod: return "(" + a + " * " + b + ")";
      case OpCode::Max: return "kiln_fold_max(" + a + ", " + b + ")";
      case OpCode::Min: return "kiln_fold_min(" + a + ", " + b + ")";
      default: break;
    }
  } else {
    switch (e.op) {
      case OpCode::Sum: return "kiln_add(" + a + ", " + b + ")";
      case OpCode::Prod: return "kiln_mul(" + a + ", " + b + ")";
      case OpCode::Max: return "(" + a + " > " + b + " ? " + a + " : " + b + ")";
      case OpCode::Min: return "(" + a + " < " + b + " ? " + a + " : " + b + ")";
      case OpCode::All: return "(" + a + " && " + b + ")";
      case OpCode::Any: return "(" + a + " || " + b + ")";
      default: break;
    }
  }
  throw Error("CUDA backend: no reduction " + std::string(ir::op_name(e.op)) + " of " + std::string(dtype_name(t)));
}

// argmax/argmin's test: does (v, i) beat (bv, bi)?
std::string arg_beats(const KernelExpr& e, DType t, const std::string& v, const std::string& i, const std::string& bv,
                      const std::string& bi) {
  return std::string(is_float(t) ? "kiln_arg_beats_f(" : "kiln_arg_beats_i(") +
         (e.op == OpCode::Argmax ? "true, " : "false, ") + v + ", " + i + ", " + bv + ", " + bi + ")";
}

// The value of lane (this lane ^ o): shuffles exist for 32- and 64-bit types.
std::string shfl_xor(DType t, const std::string& v) {
  const std::string T = compute_type(t);
  if (T == "float" || T == "double" || T == "long long") return "__shfl_xor_sync(0xffffffffu, " + v + ", o)";
  return "(" + T + ")__shfl_xor_sync(0xffffffffu, (int)" + v + ", o)";
}

// The reduction's value from its accumulator `a` (the CPU's finish): mean
// divides by the count (0/0 = NaN for an empty row); f16/bf16 round once.
std::string finish(const KernelExpr& e, DType t, const std::string& a) {
  std::string v = a;
  if (is_float(t)) {
    if (e.op == OpCode::Mean) v = "(" + a + " / (" + compute_type(t) + ")n)";
    if (e.dtype == DType::F16) v = "kiln_round_f16(" + v + ")";
    else if (e.dtype == DType::BF16) v = "kiln_round_bf16(" + v + ")";
  }
  if (std::string(compute_type(e.dtype)) != compute_type(t)) v = "(" + std::string(compute_type(e.dtype)) + ")" + v;
  return v;
}

// The entry of a kernel with reduced dims. Rows (one index of the kept
// dims) are spread over blockIdx.x and threadIdx.y, grid-stride; the
// blockDim.x threads of a row split its reduced elements (flat C-order
// index j over the reduced dims, thread t taking j = t, t + blockDim.x, ...)
// and fold their accumulators: a butterfly within the warp, then one slot a
// warp in __shared__ memory folded in warp order. Phase p of
// kernel_phases() is one pass over the row; its reductions' values are
// known to every thread of the row after it.
std::string reduction_entry(const Kernel& k, const std::string& name) {
  const KernelPhases ph = kernel_phases(k);
  const std::size_t nin = k.num_inputs(), nops = k.operands.size(), nx = k.body.size();
  const DType out = k.output().dtype;
  std::vector<int> kept, red;
  for (int d = 0; d < k.rank; ++d) (k.reduced[static_cast<std::size_t>(d)] ? red : kept).push_back(d);
  auto num = [](std::size_t i) { return std::to_string(i); };
  auto opnd = [&](std::size_t o) { return o < nin ? "in" + num(o) : std::string("out"); };
  auto ptr = [&](std::size_t o) { return o < nin ? "p" + num(o) : std::string("po"); };
  auto roff = [&](std::size_t o) { return o < nin ? "r" + num(o) : std::string("ro"); };
  auto eoff = [&](std::size_t o) { return o < nin ? "e" + num(o) : std::string("eo"); };
  auto moves = [&](std::size_t o, int d) { return !k.operands[o].broadcast[static_cast<std::size_t>(d)]; };
  auto in_t = [&](std::size_t i) { return operand_dtype(k, k.body[i]); };
  auto acc_t = [&](std::size_t i) { return std::string(compute_type(in_t(i))); };
  auto v = [&](std::size_t i) { return "v" + num(i); };
  auto decl = [&](std::size_t i, const std::string& val) {
    return "const " + std::string(compute_type(k.body[i].dtype)) + " " + v(i) + " = " + val + ";";
  };

  // offsets name(o) = base(o) + the index `idx` split over `dims` (C order)
  // times operand o's strides, for the operands `ops`.
  auto split = [&](const std::string& ind, const std::string& idx, const std::vector<int>& dims,
                   const std::vector<std::size_t>& ops, auto&& name, auto&& base, const std::string& q) {
    std::string t;
    if (ops.empty()) return t;
    t += ind + "long long";
    for (std::size_t a = 0; a < ops.size(); ++a) t += (a ? ", " : " ") + name(ops[a]) + " = " + base(ops[a]);
    t += ";\n";
    int lo = -1;  // the outermost dim along which an operand moves
    for (std::size_t i = 0; i < dims.size() && lo < 0; ++i)
      for (std::size_t o : ops)
        if (moves(o, dims[i])) lo = static_cast<int>(i);
    if (lo < 0) return t;
    const bool one = dims.size() == 1;
    if (!one) t += ind + "long long " + q + " = " + idx + ";\n";
    for (int i = static_cast<int>(dims.size()) - 1; i >= lo; --i) {
      const std::string sh = "space.shape[" + std::to_string(dims[static_cast<std::size_t>(i)]) + "]";
      std::string adds;
      const std::string c = one ? idx : i == 0 ? q : "(" + q + " % " + sh + ")";
      for (std::size_t o : ops)
        if (moves(o, dims[static_cast<std::size_t>(i)]))
          adds += " " + name(o) + " += " + c + " * " + opnd(o) + ".strides[" + std::to_string(dims[static_cast<std::size_t>(i)]) + "];";
      if (!adds.empty()) t += ind + adds.substr(1) + "\n";
      if (i > lo) t += ind + q + " /= " + sh + ";\n";
    }
    return t;
  };

  std::vector<std::size_t> reds;
  for (std::size_t i = 0; i < nx; ++i)
    if (k.body[i].kind == KernelExpr::Kind::Reduce) reds.push_back(i);
  std::vector<char> loaded(nin, 0);
  for (const KernelExpr& e : k.body)
    if (e.kind == KernelExpr::Kind::Load) loaded[static_cast<std::size_t>(e.operand)] = 1;

  std::string s = "extern \"C\" __global__ void __launch_bounds__(KILN_CUDA_REDUCE_MAX_BLOCK) " + name + "(KilnCudaSpace space";
  for (std::size_t o = 0; o < nops; ++o) s += ", KilnCudaOperand " + opnd(o);
  s += ") {\n";
  // One slot a warp per accumulator, for the block-wide fold.
  for (std::size_t i : reds) {
    s += "  __shared__ " + acc_t(i) + " s" + num(i) + "[KILN_CUDA_REDUCE_MAX_BLOCK / 32];\n";
    if (is_arg(k.body[i])) s += "  __shared__ long long sx" + num(i) + "[KILN_CUDA_REDUCE_MAX_BLOCK / 32];\n";
  }
  std::vector<std::size_t> used;  // the operands read or written
  for (std::size_t o = 0; o < nops; ++o) {
    if (o < nin && !loaded[o]) continue;
    used.push_back(o);
    const std::string mt = mem_type(k.operands[o].dtype);
    if (o < nin) s += "  const " + mt + "* p" + num(o) + " = (const " + mt + "*)in" + num(o) + ".data;\n";
    else s += "  " + mt + "* po = (" + mt + "*)out.data;\n";
  }
  auto product = [&](const std::vector<int>& dims) {
    std::string p;
    for (int d : dims) p += (p.empty() ? "" : " * ") + std::string("space.shape[") + std::to_string(d) + "]";
    return p.empty() ? std::string("1") : p;
  };
  s += "  const long long rows = " + product(kept) + ";\n";
  if (ph.num_phases > 0) s += "  const long long n = " + product(red) + ";  // elements a row\n";
  s += "  for (long long row = (long long)blockIdx.x * blockDim.y + threadIdx.y; row < rows;\n"
       "       row += (long long)gridDim.x * blockDim.y) {\n";
  s += split("    ", "row", kept, used, roff, [](std::size_t) { return std::string("0"); }, "rq");
  const std::string I = "    ";
  for (std::size_t i = 0; i < nx; ++i) {  // per-row values known before the first pass
    const KernelExpr& e = k.body[i];
    if (!e.row || ph.phase[i] != 0) continue;
    const std::size_t o = static_cast<std::size_t>(e.operand);
    s += I + decl(i, e.kind == KernelExpr::Kind::Load ? load(e.dtype, ptr(o) + "[" + roff(o) + "]") : expr_value(k, e)) + "\n";
  }
  for (int p = 0; p < ph.num_phases; ++p) {
    std::vector<std::size_t> rs;
    for (std::size_t i : reds)
      if (ph.phase[static_cast<std::size_t>(k.body[i].args[0])] == p) rs.push_back(i);
    const bool stores = !k.body.back().row && p == ph.num_phases - 1;
    // The per-element values this pass needs.
    std::vector<char> need(nx, 0);
    for (std::size_t i : rs) need[static_cast<std::size_t>(k.body[i].args[0])] = 1;
    if (stores) need[nx - 1] = 1;
    for (std::size_t i = nx; i-- > 0;)
      if (need[i] && !k.body[i].row)
        for (int a : k.body[i].args) need[static_cast<std::size_t>(a)] |= !k.body[static_cast<std::size_t>(a)].row;
    std::vector<std::size_t> eops;
    for (std::size_t i = 0; i < nx; ++i)
      if (need[i] && !k.body[i].row && k.body[i].kind == KernelExpr::Kind::Load) {
        const std::size_t o = static_cast<std::size_t>(k.body[i].operand);
        if (std::find(eops.begin(), eops.end(), o) == eops.end()) eops.push_back(o);
      }
    std::sort(eops.begin(), eops.end());
    if (stores) eops.push_back(nops - 1);
    s += I + "// pass " + std::to_string(p) + (rs.empty() ? "" : ": the reductions %") ;
    for (std::size_t a = 0; a < rs.size(); ++a) s += (a ? ", %" : "") + num(rs[a]);
    s += stores ? (rs.empty() ? ": the store" : "; the store") : "";
    s += "\n";
    for (std::size_t i : rs) {
      s += I + acc_t(i) + " a" + num(i) + " = " + acc_init(k.body[i], in_t(i)) + ";\n";
      if (is_arg(k.body[i])) s += I + "long long x" + num(i) + " = 0;\n";
    }
    s += I + "for (long long j = threadIdx.x; j < n; j += blockDim.x) {\n";
    const std::string J = I + "  ";
    s += split(J, "j", red, eops, eoff, roff, "eq");
    for (std::size_t i = 0; i < nx; ++i) {
      const KernelExpr& e = k.body[i];
      if (!need[i] || e.row) continue;
      const std::size_t o = static_cast<std::size_t>(e.operand);
      s += J + decl(i, e.kind == KernelExpr::Kind::Load ? load(e.dtype, ptr(o) + "[" + eoff(o) + "]") : expr_value(k, e)) + "\n";
    }
    for (std::size_t i : rs) {
      const KernelExpr& e = k.body[i];
      const std::string a = "a" + num(i), x = v(static_cast<std::size_t>(e.args[0]));
      if (is_arg(e)) s += J + "if (" + arg_beats(e, in_t(i), x, "j", a, "x" + num(i)) + ") { " + a + " = " + x + "; x" + num(i) + " = j; }\n";
      else s += J + a + " = " + fold(e, in_t(i), a, x) + ";\n";
    }
    if (stores) s += J + "po[eo] = " + store(out, v(nx - 1)) + ";\n";
    s += I + "}\n";
    if (!rs.empty()) {
      // Within the warp: a butterfly (every lane ends with the warp's value;
      // the folds are commutative, so the lanes agree bit for bit).
      s += I + "if (blockDim.x > 1) {\n";
      s += I + "  for (int o = 16; o > 0; o >>= 1) {\n";
      for (std::size_t i : rs) {
        const KernelExpr& e = k.body[i];
        const std::string a = "a" + num(i);
        if (!is_arg(e)) {
          s += I + "    { const " + acc_t(i) + " ov = " + shfl_xor(in_t(i), a) + "; " + a + " = " + fold(e, in_t(i), a, "ov") + "; }\n";
          continue;
        }
        const std::string x = "x" + num(i);
        s += I + "    {\n";
        s += I + "      const " + acc_t(i) + " ov = " + shfl_xor(in_t(i), a) + ";\n";
        s += I + "      const long long ox = __shfl_xor_sync(0xffffffffu, " + x + ", o);\n";
        s += I + "      if (" + arg_beats(e, in_t(i), "ov", "ox", a, x) + ") { " + a + " = ov; " + x + " = ox; }\n";
        s += I + "    }\n";
      }
      s += I + "  }\n";
      s += I + "}\n";
      // Across the block's warps: lane 0 of each writes its slot, every
      // thread folds the slots in warp order.
      s += I + "if (blockDim.x > 32) {\n";
      s += I + "  if ((threadIdx.x & 31) == 0) {\n";
      for (std::size_t i : rs) {
        s += I + "    s" + num(i) + "[threadIdx.x >> 5] = a" + num(i) + ";\n";
        if (is_arg(k.body[i])) s += I + "    sx" + num(i) + "[threadIdx.x >> 5] = x" + num(i) + ";\n";
      }
      s += I + "  }\n";
      s += I + "  __syncthreads();\n";
      for (std::size_t i : rs) {
        s += I + "  a" + num(i) + " = s" + num(i) + "[0];\n";
        if (is_arg(k.body[i])) s += I + "  x" + num(i) + " = sx" + num(i) + "[0];\n";
      }
      s += I + "  for (unsigned w = 1; w < blockDim.x / 32; ++w) {\n";
      for (std::size_t i : rs) {
        const KernelExpr& e = k.body[i];
        const std::string a = "a" + num(i), sw = "s" + num(i) + "[w]";
        if (!is_arg(e)) {
          s += I + "    " + a + " = " + fold(e, in_t(i), a, sw) + ";\n";
          continue;
        }
        const std::string x = "x" + num(i), sxw = "sx" + num(i) + "[w]";
        s += I + "    if (" + arg_beats(e, in_t(i), sw, sxw, a, x) + ") { " + a + " = " + sw + "; " + x + " = " + sxw + "; }\n";
      }
      s += I + "  }\n";
      s += I + "  __syncthreads();  // the slots are rewritten by the next row\n";
      s += I + "}\n";
    }
    for (std::size_t i = 0; i < nx; ++i) {  // per-row values known after this pass
      const KernelExpr& e = k.body[i];
      if (!e.row || ph.phase[i] != p + 1) continue;
      if (e.kind == KernelExpr::Kind::Reduce) s += I + decl(i, is_arg(e) ? "x" + num(i) : finish(e, in_t(i), "a" + num(i))) + "\n";
      else s += I + decl(i, expr_value(k, e)) + "\n";
    }
  }
  if (k.body.back().row) s += I + "if (threadIdx.x == 0) po[ro] = " + store(out, v(nx - 1)) + ";\n";
  s += "  }\n}\n";
  return s;
}
}  // namespace

std::string cuda_kernel_name(const Kernel& k) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : print_kernel(k)) h = (h ^ c) * 1099511628211ull;
  char buf[40];
  std::snprintf(buf, sizeof buf, "kiln_k%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string print_cuda_kernel_body(const Kernel& k, const std::string& name) {
  verify_kernel(k);
  if (k.rank > KILN_CUDA_MAX_RANK)
    throw Error("CUDA backend: kernel " + name + " has rank " + std::to_string(k.rank) + ", above the " +
                std::to_string(KILN_CUDA_MAX_RANK) + " the launch ABI holds");
  // 4 KiB of parameters (the portable limit) at 72 bytes an operand.
  if (k.operands.size() > 48)
    throw Error("CUDA backend: kernel " + name + " has " + std::to_string(k.operands.size()) +
                " operands, above the 48 its parameters hold");
  if (k.has_reduction()) {
    const std::string head = print_kernel(k);
    return "\n// " + name + ": " + head.substr(0, head.find('\n')) + "\n" + reduction_entry(k, name);
  }
  for (const KernelOperand& o : k.operands)
    if (!o.axes.empty())
      throw Error("CUDA backend: kernel " + name + " maps an operand's dims onto its space (a reduction kernel)");
  const std::size_t nin = k.num_inputs();
  const DType out = k.output().dtype;
  std::string s = "\n// " + name + ": " + print_kernel(k).substr(0, print_kernel(k).find('\n')) + "\n";

  // ---- the element function ----
  s += "static __device__ __forceinline__ " + std::string(compute_type(out)) + " " + name + "_elem(";
  for (std::size_t i = 0; i < nin; ++i)
    s += (i ? ", " : "") + std::string(compute_type(k.operands[i].dtype)) + " a" + std::to_string(i);
  s += ") {\n";
  for (std::size_t i = 0; i < k.body.size(); ++i) {
    const KernelExpr& e = k.body[i];
    KILN_CHECK(e.kind != KernelExpr::Kind::Reduce, "a reduction in an elementwise CUDA kernel");
    const std::string v = e.kind == KernelExpr::Kind::Load ? "a" + std::to_string(e.operand) : expr_value(k, e);
    s += "  const " + std::string(compute_type(e.dtype)) + " v" + std::to_string(i) + " = " + v + ";\n";
  }
  s += "  return v" + std::to_string(k.body.size() - 1) + ";\n}\n";

  auto elem_call = [&](const std::vector<std::string>& loaded) { return call(name + "_elem", loaded); };

  // ---- the strided entry ----
  s += "extern \"C\" __global__ void __launch_bounds__(256) " + name + "(KilnCudaSpace space";
  for (std::size_t o = 0; o < k.operands.size(); ++o)
    s += ", KilnCudaOperand " + (o < nin ? "in" + std::to_string(o) : std::string("out"));
  s += ") {\n";
  for (std::size_t o = 0; o < k.operands.size(); ++o) {
    const std::string mt = mem_type(k.operands[o].dtype);
    if (o < nin) s += "  const " + mt + "* p" + std::to_string(o) + " = (const " + mt + "*)in" + std::to_string(o) + ".data;\n";
    else s += "  " + mt + "* po = (" + mt + "*)out.data;\n";
  }
  s += "  const long long step = (long long)gridDim.x * blockDim.x;\n";
  s += "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < space.numel; i += step) {\n";
  // The flat C-order index → each operand's offset; dims along which an
  // operand is broadcast add nothing to it.
  auto opnd = [&](std::size_t o) { return o < nin ? "in" + std::to_string(o) : std::string("out"); };
  auto off = [&](std::size_t o) { return o < nin ? "f" + std::to_string(o) : std::string("fo"); };
  if (k.rank > 0) {
    s += "    long long r = i, c;\n";
    s += "    long long";
    for (std::size_t o = 0; o < k.operands.size(); ++o) s += (o ? ", " : " ") + off(o) + " = 0";
    s += ";\n";
  }
  for (int d = k.rank - 1; d >= 0; --d) {
    const std::string ds = std::to_string(d);
    s += d > 0 ? "    c = r % space.shape[" + ds + "]; r /= space.shape[" + ds + "];"
               : std::string("    c = r;");
    for (std::size_t o = 0; o < k.operands.size(); ++o)
      if (!k.operands[o].broadcast[static_cast<std::size_t>(d)]) s += " " + off(o) + " += c * " + opnd(o) + ".strides[" + ds + "];";
    s += "\n";
  }
  {
    std::vector<std::string> loaded;
    for (std::size_t o = 0; o < nin; ++o)
      loaded.push_back(load(k.operands[o].dtype, "p" + std::to_string(o) + "[" + (k.rank > 0 ? off(o) : "0") + "]"));
    s += "    po[" + std::string(k.rank > 0 ? "fo" : "0") + "] = " + store(out, elem_call(loaded)) + ";\n";
  }
  s += "  }\n}\n";

  // ---- the contiguous entry ----
  const int vw = vec_width(k);
  if (vw > 0) {
    s += "extern \"C\" __global__ void __launch_bounds__(256) " + name + "_vec(long long numel";
    for (std::size_t o = 0; o < k.operands.size(); ++o) {
      const std::string mt = mem_type(k.operands[o].dtype);
      s += o < nin ? ", const " + mt + "* __restrict__ p" + std::to_string(o) : ", " + mt + "* __restrict__ po";
    }
    s += ") {\n";
    s += "  const long long step = (long long)gridDim.x * blockDim.x;\n";
    s += "  const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n";
    // Scalars are read once per thread.
    for (std::size_t o = 0; o < nin; ++o)
      if (all_broadcast(k.operands[o]))
        s += "  const " + std::string(compute_type(k.operands[o].dtype)) + " s" + std::to_string(o) + " = " +
             load(k.operands[o].dtype, "p" + std::to_string(o) + "[0]") + ";\n";
    const std::string V = std::to_string(vw);
    s += "  const long long nv = numel / " + V + ";\n";
    s += "  for (long long c = t; c < nv; c += step) {\n";
    for (std::size_t o = 0; o < k.operands.size(); ++o) {
      if (all_broadcast(k.operands[o])) continue;
      const std::string mt = mem_type(k.operands[o].dtype);
      const char* raw = raw_type(vw * static_cast<int>(dtype_size(k.operands[o].dtype)));
      const std::string u = o < nin ? "u" + std::to_string(o) : std::string("uo");
      s += "    union { " + std::string(raw) + " r; " + mt + " v[" + V + "]; } " + u + ";\n";
      if (o < nin) s += "    " + u + ".r = ((const " + raw + "*)p" + std::to_string(o) + ")[c];\n";
    }
    std::vector<std::string> loaded;
    for (std::size_t o = 0; o < nin; ++o)
      loaded.push_back(all_broadcast(k.operands[o]) ? "s" + std::to_string(o)
                                                    : load(k.operands[o].dtype, "u" + std::to_string(o) + ".v[l]"));
    s += "#pragma unroll\n";
    s += "    for (int l = 0; l < " + V + "; ++l) uo.v[l] = " + store(out, elem_call(loaded)) + ";\n";
    s += "    ((" + std::string(raw_type(vw * static_cast<int>(dtype_size(out)))) + "*)po)[c] = uo.r;\n";
    s += "  }\n";
    loaded.clear();
    for (std::size_t o = 0; o < nin; ++o)
      loaded.push_back(all_broadcast(k.operands[o]) ? "s" + std::to_string(o)
                                                    : load(k.operands[o].dtype, "p" + std::to_string(o) + "[i]"));
    s += "  for (long long i = nv * " + V + " + t; i < numel; i += step) po[i] = " + store(out, elem_call(loaded)) + ";\n";
    s += "}\n";
  }
  return s;
}

CudaKernelSource print_cuda_kernel(const Kernel& k, const std::string& name) {
  CudaKernelSource r;
  r.name = name;
  r.reduction = k.has_reduction();
  r.vec_width = vec_width(k);
  if (r.vec_width > 0) r.vec_name = name + "_vec";
  r.body = print_cuda_kernel_body(k, name);
  r.source = cuda_prelude() + r.body;
  return r;
}

// ---- launching ----

KilnCudaSpace cuda_space(const std::vector<std::int64_t>& shape) {
  if (shape.size() > KILN_CUDA_MAX_RANK)
    throw Error("CUDA backend: rank " + std::to_string(shape.size()) + " is above the launch ABI's " +
                std::to_string(KILN_CUDA_MAX_RANK));
  KilnCudaSpace s{};
  s.numel = 1;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    s.shape[d] = shape[d];
    s.numel *= shape[d];
  }
  return s;
}

KilnCudaOperand cuda_operand(void* data, const std::vector<std::int64_t>& strides) {
  if (strides.size() > KILN_CUDA_MAX_RANK)
    throw Error("CUDA backend: rank " + std::to_string(strides.size()) + " is above the launch ABI's " +
                std::to_string(KILN_CUDA_MAX_RANK));
  KilnCudaOperand o{};
  o.data = data;
  for (std::size_t d = 0; d < strides.size(); ++d) o.strides[d] = strides[d];
  return o;
}

bool cuda_vec_applies(const Kernel& k, const CudaKernelSource& src, const std::vector<std::int64_t>& shape,
                      const std::vector<const void*>& data, const std::vector<std::vector<std::int64_t>>& strides) {
  if (src.vec_width == 0) return false;
  KILN_CHECK(data.size() == k.operands.size() && strides.size() == k.operands.size(), "operand count");
  for (std::size_t o = 0; o < k.operands.size(); ++o) {
    if (all_broadcast(k.operands[o])) continue;
    // C-contiguous: each dim of size > 1 steps by the product of the sizes inside it.
    std::int64_t expect = 1;
    for (int d = k.rank - 1; d >= 0; --d) {
      const auto du = static_cast<std::size_t>(d);
      if (shape[du] != 1 && strides[o][du] != expect) return false;
      expect *= shape[du];
    }
    const std::uintptr_t align = static_cast<std::uintptr_t>(src.vec_width) * dtype_size(k.operands[o].dtype);
    if (reinterpret_cast<std::uintptr_t>(data[o]) % align != 0) return false;
  }
  return true;
}

CudaLaunchDims cuda_launch_dims(std::int64_t items, int multiprocessors) {
  CudaLaunchDims d;
  const std::int64_t blocks = (items + d.block - 1) / d.block;
  const std::int64_t cap = std::max<std::int64_t>(1, std::int64_t{32} * std::max(multiprocessors, 1));
  d.grid = static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, cap));
  return d;
}


CudaBinding cuda_bind(const Kernel& k, const std::vector<std::vector<std::int64_t>>& shapes,
                      const std::vector<std::vector<std::int64_t>>& strides) {
  KILN_CHECK(shapes.size() == k.operands.size() && strides.size() == k.operands.size(), "cuda_bind: operand count");
  const auto r = static_cast<std::size_t>(k.rank);
  CudaBinding b;
  b.space.assign(r, 1);
  // Operand dim ax sits on space dim d: left-padded, or mapped by `axes`.
  auto place = [&](std::size_t o, auto&& fn) {
    const std::size_t q = shapes[o].size();
    const KernelOperand& op = k.operands[o];
    KILN_CHECK(q <= r && (op.axes.empty() || op.axes.size() == q), "cuda_bind: an operand of rank " << q);
    for (std::size_t ax = 0; ax < q; ++ax) fn(op.axes.empty() ? r - q + ax : static_cast<std::size_t>(op.axes[ax]), ax);
  };
  const std::size_t out = k.operands.size() - 1;
  place(out, [&](std::size_t d, std::size_t ax) { b.space[d] = shapes[out][ax]; });
  // Along a reduced dim: the first input size there that is not 1.
  for (std::size_t d = 0; d < r && k.has_reduction(); ++d) {
    if (!k.reduced[d]) continue;
    for (std::size_t o = 0; o < out && b.space[d] == 1; ++o)
      place(o, [&](std::size_t d2, std::size_t ax) {
        if (d2 == d && shapes[o][ax] != 1) b.space[d] = shapes[o][ax];
      });
  }
  b.strides.assign(k.operands.size(), std::vector<std::int64_t>(r, 0));
  for (std::size_t o = 0; o < k.operands.size(); ++o)
    place(o, [&](std::size_t d, std::size_t ax) {
      if (shapes[o][ax] == b.space[d] && !k.operands[o].broadcast[d]) b.strides[o][d] = strides[o][ax];
    });
  return b;
}

CudaReduceDims cuda_reduce_launch_dims(const Kernel& k, const std::vector<std::int64_t>& space, int multiprocessors) {
  std::int64_t rows = 1, n = 1;
  for (std::size_t d = 0; d < space.size(); ++d) (k.reduced[d] ? n : rows) *= space[d];
  CudaReduceDims dims;
  if (!k.inner_reduced() && (rows >= 8192 || n < 256)) {
    // Inner dim kept (column sums): a thread a row, neighbouring threads on
    // neighbouring elements of the innermost dim.
    dims.block_x = 1;
    dims.block_y = KILN_CUDA_REDUCE_MAX_BLOCK;
  } else {
    // A warp a row for short rows (8 a block), else a block of up to 256
    // threads, about 8 elements a thread.
    std::int64_t bx = 32;
    while (bx < KILN_CUDA_REDUCE_MAX_BLOCK && bx * 8 < n) bx *= 2;
    dims.block_x = static_cast<unsigned>(bx);
    dims.block_y = bx == 32 ? KILN_CUDA_REDUCE_MAX_BLOCK / 32 : 1;
  }
  const std::int64_t blocks = (rows + dims.block_y - 1) / dims.block_y;
  const std::int64_t cap = std::max<std::int64_t>(1, std::int64_t{32} * std::max(multiprocessors, 1));
  dims.grid = static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, cap));
  return dims;
}

}  // namespace kiln::codegen::cuda
