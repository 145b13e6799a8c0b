// The CUDA backend without a GPU: every kernel the CPU differential suite
// (tests/codegen/native_test.cpp) produces — every elementwise op × every
// dtype it accepts, casts to every dtype, polygamma orders — plus fused,
// broadcasting and rank 0..4 kernels is printed as CUDA C++ and compiled by
// NVRTC for sm_80 and sm_90 (NVRTC runs ptxas for a real architecture); the
// cubin must be an ELF image holding every entry. Golden tests pin the
// printed source of three small graphs (hand-checked, tests/data/cuda/).
//
// Kernels are batched into one NVRTC program per dtype and arity: a program
// costs ~0.3 s to compile whatever its size up to a few dozen kernels, so
// one program per kernel would take minutes (compile times are printed).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/cuda/launch.hpp"
#include "codegen/cuda/nvrtc.hpp"
#include "codegen/cuda/print.hpp"
#include "codegen/kernel.hpp"
#include "codegen/partition.hpp"
#include "ir/node.hpp"
#include "kiln/kiln.hpp"
#include "cuda/cuda_test_util.hpp"
#include "runtime/cuda_driver.hpp"

namespace {

using namespace kiln;
using namespace kiln::codegen;
using namespace kiln::codegen::cuda;
using ir::OpCode;
using namespace kiln::cuda_test;

const char* const kArchs[] = {"sm_80", "sm_90"};

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool contains(const std::vector<char>& bytes, const std::string& s) {
  return std::search(bytes.begin(), bytes.end(), s.begin(), s.end()) != bytes.end();
}

// Compiles the kernels as one program for each architecture and checks the
// cubin: ELF, and every entry (strided, and contiguous where printed) in it.
// Returns the number of distinct kernels.
std::size_t compile_all(const std::vector<Kernel>& ks, const std::string& program) {
  std::string src = cuda_prelude();
  std::vector<std::string> entries;
  std::set<std::string> seen;
  for (const Kernel& k : ks) {
    const std::string name = cuda_kernel_name(k);
    if (!seen.insert(name).second) continue;
    CudaKernelSource s = print_cuda_kernel(k, name);
    src += s.body;
    entries.push_back(s.name);
    if (!s.vec_name.empty()) entries.push_back(s.vec_name);
  }
  for (const char* arch : kArchs) {
    CudaBinary b;
    try {
      b = nvrtc_compile(src, arch, program);
    } catch (const Error& e) {
      ADD_FAILURE() << program << " for " << arch << ": " << e.what();
      continue;
    }
    EXPECT_TRUE(b.log.empty()) << program << " " << arch << " warnings:\n" << b.log;
    if (b.cubin.size() < 4) {
      ADD_FAILURE() << program << " for " << arch << ": a cubin of " << b.cubin.size() << " bytes";
      continue;
    }
    EXPECT_EQ(std::string(b.cubin.data(), 4), "\x7f" "ELF") << program << " " << arch;
    EXPECT_NE(b.ptx.find(".target " + std::string(arch)), std::string::npos) << program;
    for (const std::string& e : entries) {
      EXPECT_TRUE(contains(b.cubin, e)) << e << " missing from the " << arch << " cubin of " << program;
      EXPECT_NE(b.ptx.find(".entry " + e + "("), std::string::npos) << e << " missing from the PTX of " << program;
    }
  }
  return seen.size();
}

// ---- every op × every dtype ----

class CudaOps : public ::testing::TestWithParam<DType> {};

TEST_P(CudaOps, EveryElementwiseKernelCompilesForSm80AndSm90) {
  const DType t = GetParam();
  std::vector<Kernel> ks;
  std::size_t outputs = 0;
  // rank 2 (the CPU sweep's unary shape), rank 1 (binary), rank 2 (ternary)
  for (auto [arity, dims] : {std::pair{1, std::vector<DimSpec>{"a", "b"}}, std::pair{2, std::vector<DimSpec>{"n"}},
                             std::pair{3, std::vector<DimSpec>{"a", "b"}}}) {
    std::vector<Tensor> outs = sweep(t, arity, dims);
    outputs += outs.size();
    for (Kernel& k : kernels_of(outs)) ks.push_back(std::move(k));
  }
  // Each op is its own kernel (every output is a cluster root).
  EXPECT_EQ(ks.size(), outputs);
  EXPECT_GE(outputs, is_float(t) ? 56u : 14u);
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t distinct = compile_all(ks, std::string("sweep_") + std::string(dtype_name(t)));
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ cuda ] %s: %zu kernels, 2 archs, %.0f ms (%.1f ms per kernel and arch)\n",
              std::string(dtype_name(t)).c_str(), distinct, ms, ms / (2.0 * static_cast<double>(distinct)));
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, CudaOps, ::testing::ValuesIn(kAllDTypes),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

