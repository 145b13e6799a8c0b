#include "codegen/llvm/emit.hpp"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <tuple>
#include <utility>

#include "codegen/llvm/jit.hpp"
#include "ir/interp_util.hpp"

// Runtime helpers: the interpreter's scalar code, called per element for the
// functions libm lacks (exact agreement with the oracle by construction).
extern "C" {
double kiln_rt_erfinv(double v) { return kiln::ir::interp::erfinv_scalar(v); }
double kiln_rt_lgamma(double v) { return kiln::ir::interp::lgamma_scalar(v); }
double kiln_rt_digamma(double v) { return kiln::ir::interp::digamma_scalar(v); }
double kiln_rt_polygamma(std::int64_t n, double v) {
  return kiln::ir::interp::polygamma_scalar(static_cast<int>(n), v);
}
std::int64_t kiln_rt_pow_i64(std::int64_t a, std::int64_t b) { return kiln::ir::interp::pow_int_scalar(a, b); }
}

namespace kiln::codegen {

void define_kernel_helpers(Jit& jit) {
  jit.define_symbol("kiln_rt_erfinv", reinterpret_cast<void*>(&kiln_rt_erfinv));
  jit.define_symbol("kiln_rt_lgamma", reinterpret_cast<void*>(&kiln_rt_lgamma));
  jit.define_symbol("kiln_rt_digamma", reinterpret_cast<void*>(&kiln_rt_digamma));
  jit.define_symbol("kiln_rt_polygamma", reinterpret_cast<void*>(&kiln_rt_polygamma));
  jit.define_symbol("kiln_rt_pow_i64", reinterpret_cast<void*>(&kiln_rt_pow_i64));
}

namespace {

using ir::OpCode;
using llvm::Value;
namespace Intr = llvm::Intrinsic;

// Emits the element expressions of one kernel with an IRBuilder.
class ElementEmitter {
 public:
  ElementEmitter(llvm::Module& m, llvm::IRBuilder<>& b) : m_(m), b_(b), c_(m.getContext()) {}

  // The type a dtype has in memory and the one it computes in.
  llvm::Type* mem_type(DType t) const {
    switch (t) {
      case DType::Bool: case DType::I8: case DType::U8: return b_.getInt8Ty();
      case DType::I16: case DType::BF16: return b_.getInt16Ty();
      case DType::I32: return b_.getInt32Ty();
      case DType::I64: return b_.getInt64Ty();
      case DType::F16: return b_.getHalfTy();
      case DType::F32: return b_.getFloatTy();
      case DType::F64: return b_.getDoubleTy();
    }
    KILN_UNREACHABLE("no memory type");
  }
  llvm::Type* compute_type(DType t) const {
    switch (t) {
      case DType::Bool: return b_.getInt1Ty();
      case DType::F16: case DType::BF16: case DType::F32: return b_.getFloatTy();
      default: return mem_type(t);
    }
  }

  Value* load(DType t, Value* ptr) {
    Value* v = b_.CreateLoad(mem_type(t), ptr);
    switch (t) {
      case DType::Bool: return b_.CreateICmpNE(v, b_.getInt8(0));
      case DType::F16: return b_.CreateFPExt(v, b_.getFloatTy());
      case DType::BF16:
        return b_.CreateBitCast(b_.CreateShl(b_.CreateZExt(v, b_.getInt32Ty()), 16), b_.getFloatTy());
      default: return v;
    }
  }
  void store(DType t, Value* v, Value* ptr) {
    switch (t) {
      case DType::Bool: v = b_.CreateZExt(v, b_.getInt8Ty()); break;
      case DType::F16: v = b_.CreateFPTrunc(v, b_.getHalfTy()); break;  // exact: already rounded
      case DType::BF16:
        v = b_.CreateTrunc(b_.CreateLShr(b_.CreateBitCast(v, b_.getInt32Ty()), 16), b_.getInt16Ty());
        break;
      default: break;
    }
    b_.CreateStore(v, ptr);
  }

  Value* constant(const KernelExpr& e) {
    llvm::Type* ty = compute_type(e.dtype);
    if (is_float(e.dtype)) return llvm::ConstantFP::get(ty, e.dtype == DType::F64 ? e.fvalue : static_cast<float>(e.fvalue));
    if (e.dtype == DType::Bool) return b_.getInt1(e.ivalue != 0);
    return llvm::ConstantInt::get(ty, static_cast<std::uint64_t>(e.ivalue), true);
  }

  // One op; `a` holds the argument values, `from` the dtype they compute on.
  Value* op(const KernelExpr& e, DType from, const std::vector<Value*>& a) {
    Value* r = is_float(from) || e.op == OpCode::Where ? float_or_where(e, from, a) : nullptr;
    if (!r) r = integer_op(e, from, a);
    return r;
  }

 private:
  // ---- helpers ----
  llvm::Constant* fc(llvm::Type* t, double v) { return llvm::ConstantFP::get(t, v); }
  Value* un(Intr::ID id, Value* x) { return b_.CreateUnaryIntrinsic(id, x); }
  // libm by name: float calls get the "f" suffix (libmvec maps both).
  Value* libm(const char* name, std::vector<Value*> args) {
    llvm::Type* t = args[0]->getType();
    std::string fn = std::string(name) + (t->isFloatTy() ? "f" : "");
    std::vector<llvm::Type*> params(args.size(), t);
    llvm::FunctionCallee callee = m_.getOrInsertFunction(fn, llvm::FunctionType::get(t, params, false));
    if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
      f->setDoesNotThrow();
      f->addFnAttr(llvm::Attribute::WillReturn);
      f->setMemoryEffects(llvm::MemoryEffects::none());  // errno is never read
    }
    return b_.CreateCall(callee, args);
  }
  // A helper of libkiln taking and returning double, for a result of dtype
  // `out`. f16/bf16 results are rounded to f32 by rounding to odd, so that
  // the later rounding to the dtype is the only one (as the interpreter
  // does); a plain f32 rounding first would round some values twice
  // (lgamma(0.0002685) in f16: 8.21875 instead of 8.2265625).
  Value* helper(const char* name, DType out, Value* x, Value* extra = nullptr) {
    llvm::Type* t = x->getType();
    llvm::Type* d = b_.getDoubleTy();
    std::vector<llvm::Type*> params;
    std::vector<Value*> args;
    if (extra) {
      params.push_back(extra->getType());
      args.push_back(extra);
    }
    params.push_back(d);
    args.push_back(t->isDoubleTy() ? x : b_.CreateFPExt(x, d));
    llvm::FunctionCallee callee = m_.getOrInsertFunction(name, llvm::FunctionType::get(d, params, false));
    if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
      f->setDoesNotThrow();
      f->addFnAttr(llvm::Attribute::WillReturn);
      f->setMemoryEffects(llvm::MemoryEffects::none());
    }
    Value* r = b_.CreateCall(callee, args);
    if (t->isDoubleTy()) return r;
    return out == DType::F16 || out == DType::BF16 ? to_float_odd(r) : b_.CreateFPTrunc(r, t);
  }
  Value* isnan(Value* x) { return b_.CreateFCmpUNO(x, x); }
  // The interpreter's maximum_f/minimum_f: a NaN on either side wins; on
  // equal values (±0) the second operand.
  Value* fmax(Value* x, Value* y) { return b_.CreateSelect(b_.CreateOr(b_.CreateFCmpOGT(x, y), isnan(x)), x, y); }
  Value* fmin(Value* x, Value* y) { return b_.CreateSelect(b_.CreateOr(b_.CreateFCmpOLT(x, y), isnan(x)), x, y); }

