// sgemm, portable path: C++ compiled with no target flags, so it runs on any CPU (the popcnt and
// portable paths on x86, every path elsewhere). Tiles of kMr rows x kNr columns of c live in
// kMr * kNr / 4 accumulators of 4-float vectors (GCC/Clang vector types: SSE2 on x86-64, NEON on
// aarch64); tiles with fewer rows are the same template, tiles with fewer columns (the N edge) are
// scalar loops, and a single row of c streams b row by row (row()). Blocking as in
// sgemm_avx512.cpp: a K block of kKc, a column block of kNc, each c[i, j] one chain in increasing
// k: a multiply and an add on x86-64 (no FMA without target flags); where the target has FMA
// (aarch64) GCC may fuse them.
#include "float/sgemm_kernels.h"

namespace onebit::kernels {
namespace {

constexpr int kMr = 4;
constexpr int kNr = 16;
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
  bool accumulate;  // start from c (a later K block) instead of 0
};

// Four floats in a GCC/Clang vector (SSE2 on x86-64, NEON on aarch64, plain floats elsewhere);
// the code base already needs those compilers (__builtin_cpu_supports, __builtin_popcountll).
// Plain float arrays were not enough: GCC vectorized the k loop of the tile across columns of a
// instead, with shuffles, at a fifth of this speed.
typedef float Vec __attribute__((vector_size(16)));
constexpr int kVecLanes = 4;
constexpr int kNv = kNr / kVecLanes;

inline Vec load(const float* p) {
  Vec v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

inline void store(float* p, Vec v) { __builtin_memcpy(p, &v, sizeof v); }

// A tile of MR <= kMr rows and kNr columns: MR * kNv vector accumulators (4 x 4 measured
// 16 GFMA/s with SSE2 on the development machine, against 14 for 4 x 2 and 10 for 8 x 1).
template <int MR>
void full_tile(const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
               std::int64_t ldc, std::int64_t kc, bool accumulate) {
  Vec acc[MR][kNv];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < kNv; ++v)
      acc[i][v] = accumulate ? load(c + i * ldc + v * kVecLanes) : Vec{};
  for (std::int64_t k = 0; k < kc; ++k, ++a, b += ldb) {
    Vec bv[kNv];
    for (int v = 0; v < kNv; ++v) bv[v] = load(b + v * kVecLanes);
    for (int i = 0; i < MR; ++i) {
      const Vec av = Vec{} + a[i * lda];
      for (int v = 0; v < kNv; ++v) acc[i][v] += av * bv[v];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < kNv; ++v) store(c + i * ldc + v * kVecLanes, acc[i][v]);
}

// A tile of mr <= kMr rows and nr < kNr columns (the N edge), in scalars.
void edge_tile(std::int64_t mr, std::int64_t nr, const Tile& t) {
  float acc[kMr][kNr];
  for (std::int64_t i = 0; i < mr; ++i)
    for (std::int64_t j = 0; j < nr; ++j) acc[i][j] = t.accumulate ? t.c[i * t.ldc + j] : 0.0f;
  const float* a = t.a;
  const float* b = t.b;
  for (std::int64_t k = 0; k < t.kc; ++k, ++a, b += t.ldb) {
    for (std::int64_t i = 0; i < mr; ++i) {
      const float av = a[i * t.lda];
      for (std::int64_t j = 0; j < nr; ++j) acc[i][j] += av * b[j];
    }
  }
  for (std::int64_t i = 0; i < mr; ++i)
    for (std::int64_t j = 0; j < nr; ++j) t.c[i * t.ldc + j] = acc[i][j];
}

// Row i of c alone (a matrix-vector product, the dense layer at batch 1): b streamed row after row,
// 4 rows per pass over c's row (in L1), each c[j] still one sum in increasing k. 1 x 16 tiles walk
// b down 64-byte strips instead: 1.3 GFMA/s at 4096 x 1000 on the development machine.
void row(const SgemmProblem& p, std::int64_t i, std::int64_t n0, std::int64_t n1) {
  const float* a = p.a + i * p.k;
  float* c = p.c + i * p.n;
  for (std::int64_t j = n0; j < n1; ++j) c[j] = 0.0f;
  std::int64_t k = 0;
  for (; k + 4 <= p.k; k += 4) {
    const float a0 = a[k], a1 = a[k + 1], a2 = a[k + 2], a3 = a[k + 3];
    const float* b0 = p.b + k * p.n;
    const float* b1 = b0 + p.n;
    const float* b2 = b1 + p.n;
    const float* b3 = b2 + p.n;
    for (std::int64_t j = n0; j < n1; ++j)
      c[j] = c[j] + a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
  }
  for (; k < p.k; ++k) {
    const float ak = a[k];
    const float* bk = p.b + k * p.n;
    for (std::int64_t j = n0; j < n1; ++j) c[j] += ak * bk[j];
  }
}

}  // namespace

void sgemm_portable(const SgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                    std::int64_t n1) {
  // Chosen by the problem, not the task, so every split runs the same code (and rounding).
  if (p.m == 1) return row(p, m0, n0, n1);
  constexpr std::int64_t kBlock = kNc / kNr * kNr;
  for (std::int64_t k0 = 0; k0 < p.k; k0 += kKc) {
    Tile t{};
    t.lda = p.k;
    t.ldb = p.n;
    t.ldc = p.n;
    t.kc = min64(kKc, p.k - k0);
    t.accumulate = k0 > 0;
    for (std::int64_t jb = n0; jb < n1; jb += kBlock) {
      const std::int64_t jb_end = min64(n1, jb + kBlock);
      for (std::int64_t i = m0; i < m1; i += kMr) {
        const std::int64_t mr = min64(kMr, m1 - i);
        t.a = p.a + i * p.k + k0;
        for (std::int64_t j = jb; j < jb_end; j += kNr) {
          const std::int64_t nr = min64(kNr, jb_end - j);
          t.b = p.b + k0 * p.n + j;
          t.c = p.c + i * p.n + j;
          if (nr < kNr) {
            edge_tile(mr, nr, t);
            continue;
          }
          switch (mr) {
            case 4: full_tile<4>(t.a, t.lda, t.b, t.ldb, t.c, t.ldc, t.kc, t.accumulate); break;
            case 3: full_tile<3>(t.a, t.lda, t.b, t.ldb, t.c, t.ldc, t.kc, t.accumulate); break;
            case 2: full_tile<2>(t.a, t.lda, t.b, t.ldb, t.c, t.ldc, t.kc, t.accumulate); break;
            default: full_tile<1>(t.a, t.lda, t.b, t.ldb, t.c, t.ldc, t.kc, t.accumulate); break;
          }
        }
      }
    }
  }
}

}  // namespace onebit::kernels
