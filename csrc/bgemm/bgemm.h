// Binary GEMM on packed rows: out[i, j] = k - 2 * popcount(a[i] XOR b[j]) summed over the words.
//
// Layout: a is (m, words) and b is (n, words) row-major packed rows (bit convention in
// common/bit_format.h; the rows of b are the output channels / weights); out is (m, n) row-major
// int32. Padding bits are 0 in both operands, so they cancel in the XOR; k is the true channel
// count, 0 < k <= 64 * words. Accumulation is exact: 64-bit lanes inside a K block, int32 partial
// sums between blocks (any k <= INT32_MAX).
//
// The portable kernel (bgemm_scalar.h via bgemm_portable.cpp) is the baseline; SIMD siblings sit in
// bgemm_popcnt.cpp, bgemm_avx2.cpp and bgemm_avx512.cpp (x86, each compiled with its own target
// flags) and bgemm_neon.cpp (aarch64).
// This header picks one at run time (common/cpu_features.h) and splits the output over the thread
// pool.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

#include "bgemm/bgemm_kernels.h"
#include "common/bit_format.h"
#include "common/checked.h"
#include "common/cpu_features.h"
#include "common/threads.h"

namespace onebit {

using kernels::BgemmProblem;

inline kernels::BgemmKernel bgemm_kernel(SimdPath path) {
  switch (path) {
#if defined(ONEBIT_X86)
    case SimdPath::avx512_vpopcntdq: return kernels::bgemm_avx512_vpopcntdq;
    case SimdPath::avx2: return kernels::bgemm_avx2;
    case SimdPath::popcnt: return kernels::bgemm_popcnt;
#endif
#if defined(ONEBIT_NEON)
    case SimdPath::neon: return kernels::bgemm_neon;
#endif
    default: return kernels::bgemm_portable;
  }
}

inline kernels::PeakLoop peak_loop(SimdPath path) {
  switch (path) {
#if defined(ONEBIT_X86)
    case SimdPath::avx512_vpopcntdq: return kernels::peak_avx512_vpopcntdq;
    case SimdPath::avx2: return kernels::peak_avx2;
    case SimdPath::popcnt: return kernels::peak_popcnt;
#endif
#if defined(ONEBIT_NEON)
    case SimdPath::neon: return kernels::peak_neon;
#endif
    default: return kernels::peak_portable;
  }
}

// Below this many word pairs (m * n * words) per thread, extra threads cost more than they save.
inline constexpr std::int64_t kMinWordPairsPerThread = std::int64_t{1} << 17;
// Row granularity of a task: a multiple of every path's register tile (6 x 4, 2 x 3, 2 x 4, 3 x 4).
inline constexpr std::int64_t kTaskRows = 24;

// Tasks per thread. One long run of tiles each measured best (4 per thread: 5% slower at
// 64 x 4096 x 4096 on 2 cores); a worker that wakes late lets the caller take its task instead.
inline constexpr std::int64_t kTasksPerThread = 1;

// Checks p's sizes (common/checked.h): m, n and words within kMaxExtent, 0 < k <= kWordBits * words
// and k <= INT32_MAX, and the output within the buffer limit; SizeError names the first that is
// not.
inline void check_bgemm_problem(const BgemmProblem& p) {
  checked_extent(p.m, "m");
  checked_extent(p.n, "n");
  checked_extent(p.words, "words");
  if (p.k < 1 || p.k > p.words * kWordBits || p.k > std::numeric_limits<std::int32_t>::max())
    throw SizeError("k=" + std::to_string(p.k) + " must satisfy 0 < k <= 64 * words = " +
                    std::to_string(p.words * kWordBits) + " and fit int32");
  checked_buffer_elements({p.m, p.n}, sizeof(std::int32_t), "the output");
}

// Computes p.out with the kernel of `path` on up to `threads` threads (threads >= 1).
inline void bgemm(const BgemmProblem& p, SimdPath path, int threads) {
  check_bgemm_problem(p);
  if (p.m == 0 || p.n == 0) return;
  const kernels::BgemmKernel kernel = bgemm_kernel(path);
  const std::int64_t work = saturating_mul(p.m * p.n, p.words);
  const std::int64_t useful = std::max<std::int64_t>(1, work / kMinWordPairsPerThread);
  const std::int64_t n_threads = std::min<std::int64_t>(threads, useful);
  // Split the output into runs of whole tiles along M when it is the larger side (each thread then
  // keeps all of b in its own L2; measured 1.9x on 2 cores at 1024 x 4096 x 1024, against 1.4x
  // when splitting N), else along N.
  const bool split_n = p.n > p.m;
  const std::int64_t extent = split_n ? p.n : p.m;
  const std::int64_t units = (extent + kTaskRows - 1) / kTaskRows;
  const std::int64_t tasks = std::min<std::int64_t>(n_threads * kTasksPerThread, units);
  if (n_threads <= 1 || tasks <= 1) return kernel(p, 0, p.m, 0, p.n);
  parallel_for(
      tasks,
      [&](std::int64_t t) {
        const std::int64_t begin = std::min(extent, units * t / tasks * kTaskRows);
        const std::int64_t end = std::min(extent, units * (t + 1) / tasks * kTaskRows);
        if (split_n) {
          kernel(p, 0, p.m, begin, end);
        } else {
          kernel(p, begin, end, 0, p.n);
        }
      },
      static_cast<int>(n_threads));
}

// Bit-MACs per second of one core running the register-resident xor+popcount+add loop of `path`
// (no loads or stores): the ceiling bgemm's inner loop is measured against.
inline double xor_popcount_peak(SimdPath path, double seconds) {
  using Clock = std::chrono::steady_clock;
  const kernels::PeakLoop loop = peak_loop(path);
  std::uint64_t sink = 0;
  std::int64_t iters = 1 << 12;
  loop(iters, &sink);  // warm-up (clock ramp, page-in)
  double best = 0.0;
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  do {
    const auto start = Clock::now();
    const std::int64_t macs = loop(iters, &sink);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (elapsed < 1e-3) {
      iters *= 2;
      continue;
    }
    best = std::max(best, static_cast<double>(macs) / elapsed);
  } while (Clock::now() < deadline || best == 0.0);
  return best + static_cast<double>(sink & 1) * 0.0;
}

}  // namespace onebit