 public:
  // A float (computed as f32) rounded to f16/bf16 and widened back.
  Value* round_to(DType t, Value* v) {
    if (t == DType::F16) return b_.CreateFPExt(b_.CreateFPTrunc(v, b_.getHalfTy()), b_.getFloatTy());
    if (t != DType::BF16) return v;
    // ml_dtypes: nearest even; NaN → the quiet NaN 0x7fc0 with the sign.
    llvm::Type* i32 = b_.getInt32Ty();
    Value* bits = b_.CreateBitCast(v, i32);
    Value* lsb = b_.CreateAnd(b_.CreateLShr(bits, 16), 1);
    Value* rounded = b_.CreateAnd(b_.CreateAdd(bits, b_.CreateAdd(lsb, b_.getInt32(0x7fff))), b_.getInt32(0xffff0000u));
    Value* nan = b_.CreateOr(b_.CreateAnd(bits, b_.getInt32(0x80000000u)), b_.getInt32(0x7fc00000u));
    return b_.CreateBitCast(b_.CreateSelect(isnan(v), nan, rounded), b_.getFloatTy());
  }
  // double → float rounding to odd (the interpreter's to_float_odd): a
  // second rounding to f16/bf16 is then correct.
  Value* to_float_odd(Value* d) {
    llvm::Type* f32 = b_.getFloatTy();
    llvm::Type* i32 = b_.getInt32Ty();
    Value* f = b_.CreateFPTrunc(d, f32);
    Value* back = b_.CreateFPExt(f, d->getType());
    Value* finite = b_.CreateFCmpOLT(un(Intr::fabs, d), fc(d->getType(), INFINITY));
    Value* away = b_.CreateFCmpOGT(un(Intr::fabs, back), un(Intr::fabs, d));
    Value* fb = b_.CreateBitCast(f, i32);
    Value* toward = b_.CreateSelect(away, b_.CreateSub(fb, b_.getInt32(1)), fb);  // |f| > 0 here
    Value* odd = b_.CreateOr(toward, b_.getInt32(1));
    Value* inexact = b_.CreateAnd(finite, b_.CreateFCmpUNE(back, d));
    return b_.CreateSelect(inexact, b_.CreateBitCast(odd, f32), f);
  }

 private:
  Value* float_or_where(const KernelExpr& e, DType from, const std::vector<Value*>& a) {
    Value* x = a.empty() ? nullptr : a[0];
    llvm::Type* t = x ? x->getType() : nullptr;
    switch (e.op) {
      // unary
      case OpCode::Neg: return b_.CreateFNeg(x);
      case OpCode::Abs: return un(Intr::fabs, x);
      case OpCode::Sign: {
        Value* s = b_.CreateSelect(b_.CreateFCmpOGT(x, fc(t, 0)), fc(t, 1),
                                   b_.CreateSelect(b_.CreateFCmpOLT(x, fc(t, 0)), fc(t, -1), fc(t, 0)));
        return b_.CreateSelect(isnan(x), x, s);
      }
      case OpCode::Square: return b_.CreateFMul(x, x);
      case OpCode::Floor: return un(Intr::floor, x);
      case OpCode::Ceil: return un(Intr::ceil, x);
      case OpCode::Round: return un(Intr::roundeven, x);
      case OpCode::Trunc: return un(Intr::trunc, x);
      case OpCode::Exp: return libm("exp", {x});
      case OpCode::Exp2: return libm("exp2", {x});
      case OpCode::Expm1: return libm("expm1", {x});
      case OpCode::Log: return libm("log", {x});
      case OpCode::Log2: return libm("log2", {x});
      case OpCode::Log10: return libm("log10", {x});
      case OpCode::Log1p: return libm("log1p", {x});
      case OpCode::Log1mexp: {
        // x > -ln 2: log(-expm1(x)); else log1p(-exp(x)); x > 0: NaN.
        Value* near = libm("log", {b_.CreateFNeg(libm("expm1", {x}))});
        Value* far = libm("log1p", {b_.CreateFNeg(libm("exp", {x}))});
        Value* r = b_.CreateSelect(b_.CreateFCmpOGT(x, fc(t, -std::numbers::ln2)), near, far);
        return b_.CreateSelect(b_.CreateFCmpOGT(x, fc(t, 0)), fc(t, NAN), r);
      }
      case OpCode::Sqrt: return un(Intr::sqrt, x);
      case OpCode::Rsqrt: return b_.CreateFDiv(fc(t, 1), un(Intr::sqrt, x));
      case OpCode::Reciprocal: return b_.CreateFDiv(fc(t, 1), x);
      case OpCode::Sin: return libm("sin", {x});
      case OpCode::Cos: return libm("cos", {x});
      case OpCode::Tan: return libm("tan", {x});
      case OpCode::Asin: return libm("asin", {x});
      case OpCode::Acos: return libm("acos", {x});
      case OpCode::Atan: return libm("atan", {x});
      case OpCode::Sinh: return libm("sinh", {x});
      case OpCode::Cosh: return libm("cosh", {x});
      case OpCode::Tanh: return libm("tanh", {x});
      case OpCode::Asinh: return libm("asinh", {x});
      case OpCode::Acosh: return libm("acosh", {x});
      case OpCode::Atanh: return libm("atanh", {x});
      case OpCode::Sigmoid: {
        // x >= 0: 1 / (1 + e^-x); else e^x / (1 + e^x) — one exp of -|x|.
        Value* ex = libm("exp", {b_.CreateFNeg(un(Intr::fabs, x))});
        Value* den = b_.CreateFAdd(fc(t, 1), ex);
        return b_.CreateSelect(b_.CreateFCmpOGE(x, fc(t, 0)), b_.CreateFDiv(fc(t, 1), den), b_.CreateFDiv(ex, den));
      }
      case OpCode::Softplus: {
        // x > 0: x + log1p(e^-x); else log1p(e^x).
        Value* l = libm("log1p", {libm("exp", {b_.CreateFNeg(un(Intr::fabs, x))})});
        Value* pos = b_.CreateFCmpOGT(x, fc(t, 0));
        return b_.CreateSelect(pos, b_.CreateFAdd(x, l), l);
      }
      case OpCode::Erf: return libm("erf", {x});
      case OpCode::Erfc: return libm("erfc", {x});
      case OpCode::Erfinv: return helper("kiln_rt_erfinv", e.dtype, x);
      case OpCode::Lgamma: return helper("kiln_rt_lgamma", e.dtype, x);
      case OpCode::Digamma: return helper("kiln_rt_digamma", e.dtype, x);
      case OpCode::Polygamma:
        return helper("kiln_rt_polygamma", e.dtype, x, b_.getInt64(static_cast<std::uint64_t>(e.attr)));
      case OpCode::StopGradient: return x;
      case OpCode::IsNan: return isnan(x);
      case OpCode::IsInf: return b_.CreateFCmpOEQ(un(Intr::fabs, x), fc(t, INFINITY));
      case OpCode::IsFinite: return b_.CreateFCmpOLT(un(Intr::fabs, x), fc(t, INFINITY));
      case OpCode::Cast: return cast(x, from, e.dtype);
      // binary
      case OpCode::Add: return b_.CreateFAdd(a[0], a[1]);
      case OpCode::Sub: return b_.CreateFSub(a[0], a[1]);
      case OpCode::Mul: return b_.CreateFMul(a[0], a[1]);
      case OpCode::Div: return b_.CreateFDiv(a[0], a[1]);
      case OpCode::FloorDiv: {
        // NumPy's npy_divmod (the interpreter's floor_div_f).
        Value *p = a[0], *q = a[1];
        Value* quot = b_.CreateFDiv(p, q);
        Value* mod = b_.CreateFRem(p, q);
        Value* div = b_.CreateFDiv(b_.CreateFSub(p, mod), q);
        Value* fix = b_.CreateAnd(b_.CreateFCmpUNE(mod, fc(t, 0)),
                                  b_.CreateXor(b_.CreateFCmpOLT(q, fc(t, 0)), b_.CreateFCmpOLT(mod, fc(t, 0))));
        div = b_.CreateSelect(fix, b_.CreateFSub(div, fc(t, 1)), div);
        Value* fl = un(Intr::floor, div);
        fl = b_.CreateSelect(b_.CreateFCmpOGT(b_.CreateFSub(div, fl), fc(t, 0.5)), b_.CreateFAdd(fl, fc(t, 1)), fl);
        Value* zero = b_.CreateBinaryIntrinsic(Intr::copysign, fc(t, 0), quot);
        Value* r = b_.CreateSelect(b_.CreateFCmpOEQ(div, fc(t, 0)), zero, fl);
        return b_.CreateSelect(b_.CreateFCmpOEQ(q, fc(t, 0)), quot, r);
      }
      case OpCode::Mod: {
        // np.remainder: the sign of the divisor (the interpreter's mod_f).
        Value *p = a[0], *q = a[1];
        Value* mod = b_.CreateFRem(p, q);
        Value* flip = b_.CreateXor(b_.CreateFCmpOLT(q, fc(t, 0)), b_.CreateFCmpOLT(mod, fc(t, 0)));
        Value* nz = b_.CreateSelect(flip, b_.CreateFAdd(mod, q), mod);
        Value* r = b_.CreateSelect(b_.CreateFCmpUNE(mod, fc(t, 0)), nz,
                                   b_.CreateBinaryIntrinsic(Intr::copysign, fc(t, 0), q));
        return b_.CreateSelect(b_.CreateFCmpOEQ(q, fc(t, 0)), mod, r);
      }
      case OpCode::Pow: return libm("pow", {a[0], a[1]});
      case OpCode::Maximum: return fmax(a[0], a[1]);
      case OpCode::Minimum: return fmin(a[0], a[1]);
      case OpCode::Atan2: return libm("atan2", {a[0], a[1]});
      case OpCode::Eq: return b_.CreateFCmpOEQ(a[0], a[1]);
      case OpCode::Ne: return b_.CreateFCmpUNE(a[0], a[1]);
      case OpCode::Lt: return b_.CreateFCmpOLT(a[0], a[1]);
      case OpCode::Le: return b_.CreateFCmpOLE(a[0], a[1]);
      case OpCode::Gt: return b_.CreateFCmpOGT(a[0], a[1]);
      case OpCode::Ge: return b_.CreateFCmpOGE(a[0], a[1]);
      case OpCode::Where: return b_.CreateSelect(a[0], a[1], a[2]);
      case OpCode::Clip: return fmin(fmax(a[0], a[1]), a[2]);
      default: break;
    }
    KILN_UNREACHABLE("no float lowering for " << ir::op_name(e.op) << " on " << dtype_name(from));
  }

