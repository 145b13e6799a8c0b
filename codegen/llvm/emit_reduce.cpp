// The LLVM emitter's kernels with reduced dims (codegen/kernel.hpp's
// phases); emit.cpp builds the function frame and calls emit_reduction_rows.
#include <tuple>
#include <utility>

#include "codegen/llvm/emit_detail.hpp"

namespace kiln::codegen::emit_detail {

namespace {

// Emits a kernel with reduced dims (codegen/kernel.hpp's phases).
//
// Innermost dim reduced (row softmax, row sums): a row is one kept index;
// per row, phase p loops over the row's elements (the outer reduced dims,
// then a contiguous inner loop), folding into scalar accumulators that
// vectorise (float sum/prod with `reassoc`; max/min as llvm.maximum and
// llvm.minimum, which propagate NaN like the interpreter). Per-row values
// are scalars.
//
// Innermost dim kept (column sums of gradients): a row is one index of the
// kept dims but the innermost and one chunk of kKeptInnerBlock indices of
// the innermost dim (so threads split the work at chunks); phase p loops over every reduced index and, inside, over
// the chunk's contiguous elements, folding into per-element accumulator
// arrays on the stack. Per-row values live in such arrays too. The inner loop
// stays contiguous and vectorises without reassociation.
class ReductionEmitter {
 public:
  static constexpr std::int64_t kChunk = kKeptInnerBlock;

  ReductionEmitter(const Kernel& k, llvm::Function* f, llvm::IRBuilder<>& b, ElementEmitter& em)
      : k_(k), f_(f), b_(b), em_(em), ph_(kernel_phases(k)), r_(static_cast<std::size_t>(k.rank)), nops_(k.operands.size()) {}

  void emit(const std::vector<Value*>& data, const std::vector<std::vector<Value*>>& strides,
            const std::vector<Value*>& shape, Value* row_begin, Value* row_end, llvm::BasicBlock* exit) {
    data_ = data;
    strides_ = strides;
    shape_ = shape;
    llvm::LLVMContext& c = b_.getContext();
    Value* fast = b_.getTrue();
    for (std::size_t o = 0; o < nops_; ++o)
      if (inner_moves(o)) fast = b_.CreateAnd(fast, b_.CreateICmpEQ(strides_[o].back(), b_.getInt64(1)));
    // Elements per row, for mean.
    count_ = b_.getInt64(1);
    for (std::size_t d = 0; d < r_; ++d)
      if (k_.reduced[d]) count_ = b_.CreateMul(count_, shape_[d]);
    if (!k_.inner_reduced()) make_arrays();
    auto* fast_bb = llvm::BasicBlock::Create(c, "fast", f_);
    auto* slow_bb = llvm::BasicBlock::Create(c, "strided", f_);
    b_.CreateCondBr(fast, fast_bb, slow_bb);
    for (bool contiguous : {true, false}) {
      b_.SetInsertPoint(contiguous ? fast_bb : slow_bb);
      contiguous_ = contiguous;
      Loop rows(b_, f_, b_.CreateSub(row_end, row_begin), {}, contiguous ? "rows.fast" : "rows.strided");
      Value* row = b_.CreateAdd(row_begin, rows.index());
      // The row's kept index: every kept dim (inner reduced) or all but the
      // innermost (inner kept), in C order.
      std::vector<int> dims;
      for (std::size_t d = 0; d + (k_.inner_reduced() ? 0 : 1) < r_; ++d)
        if (!k_.reduced[d]) dims.push_back(static_cast<int>(d));
      if (k_.inner_reduced()) {
        emit_row_inner_reduced(offset(data_, row, dims));
      } else {
        // A row is also one block of the innermost dim (kernel.hpp's ABI).
        Value* blocks = b_.CreateUDiv(b_.CreateAdd(shape_.back(), b_.getInt64(kKeptInnerBlock - 1)),
                                      b_.getInt64(kKeptInnerBlock));
        emit_row_inner_kept(offset(data_, b_.CreateUDiv(row, blocks), dims), b_.CreateURem(row, blocks));
      }
      rows.end({});
      b_.CreateBr(exit);
    }
  }

 private:
  bool inner_moves(std::size_t o) const { return !k_.operands[o].broadcast.back(); }
  llvm::Type* mem(std::size_t o) const { return em_.mem_type(k_.operands[o].dtype); }
  const KernelExpr& expr(int i) const { return k_.body[static_cast<std::size_t>(i)]; }

