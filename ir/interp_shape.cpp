// Shape and indexing ops of the reference interpreter. Most are a strided
// view of the input (transpose, flip, slice, broadcast, ...) copied into a
// fresh C-contiguous array; the copies move bytes and never convert.
#include <algorithm>

#include "ir/interp_util.hpp"
#include "ir/shape_util.hpp"

namespace kiln::ir::interp {

namespace {

using i64 = std::int64_t;

Shape contiguous_byte_strides(const Shape& shape, DType t) {
  Shape s(shape.size());
  i64 step = static_cast<i64>(dtype_size(t));
  for (std::size_t i = shape.size(); i-- > 0;) {
    s[i] = step;
    step *= shape[i];
  }
  return s;
}

// A fresh array of `shape` holding x's elements in C order (same count).
Array reshaped_copy(const View& x, const Shape& shape) {
  View out;
  Array result = new_array(shape, x.dtype, &out);
  View flat = out;  // the same bytes seen with x's shape
  flat.shape = x.shape;
  flat.strides = contiguous_byte_strides(x.shape, x.dtype);
  copy_view(flat, x);
  return result;
}

Array reshape(const Node& node, const View& x, const std::vector<i64>& spec) {
  const i64 size = num_elements(x.shape);
  Shape shape = spec;
  i64 known = 1;
  int infer_at = -1;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == -1) infer_at = static_cast<int>(i);
    else known *= spec[i];
  }
  const std::string what = "cannot reshape an array of shape " + shape_string(x.shape) + " (" +
                           std::to_string(size) + " elements) into shape " + shape_string(spec);
  if (infer_at >= 0) {
    if (known == 0 || size % known != 0) fail(node, what);
    shape[infer_at] = size / known;
  } else if (known != size) {
    fail(node, what);
  }
  return reshaped_copy(x, shape);
}

// x[start:stop:step, ...] with Python semantics per axis, as a view.
View slice_view(const View& x, const std::vector<i64>& sl) {
  View v = x;
  for (std::size_t ax = 0; ax < x.shape.size(); ++ax) {
    const i64 start = sl[3 * ax], stop = sl[3 * ax + 1], step = sl[3 * ax + 2];
    const i64 len = slice_length(x.shape[ax], start, stop, step);
    if (len > 0) v.base += slice_start(x.shape[ax], start, step) * x.strides[ax];
    v.shape[ax] = len;
    v.strides[ax] = x.strides[ax] * step;
  }
  return v;
}

// The view with `axis` removed and its base moved to index `i` of that axis.
View drop_axis(const View& x, std::size_t axis, i64 i) {
  View v = x;
  v.base += i * x.strides[axis];
  v.shape.erase(v.shape.begin() + static_cast<std::ptrdiff_t>(axis));
  v.strides.erase(v.strides.begin() + static_cast<std::ptrdiff_t>(axis));
  return v;
}

// Reads the indices of take/set_take/inc_take in C order, wrapping negative
// ones; an index out of range is a user error.
std::vector<i64> read_indices(const Node& node, const Array& idx, std::size_t axis, i64 n) {
  const View v = view_of(idx);
  LoadI ld = load_i(v.dtype);
  std::vector<i64> out;
  for (i64 o : element_offsets(v.shape, v.strides)) {
    const i64 raw = ld(v.base + o);
    const i64 k = raw < 0 ? raw + n : raw;
    if (k < 0 || k >= n)
      fail(node, "index " + std::to_string(raw) + " is out of bounds for axis " + std::to_string(axis) +
                     " with size " + std::to_string(n));
    out.push_back(k);
  }
  return out;
}

