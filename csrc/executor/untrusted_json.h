// JSON from an untrusted file, parsed by nlohmann/json with the rules of the Python loader
// (onebit/runtime/format.py: json_depth, parse_json), so that both accept the same texts, build
// the same values and refuse the rest with the same message.
//
// The nesting depth is measured first, by a scan that skips strings exactly as format.py's
// regular expression does: the format's limit, which also bounds the recursion of the code that
// walks a parsed value (python_repr_json, the bindings). nlohmann's lexer and parser then read the
// text, and DomBuilder builds the value from their events. Where nlohmann and Python's json
// module differ, the differences are removed before or after nlohmann parses:
//   - integers beyond 64 bits: Python keeps them exact, nlohmann turns them into floats (or
//     refuses them as overflowing). Such a number token is replaced, before parsing, by a 0 padded
//     with spaces, and its value (the SAX builder sees numbers in text order) by a
//     binary value of subtype kBigIntegerSubtype holding its decimal digits: a JSON text never
//     yields a binary value, so is_json_integer() knows it for an integer of no C++ type.
//     An integer of more than 4300 digits is refused with Python's message (its default
//     int_max_str_digits).
//   - floats beyond the double range (1e999): Python reads infinity, nlohmann refuses; the token
//     is replaced as above and its value set to +-infinity.
//   - NaN, Infinity, -Infinity: refused by both; the message says so as Python's does.
//   - a byte-order mark before the text: Python refuses it, nlohmann skips it; refused here.
//   - a \u escape that is an unpaired surrogate: nlohmann refuses it, and so does format.py (a
//     Python str would hold it, a UTF-8 string cannot).
//   - a key given twice: Python's dict keeps the first's place and the last value; so does the
//     builder (with nlohmann::ordered_json, which keeps keys in text order).
// Syntax errors name the problem in nlohmann's words where Python names it in its own; the
// message starts the same ("<what> is not valid JSON (").
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "executor/program_file_error.h"
#include "executor/python_repr.h"
#include "executor/utf8.h"

