"""BLAS on one thread while a program runs.

NumPy's BLAS (OpenBLAS) keeps its worker threads spinning for a while after each product, and
those spinning threads take the cores that the packed kernels' thread pool needs for the next
layer: with BLAS on 2 threads, the binary convolutions of a network with a few float layers ran
no faster on 2 threads than on 1. So a program call runs BLAS on one thread (the float layers are
a small share of a binary network's work) and leaves the cores to the packed kernels.

The threads are set through threadpoolctl (the ``cli`` and ``train`` extras install it). The
runtime's own install (numpy and safetensors only) may lack it: then NumPy's BLAS threads are not
pinned, results are the same, and a network with float layers may scale worse on several threads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

_libraries: list | None = None


def blas_libraries() -> list:
    """threadpoolctl's controllers of the OpenBLAS libraries loaded when first asked: NumPy's
    wheels use OpenBLAS, whose threads spin. (Another BLAS in the process, such as torch's MKL,
    is not the runtime's and is left alone.) Empty without threadpoolctl installed."""
    global _libraries
    if _libraries is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _libraries = []
            return _libraries
        controllers = ThreadpoolController().select(user_api="blas").lib_controllers
        _libraries = [lib for lib in controllers if lib.internal_api == "openblas"]
    return _libraries


_lock = threading.Lock()
_active = 0  # program calls inside blas_single_threaded, in every thread
_restore: list[tuple[Any, int]] = []


@contextlib.contextmanager
def blas_single_threaded() -> Iterator[None]:
    """BLAS on one thread inside the block, restored after it (a few ctypes calls, not
    threadpoolctl's full ``limit``, which inspects every library each time).

    The setting is process-wide, so calls from several threads share it: the first to enter
    sets one thread, the last to leave restores the caller's count.
    """
    global _active, _restore
    with _lock:
        if _active == 0:
            changed = [lib for lib in blas_libraries() if lib.num_threads != 1]
            _restore = [(lib, lib.num_threads) for lib in changed]
            for lib in changed:
                lib.set_num_threads(1)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                for lib, threads in _restore:
                    lib.set_num_threads(threads)
                _restore = []