// ---- fusion, broadcasting, ranks 0..4 ----

TEST(Cuda, FusedBroadcastingAndRank0To4KernelsCompile) {
  std::vector<Tensor> outs;
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::F64}) {
    Tensor x = tensor("x", t, {"n"}), y = tensor("y", t, {"n"});
    outs.push_back(tanh(exp(-x) * y + sqrt(abs(y)) - 0.5));  // native_test's six-op chain
    Tensor a = tensor("a", t, {"a", "b", "c"}), b = tensor("b", t, {1, "b", 1});
    outs.push_back(sigmoid(a) * b);
    outs.push_back(log1p(abs(a)) - b);
  }
  // rank 0..4, broadcasting in every position (dims named by their
  // position from the right, so every pair broadcasts)
  const std::vector<std::vector<DimSpec>> shapes = {
      {}, {"p"}, {"q", 1}, {1, "p"}, {"r", "q", "p"}, {1, "q", 1}, {"s", "r", "q", "p"}, {"s", 1, "q", 1}, {1, 1, 1, "p"}};
  for (DType t : {DType::F32, DType::I32, DType::F16, DType::I8, DType::U8}) {
    std::vector<Tensor> vs;
    for (std::size_t i = 0; i < shapes.size(); ++i) vs.push_back(tensor("v" + std::to_string(i), t, shapes[i]));
    // f32: every pair of shapes; the other dtypes a few pairs each (compile time)
    for (std::size_t i = 0; i < vs.size(); ++i)
      for (std::size_t j = i; j < vs.size(); ++j) {
        if (t != DType::F32 && j != i && j != (i + 4) % vs.size()) continue;
        outs.push_back(maximum(vs[i], vs[j]) * vs[i] + vs[j]);
        if (t == DType::F32) outs.push_back(where(vs[i] > vs[j], exp(vs[i]), vs[j] / 3));
      }
  }
  // mixed dtypes in one kernel: casts between every pair of families
  Tensor h = tensor("h", DType::F16, {"n"}), i = tensor("i", DType::I64, {"n"}), d = tensor("d", DType::F64, {"n"});
  outs.push_back((h.astype(DType::F64) * d + i.astype(DType::F64)).astype(DType::BF16));
  outs.push_back(where(isnan(d), i, (d * 2).astype(DType::I64)).astype(DType::U8));
  std::vector<Kernel> ks = kernels_of(outs);
  EXPECT_GE(ks.size(), 120u);
  int ranks[5] = {};
  for (const Kernel& k : ks)
    if (k.rank <= 4) ++ranks[k.rank];
  for (int r = 0; r <= 4; ++r) EXPECT_GT(ranks[r], 0) << "no kernel of rank " << r;
  std::printf("[ cuda ] fused/broadcast/rank 0..4: %zu kernels\n", compile_all(ks, "fused"));
}

// ---- reduction kernels ----

// Every kernel of the reduction cases (tests/cuda/cuda_test_util.hpp: every
// reduction op x dtype on inner, outer, middle, several and all axes, with
// and without keepdims; fused producers and consumers; keepdims results
// broadcast back; softmax, log_softmax and logsumexp; strided, broadcast
// and reduced-shape operands) whose first input has dtype T, one program.
class CudaReduce : public ::testing::TestWithParam<DType> {};