  Value* integer_op(const KernelExpr& e, DType from, const std::vector<Value*>& a) {
    const bool uns = from == DType::U8 || from == DType::Bool;  // compared as unsigned
    Value* x = a[0];
    llvm::Type* t = x->getType();
    const unsigned bits = t->getIntegerBitWidth();
    auto zero = [&] { return llvm::ConstantInt::get(t, 0); };
    auto lt0 = [&](Value* v) -> Value* { return uns ? b_.getFalse() : b_.CreateICmpSLT(v, zero()); };
    switch (e.op) {
      case OpCode::Neg: return b_.CreateSub(zero(), x);
      case OpCode::Abs: return uns ? x : b_.CreateSelect(lt0(x), b_.CreateSub(zero(), x), x);
      case OpCode::Sign: {
        Value* pos = uns ? b_.CreateICmpNE(x, zero()) : b_.CreateICmpSGT(x, zero());
        return b_.CreateSub(b_.CreateZExt(pos, t), b_.CreateZExt(lt0(x), t));
      }
      case OpCode::Square: return b_.CreateMul(x, x);
      case OpCode::Floor: case OpCode::Ceil: case OpCode::Round: case OpCode::Trunc: case OpCode::StopGradient:
        return x;
      case OpCode::LogicalNot: case OpCode::BitwiseNot: return b_.CreateNot(x);  // bool: logical
      case OpCode::IsNan: case OpCode::IsInf: return b_.getFalse();
      case OpCode::IsFinite: return b_.getTrue();
      case OpCode::Cast: return cast(x, from, e.dtype);
      case OpCode::Add: return b_.CreateAdd(a[0], a[1]);  // wraps: no nsw/nuw
      case OpCode::Sub: return b_.CreateSub(a[0], a[1]);
      case OpCode::Mul: return b_.CreateMul(a[0], a[1]);
      case OpCode::FloorDiv: case OpCode::Mod: {
        Value *p = a[0], *q = a[1];
        Value* by0 = b_.CreateICmpEQ(q, zero());
        if (uns) {
          Value* safe = b_.CreateSelect(by0, llvm::ConstantInt::get(t, 1), q);
          Value* r = e.op == OpCode::FloorDiv ? b_.CreateUDiv(p, safe) : b_.CreateURem(p, safe);
          return b_.CreateSelect(by0, zero(), r);
        }
        Value* bym1 = b_.CreateICmpEQ(q, llvm::ConstantInt::get(t, static_cast<std::uint64_t>(-1), true));
        Value* safe = b_.CreateSelect(b_.CreateOr(by0, bym1), llvm::ConstantInt::get(t, 1), q);
        Value* quo = b_.CreateSDiv(p, safe);
        Value* rem = b_.CreateSRem(p, safe);
        if (e.op == OpCode::FloorDiv) {
          Value* fix = b_.CreateAnd(b_.CreateICmpNE(rem, zero()), b_.CreateXor(lt0(p), lt0(q)));
          Value* r = b_.CreateSub(quo, b_.CreateZExt(fix, t));
          r = b_.CreateSelect(bym1, b_.CreateSub(zero(), p), r);
          return b_.CreateSelect(by0, zero(), r);
        }
        Value* fix = b_.CreateAnd(b_.CreateICmpNE(rem, zero()), b_.CreateXor(lt0(rem), lt0(q)));
        Value* r = b_.CreateSelect(fix, b_.CreateAdd(rem, q), rem);
        return b_.CreateSelect(b_.CreateOr(by0, bym1), zero(), r);
      }
      case OpCode::Pow: {
        llvm::Type* i64 = b_.getInt64Ty();
        auto widen = [&](Value* v) { return uns ? b_.CreateZExt(v, i64) : b_.CreateSExt(v, i64); };
        llvm::FunctionCallee callee =
            m_.getOrInsertFunction("kiln_rt_pow_i64", llvm::FunctionType::get(i64, {i64, i64}, false));
        if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
          f->setDoesNotThrow();
          f->addFnAttr(llvm::Attribute::WillReturn);
          f->setMemoryEffects(llvm::MemoryEffects::none());
        }
        return b_.CreateTrunc(b_.CreateCall(callee, {widen(a[0]), widen(a[1])}), t);
      }
      case OpCode::Maximum: return b_.CreateBinaryIntrinsic(uns ? Intr::umax : Intr::smax, a[0], a[1]);
      case OpCode::Minimum: return b_.CreateBinaryIntrinsic(uns ? Intr::umin : Intr::smin, a[0], a[1]);
      case OpCode::LogicalAnd: case OpCode::BitwiseAnd: return b_.CreateAnd(a[0], a[1]);
      case OpCode::LogicalOr: case OpCode::BitwiseOr: return b_.CreateOr(a[0], a[1]);
      case OpCode::LogicalXor: case OpCode::BitwiseXor: return b_.CreateXor(a[0], a[1]);
      case OpCode::LeftShift: case OpCode::RightShift: {
        Value *p = a[0], *s = a[1];
        Value* width = llvm::ConstantInt::get(t, bits);
        Value* in_range = uns ? b_.CreateICmpULT(s, width)
                              : b_.CreateAnd(b_.CreateICmpSGE(s, zero()), b_.CreateICmpSLT(s, width));
        Value* safe = b_.CreateSelect(in_range, s, zero());
        if (e.op == OpCode::LeftShift) return b_.CreateSelect(in_range, b_.CreateShl(p, safe), zero());
        if (uns) return b_.CreateSelect(in_range, b_.CreateLShr(p, safe), zero());
        return b_.CreateAShr(p, b_.CreateSelect(in_range, s, llvm::ConstantInt::get(t, bits - 1)));
      }
      case OpCode::Eq: return b_.CreateICmpEQ(a[0], a[1]);
      case OpCode::Ne: return b_.CreateICmpNE(a[0], a[1]);
      case OpCode::Lt: return uns ? b_.CreateICmpULT(a[0], a[1]) : b_.CreateICmpSLT(a[0], a[1]);
      case OpCode::Le: return uns ? b_.CreateICmpULE(a[0], a[1]) : b_.CreateICmpSLE(a[0], a[1]);
      case OpCode::Gt: return uns ? b_.CreateICmpUGT(a[0], a[1]) : b_.CreateICmpSGT(a[0], a[1]);
      case OpCode::Ge: return uns ? b_.CreateICmpUGE(a[0], a[1]) : b_.CreateICmpSGE(a[0], a[1]);
      case OpCode::Clip: {
        Value* lo = b_.CreateBinaryIntrinsic(uns ? Intr::umax : Intr::smax, a[0], a[1]);
        return b_.CreateBinaryIntrinsic(uns ? Intr::umin : Intr::smin, lo, a[2]);
      }
      default: break;
    }
    KILN_UNREACHABLE("no integer lowering for " << ir::op_name(e.op) << " on " << dtype_name(from));
  }

  // Cast's semantics (docs/ops.md): float → int truncates, saturates and maps
  // NaN to 0; → bool is != 0 (NaN → true); int → float rounds once.
  Value* cast(Value* x, DType from, DType to) {
    llvm::Type* tt = compute_type(to);
    const bool ff = is_float(from), tf = is_float(to);
    if (ff && tf) {
      if (to == DType::F64) return from == DType::F64 ? x : b_.CreateFPExt(x, tt);
      if (from == DType::F64) x = to == DType::F32 ? b_.CreateFPTrunc(x, tt) : to_float_odd(x);
      return round_to(to, x);
    }
    if (ff) {
      if (to == DType::Bool) return b_.CreateFCmpUNE(x, fc(x->getType(), 0));
      return b_.CreateIntrinsic(to == DType::U8 ? Intr::fptoui_sat : Intr::fptosi_sat, {tt, x->getType()}, {x});
    }
    const bool uns = from == DType::U8 || from == DType::Bool;
    if (tf) {
      if (to == DType::F64 || to == DType::F32) return uns ? b_.CreateUIToFP(x, tt) : b_.CreateSIToFP(x, tt);
      Value* d = uns ? b_.CreateUIToFP(x, b_.getDoubleTy()) : b_.CreateSIToFP(x, b_.getDoubleTy());
      return round_to(to, to_float_odd(d));
    }
    if (to == DType::Bool) return b_.CreateICmpNE(x, llvm::ConstantInt::get(x->getType(), 0));
    const unsigned fb = x->getType()->getIntegerBitWidth(), tb = tt->getIntegerBitWidth();
    if (fb == tb) return x;
    if (fb > tb) return b_.CreateTrunc(x, tt);
    return uns ? b_.CreateZExt(x, tt) : b_.CreateSExt(x, tt);
  }

  llvm::Module& m_;
  llvm::IRBuilder<>& b_;
  llvm::LLVMContext& c_;
};

