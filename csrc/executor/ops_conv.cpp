#include "ops_conv.h"

#include <cmath>
#include <cstring>

#include "bconv2d/bconv2d.h"
#include "bitpack/bitpack.h"
#include "common/cpu_features.h"
#include "common/threads.h"
#include "float/depthwise_conv2d.h"
#include "float/float_chain.h"
#include "float/float_window.h"
#include "float/sgemm.h"

namespace onebit {

Conv2d::Conv2d(const json& spec, const TensorTable& tensors)
    : Op(spec, tensors, "conv2d", -1),
      cin_(int_attr("cin", 1)),
      cout_(int_attr("cout", 1)),
      kh_(pair_attr("kernel", 1).first),
      kw_(pair_attr("kernel", 1).second),
      sh_(pair_attr("stride", 1).first),
      sw_(pair_attr("stride", 1).second),
      padding_(padding_attr()),
      pad_value_(float_attr("pad_value")),
      groups_(read_groups()),
      weight_(weights_float(*this, {cout_, kh_, kw_, cin_ / groups_})),
      gain_(row_sums(weight_, cout_)),
      epilogue_(*this, cout_),
      post_(init_post(*this, cout_, epilogue_.kind() != FloatEpilogue::Kind::sign)) {
  const std::int64_t group_in = cin_ / groups_, group_out = cout_ / groups_, taps = kh_ * kw_;
  std::vector<float> laid(weight_.size());
  if (groups_ == 1) {  // (KH * KW * Cin, Cout): rows in the im2col columns' order
    const std::int64_t patch = taps * cin_;
    for (std::int64_t o = 0; o < cout_; ++o)
      for (std::int64_t i = 0; i < patch; ++i) laid[i * cout_ + o] = weight_[o * patch + i];
  } else if (group_in == 1) {  // depthwise (KH, KW, Cout): tap-major
    for (std::int64_t o = 0; o < cout_; ++o)
      for (std::int64_t t = 0; t < taps; ++t) laid[t * cout_ + o] = weight_[o * taps + t];
  } else {  // (G, Cin/G * KH * KW, Cout/G), each row (c, kh, kw) as the grouped columns
    for (std::int64_t g = 0; g < groups_; ++g)
      for (std::int64_t j = 0; j < group_out; ++j)
        for (std::int64_t t = 0; t < taps; ++t)
          for (std::int64_t c = 0; c < group_in; ++c)
            laid[(g * group_in * taps + c * taps + t) * group_out + j] =
                weight_[((g * group_out + j) * taps + t) * group_in + c];
  }
  weight_.swap(laid);
  depthwise_ = groups_ > 1 && group_in == 1;
  if (depthwise_ && epilogue_.kind() == FloatEpilogue::Kind::none) {
    ones_.assign(static_cast<std::size_t>(cout_), 1.0f);
    zeros_.assign(static_cast<std::size_t>(cout_), 0.0f);
  }
}

std::int64_t Conv2d::read_groups() const {
  const std::int64_t groups = has_attr("groups") ? int_attr("groups", 1) : 1;
  if (cin_ % groups || cout_ % groups)
    throw program_error("op " + where() + ": groups=" + std::to_string(groups) +
                        " must divide both cin=" + std::to_string(cin_) + " and cout=" +
                        std::to_string(cout_));
  return groups;
}

Value Conv2d::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32, 3);
  height_ = x.shape[0];
  width_ = x.shape[1];
  const std::int64_t channels = x.shape[2];
  if (channels != cin_)
    throw program_error("op " + where() + ": cin=" + std::to_string(cin_) + " but its input has " +
                        std::to_string(channels));
  const std::int64_t top = padding_[0], bottom = padding_[1], left = padding_[2], right = padding_[3];
  ho_ = window_side(height_, top, bottom, kh_, sh_, where());
  wo_ = window_side(width_, left, right, kw_, sw_, where());
  const std::int64_t group_in = cin_ / groups_;
  work_ = double(ho_) * double(wo_) * double(cout_) * double(kh_) * double(kw_) * double(group_in);
  const std::int64_t outputs = checked(big_int{ho_} * wo_ * cout_, "the output", where());
  if (depthwise_) {
    scratch_ = 4 * big_int{outputs};
  } else {
    const std::int64_t columns =
        product({ho_, wo_, kh_, kw_, cin_}, "the im2col columns", where());
    if (groups_ == 1) {
      scratch_ = 4 * (big_int{columns} + outputs);
    } else {
      const big_int padded = big_int{height_ + top + bottom} * (width_ + left + right) * cin_;
      scratch_ = 4 * (padded + 2 * big_int{columns} + 2 * big_int{outputs});
    }
  }
  const double bound = std::max(x.bound, std::fabs(pad_value_)) * gain_;
  return layer_output(*this, inputs, {ho_, wo_}, cout_, bound, epilogue_.kind_name(),
                      epilogue_.bound(bound), post_);
}

