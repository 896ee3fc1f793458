#include "ops_concat.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/threads.h"
#include "float/float_chain.h"

namespace onebit {

Pad::Pad(const json& spec, const TensorTable& tensors) : Op(spec, tensors, "pad", 1) {
  padding_ = padding_attr();
  value_ = float_attr("value");
}

Value Pad::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32, 3);
  h_ = x.shape[0];
  w_ = x.shape[1];
  c_ = x.shape[2];
  const Shape shape{checked(big_int{h_} + padding_[0] + padding_[1], "the padded height", where()),
                    checked(big_int{w_} + padding_[2] + padding_[3], "the padded width", where()),
                    c_};
  return float_value(shape, std::max(x.bound, std::fabs(value_)), where());
}

void Pad::run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const {
  const float* x = static_cast<const float*>(inputs[0]);
  float* out = static_cast<float*>(output);
  const float value = static_cast<float>(value_);  // NumPy's cast of the constant: to nearest
  const std::int64_t width = w_ + padding_[2] + padding_[3], row = width * c_;
  const std::int64_t height = h_ + padding_[0] + padding_[1];
  const std::int64_t left = padding_[2] * c_, right = padding_[3] * c_;
  for_row_chunks(ctx.batch * height, row, ctx.threads, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      float* dst = out + r * row;
      const std::int64_t n = r / height, y = r % height - padding_[0];
      if (y < 0 || y >= h_) {
        std::fill(dst, dst + row, value);
        continue;
      }
      std::fill(dst, dst + left, value);
      std::memcpy(dst + left, x + (n * h_ + y) * w_ * c_,
                  static_cast<std::size_t>(w_ * c_) * sizeof(float));
      std::fill(dst + row - right, dst + row, value);
    }
  });
}

UpsampleNearest::UpsampleNearest(const json& spec, const TensorTable& tensors)
    : Op(spec, tensors, "upsample_nearest", 1) {
  scale_ = pair_attr("scale", 1);
}

Value UpsampleNearest::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, x.kind == Kind::bits ? Kind::bits : Kind::float32, 3);
  h_ = x.shape[0];
  w_ = x.shape[1];
  pixel_bytes_ = x.shape[2] * kind_size(x.kind);
  Shape shape{checked(big_int{h_} * scale_.first, "the upsampled height", where()),
              checked(big_int{w_} * scale_.second, "the upsampled width", where()), x.shape[2]};
  if (x.kind == Kind::bits) return bits_value(shape, x.channels, where(), x.row_bits);
  return float_value(shape, x.bound, where());
}

void UpsampleNearest::run(const std::vector<const void*>& inputs, void* output,
                          const RunContext& ctx) const {
  const char* x = static_cast<const char*>(inputs[0]);
  char* out = static_cast<char*>(output);
  const std::int64_t height = h_ * scale_.first, width = w_ * scale_.second;
  const std::size_t pixel = static_cast<std::size_t>(pixel_bytes_);
  for_row_chunks(ctx.batch * height, width * pixel_bytes_, ctx.threads,
                 [&](std::int64_t r0, std::int64_t r1) {
                   for (std::int64_t r = r0; r < r1; ++r) {
                     const std::int64_t n = r / height, y = r % height / scale_.first;
                     const char* src = x + (n * h_ + y) * w_ * pixel_bytes_;
                     char* dst = out + r * width * pixel_bytes_;
                     for (std::int64_t i = 0; i < w_; ++i)
                       for (std::int64_t k = 0; k < scale_.second; ++k, dst += pixel)
                         std::memcpy(dst, src + i * pixel_bytes_, pixel);
                   }
                 });
}

ChannelShuffle::ChannelShuffle(const json& spec, const TensorTable& tensors)
    : Op(spec, tensors, "channel_shuffle", 1) {
  groups_ = int_attr("groups", 1);
}

Value ChannelShuffle::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32);
  if (x.shape.size() != 1 && x.shape.size() != 3)
    throw program_error("op " + where() +
                        ": its input must be a float map (H, W, C) or vector (C,) per sample, got " +
                        x.describe());
  channels_ = x.shape.back();
  if (channels_ % groups_ != 0)
    throw program_error("op " + where() + ": groups=" + std::to_string(groups_) +
                        " must divide the " + std::to_string(channels_) + " channels");
  rows_ = channels_ ? x.elements() / channels_ : 0;
  return float_value(x.shape, x.bound, where());
}

