#include "ops_pool.h"

#include <algorithm>
#include <tuple>
#include <vector>

#include "common/threads.h"
#include "common/window.h"
#include "float/float_window.h"
#include "bmaxpool2d/bmaxpool2d.h"

namespace onebit {

namespace {

std::string pair_list(std::int64_t first, std::int64_t second) {
  return "[" + std::to_string(first) + ", " + std::to_string(second) + "]";
}

// Splits `batch` samples over at most `threads` tasks and calls fn(first, last) for each range.
template <typename Fn>
void for_samples(std::int64_t batch, int threads, Fn fn) {
  const std::int64_t tasks = std::max<std::int64_t>(1, std::min<std::int64_t>(threads, batch));
  if (tasks == 1) return fn(0, batch);
  parallel_for(
      tasks, [&](std::int64_t t) { fn(batch * t / tasks, batch * (t + 1) / tasks); },
      static_cast<int>(tasks));
}

// NumPy's pairwise float32 sum of a contiguous run (pairwise_sum_FLOAT in
// numpy/_core/src/umath/loops_utils.h.src, 8 accumulators, blocks of 128), which np.add.reduce
// uses when the reduced axis is the innermost one. It must match NumPy operation for operation.
float numpy_pairwise_sum(const float* a, std::int64_t n) {
  if (n < 8) {
    float sum = -0.0f;
    for (std::int64_t i = 0; i < n; ++i) sum += a[i];
    return sum;
  }
  if (n <= 128) {
    float r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    std::int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    float sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) sum += a[i];
    return sum;
  }
  std::int64_t half = n / 2;
  half -= half % 8;
  return numpy_pairwise_sum(a, half) + numpy_pairwise_sum(a + half, n - half);
}

}  // namespace

WindowPool::WindowPool(const json& spec, const TensorTable& tensors, const char* type, Kind kind,
                       bool half_padding)
    : Op(spec, tensors, type, 1), kind_(kind) {
  std::tie(kh_, kw_) = pair_attr("kernel", 1);
  std::tie(sh_, sw_) = pair_attr("stride", 1);
  std::tie(ph_, pw_) = pair_attr("padding", 0);
  if (half_padding && (2 * ph_ > kh_ || 2 * pw_ > kw_))
    throw program_error("op " + where() + ": padding " + pair_list(ph_, pw_) +
                        " must be at most half the kernel " + pair_list(kh_, kw_));
}

Value WindowPool::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, kind_, 3);
  h_ = x.shape[0];
  w_ = x.shape[1];
  c_ = x.shape[2];
  const std::int64_t ho = window_side(h_, ph_, ph_, kh_, sh_, where());
  const std::int64_t wo = window_side(w_, pw_, pw_, kw_, sw_, where());
  const std::int64_t padded = product({h_ + 2 * ph_, w_ + 2 * pw_, c_}, "the padded map", where());
  scratch_ = kind_size(kind_) * padded;
  work_ = window_work({ho, wo, c_}, padded);
  if (kind_ == Kind::bits) return bits_value({ho, wo, c_}, x.channels, where());
  return float_value({ho, wo, c_}, x.bound, where());
}

double WindowPool::window_work(const Shape& output, std::int64_t) {
  return double(output[0]) * double(output[1]) * double(output[2]) * double(kh_) * double(kw_);
}

WindowGeometry WindowPool::geometry(std::int64_t batch) const {
  WindowGeometry g;
  g.n = batch, g.h = h_, g.w = w_, g.c = c_;
  g.kh = kh_, g.kw = kw_, g.sh = sh_, g.sw = sw_;
  g.top = g.bottom = ph_;
  g.left = g.right = pw_;
  return g;
}

void MaxPool2d::run(const std::vector<const void*>& inputs, void* output,
                    const RunContext& ctx) const {
  const WindowGeometry g = geometry(ctx.batch);
  float_maxpool2d(static_cast<const float*>(inputs[0]), g, ctx.threads, static_cast<float*>(output));
}

