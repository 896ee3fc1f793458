"""The k-bit layers: float -> bit planes (``quantize_pack``), then bit-serial dense and
convolution layers over planes, with the binary layers' epilogues and post tails.

A ``planes`` value of a ``(..., C)`` tensor is stored ``(P, ..., words_for(C))``: ``P`` bit planes
of its unsigned codes, each packed as a binary value (``reference_bitserial.py``). A layer reads
the integer value of its input and of its weights as ``offset + sum_i plane_weights[i] * bit_i``
(attrs ``input_offset``, ``input_plane_weights``, ``weight_offset``, ``weight_plane_weights``;
``weight_first_plane``, optional, picks the planes of a weight that holds more), so one op runs
unsigned, two's complement and +-1-plane encodings of 1 to 8 bits, and its int32 accumulator is
the exact integer dot product.
"""

from __future__ import annotations

import math

import numpy as np

from onebit.runtime import kernels
from onebit.runtime.bit_format import WORD_DTYPE, words_for
from onebit.runtime.ops.base import (
    IntEpilogue,
    Op,
    ProgramError,
    check_padding_bits,
    init_post,
    layer_output,
)
from onebit.runtime.reference_bitserial import (
    INT32_MAX,
    MAX_PLANES,
    accumulator_bound,
    value_range,
)
from onebit.runtime.shapes import Value, checked, product, window_side


def planes_value(shape: tuple[int, ...], channels: int, where: str, row_bits: int | None = None):
    """A ``planes`` value of per-sample shape ``(P, ..., words)``."""
    product(shape, "the output's element count", where)
    return Value("planes", tuple(shape), channels, 0.0, channels if row_bits is None else row_bits)


