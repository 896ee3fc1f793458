"""DyBNN's dynamic ops in the C++ executor (csrc/executor/ops_dynamic.cpp) against the reference
executor (``onebit.runtime.reference_program``) and their NumPy references
(``onebit.runtime.reference_dynamic``): ``dynamic_sign_pack`` and ``dynamic_prelu`` give the same
outputs bit for bit at any batch and thread count, the same memory and work figures, every refusal
the same message; the references equal the float32 arithmetic they stand for."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_executor import assert_same_verdicts  # tests/runtime is on the path

from onebit.runtime.errors import ProgramFileError
from onebit.runtime.fuzz.seeds import assemble, dynamic_seed, graph_text
from onebit.runtime.reference import bitpack, unpack
from onebit.runtime.reference_dynamic import dynamic_prelu, dynamic_sign_pack
from onebit.runtime.reference_program import ReferenceProgram

native = pytest.importorskip("onebit._native")

LIMITS = {"max_memory": 4 * 2**30, "max_work": 2**36}


class Builder:
    """A program under construction: ops named v0, v1, ... and their tensors."""

    def __init__(self, shape: list[int], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.shape = shape
        self.ops: list[dict] = []
        self.tensors: dict[str, np.ndarray] = {}

    def add(self, kind: str, inputs: list[str], attrs: dict | None = None, **tensors) -> str:
        name = f"v{len(self.ops)}"
        roles = {}
        for role, array in tensors.items():
            roles[role] = f"{name}.{role}"
            self.tensors[roles[role]] = array
        self.ops.append(
            {"type": kind, "inputs": inputs, "output": name, "attrs": attrs or {}, "tensors": roles}
        )
        return name

    def floats(self, *shape: int, scale: float = 0.5) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def dense(self, x: str, features: int, outputs: int, relu: bool = False) -> str:
        attrs = {"in_features": features, "out_features": outputs, "epilogue": "affine"}
        if relu:
            attrs["post"] = [{"step": "relu"}]
        return self.add(
            "dense",
            [x],
            attrs,
            weight=self.floats(outputs, features),
            scale=np.ones(outputs, np.float32),
            bias=self.floats(outputs),
        )

    def graph(self, output: str) -> dict:
        return {"input": {"name": "input", "shape": self.shape}, "output": output, "ops": self.ops}


def on_a_vector(channels: int = 64) -> tuple[dict, dict]:
    """The input (a vector) signed against thresholds it computes, read by a binary dense
    layer; and its PReLU with per-sample shifts beside it."""
    g = Builder([channels], 1)
    t = g.dense("input", channels, channels)
    b = g.add("dynamic_sign_pack", ["input", t])
    y = g.add(
        "binary_dense",
        [b],
        {"k": channels, "epilogue": "float"},
        weight=bitpack(g.floats(7, channels)),
        scale=np.full(7, 1 / channels, np.float32),
        bias=g.floats(7),
    )
    v = g.dense("input", channels, 14)
    z = g.add("dynamic_prelu", [y, v], slope=g.floats(7))
    return g.graph(z), g.tensors


def bits_out(channels: int = 65) -> tuple[dict, dict]:
    """A program whose output is the packed bits of a dynamic sign (two words, one bit used in
    the second), with thresholds from a hyper function."""
    g = Builder([channels, 3, 4], 2)
    x = g.add("nchw_to_nhwc", ["input"])
    m = g.add("global_avgpool", [x])
    h = g.dense(m, channels, 8, relu=True)
    t = g.dense(h, 8, channels)
    return g.graph(g.add("dynamic_sign_pack", [x, t])), g.tensors


def one_channel() -> tuple[dict, dict]:
    """One channel: a dynamic PReLU of the input map with shifts from its mean, then the
    dynamic sign of that."""
    g = Builder([1, 7, 5], 3)
    x = g.add("nchw_to_nhwc", ["input"])
    m = g.add("global_avgpool", [x])
    v = g.dense(m, 1, 2)
    z = g.add("dynamic_prelu", [x, v], slope=np.array([-0.5], np.float32))
    t = g.dense(g.add("global_avgpool", [z]), 1, 1)
    return g.graph(g.add("dynamic_sign_pack", [z, t])), g.tensors


GRAPHS: dict[str, Callable[[], tuple[dict, dict]]] = {
    "dynamic_seed": dynamic_seed,
    "on-a-vector": on_a_vector,
    "bits-out": bits_out,
    "one-channel": one_channel,
}


def programs(graph: dict, tensors: dict, **limits) -> tuple[ReferenceProgram, object]:
    limits = {**LIMITS, **limits}
    python = ReferenceProgram(graph, tensors, **limits)
    cpp = native.Program(json.dumps(graph), dict(tensors), list(tensors), *limits.values())
    return python, cpp


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("batch", [1, 3, 17])
@pytest.mark.parametrize("threads", [1, 2])
def test_programs_run_bit_for_bit_as_the_reference_executor(name: str, batch: int, threads: int):
    python, cpp = programs(*GRAPHS[name]())
    x = np.random.default_rng(batch).uniform(-3, 3, (batch, *python.input_shape))
    x = x.astype(np.float32)
    want, got = python(x), cpp.run(x, threads=threads)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    if got.dtype == np.float32:
        assert np.isfinite(got).all() and got.std() > 0
    else:  # both signs occur: the thresholds are not all above or below the map
        signs = unpack(got, python.values[python.output_name].channels)
        assert (signs == 1).any() and (signs == -1).any()


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_memory_and_work_are_the_reference_executors(name: str) -> None:
    python, cpp = programs(*GRAPHS[name]())
    assert (cpp.peak_bytes, cpp.work) == (python.peak_bytes, python.work)
    assert cpp.memory_needed(5) == python.memory_needed(5)
    assert cpp.output_shape == python.output_shape
    assert np.dtype(cpp.output_dtype) == python.output_dtype


def test_a_large_batch_splits_across_threads_alike() -> None:
    python, cpp = programs(*bits_out(130))
    x = np.random.default_rng(9).standard_normal((64, *python.input_shape)).astype(np.float32)
    want = python(x)
    for threads in (1, 2, 7):
        np.testing.assert_array_equal(cpp.run(x, threads=threads), want)


# --- the references ---------------------------------------------------------------------------


def near_ties(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Maps and per-sample thresholds where many values equal their threshold or lie one ulp
    from it, with signed zeros, subnormals and large magnitudes among them."""
    n, *_, c = shape
    t = rng.choice(
        np.array([0.0, -0.0, 1e-45, -1e-45, 1e-38, 3.0, -7.5, 1e30, -1e30], np.float32), (n, c)
    )
    tb = np.broadcast_to(t.reshape(n, *([1] * (len(shape) - 2)), c), shape)
    kind = rng.integers(0, 5, shape)
    x = np.where(kind == 0, tb, rng.standard_normal(shape).astype(np.float32))
    x = np.where(kind == 1, np.nextafter(tb, np.float32(np.inf)), x)
    x = np.where(kind == 2, np.nextafter(tb, np.float32(-np.inf)), x)
    x = np.where(kind == 3, -tb, x)
    return x.astype(np.float32), t


