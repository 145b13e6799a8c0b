// The on-disk kernel cache: the generic store (codegen/disk_cache.hpp) on its
// own, then wired into the kernel cache, in this process and across real
// processes (the kiln_cache_child helper, started with posix_spawn: this
// process already runs threads, so no bare fork()).
//
// Every test works in its own mkdtemp directory and points KILN_CACHE_DIR at
// it while it runs; ctest runs the suites with KILN_CACHE_DIR in the build
// folder (tests/CMakeLists.txt), so no test writes to the user's cache.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "codegen/disk_cache.hpp"
#include "codegen/kernel_cache.hpp"
#include "codegen/native_function.hpp"
#include "codegen/partition.hpp"
#include "kiln/kiln.hpp"

extern char** environ;

namespace {

using namespace kiln;
using codegen::DiskCache;
using codegen::Hash128;
using codegen::Hasher;

// ---- helpers ----

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && base[0] ? base : "/tmp") + "/kiln-cache-test-XXXXXX";
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

// Sets (or, with nullopt, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
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

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

// Names in a directory, without "." and "..".
std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> r;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) r.push_back(e.path().filename().string());
  std::sort(r.begin(), r.end());
  return r;
}
std::vector<std::string> entries_in(const std::string& dir) {
  std::vector<std::string> r;
  for (const std::string& n : list_dir(dir))
    if (n.size() > 3 && n.substr(n.size() - 3) == ".kc") r.push_back(dir + "/" + n);
  return r;
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(g() & 0xff);
  return s;
}

Hash128 key_of(const std::string& s) { return codegen::hash_bytes(s); }

// ---- hashing ----

TEST(DiskCacheHash, IsDeterministicAndSeparatesFields) {
  EXPECT_EQ(Hasher().add("abc").add(std::uint64_t{7}).finish(), Hasher().add("abc").add(std::uint64_t{7}).finish());
  EXPECT_NE(Hasher().add("ab").add("c").finish(), Hasher().add("a").add("bc").finish());
  EXPECT_NE(codegen::hash_bytes(""), codegen::hash_bytes(std::string(1, '\0')));
  EXPECT_NE(codegen::hash_bytes("kernel 1"), codegen::hash_bytes("kernel 2"));
  EXPECT_EQ(codegen::hash_bytes("x").hex().size(), 32u);
}

TEST(DiskCacheHash, OneFlippedBitChangesBothHalves) {
  const std::string base = random_bytes(1000, 1);
  const Hash128 h0 = codegen::hash_bytes(base);
  for (std::size_t bit = 0; bit < base.size() * 8; bit += 37) {
    std::string s = base;
    s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
    const Hash128 h = codegen::hash_bytes(s);
    EXPECT_NE(h.lo, h0.lo) << bit;
    EXPECT_NE(h.hi, h0.hi) << bit;
  }
}

// ---- the store ----

TEST(DiskCache, StoresAndLoadsPayloads) {
  TempDir t;
  DiskCache c(t.path() + "/a/b");  // created on the first store
  std::string out = "stale";
  EXPECT_EQ(c.load(key_of("k1"), &out), DiskCache::Status::Miss);
  EXPECT_TRUE(out.empty());
  const std::string big = random_bytes(1 << 20, 2);
  ASSERT_TRUE(c.store(key_of("k1"), "hello"));
  ASSERT_TRUE(c.store(key_of("k2"), big));
  ASSERT_TRUE(c.store(key_of("empty"), ""));
  EXPECT_EQ(c.load(key_of("k1"), &out), DiskCache::Status::Hit);
  EXPECT_EQ(out, "hello");
  EXPECT_EQ(c.load(key_of("k2"), &out), DiskCache::Status::Hit);
  EXPECT_EQ(out, big);
  EXPECT_EQ(c.load(key_of("empty"), &out), DiskCache::Status::Hit);
  EXPECT_EQ(out, "");
  // Overwriting replaces.
  ASSERT_TRUE(c.store(key_of("k1"), "world"));
  EXPECT_EQ(c.load(key_of("k1"), &out), DiskCache::Status::Hit);
  EXPECT_EQ(out, "world");
  // Entries only: no temporary file is left behind.
  EXPECT_EQ(list_dir(t.path() + "/a/b").size(), 3u);
  EXPECT_EQ(entries_in(t.path() + "/a/b").size(), 3u);
  c.remove(key_of("k1"));
  EXPECT_EQ(c.load(key_of("k1"), &out), DiskCache::Status::Miss);
}

