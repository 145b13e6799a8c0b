// Internals of the LLVM emitter shared by its two halves: emit.cpp
// (elementwise kernels, the function frame) and emit_reduce.cpp (kernels
// with reduced dims). Not part of any interface.
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "codegen/kernel.hpp"
#include "ir/interp_util.hpp"

namespace kiln::codegen::emit_detail {

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

// Emits the body of a kernel with reduced dims into `f` (the frame emit.cpp
// built: operand data pointers, strides, shape, the row range), branching
// to `exit` when done.
void emit_reduction_rows(const Kernel& k, llvm::Function* f, llvm::IRBuilder<>& b, ElementEmitter& em,
                         const std::vector<Value*>& data, const std::vector<std::vector<Value*>>& strides,
                         const std::vector<Value*>& shape, Value* row_begin, Value* row_end, llvm::BasicBlock* exit);

}  // namespace kiln::codegen::emit_detail
