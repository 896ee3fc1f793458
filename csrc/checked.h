// Checked size arithmetic: the limits every kernel entry point holds its caller to, and the
// products and window sizes it computes from them, checked before any buffer is sized or indexed.
//
// Limits (one place to change them):
//   kMaxExtent       every size-like argument (a side, a channel or word count, a kernel size, a
//                    stride, a padding, k, cin) and every output side is below 2^31;
//   kMaxBufferBytes  no buffer a kernel allocates (an output or a workspace) exceeds 2^36 bytes
//                    (64 GiB): a size beyond that is a mistake, refused with a SizeError instead of
//                    an allocation that fails (MemoryError) or, with overcommit, succeeds and is
//                    killed by the OOM killer on first touch.
// With every extent below 2^31 and every buffer below 2^36 bytes, the index arithmetic inside the
// kernels (int64 products of an element count and an extent) cannot overflow; the cost estimates
// that pick thread counts multiply more terms and saturate instead (saturating_mul).
//
// SizeError derives from std::invalid_argument, so nanobind raises it as ValueError; the bindings
// prefix the kernel's name (bindings_checks.h).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace onebit {

inline constexpr std::int64_t kMaxExtent = (std::int64_t{1} << 31) - 1;
inline constexpr std::int64_t kMaxBufferBytes = std::int64_t{1} << 36;

class SizeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// `value` if 0 <= value <= kMaxExtent, else SizeError naming `what`.
inline std::int64_t checked_extent(std::int64_t value, const char* what) {
  if (value < 0 || value > kMaxExtent)
    throw SizeError(std::string(what) + "=" + std::to_string(value) + " is out of range (sizes must be in [0, " +
                    std::to_string(kMaxExtent) + "])");
  return value;
}

// a * b for a, b >= 0, or SizeError naming `what` when the product exceeds `limit`.
inline std::int64_t checked_mul(std::int64_t a, std::int64_t b, const char* what,
                                std::int64_t limit = std::numeric_limits<std::int64_t>::max()) {
  std::int64_t product = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &product) || product > limit)
    throw SizeError(std::string(what) + " = " + std::to_string(a) + " x " + std::to_string(b) +
                    " is out of range (at most " + std::to_string(limit) + ")");
  return product;
}

// a * b for a, b >= 0, clamped to INT64_MAX: for cost estimates, where "huge" is exact enough.
inline std::int64_t saturating_mul(std::int64_t a, std::int64_t b) {
  std::int64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? std::numeric_limits<std::int64_t>::max()
                                                : product;
}

// The output side (in + pad_before + pad_after - kernel) / stride + 1 (floor) of a window op, with
// every argument already within kMaxExtent (so the padded side, below 2^33, cannot overflow).
// SizeError when the kernel does not fit the padded input or the side is beyond kMaxExtent.
inline std::int64_t window_output_side(std::int64_t in, std::int64_t pad_before,
                                       std::int64_t pad_after, std::int64_t kernel,
                                       std::int64_t stride, const char* what) {
  const std::int64_t padded = in + pad_before + pad_after;
  if (kernel < 1 || stride < 1 || padded < kernel)
    throw SizeError("kernel " + std::to_string(kernel) + " does not fit the padded " + std::string(what) +
                    " of " + std::to_string(padded));
  const std::int64_t side = (padded - kernel) / stride + 1;
  if (side > kMaxExtent)
    throw SizeError("the output " + std::string(what) + " (" + std::to_string(in) + " + padding " +
                    std::to_string(pad_before) + " + " + std::to_string(pad_after) + " - kernel " +
                    std::to_string(kernel) + ") / stride " + std::to_string(stride) + " + 1 = " +
                    std::to_string(side) + " is out of range (at most " +
                    std::to_string(kMaxExtent) + ")");
  return side;
}

struct WindowSides {
  std::int64_t ho, wo;
};

// The output sides of a window op on an h x w map with a kh x kw kernel, strides sh, sw and
// padding (top, bottom, left, right), each argument first checked to be within kMaxExtent.
inline WindowSides checked_window_sides(std::int64_t h, std::int64_t w, std::int64_t kh,
                                        std::int64_t kw, std::int64_t sh, std::int64_t sw,
                                        std::int64_t top, std::int64_t bottom, std::int64_t left,
                                        std::int64_t right) {
  checked_extent(h, "height");
  checked_extent(w, "width");
  checked_extent(kh, "kernel height");
  checked_extent(kw, "kernel width");
  checked_extent(sh, "stride");
  checked_extent(sw, "stride");
  checked_extent(top, "padding");
  checked_extent(bottom, "padding");
  checked_extent(left, "padding");
  checked_extent(right, "padding");
  return {window_output_side(h, top, bottom, kh, sh, "height"),
          window_output_side(w, left, right, kw, sw, "width")};
}

// The element count of a buffer of `shape` (sides of any integer type) with elements of
// `element_bytes` bytes, or SizeError naming `what` when it would exceed kMaxBufferBytes.
template <typename Sides>
std::int64_t checked_buffer_elements(const Sides& shape, std::int64_t element_bytes,
                                     const char* what) {
  bool empty = false;
  for (auto side : shape) {
    if constexpr (std::is_signed_v<decltype(side)>) {
      if (side < 0) throw SizeError(std::string(what) + " has a negative side " + std::to_string(side));
    }
    empty = empty || side == 0;
  }
  if (empty) return 0;
  std::int64_t count = 1, bytes = 0;
  bool too_large = false;
  for (auto side : shape)
    too_large = too_large || side > static_cast<decltype(side)>(kMaxBufferBytes) ||
                __builtin_mul_overflow(count, static_cast<std::int64_t>(side), &count);
  too_large = too_large || __builtin_mul_overflow(count, element_bytes, &bytes) ||
              bytes > kMaxBufferBytes;
  if (too_large) {
    std::string text;
    for (auto side : shape) text += (text.empty() ? "" : " x ") + std::to_string(side);
    throw SizeError(std::string(what) + " of " + text + " elements of " + std::to_string(element_bytes) +
                    " bytes is larger than the limit of " + std::to_string(kMaxBufferBytes) +
                    " bytes");
  }
  return count;
}

inline std::int64_t checked_buffer_elements(std::initializer_list<std::int64_t> shape,
                                            std::int64_t element_bytes, const char* what) {
  return checked_buffer_elements<std::initializer_list<std::int64_t>>(shape, element_bytes, what);
}

}  // namespace onebit
