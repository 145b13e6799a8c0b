// The LLVM JIT: LLJIT for the host CPU, modules optimised with the new pass
// manager at O3, transcendental calls vectorised through glibc's libmvec.
// Shaped like LLVM's KaleidoscopeJIT: create, add a module, look a symbol up.
#pragma once

#include <memory>
#include <string>

namespace llvm {
class LLVMContext;
class Module;
namespace orc {
class LLJIT;
}
}  // namespace llvm

namespace kiln::codegen {

class Jit {
 public:
  // The host CPU's JIT (kiln::RuntimeError when LLVM cannot target it).
  static std::unique_ptr<Jit> create();
  ~Jit();

  // A module for this JIT: the host's triple and data layout set.
  std::unique_ptr<llvm::Module> new_module(const std::string& name, llvm::LLVMContext& ctx) const;
  // Marks every function of the module for the host CPU (its features,
  // 512-bit vectors where available), optimises it at O3 with the vector
  // library, and adds it. Returns the optimised IR text when asked (tests).
  void add_module(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> ctx,
                  std::string* optimized_ir = nullptr);
  // Makes `name` resolve to `address` in modules added later (runtime
  // helpers that generated code calls).
  void define_symbol(const std::string& name, void* address);
  // The address of a function added earlier (a kiln::InternalError if absent).
  void* lookup(const std::string& name);

  const std::string& cpu_name() const { return cpu_; }
  const std::string& cpu_features() const { return features_; }

 private:
  Jit() = default;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::string triple_, cpu_, features_;
  bool avx512_ = false;
};

}  // namespace kiln::codegen
