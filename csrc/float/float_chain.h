// Per-channel elementwise steps applied to float rows in place: the tail of a layer (batch norm,
// ReLU, PReLU, a residual add) run while its output tile is still in cache, instead of one pass
// over the whole map per step.
//
// Layout: rows are NHWC pixels, `channels` floats each; a step's vectors a and b hold one value per
// channel; an `add` step reads the residual map (pixels, channels) at the same pixel and channel.
//
// Steps, in float32 exactly as NumPy computes them (no fused multiply-add, so the results equal
// onebit.runtime.reference.float_chain bit for bit):
//   affine    x = x * a + b      (the product rounded to float32 first)
//   relu      x = max(x, 0)
//   prelu     x = x >= 0 ? x : x * a
//   hardtanh  x = min(max(x, lo), hi)
//   add       x = x + residual
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/cpu_features.h"
#include "float/float_chain_kernels.h"

namespace onebit {

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

// Applies `steps` to the n floats at o: vectors read from offset `v0` of each step's a and b, the
// residual from offset `r0` of its map.
inline void apply_chain_span(const std::vector<ChainStep>& steps, float* o, std::int64_t n,
                             std::int64_t v0, std::int64_t r0) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  for (const ChainStep& s : steps) {
    switch (s.op) {
      case ChainOp::affine: {
        const float* a = s.a + v0;
        const float* b = s.b + v0;
        for (std::int64_t i = 0; i < n; ++i) {
          const float product = o[i] * a[i];
          o[i] = product + b[i];
        }
        break;
      }
      case ChainOp::relu:
        for (std::int64_t i = 0; i < n; ++i) o[i] = o[i] < 0.0f ? 0.0f : o[i];
        break;
      case ChainOp::prelu: {
        const float* a = s.a + v0;
        for (std::int64_t i = 0; i < n; ++i) o[i] = o[i] >= 0.0f ? o[i] : o[i] * a[i];
        break;
      }
      case ChainOp::hardtanh:
        for (std::int64_t i = 0; i < n; ++i) {
          const float low = o[i] < s.lo ? s.lo : o[i];
          o[i] = low > s.hi ? s.hi : low;
        }
        break;
      case ChainOp::add: {
        const float* res = s.residual + r0;
        for (std::int64_t i = 0; i < n; ++i) o[i] = o[i] + res[i];
        break;
      }
    }
  }
}

// Rows per tile of an op that copies or computes rows into a buffer and runs a chain over them
// there (an elementwise op, a sign_pack after an affine map): about 16 KB, within L1.
inline std::int64_t chain_tile_rows(std::int64_t channels) {
  constexpr std::int64_t kTileFloats = 4096;
  return std::max<std::int64_t>(1, kTileFloats / std::max<std::int64_t>(channels, 1));
}

// Whole rows narrower than this many floats are run several at a time (see apply_chain_rows).
inline constexpr std::int64_t kChainSpan = 512;

// Applies `steps` to rows [0, rows) of out (row r is pixel p0 + r, row stride `stride` floats),
// channels [c0, c1). Each step runs over a row at a time, which stays in L1 between steps. Rows
// of few channels (a 16-channel map: 16 floats) would spend more on each step's loop set-up than
// on the floats, so whole contiguous rows run `group` at a time, against the per-channel vectors
// repeated `group` times.
// On the AVX2 paths all steps run fused per vector (float_chain_avx2.cpp) instead.
inline void apply_chain_rows(const std::vector<ChainStep>& steps, std::int64_t channels,
                             float* out, std::int64_t stride, std::int64_t p0, std::int64_t rows,
                             std::int64_t c0, std::int64_t c1,
                             SimdPath path = default_simd_path()) {
  if (steps.empty() || rows <= 0 || c1 <= c0) return;
#if defined(ONEBIT_X86)
  if (has_avx2_kernels(path))
    return kernels::float_chain_rows_avx2(nullptr, 0, nullptr, nullptr, steps.data(),
                                          static_cast<std::int64_t>(steps.size()), out, stride,
                                          rows, c0, c1, p0, channels);
#endif
  const std::int64_t group = std::min(rows, kChainSpan / channels);
  if (group < 2 || c0 != 0 || c1 != channels || stride != channels) {
    for (std::int64_t r = 0; r < rows; ++r)
      apply_chain_span(steps, out + r * stride + c0, c1 - c0, c0, (p0 + r) * channels + c0);
    return;
  }
  std::vector<ChainStep> wide = steps;
  std::vector<float> repeated;
  repeated.reserve(static_cast<std::size_t>(2 * steps.size() * group * channels));
  auto repeat = [&](const float* v) -> const float* {
    if (v == nullptr) return nullptr;
    const std::size_t at = repeated.size();
    for (std::int64_t g = 0; g < group; ++g) repeated.insert(repeated.end(), v, v + channels);
    return repeated.data() + at;  // no reallocation: reserved above
  };
  for (ChainStep& step : wide) {
    step.a = repeat(step.a);
    step.b = repeat(step.b);
  }
  for (std::int64_t r = 0; r < rows; r += group) {
    const std::int64_t n = std::min(group, rows - r) * channels;
    apply_chain_span(wide, out + r * stride, n, 0, (p0 + r) * channels);
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

}  // namespace onebit
