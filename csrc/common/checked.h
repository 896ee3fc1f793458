// Checked size arithmetic: the limits every kernel entry point holds its caller to, and the
// products it computes from them (window sides: common/window.h), checked before any buffer is
// sized or indexed.
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
// prefix the kernel's name (bindings/python_checks.h).
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
