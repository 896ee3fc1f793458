// Python bindings of the .onebit reader (executor/program_file.h), for the differential tests
// and for onebit.runtime once the C++ executor runs programs (until then format.py loads files).
// A program_file_error is raised as onebit.runtime.errors.ProgramFileError with its message.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bindings/python_program_data.h"
#include "executor/program_file.h"
#include "executor/sha256.h"

namespace nb = nanobind;

namespace onebit {
namespace {

using binding::to_python;

nb::tuple shape_tuple(const std::vector<std::int64_t>& shape) {
  nb::list sides;
  for (const std::int64_t side : shape) sides.append(side);
  return nb::tuple(sides);
}

nb::tuple py_read_program_file(nb::bytes data) {
  ProgramFile program;
  {
    const auto* bytes = static_cast<const std::uint8_t*>(data.data());
    const std::size_t size = data.size();
    nb::gil_scoped_release release;  // `data` is immutable and referenced by the caller
    program = read_program_file(bytes, size);
  }
  nb::dict layout;
  for (const TensorEntry& tensor : program.tensors)
    layout[nb::str(tensor.name.c_str(), tensor.name.size())] = nb::make_tuple(
        dtype_info(tensor.dtype).name, shape_tuple(tensor.shape), tensor.offset);
  return nb::make_tuple(to_python(program.graph), layout);
}

nb::tuple py_load_program_file(const std::string& path) {
  auto program = std::make_shared<LoadedProgram>();
  {
    nb::gil_scoped_release release;
    *program = load_program_file(path);
  }
  nb::dict tensors;
  for (std::size_t i = 0; i < program->file.tensors.size(); ++i) {
    const TensorEntry& tensor = program->file.tensors[i];
    std::vector<std::size_t> shape(tensor.shape.begin(), tensor.shape.end());
    // Each array keeps the whole store alive (a capsule holding a reference to it).
    nb::capsule owner(new std::shared_ptr<LoadedProgram>(program), [](void* p) noexcept {
      delete static_cast<std::shared_ptr<LoadedProgram>*>(p);
    });
    tensors[nb::str(tensor.name.c_str(), tensor.name.size())] = nb::ndarray<nb::numpy>(
        program->tensors.data(i), shape.size(), shape.data(), owner, nullptr,
        binding::dlpack_dtype(tensor.dtype));
  }
  return nb::make_tuple(to_python(program->file.graph), tensors);
}

// SHA-256 of `data`, fed in pieces of `chunk` bytes (0: at once), for the tests against hashlib.
std::string py_sha256_hex(nb::bytes data, std::size_t chunk) {
  const auto* bytes = static_cast<const std::uint8_t*>(data.data());
  const std::size_t size = data.size();
  if (chunk == 0) chunk = size > 0 ? size : 1;
  Sha256 digest;
  for (std::size_t at = 0; at < size; at += chunk)
    digest.update(bytes + at, size - at < chunk ? size - at : chunk);
  return digest.finish_hex();
}

}  // namespace

void register_program_file(nb::module_& m) {
  nb::register_exception_translator([](const std::exception_ptr& error, void*) {
    try {
      std::rethrow_exception(error);
    } catch (const program_file_error& e) {
      const nb::object type = nb::module_::import_("onebit.runtime.errors").attr("ProgramFileError");
      PyErr_SetString(type.ptr(), e.what());
    }
  });
  m.def("sha256_hex", &py_sha256_hex, nb::arg("data"), nb::arg("chunk") = 0,
        "SHA-256 (hex) of `data` by the C++ reader's implementation, fed `chunk` bytes at a "
        "time (0: all at once); hashlib's equal, for the tests.");
  m.def("read_program_file", &py_read_program_file, nb::arg("data"),
        "The C++ reader of a .onebit file's bytes (onebit.runtime.format.parse_program): "
        "(graph, {name: (dtype, shape, offset)}) with the dtype's safetensors name and the "
        "offset of the tensor's bytes in `data`; ProgramFileError with format.py's message.");
  m.def("load_program_file", &py_load_program_file, nb::arg("path"),
        "The C++ loader of a .onebit file (onebit.runtime.format.load_program): (graph, "
        "{name: array}), each array a copy aligned to 64 bytes; ProgramFileError with "
        "format.py's message, prefixed with the path.");
}

}  // namespace onebit
