"""The float layers and elementwise ops: dense, convolution (grouped and depthwise), affine,
add, ReLU, hardtanh, PReLU."""

from __future__ import annotations

import math

import numpy as np

from onebit._registry import OnebitError
from onebit.runtime import kernels
from onebit.runtime.ops.base import (
    FloatEpilogue,
    Op,
    ProgramError,
    check_map,
    hardtanh_bound,
    init_post,
    layer_output,
    pad_nhwc,
    weights_float,
    windows,
)
from onebit.runtime.shapes import Value, abs_max, checked, float_value, product, window_side
from onebit.runtime.window import output_sides


def row_sums(weight: np.ndarray) -> float:
    """The largest sum of magnitudes over one output's weights (axis 0 is the output): a
    float layer maps inputs within ±b to outputs within ±b times this."""
    rows = np.abs(weight.reshape(len(weight), -1), dtype=np.float64).sum(axis=1)
    return float(rows.max(initial=0.0))


class Dense(Op):
    """Float (N, F) @ weights.T (``sgemm``), weights float32 or ±1 from packed bits; then an
    epilogue and a post tail."""

    type = "dense"
    arity = None  # one, plus a residual per post add

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        features = self.int_attr("in_features", 1)
        outputs = self.int_attr("out_features", 1)
        weight = weights_float(self, (outputs, features))
        self.gain = row_sums(weight)
        self.weight_t = np.ascontiguousarray(weight.T)
        self.epilogue = FloatEpilogue(self, outputs)
        self.post = init_post(self, outputs, self.epilogue.kind != "sign")

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float", 1)
        features, outputs = self.weight_t.shape
        if x.shape[0] != features:
            raise ProgramError(
                f"op {self.where}: in_features={features} but its input has {x.shape[0]}"
            )
        self.work = math.prod((features, outputs))
        self.scratch = 4 * outputs if self.epilogue.kind == "sign" else 0
        bound = x.bound * self.gain
        return layer_output(self, inputs, (), outputs, bound, self.epilogue, self.post)

    def __call__(self, x: np.ndarray, *residuals: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.weight_t):
            raise OnebitError(
                f"op {self.where} expects an (N, {len(self.weight_t)}) input, got {x.shape}"
            )
        y = kernels.sgemm(x, self.weight_t)
        return self.epilogue(y, self.post, residuals)


class Conv2d(Op):
    """Float NHWC convolution (cross-correlation, as torch's ``conv2d``), then a float epilogue.

    Attrs: ``cin``, ``cout``, ``kernel`` ``[KH, KW]``, ``stride``, ``padding`` (``[ph, pw]`` or
    ``[top, bottom, left, right]``), ``pad_value``, and ``groups`` (default 1; it must divide
    ``cin`` and ``cout``). Tensors: ``weight``, float32 ``(cout, KH, KW, cin / groups)``, or
    ``weight_bits``, the same packed along its last axis; then the epilogue's. As in torch, output
    channel ``o`` reads the input channels of group ``o // (cout / groups)``.

    Groups 1 is im2col (a 1x1 stride-1 conv uses the map as it is) and one ``sgemm``. Depthwise
    (``groups == cin``, ``cout = m * cin`` for a depth multiplier ``m``) is the
    ``depthwise_conv2d`` kernel, which also runs the epilogue and the post tail per row. Other
    groups are one batched matmul.
    """

    type = "conv2d"
    arity = None  # one, plus a residual per post add

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.cin = self.int_attr("cin", 1)
        self.cout = self.int_attr("cout", 1)
        self.kernel = self.pair_attr("kernel", 1)
        self.stride = self.pair_attr("stride", 1)
        self.padding = self.padding_attr()
        self.pad_value = self.float_attr("pad_value")
        self.groups = self.int_attr("groups", 1) if "groups" in self.attrs else 1
        if self.cin % self.groups or self.cout % self.groups:
            raise ProgramError(
                f"op {self.where}: groups={self.groups} must divide both cin={self.cin} "
                f"and cout={self.cout}"
            )
        kh, kw = self.kernel
        groups, group_in, group_out = self.groups, self.cin // self.groups, self.cout // self.groups
        weight = weights_float(self, (self.cout, kh, kw, group_in))
        self.gain = row_sums(weight)
        if groups == 1:  # (KH * KW * Cin, Cout), rows in the im2col columns' order
            weight = weight.reshape(self.cout, -1).T
        elif group_in == 1:  # depthwise, (KH, KW, Cout): tap-major, as reference.depthwise_conv2d
            weight = weight[..., 0].transpose(1, 2, 0)
        else:  # (G, Cin/G * KH * KW, Cout/G)
            weight = weight.reshape(groups, group_out, kh, kw, group_in).transpose(0, 4, 2, 3, 1)
            weight = weight.reshape(groups, -1, group_out)
        self.weight = np.ascontiguousarray(weight, dtype=np.float32)
        self.epilogue = FloatEpilogue(self, self.cout)
        self.post = init_post(self, self.cout, self.epilogue.kind != "sign")
        self.depthwise = groups > 1 and group_in == 1
        if self.depthwise:
            affine = self.epilogue.kind != "none"
            self.scale = self.epilogue.scale if affine else np.ones(self.cout, np.float32)
            self.bias = self.epilogue.bias if affine else np.zeros(self.cout, np.float32)

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float", 3)
        height, width, channels = x.shape
        if channels != self.cin:
            raise ProgramError(f"op {self.where}: cin={self.cin} but its input has {channels}")
        (kh, kw), (sh, sw) = self.kernel, self.stride
        top, bottom, left, right = self.padding
        ho = window_side(height, top, bottom, kh, sh, self.where)
        wo = window_side(width, left, right, kw, sw, self.where)
        group_in = self.cin // self.groups
        self.work = math.prod((ho, wo, self.cout, kh, kw, group_in))
        outputs = checked(ho * wo * self.cout, "the output", self.where)
        if self.depthwise:
            self.scratch = 4 * outputs
        else:
            columns = product((ho, wo, kh, kw, self.cin), "the im2col columns", self.where)
            if self.groups == 1:
                self.scratch = 4 * (columns + outputs)
            else:
                padded = (height + top + bottom) * (width + left + right) * self.cin
                self.scratch = 4 * (padded + 2 * columns + 2 * outputs)
        bound = max(x.bound, abs(self.pad_value)) * self.gain
        return layer_output(self, inputs, (ho, wo), self.cout, bound, self.epilogue, self.post)

    def __call__(self, x: np.ndarray, *residuals: np.ndarray) -> np.ndarray:
        check_map(self, x, self.cin, np.float32)
        x = np.ascontiguousarray(x)
        (kh, kw), (sh, sw) = self.kernel, self.stride
        top, bottom, left, right = self.padding
        if x.shape[1] + top + bottom < kh or x.shape[2] + left + right < kw:
            raise OnebitError(
                f"op {self.where}: kernel {kh}x{kw} does not fit the padded "
                f"{x.shape[1] + top + bottom}x{x.shape[2] + left + right} map"
            )
        if self.depthwise:
            return self._depthwise(x, residuals)
        n = len(x)
        ho, wo = output_sides(x.shape[1], x.shape[2], self.kernel, self.stride, self.padding)
        if self.groups == 1:
            if kh == kw == sh == sw == 1 and not any(self.padding):
                columns = x.reshape(-1, self.cin)
            else:
                columns = kernels.float_im2col(
                    x, self.kernel, self.stride, self.padding, self.pad_value
                )
            y = kernels.sgemm(columns, self.weight)
        else:
            padded = pad_nhwc(x, self.padding, self.pad_value)
            columns = windows(padded, self.kernel, self.stride)  # (N, Ho, Wo, C, KH, KW)
            columns = columns.reshape(n * ho * wo, self.groups, -1).transpose(1, 0, 2)
            y = np.matmul(columns, self.weight).transpose(1, 0, 2)  # (N * Ho * Wo, G, Cout/G)
        return self.epilogue(y.reshape(n, ho, wo, self.cout), self.post, residuals)

    def _depthwise(self, x: np.ndarray, residuals: tuple[np.ndarray, ...]) -> np.ndarray:
        post = self.post.steps(residuals) if self.post else None
        y = kernels.depthwise_conv2d(
            x,
            self.weight,
            self.scale,
            self.bias,
            self.stride,
            self.padding,
            self.pad_value,
            post=post,
        )
        return kernels.bitpack(y) if self.epilogue.kind == "sign" else y


