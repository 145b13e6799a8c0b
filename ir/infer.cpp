// Type and shape rules for every op of the op table.
#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include "ir/node.hpp"
#include "ir/shape_util.hpp"

namespace kiln::ir {

namespace {

[[noreturn]] void fail(OpCode op, const std::string& what) {
  throw Error("error: " + std::string(op_name(op)) + ": " + what);
}

std::string types_str(std::span<const TensorType> ts) {
  std::string s;
  for (std::size_t i = 0; i < ts.size(); ++i) s += (i ? ", " : "") + ts[i].str();
  return s;
}

void require_same_dtype(OpCode op, std::span<const TensorType> ts) {
  for (auto& t : ts)
    if (t.dtype != ts[0].dtype) fail(op, "inputs must have the same dtype, got " + types_str(ts));
}

void require(OpCode op, bool ok, const TensorType& t, const char* what) {
  if (!ok) fail(op, std::string("does not accept ") + t.str() + " (" + what + ")");
}

std::vector<Dim> broadcast_or_fail(OpCode op, std::span<const TensorType> ts) {
  std::vector<Dim> out;
  std::string err;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (i == 0) {
      out = ts[0].dims;
      continue;
    }
    if (!broadcast_dims(out, ts[i].dims, &out, &err))
      fail(op, "cannot broadcast " + types_str(ts) + ": " + err);
  }
  return out;
}

// Rejects shapes with more elements than an int64 can count.
void check_size(OpCode op, const std::vector<Dim>& dims) {
  std::int64_t n = 1;
  for (const Dim& d : dims)
    if (d.known() && __builtin_mul_overflow(n, d.size, &n))
      fail(op, "shape " + dims_str(dims) + " has more elements than fit in 64 bits");
}

void check_axes_normalised(OpCode op, const std::vector<std::int64_t>& axes, std::int64_t rank,
                           const TensorType& t) {
  for (std::size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < 0 || axes[i] >= rank)
      fail(op, "axis " + std::to_string(axes[i]) + " is out of range for " + t.str());
    if (i && axes[i] <= axes[i - 1]) fail(op, "axes must be sorted and unique, got " + ints_str(axes));
  }
}

TensorType infer_leaf(OpCode op, const Attrs& a) {
  switch (op) {
    case OpCode::Constant: {
      const Array& v = a.get_array("value");
      std::vector<Dim> d(v.shape().begin(), v.shape().end());
      return TensorType(v.dtype(), d);
    }
    case OpCode::Fill: {
      std::vector<Dim> d;
      for (auto s : a.get_ints("shape")) {
        if (s < 0) fail(op, "negative size " + std::to_string(s) + " in shape " + ints_str(a.get_ints("shape")));
        d.push_back(s);
      }
      check_size(op, d);
      return TensorType(a.get_dtype("dtype"), d);
    }
    case OpCode::Arange: {
      double start = a.get_double("start"), stop = a.get_double("stop"), step = a.get_double("step");
      if (step == 0) fail(op, "step must not be zero");
      if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
        fail(op, "start, stop and step must be finite");
      double n = std::ceil((stop - start) / step);
      std::int64_t len = n > 0 ? static_cast<std::int64_t>(n) : 0;
      return TensorType(a.get_dtype("dtype"), {Dim(len)});
    }
    case OpCode::Eye: {
      std::int64_t n = a.get_int("n"), m = a.get_int("m");
      if (n < 0 || m < 0) fail(op, "sizes must be non-negative, got " + std::to_string(n) + "x" + std::to_string(m));
      return TensorType(a.get_dtype("dtype"), {Dim(n), Dim(m)});
    }
    default:
      KILN_UNREACHABLE("leaf " << op_name(op) << " has no inferred type");
  }
}