void ChannelShuffle::run(const std::vector<const void*>& inputs, void* output,
                         const RunContext& ctx) const {
  const float* x = static_cast<const float*>(inputs[0]);
  float* out = static_cast<float*>(output);
  const std::int64_t rows = ctx.batch * rows_, per_group = channels_ / groups_;
  if (groups_ == 1 || per_group == 1) {  // the identity permutation
    std::memcpy(out, x, static_cast<std::size_t>(rows * channels_) * sizeof(float));
    return;
  }
  for_row_chunks(rows, channels_, ctx.threads, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* src = x + r * channels_;
      float* dst = out + r * channels_;
      for (std::int64_t b = 0; b < per_group; ++b)  // output channel b * groups + a
        for (std::int64_t a = 0; a < groups_; ++a) dst[b * groups_ + a] = src[a * per_group + b];
    }
  });
}

namespace {

// The decimal digits of a JSON integer >= 1 of any size (Python's ints are unbounded), or "" for
// anything else (a float such as 3.0, a boolean, an integer below 1). An integer past 64 bits
// comes as the C++ file reader holds it (executor/untrusted_json.h): a binary value of subtype 1
// (kBigIntegerSubtype) holding its digits.
std::string positive_integer(const json& value) {
  if (value.is_number_unsigned())
    return value.get<std::uint64_t>() >= 1 ? std::to_string(value.get<std::uint64_t>()) : "";
  if (value.is_number_integer())
    return value.get<std::int64_t>() >= 1 ? std::to_string(value.get<std::int64_t>()) : "";
  if (value.is_binary() && value.get_binary().has_subtype() && value.get_binary().subtype() == 1) {
    const std::string digits(value.get_binary().begin(), value.get_binary().end());
    return !digits.empty() && digits[0] != '-' ? digits : "";
  }
  return "";
}

}  // namespace

Concat::Concat(const json& spec, const TensorTable& tensors, const char* type, Kind kind)
    : Op(spec, tensors, type, -1), kind_(kind) {
  const json& channels = attr("channels");
  const std::size_t n = inputs().size();
  const bool tail = has_attr("post");  // then the inputs past the joined ones are its residuals
  bool ok = channels.is_array() &&
            (tail ? !channels.empty() && channels.size() <= n : channels.size() == n);
  for (std::size_t i = 0; ok && i < channels.size(); ++i) {
    channel_text_.push_back(positive_integer(channels[i]));
    ok = !channel_text_.back().empty();
    // above kMaxSize: no input has that many channels, and infer() refuses it by its text
    const bool fits = ok && channel_text_.back().size() <= 10 &&
                      std::stoll(channel_text_.back()) <= kMaxSize;
    channels_.push_back(fits ? std::stoll(channel_text_.back()) : -1);
  }
  if (!ok && tail)
    throw program_error("op " + where() + ": channels must be one integer >= 1 per joined input (" +
                        std::to_string(n) + " inputs: the joined, then one per add step)");
  if (!ok)
    throw program_error("op " + where() + ": channels must be one integer >= 1 per input (" +
                        std::to_string(n) + " inputs)");
  big_int joined = 0;
  for (std::int64_t c : channels_) joined += c < 0 ? big_int{kMaxSize} + 1 : big_int{c};
  if (tail && joined > kMaxSize)
    throw program_error("op " + where() + ": a post tail needs at most 2^31-1 joined channels");
  post_ = init_post(*this, tail ? static_cast<std::int64_t>(joined) : 0, kind_ == Kind::float32,
                    static_cast<std::int64_t>(channels_.size()));
  if (kind_ == Kind::bits)
    aligned_ = std::all_of(channels_.begin(), channels_.end() - 1,  // -1: infer() refuses it
                           [](std::int64_t c) { return c % kWordBits == 0; });
}

std::int64_t Concat::width(std::int64_t channels) const {
  return kind_ == Kind::bits ? words_for(channels) : channels;
}

