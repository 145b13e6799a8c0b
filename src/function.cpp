// Shared variables and function(): checking what the user asked for,
// applying givens, and running the graph (on the reference interpreter
// until a native backend takes over).
#include "kiln/function.hpp"

#include <unordered_map>
#include <unordered_set>

#include "codegen/cuda/cuda_function.hpp"
#include "codegen/native_function.hpp"
#include "ir/graph.hpp"
#include "ir/interpreter.hpp"
#include "ir/printer.hpp"
#include "passes/pipeline.hpp"
#include "runtime/cuda_driver.hpp"
#include "src/frontend.hpp"

namespace kiln {

using namespace detail;
using ir::Attrs;
using ir::Node;

// ---- shared variables ----

namespace {

struct SharedRegistry {
  std::mutex mu;
  std::unordered_map<std::int64_t, std::shared_ptr<SharedState>> states;
};
SharedRegistry& registry() {
  static SharedRegistry* r = new SharedRegistry;  // outlives every node
  return *r;
}
void release_shared(std::int64_t id) {
  SharedRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.states.erase(id);
}

std::string shape_of(const Array& a) { return std::string(dtype_name(a.dtype())) + shape_str(a.shape()); }

// Does a concrete array fit a tensor type? Returns the reason when not.
std::string mismatch(const ir::TensorType& t, const Array& a) {
  if (a.dtype() != t.dtype)
    return "dtype " + std::string(dtype_name(a.dtype())) + " where " + std::string(dtype_name(t.dtype)) +
           " is expected (convert with astype)";
  if (a.ndim() != t.rank())
    return std::to_string(a.ndim()) + " dims where " + std::to_string(t.rank()) + " are expected";
  for (std::int64_t i = 0; i < t.rank(); ++i)
    if (t.dims[i].known() && t.dims[i].size != a.shape()[i])
      return "size " + std::to_string(a.shape()[i]) + " on axis " + std::to_string(i) + " where " +
             std::to_string(t.dims[i].size) + " is expected";
  return "";
}

}  // namespace

namespace detail {
std::shared_ptr<SharedState> shared_state(std::int64_t id) {
  SharedRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.states.find(id);
  return it == r.states.end() ? nullptr : it->second;
}
}  // namespace detail

Tensor shared(const Array& value, const std::string& name, Loc loc) {
  SourceLoc l = loc_of(loc);
  if (value.is_null()) ir::user_error(l, "shared", "the initial value is an empty Array");
  static const bool hooked = (ir::set_shared_release_hook(&release_shared), true);
  (void)hooked;
  std::vector<ir::Dim> dims(value.shape().begin(), value.shape().end());
  ir::TensorType t(value.dtype(), dims);
  std::int64_t id = ir::fresh_var_id();
  auto state = std::make_shared<SharedState>();
  state->value = value.copy();
  state->name = name;
  {
    SharedRegistry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    r.states[id] = state;
  }
  return Tensor(ir::make_node(OpCode::Shared, {}, Attrs{{"name", name}, {"id", id}}, l, &t));
}

namespace {
std::shared_ptr<SharedState> state_of(const Tensor& t, const SourceLoc& l, std::string_view op) {
  const NodeRef& n = node_of(t, l, op);
  if (n->op() != OpCode::Shared)
    ir::user_error(l, op, "the tensor is not a shared variable (it is a '" + std::string(n->name()) + "' node)");
  auto s = shared_state(n->attrs().get_int("id"));
  if (!s) ir::user_error(l, op, "shared variable '" + n->var_name() + "' has no value (it was read from text)");
  return s;
}
}  // namespace

Array Tensor::get_value() const {
  auto s = state_of(*this, SourceLoc(), "get_value");
  std::lock_guard<std::mutex> lock(s->mu);
  return s->value.device().is_cpu() ? s->value.copy() : s->value.to(Device::cpu());  // always a host copy
}

void Tensor::set_value(const Array& value, Loc loc) const {
  SourceLoc l = loc_of(loc);
  auto s = state_of(*this, l, "set_value");
  if (value.is_null()) ir::user_error(l, "set_value", "the new value is an empty Array");
  std::string why = mismatch(node_->type(), value);
  if (!why.empty())
    ir::user_error(l, "set_value", "shared variable '" + name() + "' of type " + node_->type().str() + " got " +
                                       shape_of(value) + ": " + why);
  Array copy = value.copy();
  std::lock_guard<std::mutex> lock(s->mu);
  s->value = copy;
}

// ---- functions ----

struct Function::Impl {
  std::vector<NodeRef> inputs;
  std::vector<NodeRef> outputs;
  std::vector<std::pair<NodeRef, NodeRef>> updates;  // shared node, new value
  std::vector<std::pair<NodeRef, std::shared_ptr<SharedState>>> shared;  // every shared variable read or written
  std::vector<std::shared_ptr<SharedState>> update_states;                // per update
  Backend backend = Backend::Interpreter;
  std::shared_ptr<const codegen::NativeFunction> native;  // Backend::Native on the CPU: the compiled plan
  std::shared_ptr<const codegen::cuda::CudaFunction> cuda;  // Backend::Native on a CUDA device
  Device device = Device::cpu();
  SourceLoc loc;
};

Function function(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                  const FunctionOptions& options, Loc loc) {
  SourceLoc l = loc_of(loc);
  auto impl = std::make_shared<Function::Impl>();
  impl->loc = l;
  impl->backend = options.backend;
  impl->device = options.device;
  if (!options.device.is_cpu()) {
    if (options.backend == Backend::Interpreter)
      ir::user_error(l, "function", "the reference interpreter runs on the CPU only; device " +
                                        options.device.str() + " needs Backend::Native (the default)");
    try {  // the reason first: no driver, no such device
      runtime::cuda_device(options.device, "");
    } catch (const Error& e) {
      ir::user_error(l, "function", e.what());
    }
  }

  std::unordered_set<const Node*> seen_inputs;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const NodeRef& n = node_of(inputs[i], l, "function");
    if (n->op() != OpCode::Input)
      ir::user_error(l, "function", "input " + std::to_string(i) + " is not an input variable but a '" +
                                        std::string(n->name()) + "' expression of type " + n->type().str() +
                                        (n->op() == OpCode::Shared ? " (shared variables are implicit inputs)"
                                                                   : " (use givens to substitute expressions)"));
    if (!seen_inputs.insert(n.get()).second)
      ir::user_error(l, "function", "input '" + n->var_name() + "' is listed twice");
    impl->inputs.push_back(n);
  }

