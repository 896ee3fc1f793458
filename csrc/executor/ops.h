// The op types a program may hold (each as src/onebit/runtime/ops/ defines it, with the same
// checks and messages): layout ops here and in ops_layout.cpp, the dense layers in ops_dense.cpp.
#pragma once

#include <vector>

#include "epilogue.h"
#include "op.h"

namespace onebit {

// A float map from torch's (N, C, H, W) to the engine's (N, H, W, C), or back.
class NchwToNhwc : public Op {
 public:
  NchwToNhwc(const json& spec, const TensorTable& tensors) : Op(spec, tensors, "nchw_to_nhwc", 1) {}
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  Shape in_;  // (C, H, W)
};

class NhwcToNchw : public Op {
 public:
  NhwcToNchw(const json& spec, const TensorTable& tensors) : Op(spec, tensors, "nhwc_to_nchw", 1) {}
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  Shape in_;  // (H, W, C)
};

// (N, ...) -> (N, features); on packed bits each pixel keeps its own words.
class Flatten : public Op {
 public:
  Flatten(const json& spec, const TensorTable& tensors) : Op(spec, tensors, "flatten", 1) {}
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  std::int64_t bytes_ = 0;  // per sample
};

// Binarize and pack along the channel axis: +1 where x >= 0 (bit 0), -1 elsewhere. With
// epilogue "affine", the sign of x * scale + bias (one float32 each per channel, the product
// rounded first), computed a tile of rows at a time in cache and packed from there.
class SignPack : public Op {
 public:
  SignPack(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  std::int64_t rows_ = 0, channels_ = 0;  // per sample
  bool affine_ = false;
  const Tensor* scale_ = nullptr;
  const Tensor* bias_ = nullptr;
  ChainStep step_;
};

// Float (N, F) @ weights.T (sgemm), weights float32 or ±1 from packed bits; then an epilogue and
// a post tail.
class Dense : public Op {
 public:
  Dense(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  std::int64_t features_, outputs_;
  std::vector<float> weight_t_;  // (features, outputs)
  double gain_ = 0;
  FloatEpilogue epilogue_;
  PostSteps post_;
};

// Packed (N, words) x packed weights (Cout, words) -> bgemm -> epilogue -> post tail.
class BinaryDense : public Op {
 public:
  BinaryDense(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  const Tensor& checked_weight();  // the weight, refused if k passes its words

  std::int64_t k_;
  const Tensor* weight_;
  IntEpilogue epilogue_;
  PostSteps post_;
};

// The elementwise float ops (ops_elementwise.cpp): each copies its input and runs one float_chain
// step over it, so they compute exactly as the fused tails do.
class Elementwise : public Op {
 public:
  using Op::Op;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 protected:
  // The step for this op (an add's residual is filled in at run time).
  ChainStep step_;
  std::int64_t rows_ = 0, channels_ = 0;  // per sample
  void set_shape(const Value& x);
};

// Per-channel x * scale + bias (a batch norm or a learnable bias left unfolded).
class Affine : public Elementwise {
 public:
  Affine(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;

 private:
  const Tensor* scale_;
  const Tensor* bias_;
};

class Add : public Elementwise {
 public:
  Add(const json& spec, const TensorTable& tensors) : Elementwise(spec, tensors, "add", 2) {}
  Value infer(const std::vector<Value>& inputs) override;
};

class Relu : public Elementwise {
 public:
  Relu(const json& spec, const TensorTable& tensors) : Elementwise(spec, tensors, "relu", 1) {}
  Value infer(const std::vector<Value>& inputs) override;
};

class Hardtanh : public Elementwise {
 public:
  Hardtanh(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;

 private:
  double low_, high_;
};

// max(x, 0) + slope_c * min(x, 0), per channel (or one slope for all).
class Prelu : public Elementwise {
 public:
  Prelu(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;

 private:
  const Tensor* slope_;
  std::vector<float> slopes_;  // one per channel
};

}  // namespace onebit
