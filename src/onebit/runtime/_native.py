"""The compiled packed kernels (``onebit._native``, built from ``csrc/``), re-exported.

Every kernel takes the arguments of its :mod:`onebit.runtime.reference` twin in the same order,
plus ``threads`` (0 = :func:`get_num_threads`) and ``simd`` (``None`` = the best path of
:func:`simd_paths`). Importing this raises ``ImportError`` where the extension is not built. No
torch here: the runtime runs without it.
"""

from __future__ import annotations

from onebit import _native as _extension

# Every public name of the extension, including kernels bound after this file was written.
__all__ = sorted(name for name in dir(_extension) if not name.startswith("_"))
globals().update({name: getattr(_extension, name) for name in __all__})
