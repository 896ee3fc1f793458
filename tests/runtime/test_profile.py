"""``onebit profile``: each op of a program timed by the C++ executor, with its shape, share
and multiply-adds (counted here from the graph's tensors, independently of the executor)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from onebit import OnebitError, models
from onebit.cli import app
from onebit.convert import convert
from onebit.runtime import load
from onebit.runtime.bit_format import WORD_BITS
from onebit.runtime.profile import profile_program
from onebit.runtime.reference_program import ReferenceProgram


@pytest.fixture(scope="module")
def mlp_path(tmp_path_factory):
    torch.manual_seed(0)
    model = models.create("binarynet-mlp", hidden=96, depth=2).eval()
    path = tmp_path_factory.mktemp("profile") / "mlp.onebit"
    convert(model, torch.zeros(1, 1, 28, 28)).save(path)
    return path


@pytest.mark.parametrize("batch", [1, 3])
def test_every_op_is_timed_with_its_shape_share_and_multiply_adds(mlp_path, batch):
    program = load(mlp_path)
    rows = profile_program(program, threads=1, repeats=3, batch=batch)
    reference = ReferenceProgram(program.graph, program.tensors)
    assert [row.type for row in rows] == [op.type for op in program.ops]
    expected_shapes = [tuple(reference.values[op.output].shape) for op in program.ops]
    assert [row.shape for row in rows] == expected_shapes
    assert all(row.seconds >= 0 for row in rows)
    assert sum(row.share for row in rows) == pytest.approx(1.0)
    by_op = list(zip(rows, program.ops, strict=True))
    binary = [(row, op) for row, op in by_op if op.type == "binary_dense"]
    assert len(binary) == 2
    for row, op in binary:  # one multiply-add per bit of the packed weight words
        outputs, words = program.tensors[op.tensors["weight"]].shape
        assert row.macs == batch * outputs * words * WORD_BITS
        assert row.gmacs_per_second is None or row.gmacs_per_second > 0
    (row, op), *_ = [(row, op) for row, op in by_op if op.type == "dense"]
    assert row.macs == batch * op.attrs["in_features"] * op.attrs["out_features"]
    assert all(row.macs is None for row, op in by_op if op.type in ("flatten", "nchw_to_nhwc"))


def test_bad_profile_arguments_are_refused_by_name(mlp_path):
    program = load(mlp_path)
    with pytest.raises(OnebitError, match="repeats must be 1 to 100000"):
        profile_program(program, repeats=0)
    with pytest.raises(OnebitError, match="batch must be a positive int"):
        profile_program(program, batch=0)
    with pytest.raises(OnebitError, match="at least one sample"):
        program.time_ops(np.zeros((0, 1, 28, 28), np.float32))


def test_the_profile_command_prints_one_row_per_op_and_the_total(mlp_path):
    done = CliRunner().invoke(
        app, ["profile", str(mlp_path), "--threads", "1", "--repeats", "3"], env={"COLUMNS": "200"}
    )
    assert done.exit_code == 0, done.output
    program = load(mlp_path)
    assert done.output.count("binary_dense") >= 3
    assert f"over {len(program.ops)} ops; by type:" in done.output
    assert "median of 3 calls" in done.output
