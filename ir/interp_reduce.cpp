// Reductions and matmul of the reference interpreter.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ir/interp_util.hpp"
#include "ir/shape_util.hpp"

namespace kiln::ir::interp {

namespace {

using u64 = std::uint64_t;
using i64 = std::int64_t;

// Reduces the elements at base + offs[r] (r in C order over the reduced
// axes) in the double domain.
double reduce_f(OpCode op, LoadF ld, const std::byte* base, const std::vector<i64>& offs) {
  const std::size_t count = offs.size();
  switch (op) {
    case OpCode::Sum: case OpCode::Mean: {
      double acc = 0;
      for (i64 o : offs) acc += ld(base + o);
      return op == OpCode::Mean ? acc / static_cast<double>(count) : acc;  // 0/0 = NaN for an empty mean
    }
    case OpCode::Prod: {
      double acc = 1;
      for (i64 o : offs) acc *= ld(base + o);
      return acc;
    }
    case OpCode::Max: case OpCode::Min: {  // the first NaN wins
      double acc = ld(base + offs[0]);
      for (std::size_t r = 1; r < count && !std::isnan(acc); ++r) {
        double v = ld(base + offs[r]);
        if (std::isnan(v) || (op == OpCode::Max ? v > acc : v < acc)) acc = v;
      }
      return acc;
    }
    case OpCode::Argmax: case OpCode::Argmin: {  // first occurrence; the first NaN wins
      std::size_t best = 0;
      double bv = ld(base + offs[0]);
      for (std::size_t r = 1; r < count && !std::isnan(bv); ++r) {
        double v = ld(base + offs[r]);
        if (std::isnan(v) || (op == OpCode::Argmax ? v > bv : v < bv)) {
          best = r;
          bv = v;
        }
      }
      return static_cast<double>(best);
    }
    default: break;
  }
  KILN_UNREACHABLE("no float reduction for " << op_name(op));
}

// The same in the int64 domain; sum and prod wrap.
i64 reduce_i(OpCode op, LoadI ld, const std::byte* base, const std::vector<i64>& offs) {
  const std::size_t count = offs.size();
  switch (op) {
    case OpCode::Sum: {
      u64 acc = 0;
      for (i64 o : offs) acc += static_cast<u64>(ld(base + o));
      return static_cast<i64>(acc);
    }
    case OpCode::Prod: {
      u64 acc = 1;
      for (i64 o : offs) acc *= static_cast<u64>(ld(base + o));
      return static_cast<i64>(acc);
    }
    case OpCode::Max: case OpCode::Min: {
      i64 acc = ld(base + offs[0]);
      for (std::size_t r = 1; r < count; ++r) {
        i64 v = ld(base + offs[r]);
        acc = op == OpCode::Max ? std::max(acc, v) : std::min(acc, v);
      }
      return acc;
    }
    case OpCode::All:
      for (i64 o : offs)
        if (ld(base + o) == 0) return 0;
      return 1;
    case OpCode::Any:
      for (i64 o : offs)
        if (ld(base + o) != 0) return 1;
      return 0;
    case OpCode::Argmax: case OpCode::Argmin: {
      std::size_t best = 0;
      i64 bv = ld(base + offs[0]);
      for (std::size_t r = 1; r < count; ++r) {
        i64 v = ld(base + offs[r]);
        if (op == OpCode::Argmax ? v > bv : v < bv) {
          best = r;
          bv = v;
        }
      }
      return static_cast<i64>(best);
    }
    default: break;
  }
  KILN_UNREACHABLE("no integer reduction for " << op_name(op));
}

}  // namespace

Array eval_reduce(const Node& node, const std::vector<Array>& in) {
  const OpCode op = node.op();
  const View x = view_of(in[0]);
  const auto& axes = node.attrs().get_ints("axes");
  const bool keep = node.attrs().get_bool("keepdims");

  Shape kept_shape, kept_strides, red_shape, red_strides, out_shape;
  for (std::size_t ax = 0; ax < x.shape.size(); ++ax) {
    if (std::binary_search(axes.begin(), axes.end(), static_cast<i64>(ax))) {
      red_shape.push_back(x.shape[ax]);
      red_strides.push_back(x.strides[ax]);
      if (keep) out_shape.push_back(1);
    } else {
      kept_shape.push_back(x.shape[ax]);
      kept_strides.push_back(x.strides[ax]);
      out_shape.push_back(x.shape[ax]);
    }
  }
  const std::vector<i64> red = element_offsets(red_shape, red_strides);
  const bool needs_identity = op == OpCode::Max || op == OpCode::Min || op == OpCode::Argmax || op == OpCode::Argmin;
  if (red.empty() && needs_identity)
    fail(node, "zero-size array to reduction " + std::string(node.name()) + " has no identity (reducing axes " +
                   ints_str(axes) + " of shape " + shape_string(x.shape) + ")");

  View out;
  Array result = new_array(out_shape, node.dtype(), &out);
  const std::vector<i64> kept = element_offsets(kept_shape, kept_strides);
  const std::size_t es = dtype_size(node.dtype());
  const bool argmode = op == OpCode::Argmax || op == OpCode::Argmin;
  if (float_domain(x.dtype)) {
    LoadF ld = load_f(x.dtype);
    StoreF sf = argmode ? nullptr : store_f(node.dtype());
    StoreI si = argmode ? store_i(node.dtype()) : nullptr;
    for (std::size_t o = 0; o < kept.size(); ++o) {
      double v = reduce_f(op, ld, x.base + kept[o], red);
      if (argmode) si(out.base + o * es, static_cast<i64>(v));
      else sf(out.base + o * es, v);
    }
  } else {
    LoadI ld = load_i(x.dtype);
    StoreI si = store_i(node.dtype());
    for (std::size_t o = 0; o < kept.size(); ++o) si(out.base + o * es, reduce_i(op, ld, x.base + kept[o], red));
  }
  return result;
}

Array eval_matmul(const Node& node, const std::vector<Array>& in) {
  const View a = view_of(in[0]), b = view_of(in[1]);
  const std::size_t ra = a.shape.size(), rb = b.shape.size();
  const i64 m = a.shape[ra - 2], k = a.shape[ra - 1], k2 = b.shape[rb - 2], n = b.shape[rb - 1];
  if (k != k2)
    fail(node, "contracted dims differ: " + shape_string(a.shape) + " @ " + shape_string(b.shape) + " (" +
                   std::to_string(k) + " vs " + std::to_string(k2) + ")");

  // Batch dims broadcast like elementwise operands.
  const Shape ab(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
  const std::vector<Dim> ad(node.input(0)->type().dims.begin(), node.input(0)->type().dims.end() - 2);
  const std::vector<Dim> bd(node.input(1)->type().dims.begin(), node.input(1)->type().dims.end() - 2);
  Shape batch;
  std::string why;
  if (!broadcast_runtime({&ab, &bb}, {&ad, &bd}, &batch, &why))
    fail(node, "batch dims do not broadcast: " + shape_string(a.shape) + " @ " + shape_string(b.shape) +
                   (why.empty() ? "" : ": " + why));
  auto batch_strides = [&](const View& v, const Shape& vb) {
    Shape s(batch.size(), 0);
    const std::size_t lead = batch.size() - vb.size();
    for (std::size_t ax = 0; ax < vb.size(); ++ax)
      if (vb[ax] == batch[lead + ax]) s[lead + ax] = v.strides[ax];
    return s;
  };
  const std::vector<i64> a_offs = element_offsets(batch, batch_strides(a, ab));
  const std::vector<i64> b_offs = element_offsets(batch, batch_strides(b, bb));

  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  View out;
  Array result = new_array(out_shape, node.dtype(), &out);
  const i64 as0 = a.strides[ra - 2], as1 = a.strides[ra - 1], bs0 = b.strides[rb - 2], bs1 = b.strides[rb - 1];
  const std::size_t es = dtype_size(node.dtype());
  const std::size_t mk = static_cast<std::size_t>(m * k), kn = static_cast<std::size_t>(k * n),
                    mn = static_cast<std::size_t>(m * n);

  // Each batch: load both operands into contiguous buffers, then an i-k-j loop.
  if (float_domain(node.dtype())) {
    LoadF ld = load_f(node.dtype());
    StoreF st = store_f(node.dtype());
    std::vector<double> A(mk), B(kn), C(mn);
    for (std::size_t bi = 0; bi < a_offs.size(); ++bi) {
      for (i64 i = 0; i < m; ++i)
        for (i64 p = 0; p < k; ++p) A[i * k + p] = ld(a.base + a_offs[bi] + i * as0 + p * as1);
      for (i64 p = 0; p < k; ++p)
        for (i64 j = 0; j < n; ++j) B[p * n + j] = ld(b.base + b_offs[bi] + p * bs0 + j * bs1);
      std::fill(C.begin(), C.end(), 0.0);
      for (i64 i = 0; i < m; ++i) {
        double* c = C.data() + i * n;
        for (i64 p = 0; p < k; ++p) {
          const double aip = A[i * k + p];
          const double* brow = B.data() + p * n;
          for (i64 j = 0; j < n; ++j) c[j] += aip * brow[j];
        }
      }
      std::byte* o = out.base + bi * mn * es;
      for (std::size_t e = 0; e < mn; ++e) st(o + e * es, C[e]);
    }
  } else {
    LoadI ld = load_i(node.dtype());
    StoreI st = store_i(node.dtype());
    std::vector<u64> A(mk), B(kn), C(mn);
    for (std::size_t bi = 0; bi < a_offs.size(); ++bi) {
      for (i64 i = 0; i < m; ++i)
        for (i64 p = 0; p < k; ++p) A[i * k + p] = static_cast<u64>(ld(a.base + a_offs[bi] + i * as0 + p * as1));
      for (i64 p = 0; p < k; ++p)
        for (i64 j = 0; j < n; ++j) B[p * n + j] = static_cast<u64>(ld(b.base + b_offs[bi] + p * bs0 + j * bs1));
      std::fill(C.begin(), C.end(), u64{0});
      for (i64 i = 0; i < m; ++i) {
        u64* c = C.data() + i * n;
        for (i64 p = 0; p < k; ++p) {
          const u64 aip = A[i * k + p];
          const u64* brow = B.data() + p * n;
          for (i64 j = 0; j < n; ++j) c[j] += aip * brow[j];  // wraps
        }
      }
      std::byte* o = out.base + bi * mn * es;
      for (std::size_t e = 0; e < mn; ++e) st(o + e * es, static_cast<i64>(C[e]));
    }
  }
  return result;
}

}  // namespace kiln::ir::interp
