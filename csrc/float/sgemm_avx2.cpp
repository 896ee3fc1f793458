// sgemm, AVX2 path (compiled with -mavx2 -mfma; used on the avx2 path).
//
// The design of the AVX-512 path (sgemm_avx512.cpp) with 256-bit vectors of 8 columns and 16
// registers: tiles of 6 rows x 2 vectors (12 accumulators, 2 rows of b, 1 broadcast) when the
// columns are wider than 8, else 12 x 1, and 1 x 8 for a single row. The N edge is a vmaskmov
// load and store. From kRowBlock rows on, the 6 x 2 tiles read b from packed panels (packed()).
#include <immintrin.h>

#include "float/sgemm_kernels.h"

namespace onebit::kernels {
namespace {

constexpr int kLanes = 8;
constexpr std::int64_t kKc = 256;
constexpr std::int64_t kNc = 256;

inline std::int64_t min64(std::int64_t x, std::int64_t y) { return x < y ? x : y; }

struct Tile {
  const float* a;  // row 0, column k0
  std::int64_t lda;
  const float* b;  // row k0, column 0 of the tile
  std::int64_t ldb;
  float* c;  // row 0, column 0 of the tile
  std::int64_t ldc;
  std::int64_t kc;
  __m256i mask;     // columns of the last vector (lanes of -1)
  bool accumulate;  // start from c (a later K block) instead of 0
};

template <int MR, int NV, bool Masked>
void tile(const Tile& t) {
  // Loops over MR and NV unrolled by pragma (see sgemm_avx512.cpp).
  const float* a = t.a;
  const float* b = t.b;
  float* const c = t.c;
  const std::int64_t lda = t.lda;
  const std::int64_t ldb = t.ldb;
  const std::int64_t ldc = t.ldc;
  const std::int64_t kc = t.kc;
  const __m256i mask = t.mask;
  __m256 acc[MR][NV];
  if (t.accumulate) {
    #pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v)
        acc[i][v] = Masked && v == NV - 1 ? _mm256_maskload_ps(c + i * ldc + v * kLanes, mask)
                                          : _mm256_loadu_ps(c + i * ldc + v * kLanes);
  } else {
    #pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  }
  for (std::int64_t k = 0; k < kc; ++k, ++a, b += ldb) {
    __m256 bv[NV];
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v)
      bv[v] = Masked && v == NV - 1 ? _mm256_maskload_ps(b + v * kLanes, mask)
                                    : _mm256_loadu_ps(b + v * kLanes);
    #pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i * lda);
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      float* o = c + i * ldc + v * kLanes;
      if (Masked && v == NV - 1) {
        _mm256_maskstore_ps(o, mask, acc[i][v]);
      } else {
        _mm256_storeu_ps(o, acc[i][v]);
      }
    }
}

// The tile of mr <= MR rows and nv <= NV vectors (the last one masked when `masked`).
template <int MR, int NV>
void edge_tile(std::int64_t mr, std::int64_t nv, bool masked, const Tile& t) {
  if constexpr (MR > 1) {
    if (mr < MR) return edge_tile<MR - 1, NV>(mr, nv, masked, t);
  }
  if constexpr (NV > 1) {
    if (nv < NV) return edge_tile<MR, NV - 1>(mr, nv, masked, t);
  }
  if (masked) return tile<MR, NV, true>(t);
  tile<MR, NV, false>(t);
}

template <int MR, int NV>
void blocked(const SgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
             std::int64_t n1) {
  constexpr std::int64_t kPanel = NV * kLanes;
  constexpr std::int64_t kBlock = kNc / kPanel * kPanel;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (std::int64_t k0 = 0; k0 < p.k; k0 += kKc) {
    Tile t{};
    t.lda = p.k;
    t.ldb = p.n;
    t.ldc = p.n;
    t.kc = min64(kKc, p.k - k0);
    t.accumulate = k0 > 0;
    for (std::int64_t jb = n0; jb < n1; jb += kBlock) {
      const std::int64_t jb_end = min64(n1, jb + kBlock);
      for (std::int64_t i = m0; i < m1; i += MR) {
        const std::int64_t mr = min64(MR, m1 - i);
        t.a = p.a + i * p.k + k0;
        for (std::int64_t j = jb; j < jb_end; j += kPanel) {
          const std::int64_t cols = min64(kPanel, jb_end - j);
          const std::int64_t nv = (cols + kLanes - 1) / kLanes;
          const std::int64_t tail = cols - (nv - 1) * kLanes;
          t.b = p.b + k0 * p.n + j;
          t.c = p.c + i * p.n + j;
          t.mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(tail)), lane);
          if (mr == MR && nv == NV && tail == kLanes) {
            tile<MR, NV, false>(t);
          } else {
            edge_tile<MR, NV>(mr, nv, tail < kLanes, t);
          }
        }
      }
    }
  }
}

