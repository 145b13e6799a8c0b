// The CUDA driver emulator itself (tests/cuda_emu/emulator.cpp): hand-written
// kernels loaded from source and launched through the driver API as kiln
// binds it — block reductions with __syncthreads and shuffles, the shuffles'
// exact semantics, grid-stride loops, 3-D grids and blocks, deadlock
// detection, traps, and the driver's errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "cuda_emu/emu_test_util.hpp"
#include "kiln/error.hpp"

namespace {

using namespace kiln;
using namespace kiln::cuda_emu_test;
using runtime::cu::DevicePtr;
using runtime::cu::Function;

// Every kernel of the tests below in one module: one host compile.
const char* const kKernels = R"(
// A block's sum: a grid-stride loop, a warp reduction with __shfl_down_sync,
// one value per warp in shared memory, the warps' values reduced with
// __shfl_xor_sync by warp 0. Works for any 2-D or 3-D block of up to 1024 threads.
extern "C" __global__ void __launch_bounds__(1024) block_sum(const long long* __restrict__ in, long long* out, int n) {
  __shared__ long long warp_sums[32];
  const int tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int nthreads = blockDim.x * blockDim.y * blockDim.z;
  long long v = 0;
  for (long long i = (long long)blockIdx.x * nthreads + tid; i < n; i += (long long)gridDim.x * nthreads) v += in[i];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = tid % warpSize, warp = tid / warpSize;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (nthreads + 31) / 32 ? warp_sums[lane] : 0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) out[blockIdx.x] = v;
  }
}

// A float tree reduction in shared memory with __syncthreads only (256 threads).
extern "C" __global__ void tree_sum(const float* in, float* out) {
  __shared__ float s[256];
  s[threadIdx.x] = in[blockIdx.x * 256 + threadIdx.x];
  __syncthreads();
  for (int stride = 128; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}

// Shuffle semantics: per thread, 12 results.
extern "C" __global__ void shuffles(int* out, double* outd, unsigned* votes) {
  const int t = threadIdx.x, lane = t % 32;
  const int v = t * 10 + 1;
  int* o = out + t * 10;
  o[0] = __shfl_sync(0xffffffffu, v, (lane * 7) % 32);
  o[1] = __shfl_sync(0xffffffffu, v, 35);             // lane 35 % 32
  o[2] = __shfl_sync(0xffffffffu, v, 9, 8);           // lane 1 of each group of 8
  o[3] = __shfl_up_sync(0xffffffffu, v, 3);
  o[4] = __shfl_up_sync(0xffffffffu, v, 3, 8);
  o[5] = __shfl_down_sync(0xffffffffu, v, 5);
  o[6] = __shfl_down_sync(0xffffffffu, v, 5, 16);
  o[7] = __shfl_xor_sync(0xffffffffu, v, 9, 16);      // later groups: own value
  o[8] = __shfl_xor_sync(0xffffffffu, v, 1, 8);
  o[9] = __shfl_xor_sync(0xffffffffu, v, 31);
  outd[t] = __shfl_down_sync(0xffffffffu, t + 0.25, 1);  // a double moves whole
  const unsigned b = __ballot_sync(0xffffffffu, lane % 3 == 0);
  const int any = __any_sync(0xffffffffu, t == 40);
  const int all = __all_sync(0xffffffffu, lane < 32);
  __syncwarp();
  if (lane == 0) {
    votes[(t / 32) * 3 + 0] = b;
    votes[(t / 32) * 3 + 1] = any;
    votes[(t / 32) * 3 + 2] = all;
  }
}

// Every thread of a 3-D grid of 3-D blocks writes its global id where it belongs.
extern "C" __global__ void ids(unsigned* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned nthreads = blockDim.x * blockDim.y * blockDim.z;
  const unsigned tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[block * nthreads + tid] = block * 1000 + tid;
}

// A grid-stride loop: every element exactly once, whatever the grid.
extern "C" __global__ void count_visits(int* hits, long long n) {
  const long long step = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) atomicAdd(hits + i, 1);
}

// Undefined behaviour in CUDA: thread 5 leaves, the others wait for it.
extern "C" __global__ void block_deadlock(int* out) {
  if (threadIdx.x == 5) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}
