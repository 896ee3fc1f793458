"""The engine side of the Bit-Mixer experiment: one switched program run at each setting against
the plain program of each fixed-precision network (Bulat & Tzimiropoulos, ICCV 2021).

Both are converted with the dataset's inputs read as 8-bit codes (``input_quantization``: every
bundled dataset lies on such a grid, so the first layer computes the same function), which makes
every layer bit-serial and stores the Bit-Mixer network's weights once, at its widest width. Per
setting: the engine's test accuracy (the model's, up to float rounding in the epilogues) and its
batch-1 latency, the median of timed calls on one thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from onebit.bench.timing import median_seconds
from onebit.convert import convert

INPUT_GRIDS = {"mnist5k": (1 / 255, 0), "digits": (1 / 16, 0), "mnist": (1 / 255, 0)}
"""Each dataset's input as 8-bit codes ``x = scale * (q - zero_point)`` (another dataset keeps a
float first layer)."""


def _packed_bytes(program: Any) -> int:
    """Bytes of the packed weight planes (uint64 tensors)."""
    return sum(a.nbytes for a in program.tensors.values() if a.dtype == np.uint64)


def _latency_ms(program: Any, sample: np.ndarray) -> float:
    return 1e3 * median_seconds(lambda: program(sample, threads=1), repeat=30, min_seconds=0.01)


def switched_figures(
    model: nn.Module,
    settings: Mapping[str, Sequence[int]],
    x_test: np.ndarray,
    y_test: np.ndarray,
    input_quantization: tuple[float, int] | None,
) -> dict[str, Any]:
    """Convert the Bit-Mixer ``model`` once; its program's size (all tensors, and the packed
    weights alone) and, per setting, the engine's test accuracy and batch-1 latency (ms)."""
    example = torch.zeros(1, *x_test.shape[1:])
    program = convert(model, example, input_quantization=input_quantization, switchable=True)
    sample = np.ascontiguousarray(x_test[:1], dtype=np.float32)
    figures: dict[str, Any] = {
        "program_bytes": program.nbytes,
        "packed_bytes": _packed_bytes(program),
        "settings": {},
    }
    for label, bits in settings.items():
        program.set_bits(list(bits))
        predicted = program.predict(x_test)
        figures["settings"][label] = {
            "engine_test": float((predicted == y_test).mean()),
            "latency_ms": _latency_ms(program, sample),
        }
    return figures


def fixed_figures(
    model: nn.Module,
    x_test: np.ndarray,
    y_test: np.ndarray,
    input_quantization: tuple[float, int] | None,
) -> dict[str, Any]:
    """A fixed-precision network's plain program: its size, test accuracy and batch-1 latency."""
    example = torch.zeros(1, *x_test.shape[1:])
    program = convert(model, example, input_quantization=input_quantization, switchable=False)
    sample = np.ascontiguousarray(x_test[:1], dtype=np.float32)
    return {
        "program_bytes": program.nbytes,
        "packed_bytes": _packed_bytes(program),
        "engine_test": float((program.predict(x_test) == y_test).mean()),
        "latency_ms": _latency_ms(program, sample),
    }