class QuantizePack(Op):
    """Float ``(..., C)`` -> ``bits`` planes of ``clamp(round(x * multiplier) + zero_point, 0,
    2^bits - 1)`` (float32 product, round half to even, NaN to code 0)."""

    type = "quantize_pack"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.bits = self.int_attr("bits", 1)
        if self.bits > MAX_PLANES:
            raise ProgramError(f"op {self.where}: bits must be 1 to {MAX_PLANES}")
        self.multiplier = self.float_attr("multiplier")
        zero_point = self.attrs.get("zero_point")
        if type(zero_point) is not int or abs(zero_point) > 2**self.bits:
            raise ProgramError(
                f"op {self.where}: zero_point must be an integer within ±2^bits ({2**self.bits})"
            )
        self.zero_point = zero_point

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float")
        if not x.shape:
            raise ProgramError(f"op {self.where}: its input needs a channel axis")
        channels = x.shape[-1]
        shape = (self.bits, *x.shape[:-1], words_for(channels))
        return planes_value(shape, channels, self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        planes = kernels.quantize_pack(x, self.bits, self.multiplier, self.zero_point)
        return np.ascontiguousarray(np.moveaxis(planes, 0, 1))  # (N, P, ..., words)


class Encoding:
    """One operand's ``offset`` and ``plane_weights`` attrs: integers within ±2^16, 1 to 8
    planes."""

    def __init__(self, op: Op, prefix: str) -> None:
        offset = op.attrs.get(f"{prefix}_offset")
        weights = op.attrs.get(f"{prefix}_plane_weights")
        if (
            type(offset) is not int
            or not isinstance(weights, list)
            or not 1 <= len(weights) <= MAX_PLANES
            or not all(type(w) is int for w in weights)
            or max(abs(v) for v in (offset, *weights)) > 2**16
        ):
            raise ProgramError(
                f"op {op.where}: {prefix}_offset and {prefix}_plane_weights must be integers "
                f"within ±2^16, with 1 to {MAX_PLANES} plane weights"
            )
        self.offset = offset
        self.weights = tuple(weights)

    @property
    def planes(self) -> int:
        return len(self.weights)

    def range(self) -> tuple[int, int]:
        return value_range(self.offset, self.weights)


class _KbitLayer(Op):
    """What the dense and convolution layers share: the two encodings and the accumulator's
    bound."""

    arity = None  # one, plus a residual per post add

    def read_encodings(self) -> None:
        self.x_encoding = Encoding(self, "input")
        self.w_encoding = Encoding(self, "weight")

    def kernel_encodings(self) -> tuple:
        x, w = self.x_encoding, self.w_encoding
        return x.offset, x.weights, w.offset, w.weights

    def accumulator_bound(self, k: int) -> int:
        bound = accumulator_bound(k, *self.kernel_encodings())
        if bound > INT32_MAX:
            raise ProgramError(
                f"op {self.where}: a sum over {k} products of these encodings can reach "
                f"{bound}, past int32"
            )
        return bound

    def read_weight(self, shape: tuple[int | None, ...]) -> np.ndarray:
        """The weight planes the layer reads, ``shape`` with the plane axis second: the
        tensor itself, or with ``weight_first_plane`` planes ``[first, first + Q)`` of it, so a
        switched layer reads its top planes out of the one weight every width shares."""
        if "weight_first_plane" not in self.attrs:
            return self.tensor("weight", WORD_DTYPE, shape)
        first = self.int_attr("weight_first_plane")
        stored = self.tensor("weight", WORD_DTYPE, (shape[0], None, *shape[2:]))
        planes = self.w_encoding.planes
        if first + planes > stored.shape[1]:
            raise ProgramError(
                f"op {self.where}: weight_first_plane {first} and {planes} planes pass the "
                f"weight's {stored.shape[1]} planes"
            )
        return np.ascontiguousarray(stored[:, first : first + planes])

    def check_input_planes(self, x: Value, ndim: int) -> None:
        self.expect(x, "planes", ndim)
        if x.shape[0] != self.x_encoding.planes:
            raise ProgramError(
                f"op {self.where}: input_plane_weights has {self.x_encoding.planes} entries but "
                f"the input has {x.shape[0]} planes"
            )


class KbitDense(_KbitLayer):
    """Planes ``(N, P, words)`` x weight planes ``(Cout, Q, words)`` -> bit-serial gemm ->
    epilogue -> post tail."""

    type = "kbit_dense"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.k = self.int_attr("k", 1)
        self.read_encodings()
        self.weight = self.read_weight((None, self.w_encoding.planes, None))
        self.epilogue = IntEpilogue(self, self.weight.shape[0])
        self.post = init_post(self, self.weight.shape[0], self.epilogue.kind == "float")

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.check_input_planes(x, 2)
        cout, planes, words = self.weight.shape
        if cout < 1:
            raise ProgramError(f"op {self.where}: the weight has no rows")
        if x.shape[1] != words or x.channels != self.k:
            raise ProgramError(
                f"op {self.where}: k={self.k} and the weight's {words} words per plane must "
                f"match the input's {x.channels} channels in {x.shape[1]} words"
            )
        check_padding_bits(self, "weight", self.weight, x.row_bits)
        self.work = math.prod((cout, planes, x.shape[0], words))
        self.scratch = 4 * checked(x.shape[0] * cout * planes, "the plane sums", self.where)
        bound = self.accumulator_bound(self.k)
        return layer_output(self, inputs, (), cout, bound, self.epilogue, self.post)

    def __call__(self, x: np.ndarray, *residuals: np.ndarray) -> np.ndarray:
        acc = kernels.bitserial_gemm(
            np.ascontiguousarray(x), self.weight, self.k, *self.kernel_encodings()
        )
        return self.post(self.epilogue(acc), residuals)


class KbitConv2d(_KbitLayer):
    """Planes ``(N, P, H, W, words)`` x weight planes ``(Cout, Q, KH, KW, words)`` ->
    bit-serial convolution (the border padded with the code ``pad_code``) -> epilogue -> post
    tail."""

    type = "kbit_conv2d"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.cin = self.int_attr("cin", 1)
        self.stride = self.pair_attr("stride", 1)
        self.padding = self.padding_attr()
        self.read_encodings()
        self.pad_code = self.int_attr("pad_code", 0)
        if self.pad_code >= 2**self.x_encoding.planes:
            raise ProgramError(
                f"op {self.where}: pad_code {self.pad_code} is not a "
                f"{self.x_encoding.planes}-bit code"
            )
        shape = (None, self.w_encoding.planes, None, None, words_for(self.cin))
        self.weight = self.read_weight(shape)
        check_padding_bits(self, "weight", self.weight, self.cin)
        self.epilogue = IntEpilogue(self, self.weight.shape[0])
        self.post = init_post(self, self.weight.shape[0], self.epilogue.kind == "float")

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.check_input_planes(x, 4)
        planes, height, width, words = x.shape
        if words != words_for(self.cin) or x.channels != self.cin:
            raise ProgramError(
                f"op {self.where}: cin={self.cin} does not match the input's {x.channels} "
                f"channels in {words} words"
            )
        cout, wplanes, kh, kw, _ = self.weight.shape
        if min(cout, kh, kw) < 1:
            raise ProgramError(f"op {self.where}: the weight's shape {self.weight.shape} is empty")
        (sh, sw), (top, bottom, left, right) = self.stride, self.padding
        ho = window_side(height, top, bottom, kh, sh, self.where)
        wo = window_side(width, left, right, kw, sw, self.where)
        positions = checked(ho * wo, "the output positions", self.where)
        self.work = math.prod((positions, cout, planes, wplanes, kh, kw, words))
        rows = product((positions, planes, kh, kw, words), "the unfolded windows", self.where)
        sums = product((positions, planes, cout, wplanes), "the plane sums", self.where)
        self.scratch = WORD_DTYPE.itemsize * rows + 4 * sums
        bound = self.accumulator_bound(checked(self.cin * kh * kw, "k", self.where))
        return layer_output(self, inputs, (ho, wo), cout, bound, self.epilogue, self.post)

    def __call__(self, x: np.ndarray, *residuals: np.ndarray) -> np.ndarray:
        if x.ndim != 5 or x.dtype != WORD_DTYPE or x.shape[-1] != words_for(self.cin):
            raise ProgramError(
                f"op {self.where} expects (N, P, H, W, {words_for(self.cin)}) planes, "
                f"got {x.dtype} {x.shape}"
            )
        acc = kernels.bitserial_conv2d(
            np.ascontiguousarray(x),
            self.weight,
            self.cin,
            self.stride,
            self.padding,
            self.pad_code,
            *self.kernel_encodings(),
        )
        return self.post(self.epilogue(acc), residuals)
