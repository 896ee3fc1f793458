"""`onebit export c` on the host: the generated C compiles cleanly with gcc and clang and computes
what the runtime computes.

Where every float sum is exact (binary layers, and float layers fed dyadic values) the C output
equals the runtime's bit for bit; elsewhere (float sums whose order differs) within 1e-5.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers import dyadic_conv_bnn, settle
from onebit import models
from onebit.cli import app
from onebit.convert import convert
from onebit.export import ExportError, to_c
from onebit.export.c_arena import ALIGNMENT, Buffer, plan_arena
from onebit.export.c_source import words32
from onebit.export.host import build_host, run_host
from onebit.runtime import Program
from onebit.runtime.reference import bitpack, unpack

CLANG_RESULT = Path(__file__).parents[2] / "build" / "mcu" / "clang-result"
COMPILERS = ["gcc", "clang"]


def host_binary(export, compiler: str, build: Path) -> Path:
    """The model built by ``compiler`` at the strict flags (onebit.export.host). Where clang is
    missing its tests skip and ``build/mcu/clang-result`` says so (``.ci/run`` installs clang
    and fails unless the file says "passed")."""
    if shutil.which(compiler) is None:
        reason = f"{compiler} is not installed (apt-get install {compiler})"
        if compiler == "clang":
            CLANG_RESULT.parent.mkdir(parents=True, exist_ok=True)
            CLANG_RESULT.write_text(f"skipped: {reason}\n")
        pytest.skip(reason)
    return build_host(export, build, compiler)


def exported_outputs(program, inputs, tmp_path, compiler, name="model", arithmetic="binary"):
    export = to_c(program, tmp_path / "out", name=name, arithmetic=arithmetic)
    binary = host_binary(export, compiler, tmp_path)
    return run_host(binary, inputs, export.output_size)


# The float32 and int8 twins hold the same +-1 values, so they too equal the runtime bit for bit.
BUILDS = [("gcc", "binary"), ("clang", "binary"), ("gcc", "float32"), ("gcc", "int8")]


@pytest.mark.parametrize(("compiler", "arithmetic"), BUILDS)
def test_trained_mlp_equals_the_runtime_on_every_mnist5k_test_image(
    trained_mlp, tmp_path, compiler, arithmetic
):
    program, data = trained_mlp
    x = np.ascontiguousarray(data.x_test, dtype=np.float32)
    got = exported_outputs(program, x, tmp_path, compiler, "mlp", arithmetic)
    expected = program(x)
    assert len(x) == 1000
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
    np.testing.assert_array_equal(got.argmax(1), expected.argmax(1))
    if compiler == "clang":  # the clang build passed: record it for .ci/run
        CLANG_RESULT.parent.mkdir(parents=True, exist_ok=True)
        CLANG_RESULT.write_text("passed\n")


@pytest.mark.parametrize("flag", ["-mpopcnt", "-DONEBIT_SLOW_MULTIPLY"])
def test_the_popcount_instruction_and_the_multiply_free_popcount_give_the_same_logits(
    tmp_path, flag
):
    """The default host build takes the portable SWAR popcount; these are its two other paths
    (x86's POPCNT, and the shifts a Cortex-M0+ without a fast multiplier gets)."""
    program, x = dyadic_conv_bnn(0, 16)
    export = to_c(program, tmp_path / "out")
    got = run_host(build_host(export, tmp_path, "gcc", (flag,)), x, export.output_size)
    np.testing.assert_array_equal(got.view(np.uint32), program(x).view(np.uint32))


def test_the_uint8_entry_point_reads_bytes_as_scaled_floats(trained_mlp, tmp_path):
    program, data = trained_mlp
    q = np.clip(np.rint(data.x_test[:64] * 255), 0, 255).astype(np.uint8)
    export = to_c(program, tmp_path / "out", name="mlp", input_scale=1 / 255, input_zero_point=0)
    binary = host_binary(export, "gcc", tmp_path)
    got = run_host(binary, q, export.output_size, u8=True)
    floats = (q.astype(np.float32) - np.float32(0)) * np.float32(1 / 255)
    np.testing.assert_array_equal(got.view(np.uint32), program(floats).view(np.uint32))


@pytest.mark.parametrize(("compiler", "arithmetic"), BUILDS)
@pytest.mark.parametrize("seed", range(2), ids=lambda s: f"seed{s}")
def test_conv_bnn_with_paddings_stride_pools_and_residual_equals_the_runtime(
    tmp_path, compiler, arithmetic, seed
):
    program, x = dyadic_conv_bnn(seed, 48)
    types = {op.type for op in program.ops}
    assert {"conv2d", "binary_conv2d", "binary_maxpool2d", "binary_dense"} <= types
    got = exported_outputs(program, x, tmp_path, compiler, "model", arithmetic)
    np.testing.assert_array_equal(got.view(np.uint32), program(x).view(np.uint32))


def test_float_layers_pools_and_activations_agree(tmp_path):
    torch.manual_seed(2)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise
        torch.nn.Conv2d(8, 6, 1),
        torch.nn.PReLU(6),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(6, 5),
        torch.nn.Hardtanh(-0.5, 0.5),
    )
    program = convert(settle(model, (3, 12, 12)), torch.zeros(1, 3, 12, 12))
    x = torch.randn(32, 3, 12, 12, generator=torch.Generator().manual_seed(4)).numpy()
    got = exported_outputs(program, x, tmp_path, "gcc")
    np.testing.assert_allclose(got, program(x), rtol=1e-5, atol=1e-5)


