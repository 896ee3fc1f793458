"""The project's standard recipe for the binary MLP, shared by the accuracy experiment and the
ablation: Adam at lr 0.01 with a per-step cosine schedule, batch 100, 3 hidden layers of 1024,
BatchNorm, ``ste_sign``, 30 epochs, 10% of the training part held out for validation. It was
fixed a priori, not tuned; the accuracy experiment starts the float twin from it and chooses the
twin's learning rate and dropout on validation (:mod:`onebit.experiments.accuracy`)."""

from __future__ import annotations

from onebit.train.loop import TrainConfig


def mlp_recipe(
    data: str,
    seed: int,
    epochs: int = 30,
    model: str = "binarynet-mlp",
    hidden: int = 1024,
    depth: int = 3,
    augment_shift: int = 0,
) -> TrainConfig:
    """The standard :class:`TrainConfig` for ``model`` on ``data`` (no output directory)."""
    return TrainConfig(
        model=model,
        data=data,
        model_kwargs={"hidden": hidden, "depth": depth},
        epochs=epochs,
        batch_size=100,
        optimizer="adam",
        lr=0.01,
        schedule="cosine",
        seed=seed,
        augment_shift=augment_shift,
        device="cpu",
        progress=False,
    )
