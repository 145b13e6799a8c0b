#include "codegen/kernel.hpp"

#include <algorithm>
#include <cstdio>

namespace kiln::codegen {

bool Kernel::has_reduction() const { return std::find(reduced.begin(), reduced.end(), true) != reduced.end(); }

bool is_kernel_reduction(ir::OpCode op) {
  switch (op) {
    case ir::OpCode::Sum: case ir::OpCode::Prod: case ir::OpCode::Max: case ir::OpCode::Min:
    case ir::OpCode::Mean: case ir::OpCode::All: case ir::OpCode::Any: case ir::OpCode::Argmax:
    case ir::OpCode::Argmin:
      return true;
    default:
      return false;
  }
}

namespace {

// Is operand `o` broadcast along every reduced dim (one value per row)?
bool per_row_operand(const Kernel& k, int o) {
  if (!k.has_reduction()) return false;
  const KernelOperand& op = k.operands.at(static_cast<std::size_t>(o));
  for (std::size_t d = 0; d < k.reduced.size(); ++d)
    if (k.reduced[d] && !op.broadcast[d]) return false;
  return true;
}

}  // namespace

int add_load(Kernel& k, int operand) {
  KernelExpr e;
  e.kind = KernelExpr::Kind::Load;
  e.operand = operand;
  e.dtype = k.operands.at(static_cast<std::size_t>(operand)).dtype;
  e.row = per_row_operand(k, operand);
  k.body.push_back(std::move(e));
  return static_cast<int>(k.body.size()) - 1;
}

int add_reduce(Kernel& k, ir::OpCode op, DType t, int arg) {
  KernelExpr e;
  e.kind = KernelExpr::Kind::Reduce;
  e.op = op;
  e.dtype = t;
  e.args = {arg};
  e.row = true;
  k.body.push_back(std::move(e));
  return static_cast<int>(k.body.size()) - 1;
}

int add_const(Kernel& k, DType t, double fvalue, std::int64_t ivalue) {
  KernelExpr e;
  e.kind = KernelExpr::Kind::Const;
  e.dtype = t;
  if (is_float(t)) e.fvalue = fvalue;
  else e.ivalue = t == DType::Bool ? ivalue != 0 : ivalue;
  e.row = k.has_reduction();
  k.body.push_back(std::move(e));
  return static_cast<int>(k.body.size()) - 1;
}

int add_op(Kernel& k, ir::OpCode op, DType t, std::vector<int> args, std::int64_t attr) {
  KernelExpr e;
  e.kind = KernelExpr::Kind::Op;
  e.op = op;
  e.dtype = t;
  e.args = std::move(args);
  e.attr = attr;
  e.row = k.has_reduction();
  for (int a : e.args) e.row = e.row && k.body.at(static_cast<std::size_t>(a)).row;
  k.body.push_back(std::move(e));
  return static_cast<int>(k.body.size()) - 1;
}

DType operand_dtype(const Kernel& k, const KernelExpr& e) {
  if (e.kind == KernelExpr::Kind::Reduce) return k.body[static_cast<std::size_t>(e.args[0])].dtype;
  if (e.kind != KernelExpr::Kind::Op || e.args.empty()) return e.dtype;
  const std::size_t i = e.op == ir::OpCode::Where ? 1 : 0;
  return k.body[static_cast<std::size_t>(e.args[i])].dtype;
}

namespace {

std::string operand_str(const KernelOperand& o) {
  std::string s = std::string(dtype_name(o.dtype)) + "[";
  for (std::size_t d = 0; d < o.broadcast.size(); ++d) s += std::string(d ? "," : "") + (o.broadcast[d] ? "b" : "_");
  s += "]";
  if (!o.axes.empty()) {
    s += "@(";
    for (std::size_t a = 0; a < o.axes.size(); ++a) s += (a ? "," : "") + std::to_string(o.axes[a]);
    s += ")";
  }
  return s;
}

}  // namespace

KernelPhases kernel_phases(const Kernel& k) {
  KernelPhases p;
  p.phase.assign(k.body.size(), 0);
  for (std::size_t i = 0; i < k.body.size(); ++i) {
    const KernelExpr& e = k.body[i];
    int ph = 0;
    for (int a : e.args) ph = std::max(ph, p.phase[static_cast<std::size_t>(a)]);
    if (e.kind == KernelExpr::Kind::Reduce) {
      p.reduction_phases = std::max(p.reduction_phases, ph + 1);
      ++ph;  // readable once the loop of its argument's phase is done
    }
    p.phase[i] = ph;
  }
  p.num_phases = k.body.back().row ? p.reduction_phases : std::max(p.reduction_phases, p.phase.back() + 1);
  return p;
}

std::string print_kernel(const Kernel& k) {
  std::string s = "kernel rank=" + std::to_string(k.rank);
  if (k.has_reduction()) {
    s += " reduce=[";
    for (std::size_t d = 0; d < k.reduced.size(); ++d) s += std::string(d ? "," : "") + (k.reduced[d] ? "r" : "_");
    s += "]";
  }
  s += " (";
  for (std::size_t i = 0; i < k.num_inputs(); ++i)
    s += (i ? ", in" : "in") + std::to_string(i) + ": " + operand_str(k.operands[i]);
  s += ") -> out: " + operand_str(k.output()) + "\n";
  for (std::size_t i = 0; i < k.body.size(); ++i) {
    const KernelExpr& e = k.body[i];
    s += "  %" + std::to_string(i) + " = ";
    switch (e.kind) {
      case KernelExpr::Kind::Load: s += "load in" + std::to_string(e.operand); break;
      case KernelExpr::Kind::Const: {
        char buf[64];
        if (is_float(e.dtype)) std::snprintf(buf, sizeof buf, "%.17g", e.fvalue);
        else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(e.ivalue));
        s += std::string("const ") + buf;
        break;
      }
      case KernelExpr::Kind::Op:
        s += std::string(ir::op_name(e.op));
        if (e.op == ir::OpCode::Polygamma) s += "[n=" + std::to_string(e.attr) + "]";
        for (std::size_t a = 0; a < e.args.size(); ++a) s += (a ? ", %" : " %") + std::to_string(e.args[a]);
        break;
      case KernelExpr::Kind::Reduce:
        s += "reduce " + std::string(ir::op_name(e.op)) + " %" + std::to_string(e.args[0]);
        break;
    }
    s += " : " + std::string(dtype_name(e.dtype)) + (e.row ? " row" : "") + "\n";
  }
  s += "  store %" + std::to_string(k.body.size() - 1) + "\n";
  return s;
}

