// How the bindings hand a program's data to Python: its graph as the value json.loads builds
// (integers beyond 64 bits are stored by untrusted_json.h as the binary subtype holding their
// digits) and its tensors' dtypes as NumPy's.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "executor/program_file.h"

namespace onebit::binding {

inline nanobind::object to_python(const nlohmann::ordered_json& value) {
  namespace nb = nanobind;
  using Json = nlohmann::ordered_json;
  switch (value.type()) {
    case Json::value_t::null:
      return nb::none();
    case Json::value_t::boolean:
      return nb::bool_(value.get<bool>());
    case Json::value_t::number_unsigned:
      return nb::int_(value.get<std::uint64_t>());
    case Json::value_t::number_integer:
      return nb::int_(value.get<std::int64_t>());
    case Json::value_t::number_float:
      return nb::float_(value.get<double>());
    case Json::value_t::string:
      return nb::str(value.get_ref<const std::string&>().c_str(),
                     value.get_ref<const std::string&>().size());
    case Json::value_t::binary: {
      const std::string digits(value.get_binary().begin(), value.get_binary().end());
      return nb::steal(PyLong_FromString(digits.c_str(), nullptr, 10));
    }
    case Json::value_t::array: {
      nb::list list;
      for (const auto& item : value) list.append(to_python(item));
      return list;
    }
    default: {
      nb::dict dict;
      for (auto it = value.begin(); it != value.end(); ++it)
        dict[nb::str(it.key().c_str(), it.key().size())] = to_python(it.value());
      return dict;
    }
  }
}

inline nanobind::dlpack::dtype dlpack_dtype(Dtype dtype) {
  switch (dtype) {
    case Dtype::u64:
      return nanobind::dtype<std::uint64_t>();
    case Dtype::i32:
      return nanobind::dtype<std::int32_t>();
    case Dtype::u8:
      return nanobind::dtype<std::uint8_t>();
    default:
      return nanobind::dtype<float>();
  }
}

}  // namespace onebit::binding
