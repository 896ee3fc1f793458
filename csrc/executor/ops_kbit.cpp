#include "ops_kbit.h"

#include <algorithm>

#include "bconv2d/bconv2d.h"
#include "bconv2d/output_transform.h"
#include "bitserial/bitserial_conv2d.h"
#include "common/cpu_features.h"
#include "common/threads.h"

namespace onebit {

// ---- quantize_pack -----------------------------------------------------------------------------

QuantizePack::QuantizePack(const json& spec, const TensorTable& tensors)
    : Op(spec, tensors, "quantize_pack", 1) {
  params_.bits = read_bits();
  params_.multiplier = static_cast<float>(float_attr("multiplier"));
  params_.zero_point = read_zero_point();
}

int QuantizePack::read_bits() const {
  const std::int64_t bits = int_attr("bits", 1);
  if (bits > kMaxPlanes)
    throw program_error("op " + where() + ": bits must be 1 to " + std::to_string(kMaxPlanes));
  return static_cast<int>(bits);
}

int QuantizePack::read_zero_point() const {
  const std::int64_t range = std::int64_t{1} << params_.bits;
  std::int64_t zero_point = 0;
  if (!json_integer_in(attr("zero_point"), -range, range, zero_point))
    throw program_error("op " + where() + ": zero_point must be an integer within ±2^bits (" +
                        std::to_string(range) + ")");
  return static_cast<int>(zero_point);
}

Value QuantizePack::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::float32);
  if (x.shape.empty()) throw program_error("op " + where() + ": its input needs a channel axis");
  channels_ = x.shape.back();
  rows_ = channels_ ? x.elements() / channels_ : 0;
  Shape shape{params_.bits};
  shape.insert(shape.end(), x.shape.begin(), x.shape.end() - 1);
  shape.push_back(words_for(channels_));
  return planes_value(shape, channels_, where());
}

void QuantizePack::run(const std::vector<const void*>& inputs, void* output,
                       const RunContext& ctx) const {
  quantize_pack(static_cast<const float*>(inputs[0]), ctx.batch, rows_, channels_, params_,
                static_cast<word_t*>(output), ctx.threads);
}

// ---- what the k-bit layers share ---------------------------------------------------------------

PlaneEncoding KbitLayer::read_encoding(const std::string& prefix) const {
  const json& offset = attr(prefix + "_offset");
  const json& weights = attr(prefix + "_plane_weights");
  PlaneEncoding e;
  bool ok = json_integer_in(offset, -kMaxEncodingValue, kMaxEncodingValue, e.offset) &&
            weights.is_array() && !weights.empty() &&
            weights.size() <= static_cast<std::size_t>(kMaxPlanes);
  for (std::size_t i = 0; ok && i < weights.size(); ++i)
    ok = json_integer_in(weights[i], -kMaxEncodingValue, kMaxEncodingValue, e.weights[i]);
  if (!ok)
    throw program_error("op " + where() + ": " + prefix + "_offset and " + prefix +
                        "_plane_weights must be integers within ±2^16, with 1 to " +
                        std::to_string(kMaxPlanes) + " plane weights");
  e.planes = static_cast<int>(weights.size());
  return e;
}

std::int64_t KbitLayer::accumulator_bound(std::int64_t k) const {
  const __int128 bound = onebit::accumulator_bound(k, x_encoding_, w_encoding_);
  if (!fits_int32(bound))
    throw program_error("op " + where() + ": a sum over " + std::to_string(k) +
                        " products of these encodings can reach " + big_text(bound) +
                        ", past int32");
  return static_cast<std::int64_t>(bound);
}

void KbitLayer::check_input_planes(const Value& x, int ndim) const {
  expect(x, Kind::planes, ndim);
  if (x.shape[0] != x_encoding_.planes)
    throw program_error("op " + where() + ": input_plane_weights has " +
                        std::to_string(x_encoding_.planes) + " entries but the input has " +
                        std::to_string(x.shape[0]) + " planes");
}

const Tensor& KbitLayer::read_weight_planes(Shape shape) {
  if (!has_attr("weight_first_plane")) return tensor("weight", Dtype::u64, shape);
  const std::int64_t first = int_attr("weight_first_plane");
  const std::int64_t planes = w_encoding_.planes;
  shape[1] = -1;
  const Tensor& stored = tensor("weight", Dtype::u64, shape);
  const std::int64_t stored_planes = stored.shape()[1];
  if (first + planes > stored_planes)
    throw program_error("op " + where() + ": weight_first_plane " + std::to_string(first) +
                        " and " + std::to_string(planes) + " planes pass the weight's " +
                        std::to_string(stored_planes) + " planes");
  std::int64_t inner = 1;  // words per plane of one output channel
  for (std::size_t axis = 2; axis < stored.shape().size(); ++axis) inner *= stored.shape()[axis];
  const std::int64_t rows = stored.shape()[0];
  std::vector<word_t> planes_of_rows(static_cast<std::size_t>(rows * planes * inner));
  for (std::int64_t r = 0; r < rows; ++r)
    std::copy_n(stored.data<word_t>() + (r * stored_planes + first) * inner, planes * inner,
                planes_of_rows.data() + r * planes * inner);
  Shape selected = stored.shape();
  selected[1] = planes;
  gathered_ = Tensor(Dtype::u64, selected, planes_of_rows.data());
  return gathered_;
}

