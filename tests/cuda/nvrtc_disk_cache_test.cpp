// NVRTC's cubins on the disk cache (codegen/cuda/nvrtc.cpp, codegen/disk_cache.*).
//
// Every test points KILN_CACHE_DIR at its own mkdtemp directory (as
// tests/codegen/disk_cache_test.cpp does) and empties the in-memory cache
// with nvrtc_cache_clear(), so a second compile can only come from the disk.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "codegen/cuda/nvrtc.hpp"
#include "codegen/cuda/print.hpp"
#include "codegen/disk_cache.hpp"
#include "cuda/cuda_test_util.hpp"
#include "kiln/kiln.hpp"

namespace kiln::codegen::cuda {
namespace {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && base[0] ? base : "/tmp") + "/kiln-nvrtc-cache-test-XXXXXX";
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// A small kernel; `salt` makes its source (and key) unique to the test.
std::string kernel_source(double salt) {
  Tensor x = tensor("x", DType::F32, {"n"});
  const auto ks = cuda_test::kernels_of({x * static_cast<float>(salt) + 1});
  return print_cuda_kernel(ks[0], "dk").source;
}

std::size_t entries_in(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".kc") ++n;
  return n;
}

TEST(NvrtcDiskCache, AFreshProcessCacheHitsTheDisk) {
  TempDir dir;
  ScopedEnv env("KILN_CACHE_DIR", dir.path());
  const std::string src = kernel_source(3.25);
  nvrtc_cache_clear();
  const NvrtcCacheStats s0 = nvrtc_cache_stats();
  const CudaBinary cold = nvrtc_compile(src, "sm_90", "dk");
  EXPECT_FALSE(cold.from_cache);
  EXPECT_FALSE(cold.from_disk);
  EXPECT_GT(cold.compile_ms, 0);
  EXPECT_EQ(entries_in(dir.path()), 1u);
  const NvrtcCacheStats s1 = nvrtc_cache_stats();
  EXPECT_EQ(s1.compiled, s0.compiled + 1);
  EXPECT_EQ(s1.disk_stores, s0.disk_stores + 1);

  nvrtc_cache_clear();  // as a new process would start
  const CudaBinary warm = nvrtc_compile(src, "sm_90", "dk");
  EXPECT_TRUE(warm.from_cache);
  EXPECT_TRUE(warm.from_disk);
  EXPECT_EQ(warm.compile_ms, 0);
  EXPECT_EQ(warm.cubin, cold.cubin);
  EXPECT_EQ(warm.ptx, cold.ptx);
  EXPECT_EQ(warm.log, cold.log);
  EXPECT_EQ(warm.arch, "sm_90");
  const NvrtcCacheStats s2 = nvrtc_cache_stats();
  EXPECT_EQ(s2.disk_hits, s1.disk_hits + 1);
  EXPECT_EQ(s2.compiled, s1.compiled);

  // Now in memory again: a memory hit, not a disk read.
  const CudaBinary again = nvrtc_compile(src, "sm_90", "dk");
  EXPECT_TRUE(again.from_cache);
  EXPECT_FALSE(again.from_disk);
  EXPECT_EQ(nvrtc_cache_stats().memory_hits, s2.memory_hits + 1);

  // Another architecture is another entry.
  nvrtc_cache_clear();
  const CudaBinary other = nvrtc_compile(src, "sm_80", "dk");
  EXPECT_FALSE(other.from_cache);
  EXPECT_EQ(entries_in(dir.path()), 2u);
}

