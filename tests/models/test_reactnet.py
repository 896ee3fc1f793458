"""ReActNet-A: the official code's parameter count, the layout, the float twin, conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers import settle
from onebit import OnebitError, models
from onebit.convert import convert
from onebit.models._common import parameter_count
from onebit.models.reactnet import ReActBlock
from onebit.nn import LearnableBias, QuantConv2d, QuantizedLayer, RPReLU, binary_parameters
from onebit.quantizers import Quantizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_parameter_count_at_imagenet_shape_is_the_official_count():
    """The official model (liuzechun/ReActNet, mobilenet/2_step2/reactnet.py),
    sum(p.numel() for p in model.parameters()). A block of C channels has a 3x3 conv (9 C^2),
    two learnable biases and two BNs (2 C + 4 C), RPReLU (3 C) and, keeping the width, a 1x1 conv
    (C^2) and RPReLU (3 C): 10 C^2 + 12 C; doubling it, two 1x1 convs (2 C^2) and RPReLU of 2 C
    (6 C) with one more BN (2 C): 11 C^2 + 17 C. Stem 864 + 64, fc 1,025,000:
    928 + (11,808 + 46,144 + 165,376 + 182,400 + 658,432 + 725,248 + 5 x 2,627,584
    + 2,892,288 + 10,498,048) + 1,025,000."""

    def block(c: int, doubles: bool) -> int:
        return 11 * c * c + 17 * c if doubles else 10 * c * c + 12 * c

    widths = [(32, True), (64, True), (128, False), (128, True), (256, False), (256, True)]
    widths += [(512, False)] * 5 + [(512, True), (1024, False)]
    by_hand = 864 + 64 + sum(block(c, doubles) for c, doubles in widths) + 1_025_000
    assert by_hand == models.config("reactnet-a").reference_parameters
    with torch.device("meta"):
        model = models.create("reactnet-a")
    assert parameter_count(model) == by_hand


def test_layout_follows_the_official_code():
    model = models.create("reactnet-a", num_classes=10, input_size=32)
    stem_conv, _ = model.stem
    assert type(stem_conv) is nn.Conv2d and stem_conv.out_channels == 32
    assert stem_conv.kernel_size == (3, 3) and stem_conv.stride == (2, 2)
    assert type(model.fc) is nn.Linear and model.fc.in_features == 1024
    blocks = [m for m in model.modules() if isinstance(m, ReActBlock)]
    widths = [b.act2.prelu.num_parameters for b in blocks]
    assert widths == [64, 128, 128, 256, 256, *[512] * 6, 1024, 1024]
    strides = [b.conv3x3.stride[0] for b in blocks]
    assert strides == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    assert [isinstance(b.pool, nn.AvgPool2d) for b in blocks] == [s == 2 for s in strides]
    # the 1x1 conv is duplicated (and the two outputs concatenated) where the width doubles
    assert [len(b.conv1x1) for b in blocks] == [2, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    for block in blocks:
        assert isinstance(block.act1, RPReLU) and isinstance(block.act2, RPReLU)
        assert isinstance(block.move1, LearnableBias) and isinstance(block.move2, LearnableBias)
        for conv in [block.conv3x3, *block.conv1x1]:
            assert isinstance(conv, QuantConv2d) and conv.bias is None and conv.weight_clip is None
            assert conv.input_quantizer.name == "approx_sign"
            assert conv.weight_quantizer.name == "magnitude_aware_sign"
        assert all(c.out_channels == c.in_channels for c in block.conv1x1)


def test_a_downsampling_block_concatenates_two_1x1_branches():
    block = ReActBlock(8, 16, stride=2, binary=True).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        y = block.act1(block.bn1(block.conv3x3(block.move1(x))) + block.pool(x))
        z = block.move2(y)
        halves = [bn(conv(z)) + y for conv, bn in zip(block.conv1x1, block.bn2, strict=True)]
        assert torch.equal(block(x), block.act2(torch.cat(halves, dim=1)))
    assert block(x).shape == (2, 16, 3, 3)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "float-twin"])
def test_forward_at_a_small_input_gives_logits_per_class(binary):
    model = models.create("reactnet-a", num_classes=5, input_size=64, binary=binary)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 5)
    assert model.input_shape == (3, 64, 64) and model.binary is binary


def test_float_twin_has_no_quantizers_and_the_same_parameter_count():
    binary = models.create("reactnet-a", num_classes=10, input_size=32)
    twin = models.create("reactnet-a", num_classes=10, input_size=32, binary=False)
    assert not any(isinstance(m, Quantizer | QuantizedLayer) for m in twin.modules())
    assert sum(isinstance(m, nn.Hardtanh) for m in twin.modules()) == 13 + 18  # one per sign
    assert list(binary_parameters(twin)) == []
    assert parameter_count(twin) == parameter_count(binary)


def test_binary_parameters_are_exactly_the_3x3_and_1x1_conv_weights():
    model = models.create("reactnet-a", num_classes=10, input_size=32)
    names = {name for name, _ in binary_parameters(model)}
    assert names == {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, QuantConv2d)}
    assert len(names) == 13 + 18
    assert "stem.0.weight" not in names and "fc.weight" not in names


def test_input_size_must_be_a_multiple_of_32():
    with pytest.raises(OnebitError, match="multiple of 32"):
        models.create("reactnet-a", input_size=40)


def test_converted_program_agrees_with_torch_eval():
    torch.manual_seed(0)
    model = settle(models.create("reactnet-a", num_classes=10, input_size=32), (3, 32, 32))
    program = convert(model, torch.zeros(1, 3, 32, 32))
    types = [op.type for op in program.ops]
    assert types.count("binary_conv2d") == 13 + 18
    assert types.count("concat") + types.count("binary_concat") == 5
    assert types.count("avgpool2d") == 4
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        expected = model(x).numpy()
    got = program(x.numpy())
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
