// The printed CUDA kernels *executed on the host*: the whole printed
// source (prelude, element functions, both entries) is compiled by the
// host C++ compiler with a few stand-ins for CUDA built-ins (a grid of one
// thread, so each grid-stride loop walks every element), loaded with
// dlopen, and every kernel of the differential sweep is run through its
// strided and its contiguous entry against the interpreter. This checks
// what the printer writes — the op lowerings, casts, constants, f16/bf16
// rounding, offsets and vector tails — without a GPU; CUDA's own math
// library is replaced by glibc's, so math-function accuracy is left to the
// GPU run (tests/cuda/cuda_gpu_test.cpp).
//
// Bounds (as tests/codegen/native_test.cpp): exact but for f16/bf16 (1 ULP),
// glibc math functions and formulas on them (4 ULP, or 4 ULP of 1 near a
// zero), f32 floor_div/mod (1 ULP), f64 digamma/polygamma (kiln's own
// series vs Boost: relative 1e-13) and their f32 results (1 ULP).
#include <gtest/gtest.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "codegen/cuda/print.hpp"
#include "codegen/partition.hpp"
#include "cuda/cuda_test_util.hpp"
#include "elementwise_sweep.hpp"
#include "ir/node.hpp"
#include "kiln/kiln.hpp"

namespace {

using namespace kiln;
using ir::OpCode;
using namespace kiln::codegen::cuda;

using kiln_test::kAllDTypes;

// CUDA built-ins for a host compile of printed kernels.
const char* const kHostShim = R"(
#include <math.h>
#include <cmath>
#include <cstring>
#include <utility>
#include <boost/math/special_functions/erf.hpp>
#define KILN_PRELUDE_ON_HOST 1
#define __device__
#define __forceinline__ inline
#define __global__
#define __launch_bounds__(n)
#define __align__(n) alignas(n)
#define __shared__ static
struct kiln_dim3 { unsigned x, y, z; };
#ifndef KILN_HOST_THREADS
static const kiln_dim3 blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
// One thread a block: the reduction entries never reach these (they fold
// across lanes only when blockDim.x > 1), but they must compile.
inline void __syncthreads() {}
template <class T> T __shfl_xor_sync(unsigned, T v, int) { return v; }
#else
// A grid of blocks run one after another, each block's threads as fibers
// (ucontext) on this one thread, switched only where a thread waits:
// __syncthreads a barrier of the block, a shuffle an exchange through a slot
// a thread between two barriers of its warp. `__shared__` is static: one
// copy, which the block running uses.
#include <ucontext.h>
#include <functional>
#include <memory>
#include <vector>
static kiln_dim3 blockIdx, threadIdx, blockDim, gridDim;
struct kiln_fiber {
  ucontext_t ctx;
  kiln_dim3 idx;
  bool done = false;
};
struct kiln_barrier {
  unsigned n = 0, arrived = 0, gen = 0;
};
static std::vector<kiln_fiber> kiln_fibers;
static std::vector<std::unique_ptr<char[]>> kiln_stacks;
static const std::size_t kiln_stack_size = 256 * 1024;
static unsigned kiln_cur;
static ucontext_t kiln_sched;
static kiln_barrier kiln_block_bar, kiln_warp_bar[32];
static unsigned long long kiln_slot[1024];
static const std::function<void()>* kiln_entry;
static void kiln_wait(kiln_barrier& b) {
  const unsigned g = b.gen;
  if (++b.arrived == b.n) {
    b.arrived = 0;
    ++b.gen;
    return;
  }
  while (b.gen == g) swapcontext(&kiln_fibers[kiln_cur].ctx, &kiln_sched);
  threadIdx = kiln_fibers[kiln_cur].idx;
}
inline void __syncthreads() { kiln_wait(kiln_block_bar); }
template <class T> T __shfl_xor_sync(unsigned, T v, int o) {
  const unsigned lin = threadIdx.y * blockDim.x + threadIdx.x;
  std::memcpy(&kiln_slot[lin], &v, sizeof v);
  kiln_wait(kiln_warp_bar[lin / 32]);
  T r;
  std::memcpy(&r, &kiln_slot[lin ^ (unsigned)o], sizeof r);
  kiln_wait(kiln_warp_bar[lin / 32]);
  return r;
}
static void kiln_fiber_main() {
  (*kiln_entry)();
  kiln_fibers[kiln_cur].done = true;  // back to the scheduler through uc_link
}
static void kiln_host_launch(unsigned grid, unsigned bx, unsigned by, const std::function<void()>& entry) {
  const unsigned n = bx * by;
  blockDim = {bx, by, 1};
  gridDim = {grid, 1, 1};
  kiln_entry = &entry;
  while (kiln_stacks.size() < n) kiln_stacks.emplace_back(new char[kiln_stack_size]);
  for (unsigned b = 0; b < grid; ++b) {
    blockIdx = {b, 0, 0};
    kiln_block_bar = {n, 0, 0};
    for (unsigned w = 0; w < (n + 31) / 32; ++w) kiln_warp_bar[w] = {n - 32 * w < 32 ? n - 32 * w : 32, 0, 0};
    kiln_fibers.assign(n, kiln_fiber{});
    for (unsigned t = 0; t < n; ++t) {
      kiln_fiber& f = kiln_fibers[t];
      f.idx = {t % bx, t / bx, 0};
      getcontext(&f.ctx);
      f.ctx.uc_stack.ss_sp = kiln_stacks[t].get();
      f.ctx.uc_stack.ss_size = kiln_stack_size;
      f.ctx.uc_link = &kiln_sched;
      makecontext(&f.ctx, kiln_fiber_main, 0);
    }
    // Round robin until every thread of the block has returned.
    for (unsigned left = n; left > 0;) {
      left = 0;
      for (unsigned t = 0; t < n; ++t) {
        if (kiln_fibers[t].done) continue;
        kiln_cur = t;
        threadIdx = kiln_fibers[t].idx;
        swapcontext(&kiln_sched, &kiln_fibers[t].ctx);
        left += !kiln_fibers[t].done;
      }
    }
  }
}
#endif
using std::isinf;
using std::signbit;
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
inline double sinpi(double x) { return std::sin(M_PI * std::remainder(x, 2.0)); }
inline double cospi(double x) { return std::cos(M_PI * std::remainder(x, 2.0)); }
inline double erfinv(double x) {
  if (x != x) return x;
  if (x == 1) return HUGE_VAL;
  if (x == -1) return -HUGE_VAL;
  if (x > 1 || x < -1) return NAN;
  return boost::math::erf_inv(x);
}
inline float kiln_host_h2f(unsigned short h) { _Float16 v; std::memcpy(&v, &h, 2); return (float)v; }
inline unsigned short kiln_host_f2h(float f) { _Float16 v = (_Float16)f; unsigned short h; std::memcpy(&h, &v, 2); return h; }
)";

