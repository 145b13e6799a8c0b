// Small shape helpers shared by type inference, the interpreter and the
// front end.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/type.hpp"

namespace kiln::ir {

// Theano-style broadcasting of two dim lists (right-aligned). Only dims
// statically 1 broadcast; an unknown dim meeting a static size takes that
// size (checked at run time). Returns false with a reason on a mismatch.
bool broadcast_dims(const std::vector<Dim>& a, const std::vector<Dim>& b, std::vector<Dim>* out,
                    std::string* why);

// Run-time broadcasting of concrete shapes, NumPy rules.
bool broadcast_shapes(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b,
                      std::vector<std::int64_t>* out);

// Python slice semantics: the number of elements of x[start:stop:step] for
// an axis of size n (kNone for an omitted bound). step != 0.
std::int64_t slice_length(std::int64_t n, std::int64_t start, std::int64_t stop, std::int64_t step);
// The normalised first index of such a slice (meaningful when length > 0).
std::int64_t slice_start(std::int64_t n, std::int64_t start, std::int64_t step);

// "[1, 2, 3]"
std::string ints_str(const std::vector<std::int64_t>& v);

}  // namespace kiln::ir
