"""What a quantized layer (``QuantLinear``, ``QuantConv2d``) declares about its operands: whether
its input is binarized, whether its weights are ±1 and with which per-channel scale, and the float
map from its integer accumulator to its output, in the model's own float32 arithmetic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from onebit import quantizers as q
from onebit.convert.ir import ConversionError
from onebit.convert.lowering import kbit
from onebit.convert.lowering.registry import lowered_as
from onebit.runtime.reference import bitpack

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Lowering

SIGN_QUANTIZERS = (q.SteSign, q.ApproxSign, q.SwishSign, q.StochasticSign)
_KINDS: dict[type, str] = {
    **dict.fromkeys(SIGN_QUANTIZERS, "sign"),
    q.Identity: "identity",
    q.MagnitudeAwareSign: "magnitude",
    q.DoReFa: "multibit",
    q.LSQ: "multibit",
    q.SwitchableLSQ: "multibit",
    q.NestedLSQ: "multibit",
}


def describe(quantizer: Any) -> str:
    """A quantizer's name for an error message: its registry name, or what it is."""
    name = vars(type(quantizer)).get("name")  # a registered quantizer class, not a subclass
    if isinstance(quantizer, q.Quantizer) and isinstance(name, str):
        return repr(name)
    if isinstance(quantizer, nn.Module):
        return f"module {type(quantizer).__name__}"
    return f"function {getattr(quantizer, '__qualname__', type(quantizer).__name__)!r}"


def quantizer_kind(quantizer: Any, role: str, where: str) -> str:
    """ "identity" (None too), "sign", "magnitude" or "multibit"; anything else (a plain function,
    a lambda, a subclass that computes something of its own) is refused by name."""
    if quantizer is None or (isinstance(quantizer, q.SwitchableLSQ) and not quantizer.enabled):
        return "identity"
    registered = lowered_as(type(quantizer), _KINDS) if isinstance(quantizer, nn.Module) else None
    if registered is None:
        raise ConversionError(
            f"{where}: {role} quantizer {describe(quantizer)} is not one the converter knows; "
            "use a quantizer of onebit.quantizers (a name such as 'ste_sign')"
        )
    return _KINDS[registered]


def input_of(lowering: Lowering, layer: nn.Module, x: Value, where: str) -> Value:
    """The layer's input: packed after a sign quantizer, bit planes after a multi-bit one; as it
    comes without one (a map binarized before the layer, e.g. by ReActNet's RSign, stays
    packed), except the program's input under the 8-bit input option, which a layer with
    binary or k-bit weights reads as 8 bit planes."""
    quantizer = getattr(layer, "input_quantizer", None)
    kind = quantizer_kind(quantizer, "input", where)
    if kind == "identity":
        weight_kind = quantizer_kind(getattr(layer, "weight_quantizer", None), "weight", where)
        if (
            lowering.input_quantization is not None
            and weight_kind != "identity"
            and lowering.reads_input(x)
        ):
            return kbit.as_planes(lowering, x, lowering.input_quantization, where)
        return x
    if kind == "sign":
        return lowering.as_bits(x, where)
    if kind == "multibit":
        return kbit.as_planes(lowering, x, kbit.activation_quantization(quantizer, where), where)
    raise ConversionError(f"{where}: input quantizer {describe(quantizer)} is not 1-bit")


def weight_of(layer: nn.Module, where: str) -> tuple[str, torch.Tensor, np.ndarray]:
    """("binary" | "float", weight values, per-channel scale): the scale as the model computes
    it in float32 (magnitude-aware ``mean |w|``, XNOR-Net's alpha), held as float64."""
    weight = layer.weight.detach()
    check_finite(weight, f"{where}: the weight")
    if getattr(layer, "bias", None) is not None:
        check_finite(layer.bias.detach(), f"{where}: the bias")
    quantizer = getattr(layer, "weight_quantizer", None)
    kind = quantizer_kind(quantizer, "weight", where)
    scale = torch.ones(weight.shape[0], dtype=torch.float32)
    for factor in _scale_factors(layer, kind):
        scale = scale * factor
    if kind == "multibit":  # on a float input: the float weights the model computes with
        with torch.no_grad():
            return "float", quantizer(weight).float(), scale.double().numpy()
    mode = "float" if kind == "identity" else "binary"
    values = torch.where(weight >= 0, 1.0, -1.0) if mode == "binary" else weight.float()
    return mode, values, scale.double().numpy()


def kbit_weight_of(layer: nn.Module, where: str) -> tuple[np.ndarray, kbit.Encoding, np.ndarray]:
    """A k-bit layer's weight as ``(codes, encoding, scale)`` (``kbit.weight_codes``)."""
    weight = layer.weight.detach()
    check_finite(weight, f"{where}: the weight")
    if getattr(layer, "bias", None) is not None:
        check_finite(layer.bias.detach(), f"{where}: the bias")
    quantizer = getattr(layer, "weight_quantizer", None)
    kind = quantizer_kind(quantizer, "weight", where)
    if kind == "identity":
        raise ConversionError(
            f"{where}: a multi-bit input needs binary or multi-bit weights, not float ones"
        )
    return kbit.weight_codes(layer, kind, _scale_factors(layer, kind), where)


def kbit_chain(input_scale: float, weight_scale: np.ndarray, layer: nn.Module):
    """The float map acc -> layer output of a k-bit layer: ``acc * (s_x * s_w) + bias`` in
    float32 (the model multiplies the scaled operands instead; the two agree to rounding)."""
    factor = torch.from_numpy((input_scale * weight_scale).astype(np.float32))
    bias = None if layer.bias is None else layer.bias.detach()

    def chain(t: torch.Tensor) -> torch.Tensor:
        t = t * factor
        return t if bias is None else t + bias

    return chain


def _scale_factors(layer: nn.Module, kind: str) -> list[torch.Tensor]:
    """The per-channel float32 factors the model multiplies the ±1 sum by, in its order:
    ``magnitude_aware_sign``'s ``mean |w|`` (inside the conv), then ``alpha()`` (after it)."""
    weight = layer.weight.detach()
    factors = []
    if kind == "magnitude":
        factors.append(weight.abs().mean(dim=tuple(range(1, weight.ndim))))
    if getattr(layer, "alpha_scaling", False):
        factors.append(layer.alpha().detach().flatten())
    return factors


def accumulator_chain(layer: nn.Module):
    """The float map acc -> layer output as the model computes it in float32: the weight scale
    factors, then the bias. (With magnitude-aware weights the model sums ``±mean |w|`` terms, in
    its kernel's order; ``acc * mean |w|`` is that sum rounded once.)"""
    kind = quantizer_kind(getattr(layer, "weight_quantizer", None), "weight", "")
    factors = _scale_factors(layer, kind)
    bias = None if layer.bias is None else layer.bias.detach()

    def chain(t: torch.Tensor) -> torch.Tensor:
        for factor in factors:
            t = t * factor
        return t if bias is None else t + bias

    return chain


def check_finite(tensor: torch.Tensor, what: str) -> None:
    if not torch.isfinite(tensor).all():
        raise ConversionError(f"{what} holds NaN or infinite values")


def float_op_weights(mode: str, weight: torch.Tensor, cout: int) -> dict[str, np.ndarray]:
    if mode == "binary":
        return {"weight_bits": bitpack(weight.numpy()).reshape(cout, *weight.shape[1:-1], -1)}
    return {"weight": np.ascontiguousarray(weight.numpy(), dtype=np.float32)}