  // Operand pointers `base` advanced to the flat index `idx` over `dims`
  // (C order; the index is split with div/rem over the dims' sizes).
  std::vector<Value*> offset(const std::vector<Value*>& base, Value* idx, const std::vector<int>& dims) {
    std::vector<Value*> off(nops_, nullptr);
    Value* rem = idx;
    for (std::size_t i = dims.size(); i-- > 0;) {
      const auto d = static_cast<std::size_t>(dims[i]);
      Value* at = i == 0 ? rem : b_.CreateURem(rem, shape_[d]);
      if (i > 0) rem = b_.CreateUDiv(rem, shape_[d]);
      for (std::size_t o = 0; o < nops_; ++o)
        if (strides_[o][d]) {
          Value* t = b_.CreateMul(at, strides_[o][d]);
          off[o] = off[o] ? b_.CreateAdd(off[o], t) : t;
        }
    }
    std::vector<Value*> out(nops_);
    for (std::size_t o = 0; o < nops_; ++o) out[o] = off[o] ? b_.CreateGEP(mem(o), base[o], off[o]) : base[o];
    return out;
  }
  Value* size_of(const std::vector<int>& dims) {
    Value* n = b_.getInt64(1);
    for (int d : dims) n = b_.CreateMul(n, shape_[static_cast<std::size_t>(d)]);
    return n;
  }
  // Element `j` along the innermost dim from `base`.
  Value* at_inner(const std::vector<Value*>& base, std::size_t o, Value* j) {
    if (!inner_moves(o)) return base[o];
    return b_.CreateGEP(mem(o), base[o], contiguous_ ? j : b_.CreateMul(j, strides_[o].back()));
  }

  // One expression from its arguments in `v`; `ptr(o)` is operand o's element.
  template <class Ptr>
  Value* compute(std::size_t i, const std::vector<Value*>& v, Ptr&& ptr) {
    const KernelExpr& e = k_.body[i];
    switch (e.kind) {
      case KernelExpr::Kind::Load: return em_.load(e.dtype, ptr(static_cast<std::size_t>(e.operand)));
      case KernelExpr::Kind::Const: return em_.constant(e);
      case KernelExpr::Kind::Op: {
        std::vector<Value*> args;
        for (int a : e.args) args.push_back(v[static_cast<std::size_t>(a)]);
        return em_.round_to(e.dtype, em_.op(e, operand_dtype(k_, e), args));
      }
      case KernelExpr::Kind::Reduce: break;
    }
    KILN_UNREACHABLE("a reduction computed as an element");
  }