TEST_P(CudaReduce, EveryReductionKernelCompilesForSm80AndSm90) {
  const DType t = GetParam();
  std::vector<Kernel> ks;
  for (const ReduceCase& c : reduce_cases(true)) {
    if (c.args.at(0).dtype() != t) continue;
    for (const std::vector<ir::NodeRef>& roots : plan_roots(c))
      for (codegen::Cluster& cl : codegen::partition(roots).clusters) ks.push_back(std::move(cl.kernel));
  }
  std::size_t reductions = 0;
  for (const Kernel& k : ks) reductions += k.has_reduction();
  EXPECT_GE(reductions, is_float(t) ? 40u : 10u);
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t distinct = compile_all(ks, "reduce_" + std::string(dtype_name(t)));
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ cuda ] reductions %s: %zu distinct kernels, 2 archs, %.0f ms (%.1f ms per kernel and arch)\n",
              std::string(dtype_name(t)).c_str(), distinct, ms, ms / (2.0 * static_cast<double>(distinct)));
}

INSTANTIATE_TEST_SUITE_P(ReduceDTypes, CudaReduce, ::testing::ValuesIn(reduce_dtypes()),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

// On a GPU (or the driver's emulator; skipped without either): every
// kernel of the reduction cases launched by CudaKernel (the launcher's
// block shapes) against the interpreter, on the default stream and, for
// every other kernel, on a stream of its own (run does not synchronise
// then; the test does). NOT YET RUN ON A GPU: written without one.
TEST(CudaReduceGpu, EveryReductionCaseMatchesTheInterpreter) {
  if (!runtime::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Device g = Device::cuda(0);
  const runtime::CudaDriver& d = runtime::cuda_driver();
  runtime::cu::Stream stream = nullptr;
  d.check(d.cuStreamCreate(&stream, 0), "cuStreamCreate");
  FunctionOptions fo;
  fo.backend = Backend::Interpreter;
  fo.optimize = false;
  int launches = 0;
  for (const ReduceCase& c : reduce_cases(false)) {
    for (const std::vector<ir::NodeRef>& roots : plan_roots(c)) {
      codegen::Plan plan = codegen::partition(roots);
      // the graph's nodes by address, to evaluate a cluster's inputs
      std::map<const ir::Node*, ir::NodeRef> nodes;
      std::vector<ir::NodeRef> stack = roots;
      while (!stack.empty()) {
        ir::NodeRef n = stack.back();
        stack.pop_back();
        if (nodes.emplace(n.get(), n).second)
          for (const ir::NodeRef& in : n->inputs()) stack.push_back(in);
      }
      auto value_of = [&](const ir::Node* n) { return function(c.ins, {Tensor(nodes.at(n))}, fo)(c.args)[0]; };
      for (const codegen::Cluster& cl : plan.clusters) {
        codegen::cuda::CudaKernel k(cl.kernel, g);
        std::vector<Array> dev;
        for (const ir::Node* n : cl.inputs) dev.push_back(value_of(n).to(g));
        const Array want = value_of(cl.root);
        Array out = Array::empty(want.shape(), want.dtype(), g);
        const bool on_stream = launches++ % 2 == 1;
        k.run(dev, out, on_stream ? stream : nullptr);
        if (on_stream) d.check(d.cuStreamSynchronize(stream), "cuStreamSynchronize");
        const std::vector<double> got = out.to(Device::cpu()).to_doubles(), w = want.to_doubles();
        const double tol = is_float(want.dtype()) ? c.tol : 0;
        for (std::size_t e = 0; e < w.size(); ++e) {
          const bool ok = std::isnan(w[e])   ? std::isnan(got[e])
                          : std::isinf(w[e]) ? got[e] == w[e]
                                             : std::fabs(got[e] - w[e]) <= tol * std::max(1.0, std::fabs(w[e]));
          if (!ok) {
            ADD_FAILURE() << c.what << ", the kernel of " << cl.root->name() << " at " << e << ": GPU " << got[e]
                          << " vs interpreter " << w[e] << "\n" << print_kernel(cl.kernel);
            break;
          }
        }
      }
    }
  }
  d.cuStreamDestroy(stream);
  std::printf("[ cuda ] GPU: %d reduction-case kernels\n", launches);
}

// ---- golden sources ----

// The body printed for `outs`' single kernel equals tests/data/cuda/NAME.cu
// (KILN_UPDATE_GOLDEN=1 rewrites the file; read the diff before committing).
void expect_golden(const Tensor& out, const std::string& file) {
  std::vector<Kernel> ks = kernels_of({out});
  ASSERT_EQ(ks.size(), 1u);
  const std::string got = print_cuda_kernel(ks[0], "k").body;
  const std::string path = std::string(KILN_TEST_DATA) + "/cuda/" + file;
  if (std::getenv("KILN_UPDATE_GOLDEN")) {
    std::ofstream(path) << got;
    GTEST_SKIP() << "wrote " << path;
  }
  EXPECT_EQ(got, read_file(path)) << "golden " << path;
  // and it compiles
  EXPECT_EQ(std::string(nvrtc_compile(print_cuda_kernel(ks[0], "k").source, "sm_90", file).cubin.data(), 4),
            "\x7f" "ELF");
}

TEST(CudaGolden, BroadcastExpMulAdd) {
  // f32, an operand broadcast along each dim: strided entry only.
  Tensor x = tensor("x", DType::F32, {"n", 1}), y = tensor("y", DType::F32, {"m"});
  expect_golden(exp(x) * y + 2, "exp_mul_add_f32.cu");
}

TEST(CudaGolden, HalfWhereWithCast) {
  // i32 → f16 through round-to-odd, a bool compare, a constant: f16 rounded
  // after every op, stored as raw bits; a vec entry of 4 (i32 is widest).
  Tensor i = tensor("i", DType::I32, {"n"});
  expect_golden(where(i > 0, i.astype(DType::F16), 0.5), "where_cast_f16.cu");
}

TEST(CudaGolden, IntegerFloorDivWithScalar) {
  // i64 floor division by a 0-d input (a scalar in the vec entry) and a shift.
  Tensor a = tensor("a", DType::I64, {"n", "m"}), s = tensor("s", DType::I64, {});
  expect_golden(left_shift(floor_div(a, s), a), "floordiv_shift_i64.cu");
}

TEST(CudaGolden, HalfRowSumOfSquares) {
  // f16 in, a per-row output (keepdims=false: the output's dims mapped
  // onto the kept one): f32 accumulator, rounded to f16 once; the product
  // rounded to f16 before it is summed.
  Tensor x = tensor("x", DType::F16, {"n", "m"});
  expect_golden(sum(x * x, 1), "row_sum_sq_f16.cu");
}

TEST(CudaGolden, RowSoftmax) {
  // Three passes over a row: max, sum of exp, store; the max and the sum
  // folded across the warp's lanes and the block's warps.
  Tensor x = tensor("x", DType::F32, {"n", "m"});
  expect_golden(softmax(x), "softmax_f32.cu");
}

TEST(CudaGolden, ColumnArgmin) {
  // The innermost dim kept: rows along it; argmin's value and index folded
  // as a pair (ties to the lower index).
  Tensor x = tensor("x", DType::I32, {"n", "m"});
  expect_golden(argmin(x, 0), "column_argmin_i32.cu");
}

// ---- the contiguous entry ----

TEST(Cuda, ContiguousEntryUses128BitAccesses) {
  Tensor x = tensor("x", DType::F32, {"n"}), y = tensor("y", DType::F32, {"n"}), s = tensor("s", DType::F32, {});
  std::vector<Kernel> ks = kernels_of({exp(x) * y + s});
  ASSERT_EQ(ks.size(), 1u);
  CudaKernelSource src = print_cuda_kernel(ks[0], "vk");
  EXPECT_EQ(src.vec_name, "vk_vec");
  EXPECT_EQ(src.vec_width, 4);
  CudaBinary b = nvrtc_compile(src.source, "sm_90", "vk");
  // Two 128-bit loads through the read-only path and one 128-bit store.
  const std::string entry = b.ptx.substr(b.ptx.find(".entry vk_vec("));
  EXPECT_NE(entry.find("ld.global.nc.v4"), std::string::npos) << entry;
  EXPECT_NE(entry.find("st.global.v4"), std::string::npos) << entry;
  // The unions are unrolled into registers: no local memory.
  EXPECT_EQ(b.ptx.find(".local"), std::string::npos) << entry;

  // bf16 in, bool out (8 × 2 bytes in, 8 × 1 byte out): 128-bit loads.
  Tensor bf = tensor("bf", DType::BF16, {"n"});
  CudaKernelSource bsrc = print_cuda_kernel(kernels_of({isnan(exp(bf))})[0], "bk");
  EXPECT_EQ(bsrc.vec_width, 8);
  CudaBinary bb = nvrtc_compile(bsrc.source, "sm_90", "bk");
  const std::string bentry = bb.ptx.substr(bb.ptx.find(".entry bk_vec("));
  EXPECT_NE(bentry.find("ld.global.nc.v4"), std::string::npos) << bentry;
  EXPECT_EQ(bb.ptx.find(".local"), std::string::npos) << bentry;

  // f16 in, f64 out: the widest operand (f64) sets 2 elements a vector.
  Tensor h = tensor("h", DType::F16, {"n"});
  CudaKernelSource mixed = print_cuda_kernel(kernels_of({h.astype(DType::F64) * 2})[0], "mk");
  EXPECT_EQ(mixed.vec_width, 2);
  // A partly broadcast operand: no contiguous entry.
  Tensor p = tensor("p", DType::F32, {"a", 1}), q = tensor("q", DType::F32, {"a", "b"});
  EXPECT_EQ(print_cuda_kernel(kernels_of({p + q})[0], "pk").vec_width, 0);
  // Rank 0: nothing to vectorise.
  EXPECT_EQ(print_cuda_kernel(kernels_of({s * 2})[0], "sk").vec_width, 0);
}

TEST(Cuda, VecEntryAppliesOnlyToAlignedContiguousOperands) {
  Tensor x = tensor("x", DType::F32, {"a", "b"}), y = tensor("y", DType::F32, {"a", "b"}), s = tensor("s", DType::F32, {});
  Kernel k = kernels_of({x * y + s})[0];
  CudaKernelSource src = print_cuda_kernel(k, "k");
  ASSERT_EQ(src.vec_width, 4);
  alignas(16) static float buf[64];
  const std::vector<std::int64_t> shape = {3, 5};
  const std::vector<std::int64_t> c = {5, 1}, none = {0, 0};
  // operands in kernel order: x, y, s (scalar), out
  auto applies = [&](std::vector<const void*> data, std::vector<std::vector<std::int64_t>> strides) {
    return cuda_vec_applies(k, src, shape, data, strides);
  };
  EXPECT_TRUE(applies({buf, buf + 16, buf + 1, buf + 32}, {c, c, none, c}));
  EXPECT_FALSE(applies({buf + 1, buf + 16, buf, buf + 32}, {c, c, none, c}));  // x misaligned
  EXPECT_FALSE(applies({buf, buf + 16, buf, buf + 34}, {c, c, none, c}));      // out misaligned
  EXPECT_FALSE(applies({buf, buf + 16, buf, buf + 32}, {{1, 3}, c, none, c}));  // x transposed
  EXPECT_FALSE(applies({buf, buf + 16, buf, buf + 32}, {{10, 1}, c, none, c})); // x row-strided
  // size-1 dims may have any stride
  EXPECT_TRUE(cuda_vec_applies(k, src, {1, 15}, {buf, buf + 16, buf, buf + 32}, {{99, 1}, {0, 1}, none, {7, 1}}));
}

TEST(Cuda, LaunchAbiAndDims) {
  KilnCudaSpace sp = cuda_space({2, 3, 4});
  EXPECT_EQ(sp.numel, 24);
  EXPECT_EQ(sp.shape[2], 4);
  EXPECT_EQ(cuda_space({}).numel, 1);
  EXPECT_EQ(cuda_space({5, 0}).numel, 0);
  KilnCudaOperand op = cuda_operand(nullptr, {12, -1, 0});
  EXPECT_EQ(op.strides[1], -1);
  EXPECT_THROW(cuda_space(std::vector<std::int64_t>(9, 1)), Error);
  // 72 bytes an operand, as the printer's 48-operand limit assumes
  EXPECT_EQ(sizeof(KilnCudaOperand), 72u);
  EXPECT_EQ(sizeof(KilnCudaSpace), 72u);
  EXPECT_EQ(cuda_launch_dims(0, 132).grid, 1u);
  EXPECT_EQ(cuda_launch_dims(1000, 132).grid, 4u);
  EXPECT_EQ(cuda_launch_dims(std::int64_t{1} << 30, 132).grid, 32u * 132);
  EXPECT_EQ(cuda_launch_dims(1000, 132).block, 256u);
}

TEST(Cuda, KernelsAboveTheAbiRankAreRejected) {
  std::vector<DimSpec> dims(9, DimSpec("n"));
  Tensor x = tensor("x", DType::F32, dims);
  Kernel k = kernels_of({exp(x)})[0];
  try {
    print_cuda_kernel(k, "big");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 9"), std::string::npos) << e.what();
  }
}

TEST(Cuda, ReductionKernelsTheAbiCannotHoldAreRejected) {
  // rank 9
  std::vector<DimSpec> dims(9, DimSpec("n"));
  Tensor x = tensor("x", DType::F32, dims);
  Kernel k = kernels_of({sum(exp(x), 3)})[0];
  ASSERT_TRUE(k.has_reduction());
  try {
    print_cuda_kernel(k, "big");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 9, above the 8 the launch ABI holds"), std::string::npos) << e.what();
  }
  // more operands than the parameter space holds
  Tensor acc = tensor("y0", DType::F32, {"a", "b"});
  for (int i = 1; i < 50; ++i) acc = acc * tensor("y" + std::to_string(i), DType::F32, {"a", "b"});
  std::vector<Kernel> ks = kernels_of({sum(acc, 1)});
  ASSERT_EQ(ks.size(), 1u);
  ASSERT_TRUE(ks[0].has_reduction());
  try {
    print_cuda_kernel(ks[0], "wide");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("kernel wide has 51 operands, above the 48 its parameters hold"),
              std::string::npos)
        << e.what();
  }
}

TEST(Cuda, ReductionLaunchDims) {
  Tensor x = tensor("x", DType::F32, {"a", "b"});
  const Kernel rows = kernels_of({sum(x, 1)})[0], cols = kernels_of({sum(x, 0)})[0];
  // short rows: a warp a row, 8 rows a block
  CudaReduceDims d = cuda_reduce_launch_dims(rows, {1000, 33}, 132);
  EXPECT_EQ(d.block_x, 32u);
  EXPECT_EQ(d.block_y, 8u);
  EXPECT_EQ(d.grid, 125u);
  // long rows: a block a row, ~8 elements a thread, at most 256 threads
  d = cuda_reduce_launch_dims(rows, {3, 1000}, 132);
  EXPECT_EQ(d.block_x, 128u);
  EXPECT_EQ(d.block_y, 1u);
  EXPECT_EQ(d.grid, 3u);
  d = cuda_reduce_launch_dims(rows, {1 << 20, 100000}, 132);
  EXPECT_EQ(d.block_x, 256u);
  EXPECT_EQ(d.grid, 32u * 132);  // grid-stride beyond
  // columns: a thread a row when there are many or they are short
  d = cuda_reduce_launch_dims(cols, {5000, 10000}, 132);
  EXPECT_EQ(d.block_x, 1u);
  EXPECT_EQ(d.block_y, 256u);
  EXPECT_EQ(d.grid, 40u);
  // few long columns: a block a column
  d = cuda_reduce_launch_dims(cols, {70000, 1}, 132);
  EXPECT_EQ(d.block_x, 256u);
  EXPECT_EQ(d.grid, 1u);
  // the space of a reduction: the output on the kept dims, the input's size on the reduced one
  CudaBinding b = cuda_bind(rows, {{4, 7}, {4}}, {{7, 1}, {1}});
  EXPECT_EQ(b.space, (std::vector<std::int64_t>{4, 7}));
  EXPECT_EQ(b.strides[0], (std::vector<std::int64_t>{7, 1}));
  EXPECT_EQ(b.strides[1], (std::vector<std::int64_t>{1, 0}));
  // a print says which kernels are reductions
  EXPECT_TRUE(print_cuda_kernel(rows, "r").reduction);
  EXPECT_TRUE(print_cuda_kernel(rows, "r").vec_name.empty());
  EXPECT_FALSE(print_cuda_kernel(kernels_of({x * 2})[0], "e").reduction);
}

// ---- NVRTC ----

TEST(Nvrtc, ReportsItsVersionAndArchitectures) {
  ASSERT_TRUE(nvrtc_available());
  NvrtcVersion v = nvrtc_version();
  std::printf("[ cuda ] NVRTC %d.%d\n", v.major, v.minor);
  EXPECT_GE(v.major, 11);
  std::vector<std::string> archs = nvrtc_supported_archs();
  for (const char* a : kArchs) EXPECT_NE(std::find(archs.begin(), archs.end(), a), archs.end()) << a;
}

TEST(Nvrtc, ACompileErrorCarriesTheLogAndTheKernelName) {
  const std::string src = "extern \"C\" __global__ void broken(float* x) { x[0] = undeclared_thing; }\n";
  try {
    nvrtc_compile(src, "sm_90", "kiln_broken_kernel");
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("kiln_broken_kernel"), std::string::npos) << m;
    EXPECT_NE(m.find("sm_90"), std::string::npos) << m;
    EXPECT_NE(m.find("NVRTC_ERROR_COMPILATION"), std::string::npos) << m;
    // NVRTC's own log: the file, the line and the undeclared identifier
    EXPECT_NE(m.find("kiln_broken_kernel.cu(1): error"), std::string::npos) << m;
    EXPECT_NE(m.find("undeclared_thing"), std::string::npos) << m;
  }
  EXPECT_THROW(nvrtc_compile(src, "compute_90", "k"), Error);  // not a real architecture
}

