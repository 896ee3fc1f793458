// bgemm, NEON path (aarch64; Advanced SIMD is part of the base ISA, so it needs no target flags).
//
// Vectorized along K like the AVX2 path: a 128-bit vector holds 2 words of a row, read in place;
// an odd last word of a K block is loaded into the low half of a zeroed vector. NEON counts bits
// per byte (vcntq_u8), so the counts are widened in stages, the way Mula, Kurz and Lemire sum
// AVX2 byte counts ("Faster Population Counts Using AVX2 Instructions", Computer Journal 2018):
// the byte counts of up to kGroupSteps steps add up in 8-bit lanes (vaddq_u8; at most 8 per step),
// a pairwise widening add folds them into 16-bit lanes (vpadalq_u8) once per group, and each
// accumulator's 16-bit lanes are summed across once, at the end of the tile (reduce4). The 16-bit
// lanes start from zero in each tile call, which covers one K block of at most kKcWords words, so
// their bound (the static_asserts below) holds for any k; the sums over K blocks are carried in
// `out` as int32 (at most k <= INT32_MAX).
// Micro-kernel: kMr = 3 rows of a x kNr = 4 rows of b; 12 byte accumulators, 12 widened ones, 3 a
// vectors and 1 b vector fill 28 of the 32 vector registers. Cache blocking: bgemm_blocking.h.
#include <arm_neon.h>

#include "bgemm/bgemm_blocking.h"

