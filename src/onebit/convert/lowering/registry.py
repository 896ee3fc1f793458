"""The lowering registry: which function turns a module type or a tensor call into program ops.

Modules are looked up by their exact type. A subclass counts as its registered base only when it
adds nothing the base's computation reads: it may set defaults in ``__init__`` or change how it
prints or saves itself (:data:`BENIGN_OVERRIDES`), but one that overrides ``forward`` or any other
method of the base (``quantized_input``, ``alpha``, ``_conv_forward``...) is not the base: the
tracer traces through it, and what it computes is lowered op by op or refused by name.

Tensor calls (``torch.add(a, b)``, ``a.add(b)``, ``a + b``) are looked up by one name per
operation; the in-place forms (``a.add_(b)``, ``torch.relu_(a)``, ``F.relu(a, inplace=True)``)
lower as the same operation and then rebind the mutated tensor (see ``Lowering``).

These are plain dicts, not the project's ``Registry``: that one resolves names and config dicts
into built objects, while these are keyed by a type (matched exactly) or a function object.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering

ModuleLowerer = Callable[["Lowering", "Call", nn.Module, "Value"], "Value"]
CallLowerer = Callable[["Lowering", "Call"], "Value"]

MODULES: dict[type, ModuleLowerer] = {}
CALLS: dict[str, CallLowerer] = {}
FUNCTIONS: dict[Any, str] = {}  # a torch function -> the name of the operation it performs

# methods a subclass may override and still lower as its base: they do not change what it computes
BENIGN_OVERRIDES = frozenset(
    {"__init__", "extra_repr", "get_config", "from_config", "__repr__", "__setstate__"}
)

# torch functions that mutate their first argument, by the operation they perform
INPLACE_FUNCTIONS: dict[Any, str] = {
    torch.relu_: "relu",
    operator.iadd: "add",
    F.relu_: "relu",
    F.hardtanh_: "hardtanh",
}


def lowers(*types: type) -> Callable[[ModuleLowerer], ModuleLowerer]:
    """Decorator: register a module lowering for exactly these types."""

    def decorate(function: ModuleLowerer) -> ModuleLowerer:
        for cls in types:
            if cls in MODULES:
                raise ValueError(f"a lowering for {cls.__name__} is already registered")
            MODULES[cls] = function
        return function

    return decorate


def lowers_call(name: str, *functions: Any) -> Callable[[CallLowerer], CallLowerer]:
    """Decorator: register the lowering of the operation ``name``, performed by the tensor method
    ``name`` and by each of ``functions``."""

    def decorate(function: CallLowerer) -> CallLowerer:
        if name in CALLS:
            raise ValueError(f"a lowering for {name!r} is already registered")
        CALLS[name] = function
        for torch_function in functions:
            FUNCTIONS[torch_function] = name
        return function

    return decorate


def lowered_as(cls: type, table: dict[type, Any] | None = None) -> type | None:
    """The registered type that ``cls`` lowers as: ``cls`` itself, or its nearest registered base
    when nothing between them overrides a method of that base (see the module docstring)."""
    table = MODULES if table is None else table
    for position, base in enumerate(cls.__mro__):
        if base in table:
            return base if not _overrides(cls.__mro__[:position], base) else None
    return None


def is_registered_subclass(cls: type) -> bool:
    """``cls`` derives from a registered type (whether or not it lowers as it)."""
    return any(base in MODULES for base in cls.__mro__)


def _overrides(subclasses: tuple[type, ...], base: type) -> bool:
    for cls in subclasses:
        for name, attribute in vars(cls).items():
            if name in BENIGN_OVERRIDES or not callable(attribute):
                continue
            if callable(getattr(base, name, None)):
                return True
    return False


def module_lowering(cls: type) -> ModuleLowerer | None:
    """The lowering of a module of type ``cls``, or None when it has none."""
    registered = lowered_as(cls)
    return None if registered is None else MODULES[registered]


# functions with an ``inplace`` flag, and its position among their arguments
INPLACE_ARGUMENT: dict[Any, int] = {F.relu: 1, F.hardtanh: 3}


def call_name(target: Any, args: tuple, kwargs: dict[str, Any]) -> tuple[str | None, bool]:
    """(operation name, mutates its first argument) of a ``call_function`` or ``call_method``
    target; the name is None for a function no lowering knows."""
    inplace = bool(kwargs.get("inplace", False))
    position = INPLACE_ARGUMENT.get(target) if not isinstance(target, str) else None
    if position is not None and len(args) > position:
        inplace = bool(args[position])
    if isinstance(target, str):  # a tensor method: relu, relu_, add_...
        if target.endswith("_") and not target.startswith("_"):
            return target[:-1], True
        return target, inplace
    if target in INPLACE_FUNCTIONS:
        return INPLACE_FUNCTIONS[target], True
    return FUNCTIONS.get(target), inplace
