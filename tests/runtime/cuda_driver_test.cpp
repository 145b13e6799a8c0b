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
