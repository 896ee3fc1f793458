from __future__ import annotations

import json
import math

import pytest
from torch import nn
from typer.testing import CliRunner

from onebit import models
from onebit._registry import OnebitError
from onebit.cli import app
from onebit.energy import (
    CAVEAT,
    HOROWITZ_45NM,
    KIB,
    MIB,
    compare_energy,
    estimate_energy,
)
from onebit.nn import QuantLinear
from onebit.summary import LayerSummary, ModelSummary, summarize

runner = CliRunner()


class Tiny(nn.Sequential):
    input_shape = (64,)


def binary_linear(fan_in: int, fan_out: int, **kwargs) -> QuantLinear:
    quantizers = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign"} | kwargs
    return QuantLinear(fan_in, fan_out, bias=False, **quantizers)


def test_the_table_is_horowitz_2014():
    t = HOROWITZ_45NM
    assert (t.int8_add, t.int32_add, t.int8_mult, t.int32_mult) == (0.03, 0.1, 0.2, 3.1)
    assert (t.float16_add, t.float16_mult, t.float32_add, t.float32_mult) == (0.4, 1.1, 0.9, 3.7)
    assert t.sram == ((8 * KIB, 10.0), (32 * KIB, 20.0), (MIB, 100.0))
    assert t.dram == 1300.0  # the low end of 1.3-2.6 nJ
    assert t.binary_word() == pytest.approx(2 * 0.1 + 63 * 0.03 + 0.1, rel=1e-12)
    assert t.float_mac() == pytest.approx(4.6, rel=1e-12)
    assert [t.sram_read(n) for n in (1, 8 * KIB, 8 * KIB + 1, MIB, 2 * MIB)] == [
        10,
        10,
        20,
        100,
        100,
    ]


def test_one_binary_linear_layer_by_hand():
    """QuantLinear 64 -> 10, 1-bit weights and inputs, 32-bit outputs (nothing reads them)."""
    comparison = compare_energy(summarize(Tiny(binary_linear(64, 10))))
    binary, twin = comparison.binary, comparison.twin
    # 640 binary MACs = 10 words of XNOR (2 x 0.1) + popcount (63 x 0.03) + accumulate (0.1)
    assert binary.arithmetic_pj == pytest.approx(10 * (0.2 + 1.89 + 0.1), rel=1e-12)
    # 640 weight bits = 10 words, 10 float outputs = 5 words written and read, in 1 MB SRAM
    assert binary.weight_pj == pytest.approx(10 * 100.0, rel=1e-12)
    assert binary.activation_pj == pytest.approx(2 * 5 * 100.0, rel=1e-12)
    assert binary.total_pj == pytest.approx(21.9 + 1000 + 1000, rel=1e-12)
    # the twin: 640 float MACs, 640 float weights = 320 words, the same outputs
    assert twin.arithmetic_pj == pytest.approx(640 * (3.7 + 0.9), rel=1e-12)
    assert twin.weight_pj == pytest.approx(320 * 100.0, rel=1e-12)
    assert twin.activation_pj == pytest.approx(1000.0, rel=1e-12)
    assert comparison.ratio == pytest.approx((2944 + 32000 + 1000) / 2021.9, rel=1e-12)
    assert binary.weights_on_chip and twin.weights_on_chip


def test_placement_follows_the_budget():
    summary = summarize(Tiny(binary_linear(64, 10)))
    off_chip = estimate_energy(summary, on_chip_bytes=0)
    assert not off_chip.weights_on_chip
    assert off_chip.weight_pj == pytest.approx(10 * 1300.0, rel=1e-12)
    assert off_chip.activation_pj == pytest.approx(2 * 5 * 1300.0, rel=1e-12)
    # 80 packed bytes fit in 100; the twin's 2,560 do not
    small = compare_energy(summary, on_chip_bytes=100)
    assert small.binary.weights_on_chip and not small.twin.weights_on_chip
    assert small.binary.weight_pj == pytest.approx(10 * 10.0, rel=1e-12)  # the 8 KB figure
    assert small.twin.weight_pj == pytest.approx(320 * 1300.0, rel=1e-12)
    everywhere = estimate_energy(summary, on_chip_bytes=math.inf)
    assert everywhere.weights_on_chip and everywhere.weight_pj == pytest.approx(1000.0)
    with pytest.raises(OnebitError, match="on_chip_bytes"):
        estimate_energy(summary, on_chip_bytes=-1)


