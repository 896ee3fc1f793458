// Argument checks and array helpers shared by the binding files (bindings/python_module.cpp,
// bindings/python_float_kernels.cpp): the only headers besides them that include nanobind.
//
// The kernels never trust their caller: every size-like argument is read from any Python int
// (int_arg: a value beyond int64 is a ValueError naming it, not nanobind's TypeError or a
// std::bad_cast), every size is held to common/checked.h's limits, and every output buffer is sized
// through checked_buffer_elements. `named` wraps each binding so that whatever it raises names the
// kernel.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/bit_format.h"
#include "common/checked.h"
#include "common/cpu_features.h"
#include "common/threads.h"
#include "float/float_chain.h"

namespace nb = nanobind;

namespace onebit::binding {

using Array = nb::ndarray<nb::ro>;
using Shape = std::vector<std::size_t>;

inline std::string shape_text(const Array& x) {
  std::string text = "(";
  for (std::size_t i = 0; i < x.ndim(); ++i) {
    if (i) text += ", ";
    text += std::to_string(x.shape(i));
  }
  return text + (x.ndim() == 1 ? ",)" : ")");
}

inline std::string dtype_text(nb::dlpack::dtype d) {
  const char* kind = d.code == static_cast<std::uint8_t>(nb::dlpack::dtype_code::Int)     ? "int"
                     : d.code == static_cast<std::uint8_t>(nb::dlpack::dtype_code::UInt)  ? "uint"
                     : d.code == static_cast<std::uint8_t>(nb::dlpack::dtype_code::Float) ? "float"
                     : d.code == static_cast<std::uint8_t>(nb::dlpack::dtype_code::Bool)  ? "bool"
                                                                                          : "other";
  return std::string(kind) + std::to_string(d.bits);
}

[[noreturn]] inline void fail_value(const std::string& message) { throw nb::value_error(message.c_str()); }
[[noreturn]] inline void fail_type(const std::string& message) { throw nb::type_error(message.c_str()); }

inline bool c_contiguous(const Array& x) {
  for (std::size_t i = 0; i < x.ndim(); ++i)
    if (x.shape(i) == 0) return true;  // an empty array has no layout to get wrong
  std::int64_t expected = 1;
  for (std::size_t i = x.ndim(); i-- > 0;) {
    if (x.shape(i) != 1 && x.stride(i) != expected) return false;
    expected *= static_cast<std::int64_t>(x.shape(i));
  }
  return true;
}

// Refuses an array whose data does not start at a multiple of its element size (a NumPy view at
// a byte offset, such as np.ndarray(..., buffer=raw, offset=1)): the kernels load whole elements,
// and a misaligned load is undefined behaviour (the sanitizer build aborts on it; x86 merely
// tolerates it). Called with the dtype already checked, so the size in the message is the one the
// kernel wants.
inline void check_aligned(const Array& x, const char* name) {
  const nb::dlpack::dtype d = x.dtype();
  const std::size_t bytes = (static_cast<std::size_t>(d.bits) * d.lanes + 7) / 8;
  if (bytes > 1 && reinterpret_cast<std::uintptr_t>(x.data()) % bytes != 0)
    fail_value(std::string(name) + " must be aligned to " + std::to_string(bytes) +
               " bytes (its data starts at an unaligned byte offset); pass np.require(" + name +
               ", requirements='A')");
}

// Checks the device, the number of axes (between min_ndim and max_ndim), the extents, the
// C-contiguity and the alignment of `x`: every array argument of every kernel goes through it
// (bgemm's out= through c_contiguous and check_aligned).
inline void check_layout(const Array& x, const char* name, std::size_t min_ndim, std::size_t max_ndim) {
  if (x.device_type() != nb::device::cpu::value)
    fail_type(std::string(name) + " must be a CPU array");
  if (x.ndim() < min_ndim || x.ndim() > max_ndim) {
    const std::string want = min_ndim == max_ndim ? std::to_string(min_ndim) + " axes"
                                                  : "at least " + std::to_string(min_ndim) + " axis";
    fail_value(std::string(name) + " must have " + want + ", got shape " + shape_text(x));
  }
  for (std::size_t i = 0; i < x.ndim(); ++i)
    if (x.shape(i) > static_cast<std::size_t>(kMaxExtent))
      fail_value(std::string(name) + " has shape " + shape_text(x) +
                 "; every side must be at most " + std::to_string(kMaxExtent));
  if (!c_contiguous(x))
    fail_value(std::string(name) + " must be C-contiguous (got strides of a view); pass "
               "np.ascontiguousarray(" + name + ")");
  check_aligned(x, name);
}

inline void check_words(const Array& x, const char* name) {
  if (x.dtype() != nb::dtype<word_t>())
    fail_type(std::string(name) + " must hold uint64 packed words, got " + dtype_text(x.dtype()));
}

inline SimdPath resolve_simd(const std::optional<std::string>& simd) {
  if (!simd) return default_simd_path();
  SimdPath path;
  if (!simd_from_name(*simd, &path))
    fail_value("simd='" + *simd + "' is not available on this CPU; available: " + simd_paths_text());
  return path;
}

// repr(value), cut to 60 characters (an int of 400 digits says nothing more in full).
inline std::string repr_text(nb::handle value) {
  std::string text = nb::cast<std::string>(nb::repr(value));
  return text.size() <= 60 ? text : text.substr(0, 57) + "...";
}

inline std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.9g", value);
  return text;
}

