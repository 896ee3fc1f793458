"""Pooling: float max and average pools, the binary max-pool, global average pooling."""

from __future__ import annotations

import numpy as np

from onebit.runtime import kernels
from onebit.runtime.ops.base import Op, pad_nhwc


class _Pool(Op):
    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.kernel = self.pair_attr("kernel", 1)
        self.stride = self.pair_attr("stride", 1)
        self.padding = self.pair_attr("padding", 0)

    def taps(self, padded: np.ndarray):
        """The KH * KW strided views whose elementwise reduction is the pool (each tap one
        contiguous-channel pass, much faster than reducing a windows view)."""
        (kh, kw), (sh, sw) = self.kernel, self.stride
        ho, wo = (padded.shape[1] - kh) // sh + 1, (padded.shape[2] - kw) // sw + 1
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

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return kernels.bmaxpool2d(np.ascontiguousarray(x), self.kernel, self.stride, self.padding)


class AvgPool2d(_Pool):
    """Average pool; padded zeros count in the mean (torch's ``count_include_pad=True``)."""

    type = "avgpool2d"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        taps = self.taps(pad_nhwc(x, self.padding, 0.0))
        out = np.array(next(taps))
        for tap in taps:
            np.add(out, tap, out=out)
        return np.divide(out, np.float32(self.kernel[0] * self.kernel[1]), out=out)


class GlobalAvgPool(Op):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""

    type = "global_avgpool"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x.mean(axis=(1, 2), dtype=np.float32)