// Lane 3 leaves, the others shuffle with it.
extern "C" __global__ void warp_deadlock(int* out) {
  if (threadIdx.x % 32 == 3) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, (int)threadIdx.x, 1);
}
// Early exits without a barrier are fine.
extern "C" __global__ void early_exit(int* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  out[i] = i * 2;
}
// Past the end of device memory; a stack far larger than a thread's 64 KiB.
extern "C" __global__ void oob_write(int* p, int n) { p[n + threadIdx.x] = 1; }
extern "C" __global__ void stack_hog(int* out) {
  volatile char big[256 << 10];
  for (int i = 0; i < (int)sizeof big; i += 4096) big[i] = (char)i;
  out[threadIdx.x] = big[0] + big[sizeof big - 1];
}
extern "C" __global__ void traps(int* out) {
  if (threadIdx.x == 7) __trap();
  out[threadIdx.x] = 1;
}
)";

class Emulator : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { mod_ = new EmuModule(kKernels); }
  static void TearDownTestSuite() {
    delete mod_;
    mod_ = nullptr;
  }
  void SetUp() override { ASSERT_EQ(mod_->load, 0) << error_text(mod_->load); }
  static EmuModule* mod_;
};
EmuModule* Emulator::mod_ = nullptr;

TEST(EmulatorDevice, KilnSeesOneEmulatedSm90DeviceWithTwoSms) {
  ASSERT_TRUE(runtime::cuda_available());
  EXPECT_TRUE(drv().emulated);
  const runtime::CudaDeviceInfo& info = runtime::cuda_device(Device::cuda(0), "test");
  EXPECT_EQ(info.name, "kiln CUDA emulator");
  EXPECT_EQ(info.arch(), "sm_90");
  EXPECT_EQ(info.multiprocessors, 2);
  int n = 0, warp = 0, v = 0;
  EXPECT_EQ(drv().cuDeviceGetCount(&n), 0);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(drv().cuDeviceGetAttribute(&warp, 10, 0), 0);
  EXPECT_EQ(warp, 32);
  EXPECT_EQ(drv().cuDriverGetVersion(&v), 0);
  EXPECT_GE(v, 12000);
  runtime::cu::Device dev = -1;
  EXPECT_EQ(drv().cuDeviceGet(&dev, 1), 101);  // CUDA_ERROR_INVALID_DEVICE
  EXPECT_THROW(runtime::cuda_device(Device::cuda(1), "test"), RuntimeError);
}

TEST_F(Emulator, BlockReductionWithSyncthreadsAndShufflesGivesExactSums) {
  const int n = 100003;
  std::vector<long long> in(n);
  std::iota(in.begin(), in.end(), 0LL);
  DeviceVec<long long> din(in), dout(std::size_t{8});
  int nn = n;
  Function f = mod_->fn("block_sum");
  struct Shape {
    unsigned grid, bx, by, bz;
  };
  for (const Shape s : {Shape{4, 256, 1, 1}, Shape{3, 32, 8, 1}, Shape{2, 8, 4, 32}, Shape{1, 1024, 1, 1}, Shape{5, 96, 1, 1}}) {
    const runtime::cu::Result r = launch(f, s.grid, s.bx, {din.arg(), dout.arg(), &nn}, 1, 1, s.by, s.bz);
    ASSERT_EQ(r, 0) << error_text(r);
    const std::vector<long long> got = dout.get();
    long long total = 0, want_block0 = 0;
    for (unsigned b = 0; b < s.grid; ++b) total += got[b];
    const long long nthreads = s.bx * s.by * s.bz;
    for (long long i = 0; i < n; i += s.grid * nthreads)
      for (long long k = i; k < i + nthreads && k < n; ++k) want_block0 += k;
    EXPECT_EQ(total, static_cast<long long>(n) * (n - 1) / 2) << s.grid << " blocks of " << nthreads;
    EXPECT_EQ(got[0], want_block0) << s.grid << " blocks of " << nthreads;
  }
  // a float tree reduction over 256 threads, small integers: exact
  std::vector<float> fin(3 * 256);
  for (std::size_t i = 0; i < fin.size(); ++i) fin[i] = static_cast<float>(i % 17);
  DeviceVec<float> dfin(fin), dfout(std::size_t{3});
  ASSERT_EQ(launch(mod_->fn("tree_sum"), 3, 256, {dfin.arg(), dfout.arg()}), 0);
  const std::vector<float> sums = dfout.get();
  for (int b = 0; b < 3; ++b) {
    float want = 0;
    for (int i = 0; i < 256; ++i) want += static_cast<float>((b * 256 + i) % 17);
    EXPECT_EQ(sums[static_cast<std::size_t>(b)], want) << b;
  }
}

