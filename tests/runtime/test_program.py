"""Saving, loading and running packed programs: validation, torch-free loading, threads."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch

from onebit import OnebitError, models
from onebit.convert import convert
from onebit.runtime import Program, ProgramError, ProgramFileError, load, load_program, save_program


@pytest.fixture(scope="module")
def mlp_program() -> Program:
    torch.manual_seed(0)
    model = models.create("binarynet-mlp", hidden=96, depth=2).eval()
    return convert(model, torch.zeros(1, 1, 28, 28), metadata={"model": "binarynet-mlp"})


@pytest.fixture
def saved(tmp_path, mlp_program) -> tuple:
    path = tmp_path / "model.onebit"
    mlp_program.save(path)
    return path, mlp_program


def inputs(n: int = 8) -> np.ndarray:
    return np.random.default_rng(0).random((n, 1, 28, 28), dtype=np.float32)


def test_save_load_round_trip_gives_identical_outputs(saved):
    path, program = saved
    loaded = load(path)
    np.testing.assert_array_equal(loaded(inputs()), program(inputs()))
    assert loaded.metadata == {"model": "binarynet-mlp"}
    assert loaded.input_shape == (1, 28, 28)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_binary_weights_are_stored_one_bit_each(saved):
    path, program = saved
    packed = [a for a in program.tensors.values() if a.dtype == np.uint64]
    assert packed and all(a.dtype == np.uint64 for a in packed)
    binary_weights = 784 * 96 + 96 * 96 + 96 * 10
    assert sum(a.nbytes for a in packed) <= binary_weights / 8 + 3 * 96 * 8  # row padding only
    assert path.stat().st_size < 4 * binary_weights / 20


def test_the_runtime_loads_and_runs_without_torch(saved, tmp_path):
    path, program = saved
    np.save(tmp_path / "x.npy", inputs())
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # any import of torch now fails
        import numpy as np
        import onebit.runtime as rt
        program = rt.load({str(path)!r})
        np.save({str(tmp_path / "y.npy")!r}, program(np.load({str(tmp_path / "x.npy")!r})))
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), program(inputs()))


def test_one_program_is_safe_to_call_from_several_threads(mlp_program):
    batches = [np.random.default_rng(i).random((5, 1, 28, 28), dtype=np.float32) for i in range(8)]
    expected = [mlp_program(b) for b in batches]
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        for _ in range(5):
            results[i] = mlp_program(batches[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, want in enumerate(expected):
        np.testing.assert_array_equal(results[i], want)


def test_bad_inputs_are_clear_errors(mlp_program):
    with pytest.raises(OnebitError, match=r"shape \(N, 1, 28, 28\)"):
        mlp_program(np.zeros((2, 784), np.float32))
    with pytest.raises(OnebitError, match="real numbers"):
        mlp_program(np.zeros((2, 1, 28, 28), np.complex64))
    assert mlp_program(np.zeros((2, 1, 28, 28), np.uint8)).shape == (2, 10)


# -- files that are not ours, or damaged ------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ProgramFileError, match="not found"):
        load(tmp_path / "none.onebit")


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_truncated_file_is_refused(saved, tmp_path, cut):
    path, _ = saved
    data = path.read_bytes()
    broken = tmp_path / "cut.onebit"
    broken.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ProgramFileError, match="not a readable onebit program"):
        load(broken)


def test_random_bytes_and_foreign_safetensors_are_refused(tmp_path):
    junk = tmp_path / "junk.onebit"
    junk.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(ProgramFileError):
        load(junk)
    from safetensors.numpy import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": np.ones(3, np.float32)}, str(foreign))
    with pytest.raises(ProgramFileError, match="not a onebit program"):
        load(foreign)


def rewrite_graph(path, tmp_path, change) -> object:
    graph, tensors = load_program(path)
    graph = json.loads(json.dumps(graph))
    change(graph, tensors)
    graph.pop("version", None)
    out = tmp_path / "changed.onebit"
    save_program(out, graph, tensors)
    return out


def _set_op(i, **fields):
    def change(graph, tensors):
        graph["ops"][i].update(fields)

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set_op(2, type="teleport"), "unknown op 'teleport'"),
        (_set_op(3, inputs=["v999"]), "before they exist"),
        (_set_op(3, attrs={"k": -4, "epilogue": "bits"}), "k must be an integer"),
        (_set_op(3, attrs={"k": 96, "epilogue": "round"}), "epilogue must be"),
        (lambda g, t: g.__setitem__("output", "nowhere"), "never computed"),
        (lambda g, t: g["input"].__setitem__("shape", [1, -28, 28]), "positive integers"),
        (lambda g, t: t.__setitem__("stray", np.zeros(2, np.float32)), "no op uses"),
        (lambda g, t: t.pop(next(iter(g["ops"][3]["tensors"].values()))), "is missing"),
    ],
    ids=[
        "op-type",
        "undefined-input",
        "bad-k",
        "bad-epilogue",
        "output",
        "shape",
        "stray-tensor",
        "missing-tensor",
    ],
)
def test_inconsistent_graphs_are_refused_at_load(saved, tmp_path, change, message):
    path, _ = saved
    with pytest.raises(ProgramError, match=message):
        load(rewrite_graph(path, tmp_path, change))


def test_wrong_tensor_dtype_and_shape_are_refused(saved, tmp_path):
    path, _ = saved

    def shrink(graph, tensors):
        name = graph["ops"][3]["tensors"]["threshold"]
        tensors[name] = tensors[name][:-1]

    with pytest.raises(ProgramError, match="threshold"):
        load(rewrite_graph(path, tmp_path, shrink))

    def retype(graph, tensors):
        name = graph["ops"][3]["tensors"]["weight"]
        tensors[name] = tensors[name].astype(np.int32)

    with pytest.raises(ProgramError, match="weight"):
        load(rewrite_graph(path, tmp_path, retype))


def test_other_format_versions_and_garbled_json_are_refused(saved, tmp_path):
    path, _ = saved
    data = bytearray(path.read_bytes())
    header_size = struct.unpack("<Q", data[:8])[0]
    header = data[8 : 8 + header_size].decode()
    for old, new in [('\\"version\\": 1', '\\"version\\": 7'), ('\\"ops\\"', '\\"op\\x22')]:
        assert old in header
        changed = header.replace(old, new, 1)
        broken = tmp_path / "broken.onebit"
        broken.write_bytes(bytes(data[:8]) + changed.encode() + bytes(data[8 + header_size :]))
        with pytest.raises(ProgramFileError):
            load(broken)


# -- the thin layer over the C++ executor ----------------------------------------------------


def test_a_loaded_program_shares_the_executors_tensors_read_only(saved):
    path, _ = saved
    program = load(path)
    graph, tensors = load_program(path)
    assert list(program.tensors) == list(tensors) and program.graph == graph
    for name, array in program.tensors.items():
        np.testing.assert_array_equal(array, tensors[name])
        assert not array.flags.writeable
    weights = next(iter(program.tensors.values()))
    expected = weights.copy()
    del program  # the arrays keep the executor's storage alive
    np.testing.assert_array_equal(weights, expected)


def test_the_ops_of_a_program_are_read_from_its_graph(mlp_program):
    ops = mlp_program.ops
    assert [op.type for op in ops] == [spec["type"] for spec in mlp_program.graph["ops"]]
    first = ops[0]
    assert first.inputs == (mlp_program.graph["input"]["name"],)
    assert first.output == mlp_program.graph["ops"][0]["output"]
    assert all(name in mlp_program.tensors for op in ops for name in op.tensors.values())
    assert repr(mlp_program).startswith("Program(input=(1, 28, 28), ops=[")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g, t: g["metadata"].update(step=np.int64(3)), "the program graph is not JSON data"),
        (lambda g, t: g["metadata"].update(scale=float("nan")), "the program graph is not JSON"),
        (lambda g, t: g["metadata"].update(text="\ud800"), "unpaired surrogate"),
        (lambda g, t: t.update({next(iter(t)): [1, 2]}), "is not an array"),
        (lambda g, t: t.update({next(iter(t)): np.zeros(3)}), "has dtype float64; a program"),
        (lambda g, t: t.update({5: np.zeros(3, np.float32)}), "tensor name 5 is not a string"),
    ],
    ids=["numpy-int", "nan", "lone-surrogate", "list", "float64", "int-name"],
)
def test_graphs_and_tensors_the_executor_cannot_take_are_refused_by_name(
    mlp_program, change, message
):
    graph = json.loads(json.dumps(mlp_program.graph))
    tensors = dict(mlp_program.tensors)
    change(graph, tensors)
    with pytest.raises(ProgramError, match=message):
        Program(graph, tensors)


def test_an_install_without_the_extension_says_what_is_missing(monkeypatch, mlp_program):
    from onebit.runtime import program as program_module

    monkeypatch.setattr(program_module, "_native", None)
    with pytest.raises(OnebitError, match="compiled extension"):
        Program(mlp_program.graph, mlp_program.tensors)


def test_the_reference_executor_computes_what_the_executor_does(saved):
    from onebit.runtime.reference_program import load_reference

    path, _ = saved
    np.testing.assert_array_equal(load_reference(path)(inputs()), load(path)(inputs()))


def test_a_program_rebuilt_from_a_loaded_ones_read_only_tensors_agrees(saved):
    path, _ = saved
    loaded = load(path)
    rebuilt = Program(loaded.graph, loaded.tensors)
    np.testing.assert_array_equal(rebuilt(inputs()), loaded(inputs()))
