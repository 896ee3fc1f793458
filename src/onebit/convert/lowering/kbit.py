"""k-bit operands: what a layer's multi-bit quantizers (``dorefa``, ``lsq``) and the 8-bit input
option mean as bit planes, and the ``quantize_pack`` / ``kbit_dense`` / ``kbit_conv2d`` ops that
run them (``onebit.runtime.ops.kbit``).

Each operand becomes integer codes with an encoding (the value is ``offset + sum_i plane_weights[i]
* bit_i``, see ``runtime/reference_bitserial.py``) and a float scale, so that the model's operand is
``scale * value``:

- ``dorefa`` activations: codes ``round(clip(x, 0, 1) * m)`` with ``m = 2^k - 1``, value the code,
  scale ``1/m``; the engine computes ``round(x * m)`` clamped to ``[0, m]``, the same codes;
- ``dorefa`` weights: codes ``u`` of eq. (9), value ``2u - m`` (the +-1-plane encoding: offset
  ``-m``, plane weights ``2^(i+1)``), scale ``1/m``;
- ``lsq`` (and ``switchable_lsq`` at its current width): codes ``round(clamp(x * (1/s), -Q_N,
  Q_P)) + Q_N``, value ``code - Q_N``, scale ``s``;
- ``nested_lsq`` at its current width ``b`` of ``B``: the top ``b`` bits of the ``B``-bit codes,
  +-1 planes, scale ``s * 2^(B-b)`` (a program runs the model's current setting);
- a sign (``ste_sign``...) weight: one plane, value ``1 - 2 bit``, the layer's scale factors;
- the 8-bit input (``convert(..., input_quantization=(s, z))``): codes ``q`` of ``x = s (q - z)``,
  value ``q - z``, scale ``s``: the BNN paper's first layer, whose 8-bit input times binary
  weights is a weighted sum of 8 bit-plane popcounts (Courbariaux et al., "Binarized Neural
  Networks", 2016, sec. 2.6).

The integer accumulator is exact; the float epilogue multiplies it by the two scales, where the
model multiplies the scaled operands, so outputs agree to float32 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from onebit import quantizers as q
from onebit.convert.ir import ConversionError
from onebit.quantizers.multibit import MIN_STEP, lsq_levels
from onebit.runtime.reference_bitserial import accumulator_bound, encode_planes

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Lowering


@dataclass(frozen=True)
class Encoding:
    """How a k-bit operand's codes map to the integers the engine multiplies."""

    bits: int
    offset: int
    plane_weights: tuple[int, ...]

    @classmethod
    def unsigned(cls, bits: int, zero_point: int = 0) -> Encoding:
        return cls(bits, -zero_point, tuple(2**i for i in range(bits)))

    @classmethod
    def plus_minus(cls, bits: int) -> Encoding:
        """``2u - (2^bits - 1)``: a sum of +-1 planes, DoReFa's weight levels."""
        return cls(bits, -(2**bits - 1), tuple(2 ** (i + 1) for i in range(bits)))

    @classmethod
    def sign(cls) -> Encoding:
        """One plane in the binary convention: bit 0 is +1, bit 1 is -1."""
        return cls(1, 1, (-2,))

    def attrs(self, prefix: str) -> dict[str, Any]:
        weights = list(self.plane_weights)
        return {f"{prefix}_offset": self.offset, f"{prefix}_plane_weights": weights}


@dataclass(frozen=True)
class ActivationQuantization:
    """``quantize_pack``'s attrs and what its codes mean."""

    bits: int
    multiplier: float  # a float32 value
    zero_point: int
    scale: float  # the model's operand is scale * (code - zero_point)

    @property
    def encoding(self) -> Encoding:
        return Encoding.unsigned(self.bits, self.zero_point)

    def attrs(self) -> dict[str, Any]:
        return {"bits": self.bits, "multiplier": self.multiplier, "zero_point": self.zero_point}


def activation_quantization(quantizer: Any, where: str) -> ActivationQuantization:
    """A multi-bit input quantizer as codes, or a ConversionError naming what is unsupported."""
    if isinstance(quantizer, q.DoReFa):
        if quantizer.mode != "activations":
            raise ConversionError(f"{where}: a dorefa input quantizer needs mode='activations'")
        levels = 2**quantizer.k_bit - 1
        if quantizer.k_bit > 8:
            raise ConversionError(f"{where}: dorefa activations of {quantizer.k_bit} bits (max 8)")
        return ActivationQuantization(quantizer.k_bit, float(levels), 0, 1.0 / levels)
    if isinstance(quantizer, q.LSQ | q.SwitchableLSQ):
        step = (quantizer.step if isinstance(quantizer, q.LSQ) else quantizer.step()).detach()
        step = step.float().abs().clamp_min(MIN_STEP)  # as the quantizer reads it
        if not torch.isfinite(step):
            raise ConversionError(f"{where}: the lsq input step {step.item()} is not finite")
        q_n, _ = lsq_levels(quantizer.bits, quantizer.signed)
        multiplier = float(step.reciprocal())  # the float32 reciprocal the model multiplies by
        return ActivationQuantization(quantizer.bits, multiplier, q_n, float(step))
    raise ConversionError(f"{where}: input quantizer {type(quantizer).__name__} is not multi-bit")


