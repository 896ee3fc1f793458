#include "ops_embedding.h"

#include <cmath>
#include <cstring>

#include "common/threads.h"
#include "epilogue.h"
#include "program.h"

namespace onebit {

namespace {

bool read_bits(const Op& op) {
  const json& output = op.attr("output");
  if (output != "bits" && output != "float")
    throw program_error("op " + op.where() + ": output must be 'bits' or 'float'");
  return output == "bits";
}

}  // namespace

Embedding::Embedding(const json& spec, const TensorTable& tensors)
    : Op(spec, tensors, "embedding", 1),
      dim_(int_attr("dim", 1)),
      bits_(read_bits(*this)),
      table_(&checked_table()) {
  rows_ = table_->shape()[0];
  width_ = table_->shape()[1];
}

const Tensor& Embedding::checked_table() {
  const Tensor& table = bits_ ? tensor("table", Dtype::u64, Shape{-1, words_for(dim_)})
                              : tensor("table", Dtype::f32, Shape{-1, dim_});
  if (bits_) check_padding_bits(*this, "table", table, dim_);
  const std::int64_t rows = table.shape()[0];
  if (rows < 1 || rows > kMaxTokenId)
    throw program_error("op " + where() + ": the table has " + std::to_string(rows) +
                        " rows; an embedding has 1 to 2^24 (the ids float32 holds exactly)");
  return table;
}

Value Embedding::infer(const std::vector<Value>& inputs) {
  const Value& x = inputs[0];
  expect(x, Kind::tokens, 1);
  length_ = x.shape[0];
  work_ = double(length_) * double(width_);
  if (bits_) return bits_value({1, length_, width_}, dim_, where());
  return float_value({1, length_, width_}, abs_max(*table_), where());
}

void Embedding::run(const std::vector<const void*>& inputs, void* output,
                    const RunContext& ctx) const {
  const float* ids = static_cast<const float*>(inputs[0]);
  const std::int64_t count = ctx.batch * length_;
  for (std::int64_t i = 0; i < count; ++i) {  // every id first: a bad one writes nothing
    const float id = ids[i];
    if (!(id >= 0.0f && id < float(rows_) && id == std::floor(id)))
      throw input_error("op " + where() + ": token id " + pyformat::number(id, 9) +
                        " at sample " + std::to_string(i / length_) + ", position " +
                        std::to_string(i % length_) + " is not an integer in [0, " +
                        std::to_string(rows_) + ")");
  }
  const std::size_t row_bytes = static_cast<std::size_t>(width_) * (bits_ ? sizeof(word_t) : 4);
  const auto* table = table_->data<std::uint8_t>();
  auto* out = static_cast<std::uint8_t*>(output);
  for_row_chunks(count, width_, ctx.threads, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r)
      std::memcpy(out + r * row_bytes, table + static_cast<std::int64_t>(ids[r]) * row_bytes,
                  row_bytes);
  });
}

}  // namespace onebit
