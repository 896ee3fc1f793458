// Float32 GEMM on our thread pool: c = a @ b for the runtime's float layers (stem convolution,
// 1x1 convolutions, the final dense layer), so they use the same threads as the binary kernels
// instead of a BLAS whose own spinning workers would compete with them.
//
// Layout: a is (m, k), b is (k, n), c is (m, n), row-major float32 without padding. Each c[i, j]
// is one float32 sum in increasing k (fused multiply-adds on the SIMD paths), so a path gives the
// same bits on any thread count (sgemm_kernels.h); against the exact product the error is that of
// float32 summation, at worst about k * 2^-24 * sum_k |a[i, k] * b[k, j]|.
//
// The portable kernel (sgemm_portable.cpp) is the baseline; sgemm_avx2.cpp and sgemm_avx512.cpp are
// its SIMD siblings, each compiled with its own target flags (sgemm_kernels.h has the rules). This
// header picks one at run time and splits c over the thread pool.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/checked.h"
#include "common/cpu_features.h"
#include "common/threads.h"
#include "float/sgemm_kernels.h"

namespace onebit {

using kernels::SgemmProblem;

// Whether the CPU runs FMA3 instructions. The AVX2 and AVX-512 sgemm kernels use them; every CPU
// with AVX-512 and nearly every one with AVX2 has them, but common/cpu_features.h does not check.
inline bool cpu_has_fma() {
#if defined(ONEBIT_X86)
  static const bool fma = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("fma") != 0;
  }();
  return fma;
#else
  return false;
#endif
}

inline kernels::SgemmKernel sgemm_kernel(SimdPath path) {
#if defined(ONEBIT_X86)
  if (cpu_has_fma()) {
    if (path == SimdPath::avx512_vpopcntdq) return kernels::sgemm_avx512;
    if (path == SimdPath::avx2) return kernels::sgemm_avx2;
  }
#endif
  (void)path;
  return kernels::sgemm_portable;
}

// Below this much work per thread (FMAs, see sgemm_cost), a product stays on one thread: the
// kernels run about 50 FMAs per ns on one core of the 2-core development VM, so ~3 us. A pool
// worker still spinning from the previous layer joins within a microsecond and a sleeping one is
// not waited for (common/threads.h); splitting even small products keeps each core on its own rows
// of the network's maps, where a one-thread layer would pull them all to one core and back.
inline constexpr std::int64_t kMinSgemmCostPerThread = std::int64_t{1} << 17;
// Each element of b costs about this many FMAs more than a cache-resident FMA: b is streamed once
// per call, and a matrix-vector product (m = 1) ran at a third of the large-m rate.
inline constexpr std::int64_t kSgemmBElementCost = 2;
// Split granularity: rows in multiples of most tile heights (6, 8, 12 / 6, 12 / 4: a 16-row tile
// may end in an 8-row one), columns in multiples of the widest panel of a multi-row tile (64).
inline constexpr std::int64_t kSgemmTaskRows = 24;
inline constexpr std::int64_t kSgemmTaskColumns = 64;

// The work of a product in FMAs of a cache-resident tile.
inline std::int64_t sgemm_cost(const SgemmProblem& p) {
  return saturating_mul((p.m + kSgemmBElementCost) * p.n, p.k);
}

// Checks p's sizes (common/checked.h): m, n and k within kMaxExtent and the output within the
// buffer limit; SizeError names the first that is not.
inline void check_sgemm_problem(const SgemmProblem& p) {
  checked_extent(p.m, "m");
  checked_extent(p.n, "n");
  checked_extent(p.k, "k");
  checked_buffer_elements({p.m, p.n}, sizeof(float), "the output");
}

// Computes p.c with the kernel of `path` on up to `threads` threads (threads >= 1).
inline void sgemm(const SgemmProblem& p, SimdPath path, int threads) {
  check_sgemm_problem(p);
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) {
    std::fill(p.c, p.c + p.m * p.n, 0.0f);
    return;
  }
  const kernels::SgemmKernel kernel = sgemm_kernel(path);
  const std::int64_t useful = std::max<std::int64_t>(1, sgemm_cost(p) / kMinSgemmCostPerThread);
  const std::int64_t n_threads = std::min<std::int64_t>(threads, useful);
  // Split rows (each thread reads all of b and its rows of a) unless that leaves fewer than 4
  // units per thread (the last, partial unit then unbalances the split) and columns have more
  // units: then each thread reads all of a and its columns of b, as a matrix-vector product must.
  // Measured on 2 threads: 196 x 128 x 256 1.9x by rows against 1.05x by columns.
  const std::int64_t row_units = (p.m + kSgemmTaskRows - 1) / kSgemmTaskRows;
  const std::int64_t column_units = (p.n + kSgemmTaskColumns - 1) / kSgemmTaskColumns;
  const bool split_n = row_units < 4 * n_threads && column_units > row_units;
  const std::int64_t extent = split_n ? p.n : p.m;
  const std::int64_t quantum = split_n ? kSgemmTaskColumns : kSgemmTaskRows;
  const std::int64_t units = split_n ? column_units : row_units;
  const std::int64_t tasks = std::min<std::int64_t>(n_threads, units);
  if (tasks <= 1) return kernel(p, 0, p.m, 0, p.n);
  parallel_for(
      tasks,
      [&](std::int64_t t) {
        const std::int64_t begin = std::min(extent, units * t / tasks * quantum);
        const std::int64_t end = std::min(extent, units * (t + 1) / tasks * quantum);
        if (split_n) {
          kernel(p, 0, p.m, begin, end);
        } else {
          kernel(p, begin, end, 0, p.n);
        }
      },
      static_cast<int>(tasks));
}

}  // namespace onebit
