// The cache blocking that the vector bgemm paths (bgemm_avx2.cpp, bgemm_avx512.cpp,
// bgemm_neon.cpp) share, around each path's own register tile.
//
// A K block of kKcWords words keeps the rows of a register tile in L1, with the partial sums kept
// in `out` between blocks; an N block of b rows (about kL2Bytes of them) stays in L2 while every
// row tile of a walks over it. Inside a block, tiles of kMr rows of a x kNr rows of b; the tiles
// at the bottom and right edges are smaller (MR < kMr, NR < kNr).
//
// Included by one .cpp per path, which defines `tile` below. Everything here lives in an anonymous
// namespace, so each path gets its own copy compiled with its own target flags (bgemm_kernels.h
// explains why nothing may be shared across those files otherwise).
#pragma once

#include <cstdint>

#include "bgemm/bgemm_kernels.h"

namespace onebit::kernels {
namespace {

inline std::int64_t min64(std::int64_t x, std::int64_t y) { return x < y ? x : y; }
inline std::int64_t max64(std::int64_t x, std::int64_t y) { return x > y ? x : y; }

// The path's register tile, defined in its .cpp: rows [i0, i0 + MR) of a x rows [j0, j0 + NR) of
// b over the words [w0, w1). `first`: out holds nothing yet (else it holds the popcount sums of
// the earlier words, which the tile adds to); `last`: w1 is the last word, so the tile writes
// k - 2 * (total popcount) instead of the sum.
template <int MR, int NR>
void tile(const BgemmProblem& p, std::int64_t i0, std::int64_t j0, std::int64_t w0,
          std::int64_t w1, bool first, bool last);

// One output of a tile, out[i, j] at `o`, from `sum`, the popcount total of the tile's words.
inline void store_sum(const BgemmProblem& p, std::int32_t* o, std::int64_t sum, bool first,
                      bool last) {
  const std::int64_t total = sum + (first ? 0 : *o);
  *o = static_cast<std::int32_t>(last ? p.k - 2 * total : total);
}

// tile<mr, nr> for a run-time 1 <= mr <= MR, 1 <= nr <= NR.
template <int MR, int NR>
void edge_tile(const BgemmProblem& p, std::int64_t i0, std::int64_t j0, std::int64_t mr,
               std::int64_t nr, std::int64_t w0, std::int64_t w1, bool first, bool last) {
  if constexpr (MR > 1) {
    if (mr < MR) return edge_tile<MR - 1, NR>(p, i0, j0, mr, nr, w0, w1, first, last);
  }
  if constexpr (NR > 1) {
    if (nr < NR) return edge_tile<MR, NR - 1>(p, i0, j0, mr, nr, w0, w1, first, last);
  }
  tile<MR, NR>(p, i0, j0, w0, w1, first, last);
}

// The rectangle [m0, m1) x [n0, n1) of out (bgemm_kernels.h's BgemmKernel) in blocks and tiles.
template <int kMr, int kNr, std::int64_t kKcWords, std::int64_t kL2Bytes>
void blocked_bgemm(const BgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                   std::int64_t n1) {
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
          edge_tile<kMr, kNr>(p, i, j, mr, nr, w0, w1, first, last);
        }
      }
    }
  }
}

}  // namespace
}  // namespace onebit::kernels