TEST(DiskCache, DetectsDamagedEntries) {
  TempDir t;
  DiskCache c(t.path());
  const std::string payload = random_bytes(5000, 3);
  const Hash128 k = key_of("entry");
  const std::string path = c.path_of(k);
  ASSERT_TRUE(c.store(k, payload));
  const std::string good = read_file(path);
  ASSERT_EQ(good.size(), 64 + payload.size());

  auto expect_corrupt = [&](const std::string& bytes, const char* what) {
    write_file(path, bytes);
    std::string out = "x";
    EXPECT_EQ(c.load(k, &out), DiskCache::Status::Corrupt) << what;
    EXPECT_TRUE(out.empty()) << what;
    // Storing again repairs it.
    ASSERT_TRUE(c.store(k, payload));
    EXPECT_EQ(c.load(k, &out), DiskCache::Status::Hit) << what;
    EXPECT_EQ(out, payload) << what;
  };
  expect_corrupt("", "empty file");
  expect_corrupt(good.substr(0, 40), "truncated header");
  expect_corrupt(good.substr(0, good.size() / 2), "truncated payload");
  expect_corrupt(good + "x", "trailing byte");
  for (std::size_t at : {std::size_t{0}, std::size_t{9}, std::size_t{17}, std::size_t{30}, std::size_t{45},
                         std::size_t{64}, good.size() / 2, good.size() - 1}) {
    std::string b = good;
    b[at] = static_cast<char>(b[at] ^ 0x10);
    expect_corrupt(b, ("flipped byte " + std::to_string(at)).c_str());
  }
  // A whole, valid entry of another key under this key's name.
  ASSERT_TRUE(c.store(key_of("other"), payload));
  expect_corrupt(read_file(c.path_of(key_of("other"))), "another key's entry");
  // A directory where the entry should be.
  ::unlink(path.c_str());
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  std::string out;
  EXPECT_EQ(c.load(k, &out), DiskCache::Status::Corrupt);
  EXPECT_FALSE(c.store(k, payload));  // rename cannot replace a directory: skipped, not thrown
  EXPECT_EQ(list_dir(t.path()).size(), 2u);  // the directory and "other"; no temporary left
}

TEST(DiskCache, DisabledOrUnwritableDirectoriesNeverFail) {
  TempDir t;
  std::string out;
  DiskCache off("");
  EXPECT_FALSE(off.enabled());
  EXPECT_FALSE(off.store(key_of("k"), "v"));
  EXPECT_EQ(off.load(key_of("k"), &out), DiskCache::Status::Miss);
  off.trim();

  // A regular file where a parent directory should be: mkdir -p fails (even for root).
  write_file(t.path() + "/file", "not a directory");
  DiskCache blocked(t.path() + "/file/cache");
  EXPECT_FALSE(blocked.store(key_of("k"), "v"));
  EXPECT_EQ(blocked.load(key_of("k"), &out), DiskCache::Status::Miss);
  blocked.trim();

  if (::geteuid() != 0) {  // root ignores permission bits
    const std::string ro = t.path() + "/ro";
    ASSERT_EQ(::mkdir(ro.c_str(), 0555), 0);
    DiskCache readonly(ro);
    EXPECT_FALSE(readonly.store(key_of("k"), "v"));
    EXPECT_EQ(readonly.load(key_of("k"), &out), DiskCache::Status::Miss);
    ::chmod(ro.c_str(), 0755);
  }
}

TEST(DiskCache, DirectoryComesFromTheEnvironment) {
  ScopedEnv xdg("XDG_CACHE_HOME", "/xdg"), home("HOME", "/home/someone");
  {
    ScopedEnv e("KILN_CACHE_DIR", "/some/where");
    EXPECT_EQ(codegen::cache_directory_from_environment(), "/some/where");
  }
  {
    ScopedEnv e("KILN_CACHE_DIR", "off");
    EXPECT_EQ(codegen::cache_directory_from_environment(), "");
  }
  {
    ScopedEnv e("KILN_CACHE_DIR", "");
    EXPECT_EQ(codegen::cache_directory_from_environment(), "");
  }
  ScopedEnv unset("KILN_CACHE_DIR", std::nullopt);
  EXPECT_EQ(codegen::cache_directory_from_environment(), "/xdg/kiln");
  {
    ScopedEnv rel("XDG_CACHE_HOME", "relative/dir");  // the XDG spec says: ignore it
    EXPECT_EQ(codegen::cache_directory_from_environment(), "/home/someone/.cache/kiln");
  }
  ScopedEnv no_xdg("XDG_CACHE_HOME", std::nullopt);
  EXPECT_EQ(codegen::cache_directory_from_environment(), "/home/someone/.cache/kiln");
  ScopedEnv no_home("HOME", std::nullopt);
  EXPECT_EQ(codegen::cache_directory_from_environment(), "");
}

