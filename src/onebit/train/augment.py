"""Data augmentation applied to a training batch on the fly."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from onebit._registry import OnebitError


def random_shift(images: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate each image by its own random offset of up to ``max_shift`` pixels per axis.

    Pixels shifted in are zeros (the background of digit images). Offsets are drawn from torch's
    global generator, so a seeded run (and a resumed one) draws the same shifts.

    Args:
        images: a batch of shape (N, C, H, W).
        max_shift: the largest offset in pixels; 0 returns ``images`` unchanged.
    """
    if max_shift == 0:
        return images
    if images.ndim != 4:
        raise OnebitError(
            f"random shift needs (N, C, H, W) images, got shape {tuple(images.shape)}"
        )
    n, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), device=images.device)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), device=images.device)
    rows = (torch.arange(height, device=images.device) + dy[:, None])[:, :, None]
    cols = (torch.arange(width, device=images.device) + dx[:, None])[:, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()
