// The LLVM JIT wrapper: a module in, a callable out; loops over
// transcendental functions vectorise through libmvec.
#include <gtest/gtest.h>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <vector>

#include "codegen/llvm/jit.hpp"
#include "kiln/error.hpp"

namespace {

using kiln::codegen::Jit;

// void NAME(const float* x, float* y, i64 n) { for (i < n) y[i] = FN(x[i]); }
void add_map_loop(llvm::Module& m, const std::string& name, const std::string& fn) {
  llvm::LLVMContext& c = m.getContext();
  llvm::Type* f32 = llvm::Type::getFloatTy(c);
  llvm::Type* i64 = llvm::Type::getInt64Ty(c);
  llvm::Type* ptr = llvm::PointerType::getUnqual(c);
  auto* ft = llvm::FunctionType::get(llvm::Type::getVoidTy(c), {ptr, ptr, i64}, false);
  auto* f = llvm::Function::Create(ft, llvm::Function::ExternalLinkage, name, m);
  f->addParamAttr(0, llvm::Attribute::NoAlias);
  f->addParamAttr(1, llvm::Attribute::NoAlias);
  llvm::FunctionCallee callee = m.getOrInsertFunction(fn, llvm::FunctionType::get(f32, {f32}, false));
  if (auto* decl = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    decl->setDoesNotAccessMemory();
    decl->setDoesNotThrow();
    decl->addFnAttr(llvm::Attribute::WillReturn);
  }
  auto* entry = llvm::BasicBlock::Create(c, "entry", f);
  auto* loop = llvm::BasicBlock::Create(c, "loop", f);
  auto* done = llvm::BasicBlock::Create(c, "done", f);
  llvm::IRBuilder<> b(entry);
  llvm::Value* n = f->getArg(2);
  b.CreateCondBr(b.CreateICmpSGT(n, b.getInt64(0)), loop, done);
  b.SetInsertPoint(loop);
  llvm::PHINode* i = b.CreatePHI(i64, 2);
  i->addIncoming(b.getInt64(0), entry);
  llvm::Value* xv = b.CreateLoad(f32, b.CreateGEP(f32, f->getArg(0), i));
  llvm::Value* yv = b.CreateCall(callee, {xv});
  b.CreateStore(yv, b.CreateGEP(f32, f->getArg(1), i));
  llvm::Value* next = b.CreateAdd(i, b.getInt64(1), "", true, true);
  i->addIncoming(next, loop);
  b.CreateCondBr(b.CreateICmpSLT(next, n), loop, done);
  b.SetInsertPoint(done);
  b.CreateRetVoid();
}

TEST(Jit, CompilesAndRunsAVectorisedTanhLoop) {
  auto jit = Jit::create();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto m = jit->new_module("tanh_test", *ctx);
  add_map_loop(*m, "map_tanh", "tanhf");
  add_map_loop(*m, "map_exp", "expf");
  std::string ir;
  jit->add_module(std::move(m), std::move(ctx), &ir);
  // glibc's vector tanh is called: the loop vectorised (16 lanes with
  // AVX-512, 8 with AVX2).
  bool avx512 = jit->cpu_features().find("+avx512f") != std::string::npos;
  EXPECT_NE(ir.find(avx512 ? "_ZGVeN16v_tanhf" : "_ZGVdN8v_tanhf"), std::string::npos) << ir;
  EXPECT_NE(ir.find(avx512 ? "_ZGVeN16v_expf" : "_ZGVdN8v_expf"), std::string::npos);

  auto map_tanh = reinterpret_cast<void (*)(const float*, float*, std::int64_t)>(jit->lookup("map_tanh"));
  auto map_exp = reinterpret_cast<void (*)(const float*, float*, std::int64_t)>(jit->lookup("map_exp"));
  const std::int64_t n = 1003;  // not a multiple of the vector width: the remainder loop runs too
  std::vector<float> x(n), y(n), z(n);
  for (std::int64_t i = 0; i < n; ++i) x[i] = -8.0f + 16.0f * static_cast<float>(i) / n;
  map_tanh(x.data(), y.data(), n);
  map_exp(x.data(), z.data(), n);
  for (std::int64_t i = 0; i < n; ++i) {
    // libmvec promises a few ULP; compare with the double-precision value.
    double t = std::tanh(static_cast<double>(x[i])), e = std::exp(static_cast<double>(x[i]));
    ASSERT_NEAR(y[i], t, 4 * std::nextafter(static_cast<float>(std::fabs(t)), INFINITY) - 4 * std::fabs(t) + 1e-7)
        << "tanh at " << x[i];
    ASSERT_NEAR(z[i], e, 4e-7 * e) << "exp at " << x[i];
  }
}

TEST(Jit, LookupOfAnUnknownSymbolIsAnInternalError) {
  auto jit = Jit::create();
  EXPECT_THROW(jit->lookup("no_such_function"), kiln::InternalError);
}

}  // namespace
