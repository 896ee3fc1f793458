// Bit-serial GEMM of k-bit operands on bit planes (src/onebit/runtime/reference_bitserial.py is
// the definition; this equals it bit for bit).
//
// Layout: a k-bit tensor of integer codes is stored as P bit planes, plane i holding bit i of every
// code, each plane packed exactly as a binary value (common/bit_format.h: channel c is bit
// c % kWordBits of word c / kWordBits, unused high bits 0). The plane axis sits just inside the
// row axis: x is (N, P, words), w is (M, Q, words), row-major, so row n of x is P consecutive
// packed rows and x is also an (N * P, words) matrix of packed rows; likewise w is (M * Q, words).
// out is (N, M) int32, row-major.
//
// Values: operand x's integer value is ox + sum_i xw_i * bit_i (offset and plane weights, an
// Encoding), w's is ow + sum_j ww_j * bit_j. Over the `k` real elements of a row pair, with pc a
// popcount over the row's words (Umuroglu & Jahre 2017):
//     sum_e x_e w_e = k ox ow + ox sum_j ww_j pc(w_j) + ow sum_i xw_i pc(x_i)
//                     + sum_ij xw_i ww_j pc(x_i AND w_j).
// The AND popcounts come from bgemm (bgemm/bgemm.h), which computes kb - 2 pc(x_i XOR w_j) for
// every pair of packed rows with the kernel of the chosen SIMD path, through
//     pc(a AND b) = (pc(a) + pc(b) - pc(a XOR b)) / 2
// (exact: pc(a) + pc(b) = pc(a XOR b) + 2 pc(a AND b)); pc(a) itself is the same kernel against a
// zero row. kb is the words' full width, so padding bits are counted as the reference counts them
// (they are 0 in data made by quantize_pack). A forced path (set_simd_path, simd=) is the path of
// every popcount here.
//
// Arithmetic: the terms are combined in uint64, which wraps modulo 2^64 as the reference's int64
// NumPy arithmetic does, and the result is kept modulo 2^32 (the int32 output). The callers refuse
// encodings whose exact sums could pass int32 (accumulator_bound), so for data with zero padding
// bits the output is the exact dot product.
//
// Cost: P * Q binary products per output, so a 2-bit by 2-bit layer costs about 4 binary ones,
// plus one multiply-add per plane pair and output to combine them (BitserialCombination).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "bgemm/bgemm.h"
#include "common/bit_format.h"
#include "common/checked.h"
#include "common/cpu_features.h"
#include "common/threads.h"

