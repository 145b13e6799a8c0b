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
// options). TODO(disk cache): codegen/disk_cache.* (another branch) will
// keep cubins across processes under the same key; nvrtc_cache_key() is the
// key to store them under.
#pragma once

#include <cstdint>
#include <string>
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
  bool from_cache = false;
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

// Entries in the in-memory cache, and emptying it (for tests that time cold compiles).
std::size_t nvrtc_cache_size();
void nvrtc_cache_clear();

}  // namespace kiln::codegen::cuda