// ---- reduction kernels ----

// Marks an elementwise kernel's inner loop as free of loop-carried memory
// dependences (llvm.loop.parallel_accesses), so it vectorises without
// run-time overlap checks. True for every kernel the executor runs: the
// output is a fresh buffer, or exactly the buffer of an input read with the
// same strides (in place: element j is read before element j is written,
// and by no other iteration). Without this, an in-place kernel failed
// LLVM's overlap check and ran its scalar fallback loop.
void mark_parallel(llvm::Function* f, llvm::BasicBlock* header, std::size_t first_new_block, llvm::BranchInst* back) {
  llvm::LLVMContext& c = f->getContext();
  llvm::MDNode* group = llvm::MDNode::getDistinct(c, {});
  auto mark = [&](llvm::BasicBlock& bb) {
    for (llvm::Instruction& ins : bb)
      if (llvm::isa<llvm::LoadInst>(ins) || llvm::isa<llvm::StoreInst>(ins))
        ins.setMetadata(llvm::LLVMContext::MD_access_group, group);
  };
  mark(*header);
  std::size_t i = 0;
  for (llvm::BasicBlock& bb : *f)
    if (i++ >= first_new_block) mark(bb);
  llvm::Metadata* parallel[] = {llvm::MDString::get(c, "llvm.loop.parallel_accesses"), group};
  llvm::TempMDTuple tmp = llvm::MDTuple::getTemporary(c, {});
  llvm::Metadata* ops[] = {tmp.get(), llvm::MDNode::get(c, parallel)};
  llvm::MDNode* loop = llvm::MDNode::getDistinct(c, ops);
  loop->replaceOperandWith(0, loop);
  back->setMetadata(llvm::LLVMContext::MD_loop, loop);
}

// A counted loop `for (i = 0; i < n; ++i)` carrying values, guarded (n may
// be 0): begin() leaves the builder in the body, end() after the loop, with
// the carried values' final ones.
class Loop {
 public:
  Loop(llvm::IRBuilder<>& b, llvm::Function* f, Value* n, std::vector<Value*> init, const char* name)
      : b_(b), n_(n), init_(std::move(init)) {
    llvm::LLVMContext& c = b.getContext();
    pre_ = b.GetInsertBlock();
    body_ = llvm::BasicBlock::Create(c, name, f);
    exit_ = llvm::BasicBlock::Create(c, std::string(name) + ".end", f);
    b.CreateCondBr(b.CreateICmpSGT(n, b.getInt64(0)), body_, exit_);
    b.SetInsertPoint(body_);
    i_ = b.CreatePHI(b.getInt64Ty(), 2);
    i_->addIncoming(b.getInt64(0), pre_);
    for (Value* v : init_) {
      llvm::PHINode* p = b.CreatePHI(v->getType(), 2);
      p->addIncoming(v, pre_);
      carried_.push_back(p);
    }
  }
  Value* index() const { return i_; }
  Value* carried(std::size_t c) const { return carried_[c]; }
  std::vector<Value*> end(const std::vector<Value*>& next) {
    llvm::BasicBlock* latch = b_.GetInsertBlock();
    Value* i1 = b_.CreateAdd(i_, b_.getInt64(1), "", true, true);
    i_->addIncoming(i1, latch);
    for (std::size_t c = 0; c < carried_.size(); ++c) carried_[c]->addIncoming(next[c], latch);
    b_.CreateCondBr(b_.CreateICmpSLT(i1, n_), body_, exit_);
    b_.SetInsertPoint(exit_);
    std::vector<Value*> out;
    for (std::size_t c = 0; c < carried_.size(); ++c) {
      llvm::PHINode* p = b_.CreatePHI(init_[c]->getType(), 2);
      p->addIncoming(init_[c], pre_);
      p->addIncoming(next[c], latch);
      out.push_back(p);
    }
    return out;
  }

 private:
  llvm::IRBuilder<>& b_;
  Value* n_;
  std::vector<Value*> init_;
  llvm::BasicBlock *pre_, *body_, *exit_;
  llvm::PHINode* i_;
  std::vector<llvm::PHINode*> carried_;
};

// Emits a kernel with reduced dims (codegen/kernel.hpp's phases).
//
// Innermost dim reduced (row softmax, row sums): a row is one kept index;
// per row, phase p loops over the row's elements (the outer reduced dims,
// then a contiguous inner loop), folding into scalar accumulators that
// vectorise (float sum/prod with `reassoc`; max/min as llvm.maximum and
// llvm.minimum, which propagate NaN like the interpreter). Per-row values
// are scalars.
//
// Innermost dim kept (column sums of gradients): a row is one index of the
// kept dims but the innermost and one chunk of kKeptInnerBlock indices of
// the innermost dim (so threads split the work at chunks); phase p loops over every reduced index and, inside, over
// the chunk's contiguous elements, folding into per-element accumulator
// arrays on the stack. Per-row values live in such arrays too. The inner loop
// stays contiguous and vectorises without reassociation.
class ReductionEmitter {
 public:
  static constexpr std::int64_t kChunk = kKeptInnerBlock;

