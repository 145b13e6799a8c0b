#include "codegen/launch.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "runtime/parallel.hpp"

namespace kiln::codegen {

namespace {

// A kernel splits its rows across threads when its elements times its
// per-element cost reach this; smaller ones run on the caller alone.
// Measured on 2 cores: exp(x) * 2 + 1 gains from 64K elements on (2x at 1M),
// x * 2 + 1 (memory-bound; waking a helper costs ~20 us) not even at 1M.
constexpr std::int64_t kParallelWork = std::int64_t{1} << 20;

// Outputs of this many bytes and more bypass the cache (streaming stores):
// they are larger than the last-level cache, so the lines an ordinary store
// would first read in are evicted before anyone reads them back. Hand-written
// W1/W2 loops ran 1.3-1.6x faster this way on these machines.
std::atomic<std::size_t> g_streamed{0};

constexpr std::int64_t kStreamBytes = std::int64_t{8} << 20;
// A streamed kernel computes pieces of this size into a per-thread buffer
// and copies each out before computing the next: small pieces, so that the
// streamed lines drain from the write-combining buffers while the next piece
// is computed (16 KiB pieces serialised the two: W1 ran 1.6x slower).
constexpr std::size_t kStreamChunk = 1 << 10;
// Only kernels cheaper than one libm call per element stream: in a kernel
// that computes exp or tanh, ordinary stores overlap with the computation,
// and streaming through the buffer measured slower (W1 7.3 vs 5.9 ms at one
// thread; a row softmax through a row buffer 13 vs 11 ms), while x * 2 + 1
// gained (4.0 vs 4.9 ms at two threads).
constexpr std::int64_t kStreamMaxCost = 16;

// Copies n bytes with non-temporal stores where dst is aligned: 64-byte
// stores (one whole cache line each) when the CPU has AVX-512, else 16-byte
// ones.
__attribute__((target("avx512f"))) void stream_lines_avx512(std::byte* dst, const std::byte* src, std::size_t n) {
  for (std::size_t i = 0; i < n; i += 64)
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), _mm512_loadu_si512(src + i));
}

void stream_copy(std::byte* dst, const std::byte* src, std::size_t n) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const std::size_t head = std::min(n, (64 - reinterpret_cast<std::uintptr_t>(dst) % 64) % 64);
  std::memcpy(dst, src, head);
  std::size_t i = head;
  const std::size_t lines = (n - i) / 64 * 64;
  if (avx512) {
    stream_lines_avx512(dst + i, src + i, lines);
    i += lines;
  } else {
    for (; i + 64 <= n; i += 64)
      for (std::size_t q = 0; q < 64; q += 16)
        _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + q),
                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + q)));
  }
  std::memcpy(dst + i, src + i, n - i);
}

// Does the kernel write every element of its iteration space to a
// C-contiguous output (an elementwise kernel over a fresh array)?
bool contiguous_output(const KernelArgs& a) {
  const Shape& st = a.strides.back();
  std::int64_t expect = 1;
  for (std::size_t d = a.space.size(); d-- > 0;) {
    if (a.space[d] != 1 && st[d] != expect) return false;
    expect *= a.space[d];
  }
  return true;
}

// The per-thread buffer a streamed kernel writes before the copy out.
std::byte* stream_buffer() {
  alignas(64) static thread_local std::byte buf[kStreamChunk];
  return buf;
}

// Runs flat elements [begin, end) of the iteration space, one piece of a row
// at a time, computing each piece into a per-thread buffer and streaming it
// to the output.
void run_streaming(const Kernel& k, KilnKernelFn fn, const KernelArgs& a, std::int64_t begin, std::int64_t end) {
  std::byte* chunk = stream_buffer();
  const std::size_t r = a.space.size(), in = r - 1, nops = a.bufs.size();
  const auto es = static_cast<std::int64_t>(dtype_size(k.output().dtype));
  const std::int64_t inner = a.space[in], per_chunk = static_cast<std::int64_t>(kStreamChunk) / es;
  Shape part_shape = a.space;
  std::vector<Shape> part_strides = a.strides;
  std::fill(part_strides.back().begin(), part_strides.back().end(), 0);  // every row lands in `chunk`
  part_strides.back()[in] = 1;
  std::vector<KilnBuffer> part(nops);
  auto* out = static_cast<std::byte*>(a.bufs.back().data);
  for (std::int64_t f = begin; f < end;) {
    const std::int64_t row = f / inner, j = f % inner;
    const std::int64_t len = std::min({per_chunk, inner - j, end - f});
    part_shape[in] = len;
    for (std::size_t o = 0; o + 1 < nops; ++o) {
      const auto ies = static_cast<std::int64_t>(dtype_size(k.operands[o].dtype));
      part[o] = {static_cast<std::byte*>(a.bufs[o].data) + j * a.strides[o][in] * ies, part_shape.data(),
                 part_strides[o].data()};
    }
    part.back() = {chunk, part_shape.data(), part_strides.back().data()};
    fn(part.data(), row, row + 1);
    stream_copy(out + f * es, chunk, static_cast<std::size_t>(len * es));
    f += len;
  }
  _mm_sfence();  // the streamed lines are visible before the caller reads them
}

}  // namespace

std::size_t streamed_launches() { return g_streamed.load(); }

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
  const std::int64_t elems = a.elements();
  const std::int64_t cost = kernel_cost(k);
  const bool threads = r > 0 && elems * cost >= kParallelWork;
  if (r > 0 && a.splittable_row && cost < kStreamMaxCost &&
      elems * static_cast<std::int64_t>(dtype_size(k.output().dtype)) >= kStreamBytes && contiguous_output(a)) {
    g_streamed.fetch_add(1, std::memory_order_relaxed);
    detail::parallel_for(threads ? 64 : 1, [&](int t, int nt) {
      run_streaming(k, fn, a, elems * t / nt, elems * (t + 1) / nt);
    });
    return;
  }
  if (!threads) {
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
