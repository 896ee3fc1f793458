// Geometry of the 2-D window ops (convolutions and pools): the output side of a window over a
// padded side, checked or not (the C++ side of src/onebit/runtime/window.py).
//
// Padding is per side (top, bottom, left, right); a symmetric op pads (ph, ph, pw, pw). Over a
// padded side of in + pad_before + pad_after pixels, a window of `kernel` pixels moved by `stride`
// has (in + pad_before + pad_after - kernel) / stride + 1 positions (floor, as torch's conv2d and
// max_pool2d): the output side. Every kernel's geometry struct (Conv2dGeometry, Pool2dGeometry,
// WindowGeometry, DepthwiseGeometry) and the executor's shape inference compute it here.
#pragma once

#include <cstdint>
#include <string>

#include "common/checked.h"

namespace onebit {

// The output side (padded - kernel) / stride + 1 of a window that fits: 1 <= kernel <= padded,
// stride >= 1 (the callers check that first, each with its own message).
inline std::int64_t window_output_side(std::int64_t padded, std::int64_t kernel,
                                       std::int64_t stride) {
  return (padded - kernel) / stride + 1;
}

// The output side of a window over `in` padded by pad_before and pad_after, with every argument
// already within kMaxExtent (so the padded side, below 2^33, cannot overflow). SizeError when the
// kernel does not fit the padded input or the side is beyond kMaxExtent.
inline std::int64_t checked_window_side(std::int64_t in, std::int64_t pad_before,
                                        std::int64_t pad_after, std::int64_t kernel,
                                        std::int64_t stride, const char* what) {
  const std::int64_t padded = in + pad_before + pad_after;
  if (kernel < 1 || stride < 1 || padded < kernel)
    throw SizeError("kernel " + std::to_string(kernel) + " does not fit the padded " + std::string(what) +
                    " of " + std::to_string(padded));
  const std::int64_t side = window_output_side(padded, kernel, stride);
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
  return {checked_window_side(h, top, bottom, kh, sh, "height"),
          checked_window_side(w, left, right, kw, sw, "width")};
}

}  // namespace onebit
