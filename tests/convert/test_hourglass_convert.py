"""The binary hourglass converts: its hierarchical blocks (binary convs whose float outputs are
concatenated onto the shortcut), max-pools and nearest upsampling run in the engine and give the
model's heatmaps, and the points decoded from them; nearest upsampling converts from
``nn.Upsample`` and ``F.interpolate`` at integer scales, and anything else is refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import agree
from helpers import settle
from onebit import models
from onebit.convert import ConversionError, convert
from onebit.landmarks import decode_heatmaps
from onebit.runtime import load
from onebit.runtime.reference_program import ReferenceProgram

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_hourglass_gives_the_models_heatmaps(tmp_path) -> None:
    shape = (1, 32, 32)
    model = models.create(
        "landmark-hourglass", num_classes=5, input_size=32, in_channels=1, features=16, depth=2
    )
    model = settle(model, shape, seed=0)
    program = convert(model, torch.zeros(1, *shape))
    types = {op.type for op in program.ops}
    assert {"upsample_nearest", "concat", "maxpool2d", "binary_conv2d"} <= types
    assert "add" not in types  # each residual add runs in a concat's or a conv's post tail
    x = torch.rand(6, *shape, generator=torch.Generator().manual_seed(3))
    agree(model, program, x, atol=1e-5)
    with torch.no_grad():
        expected = model(x).numpy()
    heatmaps = program(x.numpy())
    assert heatmaps.shape == (6, 5, 8, 8)
    np.testing.assert_array_equal(decode_heatmaps(heatmaps, 4), decode_heatmaps(expected, 4))
    program.save(tmp_path / "hourglass.onebit")
    np.testing.assert_array_equal(load(tmp_path / "hourglass.onebit")(x.numpy()), heatmaps)
    reference = ReferenceProgram(program.graph, program.tensors)
    np.testing.assert_allclose(reference(x.numpy()), heatmaps, atol=1e-5)


class Upsampled(nn.Module):
    def __init__(self, upsample=None, call=None, binary: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.upsample = upsample
        self.call = call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.upsample(y) if self.upsample is not None else self.call(y)


@pytest.mark.parametrize(
    "model",
    [
        Upsampled(nn.Upsample(scale_factor=2)),
        Upsampled(nn.Upsample(scale_factor=(3, 1), mode="nearest")),
        Upsampled(call=lambda y: F.interpolate(y, scale_factor=2.0)),
        Upsampled(call=lambda y: F.interpolate(y, scale_factor=(1, 2), mode="nearest")),
    ],
    ids=["module", "module-per-side", "interpolate", "interpolate-per-side"],
)
def test_nearest_upsampling_converts(model) -> None:
    model = settle(model, (2, 5, 4), seed=1)
    program = convert(model, torch.zeros(1, 2, 5, 4))
    assert "upsample_nearest" in {op.type for op in program.ops}
    agree(model, program, torch.randn(3, 2, 5, 4), atol=1e-6)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Upsampled(nn.Upsample(size=(10, 8))), "scale_factor, not a size"),
        (Upsampled(nn.Upsample(scale_factor=2, mode="bilinear")), "only mode 'nearest'"),
        (Upsampled(nn.Upsample(scale_factor=1.5)), "integer >= 1"),
        (Upsampled(call=lambda y: F.interpolate(y, size=(10, 8))), "scale_factor, not a size"),
        (
            Upsampled(call=lambda y: F.interpolate(y, scale_factor=2, mode="bilinear")),
            "only mode 'nearest'",
        ),
    ],
    ids=["size", "bilinear", "fraction", "interpolate-size", "interpolate-bilinear"],
)
def test_other_resizing_is_refused(model, message) -> None:
    with pytest.raises(ConversionError, match=message):
        convert(model.eval(), torch.zeros(1, 2, 5, 4))
