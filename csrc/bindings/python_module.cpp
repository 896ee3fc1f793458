// Python bindings of the packed kernels: the only file that includes nanobind.
//
// Every function checks its arrays before any work (dtype, ndim, shape agreement, C-contiguity,
// alignment to the element size, CPU memory) and its sizes against common/checked.h's limits (any
// Python int is accepted and range-checked), and raises TypeError (wrong type or dtype) or
// ValueError (wrong shape, layout, value or size) naming the kernel and the argument.
// Non-contiguous or misaligned arrays are rejected rather than copied, so no hidden copy sits on a
// hot path: pass np.ascontiguousarray(x) or np.require(x, requirements='A'). Kernels
// release the GIL. Results are new NumPy arrays (bgemm can write into `out`).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bconv2d/bconv2d.h"  // bconv2d, output transforms, binary max-pool
#include "bconv2d/output_transform.h"
#include "bgemm/bgemm.h"
#include "bindings/python_checks.h"
#include "bitpack/bitpack.h"
#include "common/bit_format.h"
#include "common/cpu_features.h"
#include "common/threads.h"
#include "bmaxpool2d/bmaxpool2d.h"

namespace onebit {

void register_float_kernels(nb::module_& m);  // bindings/python_float_kernels.cpp
void register_executor(nb::module_& m);       // bindings/python_executor.cpp
void register_program_file(nb::module_& m);   // bindings/python_program_file.cpp
void register_bitserial(nb::module_& m);      // bindings/python_bitserial.cpp

namespace {

using namespace binding;

nb::ndarray<nb::numpy, word_t> py_bitpack(const Array& x, nb::handle threads,
                                          const std::optional<std::string>& simd) {
  const bool is_f32 = x.dtype() == nb::dtype<float>();
  const bool is_i8 = x.dtype() == nb::dtype<std::int8_t>();
  if (!is_f32 && !is_i8)
    fail_type("x must be float32 or int8, got " + dtype_text(x.dtype()));
  check_layout(x, "x", 1, 32);
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  const std::int64_t channels = static_cast<std::int64_t>(x.shape(x.ndim() - 1));
  Shape shape(x.ndim());
  std::int64_t rows = 1;
  for (std::size_t i = 0; i + 1 < x.ndim(); ++i) {
    shape[i] = x.shape(i);
    rows *= static_cast<std::int64_t>(x.shape(i));
  }
  shape.back() = static_cast<std::size_t>(words_for(channels));
  auto out = new_array<word_t>(shape);
  word_t* dst = out.data();
  {
    nb::gil_scoped_release release;
    for_row_chunks(rows, channels, n_threads, [&](std::int64_t r0, std::int64_t r1) {
      if (is_f32) {
        bitpack_rows(static_cast<const float*>(x.data()), r0, r1, channels, dst, path);
      } else {
        bitpack_rows(static_cast<const std::int8_t*>(x.data()), r0, r1, channels, dst, path);
      }
    });
  }
  return out;
}

nb::ndarray<nb::numpy, float> py_unpack(const Array& words, nb::handle channels_arg,
                                        nb::handle threads,
                                        const std::optional<std::string>& simd) {
  check_words(words, "words");
  check_layout(words, "words", 1, 32);
  const std::int64_t channels = size_arg(channels_arg, "channels", 1);
  const std::int64_t w = static_cast<std::int64_t>(words.shape(words.ndim() - 1));
  if (w != words_for(channels))
    fail_value("words has " + std::to_string(w) + " words per row, but channels=" +
               std::to_string(channels) + " needs exactly " + std::to_string(words_for(channels)));
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  Shape shape(words.ndim());
  std::int64_t rows = 1;
  for (std::size_t i = 0; i + 1 < words.ndim(); ++i) {
    shape[i] = words.shape(i);
    rows *= static_cast<std::int64_t>(words.shape(i));
  }
  shape.back() = static_cast<std::size_t>(channels);
  auto out = new_array<float>(shape);
  float* dst = out.data();
  const word_t* src = static_cast<const word_t*>(words.data());
  {
    nb::gil_scoped_release release;
    for_row_chunks(rows, channels, n_threads, [&](std::int64_t r0, std::int64_t r1) {
      unpack_rows(src, r0, r1, channels, dst, path);
    });
  }
  return out;
}

nb::object py_bgemm(const Array& a, const Array& b, nb::handle k_arg, nb::handle threads,
                    const std::optional<std::string>& simd, nb::handle out) {
  check_words(a, "a");
  check_words(b, "b");
  check_layout(a, "a", 2, 2);
  check_layout(b, "b", 2, 2);
  if (a.shape(1) != b.shape(1))
    fail_value("a and b must have the same number of words per row, got a " + shape_text(a) +
               " and b " + shape_text(b));
  const std::int64_t m = static_cast<std::int64_t>(a.shape(0));
  const std::int64_t n = static_cast<std::int64_t>(b.shape(0));
  const std::int64_t words = static_cast<std::int64_t>(a.shape(1));
  const std::int64_t max_k = std::min<std::int64_t>(words * kWordBits,
                                                    std::numeric_limits<std::int32_t>::max());
  const std::int64_t k = int_arg(k_arg, "k", 1, max_k, [&] {
    return "must satisfy 0 < k <= 64 * words = " + std::to_string(words * kWordBits) +
           " and fit int32";
  });
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  nb::object result;
  std::int32_t* dst = nullptr;
  if (!out.is_none()) {
    nb::ndarray<> o;
    if (!nb::try_cast(out, o))
      fail_type("out must be a writable int32 array (read-only arrays and other types are "
                "refused)");
    if (o.dtype() != nb::dtype<std::int32_t>())
      fail_type("out must be int32, got " + dtype_text(o.dtype()));
    if (o.device_type() != nb::device::cpu::value) fail_type("out must be a CPU array");
    if (o.ndim() != 2 || static_cast<std::int64_t>(o.shape(0)) != m ||
        static_cast<std::int64_t>(o.shape(1)) != n)
      fail_value("out must have shape (" + std::to_string(m) + ", " + std::to_string(n) + ")");
    if (!c_contiguous(Array(o))) fail_value("out must be C-contiguous");
    check_aligned(Array(o), "out");
    dst = static_cast<std::int32_t*>(o.data());
    result = nb::borrow(out);
  } else {
    auto fresh = new_array<std::int32_t>({static_cast<std::size_t>(m), static_cast<std::size_t>(n)});
    dst = fresh.data();
    result = nb::cast(fresh);
  }
  const BgemmProblem problem{static_cast<const word_t*>(a.data()),
                             static_cast<const word_t*>(b.data()), dst, m, n, words, k};
  {
    nb::gil_scoped_release release;
    bgemm(problem, path, n_threads);
  }
  return result;
}

const std::uint8_t* check_flip(const Array& flip, std::int64_t channels) {
  const std::uint8_t* f = check_channel_vector<std::uint8_t>(flip, "flip", "uint8", channels);
  for (std::int64_t c = 0; c < channels; ++c)
    if (f[c] > 1) fail_value("flip must hold 0 or 1, got " + std::to_string(f[c]));
  return f;
}

Conv2dGeometry conv2d_geometry(const Array& x, const Array& w, nb::handle cin_arg,
                               nb::handle stride, nb::handle padding, double pad_value,
                               nb::handle dilation, nb::handle groups) {
  check_words(x, "x");
  check_words(w, "w");
  check_layout(x, "x", 4, 4);
  check_layout(w, "w", 4, 4);
  Conv2dGeometry g;
  g.n = static_cast<std::int64_t>(x.shape(0));
  g.h = static_cast<std::int64_t>(x.shape(1));
  g.w = static_cast<std::int64_t>(x.shape(2));
  g.words = static_cast<std::int64_t>(x.shape(3));
  g.cout = static_cast<std::int64_t>(w.shape(0));
  g.kh = static_cast<std::int64_t>(w.shape(1));
  g.kw = static_cast<std::int64_t>(w.shape(2));
  const std::int64_t cin = size_arg(cin_arg, "cin", 1);
  g.cin = cin;
  g.groups = size_arg(groups, "groups", 1);
  if (cin % g.groups != 0 || g.cout % g.groups != 0)
    fail_value("groups=" + std::to_string(g.groups) + " must divide both cin=" +
               std::to_string(cin) + " and cout=" + std::to_string(g.cout) +
               " (the weight's first axis)");
  const std::int64_t w_words = words_for(cin / g.groups);
  if (words_for(cin) != g.words || static_cast<std::int64_t>(w.shape(3)) != w_words)
    fail_value("cin=" + std::to_string(cin) + " needs " + std::to_string(words_for(cin)) +
               " words per pixel" +
               (g.groups == 1 ? std::string()
                              : " and " + std::to_string(w_words) + " per tap in w (groups=" +
                                    std::to_string(g.groups) + ")") +
               "; x has " + std::to_string(g.words) + " and w has " + std::to_string(w.shape(3)));
  std::tie(g.sh, g.sw) = int_pair(stride, "stride");
  std::tie(g.ph, g.pw) = int_pair(padding, "padding");
  std::tie(g.dh, g.dw) = int_pair(dilation, "dilation");
  if (g.sh < 1 || g.sw < 1)
    fail_value("stride must be >= 1, got (" + std::to_string(g.sh) + ", " + std::to_string(g.sw) + ")");
  if (g.ph < 0 || g.pw < 0)
    fail_value("padding must be >= 0, got (" + std::to_string(g.ph) + ", " + std::to_string(g.pw) + ")");
  if (g.dh < 1 || g.dw < 1)
    fail_value("dilation must be >= 1, got (" + std::to_string(g.dh) + ", " +
               std::to_string(g.dw) + ")");
  if (pad_value != 0.0 && pad_value != 1.0)
    fail_value("pad_value must be 1.0 (one-padding) or 0.0 (zero padding), got " +
               std::to_string(pad_value));
  g.zero_padding = pad_value == 0.0;
  // the spans (kernel - 1) * dilation + 1 stay below 2^62: every factor is within kMaxExtent
  if (g.kh < 1 || g.kw < 1 || g.h + 2 * g.ph < g.span_h() || g.w + 2 * g.pw < g.span_w()) {
    const bool dilated = g.dh != 1 || g.dw != 1;
    fail_value("kernel " + std::to_string(g.kh) + "x" + std::to_string(g.kw) +
               (dilated ? " dilated by (" + std::to_string(g.dh) + ", " + std::to_string(g.dw) +
                              ") (spanning (" + std::to_string(g.span_h()) + ", " +
                              std::to_string(g.span_w()) + "))"
                        : std::string()) +
               " does not fit the padded " + std::to_string(g.h) + "x" + std::to_string(g.w) +
               " input (padding " + std::to_string(g.ph) + ", " + std::to_string(g.pw) + ")");
  }
  if (g.k() > std::numeric_limits<std::int32_t>::max())
    fail_value("kernel x cin / groups = " + std::to_string(g.k()) +
               " does not fit int32 accumulators");
  check_conv2d_geometry(g);
  return g;
}

Shape conv2d_shape(const Conv2dGeometry& g, std::int64_t last) {
  return {static_cast<std::size_t>(g.n), static_cast<std::size_t>(g.ho()),
          static_cast<std::size_t>(g.wo()), static_cast<std::size_t>(last)};
}

nb::ndarray<nb::numpy, std::int32_t> py_bconv2d(const Array& x, const Array& w, nb::handle cin_arg,
                                                nb::handle stride, nb::handle padding,
                                                double pad_value, nb::handle dilation,
                                                nb::handle groups, nb::handle threads,
                                                const std::optional<std::string>& simd) {
  const Conv2dGeometry g =
      conv2d_geometry(x, w, cin_arg, stride, padding, pad_value, dilation, groups);
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  auto out = new_array<std::int32_t>(conv2d_shape(g, g.cout));
  const Int32Output epilogue{out.data()};
  {
    nb::gil_scoped_release release;
    bconv2d(static_cast<const word_t*>(x.data()), static_cast<const word_t*>(w.data()), g, path,
            n_threads, epilogue);
  }
  return out;
}

nb::ndarray<nb::numpy, float> py_bconv2d_float(const Array& x, const Array& w, nb::handle cin_arg,
                                               const Array& scale, const Array& bias,
                                               nb::handle stride, nb::handle padding,
                                               double pad_value, nb::handle dilation,
                                               nb::handle groups, nb::handle threads,
                                               const std::optional<std::string>& simd,
                                               nb::handle post) {
  const Conv2dGeometry g =
      conv2d_geometry(x, w, cin_arg, stride, padding, pad_value, dilation, groups);
  const float* s = check_channel_vector<float>(scale, "scale", "float32", g.cout);
  const float* b = check_channel_vector<float>(bias, "bias", "float32", g.cout);
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  const ParsedChain chain = parse_chain(post, g.cout, conv2d_shape(g, g.cout));
  auto out = new_array<float>(conv2d_shape(g, g.cout));
  const FloatOutput epilogue{s, b, out.data(), chain.steps.empty() ? nullptr : &chain.steps,
                             path};
  {
    nb::gil_scoped_release release;
    bconv2d(static_cast<const word_t*>(x.data()), static_cast<const word_t*>(w.data()), g, path,
            n_threads, epilogue);
  }
  return out;
}

nb::ndarray<nb::numpy, word_t> py_bconv2d_bits(const Array& x, const Array& w, nb::handle cin_arg,
                                               const Array& threshold, const Array& flip,
                                               nb::handle stride, nb::handle padding,
                                               double pad_value, nb::handle dilation,
                                               nb::handle groups, nb::handle threads,
                                               const std::optional<std::string>& simd) {
  const Conv2dGeometry g =
      conv2d_geometry(x, w, cin_arg, stride, padding, pad_value, dilation, groups);
  const std::int32_t* t =
      check_channel_vector<std::int32_t>(threshold, "threshold", "int32", g.cout);
  const std::uint8_t* f = check_flip(flip, g.cout);
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  auto out = new_array<word_t>(conv2d_shape(g, words_for(g.cout)));
  const BitThresholds thresholds = make_bit_thresholds(t, f, g.cout);
  const BitsOutput epilogue{&thresholds, out.data(), path};
  {
    nb::gil_scoped_release release;
    bconv2d(static_cast<const word_t*>(x.data()), static_cast<const word_t*>(w.data()), g, path,
            n_threads, epilogue);
  }
  return out;
}

// Checks acc (int32, (..., C), contiguous); returns (rows, C).
std::pair<std::int64_t, std::int64_t> check_acc(const Array& acc) {
  if (acc.dtype() != nb::dtype<std::int32_t>())
    fail_type("acc must be int32 accumulators, got " + dtype_text(acc.dtype()));
  // an empty array may come with any strides (nothing is read): skip the contiguity check
  if (acc.size() != 0 || acc.ndim() == 0) check_layout(acc, "acc", 1, 32);
  check_aligned(acc, "acc");
  std::int64_t rows = 1;
  for (std::size_t i = 0; i + 1 < acc.ndim(); ++i) rows *= static_cast<std::int64_t>(acc.shape(i));
  return {rows, static_cast<std::int64_t>(acc.shape(acc.ndim() - 1))};
}

Shape array_shape(const Array& x, std::int64_t last) {
  Shape shape(x.ndim());
  for (std::size_t i = 0; i < x.ndim(); ++i) shape[i] = x.shape(i);
  shape.back() = static_cast<std::size_t>(last);
  return shape;
}

nb::ndarray<nb::numpy, float> py_output_float(const Array& acc, const Array& scale,
                                              const Array& bias, nb::handle threads,
                                              const std::optional<std::string>& simd) {
  const auto [rows, channels] = check_acc(acc);
  const float* s = check_channel_vector<float>(scale, "scale", "float32", channels);
  const float* b = check_channel_vector<float>(bias, "bias", "float32", channels);
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  auto out = new_array<float>(array_shape(acc, channels));
  const std::int32_t* a = static_cast<const std::int32_t*>(acc.data());
  float* dst = out.data();
  {
    nb::gil_scoped_release release;
    for_row_chunks(rows, channels, n_threads, [&](std::int64_t r0, std::int64_t r1) {
      output_float_rows(a + r0 * channels, channels, r1 - r0, 0, channels, s, b,
                        dst + r0 * channels, channels, path);
    });
  }
  return out;
}

nb::ndarray<nb::numpy, word_t> py_output_bits(const Array& acc, const Array& threshold,
                                              const Array& flip, nb::handle threads,
                                              const std::optional<std::string>& simd) {
  const auto [rows, channels] = check_acc(acc);
  const std::int32_t* t =
      check_channel_vector<std::int32_t>(threshold, "threshold", "int32", channels);
  const std::uint8_t* f = check_flip(flip, channels);
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  const std::int64_t words = words_for(channels);
  auto out = new_array<word_t>(array_shape(acc, words));
  const std::int32_t* a = static_cast<const std::int32_t*>(acc.data());
  word_t* dst = out.data();
  {
    nb::gil_scoped_release release;
    const BitThresholds thresholds = make_bit_thresholds(t, f, channels);
    for_row_chunks(rows, channels, n_threads, [&](std::int64_t r0, std::int64_t r1) {
      output_bits_rows(a + r0 * channels, channels, r1 - r0, 0, channels, thresholds,
                       dst + r0 * words, words, path);
    });
  }
  return out;
}

nb::ndarray<nb::numpy, word_t> py_bmaxpool2d(const Array& x, nb::handle kernel, nb::handle stride,
                                             nb::handle padding) {
  check_words(x, "x");
  check_layout(x, "x", 4, 4);
  Pool2dGeometry g;
  g.n = static_cast<std::int64_t>(x.shape(0));
  g.h = static_cast<std::int64_t>(x.shape(1));
  g.w = static_cast<std::int64_t>(x.shape(2));
  g.words = static_cast<std::int64_t>(x.shape(3));
  std::tie(g.kh, g.kw) = int_pair(kernel, "kernel");
  std::tie(g.sh, g.sw) = stride.is_none() ? std::make_pair(g.kh, g.kw) : int_pair(stride, "stride");
  std::tie(g.ph, g.pw) = int_pair(padding, "padding");
  if (g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1)
    fail_value("kernel and stride must be >= 1, got kernel (" + std::to_string(g.kh) + ", " +
               std::to_string(g.kw) + ") and stride (" + std::to_string(g.sh) + ", " +
               std::to_string(g.sw) + ")");
  if (g.ph < 0 || g.pw < 0 || 2 * g.ph > g.kh || 2 * g.pw > g.kw)
    fail_value("padding must be between 0 and half the kernel, got (" + std::to_string(g.ph) +
               ", " + std::to_string(g.pw) + ")");
  if (g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw)
    fail_value("kernel (" + std::to_string(g.kh) + ", " + std::to_string(g.kw) +
               ") does not fit the padded " + std::to_string(g.h) + "x" + std::to_string(g.w) +
               " input");
  check_pool2d_geometry(g);
  auto out = new_array<word_t>({static_cast<std::size_t>(g.n), static_cast<std::size_t>(g.ho()),
                                static_cast<std::size_t>(g.wo()),
                                static_cast<std::size_t>(g.words)});
  {
    nb::gil_scoped_release release;
    bmaxpool2d(static_cast<const word_t*>(x.data()), g, out.data());
  }
  return out;
}
// ---- end bconv2d, output transforms, binary max-pool ----

std::vector<std::string> py_simd_paths() {
  std::vector<std::string> names;
  for (SimdPath path : onebit::simd_paths()) names.emplace_back(simd_name(path));
  return names;
}

std::string py_default_simd_path() { return simd_name(onebit::default_simd_path()); }

void py_set_simd_path(std::optional<std::string> name) {
  if (!name) return onebit::reset_default_simd_path();
  SimdPath path;
  if (!onebit::simd_from_name(*name, &path))
    throw nb::value_error(("SIMD path '" + *name + "' is not one this CPU runs (" +
                           onebit::simd_paths_text() + ")").c_str());
  onebit::set_default_simd_path(path);
}

void py_set_num_threads(nb::handle n) {
  default_threads().store(static_cast<int>(int_arg(n, "n", 1, kMaxThreads, [] {
    return "is out of range: n must be in [1, " + std::to_string(kMaxThreads) + "]";
  })));
}

int py_get_num_threads() { return default_threads().load(); }

// The longest measurement xor_popcount_peak takes: a bound, so that no argument hangs the caller.
constexpr double kMaxPeakSeconds = 60.0;

double py_xor_popcount_peak(double seconds, const std::optional<std::string>& simd) {
  if (!(seconds > 0.0 && seconds <= kMaxPeakSeconds))
    fail_value("seconds must be > 0 and <= " + number_text(kMaxPeakSeconds) + ", got " +
               number_text(seconds));
  const SimdPath path = resolve_simd(simd);
  nb::gil_scoped_release release;
  return xor_popcount_peak(path, seconds);
}

}  // namespace
}  // namespace onebit

