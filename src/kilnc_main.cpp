// kilnc — the kiln command-line tool: reads and writes graphs in the text
// format (docs/text-format.md) and runs them with the reference interpreter.
//
//   kilnc print model.kiln
//   kilnc run model.kiln --input x=x.npy --output-dir out/
//   kilnc opt model.kiln --dump-after all --counts
//
// Subcommands are rows of one table (kCommands); a new one (grad, opt, ...)
// is a row and a function. Every failure prints "kilnc: error: ..." on stderr
// and exits with status 1.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.hpp"
#include "ir/interpreter.hpp"
#include "ir/parser.hpp"
#include "ir/printer.hpp"
#include "kiln/array.hpp"
#include "kiln/error.hpp"
#include "passes/autodiff.hpp"
#include "passes/builder.hpp"
#include "passes/pipeline.hpp"

namespace {

using kiln::Array;
using kiln::Error;
namespace ir = kiln::ir;

using Args = std::span<const std::string>;

struct Command {
  std::string_view name;
  std::string_view summary;
  std::string_view help;  // usage, options and an example
  int (*run)(Args args);
};

int cmd_print(Args args);
int cmd_run(Args args);
int cmd_help(Args args);
int cmd_grad(Args args);
int cmd_opt(Args args);
int cmd_rules(Args args);

constexpr std::string_view kPrintHelp =
    "usage: kilnc print [--locations] FILE\n"
    "\n"
    "Parses the graph in FILE (the kiln text format; '-' reads standard input)\n"
    "and prints it in normal form: a header, one numbered line per node with\n"
    "its attributes in sorted order and its type, then the outputs.\n"
    "\n"
    "options:\n"
    "  --locations   append each node's source location (loc=\"file\":line)\n"
    "\n"
    "example:\n"
    "  kilnc print model.kiln > model.normal.kiln\n";

constexpr std::string_view kRunHelp =
    "usage: kilnc run FILE [--input NAME=PATH.npy]... [--output-dir DIR]\n"
    "\n"
    "Evaluates the graph in FILE with kiln's reference interpreter. Every\n"
    "input and shared variable of the graph is bound by name to a .npy file;\n"
    "its dtype and static dims must match the variable's type.\n"
    "\n"
    "options:\n"
    "  --input NAME=PATH   bind the input or shared variable NAME to the array\n"
    "                      in PATH (.npy); repeat for each variable\n"
    "  --output-dir DIR    write each output to DIR/NAME.npy (unnamed outputs:\n"
    "                      DIR/output<i>.npy, i its position); DIR is created if\n"
    "                      missing. Without it, the outputs are printed.\n"
    "\n"
    "example:\n"
    "  kilnc run logistic.kiln --input x=x.npy --output-dir out\n"
    "  # writes out/y.npy for the line 'output \"y\" = %3'\n";

constexpr std::string_view kGradHelp =
    "usage: kilnc grad FILE --of OUTPUT --wrt NAME[,NAME...] [--locations]\n"
    "\n"
    "Differentiates the scalar output OUTPUT of the graph in FILE with respect\n"
    "to the inputs or shared variables NAME (reverse mode, as kiln::grad) and\n"
    "prints the graph with one more output per NAME, called \"grad_NAME\".\n"
    "OUTPUT is an output's name or its position (0, 1, ...). The result can be\n"
    "evaluated with 'kilnc run'.\n"
    "\n"
    "example:\n"
    "  kilnc grad loss.kiln --of loss --wrt w,b > loss_grad.kiln\n"
    "  kilnc run loss_grad.kiln --input x=x.npy --input w=w.npy --input b=b.npy\n";

constexpr std::string_view kOptHelp =
    "usage: kilnc opt FILE [--dump-after STAGE|all] [--strict-ieee] [--counts] [--locations]\n"
    "\n"
    "Runs the rewrite pipeline on the graph in FILE, as kiln::function does:\n"
    "canonicalize, stabilize, cleanup (canonicalize again) and specialize,\n"
    "repeated until nothing changes. Prints the optimised graph; its inputs and\n"
    "output names are the original's, so it runs with the same 'kilnc run'\n"
    "options. 'kilnc rules' lists the rules; docs/rewrites.md explains them.\n"
    "\n"
    "options:\n"
    "  --dump-after STAGE   also print the graph after pipeline stage STAGE, on\n"
    "                       standard error (a comma-separated list, or 'all';\n"
    "                       the same as KILN_DUMP_IR=after:STAGE)\n"
    "  --strict-ieee        do not apply identities that hold only for finite\n"
    "                       values (x - x -> 0, x / x -> 1)\n"
    "  --counts             append '#' comment lines: the number of nodes and of\n"
    "                       each op before and after, and the rules that fired\n"
    "  --locations          append each node's source location\n"
    "\n"
    "example:\n"
    "  kilnc grad loss.kiln --of loss --wrt w | kilnc opt - --counts\n"
    "  kilnc opt model.kiln --dump-after canonicalize > model.opt.kiln\n";

constexpr std::string_view kRulesHelp =
    "usage: kilnc rules [--strict-ieee]\n"
    "\n"
    "Lists every rewrite rule of every rule set, in the order the pipeline tries\n"
    "them, one per line: the set, the rule's name, and its pattern ('lhs -> rhs')\n"
    "or, for rules written in C++, a description.\n"
    "\n"
    "options:\n"
    "  --strict-ieee   the rule sets as 'kilnc opt --strict-ieee' uses them\n"
    "\n"
    "example:\n"
    "  kilnc rules | grep log1p\n";

constexpr std::string_view kHelpHelp =
    "usage: kilnc help [COMMAND]\n"
    "\n"
    "Lists the commands, or explains one.\n"
    "\n"
    "example:\n"
    "  kilnc help run\n";

constexpr Command kCommands[] = {
    {"print", "parse a graph file and print it in normal form", kPrintHelp, cmd_print},
    {"run", "evaluate a graph on .npy inputs with the reference interpreter", kRunHelp, cmd_run},
    {"grad", "add the gradients of a scalar output to a graph", kGradHelp, cmd_grad},
    {"opt", "optimise a graph with the rewrite pipeline", kOptHelp, cmd_opt},
    {"rules", "list the rewrite rules", kRulesHelp, cmd_rules},
    {"help", "explain a command", kHelpHelp, cmd_help},
};

const Command* find_command(std::string_view name) {
  for (const Command& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

void print_usage(std::ostream& os) {
  os << "usage: kilnc COMMAND [ARGS...]\n"
        "\n"
        "kilnc reads, prints, differentiates, optimises and runs kiln graphs written in\n"
        "the kiln text format.\n"
        "\n"
        "commands:\n";
  for (const Command& c : kCommands) {
    std::string name(c.name);
    name.resize(8, ' ');
    os << "  " << name << c.summary << "\n";
  }
  os << "\n"
        "Run 'kilnc help COMMAND' or 'kilnc COMMAND --help' for a command's options.\n"
        "\n"
        "example:\n"
        "  kilnc print model.kiln\n"
        "  kilnc opt model.kiln > model.opt.kiln\n"
        "  kilnc run model.opt.kiln --input x=x.npy --output-dir out\n";
}

// A user-facing failure of the command line itself.
[[noreturn]] void usage_error(const std::string& msg) { throw Error(msg); }

bool is_help_flag(std::string_view a) { return a == "--help" || a == "-h"; }

// Splits "--name=value" / "--name value" options; returns nullopt when
// args[i] is not `name`.
std::optional<std::string> option_value(Args args, std::size_t& i, std::string_view name, std::string_view cmd) {
  std::string_view a = args[i];
  if (a == name) {
    if (i + 1 >= args.size()) usage_error(std::string(cmd) + ": option " + std::string(name) + " needs a value");
    return args[++i];
  }
  if (a.size() > name.size() && a.substr(0, name.size()) == name && a[name.size()] == '=')
    return std::string(a.substr(name.size() + 1));
  return std::nullopt;
}

ir::Graph read_graph(const std::string& path) {
  if (path == "-") {
    std::string text(std::istreambuf_iterator<char>(std::cin), {});
    return ir::parse_graph(text, "<stdin>");
  }
  return ir::parse_graph_file(path);
}

// ---- print ----

int cmd_print(Args args) {
  std::optional<std::string> file;
  ir::TextOptions opts;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--locations") {
      opts.with_locations = true;
    } else if (a.size() > 1 && a[0] == '-') {
      usage_error("print: unknown option '" + a + "' (see 'kilnc help print')");
    } else if (file) {
      usage_error("print: more than one FILE given ('" + *file + "' and '" + a + "')");
    } else {
      file = a;
    }
  }
  if (!file) usage_error("print: missing FILE (see 'kilnc help print')");
  ir::Graph g = read_graph(*file);
  std::cout << ir::print_graph(g, opts);
  std::cout.flush();
  if (!std::cout) throw Error("cannot write to standard output");
  return 0;
}

// ---- grad ----

int cmd_grad(Args args) {
  std::optional<std::string> file, of, wrt;
  ir::TextOptions opts;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (auto v = option_value(args, i, "--of", "grad")) {
      of = *v;
    } else if (auto w = option_value(args, i, "--wrt", "grad")) {
      wrt = *w;
    } else if (a == "--locations") {
      opts.with_locations = true;
    } else if (a.size() > 1 && a[0] == '-') {
      usage_error("grad: unknown option '" + a + "' (see 'kilnc help grad')");
    } else if (file) {
      usage_error("grad: more than one FILE given ('" + *file + "' and '" + a + "')");
    } else {
      file = a;
    }
  }
  if (!file) usage_error("grad: missing FILE (see 'kilnc help grad')");
  if (!of) usage_error("grad: missing --of OUTPUT");
  if (!wrt || wrt->empty()) usage_error("grad: missing --wrt NAME[,NAME...]");
  ir::Graph g = read_graph(*file);

