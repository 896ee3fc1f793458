"""The C++ executor's convolutions against the reference executor's (Python): float (groups 1,
depthwise with a depth multiplier, grouped) and binary (one- and zero-padding; bits, float and
int epilogues; a fused residual tail), on many shapes, batches and thread counts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onebit.runtime.errors import ProgramError
from onebit.runtime.reference import bitpack
from onebit.runtime.reference_program import ReferenceProgram

native = pytest.importorskip("onebit._native")
LIMITS = {"max_memory": 4 * 2**30, "max_work": 2**36}


def both(graph: dict, tensors: dict):
    """The Python and the C++ program of one graph, or the message both refuse it with."""
    try:
        python = ReferenceProgram(graph, tensors)
    except ProgramError as error:
        with pytest.raises(ProgramError) as caught:
            native.Program(json.dumps(graph), tensors, list(tensors), **LIMITS)
        assert str(caught.value) == str(error)
        return None
    return python, native.Program(json.dumps(graph), tensors, list(tensors), **LIMITS)


def float_conv_graph(rng, c, h, w, cout, kernel, stride, padding, groups, epilogue, relu):
    group_in = c // groups
    tensors = {"w": (rng.standard_normal((cout, *kernel, group_in)) * 0.3).astype(np.float32)}
    roles = {"weight": "w"}
    if epilogue in ("affine", "sign"):
        tensors["s"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
        tensors["b"] = rng.standard_normal(cout).astype(np.float32)
        roles |= {"scale": "s", "bias": "b"}
    ops = [{"type": "nchw_to_nhwc", "inputs": ["input"], "output": "x"}]
    attrs = {"cin": c, "cout": cout, "kernel": list(kernel), "stride": list(stride),
             "padding": list(padding), "pad_value": 0.0, "groups": groups,
             "epilogue": epilogue}  # fmt: skip
    if relu and epilogue != "sign":
        attrs["post"] = [{"step": "relu"}]
    ops.append({"type": "conv2d", "inputs": ["x"], "output": "y", "attrs": attrs, "tensors": roles})
    graph = {"input": {"name": "input", "shape": [c, h, w]}, "output": "y", "ops": ops}
    return graph, tensors


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    c=st.sampled_from([1, 2, 3, 4, 6]),
    multiplier=st.sampled_from([1, 2]),
    hw=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(*[st.integers(0, 2)] * 4),
    grouping=st.sampled_from(["one", "depthwise", "grouped"]),
    epilogue=st.sampled_from(["none", "affine", "sign"]),
    relu=st.booleans(),
    batch=st.sampled_from([1, 3]),
    threads=st.sampled_from([1, 2]),
)
def test_float_conv2d_equals_the_python_runtime(
    seed, c, multiplier, hw, kernel, stride, padding, grouping, epilogue, relu, batch, threads
):
    rng = np.random.default_rng(seed)
    groups = {"one": 1, "depthwise": c, "grouped": 2 if c % 2 == 0 else 1}[grouping]
    cout = c * multiplier if grouping == "depthwise" else 2 * groups * multiplier
    graph, tensors = float_conv_graph(
        rng, c, *hw, cout, kernel, stride, padding, groups, epilogue, relu
    )
    programs = both(graph, tensors)
    if programs is None:
        return
    python, cpp = programs
    x = rng.uniform(-3, 3, (batch, c, *hw)).astype(np.float32)
    want, got = python(x), cpp.run(x, threads=threads)
    assert got.dtype == want.dtype and got.shape == want.shape
    if grouping == "grouped" and groups > 1 and epilogue != "sign":
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # NumPy's matmul sums otherwise
    elif not (grouping == "grouped" and groups > 1):
        np.testing.assert_array_equal(got, want)


def binary_conv_graph(rng, cin, h, w, cout, kernel, stride, padding, pad_value, epilogue, residual):
    tensors = {"w": bitpack(rng.standard_normal((cout, *kernel, cin)).astype(np.float32))}
    roles = {"weight": "w"}
    attrs = {"cin": cin, "stride": list(stride), "padding": list(padding),
             "pad_value": pad_value, "epilogue": epilogue}  # fmt: skip
    if epilogue == "float":
        tensors["s"] = rng.uniform(-1, 1, cout).astype(np.float32)
        tensors["b"] = rng.standard_normal(cout).astype(np.float32)
        roles |= {"scale": "s", "bias": "b"}
    elif epilogue == "bits":
        k = cin * kernel[0] * kernel[1]
        tensors["t"] = rng.integers(-k // 4, k // 4 + 1, cout).astype(np.int32)
        tensors["f"] = rng.integers(0, 2, cout).astype(np.uint8)
        roles |= {"threshold": "t", "flip": "f"}
    ops = [
        {"type": "nchw_to_nhwc", "inputs": ["input"], "output": "x"},
        {"type": "sign_pack", "inputs": ["x"], "output": "p"},
    ]
    inputs = ["p"]
    if residual and epilogue == "float":  # a residual map of the output's shape, fused as a tail
        ops.append({"type": "conv2d", "inputs": ["x"], "output": "r",
                    "attrs": {"cin": cin, "cout": cout, "kernel": list(kernel),
                              "stride": list(stride), "padding": [padding[0], padding[1]],
                              "pad_value": 0.0, "epilogue": "none"},
                    "tensors": {"weight": "rw"}})  # fmt: skip
        tensors["rw"] = (rng.standard_normal((cout, *kernel, cin)) * 0.2).astype(np.float32)
        attrs["post"] = [{"step": "add"}, {"step": "relu"}]
        inputs.append("r")
    ops.append(
        {"type": "binary_conv2d", "inputs": inputs, "output": "y", "attrs": attrs, "tensors": roles}
    )
    graph = {"input": {"name": "input", "shape": [cin, h, w]}, "output": "y", "ops": ops}
    return graph, tensors


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    cin=st.sampled_from([1, 7, 32, 63, 64, 65, 130]),
    cout=st.sampled_from([1, 3, 64, 65]),
    hw=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    pad_value=st.sampled_from([0.0, 1.0]),
    epilogue=st.sampled_from(["bits", "float", "int"]),
    residual=st.booleans(),
    batch=st.sampled_from([1, 3]),
    threads=st.sampled_from([1, 2]),
)
def test_binary_conv2d_equals_the_python_runtime(
    seed, cin, cout, hw, kernel, stride, padding, pad_value, epilogue, residual, batch, threads
):
    rng = np.random.default_rng(seed)
    graph, tensors = binary_conv_graph(
        rng, cin, *hw, cout, kernel, stride, padding, pad_value, epilogue, residual
    )
    programs = both(graph, tensors)
    if programs is None:
        return
    python, cpp = programs
    x = rng.uniform(-1, 1, (batch, cin, *hw)).astype(np.float32)
    want, got = python(x), cpp.run(x, threads=threads)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a, t: a.update(groups=3), "groups=3 must divide both cin=4 and cout=8"),
        (
            lambda a, t: (a.update(kernel=[9, 9]), t.update(w=np.zeros((8, 9, 9, 4), np.float32))),
            "kernel 9 exceeds the padded side 7",
        ),
        (lambda a, t: a.update(cin=5), "tensor 'weight' has shape"),
        (lambda a, t: a.update(pad_value=1e39), "pad_value must be a finite number"),
        (lambda a, t: a.update(epilogue="bits"), "epilogue must be 'none', 'affine' or 'sign'"),
        (lambda a, t: a.update(post=[{"step": "add"}]), "takes 2 input(s)"),
    ],
    ids=["groups", "kernel", "cin", "pad-value", "epilogue", "post-add"],
)
def test_bad_float_convs_are_refused_with_the_python_messages(change, message):
    rng = np.random.default_rng(0)
    graph, tensors = float_conv_graph(
        rng, 4, 5, 5, 8, (3, 3), (1, 1), (1, 1, 1, 1), 1, "none", False
    )
    change(graph["ops"][1]["attrs"], tensors)
    assert both(graph, tensors) is None
    with pytest.raises(ProgramError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ReferenceProgram(graph, tensors)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a, t: a.update(pad_value=0.5), r"pad_value must be one of \[0.0, 1.0\]"),
        (lambda a, t: a.update(cin=70), r"tensor 'weight' has shape \(3, 3, 3, 1\)"),
        (lambda a, t: t.update(w=t["w"] | np.uint64(1 << 63)), "has bits set beyond its 5"),
        (lambda a, t: a.update(stride=[0, 1]), "stride must be two integers >= 1"),
        (lambda a, t: a.update(epilogue="sign"), "epilogue must be 'float', 'bits' or 'int'"),
    ],
    ids=["pad-value", "cin", "padding-bits", "stride", "epilogue"],
)
def test_bad_binary_convs_are_refused_with_the_python_messages(change, message):
    rng = np.random.default_rng(0)
    graph, tensors = binary_conv_graph(rng, 5, 4, 4, 3, (3, 3), (1, 1), (1, 1), 1.0, "int", False)
    change(graph["ops"][2]["attrs"], tensors)
    assert both(graph, tensors) is None
    with pytest.raises(ProgramError, match=message):
        ReferenceProgram(graph, tensors)
