// NVRTC: CUDA C++ source → cubin (and PTX) at run time. Built only when the
// CUDA toolkit is found (KILN_HAVE_CUDA); nvrtc_available() says which.
//
// One compile for a real architecture (--gpu-architecture=sm_XX) gives both
// the cubin (NVRTC runs ptxas itself) and the PTX of compute_XX, kept so a
// newer GPU can JIT it (forward compatibility). Options: C++17, every
// function a device function (-default-device), the toolkit's include folder
// (for cuda_fp16.h and friends; kiln's own kernels need no header), and
// IEEE accuracy: --fmad=false (no contraction of a*b+c, which the CPU
// backend and the interpreter never do), IEEE division and sqrt and
// denormals (NVRTC's defaults, spelled out).
//
// Results are cached in memory by (source, architecture, NVRTC version,
// options), and on disk in the CPU kernels' cache (codegen/disk_cache.*,
// the directory from cache_directory_from_environment(): KILN_CACHE_DIR,
// "off" disables it) under nvrtc_cache_key(): one entry holds the cubin,
// the PTX and the log (encode_cuda_binary). A damaged entry (the disk
// cache's hash, the framing, the ELF magic or the arch do not check) is
// recompiled and replaced.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::codegen::cuda {

struct NvrtcVersion {
  int major = 0;
  int minor = 0;
};

struct CudaBinary {
  std::string arch;            // "sm_90"
  std::vector<char> cubin;     // an ELF image for cuModuleLoadData
  std::string ptx;             // PTX for compute_XX, for GPUs newer than arch
  std::string log;             // NVRTC's log (warnings), usually empty
  double compile_ms = 0;       // 0 when it came from the cache
  bool from_cache = false;     // from the memory or the disk cache (not compiled by this call)
  bool from_disk = false;      // from the disk cache
};

// Is NVRTC compiled in? (False in a build without the toolkit; every other
// function then throws a kiln::Error saying so.)
bool nvrtc_available();

NvrtcVersion nvrtc_version();

// The architectures this NVRTC compiles for, as "sm_XX".
std::vector<std::string> nvrtc_supported_archs();

// Compiles `source` (one program, any number of kernels) for `arch`
// ("sm_80", "sm_90", ...). `program_name` appears in NVRTC's log and in
// errors (the kernel's name). A compile failure is a kiln::RuntimeError
// carrying NVRTC's log. Cached in memory: the second compile of the same
// source for the same arch returns the first result (from_cache = true).
CudaBinary nvrtc_compile(const std::string& source, const std::string& arch, const std::string& program_name);

// The options nvrtc_compile passes for `arch`.
std::vector<std::string> nvrtc_options(const std::string& arch);

// The cache key of a compile: a hex digest of source, arch, options and
// the NVRTC version (the disk cache's key too).
std::string nvrtc_cache_key(const std::string& source, const std::string& arch);

// What the caches did in this process (every nvrtc_compile counts once in
// memory_hits, disk_hits or compiled).
struct NvrtcCacheStats {
  std::size_t memory_hits = 0;
  std::size_t disk_hits = 0;
  std::size_t disk_rejected = 0;  // disk entries that failed a check (then recompiled)
  std::size_t disk_stores = 0;
  std::size_t compiled = 0;
};
NvrtcCacheStats nvrtc_cache_stats();

// The disk cache's payload of a binary, and back (false on anything that
// does not check: magic, lengths, trailing bytes, the cubin's ELF magic).
std::string encode_cuda_binary(const CudaBinary& b);
bool decode_cuda_binary(std::string_view payload, CudaBinary* b);

// Entries in the in-memory cache, and emptying it (for tests that time cold
// compiles; the disk cache is not touched: KILN_CACHE_DIR=off for that).
std::size_t nvrtc_cache_size();
void nvrtc_cache_clear();

}  // namespace kiln::codegen::cuda
