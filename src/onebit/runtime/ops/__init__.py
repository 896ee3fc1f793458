"""The operations of a packed program, each built from its JSON spec and its tensors.

Feature maps are NHWC (channels last, the packed axis). A value is float32, packed bits (uint64
words along the channel axis; see ``bit_format.py`` for the bit convention) or the bit planes of
k-bit codes (``kbit.py``). Every op
validates its spec when the program loads, so a malformed file fails at load, not mid-inference.

Epilogues turn an int32 accumulator into the next op's input, as Larq Compute Engine's output
transforms do: ``float`` (``acc * scale + bias``) or ``bits`` (per-channel integer thresholds; the
converter derives them from batch norm + sign). Float-input ops take ``affine`` or ``sign``
(affine, then bit-packed) epilogues. A layer with float output, and a float ``concat``, may also
carry a ``post`` tail (ReLU, batch norm, PReLU, a residual add...) that its kernel applies while
the output is in cache.

The ops live by concept: ``layout.py``, ``binary.py``, ``kbit.py``, ``floats.py``, ``pool.py``,
``dynamic.py`` (DyBNN's input-dependent sign and PReLU), ``embedding.py`` (token ids to a
sequence map); importing this package registers them
all in :data:`OPS`.
"""

from onebit.runtime.ops import (  # noqa: F401  (register the ops)
    binary,
    dynamic,
    embedding,
    floats,
    kbit,
    layout,
    pool,
)
from onebit.runtime.ops.base import OPS, Op, PostSteps, ProgramError

__all__ = ["OPS", "Op", "PostSteps", "ProgramError"]
