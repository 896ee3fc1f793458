"""Per-channel affine maps: batch norm (exact and shift-based) and the learnable bias -> ``affine``,
which the rewrites fold into the layer before it or into the next sign's thresholds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from onebit.convert.ir import ConversionError
from onebit.convert.lowering.quantized import check_finite
from onebit.convert.lowering.registry import lowers
from onebit.nn import LearnableBias, ShiftBatchNorm1d, ShiftBatchNorm2d
from onebit.nn.bitmixer import TransitionalBatchNorm

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers(nn.BatchNorm1d, nn.BatchNorm2d)
def batch_norm(lowering: Lowering, call: Call, bn: nn.BatchNorm2d, x: Value) -> Value:
    """Eval-mode batch norm is ``x * alpha + beta`` per channel. ``alpha`` and ``beta`` are taken
    as torch's CPU kernel computes them in float32 (``alpha = weight / sqrt(var + eps)``,
    ``beta = bias - mean * alpha`` rounded once), so a program that applies them computes what the
    model computes from the same input."""
    if not bn.track_running_stats or bn.running_mean is None:
        raise ConversionError(f"{call.where}: batch norm without running statistics")
    for name, tensor in (
        ("running_mean", bn.running_mean),
        ("running_var", bn.running_var),
        ("weight", bn.weight),
        ("bias", bn.bias),
    ):
        if tensor is not None:
            check_finite(tensor.detach(), f"{call.where}: {name}")
    if not np.isfinite(bn.eps) or not (bn.running_var.detach() + bn.eps > 0).all():
        raise ConversionError(f"{call.where}: running_var + eps must be positive")
    f32 = np.float32
    var, mean = bn.running_var.detach().numpy(), bn.running_mean.detach().numpy()
    with np.errstate(all="ignore"):  # an overflow is refused below
        inv_std = f32(1) / np.sqrt(var.astype(f32) + f32(bn.eps))
        weight = bn.weight.detach().numpy() if bn.affine else np.ones_like(inv_std)
        bias = bn.bias.detach().numpy() if bn.affine else np.zeros_like(inv_std)
        alpha = (inv_std * weight.astype(f32)).astype(np.float64)
        beta = bias.astype(np.float64) - mean.astype(np.float64) * alpha  # the product is exact
        beta = beta.astype(f32).astype(np.float64)
    if not (np.isfinite(alpha).all() and np.isfinite(beta).all()):
        raise ConversionError(f"{call.where}: its scale or shift overflows float32")
    return affine(lowering, call, x, alpha, beta, batch_norm_chain(bn, x))


@lowers(TransitionalBatchNorm)
def transitional_batch_norm(
    lowering: Lowering, call: Call, norm: TransitionalBatchNorm, x: Value
) -> Value:
    """Bit-Mixer's norm: the batch norm of its current transition (the program runs the model's
    current setting, ``set_bits``)."""
    return batch_norm(lowering, call, norm.norm(), x)


@lowers(ShiftBatchNorm1d, ShiftBatchNorm2d)
def shift_batch_norm(lowering: Lowering, call: Call, bn: nn.Module, x: Value) -> Value:
    if bn.running_mean is None:
        raise ConversionError(f"{call.where}: batch norm without running statistics")
    scale, shift = bn.folded()
    check_finite(scale, f"{call.where}: the folded scale")
    check_finite(shift, f"{call.where}: the folded shift")
    s, t = scale.double().numpy(), shift.double().numpy()
    return affine(lowering, call, x, s, t, batch_norm_chain(bn, x))


@lowers(LearnableBias)
def learnable_bias(lowering: Lowering, call: Call, module: LearnableBias, x: Value) -> Value:
    check_finite(module.bias.detach(), f"{call.where}: the bias")
    bias = module.bias.detach().double().numpy()
    return affine(lowering, call, x, np.ones_like(bias), bias, batch_norm_chain(module, x))


def affine(lowering, call: Call, x: Value, s: np.ndarray, t: np.ndarray, chain) -> Value:
    x = lowering.as_float(x, call.where)
    if x.layout == "rows":  # torch normalizes the (L, C) rows' L axis
        raise ConversionError(f"{call.where}: normalizes an embedding's (L, C) output over L")
    s, t = runtime_feature_order(s, x), runtime_feature_order(t, x)
    out = lowering.float_like(x)
    lowering.emit(
        "affine", [x], out, attrs={"channels": x.channels}, scale=s, bias=t, chain=[chain]
    )
    return out


def batch_norm_chain(module: nn.Module, x: Value):
    """The module applied to contiguous (rows, C) values, as (rows, C, 1, 1) maps when the model
    applies it to maps: torch's CPU batch norm rounds as on the model's own contiguous maps
    (a strided input would take another code path with other roundings); as (rows, C, 1)
    sequences when it applies it to sequences (a ``BatchNorm1d`` over (N, C, L))."""
    layout = x.layout

    def chain(t: torch.Tensor) -> torch.Tensor:
        t = t.contiguous()
        if layout == "map":
            return module(t[:, :, None, None])[:, :, 0, 0]
        return module(t[:, :, None])[:, :, 0] if layout == "sequence" else module(t)

    return chain


def runtime_feature_order(vector: np.ndarray, x: Value) -> np.ndarray:
    """A per-feature vector of a flattened map, from torch's (C, H, W) order to the runtime's
    (H, W, C); of any other value, as it is."""
    if x.flat_from is None:
        return vector
    c, h, w = x.flat_from
    return np.asarray(vector).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
