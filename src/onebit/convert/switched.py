"""One switched program from a Bit-Mixer network: every bit layer's width is chosen when the
program runs (Bulat & Tzimiropoulos, "Bit-Mixer: Mixed-precision networks with runtime bit-width
selection", ICCV 2021; the graph's switches are described in ``runtime/switches.py``).

Each bit layer (``nn.bitmixer.bit_layers``) becomes a switch named by its module path, its
options the layer's widths and its default the width the model runs at when converted. The
program is merged from plain conversions at a few settings:

1. the base: every layer at its widest, so that a narrower layer's weight planes are the top
   planes of the base's weight (``NestedLSQ``);
2. for every switch, each other option with the rest at the base: the ops that change with it;
3. for every op, each combination of the switches it changes with (at most
   ``MAX_OP_SWITCHES``; in a chain of bit layers a layer's epilogue changes with its own width
   and the next one's, through the transitional batch norm and the next quantizer's step).

The ops must be the same list at every setting (types, inputs, outputs). What an op's cases
share stays in its own attrs and tensors; the rest goes to its cases. A case's k-bit weight that
is the top planes of the base's weight reads them from it (``weight_first_plane``), and equal
arrays are stored once, so the k-bit weights of the network sit in the program once, at the
widest width. A float layer between them (a first layer that reads the float input, unless
``input_quantization`` makes it k-bit) keeps one weight per width.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from torch import nn

from onebit.convert.ir import ConversionError
from onebit.nn.bitmixer import bit_layers, layer_bits
from onebit.runtime.switches import MAX_OP_SWITCHES

Graph = dict[str, Any]
Tensors = dict[str, np.ndarray]
KBIT_LAYERS = ("kbit_dense", "kbit_conv2d")


def is_switchable(model: nn.Module) -> bool:
    """Whether ``model`` is a Bit-Mixer network with a choice of widths (not a fixed-precision
    one, trained at its ``train_bits`` alone)."""
    layers = bit_layers(model)
    return (
        bool(layers)
        and hasattr(model, "set_bits")
        and getattr(model, "train_bits", None) is None
        and any(len(layer.weight_quantizer.bit_options) > 1 for layer in layers)
    )


def _switches(model: nn.Module) -> list[dict[str, Any]]:
    names = {module: name for name, module in model.named_modules()}
    return [
        {
            "name": names[layer],
            "options": sorted(layer.weight_quantizer.bit_options),
            "default": bits,
        }
        for layer, bits in zip(bit_layers(model), layer_bits(model), strict=True)
    ]


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


class _Settings:
    """Plain conversions of the model, one per setting, made when first asked for."""

    def __init__(self, model: nn.Module, convert_plain: Callable[[], tuple[Graph, Tensors]]):
        self.model = model
        self.convert_plain = convert_plain
        self.cache: dict[tuple[int, ...], tuple[Graph, Tensors]] = {}

    def __getitem__(self, setting: tuple[int, ...]) -> tuple[Graph, Tensors]:
        if setting not in self.cache:
            self.model.set_bits(list(setting))
            graph, tensors = self.convert_plain()
            if self.cache:
                _check_structure(next(iter(self.cache.values()))[0], graph, setting)
            self.cache[setting] = (graph, tensors)
        return self.cache[setting]


def _check_structure(base: Graph, graph: Graph, setting: tuple[int, ...]) -> None:
    same = len(base["ops"]) == len(graph["ops"]) and all(
        (a["type"], a["inputs"], a["output"]) == (b["type"], b["inputs"], b["output"])
        for a, b in zip(base["ops"], graph["ops"], strict=False)
    )
    if not same or base["input"] != graph["input"] or base["output"] != graph["output"]:
        raise ConversionError(
            f"the model's converted ops change with its bit widths (at {list(setting)}): "
            "a switched program needs the same ops at every setting"
        )


def _op_view(graph: Graph, tensors: Tensors, index: int) -> tuple[dict, dict[str, np.ndarray]]:
    op = graph["ops"][index]
    return op["attrs"], {role: tensors[name] for role, name in op["tensors"].items()}


def _same_op(a: tuple[dict, dict], b: tuple[dict, dict]) -> bool:
    return (
        a[0] == b[0]
        and a[1].keys() == b[1].keys()
        and all(_same_array(a[1][role], b[1][role]) for role in a[1])
    )


class _TensorStore:
    """The merged program's tensors: each distinct array of an op once (its cases share)."""

    def __init__(self) -> None:
        self.tensors: Tensors = {}
        self.by_content: dict[tuple, str] = {}

    def add(self, name: str, array: np.ndarray, op: str) -> str:
        array = np.ascontiguousarray(array)
        key = (op, array.dtype.str, array.shape, hashlib.sha256(array.tobytes()).digest())
        if key not in self.by_content:
            self.by_content[key] = name
            self.tensors[name] = array
        return self.by_content[key]


