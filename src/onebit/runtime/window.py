"""Geometry of the 2-D window ops (convolutions and pools): padding sides and output sides.

One definition in Python, the same as ``csrc/common/window.h``. Padding is per side,
``(top, bottom, left, right)``; a program's ``padding`` attribute holds those four, or the pair
``[ph, pw]`` when the padding is symmetric (``[ph, ph, pw, pw]``). Over a padded side of
``side + before + after`` pixels, a window of ``kernel`` pixels moved by ``stride`` has
``(side + before + after - kernel) // stride + 1`` positions (floor mode, as torch's conv2d and
max_pool2d): the output side.
"""

from __future__ import annotations

from collections.abc import Sequence

Padding = tuple[int, int, int, int]
"""``(top, bottom, left, right)``."""


def output_side(padded: int, kernel: int, stride: int) -> int:
    """Positions of a ``kernel``-wide window moved by ``stride`` over a ``padded`` side; below 1
    when the kernel does not fit (the callers refuse that with their own message)."""
    return (padded - kernel) // stride + 1


def output_sides(
    height: int, width: int, kernel: Sequence[int], stride: Sequence[int], padding: Padding
) -> tuple[int, int]:
    """``(Ho, Wo)`` of a ``kernel = (kh, kw)``, ``stride = (sh, sw)`` window over an
    ``height x width`` map padded by ``padding``."""
    (kh, kw), (sh, sw) = kernel, stride
    top, bottom, left, right = padding
    return output_side(height + top + bottom, kh, sh), output_side(width + left + right, kw, sw)


def padding_sides(padding: Sequence[int]) -> Padding:
    """``(top, bottom, left, right)`` from those four, or from the symmetric pair ``(ph, pw)``."""
    if len(padding) == 4:
        top, bottom, left, right = (int(side) for side in padding)
        return top, bottom, left, right
    ph, pw = (int(side) for side in padding)
    return ph, ph, pw, pw


def padding_attr(top: int, bottom: int, left: int, right: int) -> list[int]:
    """A program's ``padding`` attribute: ``[ph, pw]`` if symmetric, else
    ``[top, bottom, left, right]`` (the inverse of :func:`padding_sides`)."""
    if top == bottom and left == right:
        return [top, left]
    return [top, bottom, left, right]