@pytest.mark.parametrize("shape", [(3, 70), (2, 5, 4, 64), (1, 3, 3, 1), (4, 2, 129)], ids=str)
@pytest.mark.parametrize("seed", [0, 1])
def test_the_sign_of_the_rounded_difference_is_the_comparison(shape, seed) -> None:
    """``sign(x - t)`` in float32 (the model's computation) is ``x >= t`` (the op's): exact ties,
    one ulp either side, signed zeros and subnormals included."""
    x, t = near_ties(np.random.default_rng(seed), shape)
    tb = t.reshape(len(x), *([1] * (x.ndim - 2)), shape[-1])
    with np.errstate(over="ignore"):
        difference = x - tb  # float32, one rounding
    np.testing.assert_array_equal(dynamic_sign_pack(x, t), bitpack(difference))
    model = torch.from_numpy(x) - torch.from_numpy(np.ascontiguousarray(tb))
    np.testing.assert_array_equal(dynamic_sign_pack(x, t), bitpack(model.numpy()))


def test_nan_packs_as_minus_one_as_bitpack_does() -> None:
    x = np.array([[np.nan, 1.0, -1.0]], np.float32)
    t = np.array([[0.0, np.nan, 2.0]], np.float32)
    assert dynamic_sign_pack(x, t)[0, 0] == 0b111


@pytest.mark.parametrize("seed", [0, 1])
def test_dynamic_prelu_is_torchs_shifted_prelu_in_float32(seed) -> None:
    rng = np.random.default_rng(seed)
    n, c = 3, 70
    x = rng.standard_normal((n, 4, 5, c)).astype(np.float32)
    shifts = rng.standard_normal((n, 2 * c)).astype(np.float32)
    slope = rng.uniform(-1, 1, c).astype(np.float32)
    x[:, 0, 0] = shifts[:, :c]  # exactly on the shift: prelu(0)
    got = dynamic_prelu(x, shifts, slope)
    gamma = torch.from_numpy(shifts[:, :c])[:, None, None]
    zeta = torch.from_numpy(shifts[:, c:])[:, None, None]
    want = F.prelu((torch.from_numpy(x) - gamma).permute(0, 3, 1, 2), torch.from_numpy(slope))
    want = want.permute(0, 2, 3, 1) + zeta
    np.testing.assert_array_equal(got, want.numpy())


def zeros(*shape: int, dtype=np.float32) -> np.ndarray:
    return np.zeros(shape, dtype)


REFERENCE_REFUSALS = {
    "threshold-width": (lambda: dynamic_sign_pack(zeros(2, 3), zeros(2, 4)), "(N, 3)"),
    "threshold-batch": (lambda: dynamic_sign_pack(zeros(2, 3), zeros(1, 3)), "(N, 3)"),
    "shifts-width": (lambda: dynamic_prelu(zeros(2, 3), zeros(2, 3), zeros(3)), "(N, 6)"),
    "slope": (lambda: dynamic_prelu(zeros(2, 3), zeros(2, 6), zeros(2)), "slope must be"),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_REFUSALS))