NB_MODULE(_native, m) {
  using namespace onebit;
  m.doc() = "onebit's packed binary kernels (C++; see csrc/). Bit convention: +1 <-> bit 0, "
            "-1 <-> bit 1, channel c -> bit c % 64 of word c // 64; the same as "
            "onebit.runtime.reference.";
  m.attr("WORD_BITS") = kWordBits;

  m.def("simd_paths", named("simd_paths", &py_simd_paths),
        "The SIMD paths this CPU runs, best first.");
  m.def("default_simd_path", named("default_simd_path", &py_default_simd_path),
        "The path kernels and the executor use when simd=None: the best available, unless "
        "set_simd_path chose another.");
  m.def("set_simd_path", &py_set_simd_path, nb::arg("name").none(),
        "Makes `name` (one of simd_paths()) the process-wide default path, for the kernels "
        "and the executor; None: the best again. ONEBIT_SIMD sets it when onebit.runtime loads.");
  m.def("set_num_threads", named("set_num_threads", &py_set_num_threads), nb::arg("n"),
        "Sets the thread count kernels use when given threads=0 (1 to 256).");
  m.def("get_num_threads", named("get_num_threads", &py_get_num_threads),
        "The thread count kernels use when given threads=0 (default: all hardware threads).");

  m.def("bitpack", named("bitpack", &py_bitpack), nb::arg("x"), nb::arg("threads") = 0,
        nb::arg("simd").none() = nb::none(),
        "Packs the signs of x (float32 or int8, shape (..., C), C-contiguous) into uint64 words "
        "(..., ceil(C / 64)): x >= 0 -> bit 0, x < 0 or NaN -> bit 1.\n\n"
        "Non-contiguous input raises ValueError (no hidden copy). threads=0 uses "
        "get_num_threads(); simd forces a path from simd_paths().");
  m.def("unpack", named("unpack", &py_unpack), nb::arg("words"), nb::arg("channels"),
        nb::arg("threads") = 0,
        nb::arg("simd").none() = nb::none(),
        "The +-1.0 float32 values (..., channels) of C-contiguous uint64 words "
        "(..., ceil(channels / 64)).");
  m.def("bgemm", named("bgemm", &py_bgemm), nb::arg("a"), nb::arg("b"), nb::arg("k"),
        nb::arg("threads") = 0,
        nb::arg("simd").none() = nb::none(), nb::arg("out").none() = nb::none(),
        "Binary GEMM of packed rows: int32 (M, N) with out[m, n] = k - 2 * popcount(a[m] ^ b[n]).\n\n"
        "a: (M, W) and b: (N, W) C-contiguous uint64 words (b: one row per output channel); "
        "0 < k <= 64 * W. Non-contiguous input raises ValueError (no hidden copy). out: an "
        "optional C-contiguous int32 (M, N) array written in place and returned.");
  m.def("xor_popcount_peak", named("xor_popcount_peak", &py_xor_popcount_peak),
        nb::arg("seconds") = 0.2, nb::arg("simd").none() = nb::none(),
        "Bit-MACs per second of one core running a register-resident xor+popcount+add loop "
        "(independent accumulators, no memory traffic) on `simd`, measured for `seconds` (at "
        "most 60): the kernels' ceiling.");

  // ---- bconv2d, output transforms, binary max-pool ----
  m.def("bconv2d", named("bconv2d", &py_bconv2d), nb::arg("x"), nb::arg("w"), nb::arg("cin"),
        nb::arg("stride") = nb::make_tuple(1, 1), nb::arg("padding") = nb::make_tuple(0, 0),
        nb::arg("pad_value") = 1.0, nb::arg("dilation") = nb::make_tuple(1, 1),
        nb::arg("groups") = 1, nb::arg("threads") = 0, nb::arg("simd").none() = nb::none(),
        "Binary 2-D convolution (cross-correlation) of packed NHWC words: int32 (N, Ho, Wo, Cout).\n\n"
        "x: (N, H, W, ceil(cin / 64)) and w: (Cout, KH, KW, ceil(cin / groups / 64)) C-contiguous "
        "uint64 words; stride, padding and dilation: an int or a pair; pad_value 1.0 (padded "
        "pixels are +1) or 0.0 (they contribute 0); groups divides cin and Cout (output channel o "
        "reads the channels of group o // (Cout / groups)). Equals "
        "onebit.runtime.reference.bconv2d exactly.");
  m.def("bconv2d_float", named("bconv2d_float", &py_bconv2d_float), nb::arg("x"), nb::arg("w"),
        nb::arg("cin"),
        nb::arg("scale"), nb::arg("bias"), nb::arg("stride") = nb::make_tuple(1, 1),
        nb::arg("padding") = nb::make_tuple(0, 0), nb::arg("pad_value") = 1.0,
        nb::arg("dilation") = nb::make_tuple(1, 1), nb::arg("groups") = 1,
        nb::arg("threads") = 0, nb::arg("simd").none() = nb::none(),
        nb::arg("post").none() = nb::none(),
        "output_float(bconv2d(x, w, cin, ...), scale, bias) fused per tile: float32 NHWC; the "
        "int32 map is never materialized. post: float_chain steps applied to each tile after "
        "the affine, e.g. [('relu',), ('affine', s, b), ('add', residual)] (see float_chain).");
  m.def("bconv2d_bits", named("bconv2d_bits", &py_bconv2d_bits), nb::arg("x"), nb::arg("w"),
        nb::arg("cin"),
        nb::arg("threshold"), nb::arg("flip"), nb::arg("stride") = nb::make_tuple(1, 1),
        nb::arg("padding") = nb::make_tuple(0, 0), nb::arg("pad_value") = 1.0,
        nb::arg("dilation") = nb::make_tuple(1, 1), nb::arg("groups") = 1,
        nb::arg("threads") = 0, nb::arg("simd").none() = nb::none(),
        "output_bits(bconv2d(x, w, cin, ...), threshold, flip) fused per tile: packed NHWC words "
        "(N, Ho, Wo, ceil(Cout / 64)); the int32 map is never materialized.");
  m.def("output_float", named("output_float", &py_output_float), nb::arg("acc"),
        nb::arg("scale"), nb::arg("bias"),
        nb::arg("threads") = 0, nb::arg("simd").none() = nb::none(),
        "float32 acc * scale + bias per channel (last axis), as float(acc) * scale + bias with two "
        "roundings (no fused multiply-add). acc: int32 (..., C); scale, bias: float32 (C,).");
  m.def("output_bits", named("output_bits", &py_output_bits), nb::arg("acc"),
        nb::arg("threshold"), nb::arg("flip"),
        nb::arg("threads") = 0, nb::arg("simd").none() = nb::none(),
        "Packed words (..., ceil(C / 64)): -1 (bit 1) where acc < threshold[c] (flip[c] == 0) or "
        "acc > threshold[c] (flip[c] == 1). acc: int32 (..., C); threshold: int32 (C,); flip: "
        "uint8 (C,) of 0 or 1.");
  m.def("bmaxpool2d", named("bmaxpool2d", &py_bmaxpool2d), nb::arg("x"),
        nb::arg("kernel") = nb::make_tuple(2, 2),
        nb::arg("stride").none() = nb::none(), nb::arg("padding") = nb::make_tuple(0, 0),
        "Max-pool of packed NHWC words (the AND of each window's words; padding never wins). "
        "kernel, stride (None = kernel) and padding (at most half the kernel): an int or a pair.");
  // ---- end bconv2d, output transforms, binary max-pool ----

  register_float_kernels(m);
  register_bitserial(m);
  register_program_file(m);
  register_executor(m);  // after: its translator (program_error first) is tried first
}