// A size-like argument: a Python int (or an object with __index__, such as a NumPy integer; not a
// bool) within [lo, hi], else TypeError or ValueError "name=value " + rule() (by default "is out
// of range [lo, hi]"; built only on failure, as are all messages here: these run on every call).
// Any int is accepted on the way in, so 2**70 gets this message rather than nanobind's
// "incompatible function arguments" or a std::bad_cast.
template <typename Name, typename Rule>
std::int64_t int_arg(nb::handle value, const Name& name, std::int64_t lo, std::int64_t hi,
                     const Rule& rule) {
  int overflow = 0;
  long long v = 0;
  if (PyLong_CheckExact(value.ptr())) {
    v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  } else {
    if (nb::isinstance<bool>(value) || !PyIndex_Check(value.ptr()))
      fail_type(std::string(name) + " must be an int, got " + repr_text(value));
    PyObject* index = PyNumber_Index(value.ptr());
    if (index == nullptr) {
      PyErr_Clear();
      fail_type(std::string(name) + " must be an int, got " + repr_text(value));
    }
    v = PyLong_AsLongLongAndOverflow(index, &overflow);
    Py_DECREF(index);
  }
  if (overflow != 0 || v < lo || v > hi)
    fail_value(std::string(name) + "=" + repr_text(value) + " " + rule());
  return static_cast<std::int64_t>(v);
}

template <typename Name>
std::int64_t int_arg(nb::handle value, const Name& name, std::int64_t lo, std::int64_t hi) {
  return int_arg(value, name, lo, hi, [&] {
    return "is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  });
}

// A size-like argument that must be in [lo, kMaxExtent].
inline std::int64_t size_arg(nb::handle value, const char* name, std::int64_t lo) {
  return int_arg(value, name, lo, kMaxExtent, [&] {
    return "is out of range: " + std::string(name) + " must be >= " + std::to_string(lo) +
           " and <= " + std::to_string(kMaxExtent);
  });
}

// threads: 0 (the default, get_num_threads()) up to kMaxThreads.
inline int check_threads(nb::handle threads) {
  return resolve_threads(static_cast<int>(int_arg(threads, "threads", 0, kMaxThreads, [] {
    return "is out of range: threads must be >= 0 and <= " + std::to_string(kMaxThreads) +
           " (0 = the default)";
  })));
}

// A new C-contiguous NumPy array of `shape`, its size checked against kMaxBufferBytes first.
template <typename T>
inline nb::ndarray<nb::numpy, T> new_array(const Shape& shape, const char* what = "the output") {
  const std::int64_t size = checked_buffer_elements(shape, sizeof(T), what);
  T* data = new T[static_cast<std::size_t>(size == 0 ? 1 : size)];
  nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<T*>(p); });
  return nb::ndarray<nb::numpy, T>(data, shape.size(), shape.data(), owner);
}

