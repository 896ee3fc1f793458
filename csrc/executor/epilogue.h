// What a layer does after its accumulation (src/onebit/runtime/ops/base.py's epilogues, same
// rules and messages): IntEpilogue turns a binary layer's int32 accumulators into floats
// (acc * scale + bias), packed bits (per-channel thresholds) or leaves them; FloatEpilogue turns a
// float layer's outputs into themselves, x * scale + bias, or the packed signs of that; PostSteps
// is the elementwise tail (affine, relu, prelu, hardtanh, add) fused into a layer with a float
// output. Each checks its tensors at load and says how far it can move a value's bound.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bconv2d/output_transform.h"
#include "float/float_chain.h"
#include "op.h"

namespace onebit {

class PostSteps {
 public:
  PostSteps() = default;  // no steps
  PostSteps(Op& op, std::int64_t channels);
  bool empty() const { return templates_.empty(); }
  int adds() const { return adds_; }
  // The largest magnitude after the tail for a layer output within ±y_bound.
  double bound(double y_bound, const std::vector<double>& residual_bounds) const;
  // The float_chain steps with this call's residual maps.
  std::vector<ChainStep> steps(const std::vector<const float*>& residuals) const;

 private:
  std::vector<ChainStep> templates_;  // an add step's residual field holds its index (cast)
  std::vector<double> scale_max_, bias_max_;  // per template: abs_max of its vectors
  int adds_ = 0;
};

// Reads `op`'s post tail and checks that it has one extra input per add step after its own: one
// for a layer (joined = 0), the `joined` maps for a concat.
PostSteps init_post(Op& op, std::int64_t channels, bool allowed = true, std::int64_t joined = 0);

// The largest magnitude of min(max(x, low), high) over |x| <= bound (limits as float32).
double hardtanh_bound(double bound, double low, double high);

// A per-channel x * scale + bias read from an op's `scale` and `bias` tensors, with the largest
// magnitude of each (for the bound).
struct AffineParams {
  const float* scale = nullptr;
  const float* bias = nullptr;
  double scale_max = 0, bias_max = 0;
};
AffineParams read_affine(Op& op, std::int64_t channels);

class IntEpilogue {
 public:
  enum class Kind { float32, bits, int32 };
  IntEpilogue(Op& op, std::int64_t channels);
  Kind kind() const { return kind_; }
  const char* kind_name() const;
  double bound(double acc_bound) const;
  const float* scale() const { return affine_.scale; }
  const float* bias() const { return affine_.bias; }
  const BitThresholds& thresholds() const { return thresholds_; }

 private:
  Kind kind_ = Kind::int32;
  AffineParams affine_;
  BitThresholds thresholds_;
};

class FloatEpilogue {
 public:
  enum class Kind { none, affine, sign };
  FloatEpilogue(Op& op, std::int64_t channels);
  Kind kind() const { return kind_; }
  const char* kind_name() const;
  double bound(double y_bound) const;
  // The chain steps: the affine (for affine and sign), then `post`'s.
  std::vector<ChainStep> steps(const PostSteps* post, const std::vector<const float*>& residuals) const;

 private:
  Kind kind_ = Kind::none;
  AffineParams affine_;
};

// A layer's output of shape (*prefix, channels): bits for a bits or sign epilogue, int32 for an
// int one, else float with the bound after the epilogue and the post tail (residuals checked).
Value layer_output(const Op& op, const std::vector<Value>& inputs, const Shape& prefix,
                   std::int64_t channels, double bound, const char* epilogue_kind,
                   double epilogue_bound, const PostSteps& post);

// A float output of `shape` within ±bound before `post`: its residuals (one per add step) checked
// to be float maps of that shape, and the bound after the tail.
Value post_output(const Op& op, const std::vector<Value>& residuals, const Shape& shape,
                  double bound, const PostSteps& post);

// Refuse packed words (rows of words_for(row_bits) words along the last axis) with a bit set
// beyond each row's row_bits real bits.
void check_padding_bits(const Op& op, const std::string& role, const Tensor& words,
                        std::int64_t row_bits);

// A float op's weights: float32 as stored, or ±1 unpacked from `weight_bits`.
std::vector<float> weights_float(Op& op, const Shape& shape);

// The largest sum of magnitudes over one output's weights (row-major, `outputs` rows): a float
// layer maps inputs within ±b to outputs within ±b times this. Summed in order in float64 (NumPy
// sums pairwise: the two agree to float64 rounding, and the figure is a bound).
double row_sums(const std::vector<float>& weight, std::int64_t outputs);

// The residual maps of an op's extra inputs (one per post add step), from input #first on.
std::vector<const float*> residual_maps(const std::vector<const void*>& inputs,
                                        std::size_t first = 1);

// `steps` over `rows` rows of `channels` floats at y, in place, on up to `threads` threads.
void apply_chain(const std::vector<ChainStep>& steps, float* y, std::int64_t rows,
                 std::int64_t channels, int threads);

// The signs of `rows` rows of `channels` floats packed into words (the best bitpack path).
void pack_signs(const float* y, std::int64_t rows, std::int64_t channels, word_t* out, int threads);

}  // namespace onebit
