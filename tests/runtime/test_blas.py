"""A program call runs BLAS on one thread and gives the caller's setting back afterwards."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from onebit.runtime.blas import blas_single_threaded

blas = ThreadpoolController().select(user_api="blas")
needs_blas = pytest.mark.skipif(not blas.lib_controllers, reason="NumPy without a threaded BLAS")


def _threads() -> list[int]:
    return [
        lib.num_threads for lib in ThreadpoolController().select(user_api="blas").lib_controllers
    ]


@needs_blas
def test_blas_is_single_threaded_inside_and_restored_after():
    with blas.limit(limits=2):
        before = _threads()
        with blas_single_threaded():
            assert set(_threads()) == {1}
            a = np.ones((64, 64), np.float32)
            assert float((a @ a)[0, 0]) == 64.0
        assert _threads() == before


@needs_blas
def test_blas_is_restored_when_the_block_raises():
    before = _threads()
    with pytest.raises(RuntimeError), blas_single_threaded():
        raise RuntimeError("op failed")
    assert _threads() == before