class Affine(Op):
    """Per-channel ``x * scale + bias`` (a batch norm or a learnable bias left unfolded)."""

    type = "affine"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        channels = self.int_attr("channels", 1)
        self.scale = self.channel_vector("scale", channels)
        self.bias = self.channel_vector("bias", channels)

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float")
        if x.shape[-1] != len(self.scale):
            raise ProgramError(
                f"op {self.where}: channels={len(self.scale)} but its input has {x.shape[-1]}"
            )
        bound = x.bound * abs_max(self.scale) + abs_max(self.bias)
        return float_value(x.shape, bound, self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x * self.scale + self.bias


class Add(Op):
    type = "add"
    arity = 2

    def infer(self, inputs: list[Value]) -> Value:
        a, b = inputs
        self.expect(a, "float")
        self.expect(b, "float")
        if a.shape != b.shape:
            raise ProgramError(f"op {self.where}: cannot add shapes {a.shape} and {b.shape}")
        return float_value(a.shape, a.bound + b.bound, self.where)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.shape != b.shape:
            raise OnebitError(f"op {self.where}: cannot add shapes {a.shape} and {b.shape}")
        return a + b


class Relu(Op):
    type = "relu"

    def infer(self, inputs: list[Value]) -> Value:
        self.expect(inputs[0], "float")
        return inputs[0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.where(x < 0, np.float32(0), x)  # a select, like torch: -0.0 and NaN pass


class Hardtanh(Op):
    type = "hardtanh"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.low = np.float32(self.float_attr("min"))
        self.high = np.float32(self.float_attr("max"))

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float")
        bound = hardtanh_bound(x.bound, self.float_attr("min"), self.float_attr("max"))
        return float_value(x.shape, bound, self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        low = np.where(x < self.low, self.low, x)  # selects, like torch (signed zeros kept)
        return np.where(low > self.high, self.high, low)


class Prelu(Op):
    """``max(x, 0) + slope_c * min(x, 0)``, per channel (or one slope for all)."""

    type = "prelu"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.slope = self.tensor("slope", np.float32, (None,))

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float")
        if len(self.slope) not in (1, x.shape[-1]):
            raise ProgramError(
                f"op {self.where}: {len(self.slope)} slopes for {x.shape[-1]} channels"
            )
        return float_value(x.shape, x.bound * max(1.0, abs_max(self.slope)), self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.where(x >= 0, x, x * self.slope)