TEST(DiskCache, TrimEvictsTheLeastRecentlyUsedAndOnlyItsOwnFiles) {
  TempDir t;
  const std::string payload(1000, 'p');  // 1064 bytes per entry
  DiskCache c(t.path(), 5000);           // room for four entries
  std::vector<Hash128> keys;
  for (int i = 0; i < 8; ++i) {
    keys.push_back(key_of("k" + std::to_string(i)));
    ASSERT_TRUE(c.store(keys.back(), payload));
    // Distinct modification times, oldest first, whatever the clock's granularity.
    timespec ts[2] = {{1000000 + i * 10, 0}, {1000000 + i * 10, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, c.path_of(keys.back()).c_str(), ts, 0), 0);
  }
  // A hit refreshes an old entry: k0 becomes the most recent.
  std::string out;
  ASSERT_EQ(c.load(keys[0], &out), DiskCache::Status::Hit);
  // Files that are not entries, and temporaries: a fresh one (a writer at
  // work) stays, a stale one (a writer that died) goes.
  write_file(t.path() + "/notes.txt", std::string(100000, 'n'));
  write_file(t.path() + "/.tmp-fresh", "x");
  write_file(t.path() + "/.tmp-stale", "x");
  timespec old[2] = {{1000, 0}, {1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (t.path() + "/.tmp-stale").c_str(), old, 0), 0);

  c.trim();
  std::vector<std::string> names = list_dir(t.path());
  auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_TRUE(has("notes.txt"));
  EXPECT_TRUE(has(".tmp-fresh"));
  EXPECT_FALSE(has(".tmp-stale"));
  // Down to 3/4 of the limit (3 entries): k0 (just used), k7, k6.
  EXPECT_EQ(entries_in(t.path()).size(), 3u);
  EXPECT_EQ(c.load(keys[0], &out), DiskCache::Status::Hit);
  EXPECT_EQ(c.load(keys[7], &out), DiskCache::Status::Hit);
  EXPECT_EQ(c.load(keys[6], &out), DiskCache::Status::Hit);
  EXPECT_EQ(c.load(keys[5], &out), DiskCache::Status::Miss);
}

