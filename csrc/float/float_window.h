// Window operations on float NHWC maps: im2col rows for a float convolution's matrix product, and
// max-pooling.
//
// Layout: x is (N, H, W, C) float32. Padding is per side (top, bottom, left, right); the output
// side is Ho = (H + top + bottom - KH) / sh + 1 (floor), likewise Wo.
//
// im2col: row p = (n, oh, ow) of the (N * Ho * Wo, KH * KW * C) result holds the window's pixels
// in (kh, kw, c) order, a padded pixel as C copies of pad_value. Within a kernel row the taps are
// consecutive input pixels (for any stride), so each kernel row is one copy of its in-bounds run
// of KW * C floats plus pad values, as bconv2d.h's packed im2col does with words.
//
// max-pool: the largest value of each window over its in-bounds pixels; padded pixels never win
// (torch pads with -inf). Both are pure copies and comparisons, so they equal their NumPy
// references in onebit.runtime.reference exactly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/checked.h"
#include "common/cpu_features.h"
#include "common/im2col.h"
#include "common/threads.h"
#include "common/window.h"
#include "float/window_row_kernels.h"

namespace onebit {

struct WindowGeometry {
  std::int64_t n = 0, h = 0, w = 0, c = 0;
  std::int64_t kh = 1, kw = 1, sh = 1, sw = 1;
  std::int64_t top = 0, bottom = 0, left = 0, right = 0;

  std::int64_t ho() const { return window_output_side(h + top + bottom, kh, sh); }
  std::int64_t wo() const { return window_output_side(w + left + right, kw, sw); }
  std::int64_t pixels() const { return n * ho() * wo(); }
};

// Checks g's sizes (common/checked.h): every extent, the output sides, and `per_pixel` floats for
// each output pixel within the buffer limit; SizeError names the first that is not.
inline void check_window_geometry(const WindowGeometry& g, std::int64_t per_pixel) {
  checked_extent(g.n, "batch");
  checked_extent(g.c, "channels");
  const WindowSides out =
      checked_window_sides(g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.top, g.bottom, g.left, g.right);
  checked_buffer_elements({g.n, out.ho, out.wo, per_pixel}, sizeof(float), "the output");
}

// The floats of one output pixel of float_im2col: KH * KW * C (checked).
inline std::int64_t im2col_pixel_floats(const WindowGeometry& g) {
  checked_buffer_elements({g.kh, g.kw, g.c}, sizeof(float), "an im2col row");
  return g.kh * g.kw * g.c;
}

// Output rows below this many floats (a few microseconds) go to one thread; see for_row_chunks.
inline constexpr std::int64_t kMinWindowFloatsPerThread = std::int64_t{1} << 14;

template <typename RowFn>
void for_output_rows(const WindowGeometry& g, std::int64_t floats_per_row, int threads, RowFn fn) {
  const std::int64_t rows = g.n * g.ho();
  if (rows <= 0 || g.wo() <= 0) return;
  const std::int64_t useful =
      std::max<std::int64_t>(1, saturating_mul(rows, floats_per_row) / kMinWindowFloatsPerThread);
  const int tasks = static_cast<int>(std::min<std::int64_t>({threads, useful, rows}));
  auto task = [&](std::int64_t t) {
    for (std::int64_t r = rows * t / tasks; r < rows * (t + 1) / tasks; ++r) fn(r / g.ho(), r % g.ho());
  };
  if (tasks <= 1) {
    task(0);
  } else {
    parallel_for(tasks, task, tasks);
  }
}

// im2col rows of the output pixels [p0, p1) (p = (n * Ho + oh) * Wo + ow) into dst
// ((p1 - p0) x KH * KW * C floats): common/im2col.h; g must have passed check_window_geometry.
inline void float_im2col_pixels(const float* x, const WindowGeometry& g, float pad_value,
                                std::int64_t p0, std::int64_t p1, float* dst) {
  const Im2colShape shape{g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.top, g.left, g.ho(), g.wo()};
  im2col_pixels(x, shape, pad_value, p0, p1, dst);
}

inline void float_im2col(const float* x, const WindowGeometry& g, float pad_value, int threads,
                         float* out) {
  check_window_geometry(g, im2col_pixel_floats(g));
  const std::int64_t wo = g.wo(), patch = im2col_pixel_floats(g);
  for_output_rows(g, wo * patch, threads, [&](std::int64_t n, std::int64_t oh) {
    const std::int64_t p0 = (n * g.ho() + oh) * wo;
    float_im2col_pixels(x, g, pad_value, p0, p0 + wo, out + p0 * patch);
  });
}

// On the AVX2 paths each output row runs maxpool_avx2.cpp's kernel instead (the same result).
inline void float_maxpool2d(const float* x, const WindowGeometry& g, int threads, float* out,
                            SimdPath path = default_simd_path()) {
  check_window_geometry(g, g.c);
  const std::int64_t wo = g.wo(), c = g.c;
  // the work per output row: the in-bounds taps of each window, at most min(KH, H) x min(KW, W)
  const std::int64_t taps = std::min(g.kh, g.h) * std::min(g.kw, g.w);
  const bool vector_rows = has_avx2_kernels(path);
  const kernels::WindowRow row{g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.top, g.left, wo};
  (void)vector_rows, (void)row;  // (used on x86 only)
  for_output_rows(g, saturating_mul(wo * c, taps), threads, [&](std::int64_t n, std::int64_t oh) {
    float* dst = out + (n * g.ho() + oh) * wo * c;
#if defined(ONEBIT_X86)
    if (vector_rows) return kernels::maxpool_row_avx2(x + n * g.h * g.w * c, row, oh, dst);
#endif
    const std::int64_t ih0 = std::max<std::int64_t>(0, oh * g.sh - g.top);
    const std::int64_t ih1 = std::min<std::int64_t>(g.h, oh * g.sh - g.top + g.kh);
    for (std::int64_t ow = 0; ow < wo; ++ow, dst += c) {
      const std::int64_t iw0 = std::max<std::int64_t>(0, ow * g.sw - g.left);
      const std::int64_t iw1 = std::min<std::int64_t>(g.w, ow * g.sw - g.left + g.kw);
      bool first = true;
      for (std::int64_t ih = ih0; ih < ih1; ++ih) {
        for (std::int64_t iw = iw0; iw < iw1; ++iw) {
          const float* src = x + ((n * g.h + ih) * g.w + iw) * c;
          if (first) {
            std::memcpy(dst, src, static_cast<std::size_t>(c) * sizeof(float));
            first = false;
            continue;
          }
          // NaN-propagating like NumPy's maximum: a NaN anywhere in the window wins
          for (std::int64_t k = 0; k < c; ++k)
            dst[k] = (src[k] > dst[k] || src[k] != src[k]) ? src[k] : dst[k];
        }
      }
      if (first) std::fill(dst, dst + c, -__builtin_huge_valf());  // a window of padding only
    }
  });
}

}  // namespace onebit