// "name[index]", spelled out only for an error message.
struct ItemName {
  const char* name;
  int index;
  operator std::string() const { return std::string(name) + "[" + std::to_string(index) + "]"; }
};

// An int or a pair of ints (kernel, stride, padding), each within [-kMaxExtent, kMaxExtent]; the
// caller checks the sign.
inline std::pair<std::int64_t, std::int64_t> int_pair(nb::handle value, const char* name) {
  if (nb::isinstance<nb::sequence>(value) && !nb::isinstance<nb::str>(value)) {
    if (nb::len(value) != 2)
      fail_value(std::string(name) + " must be an int or a pair of ints, got " + repr_text(value));
    return {int_arg(value[0], ItemName{name, 0}, -kMaxExtent, kMaxExtent),
            int_arg(value[1], ItemName{name, 1}, -kMaxExtent, kMaxExtent)};
  }
  if (nb::isinstance<bool>(value) || !PyIndex_Check(value.ptr()))
    fail_value(std::string(name) + " must be an int or a pair of ints, got " + repr_text(value));
  const std::int64_t v = int_arg(value, name, -kMaxExtent, kMaxExtent);
  return {v, v};
}

// A float argument as float32: NaN refused unless allow_nan; a finite value beyond float32's
// range refused (the conversion would be undefined behaviour); infinities pass.
inline float float32_arg(double value, const std::string& name, bool allow_nan = false) {
  if (std::isnan(value) && !allow_nan) fail_value(name + " must not be NaN");
  if (std::isfinite(value) && std::fabs(value) > std::numeric_limits<float>::max())
    fail_value(name + "=" + number_text(value) + " is out of the float32 range");
  return static_cast<float>(value);
}

// Checks a per-channel vector: dtype T, shape (channels,), contiguous, on the CPU.
template <typename T>
inline const T* check_channel_vector(const Array& v, const char* name, const char* dtype_name,
                              std::int64_t channels) {
  if (v.dtype() != nb::dtype<T>())
    fail_type(std::string(name) + " must be " + dtype_name + ", got " + dtype_text(v.dtype()));
  check_layout(v, name, 1, 1);
  if (static_cast<std::int64_t>(v.shape(0)) != channels)
    fail_value(std::string(name) + " must have shape (" + std::to_string(channels) +
               ",) (one value per channel), got " + shape_text(v));
  return static_cast<const T*>(v.data());
}

// The steps of float_chain.h from Python: a sequence of tuples, each one of
//   ("affine", scale, bias)  ("relu",)  ("prelu", slope)  ("hardtanh", low, high)  ("add", residual)
// with float32 (channels,) vectors and a float32 C-contiguous residual of shape `map_shape`.
// `arrays` keeps the checked arrays alive while the steps point into them.
struct ParsedChain {
  std::vector<ChainStep> steps;
  std::vector<Array> arrays;
};

