"""Lowering a traced PyTorch model to the packed program's ops: the walk over the graph and the
bookkeeping of values; what each layer or tensor operation becomes lives in ``lowering/``.

The model is traced with ``torch.fx`` (the layers the lowering registry knows kept whole), shapes
are recorded with the example input, and each graph node becomes ops of ``onebit.runtime.ops`` in
NHWC layout (a model whose output is a feature map gets it back in torch's NCHW order). A value
read by several binary layers is signed once. Every lowered value's shape is checked against the
one torch computed for its node. Rewrites then fold what they can (``passes.py``):

0. a constant pad (``ZeroPad2d``, ``F.pad``) read only by a float convolution becomes part of its
   padding, which may be asymmetric (``[top, bottom, left, right]``);
1. an affine map (batch norm, learnable shift) right after a layer folds into that layer's
   epilogue;
2. a sign right after a binary layer becomes that layer's bit-packed output through integer
   thresholds (``thresholds.py``), and after a float layer a packed ``sign`` epilogue;
3. a float max-pool followed by a sign becomes a sign followed by a binary max-pool (the sign is
   monotone, so ``sign(max(y)) = max(sign(y))``), and the sign then fuses as in 2.

In-place operations (``x.relu_()``, ``F.relu(x, inplace=True)``, ``nn.ReLU(inplace=True)``,
``x.add_(y)``) lower as their out-of-place twins; the mutated tensor, and every name bound to it,
then reads the result, as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import fx, nn

from onebit.convert.ir import ConversionError, Node, Value
from onebit.convert.lowering import call_name, module_lowering
from onebit.convert.lowering.registry import CALLS


@dataclass
class Call:
    """One graph node being lowered: where it is (for messages) and its output's shape."""

    node: fx.Node
    where: str
    out_shape: tuple[int, ...]

    def arguments(self, names: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by name, positional or keyword."""
        node = self.node
        args = {**defaults, **dict(zip(names, node.args, strict=False)), **node.kwargs}
        missing = [name for name in names if name not in args]
        if missing:
            raise ConversionError(f"{self.where}: argument {missing[0]!r} is missing")
        return args


class Lowering:
    """Turns a traced module into a list of :class:`Node` and the values between them."""

    def __init__(
        self,
        module: fx.GraphModule,
        source: nn.Module | None = None,
        input_quantization: Any = None,
    ) -> None:
        self.module = module
        # the 8-bit input option (kbit.ActivationQuantization): the layers that read the
        # program's input with binary or k-bit weights take it as 8 bit planes
        self.input_quantization = input_quantization
        self.input_map: Value | None = None
        self.planes_cache: dict[tuple, Value] = {}  # (float value, quantization) -> its planes
        self.source = module if source is None else source  # the model, for layer names
        self.nodes: list[Node] = []
        self.values: dict[str, Value] = {}
        self._by_fx: dict[str, Value] = {}
        self.input: Value | None = None
        self.output: Value | None = None
        self._flattened: dict[str, Value] = {}  # flat value -> the map it flattens
        self._signs: dict[str, Value] = {}  # float value -> its packed signs
        self.pooled: dict[str, Value] = {}  # (C,) vector of a (C, 1, 1) pool -> the pooled map
        self._maps: dict[str, Value] = {}  # such a vector -> its (1, 1, C) map, once made
        self._where = "the model"  # the node being lowered, for messages

    # -- values ------------------------------------------------------------------------------
    def new_value(
        self, kind: str, shape: tuple[int, ...], torch_shape: tuple[int, ...], layout: str = ""
    ) -> Value:
        """A new value; ``layout`` (``ir.LAYOUTS``) may be left out for a map or a vector."""
        value = Value(f"v{len(self.values)}", kind, tuple(shape), tuple(torch_shape), layout=layout)
        self.values[value.name] = value
        return value

    def emit(self, node_type: str, inputs: list[Value], output: Value, **fields: Any) -> Node:
        fields.setdefault("where", self._where)
        node = Node(node_type, [v.name for v in inputs], output.name, **fields)
        self.nodes.append(node)
        return node

    def float_like(self, value: Value, shape=None, torch_shape=None) -> Value:
        """A new float value; of ``value``'s shape it also keeps the (C, H, W) order of a
        flattened map, so a Linear after an elementwise op still reorders its columns."""
        out = self.new_value(
            "float",
            value.shape if shape is None else shape,
            value.torch_shape if torch_shape is None else torch_shape,
            value.layout if shape is None else "",
        )
        if shape is None:
            out.flat_from = value.flat_from
        return out

    def as_bits(self, value: Value, where: str = "a sign") -> Value:
        """The packed signs of ``value``. A flattened map is signed before the flatten, so each
        pixel keeps its own words and the sign can fuse into the layer that made the map."""
        if value.kind == "bits":
            return value
        if value.kind == "tokens":
            raise ConversionError(f"{where}: token ids cannot be signed; embed them first")
        if value.name in self._signs:  # one sign for every binary layer that reads the value
            signs = self._signs[value.name]  # (of a sequence, or its transpose: one map)
            return replace(signs, torch_shape=value.torch_shape, layout=value.layout)
        source = self._flattened.get(value.name)
        if source is not None:
            out = self.flatten_value(self.as_bits(source, where))
        elif value.flat_from is not None:
            raise ConversionError(
                f"{where}: a sign of a flattened map after an elementwise op (e.g. Flatten -> "
                "Hardtanh -> binary Linear) is not supported; put the activation before the Flatten"
            )
        else:
            out = self.new_value("bits", value.shape, value.torch_shape, value.layout)
            self.emit("sign_pack", [value], out)
        self._signs[value.name] = out
        return out

    def as_float(self, value: Value, where: str) -> Value:
        if value.kind == "tokens":
            raise ConversionError(f"{where} needs a float input but gets token ids; embed them")
        if value.kind != "float":
            raise ConversionError(f"{where} needs a float input but gets packed bits")
        return value

    def as_map(self, value: Value, where: str) -> Value:
        """A value as the runtime's (H, W, C) map: a (C, 1, 1) global average, which the lowering
        keeps as a (C,) vector, becomes a (1, 1, C) average pool of its map."""
        source = self.pooled.get(value.name)
        if source is None:
            if value.layout == "vector" and len(value.torch_shape) == 3:
                raise ConversionError(
                    f"{where}: needs the {value.torch_shape} map that an op after a global "
                    "average pool made a vector; flatten it, or pool last"
                )
            return value
        if value.name not in self._maps:
            _, h, w = source.torch_shape
            out = self.new_value("float", (1, 1, source.channels), value.torch_shape)
            attrs = {"kernel": [h, w], "stride": [h, w], "padding": [0, 0]}
            self.emit("avgpool2d", [source], out, attrs=attrs)
            self._maps[value.name] = out
        return self._maps[value.name]

    def flattened_source(self, value: Value) -> Value | None:
        """The map that ``value`` flattens, if it is a flatten's output."""
        return self._flattened.get(value.name)

    def reads_input(self, value: Value) -> bool:
        """``value`` is the program's input (as a map, or flattened)."""
        source = self._flattened.get(value.name, value)
        return self.input_map is not None and source.name == self.input_map.name

    def flatten_value(self, x: Value) -> Value:
        size = int(np.prod(x.torch_shape))
        out = self.new_value(x.kind, (size,), (size,))
        out.flat_from = x.as_chw
        out.quantization = x.quantization
        self._flattened[out.name] = x
        self.emit("flatten", [x], out)
        return out

    def arg(self, arg: Any, where: str) -> Value:
        if isinstance(arg, fx.Node) and arg.name in self._by_fx:
            return self._by_fx[arg.name]
        raise ConversionError(f"{where}: unsupported argument {arg!r}")

    # -- the walk ----------------------------------------------------------------------------
    def run(self) -> None:
        for node in self.module.graph.nodes:
            if node.op == "placeholder":
                self._input(node)
            elif node.op == "output":
                self.output = self.arg(node.args[0], "the model output")
            elif node.op == "call_module":
                self._module(node, self.module.get_submodule(node.target))
            elif node.op in ("call_function", "call_method"):
                self._call(node)
            elif node.op == "get_attr":
                self._attribute(node)
            else:
                raise ConversionError(f"unsupported graph node {node.op} {node.target}")
        if self.output is None or self.output.kind != "float":
            raise ConversionError("the model's output must be a float tensor")
        self._output_in_torch_layout()

    def _attribute(self, node: fx.Node) -> None:
        """A parameter or buffer read by the traced code itself: a layer whose own computation
        (e.g. a subclass's ``forward``) the converter does not know."""
        owner, _, name = str(node.target).rpartition(".")
        module = self.source.get_submodule(owner) if owner else self.source
        raise ConversionError(
            f"layer {owner or '(the model)'!r} ({type(module).__name__}) computes with its "
            f"{name!r} in code the converter cannot lower (a subclass with its own forward?)"
        )

    def _output_in_torch_layout(self) -> None:
        """A model whose output is a feature map (or a flattened one) gets it in NCHW order; a
        flattened sequence (C, L) in torch's order too (the engine's (1, L, C) map as (C, 1, L))."""
        output = self.output
        source = self._flattened.get(output.name)
        grid = output if source is None else source
        if source is None and grid.layout in ("sequence", "rows"):
            raise ConversionError(
                f"the model's output is a sequence {grid.torch_shape}: pool or flatten it"
            )
        if len(grid.torch_shape) != 3 and grid.layout != "sequence":
            return
        grid = self.as_map(grid, "the model output")
        nchw = self.new_value("float", grid.as_chw, grid.as_chw)
        self.emit("nhwc_to_nchw", [grid], nchw)
        if source is not None:
            flat = self.new_value("float", output.shape, output.torch_shape)
            self.emit("flatten", [nchw], flat)
            nchw = flat
        self.output = nchw

    def _shape(self, node: fx.Node) -> tuple[int, ...]:
        shape = node.meta.get("onebit_shape")
        if shape is None:
            raise ConversionError(f"node {node.name} does not produce one tensor")
        return tuple(shape[1:])

    def _bind(self, node: fx.Node, value: Value, where: str) -> None:
        expected = self._shape(node)
        if value.torch_shape != expected:
            raise ConversionError(
                f"{where}: the converted value has shape {value.torch_shape} but torch's is "
                f"{expected}"
            )
        self._by_fx[node.name] = value

    def _mutate(self, target: Any, value: Value, where: str) -> None:
        """An in-place op wrote ``value`` into the tensor ``target``: every name bound to that
        tensor now reads ``value``."""
        old = self.arg(target, where)
        if old.name in self._flattened or any(v is old for v in self._flattened.values()):
            raise ConversionError(
                f"{where}: an in-place op on a tensor that is also viewed flattened is not "
                "supported; use the out-of-place op"
            )
        for name, bound in list(self._by_fx.items()):
            if bound is old:
                self._by_fx[name] = value

    def _input(self, node: fx.Node) -> None:
        torch_shape = self._shape(node)
        if node.meta.get("onebit_dtype", torch.float32).is_floating_point:
            value = self.new_value("float", torch_shape, torch_shape)
        elif len(torch_shape) == 1:  # (L,) token ids, which only an embedding reads
            value = self.new_value("tokens", torch_shape, torch_shape)
        else:
            raise ConversionError(f"integer inputs must be (L,) token ids, not {torch_shape}")
        self.input = value
        if len(torch_shape) == 3:
            c, h, w = torch_shape
            out = self.new_value("float", (h, w, c), torch_shape)
            self.emit("nchw_to_nhwc", [value], out)
            value = out
        elif len(torch_shape) != 1:
            raise ConversionError(f"inputs must be (C, H, W) images or (F,) vectors: {torch_shape}")
        self.input_map = value
        self._bind(node, value, "the input")

    def _module(self, node: fx.Node, module: nn.Module) -> None:
        where = f"layer {node.target!r} ({type(module).__name__})"
        lower = module_lowering(type(module))
        if lower is None:
            raise ConversionError(f"{where} cannot be converted to the packed engine")
        if len(node.args) != 1 or node.kwargs:
            raise ConversionError(f"{where}: only a call with one tensor is supported")
        x = self.arg(node.args[0], where)
        self._where = where
        with _named(where):
            value = lower(self, Call(node, where, self._shape(node)), module, x)
        self._bind(node, value, where)
        if getattr(module, "inplace", False) and value is not x:
            self._mutate(node.args[0], value, where)

    def _call(self, node: fx.Node) -> None:
        """A tensor function or method, ``torch.add(a, b)`` and ``a.add(b)`` alike."""
        name, inplace = call_name(node.target, node.args, node.kwargs)
        if node.op == "call_method":
            where = f"method {node.target!r} in {node.name!r}"
        else:
            label = getattr(node.target, "__name__", str(node.target))
            where = f"operation {node.name!r} ({label})"
        lower = CALLS.get(name) if name is not None else None
        if lower is None:
            raise ConversionError(f"{where} cannot be converted to the packed engine")
        self._where = where
        with _named(where):
            value = lower(self, Call(node, where, self._shape(node)))
        self._bind(node, value, where)
        if inplace:
            self._mutate(node.args[0], value, where)


@contextmanager
def _named(where: str) -> Iterator[None]:
    """An unexpected error while lowering a layer (an attribute it lacks, a value of a type no
    one foresaw) becomes a one-line ConversionError that names the layer."""
    try:
        yield
    except ConversionError:
        raise
    except Exception as error:
        text = (str(error).strip().splitlines() or [""])[0]
        raise ConversionError(
            f"{where} cannot be converted: {type(error).__name__}: {text}"
        ) from None
