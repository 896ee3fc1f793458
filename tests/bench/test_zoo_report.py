"""The zoo benchmark's measurement and report, run at a tiny size: every figure present, paired
scaling computed from the rounds, the host check and the sizes in the Markdown."""

from __future__ import annotations

import pytest

from onebit.bench.report import machine_info
from onebit.bench.zoo import benchmark_zoo, markdown_zoo
from onebit.runtime import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "native", reason="the benchmark needs the kernels")


def test_tiny_run_reports_every_figure():
    result = benchmark_zoo(["quicknet-small"], threads=(1, 2), input_size=32, pause=0, rounds=2)
    rows = {row["threads"]: row for row in result["rows"]}
    assert set(rows) == {1, 2}
    for row in rows.values():
        assert row["onebit_ms"] > 0 and row["resnet18_fp32_ms"] > 0
        assert row["speedup_vs_resnet18"] == pytest.approx(
            row["resnet18_fp32_ms"] / row["onebit_ms"]
        )
    assert rows[1]["scaling_vs_1_thread"] == 1.0
    assert rows[2]["scaling_vs_1_thread"] > 0
    assert set(result["host_compute_scaling"]) == {"1", "2"}
    (model,) = result["models"]
    assert model["same_prediction"] is True
    assert model["size_ratio"] > 5
    report = markdown_zoo(result, machine_info(), "python benchmarks/zoo.py")
    assert "| quicknet-small | 2 |" in report
    assert "host check" in report and "python benchmarks/zoo.py" in report