// The memory cache's tests: the disk cache (tests/cuda/nvrtc_disk_cache_test.cpp) off.
struct NoDiskCache {
  std::string old;
  bool had = false;
  NoDiskCache() {
    if (const char* v = std::getenv("KILN_CACHE_DIR")) had = true, old = v;
    ::setenv("KILN_CACHE_DIR", "off", 1);
  }
  ~NoDiskCache() { had ? ::setenv("KILN_CACHE_DIR", old.c_str(), 1) : ::unsetenv("KILN_CACHE_DIR"); }
};

TEST(Nvrtc, CompilesAreCachedBySourceAndArchitecture) {
  const NoDiskCache no_disk;
  Tensor x = tensor("x", DType::F64, {"n"});
  const std::string src = print_cuda_kernel(kernels_of({x * 3 + 1})[0], "ck").source;
  nvrtc_cache_clear();
  CudaBinary cold = nvrtc_compile(src, "sm_90", "ck");
  CudaBinary warm = nvrtc_compile(src, "sm_90", "ck");
  CudaBinary other = nvrtc_compile(src, "sm_80", "ck");
  EXPECT_FALSE(cold.from_cache);
  EXPECT_TRUE(warm.from_cache);
  EXPECT_FALSE(other.from_cache);
  EXPECT_EQ(warm.cubin, cold.cubin);
  EXPECT_NE(other.cubin, cold.cubin);
  EXPECT_EQ(nvrtc_cache_size(), 2u);
  EXPECT_NE(nvrtc_cache_key(src, "sm_90"), nvrtc_cache_key(src, "sm_80"));
  EXPECT_NE(nvrtc_cache_key(src, "sm_90"), nvrtc_cache_key(src + " ", "sm_90"));
  EXPECT_EQ(nvrtc_cache_key(src, "sm_90").size(), 32u);
}

