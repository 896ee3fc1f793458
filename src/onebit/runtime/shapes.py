"""What a program knows about each value before it runs: its kind, per-sample shape and range.

Shape inference runs at load: each op's ``infer`` takes its inputs' :class:`Value` s and returns
its output's, checking every attribute against the shapes (a kernel that fits the padded map,
channel counts equal to tensor shapes, ...). Every size is computed in Python integers and
capped (:func:`checked`), so no size that reaches a kernel can wrap in its 32- or 64-bit
arithmetic.

Each float value also carries ``bound``, the largest magnitude it can take when the program's
input lies within ``±INPUT_BOUND``; an op whose bound passes :data:`VALUE_LIMIT` (far below
float32's 3.4e38, so summation rounding cannot reach infinity) is refused at load, and so is an
op whose float32 intermediate sums could pass it (:func:`check_sum`: a mean sums ``count`` values
before dividing). A dense or convolution layer's bound is already the sum of its terms'
magnitudes, which bounds every partial sum too. So a loaded
program maps finite inputs within ``±INPUT_BOUND`` to finite outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from onebit.runtime.bit_format import WORD_DTYPE
from onebit.runtime.errors import ProgramError
from onebit.runtime.window import output_side

MAX_SIZE = 2**31 - 1
"""The largest dimension, element count or index any value or scratch buffer may have (one
sample; a call also checks the batch's totals)."""

INPUT_BOUND = 1e6
"""The input magnitude a program is checked against: finite outputs for ``|x| <= 1e6``."""

VALUE_LIMIT = 1e30
"""The largest magnitude an intermediate float value may reach for inputs within the bound."""

KINDS = {
    "float": np.dtype(np.float32),
    "bits": WORD_DTYPE,
    "planes": WORD_DTYPE,
    "int": np.dtype(np.int32),
    "tokens": np.dtype(np.float32),
}
"""Each kind's stored dtype. ``tokens`` is a program input of token ids (float32 integers, checked
by the ``embedding`` op that reads them): a kind of its own, so that no float op reads ids."""

MAX_TOKEN_ID = 2**24
"""Token ids stay below 2^24, the integers float32 holds exactly (an embedding has at most that
many rows)."""


def checked(size: int, what: str, where: str) -> int:
    """``size``, or a :class:`ProgramError` if it is not in ``[0, MAX_SIZE]``."""
    if not 0 <= size <= MAX_SIZE:
        raise ProgramError(f"op {where}: {what} would be {size}, outside [0, 2^31-1]")
    return size


def product(sizes: tuple[int, ...] | list[int], what: str, where: str) -> int:
    """The product of ``sizes``, capped as :func:`checked` caps one size."""
    total = 1
    for size in sizes:
        total = checked(total * size, what, where)
    return total


@dataclass(frozen=True)
class Value:
    """One sample of a value: ``kind`` (``float`` float32, ``bits`` packed uint64 words,
    ``planes`` the bit planes ``(P, ..., words)`` of k-bit codes, ``int`` int32 accumulators,
    ``tokens`` the program's input of token ids),
    the stored ``shape`` without the batch axis, ``channels`` (for bits and planes, the
    real bits in each row of the last axis, or of the whole vector after a flatten; otherwise
    ``shape[-1]``), ``bound`` (the largest magnitude, for float and int values) and, for bits,
    ``row_bits``: the real bits of each pixel's words (a flatten keeps every pixel's padding
    bits, so its vector is rows of ``words_for(row_bits)`` words)."""

    kind: str
    shape: tuple[int, ...]
    channels: int
    bound: float = 0.0
    row_bits: int = 0

    @property
    def dtype(self) -> np.dtype:
        return KINDS[self.kind]

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.elements * self.dtype.itemsize

    def describe(self) -> str:
        return f"{self.kind} ({', '.join(map(str, self.shape))})"


def float_value(shape: tuple[int, ...], bound: float, where: str) -> Value:
    """A float value, refused if its bound passes :data:`VALUE_LIMIT` (or is NaN)."""
    product(shape, "the output's element count", where)
    for side in shape:
        checked(side, "an output dimension", where)
    if not bound <= VALUE_LIMIT:
        raise ProgramError(
            f"op {where}: its outputs can reach {bound:.3g} for inputs within ±{INPUT_BOUND:g} "
            f"(above {VALUE_LIMIT:g}: its parameters are too large to stay finite)"
        )
    return Value("float", tuple(shape), shape[-1] if shape else 1, float(bound))


def check_sum(count: int, bound: float, where: str) -> None:
    """Refuse a float32 sum of ``count`` values within ``±bound`` (e.g. a mean's numerator) that
    could pass :data:`VALUE_LIMIT`, though the mean itself would not."""
    if not count * bound <= VALUE_LIMIT:
        raise ProgramError(
            f"op {where}: its float32 sum of {count} values can reach {count * bound:.3g} for "
            f"inputs within ±{INPUT_BOUND:g} (above {VALUE_LIMIT:g}: its input is too large "
            "to sum without overflow)"
        )


def bits_value(
    shape: tuple[int, ...], channels: int, where: str, row_bits: int | None = None
) -> Value:
    product(shape, "the output's element count", where)
    return Value("bits", tuple(shape), channels, 0.0, channels if row_bits is None else row_bits)


def window_side(size: int, before: int, after: int, kernel: int, stride: int, where: str) -> int:
    """Output side of a window op over ``size`` padded by ``before`` and ``after`` (floor mode).

    Raises:
        ProgramError: the padded side passes the size cap, or the kernel does not fit it.
    """
    padded = checked(size + before + after, "a padded side", where)
    if kernel > padded:
        raise ProgramError(f"op {where}: kernel {kernel} exceeds the padded side {padded}")
    return output_side(padded, kernel, stride)


def abs_max(array: np.ndarray) -> float:
    """The largest magnitude in a float array (0 for an empty one), as a Python float."""
    return float(np.max(np.abs(array), initial=0.0))