def standalone_ops_graph() -> tuple[dict, dict]:
    """Every op the converter usually fuses away, on its own: layout, relu, affine, hardtanh,
    prelu, add, pad, both pools, sign_pack, binary max-pool, binary dense."""
    rng = np.random.default_rng(0)
    c = 3
    ops = [
        ("nchw_to_nhwc", ["x"], "a", {}, {}),
        ("relu", ["a"], "b", {}, {}),
        ("affine", ["b"], "c", {"channels": c}, {"scale": "s", "bias": "t"}),
        ("hardtanh", ["c"], "d", {"min": -0.75, "max": 1.5}, {}),
        ("prelu", ["a"], "e", {}, {"slope": "p"}),
        ("add", ["d", "e"], "f", {}, {}),
        ("pad", ["f"], "g", {"padding": [1, 0, 2, 1], "value": -0.5}, {}),
        ("maxpool2d", ["g"], "h", {"kernel": [3, 2], "stride": [2, 1], "padding": [1, 1]}, {}),
        ("avgpool2d", ["h"], "i", {"kernel": [2, 2], "stride": [1, 2], "padding": [1, 0]}, {}),
        ("sign_pack", ["i"], "j", {}, {}),
        (
            "binary_maxpool2d",
            ["j"],
            "k",
            {"kernel": [2, 2], "stride": [1, 1], "padding": [1, 1]},
            {},
        ),
        ("flatten", ["k"], "l", {}, {}),
        ("nhwc_to_nchw", ["i"], "m", {}, {}),
    ]
    tensors = {
        "s": rng.normal(size=c).astype(np.float32),
        "t": rng.normal(size=c).astype(np.float32),
        "p": np.float32([0.25]),
    }
    graph = {
        "version": 1,
        "input": {"name": "x", "shape": [c, 7, 6]},
        "output": "m",
        "ops": [
            {"type": t, "inputs": i, "output": o, "attrs": a, "tensors": r} for t, i, o, a, r in ops
        ],
    }
    return graph, tensors


