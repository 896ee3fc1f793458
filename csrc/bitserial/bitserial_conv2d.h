// Bit-serial 2-D convolution (cross-correlation) of k-bit codes on bit planes
// (reference_bitserial.py's bitserial_conv2d, bit for bit).
//
// Layout: x is (N, P, H, W, words) with words = words_for(cin): P planes of packed NHWC maps (the
// plane axis just inside the batch axis), each pixel's words as common/bit_format.h packs them;
// w is (Cout, Q, KH, KW, words), so weight row (o, j) is the KH x KW x words patch of plane j of
// output channel o; the result is (N, Ho, Wo, Cout) NHWC, as int32 or through an output transform
// (bconv2d/bconv2d.h's Int32Output, FloatOutput, BitsOutput) applied per tile.
//
// Padding: the border is the code pad_code, so a padded pixel of plane i is all-ones over the cin
// real channels where bit i of pad_code is set and all-zero otherwise; padding bits beyond cin stay
// 0. The input's own padding bits are cleared as the windows are unfolded (the reference decodes
// the cin real channels and packs them again).
//
// Algorithm: per tile of output pixels, the windows are unfolded per plane into rows of
// KH * KW * words words (row (pixel, i) = the window of plane i, in (kh, kw, words) order, the same
// as a weight row), so the tile is a (pixels * P, patch) matrix of packed rows; the bgemm kernel of
// the chosen SIMD path multiplies it with the (Cout * Q, patch) weight rows, and
// BitserialCombination (bitserial.h) turns each pixel's P x Q plane products into its int32
// outputs with k = cin * KH * KW. As in bconv2d, the "avx512_vpopcntdq" and "avx2" paths run the
// kernels vectorized along the output channels (bconv_gemm_*: a convolution's K is short), the
// other paths bgemm's kernel of that path. Tasks are tiles of pixels x blocks of output channels (whole words
// of channels, so the bit transform writes whole words), split over the thread pool as bconv2d
// splits them (bconv2d.h's split_conv); each task's buffers are thread-local.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "bconv2d/bconv2d.h"  // the epilogues, split_conv, scratch
#include "bgemm/bgemm.h"
#include "bitserial/bitserial.h"
#include "common/bit_format.h"
#include "common/checked.h"
#include "common/threads.h"
#include "common/window.h"

namespace onebit {

struct BitserialConvGeometry {
  std::int64_t n = 0, p = 0, h = 0, w = 0, cin = 0, words = 0;  // x (N, P, H, W, words)
  std::int64_t cout = 0, q = 0, kh = 0, kw = 0;                 // w (Cout, Q, KH, KW, words)
  std::int64_t sh = 1, sw = 1;                                  // stride
  std::int64_t top = 0, bottom = 0, left = 0, right = 0;        // padding
  std::int64_t pad_code = 0;                                    // the border's code

