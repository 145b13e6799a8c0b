#include "codegen/kernel.hpp"

#include <cstdio>

namespace kiln::codegen {

int add_load(Kernel& k, int operand) {
  KernelExpr e;
  e.kind = KernelExpr::Kind::Load;
  e.operand = operand;
  e.dtype = k.operands.at(static_cast<std::size_t>(operand)).dtype;
  k.body.push_back(std::move(e));
  return static_cast<int>(k.body.size()) - 1;
}

int add_const(Kernel& k, DType t, double fvalue, std::int64_t ivalue) {
  KernelExpr e;
  e.kind = KernelExpr::Kind::Const;
  e.dtype = t;
  if (is_float(t)) e.fvalue = fvalue;
  else e.ivalue = t == DType::Bool ? ivalue != 0 : ivalue;
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
  k.body.push_back(std::move(e));
  return static_cast<int>(k.body.size()) - 1;
}

DType operand_dtype(const Kernel& k, const KernelExpr& e) {
  if (e.kind != KernelExpr::Kind::Op || e.args.empty()) return e.dtype;
  const std::size_t i = e.op == ir::OpCode::Where ? 1 : 0;
  return k.body[static_cast<std::size_t>(e.args[i])].dtype;
}

namespace {

std::string operand_str(const KernelOperand& o) {
  std::string s = std::string(dtype_name(o.dtype)) + "[";
  for (std::size_t d = 0; d < o.broadcast.size(); ++d) s += std::string(d ? "," : "") + (o.broadcast[d] ? "b" : "_");
  return s + "]";
}

}  // namespace

std::string print_kernel(const Kernel& k) {
  std::string s = "kernel rank=" + std::to_string(k.rank) + " (";
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
    }
    s += " : " + std::string(dtype_name(e.dtype)) + "\n";
  }
  s += "  store %" + std::to_string(k.body.size() - 1) + "\n";
  return s;
}

void verify_kernel(const Kernel& k) {
  KILN_CHECK(!k.operands.empty(), "a kernel without an output");
  KILN_CHECK(!k.body.empty(), "a kernel without a body");
  for (const KernelOperand& o : k.operands)
    KILN_CHECK(static_cast<int>(o.broadcast.size()) == k.rank, "an operand of the wrong rank");
  for (std::size_t i = 0; i < k.body.size(); ++i) {
    const KernelExpr& e = k.body[i];
    switch (e.kind) {
      case KernelExpr::Kind::Load:
        KILN_CHECK(e.operand >= 0 && static_cast<std::size_t>(e.operand) < k.num_inputs(), "load of operand " << e.operand);
        KILN_CHECK(e.dtype == k.operands[static_cast<std::size_t>(e.operand)].dtype, "load with the wrong dtype");
        break;
      case KernelExpr::Kind::Const: break;
      case KernelExpr::Kind::Op: {
        KILN_CHECK(ir::is_elementwise(e.op), ir::op_name(e.op) << " in a kernel");
        const int arity = ir::op_info(e.op).arity;
        KILN_CHECK(static_cast<int>(e.args.size()) == arity, ir::op_name(e.op) << " with " << e.args.size() << " args");
        for (int a : e.args) KILN_CHECK(a >= 0 && static_cast<std::size_t>(a) < i, "a use before its definition");
        break;
      }
    }
  }
  KILN_CHECK(k.body.back().dtype == k.output().dtype, "the stored value has the wrong dtype");
}

}  // namespace kiln::codegen
