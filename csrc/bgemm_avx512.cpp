// bgemm, AVX-512 VPOPCNTDQ path (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vpopcntdq).
//
// Vectorized along K: one 512-bit vector holds 8 consecutive words (512 channels) of a row, so
// rows are read in place (no packing) and the K tail is a masked load (zeros add nothing).
// Micro-kernel: kMr rows of a x kNr rows of b; each step loads kMr + kNr vectors and does
// kMr * kNr vpxorq + vpopcntq + vpaddq into 64-bit-lane accumulators (a lane sums at most
// kKcWords / 8 * 64 bits, far from overflow); the accumulators are reduced horizontally once per
// K block. Blocking: a K block of kKcWords words keeps the kMr + kNr rows of a tile in L1, an N
// block of b rows (about kL2Bytes) stays in L2 while every row tile of a walks over it.
#include <immintrin.h>

#include "bgemm_kernels.h"

namespace onebit::kernels {
namespace {

constexpr int kMr = 4;
constexpr int kNr = 6;
constexpr int kVecWords = 8;
constexpr std::int64_t kKcWords = 256;
constexpr std::int64_t kL2Bytes = 384 * 1024;

inline std::int64_t min64(std::int64_t x, std::int64_t y) { return x < y ? x : y; }
inline std::int64_t max64(std::int64_t x, std::int64_t y) { return x > y ? x : y; }

// Horizontal sums of 4 vectors of 8 x 64-bit lanes, returned in the 4 low 64-bit lanes.
inline __m256i reduce4(__m512i v0, __m512i v1, __m512i v2, __m512i v3) {
  // Add the 256-bit halves: t01 = [v0.lo + v0.hi | v1.lo + v1.hi], same for t23.
  const __m512i t01 = _mm512_add_epi64(_mm512_shuffle_i64x2(v0, v1, 0x44),
                                       _mm512_shuffle_i64x2(v0, v1, 0xEE));
  const __m512i t23 = _mm512_add_epi64(_mm512_shuffle_i64x2(v2, v3, 0x44),
                                       _mm512_shuffle_i64x2(v2, v3, 0xEE));
  // Add the 128-bit quarters: u = [v0 q0+q1 | v1 q0+q1 | v2 ... | v3 ...] (2 lanes each).
  const __m512i u = _mm512_add_epi64(_mm512_shuffle_i64x2(t01, t23, 0x88),
                                     _mm512_shuffle_i64x2(t01, t23, 0xDD));
  // Add the two lanes of each 128-bit quarter, then gather the 4 results.
  const __m512i s = _mm512_add_epi64(u, _mm512_shuffle_epi32(u, _MM_PERM_BADC));
  const __m512i idx = _mm512_set_epi64(6, 6, 6, 6, 6, 4, 2, 0);
  return _mm512_castsi512_si256(_mm512_permutexvar_epi64(idx, s));
}

template <int MR, int NR>
void tile(const BgemmProblem& p, std::int64_t i0, std::int64_t j0, std::int64_t w0,
          std::int64_t w1, bool first, bool last) {
  __m512i acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_si512();
  const word_t* ar[MR];
  const word_t* br[NR];
  for (int i = 0; i < MR; ++i) ar[i] = p.a + (i0 + i) * p.words + w0;
  for (int j = 0; j < NR; ++j) br[j] = p.b + (j0 + j) * p.words + w0;
  const std::int64_t len = w1 - w0;
  const std::int64_t full = len / kVecWords * kVecWords;
  for (std::int64_t w = 0; w < full; w += kVecWords) {
    __m512i av[MR];
    for (int i = 0; i < MR; ++i) av[i] = _mm512_loadu_si512(ar[i] + w);
    for (int j = 0; j < NR; ++j) {
      const __m512i bv = _mm512_loadu_si512(br[j] + w);
      for (int i = 0; i < MR; ++i)
        acc[i][j] = _mm512_add_epi64(acc[i][j], _mm512_popcnt_epi64(_mm512_xor_si512(av[i], bv)));
    }
  }
  if (full < len) {
    const __mmask8 mask = static_cast<__mmask8>((1u << (len - full)) - 1u);
    __m512i av[MR];
    for (int i = 0; i < MR; ++i) av[i] = _mm512_maskz_loadu_epi64(mask, ar[i] + full);
    for (int j = 0; j < NR; ++j) {
      const __m512i bv = _mm512_maskz_loadu_epi64(mask, br[j] + full);
      for (int i = 0; i < MR; ++i)
        acc[i][j] = _mm512_add_epi64(acc[i][j], _mm512_popcnt_epi64(_mm512_xor_si512(av[i], bv)));
    }
  }
  for (int i = 0; i < MR; ++i) {
    std::int32_t* o = p.out + (i0 + i) * p.n + j0;
    alignas(32) std::int64_t sums[8];
    for (int j = 0; j < NR; j += 4) {
      const __m512i z = _mm512_setzero_si512();
      const __m256i r = reduce4(acc[i][j], j + 1 < NR ? acc[i][j + 1] : z,
                                j + 2 < NR ? acc[i][j + 2] : z, j + 3 < NR ? acc[i][j + 3] : z);
      _mm256_store_si256(reinterpret_cast<__m256i*>(sums + j), r);
    }
    for (int j = 0; j < NR; ++j) {
      const std::int64_t total = sums[j] + (first ? 0 : o[j]);
      o[j] = static_cast<std::int32_t>(last ? p.k - 2 * total : total);
    }
  }
}

template <int MR>
void tile_row(const BgemmProblem& p, std::int64_t i0, std::int64_t j0, std::int64_t nr,
              std::int64_t w0, std::int64_t w1, bool first, bool last) {
  switch (nr) {
    case 6: tile<MR, 6>(p, i0, j0, w0, w1, first, last); break;
    case 5: tile<MR, 5>(p, i0, j0, w0, w1, first, last); break;
    case 4: tile<MR, 4>(p, i0, j0, w0, w1, first, last); break;
    case 3: tile<MR, 3>(p, i0, j0, w0, w1, first, last); break;
    case 2: tile<MR, 2>(p, i0, j0, w0, w1, first, last); break;
    default: tile<MR, 1>(p, i0, j0, w0, w1, first, last); break;
  }
}

}  // namespace

void bgemm_avx512_vpopcntdq(const BgemmProblem& p, std::int64_t m0, std::int64_t m1,
                            std::int64_t n0, std::int64_t n1) {
  for (std::int64_t w0 = 0; w0 < p.words; w0 += kKcWords) {
    const std::int64_t w1 = min64(p.words, w0 + kKcWords);
    const bool first = w0 == 0;
    const bool last = w1 == p.words;
    const std::int64_t row_bytes = (w1 - w0) * static_cast<std::int64_t>(sizeof(word_t));
    const std::int64_t nc = max64(kNr, kL2Bytes / row_bytes / kNr * kNr);
    for (std::int64_t jb = n0; jb < n1; jb += nc) {
      const std::int64_t jb_end = min64(n1, jb + nc);
      for (std::int64_t i = m0; i < m1; i += kMr) {
        const std::int64_t mr = min64(kMr, m1 - i);
        for (std::int64_t j = jb; j < jb_end; j += kNr) {
          const std::int64_t nr = min64(kNr, jb_end - j);
          switch (mr) {
            case 4: tile_row<4>(p, i, j, nr, w0, w1, first, last); break;
            case 3: tile_row<3>(p, i, j, nr, w0, w1, first, last); break;
            case 2: tile_row<2>(p, i, j, nr, w0, w1, first, last); break;
            default: tile_row<1>(p, i, j, nr, w0, w1, first, last); break;
          }
        }
      }
    }
  }
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
