"""The binary convolution over a sequence: ``binary_conv2d`` of height 1 (kernel (1, k), padding
(0, p), stride (1, s), dilation (1, d)), as the converter runs a ``Conv1d``. The NumPy reference
equals torch's ``conv1d`` on ±1 data (exact integers, one- and zero-padding), and the native
kernel equals the reference bit for bit on every SIMD path this machine runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import native_params
from onebit.runtime import reference

IMPLS = [pytest.param(reference.bconv2d, id="reference"), *native_params("bconv2d", threads=(1, 2))]
CHANNELS = (1, 7, 31, 32, 33, 63, 64, 65, 127)  # around the word width


@st.composite
def sequences(draw) -> dict:
    """A sequence conv that fits: kernel 1..7, stride 1 or 2, dilation 1 or 2, padding up to
    half the span, odd and even lengths, batch 1 or 3, either pad value."""
    kernel, dilation = draw(st.integers(1, 7)), draw(st.sampled_from([1, 2]))
    span = (kernel - 1) * dilation + 1
    padding = draw(st.integers(0, span // 2))
    length = draw(st.integers(max(1, span - 2 * padding), 23))
    return {
        "n": draw(st.sampled_from([1, 3])),
        "cin": draw(st.sampled_from(CHANNELS)),
        "cout": draw(st.sampled_from(CHANNELS)),
        "length": length,
        "kernel": kernel,
        "stride": draw(st.sampled_from([1, 2])),
        "padding": padding,
        "dilation": dilation,
        "pad_value": draw(st.sampled_from([0.0, 1.0])),
        "seed": draw(st.integers(0, 2**16)),
    }


def _data(case: dict) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(case["seed"])
    x = torch.randint(0, 2, (case["n"], case["cin"], case["length"]), generator=gen) * 2.0 - 1
    w = torch.randint(0, 2, (case["cout"], case["cin"], case["kernel"]), generator=gen) * 2.0 - 1
    return x.double(), w.double()


def torch_conv1d(x: torch.Tensor, w: torch.Tensor, case: dict) -> np.ndarray:
    """torch's conv1d of ±1 data as the engine's (N, 1, L', Cout) int32 map."""
    p, args = case["padding"], {"stride": case["stride"], "dilation": case["dilation"]}
    if case["pad_value"] == 1.0:
        out = F.conv1d(F.pad(x, (p, p), value=1.0), w, **args)
    else:
        out = F.conv1d(x, w, padding=p, **args)
    return out.permute(0, 2, 1)[:, None].round().to(torch.int32).numpy()


def run_as_2d(bconv2d, x: torch.Tensor, w: torch.Tensor, case: dict) -> np.ndarray:
    """The conv as ``bconv2d`` of height 1 on the packed (N, 1, L, words) map."""
    xs = reference.bitpack(x.permute(0, 2, 1)[:, None].contiguous().numpy())
    ws = reference.bitpack(w.permute(0, 2, 1)[:, None].contiguous().numpy())
    geometry = ((1, case["stride"]), (0, case["padding"]), case["pad_value"], (1, case["dilation"]))
    return bconv2d(xs, ws, case["cin"], *geometry)


@settings(max_examples=60, deadline=None)
@given(case=sequences())
def test_the_reference_equals_torch_conv1d_on_pm1_data(case) -> None:
    x, w = _data(case)
    np.testing.assert_array_equal(
        run_as_2d(reference.bconv2d, x, w, case), torch_conv1d(x, w, case), err_msg=str(case)
    )


@pytest.mark.parametrize("bconv2d", IMPLS)
@settings(max_examples=40, deadline=None)
@given(case=sequences())
def test_the_native_kernel_equals_the_reference(bconv2d, case) -> None:
    x, w = _data(case)
    expected = run_as_2d(reference.bconv2d, x, w, case)
    np.testing.assert_array_equal(run_as_2d(bconv2d, x, w, case), expected, err_msg=str(case))
