// The chain step (float_chain.h) and the chain kernels that live in their own per-path .cpp; the
// same rule as bgemm/bgemm_kernels.h: such a file includes only this header and intrinsics.
#pragma once

#include <cstdint>

namespace onebit {

enum class ChainOp : std::uint8_t { affine, relu, prelu, hardtanh, add };

struct ChainStep {
  ChainOp op = ChainOp::relu;
  const float* a = nullptr;         // affine scale, prelu slope (per channel)
  const float* b = nullptr;         // affine bias (per channel)
  const float* residual = nullptr;  // add: (pixels, channels)
  float lo = 0.0f, hi = 0.0f;       // hardtanh bounds
};

namespace kernels {

#if defined(ONEBIT_X86)
// float_chain_avx2.cpp (-mavx2, no FMA): rows [0, rows) of out (row r is pixel p0 + r, row stride
// out_stride), channels [c0, c1), each vector of 8 channels loaded once, taken through every step
// in registers and stored once. With acc (row stride acc_stride), the start value is
// float(acc) * scale + bias (output_transform.h's float transform) instead of out's contents.
// The same float32 operations in the same order as float_chain.h's loops: equal bit for bit.
void float_chain_rows_avx2(const std::int32_t* acc, std::int64_t acc_stride, const float* scale,
                           const float* bias, const ChainStep* steps, std::int64_t n_steps,
                           float* out, std::int64_t out_stride, std::int64_t rows,
                           std::int64_t c0, std::int64_t c1, std::int64_t p0,
                           std::int64_t channels);
#endif

}  // namespace kernels
}  // namespace onebit
