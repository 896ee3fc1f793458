// Text in the Python loader's words: repr of a name, a shape as a tuple or a list, a number as
// Python's format spec `g` / `.3g` prints it. The executor's messages equal the Python loader's
// (the differential tests compare them), so these follow CPython's formatting.
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

// repr() of a str: single quotes unless the text holds ' and no "; backslash, quote, \n \r \t and
// other control characters escaped as CPython does. Bytes >= 0x80 (UTF-8) are kept: CPython keeps
// printable non-ASCII characters too (it escapes non-printable ones, which this does not try).
inline std::string repr(const std::string& text) {
  const bool double_quotes =
      text.find('\'') != std::string::npos && text.find('"') == std::string::npos;
  const char quote = double_quotes ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buffer[5];
      std::snprintf(buffer, sizeof buffer, "\\x%02x", c);
      out += buffer;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + quote;
}

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

// repr() of a Python float (the shortest text that reads back; ".0" for an integral value; CPython
// switches to exponent form at 1e16 and below 1e-4).
inline std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  for (int digits = 1; digits <= 17; ++digits) {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%.*e", digits - 1, value);
    if (std::strtod(buffer, nullptr) != value) continue;
    // `digits` significant digits suffice: lay them out as repr does.
    const int exponent = static_cast<int>(std::floor(std::log10(std::fabs(value))));
    if (value != 0 && (exponent >= 16 || exponent < -4)) {
      std::string mantissa(buffer, std::strchr(buffer, 'e'));
      if (mantissa.find('.') != std::string::npos) {
        while (mantissa.back() == '0') mantissa.pop_back();
        if (mantissa.back() == '.') mantissa.pop_back();
      }
      char tail[8];
      std::snprintf(tail, sizeof tail, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
      return mantissa + tail;
    }
    const int decimals = std::max(1, digits - 1 - exponent);
    std::snprintf(buffer, sizeof buffer, "%.*f", value == 0 ? 1 : decimals, value);
    std::string text(buffer);
    while (text.size() > 2 && text.back() == '0' && text[text.size() - 2] != '.') text.pop_back();
    return text;
  }
  return "nan";
}

}  // namespace onebit::pyformat