namespace onebit {

inline constexpr int kMaxJsonDepth = 64;
inline constexpr std::size_t kMaxIntegerDigits = 4300;  // Python's default int_max_str_digits
inline constexpr std::uint64_t kBigIntegerSubtype = 1;

// Whether a JSON value is an integer (not a float such as 1.0, not a boolean): Python's
// type(v) is int on the value json.loads builds.
template <typename Json>
bool is_json_integer(const Json& value) {
  return value.is_number_integer() ||
         (value.is_binary() && value.get_binary().has_subtype() &&
          value.get_binary().subtype() == kBigIntegerSubtype);
}

// The value of a JSON integer if it lies in [low, high], else false (a float, a boolean, an
// integer out of the range, one beyond 64 bits).
template <typename Json>
bool json_integer_in(const Json& value, std::int64_t low, std::int64_t high, std::int64_t& out) {
  if (value.is_number_unsigned()) {
    const auto v = value.template get<std::uint64_t>();
    if (high < 0 || v > static_cast<std::uint64_t>(high)) return false;
    out = static_cast<std::int64_t>(v);
  } else if (value.is_number_integer()) {
    out = value.template get<std::int64_t>();
  } else {
    return false;
  }
  return out >= low && out <= high;
}

// Python's repr() of the value json.loads would build.
template <typename Json>
std::string python_repr_json(const Json& value) {
  if (value.is_null()) return "None";
  if (value.is_boolean()) return value.template get<bool>() ? "True" : "False";
  if (value.is_number_unsigned()) return std::to_string(value.template get<std::uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.template get<std::int64_t>());
  if (value.is_number_float()) return python_float_repr(value.template get<double>());
  if (value.is_string()) return python_repr(value.template get_ref<const std::string&>());
  if (value.is_binary()) {
    const auto& digits = value.get_binary();
    return std::string(digits.begin(), digits.end());
  }
  std::string out;
  if (value.is_array()) {
    for (const auto& item : value) out += (out.empty() ? "" : ", ") + python_repr_json(item);
    return "[" + out + "]";
  }
  for (auto it = value.begin(); it != value.end(); ++it)
    out += (out.empty() ? "" : ", ") + python_repr(it.key()) + ": " + python_repr_json(it.value());
  return "{" + out + "}";
}

namespace json_detail {

// The end of the string that starts with the quote at text[begin], as format.py's expression
// "[^"\\]*(?:\\.[^"\\]*)*" matches it, or npos when it has no closing quote.
inline std::size_t string_end(const std::string& text, std::size_t begin) {
  for (std::size_t i = begin + 1; i < text.size(); ++i) {
    if (text[i] == '"') return i + 1;
    if (text[i] == '\\') ++i;
  }
  return std::string::npos;
}

struct OddNumber {
  std::size_t ordinal;  // among the number tokens, in text order
  std::size_t offset;   // of its first byte
  std::string digits;   // an integer's decimal digits; empty for a float
  double value;         // a float's value (+-infinity)
  bool too_long;        // an integer of more than kMaxIntegerDigits digits
};

// Whether text[begin, end) is a JSON number, and whether an integer (no fraction or exponent).
inline bool is_number_token(const std::string& text, std::size_t begin, std::size_t end,
                            bool& integer) {
  std::size_t i = begin;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < end && text[i] >= '0' && text[i] <= '9') ++i;
    return i > start;
  };
  if (i < end && text[i] == '-') ++i;
  if (i < end && text[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  integer = true;
  if (i < end && text[i] == '.') {
    ++i;
    integer = false;
    if (!digits()) return false;
  }
  if (i < end && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    integer = false;
    if (i < end && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == end;
}

// Whether the integer token text[begin, end) fits nlohmann's int64 (negative) or uint64.
inline bool fits_64_bits(const std::string& text, std::size_t begin, std::size_t end) {
  const bool negative = text[begin] == '-';
  const std::string digits = text.substr(begin + (negative ? 1 : 0), end - begin - (negative ? 1 : 0));
  const std::string limit = negative ? "9223372036854775808" : "18446744073709551615";
  return digits.size() < limit.size() || (digits.size() == limit.size() && digits <= limit);
}

// One pass over the text outside strings: the nesting depth (format.py's json_depth) and the
// number tokens nlohmann cannot hold as Python does, each replaced in `text` by a padded 0.
inline int scan(std::string& text, std::vector<OddNumber>& odd) {
  int depth = 0, deepest = 0;
  std::size_t ordinal = 0;
  bool strings = true;  // once a string has no end, no later quote starts one (see string_end)
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '"' && strings) {
      const std::size_t end = string_end(text, i);
      if (end != std::string::npos) {
        i = end;
        continue;
      }
      strings = false;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t end = i;
      while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) ||
                                   text[end] == '-' || text[end] == '+' || text[end] == '.' ||
                                   text[end] == 'e' || text[end] == 'E'))
        ++end;
      bool integer = false;
      if (strings && is_number_token(text, i, end, integer)) {
        OddNumber number{ordinal++, i, "", 0.0, false};
        bool is_odd = false;
        if (integer && !fits_64_bits(text, i, end)) {
          number.digits = text.substr(i, end - i);
          number.too_long = end - i - (text[i] == '-' ? 1 : 0) > kMaxIntegerDigits;
          is_odd = true;
        } else if (!integer) {
          number.value = std::strtod(text.substr(i, end - i).c_str(), nullptr);
          is_odd = std::isinf(number.value);
        }
        if (is_odd) {
          text[i] = '0';
          for (std::size_t k = i + 1; k < end; ++k) text[k] = ' ';
          odd.push_back(std::move(number));
        }
      }
      i = end;
      continue;
    }
    ++i;
  }
  return deepest;
}

inline std::string too_long_message(const OddNumber& number) {
  const std::size_t digits = number.digits.size() - (number.digits[0] == '-' ? 1 : 0);
  return "Exceeds the limit (" + std::to_string(kMaxIntegerDigits) +
         " digits) for integer string conversion: value has " + std::to_string(digits) +
         " digits; use sys.set_int_max_str_digits() to increase the limit";
}

// The detail of a parse error at the 0-based byte `at`: Python's words where the cause is one
// Python names differently (a constant that is not a number, an unpaired surrogate).
inline std::string error_detail(const std::string& text, std::size_t at, const std::string& what) {
  std::size_t before = std::min(at, text.size());
  if (before < text.size() && text[before] == 'I' && before > 0 && text[before - 1] == '-')
    --before;
  std::size_t prev = before;
  while (prev > 0 && (text[prev - 1] == ' ' || text[prev - 1] == '\t' || text[prev - 1] == '\n' ||
                      text[prev - 1] == '\r'))
    --prev;
  const bool value_expected =
      prev == 0 || text[prev - 1] == '[' || text[prev - 1] == ',' || text[prev - 1] == ':';
  for (const char* constant : {"NaN", "Infinity", "-Infinity"})
    if (value_expected && text.compare(before, std::char_traits<char>::length(constant), constant) == 0)
      return std::string(constant) + " is not a JSON number";
  if (what.find("surrogate") != std::string::npos) return "a \\u escape is an unpaired surrogate";
  const std::size_t start = what.find("] ");
  return start == std::string::npos ? what : what.substr(start + 2);
}

template <typename Object>
struct is_ordered_map : std::false_type {};
template <typename... Args>
struct is_ordered_map<nlohmann::ordered_map<Args...>> : std::true_type {};

