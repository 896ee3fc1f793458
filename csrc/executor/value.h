// What a program knows about each value before it runs: its kind, per-sample shape and range
// (the C++ side of src/onebit/runtime/shapes.py, with the same rules and messages).
//
// Shape inference runs at load: each op's infer() takes its inputs' Values and returns its
// output's, checking every attribute against the shapes. Sizes are computed in 128-bit integers
// and capped (checked()), so no size that reaches a kernel can wrap. Each float value carries
// `bound`, the largest magnitude it can take for program inputs within ±kInputBound; an op whose
// bound passes kValueLimit is refused, so a loaded program maps such inputs to finite outputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/bit_format.h"
#include "common/window.h"
#include "errors.h"
#include "pyformat.h"

namespace onebit {

inline constexpr std::int64_t kMaxSize = (std::int64_t{1} << 31) - 1;
inline constexpr double kInputBound = 1e6;
inline constexpr double kValueLimit = 1e30;

using Shape = std::vector<std::int64_t>;
using big_int = __int128;

inline std::string big_text(big_int value) {
  if (value == 0) return "0";
  const bool negative = value < 0;
  std::string digits;
  while (value != 0) {
    const int digit = static_cast<int>(value % 10);
    digits.insert(digits.begin(), static_cast<char>('0' + (negative ? -digit : digit)));
    value /= 10;
  }
  return negative ? "-" + digits : digits;
}

// `size`, or a program_error if it is not in [0, kMaxSize].
inline std::int64_t checked(big_int size, const std::string& what, const std::string& where) {
  if (size < 0 || size > kMaxSize)
    throw program_error("op " + where + ": " + what + " would be " + big_text(size) +
                        ", outside [0, 2^31-1]");
  return static_cast<std::int64_t>(size);
}

// The product of `sizes` (each in [0, 2^33)), capped as checked() caps one size.
inline std::int64_t product(const Shape& sizes, const std::string& what, const std::string& where) {
  std::int64_t total = 1;
  for (std::int64_t size : sizes) total = checked(big_int{total} * size, what, where);
  return total;
}

// tokens: the program's input of token ids (float32 integers, checked by the embedding op that
// reads them), a kind of its own so that no float op reads ids.
enum class Kind { float32, bits, planes, int32, tokens };

// Token ids stay below 2^24, the integers float32 holds exactly.
inline constexpr std::int64_t kMaxTokenId = std::int64_t{1} << 24;

inline const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::float32: return "float";
    case Kind::bits: return "bits";
    case Kind::planes: return "planes";
    case Kind::int32: return "int";
    case Kind::tokens: return "tokens";
  }
  return "?";
}

inline std::int64_t kind_size(Kind kind) {
  return kind == Kind::bits || kind == Kind::planes ? sizeof(word_t) : 4;
}

// One sample of a value: `kind` (float32; bits, packed words; planes, the bit planes
// (P, ..., words) of k-bit codes, each packed as bits are; int32), the stored `shape` without the
// batch axis, `channels` (for bits and planes, the real bits in each row of the last axis, or of
// the whole vector after a flatten; otherwise shape.back()), `bound` (float and int values) and,
// for bits and planes, `row_bits`: the real bits of each pixel's words.
struct Value {
  Kind kind = Kind::float32;
  Shape shape;
  std::int64_t channels = 0;
  double bound = 0.0;
  std::int64_t row_bits = 0;

  std::int64_t elements() const {
    std::int64_t total = 1;
    for (std::int64_t side : shape) total *= side;  // capped when the value was made
    return total;
  }
  std::int64_t nbytes() const { return elements() * kind_size(kind); }
  std::string describe() const {
    std::string sides;
    for (std::size_t i = 0; i < shape.size(); ++i) sides += (i ? ", " : "") + std::to_string(shape[i]);
    return std::string(kind_name(kind)) + " (" + sides + ")";
  }
};

// A float value, refused if its bound passes kValueLimit (or is NaN).
inline Value float_value(const Shape& shape, double bound, const std::string& where) {
  product(shape, "the output's element count", where);
  for (std::int64_t side : shape) checked(side, "an output dimension", where);
  if (!(bound <= kValueLimit))
    throw program_error("op " + where + ": its outputs can reach " + pyformat::number(bound, 3) +
                        " for inputs within ±" + pyformat::number(kInputBound) + " (above " +
                        pyformat::number(kValueLimit) +
                        ": its parameters are too large to stay finite)");
  return Value{Kind::float32, shape, shape.empty() ? 1 : shape.back(), bound, 0};
}

// Refuse a float32 sum of `count` values within ±bound that could pass kValueLimit.
inline void check_sum(std::int64_t count, double bound, const std::string& where) {
  const double total = static_cast<double>(count) * bound;
  if (!(total <= kValueLimit))
    throw program_error("op " + where + ": its float32 sum of " + std::to_string(count) +
                        " values can reach " + pyformat::number(total, 3) + " for inputs within ±" +
                        pyformat::number(kInputBound) + " (above " + pyformat::number(kValueLimit) +
                        ": its input is too large to sum without overflow)");
}

inline Value bits_value(const Shape& shape, std::int64_t channels, const std::string& where,
                        std::int64_t row_bits = -1) {
  product(shape, "the output's element count", where);
  return Value{Kind::bits, shape, channels, 0.0, row_bits < 0 ? channels : row_bits};
}

// A planes value of per-sample shape (P, ..., words) (ops/kbit.py's planes_value).
inline Value planes_value(const Shape& shape, std::int64_t channels, const std::string& where) {
  product(shape, "the output's element count", where);
  return Value{Kind::planes, shape, channels, 0.0, channels};
}

// Output side of a window op over `size` padded by `before` and `after` (floor mode).
inline std::int64_t window_side(std::int64_t size, std::int64_t before, std::int64_t after,
                                std::int64_t kernel, std::int64_t stride, const std::string& where) {
  const std::int64_t padded = checked(big_int{size} + before + after, "a padded side", where);
  if (kernel > padded)
    throw program_error("op " + where + ": kernel " + std::to_string(kernel) +
                        " exceeds the padded side " + std::to_string(padded));
  return window_output_side(padded, kernel, stride);
}

}  // namespace onebit
