// Partitioning a graph into steps: fused elementwise and reduction kernels
// and host ops.
//
// Maximal regions of elementwise nodes and reductions become one Kernel
// each: a node joins its consumer's cluster when every user of it is in that
// same cluster (and it is not itself an output), so each cluster has one
// output, its root. A cluster's reductions share their reduced axes and
// their input's rank; its nodes are computed either over the reductions'
// input space (elementwise producers, and consumers reading a keepdims
// result broadcast back, as softmax's `e / sum(e, -1, keepdims)`) or over
// the reduced shape (consumers of a keepdims=false result, and squeezes of
// a keepdims result's reduced axes). 0-d constants
// are folded into the kernels that read them. f32/f64 matmuls
// are BLAS steps; shape ops that can be a strided view of their input
// (transpose, expand_dims, squeeze, broadcasts, slice, flip, reshape) are view
// steps. Everything else (leaves, reductions over no axes or of 0-d values,
// integer matmul, indexing) is a host step, run by the interpreter's
// ir::eval_node.
#pragma once

#include <string>
#include <vector>

#include "codegen/kernel.hpp"
#include "ir/node.hpp"

namespace kiln::codegen {

struct Cluster {
  const ir::Node* root = nullptr;
  std::vector<const ir::Node*> nodes;   // the fused nodes, inputs before users, root last
  std::vector<const ir::Node*> inputs;  // the values the kernel reads, operand order
  Kernel kernel;
  // Precomputed for the run-time shape checks (codegen/bind.cpp): per node,
  // where each of its inputs' shapes comes from — i < inputs.size(): input
  // i; inputs.size() + j: nodes[j]; -1: an inline 0-d constant.
  std::vector<std::vector<int>> arg_slots;
  std::vector<int> reductions;  // indices into `nodes` of the reductions
  bool root_kept = false;       // the root is in the reduced shape (keepdims=false)
};

struct Step {
  enum class Kind : std::uint8_t { Host, Kernel, Matmul, View };
  Kind kind = Kind::Host;
  const ir::Node* node = nullptr;  // the node computed; Kernel: the cluster's root
  int cluster = -1;                // Kernel: index into Plan::clusters
};

struct Plan {
  std::vector<ir::NodeRef> roots;  // keeps the graph alive
  std::vector<Step> steps;         // in an order that respects every dependence
  std::vector<Cluster> clusters;
  std::size_t num_kernels() const { return clusters.size(); }
};

// Partitions the graph computing `roots` (after passes::optimize).
Plan partition(const std::vector<ir::NodeRef>& roots);

// One line per step, for tests and debugging: "kernel 0" (the cluster),
// "view transpose", "matmul (blas)", "host sum".
std::string print_plan(const Plan& plan);

// Is `n` a 0-d constant that kernels fold in as a literal?
bool is_inline_constant(const ir::Node& n);

}  // namespace kiln::codegen
