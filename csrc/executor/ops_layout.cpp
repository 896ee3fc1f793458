#include <algorithm>
#include <cstring>
#include <vector>

#include "bitpack/bitpack.h"
#include "common/cpu_features.h"
#include "common/threads.h"
#include "epilogue.h"
#include "float/float_chain.h"
#include "float/layout.h"
#include "ops.h"

namespace onebit {

Value NchwToNhwc::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32, 3);
  in_ = x.shape;
  return float_value({x.shape[1], x.shape[2], x.shape[0]}, x.bound, where());
}

void NchwToNhwc::run(const std::vector<const void*>& inputs, void* output,
                     const RunContext& ctx) const {
  transpose_batched(static_cast<const float*>(inputs[0]), ctx.batch, in_[0], in_[1] * in_[2],
                    static_cast<float*>(output), ctx.threads);
}

Value NhwcToNchw::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32, 3);
  in_ = x.shape;
  return float_value({x.shape[2], x.shape[0], x.shape[1]}, x.bound, where());
}

void NhwcToNchw::run(const std::vector<const void*>& inputs, void* output,
                     const RunContext& ctx) const {
  transpose_batched(static_cast<const float*>(inputs[0]), ctx.batch, in_[0] * in_[1], in_[2],
                    static_cast<float*>(output), ctx.threads);
}

Value Flatten::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  const std::int64_t size = product(x.shape, "the flattened size", where());
  bytes_ = size * kind_size(x.kind);
  if (x.kind == Kind::bits) {  // every pixel keeps its words, so its padding bits too
    const std::int64_t rows = x.shape.back() ? size / x.shape.back() : 0;
    const std::int64_t channels = checked(big_int{rows} * x.channels, "the flattened bits", where());
    return bits_value({size}, channels, where(), x.row_bits);
  }
  if (x.kind == Kind::planes) {  // each plane flattens as a packed value does: (P, features)
    const std::int64_t planes = x.shape[0], rest = planes ? size / planes : 0;
    const std::int64_t rows = x.shape.back() ? rest / x.shape.back() : 0;
    const std::int64_t channels = checked(big_int{rows} * x.channels, "the flattened bits", where());
    return Value{Kind::planes, {planes, rest}, channels, 0.0, x.row_bits};
  }
  return Value{x.kind, {size}, size, x.bound, 0};
}

void Flatten::run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const {
  std::memcpy(output, inputs[0], static_cast<std::size_t>(ctx.batch * bytes_));
}

SignPack::SignPack(const json& spec, const TensorTable& tensors)
    : Op(spec, tensors, "sign_pack", 1) {
  const json epilogue = has_attr("epilogue") ? attr("epilogue") : json("none");
  if (epilogue != "none" && epilogue != "affine")
    throw program_error("op " + where() + ": epilogue must be 'none' or 'affine'");
  affine_ = epilogue == "affine";
  if (affine_) {
    scale_ = &tensor("scale", Dtype::f32, Shape{-1});
    bias_ = &tensor("bias", Dtype::f32, Shape{-1});
    step_ = ChainStep{ChainOp::affine, scale_->data<float>(), bias_->data<float>()};
  }
}

Value SignPack::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32);
  channels_ = x.shape.back();
  if (affine_ && !(scale_->elements() == channels_ && bias_->elements() == channels_))
    throw program_error("op " + where() + ": " + std::to_string(scale_->elements()) +
                        " scales and " + std::to_string(bias_->elements()) + " biases for " +
                        std::to_string(channels_) + " channels");
  rows_ = x.elements() / (channels_ ? channels_ : 1);
  Shape shape(x.shape.begin(), x.shape.end() - 1);
  shape.push_back(words_for(channels_));
  return bits_value(shape, channels_, where());
}

void SignPack::run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const {
  const float* x = static_cast<const float*>(inputs[0]);
  word_t* out = static_cast<word_t*>(output);
  const std::int64_t rows = ctx.batch * rows_;
  if (!affine_) return pack_signs(x, rows, channels_, out, ctx.threads);
  const SimdPath path = default_simd_path();
  const std::int64_t words = words_for(channels_);
#if defined(ONEBIT_X86)
  if (has_avx2_kernels(path)) {  // the AVX-512 path's CPUs run the AVX2 kernel
    for_row_chunks(rows, channels_, ctx.threads, [&](std::int64_t r0, std::int64_t r1) {
      kernels::bitpack_affine_rows_avx2(x, step_.a, step_.b, r0, r1, channels_, out);
    });
    return;
  }
#endif
  // Elsewhere a tile of rows at a time: copied, through the affine step, then packed, in cache.
  const std::vector<ChainStep> steps{step_};
  for_row_chunks(rows, channels_, ctx.threads, [&](std::int64_t r0, std::int64_t r1) {
    const std::int64_t tile = chain_tile_rows(channels_);
    std::vector<float> buffer(static_cast<std::size_t>(std::min(tile, r1 - r0) * channels_));
    for (std::int64_t r = r0; r < r1; r += tile) {
      const std::int64_t n = std::min(tile, r1 - r);
      std::memcpy(buffer.data(), x + r * channels_,
                  static_cast<std::size_t>(n * channels_) * sizeof(float));
      apply_chain_rows(steps, channels_, buffer.data(), channels_, 0, n, 0, channels_, path);
      bitpack_rows(buffer.data(), 0, n, channels_, out + r * words, path);
    }
  });
}

}  // namespace onebit
