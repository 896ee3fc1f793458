#include <algorithm>
#include <cstring>
#include <vector>

#include "common/threads.h"
#include "float/float_chain.h"
#include "ops.h"

namespace onebit {

void Elementwise::set_shape(const Value& x) {
  channels_ = x.shape.back();
  rows_ = channels_ ? x.elements() / channels_ : 0;
}

void Elementwise::run(const std::vector<const void*>& inputs, void* output,
                      const RunContext& ctx) const {
  const std::int64_t rows = ctx.batch * rows_;
  const float* x = static_cast<const float*>(inputs[0]);
  float* out = static_cast<float*>(output);
  ChainStep step = step_;
  if (step.op == ChainOp::add) step.residual = static_cast<const float*>(inputs[1]);
  const std::vector<ChainStep> steps{step};
  const SimdPath path = default_simd_path();
  // A tile at a time: copied, then the step while it is in L1 (one pass over the map, not two).
  for_row_chunks(rows, channels_, ctx.threads, [&](std::int64_t r0, std::int64_t r1) {
    const std::int64_t tile = chain_tile_rows(channels_);
    for (std::int64_t r = r0; r < r1; r += tile) {
      const std::int64_t n = std::min(tile, r1 - r);
      float* o = out + r * channels_;
      std::memcpy(o, x + r * channels_, static_cast<std::size_t>(n * channels_) * sizeof(float));
      apply_chain_rows(steps, channels_, o, channels_, r, n, 0, channels_, path);
    }
  });
}

Affine::Affine(const json& spec, const TensorTable& tensors) : Elementwise(spec, tensors, "affine", 1) {
  const std::int64_t channels = int_attr("channels", 1);
  scale_ = &channel_vector("scale", channels);
  bias_ = &channel_vector("bias", channels);
  step_ = ChainStep{ChainOp::affine, scale_->data<float>(), bias_->data<float>()};
}

Value Affine::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32);
  if (x.shape.back() != scale_->elements())
    throw program_error("op " + where() + ": channels=" + std::to_string(scale_->elements()) +
                        " but its input has " + std::to_string(x.shape.back()));
  set_shape(x);
  return float_value(x.shape, x.bound * abs_max(*scale_) + abs_max(*bias_), where());
}

Value Add::infer(const std::vector<Value>& inputs) {
  const Value& a = inputs[0];
  const Value& b = inputs[1];
  expect(a, Kind::float32);
  expect(b, Kind::float32);
  if (a.shape != b.shape)
    throw program_error("op " + where() + ": cannot add shapes " + pyformat::tuple(a.shape) +
                        " and " + pyformat::tuple(b.shape));
  set_shape(a);
  step_ = ChainStep{ChainOp::add};
  return float_value(a.shape, a.bound + b.bound, where());
}

Value Relu::infer(const std::vector<Value>& inputs) {
  expect(inputs[0], Kind::float32);
  set_shape(inputs[0]);
  step_ = ChainStep{ChainOp::relu};
  return inputs[0];
}

Hardtanh::Hardtanh(const json& spec, const TensorTable& tensors)
    : Elementwise(spec, tensors, "hardtanh", 1), low_(float_attr("min")), high_(float_attr("max")) {
  step_ = ChainStep{ChainOp::hardtanh};
  step_.lo = static_cast<float>(low_);
  step_.hi = static_cast<float>(high_);
}

Value Hardtanh::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32);
  set_shape(x);
  return float_value(x.shape, hardtanh_bound(x.bound, low_, high_), where());
}

Prelu::Prelu(const json& spec, const TensorTable& tensors)
    : Elementwise(spec, tensors, "prelu", 1), slope_(&tensor("slope", Dtype::f32, Shape{-1})) {}

Value Prelu::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32);
  const std::int64_t slopes = slope_->elements(), channels = x.shape.back();
  if (slopes != 1 && slopes != channels)
    throw program_error("op " + where() + ": " + std::to_string(slopes) + " slopes for " +
                        std::to_string(channels) + " channels");
  set_shape(x);
  const float* data = slope_->data<float>();
  slopes_.assign(static_cast<std::size_t>(channels), data[0]);
  if (slopes == channels) slopes_.assign(data, data + channels);
  step_ = ChainStep{ChainOp::prelu, slopes_.data()};
  return float_value(x.shape, x.bound * std::max(1.0, abs_max(*slope_)), where());
}

}  // namespace onebit
