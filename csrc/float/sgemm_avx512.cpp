// sgemm, AVX-512 path (compiled with -mavx512f -mfma; used on the avx512_vpopcntdq path).
//
// Vectorized along N: a 512-bit vector holds 16 consecutive columns of a row of b or c, so b and c
// are read in place (no packing) and the N edge is a masked load and store. Micro-kernel: MR rows x
// NV vectors of c held in MR * NV accumulators; each k step loads NV vectors of row k of b,
// broadcasts MR elements of column k of a and does MR * NV FMAs. The tile shape follows the width
// of the columns: 6 x 4 vectors (64 columns, 24 accumulators) when there are more than 48, else
// 8 x 3, 12 x 2 or 16 x 1, so narrow products (N = 16, 32) still run 16-24 independent FMA chains;
// a single row takes 1 x 16 vectors.
// Blocking: a K block of kKc keeps the MR x kKc strip of a in L1 while the tile walks the kKc x kNc
// block of b (in L2); a later K block starts its accumulators from c, so every c[i, j] is one FMA
// chain in increasing k.
#include <immintrin.h>

#include "float/sgemm_kernels.h"

namespace onebit::kernels {
namespace {

constexpr int kLanes = 16;
constexpr std::int64_t kKc = 256;
constexpr std::int64_t kNc = 256;  // columns of b per block (rounded down to whole panels)

inline std::int64_t min64(std::int64_t x, std::int64_t y) { return x < y ? x : y; }

struct Tile {
  const float* a;  // row 0, column k0
  std::int64_t lda;
  const float* b;  // row k0, column 0 of the tile
  std::int64_t ldb;
  float* c;  // row 0, column 0 of the tile
  std::int64_t ldc;
  std::int64_t kc;
  __mmask16 mask;  // columns of the last vector
  bool accumulate;  // start from c (a later K block) instead of 0
};

template <int MR, int NV, bool Masked>
void tile(const Tile& t) {
  // Every loop over MR or NV is unrolled by pragma: without it GCC kept the accumulators in
  // registers but also stored them to the stack on every k step (half the AVX2 speed).
  const float* a = t.a;
  const float* b = t.b;
  float* const c = t.c;
  const std::int64_t lda = t.lda;
  const std::int64_t ldb = t.ldb;
  const std::int64_t ldc = t.ldc;
  const std::int64_t kc = t.kc;
  const __mmask16 mask = t.mask;
  __m512 acc[MR][NV];
  if (t.accumulate) {
    #pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v)
        acc[i][v] = Masked && v == NV - 1 ? _mm512_maskz_loadu_ps(mask, c + i * ldc + v * kLanes)
                                          : _mm512_loadu_ps(c + i * ldc + v * kLanes);
  } else {
    #pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  }
  for (std::int64_t k = 0; k < kc; ++k, ++a, b += ldb) {
    __m512 bv[NV];
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v)
      bv[v] = Masked && v == NV - 1 ? _mm512_maskz_loadu_ps(mask, b + v * kLanes)
                                    : _mm512_loadu_ps(b + v * kLanes);
    #pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i * lda]);
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      float* o = c + i * ldc + v * kLanes;
      if (Masked && v == NV - 1) {
        _mm512_mask_storeu_ps(o, mask, acc[i][v]);
      } else {
        _mm512_storeu_ps(o, acc[i][v]);
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
          t.mask = static_cast<__mmask16>((1u << tail) - 1u);
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

void sgemm_avx512(const SgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                  std::int64_t n1) {
  const std::int64_t width = n1 - n0;
  // One row (a matrix-vector product, the dense layer at batch 1) is bound by streaming b: 16
  // vectors (1 KB of a row of b) per k step measured 28 us at 512 x 1000 against 35-40 us for 4.
  // (Streaming b row by row instead, 4 rows per pass over c's row in L1, measured the same.)
  if (p.m == 1) return blocked<1, 16>(p, m0, m1, n0, n1);
  if (width > 3 * kLanes) return blocked<6, 4>(p, m0, m1, n0, n1);
  if (width > 2 * kLanes) return blocked<8, 3>(p, m0, m1, n0, n1);
  if (width > kLanes) return blocked<12, 2>(p, m0, m1, n0, n1);
  blocked<16, 1>(p, m0, m1, n0, n1);
}

}  // namespace onebit::kernels
