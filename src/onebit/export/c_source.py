"""C text for a generated model: constant arrays with exact literals, and the kernel sections of
``c_runtime.c`` that a model uses."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import numpy as np

from onebit.runtime.bit_format import WORD_DTYPE, words_for

C_WORD_BITS = 32
_SECTION = re.compile(
    r"^/\* @kernel (?P<name>\w+)(?: needs (?P<needs>[\w ]+?))? \*/\n(?P<body>.*?)^/\* @end \*/\n",
    re.MULTILINE | re.DOTALL,
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PER_LINE = 8


@cache
def kernel_sections() -> dict[str, tuple[tuple[str, ...], str]]:
    """``c_runtime.c``'s sections: name -> (the sections it needs, its text)."""
    text = resources.files("onebit.export").joinpath("c_runtime.c").read_text(encoding="utf-8")
    return {
        m["name"]: (tuple((m["needs"] or "").split()), m["body"]) for m in _SECTION.finditer(text)
    }


def kernels_text(names: set[str]) -> str:
    """The sections ``names`` and all they need, each after what it needs, in file order."""
    sections = kernel_sections()
    wanted: set[str] = set()

    def add(name: str) -> None:
        if name not in wanted:
            wanted.add(name)
            for need in sections[name][0]:
                add(need)

    for name in names:
        add(name)
    return "\n".join(body for name, (_, body) in sections.items() if name in wanted)


def is_identifier(name: str) -> bool:
    return _IDENTIFIER.fullmatch(name) is not None


def c_identifier(text: str) -> str:
    """``text`` made a C identifier: other characters become ``_``, a leading digit gets ``m``."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text) or "model"
    return f"m{name}" if name[0].isdigit() else name


def comment_text(text: object, limit: int = 80) -> str:
    """Text from a program file made safe inside a C block comment: printable ASCII only, no
    ``*/`` (it would end the comment and let the file write code), no ``/*`` (a warning, an
    error under -Werror), no ``??`` (trigraphs), at most ``limit`` characters."""
    safe = "".join(c if " " <= c <= "~" else "?" for c in str(text)[:limit])
    while "*/" in safe or "/*" in safe or "??" in safe:
        safe = safe.replace("*/", "* /").replace("/*", "/ *").replace("??", "? ?")
    return safe


def float_literal(value: float) -> str:
    """An exact C99 float literal (hexadecimal, so no decimal rounding)."""
    value = float(np.float32(value))
    if value == 0.0:
        return "-0.0f" if np.signbit(value) else "0.0f"
    return f"{value.hex()}f"


def _rows(items: list[str]) -> str:
    lines = [", ".join(items[i : i + PER_LINE]) for i in range(0, len(items), PER_LINE)]
    return "\n".join(f"  {line}," for line in lines)


def const_array(c_type: str, name: str, values: np.ndarray) -> tuple[str, int]:
    """A ``static const`` array definition and its size in bytes. ``c_type``: ``uint32_t``
    (hex), ``int32_t``, ``int8_t``, ``uint8_t`` or ``float``."""
    flat = np.asarray(values).ravel()
    if c_type == "float":
        items = [float_literal(v) for v in flat.astype(np.float32)]
        size = 4
    elif c_type == "uint32_t":
        items = [f"0x{int(v):08x}u" for v in flat.astype(np.uint32)]
        size = 4
    elif c_type == "int32_t":
        # INT32_MIN has no literal of type int: write it as an expression.
        items = [
            "(-2147483647 - 1)" if int(v) == -(2**31) else str(int(v))
            for v in flat.astype(np.int32)
        ]
        size = 4
    elif c_type == "int8_t":
        items = [str(int(v)) for v in flat.astype(np.int8)]
        size = 1
    elif c_type == "uint8_t":
        items = [str(int(v)) for v in flat.astype(np.uint8)]
        size = 1
    else:
        raise ValueError(f"no C literal for {c_type}")
    if not items:  # C forbids an empty initializer
        items, count = ["0"], 1
    else:
        count = len(items)
    text = f"static const {c_type} {name}[{count}] = {{\n{_rows(items)}\n}};\n"
    return text, count * size


def words32(words: np.ndarray, row_bits: int) -> np.ndarray:
    """Packed 64-bit words, rows of ``words_for(row_bits)`` along the last axis, as 32-bit words
    with ``ceil(row_bits / 32)`` per row: each 64-bit word is its low half then its high half
    (the bit order stays: channel c is bit c % 32 of 32-bit word c / 32)."""
    words = np.ascontiguousarray(words, dtype=WORD_DTYPE)
    per_row64 = words_for(row_bits)
    per_row32 = -(-row_bits // C_WORD_BITS)
    *outer, last = words.shape
    rows = last // per_row64
    halves = words.reshape(*outer, rows, per_row64)
    low = (halves & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    high = (halves >> np.uint64(32)).astype(np.uint32)
    split = np.stack([low, high], axis=-1).reshape(*outer, rows, 2 * per_row64)
    if split[..., per_row32:].any():
        raise ValueError("packed words have bits set beyond their rows' channels")
    return np.ascontiguousarray(split[..., :per_row32]).reshape(*outer, rows * per_row32)
