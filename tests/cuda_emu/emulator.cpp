// kiln's CUDA driver emulator: libkiln_cuda_emu.so, loaded by kiln like
// libcuda.so.1 (KILN_CUDA_DRIVER=/path/libkiln_cuda_emu.so), so the CUDA
// backend's host logic runs without a GPU. See docs/cuda.md, "The emulator".
//
//  - one device, "kiln CUDA emulator", compute capability 9.0, 2 SMs;
//  - device memory is host memory (256-byte aligned, filled with 0xCD);
//    live allocations are tracked and copies are checked against them;
//  - modules are CUDA C++ *source* (kilnEmuModuleLoadSource), compiled for
//    the host by the system C++ compiler with a shim for CUDA's built-ins
//    (emu_shim.inc) and dlopen'ed; cubins (cuModuleLoadData) are refused;
//  - a launch runs its blocks one after another; a block's threads are
//    cooperative fibers (ucontext) on the calling thread, which switch at
//    __syncthreads, __syncwarp and the warp shuffles/votes; a barrier some
//    thread can never reach is reported as CUDA_ERROR_LAUNCH_FAILED;
//  - streams run everything synchronously when it is enqueued.
//
// Builds without the CUDA toolkit: the ABI (CUresult an int, handles
// opaque pointers, CUdeviceptr 64 bits, the error codes) is written here.
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "emu_abi.hpp"

KILN_EMU_ABI_DECLS

#define KILN_EMU_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// ---- the driver ABI ----
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = std::uint64_t;
struct Ctx {
  int magic = 0x6b637478;
};
struct Module;
struct Function;
struct Stream {
  unsigned flags = 0;
};

enum : CUresult {
  kSuccess = 0,
  kInvalidValue = 1,
  kOutOfMemory = 2,
  kNotInitialized = 3,
  kInvalidDevice = 101,
  kInvalidContext = 201,
  kNoBinaryForGpu = 209,
  kInvalidSource = 300,
  kSharedObjectInitFailed = 303,
  kInvalidHandle = 400,
  kNotFound = 500,
  kIllegalInstruction = 715,
  kLaunchFailed = 719,
  kNotSupported = 801,
};

