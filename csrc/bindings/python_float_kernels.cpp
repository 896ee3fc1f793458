// Python bindings of the float kernels (depthwise_conv2d.h, float_chain.h, sgemm.h), with the same
// checks and conventions as bindings/python_module.cpp: TypeError for a wrong type or dtype,
// ValueError for a wrong shape, layout or value, each naming the argument; no hidden copies; the
// GIL released.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <new>
#include <string>

#include "bindings/python_checks.h"
#include "float/depthwise_conv2d.h"
#include "float/float_chain.h"
#include "float/float_window.h"
#include "float/layout.h"
#include "float/sgemm.h"

namespace onebit {
namespace {

using namespace binding;

void check_float_map(const Array& x, const char* name) {
  if (x.dtype() != nb::dtype<float>())
    fail_type(std::string(name) + " must be float32, got " + dtype_text(x.dtype()));
  check_layout(x, name, 4, 4);
}

// (top, bottom, left, right) from an int, a pair (rows, columns) or four ints.
std::array<std::int64_t, 4> padding_sides(nb::handle value) {
  std::array<std::int64_t, 4> sides{};
  if (nb::isinstance<nb::sequence>(value) && !nb::isinstance<nb::str>(value) &&
      nb::len(value) == 4) {
    for (int i = 0; i < 4; ++i) {
      sides[i] = int_arg(value[i], ItemName{"padding", i}, -kMaxExtent, kMaxExtent);
    }
  } else {
    const auto [ph, pw] = int_pair(value, "padding");
    sides = {ph, ph, pw, pw};
  }
  if (*std::min_element(sides.begin(), sides.end()) < 0)
    fail_value("padding must be >= 0 on every side, got (" + std::to_string(sides[0]) + ", " +
               std::to_string(sides[1]) + ", " + std::to_string(sides[2]) + ", " +
               std::to_string(sides[3]) + ")");
  return sides;
}

// The geometry of a window op on the float map x whose output pixels hold `per_pixel(g)` floats,
// or a ValueError naming what is wrong.
template <typename PerPixel>
WindowGeometry window_geometry(const Array& x, nb::handle kernel, nb::handle stride,
                               nb::handle padding, PerPixel per_pixel) {
  check_float_map(x, "x");
  WindowGeometry g;
  g.n = static_cast<std::int64_t>(x.shape(0));
  g.h = static_cast<std::int64_t>(x.shape(1));
  g.w = static_cast<std::int64_t>(x.shape(2));
  g.c = static_cast<std::int64_t>(x.shape(3));
  std::tie(g.kh, g.kw) = int_pair(kernel, "kernel");
  std::tie(g.sh, g.sw) = int_pair(stride, "stride");
  const auto sides = padding_sides(padding);
  g.top = sides[0], g.bottom = sides[1], g.left = sides[2], g.right = sides[3];
  if (g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1)
    fail_value("kernel and stride must be >= 1, got kernel (" + std::to_string(g.kh) + ", " +
               std::to_string(g.kw) + ") and stride (" + std::to_string(g.sh) + ", " +
               std::to_string(g.sw) + ")");
  if (g.h + g.top + g.bottom < g.kh || g.w + g.left + g.right < g.kw)
    fail_value("kernel " + std::to_string(g.kh) + "x" + std::to_string(g.kw) +
               " does not fit the padded " + std::to_string(g.h + g.top + g.bottom) + "x" +
               std::to_string(g.w + g.left + g.right) + " input");
  check_window_geometry(g, per_pixel(g));
  return g;
}

nb::ndarray<nb::numpy, float> py_float_im2col(const Array& x, nb::handle kernel,
                                              nb::handle stride, nb::handle padding,
                                              double pad_value, nb::handle threads) {
  const WindowGeometry g = window_geometry(x, kernel, stride, padding, im2col_pixel_floats);
  if (!std::isfinite(pad_value)) fail_value("pad_value must be finite");
  const float pad = float32_arg(pad_value, "pad_value");
  const int n_threads = check_threads(threads);
  auto out = new_array<float>({static_cast<std::size_t>(g.pixels()),
                               static_cast<std::size_t>(g.kh * g.kw * g.c)});
  {
    nb::gil_scoped_release release;
    float_im2col(static_cast<const float*>(x.data()), g, pad, n_threads, out.data());
  }
  return out;
}

nb::ndarray<nb::numpy, float> py_maxpool2d(const Array& x, nb::handle kernel, nb::handle stride,
                                           nb::handle padding, nb::handle threads,
                                           const std::optional<std::string>& simd) {
  const WindowGeometry g =
      window_geometry(x, kernel, stride, padding, [](const WindowGeometry& w) { return w.c; });
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  auto out = new_array<float>({static_cast<std::size_t>(g.n), static_cast<std::size_t>(g.ho()),
                               static_cast<std::size_t>(g.wo()), static_cast<std::size_t>(g.c)});
  {
    nb::gil_scoped_release release;
    float_maxpool2d(static_cast<const float*>(x.data()), g, n_threads, out.data(), path);
  }
  return out;
}

nb::ndarray<nb::numpy, float> py_depthwise_conv2d(const Array& x, const Array& w,
                                                  const Array& scale, const Array& bias,
                                                  nb::handle stride, nb::handle padding,
                                                  double pad_value, nb::handle threads,
                                                  nb::handle post,
                                                  const std::optional<std::string>& simd) {
  check_float_map(x, "x");
  if (w.dtype() != nb::dtype<float>()) fail_type("w must be float32, got " + dtype_text(w.dtype()));
  check_layout(w, "w", 3, 3);
  DepthwiseGeometry g;
  g.n = static_cast<std::int64_t>(x.shape(0));
  g.h = static_cast<std::int64_t>(x.shape(1));
  g.w = static_cast<std::int64_t>(x.shape(2));
  g.c = static_cast<std::int64_t>(x.shape(3));
  g.kh = static_cast<std::int64_t>(w.shape(0));
  g.kw = static_cast<std::int64_t>(w.shape(1));
  const std::int64_t cout = static_cast<std::int64_t>(w.shape(2));
  if (g.c < 1 || cout < g.c || cout % g.c != 0)
    fail_value("w must be (KH, KW, C * multiplier) for x's C = " + std::to_string(g.c) +
               " channels, got " + shape_text(w));
  g.m = cout / g.c;
  std::tie(g.sh, g.sw) = int_pair(stride, "stride");
  if (g.sh < 1 || g.sw < 1)
    fail_value("stride must be >= 1, got (" + std::to_string(g.sh) + ", " + std::to_string(g.sw) +
               ")");
  const auto sides = padding_sides(padding);
  g.top = sides[0], g.bottom = sides[1], g.left = sides[2], g.right = sides[3];
  if (!std::isfinite(pad_value)) fail_value("pad_value must be finite");
  g.pad_value = float32_arg(pad_value, "pad_value");
  if (g.kh < 1 || g.kw < 1 || g.h + g.top + g.bottom < g.kh || g.w + g.left + g.right < g.kw)
    fail_value("kernel " + std::to_string(g.kh) + "x" + std::to_string(g.kw) +
               " does not fit the padded " + std::to_string(g.h) + "x" + std::to_string(g.w) +
               " input");
  check_depthwise_geometry(g);
  const float* s = check_channel_vector<float>(scale, "scale", "float32", cout);
  const float* b = check_channel_vector<float>(bias, "bias", "float32", cout);
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  const Shape shape{static_cast<std::size_t>(g.n), static_cast<std::size_t>(g.ho()),
                    static_cast<std::size_t>(g.wo()), static_cast<std::size_t>(cout)};
  const ParsedChain chain = parse_chain(post, cout, shape);
  auto out = new_array<float>(shape);
  {
    nb::gil_scoped_release release;
    depthwise_conv2d(static_cast<const float*>(x.data()), static_cast<const float*>(w.data()), g,
                     s, b, chain.steps, n_threads, out.data(), path);
  }
  return out;
}

nb::ndarray<nb::numpy, float> py_float_chain(const Array& x, nb::handle post, nb::handle threads,
                                             const std::optional<std::string>& simd) {
  if (x.dtype() != nb::dtype<float>()) fail_type("x must be float32, got " + dtype_text(x.dtype()));
  check_layout(x, "x", 1, 32);
  Shape shape(x.ndim());
  for (std::size_t i = 0; i < x.ndim(); ++i) shape[i] = x.shape(i);
  const std::int64_t channels = static_cast<std::int64_t>(shape.back());
  std::int64_t rows = 1;
  for (std::size_t i = 0; i + 1 < shape.size(); ++i) rows *= static_cast<std::int64_t>(shape[i]);
  const ParsedChain chain = parse_chain(post, channels, shape);
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  auto out = new_array<float>(shape);
  const float* src = static_cast<const float*>(x.data());
  float* dst = out.data();
  {
    nb::gil_scoped_release release;
    for_row_chunks(rows, channels, n_threads, [&](std::int64_t r0, std::int64_t r1) {
      std::copy(src + r0 * channels, src + r1 * channels, dst + r0 * channels);
      apply_chain_rows(chain.steps, channels, dst + r0 * channels, channels, r0, r1 - r0, 0,
                       channels, path);
    });
  }
  return out;
}

// A new C-contiguous (rows, columns) float32 array on a 64-byte (cache line) boundary: with
// new_array's 16-byte alignment, two threads writing neighbouring column ranges of a row could
// share a cache line, and every full vector store of a row of 16 floats would straddle two.
constexpr std::align_val_t kMatrixAlign{64};

nb::ndarray<nb::numpy, float> new_aligned_matrix(std::size_t rows, std::size_t columns) {
  const std::int64_t count = checked_buffer_elements({static_cast<std::int64_t>(rows),
                                                      static_cast<std::int64_t>(columns)},
                                                     sizeof(float), "the output");
  const std::size_t bytes =
      static_cast<std::size_t>(std::max<std::int64_t>(1, count)) * sizeof(float);
  float* data = static_cast<float*>(::operator new(bytes, kMatrixAlign));
  nb::capsule owner(data, [](void* p) noexcept { ::operator delete(p, kMatrixAlign); });
  const std::size_t shape[2] = {rows, columns};
  return nb::ndarray<nb::numpy, float>(data, 2, shape, owner);
}

nb::ndarray<nb::numpy, float> py_sgemm(const Array& a, const Array& b, nb::handle threads,
                                       const std::optional<std::string>& simd) {
  if (a.dtype() != nb::dtype<float>()) fail_type("a must be float32, got " + dtype_text(a.dtype()));
  if (b.dtype() != nb::dtype<float>()) fail_type("b must be float32, got " + dtype_text(b.dtype()));
  check_layout(a, "a", 2, 2);
  check_layout(b, "b", 2, 2);
  if (a.shape(1) != b.shape(0))
    fail_value("a (M, K) and b (K, N) must agree on K, got a " + shape_text(a) + " and b " +
               shape_text(b));
  const int n_threads = check_threads(threads);
  const SimdPath path = resolve_simd(simd);
  const std::int64_t m = static_cast<std::int64_t>(a.shape(0));
  const std::int64_t k = static_cast<std::int64_t>(a.shape(1));
  const std::int64_t n = static_cast<std::int64_t>(b.shape(1));
  auto out = new_aligned_matrix(static_cast<std::size_t>(m), static_cast<std::size_t>(n));
  const SgemmProblem problem{static_cast<const float*>(a.data()),
                             static_cast<const float*>(b.data()), out.data(), m, n, k};
  {
    nb::gil_scoped_release release;
    sgemm(problem, path, n_threads);
  }
  return out;
}

// x (N, A, B, C) -> (N, C, A, B) when to_channels_first, else (N, B, C, A): the (A, B * C) or
// (A * B, C) matrix of each sample transposed.
nb::ndarray<nb::numpy, float> py_transpose_map(const Array& x, nb::handle threads,
                                                bool to_nhwc) {
  check_float_map(x, "x");
  const int n_threads = check_threads(threads);
  const std::size_t n = x.shape(0), a = x.shape(1), b = x.shape(2), c = x.shape(3);
  const Shape shape = to_nhwc ? Shape{n, b, c, a} : Shape{n, c, a, b};
  const std::int64_t rows = static_cast<std::int64_t>(to_nhwc ? a : a * b);
  const std::int64_t cols = static_cast<std::int64_t>(to_nhwc ? b * c : c);
  auto out = new_array<float>(shape);
  {
    nb::gil_scoped_release release;
    transpose_batched(static_cast<const float*>(x.data()), static_cast<std::int64_t>(n), rows,
                      cols, out.data(), n_threads);
  }
  return out;
}

nb::ndarray<nb::numpy, float> py_nchw_to_nhwc(const Array& x, nb::handle threads) {
  return py_transpose_map(x, threads, true);
}

nb::ndarray<nb::numpy, float> py_nhwc_to_nchw(const Array& x, nb::handle threads) {
  return py_transpose_map(x, threads, false);
}

}  // namespace

void register_float_kernels(nb::module_& m) {
  m.def("nchw_to_nhwc", named("nchw_to_nhwc", &py_nchw_to_nhwc), nb::arg("x"),
      nb::arg("threads") = 0,
      "A float32 (N, C, H, W) map (C-contiguous) in the engine's layout: a new (N, H, W, C) "
      "array, equal to numpy's x.transpose(0, 2, 3, 1).");
  m.def("nhwc_to_nchw", named("nhwc_to_nchw", &py_nhwc_to_nchw), nb::arg("x"),
      nb::arg("threads") = 0,
      "A float32 (N, H, W, C) map (C-contiguous) back in torch's layout: a new (N, C, H, W) "
      "array, equal to numpy's x.transpose(0, 3, 1, 2).");
  m.def("depthwise_conv2d",
        named("depthwise_conv2d", &py_depthwise_conv2d), nb::arg("x"), nb::arg("w"),
        nb::arg("scale"),
        nb::arg("bias"), nb::arg("stride") = nb::make_tuple(1, 1),
        nb::arg("padding") = nb::make_tuple(0, 0), nb::arg("pad_value") = 0.0,
        nb::arg("threads") = 0, nb::arg("post").none() = nb::none(),
        nb::arg("simd").none() = nb::none(),
        "Float depthwise convolution of an NHWC map with a depth multiplier, then y * scale + "
        "bias and the post steps: float32 (N, Ho, Wo, C * M).\n\n"
        "x: (N, H, W, C) float32; w: (KH, KW, C * M) float32, output channel o reads input "
        "channel o // M; padding: an int, a pair or (top, bottom, left, right), padded pixels "
        "hold pad_value. Equals onebit.runtime.reference.depthwise_conv2d bit for bit.");
  m.def("float_im2col",
        named("float_im2col", &py_float_im2col), nb::arg("x"), nb::arg("kernel"),
        nb::arg("stride") = nb::make_tuple(1, 1), nb::arg("padding") = nb::make_tuple(0, 0),
        nb::arg("pad_value") = 0.0, nb::arg("threads") = 0,
        "The (N * Ho * Wo, KH * KW * C) float32 rows of the windows of an NHWC map, each in "
        "(kh, kw, c) order, padded pixels holding pad_value: a float convolution is these rows "
        "times the (KH * KW * C, Cout) weights. padding: an int, a pair or (top, bottom, left, "
        "right).");
  m.def("maxpool2d",
        named("maxpool2d", &py_maxpool2d), nb::arg("x"), nb::arg("kernel"),
        nb::arg("stride") = nb::make_tuple(1, 1), nb::arg("padding") = nb::make_tuple(0, 0),
        nb::arg("threads") = 0, nb::arg("simd").none() = nb::none(),
        "Max-pool of a float32 NHWC map over its in-bounds window pixels (padding never wins, "
        "NaN propagates); padding: an int, a pair or (top, bottom, left, right).");
  m.def("sgemm",
        named("sgemm", &py_sgemm), nb::arg("a"), nb::arg("b"), nb::arg("threads") = 0,
        nb::arg("simd").none() = nb::none(),
        "a @ b in float32 on the kernels' thread pool: a new (M, N) array.\n\n"
        "a: (M, K) and b: (K, N) C-contiguous float32; non-contiguous input raises ValueError (no "
        "hidden copy). Each output is one float32 sum in increasing k (fused multiply-add on the "
        "AVX2 and AVX-512 paths), so the thread count never changes the result. threads=0 uses "
        "get_num_threads(); simd forces a path from simd_paths().");
  m.def("float_chain",
        named("float_chain", &py_float_chain), nb::arg("x"), nb::arg("post"),
        nb::arg("threads") = 0, nb::arg("simd").none() = nb::none(),
        "The float_chain steps applied to a copy of x (float32 (..., C), C-contiguous): "
        "('affine', scale, bias), ('relu',), ('prelu', slope), ('hardtanh', low, high), "
        "('add', residual of x's shape), in order, per channel of the last axis.");
}

}  // namespace onebit
