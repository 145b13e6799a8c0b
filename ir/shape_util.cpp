#include "ir/shape_util.hpp"

#include <algorithm>

#include "ir/node.hpp"

namespace kiln::ir {

bool broadcast_dims(const std::vector<Dim>& a, const std::vector<Dim>& b, std::vector<Dim>* out,
                    std::string* why) {
  std::size_t n = std::max(a.size(), b.size());
  std::vector<Dim> r(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Dim* da = i < n - a.size() ? nullptr : &a[i - (n - a.size())];
    const Dim* db = i < n - b.size() ? nullptr : &b[i - (n - b.size())];
    if (!da) { r[i] = *db; continue; }
    if (!db) { r[i] = *da; continue; }
    if (da->known() && db->known()) {
      if (da->size == db->size) r[i] = *da;
      else if (da->size == 1) r[i] = *db;
      else if (db->size == 1) r[i] = *da;
      else {
        if (why) *why = "dim " + std::to_string(i) + " is " + std::to_string(da->size) + " vs " + std::to_string(db->size);
        return false;
      }
    } else if (da->known()) {
      r[i] = da->size == 1 ? *db : *da;
    } else if (db->known()) {
      r[i] = db->size == 1 ? *da : *db;
    } else {
      r[i] = da->name.empty() ? *db : *da;
    }
  }
  *out = std::move(r);
  return true;
}

bool broadcast_shapes(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b,
                      std::vector<std::int64_t>* out) {
  std::size_t n = std::max(a.size(), b.size());
  std::vector<std::int64_t> r(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    std::int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x == y || y == 1) r[i] = x;
    else if (x == 1) r[i] = y;
    else return false;
  }
  *out = std::move(r);
  return true;
}

namespace {
// Python's PySlice_AdjustIndices.
void adjust(std::int64_t n, std::int64_t* start, std::int64_t* stop, std::int64_t step) {
  if (*start == kNone) *start = step > 0 ? 0 : n - 1;
  else {
    if (*start < 0) { *start += n; if (*start < 0) *start = step < 0 ? -1 : 0; }
    else if (*start >= n) *start = step < 0 ? n - 1 : n;
  }
  if (*stop == kNone) *stop = step > 0 ? n : -1;
  else {
    if (*stop < 0) { *stop += n; if (*stop < 0) *stop = step < 0 ? -1 : 0; }
    else if (*stop >= n) *stop = step < 0 ? n - 1 : n;
  }
}
}  // namespace

std::int64_t slice_length(std::int64_t n, std::int64_t start, std::int64_t stop, std::int64_t step) {
  adjust(n, &start, &stop, step);
  if (step > 0) return start < stop ? (stop - start - 1) / step + 1 : 0;
  return stop < start ? (start - stop - 1) / (-step) + 1 : 0;
}

std::int64_t slice_start(std::int64_t n, std::int64_t start, std::int64_t step) {
  std::int64_t stop = kNone;
  adjust(n, &start, &stop, step);
  return start;
}

std::string ints_str(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace kiln::ir
