// bconv2d's AVX2 kernel for a short reduction (compiled with -mavx2): K of 1 to 15 words; bconv2d.h
// takes it up to kShortKWords (a 1x1 convolution over up to 512 input channels), and for 9 words (a
// 3x3 convolution over up to 64) while the packed weights stay in L1 (takes_short_k).
//
// Why a third kernel: with K this short, bgemm_avx2.cpp's channel tiles spend most of their time on
// the fixed costs of each 4 outputs (a horizontal reduction, a narrowing permute, a store), not on
// the XOR-popcounts; here 8 outputs share those costs, and the weights are packed once per call,
// not once per task.
//
// Layout: a is (m, words) packed rows (output pixels: the input itself or im2col rows), out is
// (m, ldo) int32 with the channels [c0, c1) written. The weights, (cout, words) packed rows, are
// packed once per convolution (pack_short_k_avx2) into blocks of 8 channels, channels past cout
// zero: block b, K word w is 16 words,
//   low nibbles of word w of the channels 8b + 0, 2, 4, 6 | of 8b + 1, 3, 5, 7 |
//   high nibbles (shifted down by 4) of 8b + 0, 2, 4, 6   | of 8b + 1, 3, 5, 7
// where the low nibbles are each byte's bits 0-3 (word & 0x0f0f...) in place. Words follow
// common/bit_format.h; the unused high bits of the last word are 0 in both operands and cancel.
//
// Count: popcount(a ^ b) per byte by a 16-entry vpshufb lookup of each nibble. Since
// (a ^ b) & m = (a & m) ^ (b & m), a row's words are split into nibbles once, broadcast, for all its
// channel blocks; a vector of 4 channels then costs 2 xor, 2 vpshufb and 2 adds per K word. The
// table holds twice the popcount, so a byte gathers at most 16 per K word (15 words fit) and
// vpsadbw leaves 2 * popcount in each 64-bit lane. The even channels' sums are the low halves of
// those lanes and the odd channels' are shifted into the high halves: 8 int32 in channel order,
// k - 2 * popcount after one subtraction, stored with one plain store (a masked one only for the
// last block of a range that is not a multiple of 8).
//
// Like the bgemm path files: only common/bit_format.h and intrinsics, helpers in an anonymous
// namespace, no std:: templates (ODR; see bgemm/bgemm_kernels.h).
#include <immintrin.h>

#include <cstdint>

#include "common/bit_format.h"

namespace onebit::kernels {
namespace {

constexpr std::int64_t kBlockChannels = 8;
constexpr std::int64_t kBlockWords = 2 * kBlockChannels;  // panel words per block and K word
constexpr std::int64_t kMaxWords = 15;  // bconv2d.h's kShortKMaxWords: byte counters, 15 * 16 <= 255
constexpr word_t kLowNibbles = 0x0f0f0f0f0f0f0f0fULL;

inline __m256i load(const word_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// 8 outputs, k - 2 * popcount, of the row whose nibbles are lo / hi against the panel block at p.
// K > 0: the number of K words at compile time, else `words`.
template <int K>
inline __m256i block(const __m256i* lo, const __m256i* hi, const word_t* p, std::int64_t words,
                     __m256i lut, __m256i kv) {
  __m256i even = _mm256_setzero_si256(), odd = _mm256_setzero_si256();
#pragma GCC unroll 4
  for (std::int64_t w = 0; w < (K > 0 ? K : words); ++w) {
    const word_t* q = p + w * kBlockWords;
    even = _mm256_add_epi8(
        even, _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_xor_si256(lo[w], load(q))),
                              _mm256_shuffle_epi8(lut, _mm256_xor_si256(hi[w], load(q + 8)))));
    odd = _mm256_add_epi8(
        odd, _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_xor_si256(lo[w], load(q + 4))),
                             _mm256_shuffle_epi8(lut, _mm256_xor_si256(hi[w], load(q + 12)))));
  }
  const __m256i zero = _mm256_setzero_si256();
  const __m256i sums = _mm256_or_si256(_mm256_sad_epu8(even, zero),
                                       _mm256_slli_epi64(_mm256_sad_epu8(odd, zero), 32));
  return _mm256_sub_epi32(kv, sums);
}

