"""A binary_conv2d with groups and dilation in a program: the C++ executor, the Python one and the
NumPy reference kernels give the same outputs (bits, float with a fused residual tail, int), and
bad groups, dilations and weights are refused by both executors with the same message."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onebit.runtime import reference
from onebit.runtime.errors import ProgramError
from onebit.runtime.reference import bitpack
from onebit.runtime.reference_program import ReferenceProgram

native = pytest.importorskip("onebit._native")
LIMITS = {"max_memory": 4 * 2**30, "max_work": 2**36}


def both(graph: dict, tensors: dict):
    """The Python and the C++ program of one graph, or None when both refuse it alike."""
    try:
        python = ReferenceProgram(graph, tensors)
    except ProgramError as error:
        with pytest.raises(ProgramError) as caught:
            native.Program(json.dumps(graph), tensors, list(tensors), **LIMITS)
        assert str(caught.value) == str(error)
        return None
    return python, native.Program(json.dumps(graph), tensors, list(tensors), **LIMITS)


def grouped_graph(
    rng,
    cin,
    hw,
    cout,
    kernel,
    stride,
    padding,
    dilation,
    groups,
    pad_value,
    epilogue,
    residual=False,
):
    """input (NCHW) -> NHWC -> sign_pack -> binary_conv2d; attrs groups and dilation when not 1."""
    w = rng.standard_normal((cout, *kernel, cin // groups)).astype(np.float32)
    tensors = {"w": bitpack(w)}
    roles = {"weight": "w"}
    attrs = {
        "cin": cin,
        "stride": list(stride),
        "padding": list(padding),
        "pad_value": pad_value,
        "epilogue": epilogue,
    }
    if tuple(dilation) != (1, 1):
        attrs["dilation"] = list(dilation)
    if groups != 1:
        attrs["groups"] = groups
    if epilogue == "float":
        tensors["s"] = rng.uniform(-1, 1, cout).astype(np.float32)
        tensors["b"] = rng.standard_normal(cout).astype(np.float32)
        roles |= {"scale": "s", "bias": "b"}
    elif epilogue == "bits":
        k = cin // groups * kernel[0] * kernel[1]
        tensors["t"] = rng.integers(-k // 4, k // 4 + 1, cout).astype(np.int32)
        tensors["f"] = rng.integers(0, 2, cout).astype(np.uint8)
        roles |= {"threshold": "t", "flip": "f"}
    ops = [
        {"type": "nchw_to_nhwc", "inputs": ["input"], "output": "x"},
        {"type": "sign_pack", "inputs": ["x"], "output": "p"},
    ]
    inputs = ["p"]
    if residual:  # a second binary conv of the same geometry, added as a fused tail
        ops.append(
            {
                "type": "binary_conv2d",
                "inputs": ["p"],
                "output": "r",
                "attrs": {**attrs, "epilogue": "float"},
                "tensors": {"weight": "rw", "scale": "s", "bias": "b"},
            }
        )
        tensors["rw"] = bitpack(rng.standard_normal(w.shape).astype(np.float32))
        attrs["post"] = [{"step": "add"}, {"step": "relu"}]
        inputs.append("r")
    ops.append(
        {"type": "binary_conv2d", "inputs": inputs, "output": "y", "attrs": attrs, "tensors": roles}
    )
    graph = {"input": {"name": "input", "shape": [cin, *hw]}, "output": "y", "ops": ops}
    return graph, tensors


def reference_output(graph, tensors, x):
    """The last op on the NumPy reference kernels (no residual)."""
    attrs = graph["ops"][-1]["attrs"]
    packed = reference.bitpack(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    args = (
        attrs["stride"],
        attrs["padding"],
        attrs["pad_value"],
        attrs.get("dilation", (1, 1)),
        attrs.get("groups", 1),
    )
    w, cin = tensors["w"], attrs["cin"]
    if attrs["epilogue"] == "float":
        return reference.bconv2d_float(packed, w, cin, tensors["s"], tensors["b"], *args)
    if attrs["epilogue"] == "bits":
        return reference.bconv2d_bits(packed, w, cin, tensors["t"], tensors["f"], *args)
    return reference.bconv2d(packed, w, cin, *args)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    group_cin=st.sampled_from([1, 2, 7, 32, 33, 65]),
    group_cout=st.sampled_from([1, 2, 3]),
    groups=st.sampled_from([1, 2, 3, 12]),
    hw=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    kernel=st.sampled_from([(1, 1), (3, 3), (5, 5), (3, 1)]),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 4), st.integers(0, 4)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pad_value=st.sampled_from([0.0, 1.0]),
    epilogue=st.sampled_from(["bits", "float", "int"]),
    residual=st.booleans(),
    batch=st.sampled_from([1, 3]),
    threads=st.sampled_from([1, 2]),
)
def test_grouped_dilated_binary_conv2d_equals_the_python_runtime(
    seed,
    group_cin,
    group_cout,
    groups,
    hw,
    kernel,
    stride,
    padding,
    dilation,
    pad_value,
    epilogue,
    residual,
    batch,
    threads,
):
    rng = np.random.default_rng(seed)
    cin, cout = group_cin * groups, group_cout * groups
    residual = residual and epilogue == "float"
    graph, tensors = grouped_graph(
        rng, cin, hw, cout, kernel, stride, padding, dilation, groups, pad_value, epilogue, residual
    )
    programs = both(graph, tensors)  # a kernel wider than the padded input: refused alike
    if programs is None:
        return
    python, cpp = programs
    x = rng.uniform(-1, 1, (batch, cin, *hw)).astype(np.float32)
    want, got = python(x), cpp.run(x, threads=threads)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    if not residual:
        expected = reference_output(graph, tensors, x)
        np.testing.assert_array_equal(got.reshape(expected.shape), expected)


def test_bats_cells_run_alike():
    """BATS' grouped 3x3 / 5x5 (stride 1, 2) and dilated grouped convs (dilation 2, padding 2
    or 4) on 24 channels in 12 groups."""
    rng = np.random.default_rng(0)
    cells = [((3, 3), 1, 1, 1), ((5, 5), 2, 2, 1), ((3, 3), 1, 2, 2), ((5, 5), 2, 4, 2)]
    for kernel, s, p, d in cells:
        for epilogue in ("bits", "float"):
            graph, tensors = grouped_graph(
                rng, 24, (16, 16), 24, kernel, (s, s), (p, p), (d, d), 12, 0.0, epilogue
            )
            python, cpp = both(graph, tensors)
            x = rng.uniform(-1, 1, (2, 24, 16, 16)).astype(np.float32)
            want = reference_output(graph, tensors, x)
            np.testing.assert_array_equal(python(x).reshape(want.shape), want)
            np.testing.assert_array_equal(cpp.run(x, threads=2).reshape(want.shape), want)


def test_programs_without_the_attrs_are_unchanged():
    """groups and dilation are written only when not 1; 1 written out means the same."""
    rng = np.random.default_rng(1)
    graph, tensors = grouped_graph(
        rng, 33, (5, 6), 9, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.0, "float"
    )
    assert "groups" not in graph["ops"][-1]["attrs"] and "dilation" not in graph["ops"][-1]["attrs"]
    explicit = json.loads(json.dumps(graph))
    explicit["ops"][-1]["attrs"] |= {"groups": 1, "dilation": [1, 1]}
    x = rng.uniform(-1, 1, (2, 33, 5, 6)).astype(np.float32)
    (python, cpp), (python1, cpp1) = both(graph, tensors), both(explicit, tensors)
    want = python(x)
    for got in (python1(x), cpp.run(x), cpp1.run(x)):
        np.testing.assert_array_equal(got, want)


def _set_weight_bit(t, bit):
    t["w"] = t["w"] | np.uint64(1 << bit)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a, t: a.update(groups=0), "groups must be an integer >= 1, < 2^31"),
        (lambda a, t: a.update(groups=2**31), "groups must be an integer >= 1, < 2^31"),
        (lambda a, t: a.update(groups=2**31 - 1), "groups=2147483647 must divide cin=12"),
        (lambda a, t: a.update(groups=True), "groups must be an integer >= 1, < 2^31"),
        (lambda a, t: a.update(groups=5), "groups=5 must divide cin=12"),
        (lambda a, t: a.update(groups=4), "groups=4 must divide cout=6 (the weight's first axis)"),
        (lambda a, t: a.update(groups=6), "has bits set beyond its 2"),  # 2 channels per group
        (lambda a, t: a.update(dilation=[0, 1]), "dilation must be two integers >= 1, < 2^31"),
        (
            lambda a, t: a.update(dilation=[1, 2**31 - 1]),
            "the kernel 3x3 dilated by 1x2147483647 spans 3x4294967295, more than the padded "
            "input 6x6",
        ),
        (lambda a, t: a.update(dilation=2), "dilation must be two integers >= 1, < 2^31"),
        (lambda a, t: a.update(dilation=[1, 2, 3]), "dilation must be two integers >= 1"),
        (
            lambda a, t: a.update(dilation=[3, 1]),
            "the kernel 3x3 dilated by 3x1 spans 7x3, more than the padded input 6x6",
        ),
        (lambda a, t: t.update(w=np.zeros((6, 3, 3, 2), np.uint64)), "tensor 'weight' has shape"),
        (lambda a, t: _set_weight_bit(t, 6), "has bits set beyond its 6"),
    ],
    ids=[
        "groups-zero",
        "groups-huge",
        "groups-largest",
        "groups-bool",
        "groups-cin",
        "groups-cout",
        "groups-weight-bits",
        "dilation-zero",
        "dilation-largest",
        "dilation-int",
        "dilation-three",
        "dilated-kernel",
        "weight-words",
        "weight-padding-bits",
    ],
)
def test_bad_grouped_convs_are_refused_with_the_python_messages(change, message):
    rng = np.random.default_rng(0)
    graph, tensors = grouped_graph(
        rng, 12, (4, 4), 6, (3, 3), (1, 1), (1, 1), (1, 1), 2, 0.0, "int"
    )
    change(graph["ops"][-1]["attrs"], tensors)
    assert both(graph, tensors) is None
    with pytest.raises(ProgramError, match=re.escape(message)):
        ReferenceProgram(graph, tensors)
