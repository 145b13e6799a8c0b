#include "codegen/kernel_cache.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "codegen/llvm/emit.hpp"
#include "codegen/llvm/jit.hpp"
#include "kiln/error.hpp"
#include "runtime/parallel.hpp"

#ifndef KILN_VERSION
#error "KILN_VERSION is defined by CMake (the project version)"
#endif

namespace kiln::codegen {

namespace {

// Bump when the object layout or the kernel ABI changes in a way the kernel
// text does not show (it is part of every key).
constexpr std::uint64_t kObjectFormatVersion = 1;

// The process's JIT and kernel cache (kernel text → entry point).
struct KernelCache {
  std::mutex mu;
  std::unique_ptr<Jit> jit;  // created on the first kernel not in memory
  std::unordered_map<std::string, KilnKernelFn> fns;
};
KernelCache& cache() {
  static KernelCache* c = new KernelCache;  // never destroyed: kernels may run at exit
  return *c;
}
std::atomic<std::size_t> g_compiled{0}, g_loaded{0}, g_rejected{0};

// Which build of libkiln is running: its GNU build-id (a hash of the linked
// library), else its file's size and modification time. In the key because
// the emitter may change what a kernel text compiles to without a version
// bump — a rebuilt libkiln must not load objects made by an older one.
std::string library_build_id() {
  static const std::string id = [] {
    struct Search {
      std::uintptr_t addr;
      std::string id;
    } s{reinterpret_cast<std::uintptr_t>(&library_build_id), {}};
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) -> int {
          auto* s = static_cast<Search*>(data);
          bool mine = false;
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
            if (ph.p_type == PT_LOAD && s->addr >= begin && s->addr < begin + ph.p_memsz) mine = true;
          }
          if (!mine) return 0;
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_NOTE) continue;
            const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
            const char* end = p + ph.p_memsz;
            auto align4 = [](std::size_t n) { return (n + 3) & ~std::size_t{3}; };
            while (p + sizeof(ElfW(Nhdr)) <= end) {
              ElfW(Nhdr) n;
              std::memcpy(&n, p, sizeof n);
              const char* name = p + sizeof n;
              const char* desc = name + align4(n.n_namesz);
              if (desc + n.n_descsz > end) break;
              if (n.n_type == NT_GNU_BUILD_ID && n.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
                s->id = "build-id:" + hash_bytes(std::string_view(desc, n.n_descsz)).hex();
                return 1;
              }
              p = desc + align4(n.n_descsz);
            }
          }
          return 1;
        },
        &s);
    if (s.id.empty()) {
      Dl_info dl;
      struct stat sb;
      if (dladdr(reinterpret_cast<void*>(&library_build_id), &dl) && dl.dli_fname && stat(dl.dli_fname, &sb) == 0)
        s.id = "file:" + std::to_string(sb.st_size) + ":" + std::to_string(sb.st_mtim.tv_sec) + "." +
               std::to_string(sb.st_mtim.tv_nsec);
    }
    return s.id;
  }();
  return id;
}

// The JIT symbol of a kernel: derived from its key, so the same kernel has
// the same symbol in every process and a stored object needs no renaming.
std::string symbol_of(const Hash128& key) { return "kiln_k_" + key.hex(); }

}  // namespace

Hash128 kernel_cache_key(const std::string& kernel_text) {
  const HostTarget& h = Jit::host();
  return Hasher()
      .add("kiln kernel object")
      .add(kObjectFormatVersion)
      .add(KILN_VERSION)
      .add(LLVM_VERSION_STRING)
      .add(library_build_id())
      .add(h.triple)
      .add(h.cpu)
      .add(h.features)
      .add(kernel_text)
      .finish();
}

KernelCacheStats native_kernel_cache_stats() { return {g_compiled.load(), g_loaded.load(), g_rejected.load()}; }
std::size_t native_kernels_compiled() { return g_compiled.load(); }

