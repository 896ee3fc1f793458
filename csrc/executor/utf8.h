// UTF-8 as Python's strict codec reads it (RFC 3629): no overlong forms, no surrogates
// (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace onebit {

// The length of the valid UTF-8 sequence at bytes[i] (of `size`), or 0 when it is not one.
inline std::size_t utf8_sequence_length(const unsigned char* bytes, std::size_t size,
                                        std::size_t i) {
  const unsigned char lead = bytes[i];
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (size - i < length || bytes[i + 1] < low || bytes[i + 1] > high) return 0;
  for (std::size_t k = 2; k < length; ++k)
    if (bytes[i + k] < 0x80 || bytes[i + k] > 0xBF) return 0;
  return length;
}

inline bool is_valid_utf8(const unsigned char* bytes, std::size_t size) {
  for (std::size_t i = 0; i < size;) {
    const std::size_t length = utf8_sequence_length(bytes, size, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

// The number of code points in valid UTF-8 `text` (Python's len() of the str).
inline std::size_t utf8_length(const std::string& text) {
  std::size_t count = 0;
  for (const char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

// The first `limit` code points of `text` (Python's text[:limit]), each invalid byte replaced by
// U+FFFD, so that the result is valid UTF-8 whatever the bytes (a parser's message may quote
// part of a multi-byte character).
inline std::string utf8_prefix(const std::string& text, std::size_t limit) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  std::string out;
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size() && count < limit; ++count) {
    const std::size_t length = utf8_sequence_length(bytes, text.size(), i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text, i, length);
      i += length;
    }
  }
  return out;
}

}  // namespace onebit
