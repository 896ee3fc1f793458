// Python bindings of the C++ executor (csrc/executor/): build a program from its graph and
// tensors, run it on a float batch. Errors become the Python runtime's own exceptions:
// program_error -> ProgramError, program_file_error -> ProgramFileError, input_error -> OnebitError.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bindings/python_checks.h"
#include "bindings/python_program_data.h"
#include "executor/loader.h"
#include "executor/program.h"
#include "executor/untrusted_json.h"

namespace onebit {

namespace {

Dtype dtype_of(nb::dlpack::dtype dtype, const std::string& name) {
  if (dtype == nb::dtype<std::uint64_t>()) return Dtype::u64;
  if (dtype == nb::dtype<std::int32_t>()) return Dtype::i32;
  if (dtype == nb::dtype<std::uint8_t>()) return Dtype::u8;
  if (dtype == nb::dtype<float>()) return Dtype::f32;
  binding::fail_type("tensor '" + name + "' must be uint64, int32, uint8 or float32");
}

// Tensors copied from NumPy arrays ({name: array}), for the names in `order`.
TensorTable copy_tensors(nb::dict arrays, const std::vector<std::string>& order) {
  TensorTable tensors;
  for (const std::string& name : order) {
    const auto array = nb::cast<nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>>(arrays[name.c_str()]);
    onebit::Shape shape;
    for (std::size_t i = 0; i < array.ndim(); ++i) shape.push_back(static_cast<std::int64_t>(array.shape(i)));
    tensors.emplace(name, Tensor(dtype_of(array.dtype(), name), shape, array.data()));
  }
  return tensors;
}

nb::ndarray<nb::numpy> run_program(const Program& program, const nb::ndarray<float, nb::c_contig, nb::device::cpu>& x,
                                   nb::handle threads) {
  const int n_threads = binding::check_threads(threads);
  const std::int64_t batch = x.ndim() ? static_cast<std::int64_t>(x.shape(0)) : 0;
  const bool shape_ok = x.ndim() == program.input_shape().size() + 1 &&
                        std::equal(program.input_shape().begin(), program.input_shape().end(),
                                   x.shape_ptr() + 1);
  if (!shape_ok) throw input_error("input must have shape (N, ...) matching the program's input");
  onebit::Shape shape{batch};
  shape.insert(shape.end(), program.output_shape().begin(), program.output_shape().end());
  std::vector<std::size_t> sizes(shape.begin(), shape.end());
  const std::int64_t bytes = batch * program.output_elements() * kind_size(program.output_kind());
  auto* data = new std::uint64_t[static_cast<std::size_t>((bytes + 7) / 8 + 1)];
  nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<std::uint64_t*>(p); });
  {
    nb::gil_scoped_release release;
    program.run(x.data(), batch, data, n_threads);
  }
  const nb::dlpack::dtype dtype = program.output_kind() == Kind::float32 ? nb::dtype<float>()
                                  : program.output_kind() == Kind::int32 ? nb::dtype<std::int32_t>()
                                                                         : nb::dtype<std::uint64_t>();
  return nb::ndarray<nb::numpy>(data, sizes.size(), sizes.data(), owner, nullptr, dtype);
}

nb::tuple shape_tuple(const onebit::Shape& shape) {
  nb::list sides;
  for (const std::int64_t side : shape) sides.append(side);
  return nb::tuple(sides);
}

const char* output_dtype(const Program& program) {
  switch (program.output_kind()) {
    case Kind::float32:
      return "float32";
    case Kind::int32:
      return "int32";
    default:
      return "uint64";
  }
}

// The program's tensors in file order, as read-only arrays over its own storage (each keeps
// the Python Program object, and with it the storage, alive).
nb::dict program_tensors(const Program& program) {
  const nb::object self = nb::find(&program);
  nb::dict tensors;
  for (const std::string& name : program.tensor_order()) {
    const Tensor& tensor = program.tensors().at(name);
    std::vector<std::size_t> shape(tensor.shape().begin(), tensor.shape().end());
    tensors[nb::str(name.c_str(), name.size())] =
        nb::ndarray<nb::numpy, nb::ro>(tensor.data<std::uint8_t>(), shape.size(), shape.data(),
                                       self, nullptr, binding::dlpack_dtype(tensor.dtype()));
  }
  return tensors;
}