// CUDA's documented semantics, written out independently of the emulator.
int shfl_idx(int lane, int src, int w) { return (lane / w) * w + (src % w); }
int shfl_up(int lane, int d, int w) { return (lane % w) >= d ? lane - d : lane; }
int shfl_down(int lane, int d, int w) { return (lane % w) + d < w ? lane + d : lane; }
int shfl_xor(int lane, int m, int w) { return ((lane ^ m) / w) > (lane / w) ? lane : (lane ^ m); }

TEST_F(Emulator, ShuffleSemanticsIdxUpDownXorWithWidths) {
  const int threads = 64;  // two warps: each exchanges within itself
  DeviceVec<int> out(std::size_t{threads * 10});
  DeviceVec<double> outd(std::size_t{threads});
  DeviceVec<unsigned> votes(std::size_t{6});
  ASSERT_EQ(launch(mod_->fn("shuffles"), 1, threads, {out.arg(), outd.arg(), votes.arg()}), 0);
  const std::vector<int> got = out.get();
  const std::vector<double> gotd = outd.get();
  for (int t = 0; t < threads; ++t) {
    const int lane = t % 32, base = t - lane;
    auto val = [&](int l) { return (base + l) * 10 + 1; };
    const int* o = &got[static_cast<std::size_t>(t * 10)];
    EXPECT_EQ(o[0], val(shfl_idx(lane, (lane * 7) % 32, 32))) << "idx, thread " << t;
    EXPECT_EQ(o[1], val(shfl_idx(lane, 35, 32))) << "idx out of range, thread " << t;
    EXPECT_EQ(o[2], val(shfl_idx(lane, 9, 8))) << "idx width 8, thread " << t;
    EXPECT_EQ(o[3], val(shfl_up(lane, 3, 32))) << "up, thread " << t;
    EXPECT_EQ(o[4], val(shfl_up(lane, 3, 8))) << "up width 8, thread " << t;
    EXPECT_EQ(o[5], val(shfl_down(lane, 5, 32))) << "down, thread " << t;
    EXPECT_EQ(o[6], val(shfl_down(lane, 5, 16))) << "down width 16, thread " << t;
    EXPECT_EQ(o[7], val(shfl_xor(lane, 9, 16))) << "xor width 16, thread " << t;
    EXPECT_EQ(o[8], val(shfl_xor(lane, 1, 8))) << "xor width 8, thread " << t;
    EXPECT_EQ(o[9], val(shfl_xor(lane, 31, 32))) << "xor, thread " << t;
    EXPECT_EQ(gotd[static_cast<std::size_t>(t)], base + shfl_down(lane, 1, 32) + 0.25) << "double, thread " << t;
  }
  // spot checks of the helpers themselves
  EXPECT_EQ(shfl_up(2, 3, 32), 2);
  EXPECT_EQ(shfl_down(30, 5, 32), 30);
  EXPECT_EQ(shfl_xor(3, 9, 16), 10);
  EXPECT_EQ(shfl_xor(7, 9, 16), 14);
  EXPECT_EQ(shfl_xor(18, 9, 16), 27);  // 18^9 = 27: same group
  EXPECT_EQ(shfl_xor(22, 9, 16), 31);
  const std::vector<unsigned> v = votes.get();
  unsigned ballot = 0;
  for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
  EXPECT_EQ(v[0], ballot);
  EXPECT_EQ(v[3], ballot);
  EXPECT_EQ(v[1], 0u);  // thread 40 is in warp 1
  EXPECT_EQ(v[4], 1u);
  EXPECT_EQ(v[2], 1u);
  EXPECT_EQ(v[5], 1u);
}

