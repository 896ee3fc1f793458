// Python's repr() of the values a JSON document holds, so that the C++ reader's error messages are
// the Python loader's, character for character: a message names a tensor as repr(name) and an odd
// value (a dtype, a format version) as repr(value).
//
// Strings are UTF-8 (checked by the parser). repr(str) picks its quote as Python does ('...'
// unless the text holds a ' and no "), escapes \\, the quote, \t \n \r, other ASCII controls as
// \xHH, and non-printable non-ASCII code points as \xHH, \uHHHH or \UHHHHHHHH. Python's
// str.isprintable() consults the whole Unicode database; is_printable() below knows the
// non-printable classes a name is likely to hold (controls, format characters, separators other
// than the ASCII space, surrogates, private use, noncharacters) but not every unassigned code
// point, which Python escapes and this prints as it is.
// Floats print as repr(float): the shortest digits that round-trip, fixed notation for decimal
// exponents -4..15, else d.ddde+XX; 'inf' and '-inf'. Integers beyond 64 bits are held as digits
// (untrusted_json.h) and print as such. JSON objects print their keys in the order the json type
// keeps them: the reader parses into nlohmann::ordered_json, whose order is Python's dict's.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <system_error>

#include "executor/utf8.h"

namespace onebit {

// Whether Python's str.isprintable() holds for the non-ASCII code point `c` (see above).
inline bool is_printable(std::uint32_t c) {
  if (c <= 0xA0 || c == 0xAD) return false;  // C1 controls, no-break space, soft hyphen
  if (c == 0x034F || c == 0x061C || c == 0x1680 || c == 0x180E || c == 0x202F || c == 0x205F ||
      c == 0x3000 || c == 0xFEFF)
    return false;
  if ((c >= 0x0600 && c <= 0x0605) || c == 0x06DD || c == 0x070F || (c >= 0x2000 && c <= 0x200F) ||
      (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F) || (c >= 0xFFF0 && c <= 0xFFFB))
    return false;
  if (c >= 0xD800 && c <= 0xF8FF) return false;  // surrogates and the private use area
  if ((c & 0xFFFE) == 0xFFFE || (c >= 0xFDD0 && c <= 0xFDEF)) return false;  // noncharacters
  if ((c >= 0xE0000 && c <= 0xE0FFF) || c >= 0xF0000) return false;  // tags, private use
  return true;
}

namespace repr_detail {

inline void append_hex(std::string& out, const char* prefix, std::uint32_t c, int digits) {
  static const char kHex[] = "0123456789abcdef";
  out += prefix;
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) out += kHex[(c >> shift) & 15];
}

// The code point at text[i] and its length in bytes; an invalid byte (not in the parser's
// strings, which are valid UTF-8) reads as U+FFFD, one byte long.
inline std::uint32_t decode_utf8(const std::string& text, std::size_t i, std::size_t& length) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  length = utf8_sequence_length(bytes, text.size(), i);
  if (length == 0) return length = 1, 0xFFFD;
  const std::uint32_t lead = bytes[i];
  if (length == 1) return lead;
  std::uint32_t c = lead & (0x7F >> length);
  for (std::size_t k = 1; k < length; ++k) c = (c << 6) | (bytes[i + k] & 0x3F);
  return c;
}

}  // namespace repr_detail

// repr(text) for a Python str holding the UTF-8 `text`.
inline std::string python_repr(const std::string& text) {
  const bool has_single = text.find('\'') != std::string::npos;
  const bool has_double = text.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (std::size_t i = 0; i < text.size();) {
    std::size_t length = 1;
    const std::uint32_t c = repr_detail::decode_utf8(text, i, length);
    if (c == static_cast<std::uint32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      repr_detail::append_hex(out, "\\x", c, 2);
    } else if (c < 0x7F || is_printable(c)) {
      out.append(c == 0xFFFD && length == 1 ? "\xEF\xBF\xBD" : text.substr(i, length));
    } else if (c <= 0xFF) {
      repr_detail::append_hex(out, "\\x", c, 2);
    } else if (c <= 0xFFFF) {
      repr_detail::append_hex(out, "\\u", c, 4);
    } else {
      repr_detail::append_hex(out, "\\U", c, 8);
    }
    i += length;
  }
  return out + quote;
}

// repr(value) for a Python float.
inline std::string python_float_repr(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (std::isnan(value)) return "nan";
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string text(buffer, result.ptr);  // [-]d[.ddd]e[+-]XX, the shortest round trip
  const std::size_t e = text.find('e');
  const bool negative = text[0] == '-';
  std::string digits;
  for (std::size_t i = negative ? 1 : 0; i < e; ++i)
    if (text[i] != '.') digits += text[i];
  const int exponent = std::stoi(text.substr(e + 1));
  const int point = exponent + 1;  // the value is 0.digits x 10^point
  std::string out = negative ? "-" : "";
  if (point > -4 && point <= 16) {
    if (point <= 0) {
      out += "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
    } else if (static_cast<std::size_t>(point) >= digits.size()) {
      out += digits + std::string(static_cast<std::size_t>(point) - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<std::size_t>(point)) + "." +
             digits.substr(static_cast<std::size_t>(point));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char tail[16];
  std::snprintf(tail, sizeof tail, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + tail;
}

}  // namespace onebit