Value Concat::infer(const std::vector<Value>& values) {
  const std::vector<Value> inputs(values.begin(), values.begin() + channels_.size());  // joined
  const Value& first = inputs[0];
  const auto prefix = [](const Value& value) { return Shape(value.shape.begin(), value.shape.end() - 1); };
  widths_.clear();
  big_int total = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Value& x = inputs[i];
    expect(x, kind_, -1, "input #" + std::to_string(i));
    if ((x.shape.size() != 1 && x.shape.size() != 3) || prefix(x) != prefix(first) ||
        channels_[i] < 0 || x.shape.back() != width(channels_[i]) || x.channels != channels_[i]) {
      std::string described, listed;
      for (std::size_t j = 0; j < inputs.size(); ++j)
        described += (j ? ", '" : "'") + inputs[j].describe() + "'";  // its Python repr
      for (std::size_t j = 0; j < channel_text_.size(); ++j)
        listed += (j ? ", " : "") + channel_text_[j];
      throw program_error("op " + where() + ": cannot join [" + described + "] as [" + listed +
                          "] channels of equal height and width");
    }
    widths_.push_back(x.shape.back());
    total += channels_[i];
  }
  const std::int64_t joined = checked(total, "the joined channels", where());
  Shape shape = prefix(first);
  rows_ = product(shape, "the output's element count", where());
  shape.push_back(width(joined));
  total_width_ = shape.back();
  if (kind_ == Kind::bits) {
    if (!aligned_) {  // the Python op unpacks to float, joins and packs again
      Shape unpacked = prefix(first);
      unpacked.push_back(joined);
      scratch_ = 8 * product(unpacked, "the unpacked map", where());
    }
    return bits_value(shape, joined, where());
  }
  double bound = 0.0;
  for (const Value& x : inputs) bound = std::max(bound, x.bound);
  return post_output(*this, std::vector<Value>(values.begin() + channels_.size(), values.end()),
                     shape, bound, post_);
}

// Rows joined a tile at a time, the post tail run on each tile right after its copy, while it is
// in L1 (one pass over the map instead of one per step). Without a tail the tiles are the chunks.
void Concat::run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const {
  const std::size_t size = static_cast<std::size_t>(kind_size(kind_));
  char* out = static_cast<char*>(output);
  const std::vector<ChainStep> steps = post_.steps(residual_maps(inputs, channels_.size()));
  const SimdPath path = default_simd_path();
  for_row_chunks(ctx.batch * rows_, total_width_, ctx.threads, [&](std::int64_t r0, std::int64_t r1) {
    const std::int64_t tile = steps.empty() ? r1 - r0 : chain_tile_rows(total_width_);
    for (std::int64_t t = r0; t < r1; t += tile) {
      const std::int64_t n = std::min(tile, r1 - t);
      for (std::int64_t r = t; r < t + n; ++r) {
        char* dst = out + r * total_width_ * size;
        for (std::size_t i = 0; i < widths_.size(); ++i) {
          const std::size_t bytes = static_cast<std::size_t>(widths_[i]) * size;
          std::memcpy(dst, static_cast<const char*>(inputs[i]) + r * bytes, bytes);
          dst += bytes;
        }
      }
      apply_chain_rows(steps, total_width_, reinterpret_cast<float*>(out) + t * total_width_,
                       total_width_, t, n, 0, total_width_, path);
    }
  });
}

BinaryConcat::BinaryConcat(const json& spec, const TensorTable& tensors)
    : Concat(spec, tensors, "binary_concat", Kind::bits) {}

void BinaryConcat::run(const std::vector<const void*>& inputs, void* output,
                       const RunContext& ctx) const {
  if (aligned_) return Concat::run(inputs, output, ctx);
  word_t* out = static_cast<word_t*>(output);
  for_row_chunks(ctx.batch * rows_, total_width_, ctx.threads, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      word_t* dst = out + r * total_width_;
      std::fill(dst, dst + total_width_, word_t{0});
      std::int64_t bit = 0;  // where the next input's first channel goes
      for (std::size_t i = 0; i < widths_.size(); ++i) {
        const std::int64_t channels = channels_[i];
        const word_t* src = static_cast<const word_t*>(inputs[i]) + r * widths_[i];
        for (std::int64_t w = 0; w < widths_[i]; ++w, bit += kWordBits) {
          const std::int64_t real = std::min<std::int64_t>(kWordBits, channels - w * kWordBits);
          const word_t word = real == kWordBits ? src[w] : src[w] & ((word_t{1} << real) - 1);
          const int shift = static_cast<int>(bit % kWordBits);
          dst[bit / kWordBits] |= word << shift;
          if (shift != 0 && shift + real > kWordBits) dst[bit / kWordBits + 1] |= word >> (kWordBits - shift);
        }
        bit -= widths_[i] * kWordBits - channels;  // back over the last word's unused bits
      }
    }
  });
}

}  // namespace onebit
