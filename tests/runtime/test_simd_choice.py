"""Choosing the SIMD path process-wide (``set_simd_path``, ``ONEBIT_SIMD``): every path this
CPU runs gives a program the same outputs (the binary kernels are bit-equal on every path, the
float GEMM sums in each path's order, so float layers agree to float32 rounding), and a path it
cannot run is refused."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from onebit import models
from onebit.convert import convert

native = pytest.importorskip("onebit._native")


@pytest.fixture(scope="module")
def programs():
    torch.manual_seed(0)
    mlp = models.create("binarynet-mlp", hidden=96, depth=2).eval()
    net = models.create("quicknet-small", input_size=32, num_classes=10).eval()
    return [
        (convert(mlp, torch.zeros(1, 1, 28, 28)), (1, 28, 28)),
        (convert(net, torch.zeros(1, 3, 32, 32)), (3, 32, 32)),
    ]


@pytest.fixture
def restore_best_path():
    yield
    native.set_simd_path(None)


@pytest.mark.parametrize("path", native.simd_paths())
def test_every_path_this_cpu_runs_gives_the_same_outputs_and_classes(
    programs, path, restore_best_path
):
    x = {
        shape: np.random.default_rng(1).random((3, *shape), dtype=np.float32)
        for _, shape in programs
    }
    best = [program(x[shape]) for program, shape in programs]
    native.set_simd_path(path)
    assert native.default_simd_path() == path
    for (program, shape), expected in zip(programs, best, strict=True):
        got = program(x[shape])
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(got.argmax(-1), expected.argmax(-1))
    native.set_simd_path(None)
    assert native.default_simd_path() == native.simd_paths()[0]


def test_a_path_this_cpu_cannot_run_is_refused_by_name(restore_best_path):
    with pytest.raises(ValueError, match="SIMD path 'sse9' is not one this CPU runs"):
        native.set_simd_path("sse9")
    assert native.default_simd_path() == native.simd_paths()[0]


def run_with_simd(value: str) -> subprocess.CompletedProcess[str]:
    code = "from onebit.runtime import _native; print(_native.default_simd_path())"
    env = {**os.environ, "ONEBIT_SIMD": value}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.slow
def test_onebit_simd_chooses_the_path_at_import_and_refuses_an_unknown_one():
    done = run_with_simd("portable")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "portable"
    refused = run_with_simd("sse9")
    assert refused.returncode != 0
    assert "ONEBIT_SIMD=sse9: SIMD path 'sse9' is not one this CPU runs" in refused.stderr