TEST_F(Emulator, GridStrideLoopsVisitEveryElementOnceAndIdsCover3dGrids) {
  const long long n = 10007;
  Function f = mod_->fn("count_visits");
  for (unsigned grid : {1u, 3u, 64u}) {
    for (unsigned block : {1u, 33u, 256u}) {
      DeviceVec<int> hits(std::vector<int>(static_cast<std::size_t>(n), 0));
      long long nn = n;
      ASSERT_EQ(launch(f, grid, block, {hits.arg(), &nn}), 0);
      const std::vector<int> h = hits.get();
      for (long long i = 0; i < n; ++i)
        if (h[static_cast<std::size_t>(i)] != 1) {
          ADD_FAILURE() << "element " << i << " visited " << h[static_cast<std::size_t>(i)] << " times, grid " << grid
                        << " block " << block;
          break;
        }
    }
  }
  // a 3-D grid (2, 3, 2) of 3-D blocks (4, 2, 3)
  DeviceVec<unsigned> ids(std::size_t{12 * 24});
  ASSERT_EQ(launch(mod_->fn("ids"), 2, 4, {ids.arg()}, 3, 2, 2, 3), 0);
  const std::vector<unsigned> got = ids.get();
  for (unsigned b = 0; b < 12; ++b)
    for (unsigned t = 0; t < 24; ++t) EXPECT_EQ(got[b * 24 + t], b * 1000 + t);
  // early exits without barriers
  DeviceVec<int> e(std::size_t{300});
  int n300 = 300;
  ASSERT_EQ(launch(mod_->fn("early_exit"), 2, 256, {e.arg(), &n300}), 0);
  const std::vector<int> ev = e.get();
  for (int i = 0; i < 300; ++i) EXPECT_EQ(ev[static_cast<std::size_t>(i)], 2 * i);
}

TEST_F(Emulator, DeadlocksAndTrapsAreLaunchErrorsAndTheEmulatorRecovers) {
  DeviceVec<int> out(std::size_t{256});
  runtime::cu::Result r = launch(mod_->fn("block_deadlock"), 2, 64, {out.arg()});
  EXPECT_EQ(r, 719);  // CUDA_ERROR_LAUNCH_FAILED
  EXPECT_NE(error_text(r).find("deadlocked"), std::string::npos) << error_text(r);
  EXPECT_NE(error_text(r).find("63 thread(s) wait at __syncthreads"), std::string::npos) << error_text(r);
  r = launch(mod_->fn("warp_deadlock"), 1, 64, {out.arg()});
  EXPECT_EQ(r, 719);
  EXPECT_NE(error_text(r).find("warp barrier"), std::string::npos) << error_text(r);
  r = launch(mod_->fn("traps"), 1, 32, {out.arg()});
  EXPECT_EQ(r, 715);  // CUDA_ERROR_ILLEGAL_INSTRUCTION
  EXPECT_NE(error_text(r).find("__trap"), std::string::npos) << error_text(r);
  // the next launches run normally
  const int n = 100;
  std::vector<long long> in(n, 3);
  DeviceVec<long long> din(in), dout(std::size_t{1});
  int nn = n;
  ASSERT_EQ(launch(mod_->fn("block_sum"), 1, 128, {din.arg(), dout.arg(), &nn}), 0);
  EXPECT_EQ(dout.get()[0], 300);
}

// Faults kill the process, as on a GPU they kill the context, but say where.
TEST_F(Emulator, OutOfBoundsAccessesAndStackOverflowsFaultWithAReport) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceVec<int> buf(std::size_t{1024});  // 4096 bytes: its end is against the guard page
  int n = 1024;
  Function oob = mod_->fn("oob_write");
  EXPECT_DEATH(launch(oob, 1, 32, {buf.arg(), &n}),
               "kiln CUDA emulator: SIGSEGV in kernel oob_write, block \\(0,0,0\\), thread \\(0,0,0\\).*outside every device allocation");
  n = 1000;  // in bounds: runs
  ASSERT_EQ(launch(oob, 1, 24, {buf.arg(), &n}), 0);
  EXPECT_EQ(buf.get()[1023], 1);
  Function hog = mod_->fn("stack_hog");
  EXPECT_DEATH(launch(hog, 1, 2, {buf.arg()}), "kiln CUDA emulator: SIGSEGV in kernel stack_hog.*stack overflowed");
}

