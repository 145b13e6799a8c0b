#include "codegen/views.hpp"

#include "ir/interp_util.hpp"
#include "ir/interpreter.hpp"
#include "ir/shape_util.hpp"

namespace kiln::codegen {

namespace {

using i64 = std::int64_t;

// A view of x's buffer: element [0, ...] at x's element [0, ...] + `shift`
// elements.
Array view_of(const Array& x, const Shape& shape, const Shape& strides, i64 shift) {
  return Array::view(x.buffer(), shape, x.dtype(), strides, x.offset() + shift);
}

// The shape a reshape produces, or false where the interpreter reports an error.
bool reshape_target(const Shape& from, const std::vector<i64>& spec, Shape* out) {
  const i64 size = shape_size(from);
  *out = spec;
  i64 known = 1;
  int infer_at = -1;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == -1) infer_at = static_cast<int>(i);
    else known *= spec[i];
  }
  if (infer_at >= 0) {
    if (known == 0 || size % known != 0) return false;
    (*out)[static_cast<std::size_t>(infer_at)] = size / known;
    return true;
  }
  return known == size;
}

}  // namespace

Array eval_view(const ir::Node& node, const std::vector<Array>& in, const ViewFallback& fallback) {
  auto compute = [&] { return fallback ? fallback(node, in) : ir::eval_node(node, in); };
  const Array& x = in[0];
  const ir::Attrs& at = node.attrs();
  Shape shape = x.shape(), strides = x.strides();
  i64 shift = 0;
  switch (node.op()) {
    case ir::OpCode::Transpose: {
      const auto& perm = at.get_ints("perm");
      for (std::size_t i = 0; i < perm.size(); ++i) {
        shape[i] = x.shape()[static_cast<std::size_t>(perm[i])];
        strides[i] = x.strides()[static_cast<std::size_t>(perm[i])];
      }
      break;
    }
    case ir::OpCode::ExpandDims:
      for (i64 ax : at.get_ints("axes")) {  // sorted output positions: insert in order
        shape.insert(shape.begin() + ax, 1);
        strides.insert(strides.begin() + ax, 0);
      }
      break;
    case ir::OpCode::Squeeze: {
      const auto& axes = at.get_ints("axes");
      for (auto it = axes.rbegin(); it != axes.rend(); ++it) {
        if (x.shape()[static_cast<std::size_t>(*it)] != 1) return compute();  // its error
        shape.erase(shape.begin() + *it);
        strides.erase(strides.begin() + *it);
      }
      break;
    }
    case ir::OpCode::BroadcastTo: case ir::OpCode::BroadcastLike: {
      const Shape target = node.op() == ir::OpCode::BroadcastTo ? at.get_ints("shape") : in[1].shape();
      // The interpreter's rule and message; its byte strides are 0 or x's.
      // Metadata only (x may live on a device): no data pointer is read.
      const i64 es = static_cast<i64>(dtype_size(x.dtype()));
      ir::interp::View xv;
      xv.dtype = x.dtype();
      xv.shape = x.shape();
      for (i64 st : x.strides()) xv.strides.push_back(st * es);
      xv.base = nullptr;
      const ir::interp::View v =
          ir::interp::broadcast_view(node, xv, node.input(0)->type().dims, target, "cannot broadcast");
      shape = v.shape;
      strides.assign(v.strides.size(), 0);
      for (std::size_t i = 0; i < v.strides.size(); ++i) strides[i] = v.strides[i] / es;
      break;
    }
    case ir::OpCode::Reshape: case ir::OpCode::ReshapeLike: {
      const std::vector<i64> spec = node.op() == ir::OpCode::Reshape ? at.get_ints("shape") : in[1].shape();
      if (!x.is_contiguous() || !reshape_target(x.shape(), spec, &shape)) return compute();
      strides = contiguous_strides(shape);
      break;
    }
    case ir::OpCode::Slice: {
      const auto& sl = at.get_ints("slices");
      for (std::size_t ax = 0; ax < shape.size(); ++ax) {
        const i64 start = sl[3 * ax], stop = sl[3 * ax + 1], step = sl[3 * ax + 2];
        const i64 len = ir::slice_length(x.shape()[ax], start, stop, step);
        if (len > 0) shift += ir::slice_start(x.shape()[ax], start, step) * x.strides()[ax];
        shape[ax] = len;
        strides[ax] = x.strides()[ax] * step;
      }
      break;
    }
    case ir::OpCode::Flip:
      for (i64 ax : at.get_ints("axes")) {
        const auto a = static_cast<std::size_t>(ax);
        if (x.shape()[a] > 0) shift += (x.shape()[a] - 1) * x.strides()[a];
        strides[a] = -x.strides()[a];
      }
      break;
    default:
      return compute();
  }
  if (shape_size(shape) == 0) shift = 0;  // reaches no element; keep the offset in range
  return view_of(x, shape, strides, shift);
}

}  // namespace kiln::codegen
