// A run of channels cut out of packed rows: one group's channels of each im2col tap of a grouped
// binary convolution (bconv2d.h).
//
// Layout: x holds rows of `words` words (common/bit_format.h: channel c is bit c % kWordBits of
// word c / kWordBits); the slice of channels [first, first + count) of each row is written as a
// row of words_for(count) words re-based at bit 0, its unused high bits 0, as bitpack would pack
// those channels alone. A slice that starts inside a word takes each output word from two input
// words (a funnel shift); one that starts on a word boundary copies.
#pragma once

#include <cstdint>
#include <cstring>

#include "common/bit_format.h"

namespace onebit {

// Rows [r0, r1) of x (`words` words each) -> dst (row r at dst + (r - r0) * words_for(count)):
// channels [first, first + count), 0 < count and first + count <= kWordBits * words.
inline void slice_channels(const word_t* x, std::int64_t words, std::int64_t first,
                           std::int64_t count, std::int64_t r0, std::int64_t r1, word_t* dst) {
  const std::int64_t out_words = words_for(count);
  const std::int64_t q = first / kWordBits;
  const int shift = static_cast<int>(first % kWordBits);
  const std::int64_t tail = count - (out_words - 1) * kWordBits;  // bits of the last word, 1..64
  const word_t last_mask = tail == kWordBits ? ~word_t{0} : (word_t{1} << tail) - 1;
  for (std::int64_t r = r0; r < r1; ++r, dst += out_words) {
    const word_t* src = x + r * words + q;
    if (shift == 0) {
      std::memcpy(dst, src, static_cast<std::size_t>(out_words) * sizeof(word_t));
    } else {
      const std::int64_t available = words - q;  // src[0, available) lies in the row
      for (std::int64_t j = 0; j < out_words; ++j) {
        word_t v = src[j] >> shift;
        if (j + 1 < available) v |= src[j + 1] << (kWordBits - shift);
        dst[j] = v;
      }
    }
    dst[out_words - 1] &= last_mask;
  }
}

}  // namespace onebit
