// The geometry of a binary 2-D convolution on packed NHWC words: the input (N, H, W, words) with
// words = words_for(cin), the weights (Cout, KH, KW, weight_words()) with weight_words() =
// words_for(cin / groups) (each output channel's taps hold its group's channels, re-packed from
// bit 0), stride, symmetric padding and dilation; output sides as every window op computes them
// (common/window.h), over the dilated kernel's span (KH - 1) * dh + 1 by (KW - 1) * dw + 1.
#pragma once

#include <cstdint>

#include "common/bit_format.h"
#include "common/window.h"

namespace onebit {

struct Conv2dGeometry {
  std::int64_t n = 0, h = 0, w = 0, cin = 0, words = 0;  // input (N, H, W, words_for(cin))
  std::int64_t cout = 0, kh = 0, kw = 0;                  // weights (Cout, KH, KW, weight_words())
  std::int64_t sh = 1, sw = 1, ph = 0, pw = 0;            // stride, symmetric padding
  bool zero_padding = false;                              // pad_value 0 (else one-padding)
  std::int64_t dh = 1, dw = 1;                            // dilation
  std::int64_t groups = 1;  // G: output channel o reads the channels of group o / (Cout / G)

  std::int64_t span_h() const { return (kh - 1) * dh + 1; }  // the dilated kernel's extent
  std::int64_t span_w() const { return (kw - 1) * dw + 1; }
  std::int64_t ho() const { return window_output_side(h + 2 * ph, span_h(), sh); }
  std::int64_t wo() const { return window_output_side(w + 2 * pw, span_w(), sw); }
  std::int64_t pixels() const { return n * ho() * wo(); }
  std::int64_t group_cin() const { return cin / groups; }
  std::int64_t group_cout() const { return cout / groups; }
  std::int64_t weight_words() const { return groups == 1 ? words : words_for(group_cin()); }
  std::int64_t patch_words() const { return kh * kw * weight_words(); }
  std::int64_t k() const { return kh * kw * group_cin(); }
  // The input rows are the bgemm matrix as they are.
  bool direct() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && groups == 1;
  }
};

}  // namespace onebit