TEST(Nvrtc, PerKernelCompileTimesColdAndWarm) {
  // One small kernel a program, as a function's first call compiles them.
  const NoDiskCache no_disk;
  std::vector<Kernel> ks;
  for (DType t : {DType::F32, DType::F16, DType::I32, DType::F64}) {
    Tensor x = tensor("x", t, {"a", "b"}), y = tensor("y", t, {"b"});
    for (Kernel& k : kernels_of({maximum(x, y) * x - y})) ks.push_back(std::move(k));
  }
  Tensor f = tensor("f", DType::F32, {"n"});
  for (Kernel& k : kernels_of({sigmoid(f) * tanh(f) + exp(f)})) ks.push_back(std::move(k));
  nvrtc_cache_clear();
  double cold = 0, warm = 0, worst = 0;
  for (const Kernel& k : ks) {
    const std::string name = cuda_kernel_name(k);
    CudaBinary b = nvrtc_compile(print_cuda_kernel(k, name).source, "sm_90", name);
    cold += b.compile_ms;
    worst = std::max(worst, b.compile_ms);
    const auto t0 = std::chrono::steady_clock::now();
    CudaBinary again = nvrtc_compile(print_cuda_kernel(k, name).source, "sm_90", name);
    warm += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(again.from_cache);
  }
  const double n = static_cast<double>(ks.size());
  std::printf("[ cuda ] NVRTC sm_90, %zu kernels: cold %.1f ms per kernel (worst %.1f), warm (memory cache, "
              "printing included) %.3f ms per kernel\n",
              ks.size(), cold / n, worst, warm / n);
  EXPECT_LT(warm / n, cold / n);
}

}  // namespace