  // Givens: substitute before anything else.
  std::unordered_map<const Node*, NodeRef> replace;
  for (auto& [from, to] : options.givens) {
    const NodeRef& f = node_of(from, l, "givens");
    const NodeRef& t = node_of(to, l, "givens");
    if (f->dtype() != t->dtype() || f->rank() != t->rank())
      ir::user_error(l, "givens", "cannot replace " + f->type().str() + " with " + t->type().str() +
                                      " (dtype and rank must match)");
    if (!replace.emplace(f.get(), t).second) ir::user_error(l, "givens", "the same expression is given twice");
  }

  std::vector<NodeRef> roots;
  for (std::size_t i = 0; i < outputs.size(); ++i) roots.push_back(node_of(outputs[i], l, "function"));
  std::unordered_set<const Node*> updated;
  for (auto& [var, value] : options.updates) {
    const NodeRef& v = node_of(var, l, "updates");
    const NodeRef& e = node_of(value, l, "updates");
    if (v->op() != OpCode::Shared)
      ir::user_error(l, "updates", "only shared variables can be updated, got a '" + std::string(v->name()) +
                                       "' node of type " + v->type().str());
    if (!updated.insert(v.get()).second)
      ir::user_error(l, "updates", "shared variable '" + v->var_name() + "' is updated twice");
    if (e->dtype() != v->dtype())
      ir::user_error(l, "updates", "the new value for '" + v->var_name() + "' has type " + e->type().str() +
                                       " but the variable is " + v->type().str() + " (cast the expression)");
    bool fits = e->rank() == v->rank();
    for (std::int64_t i = 0; fits && i < e->rank(); ++i)
      fits = !e->type().dims[i].known() || e->type().dims[i].size == v->type().dims[i].size;
    if (!fits)
      ir::user_error(l, "updates", "the new value for '" + v->var_name() + "' has shape " + e->type().str() +
                                       " but the variable is " + v->type().str());
    impl->updates.push_back({v, e});
    roots.push_back(e);
  }
  if (!replace.empty()) roots = ir::substitute(roots, replace);
  impl->outputs.assign(roots.begin(), roots.begin() + static_cast<std::ptrdiff_t>(outputs.size()));
  for (std::size_t i = 0; i < impl->updates.size(); ++i) impl->updates[i].second = roots[outputs.size() + i];

