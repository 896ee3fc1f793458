// The bit output transform (output_transform.h) with AVX2 (compiled with -mavx2), 8 channels per
// vector (the float transform is float_chain_avx2.cpp's kernel with no steps).
//
// vpcmpgtd (below > acc, i.e. acc < below) and vmovmskps give 8 bits of a word; the word is XORed
// with the packed invert flags. At the last, partial word of a row only whole vectors of channels
// < c1 are loaded (masked loads), and the bits past c1 are cleared, so padding bits stay 0.
//
// Like the bgemm path files: only kernel headers and intrinsics, helpers in an anonymous namespace
// (ODR; see bgemm/bgemm_kernels.h).
#include <immintrin.h>

#include <cstdint>

#include "bconv2d/output_transform_kernels.h"
#include "float/float_lanes_avx2.h"

namespace onebit::kernels {
namespace {

constexpr int kLanes = kFloatLanes;
constexpr int kBits = 64;

}  // namespace

void output_bits_rows_avx2(const std::int32_t* acc, std::int64_t acc_stride, std::int64_t rows,
                           std::int64_t c0, std::int64_t c1, const std::int32_t* below,
                           const word_t* invert_words, word_t* out, std::int64_t out_stride) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int32_t* a = acc + r * acc_stride;
    word_t* o = out + r * out_stride + c0 / kBits;
    for (std::int64_t base = c0; base < c1; base += kBits) {
      const std::int64_t count = c1 - base < kBits ? c1 - base : kBits;
      word_t bits = 0;
      if (count == kBits) {
        for (int q = 0; q < kBits / kLanes; ++q) {
          const std::int64_t c = base + q * kLanes;
          const __m256i negative = _mm256_cmpgt_epi32(
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(below + c)),
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + c)));
          bits |= static_cast<word_t>(static_cast<unsigned>(
                      _mm256_movemask_ps(_mm256_castsi256_ps(negative))))
                  << (q * kLanes);
        }
      } else {
        for (std::int64_t q = 0; q * kLanes < count; ++q) {
          const std::int64_t c = base + q * kLanes;
          const __m256i mask = lanes_below(count - q * kLanes);
          const __m256i negative = _mm256_cmpgt_epi32(_mm256_maskload_epi32(below + c, mask),
                                                      _mm256_maskload_epi32(a + c, mask));
          bits |= static_cast<word_t>(static_cast<unsigned>(
                      _mm256_movemask_ps(_mm256_castsi256_ps(negative))))
                  << (q * kLanes);
        }
      }
      const word_t valid = count == kBits ? ~word_t{0} : (word_t{1} << count) - 1;
      *o++ = (bits ^ invert_words[base / kBits]) & valid;
    }
  }
}

}  // namespace onebit::kernels