  ReductionEmitter(const Kernel& k, llvm::Function* f, llvm::IRBuilder<>& b, ElementEmitter& em)
      : k_(k), f_(f), b_(b), em_(em), ph_(kernel_phases(k)), r_(static_cast<std::size_t>(k.rank)), nops_(k.operands.size()) {}

  void emit(const std::vector<Value*>& data, const std::vector<std::vector<Value*>>& strides,
            const std::vector<Value*>& shape, Value* row_begin, Value* row_end, llvm::BasicBlock* exit) {
    data_ = data;
    strides_ = strides;
    shape_ = shape;
    llvm::LLVMContext& c = b_.getContext();
    Value* fast = b_.getTrue();
    for (std::size_t o = 0; o < nops_; ++o)
      if (inner_moves(o)) fast = b_.CreateAnd(fast, b_.CreateICmpEQ(strides_[o].back(), b_.getInt64(1)));
    // Elements per row, for mean.
    count_ = b_.getInt64(1);
    for (std::size_t d = 0; d < r_; ++d)
      if (k_.reduced[d]) count_ = b_.CreateMul(count_, shape_[d]);
    if (!k_.inner_reduced()) make_arrays();
    auto* fast_bb = llvm::BasicBlock::Create(c, "fast", f_);
    auto* slow_bb = llvm::BasicBlock::Create(c, "strided", f_);
    b_.CreateCondBr(fast, fast_bb, slow_bb);
    for (bool contiguous : {true, false}) {
      b_.SetInsertPoint(contiguous ? fast_bb : slow_bb);
      contiguous_ = contiguous;
      Loop rows(b_, f_, b_.CreateSub(row_end, row_begin), {}, contiguous ? "rows.fast" : "rows.strided");
      Value* row = b_.CreateAdd(row_begin, rows.index());
      // The row's kept index: every kept dim (inner reduced) or all but the
      // innermost (inner kept), in C order.
      std::vector<int> dims;
      for (std::size_t d = 0; d + (k_.inner_reduced() ? 0 : 1) < r_; ++d)
        if (!k_.reduced[d]) dims.push_back(static_cast<int>(d));
      if (k_.inner_reduced()) {
        emit_row_inner_reduced(offset(data_, row, dims));
      } else {
        // A row is also one block of the innermost dim (kernel.hpp's ABI).
        Value* blocks = b_.CreateUDiv(b_.CreateAdd(shape_.back(), b_.getInt64(kKeptInnerBlock - 1)),
                                      b_.getInt64(kKeptInnerBlock));
        emit_row_inner_kept(offset(data_, b_.CreateUDiv(row, blocks), dims), b_.CreateURem(row, blocks));
      }
      rows.end({});
      b_.CreateBr(exit);
    }
  }

 private:
  bool inner_moves(std::size_t o) const { return !k_.operands[o].broadcast.back(); }
  llvm::Type* mem(std::size_t o) const { return em_.mem_type(k_.operands[o].dtype); }
  const KernelExpr& expr(int i) const { return k_.body[static_cast<std::size_t>(i)]; }

  // Operand pointers `base` advanced to the flat index `idx` over `dims`
  // (C order; the index is split with div/rem over the dims' sizes).
  std::vector<Value*> offset(const std::vector<Value*>& base, Value* idx, const std::vector<int>& dims) {
    std::vector<Value*> off(nops_, nullptr);
    Value* rem = idx;
    for (std::size_t i = dims.size(); i-- > 0;) {
      const auto d = static_cast<std::size_t>(dims[i]);
      Value* at = i == 0 ? rem : b_.CreateURem(rem, shape_[d]);
      if (i > 0) rem = b_.CreateUDiv(rem, shape_[d]);
      for (std::size_t o = 0; o < nops_; ++o)
        if (strides_[o][d]) {
          Value* t = b_.CreateMul(at, strides_[o][d]);
          off[o] = off[o] ? b_.CreateAdd(off[o], t) : t;
        }
    }
    std::vector<Value*> out(nops_);
    for (std::size_t o = 0; o < nops_; ++o) out[o] = off[o] ? b_.CreateGEP(mem(o), base[o], off[o]) : base[o];
    return out;
  }
  Value* size_of(const std::vector<int>& dims) {
    Value* n = b_.getInt64(1);
    for (int d : dims) n = b_.CreateMul(n, shape_[static_cast<std::size_t>(d)]);
    return n;
  }
  // Element `j` along the innermost dim from `base`.
  Value* at_inner(const std::vector<Value*>& base, std::size_t o, Value* j) {
    if (!inner_moves(o)) return base[o];
    return b_.CreateGEP(mem(o), base[o], contiguous_ ? j : b_.CreateMul(j, strides_[o].back()));
  }

  // One expression from its arguments in `v`; `ptr(o)` is operand o's element.
  template <class Ptr>
  Value* compute(std::size_t i, const std::vector<Value*>& v, Ptr&& ptr) {
    const KernelExpr& e = k_.body[i];
    switch (e.kind) {
      case KernelExpr::Kind::Load: return em_.load(e.dtype, ptr(static_cast<std::size_t>(e.operand)));
      case KernelExpr::Kind::Const: return em_.constant(e);
      case KernelExpr::Kind::Op: {
        std::vector<Value*> args;
        for (int a : e.args) args.push_back(v[static_cast<std::size_t>(a)]);
        return em_.round_to(e.dtype, em_.op(e, operand_dtype(k_, e), args));
      }
      case KernelExpr::Kind::Reduce: break;
    }
    KILN_UNREACHABLE("a reduction computed as an element");
  }