// Rows [0, m) of a, channels [c0, c1) (c0 a multiple of 8): each row's words split into nibbles
// once, then every block of the panel.
template <int K>
void rows(const word_t* a, std::int64_t m, std::int64_t words, const word_t* panel,
          std::int64_t k, std::int32_t* out, std::int64_t ldo, std::int64_t c0, std::int64_t c1) {
  constexpr std::int64_t kSplit = K > 0 ? K : kMaxWords;
  const __m256i lut = _mm256_setr_epi8(0, 2, 2, 4, 2, 4, 4, 6, 2, 4, 4, 6, 4, 6, 6, 8, 0, 2, 2, 4,
                                       2, 4, 4, 6, 2, 4, 4, 6, 4, 6, 6, 8);
  const __m256i low = _mm256_set1_epi64x(static_cast<long long>(kLowNibbles));
  const __m256i kv = _mm256_set1_epi32(static_cast<int>(k));
  const std::int64_t block_words = words * kBlockWords;
  const std::int64_t full_end = c0 + (c1 - c0) / kBlockChannels * kBlockChannels;
  const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(c1 - full_end)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const word_t* first = panel + c0 / kBlockChannels * block_words;
  for (std::int64_t i = 0; i < m; ++i) {
    __m256i lo[kSplit], hi[kSplit];
    const word_t* row = a + i * words;
#pragma GCC unroll 4
    for (std::int64_t w = 0; w < (K > 0 ? K : words); ++w) {
      const __m256i v = _mm256_set1_epi64x(static_cast<long long>(row[w]));
      lo[w] = _mm256_and_si256(v, low);
      hi[w] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    }
    std::int32_t* o = out + i * ldo;
    const word_t* p = first;
    for (std::int64_t c = c0; c < full_end; c += kBlockChannels, p += block_words)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + c), block<K>(lo, hi, p, words, lut, kv));
    if (full_end < c1)
      _mm256_maskstore_epi32(o + full_end, tail, block<K>(lo, hi, p, words, lut, kv));
  }
}

}  // namespace

std::int64_t short_k_panel_words(std::int64_t cout, std::int64_t words) {
  return (cout + kBlockChannels - 1) / kBlockChannels * words * kBlockWords;
}

void pack_short_k_avx2(const word_t* w, std::int64_t cout, std::int64_t words, word_t* panel) {
  const std::int64_t blocks = (cout + kBlockChannels - 1) / kBlockChannels;
  for (std::int64_t b = 0; b < blocks; ++b) {
    for (std::int64_t c = 0; c < kBlockChannels; ++c) {
      const std::int64_t channel = b * kBlockChannels + c;
      // even channels fill lanes 0-3 of the first vector, odd ones those of the second
      const std::int64_t lane = (c % 2) * 4 + c / 2;
      for (std::int64_t kw = 0; kw < words; ++kw) {
        const word_t v = channel < cout ? w[channel * words + kw] : 0;
        word_t* q = panel + (b * words + kw) * kBlockWords;
        q[lane] = v & kLowNibbles;
        q[kBlockChannels + lane] = (v >> 4) & kLowNibbles;
      }
    }
  }
}

void bconv_short_k_avx2(const word_t* a, std::int64_t m, std::int64_t words, const word_t* panel,
                        std::int64_t k, std::int32_t* out, std::int64_t ldo, std::int64_t c0,
                        std::int64_t c1) {
  switch (words) {
    case 1: return rows<1>(a, m, words, panel, k, out, ldo, c0, c1);
    case 2: return rows<2>(a, m, words, panel, k, out, ldo, c0, c1);
    case 3: return rows<3>(a, m, words, panel, k, out, ldo, c0, c1);
    case 4: return rows<4>(a, m, words, panel, k, out, ldo, c0, c1);
    case 9: return rows<9>(a, m, words, panel, k, out, ldo, c0, c1);
    default: return rows<0>(a, m, words, panel, k, out, ldo, c0, c1);
  }
}

}  // namespace onebit::kernels
