// im2col of NHWC maps: the rows of output pixels [p0, p1), each the KH x KW window of input pixels
// of C elements (float values, or packed words of a binary map) in (kh, kw, c) order, padded
// taps filled with `pad`. Used by the float convolution (float/float_window.h) and the binary one
// (bconv2d/bconv2d.h), whose rows are then the GEMM's left operand.
//
// Tap (i, j) of output (oh, ow) reads input pixel (oh * sh - top + i * dh, ow * sw - left + j * dw)
// (dilation dh, dw; 1 for a plain convolution). Without column dilation the taps of a kernel row
// are consecutive input pixels (for any stride), so each kernel row is one copy of the in-bounds
// run plus pad elements for the taps that fall on padding; with it, one copy per tap. Output
// pixel p = (n * Ho + oh) * Wo + ow; the pixels are walked with counters, not divisions.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace onebit {

// The window geometry im2col needs (the caller has checked it: every extent and output side).
struct Im2colShape {
  std::int64_t h, w, c;          // input (H, W, C) of each image
  std::int64_t kh, kw, sh, sw;   // kernel and stride
  std::int64_t top, left;        // padding before the first row and column
  std::int64_t ho, wo;           // output sides
  std::int64_t dh = 1, dw = 1;   // dilation (last, so that initializers without it still work)
};

// memcpy of a kernel row's run, inline: the runs are short (a 7x7 window over 3 channels is 84
// bytes, a 3x3 one over 64 channels 24), so a call per run cost more than the copy.
inline void copy_run(void* dst, const void* src, std::size_t bytes) {
  if (bytes > 256) {
    std::memcpy(dst, src, bytes);
    return;
  }
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  for (; bytes >= 32; bytes -= 32, d += 32, s += 32) std::memcpy(d, s, 32);
  if (bytes >= 16) std::memcpy(d, s, 16), d += 16, s += 16, bytes -= 16;
  if (bytes >= 8) std::memcpy(d, s, 8), d += 8, s += 8, bytes -= 8;
  if (bytes >= 4) std::memcpy(d, s, 4), d += 4, s += 4, bytes -= 4;
  for (; bytes > 0; --bytes) *d++ = *s++;
}

template <typename T>
void im2col_pixels(const T* x, const Im2colShape& s, T pad, std::int64_t p0, std::int64_t p1,
                   T* dst) {
  const std::int64_t row_elements = s.kw * s.c;
  std::int64_t n = p0 / (s.ho * s.wo), oh = p0 / s.wo % s.ho, ow = p0 % s.wo;
  for (std::int64_t p = p0; p < p1; ++p) {
    const std::int64_t iw0 = ow * s.sw - s.left;
    // the taps in bounds, j in [j0, j1): 0 <= iw0 + j * dw < w
    const std::int64_t j0 = iw0 >= 0 ? 0 : std::min<std::int64_t>(s.kw, (-iw0 + s.dw - 1) / s.dw);
    const std::int64_t j1 =
        iw0 >= s.w ? 0 : std::min<std::int64_t>(s.kw, (s.w - iw0 + s.dw - 1) / s.dw);
    for (std::int64_t i = 0; i < s.kh; ++i, dst += row_elements) {
      const std::int64_t ih = oh * s.sh - s.top + i * s.dh;
      if (ih < 0 || ih >= s.h || j1 <= j0) {
        std::fill(dst, dst + row_elements, pad);
        continue;
      }
      const T* src = x + ((n * s.h + ih) * s.w + iw0 + j0 * s.dw) * s.c;
      if (j0 > 0) std::fill(dst, dst + j0 * s.c, pad);
      if (s.dw == 1) {
        copy_run(dst + j0 * s.c, src, static_cast<std::size_t>((j1 - j0) * s.c) * sizeof(T));
      } else {
        for (std::int64_t j = j0; j < j1; ++j)
          copy_run(dst + j * s.c, src + (j - j0) * s.dw * s.c,
                   static_cast<std::size_t>(s.c) * sizeof(T));
      }
      if (j1 < s.kw) std::fill(dst + j1 * s.c, dst + row_elements, pad);
    }
    if (++ow == s.wo) {
      ow = 0;
      if (++oh == s.ho) oh = 0, ++n;
    }
  }
}

}  // namespace onebit
