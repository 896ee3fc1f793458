"""The zoo benchmark's measurement and report, run at a tiny size: every figure present, the
thread scaling equal to the ratio of the reported medians, each torch setup recorded and the
fastest chosen, and the host check, setups and sizes in the Markdown."""

from __future__ import annotations

import json

import pytest

from onebit.bench.provenance import Provenance
from onebit.bench.report import document, render_markdown
from onebit.bench.zoo import benchmark_zoo
from onebit.runtime import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "native", reason="the benchmark needs the kernels")


@pytest.mark.slow
def test_tiny_run_reports_every_figure():
    setups = ("eager channels_last", "jit.freeze")
    taken = Provenance.start()
    result = benchmark_zoo(
        ["quicknet-small"], threads=(1, 2), input_size=32, pause=0, rounds=2, baselines=setups
    )
    rows = {row["threads"]: row for row in result["rows"]}
    assert set(rows) == {1, 2}
    for row in rows.values():
        assert row["onebit_ms"] > 0 and row["resnet18_fp32_ms"] > 0
        assert row["speedup_vs_resnet18"] == pytest.approx(
            row["resnet18_fp32_ms"] / row["onebit_ms"]
        )
        assert row["resnet18_fp32_setup"] == result["resnet18_fp32_chosen"][str(row["threads"])]
    assert rows[1]["scaling_vs_1_thread"] == 1.0
    assert rows[2]["scaling_vs_1_thread"] == pytest.approx(
        rows[1]["onebit_ms"] / rows[2]["onebit_ms"]
    )
    assert rows[2]["scaling_paired_median"] > 0
    assert set(result["resnet18_fp32_setups"]) == set(setups)
    for count, chosen in result["resnet18_fp32_chosen"].items():
        times = {name: r["ms"][count] for name, r in result["resnet18_fp32_setups"].items()}
        assert times[chosen] == min(times.values())
    assert set(result["host_compute_scaling"]) == {"1", "2"}
    (model,) = result["models"]
    assert model["same_prediction"] is True
    assert model["size_ratio"] > 5
    doc = json.loads(json.dumps(document("zoo", result, "onebit bench zoo", taken.finish(2))))
    report = render_markdown(doc)
    assert "| quicknet-small | 2 |" in report
    assert "host check" in report and "onebit bench zoo" in report
    assert "jit.freeze: " in report and "SIMD path" in report