TensorType infer_reduce(OpCode op, const TensorType& x, const Attrs& a) {
  const auto& axes = a.get_ints("axes");
  bool keep = a.get_bool("keepdims");
  check_axes_normalised(op, axes, x.rank(), x);
  DType out = x.dtype;
  switch (op) {
    case OpCode::Sum: case OpCode::Prod:
      require(op, x.dtype != DType::Bool, x, "bool must be cast first");
      break;
    case OpCode::Mean:
      require(op, is_float(x.dtype), x, "mean needs a float dtype");
      break;
    case OpCode::All: case OpCode::Any:
      require(op, x.dtype == DType::Bool, x, "all/any need a bool input");
      break;
    case OpCode::Argmax: case OpCode::Argmin:
      out = DType::I64;
      break;
    default:
      break;
  }
  std::vector<Dim> d;
  for (std::int64_t i = 0; i < x.rank(); ++i) {
    bool reduced = std::binary_search(axes.begin(), axes.end(), i);
    if (!reduced)
      d.push_back(x.dims[i]);
    else if (keep)
      d.push_back(Dim(1));
  }
  return TensorType(out, d);
}

TensorType infer_matmul(OpCode op, const TensorType& a, const TensorType& b) {
  require_same_dtype(op, std::array<TensorType, 2>{a, b});
  if (a.rank() < 2 || b.rank() < 2)
    fail(op, "inputs must have rank >= 2 in the IR (the front end expands vectors), got " + a.str() + ", " + b.str());
  require(op, a.dtype != DType::Bool, a, "bool matmul is not supported; cast to an integer or float dtype");
  const Dim& k1 = a.dims[a.rank() - 1];
  const Dim& k2 = b.dims[b.rank() - 2];
  if (k1.known() && k2.known() && k1.size != k2.size)
    fail(op, "contracted dims differ: " + a.str() + " @ " + b.str() + " (" + std::to_string(k1.size) +
                 " vs " + std::to_string(k2.size) + ")");
  std::vector<Dim> ba(a.dims.begin(), a.dims.end() - 2), bb(b.dims.begin(), b.dims.end() - 2), out;
  std::string err;
  if (!broadcast_dims(ba, bb, &out, &err))
    fail(op, "batch dims do not broadcast: " + a.str() + " @ " + b.str() + ": " + err);
  out.push_back(a.dims[a.rank() - 2]);
  out.push_back(b.dims[b.rank() - 1]);
  return TensorType(a.dtype, out);
}

