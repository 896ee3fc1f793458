"""The compiled packed kernels (``onebit._native``, built from ``csrc/``), re-exported.

Every kernel takes the arguments of its :mod:`onebit.runtime.reference` twin in the same order,
plus ``threads`` (0 = :func:`get_num_threads`) and ``simd`` (``None`` = the best path of
:func:`simd_paths`). Importing this raises ``ImportError`` where the extension is not built. No
torch here: the runtime runs without it.

``ONEBIT_NATIVE_PATH``, when set, names an extension file to load in place of the installed one:
``make test-sanitize`` points it at the AddressSanitizer build in ``build/sanitize``.

``ONEBIT_SIMD``, when set, names the SIMD path every kernel and the executor take when none is
given (``set_simd_path``): one of ``simd_paths()``, e.g. ``avx2`` on an AVX-512 machine, to
measure or test that path there. A path this CPU cannot run is refused here, by name.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType


def _load_from(path: str) -> ModuleType:
    """Loads the extension module ``onebit._native`` from the file ``path``."""
    if "onebit._native" in sys.modules:
        loaded = sys.modules["onebit._native"]
        if os.path.abspath(getattr(loaded, "__file__", "") or "") == os.path.abspath(path):
            return loaded
        raise ImportError(
            f"ONEBIT_NATIVE_PATH={path} is set, but onebit._native was already imported from "
            f"{getattr(loaded, '__file__', '?')}"
        )
    spec = importlib.util.spec_from_file_location("onebit._native", path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        raise ImportError(f"ONEBIT_NATIVE_PATH={path} is not an extension module file")
    module = importlib.util.module_from_spec(spec)
    sys.modules["onebit._native"] = module
    spec.loader.exec_module(module)
    vars(sys.modules["onebit"])["_native"] = module  # as an import would: onebit._native
    return module


if os.environ.get("ONEBIT_NATIVE_PATH"):
    _extension = _load_from(os.environ["ONEBIT_NATIVE_PATH"])
else:
    from onebit import _native as _extension

if os.environ.get("ONEBIT_SIMD"):
    try:
        _extension.set_simd_path(os.environ["ONEBIT_SIMD"])
    except ValueError as error:
        from onebit._registry import OnebitError

        raise OnebitError(f"ONEBIT_SIMD={os.environ['ONEBIT_SIMD']}: {error}") from None

# Every public name of the extension, including kernels bound after this file was written.
__all__ = sorted(name for name in dir(_extension) if not name.startswith("_"))
globals().update({name: getattr(_extension, name) for name in __all__})