  std::optional<std::size_t> out;
  for (std::size_t i = 0; i < g.outputs.size(); ++i)
    if (g.output_names[i] == *of) out = i;
  if (!out && !of->empty() && of->find_first_not_of("0123456789") == std::string::npos) {
    std::size_t k = std::stoul(*of);
    if (k < g.outputs.size()) out = k;
  }
  if (!out) usage_error("grad: the graph has no output named or numbered '" + *of + "'");
  const ir::NodeRef& cost = g.outputs[*out];
  if (cost->rank() != 0 || !kiln::is_float(cost->dtype()))
    usage_error("grad: output '" + *of + "' has type " + cost->type().str() + "; it must be a float scalar");

  std::vector<ir::NodeRef> targets;
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= wrt->size()) {
    std::size_t comma = wrt->find(',', start);
    std::string name = wrt->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? wrt->size() + 1 : comma + 1;
    ir::NodeRef found;
    for (const ir::Node* n : ir::topo_order(g.outputs))
      if ((n->op() == ir::OpCode::Input || n->op() == ir::OpCode::Shared) && n->var_name() == name)
        for (const ir::NodeRef& v : ir::free_variables(g.outputs))
          if (v.get() == n) found = v;
    if (!found) usage_error("grad: no input or shared variable named '" + name + "' reaches the outputs");
    targets.push_back(found);
    names.push_back(name);
  }
  kiln::passes::Builder b(cost->loc());
  kiln::passes::VjpOptions vo;
  vo.disconnected = kiln::passes::Disconnected::Ignore;
  auto r = kiln::passes::vjp({cost}, {b.like(1, cost)}, targets, vo, cost->loc());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    g.outputs.push_back(r.grads[i] ? r.grads[i] : b.zeros_like(targets[i]));
    g.output_names.push_back("grad_" + names[i]);
  }
  std::cout << ir::print_graph(g, opts);
  std::cout.flush();
  if (!std::cout) throw Error("cannot write to standard output");
  return 0;
}

