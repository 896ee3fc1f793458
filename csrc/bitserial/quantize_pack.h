// Float -> the bit planes of k-bit codes (reference_bitserial.py's quantize_pack, bit for bit):
//     code = clamp(round(x * multiplier) + zero_point, 0, 2^bits - 1),   NaN -> code 0,
// with x * multiplier a float32 product and round half to even (torch.round, np.rint).
//
// Layout: x is rows of C float32 channels (the last axis); the output holds, for each of `samples`
// samples of `rows` rows, `bits` planes of those rows, each plane packed as a binary value
// (common/bit_format.h: channel c is bit c % kWordBits of word c / kWordBits, unused high bits 0):
// (samples, bits, rows, words_for(C)) words. One sample gives the reference's (bits, ..., words);
// the executor's per-sample planes (N, bits, ..., words) are `samples` = N.
//
// Rounding: for |v| <= 2^11, (v + 1.5 * 2^23) - 1.5 * 2^23 in float32 is v rounded to an integer
// under the default rounding mode (round half to even): the sum lies in [2^23, 2^24), where
// float32's spacing is 1. Products beyond ±2^11 are clamped to ±2^11 first: with |zero_point| <=
// 2^8 every such code is 0 or 2^bits - 1 either way, and so is infinity; NaN is sent to -2^11 (code
// 0). The compiler must not fuse or reassociate this arithmetic: fp-contract is off here and
// nothing is built with -ffast-math.
//
// Packing: the codes of 8 channels are 8 bytes of a word; bit i of each byte is gathered into one
// byte by ((v >> i) & 0x0101...01) * 0x0102040810204080 >> 56 (the eight products land on bits 56
// to 63 and no two terms share a bit, so nothing carries into them).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "bitserial/bitserial.h"
#include "common/bit_format.h"
#include "common/threads.h"

namespace onebit {

struct QuantizeParams {
  int bits = 1;            // 1 to kMaxPlanes
  float multiplier = 1.0f;
  int zero_point = 0;      // within ±2^bits
};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

// codes[c] for x[0, count), count <= kWordBits; the codes past count are 0.
inline void quantize_codes(const float* x, std::int64_t count, const QuantizeParams& q,
                           std::uint8_t* codes) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  constexpr float kLimit = 2048.0f, kMagic = 12582912.0f;  // 2^11, 1.5 * 2^23
  const int top = (1 << q.bits) - 1;
  for (std::int64_t c = 0; c < count; ++c) {
    float v = x[c] * q.multiplier;
    v = v >= -kLimit ? v : -kLimit;  // NaN too
    v = v <= kLimit ? v : kLimit;
    const float rounded = (v + kMagic) - kMagic;
    const int code = static_cast<int>(rounded) + q.zero_point;
    codes[c] = static_cast<std::uint8_t>(std::min(std::max(code, 0), top));
  }
  for (std::int64_t c = count; c < kWordBits; ++c) codes[c] = 0;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

// One row of `channels` floats -> `bits` planes of words_for(channels) words, plane i at
// out + i * plane_stride.
inline void quantize_pack_row(const float* x, std::int64_t channels, const QuantizeParams& q,
                              word_t* out, std::int64_t plane_stride) {
  constexpr std::uint64_t kLowBits = 0x0101010101010101ULL, kGather = 0x0102040810204080ULL;
  alignas(8) std::uint8_t codes[kWordBits];
  const std::int64_t words = words_for(channels);
  for (std::int64_t w = 0; w < words; ++w) {
    quantize_codes(x + w * kWordBits, std::min<std::int64_t>(kWordBits, channels - w * kWordBits),
                   q, codes);
    std::uint64_t groups[kWordBits / 8];
    std::memcpy(groups, codes, sizeof(groups));  // little-endian: channel 8g + b is byte b
    for (int i = 0; i < q.bits; ++i) {
      word_t word = 0;
      for (int g = 0; g < kWordBits / 8; ++g)
        word |= (((groups[g] >> i) & kLowBits) * kGather >> 56) << (8 * g);
      out[i * plane_stride + w] = word;
    }
  }
}

// x: `samples` x `rows` rows of `channels` floats -> out (samples, bits, rows, words_for(channels))
// on up to `threads` threads.
inline void quantize_pack(const float* x, std::int64_t samples, std::int64_t rows,
                          std::int64_t channels, const QuantizeParams& q, word_t* out,
                          int threads) {
  const std::int64_t words = words_for(channels), plane = rows * words;
  if (samples == 0 || rows == 0 || channels == 0) return;
  for_row_chunks(samples * rows, channels * q.bits, threads, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const std::int64_t sample = r / rows, row = r % rows;
      quantize_pack_row(x + r * channels, channels, q,
                        out + sample * q.bits * plane + row * words, plane);
    }
  });
}

}  // namespace onebit
