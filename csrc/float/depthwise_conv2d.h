// Float depthwise 2-D convolution (cross-correlation) on NHWC maps, with a depth multiplier.
//
// Layout: x is (N, H, W, C) float32; w is (KH, KW, C * M), tap-major so that one tap's weights are
// a contiguous row over the output channels; the result is (N, Ho, Wo, C * M). Output channel
// o = c * M + j reads input channel c (torch's Conv2d with groups = C, out_channels = C * M; Keras'
// DepthwiseConv2D with depth_multiplier = M).
//
// Padding may differ per side (top, bottom, left, right); padded pixels hold pad_value.
// Ho = (H + top + bottom - KH) / sh + 1 (floor), likewise Wo.
//
// Arithmetic: each output starts at 0 and adds x * w tap by tap in (kh, kw) order, the product
// rounded to float32 before the sum (no fused multiply-add), then the affine epilogue
// (y * scale + bias) and the optional float_chain.h steps. onebit.runtime.reference's
// depthwise_conv2d does the same operations in the same order, so the two agree bit for bit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/checked.h"
#include "common/cpu_features.h"
#include "common/threads.h"
#include "common/window.h"
#include "float/float_chain.h"
#include "float/window_row_kernels.h"

namespace onebit {

struct DepthwiseGeometry {
  std::int64_t n = 0, h = 0, w = 0, c = 0, m = 1;  // input (N, H, W, C), depth multiplier
  std::int64_t kh = 1, kw = 1, sh = 1, sw = 1;
  std::int64_t top = 0, bottom = 0, left = 0, right = 0;
  float pad_value = 0.0f;

  std::int64_t ho() const { return window_output_side(h + top + bottom, kh, sh); }
  std::int64_t wo() const { return window_output_side(w + left + right, kw, sw); }
  std::int64_t cout() const { return c * m; }
};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

// acc[o] += v[o / m] * w[o] over o in [0, c * m).
inline void depthwise_tap(float* acc, const float* v, const float* w, std::int64_t c,
                          std::int64_t m) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  if (m == 1) {
    for (std::int64_t o = 0; o < c; ++o) {
      const float product = v[o] * w[o];
      acc[o] = acc[o] + product;
    }
    return;
  }
  for (std::int64_t i = 0; i < c; ++i) {
    for (std::int64_t j = 0; j < m; ++j) {
      const float product = v[i] * w[i * m + j];
      acc[i * m + j] = acc[i * m + j] + product;
    }
  }
}

// One output row (n, oh) into out_row ((Wo, C * M) floats). pad_row: C floats of pad_value.
inline void depthwise_row(const float* x, const float* w, const DepthwiseGeometry& g,
                          std::int64_t n, std::int64_t oh, const float* pad_row, float* out_row) {
  const std::int64_t wo = g.wo(), cout = g.cout();
  const bool pad_counts = g.pad_value != 0.0f;
  for (std::int64_t ow = 0; ow < wo; ++ow) {
    float* acc = out_row + ow * cout;
    std::fill(acc, acc + cout, 0.0f);
    for (std::int64_t i = 0; i < g.kh; ++i) {
      const std::int64_t ih = oh * g.sh - g.top + i;
      const bool row_in = ih >= 0 && ih < g.h;
      for (std::int64_t j = 0; j < g.kw; ++j) {
        const std::int64_t iw = ow * g.sw - g.left + j;
        const float* tap_w = w + (i * g.kw + j) * cout;
        if (row_in && iw >= 0 && iw < g.w) {
          depthwise_tap(acc, x + ((n * g.h + ih) * g.w + iw) * g.c, tap_w, g.c, g.m);
        } else if (pad_counts) {  // a zero pad adds +0.0, which changes no sum
          depthwise_tap(acc, pad_row, tap_w, g.c, g.m);
        }
      }
    }
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

// Checks g's sizes (common/checked.h): every extent, the output sides and the output within the
// buffer limit; SizeError names the first that is not.
inline void check_depthwise_geometry(const DepthwiseGeometry& g) {
  checked_extent(g.n, "batch");
  checked_extent(g.c, "channels");
  checked_extent(g.m, "depth multiplier");
  checked_extent(checked_mul(g.c, g.m, "channels x depth multiplier"), "output channels");
  const WindowSides out =
      checked_window_sides(g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.top, g.bottom, g.left, g.right);
  checked_buffer_elements({g.n, out.ho, out.wo, g.c, g.m}, sizeof(float), "the output");
}

// Rows below this many multiply-adds (a few microseconds) go to one thread; see for_row_chunks.
inline constexpr std::int64_t kMinDepthwiseMacsPerThread = std::int64_t{1} << 14;

// The whole convolution, its affine epilogue and `post` steps, on up to `threads` threads.
inline void depthwise_conv2d(const float* x, const float* w, const DepthwiseGeometry& g,
                             const float* scale, const float* bias,
                             const std::vector<ChainStep>& post, int threads, float* out,
                             SimdPath path = default_simd_path()) {
  check_depthwise_geometry(g);
  const std::int64_t ho = g.ho(), wo = g.wo(), cout = g.cout();
  const std::int64_t rows = g.n * ho;
  if (rows == 0 || wo == 0 || cout == 0) return;
  const std::vector<float> pad_row(static_cast<std::size_t>(g.c), g.pad_value);
  std::vector<ChainStep> steps;
  steps.push_back(ChainStep{ChainOp::affine, scale, bias});
  steps.insert(steps.end(), post.begin(), post.end());
  const std::int64_t macs_per_row = saturating_mul(wo * cout, g.kh * g.kw);
  const std::int64_t useful =
      std::max<std::int64_t>(1, saturating_mul(rows, macs_per_row) / kMinDepthwiseMacsPerThread);
  const int n_threads = static_cast<int>(std::min<std::int64_t>({threads, useful, rows}));
  const bool vector_rows = has_avx2_kernels(path) && g.m == 1;
  const kernels::WindowRow row{g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.top, g.left, wo};
  (void)vector_rows, (void)row;  // (used on x86 only)
  auto task = [&](std::int64_t t) {
    const std::int64_t r0 = rows * t / n_threads, r1 = rows * (t + 1) / n_threads;
    for (std::int64_t r = r0; r < r1; ++r) {
      float* out_row = out + r * wo * cout;
#if defined(ONEBIT_X86)
      if (vector_rows) {
        kernels::depthwise_row_avx2(x + r / ho * g.h * g.w * g.c, w, row, r % ho, pad_row.data(),
                                    g.pad_value != 0.0f, out_row);
      } else
#endif
      {
        depthwise_row(x, w, g, r / ho, r % ho, pad_row.data(), out_row);
      }
      apply_chain_rows(steps, cout, out_row, cout, r * wo, wo, 0, cout, path);
    }
  };
  if (n_threads <= 1) {
    task(0);
  } else {
    parallel_for(n_threads, task, n_threads);
  }
}

}  // namespace onebit
