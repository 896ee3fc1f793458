"""Grouped and dilated binary convolutions in the exported C: built by gcc and clang on the host
(in the binary arithmetic and its float32 and int8 twins) and for the Cortex-M CPUs under QEMU,
the C gives the runtime's outputs bit for bit (every sum in the model is exact)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn

from helpers import dyadic, settle
from onebit.convert import convert
from onebit.export import cortex_m, to_c
from onebit.export.host import build_host, run_host
from onebit.nn import QuantConv2d

BINARY = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign", "bias": False}
SHAPE = (24, 9, 9)


@pytest.fixture(scope="module")
def grouped_program():
    """BATS-like convs on 24 channels: a dilated grouped 3x3 (groups 12, zero padding) and a
    strided grouped 5x5 (one-padding), each thresholded into bits by the next one's sign, then a
    dilated 3x3 in 3 groups (dilation (2, 3): a different one per axis) with a float output."""
    model = nn.Sequential(
        nn.BatchNorm2d(24),
        QuantConv2d(24, 24, 3, padding=2, dilation=2, groups=12, **BINARY),
        nn.BatchNorm2d(24),
        QuantConv2d(24, 36, 5, stride=2, padding=2, groups=12, pad_value=1.0, **BINARY),
        nn.BatchNorm2d(36),
        QuantConv2d(36, 24, 3, padding=(2, 3), dilation=(2, 3), groups=3, **BINARY),
        nn.BatchNorm2d(24),
        nn.Flatten(),
    )
    torch.manual_seed(0)
    program = convert(settle(model, SHAPE), torch.zeros(1, *SHAPE))
    convs = [op for op in program.ops if op.type == "binary_conv2d"]
    assert [op.attrs.get("groups") for op in convs] == [12, 12, 3]
    assert [op.attrs["epilogue"] for op in convs] == ["bits", "bits", "float"]
    x = dyadic(torch.randn(12, *SHAPE, generator=torch.Generator().manual_seed(1)), 1 / 16)
    return program, np.ascontiguousarray(x.numpy(), dtype=np.float32)


@pytest.mark.parametrize(
    ("compiler", "arithmetic"),
    [("gcc", "binary"), ("clang", "binary"), ("gcc", "float32"), ("gcc", "int8")],
)
def test_the_host_build_equals_the_runtime(grouped_program, tmp_path, compiler, arithmetic):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    program, x = grouped_program
    export = to_c(program, tmp_path / "out", arithmetic=arithmetic)
    got = run_host(build_host(export, tmp_path, compiler), x, export.output_size)
    np.testing.assert_array_equal(got.view(np.uint32), program(x).view(np.uint32))


@pytest.mark.slow
@pytest.mark.parametrize("cpu", tuple(cortex_m.CPUS))
def test_every_cortex_m_equals_the_runtime(grouped_program, tmp_path, cpu):
    reason = cortex_m.missing_tools()
    if reason is not None:
        pytest.skip(reason)
    program, x = grouped_program
    export = to_c(program, tmp_path / "c", name="grouped")
    run = cortex_m.run(cortex_m.build(export, x, cpu, tmp_path / cpu), export.output_size)
    logits = np.stack([r.logits for r in run.inferences])
    np.testing.assert_array_equal(logits.view(np.uint32), program(x).view(np.uint32))