TensorType infer_shape_op(OpCode op, std::span<const TensorType> in, const Attrs& a) {
  const TensorType& x = in[0];
  switch (op) {
    case OpCode::Reshape: {
      const auto& shape = a.get_ints("shape");
      int infer_at = -1;
      std::int64_t known = 1;
      for (std::size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1) {
          if (infer_at >= 0) fail(op, "at most one -1 allowed in shape " + ints_str(shape));
          infer_at = static_cast<int>(i);
        } else if (shape[i] < 0) {
          fail(op, "invalid size " + std::to_string(shape[i]) + " in shape " + ints_str(shape));
        } else {
          known *= shape[i];
        }
      }
      std::vector<Dim> d(shape.begin(), shape.end());
      std::int64_t n = x.static_size();
      if (infer_at >= 0) {
        if (n != kUnknown) {
          if (known == 0 || n % known != 0)
            fail(op, "cannot reshape " + x.str() + " to " + ints_str(shape));
          d[infer_at] = Dim(n / known);
        } else {
          d[infer_at] = Dim::unknown();
        }
      } else if (n != kUnknown && n != known) {
        fail(op, "cannot reshape " + x.str() + " (" + std::to_string(n) + " elements) to " + ints_str(shape));
      }
      return TensorType(x.dtype, d);
    }
    case OpCode::ReshapeLike: {
      const TensorType& r = in[1];
      std::int64_t n = x.static_size(), m = r.static_size();
      if (n != kUnknown && m != kUnknown && n != m)
        fail(op, "cannot reshape " + x.str() + " to the shape of " + r.str());
      return TensorType(x.dtype, r.dims);
    }
    case OpCode::Transpose: {
      const auto& perm = a.get_ints("perm");
      if (static_cast<std::int64_t>(perm.size()) != x.rank())
        fail(op, "permutation " + ints_str(perm) + " does not match " + x.str());
      std::vector<bool> seen(perm.size(), false);
      std::vector<Dim> d;
      for (auto p : perm) {
        if (p < 0 || p >= x.rank() || seen[p]) fail(op, "invalid permutation " + ints_str(perm) + " for " + x.str());
        seen[p] = true;
        d.push_back(x.dims[p]);
      }
      return TensorType(x.dtype, d);
    }
    case OpCode::ExpandDims: {
      const auto& axes = a.get_ints("axes");
      std::int64_t out_rank = x.rank() + static_cast<std::int64_t>(axes.size());
      check_axes_normalised(op, axes, out_rank, x);
      std::vector<Dim> d;
      std::size_t j = 0;
      for (std::int64_t i = 0; i < out_rank; ++i) {
        if (std::binary_search(axes.begin(), axes.end(), i))
          d.push_back(Dim(1));
        else
          d.push_back(x.dims[j++]);
      }
      return TensorType(x.dtype, d);
    }
    case OpCode::Squeeze: {
      const auto& axes = a.get_ints("axes");
      check_axes_normalised(op, axes, x.rank(), x);
      std::vector<Dim> d;
      for (std::int64_t i = 0; i < x.rank(); ++i) {
        if (std::binary_search(axes.begin(), axes.end(), i)) {
          if (x.dims[i].known() && x.dims[i].size != 1)
            fail(op, "cannot squeeze axis " + std::to_string(i) + " of size " + std::to_string(x.dims[i].size) +
                         " in " + x.str());
        } else {
          d.push_back(x.dims[i]);
        }
      }
      return TensorType(x.dtype, d);
    }
    case OpCode::BroadcastTo: {
      const auto& shape = a.get_ints("shape");
      std::vector<Dim> target;
      for (auto s : shape) {
        if (s < 0) fail(op, "invalid size in shape " + ints_str(shape));
        target.push_back(s);
      }
      check_size(op, target);
      if (x.rank() > static_cast<std::int64_t>(target.size()))
        fail(op, "cannot broadcast " + x.str() + " to the lower-rank shape " + ints_str(shape));
      std::vector<Dim> out;
      std::string err;
      if (!broadcast_dims(x.dims, target, &out, &err) || !(out == target))
        fail(op, "cannot broadcast " + x.str() + " to " + ints_str(shape) + (err.empty() ? "" : ": " + err));
      return TensorType(x.dtype, target);
    }
    case OpCode::BroadcastLike: {
      const TensorType& r = in[1];
      if (x.rank() > r.rank()) fail(op, "cannot broadcast " + x.str() + " to the lower-rank " + r.str());
      std::vector<Dim> out;
      std::string err;
      if (!broadcast_dims(x.dims, r.dims, &out, &err))
        fail(op, "cannot broadcast " + x.str() + " to the shape of " + r.str() + ": " + err);
      for (std::int64_t i = 0; i < r.rank(); ++i)
        if (r.dims[i].known() && out[i].size != r.dims[i].size)
          fail(op, "cannot broadcast " + x.str() + " to the shape of " + r.str());
      return TensorType(x.dtype, out);
    }
    case OpCode::FillLike:
      return TensorType(a.get_dtype("dtype"), x.dims);
    case OpCode::Concatenate: {
      require_same_dtype(op, in);
      std::int64_t axis = a.get_int("axis");
      if (axis < 0 || axis >= x.rank()) fail(op, "axis " + std::to_string(axis) + " is out of range for " + x.str());
      std::vector<Dim> d = x.dims;
      for (std::size_t k = 1; k < in.size(); ++k) {
        if (in[k].rank() != x.rank()) fail(op, "inputs must have the same rank, got " + types_str(in));
        for (std::int64_t i = 0; i < x.rank(); ++i) {
          if (i == axis) {
            std::int64_t sum = 0;
            bool known = d[i].known() && in[k].dims[i].known() && !__builtin_add_overflow(d[i].size, in[k].dims[i].size, &sum);
            d[i] = known ? Dim(sum) : Dim::unknown();
          } else if (d[i].known() && in[k].dims[i].known() && d[i].size != in[k].dims[i].size) {
            fail(op, "dims other than axis " + std::to_string(axis) + " must match, got " + types_str(in));
          } else if (!d[i].known()) {
            d[i] = in[k].dims[i];
          }
        }
      }
      return TensorType(x.dtype, d);
    }
    case OpCode::Unconcat: {
      // inputs: the gradient g of a concatenation, then the concatenated parts
      std::int64_t axis = a.get_int("axis"), index = a.get_int("index");
      if (in.size() < 2) fail(op, "needs the concatenated value and at least one part");
      if (index < 0 || index >= static_cast<std::int64_t>(in.size()) - 1)
        fail(op, "index " + std::to_string(index) + " is out of range for " + std::to_string(in.size() - 1) + " parts");
      if (axis < 0 || axis >= x.rank()) fail(op, "axis " + std::to_string(axis) + " is out of range for " + x.str());
      const TensorType& part = in[index + 1];
      if (part.rank() != x.rank()) fail(op, "parts must have the rank of the whole, got " + types_str(in));
      std::vector<Dim> d = part.dims;
      for (std::int64_t i = 0; i < x.rank(); ++i)
        if (i != axis && !d[i].known()) d[i] = x.dims[i];
      return TensorType(x.dtype, d);
    }
    case OpCode::Flip: {
      check_axes_normalised(op, a.get_ints("axes"), x.rank(), x);
      return x;
    }
    case OpCode::Slice: case OpCode::SetSlice: case OpCode::IncSlice: {
      const auto& sl = a.get_ints("slices");
      if (static_cast<std::int64_t>(sl.size()) != 3 * x.rank())
        fail(op, "needs one start:stop:step per axis of " + x.str() + ", got " + std::to_string(sl.size() / 3));
      std::vector<Dim> d;
      for (std::int64_t i = 0; i < x.rank(); ++i) {
        std::int64_t step = sl[3 * i + 2];
        if (step == 0) fail(op, "slice step must not be zero (axis " + std::to_string(i) + ")");
        if (x.dims[i].known())
          d.push_back(slice_length(x.dims[i].size, sl[3 * i], sl[3 * i + 1], step));
        else if (sl[3 * i] == kNone && sl[3 * i + 1] == kNone && (step == 1 || step == -1))
          d.push_back(x.dims[i]);
        else
          d.push_back(Dim::unknown());
      }
      if (op == OpCode::Slice) return TensorType(x.dtype, d);
      const TensorType& y = in[1];
      require_same_dtype(op, in);
      std::vector<Dim> out;
      std::string err;
      if (y.rank() > static_cast<std::int64_t>(d.size()) || !broadcast_dims(y.dims, d, &out, &err) || !(out.size() == d.size()))
        fail(op, "value " + y.str() + " does not broadcast to the slice shape " + dims_str(d) + " of " + x.str());
      for (std::size_t i = 0; i < d.size(); ++i)
        if (d[i].known() && out[i].size != d[i].size)
          fail(op, "value " + y.str() + " does not broadcast to the slice shape " + dims_str(d) + " of " + x.str());
      return x;
    }
    case OpCode::Take: case OpCode::SetTake: case OpCode::IncTake: {
      std::int64_t axis = a.get_int("axis");
      if (axis < 0 || axis >= x.rank()) fail(op, "axis " + std::to_string(axis) + " is out of range for " + x.str());
      const TensorType& idx = in[op == OpCode::Take ? 1 : 2];
      if (!is_integer(idx.dtype)) fail(op, "indices must have an integer dtype, got " + idx.str());
      std::vector<Dim> d(x.dims.begin(), x.dims.begin() + axis);
      d.insert(d.end(), idx.dims.begin(), idx.dims.end());
      d.insert(d.end(), x.dims.begin() + axis + 1, x.dims.end());
      if (op == OpCode::Take) return TensorType(x.dtype, d);
      const TensorType& y = in[1];
      if (y.dtype != x.dtype) fail(op, "value and target must have the same dtype, got " + types_str(in));
      std::vector<Dim> out;
      std::string err;
      if (y.rank() > static_cast<std::int64_t>(d.size()) || !broadcast_dims(y.dims, d, &out, &err))
        fail(op, "value " + y.str() + " does not broadcast to the indexed shape " + dims_str(d) + " of " + x.str());
      for (std::size_t i = 0; i < d.size(); ++i)
        if (d[i].known() && out[i].size != d[i].size)
          fail(op, "value " + y.str() + " does not broadcast to the indexed shape " + dims_str(d) + " of " + x.str());
      return x;
    }
    default:
      KILN_UNREACHABLE("no shape rule for " << op_name(op));
  }
}

}  // namespace