struct ErrorInfo {
  CUresult code;
  const char* name;
  const char* text;
};
const ErrorInfo kErrors[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {4, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {34, "CUDA_ERROR_STUB_LIBRARY", "CUDA driver is a stub library"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {209, "CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {300, "CUDA_ERROR_INVALID_SOURCE", "device kernel source is invalid"},
    {301, "CUDA_ERROR_FILE_NOT_FOUND", "file not found"},
    {303, "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED", "shared object initialization failed"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {600, "CUDA_ERROR_NOT_READY", "device not ready"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {710, "CUDA_ERROR_ASSERT", "device-side assert triggered"},
    {715, "CUDA_ERROR_ILLEGAL_INSTRUCTION", "an illegal instruction was encountered"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};
const ErrorInfo* find_error(CUresult r) {
  for (const ErrorInfo& e : kErrors)
    if (e.code == r) return &e;
  return nullptr;
}

// ---- error details: cuGetErrorString(code) says what went wrong last with that code ----
struct Details {
  std::mutex mu;
  std::map<CUresult, const char*> latest;
  std::deque<std::string> store;  // never freed: returned pointers stay valid
};
Details& details() {
  static Details* d = new Details;
  return *d;
}
CUresult fail(CUresult code, const std::string& what) {
  Details& d = details();
  std::lock_guard<std::mutex> lock(d.mu);
  const ErrorInfo* e = find_error(code);
  d.store.push_back(std::string(e ? e->text : "error") + " [kiln CUDA emulator: " + what + "]");
  d.latest[code] = d.store.back().c_str();
  return code;
}

std::atomic<bool> g_initialised{false};
#define KILN_EMU_REQUIRE_INIT() \
  if (!g_initialised.load()) return kNotInitialized

Ctx g_primary;
std::atomic<int> g_primary_refs{0};

// ---- device memory ----
struct Memory {
  std::mutex mu;
  std::map<std::uintptr_t, std::size_t> live;  // base → bytes asked for
  std::size_t live_bytes = 0;                  // rounded to 256
  std::size_t total_allocations = 0;
  std::size_t limit = std::size_t{8} << 30;
};
Memory& memory() {
  static Memory* m = new Memory;
  return *m;
}
constexpr unsigned char kGarbage = 0xCD;
constexpr std::size_t kPage = 4096;

// Device memory with an inaccessible page on either side, the data's end
// against the page after it: a kernel reading or writing past the end (or
// more than the page rounding before the start) faults instead of silently
// touching other memory (see the launch's SIGSEGV report below).
void* guarded_alloc(std::size_t rounded) {
  const std::size_t data_pages = (rounded + kPage - 1) / kPage * kPage;
  void* r = mmap(nullptr, data_pages + 2 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) return nullptr;
  char* region = static_cast<char*>(r);
  mprotect(region, kPage, PROT_NONE);
  mprotect(region + kPage + data_pages, kPage, PROT_NONE);
  return region + kPage + (data_pages - rounded);  // 256-aligned: rounded is a multiple of 256
}
void guarded_free(void* data, std::size_t rounded) {
  const std::size_t data_pages = (rounded + kPage - 1) / kPage * kPage;
  munmap(static_cast<char*>(data) - kPage - (data_pages - rounded), data_pages + 2 * kPage);
}

// Is [p, p + n) inside one live allocation? (memory().mu held)
bool in_allocation(std::uintptr_t p, std::size_t n) {
  auto& live = memory().live;
  auto it = live.upper_bound(p);
  if (it == live.begin()) return false;
  --it;
  return p >= it->first && p + n <= it->first + it->second && p + n >= p;
}
CUresult check_device_range(CUdeviceptr p, std::size_t n, const char* what) {
  if (n == 0) return kSuccess;
  std::lock_guard<std::mutex> lock(memory().mu);
  if (!in_allocation(static_cast<std::uintptr_t>(p), n)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s: [0x%llx, +%zu) is not inside one live device allocation", what,
                  static_cast<unsigned long long>(p), n);
    return fail(kInvalidValue, buf);
  }
  return kSuccess;
}

// ---- handles ----
struct Lib {
  void* handle = nullptr;
  std::string path;
};
struct Module {
  std::shared_ptr<Lib> lib;
  std::set<std::string> entries;
  std::map<std::string, Function*> functions;
};
struct Function {
  Module* module = nullptr;
  std::string name;
  void (*entry)(void**) = nullptr;  // the trampoline NAME__emu
};
struct Handles {
  std::mutex mu;
  std::set<Module*> modules;
  std::set<Function*> functions;
  std::set<Stream*> streams;
};
Handles& handles() {
  static Handles* h = new Handles;
  return *h;
}
bool valid_stream(Stream* s) {
  const auto v = reinterpret_cast<std::uintptr_t>(s);
  if (v == 0 || v == 1 || v == 2) return true;  // default, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD
  std::lock_guard<std::mutex> lock(handles().mu);
  return handles().streams.count(s) != 0;
}

// ---- fibers ----
enum class State { Ready, WaitBlock, WaitWarp, Exited };
constexpr std::size_t kGuardBytes = 4096;
// 64 KiB a thread unless KILN_CUDA_EMU_STACK_KB says otherwise (read once:
// the stacks are kept for the process). Overflowing it hits the guard page.
std::size_t stack_bytes() {
  static const std::size_t bytes = [] {
    const char* e = std::getenv("KILN_CUDA_EMU_STACK_KB");
    const unsigned long kb = e ? std::strtoul(e, nullptr, 10) : 0;
    return static_cast<std::size_t>(kb >= 16 ? kb : 64) << 10;
  }();
  return bytes;
}

struct Fiber {
  ucontext_t ctx;
  KilnEmuThread t;
  State state = State::Ready;
  unsigned warp = 0, lane = 0;
  char* stack = nullptr;  // stack_bytes() above a guard page, reused across launches
};
struct Warp {
  unsigned present = 0;   // lanes that exist in the block
  unsigned arrived = 0;   // lanes waiting at the current warp barrier
  unsigned expected = 0;  // lanes the barrier waits for (union of the arrivals' masks)
  std::uint64_t value[32] = {};
  unsigned written = 0;  // lanes whose value[] is this exchange's
};
struct Launch {
  Function* fn = nullptr;
  void** params = nullptr;
  KilnEmuDim3 grid{}, block{}, block_idx{};
  unsigned nthreads = 0;
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  unsigned block_arrived = 0;
  unsigned current = 0;
  ucontext_t scheduler;
  ucontext_t proto;  // a getcontext'ed prototype (getcontext costs a system call)
  bool trapped = false;
  std::string trap_why;
};
Launch& launch_state() {
  static Launch* l = new Launch;
  return *l;
}
KilnEmuThread* g_current = nullptr;
// One launch at a time in the process: blocks share a kernel's static
// __shared__ arrays, the fibers and their stacks are one set, and
// g_current is a single variable read by every module.
std::mutex g_launch_mu;

Fiber& self() { return launch_state().fibers[launch_state().current]; }

void yield() {
  Launch& L = launch_state();
  swapcontext(&L.fibers[L.current].ctx, &L.scheduler);
}

void fiber_main() {
  Launch& L = launch_state();
  L.fn->entry(L.params);
  L.fibers[L.current].state = State::Exited;
  setcontext(&L.scheduler);
}

void emu_syncthreads() {
  Launch& L = launch_state();
  if (++L.block_arrived == L.nthreads) {
    L.block_arrived = 0;
    for (unsigned i = 0; i < L.nthreads; ++i)
      if (L.fibers[i].state == State::WaitBlock) L.fibers[i].state = State::Ready;
    return;
  }
  self().state = State::WaitBlock;
  yield();
}

void warp_barrier(unsigned mask) {
  Launch& L = launch_state();
  Fiber& me = self();
  Warp& w = L.warps[me.warp];
  w.arrived |= 1u << me.lane;
  w.expected |= (mask & w.present) | (1u << me.lane);
  if ((w.arrived & w.expected) == w.expected) {
    const unsigned done = w.arrived;
    w.arrived = w.expected = 0;
    for (unsigned l = 0; l < 32; ++l)
      if ((done >> l) & 1u) {
        Fiber& f = L.fibers[me.warp * 32 + l];
        if (f.state == State::WaitWarp) f.state = State::Ready;
      }
    return;
  }
  me.state = State::WaitWarp;
  yield();
}

void emu_syncwarp(unsigned mask) { warp_barrier(mask); }

// PTX shfl.sync: c = ((32 - width) << 8) | clamp, clamp 0 for up and 31 otherwise.
void emu_shfl(unsigned mask, void* value, int bytes, int mode, int b, int width) {
  Launch& L = launch_state();
  Fiber& me = self();
  Warp& w = L.warps[me.warp];
  std::uint64_t mine = 0;
  std::memcpy(&mine, value, static_cast<std::size_t>(bytes));
  if (width < 1 || width > 32) width = 32;
  const int lane = static_cast<int>(me.lane);
  const int segmask = (32 - width) & 31;
  const int clamp = mode == 1 ? 0 : 31;
  const int max_lane = (lane & segmask) | (clamp & ~segmask);
  const int min_lane = lane & segmask;
  const int bv = b & 31;
  int j = lane;
  bool ok = false;
  switch (mode) {
    case 0: j = min_lane | (bv & ~segmask); ok = j <= max_lane; break;
    case 1: j = lane - bv; ok = j >= max_lane; break;
    case 2: j = lane + bv; ok = j <= max_lane; break;
    default: j = lane ^ bv; ok = j <= max_lane; break;
  }
  if (!ok) j = lane;
  w.value[lane] = mine;
  w.written |= 1u << lane;
  warp_barrier(mask);  // every participant has written
  // A source lane that did not take part: its value is undefined in CUDA; the lane's own here.
  std::uint64_t got = ((w.written >> j) & 1u) ? w.value[j] : mine;
  std::memcpy(value, &got, static_cast<std::size_t>(bytes));
  warp_barrier(mask);  // every participant has read
  w.written &= ~(1u << lane);
}

unsigned emu_vote(unsigned mask, int pred, int mode) {
  Launch& L = launch_state();
  Fiber& me = self();
  Warp& w = L.warps[me.warp];
  w.value[me.lane] = pred != 0;
  w.written |= 1u << me.lane;
  warp_barrier(mask);
  unsigned ballot = 0;
  const unsigned members = (mask & w.present) | (1u << me.lane);
  for (unsigned l = 0; l < 32; ++l)
    if (((members & w.written) >> l) & 1u && w.value[l]) ballot |= 1u << l;
  warp_barrier(mask);
  w.written &= ~(1u << me.lane);
  if (mode == 0) return ballot;
  if (mode == 1) return ballot != 0;
  return ballot == (members & w.present);
}

unsigned emu_activemask() {
  Launch& L = launch_state();
  const Fiber& me = self();
  unsigned m = 0;
  for (unsigned l = 0; l < 32; ++l)
    if ((L.warps[me.warp].present >> l) & 1u && L.fibers[me.warp * 32 + l].state != State::Exited) m |= 1u << l;
  return m;
}

[[noreturn]] void emu_trap(const char* why) {
  Launch& L = launch_state();
  L.trapped = true;
  L.trap_why = why ? why : "trap";
  self().state = State::Exited;
  setcontext(&L.scheduler);
  std::abort();
}

const KilnEmuRuntime g_runtime = {KILN_EMU_ABI_VERSION, &g_current, emu_syncthreads, emu_syncwarp, emu_shfl,
                                  emu_vote,             emu_activemask, emu_trap};

std::string dim_str(KilnEmuDim3 d) {
  return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

// Runs the block L.block_idx to completion. kSuccess or an error code.
CUresult run_block() {
  Launch& L = launch_state();
  const unsigned n = L.nthreads;
  const unsigned nwarps = (n + 31) / 32;
  L.warps.assign(nwarps, Warp{});
  L.block_arrived = 0;
  for (unsigned i = 0; i < n; ++i) {
    Fiber& f = L.fibers[i];
    f.t.block_idx = L.block_idx;
    f.t.block_dim = L.block;
    f.t.grid_dim = L.grid;
    f.t.thread_idx = {i % L.block.x, (i / L.block.x) % L.block.y, i / (L.block.x * L.block.y)};
    f.warp = i / 32;
    f.lane = i % 32;
    f.state = State::Ready;
    L.warps[f.warp].present |= 1u << f.lane;
    f.ctx = L.proto;
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = stack_bytes();
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
  }
  unsigned exited = 0;
  while (exited < n) {
    bool progressed = false;
    for (unsigned i = 0; i < n; ++i) {
      if (L.fibers[i].state != State::Ready) continue;
      progressed = true;
      L.current = i;
      g_current = &L.fibers[i].t;
      swapcontext(&L.scheduler, &L.fibers[i].ctx);
      g_current = nullptr;
      if (L.trapped)
        return fail(kIllegalInstruction, "kernel " + L.fn->name + ": thread " + dim_str(L.fibers[i].t.thread_idx) +
                                             " of block " + dim_str(L.block_idx) + ": " + L.trap_why);
      if (L.fibers[i].state == State::Exited) ++exited;
    }
    if (!progressed && exited < n) {
      unsigned at_block = 0, at_warp = 0;
      for (unsigned i = 0; i < n; ++i) {
        at_block += L.fibers[i].state == State::WaitBlock;
        at_warp += L.fibers[i].state == State::WaitWarp;
      }
      return fail(kLaunchFailed,
                  "kernel " + L.fn->name + " deadlocked in block " + dim_str(L.block_idx) + ": " +
                      std::to_string(at_block) + " thread(s) wait at __syncthreads, " + std::to_string(at_warp) +
                      " at a warp barrier (__syncwarp/__shfl*_sync/vote), " + std::to_string(exited) +
                      " exited (a barrier that not every thread it names reaches is undefined behaviour in CUDA)");
    }
  }
  return kSuccess;
}

// A fault in a kernel (past the end of device memory, a fiber's stack
// overflowing into its guard page, a wild pointer) still kills the process,
// as on a GPU it would kill the context; during a launch it is first
// reported with the kernel, block and thread. The handler runs on its own
// stack, prints, restores the previous handler and returns: the faulting
// instruction runs again and faults for good.
struct sigaction g_old_segv, g_old_bus;
char g_alt_stack[64 << 10];
pthread_t g_launching_thread;

void fault_report(int sig, siginfo_t* info, void*) {
  Launch& L = launch_state();
  const void* addr = info ? info->si_addr : nullptr;
  if (!pthread_equal(pthread_self(), g_launching_thread)) {  // another thread's fault: not ours to explain
    sigaction(SIGSEGV, &g_old_segv, nullptr);
    sigaction(SIGBUS, &g_old_bus, nullptr);
    return;
  }
  const Fiber* f = g_current ? &L.fibers[L.current] : nullptr;
  const char* what = "memory outside every device allocation (or a wild pointer)";
  if (f) {
    const char* a = static_cast<const char*>(addr);
    if (a >= f->stack - kGuardBytes && a < f->stack) what = "the thread's stack overflowed (KILN_CUDA_EMU_STACK_KB)";
  }
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf,
                              "kiln CUDA emulator: %s in kernel %s, block (%u,%u,%u), thread (%u,%u,%u): address %p: %s\n",
                              sig == SIGBUS ? "SIGBUS" : "SIGSEGV", L.fn ? L.fn->name.c_str() : "?", L.block_idx.x,
                              L.block_idx.y, L.block_idx.z, f ? f->t.thread_idx.x : 0u, f ? f->t.thread_idx.y : 0u,
                              f ? f->t.thread_idx.z : 0u, addr, what);
  if (n > 0) {
    const ssize_t w = write(2, buf, static_cast<std::size_t>(n < static_cast<int>(sizeof buf) ? n : sizeof buf - 1));
    (void)w;
  }
  sigaction(SIGSEGV, &g_old_segv, nullptr);
  sigaction(SIGBUS, &g_old_bus, nullptr);
}

struct FaultReport {
  stack_t old_stack;
  FaultReport() {
    g_launching_thread = pthread_self();
    stack_t ss{};
    ss.ss_sp = g_alt_stack;
    ss.ss_size = sizeof g_alt_stack;
    sigaltstack(&ss, &old_stack);
    struct sigaction sa {};
    sa.sa_sigaction = fault_report;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_old_segv);
    sigaction(SIGBUS, &sa, &g_old_bus);
  }
  ~FaultReport() {
    sigaction(SIGSEGV, &g_old_segv, nullptr);
    sigaction(SIGBUS, &g_old_bus, nullptr);
    sigaltstack(&old_stack, nullptr);
  }
};

CUresult run_launch(Function* fn, KilnEmuDim3 grid, KilnEmuDim3 block, void** params) {
  Launch& L = launch_state();
  static bool proto_ready = false;
  if (!proto_ready) {
    getcontext(&L.proto);
    proto_ready = true;
  }
  L.fn = fn;
  L.params = params;
  L.grid = grid;
  L.block = block;
  L.nthreads = block.x * block.y * block.z;
  L.trapped = false;
  while (L.fibers.size() < L.nthreads) {  // stacks with a guard page below, kept for later launches
    void* p = mmap(nullptr, stack_bytes() + kGuardBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return fail(kOutOfMemory, "cannot map a fiber stack");
    mprotect(p, kGuardBytes, PROT_NONE);
    L.fibers.emplace_back();
    L.fibers.back().stack = static_cast<char*>(p) + kGuardBytes;
  }
  FaultReport report;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        L.block_idx = {x, y, z};
        const CUresult r = run_block();
        if (r != kSuccess) return r;
      }
  return kSuccess;
}

// ---- compiling modules ----
const char* const kShim =
#include "emu_shim.inc"
    ;

std::string shim_text() {
  return std::string("#define KILN_EMU_ABI_VERSION ") + std::to_string(KILN_EMU_ABI_VERSION) + "\n" +
         KILN_EMU_STR(KILN_EMU_ABI_DECLS) + "\n" + kShim;
}

std::string compiler() {
  const char* e = std::getenv("KILN_CUDA_EMU_CXX");
  if (e && *e) return e;
#ifdef KILN_EMU_CXX
  return KILN_EMU_CXX;
#else
  return "c++";
#endif
}
std::string compile_flags() {
  // -fstack-clash-protection: a big frame probes its pages, so an overflow hits the guard page.
  std::string f = "-std=c++17 -O1 -shared -fPIC -w -ffp-contract=off -fstack-clash-protection";
#ifdef KILN_EMU_BOOST_INCLUDE
  if (std::strlen(KILN_EMU_BOOST_INCLUDE) > 0) f += std::string(" -isystem ") + KILN_EMU_BOOST_INCLUDE;
#endif
  return f;
}

std::string hex_key(const std::string& s) {
  std::uint64_t a = 1469598103934665603ull, b = 0x9e3779b97f4a7c15ull;
  for (unsigned char c : s) {
    a = (a ^ c) * 1099511628211ull;
    b = (b ^ c) * 0x100000001b3ull + 0x2545F4914F6CDD1Dull;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

// The tokens of C++ source, comments and preprocessor lines skipped: enough to find kernels.
std::vector<std::string> tokens(const std::string& s) {
  std::vector<std::string> t;
  std::size_t i = 0;
  bool line_start = true;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\n') {
      line_start = true;
      ++i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (line_start && c == '#') {  // a preprocessor line (with continuations)
      while (i < s.size() && s[i] != '\n') i += (s[i] == '\\' && i + 1 < s.size()) ? 2 : 1;
      continue;
    }
    line_start = false;
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '/') {
      while (i < s.size() && s[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      const std::size_t e = s.find("*/", i + 2);
      i = e == std::string::npos ? s.size() : e + 2;
      continue;
    }
    if (c == '"' || c == '\'') {
      std::size_t j = i + 1;
      while (j < s.size() && s[j] != c) j += s[j] == '\\' ? 2 : 1;
      t.push_back(s.substr(i, j + 1 - i));
      i = j + 1;
      continue;
    }
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      t.push_back(s.substr(i, j - i));
      i = j;
      continue;
    }
    t.push_back(std::string(1, c));
    ++i;
  }
  return t;
}

// The names of the source's `extern "C" __global__` kernels.
std::vector<std::string> kernel_entries(const std::string& src) {
  const std::vector<std::string> t = tokens(src);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] != "__global__") continue;
    bool extern_c = false;
    for (std::size_t k = i >= 4 ? i - 4 : 0; k + 1 < i + 1 && k + 1 < t.size(); ++k)
      if (t[k] == "extern" && t[k + 1] == "\"C\"") extern_c = true;
    if (!extern_c) continue;
    for (std::size_t k = i + 1; k + 1 < t.size(); ++k) {
      if (t[k] == "__launch_bounds__" && t[k + 1] == "(") {  // skip its arguments
        int depth = 0;
        for (++k; k < t.size(); ++k) {
          depth += t[k] == "(" ? 1 : t[k] == ")" ? -1 : 0;
          if (depth == 0) break;
        }
        continue;
      }
      if (t[k + 1] == "(") {
        names.push_back(t[k]);
        break;
      }
      if (t[k] == ";" || t[k] == "{") break;
    }
  }
  return names;
}

// Calls a kernel with cuLaunchKernel's kernelParams: the parameter types come
// from the kernel's own type (top-level const and __restrict__ dropped).
const char* const kTrampolineHelpers = R"(
template <class... P, std::size_t... I>
static inline void kiln_emu_call(void (*f)(P...), void** p, std::index_sequence<I...>) {
  f(*static_cast<typename std::remove_reference<P>::type*>(p[I])...);
}
template <class... P>
static inline void kiln_emu_call(void (*f)(P...), void** p) { kiln_emu_call(f, p, std::index_sequence_for<P...>{}); }
)";

std::string trampolines(const std::vector<std::string>& names) {
  std::string s = "\n// ---- kiln CUDA emulator: launch trampolines ----\n";
  s += kTrampolineHelpers;
  for (const std::string& n : names)
    s += "extern \"C\" __attribute__((visibility(\"default\"))) void " + n + "__emu(void** p) { kiln_emu_call(" + n +
         ", p); }\n";
  return s;
}

std::string cache_dir() {
  std::string dir;
  const char* k = std::getenv("KILN_CACHE_DIR");
  if (k && *k) {
    dir = std::string(k) + "/emu";
  } else {
    const char* t = std::getenv("TMPDIR");
    dir = std::string(t && *t ? t : "/tmp") + "/kiln-cuda-emu-" + std::to_string(getuid());
  }
  for (std::size_t i = 1; i <= dir.size(); ++i)  // mkdir -p
    if (i == dir.size() || dir[i] == '/') mkdir(dir.substr(0, i).c_str(), 0755);
  return dir;
}

bool file_exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}
std::string read_file(const std::string& p) {
  std::ifstream f(p);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

struct CacheEntry {
  std::mutex mu;
  std::shared_ptr<Lib> lib;
};
struct Cache {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<CacheEntry>> by_key;
  std::atomic<std::size_t> compiles{0};
};
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}
std::shared_ptr<CacheEntry> cache_entry(const std::string& key) {
  std::lock_guard<std::mutex> lock(cache().mu);
  auto& e = cache().by_key[key];
  if (!e) e = std::make_shared<CacheEntry>();
  return e;
}

