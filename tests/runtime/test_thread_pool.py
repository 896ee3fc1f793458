"""The kernels' thread pool (csrc/common/threads.h) under the patterns a network produces: many
small jobs back to back, jobs that start while the workers are asleep (the caller may finish before
a worker wakes and must not wait for it), changing thread counts, and several Python threads calling
kernels at once. Results are checked exactly against the NumPy references."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from onebit.runtime import reference

_native = pytest.importorskip("onebit._native")

# Large enough that bitpack and the transpose split into several tasks.
SHAPE = (1, 64, 40, 40)


@pytest.fixture
def maps():
    rng = np.random.default_rng(0)
    return [rng.standard_normal(SHAPE, dtype=np.float32) for _ in range(4)]


def _check(x: np.ndarray, threads: int) -> None:
    np.testing.assert_array_equal(_native.bitpack(x, threads=threads), reference.bitpack(x))
    np.testing.assert_array_equal(
        _native.nchw_to_nhwc(x, threads=threads), reference.nchw_to_nhwc(x)
    )


def test_many_small_jobs_with_changing_thread_counts(maps):
    for i in range(300):
        _check(maps[i % len(maps)], threads=1 + i % 4)


@pytest.mark.parametrize("threads", [2, 3])
def test_jobs_after_the_workers_fell_asleep(maps, threads):
    for i in range(5):
        time.sleep(0.005)  # longer than a worker spins: the next job wakes sleeping workers
        _check(maps[i % len(maps)], threads)


def test_concurrent_callers_each_get_their_own_results(maps):
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(60):
                _check(maps[(seed + i) % len(maps)], threads=2 + (seed + i) % 3)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    callers = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=120)
    assert not any(caller.is_alive() for caller in callers), "a caller hung"
    assert not errors, errors[0]
