// Float max-pool rows with AVX2 (compiled with -mavx2): for each output pixel and each vector of 8
// channels, the maximum stays in a register while the in-bounds taps are visited in float_window.h's
// order, each with the same select, src if (src > max or src is NaN) else max, so a NaN anywhere
// in the window wins and the result equals the portable loop bit for bit. A window of padding
// only gives -inf. The last, partial vector of channels is masked.
//
// Like the bgemm path files: only kernel headers and intrinsics, helpers in an anonymous
// namespace (ODR; see bgemm/bgemm_kernels.h).
#include <immintrin.h>

#include "float/float_lanes_avx2.h"
#include "float/window_row_kernels.h"

namespace onebit::kernels {
namespace {

template <bool Masked>
inline void pixel_vector(const float* x, const WindowRow& g, std::int64_t ih0, std::int64_t ih1,
                         std::int64_t iw0, std::int64_t iw1, float* out, std::int64_t c,
                         __m256i mask) {
  __m256 best = _mm256_set1_ps(-__builtin_huge_valf());
  bool first = true;
  for (std::int64_t ih = ih0; ih < ih1; ++ih) {
    for (std::int64_t iw = iw0; iw < iw1; ++iw) {
      const __m256 v = load_floats<Masked>(x + (ih * g.w + iw) * g.c + c, mask);
      if (first) {
        best = v;
        first = false;
        continue;
      }
      const __m256 wins = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ),
                                       _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      best = _mm256_blendv_ps(best, v, wins);
    }
  }
  store_floats<Masked>(out + c, mask, best);
}

}  // namespace

void maxpool_row_avx2(const float* x, const WindowRow& g, std::int64_t oh, float* out_row) {
  const std::int64_t full = g.c / kFloatLanes * kFloatLanes;
  const __m256i tail = lanes_below(g.c - full);
  const std::int64_t top = oh * g.sh - g.top;
  const std::int64_t ih0 = top > 0 ? top : 0;
  const std::int64_t ih1 = top + g.kh < g.h ? top + g.kh : g.h;
  for (std::int64_t ow = 0; ow < g.wo; ++ow) {
    const std::int64_t left = ow * g.sw - g.left;
    const std::int64_t iw0 = left > 0 ? left : 0;
    const std::int64_t iw1 = left + g.kw < g.w ? left + g.kw : g.w;
    float* out = out_row + ow * g.c;
    for (std::int64_t c = 0; c < full; c += kFloatLanes)
      pixel_vector<false>(x, g, ih0, ih1, iw0, iw1, out, c, tail);
    if (full < g.c) pixel_vector<true>(x, g, ih0, ih1, iw0, iw1, out, full, tail);
  }
}

}  // namespace onebit::kernels
