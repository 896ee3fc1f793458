"""Bit-Mixer's three-stage optimization of a meta-quantized network (Bulat & Tzimiropoulos,
"Bit-Mixer: Mixed-precision networks with runtime bit-width selection", ICCV 2021, sec. 3.3).

The epochs are split in three, each stage starting from the previous one's weights:

1. quantized weights, real-valued activations; one width drawn for the whole network per batch;
2. quantized activations too, still one width per batch (the intermediate meta-network);
3. a width per layer: each batch is drawn layer-wise with a probability that rises linearly from
   0 to 1 over the first half of the stage (set after every epoch), else network-wide.

The model draws the widths itself in training mode (``onebit.models.bitmixer``); this module
sets its ``stage`` and ramps its ``layerwise_probability``. Where the paper leaves a choice
open (the stage lengths, the shape of the ramp) these are ours. As the two-step schedule, each
stage writes its own run directory (``OUT/stage1`` ...) and can be resumed on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onebit._registry import OnebitError
from onebit.data import DataSplits

if TYPE_CHECKING:
    from torch import nn

    from onebit.train.loop import TrainConfig, TrainResult

STAGE_COUNT = 3


def stage_epochs(epochs: int) -> tuple[int, int, int]:
    """The epochs of each stage: a third each, the remainder to the last."""
    if epochs < STAGE_COUNT:
        raise OnebitError(f"Bit-Mixer's three stages need at least 3 epochs, got {epochs}")
    third = epochs // STAGE_COUNT
    return third, third, epochs - 2 * third


def layerwise_ramp(stage_length: int) -> Callable[[int, dict[str, float], nn.Module], None]:
    """An epoch callback: after epoch ``e`` of stage 3 the layer-wise probability is
    ``min(1, e / ceil(stage_length / 2))``."""
    half = max(1, -(-stage_length // 2))

    def ramp(epoch: int, metrics: dict[str, float], model: nn.Module) -> None:
        model.layerwise_probability = min(1.0, epoch / half)

    return ramp


def bit_mixer(
    config: TrainConfig,
    splits: DataSplits | None,
    fit: Callable[..., TrainResult],
    callbacks: Sequence[Callable] = (),
) -> TrainResult:
    """Train ``config.model`` (a Bit-Mixer model, e.g. ``bitmixer-mlp``) in three stages.

    Args:
        config: the whole run, with ``bit_mixer`` set.
        splits: data to use instead of loading ``config.data``.
        fit: trains one stage (``onebit.train.loop.fit``).
        callbacks: the caller's epoch callbacks, run in every stage.

    Returns:
        The last stage's result, with the earlier stages' epochs prepended to its history.
    """
    lengths = stage_epochs(config.epochs)
    out = None if config.out_dir is None else Path(config.out_dir)
    state: dict[str, Any] | None = config.init_state
    results: list[TrainResult] = []
    done = 0
    for stage, length in enumerate(lengths, start=1):
        stage_dir = None if out is None else out / f"stage{stage}"
        resume = config.resume and stage_dir is not None and (stage_dir / "checkpoint.pt").exists()
        stage_callbacks = list(callbacks)
        if stage == STAGE_COUNT:
            stage_callbacks.append(layerwise_ramp(length))
        result = fit(
            dataclasses.replace(
                config, epochs=length, bit_mixer=False, init_state=None if resume else state,
                model_kwargs={**config.model_kwargs, "stage": stage},
                out_dir=None if stage_dir is None else str(stage_dir), resume=resume,
            ),
            splits,
            stage_callbacks,
        )  # fmt: skip
        for row in result.history:
            row["epoch"] += done
            row["stage"] = stage
        done += length
        state = result.model.state_dict()
        results.append(result)
    last = results[-1]
    last.history[:0] = [row for result in results[:-1] for row in result.history]
    last.trained_epochs = sum(result.trained_epochs for result in results)
    return last
