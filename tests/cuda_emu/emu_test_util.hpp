// Shared by the emulator's tests: kiln's driver pointed at the emulator
// (KILN_CUDA_DRIVER, set before anything loads a driver), the driver's
// entry points as kiln bound them, and the emulator's own helpers.
#pragma once

#include <gtest/gtest.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/cuda_driver.hpp"

namespace kiln::cuda_emu_test {

// Before main(): kiln loads its driver (and cuBLAS) on first use, from here
// on the emulator (and its fake cuBLAS).
inline const bool kEmulatorSelected = (setenv("KILN_CUDA_DRIVER", KILN_CUDA_EMU_LIB, 1),
                                       setenv("KILN_CUBLAS", KILN_CUDA_EMU_LIB, 1), true);

inline const runtime::CudaDriver& drv() { return runtime::cuda_driver(); }

// An emulator-only helper (not part of the driver API).
template <class F>
F emu_fn(const char* name) {
  F f = reinterpret_cast<F>(dlsym(drv().handle, name));
  if (!f) throw std::runtime_error(std::string("the emulator lacks ") + name);
  return f;
}

inline std::string error_text(runtime::cu::Result r) { return drv().error_string(r); }

// Device memory holding `v` (freed by the destructor).
template <class T>
struct DeviceVec {
  runtime::cu::DevicePtr p = 0;
  std::size_t n = 0;
  explicit DeviceVec(const std::vector<T>& v) : n(v.size()) {
    EXPECT_EQ(drv().cuMemAlloc(&p, n * sizeof(T)), 0);
    EXPECT_EQ(drv().cuMemcpyHtoD(p, v.data(), n * sizeof(T)), 0);
  }
  explicit DeviceVec(std::size_t count) : n(count) { EXPECT_EQ(drv().cuMemAlloc(&p, n * sizeof(T)), 0); }
  ~DeviceVec() { drv().cuMemFree(p); }
  std::vector<T> get() const {
    std::vector<T> v(n);
    EXPECT_EQ(drv().cuMemcpyDtoH(v.data(), p, n * sizeof(T)), 0);
    return v;
  }
  void* arg() { return &p; }
};

// A module loaded from source, unloaded by the destructor.
struct EmuModule {
  runtime::cu::Module m = nullptr;
  runtime::cu::Result load = 0;
  explicit EmuModule(const std::string& src) { load = drv().kilnEmuModuleLoadSource(&m, src.c_str()); }
  ~EmuModule() {
    if (m) drv().cuModuleUnload(m);
  }
  runtime::cu::Function fn(const char* name) const {
    runtime::cu::Function f = nullptr;
    const runtime::cu::Result r = drv().cuModuleGetFunction(&f, m, name);
    EXPECT_EQ(r, 0) << error_text(r);
    return f;
  }
};

inline runtime::cu::Result launch(runtime::cu::Function f, unsigned gx, unsigned bx, std::vector<void*> params,
                                  unsigned gy = 1, unsigned gz = 1, unsigned by = 1, unsigned bz = 1) {
  return drv().cuLaunchKernel(f, gx, gy, gz, bx, by, bz, 0, nullptr, params.data(), nullptr);
}

}  // namespace kiln::cuda_emu_test