// After the prelude (which declares the ABI structs).
const char* const kHostCallers = R"(
// Calls an entry with its parameters from arrays (evaluation order fixed by the index pack).
template <class... P, std::size_t... I>
void kiln_call_strided(void (*f)(KilnCudaSpace, P...), const KilnCudaSpace* s, KilnCudaOperand* o, std::index_sequence<I...>) { f(*s, o[I]...); }
template <class... P>
void kiln_call_strided(void (*f)(KilnCudaSpace, P...), const KilnCudaSpace* s, KilnCudaOperand* o) { kiln_call_strided(f, s, o, std::index_sequence_for<P...>{}); }
template <class... P, std::size_t... I>
void kiln_call_vec(void (*f)(long long, P...), long long n, void** p, std::index_sequence<I...>) { f(n, static_cast<P>(p[I])...); }
template <class... P>
void kiln_call_vec(void (*f)(long long, P...), long long n, void** p) { kiln_call_vec(f, n, p, std::index_sequence_for<P...>{}); }
)";

using StridedFn = void (*)(const KilnCudaSpace*, KilnCudaOperand*);
using VecFn = void (*)(long long, void**);

// The printed kernels compiled into one shared library.
class HostModule {
 public:
  // `threaded`: each NAME_host(grid, block_x, block_y, space, operands)
  // runs a grid of blocks of threads (fibers: the shim's KILN_HOST_THREADS).
  HostModule(const std::vector<std::pair<codegen::Kernel, std::string>>& ks, const std::string& tag,
             bool threaded = false) {
    std::string src = (threaded ? "#define KILN_HOST_THREADS 1\n" : "") + std::string(kHostShim) + cuda_prelude() + kHostCallers;
    for (const auto& [k, name] : ks) {
      CudaKernelSource s = print_cuda_kernel(k, name);
      src += s.body;
      if (threaded)
        src += "extern \"C\" void " + name + "_host(unsigned g, unsigned bx, unsigned by, const KilnCudaSpace* s, "
               "KilnCudaOperand* o) { kiln_host_launch(g, bx, by, [&] { kiln_call_strided(" + name + ", s, o); }); }\n";
      else
        src += "extern \"C\" void " + name + "_host(const KilnCudaSpace* s, KilnCudaOperand* o) { kiln_call_strided(" +
               name + ", s, o); }\n";
      if (!s.vec_name.empty())
        src += "extern \"C\" void " + name + "_vec_host(long long n, void** p) { kiln_call_vec(" + s.vec_name + ", n, p); }\n";
    }
    const std::string dir = std::string(KILN_BINARY_DIR) + "/cuda_host_exec";
    std::system(("mkdir -p " + dir).c_str());
    const std::string cpp = dir + "/" + tag + ".cpp", so = dir + "/" + tag + ".so";
    std::ofstream(cpp) << src;
    const std::string cmd = std::string(KILN_HOST_CXX) + " -std=c++17" +
                            " -O1 -shared -fPIC -w -o " + so + " " + cpp +
                            " > " + dir + "/" + tag + ".log 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream log(dir + "/" + tag + ".log");
      std::string l((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      throw std::runtime_error("host compile of " + cpp + " failed:\n" + l.substr(0, 4000));
    }
    handle_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  }
  ~HostModule() {
    if (handle_) dlclose(handle_);
  }
  template <class F>
  F fn(const std::string& name) const {
    return reinterpret_cast<F>(dlsym(handle_, name.c_str()));
  }

 private:
  void* handle_ = nullptr;
};

using kiln_test::sweep;

// The input nodes by address (kept alive), to rebuild Tensors for the interpreter.
std::map<const ir::Node*, ir::NodeRef>& host_refs() {
  static std::map<const ir::Node*, ir::NodeRef> m;
  return m;
}
void remember_inputs(const Tensor& t) {
  std::vector<ir::NodeRef> stack = {t.node()};
  while (!stack.empty()) {
    ir::NodeRef n = stack.back();
    stack.pop_back();
    if (n->op() == OpCode::Input) host_refs()[n.get()] = n;
    for (const ir::NodeRef& in : n->inputs()) stack.push_back(in);
  }
}

// Runs `outs` (one kernel each) on the host through both entries against the interpreter.
// `tol_op`: the op whose bound applies (fused kernels: their least exact op).
void check(const std::vector<Tensor>& outs, const std::map<const ir::Node*, Array>& host, const std::string& tag,
           DType t, const OpCode* tol_op = nullptr) {
  for (const Tensor& o : outs) remember_inputs(o);
  std::vector<std::pair<codegen::Kernel, std::string>> ks;
  std::vector<codegen::Plan> plans;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    plans.push_back(codegen::partition({outs[i].node()}));
    ASSERT_EQ(plans.back().clusters.size(), 1u);
    ks.emplace_back(plans.back().clusters[0].kernel, "hk" + std::to_string(i));
  }
  HostModule mod(ks, tag);
  for (std::size_t i = 0; i < outs.size(); ++i) {
    const codegen::Cluster& c = plans[i].clusters[0];
    const codegen::Kernel& k = c.kernel;
    const OpCode op = tol_op ? *tol_op : outs[i].node()->op();
    // the interpreter on this kernel's inputs
    std::vector<Tensor> kin;
    std::vector<Array> kargs;
    for (const ir::Node* n : c.inputs) {
      kin.push_back(Tensor(host_refs().at(n)));
      kargs.push_back(host.at(n));
    }
    FunctionOptions o;
    o.backend = Backend::Interpreter;
    o.optimize = false;
    const Array want = function(kin, {outs[i]}, o)(kargs)[0];
    const Shape shape = want.shape();
    const CudaKernelSource src = print_cuda_kernel(k, ks[i].second);
    for (int entry = 0; entry < 2; ++entry) {
      if (entry == 1 && src.vec_name.empty()) continue;
      Array out = Array::empty(shape, want.dtype());
      std::vector<const void*> data;
      std::vector<std::vector<std::int64_t>> strides;
      for (std::size_t j = 0; j <= kargs.size(); ++j) {
        const Array& a = j < kargs.size() ? kargs[j] : out;
        const codegen::KernelOperand& ko = k.operands[j];
        const int pad = k.rank - static_cast<int>(a.ndim());
        std::vector<std::int64_t> s(static_cast<std::size_t>(k.rank), 0);
        for (int d = pad; d < k.rank; ++d)
          if (!ko.broadcast[static_cast<std::size_t>(d)]) s[static_cast<std::size_t>(d)] = a.strides()[static_cast<std::size_t>(d - pad)];
        data.push_back(a.raw_data());
        strides.push_back(s);
      }
      const std::string what = std::string(ir::op_name(op)) + " on " + std::string(dtype_name(t)) + " -> " +
                               std::string(dtype_name(want.dtype())) + (entry ? " (vec)" : " (strided)");
      if (entry == 0) {
        KilnCudaSpace sp = cuda_space(shape);
        std::vector<KilnCudaOperand> ops;
        for (std::size_t j = 0; j < data.size(); ++j) ops.push_back(cuda_operand(const_cast<void*>(data[j]), strides[j]));
        mod.fn<StridedFn>(ks[i].second + "_host")(&sp, ops.data());
      } else {
        ASSERT_TRUE(cuda_vec_applies(k, src, shape, data, strides)) << what;
        std::vector<void*> p;
        for (const void* d : data) p.push_back(const_cast<void*>(d));
        mod.fn<VecFn>(ks[i].second + "_vec_host")(cuda_space(shape).numel, p.data());
      }
      const std::vector<double> got = out.to_doubles(), w = want.to_doubles();
      for (std::size_t e = 0; e < w.size(); ++e)
        if (!kiln_test::sweep_close(op, t, want.dtype(), got[e], w[e])) {
          ADD_FAILURE() << what << " at " << e << ": printed kernel " << got[e] << " vs interpreter " << w[e];
          break;
        }
    }
  }
}

