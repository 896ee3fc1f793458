"""Tracing a model with ``torch.fx``: onebit's layers and quantizers stay whole (leaves)."""

from __future__ import annotations

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from onebit import quantizers as q
from onebit.convert.ir import ConversionError
from onebit.nn import (
    LearnableBias,
    QuantizedLayer,
    RPReLU,
    RSign,
    ShiftBatchNorm1d,
    ShiftBatchNorm2d,
)


class _Tracer(fx.Tracer):
    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        if isinstance(
            module,
            QuantizedLayer | q.Quantizer | LearnableBias | ShiftBatchNorm1d | ShiftBatchNorm2d,
        ):
            return True
        if isinstance(module, RSign | RPReLU):
            return False
        return super().is_leaf_module(module, qualified_name)


def trace(model: nn.Module, example: torch.Tensor) -> fx.GraphModule:
    """Trace ``model`` (in eval mode) and record every node's output shape."""
    try:
        graph = _Tracer().trace(model)
    except Exception as error:
        raise ConversionError(f"torch.fx cannot trace the model: {error}") from None
    module = fx.GraphModule(model, graph)
    with torch.no_grad():
        ShapeProp(module).propagate(example)
    return module
