"""A float ``concat`` with a ``post`` tail (the hourglass block's ``cat([a, b, c]) + x``, then
maybe a ReLU and a batch norm): the C++ executor's (csrc/executor/ops_concat.cpp, the tail run on
each tile of joined rows) against the reference executor's (``runtime/ops/layout.py``), bit for
bit over piece counts, channel counts around the word width, maps and vectors, batch 1 and 3 and
1 or 2 threads; and every malformed tail refused by both with the same message."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_executor_pool import assert_same_run, refused_alike  # tests/runtime is on the path

from onebit.runtime import OPS
from onebit.runtime.fuzz.seeds import _Graph
from onebit.runtime.reference import float_chain

native = pytest.importorskip("onebit._native")

CHANNELS = [1, 7, 33, 65]
STEPS = ["add", "relu", "affine", "prelu", "hardtanh"]


def selection(g: _Graph, x: str, cin: int, cout: int, spatial: bool) -> str:
    """``cout`` channels picked from ``cin`` (repeats allowed) by a 1x1 conv or a dense layer of
    0/1 weights: exact in any summation order, so both executors give the same map."""
    weight = np.eye(cin, dtype=np.float32)[g.rng.integers(0, cin, cout)]
    if spatial:
        attrs = {"cin": cin, "cout": cout, "kernel": [1, 1], "stride": [1, 1]}
        attrs |= {"padding": [0, 0], "pad_value": 0.0, "epilogue": "none"}
        return g.add("conv2d", [x], attrs, weight=weight.reshape(cout, 1, 1, cin))
    return g.add("dense", [x], {"in_features": cin, "out_features": cout}, weight=weight)


def concat_post(
    channels: list[int], steps: list[str], side: tuple[int, int] | None, seed: int = 0
) -> tuple[dict, dict]:
    """input -> one selection per joined map and per add step -> concat(maps..., residuals...)
    with ``steps`` as its post tail (``side`` None: vectors)."""
    cin = 5
    g = _Graph(seed, [cin] if side is None else [*side, cin])
    spatial, total = side is not None, sum(channels)
    pieces = [selection(g, "input", cin, c, spatial) for c in channels]
    residuals = [selection(g, "input", cin, total, spatial) for s in steps if s == "add"]
    post, tensors = [], {}
    for i, step in enumerate(steps):
        entry: dict = {"step": step}
        if step == "affine":
            tensors |= {f"post{i}_scale": g.floats(total), f"post{i}_bias": g.floats(total)}
        elif step == "prelu":
            tensors[f"post{i}_slope"] = g.floats(total)
        elif step == "hardtanh":
            entry |= {"min": -0.5, "max": 0.75}
        post.append(entry)
    out = g.add("concat", pieces + residuals, {"channels": channels, "post": post}, **tensors)
    return g.graph(out), g.tensors


@settings(max_examples=40, deadline=None)
@given(
    channels=st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=4),
    steps=st.lists(st.sampled_from(STEPS), min_size=0, max_size=4),
    side=st.one_of(st.none(), st.tuples(st.integers(1, 9), st.integers(1, 9))),
    batch=st.sampled_from([1, 3]),
    threads=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_a_concat_tail_runs_alike_in_both_executors(channels, steps, side, batch, threads, seed):
    graph, tensors = concat_post(channels, steps, side, seed)
    assert assert_same_run(graph, tensors, batch=batch, threads=threads, seed=seed)


@pytest.mark.parametrize(
    ("channels", "steps", "side"),
    [
        ([8, 4, 4], ["add"], (8, 8)),  # the hourglass block
        ([8, 4, 4], ["add", "add"], (8, 8)),  # and the upsampled lower branch added to it
        ([65, 33, 7], ["add", "relu", "affine", "add"], (16, 16)),  # many tiles of 105 channels
        ([128, 64, 64], ["add", "add"], (6, 5)),  # the 256x256 hourglass's width
        ([1], ["relu", "add"], (3, 7)),
        ([33, 65], ["affine", "add", "prelu"], None),
    ],
    ids=str,
)
@pytest.mark.parametrize("batch", [1, 3])
def test_chosen_tails_run_alike_in_both_executors(channels, steps, side, batch) -> None:
    graph, tensors = concat_post(channels, steps, side, seed=len(steps))
    for threads in (1, 2):
        assert assert_same_run(graph, tensors, batch=batch, threads=threads, seed=batch)


@pytest.fixture
def restore_best_path():
    yield
    native.set_simd_path(None)


@pytest.mark.parametrize("path", native.simd_paths())
def test_every_simd_path_runs_the_tail_alike(path, restore_best_path) -> None:
    """The chain kernels' AVX2 path and their portable one (rows grouped or one at a time)."""
    native.set_simd_path(path)
    for channels, side in [([8, 4, 4], (8, 8)), ([65, 33, 7], (5, 9)), ([1, 2], None)]:
        graph, tensors = concat_post(channels, ["add", "affine", "relu", "add"], side, seed=2)
        assert assert_same_run(graph, tensors, batch=3, threads=2, seed=3)


