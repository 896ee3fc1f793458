#include "ops_dynamic.h"

#include <algorithm>

#include "common/bit_format.h"
#include "common/threads.h"

namespace onebit {

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

namespace {

// Runs fn(row, sample) over the batch's rows of `channels` values, `rows` of them per sample.
template <typename Fn>
void for_each_row(std::int64_t batch, std::int64_t rows, std::int64_t channels, int threads, Fn fn) {
  if (rows == 0) return;
  for_row_chunks(batch * rows, channels, threads, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) fn(r, r / rows);
  });
}

}  // namespace

// ---- dynamic_sign_pack -------------------------------------------------------------------------

Value DynamicSignPack::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  const Value& threshold = inputs[1];
  expect(x, Kind::float32);
  expect(threshold, Kind::float32, 1, "threshold");
  channels_ = x.shape.back();
  if (threshold.shape[0] != channels_)
    throw program_error("op " + where() + ": " + std::to_string(threshold.shape[0]) +
                        " thresholds for " + std::to_string(channels_) + " channels");
  rows_ = channels_ ? x.elements() / channels_ : 0;
  work_ = static_cast<double>(x.elements());
  Shape shape(x.shape.begin(), x.shape.end() - 1);
  shape.push_back(words_for(channels_));
  return bits_value(shape, channels_, where());
}

void DynamicSignPack::run(const std::vector<const void*>& inputs, void* output,
                          const RunContext& ctx) const {
  const float* x = static_cast<const float*>(inputs[0]);
  const float* thresholds = static_cast<const float*>(inputs[1]);
  word_t* out = static_cast<word_t*>(output);
  const std::int64_t channels = channels_, words = words_for(channels_);
  for_each_row(ctx.batch, rows_, channels, ctx.threads, [&](std::int64_t r, std::int64_t n) {
    const float* row = x + r * channels;
    const float* t = thresholds + n * channels;
    word_t* packed = out + r * words;
    for (std::int64_t w = 0; w < words; ++w) {
      const std::int64_t c0 = w * kWordBits, c1 = std::min(channels, c0 + kWordBits);
      word_t bits = 0;
      for (std::int64_t c = c0; c < c1; ++c)
        bits |= static_cast<word_t>(!(row[c] >= t[c])) << (c - c0);  // -1 (and NaN): bit 1
      packed[w] = bits;
    }
  });
}

// ---- dynamic_prelu -----------------------------------------------------------------------------

DynamicPrelu::DynamicPrelu(const json& spec, const TensorTable& tensors)
    : Op(spec, tensors, "dynamic_prelu", 2), slope_(&tensor("slope", Dtype::f32, Shape{-1})) {}

Value DynamicPrelu::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  const Value& shifts = inputs[1];
  expect(x, Kind::float32);
  expect(shifts, Kind::float32, 1, "shifts");
  channels_ = x.shape.back();
  if (slope_->elements() != channels_)
    throw program_error("op " + where() + ": " + std::to_string(slope_->elements()) +
                        " slopes for " + std::to_string(channels_) + " channels");
  if (shifts.shape[0] != 2 * channels_)
    throw program_error("op " + where() + ": " + std::to_string(shifts.shape[0]) +
                        " shifts for " + std::to_string(channels_) +
                        " channels (it takes gamma and zeta: " + std::to_string(2 * channels_) +
                        ")");
  rows_ = channels_ ? x.elements() / channels_ : 0;
  work_ = static_cast<double>(x.elements());
  const double shifted = x.bound + shifts.bound;
  const double bound = shifted * std::max(1.0, abs_max(*slope_)) + shifts.bound;
  return float_value(x.shape, bound, where());
}

void DynamicPrelu::run(const std::vector<const void*>& inputs, void* output,
                       const RunContext& ctx) const {
  const float* x = static_cast<const float*>(inputs[0]);
  const float* shifts = static_cast<const float*>(inputs[1]);
  const float* slope = slope_->data<float>();
  float* out = static_cast<float*>(output);
  const std::int64_t channels = channels_;
  for_each_row(ctx.batch, rows_, channels, ctx.threads, [&](std::int64_t r, std::int64_t n) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    const float* row = x + r * channels;
    const float* gamma = shifts + n * 2 * channels;
    const float* zeta = gamma + channels;
    float* y = out + r * channels;
    for (std::int64_t c = 0; c < channels; ++c) {
      const float d = row[c] - gamma[c];
      const float p = d >= 0.0f ? d : d * slope[c];
      y[c] = p + zeta[c];
    }
  });
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

}  // namespace onebit