class CudaHostExec : public ::testing::TestWithParam<DType> {};

TEST_P(CudaHostExec, EverySweepKernelMatchesTheInterpreterThroughBothEntries) {
  const DType t = GetParam();
  for (int arity = 1; arity <= 3; ++arity) {
    for (bool small : {false, true}) {
      if (small && (arity != 2 || !is_integer(t))) continue;
      const Shape shape = {3, 67};  // odd rows: vector tails run
      std::vector<Tensor> outs = sweep(t, arity, {"a", "b"});
      if (outs.empty()) continue;
      std::map<const ir::Node*, Array> host;
      std::uint64_t seed = 17;
      for (const Tensor& o : outs)
        for (const ir::NodeRef& in : o.node()->inputs())
          if (!host.count(in.get()))  // small: the divisors, exponents and shift counts (x1)
            host[in.get()] = kiln_test::sweep_values(in->type().dtype, 3 * 67, seed++, small && in->var_name() == "x1").reshape(shape);
      check(outs, host, "sweep_" + std::string(dtype_name(t)) + "_" + std::to_string(arity) + (small ? "s" : ""), t);
    }
  }
}

// Fused chains (f16/bf16 rounded after every op, not only at the store),
// broadcasting in every position, ranks 0..4, through both entries.
TEST(CudaHostExecFused, FusedBroadcastingKernelsMatchTheInterpreter) {
  // sizes of the dims named by their position from the right
  const std::map<std::string, std::int64_t> size = {{"p", 5}, {"q", 3}, {"r", 2}, {"s", 2}};
  const std::vector<std::vector<DimSpec>> shapes = {
      {}, {"p"}, {"q", 1}, {1, "p"}, {"r", "q", "p"}, {1, "q", 1}, {"s", "r", "q", "p"}, {"s", 1, "q", 1}, {1, 1, 1, "p"}};
  for (DType t : {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I8, DType::I32, DType::U8}) {
    std::vector<Tensor> vs;
    std::map<const ir::Node*, Array> host;
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      vs.push_back(tensor("v" + std::to_string(i), t, shapes[i]));
      Shape sh;
      for (const DimSpec& d : shapes[i]) sh.push_back(d.name.empty() ? d.size : size.at(d.name));
      std::int64_t n = 1;
      for (std::int64_t x : sh) n *= x;
      host[vs.back().node().get()] = kiln_test::sweep_values(t, n, 40 + i, false).reshape(sh);
    }
    std::vector<Tensor> exact, libm;
    for (std::size_t i = 0; i < vs.size(); ++i)
      for (std::size_t j = i; j < vs.size(); ++j) {
        exact.push_back(maximum(vs[i], vs[j]) * vs[i] + vs[j]);
        if (is_float(t)) libm.push_back(where(vs[i] > vs[j], exp(vs[i]) * vs[j] - vs[i], vs[j] / 3 + vs[i]));
      }
    const OpCode exact_op = OpCode::Add, libm_op = OpCode::Exp;
    check(exact, host, "fused_exact_" + std::string(dtype_name(t)), t, &exact_op);
    if (!libm.empty()) check(libm, host, "fused_libm_" + std::string(dtype_name(t)), t, &libm_op);
  }
}