TEST(NvrtcDiskCache, ADamagedEntryIsRecompiled) {
  TempDir dir;
  ScopedEnv env("KILN_CACHE_DIR", dir.path());
  const std::string src = kernel_source(5.5);
  nvrtc_cache_clear();
  const CudaBinary cold = nvrtc_compile(src, "sm_90", "dk");
  ASSERT_EQ(entries_in(dir.path()), 1u);
  std::string file;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) file = e.path().string();

  // A flipped byte in the payload: the disk cache's hash rejects it.
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const auto size = static_cast<std::streamoff>(f.tellg());
    f.seekp(size - 10);
    f.put('\x5a');
  }
  nvrtc_cache_clear();
  const NvrtcCacheStats s0 = nvrtc_cache_stats();
  const CudaBinary again = nvrtc_compile(src, "sm_90", "dk");
  EXPECT_FALSE(again.from_cache);
  EXPECT_EQ(again.cubin, cold.cubin);
  const NvrtcCacheStats s1 = nvrtc_cache_stats();
  EXPECT_EQ(s1.disk_rejected, s0.disk_rejected + 1);
  EXPECT_EQ(s1.compiled, s0.compiled + 1);

  // Replaced by a good entry: the next fresh compile hits.
  nvrtc_cache_clear();
  EXPECT_TRUE(nvrtc_compile(src, "sm_90", "dk").from_disk);

  // A well-hashed entry whose payload is not a cubin (a CPU object stored
  // under the key, say): the framing rejects it.
  const DiskCache disk(dir.path());
  Hash128 key;
  {
    // The key is the file's name.
    const std::string stem = std::filesystem::path(file).stem().string();
    ASSERT_EQ(stem, nvrtc_cache_key(src, "sm_90"));
    key.hi = std::stoull(stem.substr(0, 16), nullptr, 16);
    key.lo = std::stoull(stem.substr(16, 16), nullptr, 16);
  }
  ASSERT_EQ(disk.path_of(key), file);
  ASSERT_TRUE(disk.store(key, "not a cubin"));
  nvrtc_cache_clear();
  const CudaBinary third = nvrtc_compile(src, "sm_90", "dk");
  EXPECT_FALSE(third.from_cache);
  EXPECT_EQ(third.cubin, cold.cubin);
  EXPECT_EQ(nvrtc_cache_stats().disk_rejected, s1.disk_rejected + 1);
}

TEST(NvrtcDiskCache, OffDisablesIt) {
  TempDir dir;
  const std::string src = kernel_source(7.75);
  {
    ScopedEnv env("KILN_CACHE_DIR", "off");
    nvrtc_cache_clear();
    const NvrtcCacheStats s0 = nvrtc_cache_stats();
    EXPECT_FALSE(nvrtc_compile(src, "sm_90", "dk").from_cache);
    nvrtc_cache_clear();
    EXPECT_FALSE(nvrtc_compile(src, "sm_90", "dk").from_cache);
    const NvrtcCacheStats s1 = nvrtc_cache_stats();
    EXPECT_EQ(s1.compiled, s0.compiled + 2);
    EXPECT_EQ(s1.disk_stores, s0.disk_stores);
    EXPECT_EQ(s1.disk_hits, s0.disk_hits);
  }
  EXPECT_EQ(entries_in(dir.path()), 0u);
}

TEST(NvrtcDiskCache, PayloadFraming) {
  CudaBinary b;
  b.arch = "sm_90";
  b.cubin = {'\x7f', 'E', 'L', 'F', '\0', '\1'};
  b.ptx = ".version 9.0";
  b.log = "warning: x";
  const std::string p = encode_cuda_binary(b);
  CudaBinary r;
  ASSERT_TRUE(decode_cuda_binary(p, &r));
  EXPECT_EQ(r.arch, b.arch);
  EXPECT_EQ(r.cubin, b.cubin);
  EXPECT_EQ(r.ptx, b.ptx);
  EXPECT_EQ(r.log, b.log);
  // Every truncation, a trailing byte, a bad magic and a non-ELF cubin are rejected.
  for (std::size_t n = 0; n < p.size(); ++n) EXPECT_FALSE(decode_cuda_binary(p.substr(0, n), &r)) << n;
  EXPECT_FALSE(decode_cuda_binary(p + "x", &r));
  std::string bad = p;
  bad[0] = 'X';
  EXPECT_FALSE(decode_cuda_binary(bad, &r));
  b.cubin = {'N', 'O', 'P', 'E'};
  EXPECT_FALSE(decode_cuda_binary(encode_cuda_binary(b), &r));
}

}  // namespace
}  // namespace kiln::codegen::cuda