TEST_F(Emulator, DriverErrors) {
  const runtime::CudaDriver& d = drv();
  // an unknown kernel name: the module's kernels are listed
  Function f = nullptr;
  runtime::cu::Result r = d.cuModuleGetFunction(&f, mod_->m, "no_such_kernel");
  EXPECT_EQ(r, 500);  // CUDA_ERROR_NOT_FOUND
  EXPECT_NE(error_text(r).find("block_sum"), std::string::npos) << error_text(r);
  // a device function that is not an extern "C" kernel
  r = d.cuModuleGetFunction(&f, mod_->m, "shfl_idx");
  EXPECT_EQ(r, 500);
  // frees: unknown pointers, interior pointers, twice
  DevicePtr p = 0;
  ASSERT_EQ(d.cuMemAlloc(&p, 1000), 0);
  EXPECT_EQ(p % 256, 0u);
  std::vector<unsigned char> raw(1000);
  ASSERT_EQ(d.cuMemcpyDtoH(raw.data(), p, 1000), 0);
  EXPECT_EQ(raw[0], 0xCD);  // fresh memory holds garbage
  EXPECT_EQ(raw[999], 0xCD);
  EXPECT_EQ(d.cuMemFree(p + 16), 1);
  EXPECT_EQ(d.cuMemcpyHtoD(p + 900, raw.data(), 200), 1);  // past the end
  EXPECT_NE(error_text(1).find("not inside one live device allocation"), std::string::npos) << error_text(1);
  EXPECT_EQ(d.cuMemcpyDtoD(p, p + 500, 500), 0);
  EXPECT_EQ(d.cuMemFree(p), 0);
  EXPECT_EQ(d.cuMemFree(p), 1);  // CUDA_ERROR_INVALID_VALUE
  EXPECT_NE(error_text(1).find("not a live allocation"), std::string::npos) << error_text(1);
  EXPECT_EQ(d.cuMemcpyDtoH(raw.data(), p, 10), 1);  // freed
  EXPECT_EQ(d.cuMemAlloc(&p, 0), 1);
  // cubins are refused
  runtime::cu::Module m = nullptr;
  const char image[] = "\x7f" "ELF";
  EXPECT_EQ(d.cuModuleLoadData(&m, image), 209);  // CUDA_ERROR_NO_BINARY_FOR_GPU
  // launches: dynamic shared memory, bad blocks, bad handles, unknown streams
  DeviceVec<int> out(std::size_t{64});
  void* args[] = {out.arg()};
  Function ee = mod_->fn("traps");
  EXPECT_EQ(d.cuLaunchKernel(ee, 1, 1, 1, 32, 1, 1, 1024, nullptr, args, nullptr), 1);
  EXPECT_NE(error_text(1).find("dynamic shared memory"), std::string::npos);
  EXPECT_EQ(d.cuLaunchKernel(ee, 1, 1, 1, 2048, 1, 1, 0, nullptr, args, nullptr), 1);
  EXPECT_EQ(d.cuLaunchKernel(ee, 0, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr), 1);
  EXPECT_EQ(d.cuLaunchKernel(reinterpret_cast<Function>(&p), 1, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr), 400);
  EXPECT_EQ(d.cuLaunchKernel(ee, 1, 1, 1, 32, 1, 1, 0, reinterpret_cast<runtime::cu::Stream>(&p), args, nullptr), 400);
  EXPECT_EQ(d.cuModuleUnload(reinterpret_cast<runtime::cu::Module>(&p)), 400);
  // streams
  runtime::cu::Stream s = nullptr;
  ASSERT_EQ(d.cuStreamCreate(&s, 0), 0);
  EXPECT_EQ(d.cuStreamSynchronize(s), 0);
  EXPECT_EQ(d.cuStreamDestroy(s), 0);
  EXPECT_EQ(d.cuStreamDestroy(s), 400);
  const char* name = nullptr;
  EXPECT_EQ(d.cuGetErrorName(719, &name), 0);
  EXPECT_STREQ(name, "CUDA_ERROR_LAUNCH_FAILED");
}

