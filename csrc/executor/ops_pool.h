// The pooling ops (src/onebit/runtime/ops/pool.py, with the same checks and messages): float and
// binary max-pools, the average pool and global average pooling.
//
// Layout: NHWC per sample, float32 maps of (H, W, C) or packed maps of (H, W, words) in
// common/bit_format.h's bit convention. Padding is symmetric, (ph, pw) on both sides; the output
// side is Ho = (H + 2 ph - KH) / sh + 1 (floor). The max-pools ignore padded pixels (they never win
// a max), the average pool counts them as zeros (torch's count_include_pad=True).
#pragma once

#include <vector>

#include "float/float_window.h"
#include "op.h"

namespace onebit {

// What the window pools share (Python's _Pool): kernel, stride and padding attributes, the output
// Value, and the scratch and work figures that feed the program's limits.
class WindowPool : public Op {
 public:
  // `half_padding`: refuse a padding over half the kernel, so that no window is all padding.
  WindowPool(const json& spec, const TensorTable& tensors, const char* type, Kind kind,
             bool half_padding);
  Value infer(const std::vector<Value>& inputs) override;

 protected:
  // Work per sample for an output of `output` (Ho, Wo, C) over a padded map of `padded` elements;
  // may add to scratch_ (the average pool's prefix-sum table).
  virtual double window_work(const Shape& output, std::int64_t padded);
  // The kernels' geometry of a batch of `batch` samples.
  WindowGeometry geometry(std::int64_t batch) const;

  Kind kind_;
  std::int64_t kh_, kw_, sh_, sw_, ph_, pw_;
  std::int64_t h_ = 0, w_ = 0, c_ = 0;  // the input per sample: c_ floats or words per pixel
};

class MaxPool2d : public WindowPool {
 public:
  MaxPool2d(const json& spec, const TensorTable& tensors)
      : WindowPool(spec, tensors, "maxpool2d", Kind::float32, true) {}
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;
};

// Max-pool on packed bits: the max of ±1 values is +1 if any is, an AND of the bits.
class BinaryMaxPool2d : public WindowPool {
 public:
  BinaryMaxPool2d(const json& spec, const TensorTable& tensors)
      : WindowPool(spec, tensors, "binary_maxpool2d", Kind::bits, true) {}
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;
};

// Average pool; padded zeros count in the mean. A window of at most kMaxTaps taps is summed tap by
// tap in float32, a larger one from float64 prefix sums (a summed-area table, Crow 1984), each in
// NumPy's order of operations, so the result equals the Python op's bit for bit.
class AvgPool2d : public WindowPool {
 public:
  static constexpr std::int64_t kMaxTaps = 64;

  AvgPool2d(const json& spec, const TensorTable& tensors)
      : WindowPool(spec, tensors, "avgpool2d", Kind::float32, false) {}
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 protected:
  double window_work(const Shape& output, std::int64_t padded) override;

 private:
  void run_taps(const float* x, float* out, const RunContext& ctx) const;
  void run_prefix_sums(const float* x, float* out, const RunContext& ctx) const;
};

// Mean over height and width: (H, W, C) -> (C,).
class GlobalAvgPool : public Op {
 public:
  GlobalAvgPool(const json& spec, const TensorTable& tensors)
      : Op(spec, tensors, "global_avgpool", 1) {}
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  std::int64_t pixels_ = 0, c_ = 0;  // per sample
};

}  // namespace onebit
