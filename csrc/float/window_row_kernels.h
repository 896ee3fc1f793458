// The float window kernels (depthwise convolution, max-pool) that live in their own per-path
// .cpp, one output row per call (depthwise_conv2d.h and float_window.h pick one at run time); the
// same rule as bgemm/bgemm_kernels.h: such a file includes only this header and intrinsics.
#pragma once

#include <cstdint>

namespace onebit::kernels {

// The geometry of one image's window op, as one output row needs it: input (H, W, C) NHWC floats,
// kernel, stride, the top and left padding, and the output width.
struct WindowRow {
  std::int64_t h, w, c;
  std::int64_t kh, kw, sh, sw, top, left;
  std::int64_t wo;
};

#if defined(ONEBIT_X86)
// depthwise_avx2.cpp (-mavx2, no FMA): output row oh of image x into out_row ((Wo, C) floats),
// depthwise_conv2d.h's depthwise_row for depth multiplier 1 with the sum of 8 channels in a
// register, the same operations in the same order (bit for bit). pad_row: C floats of the pad
// value, added at padded taps when pad_counts (a zero pad adds nothing).
void depthwise_row_avx2(const float* x, const float* w, const WindowRow& g, std::int64_t oh,
                        const float* pad_row, bool pad_counts, float* out_row);

// maxpool_avx2.cpp (-mavx2): output row oh of float_window.h's float_maxpool2d for image x, the
// maximum of 8 channels in a register, taps in the same order with the same NaN-propagating
// select (bit for bit).
void maxpool_row_avx2(const float* x, const WindowRow& g, std::int64_t oh, float* out_row);
#endif

}  // namespace onebit::kernels
