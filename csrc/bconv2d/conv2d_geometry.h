// The geometry of a binary 2-D convolution on packed NHWC words: the input (N, H, W, words) with
// words = words_for(cin), the weights (Cout, KH, KW, words), stride and symmetric padding; output
// sides as every window op computes them (common/window.h).
#pragma once

#include <cstdint>

#include "common/window.h"

namespace onebit {

struct Conv2dGeometry {
  std::int64_t n = 0, h = 0, w = 0, cin = 0, words = 0;  // input (N, H, W, words_for(cin))
  std::int64_t cout = 0, kh = 0, kw = 0;                  // weights (Cout, KH, KW, words)
  std::int64_t sh = 1, sw = 1, ph = 0, pw = 0;            // stride, symmetric padding
  bool zero_padding = false;                              // pad_value 0 (else one-padding)

  std::int64_t ho() const { return window_output_side(h + 2 * ph, kh, sh); }
  std::int64_t wo() const { return window_output_side(w + 2 * pw, kw, sw); }
  std::int64_t pixels() const { return n * ho() * wo(); }
  std::int64_t patch_words() const { return kh * kw * words; }
  std::int64_t k() const { return kh * kw * cin; }
  // The input rows are the bgemm matrix as they are.
  bool direct() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

}  // namespace onebit