namespace onebit {

inline constexpr int kMaxPlanes = 8;  // the most bits an operand may have
inline constexpr std::int64_t kMaxEncodingValue = std::int64_t{1} << 16;  // |offset|, |weight|

// One operand's integer value per element: offset + sum_i weights[i] * bit_i, 1 to kMaxPlanes
// planes, every value within ±kMaxEncodingValue (the callers check).
struct PlaneEncoding {
  std::int64_t offset = 0;
  int planes = 0;
  std::int64_t weights[kMaxPlanes] = {};
};

// The smallest and largest value an operand of this encoding can hold.
inline std::int64_t encoding_low(const PlaneEncoding& e) {
  std::int64_t low = e.offset;
  for (int i = 0; i < e.planes; ++i) low += std::min<std::int64_t>(e.weights[i], 0);
  return low;
}
inline std::int64_t encoding_high(const PlaneEncoding& e) {
  std::int64_t high = e.offset;
  for (int i = 0; i < e.planes; ++i) high += std::max<std::int64_t>(e.weights[i], 0);
  return high;
}

// The largest |sum_e x_e w_e| over k elements of these encodings (reference_bitserial.py's
// accumulator_bound), exact: up to 2^31 * (9 * 2^16)^2.
inline __int128 accumulator_bound(std::int64_t k, const PlaneEncoding& x, const PlaneEncoding& w) {
  const std::int64_t x_max = std::max(std::llabs(encoding_low(x)), std::llabs(encoding_high(x)));
  const std::int64_t w_max = std::max(std::llabs(encoding_low(w)), std::llabs(encoding_high(w)));
  return __int128{k} * x_max * w_max;
}

inline bool fits_int32(const __int128 bound) { return bound <= std::numeric_limits<std::int32_t>::max(); }

// A buffer of `words` zero words, one per thread (kept between calls, as bconv2d's scratch).
inline const word_t* zero_row(std::int64_t words) {
  thread_local std::vector<word_t> zeros;
  if (static_cast<std::int64_t>(zeros.size()) < words) zeros.assign(static_cast<std::size_t>(words), 0);
  return zeros.data();
}

// out[r] = kb - 2 pc(rows[r]) for `n` packed rows of `words` words: the bgemm kernel of the
// caller's path against a zero row (so the popcounts run on that path's instructions too).
inline void popcount_rows(kernels::BgemmKernel kernel, const word_t* rows, std::int64_t n,
                          std::int64_t words, std::int64_t kb, std::int32_t* out) {
  if (n > 0) kernel(BgemmProblem{rows, zero_row(words), out, n, 1, words, kb}, 0, n, 0, 1);
}

// The k bgemm is given for rows of `words` words: their full width (so its output is exact for
// any bits), refused beyond int32 (bgemm's accumulators).
inline std::int64_t bitserial_bgemm_k(std::int64_t words) {
  return checked_mul(words, kWordBits, "a plane row's bits (words x 64)",
                     std::numeric_limits<std::int32_t>::max());
}

// What the combination needs of the weights, computed once per weight tensor: the (M * Q, words)
// plane rows and, per output channel o, sum_j ww_j pc(w_oj) (wrapping).
struct BitserialWeights {
  const word_t* rows = nullptr;
  std::int64_t m = 0, q = 0, words = 0;
  std::vector<std::uint64_t> weighted;  // (m)
};

inline BitserialWeights prepare_bitserial_weights(const word_t* w, std::int64_t m, std::int64_t q,
                                                  std::int64_t words, const PlaneEncoding& we,
                                                  SimdPath path) {
  BitserialWeights out;
  out.rows = w, out.m = m, out.q = q, out.words = words;
  out.weighted.resize(static_cast<std::size_t>(m));
  const std::int64_t kb = bitserial_bgemm_k(words);
  std::vector<std::int32_t> sums(static_cast<std::size_t>(m * q));
  popcount_rows(bgemm_kernel(path), w, m * q, words, kb, sums.data());
  for (std::int64_t o = 0; o < m; ++o) {
    std::uint64_t sum = 0;
    for (std::int64_t j = 0; j < q; ++j) {
      const std::int64_t count = (kb - sums[static_cast<std::size_t>(o * q + j)]) / 2;
      sum += static_cast<std::uint64_t>(we.weights[j]) * static_cast<std::uint64_t>(count);
    }
    out.weighted[static_cast<std::size_t>(o)] = sum;
  }
  return out;
}

// The combination of one layer. With s_ij = kb - 2 pc(x_i XOR w_j) (bgemm's output) and
// z_i = kb - 2 pc(x_i) (the x row against a zero row), 4 pc(x_i AND w_j) =
// 2 pc(x_i) + 2 pc(w_j) - kb + s_ij, so over one output
//     sum_ij xw_i ww_j pc(x_i AND w_j)
//       = (-(sum_i xw_i z_i) * sum_j ww_j + 2 (sum_i xw_i) W + sum_ij xw_i ww_j s_ij) / 4,
// W = sum_j ww_j pc(w_j) (BitserialWeights::weighted): one multiply-add per plane pair. The
// numerator is a multiple of 4, so its uint64 value (modulo 2^64) shifted right by 2 is the
// quotient modulo 2^62, which is all the int32 output keeps.
struct BitserialCombination {
  std::uint64_t constant = 0, x_offset = 0, w_offset = 0, x_sum = 0, w_sum = 0;
  int p = 0, q = 0;
  std::int64_t x_weights[kMaxPlanes] = {};
  std::uint64_t pair_weights[kMaxPlanes][kMaxPlanes] = {};
  std::int64_t kb = 0;  // the k bgemm was given

  BitserialCombination(std::int64_t k, const PlaneEncoding& x, const PlaneEncoding& w,
                       std::int64_t bgemm_k)
      : p(x.planes), q(w.planes), kb(bgemm_k) {
    x_offset = static_cast<std::uint64_t>(x.offset);
    w_offset = static_cast<std::uint64_t>(w.offset);
    constant = static_cast<std::uint64_t>(k) * x_offset * w_offset;
    for (int j = 0; j < q; ++j) w_sum += static_cast<std::uint64_t>(w.weights[j]);
    for (int i = 0; i < p; ++i) {
      x_weights[i] = x.weights[i];
      x_sum += static_cast<std::uint64_t>(x.weights[i]);
      for (int j = 0; j < q; ++j)
        pair_weights[i][j] = static_cast<std::uint64_t>(x.weights[i] * w.weights[j]);
    }
  }

