// The LLVM JIT: LLJIT for the host CPU, modules optimised with the new pass
// manager at O3, transcendental calls vectorised through glibc's libmvec.
//
// Everything reaches the JIT as a relocatable object: a module is optimised
// and compiled to an object in memory (compile), and objects are linked in
// (add_object). The kernel cache stores those objects on disk, so a kernel
// compiled in this process and one loaded from the disk go through the very
// same linking path. LLJIT's own IR compile layer is never used.
//
// Not thread-safe: the caller serialises (the kernel cache holds its lock).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
namespace orc {
class LLJIT;
}  // namespace orc
}  // namespace llvm

namespace kiln::codegen {

// The host CPU as LLVM names it, queried once per process (it is part of
// the disk cache key, so a cache hit must not need a JIT or a target
// machine to compute it).
struct HostTarget {
  std::string triple, cpu, features;
  bool avx512 = false;
};

// Optimises modules and compiles them to relocatable objects for the host.
// One per thread: it owns a target machine, which is not thread-safe.
// Modules made by Jit::new_module (any LLVM context) may be compiled by any
// ObjectCompiler, so the kernel cache compiles several kernels at once.
class ObjectCompiler {
 public:
  ObjectCompiler();  // cheap: the target machine is created on the first compile
  ~ObjectCompiler();
  ObjectCompiler(const ObjectCompiler&) = delete;
  ObjectCompiler& operator=(const ObjectCompiler&) = delete;

  // Marks every function of the module for the host CPU (its features,
  // 512-bit vectors where available), optimises it at O3 with the vector
  // library and compiles it to an ELF relocatable object, returned as bytes.
  // Also returns the optimised IR text when asked (tests).
  std::string compile(llvm::Module& module, std::string* optimized_ir = nullptr);

 private:
  llvm::TargetMachine& target_machine();
  std::unique_ptr<llvm::TargetMachine> tm_;
};

class Jit {
 public:
  // The host CPU's JIT (kiln::RuntimeError when LLVM cannot target it).
  // Cheap: the target machine used to compile is created on first use.
  static std::unique_ptr<Jit> create();
  ~Jit();

  // The host (a kiln::RuntimeError when LLVM cannot target it).
  static const HostTarget& host();

  // A module for this JIT: the host's triple and data layout set.
  std::unique_ptr<llvm::Module> new_module(const std::string& name, llvm::LLVMContext& ctx) const;

  // ObjectCompiler::compile with this JIT's own compiler.
  std::string compile(llvm::Module& module, std::string* optimized_ir = nullptr) {
    return compiler_.compile(module, optimized_ir);
  }
  // Links an object made by compile() (possibly in another process): its
  // symbols become resolvable by lookup(). A kiln::RuntimeError when the
  // bytes are not an object LLVM can read.
  void add_object(std::string_view object, const std::string& buffer_name);
  // This JIT's own compiler (for the thread that holds the JIT).
  ObjectCompiler& compiler() { return compiler_; }
  // compile() then add_object().
  void add_module(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> ctx,
                  std::string* optimized_ir = nullptr);

  // Makes `name` resolve to `address` in objects added later (runtime
  // helpers that generated code calls).
  void define_symbol(const std::string& name, void* address);
  // The address of a function added earlier (a kiln::InternalError if absent).
  void* lookup(const std::string& name);
  // The same, nullptr when absent or when its object failed to link.
  void* try_lookup(const std::string& name);

  const std::string& cpu_name() const { return host().cpu; }
  const std::string& cpu_features() const { return host().features; }

 private:
  Jit();

  ObjectCompiler compiler_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

}  // namespace kiln::codegen
