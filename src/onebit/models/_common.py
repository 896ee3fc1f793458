"""What every image model of the zoo shares: its input shape and class count, argument checks,
and the switch between the binary network and its full-precision twin.

Every zoo entry takes ``num_classes``, ``input_size`` (the side of a square image), ``in_channels``
and ``binary``. ``binary=False`` builds the float twin: the same layers in the same places, with
full-precision weights and activations, for comparison and as a distillation teacher.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from onebit._registry import OnebitError


class ImageClassifier(nn.Module):
    """A classifier of ``(C, H, W)`` images; summary and conversion read its input shape."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, binary: bool) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.binary = binary


def check_image_args(
    name: str, num_classes: int, input_size: int, in_channels: int, minimum_size: int
) -> tuple[int, int, int]:
    """The ``(C, H, W)`` input shape, or a clear error naming the argument that is wrong."""
    for arg, value, least in (
        ("num_classes", num_classes, 2),
        ("input_size", input_size, minimum_size),
        ("in_channels", in_channels, 1),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise OnebitError(f"{name}: {arg} must be an integer >= {least}, got {value!r}")
    return (in_channels, input_size, input_size)


def quantizer_or_none(binary: bool, quantizer: Any) -> Any:
    """``quantizer`` in the binary network, None (full precision) in its float twin."""
    return quantizer if binary else None


def parameter_count(model: nn.Module, batch_norm_statistics: bool = False) -> int:
    """Number of parameters of ``model``.

    ``batch_norm_statistics=True`` also counts every batch norm's running mean and variance, as
    Keras does (they are its non-trainable weights), which is how the Larq zoo's tables count.
    """
    count = sum(p.numel() for p in model.parameters())
    if batch_norm_statistics:
        for module in model.modules():
            if (
                isinstance(module, nn.modules.batchnorm._NormBase)
                and module.running_mean is not None
            ):
                count += module.running_mean.numel() + module.running_var.numel()
    return count


class FeatureClassifier(ImageClassifier):
    """``features -> flatten -> classifier``: the layout of the VGG- and AlexNet-style networks.

    Args:
        features: the convolutional part, image in, feature map out.
        classifier: the fully connected part, flat features in, logits out.
        input_shape, num_classes, binary: as :class:`ImageClassifier`.
    """

    def __init__(
        self,
        features: nn.Module,
        classifier: nn.Module,
        input_shape: tuple[int, int, int],
        num_classes: int,
        binary: bool,
    ) -> None:
        super().__init__(input_shape, num_classes, binary)
        self.features = features
        self.flatten = nn.Flatten()
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))
