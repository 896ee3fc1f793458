"""``onebit bench hourglass`` end to end on a small hourglass: the program agrees with the model,
the float twin's torch setups are recorded, and the report renders from the stored JSON. Nothing
here is timed against a threshold."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onebit.bench.report import render_markdown
from onebit.cli import app

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def doc_text(out) -> str:
    return out.with_suffix(".md").read_text()


def test_a_small_hourglass_benchmark_writes_its_report(tmp_path) -> None:
    out = tmp_path / "hourglass.json"
    args = ["bench", "hourglass", "--input-size", "32", "--landmarks", "5", "--features", "16"]
    args += ["--depth", "1", "--rounds", "1", "--pause", "0", "--baseline", "eager channels_last"]
    done = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert done.exit_code == 0, done.output
    doc = json.loads(out.read_text())
    result = doc["hourglass"]
    assert result["heatmap_shape"] == [5, 8, 8] and result["same_decoded_points"] == 1.0
    assert result["max_abs_heatmap_difference"] < 1e-4
    assert result["binary_macs"] > 0 and result["float_macs"] > 0
    peak = result["xor_popcount_peak_gmacs_per_core"] * 1e9
    assert result["binary_floor_ms"] == pytest.approx(1e3 * result["binary_macs"] / peak)
    assert "binary MACs alone take at least" in out.with_suffix(".md").read_text()
    (row,) = result["rows"]
    assert row["threads"] == 1 and row["twin_setup"] == "eager channels_last"
    assert row["speedup_vs_twin"] == pytest.approx(row["twin_ms"] / row["onebit_ms"])
    assert "--input-size 32" in doc["command"] and doc["machine"]["simd"]
    assert out.with_suffix(".md").read_text() == render_markdown(doc)
    assert not result["arguments"]["binary_head"] and "the head's 1x1 convs real" in doc_text(out)
    head = tmp_path / "head.json"
    done = CliRunner().invoke(app, [*args, "--binary-head", "--out", str(head)])
    assert done.exit_code == 0, done.output
    binary_head = json.loads(head.read_text())
    assert binary_head["hourglass"]["arguments"]["binary_head"]
    assert binary_head["command"].endswith("--binary-head")
    assert binary_head["hourglass"]["binary_macs"] > result["binary_macs"]
    assert binary_head["hourglass"]["float_macs"] < result["float_macs"]
    unknown = CliRunner().invoke(app, ["bench", "hourglass", "--baseline", "tf"])
    assert unknown.exit_code != 0 and "unknown --baseline ['tf']" in unknown.output