def test_the_references_refuse_mismatched_shapes(name: str) -> None:
    call, message = REFERENCE_REFUSALS[name]
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_the_references_refuse_other_dtypes() -> None:
    with pytest.raises(TypeError, match="float32"):
        dynamic_sign_pack(zeros(2, 3, dtype=np.float64), zeros(2, 3))


# --- refusals: the same message from both -----------------------------------------------------


def outcome(build):
    try:
        build()
    except ProgramFileError as error:  # a ProgramError is one
        return "refused", str(error)
    return "ok", ""


def assert_same_verdict(graph: dict, tensors: dict, fragment: str) -> None:
    python = outcome(lambda: ReferenceProgram(graph, tensors, **LIMITS))
    text = json.dumps(graph)
    cpp = outcome(lambda: native.Program(text, dict(tensors), list(tensors), *LIMITS.values()))
    assert python[0] == "refused", f"the reference executor loads it ({fragment})"
    assert cpp == python
    assert fragment in python[1], python[1]


def op_of(graph: dict, kind: str) -> dict:
    return next(op for op in graph["ops"] if op["type"] == kind)


def set_inputs(kind: str, pick: Callable[[list[str]], list[str]]) -> Callable:
    def mutate(graph: dict, tensors: dict) -> None:
        op = op_of(graph, kind)
        op["inputs"] = pick(op["inputs"])

    return mutate


def set_slope(values: np.ndarray) -> Callable:
    def mutate(graph: dict, tensors: dict) -> None:
        tensors[op_of(graph, "dynamic_prelu")["tensors"]["slope"]] = values

    return mutate


def drop_slope(graph: dict, tensors: dict) -> None:
    del tensors[op_of(graph, "dynamic_prelu")["tensors"].pop("slope")]


def extra_role(graph: dict, tensors: dict) -> None:
    tensors["extra"] = np.zeros(70, np.float32)
    op_of(graph, "dynamic_sign_pack")["tensors"]["threshold"] = "extra"


# dynamic_seed: v0 nchw_to_nhwc (5, 6, 70); v1 global_avgpool (70,); v2 dense (8,); v3 dense
# (70,): the thresholds; v4 dynamic_sign_pack; v5 binary_conv2d (5, 6, 9); v6-v8 its hyper
# function (v7 dense (8,)), v8 the shifts (18,); v9 dynamic_prelu; v10 flatten
def sign_inputs(pick: Callable[[list[str]], list[str]]) -> Callable:
    return set_inputs("dynamic_sign_pack", pick)


def prelu_inputs(pick: Callable[[list[str]], list[str]]) -> Callable:
    return set_inputs("dynamic_prelu", pick)


REFUSALS = {
    "threshold-count": (sign_inputs(lambda i: [i[0], "v2"]), "8 thresholds for 70 channels"),
    "threshold-a-map": (
        sign_inputs(lambda i: [i[0], i[0]]),
        "its threshold must be a 1-axis float value per sample, got float (5, 6, 70)",
    ),
    "sign-one-input": (sign_inputs(lambda i: i[:1]), "takes 2 input(s)"),
    "prelu-of-bits": (
        prelu_inputs(lambda i: ["v4", i[1]]),
        "its input must be a float value per sample, got bits (5, 6, 2)",
    ),
    "prelu-three-inputs": (prelu_inputs(lambda i: [*i, i[1]]), "takes 2 input(s)"),
    "shifts-count": (
        prelu_inputs(lambda i: [i[0], "v7"]),
        "8 shifts for 9 channels (it takes gamma and zeta: 18)",
    ),
    "shifts-a-map": (prelu_inputs(lambda i: [i[0], i[0]]), "its shifts must be a 1-axis float"),
    "shifts-bits": (prelu_inputs(lambda i: [i[0], "v4"]), "shifts must be a 1-axis float value"),
    "slope-count": (set_slope(np.zeros(8, np.float32)), "8 slopes for 9 channels"),
    "slope-a-matrix": (
        set_slope(np.zeros((9, 1), np.float32)),
        "tensor 'slope' has shape (9, 1), expected ('?',)",
    ),
    "slope-int": (set_slope(np.zeros(9, np.int32)), "tensor 'slope' must be float32"),
    "slope-missing": (drop_slope, "tensor 'slope' is missing"),
    "slope-too-large": (set_slope(np.full(9, 1e29, np.float32)), "its outputs can reach"),
    "unread-tensor": (extra_role, "it has no tensor role 'threshold'"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_have_the_reference_executors_message(name: str) -> None:
    mutate, fragment = REFUSALS[name]
    graph, tensors = dynamic_seed()
    graph, tensors = copy.deepcopy(graph), dict(tensors)
    mutate(graph, tensors)
    assert_same_verdict(graph, tensors, fragment)


def test_mutated_dynamic_files_get_the_same_verdicts() -> None:
    """The fuzzer's mutations of the dynamic seed alone: the same verdict, message and output."""
    from onebit.runtime.fuzz.mutations import Mutator

    graph, tensors = dynamic_seed()
    mutator = Mutator({"dynamic": assemble(graph_text(graph), tensors)}, seed=11)
    assert_same_verdicts(mutator, range(400))
