#include "codegen/bind.hpp"

#include <unordered_map>

#include "ir/interp_util.hpp"

namespace kiln::codegen {

Shape cluster_output_shape(const Cluster& c, const std::vector<const Array*>& ins) {
  std::unordered_map<const ir::Node*, Shape> shapes;
  for (std::size_t i = 0; i < c.inputs.size(); ++i) shapes[c.inputs[i]] = ins[i]->shape();
  static const Shape kScalar;
  for (const ir::Node* n : c.nodes) {
    std::vector<const Shape*> ss;
    std::vector<const std::vector<ir::Dim>*> dims;
    for (const ir::NodeRef& in : n->inputs()) {
      auto it = shapes.find(in.get());
      ss.push_back(it == shapes.end() ? &kScalar : &it->second);  // inline constants are 0-d
      dims.push_back(&in->type().dims);
    }
    Shape out;
    if (ss.size() == 1) {
      out = *ss[0];
    } else {
      std::string why;
      if (!ir::interp::broadcast_runtime(ss, dims, &out, &why)) {
        std::string s;
        for (std::size_t i = 0; i < ss.size(); ++i)
          s += (i == 0 ? "" : i + 1 == ss.size() ? " and " : ", ") + ir::interp::shape_string(*ss[i]);
        ir::interp::fail(*n, "cannot broadcast shapes " + s + (why.empty() ? "" : ": " + why));
      }
    }
    shapes[n] = std::move(out);
  }
  return shapes.at(c.root);
}

void bind_kernel(const Cluster& c, const std::vector<const Array*>& ins, const Array& out, KernelArgs* args) {
  KernelArgs& a = *args;
  a.space = out.shape();
  const std::size_t r = a.space.size();
  const std::size_t nops = ins.size() + 1;
  a.strides.assign(nops, Shape(r, 0));
  a.bufs.resize(nops);
  for (std::size_t o = 0; o < ins.size(); ++o) {
    const Array& in = *ins[o];
    const std::size_t lead = r - in.shape().size();
    for (std::size_t ax = 0; ax < in.shape().size(); ++ax)
      if (in.shape()[ax] == a.space[lead + ax]) a.strides[o][lead + ax] = in.strides()[ax];
    a.bufs[o] = {in.raw_data(), a.space.data(), a.strides[o].data()};
  }
  a.strides.back() = out.strides();
  a.bufs.back() = {out.raw_data(), a.space.data(), a.strides.back().data()};
  a.rows = 1;
  for (std::size_t d = 0; d + 1 < r; ++d) a.rows *= a.space[d];
  if (r == 0) a.rows = 1;
  a.splittable_row = r > 0;
}

}  // namespace kiln::codegen
