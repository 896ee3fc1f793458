"""The zoo's operation counts at 224x224 against the papers' tables: binary operations (BOPs,
counted as binary multiply-accumulates) and float operations (FLOPs, as multiply-accumulates)."""

from __future__ import annotations

import pytest

from onebit import models
from onebit.summary import summarize

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    ("name", "bops", "flops"),
    [
        # Liu et al., "Bi-Real Net", ECCV 2018, the 18-layer net: BOPs 1.68e9, FLOPs 1.39e8
        ("birealnet18", 1.68e9, 1.39e8),
        # Liu et al., "ReActNet", ECCV 2020, ReActNet-A: BOPs 4.82e9, FLOPs 0.12e8
        ("reactnet-a", 4.82e9, 0.12e8),
    ],
)
def test_operation_counts_match_the_paper(name, bops, flops):
    summary = summarize(models.create(name).eval())
    assert summary.binary_macs == pytest.approx(bops, rel=0.005)
    assert summary.float_macs == pytest.approx(flops, rel=0.02)
