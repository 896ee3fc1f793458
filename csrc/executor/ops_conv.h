// The convolutions (src/onebit/runtime/ops/floats.py Conv2d and binary.py BinaryConv2d, with the
// same checks and messages): a float NHWC convolution (im2col + sgemm; depthwise; grouped) with
// a float epilogue and post tail, and the binary convolution (bconv2d) with an int epilogue.
#pragma once

#include <vector>

#include "epilogue.h"
#include "float/float_window.h"
#include "op.h"

namespace onebit {

// Float NHWC cross-correlation (torch's conv2d): attrs cin, cout, kernel, stride, padding (two or
// four sides), pad_value, groups; tensors weight (cout, KH, KW, cin / groups) float32 or
// weight_bits (the same packed along its last axis), then the epilogue's.
class Conv2d : public Op {
 public:
  Conv2d(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  std::int64_t read_groups() const;  // the groups attr, refused unless it divides cin and cout
  void run_grouped(const float* x, float* y, const RunContext& ctx) const;
  // A 1x1, stride-1, unpadded conv: sgemm and the chain per tile of pixels (see the .cpp).
  void direct_sgemm(const float* x, const std::vector<ChainStep>& steps, float* y,
                    std::int64_t rows, int threads) const;
  void im2col_sgemm(const float* x, const WindowGeometry& g, const std::vector<ChainStep>& steps,
                    float* y, int threads) const;

  std::int64_t cin_, cout_, kh_, kw_, sh_, sw_;
  std::vector<std::int64_t> padding_;  // top, bottom, left, right
  double pad_value_;
  std::int64_t groups_ = 1;
  std::vector<float> weight_;  // groups 1: (KH*KW*Cin, Cout); depthwise: (KH, KW, Cout);
                               // grouped: (G, Cin/G*KH*KW, Cout/G)
  double gain_ = 0;
  FloatEpilogue epilogue_;
  PostSteps post_;
  bool depthwise_ = false;
  std::vector<float> ones_, zeros_;  // a depthwise conv's affine when its epilogue is none
  std::int64_t height_ = 0, width_ = 0, ho_ = 0, wo_ = 0;
};

// Packed NHWC map x packed weights (Cout, KH, KW, words) -> bconv2d -> epilogue (-> post tail).
// Attrs cin, stride, padding (symmetric), pad_value, and dilation and groups (each optional, 1
// when absent); the weight is (Cout, KH, KW, words_for(cin / groups)).
class BinaryConv2d : public Op {
 public:
  BinaryConv2d(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  const Tensor& checked_weight();  // the weight, refused with padding bits set or groups not
                                   // dividing its Cout
  std::int64_t read_groups() const;  // the groups attr, refused unless it divides cin

  std::int64_t cin_, sh_, sw_, ph_, pw_;
  double pad_value_;
  std::int64_t dh_, dw_, groups_;
  const Tensor* weight_;
  IntEpilogue epilogue_;
  PostSteps post_;
  std::int64_t height_ = 0, width_ = 0;
};

}  // namespace onebit