  // Output channels [0, cols) of one output row. sums: bgemm's output for the row's P plane rows
  // (row i at sums + i * lds, column o * Q + j for channel o, plane j); zero_sums: z_i of the
  // row's planes; w_weighted: BitserialWeights::weighted of the same channels.
  void row(const std::int32_t* sums, std::int64_t lds, const std::int32_t* zero_sums,
           const std::uint64_t* w_weighted, std::int64_t cols, std::int32_t* out) const {
    switch (q) {  // the weight's plane count as a constant: its loop unrolls
      case 1: return row_q<1>(sums, lds, zero_sums, w_weighted, cols, out);
      case 2: return row_q<2>(sums, lds, zero_sums, w_weighted, cols, out);
      case 3: return row_q<3>(sums, lds, zero_sums, w_weighted, cols, out);
      case 4: return row_q<4>(sums, lds, zero_sums, w_weighted, cols, out);
      case 5: return row_q<5>(sums, lds, zero_sums, w_weighted, cols, out);
      case 6: return row_q<6>(sums, lds, zero_sums, w_weighted, cols, out);
      case 7: return row_q<7>(sums, lds, zero_sums, w_weighted, cols, out);
      default: return row_q<8>(sums, lds, zero_sums, w_weighted, cols, out);
    }
  }

 private:
  template <int Q>
  void row_q(const std::int32_t* sums, std::int64_t lds, const std::int32_t* zero_sums,
             const std::uint64_t* w_weighted, std::int64_t cols, std::int32_t* out) const {
    std::int64_t weighted_zero = 0;  // sum_i xw_i z_i, exact: below 8 * 2^16 * 2^31
    for (int i = 0; i < p; ++i) weighted_zero += x_weights[i] * zero_sums[i];
    // sum_i xw_i pc(x_i) = (kb * sum_i xw_i - sum_i xw_i z_i) / 2, exact in int64
    const std::int64_t x_counts =
        (kb * static_cast<std::int64_t>(x_sum) - weighted_zero) / 2;
    const std::uint64_t base = constant + w_offset * static_cast<std::uint64_t>(x_counts);
    const std::uint64_t rest = (0 - static_cast<std::uint64_t>(weighted_zero)) * w_sum;
    const std::uint64_t twice_x_sum = 2 * x_sum;
    for (std::int64_t o = 0; o < cols; ++o) {
      std::uint64_t numerator = rest + twice_x_sum * w_weighted[o];
      for (int i = 0; i < p; ++i) {
        const std::int32_t* s = sums + i * lds + o * Q;
        for (int j = 0; j < Q; ++j)
          numerator += pair_weights[i][j] * static_cast<std::uint64_t>(std::int64_t{s[j]});
      }
      const std::uint64_t acc = base + x_offset * w_weighted[o] + (numerator >> 2);
      out[o] = static_cast<std::int32_t>(static_cast<std::uint32_t>(acc));  // modulo 2^32
    }
  }
};

// Output rows per block of bitserial_gemm: bounds the int32 plane sums it holds (4 MiB).
inline constexpr std::int64_t kBitserialSumsPerBlock = std::int64_t{1} << 20;

// out (n, w.m) = the k-element dot products of x (n, xe.planes, w.words) with w, on up to `threads`
// threads with the bgemm kernel of `path`. The caller has checked the shapes, the encodings and
// 0 < k <= 64 * words; sizes are checked here.
inline void bitserial_gemm(const word_t* x, std::int64_t n, const BitserialWeights& w,
                           std::int64_t k, const PlaneEncoding& xe, const PlaneEncoding& we,
                           std::int32_t* out, SimdPath path, int threads) {
  checked_extent(n, "n");
  checked_extent(w.m, "m");
  checked_extent(w.words, "words");
  if (n == 0 || w.m == 0) return;
  const std::int64_t p = xe.planes, q = we.planes, words = w.words, cols = w.m * q;
  const BitserialCombination combine(k, xe, we, bitserial_bgemm_k(words));
  const std::int64_t block = std::max<std::int64_t>(1, kBitserialSumsPerBlock / (p * cols));
  const std::int64_t rows = std::min(n, block);
  std::vector<std::int32_t> sums(static_cast<std::size_t>(
      checked_buffer_elements({rows, p, cols}, sizeof(std::int32_t), "the plane sums")));
  std::vector<std::int32_t> zero_sums(static_cast<std::size_t>(rows * p));
  for (std::int64_t n0 = 0; n0 < n; n0 += block) {
    const std::int64_t n1 = std::min(n, n0 + block);
    const word_t* a = x + n0 * p * words;
    bgemm(BgemmProblem{a, w.rows, sums.data(), (n1 - n0) * p, cols, words, combine.kb}, path,
          threads);
    bgemm(BgemmProblem{a, zero_row(words), zero_sums.data(), (n1 - n0) * p, 1, words, combine.kb},
          path, 1);
    for_row_chunks(n1 - n0, cols * p, threads, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r)
        combine.row(sums.data() + r * p * cols, cols, zero_sums.data() + r * p,
                    w.weighted.data(), w.m, out + (n0 + r) * w.m);
    });
  }
}

}  // namespace onebit