def test_the_reference_op_joins_then_runs_its_tail() -> None:
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((2, 3, 4, c)).astype(np.float32) for c in (5, 2))
    residual = rng.standard_normal((2, 3, 4, 7)).astype(np.float32)
    scale, bias = rng.standard_normal((2, 7)).astype(np.float32)
    tensors = {"s": scale, "b": bias}
    spec = {
        "type": "concat",
        "inputs": ["a", "b", "r"],
        "output": "y",
        "attrs": {
            "channels": [5, 2],
            "post": [{"step": "add"}, {"step": "relu"}, {"step": "affine"}],
        },
        "tensors": {"post2_scale": "s", "post2_bias": "b"},
    }
    got = OPS.builder("concat")(spec, tensors)(a, b, residual)
    joined = np.concatenate([a, b], axis=-1)
    expected = float_chain(joined, [("add", residual), ("relu",), ("affine", scale, bias)])
    np.testing.assert_array_equal(got, expected)
    expected = np.maximum(joined + residual, 0) * scale + bias
    np.testing.assert_array_equal(got, expected)


def _one_concat(inputs: int, attrs: dict, tensors: dict | None = None, packed: bool = False):
    """input (4, 4, 3) -> concat of ``inputs`` inputs (each the input, or its signs)."""
    g = _Graph(0, [4, 4, 3])
    x = g.add("sign_pack", ["input"]) if packed else "input"
    kind = "binary_concat" if packed else "concat"
    return g.graph(g.add(kind, [x] * inputs, attrs, **(tensors or {}))), g.tensors


ADD = {"step": "add"}
JOINED = "channels must be one integer >= 1 per joined input"
VECTOR = np.zeros(6, np.float32)


@pytest.mark.parametrize(
    ("inputs", "attrs", "tensors", "says"),
    [
        (3, {"channels": [3] * 4, "post": [ADD]}, {}, f"{JOINED} (3 inputs: the joined, then"),
        (3, {"channels": [3, 3, 3], "post": [ADD]}, {}, "takes 4 input(s): the 3 it joins and"),
        (2, {"channels": [], "post": []}, {}, f"{JOINED} (2 inputs: the joined, then one per add"),
        (2, {"channels": [3, 0], "post": [ADD]}, {}, JOINED),
        (2, {"channels": None, "post": [ADD]}, {}, JOINED),
        (3, {"channels": [3, 3], "post": []}, {}, "takes 2 input(s): the 2 it joins and one per"),
        (3, {"channels": [3, 3], "post": [{"step": "relu"}]}, {}, "takes 2 input(s): the 2 it"),
        (3, {"channels": [3, 3], "post": [ADD, ADD]}, {}, "takes 4 input(s): the 2 it joins"),
        (2, {"channels": [3], "post": [ADD, ADD]}, {}, "takes 3 input(s): the 1 it joins and one"),
        (3, {"channels": [3, 3]}, {}, "channels must be one integer >= 1 per input (3 inputs)"),
        (3, {"channels": [3, 3], "post": [ADD]}, {}, "(4, 4, 3) cannot be added to its output of "),
        (3, {"channels": [3, 2**31], "post": [ADD]}, {}, "needs at most 2^31-1 joined channels"),
        (3, {"channels": [2**63 + 5, 3], "post": [ADD]}, {}, "needs at most 2^31-1 joined channel"),
        (3, {"channels": [2**30, 2**30], "post": [ADD]}, {}, "needs at most 2^31-1 joined channe"),
        (3, {"channels": [4, 2], "post": [ADD]}, {}, "cannot join ['float (4, 4, 3)', 'float (4, "),
        (2, {"channels": [3, 3], "post": "relu"}, {}, "post must be a list of steps"),
        (2, {"channels": [3, 3], "post": [{"step": "tanh"}]}, {}, "post[0] must be a step affine"),
        (2, {"channels": [3, 3], "post": [{"step": "hardtanh"}]}, {}, "hardtanh needs numbers"),
        (2, {"channels": [3, 3], "post": [{"step": "affine"}]}, {}, "tensor 'post0_scale' is mis"),
        (
            2,
            {"channels": [3, 3], "post": [{"step": "affine"}]},
            {"post0_scale": np.zeros(3, np.float32), "post0_bias": np.zeros(3, np.float32)},
            "tensor 'post0_scale' has shape (3,), expected (6,)",
        ),
        (
            2,
            {"channels": [3, 3], "post": [{"step": "affine"}]},
            {"post0_scale": np.full(6, 1e38, np.float32), "post0_bias": VECTOR},
            "its outputs can reach",
        ),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, dict | str) else None,
)
def test_malformed_tails_are_refused_alike(inputs, attrs, tensors, says) -> None:
    graph, tensors = _one_concat(inputs, attrs, tensors)
    assert says in refused_alike(graph, tensors)


def test_a_residual_must_be_a_float_map() -> None:
    g = _Graph(0, [4, 4, 3])
    signs = g.add("sign_pack", ["input"])
    graph = g.graph(g.add("concat", ["input", "input", signs], {"channels": [3, 3], "post": [ADD]}))
    assert "its residual must be a float value per sample" in refused_alike(graph, g.tensors)


@pytest.mark.parametrize("post", [[ADD], [{"step": "relu"}]], ids=["add", "relu"])
def test_a_packed_concat_takes_no_tail(post) -> None:
    graph, tensors = _one_concat(2, {"channels": [3, 3], "post": post}, packed=True)
    assert "a post tail needs a float output" in refused_alike(graph, tensors)


def test_an_empty_tail_is_no_tail() -> None:
    graph, tensors = _one_concat(2, {"channels": [3, 3], "post": []})
    assert assert_same_run(graph, tensors, batch=3, threads=2, seed=0)
