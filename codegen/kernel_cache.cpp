#include "codegen/kernel_cache.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "codegen/llvm/emit.hpp"
#include "codegen/llvm/jit.hpp"
#include "kiln/error.hpp"

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

std::vector<KilnKernelFn> compile_kernels(const std::vector<const Kernel*>& kernels) {
  std::vector<std::string> texts;
  texts.reserve(kernels.size());
  for (const Kernel* k : kernels) texts.push_back(print_kernel(*k));
  KernelCache& kc = cache();
  std::lock_guard<std::mutex> lock(kc.mu);

  std::unique_ptr<DiskCache> disk;  // made when a kernel is not in memory
  bool stored = false;
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    if (kc.fns.count(texts[i])) continue;  // in memory (or an earlier duplicate in this call)
    if (!kc.jit) {
      kc.jit = Jit::create();
      define_kernel_helpers(*kc.jit);
    }
    if (!disk) disk = std::make_unique<DiskCache>(cache_directory_from_environment());
    Jit& jit = *kc.jit;
    const Hash128 key = kernel_cache_key(texts[i]);
    const std::string name = symbol_of(key);

    // 2. the disk: a hit is linked as it is.
    void* fn = nullptr;
    bool poisoned = false;  // `name` was given to the JIT by an object that then failed
    std::string obj;
    DiskCache::Status st = disk->load(key, &obj);
    if (st == DiskCache::Status::Hit) {
      bool added = false;
      try {
        jit.add_object(obj, name);
        added = true;
        fn = jit.try_lookup(name);
      } catch (const RuntimeError&) {
        // not an object LLVM can read after all: recompile below
      }
      if (fn) {
        ++g_loaded;
      } else {
        st = DiskCache::Status::Corrupt;
        poisoned = added;
      }
    }
    if (st == DiskCache::Status::Corrupt) ++g_rejected;

    // 3. LLVM, and the object stored for the next process. When a bad
    // object already holds `name` in this JIT (vanishingly rare: it passed
    // the hash check), this process uses a second name and deletes the
    // entry, so the next process recompiles and stores a good one.
    if (!fn) {
      const std::string fresh = poisoned ? name + "_r" : name;
      auto ctx = std::make_unique<llvm::LLVMContext>();
      std::unique_ptr<llvm::Module> m = jit.new_module(fresh, *ctx);
      emit_kernel(*kernels[i], fresh, *m);
      obj = jit.compile(*m);
      m.reset();
      ctx.reset();
      if (poisoned)
        disk->remove(key);
      else if (disk->store(key, obj))
        stored = true;
      jit.add_object(obj, fresh);
      fn = jit.try_lookup(fresh);
      if (!fn) KILN_UNREACHABLE("kernel '" << fresh << "' compiled but its symbol is missing");
      ++g_compiled;
    }
    kc.fns.emplace(texts[i], reinterpret_cast<KilnKernelFn>(fn));
  }
  if (stored) disk->trim();

  std::vector<KilnKernelFn> fns(kernels.size(), nullptr);
  for (std::size_t i = 0; i < kernels.size(); ++i) fns[i] = kc.fns.at(texts[i]);
  return fns;
}

}  // namespace kiln::codegen