void Conv2d::run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const {
  const float* x = static_cast<const float*>(inputs[0]);
  const bool sign = epilogue_.kind() == FloatEpilogue::Kind::sign;
  const std::int64_t rows = ctx.batch * ho_ * wo_;
  std::vector<float> signs(sign ? static_cast<std::size_t>(rows * cout_) : 0);
  float* y = sign ? signs.data() : static_cast<float*>(output);
  const std::int64_t top = padding_[0], bottom = padding_[1], left = padding_[2], right = padding_[3];
  if (depthwise_) {
    DepthwiseGeometry g;
    g.n = ctx.batch, g.h = height_, g.w = width_, g.c = cin_, g.m = cout_ / cin_;
    g.kh = kh_, g.kw = kw_, g.sh = sh_, g.sw = sw_;
    g.top = top, g.bottom = bottom, g.left = left, g.right = right;
    g.pad_value = static_cast<float>(pad_value_);
    const bool affine = epilogue_.kind() != FloatEpilogue::Kind::none;
    const std::vector<ChainStep> post = post_.steps(residual_maps(inputs));
    const std::vector<ChainStep> chain = epilogue_.steps(nullptr, {});
    depthwise_conv2d(x, weight_.data(), g, affine ? chain[0].a : ones_.data(),
                     affine ? chain[0].b : zeros_.data(), post, ctx.threads, y);
  } else if (groups_ == 1) {
    const bool direct = kh_ == 1 && kw_ == 1 && sh_ == 1 && sw_ == 1 && !top && !bottom && !left && !right;
    const std::vector<ChainStep> steps = epilogue_.steps(&post_, residual_maps(inputs));
    if (direct) {
      direct_sgemm(x, steps, y, rows, ctx.threads);
    } else {
      WindowGeometry g;
      g.n = ctx.batch, g.h = height_, g.w = width_, g.c = cin_;
      g.kh = kh_, g.kw = kw_, g.sh = sh_, g.sw = sw_;
      g.top = top, g.bottom = bottom, g.left = left, g.right = right;
      im2col_sgemm(x, g, steps, y, ctx.threads);
    }
  } else {
    run_grouped(x, y, ctx);
    apply_chain(epilogue_.steps(&post_, residual_maps(inputs)), y, rows, cout_, ctx.threads);
  }
  if (sign) pack_signs(y, rows, cout_, static_cast<word_t*>(output), ctx.threads);
}

// sgemm and the chain per tile of pixels (about kPixelTileBytes of input rows), so the chain (a
// batch norm, a ReLU, a residual add) runs on each tile while it is in cache instead of in a
// second pass over the whole map. sgemm's sums do not depend on the tiling. 128 KiB: 128 pixels of
// 256 channels, enough rows for the AVX2 sgemm's packed panels (the hourglass head's 1x1 conv
// 256 -> 256 at 64x64 went from 8.2 to 6.7 ms against 64 KiB).
void Conv2d::direct_sgemm(const float* x, const std::vector<ChainStep>& steps, float* y,
                          std::int64_t rows, int threads) const {
  constexpr std::int64_t kPixelTileBytes = 128 * 1024;
  const std::int64_t quantum = kSgemmTaskRows;
  const std::int64_t tile = std::max<std::int64_t>(
      quantum, kPixelTileBytes / (cin_ * std::int64_t{sizeof(float)}) / quantum * quantum);
  const std::int64_t tiles = (rows + tile - 1) / tile;
  const SimdPath path = default_simd_path();
  auto task = [&](std::int64_t t) {
    const std::int64_t p0 = t * tile, p1 = std::min(rows, p0 + tile);
    sgemm(SgemmProblem{x + p0 * cin_, weight_.data(), y + p0 * cout_, p1 - p0, cout_, cin_}, path,
          1);
    apply_chain_rows(steps, cout_, y + p0 * cout_, cout_, p0, p1 - p0, 0, cout_, path);
  };
  const std::int64_t useful = std::max<std::int64_t>(
      1, saturating_mul(rows * cout_, cin_) / kMinSgemmCostPerThread);
  const int n_threads = static_cast<int>(std::min<std::int64_t>({threads, useful, tiles}));
  if (n_threads <= 1) {
    for (std::int64_t t = 0; t < tiles; ++t) task(t);
  } else {
    parallel_for(tiles, task, n_threads);
  }
}