namespace onebit::kernels {
namespace {

constexpr int kMr = 3;
constexpr int kNr = 4;
constexpr int kVecWords = 2;
constexpr int kByteBits = 8;
// Steps whose byte counts add up in 8-bit lanes before widening: each adds at most 8 to a lane.
constexpr std::int64_t kGroupSteps = 31;
static_assert(kGroupSteps * kByteBits <= 255, "8-bit lanes of a group must not overflow");
constexpr std::int64_t kKcWords = 256;
// A 16-bit lane gathers two bytes of each step of a K block (plus the odd word's step).
static_assert((kKcWords / kVecWords + 1) * 2 * kByteBits <= 65535,
              "16-bit lanes of a K block must not overflow");
constexpr std::int64_t kL2Bytes = 256 * 1024;

// Two words at p.
inline uint8x16_t load_pair(const word_t* p) {
  return vld1q_u8(reinterpret_cast<const std::uint8_t*>(p));
}

// The word at p in the low half, zeros (which count nothing) in the high half.
inline uint8x16_t load_single(const word_t* p) {
  return vcombine_u8(vld1_u8(reinterpret_cast<const std::uint8_t*>(p)), vdup_n_u8(0));
}

// The sums of the 16-bit lanes of v0 .. v3 as the four 32-bit lanes of one vector.
inline uint32x4_t reduce4(uint16x8_t v0, uint16x8_t v1, uint16x8_t v2, uint16x8_t v3) {
  const uint32x4_t s01 = vpaddq_u32(vpaddlq_u16(v0), vpaddlq_u16(v1));
  const uint32x4_t s23 = vpaddq_u32(vpaddlq_u16(v2), vpaddlq_u16(v3));
  return vpaddq_u32(s01, s23);
}

// wide[i][j] += the bit counts of ar[i] ^ br[j] over `steps` (at most kGroupSteps) vectors
// Load(row + w), Load(row + w + kVecWords), ...: summed as bytes, then widened once.
template <int MR, int NR, uint8x16_t (*Load)(const word_t*)>
inline void count_group(const word_t* const* ar, const word_t* const* br, std::int64_t w,
                        std::int64_t steps, uint16x8_t (&wide)[MR][NR]) {
  uint8x16_t bytes[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) bytes[i][j] = vdupq_n_u8(0);
  for (std::int64_t s = 0; s < steps; ++s, w += kVecWords) {
    uint8x16_t av[MR];
    for (int i = 0; i < MR; ++i) av[i] = Load(ar[i] + w);
    for (int j = 0; j < NR; ++j) {
      const uint8x16_t bv = Load(br[j] + w);
      for (int i = 0; i < MR; ++i)
        bytes[i][j] = vaddq_u8(bytes[i][j], vcntq_u8(veorq_u8(av[i], bv)));
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) wide[i][j] = vpadalq_u8(wide[i][j], bytes[i][j]);
}

// bgemm_blocking.h's register tile.
template <int MR, int NR>
void tile(const BgemmProblem& p, std::int64_t i0, std::int64_t j0, std::int64_t w0,
          std::int64_t w1, bool first, bool last) {
  const word_t* ar[MR];
  const word_t* br[NR];
  for (int i = 0; i < MR; ++i) ar[i] = p.a + (i0 + i) * p.words + w0;
  for (int j = 0; j < NR; ++j) br[j] = p.b + (j0 + j) * p.words + w0;
  uint16x8_t wide[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) wide[i][j] = vdupq_n_u16(0);
  const std::int64_t len = w1 - w0;
  const std::int64_t steps = len / kVecWords;
  for (std::int64_t s0 = 0; s0 < steps; s0 += kGroupSteps)
    count_group<MR, NR, load_pair>(ar, br, s0 * kVecWords, min64(kGroupSteps, steps - s0), wide);
  if (steps * kVecWords < len) count_group<MR, NR, load_single>(ar, br, len - 1, 1, wide);
  // One vector of 4 sums per row of the tile. The int32 arithmetic wraps (defined for NEON lanes),
  // and k - 2 * total fits int32, so the result is exact.
  const uint16x8_t zero = vdupq_n_u16(0);
  const int32x4_t k = vdupq_n_s32(static_cast<std::int32_t>(p.k));
  for (int i = 0; i < MR; ++i) {
    const auto at = [&](int j) { return j < NR ? wide[i][j] : zero; };
    int32x4_t sums = vreinterpretq_s32_u32(reduce4(at(0), at(1), at(2), at(3)));
    std::int32_t* o = p.out + (i0 + i) * p.n + j0;
    if (NR == kNr) {
      if (!first) sums = vaddq_s32(sums, vld1q_s32(o));
      if (last) sums = vsubq_s32(k, vaddq_s32(sums, sums));
      vst1q_s32(o, sums);
    } else {
      std::int32_t lanes[kNr];
      vst1q_s32(lanes, sums);
      for (int j = 0; j < NR; ++j) store_sum(p, o + j, lanes[j], first, last);
    }
  }
}

}  // namespace

void bgemm_neon(const BgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                std::int64_t n1) {
  blocked_bgemm<kMr, kNr, kKcWords, kL2Bytes>(p, m0, m1, n0, n1);
}

std::int64_t peak_neon(std::int64_t iters, std::uint64_t* sink) {
  // 8 independent chains in named variables (an array would live on the stack): each step does
  // x ^= y; bytes += cnt(x) per chain, and each group of kGroupSteps steps is widened into 64-bit
  // lanes, as the kernel widens its groups; the empty asm keeps the compiler from folding it.
  constexpr int kChains = 8;
  const uint8x16_t y = vreinterpretq_u8_u64(vdupq_n_u64(0xd1b54a32d192ed03ULL));
#define ONEBIT_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define ONEBIT_INIT(c)                                                                   \
  uint8x16_t x##c = vreinterpretq_u8_u64(vdupq_n_u64(0x9e3779b97f4a7c15ULL * (c + 1))); \
  uint64x2_t wide##c = vdupq_n_u64(0);
#define ONEBIT_GROUP(c) uint8x16_t bytes##c = vdupq_n_u8(0);
#define ONEBIT_STEP(c)        \
  x##c = veorq_u8(x##c, y); \
  bytes##c = vaddq_u8(bytes##c, vcntq_u8(x##c));
#define ONEBIT_WIDEN(c) wide##c = vpadalq_u32(wide##c, vpaddlq_u16(vpaddlq_u8(bytes##c)));
#define ONEBIT_SUM(c) total = vaddq_u64(total, wide##c);
  ONEBIT_CHAINS(ONEBIT_INIT)
  for (std::int64_t it = 0; it < iters; it += kGroupSteps) {
    const std::int64_t group = min64(kGroupSteps, iters - it);
    ONEBIT_CHAINS(ONEBIT_GROUP)
    for (std::int64_t s = 0; s < group; ++s) {
      ONEBIT_CHAINS(ONEBIT_STEP)
      __asm__ volatile("" : "+w"(x0), "+w"(x1), "+w"(x2), "+w"(x3), "+w"(x4), "+w"(x5), "+w"(x6),
                       "+w"(x7));
    }
    ONEBIT_CHAINS(ONEBIT_WIDEN)
  }
  uint64x2_t total = vdupq_n_u64(0);
  ONEBIT_CHAINS(ONEBIT_SUM)
#undef ONEBIT_SUM
#undef ONEBIT_WIDEN
#undef ONEBIT_STEP
#undef ONEBIT_GROUP
#undef ONEBIT_INIT
#undef ONEBIT_CHAINS
  *sink = vgetq_lane_u64(total, 0) + vgetq_lane_u64(total, 1);
  return iters * kChains * kVecWords * kWordBits;
}

}  // namespace onebit::kernels
