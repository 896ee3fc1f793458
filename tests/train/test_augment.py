from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from onebit import OnebitError
from onebit.train.augment import random_shift


def shifted(image: torch.Tensor, dy: int, dx: int, m: int) -> torch.Tensor:
    height, width = image.shape[-2:]
    return F.pad(image, (m, m, m, m))[:, dy : dy + height, dx : dx + width]


@pytest.mark.parametrize("max_shift", [1, 2, 3])
@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (3, 3, 7, 9)])
def test_each_image_is_a_translation_within_range(max_shift, shape):
    torch.manual_seed(0)
    images = torch.rand(shape)
    out = random_shift(images, max_shift)
    assert out.shape == images.shape
    offsets = range(2 * max_shift + 1)
    for image, result in zip(images, out, strict=True):
        matches = [
            (dy, dx)
            for dy in offsets
            for dx in offsets
            if torch.equal(shifted(image, dy, dx, max_shift), result)
        ]
        assert matches, "output is not a translation of its input"


def test_offsets_vary_and_follow_the_seed():
    images = torch.rand(64, 1, 12, 12)
    torch.manual_seed(1)
    first = random_shift(images, 2)
    torch.manual_seed(1)
    assert torch.equal(first, random_shift(images, 2))
    assert not torch.equal(first, images)
    moved = [(not torch.equal(a, b)) for a, b in zip(first, images, strict=True)]
    assert 40 < sum(moved) < 64  # 1 in 25 images keeps offset (0, 0)


def test_zero_shift_is_identity_and_bad_shapes_are_refused():
    images = torch.rand(2, 1, 5, 5)
    assert random_shift(images, 0) is images
    with pytest.raises(OnebitError, match="N, C, H, W"):
        random_shift(torch.rand(2, 25), 1)