def input_quantization(scale: float, zero_point: int) -> ActivationQuantization:
    """The 8-bit program input ``x = scale * (q - zero_point)``, ``q`` in ``[0, 255]``."""
    if not (np.isfinite(scale) and scale > 0):
        raise ConversionError(f"the input scale must be a positive number, got {scale!r}")
    if type(zero_point) is not int or not 0 <= zero_point <= 255:
        raise ConversionError(
            f"the input zero point must be an integer in [0, 255], got {zero_point!r}"
        )
    multiplier = float(np.float32(1.0) / np.float32(scale))
    return ActivationQuantization(8, multiplier, zero_point, float(scale))


def weight_codes(
    layer: Any, kind: str, factors: list[torch.Tensor], where: str
) -> tuple[np.ndarray, Encoding, np.ndarray]:
    """``(codes, encoding, scale)``: the weight's integer codes in torch's layout, their encoding,
    and the per-output-channel float64 scale that turns their values into the model's weight
    (times ``factors``, the magnitude / alpha scales)."""
    weight = layer.weight.detach()
    quantizer = layer.weight_quantizer
    cout = weight.shape[0]
    scale = torch.ones(cout, dtype=torch.float32)
    for factor in factors:
        scale = scale * factor
    if kind in ("sign", "magnitude"):
        codes = (weight < 0).to(torch.int64).numpy()
        return codes, Encoding.sign(), scale.double().numpy()
    if isinstance(quantizer, q.DoReFa):
        if quantizer.mode != "weights":
            raise ConversionError(f"{where}: a dorefa weight quantizer needs mode='weights'")
        if quantizer.k_bit > 8:
            raise ConversionError(f"{where}: dorefa weights of {quantizer.k_bit} bits (max 8)")
        levels = 2**quantizer.k_bit - 1
        with torch.no_grad():
            limited = torch.tanh(weight)
            largest = limited.abs().max().clamp_min(torch.finfo(weight.dtype).tiny)
            unit = (limited / (2.0 * largest) + 0.5).clamp(0.0, 1.0)
            codes = torch.round(unit * levels).to(torch.int64).numpy()
        return codes, Encoding.plus_minus(quantizer.k_bit), scale.double().numpy() / levels
    if isinstance(quantizer, q.LSQ):
        step = quantizer.step.detach().float().abs().clamp_min(MIN_STEP)
        if not torch.isfinite(step):
            raise ConversionError(f"{where}: the lsq weight step {step.item()} is not finite")
        q_n, q_p = lsq_levels(quantizer.bits, quantizer.signed)
        with torch.no_grad():
            values = torch.clamp(torch.round(weight * step.reciprocal()), -q_n, q_p)
        codes = (values.to(torch.int64) + q_n).numpy()
        encoding = Encoding.unsigned(quantizer.bits, q_n)
        return codes, encoding, scale.double().numpy() * float(step)
    if isinstance(quantizer, q.NestedLSQ):  # the current width's levels: the top planes
        step = quantizer.step.detach().float().abs().clamp_min(MIN_STEP)
        if not torch.isfinite(step):
            raise ConversionError(f"{where}: the nested_lsq step {step.item()} is not finite")
        top, bits = 2**quantizer.max_bits - 1, quantizer.bits
        with torch.no_grad():
            widest = torch.round(torch.clamp((weight * step.reciprocal() + top) / 2, 0, top))
        codes = (widest.to(torch.int64) >> (quantizer.max_bits - bits)).numpy()
        spacing = float(step) * 2 ** (quantizer.max_bits - bits)
        return codes, Encoding.plus_minus(bits), scale.double().numpy() * spacing
    raise ConversionError(f"{where}: weight quantizer {type(quantizer).__name__} is not multi-bit")


def weight_planes(codes: np.ndarray, encoding: Encoding) -> np.ndarray:
    """Codes ``(Cout, ..., Cin)`` (channels last) -> planes ``(Cout, Q, ..., words)``."""
    return np.ascontiguousarray(np.moveaxis(encode_planes(codes, encoding.bits), 0, 1))


def as_planes(lowering: Lowering, value: Value, quantization: ActivationQuantization, where: str):
    """The k-bit planes of a float value, made once per value and quantization. A flattened
    vector is quantized as it is, packed densely: a pixel of a map with few channels (an image's
    1 or 3) would otherwise take a word per plane, 64 times the work."""
    if value.kind != "float":
        raise ConversionError(
            f"{where}: a multi-bit input quantizer needs a float input, but its input is "
            f"already {value.kind} (binarized before the layer?)"
        )
    key = (value.name, quantization)
    cache = lowering.planes_cache
    if key not in cache:
        out = lowering.new_value("planes", value.shape, value.torch_shape, value.layout)
        out.quantization = quantization
        out.flat_from = value.flat_from
        lowering.emit("quantize_pack", [value], out, attrs=quantization.attrs())
        cache[key] = out
    return cache[key]


def accumulator_limit(x_encoding: Encoding, w_encoding: Encoding, k: int) -> int:
    """The largest ``|acc|`` of a k-bit layer: thresholds are searched over ``[-limit, limit]``."""
    return accumulator_bound(
        k, x_encoding.offset, x_encoding.plane_weights, w_encoding.offset, w_encoding.plane_weights
    )


def layer_attrs(x_encoding: Encoding, w_encoding: Encoding, k: int, where: str) -> dict[str, Any]:
    """The encoding attrs of a k-bit layer, refused where its int32 accumulator could overflow."""
    bound = accumulator_limit(x_encoding, w_encoding, k)
    if bound >= 2**31:
        raise ConversionError(
            f"{where}: a sum of {k} products of {x_encoding.bits}-bit and {w_encoding.bits}-bit "
            f"values can reach {bound}, past the engine's int32 accumulator"
        )
    return {**x_encoding.attrs("input"), **w_encoding.attrs("weight")}