  // Every free variable must be an input or a shared variable with a value
  // (checked on the graph as written, before rewrites may drop a dependence).
  std::vector<NodeRef> all = roots;
  for (auto& [v, e] : impl->updates) all.push_back(v);
  for (const NodeRef& var : ir::free_variables(all)) {
    if (var->op() == OpCode::Input) {
      if (!seen_inputs.count(var.get()))
        ir::user_error(l, "function", "the outputs depend on input '" + var->var_name() + "' (" +
                                          var->type().str() + ", created at " + var->loc().str() +
                                          ") which is not among the function's inputs");
    } else if (!shared_state(var->attrs().get_int("id"))) {
      ir::user_error(l, "function", "shared variable '" + var->var_name() + "' has no value");
    }
  }

  if (options.optimize) {
    passes::PipelineOptions po;
    po.rules.strict_ieee = options.strict_ieee;
    roots = passes::optimize(roots, po);
    impl->outputs.assign(roots.begin(), roots.begin() + static_cast<std::ptrdiff_t>(outputs.size()));
    for (std::size_t i = 0; i < impl->updates.size(); ++i) impl->updates[i].second = roots[outputs.size() + i];
  }

  // The shared variables the compiled graph reads or writes.
  all = roots;
  for (auto& [v, e] : impl->updates) all.push_back(v);
  for (const NodeRef& var : ir::free_variables(all))
    if (var->op() == OpCode::Shared) impl->shared.push_back({var, shared_state(var->attrs().get_int("id"))});
  for (auto& [v, e] : impl->updates) impl->update_states.push_back(shared_state(v->attrs().get_int("id")));
  if (impl->backend == Backend::Native) {
    std::vector<NodeRef> params = impl->inputs;  // call order: the arguments, then the shared values
    for (auto& [var, state] : impl->shared) params.push_back(var);
    if (options.device.is_cpu()) {
      impl->native = std::make_shared<const codegen::NativeFunction>(params, roots);
    } else {
      try {
        impl->cuda = std::make_shared<const codegen::cuda::CudaFunction>(params, roots, options.device);
      } catch (const Error& e) {
        ir::user_error(l, "function", e.what());
      }
    }
  }
  Function f;
  f.impl_ = impl;
  return f;
}

std::size_t Function::num_inputs() const { return impl_ ? impl_->inputs.size() : 0; }
std::size_t Function::num_outputs() const { return impl_ ? impl_->outputs.size() : 0; }

std::string Function::graph_text() const {
  if (!impl_) return "";
  ir::Graph g;
  g.inputs = impl_->inputs;
  g.outputs = impl_->outputs;
  g.output_names.assign(g.outputs.size(), "");
  for (auto& [v, e] : impl_->updates) {
    g.outputs.push_back(e);
    g.output_names.push_back("update:" + v->var_name());
  }
  return ir::print_graph(g);
}

