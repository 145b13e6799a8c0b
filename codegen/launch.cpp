#include "codegen/launch.hpp"

#include <algorithm>

#include "runtime/parallel.hpp"

namespace kiln::codegen {

namespace {

// A kernel splits its rows across threads when its elements times its
// per-element cost reach this; smaller ones run on the caller alone.
// Measured on 2 cores: exp(x) * 2 + 1 gains from 64K elements on (2x at 1M),
// x * 2 + 1 (memory-bound; waking a helper costs ~20 us) not even at 1M.
constexpr std::int64_t kParallelWork = std::int64_t{1} << 20;

}  // namespace

std::int64_t kernel_cost(const Kernel& k) {
  std::int64_t cost = 0;
  for (const KernelExpr& e : k.body) {
    if (e.kind != KernelExpr::Kind::Op) continue;
    const bool heavy = ir::op_info(e.op).category == ir::OpCategory::UnaryFloat || e.op == ir::OpCode::Pow ||
                       e.op == ir::OpCode::Atan2;
    cost += heavy ? 16 : 1;
  }
  return std::max<std::int64_t>(cost, 1);
}

void launch_kernel(const Kernel& k, KilnKernelFn fn, KernelArgs& a) {
  // A reduction over an empty axis still writes its rows (sum → 0).
  if (a.elements() == 0 && (!k.has_reduction() || a.rows == 0)) return;
  const std::int64_t rows = a.rows;
  const std::size_t r = a.space.size();
  if (r == 0 || a.elements() * kernel_cost(k) < kParallelWork) {
    fn(a.bufs.data(), 0, rows);
  } else if (rows >= 2) {
    detail::parallel_for(static_cast<int>(std::min<std::int64_t>(rows, 64)), [&](int t, int nt) {
      const std::int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
      if (begin < end) fn(a.bufs.data(), begin, end);
    });
  } else if (a.splittable_row) {
    // One long row: each thread runs the kernel on its own part of it.
    const std::size_t in = r - 1;
    const std::size_t nops = a.bufs.size();
    detail::parallel_for(64, [&](int t, int nt) {
      const std::int64_t begin = a.space[in] * t / nt, end = a.space[in] * (t + 1) / nt;
      if (begin >= end) return;
      Shape part_shape = a.space;
      part_shape[in] = end - begin;
      std::vector<KilnBuffer> part = a.bufs;
      for (std::size_t o = 0; o < nops; ++o) {
        const auto es = static_cast<std::int64_t>(dtype_size(k.operands[o].dtype));
        part[o].data = static_cast<std::byte*>(a.bufs[o].data) + begin * a.strides[o][in] * es;
        part[o].shape = part_shape.data();
      }
      fn(part.data(), 0, 1);
    });
  } else {
    fn(a.bufs.data(), 0, rows);
  }
}

}  // namespace kiln::codegen
