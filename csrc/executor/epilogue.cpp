#include "epilogue.h"

#include <algorithm>
#include <cmath>

#include "bitpack/bitpack.h"
#include "common/cpu_features.h"
#include "common/threads.h"

namespace onebit {

PostSteps::PostSteps(Op& op, std::int64_t channels) {
  const json& entries = op.has_attr("post") ? op.attr("post") : json::array();
  if (!entries.is_array()) throw program_error("op " + op.where() + ": post must be a list of steps");
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const json& entry = entries[i];
    const std::string prefix = "post" + std::to_string(i) + "_";
    const json step = entry.is_object() && entry.contains("step") ? entry["step"] : json();
    ChainStep chain;
    double scale_max = 0, bias_max = 0;
    if (step == "affine") {
      const Tensor& scale = op.channel_vector(prefix + "scale", channels);
      const Tensor& bias = op.channel_vector(prefix + "bias", channels);
      chain = ChainStep{ChainOp::affine, scale.data<float>(), bias.data<float>()};
      scale_max = abs_max(scale);
      bias_max = abs_max(bias);
    } else if (step == "relu") {
      chain = ChainStep{ChainOp::relu};
    } else if (step == "prelu") {
      const Tensor& slope = op.channel_vector(prefix + "slope", channels);
      chain = ChainStep{ChainOp::prelu, slope.data<float>()};
      scale_max = abs_max(slope);
    } else if (step == "hardtanh") {
      const json low = entry.contains("min") ? entry["min"] : json();
      const json high = entry.contains("max") ? entry["max"] : json();
      if (!is_float32(low) || !is_float32(high))
        throw program_error("op " + op.where() + ": post[" + std::to_string(i) +
                            "] hardtanh needs numbers min, max");
      chain = ChainStep{ChainOp::hardtanh};
      chain.lo = static_cast<float>(json_number(low));
      chain.hi = static_cast<float>(json_number(high));
      scale_max = json_number(low);  // the limits as the JSON gave them (hardtanh_bound rounds)
      bias_max = json_number(high);
    } else if (step == "add") {
      chain = ChainStep{ChainOp::add};
      scale_max = adds_++;  // the index of its residual among the op's extra inputs
    } else {
      throw program_error("op " + op.where() + ": post[" + std::to_string(i) +
                          "] must be a step affine, relu, prelu, hardtanh or add");
    }
    templates_.push_back(chain);
    scale_max_.push_back(scale_max);
    bias_max_.push_back(bias_max);
  }
}

double PostSteps::bound(double y_bound, const std::vector<double>& residual_bounds) const {
  double bound = y_bound;
  for (std::size_t i = 0; i < templates_.size(); ++i) {
    switch (templates_[i].op) {
      case ChainOp::affine: bound = bound * scale_max_[i] + bias_max_[i]; break;
      case ChainOp::prelu: bound = bound * std::max(1.0, scale_max_[i]); break;
      case ChainOp::hardtanh: bound = hardtanh_bound(bound, scale_max_[i], bias_max_[i]); break;
      case ChainOp::add: bound = bound + residual_bounds[static_cast<std::size_t>(scale_max_[i])]; break;
      case ChainOp::relu: break;
    }
  }
  return bound;
}

std::vector<ChainStep> PostSteps::steps(const std::vector<const float*>& residuals) const {
  std::vector<ChainStep> out = templates_;
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i].op == ChainOp::add) out[i].residual = residuals[static_cast<std::size_t>(scale_max_[i])];
  return out;
}

PostSteps init_post(Op& op, std::int64_t channels, bool allowed, std::int64_t joined) {
  PostSteps post(op, channels);
  if (!post.empty() && !allowed)
    throw program_error("op " + op.where() + ": a post tail needs a float output");
  const std::int64_t own = joined ? joined : 1;
  if (static_cast<std::int64_t>(op.inputs().size()) != own + post.adds())
    throw program_error("op " + op.where() + " takes " + std::to_string(own + post.adds()) +
                        " input(s): " +
                        (joined ? "the " + std::to_string(joined) + " it joins" : "its own") +
                        " and one per add step");
  return post;
}

