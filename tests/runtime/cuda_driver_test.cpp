// The CUDA driver loaded with dlopen: on a machine without libcuda.so.1
// every way of asking for Device::cuda(n) is a clear kiln::Error (never a
// crash); the toolkit's stub library, where the build found one, has every
// entry point kiln binds (its cuInit answers CUDA_ERROR_STUB_LIBRARY).
// On a machine with a driver the no-driver tests skip themselves.
#include <gtest/gtest.h>

#include <string>

#include "kiln/kiln.hpp"
#include "runtime/cuda_driver.hpp"

namespace {

using namespace kiln;

bool driver_present() {
  try {
    runtime::load_cuda_driver();
    return true;
  } catch (const Error&) {
    return false;
  }
}

template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

constexpr const char* kNoDriver = "no CUDA driver: libcuda.so.1 could not be loaded (";

TEST(CudaDriver, AMissingLibraryIsAClearError) {
  const std::string m = error_of([] { runtime::load_cuda_driver("/nonexistent/libcuda.so.1"); });
  EXPECT_NE(m.find("no CUDA driver: /nonexistent/libcuda.so.1 could not be loaded ("), std::string::npos) << m;
  EXPECT_NE(m.find("No such file"), std::string::npos) << m;  // dlerror's reason
  // A library that is not a driver: the first missing symbol is named.
  const std::string m2 = error_of([] { runtime::load_cuda_driver("libm.so.6"); });
  EXPECT_NE(m2.find("lacks cuInit"), std::string::npos) << m2;
}

TEST(CudaDriver, WithoutADriverDeviceArraysAreAClearError) {
  if (driver_present()) GTEST_SKIP() << "libcuda.so.1 is present on this machine";
  EXPECT_FALSE(runtime::cuda_available());
  std::string m = error_of([] { Array::empty({2, 3}, f32, Device::cuda(0)); });
  EXPECT_NE(m.find("Array::empty: cannot use cuda:0: "), std::string::npos) << m;
  EXPECT_NE(m.find(kNoDriver), std::string::npos) << m;
  m = error_of([] { Array::zeros({4}, f64, Device::cuda(1)); });
  EXPECT_NE(m.find("cuda:1"), std::string::npos) << m;
  EXPECT_NE(m.find(kNoDriver), std::string::npos) << m;
  m = error_of([] { Array::from({1.0, 2.0}).to(Device::cuda(0)); });
  EXPECT_NE(m.find("Array::to: cannot use cuda:0: "), std::string::npos) << m;
  EXPECT_NE(m.find(kNoDriver), std::string::npos) << m;
  // Asked again: the same answer (the failure is remembered, not retried).
  EXPECT_EQ(error_of([] { Array::from({1.0, 2.0}).to(Device::cuda(0)); }), m);
  EXPECT_THROW(runtime::cuda_driver(), RuntimeError);
}

TEST(CudaDriver, WithoutADriverFunctionsOnTheGpuNameTheUsersLine) {
  if (driver_present()) GTEST_SKIP() << "libcuda.so.1 is present on this machine";
  Tensor x = vector("x");
  const unsigned line = __LINE__ + 1;
  const std::string m = error_of([&] { function({x}, {x * 2}, {.device = Device::cuda(0)}); });
  EXPECT_NE(m.find("cuda_driver_test.cpp:" + std::to_string(line) + ": error: function: "), std::string::npos) << m;
  EXPECT_NE(m.find("cannot use cuda:0: "), std::string::npos) << m;
  EXPECT_NE(m.find(kNoDriver), std::string::npos) << m;
}

TEST(CudaMemory, SizesAreRoundedToBuckets) {
  EXPECT_EQ(runtime::cuda_rounded_size(0), 512u);
  EXPECT_EQ(runtime::cuda_rounded_size(1), 512u);
  EXPECT_EQ(runtime::cuda_rounded_size(512), 512u);
  EXPECT_EQ(runtime::cuda_rounded_size(513), 1024u);
  EXPECT_EQ(runtime::cuda_rounded_size(std::size_t{1} << 20), std::size_t{1} << 20);
  EXPECT_EQ(runtime::cuda_rounded_size((std::size_t{1} << 20) + 1), std::size_t{2} << 20);
  EXPECT_EQ(runtime::cuda_rounded_size((std::size_t{5} << 20) + 7), std::size_t{6} << 20);
}

// ---- with a GPU (skipped here): device arrays and the caching allocator ----

TEST(CudaMemory, DeviceArraysRoundTripAndBlocksAreReused) {
  if (!runtime::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Device g = Device::cuda(0);
  const Array h = Array::arange(0, 1000, 1, f32).reshape({10, 100});
  const std::size_t allocs0 = runtime::cuda_memory_stats(g).driver_allocations;
  {
    Array d = h.to(g);
    EXPECT_EQ(d.device(), g);
    EXPECT_TRUE(d.to(Device::cpu()).equals(h));
    // a strided host view is made contiguous before the copy
    const Array t = Array::view(h.raw_data(), {100, 10}, f32, {1, 100});  // h transposed
    EXPECT_TRUE(t.to(g).to(Device::cpu()).equals(t));
  }
  const std::size_t allocs1 = runtime::cuda_memory_stats(g).driver_allocations;
  EXPECT_GE(allocs1, allocs0 + 1);
  for (int i = 0; i < 10; ++i) {
    Array d = Array::zeros({10, 100}, f32, g);  // the same size again: a cached block
    EXPECT_TRUE(d.to(Device::cpu()).equals(Array::zeros({10, 100}, f32)));
  }
  EXPECT_EQ(runtime::cuda_memory_stats(g).driver_allocations, allocs1);
  EXPECT_GT(runtime::cuda_memory_stats(g).bytes_cached, 0u);
  runtime::cuda_empty_cache(g);
  EXPECT_EQ(runtime::cuda_memory_stats(g).bytes_cached, 0u);
  EXPECT_TRUE(Array::full({3}, 2.5, f64, g).to(Device::cpu()).equals(Array::from({2.5, 2.5, 2.5})));
}

#ifdef KILN_CUDA_STUB_DRIVER
TEST(CudaDriver, TheToolkitStubHasEveryEntryPointKilnBinds) {
  runtime::CudaDriver d = runtime::load_cuda_driver(KILN_CUDA_STUB_DRIVER);
  EXPECT_NE(d.cuLaunchKernel, nullptr);
  EXPECT_NE(d.cuMemcpyDtoDAsync, nullptr);
  EXPECT_NE(d.cuStreamDestroy, nullptr);
  const runtime::cu::Result r = d.cuInit(0);
  EXPECT_EQ(r, runtime::cu::kErrorStubLibrary);
  const std::string m = error_of([&] { d.check(r, "cuInit"); });
  EXPECT_NE(m.find("CUDA driver: cuInit failed: CUDA_ERROR_STUB_LIBRARY"), std::string::npos) << m;
}
#endif

}  // namespace