void BinaryMaxPool2d::run(const std::vector<const void*>& inputs, void* output,
                          const RunContext& ctx) const {
  const word_t* x = static_cast<const word_t*>(inputs[0]);
  word_t* out = static_cast<word_t*>(output);
  Pool2dGeometry g;
  g.h = h_;
  g.w = w_;
  g.words = c_;
  g.kh = kh_;
  g.kw = kw_;
  g.sh = sh_;
  g.sw = sw_;
  g.ph = ph_;
  g.pw = pw_;
  const std::int64_t in_words = h_ * w_ * c_, out_words = g.ho() * g.wo() * c_;
  for_samples(ctx.batch, ctx.threads, [&](std::int64_t first, std::int64_t last) {
    Pool2dGeometry part = g;
    part.n = last - first;
    bmaxpool2d(x + first * in_words, part, out + first * out_words);
  });
}

Value AvgPool2d::infer(const std::vector<Value>& inputs) {
  const std::int64_t taps = kh_ * kw_;
  if (taps <= kMaxTaps) check_sum(taps, inputs[0].bound, where());  // summed in float32
  return WindowPool::infer(inputs);
}

double AvgPool2d::window_work(const Shape& output, std::int64_t padded) {
  if (kh_ * kw_ > kMaxTaps) {
    scratch_ += 24 * padded;  // the Python op's float64 table and two gathers of its rows
    return 4.0 * double(padded);
  }
  return WindowPool::window_work(output, padded);
}

void AvgPool2d::run(const std::vector<const void*>& inputs, void* output,
                    const RunContext& ctx) const {
  const float* x = static_cast<const float*>(inputs[0]);
  float* out = static_cast<float*>(output);
  if (kh_ * kw_ > kMaxTaps) return run_prefix_sums(x, out, ctx);
  run_taps(x, out, ctx);
}

// The Python op pads with zeros, copies tap (0, 0) and adds the other taps to it one by one in
// (i, j) order, each a float32 add (a padded tap adds +0.0f), then divides by float32(KH * KW):
// the same operations in the same order here, so the sums round alike.
void AvgPool2d::run_taps(const float* x, float* out, const RunContext& ctx) const {
  const WindowGeometry g = geometry(ctx.batch);
  const std::int64_t ho = g.ho(), wo = g.wo(), c = c_;
  const float taps = static_cast<float>(kh_ * kw_);  // exact: at most kMaxTaps
  for_output_rows(g, saturating_mul(wo * c, kh_ * kw_), ctx.threads,
                  [&](std::int64_t n, std::int64_t oh) {
    float* dst = out + (n * ho + oh) * wo * c;
    for (std::int64_t ow = 0; ow < wo; ++ow, dst += c) {
      for (std::int64_t i = 0; i < kh_; ++i) {
        const std::int64_t ih = oh * sh_ - ph_ + i;
        for (std::int64_t j = 0; j < kw_; ++j) {
          const std::int64_t iw = ow * sw_ - pw_ + j;
          const bool inside = ih >= 0 && ih < h_ && iw >= 0 && iw < w_;
          const float* src = inside ? x + ((n * h_ + ih) * w_ + iw) * c : nullptr;
          if (i == 0 && j == 0) {
            if (inside) std::copy(src, src + c, dst);
            else std::fill(dst, dst + c, 0.0f);
          } else if (inside) {
            for (std::int64_t k = 0; k < c; ++k) dst[k] = dst[k] + src[k];
          } else {
            for (std::int64_t k = 0; k < c; ++k) dst[k] = dst[k] + 0.0f;  // -0.0f becomes +0.0f
          }
        }
      }
      for (std::int64_t k = 0; k < c; ++k) dst[k] = dst[k] / taps;
    }
  });
}