double hardtanh_bound(double bound, double low, double high) {
  const double lo = static_cast<float>(low), hi = static_cast<float>(high);
  const double lower = std::min(std::max(-bound, lo), hi);
  const double upper = std::min(std::max(bound, lo), hi);
  return std::max(std::fabs(lower), std::fabs(upper));
}

AffineParams read_affine(Op& op, std::int64_t channels) {
  const Tensor& scale = op.channel_vector("scale", channels);
  const Tensor& bias = op.channel_vector("bias", channels);
  return AffineParams{scale.data<float>(), bias.data<float>(), abs_max(scale), abs_max(bias)};
}

IntEpilogue::IntEpilogue(Op& op, std::int64_t channels) {
  const json& kind = op.attr("epilogue");
  if (kind == "float") {
    kind_ = Kind::float32;
    affine_ = read_affine(op, channels);
  } else if (kind == "bits") {
    kind_ = Kind::bits;
    const Tensor& threshold = op.channel_vector("threshold", channels, Dtype::i32);
    const Tensor& flip = op.channel_vector("flip", channels, Dtype::u8);
    const std::uint8_t* flips = flip.data<std::uint8_t>();
    if (std::any_of(flips, flips + flip.elements(), [](std::uint8_t f) { return f > 1; }))
      throw program_error("op " + op.where() + ": flip must hold 0 or 1");
    thresholds_ = make_bit_thresholds(threshold.data<std::int32_t>(), flips, channels);
  } else if (kind == "int") {
    kind_ = Kind::int32;
  } else {
    throw program_error("op " + op.where() + ": epilogue must be 'float', 'bits' or 'int'");
  }
}

const char* IntEpilogue::kind_name() const {
  return kind_ == Kind::float32 ? "float" : kind_ == Kind::bits ? "bits" : "int";
}

double IntEpilogue::bound(double acc_bound) const {
  return kind_ == Kind::float32 ? acc_bound * affine_.scale_max + affine_.bias_max : acc_bound;
}

FloatEpilogue::FloatEpilogue(Op& op, std::int64_t channels) {
  const json kind = op.has_attr("epilogue") ? op.attr("epilogue") : json("none");
  if (kind == "affine" || kind == "sign") {
    kind_ = kind == "sign" ? Kind::sign : Kind::affine;
    affine_ = read_affine(op, channels);
  } else if (kind != "none") {
    throw program_error("op " + op.where() + ": epilogue must be 'none', 'affine' or 'sign'");
  }
}

const char* FloatEpilogue::kind_name() const {
  return kind_ == Kind::none ? "none" : kind_ == Kind::affine ? "affine" : "sign";
}

double FloatEpilogue::bound(double y_bound) const {
  return kind_ == Kind::none ? y_bound : y_bound * affine_.scale_max + affine_.bias_max;
}

std::vector<ChainStep> FloatEpilogue::steps(const PostSteps* post,
                                            const std::vector<const float*>& residuals) const {
  std::vector<ChainStep> out;
  if (kind_ != Kind::none) out.push_back(ChainStep{ChainOp::affine, affine_.scale, affine_.bias});
  if (post) {
    const std::vector<ChainStep> tail = post->steps(residuals);
    out.insert(out.end(), tail.begin(), tail.end());
  }
  return out;
}

Value layer_output(const Op& op, const std::vector<Value>& inputs, const Shape& prefix,
                   std::int64_t channels, double bound, const char* epilogue_kind,
                   double epilogue_bound, const PostSteps& post) {
  const std::string kind = epilogue_kind;
  Shape shape = prefix;
  if (kind == "bits" || kind == "sign") {
    shape.push_back(words_for(channels));
    return bits_value(shape, channels, op.where());
  }
  (void)bound;  // the caller passes epilogue.bound(bound) as epilogue_bound
  shape.push_back(channels);
  if (kind == "int") return Value{Kind::int32, shape, channels, epilogue_bound, 0};
  return post_output(op, std::vector<Value>(inputs.begin() + 1, inputs.end()), shape,
                     epilogue_bound, post);
}

