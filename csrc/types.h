// onebit packed types: the word that holds binary values and the one primitive on it.
//
// Bit convention (the same as src/onebit/runtime/reference.py):
//   value +1 <-> bit 0, value -1 <-> bit 1; a float or int8 x maps to +1 when x >= 0 (NaN -> -1).
//   A row of C channels (the LAST axis) is packed into words_for(C) = ceil(C / kWordBits)
//   little-endian words: channel c is bit (c % kWordBits) of word (c / kWordBits).
//   Unused high bits of the last word are 0 (that is, +1); both operands of a binary product pad
//   the same way, so padding cancels in the XOR.
//   Binary dot product of two packed rows of k channels: k - 2 * sum_w xor_popcount(a[w], b[w]).
#pragma once

#include <cstdint>

namespace onebit {

using word_t = std::uint64_t;
inline constexpr int kWordBits = 64;
static_assert(sizeof(word_t) * 8 == kWordBits, "word_t must hold kWordBits bits");

// Packed words that hold `channels` bits (ceil division).
inline std::int64_t words_for(std::int64_t channels) {
  return (channels + kWordBits - 1) / kWordBits;
}

// Number of differing bits (= number of -1 products) between two words.
inline int xor_popcount(word_t a, word_t b) { return __builtin_popcountll(a ^ b); }

}  // namespace onebit
