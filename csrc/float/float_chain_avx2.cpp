// float_chain.h's steps with AVX2 (compiled with -mavx2 and no -mfma, so a product and a sum are
// rounded separately, as in the portable loops), fused: 8 channels are loaded once, pass through
// every step in registers and are stored once, where the portable code makes one pass per step.
//
// Each step matches its scalar form lane by lane, NaN and -0.0 included:
//   relu      x < 0 ? 0 : x          blend(x, 0, x < 0)
//   prelu     x >= 0 ? x : x * a     blend(x * a, x, x >= 0)
//   hardtanh  min(max(x, lo), hi)    blend(x, lo, x < lo), then blend(., hi, . > hi)
// The last, partial vector of a row uses masked loads and stores.
//
// Like the bgemm path files: only kernel headers and intrinsics, helpers in an anonymous
// namespace (ODR; see bgemm/bgemm_kernels.h).
#include <immintrin.h>

#include "float/float_chain_kernels.h"
#include "float/float_lanes_avx2.h"

namespace onebit::kernels {
namespace {

constexpr int kLanes = kFloatLanes;

// NV vectors of channels [c, c + 8 * NV) of one row, the last one masked when MaskLast: start
// value, steps (each applied to all NV vectors before the next, so a step's loads are in flight
// together and its dispatch is paid once per NV vectors), store. v: channel offset of the
// per-channel vectors; r: offset of the residual maps.
template <int NV, bool MaskLast>
inline void chain_block(const std::int32_t* acc, const float* scale, const float* bias,
                        const ChainStep* steps, std::int64_t n_steps, float* o, std::int64_t v,
                        std::int64_t r, __m256i mask) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 x[NV];
#define ONEBIT_EACH(body)                                \
  _Pragma("GCC unroll 8") for (int k = 0; k < NV; ++k) { \
    const bool masked = MaskLast && k == NV - 1;         \
    (void)masked;                                        \
    body                                                 \
  }
#define ONEBIT_LOAD(p) (masked ? load_floats<true>((p), mask) : load_floats<false>((p), mask))
  if (acc != nullptr) {
    ONEBIT_EACH({
      const __m256i a = masked ? _mm256_maskload_epi32(acc + 8 * k, mask)
                               : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + 8 * k));
      x[k] = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a), ONEBIT_LOAD(scale + v + 8 * k)),
                           ONEBIT_LOAD(bias + v + 8 * k));
    })
  } else {
    ONEBIT_EACH({ x[k] = ONEBIT_LOAD(o + 8 * k); })
  }
  for (std::int64_t i = 0; i < n_steps; ++i) {
    const ChainStep& s = steps[i];
    switch (s.op) {
      case ChainOp::affine:
        ONEBIT_EACH({
          x[k] = _mm256_add_ps(_mm256_mul_ps(x[k], ONEBIT_LOAD(s.a + v + 8 * k)),
                               ONEBIT_LOAD(s.b + v + 8 * k));
        })
        break;
      case ChainOp::relu:
        ONEBIT_EACH({ x[k] = _mm256_blendv_ps(x[k], zero, _mm256_cmp_ps(x[k], zero, _CMP_LT_OQ)); })
        break;
      case ChainOp::prelu:
        ONEBIT_EACH({
          x[k] = _mm256_blendv_ps(_mm256_mul_ps(x[k], ONEBIT_LOAD(s.a + v + 8 * k)), x[k],
                                  _mm256_cmp_ps(x[k], zero, _CMP_GE_OQ));
        })
        break;
      case ChainOp::hardtanh: {
        const __m256 lo = _mm256_set1_ps(s.lo), hi = _mm256_set1_ps(s.hi);
        ONEBIT_EACH({
          x[k] = _mm256_blendv_ps(x[k], lo, _mm256_cmp_ps(x[k], lo, _CMP_LT_OQ));
          x[k] = _mm256_blendv_ps(x[k], hi, _mm256_cmp_ps(x[k], hi, _CMP_GT_OQ));
        })
        break;
      }
      case ChainOp::add:
        ONEBIT_EACH({ x[k] = _mm256_add_ps(x[k], ONEBIT_LOAD(s.residual + r + 8 * k)); })
        break;
    }
  }
  ONEBIT_EACH({
    if (masked) {
      store_floats<true>(o + 8 * k, mask, x[k]);
    } else {
      store_floats<false>(o + 8 * k, mask, x[k]);
    }
  })
#undef ONEBIT_LOAD
#undef ONEBIT_EACH
}

// chain_block for a run-time count 1 <= nv <= kBlock of vectors.
template <int NV, bool MaskLast>
inline void chain_blocks_up_to(int nv, const std::int32_t* acc, const float* scale,
                               const float* bias, const ChainStep* steps, std::int64_t n_steps,
                               float* o, std::int64_t v, std::int64_t r, __m256i mask) {
  if constexpr (NV > 1) {
    if (nv < NV)
      return chain_blocks_up_to<NV - 1, MaskLast>(nv, acc, scale, bias, steps, n_steps, o, v, r,
                                                  mask);
  }
  chain_block<NV, MaskLast>(acc, scale, bias, steps, n_steps, o, v, r, mask);
}

constexpr int kBlock = 8;  // vectors per block: 64 channels, 8 of the 16 registers

}  // namespace

void float_chain_rows_avx2(const std::int32_t* acc, std::int64_t acc_stride, const float* scale,
                           const float* bias, const ChainStep* steps, std::int64_t n_steps,
                           float* out, std::int64_t out_stride, std::int64_t rows,
                           std::int64_t c0, std::int64_t c1, std::int64_t p0,
                           std::int64_t channels) {
  const std::int64_t vectors = (c1 - c0 + kLanes - 1) / kLanes;
  const std::int64_t left = (c1 - c0) - (vectors - 1) * kLanes;  // channels of the last vector
  const __m256i tail = lanes_below(left);
  const bool mask_last = left < kLanes;
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int32_t* a = acc == nullptr ? nullptr : acc + row * acc_stride;
    float* o = out + row * out_stride;
    const std::int64_t r = (p0 + row) * channels;
    for (std::int64_t first = 0; first < vectors; first += kBlock) {
      const int nv = static_cast<int>(vectors - first < kBlock ? vectors - first : kBlock);
      const std::int64_t c = c0 + first * kLanes;
      const std::int32_t* ac = a == nullptr ? nullptr : a + c;
      if (mask_last && first + nv == vectors) {
        chain_blocks_up_to<kBlock, true>(nv, ac, scale, bias, steps, n_steps, o + c, c, r + c,
                                         tail);
      } else {
        chain_blocks_up_to<kBlock, false>(nv, ac, scale, bias, steps, n_steps, o + c, c, r + c,
                                          tail);
      }
    }
  }
}

}  // namespace onebit::kernels
