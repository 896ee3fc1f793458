// Binary 2-D convolution (cross-correlation, like torch's conv2d) on packed NHWC words.
//
// Layout: x is (N, H, W, words) with words = words_for(cin) per pixel (common/bit_format.h's bit
// convention, unused high bits 0); w is (Cout, KH, KW, words_for(cin / groups)); the result is
// (N, Ho, Wo, Cout) in NHWC, as int32 accumulators or through an output transform
// (output_transform.h) applied per tile.
//
// Algorithm: im2col on packed words, then bgemm. Output pixel p = (n, oh, ow) is row p of a
// (N * Ho * Wo, KH * KW * words) matrix whose row is the KH x KW window of pixels, each pixel's
// words in place; a weight row (Cout, KH * KW * words) has the same order, so bgemm's row-major
// (pixels, Cout) output IS the NHWC map. The unused high bits of every pixel's last word are 0 in
// both operands and cancel in the XOR, so k = KH * KW * cin. A 1x1 stride-1 unpadded convolution
// skips im2col: the input is the matrix.
//
// Dilation (dh, dw): tap (i, j) reads input pixel (oh * sh - ph + i * dh, ow * sw - pw + j * dw);
// im2col gathers those taps (common/im2col.h), so the GEMM is unchanged.
//
// Groups G > 1: output channel o reads the cin / G input channels of its group o / (Cout / G).
// Each task (a tile of output pixels) runs im2col once over all channels, then per group cuts
// that group's channels out of every tap, re-packed from bit 0 as the weights hold them
// (channel_slice.h), and runs the GEMM of the group's Cout / G weight rows into its columns of the
// tile (row stride Cout); it then corrects zero padding and hands the whole tile (all Cout
// channels) to the epilogue. groups == 1 takes the path above, untouched.
//
// Padding: a padded pixel is all-zero words, i.e. +1 ("one-padding", pad_value = 1), which is
// purely binary; zero padding (pad_value = 0) is a correction of the one-padded result
// (zero_padding.h).
//
// GEMM kernel: on the "avx512_vpopcntdq" and "avx2" paths, a kernel vectorized along the output
// channels (bconv2d_avx512.cpp, bgemm_avx2.cpp; each task packs weight panels into its own buffer,
// see bconv2d_avx512.cpp for why); on the other paths (aarch64's "neon" included), bgemm's kernel
// of that path. On "avx2", a patch of at most kShortKWords words (a 1x1 convolution over up to 512
// channels), or of 9 words with few outputs (takes_short_k), takes a kernel for short K instead
// (bconv2d_short_k_avx2.cpp), its weights packed once per call for all tasks.
//
// Work split: tasks are tiles of output pixels x blocks of output channels (whole words, so the
// bit transform writes whole words). A task builds its im2col rows in a thread-local buffer (L1 /
// L2 sized), runs the bgemm kernel of the chosen SIMD path on them, corrects zero padding, then
// hands the int32 tile to the epilogue: the int32 map is written in place; the float and bit
// transforms read a thread-local tile, so the int32 map is never materialized.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "bconv2d/channel_slice.h"
#include "bconv2d/conv2d_geometry.h"
#include "bconv2d/output_transform.h"
#include "bconv2d/zero_padding.h"
#include "bgemm/bgemm.h"
#include "common/bit_format.h"
#include "common/checked.h"
#include "common/im2col.h"
#include "common/threads.h"
#include "common/window.h"
#include "float/float_chain.h"