inline ParsedChain parse_chain(nb::handle post, std::int64_t channels, const Shape& map_shape) {
  ParsedChain chain;
  if (post.is_none()) return chain;
  if (!nb::isinstance<nb::sequence>(post) || nb::isinstance<nb::str>(post))
    fail_type("post must be a sequence of (step, ...) tuples");
  const std::size_t count = nb::len(post);
  chain.arrays.reserve(2 * count);
  for (std::size_t i = 0; i < count; ++i) {
    nb::object item = post[i];
    const std::string where = "post[" + std::to_string(i) + "]";
    if (!nb::isinstance<nb::tuple>(item) || nb::len(item) == 0 ||
        !nb::isinstance<nb::str>(item[0]))
      fail_type(where + " must be a tuple starting with a step name");
    const std::string name = nb::cast<std::string>(item[0]);
    const std::size_t args = nb::len(item) - 1;
    auto want = [&](std::size_t n, const char* form) {
      if (args != n) fail_value(where + ": " + name + " takes " + form);
    };
    auto vector = [&](std::size_t k, const char* role) -> const float* {
      Array a;
      nb::object value = item[k];
      if (!nb::try_cast<Array>(value, a))
        fail_type(where + ": " + role + " must be a float32 array");
      chain.arrays.push_back(a);
      return check_channel_vector<float>(chain.arrays.back(), (where + " " + role).c_str(),
                                         "float32", channels);
    };
    auto number = [&](std::size_t k) -> float {
      nb::object v = item[k];
      if (nb::isinstance<bool>(v) || !(nb::isinstance<nb::float_>(v) || nb::isinstance<nb::int_>(v)))
        fail_type(where + ": " + name + " bounds must be numbers");
      const double bound = PyFloat_AsDouble(v.ptr());
      if (bound == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        fail_value(where + ": " + name + " bound " + repr_text(v) + " is out of the float range");
      }
      return float32_arg(bound, where + ": " + name + " bound");
    };
    ChainStep step;
    if (name == "affine") {
      want(2, "(scale, bias)");
      step.op = ChainOp::affine;
      step.a = vector(1, "scale");
      step.b = vector(2, "bias");
    } else if (name == "relu") {
      want(0, "no arguments");
      step.op = ChainOp::relu;
    } else if (name == "prelu") {
      want(1, "(slope,)");
      step.op = ChainOp::prelu;
      step.a = vector(1, "slope");
    } else if (name == "hardtanh") {
      want(2, "(low, high)");
      step.op = ChainOp::hardtanh;
      step.lo = number(1);
      step.hi = number(2);
    } else if (name == "add") {
      want(1, "(residual,)");
      step.op = ChainOp::add;
      Array r;
      nb::object value = item[1];
      if (!nb::try_cast<Array>(value, r) || r.dtype() != nb::dtype<float>())
        fail_type(where + ": the residual must be a float32 array");
      chain.arrays.push_back(r);
      const Array& residual = chain.arrays.back();
      check_layout(residual, (where + " residual").c_str(), map_shape.size(), map_shape.size());
      for (std::size_t d = 0; d < map_shape.size(); ++d) {
        if (residual.shape(d) == map_shape[d]) continue;
        std::string expected = "(";
        for (std::size_t e = 0; e < map_shape.size(); ++e)
          expected += (e ? ", " : "") + std::to_string(map_shape[e]);
        fail_value(where + ": the residual has shape " + shape_text(residual) +
                   ", the output has " + expected + ")");
      }
      step.residual = static_cast<const float*>(residual.data());
    } else {
      fail_value(where + ": unknown step '" + name +
                 "' (affine, relu, prelu, hardtanh or add)");
    }
    chain.steps.push_back(step);
  }
  return chain;
}

// Wraps a binding function so that every error it raises starts with the kernel's name:
// ValueError and TypeError keep their type, a SizeError (common/checked.h) becomes ValueError, a
// failed cast TypeError, and a failed allocation MemoryError.
template <typename R, typename... Args>
auto named(const char* kernel, R (*fn)(Args...)) {
  return [kernel, fn](Args... args) -> R {
    auto text = [kernel](const char* what) { return std::string(kernel) + ": " + what; };
    try {
      return fn(std::forward<Args>(args)...);
    } catch (const nb::builtin_exception& e) {
      throw nb::builtin_exception(e.type(), text(e.what()).c_str());
    } catch (const SizeError& e) {
      throw nb::value_error(text(e.what()).c_str());
    } catch (const nb::cast_error&) {
      throw nb::type_error(text("an argument has the wrong type").c_str());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, text("out of memory").c_str());
      throw nb::python_error();
    }
  };
}

}  // namespace onebit::binding
