// The token embedding (src/onebit/runtime/ops/embedding.py's Embedding, with the same checks and
// messages): row `id` of a table for each token id of the program's tokens input.
//
// Layout: the input is (L,) float32 ids per sample; a sequence of L tokens is the map (1, L, C)
// (height 1, width L: torch's (N, C, L) in NHWC). A binary table holds each row's signs packed
// as the engine packs channels, (V, words_for(D)) words, bit d of word d / kWordBits set for -1
// (sign(0) = +1 is bit 0), the padding bits of each row's last word zero (checked at load);
// its output is the packed map (1, L, words). A float table (V, D) gives the float map (1, L, D).
#pragma once

#include <vector>

#include "op.h"

namespace onebit {

// Attrs: dim (D >= 1), output ("bits" or "float"). Tensor: table, 1 to 2^24 rows. Each id is
// checked when the op runs: one that is not an integer in [0, V) (NaN and inf included) is an
// input_error naming the op, the sample, the position and the value, before anything is written.
class Embedding : public Op {
 public:
  Embedding(const json& spec, const TensorTable& tensors);
  Value infer(const std::vector<Value>& inputs) override;
  void run(const std::vector<const void*>& inputs, void* output, const RunContext& ctx) const override;

 private:
  const Tensor& checked_table();  // the table, refused with a wrong dtype, shape or padding bits

  std::int64_t dim_;
  bool bits_;
  const Tensor* table_;
  std::int64_t rows_ = 0, width_ = 0;  // table rows (V) and elements per row
  std::int64_t length_ = 0;            // ids per sample (L)
};

}  // namespace onebit