  // ---- accumulators ----
  DType in_dtype(const KernelExpr& e) const { return operand_dtype(k_, e); }
  static bool unsigned_int(DType t) { return t == DType::U8 || t == DType::Bool; }
  static bool is_arg(const KernelExpr& e) { return e.op == OpCode::Argmax || e.op == OpCode::Argmin; }
  // The value accumulator's start (argmax/argmin: the best value so far;
  // their index accumulator starts at 0, which is also the answer when no
  // element beats the start, e.g. a row of -inf).
  Value* acc_init(const KernelExpr& e) {
    const DType t = in_dtype(e);
    llvm::Type* ty = em_.compute_type(t);
    if (is_float(t)) {
      switch (e.op) {
        case OpCode::Prod: return llvm::ConstantFP::get(ty, 1.0);
        case OpCode::Max: case OpCode::Argmax: return llvm::ConstantFP::getInfinity(ty, true);
        case OpCode::Min: case OpCode::Argmin: return llvm::ConstantFP::getInfinity(ty, false);
        default: return llvm::ConstantFP::get(ty, 0.0);
      }
    }
    const unsigned bits = ty->getIntegerBitWidth();
    switch (e.op) {
      case OpCode::Prod: return llvm::ConstantInt::get(ty, 1);
      case OpCode::All: return llvm::ConstantInt::getTrue(ty);
      case OpCode::Max: case OpCode::Argmax:
        return unsigned_int(t) ? llvm::ConstantInt::get(ty, 0)
                               : llvm::ConstantInt::get(b_.getContext(), llvm::APInt::getSignedMinValue(bits));
      case OpCode::Min: case OpCode::Argmin:
        return unsigned_int(t) ? llvm::ConstantInt::get(b_.getContext(), llvm::APInt::getMaxValue(bits))
                               : llvm::ConstantInt::get(b_.getContext(), llvm::APInt::getSignedMaxValue(bits));
      default: return llvm::ConstantInt::get(ty, 0);
    }
  }
  Value* combine(const KernelExpr& e, Value* acc, Value* v) {
    const DType t = in_dtype(e);
    if (is_float(t)) {
      llvm::FastMathFlags fm;
      fm.setAllowReassoc();  // only the reduction's own adds/muls: what lets them vectorise
      switch (e.op) {
        case OpCode::Sum: case OpCode::Mean: {
          Value* r = b_.CreateFAdd(acc, v);
          llvm::cast<llvm::Instruction>(r)->setFastMathFlags(fm);
          return r;
        }
        case OpCode::Prod: {
          Value* r = b_.CreateFMul(acc, v);
          llvm::cast<llvm::Instruction>(r)->setFastMathFlags(fm);
          return r;
        }
        case OpCode::Max: return b_.CreateBinaryIntrinsic(Intr::maximum, acc, v);
        case OpCode::Min: return b_.CreateBinaryIntrinsic(Intr::minimum, acc, v);
        default: break;
      }
      KILN_UNREACHABLE("no float reduction " << ir::op_name(e.op));
    }
    const bool uns = unsigned_int(t);
    switch (e.op) {
      case OpCode::Sum: return b_.CreateAdd(acc, v);
      case OpCode::Prod: return b_.CreateMul(acc, v);
      case OpCode::Max: return b_.CreateBinaryIntrinsic(uns ? Intr::umax : Intr::smax, acc, v);
      case OpCode::Min: return b_.CreateBinaryIntrinsic(uns ? Intr::umin : Intr::smin, acc, v);
      case OpCode::All: return b_.CreateAnd(acc, v);
      case OpCode::Any: return b_.CreateOr(acc, v);
      default: break;
    }
    KILN_UNREACHABLE("no integer reduction " << ir::op_name(e.op));
  }
  // argmax/argmin: does element v (at flat reduced index idx) replace the
  // best so far? The interpreter's rule: strictly better, so the first
  // occurrence wins; for floats the first NaN wins and nothing replaces it.
  // Returns the new best value and index.
  std::pair<Value*, Value*> arg_step(const KernelExpr& e, Value* best, Value* best_idx, Value* v, Value* idx) {
    const DType t = in_dtype(e);
    const bool mx = e.op == OpCode::Argmax;
    Value* take;
    if (is_float(t)) {
      Value* better = mx ? b_.CreateFCmpOGT(v, best) : b_.CreateFCmpOLT(v, best);
      take = b_.CreateAnd(b_.CreateFCmpORD(best, best), b_.CreateOr(b_.CreateFCmpUNO(v, v), better));
    } else if (unsigned_int(t)) {
      take = mx ? b_.CreateICmpUGT(v, best) : b_.CreateICmpULT(v, best);
    } else {
      take = mx ? b_.CreateICmpSGT(v, best) : b_.CreateICmpSLT(v, best);
    }
    return {b_.CreateSelect(take, v, best), b_.CreateSelect(take, idx, best_idx)};
  }
  // The reduction's value from its accumulator: mean divides by the count
  // (0/0 = NaN for an empty row, as the interpreter); f16/bf16 round once.
  Value* finish(const KernelExpr& e, Value* acc) {
    if (!is_float(in_dtype(e)) || is_arg(e)) return acc;
    if (e.op == OpCode::Mean) acc = b_.CreateFDiv(acc, b_.CreateSIToFP(count_, acc->getType()));
    return em_.round_to(e.dtype, acc);
  }

  // The reductions of phase p (expression indices).
  std::vector<std::size_t> reductions_of(int p) const {
    std::vector<std::size_t> rs;
    for (std::size_t i = 0; i < k_.body.size(); ++i)
      if (k_.body[i].kind == KernelExpr::Kind::Reduce && ph_.phase[static_cast<std::size_t>(k_.body[i].args[0])] == p)
        rs.push_back(i);
    return rs;
  }
  bool stores_in(int p) const { return !k_.body.back().row && p == ph_.num_phases - 1; }

  // ---- innermost dim reduced ----
  void emit_row_inner_reduced(const std::vector<Value*>& base) {
    std::vector<Value*> v(k_.body.size(), nullptr);  // per-row values
    auto row_ptr = [&](std::size_t o) { return base[o]; };
    for (std::size_t i = 0; i < k_.body.size(); ++i)
      if (k_.body[i].row && ph_.phase[i] == 0) v[i] = compute(i, v, row_ptr);
    std::vector<int> outer;  // the reduced dims but the innermost
    for (std::size_t d = 0; d + 1 < r_; ++d)
      if (k_.reduced[d]) outer.push_back(static_cast<int>(d));
    const std::size_t out = nops_ - 1;
    const int cached = cached_value();
    for (int p = 0; p < ph_.num_phases; ++p) {
      const std::vector<std::size_t> rs = reductions_of(p);
      // Carried: each reduction's accumulator, then argmax/argmin's indices.
      std::vector<Value*> init;
      std::vector<std::size_t> idx_at(rs.size(), 0);
      for (std::size_t i : rs) init.push_back(acc_init(k_.body[i]));
      for (std::size_t a = 0; a < rs.size(); ++a)
        if (is_arg(k_.body[rs[a]])) {
          idx_at[a] = init.size();
          init.push_back(b_.getInt64(0));
        }
      Loop lo(b_, f_, size_of(outer), init, "red.outer");
      const std::vector<Value*> pb = offset(base, lo.index(), outer);
      std::vector<Value*> oacc;
      for (std::size_t a = 0; a < init.size(); ++a) oacc.push_back(lo.carried(a));
      Loop li(b_, f_, shape_.back(), oacc, "red.inner");
      std::vector<Value*> e = v;
      auto ptr = [&](std::size_t o) { return at_inner(pb, o, li.index()); };
      for (std::size_t i = 0; i < k_.body.size(); ++i) {
        if (k_.body[i].row || ph_.phase[i] > p) continue;
        if (stores_in(p) && static_cast<int>(i) == cached) e[i] = em_.load(k_.output().dtype, ptr(out));
        else e[i] = compute(i, e, ptr);
      }
      if (cached >= 0 && p == ph_.num_phases - 2) em_.store(k_.output().dtype, e[static_cast<std::size_t>(cached)], ptr(out));
      std::vector<Value*> next(init.size());
      for (std::size_t a = 0; a < rs.size(); ++a) {
        const KernelExpr& x = k_.body[rs[a]];
        Value* val = e[static_cast<std::size_t>(x.args[0])];
        if (!is_arg(x)) {
          next[a] = combine(x, li.carried(a), val);
          continue;
        }
        Value* flat = b_.CreateAdd(b_.CreateMul(lo.index(), shape_.back()), li.index());
        std::tie(next[a], next[idx_at[a]]) = arg_step(x, li.carried(a), li.carried(idx_at[a]), val, flat);
      }
      if (stores_in(p)) em_.store(k_.output().dtype, e.back(), ptr(out));
      const std::vector<Value*> iacc = li.end(next);
      const std::vector<Value*> acc = lo.end(iacc);
      for (std::size_t a = 0; a < rs.size(); ++a)
        v[rs[a]] = is_arg(k_.body[rs[a]]) ? acc[idx_at[a]] : finish(k_.body[rs[a]], acc[a]);
      for (std::size_t i = 0; i < k_.body.size(); ++i)
        if (k_.body[i].row && !v[i] && ph_.phase[i] <= p + 1) v[i] = compute(i, v, row_ptr);
    }
    if (k_.body.back().row) em_.store(k_.output().dtype, v.back(), base[out]);
  }

