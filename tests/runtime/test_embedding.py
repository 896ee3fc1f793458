"""``embedding``: the NumPy op equals torch's lookup (packed signs bit for bit, float rows
exactly); the C++ op equals it in whole programs; bad ids are refused alike by both executors,
naming the op, the sample and the position; a table with a wrong dtype, shape or padding bits is
refused at load; a program of token ids takes int64 ids, and its file keeps its input kind."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from test_executor_pool import assert_same_run, build_both, refused_alike, runs

from onebit import OnebitError
from onebit.runtime import Program, ProgramError, load
from onebit.runtime.fuzz.seeds import _Graph
from onebit.runtime.reference import bitpack
from onebit.runtime.reference_program import ReferenceProgram, load_reference

DIMS = [1, 7, 31, 32, 33, 63, 64, 65, 127]
VOCABULARIES = [1, 2, 63, 64, 65]


def embedding_graph(vocabulary: int, dim: int, length: int, binary: bool, seed: int = 0):
    """token ids (length,) -> embedding -> its map (1, length, words or dim)."""
    g = _Graph(seed, [length])
    g.input["kind"] = "tokens"
    table = g.packed(vocabulary, dim) if binary else g.floats(vocabulary, dim)
    output = "bits" if binary else "float"
    y = g.add("embedding", ["input"], {"dim": dim, "output": output}, table=table)
    return g.graph(y), g.tensors


def ids_of(vocabulary: int):
    def draw(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.integers(0, vocabulary, shape)

    return draw


@settings(max_examples=30, deadline=None)
@given(
    vocabulary=st.sampled_from(VOCABULARIES),
    dim=st.sampled_from(DIMS),
    length=st.integers(1, 11),
    binary=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_the_op_equals_torch_embedding(vocabulary, dim, length, binary, seed) -> None:
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(vocabulary, dim, generator=gen)
    weight[0, 0] = 0.0  # sign(0) = +1
    ids = torch.randint(0, vocabulary, (3, length), generator=gen)
    graph, tensors = embedding_graph(vocabulary, dim, length, binary)
    table = torch.where(weight >= 0, 1.0, -1.0) if binary else weight
    tensors[graph["ops"][0]["tensors"]["table"]] = (
        bitpack(weight.numpy()) if binary else weight.numpy()
    )
    expected = F.embedding(ids, table).numpy()[:, None]  # (N, 1, L, D)
    got = ReferenceProgram(graph, tensors)(ids.numpy())
    np.testing.assert_array_equal(got, bitpack(expected) if binary else expected)


@settings(max_examples=30, deadline=None)
@given(
    vocabulary=st.sampled_from(VOCABULARIES),
    dim=st.sampled_from(DIMS),
    length=st.integers(1, 11),
    binary=st.booleans(),
    run=runs,
    seed=st.integers(0, 2**16),
)
def test_the_native_op_equals_the_reference(vocabulary, dim, length, binary, run, seed) -> None:
    graph, tensors = embedding_graph(vocabulary, dim, length, binary, seed)
    assert assert_same_run(graph, tensors, inputs=ids_of(vocabulary), seed=seed, **run)


@pytest.mark.parametrize("binary", [True, False], ids=["bits", "float"])
@pytest.mark.parametrize(
    ("bad", "shown"),
    [(-1, "-1"), (5, "5"), (2.5, "2.5"), (np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")],
)
def test_a_bad_id_is_refused_alike_naming_its_place(binary, bad, shown) -> None:
    python, cpp = build_both(*embedding_graph(5, 33, 4, binary))
    x = np.zeros((3, 4), np.float32)
    x[2, 1] = 4  # the last row: valid
    x[1, 3] = bad
    messages = []
    for run in (python, lambda x: cpp.run(x, threads=2)):
        with pytest.raises(OnebitError) as error:
            run(x)
        messages.append(str(error.value))
    assert messages[0] == messages[1]
    assert messages[0] == (
        f"op 'v0' (embedding): token id {shown} at sample 1, position 3 is not an integer in [0, 5)"
    )


def test_a_program_of_token_ids_takes_integer_arrays_and_refuses_what_float32_cannot_hold(
    tmp_path,
) -> None:
    graph, tensors = embedding_graph(7, 65, 3, binary=True)
    program = Program(graph, tensors)
    assert program.input_kind == "tokens" and program.input_dtype == np.int64
    ids = np.array([[0, 6, 3], [2, 2, 1]])
    expected = program(ids.astype(np.float32))
    for dtype in (np.int64, np.int32, np.uint8, np.float64):
        np.testing.assert_array_equal(program(ids.astype(dtype)), expected)
    for bad, shown in ((2**24, "16777216"), (-(2**24), "-16777216"), (2**63 - 1, str(2**63 - 1))):
        with pytest.raises(OnebitError, match=f"below 2\\^24 .* got {shown} at sample 0"):
            program(np.array([[0, 1, bad]], np.int64))
    with pytest.raises(OnebitError, match=r"got 1.0000001 at sample 1, position 0"):
        program(np.array([[0, 1, 2], [1.0000001, 0, 0]]))  # float64: 1.0 once in float32
    with pytest.raises(OnebitError, match="dtype bool"):
        program(np.ones((1, 3), bool))
    path = tmp_path / "tokens.onebit"
    program.save(path)
    for loaded in (load(path), load_reference(path)):
        assert loaded.input_kind == "tokens"
        np.testing.assert_array_equal(loaded(ids), expected)


def test_a_float_program_keeps_no_input_kind_and_reads_floats() -> None:
    graph, tensors = _Graph(0, [3]).graph("input"), {}
    graph["ops"] = [{"type": "relu", "inputs": ["input"], "output": "y"}]
    graph["output"] = "y"
    program = Program(graph, tensors)
    assert program.input_kind == "float" and program.input_dtype == np.float32
    assert "kind" not in program.graph["input"]


def test_an_unknown_input_kind_is_refused_by_both_loaders() -> None:
    graph, tensors = embedding_graph(3, 8, 2, binary=True)
    graph["input"]["kind"] = "words"
    assert refused_alike(graph, tensors) == "the input's kind must be 'float' or 'tokens'"


def test_token_ids_reach_no_op_but_an_embedding() -> None:
    g = _Graph(0, [4])
    g.input["kind"] = "tokens"
    graph = g.graph(g.add("relu", ["input"]))
    message = refused_alike(graph, g.tensors)
    assert "must be a float value per sample, got tokens (4)" in message
    graph, tensors = embedding_graph(3, 8, 2, binary=True)
    graph["output"] = "input"
    assert refused_alike(graph, tensors) == (
        "the program's output is its token ids: no op computes it"
    )


def test_an_embedding_reads_token_ids_only() -> None:
    g = _Graph(0, [4])
    graph = g.graph(
        g.add("embedding", ["input"], {"dim": 3, "output": "float"}, table=g.floats(5, 3))
    )
    assert "its input must be a 1-axis tokens value per sample, got float (4)" in (
        refused_alike(graph, g.tensors)
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t[:, :1], "tensor 'table' has shape (5, 1), expected ('?', 2)"),
        (lambda t: t.astype(np.int32), "tensor 'table' must be uint64"),
        (lambda t: t[:0], "the table has 0 rows; an embedding has 1 to 2^24"),
        (
            lambda t: t | np.array([0, 1 << 63], np.uint64),
            "tensor 'v0.table' (table) has bits set beyond its 65 channels",
        ),
    ],
    ids=["shape", "dtype", "no-rows", "padding-bits"],
)
def test_a_corrupt_binary_table_is_refused_at_load(tmp_path, change, message) -> None:
    g = _Graph(0, [4])
    g.input["kind"] = "tokens"
    table = change(g.packed(5, 65))
    graph = g.graph(g.add("embedding", ["input"], {"dim": 65, "output": "bits"}))
    graph["ops"][0]["tensors"] = {"table": "v0.table"}
    tensors = {"v0.table": np.ascontiguousarray(table)}
    assert message in refused_alike(graph, tensors)


def test_a_float_table_and_its_attributes_are_checked_at_load() -> None:
    graph, tensors = embedding_graph(4, 6, 2, binary=False)
    name = graph["ops"][0]["tensors"]["table"]
    wrong = {**tensors, name: tensors[name][:, :5]}
    assert "tensor 'table' has shape (4, 5), expected ('?', 6)" in refused_alike(graph, wrong)
    graph["ops"][0]["attrs"]["output"] = "ints"
    assert "output must be 'bits' or 'float'" in refused_alike(graph, tensors)
    with pytest.raises(ProgramError, match="holds non-finite values"):
        Program(graph, {name: np.full((4, 6), np.inf, np.float32)})