void verify_kernel(const Kernel& k) {
  KILN_CHECK(!k.operands.empty(), "a kernel without an output");
  KILN_CHECK(!k.body.empty(), "a kernel without a body");
  KILN_CHECK(k.reduced.empty() || static_cast<int>(k.reduced.size()) == k.rank, "a reduced mask of the wrong rank");
  for (const KernelOperand& o : k.operands) {
    KILN_CHECK(static_cast<int>(o.broadcast.size()) == k.rank, "an operand of the wrong rank");
    for (std::size_t a = 0; a < o.axes.size(); ++a)
      KILN_CHECK(o.axes[a] >= 0 && o.axes[a] < k.rank && (a == 0 || o.axes[a] > o.axes[a - 1]), "a bad operand axis map");
  }
  const bool red = k.has_reduction();
  auto row_of = [&](int a) { return k.body[static_cast<std::size_t>(a)].row; };
  for (std::size_t i = 0; i < k.body.size(); ++i) {
    const KernelExpr& e = k.body[i];
    switch (e.kind) {
      case KernelExpr::Kind::Load:
        KILN_CHECK(e.operand >= 0 && static_cast<std::size_t>(e.operand) < k.num_inputs(), "load of operand " << e.operand);
        KILN_CHECK(e.dtype == k.operands[static_cast<std::size_t>(e.operand)].dtype, "load with the wrong dtype");
        KILN_CHECK(e.row == per_row_operand(k, e.operand), "a load with the wrong row flag");
        break;
      case KernelExpr::Kind::Const: KILN_CHECK(e.row == red, "a constant with the wrong row flag"); break;
      case KernelExpr::Kind::Reduce:
        KILN_CHECK(red, "a reduction in a kernel without reduced dims");
        KILN_CHECK(is_kernel_reduction(e.op), ir::op_name(e.op) << " as a kernel reduction");
        KILN_CHECK(e.args.size() == 1 && e.args[0] >= 0 && static_cast<std::size_t>(e.args[0]) < i,
                   "a reduction's argument");
        KILN_CHECK(!row_of(e.args[0]), "a reduction of a per-row value");
        KILN_CHECK(e.row, "a reduction that is not per-row");
        break;
      case KernelExpr::Kind::Op: {
        KILN_CHECK(ir::is_elementwise(e.op), ir::op_name(e.op) << " in a kernel");
        const int arity = ir::op_info(e.op).arity;
        KILN_CHECK(static_cast<int>(e.args.size()) == arity, ir::op_name(e.op) << " with " << e.args.size() << " args");
        bool row = red;
        for (int a : e.args) {
          KILN_CHECK(a >= 0 && static_cast<std::size_t>(a) < i, "a use before its definition");
          row = row && row_of(a);
        }
        KILN_CHECK(e.row == row, "an op with the wrong row flag");
        break;
      }
    }
  }
  KILN_CHECK(k.body.back().dtype == k.output().dtype, "the stored value has the wrong dtype");
  if (red) {
    // A per-row output is broadcast along every reduced dim (stored once per row).
    for (std::size_t d = 0; d < k.reduced.size(); ++d)
      if (k.reduced[d] && k.body.back().row)
        KILN_CHECK(k.output().broadcast[d], "a per-row output iterating a reduced dim");
  }
}

}  // namespace kiln::codegen
