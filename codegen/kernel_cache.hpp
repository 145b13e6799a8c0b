// Compiled kernels for the native backend. A kernel is looked up
//   1. in a process-wide in-memory cache keyed by the kernel IR's text,
//   2. in the on-disk cache (codegen/disk_cache.hpp), keyed by a hash of that
//      text, the object format, kiln's version and build, LLVM's version and
//      the host CPU: a hit links the stored object without running LLVM,
//   3. else it is compiled by LLVM to an object, stored on disk and linked.
// Hits and misses link the same kind of object the same way (codegen/llvm/jit.hpp).
// The directory comes from the environment at each call (KILN_CACHE_DIR;
// see cache_directory_from_environment); a cache that cannot be read or
// written never fails a compile.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "codegen/disk_cache.hpp"
#include "codegen/kernel.hpp"

namespace kiln::codegen {

// The entry point of each kernel, compiling those not cached yet.
std::vector<KilnKernelFn> compile_kernels(const std::vector<const Kernel*>& kernels);

// Counts since the process started (tests, benchmarks).
struct KernelCacheStats {
  std::size_t compiled = 0;  // kernels compiled by LLVM (missed both caches)
  std::size_t loaded = 0;    // kernels linked from a disk cache entry
  std::size_t rejected = 0;  // disk entries that failed a check (then recompiled)
};
KernelCacheStats native_kernel_cache_stats();

// Number of kernels compiled by LLVM in this process so far.
std::size_t native_kernels_compiled();

// The disk cache key of a kernel with this printed text on this host.
Hash128 kernel_cache_key(const std::string& kernel_text);

}  // namespace kiln::codegen
