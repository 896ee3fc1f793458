// bitpack, NEON path (aarch64): 64 values -> one word with compares and pairwise byte adds.
//
// A compare turns each value into a byte lane of all ones where its bit is 1 (float32: not
// x >= 0, so negative values and NaN, while -0.0 is +1; int8: x < 0). Each run of 8 lanes is
// ANDed with the weights 1, 2, ..., 128 and summed by three rounds of pairwise byte adds
// (vpaddq_u8), which leaves channel c at bit c of the word (byte c / 8 of the little-endian word,
// bit c % 8 of that byte). The last, partial word of a row is packed from a zero-padded copy (0 is
// bit 0, as bitpack.h's padding).
#include <arm_neon.h>


#include "bitpack/bitpack_kernels.h"
#include "bitpack/packed_rows.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "bitpack_neon.cpp assembles words from bytes in little-endian order"
#endif

namespace onebit::kernels {
namespace {

constexpr int kLanes = 16;  // bytes per vector

// 16 float32 values -> 16 byte lanes, all ones where the value's bit is 1.
inline uint8x16_t bit_lanes(const float* x) {
  const float32x4_t zero = vdupq_n_f32(0.0f);
  const uint16x8_t lo = vcombine_u16(vmovn_u32(vcgeq_f32(vld1q_f32(x), zero)),
                                     vmovn_u32(vcgeq_f32(vld1q_f32(x + 4), zero)));
  const uint16x8_t hi = vcombine_u16(vmovn_u32(vcgeq_f32(vld1q_f32(x + 8), zero)),
                                     vmovn_u32(vcgeq_f32(vld1q_f32(x + 12), zero)));
  return vmvnq_u8(vcombine_u8(vmovn_u16(lo), vmovn_u16(hi)));  // not (x >= 0)
}

// 16 int8 values -> 16 byte lanes, all ones where the value is negative.
inline uint8x16_t bit_lanes(const std::int8_t* x) { return vcltzq_s8(vld1q_s8(x)); }

// One word from the lanes of 64 consecutive values (v0: values 0-15, ..., v3: values 48-63).
inline word_t word_from_lanes(uint8x16_t v0, uint8x16_t v1, uint8x16_t v2, uint8x16_t v3) {
  const uint8x16_t weights = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ULL));
  // Each round adds neighbouring bytes: 2, then 4, then 8 values per byte.
  const uint8x16_t pairs01 = vpaddq_u8(vandq_u8(v0, weights), vandq_u8(v1, weights));
  const uint8x16_t pairs23 = vpaddq_u8(vandq_u8(v2, weights), vandq_u8(v3, weights));
  const uint8x16_t quads = vpaddq_u8(pairs01, pairs23);
  const uint8x16_t octets = vpaddq_u8(quads, quads);
  return vgetq_lane_u64(vreinterpretq_u64_u8(octets), 0);
}

template <typename T>
inline word_t pack_word(const T* x) {
  return word_from_lanes(bit_lanes(x), bit_lanes(x + kLanes), bit_lanes(x + 2 * kLanes),
                         bit_lanes(x + 3 * kLanes));
}

}  // namespace

void bitpack_rows_neon(const float* x, std::int64_t row_begin, std::int64_t row_end,
                       std::int64_t channels, word_t* out) {
  pack_rows_with(x, row_begin, row_end, channels, out, [](const auto* v) { return pack_word(v); });
}

void bitpack_rows_neon(const std::int8_t* x, std::int64_t row_begin, std::int64_t row_end,
                       std::int64_t channels, word_t* out) {
  pack_rows_with(x, row_begin, row_end, channels, out, [](const auto* v) { return pack_word(v); });
}

}  // namespace onebit::kernels
