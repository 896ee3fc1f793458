#include <cstring>

#include "bitpack/bitpack.h"
#include "common/cpu_features.h"
#include "common/threads.h"
#include "epilogue.h"
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

Value SignPack::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32);
  channels_ = x.shape.back();
  rows_ = x.elements() / (channels_ ? channels_ : 1);
  Shape shape(x.shape.begin(), x.shape.end() - 1);
  shape.push_back(words_for(channels_));
  return bits_value(shape, channels_, where());
}

void SignPack::run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const {
  pack_signs(static_cast<const float*>(inputs[0]), ctx.batch * rows_, channels_,
             static_cast<word_t*>(output), ctx.threads);
}

}  // namespace onebit