  // ---- accumulators ----
  DType in_dtype(const KernelExpr& e) const { return operand_dtype(k_, e); }
  static bool unsigned_int(DType t) { return t == DType::U8 || t == DType::Bool; }
  static bool is_arg(const KernelExpr& e) { return e.op == OpCode::Argmax || e.op == OpCode::Argmin; }
  // The value accumulator's start (argmax/argmin: the best value so far;
  // their index accumulator starts at 0, which is also the answer when no
  // element beats the start, e.g. a row of -inf).
  Value* acc_init(const KernelExpr& e) {
    const DType t = in_dtype(e);
    llvm::Type* ty = em_.compute_type(t);
    if (is_float(t)) {
      switch (e.op) {
        case OpCode::Prod: return llvm::ConstantFP::get(ty, 1.0);
        case OpCode::Max: case OpCode::Argmax: return llvm::ConstantFP::getInfinity(ty, true);
        case OpCode::Min: case OpCode::Argmin: return llvm::ConstantFP::getInfinity(ty, false);
        default: return llvm::ConstantFP::get(ty, 0.0);
      }
    }
    const unsigned bits = ty->getIntegerBitWidth();
    switch (e.op) {
      case OpCode::Prod: return llvm::ConstantInt::get(ty, 1);
      case OpCode::All: return llvm::ConstantInt::getTrue(ty);
      case OpCode::Max: case OpCode::Argmax:
        return unsigned_int(t) ? llvm::ConstantInt::get(ty, 0)
                               : llvm::ConstantInt::get(b_.getContext(), llvm::APInt::getSignedMinValue(bits));
      case OpCode::Min: case OpCode::Argmin:
        return unsigned_int(t) ? llvm::ConstantInt::get(b_.getContext(), llvm::APInt::getMaxValue(bits))
                               : llvm::ConstantInt::get(b_.getContext(), llvm::APInt::getSignedMaxValue(bits));
      default: return llvm::ConstantInt::get(ty, 0);
    }
  }
  Value* combine(const KernelExpr& e, Value* acc, Value* v) {
    const DType t = in_dtype(e);
    if (is_float(t)) {
      llvm::FastMathFlags fm;
      fm.setAllowReassoc();  // only the reduction's own adds/muls: what lets them vectorise
      switch (e.op) {
        case OpCode::Sum: case OpCode::Mean: {
          Value* r = b_.CreateFAdd(acc, v);
          llvm::cast<llvm::Instruction>(r)->setFastMathFlags(fm);
          return r;
        }
        case OpCode::Prod: {
          Value* r = b_.CreateFMul(acc, v);
          llvm::cast<llvm::Instruction>(r)->setFastMathFlags(fm);
          return r;
        }
        case OpCode::Max: return b_.CreateBinaryIntrinsic(Intr::maximum, acc, v);
        case OpCode::Min: return b_.CreateBinaryIntrinsic(Intr::minimum, acc, v);
        default: break;
      }
      KILN_UNREACHABLE("no float reduction " << ir::op_name(e.op));
    }
    const bool uns = unsigned_int(t);
    switch (e.op) {
      case OpCode::Sum: return b_.CreateAdd(acc, v);
      case OpCode::Prod: return b_.CreateMul(acc, v);
      case OpCode::Max: return b_.CreateBinaryIntrinsic(uns ? Intr::umax : Intr::smax, acc, v);
      case OpCode::Min: return b_.CreateBinaryIntrinsic(uns ? Intr::umin : Intr::smin, acc, v);
      case OpCode::All: return b_.CreateAnd(acc, v);
      case OpCode::Any: return b_.CreateOr(acc, v);
      default: break;
    }
    KILN_UNREACHABLE("no integer reduction " << ir::op_name(e.op));
  }
  // argmax/argmin: does element v (at flat reduced index idx) replace the
  // best so far? The interpreter's rule: strictly better, so the first
  // occurrence wins; for floats the first NaN wins and nothing replaces it.
  // Returns the new best value and index.
  std::pair<Value*, Value*> arg_step(const KernelExpr& e, Value* best, Value* best_idx, Value* v, Value* idx) {
    const DType t = in_dtype(e);
    const bool mx = e.op == OpCode::Argmax;
    Value* take;
    if (is_float(t)) {
      Value* better = mx ? b_.CreateFCmpOGT(v, best) : b_.CreateFCmpOLT(v, best);
      take = b_.CreateAnd(b_.CreateFCmpORD(best, best), b_.CreateOr(b_.CreateFCmpUNO(v, v), better));
    } else if (unsigned_int(t)) {
      take = mx ? b_.CreateICmpUGT(v, best) : b_.CreateICmpULT(v, best);
    } else {
      take = mx ? b_.CreateICmpSGT(v, best) : b_.CreateICmpSLT(v, best);
    }
    return {b_.CreateSelect(take, v, best), b_.CreateSelect(take, idx, best_idx)};
  }
  // The reduction's value from its accumulator: mean divides by the count
  // (0/0 = NaN for an empty row, as the interpreter); f16/bf16 round once.
  Value* finish(const KernelExpr& e, Value* acc) {
    if (!is_float(in_dtype(e)) || is_arg(e)) return acc;
    if (e.op == OpCode::Mean) acc = b_.CreateFDiv(acc, b_.CreateSIToFP(count_, acc->getType()));
    return em_.round_to(e.dtype, acc);
  }

  // The reductions of phase p (expression indices).
  std::vector<std::size_t> reductions_of(int p) const {
    std::vector<std::size_t> rs;
    for (std::size_t i = 0; i < k_.body.size(); ++i)
      if (k_.body[i].kind == KernelExpr::Kind::Reduce && ph_.phase[static_cast<std::size_t>(k_.body[i].args[0])] == p)
        rs.push_back(i);
    return rs;
  }
  bool stores_in(int p) const { return !k_.body.back().row && p == ph_.num_phases - 1; }