// The int32 accumulators of `rows` rows of `cout` channels through the layer's epilogue (the
// float one followed by the post tail), as ops/base.py's IntEpilogue and PostSteps apply them.
static void int_epilogue(const IntEpilogue& epilogue, const PostSteps& post,
                         const std::vector<const void*>& inputs, const std::int32_t* acc,
                         std::int64_t rows, std::int64_t cout, void* output, int threads) {
  if (epilogue.kind() == IntEpilogue::Kind::float32) {
    float* y = static_cast<float*>(output);
    for_row_chunks(rows, cout, threads, [&](std::int64_t r0, std::int64_t r1) {
      output_float_rows(acc + r0 * cout, cout, r1 - r0, 0, cout, epilogue.scale(), epilogue.bias(),
                        y + r0 * cout, cout);
    });
    apply_chain(post.steps(residual_maps(inputs)), y, rows, cout, threads);
  } else if (epilogue.kind() == IntEpilogue::Kind::bits) {
    word_t* out = static_cast<word_t*>(output);
    const std::int64_t out_words = words_for(cout);
    for_row_chunks(rows, cout, threads, [&](std::int64_t r0, std::int64_t r1) {
      output_bits_rows(acc + r0 * cout, cout, r1 - r0, 0, cout, epilogue.thresholds(),
                       out + r0 * out_words, out_words);
    });
  }
}

// ---- kbit_dense --------------------------------------------------------------------------------

KbitDense::KbitDense(const json& spec, const TensorTable& tensors)
    : KbitLayer(spec, tensors, "kbit_dense", -1),
      k_(int_attr("k", 1)),
      weight_(&read_weight()),
      epilogue_(*this, weight_->shape()[0]),
      post_(init_post(*this, weight_->shape()[0], epilogue_.kind() == IntEpilogue::Kind::float32)) {
  const Shape& w = weight_->shape();
  prepared_ = prepare_bitserial_weights(weight_->data<word_t>(), w[0], w[1], w[2], w_encoding_,
                                        default_simd_path());
}

const Tensor& KbitDense::read_weight() {
  x_encoding_ = read_encoding("input");
  w_encoding_ = read_encoding("weight");
  return read_weight_planes(Shape{-1, w_encoding_.planes, -1});
}

Value KbitDense::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  check_input_planes(x, 2);
  const Shape& w = weight_->shape();
  const std::int64_t cout = w[0], planes = w[1], words = w[2];
  if (cout < 1) throw program_error("op " + where() + ": the weight has no rows");
  if (x.shape[1] != words || x.channels != k_)
    throw program_error("op " + where() + ": k=" + std::to_string(k_) + " and the weight's " +
                        std::to_string(words) + " words per plane must match the input's " +
                        std::to_string(x.channels) + " channels in " + std::to_string(x.shape[1]) +
                        " words");
  check_padding_bits(*this, "weight", *weight_, x.row_bits);
  work_ = double(cout) * double(planes) * double(x.shape[0]) * double(words);
  scratch_ = 4 * big_int{checked(big_int{x.shape[0]} * cout * planes, "the plane sums", where())};
  const double bound = double(accumulator_bound(k_));
  return layer_output(*this, inputs, {}, cout, bound, epilogue_.kind_name(),
                      epilogue_.bound(bound), post_);
}

void KbitDense::run(const std::vector<const void*>& inputs, void* output,
                    const RunContext& ctx) const {
  const std::int64_t cout = weight_->shape()[0];
  const bool int_out = epilogue_.kind() == IntEpilogue::Kind::int32;
  std::vector<std::int32_t> scratch(int_out ? 0 : static_cast<std::size_t>(ctx.batch * cout));
  std::int32_t* acc = int_out ? static_cast<std::int32_t*>(output) : scratch.data();
  bitserial_gemm(static_cast<const word_t*>(inputs[0]), ctx.batch, prepared_, k_, x_encoding_,
                 w_encoding_, acc, default_simd_path(), ctx.threads);
  int_epilogue(epilogue_, post_, inputs, acc, ctx.batch, cout, output, ctx.threads);
}

// ---- kbit_conv2d -------------------------------------------------------------------------------

