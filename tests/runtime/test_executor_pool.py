"""The C++ executor's pad, concat, binary_concat and pooling ops (csrc/executor/ops_concat.cpp,
ops_pool.cpp) against the reference executor's (Python): on small graphs over many shapes and
attributes, ``onebit._native.Program`` accepts and refuses what ``ReferenceProgram`` does, with
the same message, plans the same memory and work, and computes the same outputs bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_executor import assert_same_verdicts  # tests/runtime is on the path

from onebit.runtime.errors import ProgramError
from onebit.runtime.fuzz.seeds import _Graph
from onebit.runtime.reference_program import ReferenceProgram

native = pytest.importorskip("onebit._native")

LIMITS = {"max_memory": 4 * 2**30, "max_work": 2**36}


def build_both(graph: dict, tensors: dict):
    """(Python program, C++ program), or the one message both refused the graph with."""
    outcomes = []
    for build in (
        lambda: ReferenceProgram(graph, tensors, **LIMITS),
        lambda: native.Program(json.dumps(graph), dict(tensors), list(tensors), **LIMITS),
    ):
        try:
            outcomes.append(("ok", build()))
        except ProgramError as error:
            outcomes.append(("refused", str(error)))
    (python_kind, python), (cpp_kind, cpp) = outcomes
    assert python_kind == cpp_kind, f"python {outcomes[0]}, C++ {outcomes[1]}"
    if python_kind == "refused":
        assert python == cpp
        return python
    assert (cpp.peak_bytes, cpp.work) == (python.peak_bytes, python.work)
    return python, cpp


def spread(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values over six decades, so that a change in the order of a float32 sum shows."""
    return rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape)


def assert_same_run(graph, tensors, batch: int, threads: int, seed: int, inputs=spread) -> bool:
    """Both programs on one random batch (``inputs(rng, shape)``): equal bit for bit. False where
    both refused the graph."""
    built = build_both(graph, tensors)
    if isinstance(built, str):
        return False
    python, cpp = built
    rng = np.random.default_rng(seed)
    x = inputs(rng, (batch, *python.input_shape)).astype(np.float32)
    want = python(x)
    got = cpp.run(x, threads=threads)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))  # -0.0 != +0.0 here
    return True


def refused_alike(graph: dict, tensors: dict) -> str:
    message = build_both(graph, tensors)
    assert isinstance(message, str), "both programs accepted the graph"
    return message


def one_op(shape: list[int], kind: str, attrs: dict, packed: bool = False):
    """input -> (sign_pack ->) op, for one op over a map or vector of `shape`."""
    g = _Graph(0, shape)
    x = g.add("sign_pack", ["input"]) if packed else "input"
    return g.graph(g.add(kind, [x], attrs)), g.tensors


runs = st.fixed_dictionaries({"batch": st.sampled_from([1, 3]), "threads": st.sampled_from([1, 2])})
sides = st.integers(1, 13)
pairs = st.lists(st.integers(0, 5), min_size=2, max_size=2)


