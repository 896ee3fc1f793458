#include "registry.h"

#include <algorithm>
#include <utility>

#include "executor/python_repr.h"
#include "ops.h"
#include "ops_concat.h"
#include "ops_conv.h"
#include "ops_dynamic.h"
#include "ops_embedding.h"
#include "ops_kbit.h"
#include "ops_pool.h"

namespace onebit {

namespace {

template <class T>
std::unique_ptr<Op> make(const json& spec, const TensorTable& tensors) {
  return std::make_unique<T>(spec, tensors);
}

std::u32string decode(const std::string& text) {
  std::u32string out;
  for (std::size_t i = 0, length = 0; i < text.size(); i += length)
    out.push_back(repr_detail::decode_utf8(text, i, length));
  return out;
}

// Ratcliff/Obershelp matches as SequenceMatcher counts them (no junk: the word is short).
std::size_t matching_characters(const std::u32string& a, std::size_t alo, std::size_t ahi,
                                const std::u32string& b, std::size_t blo, std::size_t bhi) {
  std::size_t best_i = alo, best_j = blo, best = 0;
  std::vector<std::size_t> previous(b.size() + 1, 0), current(b.size() + 1, 0);
  for (std::size_t i = alo; i < ahi; ++i) {
    std::fill(current.begin(), current.end(), 0);
    for (std::size_t j = blo; j < bhi; ++j) {
      if (a[i] != b[j]) continue;
      const std::size_t k = (j > blo ? previous[j - 1] : 0) + 1;
      current[j] = k;
      if (k > best) {
        best = k;
        best_i = i + 1 - k;
        best_j = j + 1 - k;
      }
    }
    std::swap(previous, current);
  }
  if (best == 0) return 0;
  return best + matching_characters(a, alo, best_i, b, blo, best_j) +
         matching_characters(a, best_i + best, ahi, b, best_j + best, bhi);
}

}  // namespace

const std::map<std::string, OpFactory>& op_factories() {
  static const std::map<std::string, OpFactory> factories = {
      {"add", make<Add>},
      {"affine", make<Affine>},
      {"avgpool2d", make<AvgPool2d>},
      {"binary_concat", make<BinaryConcat>},
      {"binary_conv2d", make<BinaryConv2d>},
      {"binary_dense", make<BinaryDense>},
      {"binary_maxpool2d", make<BinaryMaxPool2d>},
      {"channel_shuffle", make<ChannelShuffle>},
      {"concat", make<Concat>},
      {"conv2d", make<Conv2d>},
      {"dense", make<Dense>},
      {"dynamic_prelu", make<DynamicPrelu>},
      {"dynamic_sign_pack", make<DynamicSignPack>},
      {"embedding", make<Embedding>},
      {"flatten", make<Flatten>},
      {"global_avgpool", make<GlobalAvgPool>},
      {"hardtanh", make<Hardtanh>},
      {"kbit_conv2d", make<KbitConv2d>},
      {"kbit_dense", make<KbitDense>},
      {"maxpool2d", make<MaxPool2d>},
      {"nchw_to_nhwc", make<NchwToNhwc>},
      {"nhwc_to_nchw", make<NhwcToNchw>},
      {"pad", make<Pad>},
      {"prelu", make<Prelu>},
      {"quantize_pack", make<QuantizePack>},
      {"relu", make<Relu>},
      {"sign_pack", make<SignPack>},
      {"upsample_nearest", make<UpsampleNearest>},
  };
  return factories;
}

std::vector<std::string> close_matches(const std::string& word,
                                       const std::vector<std::string>& possibilities, int n,
                                       double cutoff) {
  const std::u32string b = decode(word);
  std::vector<std::pair<double, std::string>> scored;
  for (const std::string& candidate : possibilities) {
    const std::u32string a = decode(candidate);
    const std::size_t length = a.size() + b.size();
    const double ratio =
        length ? 2.0 * static_cast<double>(matching_characters(a, 0, a.size(), b, 0, b.size())) /
                     static_cast<double>(length)
               : 1.0;
    if (ratio >= cutoff) scored.emplace_back(ratio, candidate);
  }
  std::sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x > y; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < scored.size() && static_cast<int>(i) < n; ++i)
    out.push_back(scored[i].second);
  return out;
}

std::string unknown_op_message(const std::string& type) {
  std::vector<std::string> names;
  for (const auto& entry : op_factories()) names.push_back(entry.first);
  std::string hint;
  const std::vector<std::string> close = close_matches(type, names);
  for (std::size_t i = 0; i < close.size(); ++i)
    hint += (i ? ", " : "; did you mean ") + python_repr(close[i]);
  if (!close.empty()) hint += "?";
  std::string known;
  for (std::size_t i = 0; i < names.size(); ++i) known += (i ? ", " : "") + names[i];
  return "unknown op " + python_repr(type) + hint + " (known: " + known + ")";
}


}  // namespace onebit
