"""Seeds from the converter: two small models converted from PyTorch (a CNN with a float stem,
binary convs, max-pool and a binary dense head, and the BNN paper's MLP), so the fuzzer mutates
the graphs the converter writes, not only the hand-built ones. The one fuzz module that needs
torch; it is imported only where torch is there (the test suite, the long run)."""

from __future__ import annotations

from pathlib import Path


def converted_seeds() -> dict[str, bytes]:
    """Two small converted models as seeds (needs torch): the converter's graphs, not only
    the hand-built ones."""
    import tempfile

    import torch
    from torch import nn

    from onebit import models
    from onebit.convert import convert
    from onebit.nn import QuantConv2d, QuantLinear

    torch.manual_seed(0)
    binary = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign", "bias": False}
    cnn = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        QuantConv2d(8, 8, 3, padding=1, pad_value=1.0, **binary),
        nn.BatchNorm2d(8),
        nn.MaxPool2d(2),
        QuantConv2d(8, 16, 3, stride=2, **binary),
        nn.BatchNorm2d(16),
        nn.Flatten(),
        QuantLinear(16 * 3 * 3, 10, **binary),
        nn.BatchNorm1d(10),
    ).eval()
    mlp = models.create("binarynet-mlp", hidden=48, depth=2).eval()
    seeds = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, model, shape in [
            ("converted-cnn", cnn, (1, 16, 16)),
            ("converted-mlp", mlp, (1, 28, 28)),
        ]:
            path = Path(folder) / f"{name}.onebit"
            convert(model, torch.zeros(1, *shape)).save(path)
            seeds[name] = path.read_bytes()
    return seeds
