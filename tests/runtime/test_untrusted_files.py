"""A ``.onebit`` file is untrusted input: every class of bad file found by fuzzing (issue #10) is
refused at load with a one-line ProgramFileError / ProgramError naming the op and field."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from onebit import OnebitError
from onebit.runtime import (
    Program,
    ProgramError,
    ProgramFileError,
    load,
    load_program,
    save_program,
)
from onebit.runtime.fuzz import assemble, cnn_seed, mlp_seed, packed_seed
from onebit.runtime.ops.pool import AvgPool2d

SEEDS = {"mlp": mlp_seed, "cnn": cnn_seed, "packed": packed_seed}


def op_of(graph: dict, kind: str, nth: int = 0) -> dict:
    return [op for op in graph["ops"] if op["type"] == kind][nth]


def saved(tmp_path, graph: dict, tensors: dict, name: str = "p.onebit"):
    path = tmp_path / name
    save_program(path, {k: v for k, v in graph.items() if k != "version"}, tensors)
    return path


def refused(tmp_path, graph, tensors, match: str, error=ProgramError, **limits) -> str:
    with pytest.raises(error, match=match) as caught:
        load(saved(tmp_path, graph, tensors), **limits)
    message = str(caught.value)
    assert "\n" not in message
    return message


def x_for(program: Program, n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (n, *program.input_shape)).astype(np.float32)


# -- segfaults and hangs: sizes are checked at load --------------------------------------------


@pytest.mark.parametrize("padding", [[1073741820, 1073741820], [2**31 - 1, 0], [2**32, 1]])
def test_pool_padding_that_makes_huge_sides_is_refused(tmp_path, padding):
    graph, tensors = cnn_seed()
    op_of(graph, "maxpool2d")["attrs"].update(padding=padding, kernel=[2**31 - 1, 2**31 - 1])
    refused(tmp_path, graph, tensors, r"'v3' \(maxpool2d\)")


@pytest.mark.parametrize(
    "padding", [[4294967293] * 4, [2**31 - 2] * 4, [2**30, 2**30, 0, 0], [2**33, 0]]
)
def test_float_conv_padding_that_wraps_sizes_is_refused(tmp_path, padding):
    graph, tensors = cnn_seed()
    op_of(graph, "conv2d")["attrs"]["padding"] = padding
    message = refused(tmp_path, graph, tensors, r"'v1' \(conv2d\)")
    assert "2^31" in message


def test_depthwise_padding_that_passes_the_memory_limit_is_refused(tmp_path):
    graph, tensors = cnn_seed()
    op_of(graph, "conv2d", 1)["attrs"]["padding"] = [5000, 5000, 5000, 5000]
    refused(tmp_path, graph, tensors, "bytes at batch 1, above the limit")
    limits = {"max_memory": 2**40, "max_work": 2**30}
    refused(tmp_path, graph, tensors, "operations per sample", **limits)


def test_a_huge_average_pool_kernel_is_refused_not_looped_over(tmp_path):
    graph, tensors = cnn_seed()
    op_of(graph, "avgpool2d")["attrs"]["kernel"] = [65536, 65536]
    refused(tmp_path, graph, tensors, r"\(avgpool2d\): kernel 65536 exceeds the padded side 8")


def test_the_work_limit_refuses_programs_that_would_run_for_hours(tmp_path):
    graph, tensors = cnn_seed()
    graph["input"]["shape"] = [3, 1000, 1000]
    op_of(graph, "maxpool2d")["attrs"].update(kernel=[400, 400], padding=[0, 0])
    message = refused(tmp_path, graph, tensors, "operations per sample, above the limit")
    assert "ONEBIT_MAX_WORK" in message


def test_a_large_average_pool_uses_prefix_sums_with_the_same_result():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (2, 13, 11, 3)).astype(np.float32)
    spec = {"type": "avgpool2d", "inputs": ["x"], "output": "y", "attrs": {}}
    for kernel, stride, padding in [((9, 8), (1, 2), (1, 4)), ((13, 11), (1, 1), (0, 0))]:
        attrs = {"kernel": list(kernel), "stride": list(stride), "padding": list(padding)}
        pool = AvgPool2d({**spec, "attrs": attrs}, {})
        assert kernel[0] * kernel[1] > AvgPool2d.MAX_TAPS
        padded = np.pad(x, [(0, 0), (padding[0],) * 2, (padding[1],) * 2, (0, 0)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=(1, 2))
        expected = windows[:, :: stride[0], :: stride[1]].mean(axis=(-2, -1), dtype=np.float64)
        np.testing.assert_allclose(pool(x), expected, rtol=1e-6, atol=1e-6)


# -- silent garbage: refused, not computed --------------------------------------------------------


def test_an_input_shape_too_small_for_the_pools_is_refused(tmp_path):
    graph, tensors = cnn_seed()
    graph["input"]["shape"] = [3, 2, 2]
    refused(tmp_path, graph, tensors, "exceeds the padded side")


def test_a_binary_conv_stride_that_empties_the_map_is_caught_by_the_next_op(tmp_path):
    graph, tensors = cnn_seed()
    op_of(graph, "binary_conv2d", 1)["attrs"]["stride"] = [65, 65]
    refused(tmp_path, graph, tensors, "residual of shape")  # (1, 1) output, (3, 3) residual


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_non_finite_float_parameters_are_refused(tmp_path, value):
    graph, tensors = mlp_seed()
    name = op_of(graph, "affine")["tensors"]["bias"]
    tensors[name] = tensors[name].copy()
    tensors[name][3] = value
    refused(tmp_path, graph, tensors, f"tensor '{name}' holds non-finite values")


@pytest.mark.parametrize("value", [3.4e38, -3.4e38, 1e31])
def test_parameters_that_overflow_float32_are_refused(tmp_path, value):
    graph, tensors = mlp_seed()
    name = op_of(graph, "affine")["tensors"]["scale"]
    tensors[name] = np.full_like(tensors[name], value)
    refused(tmp_path, graph, tensors, r"\(affine\): its outputs can reach .*above 1e\+30")


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [
        (-(10**400), 1.0, "min must be a finite number within float32"),
        (-1e300, 1.0, "min must be a finite number within float32"),
        (-3e38, -3e38, "its outputs can reach"),
    ],
    ids=["400-digit-integer", "-1e300", "-3e38"],
)
def test_hardtanh_limits_beyond_the_value_limit_are_refused(tmp_path, low, high, message):
    graph, tensors = mlp_seed()
    op_of(graph, "hardtanh")["attrs"].update(min=low, max=high)
    refused(tmp_path, graph, tensors, rf"\(hardtanh\): {message}")


@pytest.mark.parametrize("k", [1, 63, 65])
def test_binary_dense_k_must_equal_the_real_channel_count(tmp_path, k):
    graph, tensors = mlp_seed()
    op_of(graph, "binary_dense")["attrs"]["k"] = k
    message = "exceeds the weight's words" if k > 64 else "must match the input's 64 bits"
    refused(tmp_path, graph, tensors, rf"k={k} .*{message}")


def test_flipped_payload_bytes_fail_the_checksum(tmp_path):
    graph, tensors = mlp_seed()
    path = saved(tmp_path, graph, tensors)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ProgramFileError, match="does not match its checksum"):
        load(path)


def test_an_edited_graph_fails_the_checksum(tmp_path):
    graph, tensors = mlp_seed()
    data = saved(tmp_path, graph, tensors).read_bytes()
    assert data.count(b'\\"min\\": -1.5') == 1
    path = tmp_path / "edited.onebit"
    path.write_bytes(data.replace(b'\\"min\\": -1.5', b'\\"min\\": -2.5'))
    with pytest.raises(ProgramFileError, match="graph or tensor data does not match"):
        load(path)


def test_a_file_without_a_checksum_is_refused(tmp_path):
    graph, tensors = mlp_seed()
    data = assemble(json.dumps({"version": 1, **graph}), tensors, digest="")
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    del header["__metadata__"]["onebit.sha256"]
    raw = json.dumps(header).encode()
    path = tmp_path / "old.onebit"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + size :])
    with pytest.raises(ProgramFileError, match="has no checksum"):
        load(path)


# -- wrong error types: every problem is one of the two errors ----------------------------------


def _graph_change(change):
    def apply(graph, tensors):
        change(graph)
        return assemble(json.dumps(graph), tensors)

    return apply


def _text_change(old, new):
    def apply(graph, tensors):
        return assemble(json.dumps(graph).replace(old, new, 1), tensors)

    return apply


def _header_dtype(dtype):
    def apply(graph, tensors):
        data = assemble(json.dumps(graph), tensors)
        size = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8 : 8 + size])
        name = sorted(k for k in header if k != "__metadata__")[0]
        header[name]["dtype"] = dtype
        raw = json.dumps(header).encode()
        return struct.pack("<Q", len(raw)) + raw + data[8 + size :]

    return apply


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_graph_change(lambda g: g.__setitem__("metadata", 5)), "metadata must be an object"),
        (_graph_change(lambda g: g["ops"][2].__setitem__("tensors", 1)), "tensors must map"),
        (_graph_change(lambda g: g["ops"][2].__setitem__("inputs", [["v1"]])), "value names"),
        (_graph_change(lambda g: g.__setitem__("output", ["v1"])), "never computed"),
        (_graph_change(lambda g: g["ops"][1].__setitem__("output", {"a": 1})), "output name"),
        (_graph_change(lambda g: g["ops"][2].__setitem__("attrs", [])), "must be objects"),
        (_graph_change(lambda g: g["ops"][2]["attrs"].__setitem__("k", 64.0)), "k must be"),
        (_graph_change(lambda g: g["ops"][2]["attrs"].__setitem__("k", True)), "k must be"),
        (_graph_change(lambda g: g["input"].__setitem__("shape", [1, 2**40, 1])), "positive"),
        (_graph_change(lambda g: g["input"].__setitem__("shape", [1] * 65)), "1 to 8"),
        (_graph_change(lambda g: g["ops"][2]["tensors"].__setitem__("x", "op2.flip")), "role"),
        (_header_dtype("BF16"), "dtype 'BF16'"),
        (_header_dtype("F8_E4M3"), "dtype 'F8_E4M3'"),
        (_header_dtype("I64"), "dtype 'I64'"),
        (_text_change('"k": 64', '"k": ' + "[" * 5000 + "]" * 5000), "deeper than 64"),
        (_text_change('"k": 64', '"k": ' + "9" * 5000), "not valid JSON"),
        (_text_change('"min": -1.5', '"min": NaN'), "not valid JSON"),
        (_text_change('"output": "v1"', '"output": "v\\ud800"'), "unpaired surrogate"),
        (_text_change('"version": 1', '"version": 7'), "version 7 is not supported"),
    ],
    ids=[
        "metadata-5",
        "tensors-1",
        "list-as-input-name",
        "list-as-output",
        "object-as-op-output",
        "attrs-list",
        "float-k",
        "bool-k",
        "huge-input-side",
        "65-axes",
        "unknown-role",
        "bf16",
        "f8",
        "i64",
        "deep-nesting",
        "5000-digits",
        "nan-literal",
        "lone-surrogate",
        "version-7",
    ],
)
def test_malformed_files_raise_only_the_documented_errors(tmp_path, make, message):
    graph, tensors = mlp_seed()
    path = tmp_path / "bad.onebit"
    path.write_bytes(make(json.loads(json.dumps({"version": 1, **graph})), tensors))
    with pytest.raises(ProgramFileError, match=message) as caught:
        load(path)
    assert "\n" not in str(caught.value)


def test_program_error_is_a_program_file_error():
    assert issubclass(ProgramError, ProgramFileError)


# -- memory: known at load, refused before allocating --------------------------------------------


def test_memory_needed_is_known_and_limits_the_batch(tmp_path):
    graph, tensors = cnn_seed()
    path = saved(tmp_path, graph, tensors)
    program = load(path)
    per_sample = program.memory_needed(1)
    assert per_sample > 4 * 3 * 12 * 12  # at least the input
    assert program.memory_needed(10) == 10 * per_sample
    small = load(path, max_memory=3 * per_sample)
    assert small(x_for(small, 3)).shape == (3, 5)
    with pytest.raises(OnebitError, match="a batch of 4 needs"):
        small(x_for(small, 4))
    with pytest.raises(ProgramError, match="above the limit"):
        load(path, max_memory=per_sample - 1)


def test_the_memory_limit_comes_from_the_environment(tmp_path, monkeypatch):
    graph, tensors = cnn_seed()
    path = saved(tmp_path, graph, tensors)
    monkeypatch.setenv("ONEBIT_MAX_MEMORY", "1000")
    with pytest.raises(ProgramError, match="memory limit 1000"):
        load(path)
    monkeypatch.setenv("ONEBIT_MAX_MEMORY", "lots")
    with pytest.raises(OnebitError, match="ONEBIT_MAX_MEMORY='lots'"):
        load(path)


# -- empty batches and finite outputs ------------------------------------------------------------


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_every_program_returns_an_empty_batch_and_finite_outputs(tmp_path, seed):
    graph, tensors = SEEDS[seed]()
    program = load(saved(tmp_path, graph, tensors))
    y = program(x_for(program))
    empty = program(np.zeros((0, *program.input_shape), np.float32))
    assert empty.shape == (0, *y.shape[1:]) and empty.dtype == y.dtype
    assert np.isfinite(y.astype(np.float64)).all()


def test_the_converted_mlp_returns_an_empty_batch(tmp_path):
    torch = pytest.importorskip("torch")
    from onebit import models
    from onebit.convert import convert

    torch.manual_seed(0)
    model = models.create("binarynet-mlp", hidden=32, depth=1).eval()
    program = convert(model, torch.zeros(1, 1, 28, 28))
    path = tmp_path / "mlp.onebit"
    program.save(path)
    assert load(path)(np.zeros((0, 1, 28, 28), np.float32)).shape == (0, 10)
    graph, tensors = load_program(path)
    assert graph["ops"]
    assert tensors


def test_predict_splits_batches_to_fit_the_memory_limit(tmp_path):
    graph, tensors = cnn_seed()
    path = saved(tmp_path, graph, tensors)
    full = load(path)
    tight = load(path, max_memory=2 * full.memory_needed(1))
    x = x_for(full, 7)
    np.testing.assert_array_equal(tight.predict(x), full(x).argmax(axis=-1))
    assert tight.predict(x[:0]).shape == (0,)


# -- review of #10: float32 sums, padding bits, entry counts ---------------------------------


def _mean_graph(pool: dict) -> dict:
    """A (1, 2, 2) input scaled by a constant, then averaged (``pool`` is the last op)."""
    return {
        "input": {"name": "input", "shape": [1, 2, 2]},
        "output": "v3",
        "ops": [
            {"type": "nchw_to_nhwc", "inputs": ["input"], "output": "v1"},
            {
                "type": "affine",
                "inputs": ["v1"],
                "output": "v2",
                "attrs": {"channels": 1},
                "tensors": {"scale": "s", "bias": "b"},
            },
            {"inputs": ["v2"], "output": "v3", **pool},
        ],
    }


MEANS = {
    "global_avgpool": {"type": "global_avgpool"},
    "avgpool2d": {
        "type": "avgpool2d",
        "attrs": {"kernel": [2, 2], "stride": [1, 1], "padding": [0, 0]},
    },
}


@pytest.mark.parametrize("pool", sorted(MEANS))
def test_a_mean_whose_float32_sum_could_overflow_is_refused(tmp_path, pool):
    graph = _mean_graph(MEANS[pool])
    big = {"s": np.array([9.9e23], np.float32), "b": np.zeros(1, np.float32)}  # bound 9.9e29
    message = refused(tmp_path, graph, big, rf"'v3' \({pool}\): its float32 sum of 4 values")
    assert "can reach 3.96e+30" in message
    small = {"s": np.array([2e23], np.float32), "b": np.zeros(1, np.float32)}  # 4 x 2e29 fits
    program = load(saved(tmp_path, graph, small, "small.onebit"))
    assert np.isfinite(program(np.full((1, 1, 2, 2), 1e6, np.float32))).all()


def test_a_large_average_pool_sums_in_float64_and_is_not_refused(tmp_path):
    graph = _mean_graph(
        {"type": "avgpool2d", "attrs": {"kernel": [9, 9], "stride": [1, 1], "padding": [0, 0]}}
    )
    graph["input"]["shape"] = [1, 9, 9]
    big = {"s": np.array([9.9e23], np.float32), "b": np.zeros(1, np.float32)}
    program = load(saved(tmp_path, graph, big))
    y = program(np.full((1, 1, 9, 9), 1e6, np.float32))
    np.testing.assert_allclose(y, 9.9e29, rtol=1e-6)


def _packed_tensors(graph: dict, tensors: dict) -> list[tuple[str, str, int]]:
    """(op output, tensor name, real bits per row) of every packed weight with padding bits."""
    found = []
    for op in graph["ops"]:
        roles = op.get("tensors", {})
        if op["type"] == "binary_dense":
            found.append((op["output"], roles["weight"], op["attrs"]["k"]))
        elif op["type"] == "binary_conv2d":
            found.append((op["output"], roles["weight"], op["attrs"]["cin"]))
        elif "weight_bits" in roles:
            channels = op["attrs"]["in_features" if op["type"] == "dense" else "cin"]
            if op["type"] == "conv2d":
                channels //= op["attrs"].get("groups", 1)
            found.append((op["output"], roles["weight_bits"], channels))
    return [entry for entry in found if entry[2] % 64]


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_packed_weights_with_padding_bits_set_are_refused(tmp_path, seed):
    graph, tensors = SEEDS[seed]()
    packed = _packed_tensors(graph, tensors)
    assert packed or seed == "cnn"
    for output, name, channels in packed:
        changed = dict(tensors)
        words = tensors[name].copy()
        words[..., -1] |= np.uint64(1) << np.uint64(63)  # the last bit of each row
        changed[name] = words
        message = refused(
            tmp_path, graph, changed, f"tensor '{name}' .*has bits set beyond its {channels} "
        )
        assert message.split(": ", 1)[1].startswith(f"op '{output}'")


def _flattened_dense(weight: np.ndarray) -> tuple[dict, dict]:
    """A (3, 2, 2) input signed per pixel (3 bits in one word each), flattened to 4 words of
    which 12 bits are real, then a binary dense layer with int output."""
    graph = {
        "input": {"name": "input", "shape": [3, 2, 2]},
        "output": "v4",
        "ops": [
            {"type": "nchw_to_nhwc", "inputs": ["input"], "output": "v1"},
            {"type": "sign_pack", "inputs": ["v1"], "output": "v2"},
            {"type": "flatten", "inputs": ["v2"], "output": "v3"},
            {
                "type": "binary_dense",
                "inputs": ["v3"],
                "output": "v4",
                "attrs": {"k": 12, "epilogue": "int"},
                "tensors": {"weight": "w"},
            },
        ],
    }
    return graph, {"w": weight}


def test_a_flattened_maps_padding_bits_are_checked_per_pixel(tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.integers(0, 8, (5, 4), dtype=np.uint64)  # 3 real bits in each pixel's word
    program = load(saved(tmp_path, *_flattened_dense(weight)))
    x = rng.uniform(-1, 1, (4, 3, 2, 2)).astype(np.float32)
    signs = np.where(x.transpose(0, 2, 3, 1) >= 0, 1, -1).reshape(4, 12)
    bits = (weight[..., None] >> np.arange(3, dtype=np.uint64)) & np.uint64(1)
    w_signs = 1 - 2 * bits.astype(np.int64).reshape(5, 12)
    np.testing.assert_array_equal(program(x), signs @ w_signs.T)
    weight[2, 1] |= np.uint64(1) << np.uint64(3)  # pixel 1's first padding bit
    refused(tmp_path, *_flattened_dense(weight), "has bits set beyond its 3 channels per pixel")


def _header_with(count: int) -> bytes:
    header = {"__metadata__": {"onebit.format": "onebit-program", "onebit.graph": "{}"}}
    for i in range(count):
        header[f"t{i}"] = {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text


def test_a_header_with_too_many_tensors_is_refused_at_once(tmp_path):
    import time

    from onebit.runtime.format import MAX_TENSORS

    path = tmp_path / "many.onebit"
    path.write_bytes(_header_with(200_000))
    started = time.perf_counter()
    with pytest.raises(ProgramFileError, match=f"200000 tensor entries, more than {MAX_TENSORS}"):
        load(path)
    assert time.perf_counter() - started < 0.5


def test_too_many_tensors_or_ops_are_refused_by_the_program():
    from onebit.runtime.format import MAX_OPS, MAX_TENSORS

    graph, tensors = mlp_seed()
    many = {f"t{i}": np.zeros(1, np.float32) for i in range(MAX_TENSORS + 1)}
    with pytest.raises(ProgramError, match=f"{MAX_TENSORS + 1} tensors, more than {MAX_TENSORS}"):
        Program(graph, many)
    relu = {"type": "relu", "inputs": ["input"], "output": "v"}
    graph = {**graph, "ops": [relu] * (MAX_OPS + 1)}
    with pytest.raises(ProgramError, match=f"{MAX_OPS + 1} ops, more than {MAX_OPS}"):
        Program(graph, tensors)