TEST(DiskCache, ConcurrentWritersAndReadersNeverSeeAPartialEntry) {
  TempDir t;
  DiskCache c(t.path());
  const Hash128 k = key_of("shared");
  const std::string payload = random_bytes(200000, 4);
  std::atomic<int> corrupt{0}, wrong{0}, failed{0};
  std::vector<std::thread> ts;
  for (int w = 0; w < 4; ++w)
    ts.emplace_back([&] {
      std::string out;
      for (int i = 0; i < 30; ++i) {
        if (!c.store(k, payload)) ++failed;
        DiskCache::Status st = c.load(k, &out);
        if (st == DiskCache::Status::Corrupt) ++corrupt;
        if (st == DiskCache::Status::Hit && out != payload) ++wrong;
      }
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(corrupt.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(list_dir(t.path()).size(), 1u);  // the entry, no temporaries
}

// ---- the kernel cache, in this process ----

// A graph whose kernel no other test compiles (the constant differs), with
// its result computed by hand.
struct Case {
  Tensor x;
  Tensor y;
  double c;
};
Case unique_case() {
  static std::atomic<int> n{0};
  // Different in every test and every run of the suite, so the kernel is
  // never in this process's memory cache already.
  const double c = 1.0 + 1e-3 * ++n + 1e-9 * static_cast<double>(::getpid() % 100000);
  Tensor x = vector("x", f64);
  return {x, x * c + 2.0, c};
}
void expect_case_result(const Case& k, const std::vector<ir::NodeRef>& roots) {
  codegen::NativeFunction f(roots);
  std::vector<Array> r = f.run({{k.x.node().get(), Array::from({1.0, -2.0, 0.5})}});
  ASSERT_EQ(r.size(), 1u);
  std::vector<double> v = r[0].to_doubles();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_DOUBLE_EQ(v[0], 1.0 * k.c + 2.0);
  EXPECT_DOUBLE_EQ(v[1], -2.0 * k.c + 2.0);
  EXPECT_DOUBLE_EQ(v[2], 0.5 * k.c + 2.0);
}
// The kernel texts of a graph, without compiling it.
std::vector<std::string> texts_of(const std::vector<ir::NodeRef>& roots) {
  codegen::Plan p = codegen::partition(roots);
  std::vector<std::string> r;
  for (const codegen::Cluster& c : p.clusters) r.push_back(codegen::print_kernel(c.kernel));
  return r;
}

TEST(KernelDiskCache, ACompiledKernelIsStoredAsAnObject) {
  TempDir t;
  ScopedEnv e("KILN_CACHE_DIR", t.path() + "/kernels");
  Case k = unique_case();
  std::vector<ir::NodeRef> roots = {k.y.node()};
  std::vector<std::string> texts = texts_of(roots);
  ASSERT_EQ(texts.size(), 1u);
  const codegen::KernelCacheStats before = codegen::native_kernel_cache_stats();
  expect_case_result(k, roots);
  const codegen::KernelCacheStats after = codegen::native_kernel_cache_stats();
  EXPECT_EQ(after.compiled, before.compiled + 1);
  EXPECT_EQ(after.loaded, before.loaded);
  DiskCache c(t.path() + "/kernels");
  std::string obj;
  ASSERT_EQ(c.load(codegen::kernel_cache_key(texts[0]), &obj), DiskCache::Status::Hit);
  EXPECT_EQ(obj.substr(0, 4), "\x7f" "ELF");
  EXPECT_EQ(entries_in(t.path() + "/kernels").size(), 1u);
}

TEST(KernelDiskCache, DamagedEntriesAreRecompiledAndReplaced) {
  TempDir t;
  ScopedEnv e("KILN_CACHE_DIR", t.path());
  DiskCache c(t.path());
  // Garbage under the kernel's name (fails the checks), and a well-formed
  // entry whose payload is not an object (passes them, LLVM rejects it).
  for (int variant = 0; variant < 2; ++variant) {
    Case k = unique_case();
    std::vector<ir::NodeRef> roots = {k.y.node()};
    const Hash128 key = codegen::kernel_cache_key(texts_of(roots).at(0));
    if (variant == 0)
      write_file(c.path_of(key), "KILNKC garbage");
    else
      ASSERT_TRUE(c.store(key, "not an object file"));
    const codegen::KernelCacheStats before = codegen::native_kernel_cache_stats();
    expect_case_result(k, roots);
    const codegen::KernelCacheStats after = codegen::native_kernel_cache_stats();
    EXPECT_EQ(after.rejected, before.rejected + 1) << variant;
    EXPECT_EQ(after.compiled, before.compiled + 1) << variant;
    EXPECT_EQ(after.loaded, before.loaded) << variant;
    std::string obj;
    ASSERT_EQ(c.load(key, &obj), DiskCache::Status::Hit) << variant;
    EXPECT_EQ(obj.substr(0, 4), "\x7f" "ELF") << variant;
  }
}

TEST(KernelDiskCache, AnUnusableDirectoryStillCompiles) {
  TempDir t;
  write_file(t.path() + "/file", "not a directory");
  {
    ScopedEnv e("KILN_CACHE_DIR", t.path() + "/file/cache");
    Case k = unique_case();
    const std::size_t before = codegen::native_kernels_compiled();
    expect_case_result(k, {k.y.node()});
    EXPECT_EQ(codegen::native_kernels_compiled(), before + 1);
  }
  {
    // "off": nothing is written anywhere, not even under $HOME.
    ScopedEnv e("KILN_CACHE_DIR", "off"), home("HOME", t.path() + "/home"), xdg("XDG_CACHE_HOME", std::nullopt);
    Case k = unique_case();
    expect_case_result(k, {k.y.node()});
    EXPECT_EQ(list_dir(t.path()), std::vector<std::string>{"file"});
  }
}

// ---- the kernel cache, across processes ----

struct ChildResult {
  int status = -1;  // exit status, or -1
  std::size_t compiled = 0, loaded = 0, rejected = 0;
  std::string output;
};

// Starts kiln_cache_child with KILN_CACHE_DIR=dir; its stdout goes to out_path.
pid_t spawn_child(const std::string& dir, const std::string& constant, const std::string& out_path) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "KILN_CACHE_DIR=", 15) != 0) env_strings.push_back(*e);
  env_strings.push_back("KILN_CACHE_DIR=" + dir);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = KILN_CACHE_CHILD, arg = constant;
  char* argv[] = {exe.data(), arg.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

ChildResult wait_child(pid_t pid, const std::string& out_path) {
  ChildResult r;
  int ws = 0;
  if (pid > 0 && ::waitpid(pid, &ws, 0) == pid && WIFEXITED(ws)) r.status = WEXITSTATUS(ws);
  r.output = read_file(out_path);
  std::sscanf(r.output.c_str(), "compiled=%zu loaded=%zu rejected=%zu", &r.compiled, &r.loaded, &r.rejected);
  return r;
}

ChildResult run_child(const std::string& dir, const std::string& constant, const std::string& out_dir) {
  const std::string out = out_dir + "/child.out";
  return wait_child(spawn_child(dir, constant, out), out);
}

TEST(KernelDiskCacheProcesses, ANewProcessLinksStoredObjectsInsteadOfCompiling) {
  TempDir t, scratch;
  const std::string dir = t.path() + "/cache";
  ChildResult first = run_child(dir, "1.25", scratch.path());
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_EQ(first.compiled, 2u) << first.output;
  EXPECT_EQ(first.loaded, 0u);
  EXPECT_EQ(entries_in(dir).size(), 2u);
  ChildResult second = run_child(dir, "1.25", scratch.path());
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_EQ(second.compiled, 0u) << second.output;
  EXPECT_EQ(second.loaded, 2u);
  EXPECT_EQ(second.rejected, 0u);
  // Another constant: other kernels, compiled.
  ChildResult other = run_child(dir, "-3", scratch.path());
  ASSERT_EQ(other.status, 0) << other.output;
  EXPECT_EQ(other.compiled, 1u) << other.output;  // the logistic kernel does not use the constant
  EXPECT_EQ(other.loaded, 1u);
}

TEST(KernelDiskCacheProcesses, TruncatedAndFlippedEntriesAreRecompiled) {
  TempDir t, scratch;
  ChildResult fill = run_child(t.path(), "0.75", scratch.path());
  ASSERT_EQ(fill.status, 0) << fill.output;
  std::vector<std::string> files = entries_in(t.path());
  ASSERT_EQ(files.size(), 2u);
  std::string a = read_file(files[0]), b = read_file(files[1]);
  ASSERT_GT(b.size(), 200u);
  write_file(files[0], a.substr(0, a.size() / 2));  // truncated
  b[64 + (b.size() - 64) / 2] ^= 0x01;               // one flipped payload byte
  write_file(files[1], b);
  ChildResult repaired = run_child(t.path(), "0.75", scratch.path());
  ASSERT_EQ(repaired.status, 0) << repaired.output;  // correct results
  EXPECT_EQ(repaired.rejected, 2u) << repaired.output;
  EXPECT_EQ(repaired.compiled, 2u);
  EXPECT_EQ(repaired.loaded, 0u);
  ChildResult again = run_child(t.path(), "0.75", scratch.path());
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(again.loaded, 2u) << again.output;
  EXPECT_EQ(again.rejected, 0u);
}

TEST(KernelDiskCacheProcesses, ProcessesFillingOneDirectoryAtOnceAllSucceed) {
  TempDir t, scratch;
  const int n = 4;
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i)
    pids.push_back(spawn_child(t.path(), "2.5", scratch.path() + "/out" + std::to_string(i)));
  for (int i = 0; i < n; ++i) {
    ChildResult r = wait_child(pids[static_cast<std::size_t>(i)], scratch.path() + "/out" + std::to_string(i));
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.compiled + r.loaded, 2u) << r.output;
    EXPECT_EQ(r.rejected, 0u) << r.output;
  }
  EXPECT_EQ(list_dir(t.path()).size(), 2u);  // two entries, no temporaries
  ChildResult after = run_child(t.path(), "2.5", scratch.path());
  ASSERT_EQ(after.status, 0) << after.output;
  EXPECT_EQ(after.loaded, 2u) << after.output;
}

}  // namespace