// The Python op's summed-area table, in its order of operations: a float64 cumulative sum of the
// padded map down the height (np.cumsum: each row its predecessor plus itself), then across the
// width, then each window as ((bottom-right - bottom-left) - top-right) + top-left, divided by
// float64(KH * KW) and rounded to float32 once.
void AvgPool2d::run_prefix_sums(const float* x, float* out, const RunContext& ctx) const {
  const std::int64_t height = h_ + 2 * ph_, width = w_ + 2 * pw_, c = c_;
  const std::int64_t ho = window_output_side(height, kh_, sh_);
  const std::int64_t wo = window_output_side(width, kw_, sw_);
  const std::int64_t row = (width + 1) * c;  // one row of the table, with its leading zero column
  const double taps = static_cast<double>(kh_ * kw_);
  for_samples(ctx.batch, ctx.threads, [&](std::int64_t first, std::int64_t last) {
    std::vector<double> table(static_cast<std::size_t>((height + 1) * row), 0.0);
    for (std::int64_t n = first; n < last; ++n) {
      const float* sample = x + n * h_ * w_ * c;
      for (std::int64_t y = 0; y < height; ++y) {
        const std::int64_t iy = y - ph_;
        double* dst = table.data() + (y + 1) * row + c;
        const double* above = dst - row;
        for (std::int64_t xx = 0; xx < width; ++xx, dst += c, above += c) {
          const std::int64_t ix = xx - pw_;
          const bool inside = iy >= 0 && iy < h_ && ix >= 0 && ix < w_;
          const float* src = inside ? sample + (iy * w_ + ix) * c : nullptr;
          for (std::int64_t k = 0; k < c; ++k) {
            const double value = inside ? static_cast<double>(src[k]) : 0.0;
            dst[k] = y == 0 ? value : above[k] + value;
          }
        }
      }
      for (std::int64_t y = 1; y <= height; ++y) {
        double* line = table.data() + y * row + c;
        for (std::int64_t xx = 1; xx < width; ++xx)
          for (std::int64_t k = 0; k < c; ++k) line[xx * c + k] = line[(xx - 1) * c + k] + line[xx * c + k];
      }
      float* dst = out + n * ho * wo * c;
      for (std::int64_t oh = 0; oh < ho; ++oh) {
        const double* top = table.data() + oh * sh_ * row;
        const double* bottom = top + kh_ * row;
        for (std::int64_t ow = 0; ow < wo; ++ow, dst += c) {
          const std::int64_t left = ow * sw_ * c, right = (ow * sw_ + kw_) * c;
          for (std::int64_t k = 0; k < c; ++k) {
            const double sum =
                bottom[right + k] - bottom[left + k] - top[right + k] + top[left + k];
            dst[k] = static_cast<float>(sum / taps);
          }
        }
      }
    }
  });
}

Value GlobalAvgPool::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32, 3);
  work_ = double(x.elements());
  check_sum(x.shape[0] * x.shape[1], x.bound, where());
  pixels_ = x.shape[0] * x.shape[1];
  c_ = x.shape[2];
  return float_value({c_}, x.bound, where());
}

// The Python op is x.mean(axis=(1, 2), dtype=float32): np.add.reduce from +0.0 then a division
// by the count as an intp, i.e. in float64, rounded to float32. The reduction's order depends on
// the layout NumPy's iterator picks: with one channel the pixels are the innermost run and NumPy
// sums them pairwise (numpy_pairwise_sum); with more, each channel is summed pixel after pixel in
// (h, w) order. Both are reproduced here operation for operation.
void GlobalAvgPool::run(const std::vector<const void*>& inputs, void* output,
                        const RunContext& ctx) const {
  const float* x = static_cast<const float*>(inputs[0]);
  float* out = static_cast<float*>(output);
  const double count = static_cast<double>(pixels_);
  for_row_chunks(ctx.batch, pixels_ * c_, ctx.threads, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t n = first; n < last; ++n) {
      const float* sample = x + n * pixels_ * c_;
      float* dst = out + n * c_;
      if (c_ == 1) {
        dst[0] = 0.0f + numpy_pairwise_sum(sample, pixels_);
      } else {
        std::fill(dst, dst + c_, 0.0f);
        for (std::int64_t p = 0; p < pixels_; ++p)
          for (std::int64_t k = 0; k < c_; ++k) dst[k] = dst[k] + sample[p * c_ + k];
      }
      for (std::int64_t k = 0; k < c_; ++k)
        dst[k] = static_cast<float>(static_cast<double>(dst[k]) / count);
    }
  });
}

}  // namespace onebit
