"""The operations of a packed program, each built from its JSON spec and its tensors.

Feature maps are NHWC (channels last, the packed axis). A value is either float32 or packed bits
(uint64 words along the channel axis; see ``reference.py`` for the bit convention). Every op
validates its spec when the program loads, so a malformed file fails at load, not mid-inference.

Epilogues turn an int32 accumulator into the next op's input, as Larq Compute Engine's output
transforms do: ``float`` (``acc * scale + bias``) or ``bits`` (per-channel integer thresholds; the
converter derives them from batch norm + sign). Float-input ops take ``affine`` or ``sign``
(affine, then bit-packed) epilogues. A layer with float output may also carry a ``post`` tail
(ReLU, batch norm, PReLU, a residual add...) that its kernel applies while the output is in cache.

The ops live by concept: ``layout.py``, ``binary.py``, ``floats.py``, ``pool.py``; importing this
package registers them all in :data:`OPS`.
"""

from onebit.runtime.ops import binary, floats, layout, pool  # noqa: F401  (register the ops)
from onebit.runtime.ops.base import OPS, Op, PostSteps, ProgramError

__all__ = ["OPS", "Op", "PostSteps", "ProgramError"]