// Each op's median wall time (seconds) over `repeats` calls on the batch x, after one warm-up.
std::vector<double> profile_program(const Program& program,
                                    const nb::ndarray<float, nb::c_contig, nb::device::cpu>& x,
                                    nb::handle threads, int repeats) {
  const int n_threads = binding::check_threads(threads);
  if (repeats < 1 || repeats > 100000) throw nb::value_error("repeats must be 1 to 100000");
  const std::int64_t batch = x.ndim() ? static_cast<std::int64_t>(x.shape(0)) : 0;
  const bool shape_ok = x.ndim() == program.input_shape().size() + 1 && batch > 0 &&
                        std::equal(program.input_shape().begin(), program.input_shape().end(),
                                   x.shape_ptr() + 1);
  if (!shape_ok) throw input_error("input must have shape (N, ...) matching the program's input, N > 0");
  const std::int64_t bytes = batch * program.output_elements() * kind_size(program.output_kind());
  std::vector<std::uint64_t> out(static_cast<std::size_t>((bytes + 7) / 8 + 1));
  std::vector<std::vector<double>> samples(program.ops().size());
  {
    nb::gil_scoped_release release;
    program.run(x.data(), batch, out.data(), n_threads);
    for (int r = 0; r < repeats; ++r) {
      std::vector<double> seconds;
      program.run(x.data(), batch, out.data(), n_threads, &seconds);
      for (std::size_t i = 0; i < seconds.size(); ++i) samples[i].push_back(seconds[i]);
    }
  }
  std::vector<double> medians;
  for (std::vector<double>& op : samples) {
    std::sort(op.begin(), op.end());
    medians.push_back(op[op.size() / 2]);
  }
  return medians;
}

// (type, output name, per-sample output shape, work per sample) of each op, in run order.
nb::list op_summaries(const Program& program) {
  nb::list ops;
  for (const auto& op : program.ops())
    ops.append(nb::make_tuple(nb::str(op->type().c_str()), nb::str(op->output().c_str()),
                              shape_tuple(program.value(op->output()).shape), op->work()));
  return ops;
}

}  // namespace

