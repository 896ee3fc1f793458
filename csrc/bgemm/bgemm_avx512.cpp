// bgemm, AVX-512 VPOPCNTDQ path (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vpopcntdq).
//
// Vectorized along K: one 512-bit vector holds 8 consecutive words (512 channels) of a row, so
// rows are read in place (no packing) and the K tail is a masked load (zeros add nothing).
// Micro-kernel: kMr = 6 rows of a x kNr = 4 rows of b; each step loads 6 + 4 vectors and does
// 24 vpxorq + vpopcntq + vpaddq into 64-bit-lane accumulators (a lane sums at most
// kKcWords / 8 * 64 bits, far from overflow). Once per K block the 8 accumulators of two rows are
// reduced together into one vector of 8 sums (reduce8), so the epilogue stays vectorized: that
// matters at K = 4096, where a tile runs only 8 steps. Blocking (bgemm_blocking.h): a K block of
// kKcWords words keeps the kMr + kNr rows of a tile in L1, an N block of b rows (about kL2Bytes)
// stays in L2 while every row tile of a walks over it.
#include <immintrin.h>

#include "bgemm/bgemm_blocking.h"

namespace onebit::kernels {
namespace {

constexpr int kMr = 6;
constexpr int kNr = 4;
constexpr int kVecWords = 8;
constexpr std::int64_t kKcWords = 256;
constexpr std::int64_t kL2Bytes = 384 * 1024;

// Horizontal sums of 8 vectors of 8 x 64-bit lanes: lane j of the result is the sum of the lanes
// of vector v[order[j]] with order = {0, 4, 1, 5, 2, 6, 3, 7} (callers pass their vectors in that
// order to get them back in natural order). 21 shuffles and adds for 8 sums, no scalar code.
inline __m512i reduce8(__m512i v0, __m512i v1, __m512i v2, __m512i v3, __m512i v4, __m512i v5,
                       __m512i v6, __m512i v7) {
  // Add the 256-bit halves of each pair: t01 = [v0.q0+q2 | v0.q1+q3 | v1.q0+q2 | v1.q1+q3].
  const auto halves = [](__m512i a, __m512i b) {
    return _mm512_add_epi64(_mm512_shuffle_i64x2(a, b, 0x44), _mm512_shuffle_i64x2(a, b, 0xEE));
  };
  // Add the remaining 128-bit quarters: u = [v0 | v1 | v2 | v3], 2 partial sums per quarter.
  const auto quarters = [](__m512i a, __m512i b) {
    return _mm512_add_epi64(_mm512_shuffle_i64x2(a, b, 0x88), _mm512_shuffle_i64x2(a, b, 0xDD));
  };
  const __m512i u = quarters(halves(v0, v1), halves(v2, v3));
  const __m512i w = quarters(halves(v4, v5), halves(v6, v7));
  // Add the two partial sums of each quarter: [sum v0, sum v4, sum v1, sum v5, ...].
  return _mm512_add_epi64(_mm512_unpacklo_epi64(u, w), _mm512_unpackhi_epi64(u, w));
}

// One step of the micro-kernel: 8 words (or the first `mask` words) of each of the MR + NR rows at
// offset w; the first step of a tile initialises the accumulators instead of adding to them.
template <int MR, int NR, bool Masked, bool Init>
inline void step(__m512i (&acc)[MR][NR], const word_t* const (&ar)[MR],
                 const word_t* const (&br)[NR], std::int64_t w, __mmask8 mask) {
  __m512i av[MR];
  for (int i = 0; i < MR; ++i)
    av[i] = Masked ? _mm512_maskz_loadu_epi64(mask, ar[i] + w) : _mm512_loadu_si512(ar[i] + w);
  for (int j = 0; j < NR; ++j) {
    __m512i bv = Masked ? _mm512_maskz_loadu_epi64(mask, br[j] + w) : _mm512_loadu_si512(br[j] + w);
    __asm__("" : "+v"(bv));  // one load into a register, not MR loads folded into the xors
    for (int i = 0; i < MR; ++i) {
      const __m512i count = _mm512_popcnt_epi64(_mm512_xor_si512(av[i], bv));
      acc[i][j] = Init ? count : _mm512_add_epi64(acc[i][j], count);
    }
  }
}

template <int MR, int NR>
void tile(const BgemmProblem& p, std::int64_t i0, std::int64_t j0, std::int64_t w0,
          std::int64_t w1, bool first, bool last) {
  const word_t* ar[MR];
  const word_t* br[NR];
  for (int i = 0; i < MR; ++i) ar[i] = p.a + (i0 + i) * p.words + w0;
  for (int j = 0; j < NR; ++j) br[j] = p.b + (j0 + j) * p.words + w0;
  const std::int64_t len = w1 - w0;  // >= 1
  const std::int64_t full = len / kVecWords * kVecWords;
  const __mmask8 tail = static_cast<__mmask8>((1u << (len - full)) - 1u);
  __m512i acc[MR][NR];
  if (full == 0) {
    step<MR, NR, true, true>(acc, ar, br, 0, tail);
  } else {
    step<MR, NR, false, true>(acc, ar, br, 0, 0);
    for (std::int64_t w = kVecWords; w < full; w += kVecWords)
      step<MR, NR, false, false>(acc, ar, br, w, 0);
    if (full < len) step<MR, NR, true, false>(acc, ar, br, full, tail);
  }
  // Two rows of the tile are one vector of 8 sums: lanes 0-3 are out[i, j0 .. j0 + 4), lanes 4-7
  // out[i + 1, j0 .. j0 + 4); each half is then stored with a mask for edge tiles.
  const __m512i z = _mm512_setzero_si512();
  const __mmask8 store_mask = static_cast<__mmask8>((1u << NR) - 1u);
  const __m128i k = _mm_set1_epi32(static_cast<int>(p.k));
  const auto finish = [&](__m128i sums, std::int32_t* o) {
    if (!first) sums = _mm_add_epi32(sums, _mm_maskz_loadu_epi32(store_mask, o));
    if (last) sums = _mm_sub_epi32(k, _mm_add_epi32(sums, sums));
    _mm_mask_storeu_epi32(o, store_mask, sums);
  };
  for (int i = 0; i < MR; i += 2) {
    const auto at = [&](int r, int j) { return r < MR && j < NR ? acc[r][j] : z; };
    const __m256i sums = _mm512_cvtepi64_epi32(reduce8(at(i, 0), at(i, 2), at(i + 1, 0),
                                                       at(i + 1, 2), at(i, 1), at(i, 3),
                                                       at(i + 1, 1), at(i + 1, 3)));
    std::int32_t* o = p.out + (i0 + i) * p.n + j0;
    finish(_mm256_castsi256_si128(sums), o);
    if (i + 1 < MR) finish(_mm256_extracti128_si256(sums, 1), o + p.n);
  }
}

}  // namespace

void bgemm_avx512_vpopcntdq(const BgemmProblem& p, std::int64_t m0, std::int64_t m1,
                            std::int64_t n0, std::int64_t n1) {
  blocked_bgemm<kMr, kNr, kKcWords, kL2Bytes>(p, m0, m1, n0, n1);
}

std::int64_t peak_avx512_vpopcntdq(std::int64_t iters, std::uint64_t* sink) {
  // 12 independent chains in named variables (an array would live on the stack): each iteration
  // does x ^= y; acc += popcount(x) per chain; the empty asm keeps the compiler from folding it.
  constexpr int kChains = 12;
  const __m512i y = _mm512_set1_epi64(static_cast<long long>(0xd1b54a32d192ed03ULL));
#define ONEBIT_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define ONEBIT_INIT(c)                                                                 \
  __m512i x##c = _mm512_set1_epi64(static_cast<long long>(0x9e3779b97f4a7c15ULL * (c + 1))); \
  __m512i acc##c = _mm512_setzero_si512();
#define ONEBIT_STEP(c)             \
  x##c = _mm512_xor_si512(x##c, y); \
  acc##c = _mm512_add_epi64(acc##c, _mm512_popcnt_epi64(x##c));
#define ONEBIT_SUM(c) total = _mm512_add_epi64(total, acc##c);
  ONEBIT_CHAINS(ONEBIT_INIT)
  for (std::int64_t it = 0; it < iters; ++it) {
    ONEBIT_CHAINS(ONEBIT_STEP)
    __asm__ volatile("" : "+v"(x0), "+v"(x1), "+v"(x2), "+v"(x3), "+v"(x4), "+v"(x5), "+v"(x6),
                     "+v"(x7), "+v"(x8), "+v"(x9), "+v"(x10), "+v"(x11));
  }
  __m512i total = _mm512_setzero_si512();
  ONEBIT_CHAINS(ONEBIT_SUM)
#undef ONEBIT_SUM
#undef ONEBIT_STEP
#undef ONEBIT_INIT
#undef ONEBIT_CHAINS
  *sink = static_cast<std::uint64_t>(_mm512_reduce_add_epi64(total));
  return iters * kChains * kVecWords * kWordBits;
}

}  // namespace onebit::kernels
