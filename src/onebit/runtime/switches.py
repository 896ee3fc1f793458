"""Switches: a program whose layers' bit widths are chosen when it runs (Bit-Mixer, Bulat &
Tzimiropoulos, ICCV 2021).

A graph may declare switches, each a layer width the user picks from a few options::

    "switches": [{"name": "1", "options": [2, 3, 4], "default": 4}, ...]

and an op whose attributes or tensors depend on some switches lists one case per combination of
their options, each overriding the op's own ``attrs`` and ``tensors``::

    {"type": "kbit_dense", "inputs": [...], "output": "v7", "attrs": {...}, "tensors": {...},
     "variants": {"switches": ["1", "2"],
                  "cases": [{"bits": [2, 2], "attrs": {...}, "tensors": {...}}, ...]}}

The cases cover every combination exactly once, so every setting resolves every op. A setting
(one option per switch) turns the graph into a plain one (:func:`resolve`), which the executor
validates and plans as any other; the tensors are shared by all settings, so a layer's weights
sit in the file and in memory once (a k-bit layer reads its top planes through
``weight_first_plane``). The structure is checked here when a program loads; each setting's ops
are checked when the setting is first built. ``csrc/executor/switches.cpp`` is the same code,
with the same messages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from onebit._registry import OnebitError
from onebit.runtime.errors import ProgramError

MAX_SWITCHES = 1024
MAX_OPTIONS = 8
MAX_OP_SWITCHES = 4
MAX_BITS = 8


@dataclass(frozen=True)
class Switch:
    """One run-time choice: a layer's bit width, one of ``options``."""

    name: str
    options: tuple[int, ...]
    default: int


