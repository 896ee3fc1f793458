"""Elementwise ops: ReLU, hardtanh, PReLU, the residual add, and the modules that are the identity
in eval mode (dropout)."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from onebit.convert.ir import ConversionError
from onebit.convert.lowering.norm import runtime_feature_order
from onebit.convert.lowering.quantized import check_finite
from onebit.convert.lowering.registry import lowers, lowers_call

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers(nn.Dropout, nn.Identity)
def identity(lowering: Lowering, call: Call, module: nn.Module, x: Value) -> Value:
    return x


@lowers(nn.ReLU)
def relu_module(lowering: Lowering, call: Call, module: nn.ReLU, x: Value) -> Value:
    return relu(lowering, x, call.where)


@lowers_call("relu", F.relu, torch.relu)
def relu_call(lowering: Lowering, call: Call) -> Value:
    args = call.arguments(["input", "inplace"], {"inplace": False})
    return relu(lowering, lowering.arg(args["input"], call.where), call.where)


def relu(lowering: Lowering, x: Value, where: str) -> Value:
    out = lowering.float_like(lowering.as_float(x, where))
    lowering.emit("relu", [x], out)
    return out


@lowers(nn.Hardtanh)
def hardtanh_module(lowering: Lowering, call: Call, module: nn.Hardtanh, x: Value) -> Value:
    return hardtanh(lowering, x, module.min_val, module.max_val, call.where)


@lowers_call("hardtanh", F.hardtanh)
def hardtanh_call(lowering: Lowering, call: Call) -> Value:
    args = call.arguments(
        ["input", "min_val", "max_val", "inplace"], {"min_val": -1.0, "max_val": 1.0}
    )
    x = lowering.arg(args["input"], call.where)
    return hardtanh(lowering, x, args["min_val"], args["max_val"], call.where)


def hardtanh(lowering: Lowering, x: Value, low, high, where: str) -> Value:
    if not all(isinstance(v, int | float) and np.isfinite(v) for v in (low, high)):
        raise ConversionError(f"{where}: hardtanh bounds must be finite numbers")
    out = lowering.float_like(lowering.as_float(x, where))
    lowering.emit("hardtanh", [x], out, attrs={"min": float(low), "max": float(high)})
    return out


@lowers(nn.PReLU)
def prelu(lowering: Lowering, call: Call, module: nn.PReLU, x: Value) -> Value:
    check_finite(module.weight.detach(), f"{call.where}: the slope")
    out = lowering.float_like(lowering.as_float(x, call.where))
    slope = module.weight.detach().float().numpy()
    if slope.size > 1:
        slope = np.ascontiguousarray(runtime_feature_order(slope, x))
    lowering.emit("prelu", [x], out, arrays={"slope": slope})
    return out


@lowers_call("add", operator.add, torch.add)
def add(lowering: Lowering, call: Call) -> Value:
    """``a + b`` of two tensors of one shape (a residual shortcut)."""
    args = call.arguments(["input", "other"], {})
    if set(call.node.kwargs) - {"input", "other"}:
        raise ConversionError(f"{call.where}: only a plain a + b is supported (no alpha or out)")
    a, b = (lowering.as_float(lowering.arg(args[n], call.where), call.where) for n in args)
    if a.torch_shape != b.torch_shape:
        raise ConversionError(
            f"{call.where}: adds tensors of shapes {a.torch_shape} and {b.torch_shape}; "
            "only equal shapes (no broadcasting) are supported"
        )
    if a.layout != b.layout:  # e.g. a sequence (C, L) and an embedding's rows (L, C), C == L
        raise ConversionError(f"{call.where}: adds a {a.layout} to a {b.layout}")
    out = lowering.float_like(a)
    lowering.emit("add", [a, b], out)
    return out