KbitConv2d::KbitConv2d(const json& spec, const TensorTable& tensors)
    : KbitLayer(spec, tensors, "kbit_conv2d", -1),
      cin_(int_attr("cin", 1)),
      sh_(pair_attr("stride", 1).first),
      sw_(pair_attr("stride", 1).second),
      padding_(padding_attr()),
      pad_code_(read_pad_code()),
      weight_(&read_weight()),
      epilogue_(*this, weight_->shape()[0]),
      post_(init_post(*this, weight_->shape()[0], epilogue_.kind() == IntEpilogue::Kind::float32)) {
  const Shape& w = weight_->shape();
  prepared_ = prepare_bitserial_weights(weight_->data<word_t>(), w[0], w[1], w[2] * w[3] * w[4],
                                        w_encoding_, default_simd_path());
}

std::int64_t KbitConv2d::read_pad_code() {
  x_encoding_ = read_encoding("input");
  w_encoding_ = read_encoding("weight");
  const std::int64_t pad_code = int_attr("pad_code", 0);
  if (pad_code >= (std::int64_t{1} << x_encoding_.planes))
    throw program_error("op " + where() + ": pad_code " + std::to_string(pad_code) +
                        " is not a " + std::to_string(x_encoding_.planes) + "-bit code");
  return pad_code;
}

const Tensor& KbitConv2d::read_weight() {
  const Tensor& weight =
      read_weight_planes(Shape{-1, w_encoding_.planes, -1, -1, words_for(cin_)});
  check_padding_bits(*this, "weight", weight, cin_);
  return weight;
}

Value KbitConv2d::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  check_input_planes(x, 4);
  const std::int64_t planes = x.shape[0], words = x.shape[3];
  height_ = x.shape[1];
  width_ = x.shape[2];
  if (words != words_for(cin_) || x.channels != cin_)
    throw program_error("op " + where() + ": cin=" + std::to_string(cin_) +
                        " does not match the input's " + std::to_string(x.channels) +
                        " channels in " + std::to_string(words) + " words");
  const Shape& w = weight_->shape();
  const std::int64_t cout = w[0], wplanes = w[1], kh = w[2], kw = w[3];
  if (std::min({cout, kh, kw}) < 1)
    throw program_error("op " + where() + ": the weight's shape " + pyformat::tuple(w) + " is empty");
  const std::int64_t top = padding_[0], bottom = padding_[1], left = padding_[2], right = padding_[3];
  const std::int64_t ho = window_side(height_, top, bottom, kh, sh_, where());
  const std::int64_t wo = window_side(width_, left, right, kw, sw_, where());
  const std::int64_t positions = checked(big_int{ho} * wo, "the output positions", where());
  work_ = double(positions) * double(cout) * double(planes) * double(wplanes) * double(kh) *
          double(kw) * double(words);
  const std::int64_t rows =
      product({positions, planes, kh, kw, words}, "the unfolded windows", where());
  const std::int64_t sums = product({positions, planes, cout, wplanes}, "the plane sums", where());
  scratch_ = big_int{sizeof(word_t)} * rows + 4 * big_int{sums};
  const double bound = double(accumulator_bound(checked(big_int{cin_} * kh * kw, "k", where())));
  return layer_output(*this, inputs, {ho, wo}, cout, bound, epilogue_.kind_name(),
                      epilogue_.bound(bound), post_);
}

void KbitConv2d::run(const std::vector<const void*>& inputs, void* output,
                     const RunContext& ctx) const {
  const Shape& w = weight_->shape();
  BitserialConvGeometry g;
  g.n = ctx.batch, g.p = x_encoding_.planes, g.h = height_, g.w = width_, g.cin = cin_;
  g.words = words_for(cin_);
  g.cout = w[0], g.q = w[1], g.kh = w[2], g.kw = w[3];
  g.sh = sh_, g.sw = sw_;
  g.top = padding_[0], g.bottom = padding_[1], g.left = padding_[2], g.right = padding_[3];
  g.pad_code = pad_code_;
  const word_t* x = static_cast<const word_t*>(inputs[0]);
  const SimdPath path = default_simd_path();
  switch (epilogue_.kind()) {
    case IntEpilogue::Kind::bits:
      bitserial_conv2d(x, prepared_, g, x_encoding_, w_encoding_, path, ctx.threads,
                       BitsOutput{&epilogue_.thresholds(), static_cast<word_t*>(output), path});
      break;
    case IntEpilogue::Kind::float32: {
      const std::vector<ChainStep> post = post_.steps(residual_maps(inputs));
      bitserial_conv2d(x, prepared_, g, x_encoding_, w_encoding_, path, ctx.threads,
                       FloatOutput{epilogue_.scale(), epilogue_.bias(), static_cast<float*>(output),
                                   post.empty() ? nullptr : &post, path});
      break;
    }
    case IntEpilogue::Kind::int32:
      bitserial_conv2d(x, prepared_, g, x_encoding_, w_encoding_, path, ctx.threads,
                       Int32Output{static_cast<std::int32_t*>(output)});
      break;
  }
}

}  // namespace onebit
