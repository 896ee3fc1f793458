"""Seeded random sources for the quantizer tests; the seed is part of each test id."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(params=[0, 1], ids=lambda seed: f"seed{seed}")
def gen(request: pytest.FixtureRequest) -> torch.Generator:
    """A CPU generator seeded from the test id, so a failure replays."""
    return torch.Generator().manual_seed(request.param)
