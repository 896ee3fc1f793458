// bgemm, AVX2 path (compiled with -mavx2 -mpopcnt), for x86 CPUs without AVX-512 VPOPCNTDQ.
//
// Vectorized along K like the AVX-512 path: a 256-bit vector holds 4 words of a row, read in place;
// the K tail is a masked load. AVX2 has no vector popcount, so bytes are counted with two 16-entry
// vpshufb lookups (low and high nibble) and summed into 64-bit lanes with vpsadbw (Mula's method).
// Micro-kernel: 2 rows of a x 3 rows of b (6 accumulators fit the 16 ymm registers with the
// lookup table, the nibble mask and the loaded rows). Cache blocking: bgemm_blocking.h.
#include <immintrin.h>

#include "bgemm/bgemm_blocking.h"

namespace onebit::kernels {
namespace {

constexpr int kMr = 2;
constexpr int kNr = 3;
constexpr int kVecWords = 4;
constexpr std::int64_t kKcWords = 256;
constexpr std::int64_t kL2Bytes = 256 * 1024;

struct Counter {
  __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2,
                                 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  __m256i low = _mm256_set1_epi8(0x0f);
  // Popcount of each 64-bit lane of x.
  __m256i operator()(__m256i x) const {
    const __m256i lo = _mm256_and_si256(x, low);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
    const __m256i bytes =
        _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
    return _mm256_sad_epu8(bytes, _mm256_setzero_si256());
  }
};

inline std::int64_t hsum(__m256i v) {
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
}

template <int MR, int NR>
void tile(const BgemmProblem& p, std::int64_t i0, std::int64_t j0, std::int64_t w0,
          std::int64_t w1, bool first, bool last) {
  const Counter count;
  __m256i acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_si256();
  const word_t* ar[MR];
  const word_t* br[NR];
  for (int i = 0; i < MR; ++i) ar[i] = p.a + (i0 + i) * p.words + w0;
  for (int j = 0; j < NR; ++j) br[j] = p.b + (j0 + j) * p.words + w0;
  const std::int64_t len = w1 - w0;
  const std::int64_t full = len / kVecWords * kVecWords;
  for (std::int64_t w = 0; w < full; w += kVecWords) {
    __m256i av[MR];
    for (int i = 0; i < MR; ++i)
      av[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ar[i] + w));
    for (int j = 0; j < NR; ++j) {
      const __m256i bv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(br[j] + w));
      for (int i = 0; i < MR; ++i)
        acc[i][j] = _mm256_add_epi64(acc[i][j], count(_mm256_xor_si256(av[i], bv)));
    }
  }
  if (full < len) {
    const std::int64_t rem = len - full;
    const __m256i mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(rem), _mm256_setr_epi64x(0, 1, 2, 3));
    __m256i av[MR];
    for (int i = 0; i < MR; ++i)
      av[i] = _mm256_maskload_epi64(reinterpret_cast<const long long*>(ar[i] + full), mask);
    for (int j = 0; j < NR; ++j) {
      const __m256i bv =
          _mm256_maskload_epi64(reinterpret_cast<const long long*>(br[j] + full), mask);
      for (int i = 0; i < MR; ++i)
        acc[i][j] = _mm256_add_epi64(acc[i][j], count(_mm256_xor_si256(av[i], bv)));
    }
  }
  for (int i = 0; i < MR; ++i) {
    std::int32_t* o = p.out + (i0 + i) * p.n + j0;
    for (int j = 0; j < NR; ++j) store_sum(p, o + j, hsum(acc[i][j]), first, last);
  }
}

}  // namespace

void bgemm_avx2(const BgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                std::int64_t n1) {
  blocked_bgemm<kMr, kNr, kKcWords, kL2Bytes>(p, m0, m1, n0, n1);
}

std::int64_t peak_avx2(std::int64_t iters, std::uint64_t* sink) {
  // 6 independent chains in named variables (an array would live on the stack).
  constexpr int kChains = 6;
  const Counter count;
  const __m256i y = _mm256_set1_epi64x(static_cast<long long>(0xd1b54a32d192ed03ULL));
#define ONEBIT_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define ONEBIT_INIT(c)                                                                    \
  __m256i x##c = _mm256_set1_epi64x(static_cast<long long>(0x9e3779b97f4a7c15ULL * (c + 1))); \
  __m256i acc##c = _mm256_setzero_si256();
#define ONEBIT_STEP(c)                \
  x##c = _mm256_xor_si256(x##c, y); \
  acc##c = _mm256_add_epi64(acc##c, count(x##c));
#define ONEBIT_SUM(c) total = _mm256_add_epi64(total, acc##c);
  ONEBIT_CHAINS(ONEBIT_INIT)
  for (std::int64_t it = 0; it < iters; ++it) {
    ONEBIT_CHAINS(ONEBIT_STEP)
    __asm__ volatile("" : "+x"(x0), "+x"(x1), "+x"(x2), "+x"(x3), "+x"(x4), "+x"(x5));
  }
  __m256i total = _mm256_setzero_si256();
  ONEBIT_CHAINS(ONEBIT_SUM)
#undef ONEBIT_SUM
#undef ONEBIT_STEP
#undef ONEBIT_INIT
#undef ONEBIT_CHAINS
  *sink = static_cast<std::uint64_t>(hsum(total));
  return iters * kChains * kVecWords * kWordBits;
}

}  // namespace onebit::kernels
