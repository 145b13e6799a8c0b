// kiln — fork-join over the CPU's cores for the native backend's kernels,
// through oneTBB (no hand-written thread pool).
//
// oneTBB's workers spin only briefly before sleeping; with OpenMP's default
// (active) wait policy a 0.5 ms kernel took 7.7 ms on a machine whose cores
// were busy with other work (each join waited for a descheduled spinner), and
// the wait policy can only be set through the environment before start-up.
#pragma once

#include <cstdint>
#include <functional>

namespace kiln::detail {

// Number of threads parallel_for may use (the caller included), >= 1: the
// core count, or KILN_NUM_THREADS.
int parallel_threads();

// Calls part(i, parts) for i in [0, parts) with parts = min(max_parts,
// parallel_threads()) and returns when all are done. `part` must not throw.
void parallel_for(int max_parts, const std::function<void(int part, int parts)>& part);

}  // namespace kiln::detail
