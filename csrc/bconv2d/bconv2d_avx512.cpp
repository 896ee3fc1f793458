// bconv2d's AVX-512 VPOPCNTDQ kernel (compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512vpopcntdq): a binary GEMM vectorized along the OUTPUT CHANNELS instead of along K.
//
// Why a second GEMM kernel: a convolution's K is short (a 3x3 kernel over 64 channels is 9 words,
// a 1x1 over 256 is 4), and bgemm's K-vectorized kernel then spends its time on masked half-empty
// vectors and on horizontal sums. Here a 512-bit vector holds the same K word of 8 output channels
// (the weights of one block of kNv * 8 channels are packed into a (words, 32) panel, GEMM style);
// an input word is broadcast to all 8 lanes, so every lane is a different output, K needs no tail
// handling and the accumulators need no horizontal reduction.
//
// Micro-kernel: kMr rows (output pixels) x kNv vectors (8 channels each) of 64-bit accumulators
// (6 x 4 = 24 zmm; + 4 weight vectors + 1 broadcast = 29 of 32 registers). Per K word: kNv loads,
// kMr broadcasts, kMr * kNv xor + popcount + add. Channel blocks of kNv * 8 are the outer loop: the
// calling thread packs the block's panel (256 B per K word, contiguous, so no cache-set conflicts)
// into its own buffer, where it stays in L1 / L2 while the rows stream past. Packing per thread
// costs words * 32 copies per block and avoids sharing a freshly written transposed copy between
// cores (measured: a per-call shared transpose made 2 threads barely faster than 1).
// The result k - 2 * acc is narrowed to int32 and stored with a mask at the last partial vector.
//
// Like the bgemm path files: only common/bit_format.h and intrinsics, helpers in an anonymous
// namespace, no std:: templates (ODR; see bgemm_kernels.h).
#include <immintrin.h>

#include <cstdint>

#include "common/bit_format.h"

namespace onebit::kernels {
namespace {

constexpr int kMr = 6;
constexpr int kNv = 4;
constexpr int kLanes = 8;

template <int MR, int NV>
void tile(const word_t* a, std::int64_t words, const word_t* bt, std::int64_t ldb, std::int64_t k,
          std::int32_t* out, std::int64_t ldo, std::int64_t c_end) {
  __m512i acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_si512();
  for (std::int64_t w = 0; w < words; ++w) {
    __m512i bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_si512(bt + w * ldb + j * kLanes);
    for (int i = 0; i < MR; ++i) {
      const __m512i av = _mm512_set1_epi64(static_cast<long long>(a[i * words + w]));
      for (int j = 0; j < NV; ++j)
        acc[i][j] = _mm512_add_epi64(acc[i][j], _mm512_popcnt_epi64(_mm512_xor_si512(av, bv[j])));
    }
  }
  const __m512i kv = _mm512_set1_epi64(k);
  for (int j = 0; j < NV; ++j) {
    const std::int64_t left = c_end - j * kLanes;  // channels of this vector still in range
    const __mmask8 mask =
        left >= kLanes ? static_cast<__mmask8>(0xFF) : static_cast<__mmask8>((1u << left) - 1u);
    for (int i = 0; i < MR; ++i) {
      const __m512i r = _mm512_sub_epi64(kv, _mm512_slli_epi64(acc[i][j], 1));
      _mm512_mask_cvtepi64_storeu_epi32(out + i * ldo + j * kLanes, mask, r);
    }
  }
}

template <int MR>
void tile_row(const word_t* a, std::int64_t words, const word_t* bt, std::int64_t ldb,
              std::int64_t k, std::int32_t* out, std::int64_t ldo, std::int64_t c_end) {
  const std::int64_t nv = (c_end + kLanes - 1) / kLanes;
  switch (nv >= kNv ? kNv : nv) {
    case 4: tile<MR, 4>(a, words, bt, ldb, k, out, ldo, c_end); break;
    case 3: tile<MR, 3>(a, words, bt, ldb, k, out, ldo, c_end); break;
    case 2: tile<MR, 2>(a, words, bt, ldb, k, out, ldo, c_end); break;
    default: tile<MR, 1>(a, words, bt, ldb, k, out, ldo, c_end); break;
  }
}

}  // namespace

// out[i * ldo + c] = k - 2 * sum_w popcount(a[i * words + w] ^ b[c * words + w]) for rows
// i in [0, m) and channels c in [c0, c1) (c0 a multiple of 8); panel: words * 32 scratch words.
void bconv_gemm_avx512_vpopcntdq(const word_t* a, std::int64_t m, std::int64_t words,
                                 const word_t* b, std::int64_t k, std::int32_t* out,
                                 std::int64_t ldo, std::int64_t c0, std::int64_t c1,
                                 word_t* panel) {
  constexpr std::int64_t kBlock = kNv * kLanes;
  constexpr std::int64_t ldb = kBlock;
  for (std::int64_t cb = c0; cb < c1; cb += kBlock) {
    const std::int64_t c_end = (c1 - cb < kBlock ? c1 - cb : kBlock);
    const std::int64_t c_pad = (c_end + kLanes - 1) / kLanes * kLanes;
    for (std::int64_t c = 0; c < c_pad; ++c) {
      const word_t* row = b + (cb + c) * words;
      if (c < c_end) {
        for (std::int64_t w = 0; w < words; ++w) panel[w * ldb + c] = row[w];
      } else {
        for (std::int64_t w = 0; w < words; ++w) panel[w * ldb + c] = 0;
      }
    }
    const word_t* bt = panel - cb;  // so that bt + cb is the panel
    for (std::int64_t i = 0; i < m; i += kMr) {
      const word_t* ai = a + i * words;
      std::int32_t* oi = out + i * ldo + cb;
      switch (m - i >= kMr ? kMr : m - i) {
        case 6: tile_row<6>(ai, words, bt + cb, ldb, k, oi, ldo, c_end); break;
        case 5: tile_row<5>(ai, words, bt + cb, ldb, k, oi, ldo, c_end); break;
        case 4: tile_row<4>(ai, words, bt + cb, ldb, k, oi, ldo, c_end); break;
        case 3: tile_row<3>(ai, words, bt + cb, ldb, k, oi, ldo, c_end); break;
        case 2: tile_row<2>(ai, words, bt + cb, ldb, k, oi, ldo, c_end); break;
        default: tile_row<1>(ai, words, bt + cb, ldb, k, oi, ldo, c_end); break;
      }
    }
  }
}

}  // namespace onebit::kernels
