#include "codegen/llvm/emit.hpp"

#include "codegen/llvm/emit_detail.hpp"
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

using namespace emit_detail;

namespace {

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
    emit_reduction_rows(k, f, b, em, data, strides, shape, row_begin, row_end, exit);
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
