"""The fuzz campaign's counts and arguments, and the MLP benchmark's float twin (same shape)."""

from __future__ import annotations

import pytest
import torch

from onebit import models
from onebit.bench.mlp import _twin_arguments
from onebit.runtime.fuzz.campaign import run_campaign


@pytest.mark.slow
def test_campaign_counts_every_case_across_chunks_and_jobs():
    lines: list[str] = []
    result = run_campaign(6, seed=3, start=10, jobs=2, chunk=4, log=lines.append)
    assert sum(result["outcomes"].values()) == 6
    assert sum(sum(c.values()) for c in result["by_kind"].values()) == 6
    assert result["failures"] == []
    assert [line.split(":")[0] for line in lines[:2]] == ["cases 10..13", "cases 14..15"]


@pytest.mark.parametrize("bad", [{"cases": 0}, {"cases": 1, "jobs": 0}, {"cases": 1, "timeout": 0}])
def test_campaign_refuses_bad_arguments(bad):
    with pytest.raises(ValueError, match="must be"):
        run_campaign(**bad)


def test_float_twin_has_the_binary_models_shape():
    binary = models.create("binarynet-mlp", input_shape=(64,), hidden=16, depth=2)
    arguments = _twin_arguments(binary)
    assert arguments == {"input_shape": (64,), "num_classes": 10, "hidden": 16, "depth": 2}
    twin = models.create("float-mlp", **arguments)
    widths = [m.out_features for m in twin.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [16, 16, 10]
