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