// ---- reduction kernels ----

// Every node of the graphs of `outs`, by address.
std::map<const ir::Node*, ir::NodeRef> nodes_of(const std::vector<Tensor>& outs) {
  std::map<const ir::Node*, ir::NodeRef> m;
  std::vector<ir::NodeRef> stack;
  for (const Tensor& t : outs) stack.push_back(t.node());
  while (!stack.empty()) {
    ir::NodeRef n = stack.back();
    stack.pop_back();
    if (!m.emplace(n.get(), n).second) continue;
    for (const ir::NodeRef& in : n->inputs()) stack.push_back(in);
  }
  return m;
}

// |got - want| <= tol * max(1, |want|) for floats, NaN where the
// interpreter has NaN, infinities and integers exactly. "" when close.
std::string mismatch(const Array& got, const Array& want, double tol) {
  if (got.shape() != want.shape() || got.dtype() != want.dtype()) return "shape or dtype";
  const std::vector<double> g = got.to_doubles(), w = want.to_doubles();
  if (!is_float(want.dtype())) tol = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const bool ok = std::isnan(w[i])   ? std::isnan(g[i])
                    : std::isinf(w[i]) ? g[i] == w[i]
                                       : std::fabs(g[i] - w[i]) <= tol * std::max(1.0, std::fabs(w[i]));
    if (!ok) return "at " + std::to_string(i) + ": printed kernel " + std::to_string(g[i]) + " vs interpreter " + std::to_string(w[i]);
  }
  return "";
}

