// Text in the Python loader's words: a shape as a tuple or a list, a number as Python's format
// spec `g` / `.3g` prints it (repr of names and values: executor/python_repr.h). The executor's
// messages equal the Python loader's (the differential tests compare them).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace onebit::pyformat {

// Python's str(tuple(values)): "(3, 4)", "(3,)", "()".
inline std::string tuple(const std::vector<std::int64_t>& values) {
  std::string out = "(";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(values[i]);
  }
  return out + (values.size() == 1 ? ",)" : ")");
}

// Python's str(list(values)): "[3, 4]".
inline std::string list(const std::vector<std::int64_t>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(values[i]);
  }
  return out + "]";
}

// Python's format(value, spec) for spec "g" or ".3g" (C's %g, with CPython's inf and nan).
inline std::string number(double value, int digits = 6) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
  return buffer;
}

}  // namespace onebit::pyformat
