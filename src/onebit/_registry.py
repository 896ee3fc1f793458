"""One small registry class, used for quantizers, models, optimizers and datasets.

A registry maps a name to a builder. ``get`` resolves what users pass around in configs and on the
command line: a name or a config dict builds the object, an instance or callable passes through,
``None`` stays ``None``, and an unknown name raises an error that suggests the nearest names.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class OnebitError(Exception):
    """An error caused by what the user asked for, reported as one clear line (no traceback)."""


class UnknownNameError(OnebitError, KeyError):
    """A registry was asked for a name it does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Names mapped to builders of one kind of object.

    Args:
        kind: what the entries are ("quantizer", "model", ...), used in error messages.
        instance_type: objects of this type pass through ``get`` unchanged.
    """

    def __init__(self, kind: str, instance_type: type | tuple[type, ...] | None = None) -> None:
        self.kind = kind
        self.instance_type = instance_type
        self._builders: dict[str, Callable[..., T]] = {}

    def register(self, name: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register a builder under ``name`` (default: the builder's ``__name__``)."""

        def decorate(builder: Callable[..., T]) -> Callable[..., T]:
            key = name or builder.__name__
            if key in self._builders:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._builders[key] = builder
            return builder

        return decorate

    def __contains__(self, name: object) -> bool:
        return name in self._builders

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._builders))

    def __len__(self) -> int:
        return len(self._builders)

    def list(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style wildcard, sorted."""
        return sorted(n for n in self._builders if fnmatch.fnmatchcase(n, pattern))

    def builder(self, name: str) -> Callable[..., T]:
        """The builder registered under ``name``; an unknown name suggests the nearest ones."""
        try:
            return self._builders[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._builders), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(self.list())
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} (known: {known})") from None

    def create(self, name: str, **kwargs: Any) -> T:
        """Build the entry ``name`` with keyword arguments; an argument it does not take is an
        OnebitError naming the arguments it does take."""
        builder = self.builder(name)
        try:
            signature = inspect.signature(builder)
        except (TypeError, ValueError):  # builtins without a signature: let the call decide
            signature = None
        if signature is not None:
            try:
                signature.bind(**kwargs)
            except TypeError as error:
                takes = ", ".join(signature.parameters) or "nothing"
                raise OnebitError(f"{self.kind} {name!r}: {error} (it takes: {takes})") from None
        return builder(**kwargs)

    def get(self, spec: Any, **kwargs: Any) -> T | None:
        """Resolve ``spec``: a name, a config dict with a ``"name"`` key, an instance, or None.

        ``kwargs`` are extra arguments for building (ignored for instances and None).
        """
        if spec is None:
            return None
        if isinstance(spec, str):
            return self.create(spec, **kwargs)
        if isinstance(spec, Mapping):
            config = dict(spec)
            if "name" not in config:
                raise OnebitError(f"a {self.kind} config needs a 'name' key, got {sorted(config)}")
            return self.create(config.pop("name"), **config, **kwargs)
        if self.instance_type is not None and isinstance(spec, self.instance_type):
            return spec
        if callable(spec):
            return spec
        raise OnebitError(
            f"cannot make a {self.kind} from {type(spec).__name__}: "
            "give a name, a config dict, an instance or None"
        )
