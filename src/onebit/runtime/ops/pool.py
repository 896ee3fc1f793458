"""Pooling: float max and average pools, the binary max-pool, global average pooling."""

from __future__ import annotations

import math

import numpy as np

from onebit.runtime import kernels
from onebit.runtime.ops.base import Op, ProgramError, pad_nhwc
from onebit.runtime.shapes import Value, bits_value, check_sum, float_value, product, window_side
from onebit.runtime.window import output_side


class _Pool(Op):
    kind = "float"
    half_padding = True  # padding at most half the kernel, so no window is all padding

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.kernel = self.pair_attr("kernel", 1)
        self.stride = self.pair_attr("stride", 1)
        self.padding = self.pair_attr("padding", 0)
        (kh, kw), (ph, pw) = self.kernel, self.padding
        if self.half_padding and (2 * ph > kh or 2 * pw > kw):
            raise ProgramError(
                f"op {self.where}: padding {list(self.padding)} must be at most half the "
                f"kernel {list(self.kernel)}"
            )

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, self.kind, 3)
        height, width, channels = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        ho = window_side(height, ph, ph, kh, sh, self.where)
        wo = window_side(width, pw, pw, kw, sw, self.where)
        padded = product((height + 2 * ph, width + 2 * pw, channels), "the padded map", self.where)
        self.scratch = x.dtype.itemsize * padded
        self.work = self.window_work((ho, wo, channels), padded)
        if self.kind == "bits":
            return bits_value((ho, wo, channels), x.channels, self.where)
        return float_value((ho, wo, channels), x.bound, self.where)

    def window_work(self, output: tuple[int, int, int], padded: int) -> int:
        return math.prod((*output, *self.kernel))

    def taps(self, padded: np.ndarray):
        """The KH * KW strided views whose elementwise reduction is the pool (each tap one
        contiguous-channel pass, much faster than reducing a windows view)."""
        (kh, kw), (sh, sw) = self.kernel, self.stride
        ho, wo = output_side(padded.shape[1], kh, sh), output_side(padded.shape[2], kw, sw)
        for i in range(kh):
            for j in range(kw):
                yield padded[:, i : i + (ho - 1) * sh + 1 : sh, j : j + (wo - 1) * sw + 1 : sw]


class MaxPool2d(_Pool):
    type = "maxpool2d"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return kernels.maxpool2d(x, self.kernel, self.stride, self.padding)


class BinaryMaxPool2d(_Pool):
    """Max-pool on packed bits: the max of ±1 values is +1 if any is, an AND of the bits."""

    type = "binary_maxpool2d"
    kind = "bits"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return kernels.bmaxpool2d(np.ascontiguousarray(x), self.kernel, self.stride, self.padding)


class AvgPool2d(_Pool):
    """Average pool; padded zeros count in the mean (torch's ``count_include_pad=True``).

    A small window (at most ``MAX_TAPS`` taps) is summed tap by tap in float32; a larger one
    from 2-D prefix sums in float64 (a summed-area table, Crow 1984), so the time does not grow
    with the kernel.
    """

    type = "avgpool2d"
    half_padding = False  # an all-padding window averages zeros: finite
    MAX_TAPS = 64

    def window_work(self, output: tuple[int, int, int], padded: int) -> int:
        if self.kernel[0] * self.kernel[1] > self.MAX_TAPS:
            self.scratch += 24 * padded  # the float64 table and two gathers of its rows
            return 4 * padded
        return super().window_work(output, padded)

    def infer(self, inputs: list[Value]) -> Value:
        taps = self.kernel[0] * self.kernel[1]
        if taps <= self.MAX_TAPS:  # summed in float32 (larger windows sum in float64)
            check_sum(taps, inputs[0].bound, self.where)
        return super().infer(inputs)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        kh, kw = self.kernel
        padded = pad_nhwc(x, self.padding, 0.0)
        if kh * kw > self.MAX_TAPS:
            return self._from_prefix_sums(padded)
        taps = self.taps(padded)
        out = np.array(next(taps))
        for tap in taps:
            np.add(out, tap, out=out)
        return np.divide(out, np.float32(kh * kw), out=out)

    def _from_prefix_sums(self, padded: np.ndarray) -> np.ndarray:
        (kh, kw), (sh, sw) = self.kernel, self.stride
        n, height, width, channels = padded.shape
        table = np.zeros((n, height + 1, width + 1, channels), np.float64)
        np.cumsum(padded, axis=1, dtype=np.float64, out=table[:, 1:, 1:])
        np.cumsum(table[:, 1:, 1:], axis=2, out=table[:, 1:, 1:])
        ho, wo = output_side(height, kh, sh), output_side(width, kw, sw)
        rows = np.arange(ho) * sh
        cols = np.arange(wo) * sw
        top, bottom = table[:, rows], table[:, rows + kh]
        sums = bottom[:, :, cols + kw] - bottom[:, :, cols] - top[:, :, cols + kw] + top[:, :, cols]
        return (sums / (kh * kw)).astype(np.float32)


class GlobalAvgPool(Op):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""

    type = "global_avgpool"

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float", 3)
        self.work = x.elements
        check_sum(x.shape[0] * x.shape[1], x.bound, self.where)
        return float_value((x.shape[-1],), x.bound, self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        # NumPy's summation order follows the memory layout (AvgPool2d's prefix-sum path returns
        # a transposed view), so the mean is taken over a C-contiguous map: the same order
        # whichever op made it (and the C++ executor's, csrc/executor/ops_pool.cpp).
        x = np.ascontiguousarray(x, dtype=np.float32)
        return x.mean(axis=(1, 2), dtype=np.float32)