@st.composite
def windows(draw) -> dict:
    """Kernel, stride and padding; the padding mostly within half the kernel (the max-pools
    refuse more), sometimes anywhere up to 5."""
    kernel = draw(st.lists(st.integers(1, 9), min_size=2, max_size=2))
    stride = draw(st.lists(st.integers(1, 3), min_size=2, max_size=2))
    if draw(st.integers(0, 5)) == 0:
        padding = draw(pairs)
    else:
        padding = [draw(st.integers(0, k // 2)) for k in kernel]
    return {"kernel": kernel, "stride": stride, "padding": padding}


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["maxpool2d", "avgpool2d", "binary_maxpool2d"]),
    height=sides,
    width=sides,
    channels=st.sampled_from([1, 3, 7, 63, 64, 65, 130]),
    attrs=windows(),
    run=runs,
    seed=st.integers(0, 2**16),
)
def test_window_pools_compute_as_the_python_ops(kind, height, width, channels, attrs, run, seed):
    graph, tensors = one_op(
        [height, width, channels], kind, attrs, packed=kind.startswith("binary")
    )
    assert_same_run(graph, tensors, seed=seed, **run)


def huge_corner(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values near 1e-6 with a corner near 1e6: the float64 prefix sums of the windows away
    from the corner cancel, so their rounding (the order of the table's operations) shows."""
    x = rng.standard_normal(shape) * 1e-6
    x[:, :5, :6] *= 1e11  # within the input bound, ±1e6
    return x


@pytest.mark.parametrize("kernel", [[8, 8], [9, 8], [11, 13]])  # above 64 taps: prefix sums
@pytest.mark.parametrize("padding", [[0, 0], [4, 6]])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_large_average_pool_sums_as_the_python_op(kernel, padding, threads):
    attrs = {"kernel": kernel, "stride": [2, 3], "padding": padding}
    graph, tensors = one_op([23, 17, 5], "avgpool2d", attrs)
    assert assert_same_run(graph, tensors, 3, threads, seed=kernel[0], inputs=huge_corner)


@settings(max_examples=40, deadline=None)
@given(height=st.integers(1, 40), width=st.integers(1, 40), channels=st.sampled_from([1, 2, 5, 64]),
       run=runs, seed=st.integers(0, 2**16))  # fmt: skip
def test_global_average_pooling_computes_as_the_python_op(height, width, channels, run, seed):
    graph, tensors = one_op([height, width, channels], "global_avgpool", {})
    assert assert_same_run(graph, tensors, seed=seed, **run)


@pytest.mark.parametrize("pixels", [(1, 1), (7, 1), (9, 15), (64, 65)])  # NumPy's pairwise blocks
def test_global_average_pooling_of_one_channel_sums_pairwise_as_numpy(pixels):
    graph, tensors = one_op([*pixels, 1], "global_avgpool", {})
    assert assert_same_run(graph, tensors, batch=3, threads=2, seed=sum(pixels))


@settings(max_examples=40, deadline=None)
@given(
    height=sides,
    width=sides,
    channels=st.sampled_from([1, 4, 33]),
    padding=st.one_of(pairs, st.lists(st.integers(0, 5), min_size=4, max_size=4)),
    value=st.sampled_from([0.0, -1.5, 0.1, 2.5e5, 1e30]),
    run=runs,
    seed=st.integers(0, 2**16),
)
def test_pad_computes_as_the_python_op(height, width, channels, padding, value, run, seed):
    graph, tensors = one_op([height, width, channels], "pad", {"padding": padding, "value": value})
    assert assert_same_run(graph, tensors, seed=seed, **run)


def concat_graph(shape: list[int], counts: list[int], packed: bool, seed: int):
    """Inputs of counts[i] * C channels (the input joined with itself, then an affine so that
    each differs), signed and packed if `packed`, joined by one (binary_)concat."""
    g = _Graph(seed, shape)
    channels = shape[-1]
    parts = []
    for count in counts:
        x = "input"
        if count > 1:
            x = g.add("concat", ["input"] * count, {"channels": [channels] * count})
        x = g.add("affine", [x], {"channels": count * channels}, **g.affine(count * channels))
        parts.append(g.add("sign_pack", [x]) if packed else x)
    kind = "binary_concat" if packed else "concat"
    out = g.add(kind, parts, {"channels": [count * channels for count in counts]})
    return g.graph(out), g.tensors


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.sampled_from([[], [1, 1], [3, 5]]),
    channels=st.sampled_from([1, 13, 32, 63, 64, 65, 128]),
    counts=st.lists(st.integers(1, 3), min_size=1, max_size=4),
    packed=st.booleans(),
    run=runs,
    seed=st.integers(0, 2**16),
)
def test_concat_and_binary_concat_compute_as_the_python_ops(
    prefix, channels, counts, packed, run, seed
):
    graph, tensors = concat_graph([*prefix, channels], counts, packed, seed)
    assert assert_same_run(graph, tensors, seed=seed, **run)


POOL_REFUSALS = [
    ({"kernel": [3, 3], "stride": [1, 1], "padding": [2, 0]}, "half"),
    ({"kernel": [3, 3], "stride": [1, 1], "padding": [0, 2]}, "half"),
    ({"kernel": [9, 2], "stride": [1, 1], "padding": [1, 1]}, "kernel 9 exceeds"),
    ({"kernel": [2, 12], "stride": [1, 1], "padding": [1, 1]}, "kernel 12 exceeds"),
    ({"kernel": [0, 2], "stride": [1, 1], "padding": [0, 0]}, "kernel must be two"),
    ({"kernel": [2, 2], "stride": [1, 0], "padding": [0, 0]}, "stride must be two"),
    ({"kernel": [2, 2], "stride": [1, 1], "padding": [0, -1]}, "padding must be two"),
    ({"kernel": [2, 2], "padding": [0, 0]}, "stride must be two"),
    ({"kernel": 2, "stride": [1, 1], "padding": [0, 0]}, "kernel must be two"),
    ({"kernel": [2, True], "stride": [1, 1], "padding": [0, 0]}, "kernel must be two"),
]


@pytest.mark.parametrize("kind", ["maxpool2d", "binary_maxpool2d", "avgpool2d"])
@pytest.mark.parametrize(("attrs", "says"), POOL_REFUSALS)
def test_invalid_pool_attributes_are_refused_with_the_python_message(kind, attrs, says):
    graph, tensors = one_op([6, 9, 3], kind, attrs, packed=kind.startswith("binary"))
    if kind == "avgpool2d" and says == "half":  # the average pool takes any padding
        assert assert_same_run(graph, tensors, batch=1, threads=1, seed=0)
    else:
        assert says in refused_alike(graph, tensors)


@pytest.mark.parametrize(
    ("kind", "shape", "packed", "says"),
    [
        ("maxpool2d", [6, 9, 3], True, "must be a 3-axis float value"),
        ("binary_maxpool2d", [6, 9, 3], False, "must be a 3-axis bits value"),
        ("avgpool2d", [54], False, "must be a 3-axis float value"),
        ("global_avgpool", [6, 9, 70], True, "must be a 3-axis float value"),
        ("global_avgpool", [6, 9], False, "must be a 3-axis float value"),
    ],
)
def test_pools_refuse_a_wrong_input_as_the_python_ops_do(kind, shape, packed, says):
    attrs = (
        {} if kind == "global_avgpool" else {"kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]}
    )
    graph, tensors = one_op(shape, kind, attrs, packed)
    assert says in refused_alike(graph, tensors)


@pytest.mark.parametrize(
    ("kind", "attrs", "says"),
    [
        ("avgpool2d", {"kernel": [4, 4], "stride": [1, 1], "padding": [0, 0]}, "float32 sum of 16"),
        ("global_avgpool", {}, "float32 sum of 16"),
    ],
)
def test_a_float32_sum_that_could_overflow_is_refused_alike(kind, attrs, says):
    g = _Graph(0, [4, 4, 2])
    scaled = g.add("affine", ["input"], {"channels": 2},
                   scale=np.full(2, 1e23, np.float32), bias=np.zeros(2, np.float32))  # fmt: skip
    graph = g.graph(g.add(kind, [scaled], attrs))
    assert says in refused_alike(graph, g.tensors)


@pytest.mark.parametrize(
    ("attrs", "shape", "says"),
    [
        ({"padding": [1, 2, 3], "value": 0.0}, [4, 4, 2], "padding must be two"),
        ({"padding": [1, 2, 3, -1], "value": 0.0}, [4, 4, 2], "padding must be four"),
        ({"padding": [1, 1]}, [4, 4, 2], "value must be a finite number"),
        ({"padding": [1, 1], "value": "0"}, [4, 4, 2], "value must be a finite number"),
        ({"padding": [1, 1], "value": 1e39}, [4, 4, 2], "value must be a finite number"),
        ({"padding": [1, 1], "value": 3e38}, [4, 4, 2], "its outputs can reach 3e+38"),
        ({"padding": [1, 1], "value": 0.0}, [16], "must be a 3-axis float value"),
        ({"padding": [2**31 - 1, 1, 0, 0], "value": 0.0}, [4, 4, 2], "the padded height would be"),
        ({"padding": [0, 0, 2**31 - 1, 1], "value": 0.0}, [4, 4, 2], "the padded width would be"),
    ],
)
def test_invalid_pads_are_refused_with_the_python_message(attrs, shape, says):
    graph, tensors = one_op(shape, "pad", attrs)
    assert says in refused_alike(graph, tensors)


CONCAT_REFUSALS = [
    ("concat", [6, 5, 3], [[3, 4]], "channels must be one integer >= 1 per input (1 inputs)"),
    ("concat", [6, 5, 3], [[0]], "channels must be one integer >= 1 per input"),
    ("concat", [6, 5, 3], [[True]], "channels must be one integer >= 1 per input"),
    ("concat", [6, 5, 3], [[3.0]], "channels must be one integer >= 1 per input"),
    ("concat", [6, 5, 3], ["3"], "channels must be one integer >= 1 per input"),
    ("concat", [6, 5, 3], [3], "channels must be one integer >= 1 per input"),
    ("concat", [6, 5, 3], [[4]], "cannot join ['float (6, 5, 3)'] as [4] channels"),
    ("concat", [6, 5, 3], [[2**31]], "cannot join ['float (6, 5, 3)'] as [2147483648] channels"),
    ("concat", [6, 5, 3], [[2**63 + 5]], "as [9223372036854775813] channels"),
    ("concat", [5, 3], [[3]], "cannot join ['float (5, 3)'] as [3] channels"),
    ("binary_concat", [6, 5, 3], [[3]], "its input #0 must be a bits value per sample"),
    ("binary_concat", [6, 5, 70], [[70]], None),
    ("binary_concat", [6, 5, 70], [[64]], "cannot join ['bits (6, 5, 2)'] as [64] channels"),
    ("binary_concat", [6, 5, 70], [[71]], "cannot join ['bits (6, 5, 2)'] as [71] channels"),
]


@pytest.mark.parametrize(("kind", "shape", "channels", "says"), CONCAT_REFUSALS)
def test_invalid_concats_are_refused_with_the_python_message(kind, shape, channels, says):
    graph, tensors = one_op(shape, kind, {"channels": channels[0]}, packed=shape[-1] == 70)
    if says is None:
        assert assert_same_run(graph, tensors, batch=3, threads=2, seed=1)
    else:
        assert says in refused_alike(graph, tensors)


def test_concat_refuses_maps_of_unequal_sides_or_kinds_as_the_python_op():
    g = _Graph(0, [4, 6, 3])
    taller = g.add("pad", ["input"], {"padding": [1, 0, 0, 0], "value": 0.0})
    packed = g.add("sign_pack", ["input"])
    flat = g.add("flatten", ["input"])
    ops = list(g.ops)
    cases = [
        ("concat", ["input", taller], [3, 3], "cannot join ['float (4, 6, 3)', 'float (5, 6, 3)']"),
        ("concat", ["input", packed], [3, 3], "its input #1 must be a float value per sample"),
        ("concat", ["input", flat], [3, 72], "cannot join ['float (4, 6, 3)', 'float (72)']"),
        ("binary_concat", [packed, "input"], [3, 3], "its input #1 must be a bits value"),
        ("concat", [flat, flat], [72], "channels must be one integer >= 1 per input (2 inputs)"),
    ]
    for kind, inputs, channels, says in cases:
        g.ops = [
            *ops,
            {"type": kind, "inputs": inputs, "output": "out", "attrs": {"channels": channels}},
        ]
        assert says in refused_alike(g.graph("out"), g.tensors)


def pool_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """A small program of every op here (and the ported ones around them), for the mutator."""
    g = _Graph(3, [3, 9, 10])
    x = g.add("nchw_to_nhwc", ["input"])  # (9, 10, 3)
    f = g.add("pad", [x], {"padding": [1, 0, 0, 1], "value": 0.5})  # (10, 11, 3)
    m = g.add("maxpool2d", [f], {"kernel": [2, 2], "stride": [2, 2], "padding": [1, 1]})
    r = g.add("avgpool2d", [f], {"kernel": [2, 2], "stride": [2, 2], "padding": [1, 1]})
    j = g.add("concat", [m, r], {"channels": [3, 3]})  # (6, 6, 6)
    b = g.add("sign_pack", [j])
    bm = g.add("binary_maxpool2d", [b], {"kernel": [3, 3], "stride": [1, 1], "padding": [1, 1]})
    g.add("binary_concat", [b, bm], {"channels": [6, 6]})  # computed, not read further
    big = g.add("avgpool2d", [f], {"kernel": [9, 8], "stride": [1, 1], "padding": [1, 0]})
    p = g.add("concat", [g.add("global_avgpool", [j]), g.add("global_avgpool", [big])],
              {"channels": [6, 3]})  # fmt: skip
    v = g.add("dense", [p], {"in_features": 9, "out_features": 64, "epilogue": "sign"},
              weight=g.floats(64, 9), **g.affine(64))  # fmt: skip
    u = g.add("sign_pack", [p])
    aligned = g.add("binary_concat", [v, u], {"channels": [64, 9]})
    mixed = g.add("binary_concat", [u, aligned], {"channels": [9, 73]})
    out = g.add("binary_dense", [mixed], {"k": 82, "epilogue": "float"},
                weight=g.packed(5, 82), **g.affine(5))  # fmt: skip
    return g.graph(out), g.tensors


def test_the_pool_seed_runs_as_the_python_runtime():
    graph, tensors = pool_seed()
    for batch, threads in [(1, 1), (3, 2)]:
        assert assert_same_run(graph, tensors, batch, threads, seed=batch)


@pytest.mark.parametrize("start", range(0, 1500, 500))
def test_mutated_pool_files_are_accepted_and_refused_as_the_reference_executor_does(start):
    from onebit.runtime.fuzz.mutations import Mutator
    from onebit.runtime.fuzz.seeds import assemble, graph_text

    graph, tensors = pool_seed()
    mutator = Mutator({"pool": assemble(graph_text(graph), tensors)}, seed=11)
    assert_same_verdicts(mutator, range(start, start + 500))


def unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-2, 2, shape)


def test_global_average_pooling_of_a_large_average_pool_sums_in_map_order():
    """The prefix-sum path's NumPy output is a transposed view; the mean still sums (h, w) in
    row-major order, as the C++ op does."""
    g = _Graph(0, [12, 11, 3])
    pooled = g.add("avgpool2d", ["input"], {"kernel": [9, 8], "stride": [1, 1], "padding": [1, 0]})
    graph = g.graph(g.add("global_avgpool", [pooled]))
    for seed in range(4):
        assert assert_same_run(graph, g.tensors, 3, 1, seed=seed)
