"""Bit-Mixer's three-stage optimization of a meta-quantized network (Bulat & Tzimiropoulos,
"Bit-Mixer: Mixed-precision networks with runtime bit-width selection", ICCV 2021, sec. 3.3).

The epochs are split in three (in thirds, or in the proportions ``mixer_stages`` of
:class:`onebit.train.TrainConfig` gives), each stage starting from the previous one's weights:

1. quantized weights, real-valued activations (clipped to the quantizer's range, not rounded:
   ``switchable_lsq`` with ``enabled=False``); one width drawn for the whole network per batch;
2. quantized activations too, still one width per batch (the intermediate meta-network);
3. a width per layer: each batch is drawn layer-wise with a probability that rises linearly from
   0 to 1 over the first half of the stage (set after every epoch), else network-wide.

The model draws the widths itself in training mode (``onebit.models.bitmixer``); this module
sets its ``stage`` and ramps its ``layerwise_probability``. Where the paper leaves a choice
open (the stage lengths, the shape of the ramp) these are ours. As the two-step schedule, each
stage writes its own run directory (``OUT/stage1`` ...) and can be resumed on its own.

Two options of :class:`onebit.train.TrainConfig` change the step itself (:func:`mixer_loss`),
from the literature on networks that run at several widths or precisions:

- ``mixer_samples = n``: every batch trains the widest configuration and ``n`` drawn ones (never
  the widest again; the draws follow the stage as above), the losses averaged; with
  ``mixer_narrowest`` the first of them is the narrowest configuration. That is the "sandwich
  rule" of Yu & Huang, "Universally slimmable networks and improved training techniques",
  ICCV 2019, sec. 3.3 (which sums the losses); AdaBits (Jin et al., CVPR 2020) trains every
  width on every batch, as ``n = 2`` with the narrowest does for three widths in stages 1-2.
- ``mixer_distill``: in-place distillation: the widest configuration learns from the labels,
  the drawn ones from its detached class distribution (KL divergence, ``distribution_loss``),
  as in Yu & Huang (sec. 3.4), AdaBits and Any-Precision DNNs (Yu et al., AAAI 2021).

After training, :func:`onebit.nn.bitmixer.calibrate_norms` recomputes the transitional norms'
statistics on training data (Yu & Huang, sec. 3.2); the experiment
(``onebit.experiments.bitmixer``) does so for every network with ``--calibrate``.

Deviations from the paper:

- Bit-Mixer trains one drawn configuration per batch (``mixer_samples = 0``, the default here)
  and distils from a separate real-valued teacher; ``mixer_distill`` distils from the network's
  own widest configuration instead (no second network to train).
- The paper's networks keep their own nonlinearities when stage 1 drops activation
  quantization; in ``bitmixer-mlp`` the quantizer is the only one, so stage 1 keeps its clip
  (without it that stage trains a linear model).
- The weights share one step across widths (``onebit.quantizers.switchable``: nested levels, not
  a scale per width), and the stages split one epoch budget, in thirds by default. On mnist5k a
  longer last stage helped (``mixer_stages = (1, 1, 4)``, 60 epochs, hidden 256, lr 0.01, on a
  0.3 validation carve; seeds 0-5 against 0-7 in thirds): uniform 2 bits 94.07% against 93.61,
  the other settings within 0.15 points. A step per width did not (seeds 2-5, 60 epochs, in
  thirds): uniform 2 bits 93.63% against 93.84 with the shared step, the others within 0.3.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from onebit._registry import OnebitError
from onebit.data import DataSplits
from onebit.train.distill import distribution_loss
from onebit.train.distributed import unwrap

if TYPE_CHECKING:
    from torch import nn

    from onebit.train.loop import TrainConfig, TrainResult

STAGE_COUNT = 3
EQUAL_STAGES = (1, 1, 1)


def check_stage_weights(weights: Sequence[int]) -> tuple[int, int, int]:
    """``weights`` as three positive integers, or an error naming what is wrong."""
    values = tuple(weights)
    if len(values) != STAGE_COUNT or not all(
        isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in values
    ):
        raise OnebitError(
            f"mixer_stages must be three positive integers (the stages' relative lengths), "
            f"got {list(values)}"
        )
    return values  # type: ignore[return-value]


def stage_epochs(epochs: int, weights: Sequence[int] = EQUAL_STAGES) -> tuple[int, int, int]:
    """The epochs of each stage: one each, the rest shared in proportion to ``weights`` (rounded
    down for the first two stages, the remainder to the last). Equal weights give a third each,
    the remainder to the last."""
    first, second, third = check_stage_weights(weights)
    if epochs < STAGE_COUNT:
        raise OnebitError(f"Bit-Mixer's three stages need at least 3 epochs, got {epochs}")
    rest, total = epochs - STAGE_COUNT, first + second + third
    one = 1 + rest * first // total
    two = 1 + rest * second // total
    return one, two, epochs - one - two


def layerwise_ramp(stage_length: int) -> Callable[[int, dict[str, float], nn.Module], None]:
    """An epoch callback: after epoch ``e`` of stage 3 the layer-wise probability is
    ``min(1, e / ceil(stage_length / 2))``."""
    half = max(1, -(-stage_length // 2))

    def ramp(epoch: int, metrics: dict[str, float], model: nn.Module) -> None:
        model.layerwise_probability = min(1.0, epoch / half)

    return ramp


def mixer_loss(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    samples: int,
    distill: bool,
    narrowest: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step's loss for a Bit-Mixer model: the widest configuration plus
    ``samples`` others, losses averaged.

    The others are configurations the model draws (never the widest), or with ``narrowest``
    the narrowest one (every layer at its narrowest width) and ``samples - 1`` draws that are
    neither (the sandwich rule, Yu & Huang, ICCV 2019, sec. 3.3). The widest configuration's
    loss is the cross-entropy with the labels; another's is the cross-entropy too, or with
    ``distill`` the KL divergence from the widest configuration's detached class distribution
    to its own (in-place distillation, Yu & Huang, sec. 3.4).

    Args:
        model: a Bit-Mixer model in training mode (possibly wrapped for data parallelism).
        images: the batch.
        labels: its classes.
        samples: configurations besides the widest per step, at least 1.
        distill: learn the other configurations from the widest one instead of the labels.
        narrowest: always train the narrowest configuration as one of them.

    Returns:
        The loss, and the widest configuration's logits.
    """
    if samples < 1:
        raise OnebitError(f"mixer_loss trains at least one drawn configuration, got {samples}")
    core = unwrap(model)
    if core.train_bits is not None or len(core.bit_options) < 2:
        raise OnebitError("mixer_loss needs a Bit-Mixer model that can run at several widths")
    if narrowest and samples > 1 and len(core.bit_options) < 3:
        raise OnebitError(
            "with two widths, a network-wide draw is the widest or the narrowest "
            "configuration: with mixer_narrowest, use one sample"
        )
    widest = core.widest
    narrow = (min(core.bit_options),) * len(widest)
    excluded = {widest, narrow} if narrowest else {widest}
    logits = model(images, bits=widest)
    loss = F.cross_entropy(logits, labels)
    for i in range(samples):
        if narrowest and i == 0:
            bits = narrow
        else:
            bits = core.draw_bits()
            while bits in excluded:  # these have their loss already
                bits = core.draw_bits()
        other = model(images, bits=bits)
        if distill:
            loss = loss + distribution_loss(other, logits)
        else:
            loss = loss + F.cross_entropy(other, labels)
    return loss / (samples + 1), logits


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
    lengths = stage_epochs(config.epochs, config.mixer_stages)
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
