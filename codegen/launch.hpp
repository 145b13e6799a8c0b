// Launching a bound kernel on the CPU: on the caller alone when the work is
// small, split across the cores (runtime/parallel.hpp) when it is large.
#pragma once

#include "codegen/bind.hpp"

namespace kiln::codegen {

// Per-element cost estimate of a kernel: 16 for a libm-style function, 1 for
// other ops (what decides whether threads pay off).
std::int64_t kernel_cost(const Kernel& k);

// Launches so far that streamed their output past the cache (tests).
std::size_t streamed_launches();

// Runs `fn` over all rows of `args` (which it may modify).
void launch_kernel(const Kernel& k, KilnKernelFn fn, KernelArgs& args);

}  // namespace kiln::codegen