// dlopen + kiln_emu_bind.
CUresult open_lib(const std::string& path, std::shared_ptr<Lib>& out) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    return fail(kSharedObjectInitFailed, "dlopen " + path + ": " + (e ? e : "?"));
  }
  auto bind = reinterpret_cast<int (*)(const KilnEmuRuntime*)>(dlsym(h, "kiln_emu_bind"));
  if (!bind || bind(&g_runtime) != KILN_EMU_ABI_VERSION)
    return fail(kSharedObjectInitFailed, path + " is not a module of this emulator (kiln_emu_bind)");
  out = std::make_shared<Lib>();
  out->handle = h;
  out->path = path;
  return kSuccess;
}

// The shim as a header in the cache folder, DIR/shim-HASH.hpp, with a
// precompiled header next to it (built once, ~150 MB, ~5 s; it saves ~1 s of
// parsing <cmath> and Boost per compile). KILN_CUDA_EMU_PCH=0: no PCH. The
// compiler uses the .gch when it matches, else reads the header: the same.
std::string shim_header(const std::string& dir) {
  static std::mutex mu;
  static std::map<std::string, std::string> done;  // dir → header
  std::lock_guard<std::mutex> lock(mu);
  auto it = done.find(dir);
  if (it != done.end()) return it->second;
  const std::string shim = shim_text();
  const std::string hdr = dir + "/shim-" + hex_key(compiler() + "\n" + compile_flags() + "\n" + shim) + ".hpp";
  const std::string tag = "." + std::to_string(getpid()) + ".tmp";
  if (!file_exists(hdr)) {
    std::ofstream(hdr + tag) << shim;
    std::rename((hdr + tag).c_str(), hdr.c_str());
  }
  const char* pch = std::getenv("KILN_CUDA_EMU_PCH");
  if (!(pch && std::string(pch) == "0") && !file_exists(hdr + ".gch")) {
    std::string flags = compile_flags();
    flags.replace(flags.find("-shared "), 8, "");
    const std::string cmd = compiler() + " " + flags + " -x c++-header '" + hdr + "' -o '" + hdr + ".gch" + tag +
                            "' > /dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) std::rename((hdr + ".gch" + tag).c_str(), (hdr + ".gch").c_str());
    else std::remove((hdr + ".gch" + tag).c_str());
  }
  done[dir] = hdr;
  return hdr;
}

