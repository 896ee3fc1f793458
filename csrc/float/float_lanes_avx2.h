// Vectors of 8 float32 lanes for the files compiled with -mavx2 (float/*_avx2.cpp,
// bconv2d/output_transform_avx2.cpp): the last, partial vector of a row of channels is loaded and
// stored with a lane mask. Everything here sits in an anonymous namespace, so each including file
// gets its own copy compiled with its own flags (bgemm/bgemm_kernels.h explains why).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace onebit::kernels {
namespace {

constexpr int kFloatLanes = 8;

// All ones in the first min(n, 8) 32-bit lanes.
inline __m256i lanes_below(std::int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < kFloatLanes ? n : kFloatLanes)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// 8 floats, or the lanes of `mask` (the others 0) when Masked.
template <bool Masked>
inline __m256 load_floats(const float* p, __m256i mask) {
  if constexpr (Masked) return _mm256_maskload_ps(p, mask);
  (void)mask;
  return _mm256_loadu_ps(p);
}

template <bool Masked>
inline void store_floats(float* p, __m256i mask, __m256 v) {
  if constexpr (Masked) {
    _mm256_maskstore_ps(p, mask, v);
  } else {
    (void)mask;
    _mm256_storeu_ps(p, v);
  }
}

}  // namespace
}  // namespace onebit::kernels
