"""A program call runs OpenBLAS on one thread and gives the caller's setting back afterwards."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from onebit.runtime import blas as blas_module
from onebit.runtime.blas import blas_libraries, blas_single_threaded

needs_openblas = pytest.mark.skipif(
    not any(
        lib.internal_api == "openblas"
        for lib in ThreadpoolController().select(user_api="blas").lib_controllers
    ),
    reason="NumPy without OpenBLAS",
)


@pytest.fixture(autouse=True)
def fresh_library_list(monkeypatch):
    """Libraries that earlier tests loaded (scipy's own OpenBLAS...) join the list."""
    monkeypatch.setattr(blas_module, "_libraries", None)


def _threads() -> list[int]:
    return [lib.num_threads for lib in blas_libraries()]


@needs_openblas
def test_blas_is_single_threaded_inside_and_restored_after():
    with ThreadpoolController().select(user_api="blas").limit(limits=2):
        before = _threads()
        with blas_single_threaded():
            assert set(_threads()) == {1}
            a = np.ones((64, 64), np.float32)
            assert float((a @ a)[0, 0]) == 64.0
        assert _threads() == before


@needs_openblas
def test_blas_is_restored_when_the_block_raises():
    with ThreadpoolController().select(user_api="blas").limit(limits=2):
        before = _threads()
        with pytest.raises(RuntimeError), blas_single_threaded():
            raise RuntimeError("op failed")
        assert _threads() == before == [2] * len(before)


@needs_openblas
def test_overlapping_calls_restore_only_when_the_last_one_leaves():
    with ThreadpoolController().select(user_api="blas").limit(limits=2):
        outer = blas_single_threaded()
        inner = blas_single_threaded()
        outer.__enter__()
        inner.__enter__()
        outer.__exit__(None, None, None)  # another thread's call is still inside
        assert set(_threads()) == {1}
        inner.__exit__(None, None, None)
        assert set(_threads()) == {2}