// The kernels of every reduction case (each output partitioned on its own),
// printed once each (kernels repeat across cases: names are the kernels'
// hashes) into one host module.
struct ReduceRun {
  const kiln::cuda_test::ReduceCase* c;
  const codegen::Cluster* cluster;
  std::string name;
};

// Runs one kernel (one thread: each row's passes walk every element) on
// the interpreter's values of its inputs, against the interpreter's value
// of its root.
using ThreadedFn = void (*)(unsigned, unsigned, unsigned, const KilnCudaSpace*, KilnCudaOperand*);

// A launch shape for the threaded module: grid, block x, block y.
struct HostLaunch {
  unsigned grid = 0, bx = 1, by = 1;
};

void run_reduce_kernel(const HostModule& mod, const ReduceRun& r, const std::map<const ir::Node*, ir::NodeRef>& nodes,
                       const std::vector<HostLaunch>& launches = {HostLaunch{}}) {
  const kiln::cuda_test::ReduceCase& c = *r.c;
  const codegen::Kernel& k = r.cluster->kernel;
  FunctionOptions fo;
  fo.backend = Backend::Interpreter;
  fo.optimize = false;
  auto value_of = [&](const ir::Node* n) { return function(c.ins, {Tensor(nodes.at(n))}, fo)(c.args)[0]; };
  std::vector<Array> ins;
  for (const ir::Node* n : r.cluster->inputs) ins.push_back(value_of(n));
  const Array want = value_of(r.cluster->root);
  for (const HostLaunch& launch : launches) {
  Array out = Array::empty(want.shape(), want.dtype());
  if (out.size() == 0) {  // nothing to write (the launcher does not launch)
    EXPECT_EQ(mismatch(out, want, c.tol), "") << c.what;
    return;
  }
  // Unwritten elements show: the output starts as a NaN pattern.
  std::memset(out.raw_data(), 0x7f, static_cast<std::size_t>(out.size()) * dtype_size(out.dtype()));
  std::vector<std::vector<std::int64_t>> shapes, strides;
  std::vector<void*> data;
  for (std::size_t j = 0; j <= ins.size(); ++j) {
    const Array& a = j < ins.size() ? ins[j] : out;
    shapes.push_back(a.shape());
    strides.push_back(a.strides());
    data.push_back(a.size() ? a.raw_data() : nullptr);
  }
  const CudaBinding b = cuda_bind(k, shapes, strides);
  KilnCudaSpace sp = cuda_space(b.space);
  std::vector<KilnCudaOperand> ops;
  for (std::size_t j = 0; j < data.size(); ++j) ops.push_back(cuda_operand(data[j], b.strides[j]));
  std::string how = "one thread";
  if (launch.grid == 0) {
    mod.fn<StridedFn>(r.name + "_host")(&sp, ops.data());
  } else {
    // The launcher's block shape (or the one asked for), on a small grid
    // (grid-stride covers the rest).
    HostLaunch l = launch;
    if (l.bx == 0) {
      const CudaReduceDims d = cuda_reduce_launch_dims(k, b.space, 1);
      // Fewer rows a block than the launcher's 8 or 256 (the same code;
      // every waiting fiber is resumed at each barrier, so 256 are slow).
      l = {std::min(d.grid, launch.grid), d.block_x, std::min(d.block_y, d.block_x == 1 ? 16u : 2u)};
    }
    how = "grid " + std::to_string(l.grid) + ", block (" + std::to_string(l.bx) + ", " + std::to_string(l.by) + ")";
    mod.fn<ThreadedFn>(r.name + "_host")(l.grid, l.bx, l.by, &sp, ops.data());
  }
  EXPECT_EQ(mismatch(out, want, c.tol), "") << c.what << ": the kernel of " << r.cluster->root->name() << ", " << how
                                            << "\n" << codegen::print_kernel(k);
  }
}

