// Binary max-pool on packed NHWC words.
//
// Layout: x is (N, H, W, words) packed as common/bit_format.h says (+1 is bit 0, -1 is bit 1,
// unused high bits 0); the result is (N, Ho, Wo, words), Ho = (H + 2 ph - kh) / sh + 1 (floor, like
// torch's max_pool2d). The max of +-1 values is +1 (bit 0) when any value is +1, so an output word
// is the AND of the window's words. Padded positions are ignored (they never win a max): the AND
// runs over the in-bounds pixels only, and since padding is at most half the kernel every window
// holds one, which also keeps the unused high bits 0.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "common/bit_format.h"
#include "common/checked.h"
#include "common/window.h"

namespace onebit {

struct Pool2dGeometry {
  std::int64_t n = 0, h = 0, w = 0, words = 0;
  std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;

  std::int64_t ho() const { return window_output_side(h + 2 * ph, kh, sh); }
  std::int64_t wo() const { return window_output_side(w + 2 * pw, kw, sw); }
};

// Checks g's sizes (common/checked.h): every extent, padding at most half the kernel, the output
// sides and the output within the buffer limit; SizeError names the first that is not.
inline void check_pool2d_geometry(const Pool2dGeometry& g) {
  checked_extent(g.n, "batch");
  checked_extent(g.h, "height");
  checked_extent(g.w, "width");
  checked_extent(g.words, "words");
  checked_extent(g.kh, "kernel");
  checked_extent(g.kw, "kernel");
  checked_extent(g.sh, "stride");
  checked_extent(g.sw, "stride");
  checked_extent(g.ph, "padding");
  checked_extent(g.pw, "padding");
  if (2 * g.ph > g.kh || 2 * g.pw > g.kw)
    throw SizeError("padding must be at most half the kernel, got (" + std::to_string(g.ph) + ", " +
                    std::to_string(g.pw) + ")");
  const std::int64_t ho = checked_window_side(g.h, g.ph, g.ph, g.kh, g.sh, "height");
  const std::int64_t wo = checked_window_side(g.w, g.pw, g.pw, g.kw, g.sw, "width");
  checked_buffer_elements({g.n, ho, wo, g.words}, sizeof(word_t), "the output");
}

inline void bmaxpool2d(const word_t* x, const Pool2dGeometry& g, word_t* out) {
  check_pool2d_geometry(g);
  const std::int64_t ho = g.ho(), wo = g.wo();
  for (std::int64_t n = 0; n < g.n; ++n) {
    for (std::int64_t oh = 0; oh < ho; ++oh) {
      const std::int64_t ih0 = std::max<std::int64_t>(0, oh * g.sh - g.ph);
      const std::int64_t ih1 = std::min<std::int64_t>(g.h, oh * g.sh - g.ph + g.kh);
      for (std::int64_t ow = 0; ow < wo; ++ow, out += g.words) {
        const std::int64_t iw0 = std::max<std::int64_t>(0, ow * g.sw - g.pw);
        const std::int64_t iw1 = std::min<std::int64_t>(g.w, ow * g.sw - g.pw + g.kw);
        for (std::int64_t i = 0; i < g.words; ++i) out[i] = ~word_t{0};
        for (std::int64_t ih = ih0; ih < ih1; ++ih) {
          const word_t* row = x + ((n * g.h + ih) * g.w) * g.words;
          for (std::int64_t iw = iw0; iw < iw1; ++iw) {
            const word_t* px = row + iw * g.words;
            for (std::int64_t i = 0; i < g.words; ++i) out[i] &= px[i];
          }
        }
      }
    }
  }
}

}  // namespace onebit
