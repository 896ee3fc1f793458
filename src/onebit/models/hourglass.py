"""A binary hourglass of hierarchical, parallel and multi-scale blocks, for landmark localization.

Bulat & Tzimiropoulos, "Binarized Convolutional Landmark Localizers for Human Pose Estimation
and Face Alignment with Limited Resources", ICCV 2017 (and the journal version, "Hierarchical
binary CNNs for landmark localization with limited resources", TPAMI 2018). Layout as the
authors' float network in ``1adrianb/face-alignment`` (``face_alignment/models.py``: ``ConvBlock``,
``HourGlass``, ``FAN`` with one stack), with the block binarized as the paper describes::

    block    x -> [BN -> sign -> binary conv 3x3] to C/2 channels  = a
                  a -> [BN -> sign -> binary conv 3x3] to C/4      = b
                  b -> [BN -> sign -> binary conv 3x3] to C/4      = c
             concat(a, b, c) + shortcut(x)
             shortcut: identity, or BN -> sign -> binary 1x1 conv when the channels change
    hourglass(d)  block(x) + upsample_nearest_2x(block(hourglass(d - 1)(block(maxpool_2(x)))))
             (at d = 1 the inner hourglass is one more block)
    stem     real conv 7x7/2 (S) -> BN -> ReLU -> block(S, 2S) -> maxpool 2
             -> block(2S, 2S) -> block(2S, F)        (S = 64 in the paper's network)
    head     hourglass(depth) -> block(F, F) -> real 1x1 conv -> BN -> ReLU
             -> real 1x1 conv to one heatmap per landmark (at 1/4 of the input's side)
             (binary_head: BN -> sign -> binary 1x1 conv in place of the first real one)

The binary convolutions' weights are ``sign(W)`` scaled per output channel by XNOR-Net's
``alpha_c = mean |W_c|`` (the paper binarizes as XNOR-Net, Rastegari et al. 2016), and the
activations are ``ste_sign``. The paper keeps the first and the last layer real-valued; here the
first (the 7x7 convolution of the image), the head's two 1x1 convolutions and nothing else are.

Deviations: the block's BN placement and 1x1 projections are the float code's; its three
branches and its 1x1 shortcut projections are binarized by putting the sign where the code has
a ReLU. The head's first 1x1 convolution stays real by default (``binary_head=False``): binary,
it made the engine about 12% faster at 256x256 with 256 features (59 to 52 ms), but on
``mnist-landmarks`` with 32 features it raised the validation NME from 7.7% to 10.6% (10
epochs, one seed), the 32 signs of the block's output being all the heatmap layer then sees.
Binarizing the shortcut projections cost nothing there (7.9% real, 7.7% binary). The float twin
(``binary=False``) is that code's block (BN -> ReLU -> float conv), the network the paper
compares its binary one against. One hourglass (FAN-1); the paper stacks up to eight with
intermediate supervision.
"""

from __future__ import annotations

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import check_image_args
from onebit.models._factory import zoo_entry
from onebit.nn import QuantConv2d

STEM_WIDTH = 64
"""Channels of the stem's first convolution (the paper's); its blocks have twice as many."""
HEATMAP_STRIDE = 4
"""Input pixels per heatmap pixel: the stem's strided conv and its max-pool."""


def normed_conv(
    in_channels: int, out_channels: int, kernel: int, binary: bool, momentum: float
) -> nn.Module:
    """BN -> sign -> binary conv (XNOR-Net's alpha per output channel), or in the float twin
    BN -> ReLU -> conv; ``kernel`` 3 (padded by 1) or 1."""
    norm = nn.BatchNorm2d(in_channels, momentum=momentum)
    padding = kernel // 2
    if binary:
        conv = QuantConv2d(
            in_channels,
            out_channels,
            kernel,
            padding=padding,
            bias=False,
            input_quantizer="ste_sign",
            weight_quantizer="ste_sign",
            alpha_scaling=True,
        )
        return nn.Sequential(norm, conv)
    return nn.Sequential(
        norm,
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel, padding=padding, bias=False),
    )


def block_branch(in_channels: int, out_channels: int, binary: bool, momentum: float) -> nn.Module:
    """BN -> sign -> binary 3x3 conv, or in the float twin BN -> ReLU -> 3x3 conv."""
    return normed_conv(in_channels, out_channels, 3, binary, momentum)


def head_projection(features: int, binary: bool, momentum: float) -> nn.Module:
    """The head's 1x1 convolution: BN -> sign -> binary 1x1 conv, or in the float twin the
    code's plain 1x1 conv (its BN and ReLU follow in both)."""
    if binary:
        return normed_conv(features, features, 1, binary, momentum)
    return nn.Conv2d(features, features, 1, bias=False)