TensorType infer_type(OpCode op, std::span<const TensorType> in, const Attrs& a) {
  const OpInfo& info = op_info(op);
  switch (info.category) {
    case OpCategory::Leaf:
      return infer_leaf(op, a);
    case OpCategory::UnaryNumeric:
      require(op, in[0].dtype != DType::Bool, in[0], "needs a numeric dtype");
      return in[0];
    case OpCategory::UnaryFloat:
      require(op, is_float(in[0].dtype), in[0], "needs a float dtype");
      if (op == OpCode::Polygamma && a.get_int("n") < 0)
        fail(op, "the order n must be >= 0, got " + std::to_string(a.get_int("n")));
      return in[0];
    case OpCategory::UnaryBool:
      require(op, in[0].dtype == DType::Bool, in[0], "needs a bool dtype");
      return in[0];
    case OpCategory::UnaryIntegral:
      require(op, !is_float(in[0].dtype), in[0], "needs an integer or bool dtype");
      return in[0];
    case OpCategory::UnaryPredicate:
      return TensorType(DType::Bool, in[0].dims);
    case OpCategory::UnaryAny:
      return in[0];
    case OpCategory::Cast:
      return TensorType(a.get_dtype("dtype"), in[0].dims);
    case OpCategory::BinaryNumeric: case OpCategory::BinaryFloat: case OpCategory::Compare:
    case OpCategory::BinaryBool: case OpCategory::BinaryIntegral: case OpCategory::BinaryShift: {
      require_same_dtype(op, in);
      DType t = in[0].dtype;
      switch (info.category) {
        case OpCategory::BinaryNumeric: require(op, t != DType::Bool, in[0], "needs a numeric dtype"); break;
        case OpCategory::BinaryFloat: require(op, is_float(t), in[0], "needs a float dtype"); break;
        case OpCategory::BinaryBool: require(op, t == DType::Bool, in[0], "needs a bool dtype"); break;
        case OpCategory::BinaryIntegral: require(op, !is_float(t), in[0], "needs an integer or bool dtype"); break;
        case OpCategory::BinaryShift: require(op, is_integer(t), in[0], "needs an integer dtype"); break;
        default: break;
      }
      auto dims = broadcast_or_fail(op, in);
      return TensorType(info.category == OpCategory::Compare ? DType::Bool : t, dims);
    }
    case OpCategory::Where: {
      if (in[0].dtype != DType::Bool) fail(op, "condition must be bool, got " + in[0].str());
      if (in[1].dtype != in[2].dtype) fail(op, "branches must have the same dtype, got " + types_str(in));
      return TensorType(in[1].dtype, broadcast_or_fail(op, in));
    }
    case OpCategory::Clip: {
      require_same_dtype(op, in);
      require(op, in[0].dtype != DType::Bool, in[0], "needs a numeric dtype");
      return TensorType(in[0].dtype, broadcast_or_fail(op, in));
    }
    case OpCategory::Reduce:
      return infer_reduce(op, in[0], a);
    case OpCategory::Matmul:
      return infer_matmul(op, in[0], in[1]);
    case OpCategory::Shape:
      return infer_shape_op(op, in, a);
  }
  KILN_UNREACHABLE("unhandled op category");
}

}  // namespace kiln::ir
