// Depthwise convolution rows with AVX2 (compiled with -mavx2 and no -mfma): for each output pixel
// and each vector of 8 channels, the sum stays in a register while the taps are added in (kh, kw)
// order, each product rounded before the add, as depthwise_conv2d.h's portable loop does through
// memory; so the two agree bit for bit. The last, partial vector of channels is masked.
//
// Like the bgemm path files: only kernel headers and intrinsics, helpers in an anonymous
// namespace (ODR; see bgemm/bgemm_kernels.h).
#include <immintrin.h>

#include "float/float_lanes_avx2.h"
#include "float/window_row_kernels.h"

namespace onebit::kernels {
namespace {

// Channels [c, c + 8) of output pixel ow.
template <bool Masked>
inline void pixel_vector(const float* x, const float* w, const WindowRow& g, std::int64_t oh,
                         std::int64_t ow, const float* pad_row, bool pad_counts, float* out,
                         std::int64_t c, __m256i mask) {
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t i = 0; i < g.kh; ++i) {
    const std::int64_t ih = oh * g.sh - g.top + i;
    const bool row_in = ih >= 0 && ih < g.h;
    for (std::int64_t j = 0; j < g.kw; ++j) {
      const std::int64_t iw = ow * g.sw - g.left + j;
      const float* tap_w = w + (i * g.kw + j) * g.c + c;
      const float* v;
      if (row_in && iw >= 0 && iw < g.w) {
        v = x + (ih * g.w + iw) * g.c + c;
      } else if (pad_counts) {
        v = pad_row + c;
      } else {
        continue;  // a zero pad adds +0.0, which changes no sum
      }
      acc = _mm256_add_ps(acc, _mm256_mul_ps(load_floats<Masked>(v, mask), load_floats<Masked>(tap_w, mask)));
    }
  }
  store_floats<Masked>(out + c, mask, acc);
}

}  // namespace

void depthwise_row_avx2(const float* x, const float* w, const WindowRow& g, std::int64_t oh,
                        const float* pad_row, bool pad_counts, float* out_row) {
  const std::int64_t full = g.c / kFloatLanes * kFloatLanes;
  const __m256i tail = lanes_below(g.c - full);
  for (std::int64_t ow = 0; ow < g.wo; ++ow) {
    float* out = out_row + ow * g.c;
    for (std::int64_t c = 0; c < full; c += kFloatLanes)
      pixel_vector<false>(x, w, g, oh, ow, pad_row, pad_counts, out, c, tail);
    if (full < g.c) pixel_vector<true>(x, w, g, oh, ow, pad_row, pad_counts, out, full, tail);
  }
}

}  // namespace onebit::kernels