  // A per-element value that both the last reduction phase and the store
  // phase compute (softmax's exp(x - max)), worth keeping in the output in
  // between (written by the one, read back from cache by the other) because
  // computing it costs a libm call or more. Needs an output that iterates
  // every dim (one element per index, one row per thread) of the value's
  // dtype, and that no input aliases (the executor allocates it fresh).
  // -1: none.
  int cached_value() const {
    const std::size_t n = k_.body.size();
    if (k_.body.back().row || ph_.num_phases < 2) return -1;
    for (bool b : k_.output().broadcast)
      if (b) return -1;
    // The per-element expressions that `targets` read, directly or not.
    auto cone = [&](std::vector<char> marked) {
      for (std::size_t i = n; i-- > 0;)
        if (marked[i] && !k_.body[i].row)
          for (int a : k_.body[i].args) marked[static_cast<std::size_t>(a)] = !k_.body[static_cast<std::size_t>(a)].row;
      return marked;
    };
    std::vector<char> root(n, 0), red(n, 0);
    root[n - 1] = 1;
    for (std::size_t i : reductions_of(ph_.num_phases - 2)) red[static_cast<std::size_t>(k_.body[i].args[0])] = 1;
    root = cone(root);
    red = cone(red);
    int best = -1;
    std::int64_t best_cost = 15;
    for (std::size_t x = 0; x + 1 < n; ++x) {
      if (!root[x] || !red[x] || k_.body[x].dtype != k_.output().dtype) continue;
      std::vector<char> one(n, 0);
      one[x] = 1;
      one = cone(one);
      std::int64_t cost = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const KernelExpr& e = k_.body[i];
        if (!one[i] || e.kind != KernelExpr::Kind::Op) continue;
        const bool heavy = ir::op_info(e.op).category == ir::OpCategory::UnaryFloat || e.op == OpCode::Pow ||
                           e.op == OpCode::Atan2;
        cost += heavy ? 16 : 1;
      }
      if (cost >= best_cost) {
        best = static_cast<int>(x);
        best_cost = cost;
      }
    }
    return best;
  }

  // ---- innermost dim kept ----
  // Stack arrays of kChunk values: an accumulator per reduction, and one per
  // per-row value computed after a phase.
  void make_arrays() {
    arrays_.assign(k_.body.size(), nullptr);
    values_.assign(k_.body.size(), nullptr);
    array_types_.assign(k_.body.size(), nullptr);
    for (std::size_t i = 0; i < k_.body.size(); ++i) {
      const KernelExpr& e = k_.body[i];
      if (!e.row || ph_.phase[i] == 0) continue;
      // A reduction's array holds its accumulator, then its value;
      // argmax/argmin's the index, with the best values in `values_`.
      const bool acc = e.kind == KernelExpr::Kind::Reduce && !is_arg(e);
      array_types_[i] = em_.compute_type(acc ? in_dtype(e) : e.dtype);
      arrays_[i] = b_.CreateAlloca(llvm::ArrayType::get(array_types_[i], static_cast<std::uint64_t>(kChunk)));
      if (e.kind == KernelExpr::Kind::Reduce && is_arg(e))
        values_[i] = b_.CreateAlloca(llvm::ArrayType::get(em_.compute_type(in_dtype(e)), static_cast<std::uint64_t>(kChunk)));
    }
  }
  Value* slot(std::size_t i, Value* j) { return b_.CreateGEP(array_types_[i], arrays_[i], j); }
  Value* value_slot(std::size_t i, Value* j) {
    return b_.CreateGEP(em_.compute_type(in_dtype(k_.body[i])), values_[i], j);
  }

  void emit_row_inner_kept(const std::vector<Value*>& base, Value* block) {
    std::vector<int> red;
    for (std::size_t d = 0; d < r_; ++d)
      if (k_.reduced[d]) red.push_back(static_cast<int>(d));
    Value* n = shape_.back();
    Value* j0 = b_.CreateMul(block, b_.getInt64(kChunk));
    const int cached = cached_value();
    Value* m = b_.CreateBinaryIntrinsic(Intr::smin, b_.getInt64(kChunk), b_.CreateSub(n, j0));
    std::vector<Value*> cb(nops_);  // the chunk's first element
    for (std::size_t o = 0; o < nops_; ++o) cb[o] = at_inner(base, o, j0);
    const std::size_t out = nops_ - 1;
    // Per-row values at element j of the chunk: loads and constants are
    // recomputed, later ones read from their arrays.
    auto row_values = [&](std::vector<Value*>& v, Value* j, auto&& ptr) {
      for (std::size_t i = 0; i < k_.body.size(); ++i) {
        if (!k_.body[i].row) continue;
        if (ph_.phase[i] == 0) v[i] = compute(i, v, ptr);
        else if (arrays_[i] && ph_.phase[i] <= cur_phase_) v[i] = b_.CreateLoad(array_types_[i], slot(i, j));
      }
    };
    for (int p = 0; p < ph_.num_phases; ++p) {
      cur_phase_ = p;
      const std::vector<std::size_t> rs = reductions_of(p);
      {
        Loop li(b_, f_, m, {}, "acc.init");
        for (std::size_t i : rs) {
          if (!is_arg(k_.body[i])) {
            b_.CreateStore(acc_init(k_.body[i]), slot(i, li.index()));
            continue;
          }
          b_.CreateStore(acc_init(k_.body[i]), value_slot(i, li.index()));
          b_.CreateStore(b_.getInt64(0), slot(i, li.index()));
        }
        li.end({});
      }
      Loop lq(b_, f_, size_of(red), {}, "red");
      const std::vector<Value*> qb = offset(cb, lq.index(), red);
      Loop lj(b_, f_, m, {}, "chunk");
      Value* j = lj.index();
      auto ptr = [&](std::size_t o) { return at_inner(qb, o, j); };
      std::vector<Value*> e(k_.body.size(), nullptr);
      for (std::size_t i = 0; i < k_.body.size(); ++i) {
        if (k_.body[i].row) {
          if (ph_.phase[i] == 0) e[i] = compute(i, e, ptr);
          else if (ph_.phase[i] <= p) e[i] = b_.CreateLoad(array_types_[i], slot(i, j));
        } else if (ph_.phase[i] <= p) {
          if (stores_in(p) && static_cast<int>(i) == cached) e[i] = em_.load(k_.output().dtype, ptr(out));
          else e[i] = compute(i, e, ptr);
        }
      }
      if (cached >= 0 && p == ph_.num_phases - 2) em_.store(k_.output().dtype, e[static_cast<std::size_t>(cached)], ptr(out));
      for (std::size_t i : rs) {
        const KernelExpr& x = k_.body[i];
        Value* val = e[static_cast<std::size_t>(x.args[0])];
        Value* s = slot(i, j);
        if (!is_arg(x)) {
          b_.CreateStore(combine(x, b_.CreateLoad(array_types_[i], s), val), s);
          continue;
        }
        Value* vs = value_slot(i, j);
        llvm::Type* vt = em_.compute_type(in_dtype(x));
        auto [best, best_idx] = arg_step(x, b_.CreateLoad(vt, vs), b_.CreateLoad(array_types_[i], s), val, lq.index());
        b_.CreateStore(best, vs);
        b_.CreateStore(best_idx, s);
      }
      if (stores_in(p)) em_.store(k_.output().dtype, e.back(), ptr(out));
      lj.end({});
      lq.end({});
      if (rs.empty()) continue;
      // The per-row values this phase completes, element by element.
      Loop lf(b_, f_, m, {}, "row.values");
      Value* jf = lf.index();
      auto fptr = [&](std::size_t o) { return at_inner(cb, o, jf); };
      std::vector<Value*> v(k_.body.size(), nullptr);
      row_values(v, jf, fptr);
      for (std::size_t i = 0; i < k_.body.size(); ++i) {
        const KernelExpr& x = k_.body[i];
        if (!x.row || ph_.phase[i] != p + 1) continue;
        if (x.kind == KernelExpr::Kind::Reduce) v[i] = finish(x, b_.CreateLoad(array_types_[i], slot(i, jf)));
        else v[i] = compute(i, v, fptr);
        b_.CreateStore(v[i], slot(i, jf));
      }
      lf.end({});
    }
    if (k_.body.back().row) {
      Loop ls(b_, f_, m, {}, "store");
      // From its array, or (a kernel without reductions: a squeeze) computed here.
      Value* v = nullptr;
      if (arrays_.back()) {
        v = b_.CreateLoad(array_types_.back(), slot(k_.body.size() - 1, ls.index()));
      } else {
        std::vector<Value*> e(k_.body.size(), nullptr);
        auto sptr = [&](std::size_t o) { return at_inner(cb, o, ls.index()); };
        for (std::size_t i = 0; i < k_.body.size(); ++i) e[i] = compute(i, e, sptr);
        v = e.back();
      }
      em_.store(k_.output().dtype, v, at_inner(cb, out, ls.index()));
      ls.end({});
    }
  }

  const Kernel& k_;
  llvm::Function* f_;
  llvm::IRBuilder<>& b_;
  ElementEmitter& em_;
  KernelPhases ph_;
  std::size_t r_, nops_;
  std::vector<Value*> data_;
  std::vector<std::vector<Value*>> strides_;
  std::vector<Value*> shape_;
  Value* count_ = nullptr;
  bool contiguous_ = true;
  int cur_phase_ = 0;
  std::vector<Value*> arrays_, values_;
  std::vector<llvm::Type*> array_types_;
};

}  // namespace