class HierarchicalBlock(nn.Module):
    """Three 3x3 convolutions in sequence whose outputs (half, a quarter and a quarter of the
    channels) are concatenated and added to the shortcut (see the module docstring)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        binary: bool,
        momentum: float,
        binary_shortcut: bool | None = None,
    ) -> None:
        super().__init__()
        if out_channels % 4:
            raise OnebitError(
                f"a hierarchical block needs channels divisible by 4, got {out_channels}"
            )
        half, quarter = out_channels // 2, out_channels // 4
        self.branch1 = block_branch(in_channels, half, binary, momentum)
        self.branch2 = block_branch(half, quarter, binary, momentum)
        self.branch3 = block_branch(quarter, quarter, binary, momentum)
        self.shortcut: nn.Module = nn.Identity()
        if in_channels != out_channels:
            shortcut_binary = binary if binary_shortcut is None else binary and binary_shortcut
            self.shortcut = normed_conv(in_channels, out_channels, 1, shortcut_binary, momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1(x)
        b = self.branch2(a)
        c = self.branch3(b)
        return torch.cat([a, b, c], dim=1) + self.shortcut(x)


class Hourglass(nn.Module):
    """Newell et al.'s hourglass ("Stacked Hourglass Networks for Human Pose Estimation", ECCV
    2016) of hierarchical blocks: ``depth`` halvings by 2x2 max-pooling, then as many nearest
    2x upsamplings, each added to a block of the same resolution."""

    def __init__(self, depth: int, channels: int, binary: bool, momentum: float) -> None:
        super().__init__()
        self.depth = depth
        self.upper = HierarchicalBlock(channels, channels, binary, momentum)
        self.pool = nn.MaxPool2d(2)
        self.down = HierarchicalBlock(channels, channels, binary, momentum)
        self.inner: nn.Module = (
            Hourglass(depth - 1, channels, binary, momentum)
            if depth > 1
            else HierarchicalBlock(channels, channels, binary, momentum)
        )
        self.up = HierarchicalBlock(channels, channels, binary, momentum)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lower = self.up(self.inner(self.down(self.pool(x))))
        return self.upper(x) + self.upsample(lower)


class LandmarkHourglass(nn.Module):
    """The stem, one hourglass and the head (see the module docstring); the output is one
    heatmap per landmark at ``1/HEATMAP_STRIDE`` of the input's side."""

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_landmarks: int,
        features: int,
        depth: int,
        binary: bool,
        momentum: float,
        stem_width: int = STEM_WIDTH,
        binary_shortcuts: bool = True,
        binary_head: bool = False,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.num_classes = num_landmarks  # output maps, as a classifier's output units
        self.num_landmarks = num_landmarks
        self.binary = binary
        self.heatmap_stride = HEATMAP_STRIDE
        first, second = stem_width, 2 * stem_width
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], first, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(first, momentum=momentum),
            nn.ReLU(),
            HierarchicalBlock(first, second, binary, momentum, binary_shortcuts),
            nn.MaxPool2d(2),
            HierarchicalBlock(second, second, binary, momentum),
            HierarchicalBlock(second, features, binary, momentum, binary_shortcuts),
        )
        self.hourglass = Hourglass(depth, features, binary, momentum)
        self.head = nn.Sequential(
            HierarchicalBlock(features, features, binary, momentum),
            head_projection(features, binary and binary_head, momentum),
            nn.BatchNorm2d(features, momentum=momentum),
            nn.ReLU(),
            nn.Conv2d(features, num_landmarks, 1),
        )

    @property
    def heatmap_size(self) -> tuple[int, int]:
        return self.input_shape[1] // HEATMAP_STRIDE, self.input_shape[2] // HEATMAP_STRIDE

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """The shape of one output, (landmarks, height, width)."""
        return (self.num_landmarks, *self.heatmap_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hourglass(self.stem(x)))


@zoo_entry("landmark-hourglass")
def build_landmark_hourglass(
    *,
    num_classes: int,
    input_size: int,
    in_channels: int,
    binary: bool = True,
    features: int = 256,
    depth: int = 4,
    stem_width: int = STEM_WIDTH,
    momentum: float = 0.1,
    binary_shortcuts: bool = True,
    binary_head: bool = False,
) -> LandmarkHourglass:
    """Build the binary hourglass (or its float twin) for ``num_classes`` landmarks.

    Args:
        num_classes: landmarks, one heatmap each.
        input_size: side of the square input; the heatmaps' side is a quarter of it, and must
            halve ``depth`` times evenly.
        in_channels: channels of the input image.
        binary: the binary network, or its full-precision twin.
        features: channels inside the hourglass, a multiple of 4.
        depth: halvings inside the hourglass.
        stem_width: channels of the stem's 7x7 convolution, a multiple of 2 (its blocks have
            twice as many); the paper's 64 costs most of a small network's time on small
            images, where a narrower stem trains several times faster.
        momentum: every BatchNorm's momentum.
        binary_shortcuts: the stem's two 1x1 shortcut projections are binary (else real, BN ->
            ReLU -> conv as in the float code); only in the binary network.
        binary_head: the head's 1x1 convolution is binary (else real); only in the binary
            network.
    """
    name = "landmark-hourglass"
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise OnebitError(
            f"{name}: num_classes (landmarks) must be an integer >= 1, got {num_classes!r}"
        )
    shape = check_image_args(name, 2, input_size, in_channels, minimum_size=HEATMAP_STRIDE * 2)
    if not isinstance(depth, int) or depth < 1:
        raise OnebitError(f"{name}: depth must be an integer >= 1, got {depth!r}")
    if not isinstance(features, int) or features < 4 or features % 4:
        raise OnebitError(f"{name}: features must be a positive multiple of 4, got {features!r}")
    if (
        not isinstance(stem_width, int)
        or isinstance(stem_width, bool)
        or stem_width < 2
        or stem_width % 2
    ):
        raise OnebitError(
            f"{name}: stem_width must be a positive multiple of 2, got {stem_width!r}"
        )
    step = HEATMAP_STRIDE * 2**depth
    if input_size % step:
        raise OnebitError(
            f"{name}: input_size must be a multiple of {step} (the stem's 4, then {depth} "
            f"halvings), got {input_size}"
        )
    for flag, value in (("binary_shortcuts", binary_shortcuts), ("binary_head", binary_head)):
        if not isinstance(value, bool):
            raise OnebitError(f"{name}: {flag} must be true or false, got {value!r}")
    return LandmarkHourglass(
        shape,
        num_classes,
        features,
        depth,
        binary,
        momentum,
        stem_width,
        binary_shortcuts=binary_shortcuts,
        binary_head=binary_head,
    )
