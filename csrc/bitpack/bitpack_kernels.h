// The bitpack kernels that live in their own per-path .cpp (bitpack.h picks one at run time); the
// same rule as bgemm_kernels.h: such a file includes only this header and intrinsics.
#pragma once

#include <cstdint>

#include "common/bit_format.h"

namespace onebit::kernels {

#if defined(ONEBIT_X86)
// bitpack_avx2.cpp (-mavx2): the same packing, and unpacking to +-1.0f.
void bitpack_rows_avx2(const float* x, std::int64_t row_begin, std::int64_t row_end,
                       std::int64_t channels, word_t* out);
void bitpack_rows_avx2(const std::int8_t* x, std::int64_t row_begin, std::int64_t row_end,
                       std::int64_t channels, word_t* out);
void unpack_rows_avx2(const word_t* words_in, std::int64_t row_begin, std::int64_t row_end,
                      std::int64_t channels, float* out);
// The signs of x * scale + bias per channel (the product rounded to float32 first, no fused
// multiply-add), packed as bitpack_rows_avx2 packs x: a batch norm and a sign in one pass.
void bitpack_affine_rows_avx2(const float* x, const float* scale, const float* bias,
                              std::int64_t row_begin, std::int64_t row_end, std::int64_t channels,
                              word_t* out);
#endif

#if defined(ONEBIT_NEON)
// bitpack_neon.cpp: rows [row_begin, row_end) of x (rows, channels) into out
// (rows, words_for(channels)), with bitpack.h's bit convention.
void bitpack_rows_neon(const float* x, std::int64_t row_begin, std::int64_t row_end,
                       std::int64_t channels, word_t* out);
void bitpack_rows_neon(const std::int8_t* x, std::int64_t row_begin, std::int64_t row_end,
                       std::int64_t channels, word_t* out);
#endif

}  // namespace onebit::kernels
