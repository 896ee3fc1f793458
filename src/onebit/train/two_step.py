"""The two-step binarization schedule: binary activations with real-valued weights first, then
binary weights too, starting from the first step's weights (Martinez et al., "Training Binary
Neural Networks with Real-to-Binary Convolutions", ICLR 2020, sec. 4.2; ReActNet sec. 4.1).

The steps are trained by the ``fit`` the caller passes in, so this module does not import the
training loop and the loop can call it without an import cycle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from onebit._registry import OnebitError
from onebit.data import DataSplits

if TYPE_CHECKING:
    from onebit.train.loop import TrainConfig, TrainResult


def two_step(
    config: TrainConfig,
    splits: DataSplits | None,
    fit: Callable[[TrainConfig, DataSplits | None], TrainResult],
) -> TrainResult:
    """Train in two steps: binary activations and real weights for the first half of the epochs,
    then binary weights too, initialized from the first step. Each step writes its own run
    directory (``OUT/step1``, ``OUT/step2``) and can be resumed on its own; resuming a two-step
    run whose second step has no checkpoint yet starts that step.

    Args:
        config: the whole run, with ``two_step`` set.
        splits: data to use instead of loading ``config.data``.
        fit: trains one step (``onebit.train.loop.fit``).

    Returns:
        The second step's result, with the first step's epochs prepended to its history.
    """
    if config.epochs < 2:
        raise OnebitError("the two-step schedule needs at least 2 epochs")
    first_epochs = config.epochs // 2
    out = None if config.out_dir is None else Path(config.out_dir)
    real_weights = {**config.model_kwargs, "weight_quantizer": "identity"}
    first = fit(
        dataclasses.replace(
            config, epochs=first_epochs, model_kwargs=real_weights, two_step=False,
            out_dir=None if out is None else str(out / "step1"),
        ),
        splits,
    )  # fmt: skip
    state = first.model.state_dict()
    resume_second = out is not None and config.resume and (out / "step2" / "checkpoint.pt").exists()
    second = fit(
        dataclasses.replace(
            config, epochs=config.epochs - first_epochs, two_step=False, init_state=state,
            out_dir=None if out is None else str(out / "step2"), resume=resume_second,
        ),
        splits,
    )  # fmt: skip
    for row in second.history:
        row["epoch"] += first_epochs
    second.history[:0] = first.history
    second.trained_epochs += first.trained_epochs
    return second
