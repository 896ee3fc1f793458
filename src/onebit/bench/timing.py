"""Repeatable timings: medians of repeated calls, busy pauses, and one thread count for all."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

PAUSE_KIND = "busy-wait pause (spinning, not asleep: see timing.busy_wait)"


def median_seconds(
    run: Callable[[], Any], repeat: int = 20, warmup: int = 3, min_seconds: float = 0.0
) -> float:
    """Median wall time of ``run()`` over ``repeat`` calls after ``warmup`` calls.

    With ``min_seconds``, each timed sample loops ``run`` until that long has passed and reports
    the time per call, so sub-millisecond calls are not lost in timer noise.
    """
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeat):
        calls, started = 0, time.perf_counter()
        while True:
            run()
            calls += 1
            elapsed = time.perf_counter() - started
            if elapsed >= min_seconds:
                break
        samples.append(elapsed / calls)
    return statistics.median(samples)


def busy_wait(seconds: float) -> None:
    """Wait without sleeping: on the shared VM the benchmarks were tuned on, a thread that sleeps
    for a second came back to a slower core for a while (the next timings ran 40% slower)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def set_threads(threads: int) -> None:
    """The thread count of torch and of onebit's kernels (when the extension is built)."""
    import torch

    torch.set_num_threads(threads)
    try:
        from onebit.runtime import _native
    except ImportError:
        return
    _native.set_num_threads(threads)