void emit_kernel(const Kernel& k, const std::string& name, llvm::Module& m) {
  verify_kernel(k);
  llvm::LLVMContext& c = m.getContext();
  llvm::IRBuilder<> b(c);
  ElementEmitter em(m, b);
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Type* ptr = llvm::PointerType::getUnqual(c);
  llvm::StructType* buf_ty = llvm::StructType::get(c, {ptr, ptr, ptr});  // KilnBuffer
  auto* fty = llvm::FunctionType::get(b.getVoidTy(), {ptr, i64, i64}, false);
  auto* f = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, name, m);
  f->setDoesNotThrow();
  f->addParamAttr(0, llvm::Attribute::NoAlias);
  f->addParamAttr(0, llvm::Attribute::ReadOnly);

  const int r = k.rank;
  const std::size_t nops = k.operands.size();
  auto* entry = llvm::BasicBlock::Create(c, "entry", f);
  b.SetInsertPoint(entry);
  Value* ops = f->getArg(0);
  Value* row_begin = f->getArg(1);
  Value* row_end = f->getArg(2);

  // Operand data pointers and the strides of the dims they iterate.
  std::vector<Value*> data(nops);
  std::vector<std::vector<Value*>> strides(nops, std::vector<Value*>(static_cast<std::size_t>(r), nullptr));
  for (std::size_t o = 0; o < nops; ++o) {
    auto field = [&](unsigned i) {
      return b.CreateLoad(ptr, b.CreateStructGEP(buf_ty, b.CreateConstGEP1_64(buf_ty, ops, o), i));
    };
    data[o] = field(0);
    Value* sp = nullptr;
    for (int d = 0; d < r; ++d) {
      if (k.operands[o].broadcast[static_cast<std::size_t>(d)]) continue;
      if (!sp) sp = field(2);
      strides[o][static_cast<std::size_t>(d)] = b.CreateLoad(i64, b.CreateConstGEP1_64(i64, sp, static_cast<std::uint64_t>(d)));
    }
  }
  std::vector<Value*> shape(static_cast<std::size_t>(r));
  if (r > 0) {
    Value* sp = b.CreateLoad(ptr, b.CreateStructGEP(buf_ty, b.CreateConstGEP1_64(buf_ty, ops, nops - 1), 1));
    for (int d = 0; d < r; ++d) shape[static_cast<std::size_t>(d)] = b.CreateLoad(i64, b.CreateConstGEP1_64(i64, sp, static_cast<std::uint64_t>(d)));
  }
  if (k.has_reduction()) {
    auto* exit = llvm::BasicBlock::Create(c, "exit", f);
    ReductionEmitter(k, f, b, em).emit(data, strides, shape, row_begin, row_end, exit);
    b.SetInsertPoint(exit);
    b.CreateRetVoid();
    return;
  }
  Value* n = r > 0 ? shape.back() : b.getInt64(1);
  // Which operands move along the innermost dim.
  auto inner_moves = [&](std::size_t o) { return r > 0 && !k.operands[o].broadcast.back(); };
  Value* fast = b.getTrue();
  for (std::size_t o = 0; o < nops; ++o)
    if (inner_moves(o)) fast = b.CreateAnd(fast, b.CreateICmpEQ(strides[o].back(), b.getInt64(1)));

  auto* exit = llvm::BasicBlock::Create(c, "exit", f);
  auto* fast_pre = llvm::BasicBlock::Create(c, "fast", f);
  auto* slow_pre = llvm::BasicBlock::Create(c, "strided", f);
  b.CreateCondBr(fast, fast_pre, slow_pre);

  // One row loop; `contiguous`: every moving operand has inner stride 1.
  auto emit_rows = [&](llvm::BasicBlock* pre, bool contiguous) {
    auto* row_body = llvm::BasicBlock::Create(c, contiguous ? "rows.fast" : "rows.strided", f);
    auto* inner = llvm::BasicBlock::Create(c, contiguous ? "inner.fast" : "inner.strided", f);
    auto* row_latch = llvm::BasicBlock::Create(c, contiguous ? "latch.fast" : "latch.strided", f);
    b.SetInsertPoint(pre);
    b.CreateCondBr(b.CreateICmpSLT(row_begin, row_end), row_body, exit);

    b.SetInsertPoint(row_body);
    llvm::PHINode* row = b.CreatePHI(i64, 2);
    row->addIncoming(row_begin, pre);
    // The row's multi-index over the outer dims, and each operand's base.
    std::vector<Value*> off(nops, b.getInt64(0));
    Value* rem = row;
    for (int d = r - 2; d >= 0; --d) {
      const auto du = static_cast<std::size_t>(d);
      Value* idx = d == 0 ? rem : b.CreateURem(rem, shape[du]);
      if (d > 0) rem = b.CreateUDiv(rem, shape[du]);
      for (std::size_t o = 0; o < nops; ++o)
        if (strides[o][du]) off[o] = b.CreateAdd(off[o], b.CreateMul(idx, strides[o][du]));
    }
    std::vector<Value*> base(nops);
    for (std::size_t o = 0; o < nops; ++o)
      base[o] = b.CreateGEP(em.mem_type(k.operands[o].dtype), data[o], off[o]);
    // Operands broadcast along the row are loaded once per row.
    std::vector<Value*> invariant(nops, nullptr);
    for (std::size_t o = 0; o + 1 < nops; ++o)
      if (!inner_moves(o)) invariant[o] = em.load(k.operands[o].dtype, base[o]);
    b.CreateCondBr(b.CreateICmpSGT(n, b.getInt64(0)), inner, row_latch);

    b.SetInsertPoint(inner);
    const std::size_t blocks_before = f->size();
    llvm::PHINode* j = b.CreatePHI(i64, 2);
    j->addIncoming(b.getInt64(0), row_body);
    auto elem_ptr = [&](std::size_t o) -> Value* {
      Value* step = contiguous ? j : b.CreateMul(j, strides[o].back());
      return b.CreateGEP(em.mem_type(k.operands[o].dtype), base[o], step);
    };
    std::vector<Value*> vals(k.body.size());
    std::vector<Value*> args;
    for (std::size_t i = 0; i < k.body.size(); ++i) {
      const KernelExpr& e = k.body[i];
      switch (e.kind) {
        case KernelExpr::Kind::Load: {
          const auto o = static_cast<std::size_t>(e.operand);
          vals[i] = invariant[o] ? invariant[o] : em.load(e.dtype, elem_ptr(o));
          break;
        }
        case KernelExpr::Kind::Const: vals[i] = em.constant(e); break;
        case KernelExpr::Kind::Reduce: KILN_UNREACHABLE("a reduction in an elementwise kernel");
        case KernelExpr::Kind::Op:
          args.clear();
          for (int a : e.args) args.push_back(vals[static_cast<std::size_t>(a)]);
          vals[i] = em.round_to(e.dtype, em.op(e, operand_dtype(k, e), args));
          break;
      }
    }
    const std::size_t out = nops - 1;
    em.store(k.output().dtype, vals.back(), inner_moves(out) ? elem_ptr(out) : base[out]);
    Value* j1 = b.CreateAdd(j, b.getInt64(1));
    j->addIncoming(j1, b.GetInsertBlock());
    llvm::BranchInst* back = b.CreateCondBr(b.CreateICmpSLT(j1, n), inner, row_latch);
    mark_parallel(f, inner, blocks_before, back);

    b.SetInsertPoint(row_latch);
    Value* row1 = b.CreateAdd(row, b.getInt64(1));
    row->addIncoming(row1, row_latch);
    b.CreateCondBr(b.CreateICmpSLT(row1, row_end), row_body, exit);
  };
  emit_rows(fast_pre, true);
  emit_rows(slow_pre, false);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
}

}  // namespace kiln::codegen