// ---- opt, rules ----

// The rule sets in pipeline order.
std::vector<kiln::passes::RuleSet> rule_sets(const kiln::passes::RuleOptions& o) {
  return {kiln::passes::canonicalize_rules(o), kiln::passes::stabilize_rules(o), kiln::passes::specialize_rules(o)};
}

// Number of nodes of each op reachable from `outputs`.
std::map<std::string, std::size_t> op_counts(const std::vector<ir::NodeRef>& outputs) {
  std::map<std::string, std::size_t> c;
  for (const ir::Node* n : ir::topo_order(outputs)) c[std::string(n->name())]++;
  return c;
}

int cmd_opt(Args args) {
  std::optional<std::string> file;
  kiln::passes::PipelineOptions po;
  ir::TextOptions opts;
  bool counts = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (auto v = option_value(args, i, "--dump-after", "opt")) {
      std::size_t start = 0;
      while (start <= v->size()) {
        std::size_t comma = v->find(',', start);
        std::string stage = v->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        start = comma == std::string::npos ? v->size() + 1 : comma + 1;
        const auto& stages = kiln::passes::pipeline_stages();
        if (stage != "all" && std::find(stages.begin(), stages.end(), stage) == stages.end()) {
          std::string names;
          for (const std::string& s : stages) names += s + ", ";
          usage_error("opt: --dump-after: unknown stage '" + stage + "' (the stages: " + names + "all)");
        }
        po.dump_after.push_back(stage);
      }
    } else if (a == "--strict-ieee") {
      po.rules.strict_ieee = true;
    } else if (a == "--counts") {
      counts = true;
    } else if (a == "--locations") {
      opts.with_locations = true;
    } else if (a.size() > 1 && a[0] == '-') {
      usage_error("opt: unknown option '" + a + "' (see 'kilnc help opt')");
    } else if (file) {
      usage_error("opt: more than one FILE given ('" + *file + "' and '" + a + "')");
    } else {
      file = a;
    }
  }
  if (!file) usage_error("opt: missing FILE (see 'kilnc help opt')");
  ir::Graph g = read_graph(*file);
  kiln::passes::RuleCounts fired;
  po.counts = &fired;
  po.dump_stream = &std::cerr;
  std::vector<ir::NodeRef> before = g.outputs;
  g.outputs = kiln::passes::optimize(g.outputs, po);  // g.inputs stay: the same interface
  std::cout << ir::print_graph(g, opts);
  if (counts) {
    std::map<std::string, std::size_t> b = op_counts(before), a = op_counts(g.outputs);
    std::cout << "# nodes: " << ir::node_count(before) << " before, " << ir::node_count(g.outputs) << " after\n";
    std::map<std::string, std::pair<std::size_t, std::size_t>> ops;
    for (auto& [op, n] : b) ops[op].first = n;
    for (auto& [op, n] : a) ops[op].second = n;
    for (auto& [op, n] : ops) std::cout << "# op " << op << ": " << n.first << " before, " << n.second << " after\n";
    for (auto& [rule, n] : fired) std::cout << "# fired " << rule << ": " << n << "\n";
  }
  std::cout.flush();
  if (!std::cout) throw Error("cannot write to standard output");
  return 0;
}

