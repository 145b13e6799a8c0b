#include "codegen/cuda/nvrtc.hpp"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <map>
#include <mutex>

#include "codegen/disk_cache.hpp"
#include "kiln/error.hpp"

#if KILN_HAVE_CUDA
#include <nvrtc.h>
#endif

#ifndef KILN_CUDA_INCLUDE_DIR
#define KILN_CUDA_INCLUDE_DIR "/usr/local/cuda/include"
#endif

namespace kiln::codegen::cuda {

namespace {

struct Cache {
  std::mutex mu;
  std::map<std::string, CudaBinary> entries;  // exact key: options + version + source
};
Cache& cache() {
  static Cache c;
  return c;
}

std::string exact_key(const std::string& source, const std::string& arch) {
  const NvrtcVersion v = nvrtc_version();
  std::string k = std::to_string(v.major) + "." + std::to_string(v.minor) + "\n";
  for (const std::string& o : nvrtc_options(arch)) k += o + "\n";
  return k + "\n" + source;
}

// The disk cache's key: a domain tag (so a CPU kernel object can never be
// read as a cubin) and the exact key.
Hash128 disk_key(const std::string& exact) { return Hasher().add("kiln nvrtc cubin v1").add(exact).finish(); }

std::mutex g_stats_mu;
NvrtcCacheStats g_stats;
void count(std::size_t NvrtcCacheStats::*field) {
  std::lock_guard<std::mutex> lock(g_stats_mu);
  ++(g_stats.*field);
}

// Payload: "KILNCUBIN1\n", then arch, cubin, PTX and log, each as an 8-byte
// length (host order: the cache is per machine) and its bytes.
constexpr std::string_view kMagic = "KILNCUBIN1\n";

void put(std::string& out, std::string_view field) {
  const std::uint64_t n = field.size();
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(field);
}

bool get(std::string_view& in, std::string* field) {
  std::uint64_t n = 0;
  if (in.size() < sizeof n) return false;
  std::memcpy(&n, in.data(), sizeof n);
  in.remove_prefix(sizeof n);
  if (n > in.size()) return false;
  field->assign(in.data(), static_cast<std::size_t>(n));
  in.remove_prefix(static_cast<std::size_t>(n));
  return true;
}

}  // namespace

std::string encode_cuda_binary(const CudaBinary& b) {
  std::string out(kMagic);
  put(out, b.arch);
  put(out, std::string_view(b.cubin.data(), b.cubin.size()));
  put(out, b.ptx);
  put(out, b.log);
  return out;
}

bool decode_cuda_binary(std::string_view in, CudaBinary* b) {
  if (in.substr(0, kMagic.size()) != kMagic) return false;
  in.remove_prefix(kMagic.size());
  std::string cubin;
  CudaBinary r;
  if (!get(in, &r.arch) || !get(in, &cubin) || !get(in, &r.ptx) || !get(in, &r.log) || !in.empty()) return false;
  // A cubin is an ELF image.
  if (cubin.size() < 4 || cubin.compare(0, 4, "\x7f" "ELF") != 0) return false;
  r.cubin.assign(cubin.begin(), cubin.end());
  *b = std::move(r);
  return true;
}

NvrtcCacheStats nvrtc_cache_stats() {
  std::lock_guard<std::mutex> lock(g_stats_mu);
  return g_stats;
}

namespace {

}  // namespace

#if KILN_HAVE_CUDA

namespace {

void check(nvrtcResult r, const char* what, const std::string& name) {
  if (r != NVRTC_SUCCESS)
    throw RuntimeError("NVRTC: " + std::string(what) + " failed for " + name + ": " + nvrtcGetErrorString(r));
}

// Owns an nvrtcProgram.
struct Program {
  nvrtcProgram p = nullptr;
  ~Program() {
    if (p) nvrtcDestroyProgram(&p);
  }
};

}  // namespace

bool nvrtc_available() { return true; }

NvrtcVersion nvrtc_version() {
  NvrtcVersion v;
  check(nvrtcVersion(&v.major, &v.minor), "nvrtcVersion", "the version query");
  return v;
}

std::vector<std::string> nvrtc_supported_archs() {
  int n = 0;
  check(nvrtcGetNumSupportedArchs(&n), "nvrtcGetNumSupportedArchs", "the architecture query");
  std::vector<int> a(static_cast<std::size_t>(n));
  check(nvrtcGetSupportedArchs(a.data()), "nvrtcGetSupportedArchs", "the architecture query");
  std::vector<std::string> out;
  for (int x : a) out.push_back("sm_" + std::to_string(x));
  return out;
}

CudaBinary nvrtc_compile(const std::string& source, const std::string& arch, const std::string& program_name) {
  if (arch.rfind("sm_", 0) != 0)
    throw Error("nvrtc_compile: architecture '" + arch + "' is not a real one (sm_XX)");
  const std::string key = exact_key(source, arch);
  {
    std::lock_guard<std::mutex> lock(cache().mu);
    auto it = cache().entries.find(key);
    if (it != cache().entries.end()) {
      CudaBinary b = it->second;
      b.from_cache = true;
      b.from_disk = false;
      b.compile_ms = 0;
      count(&NvrtcCacheStats::memory_hits);
      return b;
    }
  }
  // The disk cache (KILN_CACHE_DIR; shared with the CPU kernels' objects).
  // A hit is checked (hash by DiskCache, framing and arch here); a bad
  // entry is recompiled and replaced.
  const DiskCache disk(cache_directory_from_environment());
  const Hash128 dkey = disk_key(key);
  if (disk.enabled()) {
    std::string payload;
    DiskCache::Status st = disk.load(dkey, &payload);
    if (st == DiskCache::Status::Hit) {
      CudaBinary b;
      if (decode_cuda_binary(payload, &b) && b.arch == arch) {
        count(&NvrtcCacheStats::disk_hits);
        {
          std::lock_guard<std::mutex> lock(cache().mu);
          cache().entries.emplace(key, b);
        }
        b.from_cache = true;
        b.from_disk = true;
        return b;
      }
      st = DiskCache::Status::Corrupt;
    }
    if (st == DiskCache::Status::Corrupt) count(&NvrtcCacheStats::disk_rejected);
  }
  // Compiled outside the lock: NVRTC is thread-safe, and two threads
  // compiling the same source at once only waste work.
  const auto t0 = std::chrono::steady_clock::now();
  const std::string file = program_name + ".cu";
  Program prog;
  check(nvrtcCreateProgram(&prog.p, source.c_str(), file.c_str(), 0, nullptr, nullptr), "nvrtcCreateProgram",
        program_name);
  const std::vector<std::string> opts = nvrtc_options(arch);
  std::vector<const char*> copts;
  for (const std::string& o : opts) copts.push_back(o.c_str());
  const nvrtcResult r = nvrtcCompileProgram(prog.p, static_cast<int>(copts.size()), copts.data());
  std::size_t log_size = 0;
  std::string log;
  if (nvrtcGetProgramLogSize(prog.p, &log_size) == NVRTC_SUCCESS && log_size > 1) {
    log.resize(log_size);
    nvrtcGetProgramLog(prog.p, log.data());
    log.resize(log_size - 1);  // the terminating NUL
  }
  if (r != NVRTC_SUCCESS)
    throw RuntimeError("NVRTC failed to compile kernel " + program_name + " for " + arch + " (" +
                       nvrtcGetErrorString(r) + "):\n" + log);
  CudaBinary b;
  b.arch = arch;
  b.log = log;
  std::size_t n = 0;
  check(nvrtcGetCUBINSize(prog.p, &n), "nvrtcGetCUBINSize", program_name);
  b.cubin.resize(n);
  check(nvrtcGetCUBIN(prog.p, b.cubin.data()), "nvrtcGetCUBIN", program_name);
  check(nvrtcGetPTXSize(prog.p, &n), "nvrtcGetPTXSize", program_name);
  b.ptx.resize(n);
  check(nvrtcGetPTX(prog.p, b.ptx.data()), "nvrtcGetPTX", program_name);
  if (!b.ptx.empty() && b.ptx.back() == '\0') b.ptx.pop_back();
  b.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  count(&NvrtcCacheStats::compiled);
  if (disk.enabled() && disk.store(dkey, encode_cuda_binary(b))) {
    count(&NvrtcCacheStats::disk_stores);
    disk.trim();
  }
  std::lock_guard<std::mutex> lock(cache().mu);
  cache().entries.emplace(key, b);
  return b;
}

#else  // no toolkit

[[noreturn]] static void no_nvrtc() {
  throw RuntimeError("NVRTC is not available: this build of kiln was configured without the CUDA toolkit");
}
bool nvrtc_available() { return false; }
NvrtcVersion nvrtc_version() { return {}; }
std::vector<std::string> nvrtc_supported_archs() { return {}; }
CudaBinary nvrtc_compile(const std::string&, const std::string&, const std::string&) { no_nvrtc(); }

#endif

std::vector<std::string> nvrtc_options(const std::string& arch) {
  return {"--gpu-architecture=" + arch,
          "--std=c++17",
          "-default-device",
          "--fmad=false",
          "--prec-div=true",
          "--prec-sqrt=true",
          "--ftz=false",
          "--include-path=" KILN_CUDA_INCLUDE_DIR};
}

std::string nvrtc_cache_key(const std::string& source, const std::string& arch) {
  return disk_key(exact_key(source, arch)).hex();
}

std::size_t nvrtc_cache_size() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().entries.size();
}

void nvrtc_cache_clear() {
  std::lock_guard<std::mutex> lock(cache().mu);
  cache().entries.clear();
}

}  // namespace kiln::codegen::cuda
