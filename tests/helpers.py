"""Helpers the tests share: torch on one thread, and a model settled into a non-trivial eval state.

Import them as ``from helpers import ...``: pyproject.toml puts ``tests/`` on the path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from onebit.nn import LearnableBias


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on a single thread: small test batches gain nothing from a second one, lose much
    to thread synchronization on a busy two-core machine (torch's depthwise and float64 convs slow
    to seconds), and one thread gives the same numbers everywhere."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def settle(
    model: nn.Module,
    shape: tuple[int, ...],
    seed: int = 0,
    batches: int = 3,
    batch_size: int = 16,
) -> nn.Module:
    """Random batch norm scales (some negative) and shifts where a norm has them, random learnable
    biases and PReLU slopes, batch norm statistics from ``batches`` random batches, then eval
    mode: a model whose converted thresholds are not the trivial ones of a fresh network.

    Args:
        model: the model, changed in place and returned.
        shape: the shape of one input.
        seed: seeds every random number drawn here.
        batches: forward passes in train mode that set the batch norm statistics.
        batch_size: inputs per pass.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = 0.5
                if module.affine:
                    module.weight.copy_(torch.randn(module.num_features, generator=generator))
                    module.bias.copy_(torch.randn(module.num_features, generator=generator) * 0.5)
            elif isinstance(module, LearnableBias):
                module.bias.copy_(torch.randn(module.num_channels, generator=generator) * 0.5)
            elif isinstance(module, nn.PReLU):
                module.weight.uniform_(-0.5, 0.5, generator=generator)
    model.train()
    with torch.no_grad(), one_thread():
        for _ in range(batches):
            model(torch.randn(batch_size, *shape, generator=generator))
    return model.eval()