TEST_F(Emulator, CompileErrorsCarryTheCompilerOutputAndModulesAreCached) {
  const runtime::CudaDriver& d = drv();
  runtime::cu::Module m = nullptr;
  const runtime::cu::Result r = d.kilnEmuModuleLoadSource(&m, "extern \"C\" __global__ void bad(int* p) {\n  *p = undeclared_thing;\n}\n");
  EXPECT_EQ(r, 300);  // CUDA_ERROR_INVALID_SOURCE
  EXPECT_NE(error_text(r).find("undeclared_thing"), std::string::npos) << error_text(r);
  EXPECT_NE(error_text(r).find("kernel.cu:2"), std::string::npos) << error_text(r);  // the user's line
  // through kiln: a RuntimeError with the same text
  try {
    runtime::cuda_load_module(nullptr, "extern \"C\" __global__ void bad2(int* p) { *p = other_undeclared; }\n", "bad2");
    ADD_FAILURE() << "no error";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("other_undeclared"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("CUDA_ERROR_INVALID_SOURCE"), std::string::npos) << e.what();
  }
  // the same source again: no compile (the in-process cache), a fresh module handle
  auto compiles = emu_fn<std::size_t (*)()>("kilnEmuCompileCount");
  const std::size_t before = compiles();
  EmuModule again(kKernels);
  ASSERT_EQ(again.load, 0);
  EXPECT_EQ(compiles(), before);
  EXPECT_NE(again.m, mod_->m);
  DeviceVec<int> out(std::size_t{4});
  int n = 4;
  ASSERT_EQ(launch(again.fn("early_exit"), 1, 32, {out.arg(), &n}), 0);
  EXPECT_EQ(out.get()[3], 6);
}

// kiln launches from many threads: launches are serialised, each sees its own arguments.
TEST_F(Emulator, LaunchesFromManyThreadsAreSerialisedAndCorrect) {
  const int n = 5000;
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      runtime::cuda_device(Device::cuda(0), "test");  // the context current on this thread
      std::vector<long long> in(n, t + 1);
      DeviceVec<long long> din(in), dout(std::size_t{2});
      int nn = n;
      for (int rep = 0; rep < 10; ++rep) {
        if (launch(mod_->fn("block_sum"), 2, 64 * (t + 1), {din.arg(), dout.arg(), &nn}) != 0) ++failures[static_cast<std::size_t>(t)];
        const std::vector<long long> got = dout.get();
        if (got[0] + got[1] != static_cast<long long>(n) * (t + 1)) ++failures[static_cast<std::size_t>(t)];
      }
    });
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

// The disk cache ($KILN_CACHE_DIR/emu): another process loads the module compiled here without compiling.
TEST_F(Emulator, ASecondProcessLoadsCompiledModulesFromTheDiskCache) {
  const std::string cmd = "KILN_EMU_TEST_CHILD=1 /proc/" + std::to_string(getpid()) +
                          "/exe --gtest_also_run_disabled_tests --gtest_filter=EmulatorChild.DISABLED_* > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}
// DISABLED_: run only as the child of the test above (not listed by ctest).
TEST(EmulatorChild, DISABLED_LoadsTheKernelsWithoutCompiling) {
  if (!std::getenv("KILN_EMU_TEST_CHILD")) GTEST_SKIP() << "run by ASecondProcessLoadsCompiledModulesFromTheDiskCache";
  EmuModule m(kKernels);
  ASSERT_EQ(m.load, 0) << error_text(m.load);
  EXPECT_EQ(emu_fn<std::size_t (*)()>("kilnEmuCompileCount")(), 0u);
  DeviceVec<int> out(std::size_t{4});
  int n = 4;
  ASSERT_EQ(launch(m.fn("early_exit"), 1, 32, {out.arg(), &n}), 0);
  EXPECT_EQ(out.get()[3], 6);
}

}  // namespace
