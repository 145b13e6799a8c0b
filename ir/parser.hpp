// The text format's parser: reads what ir/printer.hpp writes (and
// hand-written graphs) back into a Graph. The grammar is in
// docs/text-format.md.
//
// Every node is built through make_node(), so a node that is alive already
// comes back as the same node: parse_graph(print_graph(g)).outputs[i].get()
// == g.outputs[i].get() while g is alive. Input and Shared nodes keep their
// ids (reserve_var_id() makes fresh ids avoid them).
//
// Malformed text is a kiln::Error "FILE:LINE:COL: error: ..." (columns count
// bytes from 1); type-rule failures of an op carry the position of its name.
// The parser never reads out of bounds, recurses at most kMaxTextRank deep,
// and takes time linear in the text (plus the cost of make_node).
#pragma once

#include <string>
#include <string_view>

#include "ir/graph.hpp"

namespace kiln::ir {

// Highest rank a type may have in the text (bounds the nesting of constant
// literals).
inline constexpr int kMaxTextRank = 64;

// Parses a whole graph. `filename` prefixes error messages and becomes the
// file of the nodes' source locations (a node's location is its line in the
// text unless it has a `loc=` suffix); pass "" for messages without a file.
// Graph::inputs are the input and shared nodes in the order of their lines.
Graph parse_graph(std::string_view text, std::string_view filename = "<text>");

// Reads and parses a file; a missing or unreadable file is a kiln::Error.
Graph parse_graph_file(const std::string& path);

}  // namespace kiln::ir
