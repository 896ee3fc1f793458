"""The packed bit format shared by every binary kernel, op and file: one definition in Python.

Bit convention (the same as ``onebit.quantizers.sign`` and ``csrc/common/bit_format.h``): the value
+1 is stored as bit 0 and -1 as bit 1, where a float or int8 input maps to +1 when ``x >= 0``
(so ``sign(0) = +1``) and to -1 otherwise (NaN too). A row of ``C`` channels (the last axis) is
packed into :func:`words_for` ``(C)`` little-endian words of :data:`WORD_BITS` bits: channel ``c``
is bit ``c % WORD_BITS`` of word ``c // WORD_BITS``. The unused high bits of the last word are 0
(that is, +1); since both operands of a binary product pad the same way, padding bits cancel in
the XOR, and the dot product of two packed rows of ``k`` channels is
``k - 2 * popcount(a ^ b)``.
"""

from __future__ import annotations

import numpy as np

WORD_BITS = 64
"""Channels per packed word."""

WORD_DTYPE = np.dtype("<u8")
"""The packed word: a little-endian unsigned integer of :data:`WORD_BITS` bits."""


def words_for(channels: int) -> int:
    """Packed words that hold ``channels`` bits."""
    return -(-channels // WORD_BITS)