int cmd_rules(Args args) {
  kiln::passes::RuleOptions o;
  for (const std::string& a : args) {
    if (a == "--strict-ieee") o.strict_ieee = true;
    else usage_error("rules: unexpected argument '" + a + "' (see 'kilnc help rules')");
  }
  std::vector<kiln::passes::RuleSet> sets = rule_sets(o);
  std::size_t set_width = 0, name_width = 0;
  for (const auto& s : sets) {
    set_width = std::max(set_width, s.name.size());
    for (const auto& r : s.rules) name_width = std::max(name_width, r.name.size());
  }
  for (const auto& s : sets)
    for (const auto& r : s.rules) {
      std::string set = s.name, name = r.name;
      set.resize(set_width, ' ');
      name.resize(name_width, ' ');
      std::cout << set << "  " << name << "  " << r.text << "\n";
    }
  std::cout.flush();
  if (!std::cout) throw Error("cannot write to standard output");
  return 0;
}

// ---- run ----

std::string type_of(const Array& a) {
  return std::string(kiln::dtype_name(a.dtype())) + " values of shape " + kiln::shape_str(a.shape());
}

void check_binding(const std::string& name, const ir::Node& var, const Array& a, const std::string& path) {
  const ir::TensorType& t = var.type();
  bool ok = a.dtype() == t.dtype && a.ndim() == t.rank();
  for (std::int64_t i = 0; ok && i < t.rank(); ++i)
    if (t.dims[i].known() && t.dims[i].size != a.shape()[i]) ok = false;
  if (!ok)
    usage_error("run: " + std::string(var.name()) + " '" + name + "' has type " + t.str() + ", but " + path +
                " holds " + type_of(a));
}

// A file name for an output, or an error when the name cannot be one.
std::string output_file_name(const std::string& name, std::size_t i) {
  if (name.empty()) return "output" + std::to_string(i) + ".npy";
  if (name == "." || name == ".." || name.find('/') != std::string::npos || name.find('\0') != std::string::npos)
    usage_error("run: output name \"" + name + "\" cannot be used as a file name");
  return name + ".npy";
}