std::vector<Array> Function::operator()(const std::vector<Array>& args) const {
  if (!impl_) throw Error("error: function: calling an empty Function (default-constructed)");
  const Impl& f = *impl_;
  auto fail = [&](const std::string& what) {
    ir::user_error(f.loc, "call of the function created here", what);
  };
  if (args.size() != f.inputs.size()) {
    std::string expected;
    for (std::size_t i = 0; i < f.inputs.size(); ++i)
      expected += (i ? ", " : "") + f.inputs[i]->var_name() + ": " + f.inputs[i]->type().str();
    fail("expected " + std::to_string(f.inputs.size()) + " arguments (" + expected + "), got " +
         std::to_string(args.size()));
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const NodeRef& in = f.inputs[i];
    if (args[i].is_null()) fail("argument " + std::to_string(i) + " ('" + in->var_name() + "') is an empty Array");
    std::string why = mismatch(in->type(), args[i]);  // builds no string when the argument fits
    if (!why.empty()) {
      fail("argument " + std::to_string(i) + " ('" + in->var_name() + "', declared " + in->type().str() + ") got " +
           shape_of(args[i]) + ": " + why);
    }
    if (!args[i].device().is_cpu() && args[i].device() != f.device)
      fail("argument " + std::to_string(i) + " ('" + in->var_name() + "') lives on " + args[i].device().str() +
           "; this function runs on " + f.device.str() +
           (f.device.is_cpu() ? "" : " (host arrays are copied there; arrays on another device are not)"));
  }
  // Every output and update reads the shared values from before the call.
  std::vector<Array> results;
  if (f.cuda) {
    std::vector<Array> params;
    params.reserve(args.size() + f.shared.size());
    params.insert(params.end(), args.begin(), args.end());
    for (auto& [var, state] : f.shared) {
      std::lock_guard<std::mutex> lock(state->mu);
      // A shared variable moves to the function's device on first use and
      // stays there: a training step then copies no weights.
      if (state->value.device() != f.device) state->value = state->value.to(f.device);
      params.push_back(state->value);
    }
    results = f.cuda->run(params);
  } else if (f.native) {
    std::vector<Array> params;
    params.reserve(args.size() + f.shared.size());
    params.insert(params.end(), args.begin(), args.end());
    for (auto& [var, state] : f.shared) {
      std::lock_guard<std::mutex> lock(state->mu);
      params.push_back(state->value.device().is_cpu() ? state->value : state->value.to(Device::cpu()));
    }
    results = f.native->run(params);
  } else {
    ir::Bindings bind;
    for (std::size_t i = 0; i < args.size(); ++i) bind[f.inputs[i].get()] = args[i];
    for (auto& [var, state] : f.shared) {
      std::lock_guard<std::mutex> lock(state->mu);
      bind[var.get()] = state->value.device().is_cpu() ? state->value : state->value.to(Device::cpu());
    }
    std::vector<NodeRef> roots = f.outputs;
    for (auto& [v, e] : f.updates) roots.push_back(e);
    results = ir::interpret(roots, bind);
  }
  // Check every update before applying any, so that a failing call leaves
  // all shared variables as they were.
  std::vector<std::pair<std::shared_ptr<SharedState>, Array>> commit;
  for (std::size_t i = 0; i < f.updates.size(); ++i) {
    const std::shared_ptr<SharedState>& state = f.update_states[i];
    if (!state) continue;
    Array& v = results[f.outputs.size() + i];
    std::string why = mismatch(f.updates[i].first->type(), v);
    if (!why.empty())
      fail("the update of shared variable '" + f.updates[i].first->var_name() + "' produced " + shape_of(v) + ": " +
           why);
    for (std::size_t k = 0; k < f.outputs.size(); ++k)  // never alias a returned output
      if (results[k].buffer() == v.buffer()) v = v.copy();
    commit.push_back({state, v});
  }
  for (auto& [state, v] : commit) {
    std::lock_guard<std::mutex> lock(state->mu);
    state->value = v;
  }
  results.resize(f.outputs.size());
  return results;
}

}  // namespace kiln
