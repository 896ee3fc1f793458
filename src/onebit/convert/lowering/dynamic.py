"""DyBNN's dynamic layers (``onebit.nn.dynamic``): the hyper function -> ``global_avgpool``,
``dense``, ``relu``, ``dense`` (the lowerings of ``AdaptiveAvgPool2d``, ``nn.Linear`` and
``nn.ReLU``; the rewrites then fuse the ReLU into the first dense layer's tail); ``DySign`` ->
its hyper function and ``dynamic_sign_pack``, whose packed output any binary layer reads;
``DyPReLU`` -> its hyper function and ``dynamic_prelu``.

Exactness: the signs are ``x >= alpha`` of the thresholds the program computes, which equals the
model's ``sign(x - alpha)`` in float32 (``runtime/reference_dynamic.py``). The thresholds come
from float layers that sum in another order than torch's kernels (a mean, two matrix products),
so they may differ from the model's by a few ulps, and a sign where ``x`` is that close to its
threshold may differ; where the branch's arithmetic is exact (e.g. a last linear map still at
its zero initialization, whose output is its bias), every bit is the model's.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
from torch import nn

from onebit.convert.ir import ConversionError
from onebit.convert.lowering.elementwise import relu
from onebit.convert.lowering.linear import linear
from onebit.convert.lowering.pool import global_avgpool
from onebit.convert.lowering.quantized import check_finite, describe, quantizer_kind
from onebit.convert.lowering.registry import lowers
from onebit.nn.dynamic import DyPReLU, DySign, HyperFunction

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers(HyperFunction)
def hyper_function(lowering: Lowering, call: Call, module: HyperFunction, x: Value) -> Value:
    return hyper(lowering, call, module, x, call.where)


def hyper(lowering: Lowering, call: Call, module: nn.Module, x: Value, where: str) -> Value:
    """The (outputs,) vector per sample of ``module``, a :class:`HyperFunction` of the map
    ``x``: mean over height and width, dense, ReLU, dense."""
    if type(module) is not HyperFunction or not all(
        type(layer) is nn.Linear for layer in (module.reduce, module.expand)
    ):
        raise ConversionError(
            f"{where} is not onebit's HyperFunction (two nn.Linear around a ReLU), which the "
            "converter lowers; a replaced or subclassed branch is not supported"
        )
    x = lowering.as_float(lowering.as_map(x, where), where)
    if len(x.shape) != 3:
        raise ConversionError(f"{where} needs an image map, got a value of shape {x.torch_shape}")
    pooled = global_avgpool(lowering, x, (x.channels,), where)
    for layer, name in ((module.reduce, "reduce"), (module.expand, "expand")):
        if name == "expand":
            pooled = relu(lowering, pooled, where)
        step = dataclasses.replace(call, where=f"{where}: {name}", out_shape=(layer.out_features,))
        pooled = linear(lowering, step, layer, pooled)
    return pooled


@lowers(DySign)
def dynamic_sign(lowering: Lowering, call: Call, module: DySign, x: Value) -> Value:
    where = call.where
    if quantizer_kind(module.quantizer, "the", where) != "sign":
        raise ConversionError(f"{where}: quantizer {describe(module.quantizer)} is not 1-bit")
    x = lowering.as_float(lowering.as_map(x, where), where)
    threshold = hyper(lowering, call, module.threshold, x, f"{where}'s threshold branch")
    if threshold.shape != (x.channels,):
        raise ConversionError(f"{where}: {threshold.shape[0]} thresholds for {x.channels} channels")
    out = lowering.new_value("bits", x.shape, x.torch_shape, x.layout)
    lowering.emit("dynamic_sign_pack", [x, threshold], out)
    return out


@lowers(DyPReLU)
def dynamic_prelu(lowering: Lowering, call: Call, module: DyPReLU, x: Value) -> Value:
    where = call.where
    if type(module.prelu) is not nn.PReLU:
        raise ConversionError(f"{where}: its prelu must be an nn.PReLU")
    check_finite(module.prelu.weight.detach(), f"{where}: the slope")
    x = lowering.as_float(lowering.as_map(x, where), where)
    shifts = hyper(lowering, call, module.shifts, x, f"{where}'s shift branch")
    if shifts.shape != (2 * x.channels,):
        raise ConversionError(f"{where}: {shifts.shape[0]} shifts for {x.channels} channels")
    slope = module.prelu.weight.detach().float().numpy()
    slope = np.ascontiguousarray(np.broadcast_to(slope, (x.channels,)))
    out = lowering.float_like(x)
    lowering.emit("dynamic_prelu", [x, shifts], out, arrays={"slope": slope})
    return out