  // ---- innermost dim reduced ----
  void emit_row_inner_reduced(const std::vector<Value*>& base) {
    std::vector<Value*> v(k_.body.size(), nullptr);  // per-row values
    auto row_ptr = [&](std::size_t o) { return base[o]; };
    for (std::size_t i = 0; i < k_.body.size(); ++i)
      if (k_.body[i].row && ph_.phase[i] == 0) v[i] = compute(i, v, row_ptr);
    std::vector<int> outer;  // the reduced dims but the innermost
    for (std::size_t d = 0; d + 1 < r_; ++d)
      if (k_.reduced[d]) outer.push_back(static_cast<int>(d));
    const std::size_t out = nops_ - 1;
    const int cached = cached_value();
    for (int p = 0; p < ph_.num_phases; ++p) {
      const std::vector<std::size_t> rs = reductions_of(p);
      // Carried: each reduction's accumulator, then argmax/argmin's indices.
      std::vector<Value*> init;
      std::vector<std::size_t> idx_at(rs.size(), 0);
      for (std::size_t i : rs) init.push_back(acc_init(k_.body[i]));
      for (std::size_t a = 0; a < rs.size(); ++a)
        if (is_arg(k_.body[rs[a]])) {
          idx_at[a] = init.size();
          init.push_back(b_.getInt64(0));
        }
      Loop lo(b_, f_, size_of(outer), init, "red.outer");
      const std::vector<Value*> pb = offset(base, lo.index(), outer);
      std::vector<Value*> oacc;
      for (std::size_t a = 0; a < init.size(); ++a) oacc.push_back(lo.carried(a));
      Loop li(b_, f_, shape_.back(), oacc, "red.inner");
      std::vector<Value*> e = v;
      auto ptr = [&](std::size_t o) { return at_inner(pb, o, li.index()); };
      for (std::size_t i = 0; i < k_.body.size(); ++i) {
        if (k_.body[i].row || ph_.phase[i] > p) continue;
        if (stores_in(p) && static_cast<int>(i) == cached) e[i] = em_.load(k_.output().dtype, ptr(out));
        else e[i] = compute(i, e, ptr);
      }
      if (cached >= 0 && p == ph_.num_phases - 2) em_.store(k_.output().dtype, e[static_cast<std::size_t>(cached)], ptr(out));
      std::vector<Value*> next(init.size());
      for (std::size_t a = 0; a < rs.size(); ++a) {
        const KernelExpr& x = k_.body[rs[a]];
        Value* val = e[static_cast<std::size_t>(x.args[0])];
        if (!is_arg(x)) {
          next[a] = combine(x, li.carried(a), val);
          continue;
        }
        Value* flat = b_.CreateAdd(b_.CreateMul(lo.index(), shape_.back()), li.index());
        std::tie(next[a], next[idx_at[a]]) = arg_step(x, li.carried(a), li.carried(idx_at[a]), val, flat);
      }
      if (stores_in(p)) em_.store(k_.output().dtype, e.back(), ptr(out));
      const std::vector<Value*> iacc = li.end(next);
      const std::vector<Value*> acc = lo.end(iacc);
      for (std::size_t a = 0; a < rs.size(); ++a)
        v[rs[a]] = is_arg(k_.body[rs[a]]) ? acc[idx_at[a]] : finish(k_.body[rs[a]], acc[a]);
      for (std::size_t i = 0; i < k_.body.size(); ++i)
        if (k_.body[i].row && !v[i] && ph_.phase[i] <= p + 1) v[i] = compute(i, v, row_ptr);
    }
    if (k_.body.back().row) em_.store(k_.output().dtype, v.back(), base[out]);
  }

  // A per-element value that both the last reduction phase and the store
  // phase compute (softmax's exp(x - max)), worth keeping in the output in
  // between (written by the one, read back from cache by the other) because
  // computing it costs a libm call or more. Needs an output that iterates
  // every dim (one element per index, one row per thread) of the value's
  // dtype, and that no input aliases (the executor allocates it fresh).
  // -1: none.
  int cached_value() const {
    const std::size_t n = k_.body.size();
    if (k_.body.back().row || ph_.num_phases < 2) return -1;
    for (bool b : k_.output().broadcast)
      if (b) return -1;
    // The per-element expressions that `targets` read, directly or not.
    auto cone = [&](std::vector<char> marked) {
      for (std::size_t i = n; i-- > 0;)
        if (marked[i] && !k_.body[i].row)
          for (int a : k_.body[i].args) marked[static_cast<std::size_t>(a)] = !k_.body[static_cast<std::size_t>(a)].row;
      return marked;
    };
    std::vector<char> root(n, 0), red(n, 0);
    root[n - 1] = 1;
    for (std::size_t i : reductions_of(ph_.num_phases - 2)) red[static_cast<std::size_t>(k_.body[i].args[0])] = 1;
    root = cone(root);
    red = cone(red);
    int best = -1;
    std::int64_t best_cost = 15;
    for (std::size_t x = 0; x + 1 < n; ++x) {
      if (!root[x] || !red[x] || k_.body[x].dtype != k_.output().dtype) continue;
      std::vector<char> one(n, 0);
      one[x] = 1;
      one = cone(one);
      std::int64_t cost = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const KernelExpr& e = k_.body[i];
        if (!one[i] || e.kind != KernelExpr::Kind::Op) continue;
        const bool heavy = ir::op_info(e.op).category == ir::OpCategory::UnaryFloat || e.op == OpCode::Pow ||
                           e.op == OpCode::Atan2;
        cost += heavy ? 16 : 1;
      }
      if (cost >= best_cost) {
        best = static_cast<int>(x);
        best_cost = cost;
      }
    }
    return best;
  }

