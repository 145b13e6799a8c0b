#include "runtime/parallel.hpp"

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

namespace kiln::detail {

namespace {

int threads_from_env() {
  if (const char* env = std::getenv("KILN_NUM_THREADS")) {
    try {
      int n = std::stoi(env);
      if (n >= 1) return n;
    } catch (...) {
    }
  }
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

tbb::task_arena& arena() {
  static tbb::task_arena* a = new tbb::task_arena(threads_from_env());  // lives for the process
  return *a;
}

}  // namespace

int parallel_threads() {
  static const int n = threads_from_env();
  return n;
}

void parallel_for(int max_parts, const std::function<void(int, int)>& part) {
  const int parts = std::min(max_parts, parallel_threads());
  if (parts <= 1) {
    part(0, 1);
    return;
  }
  arena().execute([&] {
    tbb::parallel_for(0, parts, 1, [&](int i) { part(i, parts); }, tbb::simple_partitioner());
  });
}

}  // namespace kiln::detail
