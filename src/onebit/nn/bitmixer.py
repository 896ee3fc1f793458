"""Bit-Mixer's pieces: transitional batch norm, and the choice of every layer's bit width in a
meta-quantized network (Bulat & Tzimiropoulos, "Bit-Mixer: Mixed-precision networks with runtime
bit-width selection", ICCV 2021).

A *bit layer* is a quantized layer whose quantizers can switch width (``switchable_lsq`` input,
``nested_lsq`` weight); its width is that of both operands. A transitional batch norm sits
between bit layer ``l`` and ``l + 1`` and keeps one set of statistics and affine parameters per
pair ``(b_l, b_{l+1})``: changing a layer's width shifts the distribution of its output, and of
what the next layer's quantizer makes of it (sec. 3.2). The norm after the last bit layer is
indexed by ``b_l`` alone.

:func:`calibrate_norms` recomputes the norms' running statistics after training, as exact
averages over the configurations (the post-training batch-norm statistics of Yu & Huang,
"Universally slimmable networks and improved training techniques", ICCV 2019, sec. 3.2): a
transition that training draws rarely otherwise keeps statistics from few, old batches.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.nn.base import QuantizedLayer
from onebit.quantizers.switchable import NestedLSQ, SwitchableLSQ


class TransitionalBatchNorm(nn.Module):
    """Batch norm with one ``nn.BatchNorm1d``/``2d`` per bit-width transition.

    Args:
        num_features: channels.
        bit_options: the widths of the layer before it.
        next_bit_options: the widths of the layer after it; None after the last bit layer.
        dims: 1 (``BatchNorm1d``) or 2 (``BatchNorm2d``).
        momentum: as ``nn.BatchNorm``.
    """

    def __init__(
        self,
        num_features: int,
        bit_options: Sequence[int],
        next_bit_options: Sequence[int] | None = None,
        dims: int = 1,
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        if dims not in (1, 2):
            raise OnebitError(f"dims must be 1 or 2, got {dims!r}")
        norm = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.bit_options = tuple(bit_options)
        self.next_bit_options = None if next_bit_options is None else tuple(next_bit_options)
        self.norms = nn.ModuleDict(
            {key: norm(num_features, momentum=momentum) for key in self._keys()}
        )
        self.source_bits = self.bit_options[-1]
        self.target_bits = None if self.next_bit_options is None else self.next_bit_options[-1]

    def _keys(self) -> list[str]:
        if self.next_bit_options is None:
            return [str(a) for a in self.bit_options]
        return [f"{a}_{b}" for a in self.bit_options for b in self.next_bit_options]

    @staticmethod
    def key(source_bits: int, target_bits: int | None) -> str:
        return str(source_bits) if target_bits is None else f"{source_bits}_{target_bits}"

    def norm(self, source_bits: int | None = None, target_bits: int | None = None) -> nn.Module:
        """The batch norm of a transition (default: the current one)."""
        source = self.source_bits if source_bits is None else source_bits
        target = self.target_bits if target_bits is None else target_bits
        return self.norms[self.key(source, target)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm()(x)

    def extra_repr(self) -> str:
        return f"transitions={list(self.norms)}"


def bit_layers(model: nn.Module) -> list[nn.Module]:
    """The model's bit layers, in registration order (the order of ``named_modules``)."""
    return [
        module
        for module in model.modules()
        if isinstance(module, QuantizedLayer)
        and isinstance(module.weight_quantizer, NestedLSQ)
        and isinstance(module.input_quantizer, SwitchableLSQ | None)
    ]


def transitional_norms(model: nn.Module) -> list[TransitionalBatchNorm]:
    return [m for m in model.modules() if isinstance(m, TransitionalBatchNorm)]


def layer_bits(model: nn.Module) -> tuple[int, ...]:
    """Each bit layer's current width."""
    return tuple(layer.weight_quantizer.bits for layer in bit_layers(model))


