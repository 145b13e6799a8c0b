#include "codegen/blas.hpp"

#include <cblas.h>

#include <atomic>
#include <cstring>

#include "ir/interp_util.hpp"
#include "ir/interpreter.hpp"

namespace kiln::codegen {

namespace {

using i64 = std::int64_t;

// How a rows x cols matrix with element strides (s0, s1) is handed to BLAS.
struct Operand {
  bool ok = false;
  CBLAS_TRANSPOSE trans = CblasNoTrans;
  i64 ld = 1;
};

Operand blas_layout(i64 rows, i64 cols, i64 s0, i64 s1) {
  Operand o;
  // Row-major: (i, j) at i*ld + j. A dim of size 1 may have any stride.
  if ((cols <= 1 || s1 == 1) && (rows <= 1 || s0 >= std::max<i64>(1, cols))) {
    o = {true, CblasNoTrans, rows <= 1 ? std::max<i64>(1, cols) : s0};
  } else if ((rows <= 1 || s0 == 1) && (cols <= 1 || s1 >= std::max<i64>(1, rows))) {
    // Column-major: the row-major matrix of shape cols x rows, transposed.
    o = {true, CblasTrans, cols <= 1 ? std::max<i64>(1, rows) : s1};
  }
  return o;
}

// Fewer OpenBLAS threads for small problems; the setting is process-wide, so
// it is changed only when it differs.
void set_blas_threads(i64 work) {
  static const int max_threads = openblas_get_num_threads();
  static std::atomic<int> current{max_threads};
  const int want = work >= kGemmParallelWork ? max_threads : 1;
  if (current.exchange(want) != want) openblas_set_num_threads(want);
}

// The element offsets of every batch of `batch` over strides `s`, C order.
std::vector<i64> batch_offsets(const Shape& batch, const Shape& s) {
  std::vector<i64> offs{0};
  for (std::size_t ax = 0; ax < batch.size(); ++ax) {
    std::vector<i64> next;
    next.reserve(offs.size() * static_cast<std::size_t>(batch[ax]));
    for (i64 o : offs)
      for (i64 i = 0; i < batch[ax]; ++i) next.push_back(o + i * s[ax]);
    offs = std::move(next);
  }
  return offs;
}

}  // namespace

namespace {

// The common case, two matrices with BLAS layouts, without the batch
// bookkeeping (a batch-1 inference step is a few microseconds in all).
bool matmul_2d(const ir::Node& node, const Array& a, const Array& b, const OutputAllocator& alloc, Array* out) {
  if (a.ndim() != 2 || b.ndim() != 2) return false;
  const i64 m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  if (k != b.shape()[0] || m == 0 || n == 0 || k == 0) return false;
  const Operand la = blas_layout(m, k, a.strides()[0], a.strides()[1]);
  const Operand lb = blas_layout(k, n, b.strides()[0], b.strides()[1]);
  if (!la.ok || !lb.ok) return false;
  const Shape shape{m, n};
  *out = alloc ? alloc(shape, node.dtype()) : Array::empty(shape, node.dtype());
  set_blas_threads(m * n * k);
  const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
  if (node.dtype() == DType::F32)
    cblas_sgemm(CblasRowMajor, la.trans, lb.trans, M, N, K, 1.0f, static_cast<const float*>(a.raw_data()),
                static_cast<blasint>(la.ld), static_cast<const float*>(b.raw_data()), static_cast<blasint>(lb.ld),
                0.0f, static_cast<float*>(out->raw_data()), N);
  else
    cblas_dgemm(CblasRowMajor, la.trans, lb.trans, M, N, K, 1.0, static_cast<const double*>(a.raw_data()),
                static_cast<blasint>(la.ld), static_cast<const double*>(b.raw_data()), static_cast<blasint>(lb.ld),
                0.0, static_cast<double*>(out->raw_data()), N);
  return true;
}

}  // namespace

Array blas_matmul(const ir::Node& node, const std::vector<Array>& in, const OutputAllocator& alloc) {
  Array fast;
  if (matmul_2d(node, in[0], in[1], alloc, &fast)) return fast;
  Array a = in[0], b = in[1];
  const std::size_t ra = a.shape().size(), rb = b.shape().size();
  const i64 m = a.shape()[ra - 2], k = a.shape()[ra - 1], n = b.shape()[rb - 1];
  const Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  const std::vector<ir::Dim> ad(node.input(0)->type().dims.begin(), node.input(0)->type().dims.end() - 2);
  const std::vector<ir::Dim> bd(node.input(1)->type().dims.begin(), node.input(1)->type().dims.end() - 2);
  Shape batch;
  std::string why;
  if (k != b.shape()[rb - 2] || !ir::interp::broadcast_runtime({&ab, &bb}, {&ad, &bd}, &batch, &why))
    return ir::eval_node(node, in);  // the interpreter's error

  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Array result = alloc ? alloc(out_shape, node.dtype()) : Array::empty(out_shape, node.dtype());
  const i64 total = shape_size(out_shape);
  if (total == 0) return result;
  if (k == 0) {
    std::memset(result.raw_data(), 0, static_cast<std::size_t>(total) * dtype_size(node.dtype()));
    return result;
  }

  Operand la = blas_layout(m, k, a.strides()[ra - 2], a.strides()[ra - 1]);
  if (!la.ok) {
    a = a.copy();
    la = blas_layout(m, k, a.strides()[ra - 2], a.strides()[ra - 1]);
  }
  Operand lb = blas_layout(k, n, b.strides()[rb - 2], b.strides()[rb - 1]);
  if (!lb.ok) {
    b = b.copy();
    lb = blas_layout(k, n, b.strides()[rb - 2], b.strides()[rb - 1]);
  }
  // Batch strides: 0 along broadcast batch dims.
  auto batch_strides = [&](const Array& v, const Shape& vb) {
    Shape s(batch.size(), 0);
    const std::size_t lead = batch.size() - vb.size();
    for (std::size_t ax = 0; ax < vb.size(); ++ax)
      if (vb[ax] == batch[lead + ax]) s[lead + ax] = v.strides()[ax];
    return s;
  };
  const std::vector<i64> a_offs = batch_offsets(batch, batch_strides(a, ab));
  const std::vector<i64> b_offs = batch_offsets(batch, batch_strides(b, bb));

  set_blas_threads(m * n * k);
  const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
  const auto lda = static_cast<blasint>(la.ld), ldb = static_cast<blasint>(lb.ld);
  const i64 mn = m * n;
  if (node.dtype() == DType::F32) {
    const float* pa = static_cast<const float*>(a.raw_data());
    const float* pb = static_cast<const float*>(b.raw_data());
    float* pc = static_cast<float*>(result.raw_data());
    for (std::size_t i = 0; i < a_offs.size(); ++i)
      cblas_sgemm(CblasRowMajor, la.trans, lb.trans, M, N, K, 1.0f, pa + a_offs[i], lda, pb + b_offs[i], ldb, 0.0f,
                  pc + static_cast<i64>(i) * mn, N);
  } else {
    const double* pa = static_cast<const double*>(a.raw_data());
    const double* pb = static_cast<const double*>(b.raw_data());
    double* pc = static_cast<double*>(result.raw_data());
    for (std::size_t i = 0; i < a_offs.size(); ++i)
      cblas_dgemm(CblasRowMajor, la.trans, lb.trans, M, N, K, 1.0, pa + a_offs[i], lda, pb + b_offs[i], ldb, 0.0,
                  pc + static_cast<i64>(i) * mn, N);
  }
  return result;
}

}  // namespace kiln::codegen