  // ---- innermost dim kept ----
  // Stack arrays of kChunk values: an accumulator per reduction, and one per
  // per-row value computed after a phase.
  void make_arrays() {
    arrays_.assign(k_.body.size(), nullptr);
    values_.assign(k_.body.size(), nullptr);
    array_types_.assign(k_.body.size(), nullptr);
    for (std::size_t i = 0; i < k_.body.size(); ++i) {
      const KernelExpr& e = k_.body[i];
      if (!e.row || ph_.phase[i] == 0) continue;
      // A reduction's array holds its accumulator, then its value;
      // argmax/argmin's the index, with the best values in `values_`.
      const bool acc = e.kind == KernelExpr::Kind::Reduce && !is_arg(e);
      array_types_[i] = em_.compute_type(acc ? in_dtype(e) : e.dtype);
      arrays_[i] = b_.CreateAlloca(llvm::ArrayType::get(array_types_[i], static_cast<std::uint64_t>(kChunk)));
      if (e.kind == KernelExpr::Kind::Reduce && is_arg(e))
        values_[i] = b_.CreateAlloca(llvm::ArrayType::get(em_.compute_type(in_dtype(e)), static_cast<std::uint64_t>(kChunk)));
    }
  }
  Value* slot(std::size_t i, Value* j) { return b_.CreateGEP(array_types_[i], arrays_[i], j); }
  Value* value_slot(std::size_t i, Value* j) {
    return b_.CreateGEP(em_.compute_type(in_dtype(k_.body[i])), values_[i], j);
  }

