// repr() of a JSON value as Python's json module would load it (dict, list, str, int, float,
// True/False/None): the Python loader prints graph fields this way in its messages.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "pyformat.h"

namespace onebit::pyformat {

template <class Json>
std::string json_repr(const Json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "None";
    case nlohmann::json::value_t::boolean: return value.template get<bool>() ? "True" : "False";
    case nlohmann::json::value_t::number_integer:
      return std::to_string(value.template get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return std::to_string(value.template get<std::uint64_t>());
    case nlohmann::json::value_t::number_float: return float_repr(value.template get<double>());
    case nlohmann::json::value_t::string: return repr(value.template get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      std::string out = "[";
      bool first = true;
      for (const auto& item : value) {
        out += (first ? "" : ", ") + json_repr(item);
        first = false;
      }
      return out + "]";
    }
    case nlohmann::json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        out += (first ? "" : ", ") + repr(it.key()) + ": " + json_repr(it.value());
        first = false;
      }
      return out + "}";
    }
    default: return "?";
  }
}

}  // namespace onebit::pyformat
