// Bit packing: float32 or int8 rows -> packed words, and back to +-1.0f.
//
// Layout: the input is (rows, channels) row-major (any leading shape flattened to rows); the
// output is (rows, words_for(channels)) row-major words. Bit convention (common/bit_format.h):
// x >= 0 -> bit 0 (+1), x < 0 or NaN -> bit 1 (-1); channel c is bit c % kWordBits of word
// c / kWordBits, and the unused high bits of a row's last word are 0.
//
// Four paths, chosen by the bgemm path (common/cpu_features.h): a portable loop; on "avx2",
// bitpack_avx2.cpp (compare + movemask, 8 float32 or 32 int8 bits per vector); on x86 CPUs with
// AVX-512 F/BW ("avx512_vpopcntdq"), a vector path that turns a compare straight into a mask, i.e.
// into bits of the word: vcmpps gives 16 sign bits per vector for float32, vpmovb2m 64 per vector
// for int8 (these few functions carry their own target attribute instead of a separate .cpp); on
// aarch64 ("neon"), bitpack_neon.cpp, which sums weighted compare lanes into bytes (packing only;
// unpacking stays portable there).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(ONEBIT_X86)
#include <immintrin.h>
#endif

#include "bitpack/bitpack_kernels.h"
#include "common/bit_format.h"
#include "common/cpu_features.h"

namespace onebit {

template <typename T>
void bitpack_rows_portable(const T* x, std::int64_t row_begin, std::int64_t row_end,
                           std::int64_t channels, word_t* out) {
  const std::int64_t words = words_for(channels);
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const T* row = x + r * channels;
    word_t* dst = out + r * words;
    for (std::int64_t w = 0; w < words; ++w) {
      const std::int64_t c0 = w * kWordBits;
      const std::int64_t n = channels - c0 < kWordBits ? channels - c0 : kWordBits;
      word_t word = 0;
      for (std::int64_t c = 0; c < n; ++c) word |= sign_bit(row[c0 + c]) << c;
      dst[w] = word;
    }
  }
}

inline void unpack_rows_portable(const word_t* words_in, std::int64_t row_begin,
                                 std::int64_t row_end, std::int64_t channels, float* out) {
  const std::int64_t words = words_for(channels);
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const word_t* row = words_in + r * words;
    float* dst = out + r * channels;
    for (std::int64_t c = 0; c < channels; ++c)
      dst[c] = (row[c / kWordBits] >> (c % kWordBits)) & 1 ? -1.0f : 1.0f;
  }
}

#if defined(ONEBIT_X86)
#define ONEBIT_AVX512_BITPACK __attribute__((target("avx512f,avx512bw")))

ONEBIT_AVX512_BITPACK inline void bitpack_rows_avx512(const float* x, std::int64_t row_begin,
                                                      std::int64_t row_end, std::int64_t channels,
                                                      word_t* out) {
  constexpr int kLanes = 16;
  const std::int64_t words = words_for(channels);
  const __m512 zero = _mm512_setzero_ps();
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const float* row = x + r * channels;
    word_t* dst = out + r * words;
    for (std::int64_t w = 0; w < words; ++w) {
      word_t word = 0;
      for (int q = 0; q < kWordBits / kLanes; ++q) {
        const std::int64_t c = w * kWordBits + q * kLanes;
        const std::int64_t n = channels - c;
        if (n <= 0) break;
        // Not (x >= 0), unordered -> true: negative values and NaN give bit 1.
        const __mmask16 m =
            n >= kLanes
                ? _mm512_cmp_ps_mask(_mm512_loadu_ps(row + c), zero, _CMP_NGE_UQ)
                : _mm512_mask_cmp_ps_mask(static_cast<__mmask16>((1u << n) - 1u),
                                          _mm512_maskz_loadu_ps(
                                              static_cast<__mmask16>((1u << n) - 1u), row + c),
                                          zero, _CMP_NGE_UQ);
        word |= static_cast<word_t>(m) << (q * kLanes);
      }
      dst[w] = word;
    }
  }
}

ONEBIT_AVX512_BITPACK inline void bitpack_rows_avx512(const std::int8_t* x,
                                                      std::int64_t row_begin,
                                                      std::int64_t row_end, std::int64_t channels,
                                                      word_t* out) {
  const std::int64_t words = words_for(channels);
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const std::int8_t* row = x + r * channels;
    word_t* dst = out + r * words;
    for (std::int64_t w = 0; w < words; ++w) {
      const std::int64_t c = w * kWordBits;
      const std::int64_t n = channels - c;
      const __m512i v = n >= kWordBits
                            ? _mm512_loadu_si512(row + c)
                            : _mm512_maskz_loadu_epi8((~0ULL) >> (kWordBits - n), row + c);
      dst[w] = _mm512_movepi8_mask(v);  // the sign bit of each byte
    }
  }
}

ONEBIT_AVX512_BITPACK inline void unpack_rows_avx512(const word_t* words_in,
                                                     std::int64_t row_begin, std::int64_t row_end,
                                                     std::int64_t channels, float* out) {
  constexpr int kLanes = 16;
  const std::int64_t words = words_for(channels);
  const __m512 plus = _mm512_set1_ps(1.0f);
  const __m512 minus = _mm512_set1_ps(-1.0f);
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const word_t* row = words_in + r * words;
    float* dst = out + r * channels;
    for (std::int64_t c = 0; c < channels; c += kLanes) {
      const __mmask16 bits =
          static_cast<__mmask16>(row[c / kWordBits] >> (c % kWordBits));
      const __m512 v = _mm512_mask_blend_ps(bits, plus, minus);
      const std::int64_t n = channels - c;
      if (n >= kLanes) {
        _mm512_storeu_ps(dst + c, v);
      } else {
        _mm512_mask_storeu_ps(dst + c, static_cast<__mmask16>((1u << n) - 1u), v);
      }
    }
  }
}
#undef ONEBIT_AVX512_BITPACK
#endif

// Packs rows [row_begin, row_end) of x (rows, channels) into out (rows, words_for(channels)) with
// the packing of bgemm path `path` (one this CPU runs).
template <typename T>
void bitpack_rows(const T* x, std::int64_t row_begin, std::int64_t row_end, std::int64_t channels,
                  word_t* out, SimdPath path) {
#if defined(ONEBIT_X86)
  if (path == SimdPath::avx512_vpopcntdq)
    return bitpack_rows_avx512(x, row_begin, row_end, channels, out);
  if (path == SimdPath::avx2) return kernels::bitpack_rows_avx2(x, row_begin, row_end, channels, out);
#endif
#if defined(ONEBIT_NEON)
  if (path == SimdPath::neon)
    return kernels::bitpack_rows_neon(x, row_begin, row_end, channels, out);
#endif
  (void)path;
  bitpack_rows_portable(x, row_begin, row_end, channels, out);
}

// Unpacks rows [row_begin, row_end) of words (rows, words_for(channels)) to +-1.0f.
inline void unpack_rows(const word_t* words, std::int64_t row_begin, std::int64_t row_end,
                        std::int64_t channels, float* out, SimdPath path) {
#if defined(ONEBIT_X86)
  if (path == SimdPath::avx512_vpopcntdq)
    return unpack_rows_avx512(words, row_begin, row_end, channels, out);
  if (path == SimdPath::avx2) return kernels::unpack_rows_avx2(words, row_begin, row_end, channels, out);
#endif
  (void)path;
  unpack_rows_portable(words, row_begin, row_end, channels, out);
}

}  // namespace onebit