def _is_width(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_BITS


def parse_switches(graph: Mapping[str, Any]) -> tuple[Switch, ...]:
    """The graph's switches, with every op's variants checked against them and the tensors."""
    specs = graph.get("switches", [])
    if not isinstance(specs, list) or len(specs) > MAX_SWITCHES:
        raise ProgramError(f"the program's switches must be a list of at most {MAX_SWITCHES}")
    switches: list[Switch] = []
    for index, spec in enumerate(specs):
        name = spec.get("name") if isinstance(spec, Mapping) else None
        options = spec.get("options") if isinstance(spec, Mapping) else None
        if (
            not isinstance(name, str)
            or not 0 < len(name) <= 64
            or not isinstance(options, list)
            or not 0 < len(options) <= MAX_OPTIONS
            or not all(_is_width(option) for option in options)
            or len(set(options)) != len(options)
            or spec.get("default") not in options
            or type(spec.get("default")) is not int
        ):
            raise ProgramError(
                f"switch #{index} needs a name (1 to 64 characters), 1 to {MAX_OPTIONS} distinct "
                f"options (bit widths 1 to {MAX_BITS}) and a default among them"
            )
        if any(switch.name == name for switch in switches):
            raise ProgramError(f"switch #{index} repeats the name {name!r}")
        switches.append(Switch(name, tuple(options), spec["default"]))
    return tuple(switches)


def _case_error(where: str, text: str) -> ProgramError:
    return ProgramError(f"{where}: variants {text}")


def check_variants(
    where: str, spec: Mapping[str, Any], switches: Sequence[Switch], tensors: Mapping[str, Any]
) -> list[str]:
    """Check the ``variants`` of the op ``spec`` (``where`` names it); returns the tensor names
    its cases use."""
    if not isinstance(spec.get("attrs", {}), Mapping) or not isinstance(
        spec.get("tensors", {}), Mapping
    ):
        raise _case_error(where, "need the op's attrs and tensors to be objects")
    variants = spec["variants"]
    by_name = {switch.name: switch for switch in switches}
    names = variants.get("switches") if isinstance(variants, Mapping) else None
    cases = variants.get("cases") if isinstance(variants, Mapping) else None
    if (
        not isinstance(names, list)
        or not 0 < len(names) <= MAX_OP_SWITCHES
        or not all(isinstance(name, str) and name in by_name for name in names)
        or len(set(names)) != len(names)
    ):
        raise _case_error(
            where, f"must name 1 to {MAX_OP_SWITCHES} distinct switches the program declares"
        )
    expected = math.prod(len(by_name[name].options) for name in names)
    if not isinstance(cases, list) or len(cases) != expected:
        raise _case_error(where, f"need one case per combination of their options ({expected})")
    seen: set[tuple[int, ...]] = set()
    used: list[str] = []
    for case in cases:
        bits = case.get("bits") if isinstance(case, Mapping) else None
        if (
            not isinstance(bits, list)
            or len(bits) != len(names)
            or not all(
                type(b) is int and b in by_name[n].options
                for n, b in zip(names, bits, strict=False)
            )
            or tuple(bits) in seen
        ):
            raise _case_error(
                where, "cases need distinct bits, one option of each of their switches"
            )
        seen.add(tuple(bits))
        attrs, roles = case.get("attrs", {}), case.get("tensors", {})
        if not isinstance(attrs, Mapping) or not isinstance(roles, Mapping):
            raise _case_error(where, "cases' attrs and tensors must be objects")
        for role, name in roles.items():
            if not isinstance(name, str) or name not in tensors:
                raise _case_error(where, f"case {bits}: tensor {role}={name!r} is missing")
            used.append(name)
    return used


def variant_tensors(graph: Mapping[str, Any], tensors: Mapping[str, Any]) -> set[str]:
    """Check the graph's switches and variants; the tensor names the variants' cases use."""
    switches = parse_switches(graph)
    used: set[str] = set()
    ops = graph.get("ops")
    for index, spec in enumerate(ops if isinstance(ops, list) else []):
        if isinstance(spec, Mapping) and "variants" in spec:
            if not switches:
                raise ProgramError(f"op #{index} has variants but the program has no switches")
            used.update(check_variants(f"op #{index}", spec, switches, tensors))
    return used


def setting_of(switches: Sequence[Switch], bits: Any) -> tuple[int, ...]:
    """A full setting, one option per switch in order, from what a user gives: None (the
    defaults), one width for every switch, a sequence in switch order, or a mapping of switch
    names to widths (the others at their defaults).

    Raises:
        OnebitError: the program has no switches, or a width is not one of its switch's options.
    """
    if bits is None:
        return tuple(switch.default for switch in switches)
    if not switches:
        raise OnebitError("this program has no switchable layers; it runs at one setting")
    if isinstance(bits, Mapping):
        unknown = sorted(set(bits) - {switch.name for switch in switches}, key=str)
        if unknown:
            names = [switch.name for switch in switches]
            raise OnebitError(f"no switch named {unknown[0]!r}; the switches are {names}")
        chosen = [bits.get(switch.name, switch.default) for switch in switches]
    elif isinstance(bits, Sequence) and not isinstance(bits, str | bytes):
        if len(bits) != len(switches):
            raise OnebitError(f"bits needs one width per switch ({len(switches)}), got {len(bits)}")
        chosen = list(bits)
    else:
        chosen = [bits] * len(switches)
    for switch, value in zip(switches, chosen, strict=True):
        if isinstance(value, bool) or not isinstance(value, int) or value not in switch.options:
            raise OnebitError(
                f"switch {switch.name!r} runs at {list(switch.options)} bits, not {value!r}"
            )
    return tuple(int(value) for value in chosen)


def parse_bits(text: str) -> int | list[int] | dict[str, int]:
    """A setting as the command line writes it: ``4`` (every switch), ``2,3,4`` (one width per
    switch, in order) or ``1=2,5=4`` (switches by name, the rest at their defaults)."""
    parts = [part.strip() for part in text.split(",")]
    try:
        if all("=" in part for part in parts):
            pairs = [part.split("=", 1) for part in parts]
            return {name.strip(): int(value) for name, value in pairs}
        if any("=" in part for part in parts):
            raise ValueError
        widths = [int(part) for part in parts]
    except ValueError:
        raise OnebitError(
            f"bits {text!r} is not a width (4), one width per switch (2,3,4) or name=width "
            "pairs (1=2,5=4)"
        ) from None
    return widths[0] if len(widths) == 1 else widths


def resolve(graph: Mapping[str, Any], setting: Sequence[int]) -> dict[str, Any]:
    """The plain graph of one setting (checked by :func:`variant_tensors` first): each op with
    variants takes its case's attrs and tensors over its own."""
    index = {switch.name: i for i, switch in enumerate(parse_switches(graph))}
    if not isinstance(graph.get("ops"), list):
        return dict(graph)
    ops = []
    for spec in graph["ops"]:
        if not isinstance(spec, Mapping) or "variants" not in spec:
            ops.append(spec)
            continue
        variants = spec["variants"]
        wanted = [setting[index[name]] for name in variants["switches"]]
        case = next(case for case in variants["cases"] if case["bits"] == wanted)
        op = {key: value for key, value in spec.items() if key != "variants"}
        op["attrs"] = {**spec.get("attrs", {}), **case.get("attrs", {})}
        op["tensors"] = {**spec.get("tensors", {}), **case.get("tensors", {})}
        ops.append(op)
    return {**graph, "ops": ops}