Array take(const Node& node, const std::vector<Array>& in) {
  const View x = view_of(in[0]);
  const Array& idx = in[1];
  const auto axis = static_cast<std::size_t>(node.attrs().get_int("axis"));
  const std::vector<i64> ks = read_indices(node, idx, axis, x.shape[axis]);

  Shape shape(x.shape.begin(), x.shape.begin() + static_cast<std::ptrdiff_t>(axis));
  shape.insert(shape.end(), idx.shape().begin(), idx.shape().end());
  shape.insert(shape.end(), x.shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, x.shape.end());
  View out;
  Array result = new_array(shape, x.dtype, &out);
  // The index dims are consecutive in the C-contiguous output: see it as
  // [before..., number of indices, after...] and fill one index at a time.
  Shape flat(x.shape);
  flat[axis] = static_cast<i64>(ks.size());
  View dst = out;
  dst.shape = flat;
  dst.strides = contiguous_byte_strides(flat, x.dtype);
  for (std::size_t j = 0; j < ks.size(); ++j)
    copy_view(drop_axis(dst, axis, static_cast<i64>(j)), drop_axis(x, axis, ks[j]));
  return result;
}

// set_take / inc_take: x with x[..., idx, ...] = / += y (y broadcast to the
// indexed shape); applied in index order, so later duplicates win for set
// and accumulate for inc.
Array put(const Node& node, const std::vector<Array>& in, bool accumulate) {
  const View x = view_of(in[0]);
  const Array& idx = in[2];
  const auto axis = static_cast<std::size_t>(node.attrs().get_int("axis"));
  const std::vector<i64> ks = read_indices(node, idx, axis, x.shape[axis]);

  Shape indexed(x.shape.begin(), x.shape.begin() + static_cast<std::ptrdiff_t>(axis));
  indexed.insert(indexed.end(), idx.shape().begin(), idx.shape().end());
  indexed.insert(indexed.end(), x.shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, x.shape.end());
  const View y = broadcast_view(node, view_of(in[1]), node.input(1)->type().dims, indexed,
                                "cannot broadcast the value");

  View out;
  Array result = new_array(x.shape, x.dtype, &out);
  copy_view(out, x);

  // y's sub-view for index j: the index dims fixed at j's multi-index.
  const std::size_t ir = idx.shape().size();
  const Shape idx_strides(y.strides.begin() + static_cast<std::ptrdiff_t>(axis),
                          y.strides.begin() + static_cast<std::ptrdiff_t>(axis + ir));
  const std::vector<i64> y_offs = element_offsets(idx.shape(), idx_strides);
  View ys = y;
  ys.shape.erase(ys.shape.begin() + static_cast<std::ptrdiff_t>(axis),
                 ys.shape.begin() + static_cast<std::ptrdiff_t>(axis + ir));
  ys.strides.erase(ys.strides.begin() + static_cast<std::ptrdiff_t>(axis),
                   ys.strides.begin() + static_cast<std::ptrdiff_t>(axis + ir));
  for (std::size_t j = 0; j < ks.size(); ++j) {
    View src = ys;
    src.base += y_offs[j];
    const View dst = drop_axis(out, axis, ks[j]);
    if (accumulate) add_into_view(dst, src);
    else copy_view(dst, src);
  }
  return result;
}

Array concatenate(const Node& node, const std::vector<Array>& in) {
  const auto axis = static_cast<std::size_t>(node.attrs().get_int("axis"));
  Shape shape = in[0].shape();
  shape[axis] = 0;
  for (const Array& a : in) {
    for (std::size_t ax = 0; ax < shape.size(); ++ax) {
      if (ax != axis && a.shape()[ax] != in[0].shape()[ax]) {
        std::string s;
        for (std::size_t i = 0; i < in.size(); ++i) s += (i ? ", " : "") + shape_string(in[i].shape());
        fail(node, "dims other than axis " + std::to_string(axis) + " must match, got shapes " + s);
      }
    }
    shape[axis] += a.shape()[axis];
  }
  View out;
  Array result = new_array(shape, node.dtype(), &out);
  i64 pos = 0;
  for (const Array& a : in) {
    View src = view_of(a);
    View dst = out;
    dst.base += pos * out.strides[axis];
    dst.shape = src.shape;
    copy_view(dst, src);
    pos += src.shape[axis];
  }
  return result;
}

}  // namespace