// The 6 x 2 tiles over rows of b packed per panel: for each K block, blocks of kRowBlock rows of a
// (kRowBlock x kKc floats, 96 KiB, stay in L2) meet each panel of b's 16 columns copied into a
// contiguous kKc x 16 buffer (16 KiB, stays in L1). Read in place, a panel's rows lie n floats
// apart: at n = 256 (1 KiB) every row of a panel falls in the same few L1 sets, and the tiles ran
// at 36.5 GMAC/s against 44.0 at n = 264 (4096 x 256 x 256, one thread, an AVX2 Zen). The sums
// are the same chains in the same order as blocked()'s.
constexpr std::int64_t kRowBlock = 96;  // a multiple of 6

template <int MR, int NV>
void packed(const SgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
            std::int64_t n1) {
  constexpr std::int64_t kPanel = NV * kLanes;
  static_assert(kRowBlock % MR == 0);
  alignas(32) float panel[kKc * kPanel];
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (std::int64_t k0 = 0; k0 < p.k; k0 += kKc) {
    Tile t{};
    t.lda = p.k;
    t.ldb = kPanel;
    t.ldc = p.n;
    t.kc = min64(kKc, p.k - k0);
    t.accumulate = k0 > 0;
    t.b = panel;
    for (std::int64_t ib = m0; ib < m1; ib += kRowBlock) {
      const std::int64_t ib_end = min64(m1, ib + kRowBlock);
      for (std::int64_t j = n0; j < n1; j += kPanel) {
        const std::int64_t cols = min64(kPanel, n1 - j);
        const std::int64_t nv = (cols + kLanes - 1) / kLanes;
        const std::int64_t tail = cols - (nv - 1) * kLanes;
        t.mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(tail)), lane);
        const float* from = p.b + k0 * p.n + j;
        for (std::int64_t k = 0; k < t.kc; ++k, from += p.n) {
          for (std::int64_t v = 0; v < nv; ++v) {
            const __m256 x = v == nv - 1 ? _mm256_maskload_ps(from + v * kLanes, t.mask)
                                         : _mm256_loadu_ps(from + v * kLanes);
            _mm256_store_ps(panel + k * kPanel + v * kLanes, x);
          }
        }
        for (std::int64_t i = ib; i < ib_end; i += MR) {
          const std::int64_t mr = min64(MR, ib_end - i);
          t.a = p.a + i * p.k + k0;
          t.c = p.c + i * p.n + j;
          if (mr == MR && nv == NV && tail == kLanes) {
            tile<MR, NV, false>(t);
          } else {
            edge_tile<MR, NV>(mr, nv, tail < kLanes, t);
          }
        }
      }
    }
  }
}

}  // namespace

void sgemm_avx2(const SgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                std::int64_t n1) {
  // One row: 8 vectors (256 bytes of a row of b) per k step measured 30 us at 512 x 1000 against
  // 43 us for 2 (see sgemm_avx512.cpp).
  if (p.m == 1) return blocked<1, 8>(p, m0, m1, n0, n1);
  // Packing pays once a panel serves a whole row block: at 256 x 256 it was 2x slower at 6 rows,
  // 20% at 30, even at 48.
  if (n1 - n0 > kLanes && m1 - m0 >= kRowBlock) return packed<6, 2>(p, m0, m1, n0, n1);
  if (n1 - n0 > kLanes) return blocked<6, 2>(p, m0, m1, n0, n1);
  blocked<12, 1>(p, m0, m1, n0, n1);
}

}  // namespace onebit::kernels
