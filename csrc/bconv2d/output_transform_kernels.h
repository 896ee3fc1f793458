// The output transforms that live in their own per-path .cpp (output_transform.h picks one at run
// time); the same rule as bgemm/bgemm_kernels.h: such a file includes only this header and
// intrinsics.
#pragma once

#include <cstdint>

#include "common/bit_format.h"

namespace onebit::kernels {

#if defined(ONEBIT_X86)
// output_transform_avx2.cpp (-mavx2): output_bits_rows of output_transform.h; invert_words: the
// invert flags packed like the output (bit c of word c / 64).
void output_bits_rows_avx2(const std::int32_t* acc, std::int64_t acc_stride, std::int64_t rows,
                           std::int64_t c0, std::int64_t c1, const std::int32_t* below,
                           const word_t* invert_words, word_t* out, std::int64_t out_stride);
#endif

}  // namespace onebit::kernels