// Compiles `text` (a complete host translation unit: the shim, then the
// rest) to DIR/KEY.so; the shim comes from shim_header() with -include.
CUresult compile(const std::string& text, const std::string& key, const std::string& dir, const std::string& what) {
  std::ostringstream tag;
  tag << key << "." << getpid() << "." << std::this_thread::get_id();
  const std::string cpp = dir + "/" + tag.str() + ".cpp", tmp = dir + "/" + tag.str() + ".so.tmp",
                    log = dir + "/" + key + ".log", so = dir + "/" + key + ".so";
  const std::string shim = shim_text();
  std::string include;
  if (text.compare(0, shim.size(), shim) == 0) {
    include = " -include '" + shim_header(dir) + "'";
    std::ofstream(cpp) << "// compiled with -include " << shim_header(dir) << "\n" << text.substr(shim.size());
  } else {
    std::ofstream(cpp) << text;
  }
  const std::string cmd =
      compiler() + " " + compile_flags() + include + " -o '" + tmp + "' '" + cpp + "' > '" + log + "' 2>&1";
  ++cache().compiles;
  if (std::system(cmd.c_str()) != 0) {
    std::string l = read_file(log);
    if (l.size() > 6000) l = l.substr(0, 6000) + "\n[...]";
    const std::string kept = dir + "/" + key + ".failed.cpp";
    std::rename(cpp.c_str(), kept.c_str());
    std::fprintf(stderr, "kiln CUDA emulator: host compile of %s failed (%s, log %s):\n%s\n", what.c_str(),
                 kept.c_str(), log.c_str(), l.c_str());
    return fail(kInvalidSource, "host compile of " + what + " failed (source " + kept + ", log " + log + "):\n" + l);
  }
  std::remove(cpp.c_str());
  std::remove(log.c_str());
  if (std::rename(tmp.c_str(), so.c_str()) != 0) return fail(kSharedObjectInitFailed, "cannot rename " + tmp);
  return kSuccess;
}

