"""Binary ResNets of BinaryNet.pytorch (ResNet-18, -34 and -50 for ImageNet).

Source: ``itayhubara/BinaryNet.pytorch``, ``models/resnet_binary.py`` (``ResNet_imagenet``) and
``models/binarized_modules.py``, the PyTorch code of Hubara, Courbariaux, Soudry, El-Yaniv,
Bengio, "Binarized Neural Networks" (NIPS 2016). What carries over:

* ``BinarizeConv2d`` binarizes its weights always and its input unless the input is the 3-channel
  image; here the first layer keeps a real-valued input whatever ``in_channels`` is. Its sign is
  ``sign(0) = +1`` with a straight-through gradient; the inputs it sees are Hardtanh outputs and
  the training script clips the latent weights to [-1, 1], so ``ste_sign`` (clip 1) with
  ``weight_clip=1`` is the same rule. Binary layers pad with zeros.
* Stem: 7x7/2 binary-weight convolution, 3x3/2 max-pool (padding 1), then batch norm and Hardtanh
  (the pool comes *before* the batch norm).
* Basic block: ``tanh1(bn1(conv1(x)))``, then ``conv2(...) + shortcut``, then ``tanh2(bn2(...))``
  (batch norm after the addition). The shortcut is the block's real-valued input, or a binary
  1x1 strided convolution (binarized input) with batch norm where the shape changes.
* Head: global average pool (``AvgPool2d(7)`` at 224), ``BatchNorm1d`` and Hardtanh, a binary
  ``BinarizeLinear`` classifier with bias, and a final ``BatchNorm1d``. The source's LogSoftmax is
  left to the loss; the model returns logits.
* Convolution weights start He-normal (``std = sqrt(2 / (k * k * out_channels))``), as the
  source's ``init_model`` does.

The source's ``ResNet_imagenet`` is unfinished and does not run as written; the repairs, each
the smallest that runs: its forward calls ``tanh1``, ``bn2``, ``tanh2``, ``bn3`` that only
``ResNet_cifar10`` defines, so the head's two ``BatchNorm1d`` (of ``512 * expansion`` and
``num_classes`` features) are the CIFAR model's, resized; the bottleneck block (ResNet-50) stops
at a ``pdb`` breakpoint, is passed a ``do_bntan`` argument it does not take, and after the
addition applies ``bn2`` (``planes`` channels) to ``4 * planes`` channels, so here it keeps
exactly the modules its ``__init__`` declares and ends, as the basic block and torchvision's
bottleneck do, with its Hardtanh after the addition.

The Hardtanh layers belong to the source's network, so the full-precision twin
(``binary=False``) keeps them and only drops the binarization of weights and inputs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import ImageClassifier, check_image_args, quantizer_or_none
from onebit.models._factory import zoo_entry
from onebit.nn import QuantConv2d, QuantLinear


class _Binarization:
    """The quantizers of one network: None in the float twin."""

    def __init__(self, binary: bool, input_quantizer: Any, weight_quantizer: Any) -> None:
        self.input = quantizer_or_none(binary, input_quantizer)
        self.weight = quantizer_or_none(binary, weight_quantizer)

    def conv(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int = 1,
        padding: int = 0,
        real_input: bool = False,
    ) -> QuantConv2d:
        return QuantConv2d(
            cin,
            cout,
            kernel,
            stride=stride,
            padding=padding,
            bias=False,
            input_quantizer=None if real_input else self.input,
            weight_quantizer=self.weight,
        )


class BasicBlock(nn.Module):
    """BinaryNet.pytorch's basic block: two binary 3x3 convolutions, batch norm after the sum."""

    expansion = 1

    def __init__(
        self,
        q: _Binarization,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = q.conv(inplanes, planes, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.tanh1 = nn.Hardtanh()
        self.conv2 = q.conv(planes, planes, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.tanh2 = nn.Hardtanh()
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.tanh1(self.bn1(self.conv1(x)))
        out = self.conv2(out) + residual
        return self.tanh2(self.bn2(out))


class Bottleneck(nn.Module):
    """BinaryNet.pytorch's bottleneck block: binary 1x1, 3x3 and 1x1 convolutions, each with
    batch norm, Hardtanh after the first two and after the sum (see the module docstring)."""

    expansion = 4

    def __init__(
        self,
        q: _Binarization,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = q.conv(inplanes, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.tanh1 = nn.Hardtanh()
        self.conv2 = q.conv(planes, planes, 3, stride, 1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.tanh2 = nn.Hardtanh()
        self.conv3 = q.conv(planes, planes * 4, 1)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.tanh3 = nn.Hardtanh()
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.tanh1(self.bn1(self.conv1(x)))
        out = self.tanh2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out)) + residual
        return self.tanh3(out)


def _make_layer(
    q: _Binarization,
    block: type[BasicBlock | Bottleneck],
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int = 1,
) -> nn.Sequential:
    """One stage: its first block strides and, where the shape changes, projects the shortcut
    with a binary 1x1 convolution and batch norm."""
    outplanes = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != outplanes:
        downsample = nn.Sequential(
            q.conv(inplanes, outplanes, 1, stride), nn.BatchNorm2d(outplanes)
        )
    first = block(q, inplanes, planes, stride, downsample)
    return nn.Sequential(first, *(block(q, outplanes, planes) for _ in range(1, blocks)))


class BinaryResNet(ImageClassifier):
    """BinaryNet.pytorch's ImageNet ResNet; see :func:`build_binary_resnet`."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: tuple[int, int, int, int],
        q: _Binarization,
        input_shape: tuple[int, int, int],
        num_classes: int,
        binary: bool,
    ) -> None:
        super().__init__(input_shape, num_classes, binary)
        self.conv1 = q.conv(input_shape[0], 64, 7, 2, 3, real_input=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(64)
        self.tanh1 = nn.Hardtanh()
        self.layer1 = _make_layer(q, block, 64, 64, layers[0])
        self.layer2 = _make_layer(q, block, 64 * block.expansion, 128, layers[1], stride=2)
        self.layer3 = _make_layer(q, block, 128 * block.expansion, 256, layers[2], stride=2)
        self.layer4 = _make_layer(q, block, 256 * block.expansion, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        features = 512 * block.expansion
        self.bn2 = nn.BatchNorm1d(features)
        self.tanh2 = nn.Hardtanh()
        self.fc = QuantLinear(
            features, num_classes, input_quantizer=q.input, weight_quantizer=q.weight
        )
        self.bn3 = nn.BatchNorm1d(num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tanh1(self.bn1(self.maxpool(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.tanh2(self.bn2(self.flatten(self.avgpool(x))))
        return self.bn3(self.fc(x))


DEPTHS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
}


@zoo_entry("binary-resnet18", depth=18)
@zoo_entry("binary-resnet34", depth=34)
@zoo_entry("binary-resnet50", depth=50)
def build_binary_resnet(
    depth: int,
    *,
    num_classes: int,
    input_size: int,
    in_channels: int,
    binary: bool = True,
    input_quantizer: Any = "ste_sign",
    weight_quantizer: Any = "ste_sign",
) -> BinaryResNet:
    """Build BinaryNet.pytorch's ImageNet ResNet of ``depth`` 18, 34 or 50, or its float twin.

    Args:
        depth: 18, 34 (basic blocks) or 50 (bottleneck blocks).
        num_classes: output units.
        input_size: side of the square input image (any; the head pools globally).
        in_channels: channels of the input image.
        binary: binarize weights and block inputs; False gives the float twin (Hardtanh kept).
        input_quantizer: the sign of every binary layer's input (binary only).
        weight_quantizer: the quantizer of every layer's weights (binary only).
    """
    if depth not in DEPTHS:
        raise OnebitError(f"binary-resnet: depth must be one of {sorted(DEPTHS)}, got {depth!r}")
    name = f"binary-resnet{depth}"
    shape = check_image_args(name, num_classes, input_size, in_channels, 1)
    block, layers = DEPTHS[depth]
    q = _Binarization(binary, input_quantizer, weight_quantizer)
    return BinaryResNet(block, layers, q, shape, num_classes, binary)
