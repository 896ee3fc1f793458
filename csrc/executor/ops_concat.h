// Constant padding, nearest upsampling, channel shuffling and channel concatenation
// (src/onebit/runtime/ops/layout.py's Pad, UpsampleNearest, ChannelShuffle, Concat and
// BinaryConcat, with the same checks and messages).
//
// Layout: NHWC per sample. A float map is (H, W, C) float32 (or a (C,) vector for concat); a
// packed map is (H, W, words) or (words,) in common/bit_format.h's bit convention: channel c is bit
// c % kWordBits of word c / kWordBits, and the unused high bits of a pixel's last word are 0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "epilogue.h"
#include "op.h"

namespace onebit {

// Constant padding of a float (H, W, C) map's height and width (torch's ZeroPad2d, F.pad). Attrs:
// padding [top, bottom, left, right] (or the symmetric [ph, pw]) and value.
class Pad : public Op {
 public:
  Pad(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  std::vector<std::int64_t> padding_;  // top, bottom, left, right
  double value_;
  std::int64_t h_ = 0, w_ = 0, c_ = 0;  // the input per sample
};

// Nearest-neighbour upsampling by integer factors of a float map (H, W, C) or a packed one
// (H, W, words): output pixel (y, x) is input pixel (y / sh, x / sw), torch's "nearest" mode at an
// integer scale_factor. On packed bits that copies whole words, so the bits stay exact. Attrs:
// scale, [sh, sw], each >= 1.
class UpsampleNearest : public Op {
 public:
  UpsampleNearest(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  std::pair<std::int64_t, std::int64_t> scale_;
  std::int64_t h_ = 0, w_ = 0, pixel_bytes_ = 0;  // the input per sample
};

// ShuffleNet's channel shuffle of a float map (H, W, C) or vector (C,): output channel c is input
// channel (c % groups) * (C / groups) + c / groups, torch's view(N, g, C/g, H, W).transpose(1, 2)
// of an NCHW map. A gather over each pixel's channels, so exact. Attrs: groups, >= 1, dividing C.
class ChannelShuffle : public Op {
 public:
  ChannelShuffle(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  std::int64_t groups_;
  std::int64_t rows_ = 0, channels_ = 0;  // per sample: pixels (1 for a vector) and channels
};

// Float maps (H, W, C_i), or vectors (C_i,), joined along the last axis: torch's cat(dim=1) of
// NCHW maps, then an optional post tail (epilogue.h's PostSteps: a residual add, a ReLU, a batch
// norm...) run on each tile of joined rows while it is in cache, as a layer's is. Attrs: channels,
// the channel count of each joined input, in order (at least one), and post. The inputs are the
// joined maps, then one residual (a map of the output's shape) per add step of post; without
// post every input is joined.
class Concat : public Op {
 public:
  Concat(const json& spec, const TensorTable& tensors) : Concat(spec, tensors, "concat", Kind::float32) {}
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 protected:
  Concat(const json& spec, const TensorTable& tensors, const char* type, Kind kind);
  // The stored last-axis size of `channels` channels: floats, or words for packed bits.
  std::int64_t width(std::int64_t channels) const;

  Kind kind_;
  std::vector<std::string> channel_text_;  // as the file gives them: Python's ints are unbounded
  std::vector<std::int64_t> channels_;      // their values, -1 where above kMaxSize
  PostSteps post_;                         // the inputs past channels_.size() are its residuals
  std::int64_t rows_ = 0;                // pixels per sample (1 for vectors)
  std::vector<std::int64_t> widths_;     // each joined input's last axis
  std::int64_t total_width_ = 0;         // the output's last axis
  bool aligned_ = true;  // packed inputs whose words join as they are (see BinaryConcat)
};

// Packed maps joined along the channel axis, exactly. Where every input but the last fills whole
// words (a multiple of 64 channels) the words are joined as they are; otherwise a later input's
// channels start inside a word and are shifted into place (the Python op unpacks to ±1, joins and
// packs again: the same bits, each input's unused high bits dropped).
class BinaryConcat : public Concat {
 public:
  BinaryConcat(const json& spec, const TensorTable& tensors);
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;
};

}  // namespace onebit
