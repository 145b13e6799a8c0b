#include "codegen/llvm/jit.hpp"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <mutex>

#include "kiln/error.hpp"

namespace kiln::codegen {

namespace {

std::string to_string(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

void init_llvm_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    // libmvec's vector functions (_ZGVeN16v_expf, ...) are resolved from the process.
    llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1");
  });
}

// glibc 2.36's libmvec has more vector functions than LLVM 19's LIBMVEC-X86
// table lists (it has no tanh, and no 16-lane variants): register them.
void add_libmvec(llvm::TargetLibraryInfoImpl& tli, bool avx512) {
  using llvm::ElementCount;
  using llvm::VecDesc;
  static const char* unary[] = {"acos", "acosh", "asin", "asinh", "atan", "atanh", "cbrt", "cos",  "cosh",
                                "erf",  "erfc",  "exp",  "exp10", "exp2", "expm1", "log",  "log10", "log1p",
                                "log2", "sin",   "sinh", "tan",   "tanh"};
  static const char* binary[] = {"atan2", "hypot", "pow"};
  std::vector<std::string> names;  // VecDesc keeps StringRefs: the strings must outlive tli
  static std::vector<std::unique_ptr<std::string>> storage;
  static std::mutex storage_mu;
  std::lock_guard<std::mutex> lock(storage_mu);
  auto keep = [&](std::string s) -> llvm::StringRef {
    storage.push_back(std::make_unique<std::string>(std::move(s)));
    return *storage.back();
  };
  std::vector<VecDesc> descs;
  auto add = [&](const char* fn, bool is_float, int lanes, char isa, const char* params) {
    std::string scalar = std::string(fn) + (is_float ? "f" : "");
    std::string vec = "_ZGV" + std::string(1, isa) + "N" + std::to_string(lanes) + params + "_" + scalar;
    std::string abi = "_ZGV_LLVM_N" + std::to_string(lanes) + params;
    descs.emplace_back(keep(scalar), keep(vec), ElementCount::getFixed(lanes), false, keep(abi));
    // the LLVM intrinsic form (llvm.exp.f32) maps to the same vector function
    std::string intr = "llvm." + std::string(fn) + (is_float ? ".f32" : ".f64");
    descs.emplace_back(keep(intr), keep(vec), ElementCount::getFixed(lanes), false, keep(abi));
  };
  for (const char* f : unary) {
    add(f, true, 8, 'd', "v");
    add(f, false, 4, 'd', "v");
    if (avx512) {
      add(f, true, 16, 'e', "v");
      add(f, false, 8, 'e', "v");
    }
  }
  for (const char* f : binary) {
    add(f, true, 8, 'd', "vv");
    add(f, false, 4, 'd', "vv");
    if (avx512) {
      add(f, true, 16, 'e', "vv");
      add(f, false, 8, 'e', "vv");
    }
  }
  tli.addVectorizableFunctions(descs);
}

}  // namespace

Jit::~Jit() = default;

std::unique_ptr<Jit> Jit::create() {
  init_llvm_once();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) throw RuntimeError("kiln: LLVM cannot target this CPU: " + to_string(jtmb.takeError()));
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  std::unique_ptr<Jit> j(new Jit());
  j->triple_ = jtmb->getTargetTriple().str();
  j->cpu_ = jtmb->getCPU();
  j->features_ = jtmb->getFeatures().getString();
  j->avx512_ = j->features_.find("+avx512f") != std::string::npos;
  auto built = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*jtmb)).create();
  if (!built) throw RuntimeError("kiln: cannot create the LLVM JIT: " + to_string(built.takeError()));
  j->jit_ = std::move(*built);
  return j;
}

std::unique_ptr<llvm::Module> Jit::new_module(const std::string& name, llvm::LLVMContext& ctx) const {
  auto m = std::make_unique<llvm::Module>(name, ctx);
  m->setTargetTriple(triple_);
  m->setDataLayout(jit_->getDataLayout());
  return m;
}

void Jit::add_module(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> ctx,
                     std::string* optimized_ir) {
  for (llvm::Function& f : *module) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", cpu_);
    f.addFnAttr("target-features", features_);
    if (avx512_) f.addFnAttr("prefer-vector-width", "512");
  }
  std::string err;
  llvm::raw_string_ostream es(err);
  if (llvm::verifyModule(*module, &es))
    KILN_UNREACHABLE("kiln generated invalid LLVM IR: " << es.str());

  // O3 with the host's target machine (for the cost model) and libmvec.
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  KILN_CHECK(static_cast<bool>(jtmb), "host detection failed after it succeeded once");
  jtmb->setCPU(cpu_);
  auto tm = jtmb->createTargetMachine();
  KILN_CHECK(static_cast<bool>(tm), "cannot create a target machine");
  llvm::TargetLibraryInfoImpl tlii{llvm::Triple(triple_)};
  add_libmvec(tlii, avx512_);
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(tm->get());
  fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(*module, mam);
  if (optimized_ir) {
    optimized_ir->clear();
    llvm::raw_string_ostream os(*optimized_ir);
    module->print(os, nullptr);
  }
  if (auto e = jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(ctx))))
    throw RuntimeError("kiln: the LLVM JIT rejected a module: " + to_string(std::move(e)));
}

void Jit::define_symbol(const std::string& name, void* address) {
  llvm::orc::SymbolMap syms;
  syms[jit_->mangleAndIntern(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                       llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
  if (auto e = jit_->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(syms))))
    throw RuntimeError("kiln: cannot define JIT symbol '" + name + "': " + to_string(std::move(e)));
}

void* Jit::lookup(const std::string& name) {
  auto sym = jit_->lookup(name);
  if (!sym) KILN_UNREACHABLE("JIT symbol '" << name << "' not found: " << to_string(sym.takeError()));
  return sym->toPtr<void*>();
}

}  // namespace kiln::codegen
