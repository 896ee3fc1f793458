"""Figures the experiments' reports share: a mean and standard deviation over seeds, and the
batch-1 latency of a converted program beside its PyTorch model on one thread."""

from __future__ import annotations

import statistics

import numpy as np
import torch

from onebit.bench.timing import median_seconds

TIMING = {"repeat": 15, "warmup": 3, "min_seconds": 0.02}
"""The batch-1 latency: the median of 15 samples, each at least 20 ms of calls."""


def mean_std(values: list[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (0 for a single value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def batch1_latency(program, model: torch.nn.Module, sample: np.ndarray) -> dict[str, float | None]:
    """Median milliseconds per call on one sample, one thread: the program (None where there is
    none), and the PyTorch model in eval mode (its baseline, measured in the same run)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    engine = None
    try:
        if program is not None:
            engine = median_seconds(lambda: program(sample, threads=1), **TIMING)
        tensor = torch.from_numpy(sample)
        with torch.no_grad():
            eager = median_seconds(lambda: model(tensor), **TIMING)
    finally:
        torch.set_num_threads(threads)
    program_ms = None if engine is None else 1e3 * engine
    return {"program_ms": program_ms, "torch_ms": 1e3 * eager, "threads": 1}