// Builds the value from nlohmann's SAX events (its own DOM builder with a callback rescans an
// object at the end of each member object, quadratic in a header's entries), putting back the
// odd numbers scan() replaced (they come in text order).
template <typename Json>
class DomBuilder : public nlohmann::json_sax<Json> {
 public:
  using Int = typename Json::number_integer_t;
  using Unsigned = typename Json::number_unsigned_t;
  using Float = typename Json::number_float_t;
  using String = typename Json::string_t;

  DomBuilder(Json& root, const std::vector<OddNumber>& odd) : root_(root), odd_(odd) {}

  std::string error;           // nlohmann's message, after a parse error
  std::size_t error_byte = 0;  // 1-based, of the last byte read

  bool null() override { return add(Json(nullptr)); }
  bool boolean(bool value) override { return add(Json(value)); }
  bool number_integer(Int value) override { return number(Json(value)); }
  bool number_unsigned(Unsigned value) override { return number(Json(value)); }
  bool number_float(Float value, const String&) override { return number(Json(value)); }
  bool string(String& value) override { return add(Json(std::move(value))); }
  bool binary(typename Json::binary_t& value) override { return add(Json::binary(value)); }
  bool start_object(std::size_t) override { return open(Json::object()); }
  bool start_array(std::size_t) override { return open(Json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(String& key) override {
    key_ = std::move(key);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const typename Json::exception& cause) override {
    error = cause.what();
    error_byte = position;
    return false;
  }

 private:
  bool number(Json value) {
    if (next_odd_ < odd_.size() && odd_[next_odd_].ordinal == ordinal_) {
      const OddNumber& odd = odd_[next_odd_++];
      if (odd.digits.empty()) {
        value = odd.value;
      } else {
        value = Json::binary(
            typename Json::binary_t::container_type(odd.digits.begin(), odd.digits.end()),
            kBigIntegerSubtype);
      }
    }
    ++ordinal_;
    return add(std::move(value));
  }

  // Places `value` in the innermost open container (at an object's last key: the last value
  // wins and keeps the first's place, as in Python's dict), or as the root; the place it took.
  Json* place(Json&& value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Open& open = stack_.back();
    Json& parent = *open.container;
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    auto& object = parent.template get_ref<typename Json::object_t&>();
    if constexpr (is_ordered_map<typename Json::object_t>::value) {
      // ordered_map finds a key by a linear search: an index keeps a large object linear.
      const auto [at, fresh] = open.index.emplace(key_, object.size());
      if (fresh) {
        object.emplace_back(std::move(key_), std::move(value));
        return &object.back().second;
      }
      Json& slot = (object.begin() + static_cast<std::ptrdiff_t>(at->second))->second;
      slot = std::move(value);
      return &slot;
    } else {
      Json& slot = object[key_];
      slot = std::move(value);
      return &slot;
    }
  }

  bool add(Json&& value) {
    place(std::move(value));
    return true;
  }
  bool open(Json&& container) {
    Json* placed = place(std::move(container));
    stack_.push_back({placed, {}});
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  Json& root_;
  const std::vector<OddNumber>& odd_;
  struct Open {
    Json* container;  // stable: a child is complete before its parent grows
    std::unordered_map<String, std::size_t> index;  // an ordered_map's keys, by position
  };
  std::vector<Open> stack_;
  String key_;
  std::size_t ordinal_ = 0, next_odd_ = 0;
};

}  // namespace json_detail

// Parses the untrusted UTF-8 `text` (see the top of this file), or program_file_error naming
// `what`. With Json = nlohmann::ordered_json, objects keep their keys in text order, each key
// in the place of its first occurrence with the value of its last, as Python's dict does.
template <typename Json>
Json parse_untrusted_json(std::string text, const std::string& what) {
  std::vector<json_detail::OddNumber> odd;
  if (json_detail::scan(text, odd) > kMaxJsonDepth)
    throw program_file_error(what + " nests deeper than " + std::to_string(kMaxJsonDepth) +
                             " levels");
  const auto refuse = [&](const std::string& detail) {
    throw program_file_error(what + " is not valid JSON (" + utf8_prefix(detail, 200) + ")");
  };
  const json_detail::OddNumber* too_long = nullptr;
  for (const auto& number : odd)
    if (number.too_long && too_long == nullptr) too_long = &number;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0)
    refuse("Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)");
  Json value;
  json_detail::DomBuilder<Json> builder(value, odd);
  if (!Json::sax_parse(text.begin(), text.end(), &builder)) {
    const std::size_t at = builder.error_byte > 0 ? builder.error_byte - 1 : 0;
    std::string detail = json_detail::error_detail(text, at, builder.error);
    if (too_long != nullptr &&
        (too_long->offset < at || detail == "a \\u escape is an unpaired surrogate"))
      detail = json_detail::too_long_message(*too_long);
    refuse(detail);
  }
  if (too_long != nullptr) refuse(json_detail::too_long_message(*too_long));
  return value;
}

}  // namespace onebit