void register_executor(nb::module_& m) {
  m.def(
      "place_values",
      [](const std::vector<std::int64_t>& bytes, const std::vector<std::size_t>& first,
         const std::vector<std::size_t>& last) {
        if (first.size() != bytes.size() || last.size() != bytes.size())
          throw nb::value_error("place_values: bytes, first and last need one entry per value");
        std::vector<ValueLifetime> values;
        for (std::size_t v = 0; v < bytes.size(); ++v) {
          if (bytes[v] < 0 || bytes[v] > kMaxBufferBytes || last[v] < first[v] ||
              (v && first[v] < first[v - 1]))
            throw nb::value_error(
                "place_values: each value needs 0 <= bytes <= 2^36, first <= last, and "
                "non-decreasing first");
          values.push_back({bytes[v], first[v], last[v]});
        }
        const ValuePlacement placement = place_values(values);
        return nb::make_tuple(placement.offsets, placement.arena_bytes);
      },
      nb::arg("bytes"), nb::arg("first"), nb::arg("last"),
      "(offsets, arena bytes) of values live from op `first` to op `last` (inclusive), placed "
      "first fit in one arena as a program's call places its values (executor/value_arena.h).");
  nb::register_exception_translator([](const std::exception_ptr& error, void*) {
    const nb::module_ errors = nb::module_::import_("onebit.runtime.errors");
    try {
      std::rethrow_exception(error);
    } catch (const program_error& e) {
      PyErr_SetString(errors.attr("ProgramError").ptr(), e.what());
    } catch (const program_file_error& e) {
      PyErr_SetString(errors.attr("ProgramFileError").ptr(), e.what());
    } catch (const input_error& e) {
      PyErr_SetString(nb::module_::import_("onebit._registry").attr("OnebitError").ptr(), e.what());
    }
  });
  nb::class_<Program>(m, "Program",
                      "A program loaded by the C++ executor (csrc/executor/program.h).")
      .def("__init__",
           [](Program* self, const std::string& graph, nb::dict tensors,
              const std::vector<std::string>& order, std::int64_t max_memory,
              std::int64_t max_work) {
             json parsed;
             try {
               parsed = parse_untrusted_json<json>(graph, "the program graph");
             } catch (const program_file_error& error) {  // not a file here: a graph error
               throw program_error(error.what());
             }
             new (self) Program(std::move(parsed), copy_tensors(tensors, order), order,
                                ProgramLimits{max_memory, max_work});
           },
           nb::arg("graph"), nb::arg("tensors"), nb::arg("order"), nb::arg("max_memory"),
           nb::arg("max_work"),
           "Validates `graph` (JSON text) over `tensors` ({name: array}, visited in `order`).")
      .def_static(
          "load_bytes",
          [](nb::bytes data, std::int64_t max_memory, std::int64_t max_work) {
            return load_program_memory(reinterpret_cast<const std::uint8_t*>(data.c_str()),
                                       data.size(), ProgramLimits{max_memory, max_work});
          },
          nb::arg("data"), nb::arg("max_memory"), nb::arg("max_work"),
          "Loads the bytes of a .onebit file: the file reader's checks, then the graph's.")
      .def_static(
          "load_file",
          [](const std::string& path, std::int64_t max_memory, std::int64_t max_work) {
            std::unique_ptr<Program> program;
            {
              nb::gil_scoped_release release;
              program = load_program(path, ProgramLimits{max_memory, max_work});
            }
            return program;
          },
          nb::arg("path"), nb::arg("max_memory"), nb::arg("max_work"),
          "Loads a .onebit file: the file reader's checks, then the graph's (errors name the path).")
      .def("profile", &profile_program, nb::arg("x"), nb::arg("threads") = 0,
           nb::arg("repeats") = 20,
           "Each op's median wall time in seconds over `repeats` calls on x, after a warm-up.")
      .def_prop_ro("op_summaries", &op_summaries,
                   "(type, output, per-sample output shape, work per sample) of each op.")
      .def("run", &run_program, nb::arg("x"), nb::arg("threads") = 0,
           "The output of the float32 batch x, shape (N, *input_shape).")
      .def_prop_ro("peak_bytes", [](const Program& p) { return static_cast<std::int64_t>(p.peak_bytes()); })
      .def_prop_ro("work", &Program::work)
      .def("memory_needed",
           [](const Program& p, std::int64_t batch) {
             return nb::steal(PyLong_FromString(
                 big_text(p.memory_needed(batch)).c_str(), nullptr, 10));
           },
           nb::arg("batch"), "Peak bytes of one call on `batch` samples (tensors not included).")
      .def_prop_ro("input_shape", [](const Program& p) { return shape_tuple(p.input_shape()); })
      .def_prop_ro("output_shape", [](const Program& p) { return shape_tuple(p.output_shape()); })
      .def_prop_ro("output_dtype", &output_dtype, "NumPy's name of the output's dtype.")
      .def_prop_ro("graph", [](const Program& p) { return binding::to_python(p.graph()); },
                   "The graph as json.loads builds it (a new object each time).")
      .def_prop_ro("setting_graph",
                   [](const Program& p) { return binding::to_python(p.setting_graph()); },
                   "The plain graph of this setting (the graph itself without switches).")
      .def_prop_ro("bits", [](const Program& p) { return shape_tuple(p.bits()); },
                   "This setting: one option per switch, in order (empty without switches).")
      .def(
          "with_bits",
          [](const Program& p, const std::vector<std::int64_t>& bits) {
            std::unique_ptr<Program> program;
            {
              nb::gil_scoped_release release;
              program = p.with_bits(bits);
            }
            return program;
          },
          nb::arg("bits"),
          "The program at another setting (one option per switch), over the same tensors.")
      .def_prop_ro("tensors", &program_tensors, "{name: read-only array} in the file's order.");
}

}  // namespace onebit
