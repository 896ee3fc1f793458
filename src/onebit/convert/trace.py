"""Tracing a model with ``torch.fx``: the layers the lowering registry knows stay whole (leaves),
a subclass of one that computes something of its own is traced through, and every node's output
shape is recorded by running the graph on the example input.

``torch.fx`` records ``x += y`` as ``x = x + y``: a tensor that aliases ``x`` (``y = x.relu_()``
returns ``x`` itself) would keep its old value in the graph while PyTorch changes it. So the traced
graph is run next to the model's own ``forward`` on a seeded random batch, and a graph that
computes anything else than the model is refused.

What a module does beyond its class is invisible to the lowering, which reads a known layer's
parameters, not its code: forward hooks and pre-hooks (the module's own or torch's global ones)
and methods replaced on one instance (``layer.forward = ...``). A model with any of them is
refused by name before tracing.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import fx, nn
from torch.nn.modules import module as torch_module

from onebit.convert.ir import ConversionError
from onebit.convert.lowering import is_registered_subclass, module_lowering
from onebit.convert.lowering.registry import FUNCTIONS


def _own_functions() -> tuple[Any, ...]:
    """The library's own tensor functions that a lowering takes whole (``onebit.nn``'s
    ``channel_shuffle``): torch.fx would trace into their Python code, so they stay one node
    where a forward calls them by a global name (``from onebit.nn import channel_shuffle``)."""
    return tuple(
        function
        for function in FUNCTIONS
        if inspect.isfunction(function) and function.__module__.startswith("onebit.")
    )


class _Tracer(fx.Tracer):
    def __init__(self) -> None:
        super().__init__(autowrap_functions=_own_functions())
        self.failed_in: str | None = None  # the innermost layer whose code tracing failed in

    def call_module(self, module, forward, args, kwargs):
        try:
            return super().call_module(module, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                name = self.path_of_module(module) or "(the model)"
                self.failed_in = f"layer {name!r} ({type(module).__name__})"
            raise

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        if module_lowering(type(module)) is not None:
            return True
        if is_registered_subclass(type(module)):  # a known layer with a computation of its own
            return False
        return super().is_leaf_module(module, qualified_name)


class _ShapeRecorder(fx.Interpreter):
    """Runs the graph, recording each node's output shape in ``node.meta["onebit_shape"]``; an
    error names the node that raised it."""

    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.extra_traceback = False  # our error is one line

    def run_node(self, node: fx.Node) -> Any:
        try:
            result = super().run_node(node)
        except Exception as error:
            raise ConversionError(
                f"the example input does not fit the model: {_node_label(node)} fails with "
                f"{type(error).__name__}: {first_line(error)}"
            ) from None
        if isinstance(result, torch.Tensor):
            node.meta["onebit_shape"] = tuple(result.shape)
            node.meta["onebit_dtype"] = result.dtype
        return result


def refuse_hidden_behaviour(model: nn.Module) -> None:
    """Refuse forward hooks, pre-hooks and per-instance method overrides, which change what a
    module computes without changing its class."""
    if torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks:
        raise ConversionError(
            "global forward hooks are registered (register_module_forward_hook or "
            "register_module_forward_pre_hook); remove them before converting"
        )
    for name, module in model.named_modules():
        where = f"layer {name!r} ({type(module).__name__})" if name else "the model"
        if module._forward_hooks or module._forward_pre_hooks:
            raise ConversionError(
                f"{where} has forward hooks, which the program cannot run; remove them (or "
                "write what they do into a module's forward) before converting"
            )
        replaced = sorted(
            attribute
            for attribute, value in vars(module).items()
            if callable(value) and callable(getattr(type(module), attribute, None))
        )
        if replaced:
            raise ConversionError(
                f"{where} replaces its method(s) {', '.join(replaced)} on the instance; the "
                "converter reads the class's computation, so define a subclass instead"
            )


def _optional_arguments(model: nn.Module) -> dict[str, Any] | None:
    """``forward``'s arguments after the input that have defaults, at their defaults: the
    program takes the input alone (e.g. Bit-Mixer's per-call ``bits=None``)."""
    parameters = list(inspect.signature(model.forward).parameters.values())[1:]
    fixed = {
        p.name: p.default
        for p in parameters
        if p.default is not inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    return fixed or None


def trace(model: nn.Module, example: torch.Tensor) -> fx.GraphModule:
    """Trace ``model`` (in eval mode) and record every node's output shape for a batch of
    ``example``'s shape; refuse a trace that computes anything else than ``model``."""
    refuse_hidden_behaviour(model)
    tracer = _Tracer()
    try:
        graph = tracer.trace(model, concrete_args=_optional_arguments(model))
    except Exception as error:
        where = tracer.failed_in or "the model"
        raise ConversionError(f"torch.fx cannot trace {where}: {first_line(error)}") from None
    placeholders = [node for node in graph.nodes if node.op == "placeholder"]
    for node in placeholders[1:]:  # an optional argument fixed at its default, and its guard
        for user in list(node.users):
            if user.op == "call_function" and not user.users and "assert" in user.name:
                graph.erase_node(user)
        if not node.users:
            graph.erase_node(node)
    module = fx.GraphModule(model, graph)
    batch = _random_batch(model, example)
    with torch.no_grad():
        traced = _ShapeRecorder(module).run(batch.clone())
        try:
            expected = model(batch.clone())
        except Exception as error:
            raise ConversionError(
                f"the example input does not fit the model: {first_line(error)}"
            ) from None
    if isinstance(traced, torch.Tensor) and isinstance(expected, torch.Tensor):
        same = traced.shape == expected.shape and torch.allclose(
            traced, expected, rtol=1e-5, atol=1e-6, equal_nan=True
        )
        if not same:
            raise ConversionError(
                "the traced graph computes something else than the model's forward: an in-place "
                "update such as x += y of a tensor that is read again, or Python control flow "
                "on tensor values? Write it out of place (x = x + y)"
            )
    return module


def _random_batch(model: nn.Module, example: torch.Tensor) -> torch.Tensor:
    """A seeded batch of ``example``'s shape: normal floats, or for integer token ids, ids that
    every embedding of the model holds (below the smallest ``num_embeddings``)."""
    generator = torch.Generator().manual_seed(0)
    if example.is_floating_point():
        return torch.randn(example.shape, generator=generator)
    sizes = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
    if not sizes:
        raise ConversionError(
            f"the example input is {example.dtype}: integer inputs are token ids, for a model "
            "that embeds them (nn.Embedding or onebit.nn.QuantEmbedding)"
        )
    return torch.randint(0, min(sizes), example.shape, generator=generator, dtype=example.dtype)


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _node_label(node: fx.Node) -> str:
    if node.op == "call_module":
        return f"layer {node.target!r}"
    return f"{node.op} {getattr(node.target, '__name__', node.target)!s} ({node.name!r})"