  void emit_row_inner_kept(const std::vector<Value*>& base, Value* block) {
    std::vector<int> red;
    for (std::size_t d = 0; d < r_; ++d)
      if (k_.reduced[d]) red.push_back(static_cast<int>(d));
    Value* n = shape_.back();
    Value* j0 = b_.CreateMul(block, b_.getInt64(kChunk));
    const int cached = cached_value();
    Value* m = b_.CreateBinaryIntrinsic(Intr::smin, b_.getInt64(kChunk), b_.CreateSub(n, j0));
    std::vector<Value*> cb(nops_);  // the chunk's first element
    for (std::size_t o = 0; o < nops_; ++o) cb[o] = at_inner(base, o, j0);
    const std::size_t out = nops_ - 1;
    // Per-row values at element j of the chunk: loads and constants are
    // recomputed, later ones read from their arrays.
    auto row_values = [&](std::vector<Value*>& v, Value* j, auto&& ptr) {
      for (std::size_t i = 0; i < k_.body.size(); ++i) {
        if (!k_.body[i].row) continue;
        if (ph_.phase[i] == 0) v[i] = compute(i, v, ptr);
        else if (arrays_[i] && ph_.phase[i] <= cur_phase_) v[i] = b_.CreateLoad(array_types_[i], slot(i, j));
      }
    };
    for (int p = 0; p < ph_.num_phases; ++p) {
      cur_phase_ = p;
      const std::vector<std::size_t> rs = reductions_of(p);
      {
        Loop li(b_, f_, m, {}, "acc.init");
        for (std::size_t i : rs) {
          if (!is_arg(k_.body[i])) {
            b_.CreateStore(acc_init(k_.body[i]), slot(i, li.index()));
            continue;
          }
          b_.CreateStore(acc_init(k_.body[i]), value_slot(i, li.index()));
          b_.CreateStore(b_.getInt64(0), slot(i, li.index()));
        }
        li.end({});
      }
      Loop lq(b_, f_, size_of(red), {}, "red");
      const std::vector<Value*> qb = offset(cb, lq.index(), red);
      Loop lj(b_, f_, m, {}, "chunk");
      Value* j = lj.index();
      auto ptr = [&](std::size_t o) { return at_inner(qb, o, j); };
      std::vector<Value*> e(k_.body.size(), nullptr);
      for (std::size_t i = 0; i < k_.body.size(); ++i) {
        if (k_.body[i].row) {
          if (ph_.phase[i] == 0) e[i] = compute(i, e, ptr);
          else if (ph_.phase[i] <= p) e[i] = b_.CreateLoad(array_types_[i], slot(i, j));
        } else if (ph_.phase[i] <= p) {
          if (stores_in(p) && static_cast<int>(i) == cached) e[i] = em_.load(k_.output().dtype, ptr(out));
          else e[i] = compute(i, e, ptr);
        }
      }
      if (cached >= 0 && p == ph_.num_phases - 2) em_.store(k_.output().dtype, e[static_cast<std::size_t>(cached)], ptr(out));
      for (std::size_t i : rs) {
        const KernelExpr& x = k_.body[i];
        Value* val = e[static_cast<std::size_t>(x.args[0])];
        Value* s = slot(i, j);
        if (!is_arg(x)) {
          b_.CreateStore(combine(x, b_.CreateLoad(array_types_[i], s), val), s);
          continue;
        }
        Value* vs = value_slot(i, j);
        llvm::Type* vt = em_.compute_type(in_dtype(x));
        auto [best, best_idx] = arg_step(x, b_.CreateLoad(vt, vs), b_.CreateLoad(array_types_[i], s), val, lq.index());
        b_.CreateStore(best, vs);
        b_.CreateStore(best_idx, s);
      }
      if (stores_in(p)) em_.store(k_.output().dtype, e.back(), ptr(out));
      lj.end({});
      lq.end({});
      if (rs.empty()) continue;
      // The per-row values this phase completes, element by element.
      Loop lf(b_, f_, m, {}, "row.values");
      Value* jf = lf.index();
      auto fptr = [&](std::size_t o) { return at_inner(cb, o, jf); };
      std::vector<Value*> v(k_.body.size(), nullptr);
      row_values(v, jf, fptr);
      for (std::size_t i = 0; i < k_.body.size(); ++i) {
        const KernelExpr& x = k_.body[i];
        if (!x.row || ph_.phase[i] != p + 1) continue;
        if (x.kind == KernelExpr::Kind::Reduce) v[i] = finish(x, b_.CreateLoad(array_types_[i], slot(i, jf)));
        else v[i] = compute(i, v, fptr);
        b_.CreateStore(v[i], slot(i, jf));
      }
      lf.end({});
    }
    if (k_.body.back().row) {
      Loop ls(b_, f_, m, {}, "store");
      // From its array, or (a kernel without reductions: a squeeze) computed here.
      Value* v = nullptr;
      if (arrays_.back()) {
        v = b_.CreateLoad(array_types_.back(), slot(k_.body.size() - 1, ls.index()));
      } else {
        std::vector<Value*> e(k_.body.size(), nullptr);
        auto sptr = [&](std::size_t o) { return at_inner(cb, o, ls.index()); };
        for (std::size_t i = 0; i < k_.body.size(); ++i) e[i] = compute(i, e, sptr);
        v = e.back();
      }
      em_.store(k_.output().dtype, v, at_inner(cb, out, ls.index()));
      ls.end({});
    }
  }

  const Kernel& k_;
  llvm::Function* f_;
  llvm::IRBuilder<>& b_;
  ElementEmitter& em_;
  KernelPhases ph_;
  std::size_t r_, nops_;
  std::vector<Value*> data_;
  std::vector<std::vector<Value*>> strides_;
  std::vector<Value*> shape_;
  Value* count_ = nullptr;
  bool contiguous_ = true;
  int cur_phase_ = 0;
  std::vector<Value*> arrays_, values_;
  std::vector<llvm::Type*> array_types_;
};

}  // namespace

void emit_reduction_rows(const Kernel& k, llvm::Function* f, llvm::IRBuilder<>& b, ElementEmitter& em,
                         const std::vector<Value*>& data, const std::vector<std::vector<Value*>>& strides,
                         const std::vector<Value*>& shape, Value* row_begin, Value* row_end, llvm::BasicBlock* exit) {
  ReductionEmitter(k, f, b, em).emit(data, strides, shape, row_begin, row_end, exit);
}

}  // namespace kiln::codegen::emit_detail