def test_an_output_read_by_a_binarizing_layer_is_one_bit():
    net = Tiny(binary_linear(64, 64), nn.BatchNorm1d(64), nn.Flatten(), binary_linear(64, 10))
    rows = {row.name: row for row in estimate_energy(summarize(net)).rows}
    assert rows["0"].activation_pj == pytest.approx(2 * 32 * 100.0)  # read by the batch norm
    assert rows["1"].activation_pj == pytest.approx(2 * 1 * 100.0)  # 64 signs: one word
    assert rows["2"].total_pj == 0.0  # a view
    assert rows["1"].arithmetic_pj == pytest.approx(64 * 4.6)  # a multiply-add per output


def test_kbit_weights_run_as_bit_planes():
    dorefa = {"name": "dorefa", "k_bit": 2, "mode": "weights"}
    report = estimate_energy(summarize(Tiny(binary_linear(64, 10, weight_quantizer=dorefa))))
    # 2 x 1 planes of 640 binary MACs, and one 32-bit add per plane and output to combine them
    expected = 2 * 10 * (0.2 + 1.89 + 0.1) + 10 * 2 * 0.1
    assert report.arithmetic_pj == pytest.approx(expected, rel=1e-12)
    assert report.weight_pj == pytest.approx(20 * 100.0, rel=1e-12)  # 1,280 bits


def test_kbit_macs_counted_as_float_by_the_summary_are_bit_serial_too():
    """A summary row that counts a 2-bit x 1-bit layer's MACs as float ones (no k-bit count)."""
    row = LayerSummary("fc", "QuantLinear", 1, (10,), 0, 0, 0, 640, other_params={2: 640})
    report = estimate_energy(ModelSummary([row], (64,)))
    assert report.arithmetic_pj == pytest.approx(2 * 10 * (0.2 + 1.89 + 0.1) + 10 * 2 * 0.1)
    wide = LayerSummary("fc", "QuantLinear", 16, (10,), 0, 0, 0, 640, other_params={16: 640})
    assert estimate_energy(ModelSummary([wide], (64,))).arithmetic_pj == pytest.approx(640 * 4.6)


def test_the_binary_mlp_takes_less_than_its_twin():
    comparison = compare_energy(summarize(models.create("binarynet-mlp")))
    assert comparison.ratio > 1
    assert comparison.binary.weights_on_chip and not comparison.twin.weights_on_chip
    for placement in (0, math.inf):
        assert (
            compare_energy(summarize(models.create("binarynet-mlp")), on_chip_bytes=placement).ratio
            > 1
        )


def test_a_model_without_binary_layers_has_ratio_one():
    summary = summarize(models.create("float-mlp", hidden=32, depth=1))
    comparison = compare_energy(summary)
    assert comparison.ratio == 1.0
    assert comparison.binary.rows == comparison.twin.rows


def test_cli_summary_energy_prints_the_table_and_the_caveat():
    result = runner.invoke(app, ["summary", "binarynet-mlp", "--energy"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "Float twin nJ" in text and "Twin/model" in text
    assert CAVEAT in text
    assert CAVEAT not in " ".join(runner.invoke(app, ["summary", "binarynet-mlp"]).stdout.split())


def test_bench_energy_writes_the_report(tmp_path):
    out = tmp_path / "energy.json"
    args = [
        "bench",
        "energy",
        "--out",
        str(out),
        "--model",
        "binarynet-mlp",
        "--model",
        "float-mlp",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert {"report", "command", "machine", "caveat", "table", "models", "literature_claim"} <= set(
        doc
    )
    assert doc["command"] == "onebit " + " ".join(args)
    assert doc["machine"]["provenance"]["commit"]
    assert doc["literature_claim"] == [3.0, 5.0]
    rows = {row["model"]: row for row in doc["models"]}
    assert rows["binarynet-mlp"]["demo"] and rows["binarynet-mlp"]["ratio"] > 1
    assert rows["float-mlp"]["ratio"] == 1.0
    assert {"total_pj", "weight_pj", "weights_on_chip"} <= set(rows["float-mlp"]["twin"])
    markdown = out.with_suffix(".md").read_text()
    assert CAVEAT in markdown and "binarynet-mlp (demo)" in markdown and "3-5x" in markdown
    out.with_suffix(".md").unlink()
    rerendered = runner.invoke(app, ["bench", "energy", "--from-json", str(out)])
    assert rerendered.exit_code == 0, rerendered.output
    assert out.with_suffix(".md").read_text() == markdown


def test_bench_energy_refuses_unknown_models_and_other_files(tmp_path):
    result = runner.invoke(
        app, ["bench", "energy", "--out", str(tmp_path / "e.json"), "--model", "nope"]
    )
    assert result.exit_code == 2 and "unknown model" in result.stderr
    other = tmp_path / "zoo.json"
    other.write_text(json.dumps({"report": "zoo"}))
    result = runner.invoke(app, ["bench", "energy", "--from-json", str(other)])
    assert result.exit_code == 2 and "not an energy report" in result.stderr
