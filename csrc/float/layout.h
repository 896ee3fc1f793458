// Layout changes of float maps: NCHW (torch's) <-> NHWC (the engine's), as one batched transpose.
//
// Per sample, an NCHW map is a (C, H * W) matrix and its NHWC form the (H * W, C) transpose, so
// both directions are transpose_batched(x, n, rows, cols, out): out[b, j, i] = x[b, i, j]. Values
// are copied, never computed, so the result equals NumPy's transpose exactly.
//
// Tiles of kTransposeTile x kTransposeTile keep both the reads and the writes within a few cache
// lines; a 3-channel image (the usual network input) is a (3, H * W) matrix whose output rows are
// 3 floats, where a strided NumPy copy spends most of its time on loop overhead.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/threads.h"

namespace onebit {

inline constexpr std::int64_t kTransposeTile = 32;
// Floats per thread below which a transpose stays on one thread (see for_row_chunks).
inline constexpr std::int64_t kMinTransposeFloatsPerThread = std::int64_t{1} << 15;

// Columns [j0, j1) of one (R, cols) matrix with few rows (an RGB image: R = 3): a compile-time row
// count lets the compiler turn each output row of R floats into vector shuffles.
template <int R>
inline void transpose_few_rows(const float* src, std::int64_t cols, std::int64_t j0,
                               std::int64_t j1, float* dst) {
  for (std::int64_t j = j0; j < j1; ++j)
    for (int i = 0; i < R; ++i) dst[j * R + i] = src[i * cols + j];
}

// out (n, cols, rows) = the transpose of each (rows, cols) matrix of x (n, rows, cols).
inline void transpose_batched(const float* x, std::int64_t n, std::int64_t rows,
                              std::int64_t cols, float* out, int threads) {
  if (n == 0 || rows == 0 || cols == 0) return;
  // A unit of work: one sample's strip of `strip` columns (all its rows).
  const std::int64_t strip = rows <= 4 ? 32 * kTransposeTile : kTransposeTile;
  const std::int64_t col_tiles = (cols + strip - 1) / strip;
  const std::int64_t units = n * col_tiles;
  const std::int64_t useful =
      std::max<std::int64_t>(1, n * rows * cols / kMinTransposeFloatsPerThread);
  const std::int64_t tasks = std::min<std::int64_t>({threads, useful, units});
  auto task = [&](std::int64_t t) {
    for (std::int64_t u = units * t / tasks; u < units * (t + 1) / tasks; ++u) {
      const std::int64_t b = u / col_tiles;
      const std::int64_t j0 = u % col_tiles * strip;
      const std::int64_t j1 = std::min(cols, j0 + strip);
      const float* src = x + b * rows * cols;
      float* dst = out + b * rows * cols;
      switch (rows) {
        case 1: transpose_few_rows<1>(src, cols, j0, j1, dst); continue;
        case 2: transpose_few_rows<2>(src, cols, j0, j1, dst); continue;
        case 3: transpose_few_rows<3>(src, cols, j0, j1, dst); continue;
        case 4: transpose_few_rows<4>(src, cols, j0, j1, dst); continue;
        default: break;
      }
      for (std::int64_t i0 = 0; i0 < rows; i0 += kTransposeTile) {
        const std::int64_t i1 = std::min(rows, i0 + kTransposeTile);
        for (std::int64_t j = j0; j < j1; ++j)
          for (std::int64_t i = i0; i < i1; ++i) dst[j * rows + i] = src[i * cols + j];
      }
    }
  };
  if (tasks <= 1) {
    task(0);
  } else {
    parallel_for(tasks, task, static_cast<int>(tasks));
  }
}

}  // namespace onebit