def test_standalone_elementwise_layout_and_pool_ops_agree(tmp_path):
    graph, tensors = standalone_ops_graph()
    program = Program(graph, tensors)
    x = np.random.default_rng(1).normal(size=(16, 3, 7, 6)).astype(np.float32)
    got = exported_outputs(program, x, tmp_path, "gcc")
    np.testing.assert_allclose(got, program(x).reshape(16, -1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("arithmetic", ["binary", "float32", "int8"])
def test_binary_maxpool_and_flatten_of_packed_maps_feed_a_binary_dense(tmp_path, arithmetic):
    graph, tensors = standalone_ops_graph()
    rng = np.random.default_rng(2)
    pooled_pixels = 6 * 6  # the binary max-pool's output: 6 x 6 pixels of 3 channels
    program_graph = dict(graph)
    weight = bitpack(rng.choice([-1, 1], size=(4, pooled_pixels, 3)).astype(np.int8))
    program_graph["ops"] = [
        *graph["ops"][:-1],
        {
            "type": "binary_dense",
            "inputs": ["l"],
            "output": "n",
            "attrs": {"k": pooled_pixels * 3, "epilogue": "float"},
            "tensors": {"weight": "w", "scale": "ws", "bias": "wb"},
        },
    ]
    program_graph["output"] = "n"
    program_tensors = {
        **tensors,
        "w": weight.reshape(4, -1),
        "ws": rng.normal(size=4).astype(np.float32),
        "wb": rng.normal(size=4).astype(np.float32),
    }
    program = Program(program_graph, program_tensors)
    x = np.random.default_rng(3).normal(size=(16, 3, 7, 6)).astype(np.float32)
    got = exported_outputs(program, x, tmp_path, "gcc", "model", arithmetic)
    np.testing.assert_array_equal(got.view(np.uint32), program(x).view(np.uint32))


def test_an_op_without_an_emitter_is_named_and_nothing_is_written(tmp_path):
    graph, tensors = standalone_ops_graph()
    graph["ops"].append(
        {
            "type": "quantize_pack",
            "inputs": ["i"],
            "output": "z",
            "attrs": {"bits": 2, "multiplier": 4.0, "zero_point": 1},
        }
    )
    graph["output"] = "z"
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.c").write_text("kept")
    with pytest.raises(ExportError, match=r"cannot emit 1 op\(s\): #13 'z' \(quantize_pack\)"):
        to_c((graph, tensors), out)
    assert (out / "model.c").read_text() == "kept" and not (out / "model.h").exists()


def test_names_and_metadata_from_the_file_cannot_write_code(tmp_path):
    """A program file is untrusted: its value names and metadata reach the C only inside
    comments, and cannot close them."""
    graph, tensors = standalone_ops_graph()
    evil = "*/ int injected = 1; /* ??/\n*/"
    graph["ops"][1]["output"] = evil
    graph["ops"][2]["inputs"] = [evil]
    graph["metadata"] = {"model": evil}
    program = Program(graph, tensors)
    x = np.random.default_rng(5).normal(size=(4, 3, 7, 6)).astype(np.float32)
    export = to_c((graph, tensors), tmp_path / "out")
    source = export.source.read_text()
    assert "injected" in source and "*/ int injected" not in source and "??/" not in source
    binary = host_binary(export, "gcc", tmp_path)
    got = run_host(binary, x, export.output_size)
    np.testing.assert_allclose(got, program(x).reshape(4, -1), rtol=1e-6, atol=1e-6)


def test_bad_names_outputs_and_scales_are_refused(tmp_path):
    graph, tensors = standalone_ops_graph()
    with pytest.raises(ExportError, match="not a C identifier"):
        to_c((graph, tensors), tmp_path, name="my-model")
    with pytest.raises(ExportError, match="input_scale must be a finite float32"):
        to_c((graph, tensors), tmp_path, input_scale=float("inf"))
    graph["output"] = "j"
    with pytest.raises(ExportError, match="output 'j' is bits"):
        to_c((graph, tensors), tmp_path)
    with pytest.raises(ExportError, match=r"takes a \.onebit path"):
        to_c(42, tmp_path)


def test_the_cli_writes_both_files_and_reports_flash_and_ram(trained_mlp, tmp_path):
    program, _ = trained_mlp
    path = tmp_path / "demo.onebit"
    program.save(path)
    result = CliRunner().invoke(app, ["export", "c", str(path), "-o", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "bytes of constants (flash)" in result.output and "arena (RAM)" in result.output
    header = (tmp_path / "c" / "demo.h").read_text()
    assert "int demo_run(const float *input, float *output);" in header
    source = (tmp_path / "c" / "demo.c").read_text()
    includes = {line for line in (header + source).splitlines() if line.startswith("#include")}
    assert includes == {"#include <stdint.h>", '#include "demo.h"', "#include <string.h>"}
    assert "malloc(" not in source and "printf(" not in source
    bad = CliRunner().invoke(app, ["export", "c", str(tmp_path / "missing.onebit"), "-o", "x"])
    assert bad.exit_code != 0 and "not found" in bad.output


buffers = st.lists(
    st.tuples(st.integers(1, 5000), st.integers(0, 12), st.integers(0, 6)), max_size=24
)


@settings(max_examples=200, deadline=None)
@given(buffers)
def test_the_arena_plan_never_overlaps_two_live_buffers(specs):
    plan = [
        Buffer(f"b{i}", size, first, first + span) for i, (size, first, span) in enumerate(specs)
    ]
    offsets, total = plan_arena(plan)
    for a in plan:
        assert offsets[a.name] % ALIGNMENT == 0 and offsets[a.name] + a.size <= total
        for b in plan:
            if a.name < b.name and a.overlaps_in_time(b):
                apart = (
                    offsets[a.name] + a.size <= offsets[b.name]
                    or offsets[b.name] + b.size <= offsets[a.name]
                )
                assert apart, (a, b, offsets)
    steps = range(max((b.last for b in plan), default=-1) + 1)
    live = max((sum(b.size for b in plan if b.first <= t <= b.last) for t in steps), default=0)
    assert live <= total <= sum(-(-b.size // ALIGNMENT) * ALIGNMENT for b in plan)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 200), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_32_bit_words_hold_the_same_signs(channels, rows, seed):
    signs = np.random.default_rng(seed).choice([-1, 1], size=(3, rows, channels)).astype(np.int8)
    packed64 = bitpack(signs).reshape(3, -1)
    packed32 = words32(packed64, channels).reshape(3, rows, -1)
    assert packed32.shape[-1] == -(-channels // 32)
    bits = np.unpackbits(packed32.view(np.uint8), axis=-1, bitorder="little")[..., :channels]
    np.testing.assert_array_equal(np.where(bits == 1, -1, 1), signs)
    np.testing.assert_array_equal(unpack(packed64.reshape(3, rows, -1), channels), signs)


@pytest.mark.parametrize("arithmetic", ["binary", "float32", "int8"])
def test_a_sign_after_an_affine_map_feeds_a_binary_dense(tmp_path, arithmetic):
    # sign_pack's affine epilogue (a batch norm before a sign whose input is read elsewhere),
    # over 70 channels: two 32-bit words and a partial one, some scales negative or zero.
    rng = np.random.default_rng(5)
    c = 70
    graph = {
        "version": 1,
        "input": {"name": "x", "shape": [c, 2, 3]},
        "output": "d",
        "ops": [
            {"type": "nchw_to_nhwc", "inputs": ["x"], "output": "a", "attrs": {}, "tensors": {}},
            {
                "type": "sign_pack",
                "inputs": ["a"],
                "output": "b",
                "attrs": {"epilogue": "affine"},
                "tensors": {"scale": "s", "bias": "t"},
            },
            {"type": "flatten", "inputs": ["b"], "output": "c", "attrs": {}, "tensors": {}},
            {
                "type": "binary_dense",
                "inputs": ["c"],
                "output": "d",
                "attrs": {"k": 6 * c, "epilogue": "float"},
                "tensors": {"weight": "w", "scale": "ws", "bias": "wb"},
            },
        ],
    }
    scale = rng.normal(size=c).astype(np.float32)
    scale[:5] = 0.0
    tensors = {
        "s": scale,
        "t": rng.normal(size=c).astype(np.float32),
        "w": bitpack(rng.choice([-1, 1], size=(5, 6, c)).astype(np.int8)).reshape(5, -1),
        "ws": rng.normal(size=5).astype(np.float32),
        "wb": rng.normal(size=5).astype(np.float32),
    }
    program = Program(graph, tensors)
    x = rng.normal(size=(16, c, 2, 3)).astype(np.float32)
    got = exported_outputs(program, x, tmp_path, "gcc", "model", arithmetic)
    np.testing.assert_array_equal(got.view(np.uint32), program(x).view(np.uint32))


def _graph(c: int, h: int, w: int, ops: list[tuple], output: str) -> dict:
    """A program graph on an NCHW input ``x`` of ``(c, h, w)``: ops as (type, inputs, output,
    attrs, tensors)."""
    return {
        "version": 1,
        "input": {"name": "x", "shape": [c, h, w]},
        "output": output,
        "ops": [
            {"type": t, "inputs": i, "output": o, "attrs": a, "tensors": r} for t, i, o, a, r in ops
        ],
    }


def _dense_of_signs(rng, rows: int, channels: int, source: str) -> tuple[tuple, dict]:
    """A flatten of ``source``, a packed map (rows pixels of ``channels`` signs), into a binary
    dense with a float epilogue, so that every sign reaches the float output: (ops, tensors)."""
    weight = bitpack(rng.choice([-1, 1], size=(5, rows, channels)).astype(np.int8))
    ops = (
        ("flatten", [source], "flat", {}, {}),
        (
            "binary_dense",
            ["flat"],
            "y",
            {"k": rows * channels, "epilogue": "float"},
            {"weight": "w", "scale": "ws", "bias": "wb"},
        ),
    )
    tensors = {
        "w": weight.reshape(5, -1),
        "ws": rng.normal(size=5).astype(np.float32),
        "wb": rng.normal(size=5).astype(np.float32),
    }
    return ops, tensors


def _assert_exact(graph, tensors, x, tmp_path, arithmetic="binary", compiler="gcc"):
    program = Program(graph, tensors)
    got = exported_outputs(program, x, tmp_path, compiler, "model", arithmetic)
    want = program(x).reshape(len(x), -1)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("scale", [[2, 2], [3, 1], [1, 2]], ids=str)
def test_nearest_upsampling_of_a_float_map_copies_its_pixels(tmp_path, scale):
    ops = [
        ("nchw_to_nhwc", ["x"], "a", {}, {}),
        ("upsample_nearest", ["a"], "b", {"scale": scale}, {}),
        ("nhwc_to_nchw", ["b"], "y", {}, {}),
    ]
    x = np.random.default_rng(6).normal(size=(8, 3, 3, 5)).astype(np.float32)
    _assert_exact(_graph(3, 3, 5, ops, "y"), {}, x, tmp_path)


@pytest.mark.parametrize("arithmetic", ["binary", "float32", "int8"])
@pytest.mark.parametrize("channels", [7, 32, 33, 64, 70])
def test_nearest_upsampling_of_signs_copies_whole_pixels(tmp_path, channels, arithmetic):
    rng = np.random.default_rng(channels)
    h, w, (sh, sw) = 3, 2, (2, 3)
    dense_ops, tensors = _dense_of_signs(rng, h * sh * w * sw, channels, "c")
    ops = [
        ("nchw_to_nhwc", ["x"], "a", {}, {}),
        ("sign_pack", ["a"], "b", {}, {}),
        ("upsample_nearest", ["b"], "c", {"scale": [sh, sw]}, {}),
        *dense_ops,
    ]
    x = rng.normal(size=(8, channels, h, w)).astype(np.float32)
    _assert_exact(_graph(channels, h, w, ops, "y"), tensors, x, tmp_path, arithmetic)


def test_nearest_upsampling_of_signs_builds_with_clang(tmp_path):
    rng = np.random.default_rng(7)
    dense_ops, tensors = _dense_of_signs(rng, 4 * 4, 33, "c")
    ops = [
        ("nchw_to_nhwc", ["x"], "a", {}, {}),
        ("sign_pack", ["a"], "b", {}, {}),
        ("upsample_nearest", ["b"], "c", {"scale": [2, 2]}, {}),
        *dense_ops,
    ]
    x = rng.normal(size=(8, 33, 2, 2)).astype(np.float32)
    _assert_exact(_graph(33, 2, 2, ops, "y"), tensors, x, tmp_path, compiler="clang")


def _selection(rng, total: int, channels: int, layer: str, name: str) -> tuple[dict, ...]:
    """A 1x1 conv2d or a dense layer whose outputs are chosen channels of its ``total`` inputs
    (0/1 weights: every sum is exact), then an affine map: (attrs, tensor references, tensors)."""
    weight = np.eye(total, dtype=np.float32)[rng.permutation(total)[:channels]]
    if layer == "conv2d":
        weight = weight.reshape(channels, 1, 1, total)
        attrs = {"cin": total, "cout": channels, "kernel": [1, 1], "stride": [1, 1]}
        attrs |= {"padding": [0, 0], "pad_value": 0.0}
    else:
        attrs = {"in_features": total, "out_features": channels}
    tensors = {
        f"{name}w": weight,
        f"{name}s": rng.normal(size=channels).astype(np.float32),
        f"{name}b": rng.normal(size=channels).astype(np.float32),
    }
    refs = {"weight": f"{name}w", "scale": f"{name}s", "bias": f"{name}b"}
    return {**attrs, "epilogue": "affine"}, refs, tensors


@pytest.mark.parametrize("layout", ["map", "vector"])
@pytest.mark.parametrize("channels", [[3, 5], [5, 8, 3]], ids=str)
def test_concat_joins_float_maps_and_vectors_along_their_last_axis(tmp_path, channels, layout):
    rng = np.random.default_rng(len(channels))
    total, (h, w) = sum(channels), ((3, 2) if layout == "map" else (1, 1))
    layer, source = ("conv2d", "a") if layout == "map" else ("dense", "f")
    ops = [("nchw_to_nhwc", ["x"], "a", {}, {}), ("flatten", ["a"], "f", {}, {})]
    tensors: dict = {}
    for i, c in enumerate(channels):
        attrs, refs, made = _selection(rng, total, c, layer, f"m{i}")
        ops.append((layer, [source], f"m{i}", attrs, refs))
        tensors |= made
    ops.append(("concat", [f"m{i}" for i in range(len(channels))], "j", {"channels": channels}, {}))
    if layout == "map":
        ops.append(("nhwc_to_nchw", ["j"], "y", {}, {}))
    x = rng.normal(size=(8, total, h, w)).astype(np.float32)
    output = "y" if layout == "map" else "j"
    _assert_exact(_graph(total, h, w, ops, output), tensors, x, tmp_path)


@pytest.mark.parametrize("arithmetic", ["binary", "float32", "int8"])
@pytest.mark.parametrize("layout", ["map", "vector"])
def test_concat_runs_its_post_tail_over_the_joined_map(tmp_path, layout, arithmetic):
    """The hourglass block's ``cat([a, b, c]) + x`` and a second residual, a ReLU and a batch
    norm between them: the residuals are the inputs after the joined ones."""
    rng = np.random.default_rng(5)
    channels, (h, w) = [5, 2, 2], ((3, 2) if layout == "map" else (1, 1))
    total = sum(channels)
    layer, source = ("conv2d", "a") if layout == "map" else ("dense", "f")
    ops = [("nchw_to_nhwc", ["x"], "a", {}, {}), ("flatten", ["a"], "f", {}, {})]
    tensors: dict = {}
    for i, c in enumerate([*channels, total, total]):
        attrs, refs, made = _selection(rng, total, c, layer, f"m{i}")
        ops.append((layer, [source], f"m{i}", attrs, refs))
        tensors |= made
    post = [{"step": "add"}, {"step": "relu"}, {"step": "affine"}, {"step": "add"}]
    tensors |= {"s": rng.normal(size=total).astype(np.float32)}
    tensors |= {"b": rng.normal(size=total).astype(np.float32)}
    inputs = [f"m{i}" for i in range(len(channels) + 2)]
    attrs = {"channels": channels, "post": post}
    ops.append(("concat", inputs, "j", attrs, {"post2_scale": "s", "post2_bias": "b"}))
    if layout == "map":
        ops.append(("nhwc_to_nchw", ["j"], "y", {}, {}))
    x = rng.normal(size=(8, total, h, w)).astype(np.float32)
    output = "y" if layout == "map" else "j"
    _assert_exact(_graph(total, h, w, ops, output), tensors, x, tmp_path, arithmetic)


@pytest.mark.parametrize("arithmetic", ["binary", "float32", "int8"])
# [7, 30, 60]: an input's shifted words spill into one more output word than it has
@pytest.mark.parametrize(
    "channels",
    [[64, 64, 7], [7, 33, 5], [7, 30, 60]],
    ids=["aligned", "unaligned", "spilling"],
)
def test_binary_concat_joins_packed_maps_exactly(tmp_path, channels, arithmetic):
    """sign_packs of selected channels of the input (each through its own affine map), joined and
    read, every sign of them, by a binary dense."""
    rng = np.random.default_rng(sum(channels))
    widest, (h, w) = max(channels), (2, 3)
    ops = [("nchw_to_nhwc", ["x"], "a", {}, {})]
    tensors: dict = {}
    for i, c in enumerate(channels):
        attrs, refs, made = _selection(rng, widest, c, "conv2d", f"m{i}")
        ops.append(("conv2d", ["a"], f"m{i}", attrs, refs))
        ops.append(("sign_pack", [f"m{i}"], f"b{i}", {}, {}))
        tensors |= made
    signs = [f"b{i}" for i in range(len(channels))]
    ops.append(("binary_concat", signs, "j", {"channels": channels}, {}))
    dense_ops, dense_tensors = _dense_of_signs(rng, h * w, sum(channels), "j")
    ops += dense_ops
    x = rng.normal(size=(8, widest, h, w)).astype(np.float32)
    graph = _graph(widest, h, w, ops, "y")
    _assert_exact(graph, tensors | dense_tensors, x, tmp_path, arithmetic)


def test_a_converted_landmark_hourglass_equals_the_runtime(tmp_path):
    """Its blocks' concats, its upsampling and the residual adds that read them, end to end."""
    model = models.create(
        "landmark-hourglass",
        num_classes=3,
        input_size=16,
        in_channels=1,
        features=8,
        depth=1,
        stem_width=4,
    )
    model = settle(model, (1, 16, 16), seed=0)
    program = convert(model, torch.zeros(1, 1, 16, 16))
    assert {"concat", "upsample_nearest"} <= {op.type for op in program.ops}
    x = np.random.default_rng(8).normal(size=(8, 1, 16, 16)).astype(np.float32)
    got = exported_outputs(program, x, tmp_path, "gcc")
    np.testing.assert_allclose(got, program(x).reshape(8, -1), rtol=1e-5, atol=1e-5)


def _joined_flattens(rng, channels: int) -> tuple[dict, dict]:
    """A binary_concat of a flattened packed map (2 pixels of ``channels`` signs) with itself,
    read by a binary dense: (graph, tensors)."""
    dense_ops, tensors = _dense_of_signs(rng, 1, 4 * channels, "j")
    ops = [
        ("nchw_to_nhwc", ["x"], "a", {}, {}),
        ("sign_pack", ["a"], "b", {}, {}),
        ("flatten", ["b"], "f", {}, {}),
        ("binary_concat", ["f", "f"], "j", {"channels": [2 * channels, 2 * channels]}, {}),
        *dense_ops,
    ]
    return _graph(channels, 2, 1, ops, "y"), tensors


@pytest.mark.parametrize("arithmetic", ["binary", "float32", "int8"])
def test_binary_concat_joins_flattened_maps_whose_rows_fill_whole_words(tmp_path, arithmetic):
    rng = np.random.default_rng(9)
    graph, tensors = _joined_flattens(rng, 64)
    x = rng.normal(size=(8, 64, 2, 1)).astype(np.float32)
    _assert_exact(graph, tensors, x, tmp_path, arithmetic)


def test_binary_concat_refuses_flattened_maps_whose_rows_end_in_padding_bits(tmp_path):
    graph, tensors = _joined_flattens(np.random.default_rng(10), 63)
    with pytest.raises(ExportError, match=r"#3 'j' \(binary_concat\): its input #0 is a flat"):
        to_c((graph, tensors), tmp_path / "out")
    assert not (tmp_path / "out").exists()
