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
  if (k.rank == 0) return 0;
  std::size_t widest = 0;
  for (const KernelOperand& o : k.operands) {
    if (none_broadcast(o)) widest = std::max(widest, dtype_size(o.dtype));
    else if (!all_broadcast(o)) return 0;
  }
  if (!none_broadcast(k.output())) return 0;
  return static_cast<int>(16 / widest);
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
  if (k.has_reduction())
    throw Error("CUDA backend: kernel " + name +
                " has reductions; the CUDA printer handles elementwise kernels only so far");
  for (const KernelOperand& o : k.operands)
    if (!o.axes.empty())
      throw Error("CUDA backend: kernel " + name + " maps an operand's dims onto its space (a reduction kernel)");
  // 4 KiB of parameters (the portable limit) at 72 bytes an operand.
  if (k.operands.size() > 48)
    throw Error("CUDA backend: kernel " + name + " has " + std::to_string(k.operands.size()) +
                " operands, above the 48 its parameters hold");
  const std::size_t nin = k.num_inputs();
  const DType out = k.output().dtype;
  std::string s = "\n// " + name + ": " + print_kernel(k).substr(0, print_kernel(k).find('\n')) + "\n";

  // ---- the element function ----
  s += "static __device__ __forceinline__ " + std::string(compute_type(out)) + " " + name + "_elem(";
  for (std::size_t i = 0; i < nin; ++i)
    s += (i ? ", " : "") + std::string(compute_type(k.operands[i].dtype)) + " a" + std::to_string(i);
  s += ") {\n";
  std::vector<std::string> args;
  for (std::size_t i = 0; i < k.body.size(); ++i) {
    const KernelExpr& e = k.body[i];
    std::string v;
    switch (e.kind) {
      case KernelExpr::Kind::Load: v = "a" + std::to_string(e.operand); break;
      case KernelExpr::Kind::Reduce: KILN_UNREACHABLE("a reduction in an elementwise CUDA kernel");
      case KernelExpr::Kind::Const: v = is_float(e.dtype) ? float_literal(e.dtype, e.fvalue) : int_literal(e.dtype, e.ivalue); break;
      case KernelExpr::Kind::Op: {
        args.clear();
        for (int a : e.args) args.push_back("v" + std::to_string(a));
        const DType from = operand_dtype(k, e);
        if (e.op == OpCode::Where) v = "(" + args[0] + " ? " + args[1] + " : " + args[2] + ")";
        else v = is_float(from) ? float_op(e, from, args) : integer_op(e, from, args);
        // f16/bf16 are computed in f32 and rounded after every op.
        if (e.dtype == DType::F16) v = "kiln_round_f16(" + v + ")";
        else if (e.dtype == DType::BF16) v = "kiln_round_bf16(" + v + ")";
        break;
      }
    }
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

}  // namespace kiln::codegen::cuda
