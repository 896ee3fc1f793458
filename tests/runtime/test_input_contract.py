"""What ``Program.__call__`` accepts: finite float32 values within ±INPUT_BOUND (the range the
loader's finiteness proof covers), copied to an aligned buffer if need be; and what it returns:
a new array, never the caller's own."""

from __future__ import annotations

import numpy as np
import pytest

from onebit import OnebitError
from onebit.runtime import Program
from onebit.runtime.fuzz import cnn_seed, mlp_seed
from onebit.runtime.shapes import INPUT_BOUND


def x_for(program: Program, n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (n, *program.input_shape)).astype(np.float32)


@pytest.mark.parametrize(
    ("value", "dtype", "shown"),
    [
        (np.inf, np.float32, "inf"),
        (-np.inf, np.float32, "-inf"),
        (np.nan, np.float32, "nan"),
        (1.0001e6, np.float32, "1.0001e+06"),
        (-2e6, np.float64, "-2e+06"),
        (1e300, np.float64, "inf"),  # float32 rounds it to inf: refused, with no RuntimeWarning
        (-(2**62), np.int64, "-4.61169e+18"),
    ],
)
def test_inputs_outside_the_checked_range_are_refused(value, dtype, shown):
    program = Program(*mlp_seed())
    x = x_for(program).astype(dtype)
    x[1, 0, 3, 4] = value
    with pytest.raises(OnebitError, match="input values must be finite and within") as caught:
        program(x)
    message = str(caught.value)
    assert message.endswith(f"±{INPUT_BOUND:g}, got {shown}") and "\n" not in message


def test_inputs_at_the_bound_are_accepted_and_give_finite_outputs():
    program = Program(*cnn_seed())
    x = x_for(program)
    x[0] = INPUT_BOUND
    x[1] = -INPUT_BOUND
    assert np.isfinite(program(x)).all()
    assert np.isfinite(program(x.astype(np.float64))).all()


def test_misaligned_and_strided_inputs_give_the_outputs_of_contiguous_ones():
    program = Program(*cnn_seed())
    x = x_for(program)
    raw = np.zeros(x.nbytes + 1, np.uint8)
    misaligned = raw[1:].view(np.float32).reshape(x.shape)
    misaligned[...] = x
    assert not misaligned.flags.aligned
    np.testing.assert_array_equal(program(misaligned), program(x))
    strided = np.repeat(x, 2, axis=0)[::2]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(program(strided), program(x))


def _passthrough(ops: list[dict], output: str) -> Program:
    graph = {"input": {"name": "input", "shape": [2, 3]}, "output": output, "ops": ops}
    return Program(graph, {})


@pytest.mark.parametrize(
    ("op", "output"),
    [("relu", "input"), ("flatten", "v1")],
    ids=["output-is-input", "output-is-a-view"],
)
def test_the_output_is_never_the_callers_array(op, output):
    program = _passthrough([{"type": op, "inputs": ["input"], "output": "v1"}], output)
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    y = program(x)
    assert not np.shares_memory(y, x)
    np.testing.assert_array_equal(y.reshape(x.shape), x)
    y[...] = 7
    assert x[0, 0, 1] == 1