// Threads: the warp's butterfly of shuffles, the block's __shared__ slots
// and barriers, rows spread over threadIdx.y and blocks. Each kernel of the
// cases but the 70000-row ones (kernels with reduced dims only) with the
// launcher's block shape on one block (rows grid-stride over threadIdx.y;
// at most 2 warp rows or 16 thread rows a block), then with blocks of 2
// warps a row (64, 1) on 2 blocks.
bool kThreadedCase(const std::string& what) {
  if (const char* only = std::getenv("KILN_THREADED_ONLY")) return what.rfind(only, 0) == 0;
  return what.rfind("shape ", 0) != 0;  // 70000 rows of shuffles: minutes of fiber switches
}

TEST(CudaHostExecReduce, ThreadedBlocksMatchTheInterpreter) {
  const std::vector<kiln::cuda_test::ReduceCase> cases = kiln::cuda_test::reduce_cases(false);
  std::vector<std::map<const ir::Node*, ir::NodeRef>> nodes;
  std::vector<codegen::Plan> plans;
  plans.reserve(cases.size() * 16);
  std::vector<ReduceRun> runs;
  std::vector<std::pair<codegen::Kernel, std::string>> ks;
  std::set<std::string> printed;
  for (const kiln::cuda_test::ReduceCase& c : cases) {
    nodes.push_back(nodes_of(c.outs));
    if (!kThreadedCase(c.what)) continue;
    for (const std::vector<ir::NodeRef>& roots : kiln::cuda_test::plan_roots(c)) {
      plans.push_back(codegen::partition(roots));
      ASSERT_LE(plans.size(), plans.capacity());
      for (const codegen::Cluster& cl : plans.back().clusters) {
        if (!cl.kernel.has_reduction()) continue;
        const std::string name = cuda_kernel_name(cl.kernel);
        runs.push_back({&c, &cl, name});
        if (printed.insert(name).second) ks.emplace_back(cl.kernel, name);
      }
    }
  }
  HostModule mod(ks, "reduce_threads", true);
  for (const ReduceRun& r : runs)
    run_reduce_kernel(mod, r, nodes[static_cast<std::size_t>(r.c - cases.data())], {{1, 0, 0}, {2, 64, 1}});
  std::printf("[ cuda ] threaded host run: %zu kernels, 2 launch shapes each\n", runs.size());
}