// The compiled library for a module source: memory cache, disk cache (a
// KEY.so, or a KEY.link naming a batch library that holds it), compile.
CUresult library_for(const std::string& source, std::shared_ptr<Lib>& out) {
  const std::string text =
      shim_text() + "#line 1 \"kernel.cu\"\n" + source + "\n" + trampolines(kernel_entries(source));
  const std::string key = hex_key(compiler() + "\n" + compile_flags() + "\n" + text);
  std::shared_ptr<CacheEntry> e = cache_entry(key);
  std::lock_guard<std::mutex> lock(e->mu);
  if (e->lib) {
    out = e->lib;
    return kSuccess;
  }
  const std::string dir = cache_dir();
  std::string so = dir + "/" + key + ".so";
  if (!file_exists(so) && file_exists(dir + "/" + key + ".link")) {
    std::string target = read_file(dir + "/" + key + ".link");
    while (!target.empty() && (target.back() == '\n' || target.back() == ' ')) target.pop_back();
    if (file_exists(dir + "/" + target)) so = dir + "/" + target;
  }
  if (file_exists(so) && open_lib(so, e->lib) == kSuccess) {
    out = e->lib;
    return kSuccess;
  }
  const std::vector<std::string> names = kernel_entries(source);
  const std::string what = names.empty() ? "a module without kernels" : "module " + names[0] + (names.size() > 1 ? ", ..." : "");
  so = dir + "/" + key + ".so";
  CUresult r = compile(text, key, dir, what);
  if (r != kSuccess) return r;
  r = open_lib(so, e->lib);
  if (r == kSuccess) out = e->lib;
  return r;
}

std::string module_key(const std::string& source) {
  const std::string text =
      shim_text() + "#line 1 \"kernel.cu\"\n" + source + "\n" + trampolines(kernel_entries(source));
  return hex_key(compiler() + "\n" + compile_flags() + "\n" + text);
}

}  // namespace

// For cublas_emu.cpp (hidden: not exported from the library).
namespace kiln_emu {
bool initialised() { return g_initialised.load(); }
bool device_range_ok(std::uintptr_t p, std::size_t n) {
  if (n == 0) return true;
  std::lock_guard<std::mutex> lock(memory().mu);
  return in_allocation(p, n);
}
bool stream_ok(void* s) { return valid_stream(static_cast<Stream*>(s)); }
}  // namespace kiln_emu

// ======================= the driver API =======================

