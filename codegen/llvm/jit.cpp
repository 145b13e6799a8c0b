#include "codegen/llvm/jit.hpp"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/IRCompileLayer.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <mutex>
#include <optional>

#include "kiln/error.hpp"

namespace kiln::codegen {

namespace {

std::string to_string(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

// Only code generation needs LLVM's target registry; linking objects (a
// process whose kernels are all on disk) does not.
void init_codegen_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

// libmvec's vector functions (_ZGVeN16v_expf, ...) are resolved from the
// process when an object is linked.
void load_libmvec_once() {
  static std::once_flag once;
  std::call_once(once, [] { llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1"); });
}

// glibc 2.36's libmvec has more vector functions than LLVM 19's LIBMVEC-X86
// table lists (it has no tanh, and no 16-lane variants): register them.
// The table is built once per process (VecDesc keeps StringRefs, so its
// strings live as long as the table).
void add_libmvec(llvm::TargetLibraryInfoImpl& tli, bool avx512) {
  using llvm::ElementCount;
  using llvm::VecDesc;
  struct Table {
    std::vector<std::unique_ptr<std::string>> storage;
    std::vector<VecDesc> descs;
  };
  static const Table* table = [avx512] {
    auto* t = new Table;  // never destroyed: compiles may run until exit
    static const char* unary[] = {"acos", "acosh", "asin", "asinh", "atan", "atanh", "cbrt", "cos",  "cosh",
                                  "erf",  "erfc",  "exp",  "exp10", "exp2", "expm1", "log",  "log10", "log1p",
                                  "log2", "sin",   "sinh", "tan",   "tanh"};
    static const char* binary[] = {"atan2", "hypot", "pow"};
    auto keep = [&](std::string s) -> llvm::StringRef {
      t->storage.push_back(std::make_unique<std::string>(std::move(s)));
      return *t->storage.back();
    };
    auto add = [&](const char* fn, bool is_float, int lanes, char isa, const char* params) {
      std::string scalar = std::string(fn) + (is_float ? "f" : "");
      std::string vec = "_ZGV" + std::string(1, isa) + "N" + std::to_string(lanes) + params + "_" + scalar;
      std::string abi = "_ZGV_LLVM_N" + std::to_string(lanes) + params;
      t->descs.emplace_back(keep(scalar), keep(vec), ElementCount::getFixed(lanes), false, keep(abi));
      // the LLVM intrinsic form (llvm.exp.f32) maps to the same vector function
      std::string intr = "llvm." + std::string(fn) + (is_float ? ".f32" : ".f64");
      t->descs.emplace_back(keep(intr), keep(vec), ElementCount::getFixed(lanes), false, keep(abi));
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
    return t;
  }();  // `avx512` is the host's: the same on every call
  tli.addVectorizableFunctions(table->descs);
}

// LLJIT's IR compile layer is never used (everything arrives as an
// object), so it gets this stand-in instead of the default compiler, which
// would build a target machine whenever a JIT is created.
class NoIRCompiler : public llvm::orc::IRCompileLayer::IRCompiler {
 public:
  NoIRCompiler() : IRCompiler(llvm::orc::IRSymbolMapper::ManglingOptions()) {}
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> operator()(llvm::Module&) override {
    return llvm::make_error<llvm::StringError>("kiln's JIT links objects only (Jit::compile makes them)",
                                               llvm::inconvertibleErrorCode());
  }
};

// The host's target machine builder and its description, detected once per
// process (detectHost asks the CPU for its name and features).
struct HostInfo {
  std::optional<llvm::orc::JITTargetMachineBuilder> jtmb;
  HostTarget target;
  std::string error;
};
const HostInfo& host_info() {
  static const HostInfo* info = [] {
    auto* h = new HostInfo;  // never destroyed: used until exit
    // detectHost only asks the CPU (no target registry needed).
    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!jtmb) {
      h->error = to_string(jtmb.takeError());
      return h;
    }
    jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
    // Position-independent, small code model: what JITLink expects, and it
    // keeps an object valid wherever a later process maps it.
    jtmb->setRelocationModel(llvm::Reloc::PIC_);
    jtmb->setCodeModel(llvm::CodeModel::Small);
    h->target.triple = jtmb->getTargetTriple().str();
    h->target.cpu = jtmb->getCPU();
    h->target.features = jtmb->getFeatures().getString();
    h->target.avx512 = h->target.features.find("+avx512f") != std::string::npos;
    h->jtmb = std::move(*jtmb);
    return h;
  }();
  return *info;
}

// The host's real data layout (it takes a target machine to compute: made
// on the first compile, never on a process's pure cache hits).
const std::string& host_data_layout() {
  static const std::string* dl = [] {
    init_codegen_once();
    llvm::orc::JITTargetMachineBuilder jtmb = *host_info().jtmb;
    auto layout = jtmb.getDefaultDataLayoutForTarget();
    if (!layout) throw RuntimeError("kiln: cannot create an LLVM target machine: " + to_string(layout.takeError()));
    return new std::string(layout->getStringRepresentation());  // never destroyed
  }();
  return *dl;
}

}  // namespace

const HostTarget& Jit::host() {
  const HostInfo& h = host_info();
  if (!h.jtmb) throw RuntimeError("kiln: LLVM cannot target this CPU: " + h.error);
  return h.target;
}

Jit::Jit() = default;
Jit::~Jit() = default;

std::unique_ptr<Jit> Jit::create() {
  host();  // throws when the host cannot be targeted
  load_libmvec_once();
  // LLJIT wants a data layout, and computing the real one builds a target
  // machine (a quarter of a millisecond, a sixth of a warm compile). Linking
  // objects uses the layout only to mangle symbol names, which on ELF is the
  // identity ("m:e"), so on ELF hosts the JIT gets just that; modules get
  // the real layout (new_module), and ObjectCompiler checks it.
  const llvm::Triple triple(host().triple);
  llvm::DataLayout layout = triple.isOSBinFormatELF() ? llvm::DataLayout("e-m:e") : llvm::DataLayout(host_data_layout());
  std::unique_ptr<Jit> j(new Jit());
  auto built = llvm::orc::LLJITBuilder()
                   .setJITTargetMachineBuilder(*host_info().jtmb)
                   .setDataLayout(std::move(layout))
                   // No platform runtime: kernels have no static initialisers,
                   // and the generic platform would add IR modules of its own.
                   .setPlatformSetUp(llvm::orc::setUpInactivePlatform)
                   .setCompileFunctionCreator([](llvm::orc::JITTargetMachineBuilder)
                                                  -> llvm::Expected<std::unique_ptr<llvm::orc::IRCompileLayer::IRCompiler>> {
                     return std::make_unique<NoIRCompiler>();
                   })
                   .create();
  if (!built) throw RuntimeError("kiln: cannot create the LLVM JIT: " + to_string(built.takeError()));
  j->jit_ = std::move(*built);
  return j;
}

ObjectCompiler::ObjectCompiler() = default;
ObjectCompiler::~ObjectCompiler() = default;

llvm::TargetMachine& ObjectCompiler::target_machine() {
  if (!tm_) {
    Jit::host();  // throws when the host cannot be targeted
    init_codegen_once();
    llvm::orc::JITTargetMachineBuilder jtmb = *host_info().jtmb;  // a copy: createTargetMachine is not const
    auto tm = jtmb.createTargetMachine();
    if (!tm) throw RuntimeError("kiln: cannot create an LLVM target machine: " + to_string(tm.takeError()));
    tm_ = std::move(*tm);
  }
  return *tm_;
}

std::unique_ptr<llvm::Module> Jit::new_module(const std::string& name, llvm::LLVMContext& ctx) const {
  auto m = std::make_unique<llvm::Module>(name, ctx);
  m->setTargetTriple(host().triple);
  m->setDataLayout(host_data_layout());
  return m;
}

std::string ObjectCompiler::compile(llvm::Module& module, std::string* optimized_ir) {
  const HostTarget& host = Jit::host();
  for (llvm::Function& f : module) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", host.cpu);
    f.addFnAttr("target-features", host.features);
    if (host.avx512) f.addFnAttr("prefer-vector-width", "512");
  }
  std::string err;
  llvm::raw_string_ostream es(err);
  if (llvm::verifyModule(module, &es))
    KILN_UNREACHABLE("kiln generated invalid LLVM IR: " << es.str());

  // O3 with the host's target machine (for the cost model) and libmvec.
  llvm::TargetMachine& tm = target_machine();
  KILN_CHECK(module.getDataLayout() == tm.createDataLayout(), "a module without the host's data layout (Jit::new_module sets it)");
  {
    llvm::TargetLibraryInfoImpl tlii{llvm::Triple(host.triple)};
    add_libmvec(tlii, host.avx512);
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(&tm);
    fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(module, mam);
  }
  if (optimized_ir) {
    optimized_ir->clear();
    llvm::raw_string_ostream os(*optimized_ir);
    module.print(os, nullptr);
  }

  // Code generation (still the legacy pass manager in LLVM 19) into memory.
  llvm::SmallVector<char, 0> obj;
  {
    llvm::raw_svector_ostream os(obj);
    llvm::legacy::PassManager pm;
    if (tm.addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile))
      KILN_UNREACHABLE("the LLVM target cannot emit object files");
    pm.run(module);
  }
  return std::string(obj.data(), obj.size());
}

void Jit::add_object(std::string_view object, const std::string& buffer_name) {
  // A copy: LLVM's buffers are suitably aligned for the ELF reader, and the
  // JIT may keep the buffer after this returns.
  auto buf = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object.data(), object.size()), buffer_name);
  if (auto e = jit_->addObjectFile(std::move(buf)))
    throw RuntimeError("kiln: the LLVM JIT rejected an object: " + to_string(std::move(e)));
}

void Jit::add_module(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> ctx,
                     std::string* optimized_ir) {
  std::string obj = compile(*module, optimized_ir);
  const std::string name = module->getModuleIdentifier();
  module.reset();  // the module belongs to the context: free it first
  ctx.reset();
  add_object(obj, name);
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

void* Jit::try_lookup(const std::string& name) {
  auto sym = jit_->lookup(name);
  if (!sym) {
    llvm::consumeError(sym.takeError());
    return nullptr;
  }
  return sym->toPtr<void*>();
}

}  // namespace kiln::codegen