int cmd_run(Args args) {
  std::optional<std::string> file, out_dir;
  std::vector<std::pair<std::string, std::string>> bindings;  // name, path
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (auto v = option_value(args, i, "--input", "run")) {
      std::size_t eq = v->find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v->size())
        usage_error("run: --input expects NAME=PATH.npy, got '" + *v + "'");
      bindings.emplace_back(v->substr(0, eq), v->substr(eq + 1));
    } else if (auto d = option_value(args, i, "--output-dir", "run")) {
      if (d->empty()) usage_error("run: --output-dir needs a directory");
      out_dir = *d;
    } else if (a.size() > 1 && a[0] == '-') {
      usage_error("run: unknown option '" + a + "' (see 'kilnc help run')");
    } else if (file) {
      usage_error("run: more than one FILE given ('" + *file + "' and '" + a + "')");
    } else {
      file = a;
    }
  }
  if (!file) usage_error("run: missing FILE (see 'kilnc help run')");

  ir::Graph g = read_graph(*file);

  // Variables by name; a name shared by two variables cannot be bound.
  std::map<std::string, std::vector<const ir::Node*>> by_name;
  for (const ir::NodeRef& v : g.inputs) by_name[v->var_name()].push_back(v.get());
  std::map<std::string, std::string> given;
  for (const auto& [name, path] : bindings) {
    if (!given.emplace(name, path).second) usage_error("run: --input " + name + " is given twice");
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      std::string names;
      for (const auto& [n, _] : by_name) names += (names.empty() ? "" : ", ") + n;
      usage_error("run: the graph has no input named '" + name + "'" +
                  (names.empty() ? " (it has no inputs)" : " (its inputs: " + names + ")"));
    }
    if (it->second.size() > 1)
      usage_error("run: the graph has " + std::to_string(it->second.size()) + " variables named '" + name +
                  "'; they cannot be bound by name");
  }
  ir::Bindings values;
  for (const ir::NodeRef& v : g.inputs) {
    const std::string& name = v->var_name();
    auto it = given.find(name);
    if (it == given.end())
      usage_error("run: no value for " + std::string(v->name()) + " '" + name + "' " + v->type().str() +
                  " (add --input " + name + "=PATH.npy)");
    Array a = Array::load(it->second);
    check_binding(name, *v, a, it->second);
    values.emplace(v.get(), a);
  }

  std::vector<std::string> files;
  if (out_dir) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < g.outputs.size(); ++i) {
      files.push_back(output_file_name(g.output_names[i], i));
      if (!seen.insert(files.back()).second)
        usage_error("run: two outputs would both be written to " + files.back());
    }
  }

  std::vector<Array> results = ir::interpret(g.outputs, values);

  if (!out_dir) {
    for (std::size_t i = 0; i < results.size(); ++i) {
      const std::string& n = g.output_names[i];
      std::cout << (n.empty() ? "output" + std::to_string(i) : n) << " = " << results[i].to_string() << "\n";
    }
    std::cout.flush();
    if (!std::cout) throw Error("cannot write to standard output");
    return 0;
  }
  std::error_code ec;
  std::filesystem::create_directories(*out_dir, ec);
  if (ec) usage_error("run: cannot create directory " + *out_dir + ": " + ec.message());
  if (!std::filesystem::is_directory(*out_dir)) usage_error("run: " + *out_dir + " is not a directory");
  for (std::size_t i = 0; i < results.size(); ++i)
    results[i].save((std::filesystem::path(*out_dir) / files[i]).string());
  return 0;
}

// ---- help ----

int cmd_help(Args args) {
  if (args.empty()) {
    print_usage(std::cout);
    return 0;
  }
  if (args.size() > 1) usage_error("help: expects at most one COMMAND");
  const Command* c = find_command(args[0]);
  if (!c) usage_error("help: unknown command '" + args[0] + "' (see 'kilnc --help')");
  std::cout << c->help;
  return 0;
}

// "file:3:4: error: unknown op" reads better without its own "error: "
// after ours.
std::string without_error_word(std::string m) {
  std::size_t p = m.find("error: ");
  if (p != std::string::npos && (p == 0 || (p >= 2 && m.compare(p - 2, 2, ": ") == 0))) m.erase(p, 7);
  return m;
}

int fail(const std::string& msg) {
  std::cerr << "kilnc: error: " << without_error_word(msg) << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
      print_usage(std::cerr);
      return fail("missing COMMAND");
    }
    if (is_help_flag(args[0])) {
      print_usage(std::cout);
      return 0;
    }
    const Command* c = find_command(args[0]);
    if (!c) return fail("unknown command '" + args[0] + "' (see 'kilnc --help')");
    Args rest(args.data() + 1, args.size() - 1);
    for (const std::string& a : rest)
      if (is_help_flag(a) && c->name != "help") {
        std::cout << c->help;
        return 0;
      }
    return c->run(rest);
  } catch (const kiln::Error& e) {
    return fail(e.what());
  } catch (const kiln::InternalError& e) {
    return fail(e.what());
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unknown exception");
  }
}
