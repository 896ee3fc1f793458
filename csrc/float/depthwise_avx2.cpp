// Depthwise convolution rows with AVX2 (compiled with -mavx2 and no -mfma): for each output pixel
// and each vector of 8 channels, the sum stays in a register while the taps are added in (kh, kw)
// order, each product rounded before the add, as depthwise_conv2d.h's portable loop does through
// memory; so the two agree bit for bit. The last, partial vector of channels is masked.
//
// Like the bgemm path files: only window_row_kernels.h and intrinsics, helpers in an anonymous
// namespace (ODR; see bgemm/bgemm_kernels.h).
#include <immintrin.h>

#include "float/window_row_kernels.h"

namespace onebit::kernels {
namespace {

constexpr int kLanes = 8;

template <bool Masked>
inline __m256 load(const float* p, __m256i mask) {
  if constexpr (Masked) return _mm256_maskload_ps(p, mask);
  (void)mask;
  return _mm256_loadu_ps(p);
}

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
      acc = _mm256_add_ps(acc, _mm256_mul_ps(load<Masked>(v, mask), load<Masked>(tap_w, mask)));
    }
  }
  if constexpr (Masked) {
    _mm256_maskstore_ps(out + c, mask, acc);
  } else {
    _mm256_storeu_ps(out + c, acc);
  }
}

}  // namespace

void depthwise_row_avx2(const float* x, const float* w, const WindowRow& g, std::int64_t oh,
                        const float* pad_row, bool pad_counts, float* out_row) {
  const std::int64_t full = g.c / kLanes * kLanes;
  const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(g.c - full)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (std::int64_t ow = 0; ow < g.wo; ++ow) {
    float* out = out_row + ow * g.c;
    for (std::int64_t c = 0; c < full; c += kLanes)
      pixel_vector<false>(x, w, g, oh, ow, pad_row, pad_counts, out, c, tail);
    if (full < g.c) pixel_vector<true>(x, w, g, oh, ow, pad_row, pad_counts, out, full, tail);
  }
}

}  // namespace onebit::kernels
