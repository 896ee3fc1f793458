// The row loop of the vector bitpack paths (bitpack_avx2.cpp, bitpack_neon.cpp): a row's whole
// words are packed from the row in place, its last, partial word from a zero-padded copy (0 packs
// to bit 0, bitpack.h's padding). pack_word(const T*) packs 64 values into one word.
//
// Included by those files only; everything sits in an anonymous namespace so that each gets its
// own copy compiled with its own flags (bgemm/bgemm_kernels.h explains why).
#pragma once

#include <cstdint>

#include "common/bit_format.h"

namespace onebit::kernels {
namespace {

template <typename T, typename PackWord>
void pack_rows_with(const T* x, std::int64_t row_begin, std::int64_t row_end,
                    std::int64_t channels, word_t* out, PackWord pack_word) {
  const std::int64_t full = channels / kWordBits;
  const std::int64_t rest = channels - full * kWordBits;
  const std::int64_t words = full + (rest > 0 ? 1 : 0);
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const T* row = x + r * channels;
    word_t* dst = out + r * words;
    for (std::int64_t w = 0; w < full; ++w) dst[w] = pack_word(row + w * kWordBits);
    if (rest > 0) {
      T padded[kWordBits] = {};
      for (std::int64_t c = 0; c < rest; ++c) padded[c] = row[full * kWordBits + c];
      dst[full] = pack_word(padded);
    }
  }
}

}  // namespace
}  // namespace onebit::kernels
