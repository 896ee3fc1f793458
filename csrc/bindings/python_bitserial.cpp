// Python bindings of the bit-serial kernels (bitserial/): quantize_pack, bitserial_gemm and
// bitserial_conv2d, with the arguments of their reference_bitserial.py twins in the same order,
// plus threads (0 = get_num_threads()) and simd (None = the default path). The checks and
// conventions of bindings/python_module.cpp: TypeError for a wrong type or dtype, ValueError for a
// wrong shape, layout, value or size (the reference's refusals in its words), no hidden copies,
// the GIL released while computing.
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>

#include "bindings/python_checks.h"
#include "bitserial/bitserial.h"
#include "bitserial/bitserial_conv2d.h"
#include "bitserial/quantize_pack.h"

namespace onebit {
namespace {

using namespace binding;

// An int within ±limit (a Python int or an object with __index__, not a bool), else false.
bool small_int(nb::handle value, std::int64_t limit, std::int64_t& out) {
  if (nb::isinstance<bool>(value) || !PyIndex_Check(value.ptr())) return false;
  PyObject* index = PyNumber_Index(value.ptr());
  if (index == nullptr) {
    PyErr_Clear();
    return false;
  }
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(index, &overflow);
  Py_DECREF(index);
  if (overflow != 0 || v < -limit || v > limit) return false;
  out = static_cast<std::int64_t>(v);
  return true;
}

// An int (TypeError otherwise) within [lo, hi], else ValueError message().
template <typename Message>
std::int64_t checked_int(nb::handle value, const char* name, std::int64_t lo, std::int64_t hi,
                         const Message& message) {
  if (nb::isinstance<bool>(value) || !PyIndex_Check(value.ptr()))
    fail_type(std::string(name) + " must be an int, got " + repr_text(value));
  std::int64_t v = 0;
  if (!small_int(value, std::max(-lo, hi), v) || v < lo || v > hi) fail_value(message());
  return v;
}

// An operand's encoding from its offset and sequence of plane weights (reference_bitserial.py's
// check_encoding, same messages).
PlaneEncoding encoding_arg(nb::handle offset, nb::handle weights, const std::string& name) {
  if (!nb::isinstance<nb::sequence>(weights) || nb::isinstance<nb::str>(weights))
    fail_type(name + "_weights must be a sequence of ints, got " + repr_text(weights));
  const std::size_t count = nb::len(weights);
  if (count < 1 || count > static_cast<std::size_t>(kMaxPlanes))
    fail_value(name + " needs 1 to " + std::to_string(kMaxPlanes) + " plane weights, got " +
               std::to_string(count));
  PlaneEncoding e;
  e.planes = static_cast<int>(count);
  bool ok = small_int(offset, kMaxEncodingValue, e.offset);
  for (std::size_t i = 0; ok && i < count; ++i)
    ok = small_int(weights[i], kMaxEncodingValue, e.weights[i]);
  if (!ok) fail_value(name + ": offset and plane weights must be integers within ±2^16");
  return e;
}

void check_bound(std::int64_t k, const PlaneEncoding& x, const PlaneEncoding& w) {
  if (!fits_int32(accumulator_bound(k, x, w)))
    fail_value("a sum over k=" + std::to_string(k) + " of these encodings could pass int32");
}

void check_planes(std::int64_t p, std::int64_t q, const PlaneEncoding& x, const PlaneEncoding& w) {
  if (p != x.planes || q != w.planes)
    fail_value("x has " + std::to_string(p) + " planes and w " + std::to_string(q) + ", but " +
               std::to_string(x.planes) + " and " + std::to_string(w.planes) + " weights");
}

nb::ndarray<nb::numpy, word_t> py_quantize_pack(const Array& x, nb::handle bits_arg,
                                                double multiplier, nb::handle zero_point_arg,
                                                nb::handle threads) {
  if (x.dtype() != nb::dtype<float>()) fail_type("x must be float32, got " + dtype_text(x.dtype()));
  check_layout(x, "x", 1, 32);
  const std::int64_t bits = checked_int(bits_arg, "bits", 1, kMaxPlanes, [&] {
    return "bits must be 1 to " + std::to_string(kMaxPlanes) + ", got " + repr_text(bits_arg);
  });
  const std::int64_t range = std::int64_t{1} << bits;
  const std::int64_t zero_point = checked_int(zero_point_arg, "zero_point", -range, range, [&] {
    return "zero_point " + repr_text(zero_point_arg) + " is outside ±2^" + std::to_string(bits);
  });
  QuantizeParams q;
  q.bits = static_cast<int>(bits);
  q.multiplier = float32_arg(multiplier, "multiplier", true);
  q.zero_point = static_cast<int>(zero_point);
  const int n_threads = check_threads(threads);
  const std::int64_t channels = static_cast<std::int64_t>(x.shape(x.ndim() - 1));
  Shape shape{static_cast<std::size_t>(bits)};
  std::int64_t rows = 1;
  for (std::size_t i = 0; i + 1 < x.ndim(); ++i) {
    shape.push_back(x.shape(i));
    rows *= static_cast<std::int64_t>(x.shape(i));
  }
  shape.push_back(static_cast<std::size_t>(words_for(channels)));
  auto out = new_array<word_t>(shape);
  word_t* dst = out.data();
  {
    nb::gil_scoped_release release;
    quantize_pack(static_cast<const float*>(x.data()), 1, rows, channels, q, dst, n_threads);
  }
  return out;
}

nb::ndarray<nb::numpy, std::int32_t> py_bitserial_gemm(const Array& x, const Array& w,
                                                       nb::handle k_arg, nb::handle x_offset,
                                                       nb::handle x_weights, nb::handle w_offset,
                                                       nb::handle w_weights, nb::handle threads,
                                                       const std::optional<std::string>& simd) {
  const PlaneEncoding xe = encoding_arg(x_offset, x_weights, "x");
  const PlaneEncoding we = encoding_arg(w_offset, w_weights, "w");
  check_words(x, "x");
  check_words(w, "w");
  check_layout(x, "x", 3, 3);
  check_layout(w, "w", 3, 3);
  if (x.shape(2) != w.shape(2))
    fail_value("bitserial_gemm needs (N, P, W) and (M, Q, W) words, got " + shape_text(x) + ", " +
               shape_text(w));
  check_planes(static_cast<std::int64_t>(x.shape(1)), static_cast<std::int64_t>(w.shape(1)), xe,
               we);
  const std::int64_t n = static_cast<std::int64_t>(x.shape(0));
  const std::int64_t m = static_cast<std::int64_t>(w.shape(0));
  const std::int64_t words = static_cast<std::int64_t>(x.shape(2));
  const std::int64_t k = int_arg(k_arg, "k", 1, words * kWordBits, [&] {
    return "does not fit in " + std::to_string(words) + " words";
  });
  check_bound(k, xe, we);
  bitserial_bgemm_k(words);
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  auto out = new_array<std::int32_t>({static_cast<std::size_t>(n), static_cast<std::size_t>(m)});
  std::int32_t* dst = out.data();
  {
    nb::gil_scoped_release release;
    const BitserialWeights prepared =
        prepare_bitserial_weights(static_cast<const word_t*>(w.data()), m, we.planes, words, we, path);
    bitserial_gemm(static_cast<const word_t*>(x.data()), n, prepared, k, xe, we, dst, path,
                   n_threads);
  }
  return out;
}

// (top, bottom, left, right) from an int, a pair (rows, columns) or four ints, each >= 0.
std::array<std::int64_t, 4> padding_sides(nb::handle value) {
  std::array<std::int64_t, 4> sides{};
  if (nb::isinstance<nb::sequence>(value) && !nb::isinstance<nb::str>(value) &&
      nb::len(value) == 4) {
    for (int i = 0; i < 4; ++i)
      sides[i] = int_arg(value[i], ItemName{"padding", i}, -kMaxExtent, kMaxExtent);
  } else {
    const auto [ph, pw] = int_pair(value, "padding");
    sides = {ph, ph, pw, pw};
  }
  if (*std::min_element(sides.begin(), sides.end()) < 0)
    fail_value("padding must be >= 0 on every side, got " + repr_text(value));
  return sides;
}

nb::ndarray<nb::numpy, std::int32_t> py_bitserial_conv2d(
    const Array& x, const Array& w, nb::handle cin_arg, nb::handle stride, nb::handle padding,
    nb::handle pad_code, nb::handle x_offset, nb::handle x_weights, nb::handle w_offset,
    nb::handle w_weights, nb::handle threads, const std::optional<std::string>& simd) {
  check_words(x, "x");
  check_words(w, "w");
  check_layout(x, "x", 5, 5);
  check_layout(w, "w", 5, 5);
  BitserialConvGeometry g;
  g.n = static_cast<std::int64_t>(x.shape(0));
  g.p = static_cast<std::int64_t>(x.shape(1));
  g.h = static_cast<std::int64_t>(x.shape(2));
  g.w = static_cast<std::int64_t>(x.shape(3));
  g.words = static_cast<std::int64_t>(x.shape(4));
  g.cout = static_cast<std::int64_t>(w.shape(0));
  g.q = static_cast<std::int64_t>(w.shape(1));
  g.kh = static_cast<std::int64_t>(w.shape(2));
  g.kw = static_cast<std::int64_t>(w.shape(3));
  const std::int64_t top_code = g.p < 62 ? (std::int64_t{1} << g.p) - 1 : kMaxExtent;
  g.pad_code = checked_int(pad_code, "pad_code", 0, top_code, [&] {
    return "pad_code " + repr_text(pad_code) + " is not a " + std::to_string(g.p) + "-bit code";
  });
  const auto sides = padding_sides(padding);
  g.top = sides[0], g.bottom = sides[1], g.left = sides[2], g.right = sides[3];
  std::tie(g.sh, g.sw) = int_pair(stride, "stride");
  if (g.sh < 1 || g.sw < 1) fail_value("stride must be positive, got " + repr_text(stride));
  g.cin = size_arg(cin_arg, "cin", 1);
  if (g.words != words_for(g.cin) || static_cast<std::int64_t>(w.shape(4)) != g.words)
    fail_value("cin=" + std::to_string(g.cin) + " needs " + std::to_string(words_for(g.cin)) +
               " words per pixel, got " + shape_text(x) + ", " + shape_text(w));
  if (g.kh < 1 || g.kw < 1 || g.h + g.top + g.bottom < g.kh || g.w + g.left + g.right < g.kw)
    fail_value("a " + std::to_string(g.kh) + "x" + std::to_string(g.kw) +
               " kernel does not fit the padded " + std::to_string(g.h) + "x" +
               std::to_string(g.w) + " map");
  const PlaneEncoding xe = encoding_arg(x_offset, x_weights, "x");
  const PlaneEncoding we = encoding_arg(w_offset, w_weights, "w");
  check_planes(g.p, g.q, xe, we);
  check_bound(g.k(), xe, we);
  check_bitserial_conv_geometry(g);
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  auto out = new_array<std::int32_t>({static_cast<std::size_t>(g.n),
                                      static_cast<std::size_t>(g.ho()),
                                      static_cast<std::size_t>(g.wo()),
                                      static_cast<std::size_t>(g.cout)});
  const Int32Output epilogue{out.data()};
  {
    nb::gil_scoped_release release;
    const BitserialWeights prepared = prepare_bitserial_weights(
        static_cast<const word_t*>(w.data()), g.cout, g.q, g.patch_words(), we, path);
    bitserial_conv2d(static_cast<const word_t*>(x.data()), prepared, g, xe, we, path, n_threads,
                     epilogue);
  }
  return out;
}

}  // namespace

void register_bitserial(nb::module_& m) {
  m.def("quantize_pack", named("quantize_pack", &py_quantize_pack), nb::arg("x"), nb::arg("bits"),
        nb::arg("multiplier"), nb::arg("zero_point"), nb::arg("threads") = 0,
        "Float32 x (..., C) -> uint64 (bits, ..., ceil(C / 64)): the bit planes of the codes "
        "clamp(round(x * multiplier) + zero_point, 0, 2^bits - 1) (float32 product, round half "
        "to even, NaN -> code 0), plane i holding bit i packed as binary values are. bits: 1 to "
        "8; zero_point within ±2^bits. Equals onebit.runtime.reference_bitserial.quantize_pack.");
  m.def("bitserial_gemm", named("bitserial_gemm", &py_bitserial_gemm), nb::arg("x"), nb::arg("w"),
        nb::arg("k"), nb::arg("x_offset"), nb::arg("x_weights"), nb::arg("w_offset"),
        nb::arg("w_weights"), nb::arg("threads") = 0, nb::arg("simd").none() = nb::none(),
        "int32 (N, M): out[n, m] = sum over k elements of X[n] * W[m], where X and W are the "
        "values offset + sum_i weights[i] * bit_i of the planes x (N, P, W) and w (M, Q, W) "
        "(C-contiguous uint64 words). Refuses encodings whose sums could pass int32. Equals "
        "onebit.runtime.reference_bitserial.bitserial_gemm.");
  m.def("bitserial_conv2d", named("bitserial_conv2d", &py_bitserial_conv2d), nb::arg("x"),
        nb::arg("w"), nb::arg("cin"), nb::arg("stride"), nb::arg("padding"), nb::arg("pad_code"),
        nb::arg("x_offset"), nb::arg("x_weights"), nb::arg("w_offset"), nb::arg("w_weights"),
        nb::arg("threads") = 0, nb::arg("simd").none() = nb::none(),
        "A k-bit 2-D convolution: planes x (N, P, H, W, ceil(cin / 64)) and weight planes "
        "w (Cout, Q, KH, KW, ceil(cin / 64)) -> int32 (N, Ho, Wo, Cout), each output the exact "
        "sum over its window of X * W (see bitserial_gemm). stride: an int or a pair; padding: "
        "an int, a pair or (top, bottom, left, right), the border holding the code pad_code. "
        "Equals onebit.runtime.reference_bitserial.bitserial_conv2d.");
}

}  // namespace onebit
