#include <cmath>

#include "bconv2d/output_transform.h"
#include "bgemm/bgemm.h"
#include "bitpack/bitpack.h"
#include "common/cpu_features.h"
#include "common/threads.h"
#include "float/float_chain.h"
#include "float/sgemm.h"
#include "ops.h"

namespace onebit {

Dense::Dense(const json& spec, const TensorTable& tensors)
    : Op(spec, tensors, "dense", -1),
      features_(int_attr("in_features", 1)),
      outputs_(int_attr("out_features", 1)),
      weight_t_(weights_float(*this, {outputs_, features_})),
      gain_(row_sums(weight_t_, outputs_)),
      epilogue_(*this, outputs_),
      post_(init_post(*this, outputs_, epilogue_.kind() != FloatEpilogue::Kind::sign)) {
  std::vector<float> transposed(weight_t_.size());
  for (std::int64_t o = 0; o < outputs_; ++o)
    for (std::int64_t f = 0; f < features_; ++f)
      transposed[f * outputs_ + o] = weight_t_[o * features_ + f];
  weight_t_.swap(transposed);
}

Value Dense::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32, 1);
  if (x.shape[0] != features_)
    throw program_error("op " + where() + ": in_features=" + std::to_string(features_) +
                        " but its input has " + std::to_string(x.shape[0]));
  work_ = double(features_) * double(outputs_);
  scratch_ = epilogue_.kind() == FloatEpilogue::Kind::sign ? 4 * outputs_ : 0;
  const double bound = x.bound * gain_;
  return layer_output(*this, inputs, {}, outputs_, bound, epilogue_.kind_name(),
                      epilogue_.bound(bound), post_);
}

void Dense::run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const {
  const bool sign = epilogue_.kind() == FloatEpilogue::Kind::sign;
  std::vector<float> scratch(sign ? static_cast<std::size_t>(ctx.batch * outputs_) : 0);
  float* y = sign ? scratch.data() : static_cast<float*>(output);
  const SgemmProblem problem{static_cast<const float*>(inputs[0]), weight_t_.data(), y, ctx.batch,
                             outputs_, features_};
  sgemm(problem, default_simd_path(), ctx.threads);
  apply_chain(epilogue_.steps(&post_, residual_maps(inputs)), y, ctx.batch, outputs_, ctx.threads);
  if (sign) pack_signs(y, ctx.batch, outputs_, static_cast<word_t*>(output), ctx.threads);
}

BinaryDense::BinaryDense(const json& spec, const TensorTable& tensors)
    : Op(spec, tensors, "binary_dense", -1),
      k_(int_attr("k", 1)),
      weight_(&checked_weight()),
      epilogue_(*this, weight_->shape()[0]),
      post_(init_post(*this, weight_->shape()[0], epilogue_.kind() == IntEpilogue::Kind::float32)) {}

const Tensor& BinaryDense::checked_weight() {
  const Tensor& weight = tensor("weight", Dtype::u64, Shape{-1, -1});
  if (big_int{weight.shape()[1]} * kWordBits < k_)
    throw program_error("op " + where() + ": k=" + std::to_string(k_) + " exceeds the weight's words");
  return weight;
}

Value BinaryDense::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::bits, 1);
  const std::int64_t cout = weight_->shape()[0], words = weight_->shape()[1];
  if (cout < 1) throw program_error("op " + where() + ": the weight has no rows");
  if (x.shape[0] != words || x.channels != k_)
    throw program_error("op " + where() + ": k=" + std::to_string(k_) + " and the weight's " +
                        std::to_string(words) + " words per row must match the input's " +
                        std::to_string(x.channels) + " bits in " + std::to_string(x.shape[0]) +
                        " words");
  check_padding_bits(*this, "weight", *weight_, x.row_bits);
  work_ = double(cout) * double(words);
  return layer_output(*this, inputs, {}, cout, double(k_), epilogue_.kind_name(),
                      epilogue_.bound(double(k_)), post_);
}

void BinaryDense::run(const std::vector<const void*>& inputs, void* output,
                      const RunContext& ctx) const {
  const std::int64_t cout = weight_->shape()[0], words = weight_->shape()[1];
  const bool int_out = epilogue_.kind() == IntEpilogue::Kind::int32;
  std::vector<std::int32_t> scratch(int_out ? 0 : static_cast<std::size_t>(ctx.batch * cout));
  std::int32_t* acc = int_out ? static_cast<std::int32_t*>(output) : scratch.data();
  const BgemmProblem problem{static_cast<const word_t*>(inputs[0]), weight_->data<word_t>(), acc,
                             ctx.batch, cout, words, k_};
  bgemm(problem, default_simd_path(), ctx.threads);
  if (epilogue_.kind() == IntEpilogue::Kind::float32) {
    float* y = static_cast<float*>(output);
    for_row_chunks(ctx.batch, cout, ctx.threads, [&](std::int64_t r0, std::int64_t r1) {
      output_float_rows(acc + r0 * cout, cout, r1 - r0, 0, cout, epilogue_.scale(),
                        epilogue_.bias(), y + r0 * cout, cout);
    });
    apply_chain(post_.steps(residual_maps(inputs)), y, ctx.batch, cout, ctx.threads);
  } else if (epilogue_.kind() == IntEpilogue::Kind::bits) {
    word_t* out = static_cast<word_t*>(output);
    const std::int64_t out_words = words_for(cout);
    for_row_chunks(ctx.batch, cout, ctx.threads, [&](std::int64_t r0, std::int64_t r1) {
      output_bits_rows(acc + r0 * cout, cout, r1 - r0, 0, cout, epilogue_.thresholds(),
                       out + r0 * out_words, out_words);
    });
  }
}

}  // namespace onebit