Array eval_shape_op(const Node& node, const std::vector<Array>& in) {
  const Attrs& at = node.attrs();
  const View x = view_of(in[0]);
  switch (node.op()) {
    case OpCode::Reshape:
      return reshape(node, x, at.get_ints("shape"));
    case OpCode::ReshapeLike:
      return reshape(node, x, in[1].shape());
    case OpCode::Transpose: {
      const auto& perm = at.get_ints("perm");
      View v = x;
      for (std::size_t i = 0; i < perm.size(); ++i) {
        v.shape[i] = x.shape[perm[i]];
        v.strides[i] = x.strides[perm[i]];
      }
      return materialize(v);
    }
    case OpCode::ExpandDims: {
      const auto& axes = at.get_ints("axes");
      View v = x;
      for (i64 ax : axes) {  // sorted output positions: insert in order
        v.shape.insert(v.shape.begin() + ax, 1);
        v.strides.insert(v.strides.begin() + ax, 0);
      }
      return materialize(v);
    }
    case OpCode::Squeeze: {
      const auto& axes = at.get_ints("axes");
      View v = x;
      for (auto it = axes.rbegin(); it != axes.rend(); ++it) {
        if (x.shape[*it] != 1)
          fail(node, "cannot squeeze axis " + std::to_string(*it) + " of size " + std::to_string(x.shape[*it]) +
                         " (shape " + shape_string(x.shape) + ")");
        v.shape.erase(v.shape.begin() + *it);
        v.strides.erase(v.strides.begin() + *it);
      }
      return materialize(v);
    }
    case OpCode::BroadcastTo:
      return materialize(broadcast_view(node, x, node.input(0)->type().dims, at.get_ints("shape"), "cannot broadcast"));
    case OpCode::BroadcastLike:
      return materialize(broadcast_view(node, x, node.input(0)->type().dims, in[1].shape(), "cannot broadcast"));
    case OpCode::FillLike:
      return fill_array(x.shape, at.get_double("value"), at.get_dtype("dtype"));
    case OpCode::Concatenate:
      return concatenate(node, in);
    case OpCode::Unconcat: {  // (g, parts...): g's block along axis for parts[index]
      const i64 axis = at.get_int("axis"), index = at.get_int("index");
      i64 start = 0, total = 0;
      for (std::size_t k = 1; k < in.size(); ++k) {
        if (static_cast<i64>(k) - 1 < index) start += in[k].shape()[axis];
        total += in[k].shape()[axis];
      }
      if (total != x.shape[axis])
        fail(node, "the parts' sizes along axis " + std::to_string(axis) + " add up to " + std::to_string(total) +
                       " but the whole has " + std::to_string(x.shape[axis]));
      std::vector<i64> sl;
      for (std::size_t ax = 0; ax < x.shape.size(); ++ax) {
        const bool cut = static_cast<i64>(ax) == axis;
        sl.push_back(cut ? start : kNone);
        sl.push_back(cut ? start + in[index + 1].shape()[axis] : kNone);
        sl.push_back(1);
      }
      return materialize(slice_view(x, sl));
    }
    case OpCode::Flip: {
      View v = x;
      for (i64 ax : at.get_ints("axes")) {
        if (x.shape[ax] > 0) v.base += (x.shape[ax] - 1) * x.strides[ax];
        v.strides[ax] = -x.strides[ax];
      }
      return materialize(v);
    }
    case OpCode::Slice:
      return materialize(slice_view(x, at.get_ints("slices")));
    case OpCode::SetSlice: case OpCode::IncSlice: {
      View out;
      Array result = new_array(x.shape, x.dtype, &out);
      copy_view(out, x);
      const View target = slice_view(out, at.get_ints("slices"));
      const View y = broadcast_view(node, view_of(in[1]), node.input(1)->type().dims, target.shape,
                                    "cannot broadcast the value");
      if (node.op() == OpCode::SetSlice) copy_view(target, y);
      else add_into_view(target, y);
      return result;
    }
    case OpCode::Take:
      return take(node, in);
    case OpCode::SetTake:
      return put(node, in, false);
    case OpCode::IncTake:
      return put(node, in, true);
    default: break;
  }
  KILN_UNREACHABLE(op_name(node.op()) << " is not a shape op");
}

}  // namespace kiln::ir::interp
