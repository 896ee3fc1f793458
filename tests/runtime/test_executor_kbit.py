"""The k-bit ops in the C++ executor (csrc/executor/ops_kbit.cpp) against the reference executor
(``onebit.runtime.reference_program``): quantize_pack, kbit_conv2d and kbit_dense, a flatten of
planes, each epilogue and a post tail with a residual add give the same outputs bit for bit at
any batch and thread count and under every SIMD path, the same memory and work figures, and every
refusal the same message."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import numpy as np
import pytest

from onebit.runtime.errors import ProgramFileError
from onebit.runtime.fuzz.seeds import kbit_seed
from onebit.runtime.reference_bitserial import encode_planes
from onebit.runtime.reference_program import ReferenceProgram

native = pytest.importorskip("onebit._native")

LIMITS = {"max_memory": 4 * 2**30, "max_work": 2**36}
UNSIGNED3 = [0, [1, 2, 4]]
ZERO_POINT3 = [-2, [1, 2, 4]]  # codes u - 2: code 2 is the value 0
TWOS3 = [0, [1, 2, -4]]
PM1_2 = [3, [-2, -4]]  # the odd values -3..3 as a sum of +-1 planes
UNSIGNED4 = [0, [1, 2, 4, 8]]


def encodings(inputs: list, weights: list) -> dict:
    return {
        "input_offset": inputs[0],
        "input_plane_weights": inputs[1],
        "weight_offset": weights[0],
        "weight_plane_weights": weights[1],
    }


class Builder:
    """A program under construction: ops named v0, v1, ... and their tensors."""

    def __init__(self, shape: list[int], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.shape = shape
        self.ops: list[dict] = []
        self.tensors: dict[str, np.ndarray] = {}

    def add(self, kind: str, inputs: list[str], attrs: dict, **tensors: np.ndarray) -> str:
        name = f"v{len(self.ops)}"
        roles = {}
        for role, array in tensors.items():
            roles[role] = f"{name}.{role}"
            self.tensors[roles[role]] = array
        self.ops.append(
            {"type": kind, "inputs": inputs, "output": name, "attrs": attrs, "tensors": roles}
        )
        return name

    def planes(self, bits: int, *shape: int) -> np.ndarray:
        """Random codes ``(Cout, ..., C)`` as weight planes ``(Cout, bits, ..., words)``."""
        codes = self.rng.integers(0, 2**bits, shape)
        return np.ascontiguousarray(np.moveaxis(encode_planes(codes, bits), 0, 1))

    def epilogue(self, kind: str, channels: int, k: int) -> dict[str, np.ndarray]:
        if kind == "float":
            scale = (self.rng.standard_normal(channels) / k).astype(np.float32)
            return {"scale": scale, "bias": self.rng.standard_normal(channels).astype(np.float32)}
        if kind == "bits":  # thresholds among the accumulators' typical values (about ±k / 8)
            return {
                "threshold": self.rng.integers(-k // 8, k // 8 + 1, channels).astype(np.int32),
                "flip": self.rng.integers(0, 2, channels).astype(np.uint8),
            }
        return {}

    def graph(self, output: str) -> dict:
        return {"input": {"name": "input", "shape": self.shape}, "output": output, "ops": self.ops}


def layers(last: str, epilogue: str, seed: int = 0) -> tuple[dict, dict]:
    """quantize_pack, two k-bit convolutions (the second with a post tail that adds the first),
    then ``last``: a strided, asymmetrically padded convolution with ``epilogue``, or
    quantize_pack -> flatten of planes -> a dense layer with ``epilogue``."""
    g = Builder([5, 7, 9], seed)
    x = g.add("nchw_to_nhwc", ["input"], {})
    q = g.add("quantize_pack", [x], {"bits": 3, "multiplier": 2.5, "zero_point": 2})
    geometry = {"cin": 5, "stride": [1, 1], "padding": [1, 1], "pad_code": 2}
    a = g.add(
        "kbit_conv2d",
        [q],
        {**encodings(ZERO_POINT3, PM1_2), **geometry, "epilogue": "float"},
        weight=g.planes(2, 24, 3, 3, 5),
        **g.epilogue("float", 24, 135),
    )
    post = [{"step": "affine"}, {"step": "add"}, {"step": "relu"}]
    b = g.add(
        "kbit_conv2d",
        [q, a],
        {**encodings(ZERO_POINT3, TWOS3), **geometry, "epilogue": "float", "post": post},
        weight=g.planes(3, 24, 3, 3, 5),
        post0_scale=g.rng.uniform(0.5, 2, 24).astype(np.float32),
        post0_bias=g.rng.standard_normal(24).astype(np.float32),
        **g.epilogue("float", 24, 135),
    )
    if last == "conv":
        q = g.add("quantize_pack", [b], {"bits": 2, "multiplier": 1.0, "zero_point": 0})
        k = 24 * 2 * 3
        attrs = {"cin": 24, "stride": [2, 2], "padding": [0, 1, 1, 0], "pad_code": 3}
        attrs |= {**encodings([-1, [1, 2]], TWOS3), "epilogue": epilogue}
        if epilogue == "float":
            attrs["post"] = [{"step": "hardtanh", "min": -1.5, "max": 2}]
        y = g.add(
            "kbit_conv2d",
            [q],
            attrs,
            weight=g.planes(3, 70, 2, 3, 24),
            **g.epilogue(epilogue, 70, k),
        )
        return g.graph(y), g.tensors
    q = g.add("quantize_pack", [b], {"bits": 4, "multiplier": 3.0, "zero_point": 0})
    f = g.add("flatten", [q], {})
    k = 7 * 9 * 24
    weight = g.planes(2, 19, 7 * 9, 24).reshape(19, 2, 7 * 9)  # each pixel's word: 24 real bits
    attrs = {**encodings(UNSIGNED4, PM1_2), "k": k, "epilogue": epilogue}
    if epilogue == "float":
        attrs["post"] = [{"step": "prelu"}]
        extra = {"post0_slope": g.rng.uniform(-1, 1, 19).astype(np.float32)}
    else:
        extra = {}
    y = g.add("kbit_dense", [f], attrs, weight=weight, **g.epilogue(epilogue, 19, k), **extra)
    return g.graph(y), g.tensors


def planes_output(seed: int = 0) -> tuple[dict, dict]:
    """A program whose output is planes: quantize_pack of a 70-channel map, flattened."""
    g = Builder([70, 3, 5], seed)
    x = g.add("nchw_to_nhwc", ["input"], {})
    q = g.add("quantize_pack", [x], {"bits": 5, "multiplier": 7.0, "zero_point": -3})
    return g.graph(g.add("flatten", [q], {})), g.tensors


def programs(graph: dict, tensors: dict, **limits) -> tuple[ReferenceProgram, object]:
    limits = {**LIMITS, **limits}
    python = ReferenceProgram(graph, tensors, **limits)
    cpp = native.Program(json.dumps(graph), dict(tensors), list(tensors), *limits.values())
    return python, cpp


def assert_same_run(python, cpp, batch: int, threads: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(-3, 3, (batch, *python.input_shape))
    x = x.astype(np.float32)
    want, got = python(x), cpp.run(x, threads=threads)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    return got


GRAPHS: dict[str, Callable[[], tuple[dict, dict]]] = {
    "kbit_seed": kbit_seed,
    "planes-output": planes_output,
    **{
        f"{last}-{epilogue}": (lambda last=last, epilogue=epilogue: layers(last, epilogue))
        for last in ("conv", "dense")
        for epilogue in ("float", "bits", "int")
    },
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("batch", [1, 3, 17])
@pytest.mark.parametrize("threads", [1, 2])
def test_programs_run_bit_for_bit_as_the_reference_executor(name: str, batch: int, threads: int):
    python, cpp = programs(*GRAPHS[name]())
    got = assert_same_run(python, cpp, batch, threads, seed=batch)
    if got.dtype == np.float32:
        assert np.isfinite(got).all() and got.std() > 0


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_memory_and_work_are_the_reference_executors(name: str) -> None:
    python, cpp = programs(*GRAPHS[name]())
    assert (cpp.peak_bytes, cpp.work) == (python.peak_bytes, python.work)
    assert cpp.memory_needed(5) == python.memory_needed(5)
    assert cpp.output_shape == python.output_shape
    assert np.dtype(cpp.output_dtype) == python.output_dtype


@pytest.mark.parametrize("name", ["kbit_seed", "conv-bits", "dense-float"])
@pytest.mark.parametrize("limit", ["max_memory", "max_work"])
def test_limits_one_below_the_need_are_refused_alike(name: str, limit: str) -> None:
    graph, tensors = GRAPHS[name]()
    python, _ = programs(graph, tensors)
    need = python.memory_needed(1) if limit == "max_memory" else python.work
    assert_same_verdict(graph, tensors, "above the limit", **{limit: need - 1})
    programs(graph, tensors, **{limit: need})  # exactly the need loads


@pytest.fixture
def restore_best_path():
    yield
    native.set_simd_path(None)


@pytest.mark.parametrize("path", native.simd_paths(), ids=lambda p: f"simd-{p}")
@pytest.mark.parametrize("name", ["kbit_seed", "conv-float", "dense-bits"])
def test_every_simd_path_runs_the_programs_alike(name: str, path: str, restore_best_path):
    python, cpp = programs(*GRAPHS[name]())
    x = np.random.default_rng(5).uniform(-3, 3, (3, *python.input_shape)).astype(np.float32)
    want = python(x)  # on the best path
    native.set_simd_path(path)
    assert native.default_simd_path() == path
    for threads in (1, 2):
        np.testing.assert_array_equal(cpp.run(x, threads=threads), want)


# --- refusals: the same message from both -----------------------------------------------------


def outcome(build):
    try:
        build()
    except ProgramFileError as error:  # a ProgramError is one
        return "refused", str(error)
    return "ok", ""


def assert_same_verdict(graph: dict, tensors: dict, fragment: str, **limits) -> None:
    limits = {**LIMITS, **limits}
    python = outcome(lambda: ReferenceProgram(graph, tensors, **limits))
    text = json.dumps(graph)
    cpp = outcome(lambda: native.Program(text, dict(tensors), list(tensors), *limits.values()))
    assert python[0] == "refused", f"the reference executor loads it ({fragment})"
    assert cpp == python
    assert fragment in python[1], python[1]


def attrs_of(graph: dict, output: str) -> dict:
    return next(op for op in graph["ops"] if op["output"] == output)["attrs"]


def set_attr(output: str, key: str, value) -> Callable:
    def mutate(graph: dict, tensors: dict) -> None:
        attrs_of(graph, output)[key] = value

    return mutate


def set_attrs(output: str, **values) -> Callable:
    def mutate(graph: dict, tensors: dict) -> None:
        attrs_of(graph, output).update(values)

    return mutate


def del_attr(output: str, key: str) -> Callable:
    def mutate(graph: dict, tensors: dict) -> None:
        del attrs_of(graph, output)[key]

    return mutate


def set_bit(name: str, index: tuple, bit: int) -> Callable:
    def mutate(graph: dict, tensors: dict) -> None:
        tensors[name] = tensors[name].copy()
        tensors[name][index] |= np.uint64(1) << np.uint64(bit)

    return mutate


def retype_input(output: str, source: str) -> Callable:
    def mutate(graph: dict, tensors: dict) -> None:
        next(op for op in graph["ops"] if op["output"] == output)["inputs"][0] = source

    return mutate


def reshape_weight(name: str, shape: tuple) -> Callable:
    def mutate(graph: dict, tensors: dict) -> None:
        tensors[name] = np.ascontiguousarray(np.resize(tensors[name], shape))

    return mutate


def binary_dense_on_planes(graph: dict, tensors: dict) -> None:
    f = next(op for op in graph["ops"] if op["type"] == "flatten")["output"]
    tensors["bd.weight"] = np.zeros((3, 63), np.uint64)
    graph["ops"].append(
        {
            "type": "binary_dense",
            "inputs": [f],
            "output": "bd",
            "attrs": {"k": 1512, "epilogue": "int"},
            "tensors": {"weight": "bd.weight"},
        }
    )
    graph["output"] = "bd"


# (base graph, mutation, a fragment of the message); v1 quantize_pack, v2 and v3 the first
# convolutions, v5 the last convolution (conv graphs) or v6 the dense layer (dense graphs)
REFUSALS = {
    "bits-zero": ("conv", set_attr("v1", "bits", 0), "bits must be an integer >= 1"),
    "bits-nine": ("conv", set_attr("v1", "bits", 9), "bits must be 1 to 8"),
    "bits-float": ("conv", set_attr("v1", "bits", 3.0), "bits must be an integer"),
    "multiplier-huge": ("conv", set_attr("v1", "multiplier", 1e39), "multiplier must be"),
    "multiplier-missing": ("conv", del_attr("v1", "multiplier"), "multiplier must be"),
    "zero-point-too-large": ("conv", set_attr("v1", "zero_point", 9), "within ±2^bits (8)"),
    "zero-point-too-small": ("conv", set_attr("v1", "zero_point", -9), "within ±2^bits (8)"),
    "zero-point-bool": ("conv", set_attr("v1", "zero_point", True), "zero_point must be"),
    "zero-point-float": ("conv", set_attr("v1", "zero_point", 2.0), "zero_point must be"),
    "zero-point-huge": ("conv", set_attr("v1", "zero_point", 2**70), "zero_point must be"),
    "encoding-nine-weights": (
        "conv",
        set_attr("v2", "input_plane_weights", [1] * 9),
        "input_offset and input_plane_weights must be integers within ±2^16, with 1 to 8",
    ),
    "encoding-no-weights": ("conv", set_attr("v2", "weight_plane_weights", []), "weight_offset"),
    "encoding-too-large": ("conv", set_attr("v2", "weight_offset", 2**16 + 1), "weight_offset"),
    "encoding-float": ("conv", set_attr("v2", "weight_plane_weights", [1.0, 2]), "weight_off"),
    "encoding-bool": ("dense-int", set_attr("v6", "input_offset", False), "input_offset"),
    "encoding-huge": ("dense-int", set_attr("v6", "input_offset", 2**70), "input_offset"),
    "encoding-missing": ("conv", del_attr("v3", "input_offset"), "input_offset"),
    "encoding-not-a-list": ("conv", set_attr("v3", "input_plane_weights", 1), "input_offset"),
    "pad-code-too-large": ("conv", set_attr("v2", "pad_code", 8), "pad_code 8 is not a 3-bit"),
    "pad-code-negative": ("conv", set_attr("v2", "pad_code", -1), "pad_code must be an integer"),
    "planes-mismatch": (
        "conv",
        set_attr("v2", "input_plane_weights", [1, 2]),
        "input_plane_weights has 2 entries but the input has 3 planes",
    ),
    "dense-planes-mismatch": (
        "dense-int",
        set_attr("v6", "input_plane_weights", [1, 2, 4]),
        "input_plane_weights has 3 entries but the input has 4 planes",
    ),
    "weight-planes-mismatch": (
        "conv",
        set_attr("v2", "weight_plane_weights", [1, 2, 4]),
        "tensor 'weight' has shape (24, 2, 3, 3, 1), expected ('?', 3, '?', '?', 1)",
    ),
    "weight-padding-bits": (
        "conv",
        set_bit("v2.weight", (3, 1, 2, 0, 0), 5),
        "has bits set beyond its 5 channels",
    ),
    "dense-weight-padding-bits": (
        "dense-int",
        set_bit("v6.weight", (4, 0, 17), 30),
        "has bits set beyond its 24 channels per pixel",
    ),
    "bound": (
        "conv",
        set_attrs("v2", input_plane_weights=[2**16] * 3, weight_plane_weights=[2**16] * 2),
        "a sum over 45 products of these encodings can reach 1159655915250, past int32",
    ),
    "dense-bound": (
        "dense-int",
        set_attrs("v6", input_plane_weights=[2**16] * 4, weight_offset=2**16),
        "past int32",
    ),
    "conv-on-floats": ("conv", retype_input("v2", "v0"), "must be a 4-axis planes value"),
    "dense-on-a-map": ("dense-int", retype_input("v6", "v4"), "must be a 2-axis planes value"),
    "dense-on-floats": ("dense-int", retype_input("v6", "v3"), "got float (7, 9, 24)"),
    "quantize-on-planes": ("conv", retype_input("v4", "v1"), "its input must be a float value"),
    "binary-dense-on-planes": ("dense-int", binary_dense_on_planes, "got planes (4, 63)"),
    "k-mismatch": ("dense-int", set_attr("v6", "k", 1511), "k=1511 and the weight's 63 words"),
    "cin-mismatch": ("conv", set_attr("v2", "cin", 6), "cin=6 does not match the input's 5"),
    "kernel-too-large": (
        "conv",
        reshape_weight("v2.weight", (24, 2, 10, 3, 1)),
        "kernel 10 exceeds the padded side 9",
    ),
    "epilogue-sign": ("conv", set_attr("v5", "epilogue", "sign"), "epilogue must be 'float'"),
    "post-on-bits": ("conv-bits", set_attr("v5", "post", [{"step": "relu"}]), "a post tail"),
    "stride-zero": ("conv", set_attr("v5", "stride", [0, 1]), "stride must be two integers"),
    "padding-three": ("conv", set_attr("v5", "padding", [1, 1, 1]), "padding must be two"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_have_the_reference_executors_message(name: str) -> None:
    base, mutate, fragment = REFUSALS[name]
    last, _, epilogue = base.partition("-")
    graph, tensors = layers(last, epilogue or "float")
    graph, tensors = copy.deepcopy(graph), dict(tensors)
    mutate(graph, tensors)
    assert_same_verdict(graph, tensors, fragment)


@pytest.mark.parametrize("offset", [-(2**16), 2**16])
def test_encodings_at_the_limit_load_and_run_alike(offset: int) -> None:
    graph, tensors = layers("conv", "int")
    attrs_of(graph, "v2")["weight_offset"] = offset
    python, cpp = programs(graph, tensors)
    for threads in (1, 2):
        assert_same_run(python, cpp, 3, threads)
