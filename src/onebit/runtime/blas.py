"""BLAS on one thread while a program runs.

NumPy's BLAS (OpenBLAS) keeps its worker threads spinning for a while after each product, and
those spinning threads take the cores that the packed kernels' thread pool needs for the next
layer: with BLAS on 2 threads, the binary convolutions of a network with a few float layers ran
no faster on 2 threads than on 1. So a program call runs BLAS on one thread (the float layers are
a small share of a binary network's work) and leaves the cores to the packed kernels.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_blas = None


def _blas_controller():
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas")
    return _blas


@contextlib.contextmanager
def blas_single_threaded() -> Iterator[None]:
    """BLAS on one thread inside the block, restored after it (a few ctypes calls, not
    threadpoolctl's full ``limit``, which inspects every library each time)."""
    changed = [lib for lib in _blas_controller().lib_controllers if lib.num_threads != 1]
    previous = [lib.num_threads for lib in changed]
    for lib in changed:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, threads in zip(changed, previous, strict=True):
            lib.set_num_threads(threads)
