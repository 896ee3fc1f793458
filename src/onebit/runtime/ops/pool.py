"""Pooling: float max and average pools, the binary max-pool, global average pooling."""

from __future__ import annotations

import numpy as np

from onebit.runtime import kernels
from onebit.runtime.ops.base import (
    Op,
    pad_nhwc,
    windows,
)


class _Pool(Op):
    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.kernel = self.pair_attr("kernel", 1)
        self.stride = self.pair_attr("stride", 1)
        self.padding = self.pair_attr("padding", 0)


class MaxPool2d(_Pool):
    type = "maxpool2d"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        padded = pad_nhwc(x, self.padding, -np.inf)
        return windows(padded, self.kernel, self.stride).max(axis=(-2, -1))


class BinaryMaxPool2d(_Pool):
    """Max-pool on packed bits: the max of ±1 values is +1 if any is, an AND of the bits."""

    type = "binary_maxpool2d"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return kernels.bmaxpool2d(np.ascontiguousarray(x), self.kernel, self.stride, self.padding)


class AvgPool2d(_Pool):
    """Average pool; padded zeros count in the mean (torch's ``count_include_pad=True``)."""

    type = "avgpool2d"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        padded = pad_nhwc(x, self.padding, 0.0)
        return windows(padded, self.kernel, self.stride).mean(axis=(-2, -1), dtype=np.float32)


class GlobalAvgPool(Op):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""

    type = "global_avgpool"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x.mean(axis=(1, 2), dtype=np.float32)