namespace {

// A kernel that missed both caches.
struct Miss {
  const Kernel* kernel;
  const std::string* text;
  Hash128 key;
  std::string name;       // its JIT symbol
  bool poisoned = false;  // a bad disk object already holds symbol_of(key) in the JIT
  std::string object;     // compiled by LLVM
};

// Compiles the misses to objects, several at once when there are several
// and cores to spare: each worker has its own LLVM context per kernel and
// its own target machine (ObjectCompiler); linking stays serial.
void compile_misses(Jit& jit, std::vector<Miss>& misses) {
  auto compile_one = [&jit](Miss& m, ObjectCompiler& compiler) {
    llvm::LLVMContext ctx;
    std::unique_ptr<llvm::Module> mod = jit.new_module(m.name, ctx);
    emit_kernel(*m.kernel, m.name, *mod);
    m.object = compiler.compile(*mod);
  };
  const int workers = static_cast<int>(std::min<std::size_t>(misses.size(), detail::parallel_threads()));
  if (workers <= 1) {
    for (Miss& m : misses) compile_one(m, jit.compiler());
    return;
  }
  std::atomic<std::size_t> next{0};
  std::mutex error_mu;
  std::exception_ptr error;
  detail::parallel_for(workers, [&](int, int) {
    ObjectCompiler compiler;  // its target machine is made when this worker gets a kernel
    for (std::size_t i; (i = next.fetch_add(1)) < misses.size();) {
      try {
        compile_one(misses[i], compiler);
      } catch (...) {  // parallel_for's parts must not throw: rethrown below
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
      }
    }
  });
  if (error) std::rethrow_exception(error);
}

}  // namespace

std::vector<KilnKernelFn> compile_kernels(const std::vector<const Kernel*>& kernels) {
  std::vector<std::string> texts;
  texts.reserve(kernels.size());
  for (const Kernel* k : kernels) texts.push_back(print_kernel(*k));
  KernelCache& kc = cache();
  std::lock_guard<std::mutex> lock(kc.mu);

  std::unique_ptr<DiskCache> disk;  // made when a kernel is not in memory
  std::vector<Miss> misses;
  std::unordered_map<std::string, std::size_t> missing;  // text → index in misses (duplicates in one call)
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    if (kc.fns.count(texts[i]) || missing.count(texts[i])) continue;
    if (!kc.jit) {
      kc.jit = Jit::create();
      define_kernel_helpers(*kc.jit);
    }
    if (!disk) disk = std::make_unique<DiskCache>(cache_directory_from_environment());
    Jit& jit = *kc.jit;
    const Hash128 key = kernel_cache_key(texts[i]);
    const std::string name = symbol_of(key);

    // 2. the disk: a hit is linked as it is.
    std::string obj;
    DiskCache::Status st = disk->load(key, &obj);
    bool added = false;
    if (st == DiskCache::Status::Hit) {
      void* fn = nullptr;
      try {
        jit.add_object(obj, name);
        added = true;
        fn = jit.try_lookup(name);
      } catch (const RuntimeError&) {
        // not an object LLVM can read after all: recompile
      }
      if (fn) {
        ++g_loaded;
        kc.fns.emplace(texts[i], reinterpret_cast<KilnKernelFn>(fn));
        continue;
      }
      st = DiskCache::Status::Corrupt;
    }
    if (st == DiskCache::Status::Corrupt) ++g_rejected;
    // 3. LLVM, below. When a bad object already holds `name` in this JIT
    // (vanishingly rare: it passed the hash check), this process uses a
    // second name and deletes the entry, so that the next process
    // recompiles and stores a good one.
    missing.emplace(texts[i], misses.size());
    misses.push_back({kernels[i], &texts[i], key, added ? name + "_r" : name, added, {}});
  }

  if (!misses.empty()) {
    compile_misses(*kc.jit, misses);
    bool stored = false;
    for (Miss& m : misses) {
      if (m.poisoned)
        disk->remove(m.key);
      else if (disk->store(m.key, m.object))
        stored = true;
      kc.jit->add_object(m.object, m.name);
      void* fn = kc.jit->try_lookup(m.name);
      if (!fn) KILN_UNREACHABLE("kernel '" << m.name << "' compiled but its symbol is missing");
      ++g_compiled;
      kc.fns.emplace(*m.text, reinterpret_cast<KilnKernelFn>(fn));
    }
    if (stored) disk->trim();
  }

  std::vector<KilnKernelFn> fns(kernels.size(), nullptr);
  for (std::size_t i = 0; i < kernels.size(); ++i) fns[i] = kc.fns.at(texts[i]);
  return fns;
}

}  // namespace kiln::codegen