  std::int64_t ho() const { return window_output_side(h + top + bottom, kh, sh); }
  std::int64_t wo() const { return window_output_side(w + left + right, kw, sw); }
  std::int64_t pixels() const { return n * ho() * wo(); }
  std::int64_t patch_words() const { return kh * kw * words; }
  std::int64_t k() const { return kh * kw * cin; }
};

// Checks g's sizes (common/checked.h): every extent, the output sides, the planes, the pad code,
// the int32 ranges of k and of a patch row's bits, the output and a tile within the buffer limit.
inline void check_bitserial_conv_geometry(const BitserialConvGeometry& g) {
  checked_extent(g.n, "batch");
  checked_extent(g.cin, "cin");
  checked_extent(g.cout, "cout");
  if (g.p < 1 || g.p > kMaxPlanes || g.q < 1 || g.q > kMaxPlanes)
    throw SizeError("planes (" + std::to_string(g.p) + ", " + std::to_string(g.q) +
                    ") must be 1 to " + std::to_string(kMaxPlanes));
  if (g.pad_code < 0 || g.pad_code >= (std::int64_t{1} << g.p))
    throw SizeError("pad_code " + std::to_string(g.pad_code) + " is not a " + std::to_string(g.p) +
                    "-bit code");
  if (g.cin < 1 || g.words != words_for(g.cin))
    throw SizeError("cin=" + std::to_string(g.cin) + " needs " + std::to_string(words_for(g.cin)) +
                    " words per pixel, got " + std::to_string(g.words));
  const WindowSides sides =
      checked_window_sides(g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.top, g.bottom, g.left, g.right);
  checked_buffer_elements({g.n, sides.ho, sides.wo, g.cout}, sizeof(float), "the output");
  checked_mul(checked_mul(g.kh, g.kw, "kernel area"), g.cin, "kernel area x cin",
              std::numeric_limits<std::int32_t>::max());
  bitserial_bgemm_k(checked_mul(checked_mul(g.kh, g.kw, "kernel area"), g.words, "patch words"));
  checked_buffer_elements({kRowQuantum, g.p, g.kh, g.kw, g.words}, sizeof(word_t),
                          "an unfolded tile");
}

// The unfolded windows of output pixels [p0, p1) into dst ((p1 - p0) * P rows of patch words).
inline void unfold_planes(const word_t* x, const BitserialConvGeometry& g, std::int64_t p0,
                          std::int64_t p1, word_t* dst) {
  const std::int64_t ho = g.ho(), wo = g.wo(), words = g.words, patch = g.patch_words();
  const std::int64_t rest = g.cin % kWordBits;
  const word_t last_mask = rest ? (word_t{1} << rest) - 1 : ~word_t{0};
  const std::int64_t plane_words = g.h * g.w * words;
  std::int64_t n = p0 / (ho * wo), oh = p0 / wo % ho, ow = p0 % wo;
  for (std::int64_t pixel = p0; pixel < p1; ++pixel) {
    for (std::int64_t i = 0; i < g.p; ++i, dst += patch) {
      const word_t* plane = x + (n * g.p + i) * plane_words;
      const word_t pad = (g.pad_code >> i) & 1 ? ~word_t{0} : word_t{0};
      word_t* d = dst;
      for (std::int64_t r = 0; r < g.kh; ++r) {
        const std::int64_t ih = oh * g.sh - g.top + r;
        const bool row_inside = ih >= 0 && ih < g.h;
        for (std::int64_t c = 0; c < g.kw; ++c, d += words) {
          const std::int64_t iw = ow * g.sw - g.left + c;
          if (row_inside && iw >= 0 && iw < g.w) {
            const word_t* src = plane + (ih * g.w + iw) * words;
            for (std::int64_t v = 0; v + 1 < words; ++v) d[v] = src[v];
            d[words - 1] = src[words - 1] & last_mask;
          } else {
            for (std::int64_t v = 0; v + 1 < words; ++v) d[v] = pad;
            d[words - 1] = pad & last_mask;
          }
        }
      }
    }
    if (++ow == wo) {
      ow = 0;
      if (++oh == ho) oh = 0, ++n;
    }
  }
}

// Bytes of unfolded windows per tile, and of plane sums, that a tile's row count aims at.
inline constexpr std::int64_t kBitserialTileBytes = 48 * 1024;
inline constexpr std::int64_t kBitserialSumsTileBytes = 512 * 1024;

// The convolution into `epilogue` on up to `threads` threads (threads >= 1) with the bgemm kernel
// of `path`; w: prepare_bitserial_weights of the (Cout, Q, KH, KW, words) weights as
// (Cout, Q, patch) rows. Sizes are checked here; the arrays' shapes must match g, and xe, we have
// g.p and g.q planes.
template <typename Epilogue>
void bitserial_conv2d(const word_t* x, const BitserialWeights& w, const BitserialConvGeometry& g,
                      const PlaneEncoding& xe, const PlaneEncoding& we, SimdPath path, int threads,
                      const Epilogue& epilogue) {
  check_bitserial_conv_geometry(g);
  const std::int64_t pixels = g.pixels();
  if (pixels == 0 || g.cout == 0) return;
  const std::int64_t p = g.p, q = g.q, patch = g.patch_words();
  const kernels::BgemmKernel kernel = bgemm_kernel(path);
#if defined(ONEBIT_X86)
  const bool channel_vectors = path == SimdPath::avx512_vpopcntdq || path == SimdPath::avx2;
#endif
  const BitserialCombination combine(g.k(), xe, we, bitserial_bgemm_k(patch));
  const std::int64_t work =
      saturating_mul(saturating_mul(saturating_mul(pixels, g.cout), p * q), patch);
  threads = static_cast<int>(std::min<std::int64_t>(
      threads, std::max<std::int64_t>(1, work / kMinWordPairsPerConvThread)));
  const std::int64_t by_windows = kBitserialTileBytes / (p * patch * std::int64_t{sizeof(word_t)});
  const std::int64_t by_sums =
      kBitserialSumsTileBytes / (p * q * g.cout * std::int64_t{sizeof(std::int32_t)});
  const std::int64_t cap =
      std::max(kRowQuantum, std::min(by_windows, by_sums) / kRowQuantum * kRowQuantum);
  const std::int64_t word_blocks = words_for(g.cout);
  const ConvSplit split = split_conv(pixels, word_blocks, cap, threads);
  const std::int64_t rows_per_tile = split.rows_per_tile, col_blocks = split.col_blocks;
  const std::int64_t row_tiles = (pixels + rows_per_tile - 1) / rows_per_tile;
  const std::int64_t tasks = row_tiles * col_blocks;

  auto task = [&](std::int64_t t) {
    const std::int64_t rt = t / col_blocks, cb = t % col_blocks;
    const std::int64_t p0 = rt * rows_per_tile;
    const std::int64_t p1 = std::min(pixels, p0 + rows_per_tile);
    const std::int64_t c0 = std::min(g.cout, word_blocks * cb / col_blocks * kWordBits);
    const std::int64_t c1 = std::min(g.cout, word_blocks * (cb + 1) / col_blocks * kWordBits);
    if (p1 <= p0 || c1 <= c0) return;
    const std::int64_t rows = p1 - p0, cols = c1 - c0;
    word_t* a = scratch<word_t, 10>(rows * p * patch);
    unfold_planes(x, g, p0, p1, a);
    std::int32_t* sums = scratch<std::int32_t, 11>(rows * p * cols * q);
    const word_t* b = w.rows + c0 * q * patch;
#if defined(ONEBIT_X86)
    if (channel_vectors) {
      word_t* panel = scratch<word_t, 14>(kernels::kPanelChannels * patch);
      if (path == SimdPath::avx2) {
        kernels::bconv_gemm_avx2(a, rows * p, patch, b, combine.kb, sums, cols * q, 0, cols * q,
                                 panel);
      } else {
        kernels::bconv_gemm_avx512_vpopcntdq(a, rows * p, patch, b, combine.kb, sums, cols * q,
                                             0, cols * q, panel);
      }
    } else
#endif
    {
      kernel(BgemmProblem{a, b, sums, rows * p, cols * q, patch, combine.kb}, 0, rows * p, 0,
             cols * q);
    }
    std::int32_t* zero_sums = scratch<std::int32_t, 12>(rows * p);
    popcount_rows(kernel, a, rows * p, patch, combine.kb, zero_sums);
    std::int32_t* tile;
    if constexpr (Epilogue::kInPlace) {
      tile = epilogue.out + p0 * g.cout;
    } else {
      tile = scratch<std::int32_t, 13>(rows * g.cout);
    }
    for (std::int64_t r = 0; r < rows; ++r)
      combine.row(sums + r * p * cols * q, cols * q, zero_sums + r * p, w.weighted.data() + c0,
                  cols, tile + r * g.cout + c0);
    if constexpr (!Epilogue::kInPlace) epilogue(tile, g.cout, p0, rows, c0, c1, g.cout);
  };
  if (tasks == 1 || threads <= 1) {
    for (std::int64_t t = 0; t < tasks; ++t) task(t);
  } else {
    parallel_for(tasks, task, static_cast<int>(std::min<std::int64_t>(threads, tasks)));
  }
}

}  // namespace onebit