Value post_output(const Op& op, const std::vector<Value>& residuals, const Shape& shape,
                  double bound, const PostSteps& post) {
  std::vector<double> residual_bounds;
  for (const Value& residual : residuals) {
    op.expect(residual, Kind::float32, -1, "residual");
    if (residual.shape != shape)
      throw program_error("op " + op.where() + ": a residual of shape " +
                          pyformat::tuple(residual.shape) + " cannot be added to its output of shape " +
                          pyformat::tuple(shape));
    residual_bounds.push_back(residual.bound);
  }
  return float_value(shape, post.bound(bound, residual_bounds), op.where());
}

void check_padding_bits(const Op& op, const std::string& role, const Tensor& words,
                        std::int64_t row_bits) {
  const std::int64_t per_row = words_for(row_bits), rest = row_bits % kWordBits;
  if (rest == 0 || words.elements() == 0 || words.shape().back() % per_row) return;
  const word_t mask = ~((word_t{1} << rest) - 1);
  const word_t* data = words.data<word_t>();
  bool set = false;
  for (std::int64_t i = per_row - 1; i < words.elements() && !set; i += per_row) set = data[i] & mask;
  if (set) {
    const std::int64_t rows = words.shape().back() / per_row;
    throw program_error("op " + op.where() + ": tensor " + python_repr(op.tensor_name(role)) +
                        " (" + role + ") has bits set beyond its " + std::to_string(row_bits) +
                        " channels" + (rows > 1 ? " per pixel" : ""));
  }
}

std::vector<float> weights_float(Op& op, const Shape& shape) {
  if (op.has_role("weight_bits")) {
    Shape packed = shape;
    const std::int64_t channels = packed.back();
    packed.back() = words_for(channels);
    const Tensor& words = op.tensor("weight_bits", Dtype::u64, packed);
    check_padding_bits(op, "weight_bits", words, channels);
    const std::int64_t rows = channels ? words.elements() / packed.back() : 0;
    std::vector<float> out(static_cast<std::size_t>(rows * channels));
    unpack_rows(words.data<word_t>(), 0, rows, channels, out.data(), SimdPath::portable);
    return out;
  }
  const Tensor& weight = op.tensor("weight", Dtype::f32, shape);
  return std::vector<float>(weight.data<float>(), weight.data<float>() + weight.elements());
}

double row_sums(const std::vector<float>& weight, std::int64_t outputs) {
  const std::int64_t per_row = outputs ? static_cast<std::int64_t>(weight.size()) / outputs : 0;
  double largest = 0.0;
  for (std::int64_t o = 0; o < outputs; ++o) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < per_row; ++i) sum += std::fabs(double(weight[o * per_row + i]));
    largest = std::max(largest, sum);
  }
  return largest;
}

std::vector<const float*> residual_maps(const std::vector<const void*>& inputs, std::size_t first) {
  std::vector<const float*> out;
  for (std::size_t i = first; i < inputs.size(); ++i)
    out.push_back(static_cast<const float*>(inputs[i]));
  return out;
}

void apply_chain(const std::vector<ChainStep>& steps, float* y, std::int64_t rows,
                 std::int64_t channels, int threads) {
  if (steps.empty()) return;
  for_row_chunks(rows, channels, threads, [&](std::int64_t r0, std::int64_t r1) {
    apply_chain_rows(steps, channels, y + r0 * channels, channels, r0, r1 - r0, 0, channels);
  });
}

void pack_signs(const float* y, std::int64_t rows, std::int64_t channels, word_t* out, int threads) {
  const SimdPath path = default_simd_path();
  for_row_chunks(rows, channels, threads, [&](std::int64_t r0, std::int64_t r1) {
    bitpack_rows(y, r0, r1, channels, out, path);
  });
}

}  // namespace onebit
