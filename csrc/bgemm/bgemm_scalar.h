// The scalar bgemm kernel, shared by bgemm_portable.cpp (no target flags: __builtin_popcountll
// becomes libgcc's popcount on old x86 and `cnt` on aarch64) and bgemm_popcnt.cpp (-mpopcnt).
// Include it from exactly one .cpp per flag set, after defining ONEBIT_SCALAR_SUFFIX; everything
// lives in an anonymous namespace (see bgemm_kernels.h on why).
//
// Blocking: a 2 x 4 register tile of 64-bit accumulators walks K one word at a time (each step
// loads 2 + 4 words and does 8 xor+popcount+add); K is split into kKcWords blocks so that the
// 6 rows of a tile stay in L1, with partial sums kept in `out`.
#pragma once

#include "bgemm/bgemm_kernels.h"

#ifndef ONEBIT_SCALAR_SUFFIX
#error "define ONEBIT_SCALAR_SUFFIX before including bgemm_scalar.h"
#endif

#define ONEBIT_CAT2(a, b) a##b
#define ONEBIT_CAT(a, b) ONEBIT_CAT2(a, b)

namespace onebit::kernels {
namespace {

constexpr std::int64_t kScalarMr = 2;
constexpr std::int64_t kScalarNr = 4;
constexpr std::int64_t kScalarKcWords = 512;

inline std::int64_t min64(std::int64_t x, std::int64_t y) { return x < y ? x : y; }

template <int MR, int NR>
void scalar_tile(const BgemmProblem& p, std::int64_t i0, std::int64_t j0, std::int64_t w0,
                 std::int64_t w1, bool first, bool last) {
  std::uint64_t acc[MR][NR] = {};
  const word_t* ar[MR];
  const word_t* br[NR];
  for (int i = 0; i < MR; ++i) ar[i] = p.a + (i0 + i) * p.words;
  for (int j = 0; j < NR; ++j) br[j] = p.b + (j0 + j) * p.words;
  for (std::int64_t w = w0; w < w1; ++w) {
    word_t av[MR];
    for (int i = 0; i < MR; ++i) av[i] = ar[i][w];
    for (int j = 0; j < NR; ++j) {
      const word_t bv = br[j][w];
      for (int i = 0; i < MR; ++i) acc[i][j] += __builtin_popcountll(av[i] ^ bv);
    }
  }
  for (int i = 0; i < MR; ++i) {
    std::int32_t* o = p.out + (i0 + i) * p.n + j0;
    for (int j = 0; j < NR; ++j) {
      const std::int64_t total = static_cast<std::int64_t>(acc[i][j]) + (first ? 0 : o[j]);
      o[j] = static_cast<std::int32_t>(last ? p.k - 2 * total : total);
    }
  }
}

template <int MR>
void scalar_row(const BgemmProblem& p, std::int64_t i0, std::int64_t j0, std::int64_t nr,
                std::int64_t w0, std::int64_t w1, bool first, bool last) {
  switch (nr) {
    case 4: scalar_tile<MR, 4>(p, i0, j0, w0, w1, first, last); break;
    case 3: scalar_tile<MR, 3>(p, i0, j0, w0, w1, first, last); break;
    case 2: scalar_tile<MR, 2>(p, i0, j0, w0, w1, first, last); break;
    default: scalar_tile<MR, 1>(p, i0, j0, w0, w1, first, last); break;
  }
}

}  // namespace

void ONEBIT_CAT(bgemm_, ONEBIT_SCALAR_SUFFIX)(const BgemmProblem& p, std::int64_t m0,
                                              std::int64_t m1, std::int64_t n0, std::int64_t n1) {
  for (std::int64_t w0 = 0; w0 < p.words; w0 += kScalarKcWords) {
    const std::int64_t w1 = min64(p.words, w0 + kScalarKcWords);
    const bool first = w0 == 0;
    const bool last = w1 == p.words;
    for (std::int64_t i = m0; i < m1; i += kScalarMr) {
      const std::int64_t mr = min64(kScalarMr, m1 - i);
      for (std::int64_t j = n0; j < n1; j += kScalarNr) {
        const std::int64_t nr = min64(kScalarNr, n1 - j);
        if (mr == 2) {
          scalar_row<2>(p, i, j, nr, w0, w1, first, last);
        } else {
          scalar_row<1>(p, i, j, nr, w0, w1, first, last);
        }
      }
    }
  }
}

std::int64_t ONEBIT_CAT(peak_, ONEBIT_SCALAR_SUFFIX)(std::int64_t iters, std::uint64_t* sink) {
  // 8 independent chains in named variables: x ^= y; acc += popcount(x).
  constexpr int kChains = 8;
  const word_t y = 0xd1b54a32d192ed03ULL;
#define ONEBIT_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define ONEBIT_INIT(c)                                    \
  word_t x##c = 0x9e3779b97f4a7c15ULL * (c + 1); \
  std::uint64_t acc##c = 0;
#define ONEBIT_STEP(c) \
  x##c ^= y;           \
  acc##c += __builtin_popcountll(x##c);
#define ONEBIT_SUM(c) total += acc##c;
  ONEBIT_CHAINS(ONEBIT_INIT)
  for (std::int64_t it = 0; it < iters; ++it) {
    ONEBIT_CHAINS(ONEBIT_STEP)
    __asm__ volatile("" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "+r"(x6),
                     "+r"(x7));
  }
  std::uint64_t total = 0;
  ONEBIT_CHAINS(ONEBIT_SUM)
#undef ONEBIT_SUM
#undef ONEBIT_STEP
#undef ONEBIT_INIT
#undef ONEBIT_CHAINS
  *sink = total;
  return iters * kChains * kWordBits;
}

}  // namespace onebit::kernels

#undef ONEBIT_CAT
#undef ONEBIT_CAT2
