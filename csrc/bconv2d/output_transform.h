// Output transforms: int32 accumulators (..., C) -> float32 (..., C) or packed sign bits
// (..., words_for(C)), applied per channel (the last axis).
//
// Layout: rows of C int32 accumulators with a row stride (a whole map, or one tile of a fused
// convolution); float output rows of C floats; bit output rows of words_for(C) words in
// common/bit_format.h's convention (channel c -> bit c % kWordBits of word c / kWordBits, -1 <->
// bit 1, unused high bits 0). A call may cover a column range [c0, c1) with c0 a multiple of
// kWordBits, so a fused convolution can hand each task a block of output channels.
//
// The algebra. A binary layer computes the integer acc = sum_i x_i * w_i (x, w in {-1, +1}).
// Batch norm (eval) and any per-channel affine before it fold into
//     y = gamma * (acc - mu) / sqrt(var + eps) + beta = scale * acc + bias,
//     scale = gamma / sqrt(var + eps),  bias = beta - scale * mu.
// (a) output_float returns y, computed in float32 as float(acc) * scale + bias: two roundings,
//     the product and then the sum, never one fused multiply-add, so the NumPy reference
//     acc.astype(float32) * scale + bias is matched bit for bit.
// (b) A following sign (sign(0) = +1) needs no floats at all. The output is -1 iff y < 0:
//     scale > 0:  y < 0  <=>  acc < -bias / scale  <=>  acc < ceil(-bias / scale) =: threshold
//                 (acc is an integer), flip = 0;
//     scale < 0:  dividing by a negative number turns the inequality around:
//                 y < 0  <=>  acc > -bias / scale  <=>  acc > floor(-bias / scale) =: threshold,
//                 flip = 1;
//     scale = 0:  y = bias, a constant: threshold = INT32_MIN, flip = 0 (never -1) when bias >= 0,
//                 threshold = INT32_MAX, flip = 0 (always -1 for any reachable acc) when bias < 0.
//     So bit(acc) = flip ? acc > threshold : acc < threshold. The kernel turns the flip case into
//     the first form once per channel: acc > t <=> !(acc < t + 1), i.e. threshold t + 1 and the
//     result inverted; t = INT32_MAX (never greater) becomes "acc < INT32_MIN", never true.
//     The converter computes threshold and flip; here they are given.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "bconv2d/output_transform_kernels.h"
#include "common/bit_format.h"
#include "common/cpu_features.h"
#include "float/float_chain_kernels.h"

namespace onebit {

// ---- (a) float: out[r, c] = float(acc[r, c]) * scale[c] + bias[c] ----------------------------

#if defined(__clang__)
#define ONEBIT_NO_FP_CONTRACT _Pragma("clang fp contract(off)")
#else
#define ONEBIT_NO_FP_CONTRACT
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

// Rows [0, rows) and columns [c0, c1) of the float transform.
inline void output_float_rows(const std::int32_t* acc, std::int64_t acc_stride, std::int64_t rows,
                              std::int64_t c0, std::int64_t c1, const float* scale,
                              const float* bias, float* out, std::int64_t out_stride,
                              SimdPath path = default_simd_path()) {
  ONEBIT_NO_FP_CONTRACT
#if defined(ONEBIT_X86)
  if (has_avx2_kernels(path))  // the fused float tail with no steps: the same operations
    return kernels::float_chain_rows_avx2(acc, acc_stride, scale, bias, nullptr, 0, out,
                                          out_stride, rows, c0, c1, 0, 0);
#endif
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int32_t* a = acc + r * acc_stride;
    float* o = out + r * out_stride;
    for (std::int64_t c = c0; c < c1; ++c) {
      const float product = static_cast<float>(a[c]) * scale[c];  // rounded to float32 here
      o[c] = product + bias[c];
    }
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
#undef ONEBIT_NO_FP_CONTRACT

// ---- (b) bits: -1 (bit 1) iff (flip ? acc > threshold : acc < threshold) ------------------------

// Per-channel thresholds in the one-comparison form: bit = (acc < below[c]) ^ invert[c].
struct BitThresholds {
  std::vector<std::int32_t> below;
  std::vector<std::uint8_t> invert;
  std::vector<word_t> invert_words;  // invert packed: bit c % kWordBits of word c / kWordBits
};

inline BitThresholds make_bit_thresholds(const std::int32_t* threshold, const std::uint8_t* flip,
                                         std::int64_t channels) {
  constexpr std::int32_t kMin = std::numeric_limits<std::int32_t>::min();
  constexpr std::int32_t kMax = std::numeric_limits<std::int32_t>::max();
  BitThresholds t;
  t.below.resize(static_cast<std::size_t>(channels));
  t.invert.resize(static_cast<std::size_t>(channels));
  t.invert_words.assign(static_cast<std::size_t>(words_for(channels)), 0);
  for (std::int64_t c = 0; c < channels; ++c) {
    if (!flip[c]) {
      t.below[c] = threshold[c];
      t.invert[c] = 0;
    } else if (threshold[c] == kMax) {  // acc > INT32_MAX never holds
      t.below[c] = kMin;
      t.invert[c] = 0;
    } else {  // acc > t  <=>  !(acc < t + 1)
      t.below[c] = threshold[c] + 1;
      t.invert[c] = 1;
      t.invert_words[c / kWordBits] |= word_t{1} << (c % kWordBits);
    }
  }
  return t;
}

// Eight 0/1 bytes (byte i at bits 8i..8i+7) -> eight bits (bit i): the multiply moves byte i's
// low bit to bit 56 + i without carries between the terms (0x0102040810204080 = sum 2^(56 - 7i)).
inline word_t gather_byte_bits(std::uint64_t bytes) {
  return (bytes * 0x0102040810204080ULL) >> 56;
}

// Rows [0, rows) and channels [c0, c1) (c0 a multiple of kWordBits; c1 a multiple of it or the
// channel count) of the bit transform; out rows hold words_for(C) words, written from word
// c0 / kWordBits.
inline void output_bits_rows(const std::int32_t* acc, std::int64_t acc_stride, std::int64_t rows,
                             std::int64_t c0, std::int64_t c1, const BitThresholds& t,
                             word_t* out, std::int64_t out_stride,
                             SimdPath path = default_simd_path()) {
#if defined(ONEBIT_X86)
  if (has_avx2_kernels(path))
    return kernels::output_bits_rows_avx2(acc, acc_stride, rows, c0, c1, t.below.data(),
                                          t.invert_words.data(), out, out_stride);
#endif
  const std::int32_t* below = t.below.data();
  const std::uint8_t* invert = t.invert.data();
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int32_t* a = acc + r * acc_stride;
    word_t* o = out + r * out_stride + c0 / kWordBits;
    for (std::int64_t base = c0; base < c1; base += kWordBits) {
      const int count = static_cast<int>(c1 - base < kWordBits ? c1 - base : kWordBits);
      alignas(64) std::uint8_t neg[kWordBits] = {};
      for (int i = 0; i < count; ++i)  // vectorizes: compare, narrow, xor
        neg[i] = static_cast<std::uint8_t>(a[base + i] < below[base + i]) ^ invert[base + i];
      word_t bits = 0;
      for (int g = 0; g < kWordBits / 8; ++g) {
        std::uint64_t bytes;
        std::memcpy(&bytes, neg + 8 * g, sizeof(bytes));  // byte i -> bits 8i.. (little-endian)
        bits |= gather_byte_bits(bytes) << (8 * g);
      }
      *o++ = bits;
    }
  }
}

}  // namespace onebit
