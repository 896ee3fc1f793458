// DyBNN's input-dependent ops (src/onebit/runtime/ops/dynamic.py, with the same checks, messages,
// work and scratch): dynamic_sign_pack and dynamic_prelu. Each reads a float map x, per sample
// (..., C) with C the last axis, and a float vector per sample computed from it by the program
// (the converter lowers the hyper function to global_avgpool, dense and relu):
//
//   dynamic_sign_pack  vector: thresholds t (C). Output: the packed bits of x >= t, per pixel
//                      words_for(C) words, channel c at bit c % kWordBits of word c / kWordBits,
//                      bit 0 for +1 (x >= t), the padding bits of the last word 0: the layout
//                      of sign_pack, so a binary layer reads it as any packed map.
//   dynamic_prelu      vector: gamma (C) then zeta (C); tensor slope (C). Output, float32 in this
//                      order of roundings: d = x - gamma; p = d >= 0 ? d : d * slope; p + zeta.
//
// No multiply-add is fused (fp-contract off), so both equal runtime/reference_dynamic.py bit for
// bit.
#pragma once

#include <vector>

#include "op.h"

namespace onebit {

class DynamicSignPack : public Op {
 public:
  DynamicSignPack(const json& spec, const TensorTable& tensors)
      : Op(spec, tensors, "dynamic_sign_pack", 2) {}
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  std::int64_t rows_ = 0, channels_ = 0;  // per sample
};

class DynamicPrelu : public Op {
 public:
  DynamicPrelu(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  const Tensor* slope_;
  std::int64_t rows_ = 0, channels_ = 0;  // per sample
};

}  // namespace onebit
