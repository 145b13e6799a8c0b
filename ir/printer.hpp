// The text format's printer: a Graph as readable, line-oriented text that
// parse_graph() (ir/parser.hpp) reads back to the identical graph. The
// grammar is in docs/text-format.md.
//
//   kiln.graph v1
//   %0 = input "x" id=1 : f64[?,3]
//   %1 = constant 2 : f64[]
//   %2 = mul(%0, %1) : f64[?,3]
//   output "y" = %2
#pragma once

#include <string>
#include <vector>

#include "ir/graph.hpp"

namespace kiln::ir {

// Printer options (not kiln::PrintOptions, which formats Array values).
struct TextOptions {
  // Append ` loc="file.cpp":12` to every node whose source location is known.
  bool with_locations = false;
};

// The whole graph: a header line, one line per node (graph inputs first, in
// Graph::inputs order, then every other node in topological order, numbered
// %0, %1, ...), then one `output` line per output.
std::string print_graph(const Graph& g, const TextOptions& opts = {});

// A graph of `outputs` (unnamed) whose inputs are their free variables.
std::string print_nodes(const std::vector<NodeRef>& outputs, const TextOptions& opts = {});

// One attribute value as the text format spells it: `3`, `2.5`, `true`,
// `"s"`, `[0, 1]`, `f32`, `array(f32[2], [1, 2])`. `slices` selects the
// Python slice spelling `[1:3, ::-1]` for a list of (start, stop, step)
// triples.
std::string attr_value_str(const AttrValue& v, bool slices = false);

// The elements of a host array in nested brackets (`[[1, 2], [3, 4]]`; a 0-d
// array is its bare value), each printed so that it parses back to the same
// bits for its dtype.
std::string array_literal_str(const Array& a);

}  // namespace kiln::ir
