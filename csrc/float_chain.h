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

#include <cstdint>
#include <vector>

namespace onebit {

enum class ChainOp : std::uint8_t { affine, relu, prelu, hardtanh, add };

struct ChainStep {
  ChainOp op = ChainOp::relu;
  const float* a = nullptr;         // affine scale, prelu slope (per channel)
  const float* b = nullptr;         // affine bias (per channel)
  const float* residual = nullptr;  // add: (pixels, channels)
  float lo = 0.0f, hi = 0.0f;       // hardtanh bounds
};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

// Applies `steps` to rows [0, rows) of out (row r is pixel p0 + r, row stride `stride` floats),
// channels [c0, c1).
inline void apply_chain_rows(const std::vector<ChainStep>& steps, std::int64_t channels,
                             float* out, std::int64_t stride, std::int64_t p0, std::int64_t rows,
                             std::int64_t c0, std::int64_t c1) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  for (const ChainStep& s : steps) {
    for (std::int64_t r = 0; r < rows; ++r) {
      float* o = out + r * stride;
      switch (s.op) {
        case ChainOp::affine:
          for (std::int64_t c = c0; c < c1; ++c) {
            const float product = o[c] * s.a[c];
            o[c] = product + s.b[c];
          }
          break;
        case ChainOp::relu:
          for (std::int64_t c = c0; c < c1; ++c) o[c] = o[c] < 0.0f ? 0.0f : o[c];
          break;
        case ChainOp::prelu:
          for (std::int64_t c = c0; c < c1; ++c) o[c] = o[c] >= 0.0f ? o[c] : o[c] * s.a[c];
          break;
        case ChainOp::hardtanh:
          for (std::int64_t c = c0; c < c1; ++c) {
            const float low = o[c] < s.lo ? s.lo : o[c];
            o[c] = low > s.hi ? s.hi : low;
          }
          break;
        case ChainOp::add: {
          const float* res = s.residual + (p0 + r) * channels;
          for (std::int64_t c = c0; c < c1; ++c) o[c] = o[c] + res[c];
          break;
        }
      }
    }
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

}  // namespace onebit
