"""The binary layers: packed input x packed weights through bgemm / bconv2d, then an epilogue
(float, thresholded bits, or int32) and, for float output, a fused elementwise tail."""

from __future__ import annotations

import math

import numpy as np

from onebit.runtime import kernels
from onebit.runtime.bit_format import WORD_BITS, WORD_DTYPE, words_for
from onebit.runtime.ops.base import (
    IntEpilogue,
    Op,
    ProgramError,
    check_map,
    check_padding_bits,
    init_post,
    layer_output,
)
from onebit.runtime.shapes import Value, checked, product, window_side


class BinaryDense(Op):
    """Packed (N, words) x packed weights (Cout, words) -> bgemm -> epilogue -> post tail."""

    type = "binary_dense"
    arity = None  # one, plus a residual per post add

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.k = self.int_attr("k", 1)
        self.weight = self.tensor("weight", WORD_DTYPE, (None, None))
        if self.weight.shape[1] * WORD_BITS < self.k:
            raise ProgramError(f"op {self.where}: k={self.k} exceeds the weight's words")
        self.epilogue = IntEpilogue(self, self.weight.shape[0])
        self.post = init_post(self, self.weight.shape[0], self.epilogue.kind == "float")

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "bits", 1)
        cout, words = self.weight.shape
        if cout < 1:
            raise ProgramError(f"op {self.where}: the weight has no rows")
        if x.shape[0] != words or x.channels != self.k:
            raise ProgramError(
                f"op {self.where}: k={self.k} and the weight's {words} words per row must match "
                f"the input's {x.channels} bits in {x.shape[0]} words"
            )
        check_padding_bits(self, "weight", self.weight, x.row_bits)
        self.work = math.prod((cout, words))
        return layer_output(self, inputs, (), cout, self.k, self.epilogue, self.post)

    def __call__(self, x: np.ndarray, *residuals: np.ndarray) -> np.ndarray:
        y = self.epilogue(kernels.bgemm(np.ascontiguousarray(x), self.weight, self.k))
        return self.post(y, residuals)


class BinaryConv2d(Op):
    """Packed NHWC map x packed weights (Cout, KH, KW, words) -> bconv2d -> epilogue; a float
    epilogue may carry a post tail (e.g. ReLU, batch norm, residual add), fused per tile.

    Attrs: ``cin``, ``stride``, ``padding`` (symmetric pair), ``pad_value`` (0 or 1), and, when
    not 1 (older files have neither), ``dilation`` (a pair >= 1) and ``groups`` (dividing ``cin``
    and ``Cout``). The weight is ``(Cout, KH, KW, words_for(cin / groups))``: output channel ``o``
    reads the input channels of group ``o // (Cout / groups)``, as torch's conv2d."""

    type = "binary_conv2d"
    arity = None  # one, plus a residual per post add

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.cin = self.int_attr("cin", 1)
        self.stride = self.pair_attr("stride", 1)
        self.padding = self.pair_attr("padding", 0)
        self.pad_value = self.float_attr("pad_value", (0.0, 1.0))
        self.dilation = self.pair_attr("dilation", 1) if "dilation" in self.attrs else (1, 1)
        self.groups = self.int_attr("groups", 1) if "groups" in self.attrs else 1
        if self.cin % self.groups:
            raise ProgramError(f"op {self.where}: groups={self.groups} must divide cin={self.cin}")
        group_cin = self.cin // self.groups
        self.weight = self.tensor("weight", WORD_DTYPE, (None, None, None, words_for(group_cin)))
        if self.weight.shape[0] % self.groups:
            raise ProgramError(
                f"op {self.where}: groups={self.groups} must divide cout={self.weight.shape[0]} "
                "(the weight's first axis)"
            )
        check_padding_bits(self, "weight", self.weight, group_cin)
        self.epilogue = IntEpilogue(self, self.weight.shape[0])
        self.post = init_post(self, self.weight.shape[0], self.epilogue.kind == "float")

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "bits", 3)
        height, width, words = x.shape
        if words != words_for(self.cin) or x.channels != self.cin:
            raise ProgramError(
                f"op {self.where}: cin={self.cin} does not match the input's {x.channels} "
                f"channels in {words} words"
            )
        cout, kh, kw, group_words = self.weight.shape
        if min(cout, kh, kw) < 1:
            raise ProgramError(f"op {self.where}: the weight's shape {self.weight.shape} is empty")
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        if (dh, dw) != (1, 1) and (span_h > height + 2 * ph or span_w > width + 2 * pw):
            raise ProgramError(
                f"op {self.where}: the kernel {kh}x{kw} dilated by {dh}x{dw} spans "
                f"{span_h}x{span_w}, more than the padded input {height + 2 * ph}x{width + 2 * pw}"
            )
        ho = window_side(height, ph, ph, span_h, sh, self.where)
        wo = window_side(width, pw, pw, span_w, sw, self.where)
        self.work = math.prod((ho, wo, cout, kh, kw, group_words))
        padded = product((height + 2 * ph, width + 2 * pw, words), "the padded map", self.where)
        accumulators = checked(ho * wo * cout, "the accumulators", self.where)
        self.scratch = WORD_DTYPE.itemsize * padded + 4 * accumulators
        group_cin = self.cin // self.groups
        acc_bound = float(checked(group_cin * kh * kw, "the accumulator range", self.where))
        return layer_output(self, inputs, (ho, wo), cout, acc_bound, self.epilogue, self.post)

    def __call__(self, x: np.ndarray, *residuals: np.ndarray) -> np.ndarray:
        check_map(self, x, words_for(self.cin), WORD_DTYPE)
        x = np.ascontiguousarray(x)
        geometry = (self.stride, self.padding, self.pad_value, self.dilation, self.groups)
        epilogue = self.epilogue
        if epilogue.kind == "bits":  # fused: no int32 map is materialized
            return kernels.bconv2d_bits(
                x, self.weight, self.cin, epilogue.threshold, epilogue.flip, *geometry
            )
        if epilogue.kind == "float":
            post = self.post.steps(residuals) if self.post else None
            return kernels.bconv2d_float(
                x, self.weight, self.cin, epilogue.scale, epilogue.bias, *geometry, post=post
            )
        return kernels.bconv2d(x, self.weight, self.cin, *geometry)