TEST(CudaHostExecReduce, EveryReductionKernelMatchesTheInterpreter) {
  const std::vector<kiln::cuda_test::ReduceCase> cases = kiln::cuda_test::reduce_cases(true);
  std::vector<std::map<const ir::Node*, ir::NodeRef>> nodes;
  std::vector<codegen::Plan> plans;
  plans.reserve(cases.size() * 16);
  std::vector<ReduceRun> runs;
  std::vector<std::pair<codegen::Kernel, std::string>> ks;
  std::set<std::string> printed;
  int reductions = 0, no_fold = 0;  // no_fold: reduced dims without a reduction (a squeeze's kernel)
  for (const kiln::cuda_test::ReduceCase& c : cases) {
    nodes.push_back(nodes_of(c.outs));
    for (const std::vector<ir::NodeRef>& roots : kiln::cuda_test::plan_roots(c)) {
      plans.push_back(codegen::partition(roots));
      ASSERT_LE(plans.size(), plans.capacity());  // clusters are pointed to
      for (const codegen::Cluster& cl : plans.back().clusters) {
        const std::string name = cuda_kernel_name(cl.kernel);
        runs.push_back({&c, &cl, name});
        reductions += cl.kernel.has_reduction();
        bool folds = false;
        for (const codegen::KernelExpr& e : cl.kernel.body) folds |= e.kind == codegen::KernelExpr::Kind::Reduce;
        no_fold += cl.kernel.has_reduction() && !folds;
        if (printed.insert(name).second) ks.emplace_back(cl.kernel, name);
      }
    }
  }
  HostModule mod(ks, "reduce");
  for (const ReduceRun& r : runs) run_reduce_kernel(mod, r, nodes[static_cast<std::size_t>(r.c - cases.data())]);
  std::printf("[ cuda ] host run: %zu kernels of %zu cases (%d with reduced dims), %zu distinct\n", runs.size(),
              cases.size(), reductions, ks.size());
  EXPECT_GE(reductions, 900);
  EXPECT_GE(no_fold, 2);
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, CudaHostExec, ::testing::ValuesIn(kAllDTypes),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

}  // namespace
