// The packed bit format: the word that holds binary values, its width, and the one convention every
// kernel, op and file follows (the C++ side of src/onebit/runtime/bit_format.py).
//
// Bit convention:
//   value +1 <-> bit 0, value -1 <-> bit 1; a float or int8 x maps to +1 when x >= 0, so
//   sign(0) = +1 (NaN -> -1).
//   A row of C channels (the LAST axis) is packed into words_for(C) = ceil(C / kWordBits)
//   little-endian words: channel c is bit (c % kWordBits) of word (c / kWordBits).
//   Unused high bits of the last word are 0 (that is, +1); both operands of a binary product pad
//   the same way, so padding cancels in the XOR.
//   Binary dot product of two packed rows of k channels: k - 2 * sum_w xor_popcount(a[w], b[w]).
#pragma once

#include <cstdint>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "packed words are little-endian");

namespace onebit {

using word_t = std::uint64_t;
inline constexpr int kWordBits = 64;
static_assert(sizeof(word_t) * 8 == kWordBits, "word_t must hold kWordBits bits");

// Packed words that hold `channels` bits (ceil division).
inline std::int64_t words_for(std::int64_t channels) {
  return (channels + kWordBits - 1) / kWordBits;
}

// Bit of one value: 1 for -1 (x < 0 or NaN), 0 for +1 (x >= 0, -0.0 included).
inline word_t sign_bit(float x) { return !(x >= 0.0f) ? 1 : 0; }
inline word_t sign_bit(std::int8_t x) { return x < 0 ? 1 : 0; }

// Number of set bits (= number of -1 values) of one word.
inline int popcount(word_t a) { return __builtin_popcountll(a); }

// Number of differing bits (= number of -1 products) between two words.
inline int xor_popcount(word_t a, word_t b) { return popcount(a ^ b); }

}  // namespace onebit
