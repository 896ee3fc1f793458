"""Seed programs for the fuzzer: small graphs built with NumPy that together use every op, and
:func:`assemble`, which writes a ``.onebit`` file byte by byte (so a mutation may write graph
text that is not valid JSON, or a wrong checksum)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from onebit.runtime.format import DIGEST_KEY, FORMAT, FORMAT_KEY, GRAPH_KEY, payload_digest
from onebit.runtime.reference import bitpack
from onebit.runtime.reference_bitserial import encode_planes


class _Graph:
    """A small program under construction: ops, tensors and fresh value names."""

    def __init__(self, seed: int, shape: list[int]) -> None:
        self.rng = np.random.default_rng(seed)
        self.ops: list[dict] = []
        self.tensors: dict[str, np.ndarray] = {}
        self.input = {"name": "input", "shape": shape}

    def add(self, kind: str, inputs: list[str], attrs: dict | None = None, **tensors) -> str:
        output = f"v{len(self.ops)}"
        roles = {}
        for role, array in tensors.items():
            name = f"op{len(self.ops)}.{role}"
            self.tensors[name] = array
            roles[role] = name
        self.ops.append(
            {
                "type": kind,
                "inputs": inputs,
                "output": output,
                "attrs": attrs or {},
                "tensors": roles,
            }
        )
        return output

    def floats(self, *shape: int, scale: float = 0.5) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def packed(self, *shape: int) -> np.ndarray:
        *outer, channels = shape
        return bitpack(self.rng.standard_normal((*outer, channels)).astype(np.float32))

    def planes(self, bits: int, *shape: int) -> np.ndarray:
        """Random ``bits``-bit codes of ``shape`` (channels last) as weight planes, the plane
        axis second: ``(Cout, bits, ..., words)``."""
        codes = self.rng.integers(0, 2**bits, shape)
        return np.ascontiguousarray(np.moveaxis(encode_planes(codes, bits), 0, 1))

    def thresholds(self, channels: int, k: int) -> dict[str, np.ndarray]:
        return {
            "threshold": self.rng.integers(-k // 4, k // 4 + 1, channels).astype(np.int32),
            "flip": self.rng.integers(0, 2, channels).astype(np.uint8),
        }

    def affine(self, channels: int) -> dict[str, np.ndarray]:
        return {"scale": self.floats(channels), "bias": self.floats(channels)}

    def graph(self, output: str) -> dict:
        return {"input": self.input, "output": output, "ops": self.ops, "metadata": {"seed": 1}}


def mlp_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """Flatten, sign, binary dense layers (bits, float with a post tail, int), float dense."""
    g = _Graph(1, [1, 8, 8])
    x = g.add("flatten", ["input"])
    x = g.add("sign_pack", [x])
    x = g.add(
        "binary_dense",
        [x],
        {"k": 64, "epilogue": "bits"},
        weight=g.packed(40, 64),
        **g.thresholds(40, 64),
    )
    post = [{"step": "affine"}, {"step": "prelu"}, {"step": "hardtanh", "min": -2.0, "max": 2.0}]
    y = g.add(
        "binary_dense",
        [x],
        {"k": 40, "epilogue": "float", "post": post},
        weight=g.packed(24, 40),
        **g.affine(24),
        post0_scale=g.floats(24),
        post0_bias=g.floats(24),
        post1_slope=g.floats(24),
    )
    y = g.add("relu", [y])
    y = g.add("affine", [y], {"channels": 24}, **g.affine(24))
    y = g.add("hardtanh", [y], {"min": -1.5, "max": 1.0})
    y = g.add("prelu", [y], slope=g.floats(1))
    z = g.add(
        "dense",
        [y],
        {"in_features": 24, "out_features": 24, "epilogue": "affine"},
        weight_bits=g.packed(24, 24),
        **g.affine(24),
    )
    z = g.add("add", [z, y])
    z = g.add(
        "dense",
        [z],
        {"in_features": 24, "out_features": 16, "epilogue": "sign"},
        weight=g.floats(16, 24),
        **g.affine(16),
    )
    z = g.add("binary_dense", [z], {"k": 16, "epilogue": "int"}, weight=g.packed(10, 16))
    return g.graph(z), g.tensors


def cnn_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """Float, depthwise and grouped convs, pad, pools, binary convs with a residual tail,
    concat, add, global average pool and a float classifier."""
    g = _Graph(2, [3, 12, 12])
    x = g.add("nchw_to_nhwc", ["input"])
    conv = {"kernel": [3, 3], "stride": [1, 1], "padding": [1, 1, 1, 1], "pad_value": 0.0}
    x = g.add(
        "conv2d",
        [x],
        {**conv, "cin": 3, "cout": 8, "epilogue": "affine"},
        weight=g.floats(8, 3, 3, 3),
        **g.affine(8),
    )
    x = g.add("relu", [x])
    x = g.add("maxpool2d", [x], {"kernel": [2, 2], "stride": [2, 2], "padding": [1, 1]})
    x = g.add(  # depthwise, multiplier 2, with a post tail
        "conv2d",
        [x],
        {
            **conv,
            "cin": 8,
            "cout": 16,
            "groups": 8,
            "epilogue": "affine",
            "post": [{"step": "relu"}],
        },
        weight=g.floats(16, 3, 3, 1),
        **g.affine(16),
    )
    x = g.add(
        "conv2d",
        [x],
        {
            "kernel": [1, 1],
            "stride": [1, 1],
            "padding": [0, 0],
            "pad_value": 0.0,
            "cin": 16,
            "cout": 8,
            "groups": 2,
            "epilogue": "none",
        },
        weight_bits=g.packed(8, 1, 1, 8),
    )
    f = g.add("pad", [x], {"padding": [1, 0, 0, 1], "value": 0.5})  # (8, 8, 8)
    b = g.add("sign_pack", [f])
    b = g.add(
        "binary_conv2d",
        [b],
        {"cin": 8, "stride": [1, 1], "padding": [1, 1], "pad_value": 1.0, "epilogue": "bits"},
        weight=g.packed(16, 3, 3, 8),
        **g.thresholds(16, 72),
    )
    b = g.add("binary_maxpool2d", [b], {"kernel": [2, 2], "stride": [1, 1], "padding": [0, 0]})
    r = g.add("avgpool2d", [f], {"kernel": [3, 3], "stride": [2, 2], "padding": [0, 0]})
    y = g.add(  # (7, 7) -> (3, 3) with the average-pooled residual
        "binary_conv2d",
        [b, r],
        {
            "cin": 16,
            "stride": [2, 2],
            "padding": [0, 0],
            "pad_value": 0.0,
            "epilogue": "float",
            "post": [{"step": "add"}],
        },
        weight=g.packed(8, 3, 3, 16),
        **g.affine(8),
    )
    j = g.add("concat", [y, r], {"channels": [8, 8]})
    s = g.add("affine", [j], {"channels": 16}, **g.affine(16))
    j = g.add("add", [j, s])
    big = g.add("avgpool2d", [f], {"kernel": [9, 8], "stride": [1, 1], "padding": [1, 0]})
    p = g.add("global_avgpool", [j])
    q = g.add("global_avgpool", [big])
    p = g.add("concat", [p, q], {"channels": [16, 8]})
    out = g.add(
        "dense",
        [p],
        {"in_features": 24, "out_features": 5, "epilogue": "affine"},
        weight=g.floats(5, 24),
        **g.affine(5),
    )
    return g.graph(out), g.tensors


def packed_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """Packed concatenation (word-aligned and not), a feature map back in torch's layout,
    and a binary conv with an int epilogue flattened to the output."""
    g = _Graph(3, [4, 5, 6])
    x = g.add("nchw_to_nhwc", ["input"])
    a = g.add("sign_pack", [x])
    w = g.add(
        "binary_conv2d",
        [a],
        {"cin": 4, "stride": [1, 1], "padding": [1, 1], "pad_value": 1.0, "epilogue": "bits"},
        weight=g.packed(64, 3, 3, 4),
        **g.thresholds(64, 36),
    )
    aligned = g.add("binary_concat", [w, a], {"channels": [64, 4]})
    mixed = g.add("binary_concat", [a, aligned], {"channels": [4, 68]})
    y = g.add(
        "binary_conv2d",
        [mixed],
        {"cin": 72, "stride": [1, 2], "padding": [0, 1], "pad_value": 0.0, "epilogue": "float"},
        weight=g.packed(6, 1, 3, 72),
        **g.affine(6),
    )
    y = g.add("nhwc_to_nchw", [y])
    t = g.add("nchw_to_nhwc", [y])
    t = g.add("sign_pack", [t])
    t = g.add(
        "binary_conv2d",
        [t],
        {"cin": 6, "stride": [1, 1], "padding": [0, 0], "pad_value": 0.0, "epilogue": "int"},
        weight=g.packed(3, 2, 2, 6),
    )
    return g.graph(g.add("flatten", [t])), g.tensors


def resize_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """Nearest upsampling of a float map (then channel-shuffled) and of a packed one (the
    hourglass's: its signs through a batch norm first), joined by a grouped, dilated binary conv
    (BATS's) and a residual add, then a concat with a post tail (the hourglass block's
    ``cat(a, b) + x``, then a ReLU and a batch norm)."""
    g = _Graph(5, [6, 3, 4])
    x = g.add("nchw_to_nhwc", ["input"])
    up = g.add("upsample_nearest", [x], {"scale": [2, 2]})
    up = g.add("channel_shuffle", [up], {"groups": 3})
    signs = g.add("sign_pack", [x], {"epilogue": "affine"}, **g.affine(6))
    bits = g.add("upsample_nearest", [signs], {"scale": [2, 2]})
    y = g.add(
        "binary_conv2d",
        [bits],
        {
            "cin": 6,
            "stride": [1, 1],
            "padding": [2, 2],
            "dilation": [2, 2],
            "groups": 3,
            "pad_value": 0.0,
            "epilogue": "float",
        },
        weight=g.packed(6, 3, 3, 2),
        **g.affine(6),
    )
    y = g.add("add", [y, up])
    both = g.add("concat", [up, y], {"channels": [6, 6]})
    post = [{"step": "add"}, {"step": "relu"}, {"step": "affine"}]
    y = g.add(
        "concat",
        [y, up, both],
        {"channels": [6, 6], "post": post},
        post2_scale=g.floats(12),
        post2_bias=g.floats(12),
    )
    return g.graph(g.add("nhwc_to_nchw", [y])), g.tensors


def text_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """Token ids (the text CNN's): a binary embedding into a one-padded binary conv of height 1
    over the sequence, a binary max over time and a binary dense layer, joined with the mean of
    a float embedding."""
    g = _Graph(8, [7])
    g.input["kind"] = "tokens"
    e = g.add("embedding", ["input"], {"dim": 70, "output": "bits"}, table=g.packed(11, 70))
    y = g.add(
        "binary_conv2d",
        [e],
        {"cin": 70, "stride": [1, 1], "padding": [0, 2], "pad_value": 1.0, "epilogue": "bits"},
        weight=g.packed(9, 1, 5, 70),
        **g.thresholds(9, 350),
    )
    y = g.add("binary_maxpool2d", [y], {"kernel": [1, 7], "stride": [1, 7], "padding": [0, 0]})
    y = g.add("flatten", [y])
    y = g.add(
        "binary_dense", [y], {"k": 9, "epilogue": "float"}, weight=g.packed(4, 9), **g.affine(4)
    )
    f = g.add("embedding", ["input"], {"dim": 3, "output": "float"}, table=g.floats(11, 3))
    f = g.add("global_avgpool", [f])
    return g.graph(g.add("concat", [y, f], {"channels": [4, 3]})), g.tensors


def kbit_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """k-bit layers: quantize_pack, a bit-serial conv (2-bit unsigned activations x 3-bit +-1
    planes, padded with the zero code, float epilogue with a post tail), a second one with an
    8-bit input planes with a zero point x 1-bit +-1 weights (the BNN first-layer product), then a
    flatten of planes
    into a bit-serial dense layer (4-bit codes with a zero point x 2-bit two's complement)."""
    g = _Graph(4, [3, 5, 6])
    x = g.add("nchw_to_nhwc", ["input"])
    q = g.add("quantize_pack", [x], {"bits": 2, "multiplier": 1.5, "zero_point": 0})
    y = g.add(
        "kbit_conv2d",
        [q],
        {
            **_encodings([0, [1, 2]], [7, [-2, -4, -8]]),
            "cin": 3,
            "stride": [1, 1],
            "padding": [1, 0, 1, 1],
            "pad_code": 0,
            "epilogue": "float",
            "post": [{"step": "relu"}],
        },
        weight=g.planes(3, 70, 3, 3, 3),
        **g.affine(70),
    )
    q = g.add("quantize_pack", [y], {"bits": 8, "multiplier": 20.0, "zero_point": 128})
    y = g.add(
        "kbit_conv2d",
        [q],
        {
            **_encodings([-128, [2**i for i in range(8)]], [1, [-2]]),
            "cin": 70,
            "stride": [2, 2],
            "padding": [0, 0],
            "pad_code": 128,
            "epilogue": "float",
        },
        weight=g.planes(1, 5, 2, 2, 70),
        **g.affine(5),
    )
    q = g.add("quantize_pack", [y], {"bits": 4, "multiplier": 3.0, "zero_point": 3})
    q = g.add("flatten", [q])
    y = g.add(
        "kbit_dense",
        [q],
        {**_encodings([-3, [1, 2, 4, 8]], [0, [1, -2]]), "k": 30, "epilogue": "int"},
        weight=g.planes(2, 7, 6, 5).reshape(7, 2, 6),  # 6 pixels of 5 channels, a word each
    )
    return g.graph(y), g.tensors


def dynamic_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """DyBNN's dynamic ops as the converter lowers them: a hyper function (global average pool,
    dense with a ReLU tail, dense) gives per-sample thresholds to ``dynamic_sign_pack`` over a
    70-channel map (two words per pixel), a binary conv reads its bits, and a second hyper
    function gives ``dynamic_prelu`` its shifts."""
    g = _Graph(5, [70, 5, 6])
    x = g.add("nchw_to_nhwc", ["input"])
    t = _hyper(g, x, 70, 8, 70)
    b = g.add("dynamic_sign_pack", [x, t])
    y = g.add(
        "binary_conv2d",
        [b],
        {"cin": 70, "stride": [1, 1], "padding": [1, 1], "pad_value": 0.0, "epilogue": "float"},
        weight=g.packed(9, 3, 3, 70),
        scale=(g.rng.uniform(0.5, 1.5, 9) / 630).astype(np.float32),
        bias=g.floats(9),
    )
    v = _hyper(g, y, 9, 8, 18)
    z = g.add("dynamic_prelu", [y, v], slope=g.floats(9))
    return g.graph(g.add("flatten", [z])), g.tensors


def switched_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """A switched program (Bit-Mixer's run-time widths): switches ``a`` and ``b`` of 2 or 4
    bits; each quantize_pack has a case per width of its switch, the first bit-serial dense
    layer one per pair ``(a, b)`` (its epilogue follows both) reading the top planes of one
    4-plane weight (``weight_first_plane``), the second one per width of ``b``."""
    g = _Graph(6, [70])
    g.switches = [
        {"name": "a", "options": [2, 4], "default": 4},
        {"name": "b", "options": [2, 4], "default": 2},
    ]

    def activations(bits: int) -> dict[str, Any]:
        return {"bits": bits, "multiplier": float(2**bits) / 3, "zero_point": 2 ** (bits - 1)}

    def weights(bits: int) -> dict[str, Any]:  # +-1 planes, the top `bits` of 4
        offset = -(2**bits - 1)
        return {"weight_offset": offset, "weight_plane_weights": [2 << i for i in range(bits)]}

    def inputs(bits: int) -> dict[str, Any]:
        zero = 2 ** (bits - 1)
        return {"input_offset": -zero, "input_plane_weights": [1 << i for i in range(bits)]}

    def switched(names: list[str], cases: list[dict]) -> None:
        g.ops[-1]["variants"] = {"switches": names, "cases": cases}

    q = g.add("quantize_pack", ["input"], activations(4))
    switched(["a"], [{"bits": [b], "attrs": activations(b)} for b in (2, 4)])
    y = g.add("kbit_dense", [q], {"k": 70, "epilogue": "float"}, weight=g.planes(4, 9, 70))
    weight = g.ops[-1]["tensors"]["weight"]
    cases = []
    for a in (2, 4):
        for b in (2, 4):
            epilogue = g.affine(9)
            for role, array in epilogue.items():
                g.tensors[f"{y}.{role}@{a},{b}"] = array
            cases.append(
                {
                    "bits": [a, b],
                    "attrs": {**inputs(a), **weights(a), "weight_first_plane": 4 - a},
                    "tensors": {"weight": weight, **{r: f"{y}.{r}@{a},{b}" for r in epilogue}},
                }
            )
    switched(["a", "b"], cases)
    q = g.add("quantize_pack", [y], activations(2))
    switched(["b"], [{"bits": [b], "attrs": activations(b)} for b in (2, 4)])
    z = g.add("kbit_dense", [q], {"k": 9, "epilogue": "float"}, weight=g.planes(4, 5, 9))
    weight = g.ops[-1]["tensors"]["weight"]
    cases = []
    for b in (2, 4):
        epilogue = g.affine(5)
        for role, array in epilogue.items():
            g.tensors[f"{z}.{role}@{b}"] = array
        cases.append(
            {
                "bits": [b],
                "attrs": {**inputs(b), **weights(b), "weight_first_plane": 4 - b},
                "tensors": {"weight": weight, **{r: f"{z}.{r}@{b}" for r in epilogue}},
            }
        )
    switched(["b"], cases)
    return {**g.graph(z), "switches": g.switches}, g.tensors


def _hyper(g: _Graph, x: str, channels: int, hidden: int, outputs: int) -> str:
    """DyBNN's hyper function of the map ``x``: a vector of ``outputs`` per sample."""
    m = g.add("global_avgpool", [x])
    h = g.add(
        "dense",
        [m],
        {
            "in_features": channels,
            "out_features": hidden,
            "epilogue": "affine",
            "post": [{"step": "relu"}],
        },
        weight=g.floats(hidden, channels),
        scale=np.ones(hidden, np.float32),
        bias=g.floats(hidden),
    )
    return g.add(
        "dense",
        [h],
        {"in_features": hidden, "out_features": outputs, "epilogue": "affine"},
        weight=g.floats(outputs, hidden),
        scale=np.ones(outputs, np.float32),
        bias=g.floats(outputs),
    )


def _encodings(inputs: list, weights: list) -> dict[str, Any]:
    """A k-bit layer's encoding attrs from ``[offset, plane_weights]`` pairs."""
    return {
        "input_offset": inputs[0],
        "input_plane_weights": inputs[1],
        "weight_offset": weights[0],
        "weight_plane_weights": weights[1],
    }


SEEDS: dict[str, Callable[[], tuple[dict, dict[str, np.ndarray]]]] = {
    "mlp": mlp_seed,
    "cnn": cnn_seed,
    "packed": packed_seed,
    "resize": resize_seed,
    "text": text_seed,
    "kbit": kbit_seed,
    "dynamic": dynamic_seed,
    "switched": switched_seed,
}


_SAFETENSORS_DTYPES = {"<u8": "U64", "<i4": "I32", "|u1": "U8", "<f4": "F32"}


def assemble(graph_text: str, tensors: dict[str, np.ndarray], digest: str | None = None) -> bytes:
    """A ``.onebit`` file's bytes: any graph text (valid JSON or not) with the tensors, as
    safetensors lays them out, and the payload checksum (``digest`` overrides it)."""
    arrays = {name: np.ascontiguousarray(a) for name, a in sorted(tensors.items())}
    header: dict[str, Any] = {}
    offset = 0
    for name, array in arrays.items():
        dtype = _SAFETENSORS_DTYPES[array.dtype.newbyteorder("<").str]
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    metadata = {
        FORMAT_KEY: FORMAT,
        GRAPH_KEY: "\0GRAPH\0",
        DIGEST_KEY: payload_digest(arrays, graph_text) if digest is None else digest,
    }
    text = json.dumps({"__metadata__": metadata, **header})
    text = text.replace('"\\u0000GRAPH\\u0000"', json.dumps(graph_text))
    raw = text.encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(a.tobytes() for a in arrays.values())


def graph_text(graph: dict) -> str:
    return json.dumps({"version": 1, **graph})


def seed_files() -> dict[str, bytes]:
    """The built-in seed programs as file bytes."""
    files = {}
    for name, build in SEEDS.items():
        graph, tensors = build()
        files[name] = assemble(graph_text(graph), tensors)
    return files
