// Compiled kernels for the native backend: a process-wide in-memory cache
// keyed by the kernel IR's text, in front of the LLVM JIT. The kernels a
// plan still needs are compiled together in one LLVM module.
#pragma once

#include <cstddef>
#include <vector>

#include "codegen/kernel.hpp"

namespace kiln::codegen {

// The entry point of each kernel, compiling those not cached yet.
std::vector<KilnKernelFn> compile_kernels(const std::vector<const Kernel*>& kernels);

// Number of kernels compiled by this process so far (cache misses; tests).
std::size_t native_kernels_compiled();

}  // namespace kiln::codegen
