"""Per-sample agreement of a packed program with the PyTorch model it was converted from.

Equal accuracy does not show that two classifiers agree: they could err on different samples.
``onebit run --compare-checkpoint`` counts the samples the two classify differently instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from onebit._registry import OnebitError
from onebit.train.checkpoint import model_from_checkpoint


def torch_predictions(
    checkpoint: str | os.PathLike[str],
    images: np.ndarray,
    batch_size: int = 256,
    bits: Sequence[int] | None = None,
) -> np.ndarray:
    """The class each input gets from the checkpoint's model in eval mode (on the CPU; images as
    float32, a text model's token ids as its ``input_dtype``).

    Args:
        checkpoint: a checkpoint written by ``onebit train``.
        images: float32 inputs of shape (N, *input_shape).
        batch_size: images per forward pass.
        bits: a Bit-Mixer model's widths, one per bit layer (a switched program's ``bits``).
    """
    model = model_from_checkpoint(checkpoint)
    if bits is not None:
        if not hasattr(model, "set_bits"):
            raise OnebitError(f"{checkpoint} holds a model without switchable bit widths")
        model.set_bits(list(bits))
    batches = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
            dtype = getattr(model, "input_dtype", torch.float32)
            batches.append(model(batch.to(dtype)).argmax(dim=1).numpy())
    return np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
