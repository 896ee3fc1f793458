// Zero-padding correction of a binary convolution computed with one-padding.
//
// Layout: weights (Cout, KH, KW, weight_words) in common/bit_format.h's convention, each tap
// holding the cin / groups channels of its output channel's group; accumulators are rows of Cout
// int32 per output pixel (NHWC order), as bconv2d.h's tiles hold them.
//
// The algebra: a padded pixel of all-zero words is +1 in every channel ("one-padding",
// pad_value = 1). Zero padding (pad_value = 0) wants the padded pixel to contribute 0 instead of
// sum_c (+1) * w[co, kh, kw, c]; so the one-padded result is corrected by subtracting, for each
// padded tap (kh, kw) of an output position, tap_sum[co, kh, kw] = sum_c w[co, kh, kw, c] =
// cin / groups - 2 * popcount(w[co, kh, kw, :]). Tap (i, j) of output (oh, ow) reads input pixel
// (oh * sh - ph + i * dh, ow * sw - pw + j * dw); only border outputs have padded taps.
#pragma once

#include <cstdint>
#include <vector>

#include "bconv2d/conv2d_geometry.h"
#include "common/bit_format.h"

namespace onebit {

// tap_sums[(kh * KW + kw) * Cout + co] = sum over the channels of co's group of the +-1 weights of
// that tap (tap-major, so a border pixel subtracts one contiguous row per padded tap).
inline std::vector<std::int32_t> weight_tap_sums(const word_t* w, const Conv2dGeometry& g) {
  const std::int64_t taps = g.kh * g.kw, words = g.weight_words(), channels = g.group_cin();
  std::vector<std::int32_t> sums(static_cast<std::size_t>(taps * g.cout));
  for (std::int64_t co = 0; co < g.cout; ++co) {
    for (std::int64_t t = 0; t < taps; ++t) {
      const word_t* row = w + (co * taps + t) * words;
      std::int64_t ones = 0;
      for (std::int64_t i = 0; i < words; ++i) ones += popcount(row[i]);
      sums[t * g.cout + co] = static_cast<std::int32_t>(channels - 2 * ones);
    }
  }
  return sums;
}

// Zero-padding correction of output pixels [p0, p1), channels [c0, c1), in out (row stride
// `stride`, row 0 = pixel p0): subtract the tap sums of every tap that falls on padding.
inline void subtract_padded_taps(const Conv2dGeometry& g, const std::int32_t* tap_sums,
                                 std::int64_t p0, std::int64_t p1, std::int64_t c0,
                                 std::int64_t c1, std::int32_t* out, std::int64_t stride) {
  const std::int64_t ho = g.ho(), wo = g.wo(), span_h = g.span_h(), span_w = g.span_w();
  std::int64_t oh = p0 / wo % ho, ow = p0 % wo - 1;
  for (std::int64_t p = p0; p < p1; ++p) {
    if (++ow == wo) {
      ow = 0;
      if (++oh == ho) oh = 0;
    }
    const std::int64_t ih0 = oh * g.sh - g.ph, iw0 = ow * g.sw - g.pw;
    if (ih0 >= 0 && ih0 + span_h <= g.h && iw0 >= 0 && iw0 + span_w <= g.w) continue;  // interior
    std::int32_t* o = out + (p - p0) * stride;
    for (std::int64_t i = 0; i < g.kh; ++i) {
      const std::int64_t ih = ih0 + i * g.dh;
      const bool row_padded = ih < 0 || ih >= g.h;
      for (std::int64_t j = 0; j < g.kw; ++j) {
        const std::int64_t iw = iw0 + j * g.dw;
        if (!row_padded && iw >= 0 && iw < g.w) continue;
        const std::int32_t* s = tap_sums + (i * g.kw + j) * g.cout;
        for (std::int64_t c = c0; c < c1; ++c) o[c] -= s[c];
      }
    }
  }
}

}  // namespace onebit