KILN_EMU_EXPORT CUresult cuInit(unsigned flags) {
  if (flags != 0) return fail(kInvalidValue, "cuInit: flags must be 0");
  if (const char* m = std::getenv("KILN_CUDA_EMU_MEMORY")) {
    const unsigned long long v = std::strtoull(m, nullptr, 10);
    if (v > 0) {
      std::lock_guard<std::mutex> lock(memory().mu);
      memory().limit = v;
    }
  }
  g_initialised = true;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuDriverGetVersion(int* v) {
  if (!v) return kInvalidValue;
  *v = 13000;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuGetErrorName(CUresult r, const char** s) {
  if (!s) return kInvalidValue;
  const ErrorInfo* e = find_error(r);
  *s = e ? e->name : nullptr;
  return e ? kSuccess : kInvalidValue;
}

KILN_EMU_EXPORT CUresult cuGetErrorString(CUresult r, const char** s) {
  if (!s) return kInvalidValue;
  const ErrorInfo* e = find_error(r);
  if (!e) {
    *s = nullptr;
    return kInvalidValue;
  }
  Details& d = details();
  std::lock_guard<std::mutex> lock(d.mu);
  auto it = d.latest.find(r);
  *s = it != d.latest.end() ? it->second : e->text;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuDeviceGetCount(int* n) {
  KILN_EMU_REQUIRE_INIT();
  if (!n) return kInvalidValue;
  *n = 1;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  KILN_EMU_REQUIRE_INIT();
  if (!d) return kInvalidValue;
  if (ordinal != 0) return kInvalidDevice;
  *d = 0;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuDeviceGetName(char* name, int len, CUdevice d) {
  KILN_EMU_REQUIRE_INIT();
  if (d != 0) return kInvalidDevice;
  if (!name || len <= 0) return kInvalidValue;
  std::snprintf(name, static_cast<std::size_t>(len), "%s", "kiln CUDA emulator");
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice d) {
  KILN_EMU_REQUIRE_INIT();
  if (d != 0) return kInvalidDevice;
  if (!v) return kInvalidValue;
  switch (attr) {
    case 1: *v = 1024; break;        // MAX_THREADS_PER_BLOCK
    case 2: case 3: *v = 1024; break;  // MAX_BLOCK_DIM_X/Y
    case 4: *v = 64; break;          // MAX_BLOCK_DIM_Z
    case 5: *v = 2147483647; break;  // MAX_GRID_DIM_X
    case 6: case 7: *v = 65535; break;
    case 8: *v = 49152; break;       // MAX_SHARED_MEMORY_PER_BLOCK
    case 9: *v = 65536; break;       // TOTAL_CONSTANT_MEMORY
    case 10: *v = 32; break;         // WARP_SIZE
    case 12: *v = 65536; break;      // MAX_REGISTERS_PER_BLOCK
    case 13: *v = 1000000; break;    // CLOCK_RATE (kHz)
    case 14: *v = 512; break;        // TEXTURE_ALIGNMENT
    case 16: *v = 2; break;          // MULTIPROCESSOR_COUNT
    case 17: case 18: *v = 0; break;  // KERNEL_EXEC_TIMEOUT, INTEGRATED
    case 19: *v = 1; break;          // CAN_MAP_HOST_MEMORY
    case 20: *v = 0; break;          // COMPUTE_MODE default
    case 31: *v = 1; break;          // CONCURRENT_KERNELS
    case 32: *v = 0; break;          // ECC_ENABLED
    case 39: *v = 2048; break;       // MAX_THREADS_PER_MULTIPROCESSOR
    case 41: *v = 1; break;          // UNIFIED_ADDRESSING
    case 75: *v = 9; break;          // COMPUTE_CAPABILITY_MAJOR
    case 76: *v = 0; break;          // COMPUTE_CAPABILITY_MINOR
    case 81: *v = 233472; break;     // MAX_SHARED_MEMORY_PER_MULTIPROCESSOR
    case 82: *v = 65536; break;      // MAX_REGISTERS_PER_MULTIPROCESSOR
    case 97: *v = 232448; break;     // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    default: return fail(kInvalidValue, "cuDeviceGetAttribute: attribute " + std::to_string(attr) + " is not emulated");
  }
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuDeviceTotalMem_v2(std::size_t* bytes, CUdevice d) {
  KILN_EMU_REQUIRE_INIT();
  if (d != 0) return kInvalidDevice;
  if (!bytes) return kInvalidValue;
  std::lock_guard<std::mutex> lock(memory().mu);
  *bytes = memory().limit;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuDevicePrimaryCtxRetain(Ctx** ctx, CUdevice d) {
  KILN_EMU_REQUIRE_INIT();
  if (d != 0) return kInvalidDevice;
  if (!ctx) return kInvalidValue;
  ++g_primary_refs;
  *ctx = &g_primary;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
  KILN_EMU_REQUIRE_INIT();
  if (d != 0) return kInvalidDevice;
  if (g_primary_refs.load() <= 0) return fail(kInvalidContext, "cuDevicePrimaryCtxRelease: not retained");
  --g_primary_refs;
  return kSuccess;
}

namespace {
thread_local Ctx* t_current_ctx = nullptr;
}

KILN_EMU_EXPORT CUresult cuCtxSetCurrent(Ctx* ctx) {
  KILN_EMU_REQUIRE_INIT();
  if (ctx && ctx != &g_primary) return fail(kInvalidContext, "cuCtxSetCurrent: not the emulator's primary context");
  t_current_ctx = ctx;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuCtxGetCurrent(Ctx** ctx) {
  KILN_EMU_REQUIRE_INIT();
  if (!ctx) return kInvalidValue;
  *ctx = t_current_ctx;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuCtxSynchronize() {
  KILN_EMU_REQUIRE_INIT();
  return kSuccess;  // everything ran when it was enqueued
}

KILN_EMU_EXPORT CUresult cuModuleLoadData(Module** mod, const void* image) {
  KILN_EMU_REQUIRE_INIT();
  if (!mod || !image) return kInvalidValue;
  return fail(kNoBinaryForGpu, "the emulator cannot run cubins or PTX; load CUDA C++ source with kilnEmuModuleLoadSource");
}

KILN_EMU_EXPORT CUresult kilnEmuModuleLoadSource(Module** mod, const char* source) {
  KILN_EMU_REQUIRE_INIT();
  if (!mod || !source) return kInvalidValue;
  std::shared_ptr<Lib> lib;
  const CUresult r = library_for(source, lib);
  if (r != kSuccess) return r;
  auto* m = new Module;
  m->lib = lib;
  for (const std::string& n : kernel_entries(source)) m->entries.insert(n);
  std::lock_guard<std::mutex> lock(handles().mu);
  handles().modules.insert(m);
  *mod = m;
  return kSuccess;
}

// Compiles many module sources in one host compile (their longest common
// prefix once, then each source's remainder), so that loading each of them
// later finds it compiled. Sources already compiled are skipped. A failure
// (the remainders clash) leaves each source to be compiled on its own when
// loaded.
KILN_EMU_EXPORT CUresult kilnEmuPrecompile(const char* const* sources, int n) {
  KILN_EMU_REQUIRE_INIT();
  if (n < 0 || (n > 0 && !sources)) return kInvalidValue;
  const std::string dir = cache_dir();
  std::vector<std::string> todo, keys;
  std::set<std::string> seen;
  for (int i = 0; i < n; ++i) {
    if (!sources[i]) return kInvalidValue;
    const std::string key = module_key(sources[i]);
    if (seen.count(key)) continue;
    seen.insert(key);
    {
      std::lock_guard<std::mutex> lock(cache().mu);
      auto it = cache().by_key.find(key);
      if (it != cache().by_key.end() && it->second->lib) continue;
    }
    if (file_exists(dir + "/" + key + ".so")) continue;
    if (file_exists(dir + "/" + key + ".link")) {
      std::string t = read_file(dir + "/" + key + ".link");
      while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
      if (file_exists(dir + "/" + t)) continue;
    }
    todo.push_back(sources[i]);
    keys.push_back(key);
  }
  if (todo.empty()) return kSuccess;
  if (todo.size() == 1) {
    std::shared_ptr<Lib> lib;
    return library_for(todo[0], lib);
  }
  // the common prefix, cut after a newline
  std::size_t p = todo[0].size();
  for (const std::string& s : todo) {
    std::size_t k = 0;
    while (k < p && k < s.size() && s[k] == todo[0][k]) ++k;
    p = k;
  }
  while (p > 0 && todo[0][p - 1] != '\n') --p;
  std::string body = todo[0].substr(0, p);
  std::vector<std::string> names;
  for (const std::string& s : todo) {
    body += "\n" + s.substr(p);
    for (const std::string& nm : kernel_entries(s)) names.push_back(nm);
  }
  const std::string text = shim_text() + "#line 1 \"batch.cu\"\n" + body + "\n" + trampolines(names);
  const std::string bkey = "batch-" + hex_key(compiler() + "\n" + compile_flags() + "\n" + text);
  CUresult r = compile(text, bkey, dir, "a batch of " + std::to_string(todo.size()) + " modules");
  if (r != kSuccess) return r;
  std::shared_ptr<Lib> lib;
  r = open_lib(dir + "/" + bkey + ".so", lib);
  if (r != kSuccess) return r;
  for (const std::string& key : keys) {
    const std::string tmp = dir + "/" + key + ".link." + std::to_string(getpid());
    std::ofstream(tmp) << bkey << ".so\n";
    std::rename(tmp.c_str(), (dir + "/" + key + ".link").c_str());
    std::shared_ptr<CacheEntry> e = cache_entry(key);
    std::lock_guard<std::mutex> lock(e->mu);
    if (!e->lib) e->lib = lib;
  }
  return kSuccess;
}

// Emulator-only introspection for tests.
KILN_EMU_EXPORT CUresult kilnEmuMemoryInfo(std::size_t* live_allocations, std::size_t* live_bytes,
                                           std::size_t* total_allocations) {
  std::lock_guard<std::mutex> lock(memory().mu);
  if (live_allocations) *live_allocations = memory().live.size();
  if (live_bytes) *live_bytes = memory().live_bytes;
  if (total_allocations) *total_allocations = memory().total_allocations;
  return kSuccess;
}
KILN_EMU_EXPORT CUresult kilnEmuSetMemoryLimit(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(memory().mu);
  memory().limit = bytes;
  return kSuccess;
}
KILN_EMU_EXPORT std::size_t kilnEmuCompileCount() { return cache().compiles.load(); }

KILN_EMU_EXPORT CUresult cuModuleUnload(Module* m) {
  KILN_EMU_REQUIRE_INIT();
  std::lock_guard<std::mutex> lock(handles().mu);
  if (!handles().modules.erase(m)) return fail(kInvalidHandle, "cuModuleUnload: unknown module");
  for (auto& [name, f] : m->functions) {
    handles().functions.erase(f);
    delete f;
  }
  delete m;  // the library stays loaded (cached for the process)
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuModuleGetFunction(Function** fn, Module* m, const char* name) {
  KILN_EMU_REQUIRE_INIT();
  if (!fn || !name) return kInvalidValue;
  std::lock_guard<std::mutex> lock(handles().mu);
  if (!handles().modules.count(m)) return fail(kInvalidHandle, "cuModuleGetFunction: unknown module");
  auto it = m->functions.find(name);
  if (it != m->functions.end()) {
    *fn = it->second;
    return kSuccess;
  }
  void* entry = m->entries.count(name) ? dlsym(m->lib->handle, (std::string(name) + "__emu").c_str()) : nullptr;
  if (!entry) {
    std::string known;
    for (const std::string& e : m->entries) known += (known.empty() ? "" : ", ") + e;
    return fail(kNotFound, std::string("no kernel ") + name + " in the module (its extern \"C\" __global__ kernels: " +
                               (known.empty() ? "none" : known) + ")");
  }
  auto* f = new Function;
  f->module = m;
  f->name = name;
  f->entry = reinterpret_cast<void (*)(void**)>(entry);
  m->functions[name] = f;
  handles().functions.insert(f);
  *fn = f;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuLaunchKernel(Function* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                        unsigned bz, unsigned shared_bytes, Stream* stream, void** params,
                                        void** extra) {
  KILN_EMU_REQUIRE_INIT();
  {
    std::lock_guard<std::mutex> lock(handles().mu);
    if (!handles().functions.count(f)) return fail(kInvalidHandle, "cuLaunchKernel: unknown function");
  }
  if (!valid_stream(stream)) return fail(kInvalidHandle, "cuLaunchKernel: unknown stream");
  if (gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535 || gx > 2147483647u)
    return fail(kInvalidValue, "cuLaunchKernel " + f->name + ": bad grid");
  if (bx == 0 || by == 0 || bz == 0 || bx > 1024 || by > 1024 || bz > 64 ||
      static_cast<unsigned long long>(bx) * by * bz > 1024)
    return fail(kInvalidValue, "cuLaunchKernel " + f->name + ": bad block (at most 1024 threads)");
  if (shared_bytes > 0)
    return fail(kInvalidValue, "cuLaunchKernel " + f->name + ": dynamic shared memory is not emulated");
  if (extra) return fail(kInvalidValue, "cuLaunchKernel " + f->name + ": `extra` is not emulated; pass kernelParams");
  std::lock_guard<std::mutex> lock(g_launch_mu);
  return run_launch(f, {gx, gy, gz}, {bx, by, bz}, params);
}

KILN_EMU_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* p, std::size_t bytes) {
  KILN_EMU_REQUIRE_INIT();
  if (!p || bytes == 0) return kInvalidValue;
  const std::size_t rounded = (bytes + 255) / 256 * 256;
  {
    std::lock_guard<std::mutex> lock(memory().mu);
    if (rounded < bytes || memory().live_bytes + rounded > memory().limit)
      return fail(kOutOfMemory, "cuMemAlloc of " + std::to_string(bytes) + " bytes: " +
                                    std::to_string(memory().live_bytes) + " of " + std::to_string(memory().limit) +
                                    " bytes in use");
  }
  void* m = guarded_alloc(rounded);
  if (!m) return fail(kOutOfMemory, "cuMemAlloc: the host is out of memory");
  std::memset(m, kGarbage, rounded);
  std::lock_guard<std::mutex> lock(memory().mu);
  memory().live[reinterpret_cast<std::uintptr_t>(m)] = bytes;
  memory().live_bytes += rounded;
  ++memory().total_allocations;
  *p = reinterpret_cast<std::uintptr_t>(m);
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuMemFree_v2(CUdeviceptr p) {
  KILN_EMU_REQUIRE_INIT();
  if (p == 0) return kSuccess;
  {
    std::lock_guard<std::mutex> lock(memory().mu);
    auto it = memory().live.find(static_cast<std::uintptr_t>(p));
    if (it == memory().live.end()) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "cuMemFree: 0x%llx is not a live allocation", static_cast<unsigned long long>(p));
      return fail(kInvalidValue, buf);
    }
    const std::size_t rounded = (it->second + 255) / 256 * 256;
    memory().live_bytes -= rounded;
    memory().live.erase(it);
    guarded_free(reinterpret_cast<void*>(static_cast<std::uintptr_t>(p)), rounded);
  }
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuMemGetInfo_v2(std::size_t* free_bytes, std::size_t* total) {
  KILN_EMU_REQUIRE_INIT();
  std::lock_guard<std::mutex> lock(memory().mu);
  if (free_bytes) *free_bytes = memory().limit - std::min(memory().limit, memory().live_bytes);
  if (total) *total = memory().limit;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, std::size_t n) {
  KILN_EMU_REQUIRE_INIT();
  if (n && !src) return kInvalidValue;
  if (CUresult r = check_device_range(dst, n, "cuMemcpyHtoD destination")) return r;
  if (n) std::memcpy(reinterpret_cast<void*>(static_cast<std::uintptr_t>(dst)), src, n);
  return kSuccess;
}
KILN_EMU_EXPORT CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, std::size_t n) {
  KILN_EMU_REQUIRE_INIT();
  if (n && !dst) return kInvalidValue;
  if (CUresult r = check_device_range(src, n, "cuMemcpyDtoH source")) return r;
  if (n) std::memcpy(dst, reinterpret_cast<const void*>(static_cast<std::uintptr_t>(src)), n);
  return kSuccess;
}
KILN_EMU_EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, std::size_t n) {
  KILN_EMU_REQUIRE_INIT();
  if (CUresult r = check_device_range(src, n, "cuMemcpyDtoD source")) return r;
  if (CUresult r = check_device_range(dst, n, "cuMemcpyDtoD destination")) return r;
  if (n)
    std::memmove(reinterpret_cast<void*>(static_cast<std::uintptr_t>(dst)),
                 reinterpret_cast<const void*>(static_cast<std::uintptr_t>(src)), n);
  return kSuccess;
}
KILN_EMU_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, std::size_t n, Stream* s) {
  if (!valid_stream(s)) return fail(kInvalidHandle, "cuMemcpyHtoDAsync: unknown stream");
  return cuMemcpyHtoD_v2(dst, src, n);
}
KILN_EMU_EXPORT CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, std::size_t n, Stream* s) {
  if (!valid_stream(s)) return fail(kInvalidHandle, "cuMemcpyDtoHAsync: unknown stream");
  return cuMemcpyDtoH_v2(dst, src, n);
}
KILN_EMU_EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, std::size_t n, Stream* s) {
  if (!valid_stream(s)) return fail(kInvalidHandle, "cuMemcpyDtoDAsync: unknown stream");
  return cuMemcpyDtoD_v2(dst, src, n);
}
KILN_EMU_EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, std::size_t n) {
  KILN_EMU_REQUIRE_INIT();
  if (CUresult r = check_device_range(dst, n, "cuMemsetD8")) return r;
  if (n) std::memset(reinterpret_cast<void*>(static_cast<std::uintptr_t>(dst)), v, n);
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, std::size_t n, Stream* s) {
  if (!valid_stream(s)) return fail(kInvalidHandle, "cuMemsetD8Async: unknown stream");
  return cuMemsetD8_v2(dst, v, n);
}
KILN_EMU_EXPORT CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned v, std::size_t n) {
  KILN_EMU_REQUIRE_INIT();
  if (dst % 4) return fail(kInvalidValue, "cuMemsetD32: unaligned destination");
  if (CUresult r = check_device_range(dst, n * 4, "cuMemsetD32")) return r;
  auto* p = reinterpret_cast<unsigned*>(static_cast<std::uintptr_t>(dst));
  for (std::size_t i = 0; i < n; ++i) p[i] = v;
  return kSuccess;
}

KILN_EMU_EXPORT CUresult cuStreamCreate(Stream** s, unsigned flags) {
  KILN_EMU_REQUIRE_INIT();
  if (!s || flags > 1) return kInvalidValue;
  auto* st = new Stream;
  st->flags = flags;
  std::lock_guard<std::mutex> lock(handles().mu);
  handles().streams.insert(st);
  *s = st;
  return kSuccess;
}
KILN_EMU_EXPORT CUresult cuStreamSynchronize(Stream* s) {
  KILN_EMU_REQUIRE_INIT();
  if (!valid_stream(s)) return fail(kInvalidHandle, "cuStreamSynchronize: unknown stream");
  return kSuccess;
}
KILN_EMU_EXPORT CUresult cuStreamQuery(Stream* s) { return cuStreamSynchronize(s); }
KILN_EMU_EXPORT CUresult cuStreamDestroy_v2(Stream* s) {
  KILN_EMU_REQUIRE_INIT();
  std::lock_guard<std::mutex> lock(handles().mu);
  if (!handles().streams.erase(s)) return fail(kInvalidHandle, "cuStreamDestroy: unknown stream");
  delete s;
  return kSuccess;
}