def merge_settings(
    model: nn.Module, convert_plain: Callable[[], tuple[Graph, Tensors]]
) -> tuple[Graph, Tensors]:
    """The switched graph and tensors of ``model`` (a Bit-Mixer network), from
    ``convert_plain()``, which converts the model at its current setting. The model is left at
    the setting it had."""
    if not hasattr(model, "set_bits") or not bit_layers(model):
        raise ConversionError(
            f"{type(model).__name__} has no switchable bit layers (a Bit-Mixer network's)"
        )
    switches = _switches(model)
    default = tuple(switch["default"] for switch in switches)
    widest = tuple(max(switch["options"]) for switch in switches)
    settings = _Settings(model, convert_plain)
    try:
        base_graph, base_tensors = settings[widest]
        count = len(base_graph["ops"])
        depends = _dependencies(switches, widest, settings, count)
        store = _TensorStore()
        ops = []
        for j, spec in enumerate(base_graph["ops"]):
            if not depends[j]:
                for name in spec["tensors"].values():
                    store.tensors[name] = base_tensors[name]
                ops.append(spec)
                continue
            if len(depends[j]) > MAX_OP_SWITCHES:
                raise ConversionError(
                    f"op {spec['output']!r} ({spec['type']}) changes with "
                    f"{len(depends[j])} layers' widths; a switched op may follow at most "
                    f"{MAX_OP_SWITCHES}"
                )
            ops.append(
                _switched_op(j, spec, depends[j], switches, widest, settings, base_tensors, store)
            )
    finally:
        model.set_bits(list(default))
    graph = {**base_graph, "switches": switches, "ops": ops}
    return graph, store.tensors


def _dependencies(
    switches: Sequence[Mapping[str, Any]],
    widest: tuple[int, ...],
    settings: _Settings,
    count: int,
) -> list[list[int]]:
    """The switches each op changes with: those whose options change it from each uniform
    setting, then, until none is added, a neighbour of those (the switch before or after one)
    that changes it at some combination of them (as a transitional norm changes with the next
    layer's width, which an untrained norm may hide at one setting)."""
    views = {}

    def view(setting: tuple[int, ...], j: int) -> tuple[dict, dict]:
        if (setting, j) not in views:
            views[setting, j] = _op_view(*settings[setting], j)
        return views[setting, j]

    def changes_with(j: int, i: int, base: tuple[int, ...]) -> bool:
        first = view(base, j)
        return any(
            not _same_op(first, view((*base[:i], option, *base[i + 1 :]), j))
            for option in switches[i]["options"]
        )

    uniform = sorted({option for s in switches for option in s["options"]}, reverse=True)
    bases = [
        tuple(w if w in s["options"] else max(s["options"]) for s in switches) for w in uniform
    ]
    depends = [
        sorted({i for i in range(len(switches)) for base in bases if changes_with(j, i, base)})
        for j in range(count)
    ]
    for j in range(count):
        grown = True
        while grown and depends[j]:
            grown = False
            near = {k for i in depends[j] for k in (i - 1, i + 1) if 0 <= k < len(switches)}
            for k in sorted(near - set(depends[j])):
                contexts = itertools.product(*(switches[i]["options"] for i in depends[j]))
                for combo in contexts:
                    base = list(widest)
                    for i, option in zip(depends[j], combo, strict=True):
                        base[i] = option
                    if changes_with(j, k, tuple(base)):
                        depends[j] = sorted({*depends[j], k})
                        grown = True
                        break
    return depends


def _switched_op(
    j: int,
    spec: Mapping[str, Any],
    depends: Sequence[int],
    switches: Sequence[Mapping[str, Any]],
    widest: tuple[int, ...],
    settings: _Settings,
    base_tensors: Tensors,
    store: _TensorStore,
) -> dict[str, Any]:
    """Op ``j`` with one case per combination of the switches it ``depends`` on."""
    combos = list(itertools.product(*(switches[i]["options"] for i in depends)))
    views = []
    for combo in combos:
        setting = list(widest)
        for i, option in zip(depends, combo, strict=True):
            setting[i] = option
        views.append(_op_view(*settings[tuple(setting)], j))
    shared_attrs = {
        key: value
        for key, value in views[0][0].items()
        if all(key in attrs and attrs[key] == value for attrs, _ in views)
    }
    shared_roles = {
        role
        for role, array in views[0][1].items()
        if all(role in arrays and _same_array(arrays[role], array) for _, arrays in views)
    }
    base_weight_name = spec["tensors"].get("weight")
    cases = []
    for combo, (attrs, arrays) in zip(combos, views, strict=True):
        case_attrs = {key: value for key, value in attrs.items() if key not in shared_attrs}
        case_roles = {}
        for role, array in arrays.items():
            if role in shared_roles:
                continue
            first = _top_planes_of(spec, role, array, base_tensors.get(base_weight_name))
            if first is not None:
                case_roles[role] = store.add(
                    base_weight_name, base_tensors[base_weight_name], spec["output"]
                )
                case_attrs["weight_first_plane"] = first
            else:
                label = ",".join(map(str, combo))
                case_roles[role] = store.add(
                    f"{spec['output']}.{role}@{label}", array, spec["output"]
                )
        cases.append({"bits": list(combo), "attrs": case_attrs, "tensors": case_roles})
    roles = {
        role: store.add(f"{spec['output']}.{role}", views[0][1][role], spec["output"])
        for role in sorted(shared_roles)
    }
    return {
        **spec,
        "attrs": shared_attrs,
        "tensors": roles,
        "variants": {"switches": [switches[i]["name"] for i in depends], "cases": cases},
    }


def _top_planes_of(
    spec: Mapping[str, Any], role: str, array: np.ndarray, base: np.ndarray | None
) -> int | None:
    """The first plane of ``base`` from which ``array`` is its top planes, for a k-bit layer's
    weight; None otherwise."""
    if spec["type"] not in KBIT_LAYERS or role != "weight" or base is None:
        return None
    if array.ndim != base.ndim or array.shape[1] > base.shape[1]:
        return None
    first = base.shape[1] - array.shape[1]
    return first if _same_array(np.ascontiguousarray(base[:, first:]), array) else None