namespace onebit {

#if defined(ONEBIT_X86)
namespace kernels {
// bconv2d_avx512.cpp: out[i * ldo + c] = k - 2 * sum_w popcount(a[i * words + w] ^ b[c * words + w])
// for i in [0, m), c in [c0, c1) (c0 a multiple of 8); panel: kPanelChannels * words scratch words.
inline constexpr std::int64_t kPanelChannels = 32;
void bconv_gemm_avx512_vpopcntdq(const word_t* a, std::int64_t m, std::int64_t words,
                                 const word_t* b, std::int64_t k, std::int32_t* out,
                                 std::int64_t ldo, std::int64_t c0, std::int64_t c1,
                                 word_t* panel);
// bgemm_avx2.cpp: the same product with AVX2 (panel: words * 32 scratch words, as above).
void bconv_gemm_avx2(const word_t* a, std::int64_t m, std::int64_t words, const word_t* b,
                     std::int64_t k, std::int32_t* out, std::int64_t ldo, std::int64_t c0,
                     std::int64_t c1, word_t* panel);
// bconv2d_short_k_avx2.cpp: the same product for words <= kShortKMaxWords, against weights
// packed once by pack_short_k_avx2 (w: (cout, words) rows; panel: short_k_panel_words words).
inline constexpr std::int64_t kShortKMaxWords = 15;
std::int64_t short_k_panel_words(std::int64_t cout, std::int64_t words);
void pack_short_k_avx2(const word_t* w, std::int64_t cout, std::int64_t words, word_t* panel);
void bconv_short_k_avx2(const word_t* a, std::int64_t m, std::int64_t words, const word_t* panel,
                        std::int64_t k, std::int32_t* out, std::int64_t ldo, std::int64_t c0,
                        std::int64_t c1);
}  // namespace kernels
#endif

// im2col rows of the output pixels [p0, p1) into dst ((p1 - p0) x patch_words): common/im2col.h
// over the packed words (g.words per pixel), padded pixels all-zero words (+1, one-padding).
inline void im2col_rows(const word_t* x, const Conv2dGeometry& g, std::int64_t p0, std::int64_t p1,
                        word_t* dst) {
  const Im2colShape shape{g.h, g.w, g.words, g.kh, g.kw, g.sh, g.sw,
                          g.ph, g.pw, g.ho(), g.wo(), g.dh, g.dw};
  im2col_pixels<word_t>(x, shape, 0, p0, p1, dst);
}

// Epilogues: what a task does with its int32 tile (rows = pixels [p0, p1), channels [c0, c1)).
// Int32Output writes the map directly (the tile IS the output); the others transform it.
struct Int32Output {
  std::int32_t* out;  // (pixels, Cout)
  static constexpr bool kInPlace = true;
};

struct FloatOutput {
  const float* scale;
  const float* bias;
  float* out;                                    // (pixels, Cout)
  const std::vector<ChainStep>* post = nullptr;  // steps after the affine (float_chain.h)
  SimdPath path = default_simd_path();           // of the transform and the steps
  static constexpr bool kInPlace = false;
  void operator()(const std::int32_t* tile, std::int64_t stride, std::int64_t p0, std::int64_t rows,
                  std::int64_t c0, std::int64_t c1, std::int64_t cout) const {
#if defined(ONEBIT_X86)
    if (has_avx2_kernels(path)) {  // the transform and the steps in one pass
      const std::int64_t n_steps = post == nullptr ? 0 : static_cast<std::int64_t>(post->size());
      kernels::float_chain_rows_avx2(tile, stride, scale, bias, n_steps ? post->data() : nullptr,
                                     n_steps, out + p0 * cout, cout, rows, c0, c1, p0, cout);
      return;
    }
#endif
    output_float_rows(tile, stride, rows, c0, c1, scale, bias, out + p0 * cout, cout, path);
    if (post != nullptr)
      apply_chain_rows(*post, cout, out + p0 * cout, cout, p0, rows, c0, c1, path);
  }
};

struct BitsOutput {
  const BitThresholds* thresholds;
  word_t* out;                          // (pixels, words_for(Cout))
  SimdPath path = default_simd_path();  // of the transform
  static constexpr bool kInPlace = false;
  void operator()(const std::int32_t* tile, std::int64_t stride, std::int64_t p0, std::int64_t rows,
                  std::int64_t c0, std::int64_t c1, std::int64_t cout) const {
    const std::int64_t out_words = words_for(cout);
    output_bits_rows(tile, stride, rows, c0, c1, *thresholds, out + p0 * out_words, out_words,
                     path);
  }
};

// A thread-local scratch buffer that keeps its memory between calls (the pool's threads persist).
template <typename T, int Slot>
T* scratch(std::int64_t count) {
  thread_local std::vector<T> buffer;
  if (static_cast<std::int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
  return buffer.data();
}

// Im2col rows per task: about kTileBytes of patch words, a multiple of the kernels' row tiles.
inline constexpr std::int64_t kTileBytes = 48 * 1024;
// A multiple of every path's rows per tile (6, 3, 2).
inline constexpr std::int64_t kRowQuantum = 12;
// Word pairs (pixels x Cout x patch words) per thread below which a conv stays on one thread:
// about 10 us of the AVX-512 kernel (~6 word pairs per ns). A pool worker still spinning after
// the previous layer joins within a microsecond, and one that is asleep is not waited for
// (common/threads.h), so the split pays off well below the cost of a wake-up.
inline constexpr std::int64_t kMinWordPairsPerConvThread = std::int64_t{1} << 16;

struct ConvSplit {
  std::int64_t rows_per_tile = 0, col_blocks = 1;
};

// About how long the slowest of `threads` threads works on row tiles of `rows_per_tile` pixels x
// `col_blocks` blocks of channel words: the rounds of tasks times the largest task, a task costing
// rows x (words + 1) (the +1: im2col and epilogue work that each channel block of a tile repeats).
inline std::int64_t split_makespan(std::int64_t pixels, std::int64_t word_blocks,
                                   std::int64_t rows_per_tile, std::int64_t col_blocks,
                                   int threads) {
  const std::int64_t tiles = (pixels + rows_per_tile - 1) / rows_per_tile;
  const std::int64_t rounds = (tiles * col_blocks + threads - 1) / threads;
  const std::int64_t largest = std::min(rows_per_tile, pixels) *
                               ((word_blocks + col_blocks - 1) / col_blocks + 1);
  return rounds * largest;
}

// Tiles of at most `cap` rows (a multiple of kRowQuantum), split further, by rows or by channel
// words, until `threads` threads get about equal work. A 7x7 map (49 pixels) on 2 threads, say,
// splits its channels: its rows would split 36 + 13.
inline ConvSplit split_conv(std::int64_t pixels, std::int64_t word_blocks, std::int64_t cap,
                            int threads) {
  if (threads <= 1) return {cap, 1};
  const std::int64_t quanta = (pixels + kRowQuantum - 1) / kRowQuantum;
  ConvSplit best{cap, 1};
  std::int64_t best_time = split_makespan(pixels, word_blocks, cap, 1, threads);
  for (std::int64_t col_blocks = 1; col_blocks <= std::min<std::int64_t>(word_blocks, threads);
       ++col_blocks) {
    const std::int64_t fewest =
        std::max((threads + col_blocks - 1) / col_blocks, (pixels + cap - 1) / cap);
    for (std::int64_t tiles = fewest; tiles <= std::min(quanta, fewest + threads); ++tiles) {
      const std::int64_t rows =
          ((pixels + tiles - 1) / tiles + kRowQuantum - 1) / kRowQuantum * kRowQuantum;
      if (rows > cap) continue;
      const std::int64_t time = split_makespan(pixels, word_blocks, rows, col_blocks, threads);
      if (time < best_time) best = {rows, col_blocks}, best_time = time;
    }
  }
  return best;
}

// Checks g's sizes (common/checked.h): every extent, the output sides, the int32 accumulator range,
// the output and an im2col tile within the buffer limit; SizeError names the first that is not.
inline void check_conv2d_geometry(const Conv2dGeometry& g) {
  checked_extent(g.n, "batch");
  checked_extent(g.h, "height");
  checked_extent(g.w, "width");
  checked_extent(g.cin, "cin");
  checked_extent(g.cout, "cout");
  checked_extent(g.kh, "kernel height");
  checked_extent(g.kw, "kernel width");
  checked_extent(g.ph, "padding");
  checked_extent(g.pw, "padding");
  checked_extent(g.sh, "stride");
  checked_extent(g.sw, "stride");
  checked_extent(g.dh, "dilation");
  checked_extent(g.dw, "dilation");
  checked_extent(g.groups, "groups");
  if (g.cin < 1 || g.words != words_for(g.cin))
    throw SizeError("cin=" + std::to_string(g.cin) + " needs " + std::to_string(words_for(g.cin)) +
                    " words per pixel, got " + std::to_string(g.words));
  if (g.dh < 1 || g.dw < 1)
    throw SizeError("dilation must be >= 1, got (" + std::to_string(g.dh) + ", " +
                    std::to_string(g.dw) + ")");
  if (g.groups < 1 || g.cin % g.groups != 0 || g.cout % g.groups != 0)
    throw SizeError("groups=" + std::to_string(g.groups) + " must divide both cin=" +
                    std::to_string(g.cin) + " and cout=" + std::to_string(g.cout));
  // the spans (kernel - 1) * dilation + 1 are below 2^62: every factor is within kMaxExtent
  const std::int64_t ho = checked_window_side(g.h, g.ph, g.ph, g.span_h(), g.sh, "height");
  const std::int64_t wo = checked_window_side(g.w, g.pw, g.pw, g.span_w(), g.sw, "width");
  checked_buffer_elements({g.n, ho, wo, g.cout}, sizeof(float), "the output");
  checked_mul(checked_mul(g.kh, g.kw, "kernel area"), g.group_cin(), "kernel area x cin / groups",
              std::numeric_limits<std::int32_t>::max());
  checked_buffer_elements({kRowQuantum, g.kh, g.kw, g.words}, sizeof(word_t), "an im2col tile");
}

#if defined(ONEBIT_X86)
// Patch words up to which the "avx2" path takes the short-K kernel (bconv2d_short_k_avx2.cpp) for
// any Cout; and up to which it takes it while its packed weights fit kShortKPanelBytes, i.e. stay in
// L1 (9 words, a 3x3 convolution over 33 to 64 channels, up to 168 outputs).
// Measured at a 3x3 convolution over 64 channels at 128x128 / 64x64, one thread, an AVX2 Zen: the
// short-K kernel 10-15% faster for 32 to 128 outputs, 5% slower for 256 (a 36 KiB panel).
inline constexpr std::int64_t kShortKWords = 8;
inline constexpr std::int64_t kShortKInL1Words = 9;
inline constexpr std::int64_t kShortKPanelBytes = 24 * 1024;

// Whether the "avx2" path takes the short-K kernel for a patch of `patch` words and `cout` outputs.
inline bool takes_short_k(std::int64_t cout, std::int64_t patch) {
  static_assert(kShortKWords <= kShortKInL1Words && kShortKInL1Words <= kernels::kShortKMaxWords);
  if (patch <= kShortKWords) return true;
  return patch <= kShortKInL1Words &&
         kernels::short_k_panel_words(cout, patch) * static_cast<std::int64_t>(sizeof(word_t)) <=
             kShortKPanelBytes;
}
#endif

// The weights (cout, patch) packed for the short-K kernel when `path` takes it, else empty.
inline std::vector<word_t> short_k_weights(const word_t* w, std::int64_t cout, std::int64_t patch,
                                           SimdPath path) {
  std::vector<word_t> panel;
#if defined(ONEBIT_X86)
  if (path == SimdPath::avx2 && takes_short_k(cout, patch)) {
    panel.resize(static_cast<std::size_t>(kernels::short_k_panel_words(cout, patch)));
    kernels::pack_short_k_avx2(w, cout, patch, panel.data());
  }
#else
  (void)w, (void)cout, (void)patch, (void)path;
#endif
  return panel;
}

// The GEMM of a task: rows [0, m) of `a` (patch words each) times the weight rows [c0, c1) of w
// into tile (row stride ldo), on the kernel of `path` (see the header note), or on the short-K
// kernel with `short_k`, the same weights packed by short_k_weights, when that is not empty.
inline void bconv_gemm(const word_t* a, std::int64_t m, std::int64_t patch, const word_t* w,
                       std::int64_t k, std::int32_t* tile, std::int64_t ldo, std::int64_t c0,
                       std::int64_t c1, SimdPath path, kernels::BgemmKernel kernel,
                       const std::vector<word_t>& short_k = {}) {
#if defined(ONEBIT_X86)
  if (!short_k.empty()) {
    kernels::bconv_short_k_avx2(a, m, patch, short_k.data(), k, tile, ldo, c0, c1);
    return;
  }
  if (path == SimdPath::avx512_vpopcntdq || path == SimdPath::avx2) {
    word_t* panel = scratch<word_t, 2>(kernels::kPanelChannels * patch);
    if (path == SimdPath::avx2) {
      kernels::bconv_gemm_avx2(a, m, patch, w, k, tile, ldo, c0, c1, panel);
    } else {
      kernels::bconv_gemm_avx512_vpopcntdq(a, m, patch, w, k, tile, ldo, c0, c1, panel);
    }
    return;
  }
#else
  (void)short_k;
#endif
  // bgemm's kernels write rows of problem.n: the tile's row stride is the output's Cout
  const BgemmProblem problem{a, w, tile, m, ldo, patch, k};
  kernel(problem, 0, m, c0, c1);
}

// A grouped convolution (g.groups > 1, checked): tiles of output pixels, each with one im2col of
// the whole input (all groups' channels), then per group its channels cut out of every tap
// (channel_slice.h) and the GEMM of its weight rows into its columns of the tile; the zero-padding
// correction and the epilogue then see the whole tile.
template <typename Epilogue>
void bconv2d_grouped(const word_t* x, const word_t* w, const Conv2dGeometry& g, SimdPath path,
                     int threads, const Epilogue& epilogue) {
  const std::int64_t pixels = g.pixels(), taps = g.kh * g.kw;
  const std::int64_t group_cin = g.group_cin(), group_cout = g.group_cout();
  const std::int64_t patch = g.patch_words(), full_patch = taps * g.words;
  const kernels::BgemmKernel kernel = bgemm_kernel(path);
  const std::int64_t work = saturating_mul(saturating_mul(pixels, g.cout), patch);
  threads = static_cast<int>(std::min<std::int64_t>(
      threads, std::max<std::int64_t>(1, work / kMinWordPairsPerConvThread)));
  Conv2dGeometry whole = g;  // the im2col of every channel
  whole.groups = 1;
  std::vector<std::int32_t> tap_sums;
  if (g.zero_padding && (g.ph > 0 || g.pw > 0)) tap_sums = weight_tap_sums(w, g);

  const std::int64_t tile_rows = kTileBytes / (full_patch * std::int64_t{sizeof(word_t)});
  const std::int64_t cap = std::max(kRowQuantum, tile_rows / kRowQuantum * kRowQuantum);
  const std::int64_t even = ((pixels + threads - 1) / threads + kRowQuantum - 1) / kRowQuantum *
                            kRowQuantum;  // rows that give every thread a tile
  const std::int64_t rows_per_tile = std::min(cap, even);
  const std::int64_t tasks = (pixels + rows_per_tile - 1) / rows_per_tile;
  auto task = [&](std::int64_t t) {
    const std::int64_t p0 = t * rows_per_tile, p1 = std::min(pixels, p0 + rows_per_tile);
    const std::int64_t rows = p1 - p0;
    const word_t* cols;  // (rows * taps, words): every tap of every row
    if (whole.direct()) {
      cols = x + p0 * g.words;
    } else {
      word_t* buffer = scratch<word_t, 0>(rows * full_patch);
      im2col_rows(x, whole, p0, p1, buffer);
      cols = buffer;
    }
    std::int32_t* tile;
    if constexpr (Epilogue::kInPlace) {
      tile = epilogue.out + p0 * g.cout;
    } else {
      tile = scratch<std::int32_t, 1>(rows * g.cout);
    }
    word_t* a = scratch<word_t, 3>(rows * patch);  // (rows, taps * weight words): one group's
    for (std::int64_t gi = 0; gi < g.groups; ++gi) {
      slice_channels(cols, g.words, gi * group_cin, group_cin, 0, rows * taps, a);
      // the group's weight rows and output columns as channels [0, Cout / G) (the AVX kernels
      // want a first channel that is a multiple of 8)
      bconv_gemm(a, rows, patch, w + gi * group_cout * patch, g.k(), tile + gi * group_cout,
                 g.cout, 0, group_cout, path, kernel);
    }
    if (!tap_sums.empty())
      subtract_padded_taps(g, tap_sums.data(), p0, p1, 0, g.cout, tile, g.cout);
    if constexpr (!Epilogue::kInPlace) epilogue(tile, g.cout, p0, rows, 0, g.cout, g.cout);
  };
  if (tasks == 1 || threads <= 1) {
    for (std::int64_t t = 0; t < tasks; ++t) task(t);
  } else {
    parallel_for(tasks, task, static_cast<int>(std::min<std::int64_t>(threads, tasks)));
  }
}

// The convolution into `epilogue` on up to `threads` threads (threads >= 1) with the bgemm kernel
// of `path`. The sizes are checked here (check_conv2d_geometry); the arrays' shapes must match g
// (bindings/python_module.cpp checks them).
template <typename Epilogue>
void bconv2d(const word_t* x, const word_t* w, const Conv2dGeometry& g, SimdPath path, int threads,
             const Epilogue& epilogue) {
  check_conv2d_geometry(g);
  const std::int64_t pixels = g.pixels();
  if (pixels == 0 || g.cout == 0) return;
  if (g.groups > 1) return bconv2d_grouped(x, w, g, path, threads, epilogue);
  const kernels::BgemmKernel kernel = bgemm_kernel(path);
  const std::int64_t patch = g.patch_words();
  const std::int64_t work = saturating_mul(saturating_mul(pixels, g.cout), patch);
  threads = static_cast<int>(
      std::min<std::int64_t>(threads, std::max<std::int64_t>(1, work / kMinWordPairsPerConvThread)));
  std::vector<std::int32_t> tap_sums;
  if (g.zero_padding && (g.ph > 0 || g.pw > 0)) tap_sums = weight_tap_sums(w, g);
  const std::vector<word_t> short_k = short_k_weights(w, g.cout, patch, path);

  const std::int64_t cap = std::max(kRowQuantum, kTileBytes / (patch * std::int64_t{sizeof(word_t)}) /
                                                     kRowQuantum * kRowQuantum);
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
    const std::int64_t rows = p1 - p0;

    const word_t* a;
    if (g.direct()) {
      a = x + p0 * g.words;
    } else {
      word_t* cols = scratch<word_t, 0>(rows * patch);
      im2col_rows(x, g, p0, p1, cols);
      a = cols;
    }
    std::int32_t* tile;
    std::int64_t stride = g.cout;
    if constexpr (Epilogue::kInPlace) {
      tile = epilogue.out + p0 * g.cout;
    } else {
      tile = scratch<std::int32_t, 1>(rows * g.cout);
    }
    bconv_gemm(a, rows, patch, w, g.k(), tile, stride, c0, c1, path, kernel, short_k);
    if (!tap_sums.empty()) subtract_padded_taps(g, tap_sums.data(), p0, p1, c0, c1, tile, stride);
    if constexpr (!Epilogue::kInPlace) epilogue(tile, stride, p0, rows, c0, c1, g.cout);
  };
  if (tasks == 1 || threads <= 1) {
    for (std::int64_t t = 0; t < tasks; ++t) task(t);
  } else {
    parallel_for(tasks, task, static_cast<int>(std::min<std::int64_t>(threads, tasks)));
  }
}

}  // namespace onebit
