// The k-bit ops (src/onebit/runtime/ops/kbit.py, with the same checks, messages, work and
// scratch): quantize_pack (float -> bit planes of codes) and the bit-serial dense and convolution
// layers over planes (bitserial/), with the binary layers' int epilogues and post tails.
//
// A planes value of a (..., C) tensor is stored (P, ..., words_for(C)) per sample: P bit planes of
// its unsigned codes, each packed as a bits value. A layer reads the integer value of its input and
// of its weights as offset + sum_i plane_weights[i] * bit_i (attrs input_offset,
// input_plane_weights, weight_offset, weight_plane_weights; weight_first_plane, optional, picks the
// planes of a weight that holds more).
#pragma once

#include <vector>

#include "bitserial/bitserial.h"
#include "bitserial/quantize_pack.h"
#include "epilogue.h"
#include "op.h"

namespace onebit {

// Float (..., C) -> `bits` planes of clamp(round(x * multiplier) + zero_point, 0, 2^bits - 1).
class QuantizePack : public Op {
 public:
  QuantizePack(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  int read_bits() const;        // the bits attr, 1 to kMaxPlanes
  int read_zero_point() const;  // the zero_point attr, within ±2^bits

  QuantizeParams params_;
  std::int64_t rows_ = 0, channels_ = 0;  // per sample
};

// What the dense and convolution layers share: the two encodings and the accumulator's bound.
class KbitLayer : public Op {
 public:
  using Op::Op;

 protected:
  // The encoding attrs {prefix}_offset and {prefix}_plane_weights.
  PlaneEncoding read_encoding(const std::string& prefix) const;
  // The largest |accumulator| over k products, refused past int32.
  std::int64_t accumulator_bound(std::int64_t k) const;
  // Refuse an input that is not an ndim-axis planes value of x_encoding_'s plane count.
  void check_input_planes(const Value& x, int ndim) const;
  // The weight planes the layer reads, `shape` with the plane axis second: the tensor itself, or
  // with weight_first_plane planes [first, first + Q) of it gathered into the op (a switched
  // layer's top planes, out of the one weight every width shares).
  const Tensor& read_weight_planes(Shape shape);

  PlaneEncoding x_encoding_, w_encoding_;

 private:
  Tensor gathered_;
};

// Planes (N, P, words) x weight planes (Cout, Q, words) -> bit-serial gemm -> epilogue -> post.
class KbitDense : public KbitLayer {
 public:
  KbitDense(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  const Tensor& read_weight();  // reads the encodings first, then the weight

  std::int64_t k_;
  const Tensor* weight_;
  IntEpilogue epilogue_;
  PostSteps post_;
  BitserialWeights prepared_;
};

// Planes (N, P, H, W, words) x weight planes (Cout, Q, KH, KW, words) -> bit-serial convolution
// (the border padded with the code pad_code) -> epilogue -> post tail.
class KbitConv2d : public KbitLayer {
 public:
  KbitConv2d(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  std::int64_t read_pad_code();  // reads the encodings first, then pad_code
  const Tensor& read_weight();   // the weight, refused with padding bits set

  std::int64_t cin_, sh_, sw_;
  std::vector<std::int64_t> padding_;  // top, bottom, left, right
  std::int64_t pad_code_;
  const Tensor* weight_;
  IntEpilogue epilogue_;
  PostSteps post_;
  BitserialWeights prepared_;
  std::int64_t height_ = 0, width_ = 0;
};

}  // namespace onebit
