"""Convert a trained PyTorch model into a packed program for the torch-free runtime.

``convert(model, example_input)`` traces the model with ``torch.fx``, lowers every layer to the
runtime's NHWC ops, folds batch norm into integer thresholds and packs binary weights 64 to a
word. A layer it cannot convert is named in a :class:`ConversionError` (one line), as is a model
off the CPU, an example input of the wrong shape, or a trace that computes anything else than
the model's own ``forward``. This is the only part of the engine that imports torch.

Exactness: a binary layer's sum of ±1 products is an exact integer in torch and in the engine, and
its thresholds reproduce the model's float32 map to the next sign on every integer, so those bits
are the model's. A float layer (a stem conv, a 1x1 conv, the residual stream) sums in another
order than torch's kernels; its values differ by a few ulps, and a sign right after it can differ
only where the value is within that of 0 (``tests/convert/test_exactness.py`` measures the rate).
"""

from __future__ import annotations

import sys
import types
from typing import Any

import torch
from torch import nn

from onebit.convert import switched
from onebit.convert.ir import ConversionError
from onebit.convert.lower import Lowering
from onebit.convert.lowering import kbit
from onebit.convert.passes import Rewriter
from onebit.convert.trace import trace
from onebit.runtime.errors import ProgramError
from onebit.runtime.program import Program

__all__ = ["ConversionError", "convert"]


def convert(
    model: nn.Module,
    example_input: torch.Tensor,
    metadata: dict[str, Any] | None = None,
    input_quantization: tuple[float, int] | None = None,
    switchable: bool | None = None,
) -> Program:
    """Convert ``model`` (evaluated in eval mode) into a :class:`~onebit.runtime.Program`.

    Args:
        model: a trained model built from onebit's layers and torch.nn layers.
        example_input: a batch of the model's input, e.g. ``torch.zeros(1, 1, 28, 28)``, or of
            token ids for a model that embeds them (``torch.zeros(1, L, dtype=torch.long)``:
            the program then takes ids, ``Program.input_kind == "tokens"``); only its shape and
            dtype matter (the model and its trace run once on a random batch of that shape,
            which must give the same output).
        metadata: JSON-safe facts to keep in the program (the model's config, class names...).
        input_quantization: ``(scale, zero_point)`` of 8-bit inputs ``x = scale * (q -
            zero_point)``, ``q`` in [0, 255] (e.g. ``(1/255, 0)`` for pixels scaled to [0, 1]):
            a layer with binary or k-bit weights that reads the input then runs in integers,
            as 8 bit-plane popcounts (the BNN paper's first layer), instead of in float.
            Inputs off that grid are rounded to it.
        switchable: whether a Bit-Mixer network (``bitmixer-mlp``) becomes one switched
            program whose layers' widths are chosen when it runs (``Program.set_bits``;
            ``convert/switched.py``), at the model's current widths by default; False, a plain
            program of its current widths. None (the default): switched for a Bit-Mixer
            network that was not trained at fixed widths (``train_bits``).
    """
    if not isinstance(model, nn.Module):
        raise ConversionError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(example_input, torch.Tensor) or example_input.ndim < 2:
        raise ConversionError("example_input must be a batch tensor, e.g. torch.zeros(1, C, H, W)")
    _check_parameters(model)
    _check_input_shape(model, tuple(example_input.shape))
    _check_input_dtype(model, example_input.dtype)
    quantization = None
    if input_quantization is not None:
        quantization = kbit.input_quantization(*input_quantization)
    was_training = model.training
    model.eval()
    try:
        if switched.is_switchable(model) if switchable is None else switchable:
            graph, tensors = switched.merge_settings(
                model, lambda: _convert_graph(model, example_input, quantization, metadata)
            )
        else:
            graph, tensors = _convert_graph(model, example_input, quantization, metadata)
    finally:
        model.train(was_training)
    try:
        return Program(graph, tensors)
    except ProgramError as error:  # e.g. parameters so large the runtime's value bound refuses
        raise ConversionError(f"the converted program is refused by the runtime: {error}") from None


def _convert_graph(
    model: nn.Module,
    example_input: torch.Tensor,
    quantization: kbit.ActivationQuantization | None,
    metadata: dict[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plain graph and tensors of ``model`` (in eval mode) at its current setting."""
    lowering = Lowering(trace(model, example_input), model, quantization)
    lowering.run()
    rewriter = Rewriter(lowering)
    rewriter.prune()
    rewriter.fold_pads()
    rewriter.fold_affines()
    rewriter.fuse_signs()
    rewriter.finalize()
    rewriter.fuse_tails()
    return _serialize(lowering, metadata or {})


def _check_parameters(model: nn.Module) -> None:
    """The converter reads parameters as float32 NumPy arrays: every one must be a float32 CPU
    tensor. A model on another device is refused rather than copied (a copy of a large model is
    the user's call)."""
    for kind, named in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, tensor in named:
            if tensor.device.type != "cpu":
                raise ConversionError(
                    f"{kind} {name!r} is on {tensor.device}; move the model to the CPU first "
                    "(model.cpu())"
                )
            if tensor.is_floating_point() and tensor.dtype != torch.float32:
                raise ConversionError(
                    f"{kind} {name!r} is {tensor.dtype}; convert a float32 model (model.float())"
                )


def _check_input_shape(model: nn.Module, shape: tuple[int, ...]) -> None:
    """A model that declares its input shape (the zoo's ``input_shape``) gets it."""
    expected = getattr(model, "input_shape", None)
    if isinstance(expected, tuple) and tuple(shape[1:]) != expected:
        raise ConversionError(
            f"example_input has shape {shape}, but the model takes (N, "
            f"{', '.join(map(str, expected))})"
        )


def _check_input_dtype(model: nn.Module, dtype: torch.dtype) -> None:
    """Float data or integer token ids; a model that declares its input dtype gets it."""
    if dtype == torch.bool or dtype.is_complex:
        raise ConversionError(f"example_input must be float data or integer token ids, not {dtype}")
    expected = getattr(model, "input_dtype", None)
    if isinstance(expected, torch.dtype) and expected.is_floating_point != dtype.is_floating_point:
        raise ConversionError(f"example_input is {dtype}, but the model takes {expected}")


def _serialize(lowering: Lowering, metadata: dict[str, Any]):
    tensors = {}
    ops = []
    for node in lowering.nodes:
        roles = {}
        for role, array in node.arrays.items():
            name = f"{node.output}.{role}"
            tensors[name] = array
            roles[role] = name
        ops.append(
            {
                "type": node.type,
                "inputs": node.inputs,
                "output": node.output,
                "attrs": node.attrs,
                "tensors": roles,
            }
        )
    graph_input = {"name": lowering.input.name, "shape": list(lowering.input.torch_shape)}
    if lowering.input.kind == "tokens":  # written only then, so float programs stay as they were
        graph_input["kind"] = "tokens"
    graph = {
        "input": graph_input,
        "output": lowering.output.name,
        "ops": ops,
        "metadata": metadata,
    }
    return graph, tensors


class _CallableModule(types.ModuleType):
    """Lets ``onebit.convert(model, x)`` call :func:`convert` while ``onebit.convert`` stays the
    package that holds the converter's modules."""

    def __call__(self, *args: Any, **kwargs: Any) -> Program:
        return convert(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
