"""Per-sample agreement of a packed program with the PyTorch model it was converted from.

Equal accuracy does not show that two classifiers agree: they could err on different samples.
``onebit run --compare-checkpoint`` counts the samples the two classify differently instead.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from onebit.train.checkpoint import model_from_checkpoint


def torch_predictions(
    checkpoint: str | os.PathLike[str], images: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """The class each image gets from the checkpoint's model in eval mode (float32, on the CPU).

    Args:
        checkpoint: a checkpoint written by ``onebit train``.
        images: float32 inputs of shape (N, *input_shape).
        batch_size: images per forward pass.
    """
    model = model_from_checkpoint(checkpoint)
    batches = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
            batches.append(model(batch.float()).argmax(dim=1).numpy())
    return np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