// im2col, sgemm and the chain per tile of output pixels, each tile's columns (about
// kColumnTileBytes) in a thread-local buffer, so they stay in cache between the three instead of
// the whole map's columns passing through memory. sgemm's sums do not depend on the tiling.
void Conv2d::im2col_sgemm(const float* x, const WindowGeometry& g,
                          const std::vector<ChainStep>& steps, float* y, int threads) const {
  constexpr std::int64_t kColumnTileBytes = 128 * 1024;
  const std::int64_t rows = g.pixels(), patch = kh_ * kw_ * cin_;
  const std::int64_t quantum = kSgemmTaskRows;
  const std::int64_t tile = std::max<std::int64_t>(
      quantum, kColumnTileBytes / (patch * std::int64_t{sizeof(float)}) / quantum * quantum);
  const std::int64_t tiles = (rows + tile - 1) / tile;
  const SimdPath path = default_simd_path();
  const float pad = static_cast<float>(pad_value_);
  auto task = [&](std::int64_t t) {
    const std::int64_t p0 = t * tile, p1 = std::min(rows, p0 + tile);
    float* columns = onebit::scratch<float, 3>((p1 - p0) * patch);
    float_im2col_pixels(x, g, pad, p0, p1, columns);
    sgemm(SgemmProblem{columns, weight_.data(), y + p0 * cout_, p1 - p0, cout_, patch}, path, 1);
    apply_chain_rows(steps, cout_, y + p0 * cout_, cout_, p0, p1 - p0, 0, cout_, path);
  };
  const std::int64_t useful = std::max<std::int64_t>(
      1, saturating_mul(rows * cout_, patch) / kMinSgemmCostPerThread);
  const int n_threads = static_cast<int>(std::min<std::int64_t>({threads, useful, tiles}));
  if (n_threads <= 1) {
    for (std::int64_t t = 0; t < tiles; ++t) task(t);
  } else {
    parallel_for(tiles, task, n_threads);
  }
}

// Grouped (not depthwise): per group, the windows of its channels as rows in (c, kh, kw) order
// times its (Cin/G * KH * KW, Cout/G) weights. The Python runtime computes this with NumPy's
// matmul (BLAS), so the two agree to float32 rounding, not bit for bit.
void Conv2d::run_grouped(const float* x, float* y, const RunContext& ctx) const {
  const std::int64_t group_in = cin_ / groups_, group_out = cout_ / groups_, taps = kh_ * kw_;
  const std::int64_t top = padding_[0], left = padding_[2];
  const std::int64_t rows = ctx.batch * ho_ * wo_, patch = group_in * taps;
  const float pad = static_cast<float>(pad_value_);
  std::vector<float> columns(static_cast<std::size_t>(rows * patch));
  std::vector<float> product(static_cast<std::size_t>(rows * group_out));
  for (std::int64_t g = 0; g < groups_; ++g) {
    for_row_chunks(rows, patch, ctx.threads, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t n = r / (ho_ * wo_), oy = r / wo_ % ho_, ox = r % wo_;
        float* row = columns.data() + r * patch;
        for (std::int64_t c = 0; c < group_in; ++c)
          for (std::int64_t i = 0; i < kh_; ++i)
            for (std::int64_t j = 0; j < kw_; ++j) {
              const std::int64_t iy = oy * sh_ + i - top, ix = ox * sw_ + j - left;
              const bool inside = iy >= 0 && iy < height_ && ix >= 0 && ix < width_;
              row[c * taps + i * kw_ + j] =
                  inside ? x[((n * height_ + iy) * width_ + ix) * cin_ + g * group_in + c] : pad;
            }
      }
    });
    sgemm(SgemmProblem{columns.data(), weight_.data() + g * patch * group_out, product.data(), rows,
                       group_out, patch},
          default_simd_path(), ctx.threads);
    for (std::int64_t r = 0; r < rows; ++r)
      std::memcpy(y + r * cout_ + g * group_out, product.data() + r * group_out,
                  static_cast<std::size_t>(group_out) * sizeof(float));
  }
}

BinaryConv2d::BinaryConv2d(const json& spec, const TensorTable& tensors)
    : Op(spec, tensors, "binary_conv2d", -1),
      cin_(int_attr("cin", 1)),
      sh_(pair_attr("stride", 1).first),
      sw_(pair_attr("stride", 1).second),
      ph_(pair_attr("padding", 0).first),
      pw_(pair_attr("padding", 0).second),
      pad_value_(float_attr("pad_value", {0.0, 1.0})),
      dh_(has_attr("dilation") ? pair_attr("dilation", 1).first : 1),
      dw_(has_attr("dilation") ? pair_attr("dilation", 1).second : 1),
      groups_(read_groups()),
      weight_(&checked_weight()),
      epilogue_(*this, weight_->shape()[0]),
      post_(init_post(*this, weight_->shape()[0], epilogue_.kind() == IntEpilogue::Kind::float32)) {}

