// bitpack, AVX2 path (compiled with -mavx2): compares turned into bits with movemask.
//
// float32: vcmpps "not x >= 0, unordered true" makes a lane all ones for negative values and NaN
// (-0.0 stays +1), and vmovmskps takes the 8 lane signs as 8 bits, so 8 vectors make a word.
// int8: vpmovmskb takes the sign bit of each of 32 bytes, so 2 vectors make a word. Channel c is bit
// c of the movemask, i.e. bit c % 64 of word c / 64 (common/bit_format.h). The last, partial word of
// a row is packed from a zero-padded copy (0 is bit 0, as bitpack.h's padding).
// Unpacking: 8 bits at a time are spread over 8 lanes, tested against 1, 2, ..., 128 and blended
// into +1.0f / -1.0f.
//
// Like the bgemm path files: only bitpack_kernels.h and intrinsics, helpers in an anonymous
// namespace, no inline functions from other headers (ODR; see bgemm/bgemm_kernels.h).
#include <immintrin.h>

#include "bitpack/bitpack_kernels.h"
#include "bitpack/packed_rows.h"

namespace onebit::kernels {
namespace {

constexpr int kBits = 64;  // bits per word

inline word_t word_of(const float* x) {
  const __m256 zero = _mm256_setzero_ps();
  word_t word = 0;
  for (int q = 0; q < kBits / 8; ++q) {
    const __m256 negative = _mm256_cmp_ps(_mm256_loadu_ps(x + 8 * q), zero, _CMP_NGE_UQ);
    word |= static_cast<word_t>(static_cast<unsigned>(_mm256_movemask_ps(negative))) << (8 * q);
  }
  return word;
}

inline word_t word_of(const std::int8_t* x) {
  const auto lo = static_cast<unsigned>(
      _mm256_movemask_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))));
  const auto hi = static_cast<unsigned>(
      _mm256_movemask_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32))));
  return static_cast<word_t>(lo) | static_cast<word_t>(hi) << 32;
}

inline word_t affine_word_of(const float* x, const float* scale, const float* bias) {
  const __m256 zero = _mm256_setzero_ps();
  word_t word = 0;
  for (int q = 0; q < kBits / 8; ++q) {
    const __m256 product = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * q), _mm256_loadu_ps(scale + 8 * q));
    const __m256 v = _mm256_add_ps(product, _mm256_loadu_ps(bias + 8 * q));
    const __m256 negative = _mm256_cmp_ps(v, zero, _CMP_NGE_UQ);
    word |= static_cast<word_t>(static_cast<unsigned>(_mm256_movemask_ps(negative))) << (8 * q);
  }
  return word;
}

// The last, partial word of a row: its `rest` (1 to 63) values, the last partial group of 8 read with
// a masked load; lanes past `rest` read 0 and, with the zero-padded scale and bias, pack to bit 0.
inline word_t affine_partial_word_of(const float* x, const float* scale_tail, const float* bias_tail,
                                     std::int64_t rest) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  word_t word = 0;
  for (std::int64_t q = 0; 8 * q < rest; ++q) {
    const std::int64_t n = rest - 8 * q;
    const __m256 values =
        n >= 8 ? _mm256_loadu_ps(x + 8 * q)
               : _mm256_maskload_ps(x + 8 * q, _mm256_cmpgt_epi32(
                                                    _mm256_set1_epi32(static_cast<int>(n)), lanes));
    const __m256 product = _mm256_mul_ps(values, _mm256_loadu_ps(scale_tail + 8 * q));
    const __m256 v = _mm256_add_ps(product, _mm256_loadu_ps(bias_tail + 8 * q));
    const __m256 negative = _mm256_cmp_ps(v, zero, _CMP_NGE_UQ);
    word |= static_cast<word_t>(static_cast<unsigned>(_mm256_movemask_ps(negative))) << (8 * q);
  }
  return word;
}

}  // namespace

void bitpack_affine_rows_avx2(const float* x, const float* scale, const float* bias,
                              std::int64_t row_begin, std::int64_t row_end, std::int64_t channels,
                              word_t* out) {
  // The last, partial word against zero-padded scale and bias: 0 * 0 + 0 packs to bit 0, as
  // bitpack pads.
  const std::int64_t full = channels / kBits, rest = channels - full * kBits;
  const std::int64_t words = full + (rest > 0 ? 1 : 0);
  float scale_tail[kBits] = {}, bias_tail[kBits] = {};
  for (std::int64_t c = 0; c < rest; ++c) {
    scale_tail[c] = scale[full * kBits + c];
    bias_tail[c] = bias[full * kBits + c];
  }
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const float* row = x + r * channels;
    word_t* dst = out + r * words;
    for (std::int64_t w = 0; w < full; ++w)
      dst[w] = affine_word_of(row + w * kBits, scale + w * kBits, bias + w * kBits);
    if (rest > 0) dst[full] = affine_partial_word_of(row + full * kBits, scale_tail, bias_tail, rest);
  }
}

void bitpack_rows_avx2(const float* x, std::int64_t row_begin, std::int64_t row_end,
                       std::int64_t channels, word_t* out) {
  pack_rows_with(x, row_begin, row_end, channels, out, [](const auto* v) { return word_of(v); });
}

void bitpack_rows_avx2(const std::int8_t* x, std::int64_t row_begin, std::int64_t row_end,
                       std::int64_t channels, word_t* out) {
  pack_rows_with(x, row_begin, row_end, channels, out, [](const auto* v) { return word_of(v); });
}

void unpack_rows_avx2(const word_t* words_in, std::int64_t row_begin, std::int64_t row_end,
                      std::int64_t channels, float* out) {
  const std::int64_t words = (channels + kBits - 1) / kBits;
  const __m256i weights = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256 plus = _mm256_set1_ps(1.0f);
  const __m256 minus = _mm256_set1_ps(-1.0f);
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const word_t* row = words_in + r * words;
    float* dst = out + r * channels;
    for (std::int64_t c = 0; c < channels; c += 8) {
      const int byte = static_cast<int>((row[c / kBits] >> (c % kBits)) & 0xff);
      const __m256i set = _mm256_cmpeq_epi32(
          _mm256_and_si256(_mm256_set1_epi32(byte), weights), weights);
      const __m256 v = _mm256_blendv_ps(plus, minus, _mm256_castsi256_ps(set));
      const std::int64_t n = channels - c;
      if (n >= 8) {
        _mm256_storeu_ps(dst + c, v);
      } else {
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_maskstore_ps(dst + c, mask, v);
      }
    }
  }
}

}  // namespace onebit::kernels
