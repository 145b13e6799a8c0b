#include "codegen/kernel_cache.hpp"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "codegen/llvm/emit.hpp"
#include "codegen/llvm/jit.hpp"

namespace kiln::codegen {

namespace {

// The process's JIT and kernel cache (kernel text → entry point).
struct KernelCache {
  std::mutex mu;
  std::unique_ptr<Jit> jit;
  std::unordered_map<std::string, KilnKernelFn> fns;
  std::size_t next_id = 0;
};
KernelCache& cache() {
  static KernelCache* c = new KernelCache;  // never destroyed: kernels may run at exit
  return *c;
}
std::atomic<std::size_t> g_compiled{0};

}  // namespace

std::size_t native_kernels_compiled() { return g_compiled.load(); }

std::vector<KilnKernelFn> compile_kernels(const std::vector<const Kernel*>& kernels) {
  std::vector<std::string> texts;
  for (const Kernel* k : kernels) texts.push_back(print_kernel(*k));
  KernelCache& kc = cache();
  std::lock_guard<std::mutex> lock(kc.mu);
  if (!kc.jit) {
    kc.jit = Jit::create();
    define_kernel_helpers(*kc.jit);
  }
  std::vector<KilnKernelFn> fns(kernels.size(), nullptr);
  std::unordered_map<std::string, std::string> pending;  // text → symbol
  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> m;
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    if (kc.fns.count(texts[i]) || pending.count(texts[i])) continue;
    if (!m) m = kc.jit->new_module("kiln_kernels_" + std::to_string(kc.next_id), *ctx);
    std::string name = "kiln_kernel_" + std::to_string(kc.next_id++);
    emit_kernel(*kernels[i], name, *m);
    pending.emplace(texts[i], name);
  }
  if (m) {
    kc.jit->add_module(std::move(m), std::move(ctx));
    for (auto& [text, name] : pending) kc.fns[text] = reinterpret_cast<KilnKernelFn>(kc.jit->lookup(name));
    g_compiled += pending.size();
  }
  for (std::size_t i = 0; i < kernels.size(); ++i) fns[i] = kc.fns.at(texts[i]);
  return fns;
}

}  // namespace kiln::codegen