std::int64_t BinaryConv2d::read_groups() const {
  const std::int64_t groups = has_attr("groups") ? int_attr("groups", 1) : 1;
  if (cin_ % groups)
    throw program_error("op " + where() + ": groups=" + std::to_string(groups) +
                        " must divide cin=" + std::to_string(cin_));
  return groups;
}

const Tensor& BinaryConv2d::checked_weight() {
  const std::int64_t group_cin = cin_ / groups_;
  const Tensor& weight = tensor("weight", Dtype::u64, Shape{-1, -1, -1, words_for(group_cin)});
  if (weight.shape()[0] % groups_)
    throw program_error("op " + where() + ": groups=" + std::to_string(groups_) +
                        " must divide cout=" + std::to_string(weight.shape()[0]) +
                        " (the weight's first axis)");
  check_padding_bits(*this, "weight", weight, group_cin);
  return weight;
}

Value BinaryConv2d::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::bits, 3);
  height_ = x.shape[0];
  width_ = x.shape[1];
  const std::int64_t words = x.shape[2];
  if (words != words_for(cin_) || x.channels != cin_)
    throw program_error("op " + where() + ": cin=" + std::to_string(cin_) +
                        " does not match the input's " + std::to_string(x.channels) +
                        " channels in " + std::to_string(words) + " words");
  const Shape& w = weight_->shape();
  const std::int64_t cout = w[0], kh = w[1], kw = w[2], group_words = w[3];
  if (std::min({cout, kh, kw}) < 1)
    throw program_error("op " + where() + ": the weight's shape " + pyformat::tuple(w) + " is empty");
  // every factor is below 2^31: the spans fit
  const std::int64_t span_h = (kh - 1) * dh_ + 1, span_w = (kw - 1) * dw_ + 1;
  if ((dh_ != 1 || dw_ != 1) && (span_h > height_ + 2 * ph_ || span_w > width_ + 2 * pw_))
    throw program_error("op " + where() + ": the kernel " + std::to_string(kh) + "x" +
                        std::to_string(kw) + " dilated by " + std::to_string(dh_) + "x" +
                        std::to_string(dw_) + " spans " + std::to_string(span_h) + "x" +
                        std::to_string(span_w) + ", more than the padded input " +
                        std::to_string(height_ + 2 * ph_) + "x" + std::to_string(width_ + 2 * pw_));
  const std::int64_t ho = window_side(height_, ph_, ph_, span_h, sh_, where());
  const std::int64_t wo = window_side(width_, pw_, pw_, span_w, sw_, where());
  work_ = double(ho) * double(wo) * double(cout) * double(kh) * double(kw) * double(group_words);
  const std::int64_t padded =
      product({height_ + 2 * ph_, width_ + 2 * pw_, words}, "the padded map", where());
  scratch_ = big_int{sizeof(word_t)} * padded +
             4 * big_int{checked(big_int{ho} * wo * cout, "the accumulators", where())};
  const double acc_bound =
      double(checked(big_int{cin_ / groups_} * kh * kw, "the accumulator range", where()));
  return layer_output(*this, inputs, {ho, wo}, cout, acc_bound, epilogue_.kind_name(),
                      epilogue_.bound(acc_bound), post_);
}

void BinaryConv2d::run(const std::vector<const void*>& inputs, void* output,
                       const RunContext& ctx) const {
  const Shape& w = weight_->shape();
  Conv2dGeometry g;
  g.n = ctx.batch, g.h = height_, g.w = width_, g.cin = cin_, g.words = words_for(cin_);
  g.cout = w[0], g.kh = w[1], g.kw = w[2];
  g.sh = sh_, g.sw = sw_, g.ph = ph_, g.pw = pw_;
  g.zero_padding = pad_value_ == 0.0;
  g.dh = dh_, g.dw = dw_, g.groups = groups_;
  const word_t* x = static_cast<const word_t*>(inputs[0]);
  const SimdPath path = default_simd_path();
  switch (epilogue_.kind()) {
    case IntEpilogue::Kind::bits:
      bconv2d(x, weight_->data<word_t>(), g, path, ctx.threads,
              BitsOutput{&epilogue_.thresholds(), static_cast<word_t*>(output)});
      break;
    case IntEpilogue::Kind::float32: {
      const std::vector<ChainStep> post = post_.steps(residual_maps(inputs));
      bconv2d(x, weight_->data<word_t>(), g, path, ctx.threads,
              FloatOutput{epilogue_.scale(), epilogue_.bias(), static_cast<float*>(output),
                          post.empty() ? nullptr : &post});
      break;
    }
    case IntEpilogue::Kind::int32:
      bconv2d(x, weight_->data<word_t>(), g, path, ctx.threads,
              Int32Output{static_cast<std::int32_t*>(output)});
      break;
  }
}

}  // namespace onebit