def set_bits(model: nn.Module, bits: int | Sequence[int]) -> None:
    """Run every bit layer at ``bits`` (one width for all, or one per layer in order), and
    point each transitional norm at its pair. A norm follows bit layer ``i`` when it is the
    ``i``-th transitional norm: the model lays them out that way (``check_layout``)."""
    layers = bit_layers(model)
    widths = [int(bits)] * len(layers) if isinstance(bits, int) else [int(b) for b in bits]
    if len(widths) != len(layers):
        raise OnebitError(f"bits needs one width per bit layer ({len(layers)}), got {len(widths)}")
    for layer, width in zip(layers, widths, strict=True):
        layer.weight_quantizer.bits = width
        if layer.input_quantizer is not None:
            layer.input_quantizer.bits = width
    norms = transitional_norms(model)
    for i, norm in enumerate(norms):
        norm.source_bits = widths[i]
        norm.target_bits = widths[i + 1] if i + 1 < len(widths) else None


def bit_options_of(model: nn.Module) -> tuple[int, ...]:
    """The widths every bit layer offers (they must agree)."""
    options = {layer.weight_quantizer.bit_options for layer in bit_layers(model)}
    if len(options) != 1:
        raise OnebitError(f"the bit layers offer different widths: {sorted(options)}")
    return options.pop()


def sample_bits(
    model: nn.Module, layerwise: bool, generator: torch.Generator | None = None
) -> tuple[int, ...]:
    """A random configuration: one width for the whole network, or one per layer, uniform
    over the options (torch's global generator unless ``generator`` is given)."""
    options = bit_options_of(model)
    count = len(bit_layers(model))
    draws = torch.randint(
        len(options), (count if layerwise else 1,), generator=generator, device="cpu"
    )
    chosen = [options[int(i)] for i in draws]
    return tuple(chosen if layerwise else chosen * count)


def iter_configurations(options: Sequence[int], count: int) -> Iterator[tuple[int, ...]]:
    """Every uniform configuration, widest first."""
    for width in sorted(options, reverse=True):
        yield (width,) * count


def check_layout(model: nn.Module) -> None:
    """One transitional norm after each bit layer, the last one indexed by its source alone."""
    layers, norms = bit_layers(model), transitional_norms(model)
    if len(norms) != len(layers):
        raise OnebitError(
            f"a Bit-Mixer model needs one transitional norm per bit layer: {len(layers)} layers, "
            f"{len(norms)} norms"
        )
    for i, norm in enumerate(norms):
        if (norm.next_bit_options is None) != (i == len(norms) - 1):
            raise OnebitError("only the last transitional norm may lack a next layer")


def all_configurations(options: Sequence[int], count: int) -> list[tuple[int, ...]]:
    """Every configuration of ``count`` layers, one width each: ``len(options) ** count``."""
    return list(itertools.product(sorted(options), repeat=count))


def calibrate_norms(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    configurations: Sequence[Sequence[int]] | None = None,
) -> None:
    """Reset the running statistics of the transitions ``configurations`` run and recompute
    them as exact averages over ``batches`` x ``configurations`` (Yu & Huang, ICCV 2019,
    sec. 3.2); the other transitions keep theirs.

    A norm's statistics become the mean of its batch statistics over every pair of a batch and
    a configuration that runs it; with every configuration (the default) a transition's are
    averaged uniformly over the widths of the layers before it, as layer-wise training draws
    them. No parameter changes; the model comes back in the mode it was in.

    Args:
        model: a Bit-Mixer model (``forward(x, bits=...)``).
        batches: training inputs, each a batch of at least 2 samples.
        configurations: the configurations to run, one width per bit layer; default
            :func:`all_configurations`.
    """
    if configurations is None:
        configurations = all_configurations(bit_options_of(model), len(bit_layers(model)))
    used = {
        (i, TransitionalBatchNorm.key(bits[i], bits[i + 1] if i + 1 < len(bits) else None))
        for bits in configurations
        for i in range(len(bits))
    }
    norms = [
        bn
        for i, norm in enumerate(transitional_norms(model))
        for key, bn in norm.norms.items()
        if (i, key) in used
    ]
    was_training, momenta = model.training, [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average
    model.train()
    try:
        with torch.no_grad():
            for x in batches:
                for bits in configurations:
                    model(x, bits=tuple(bits))
    finally:
        for bn, momentum in zip(norms, momenta, strict=True):
            bn.momentum = momentum
        model.train(was_training)
