"""The training loop: one call trains a registry model on a registry dataset.

What a run does, epoch by epoch: shuffle with a generator seeded by ``(seed, epoch)`` (so an epoch's
order never depends on what ran before it), step the optimizer and the per-step schedule, clip the
latent weights, evaluate on the validation split (held out of the training part, see
:meth:`onebit.data.DataSplits.with_validation`) and on the test split, reported separately,
then write the checkpoint (atomically) and the metrics.
A run resumed from its checkpoint restores model, optimizer, schedule and random state and ends
with the same weights as a run that never stopped, killed at whatever point: resuming first
rewrites the metrics files from the checkpoint's history, so they never lag behind it. What a run
may do in an existing run directory is :mod:`onebit.train.run_directory`'s rule; a run holds its
directory's lock from before those checks until it returns, so two runs never share a directory.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from onebit import data as datasets
from onebit import models
from onebit._registry import OnebitError
from onebit.audio import FRONTEND, SAMPLE_RATE
from onebit.nn import clip_latent_weights
from onebit.optim import StochasticRounding, create_optimizer, create_schedule
from onebit.train.augment import AudioAugmentation, random_shift
from onebit.train.bit_mixer import EQUAL_STAGES, bit_mixer, check_stage_weights, mixer_loss
from onebit.train.checkpoint import load_checkpoint, save_checkpoint
from onebit.train.distill import check_teacher_fits, distribution_loss, load_teacher
from onebit.train.distributed import DistributedContext, launched_as_main, unwrap
from onebit.train.metrics import MetricsLog
from onebit.train.progress import TrainingProgress
from onebit.train.run_directory import (
    CHECKPOINT_NAME,
    check_run_directory,
    check_same_model,
    check_same_settings,
    hold_run_directory,
    remove_replaced_files,
    remove_stale_temporaries,
)
from onebit.train.tasks import Classification, Landmarks, Task, task_for
from onebit.train.tasks import evaluate as evaluate_task
from onebit.train.two_step import two_step

EpochCallback = Callable[[int, dict[str, float], nn.Module], None]


@dataclass
class TrainConfig:
    """Everything that defines a training run; the CLI's flags map onto these fields.

    Attributes:
        model: registry name of the model.
        data: registry name of the dataset.
        data_path: directory of a file-based dataset (mnist IDX, cifar10, folder).
        val_fraction: the share of the training part held out as the validation split
            (:func:`onebit.data.validation_split`), evaluated every epoch beside the test split;
            0: no validation split. Choose hyperparameters on validation, never on test.
        model_kwargs: extra model arguments (``hidden``, ``depth``, ``dropout``...).
        epochs: passes over the training split.
        batch_size: samples per optimizer step, summed over all processes.
        optimizer: registry name of the optimizer.
        optimizer_options: the optimizer's own arguments, e.g. Bop's ``gamma`` and ``threshold``.
        lr: peak learning rate.
        weight_decay: L2 / decoupled decay, as the optimizer defines it.
        schedule: registry name of the per-step learning-rate schedule.
        seed: seeds initialization, shuffling, augmentation, dropout and stochastic quantizers.
        augment_shift: translate training images by up to this many pixels (0: off).
        augment_audio: make each training batch of a keyword set from its waveforms, shifted
            in time and given noise (:class:`onebit.train.augment.AudioAugmentation`); the
            validation and test features stay clean.
        grad_rounding_bits: round every gradient stochastically to this many bits before the
            optimizer step (Gupta et al. 2015); None: off.
        teacher: checkpoint of a trained model to distill from (``distribution_loss``).
        distill_weight: the loss is ``w * distillation + (1 - w) * cross-entropy``.
        two_step: binary activations with real weights for half the epochs, then binary
            weights too (``onebit.train.two_step.two_step``).
        bit_mixer: Bit-Mixer's three stages for a meta-quantized model such as
            ``bitmixer-mlp`` (``onebit.train.bit_mixer.bit_mixer``).
        mixer_samples: for a Bit-Mixer model, train the widest configuration and this many
            drawn ones on every batch (``onebit.train.bit_mixer.mixer_loss``); 0: one drawn
            configuration per batch, as the paper.
        mixer_distill: with ``mixer_samples``, the drawn configurations learn from the widest
            one's output (in-place distillation) instead of the labels.
        mixer_narrowest: with ``mixer_samples``, the narrowest configuration is always one of
            them (the sandwich rule).
        mixer_stages: the relative lengths of Bit-Mixer's three stages, e.g. ``(1, 1, 4)``
            (``onebit.train.bit_mixer.stage_epochs``); equal thirds by default.
        init_state: a state dict to start from instead of a fresh initialization.
        clip_weights: clip latent weights after each step (each layer's ``weight_clip``).
        out_dir: where the checkpoint, metrics and plot go; None writes nothing. A directory
            that already holds a run needs ``resume`` or ``overwrite``; one that another process
            is training in is refused.
        resume: continue from ``out_dir``'s checkpoint (an error when there is none). The run
            must ask for the settings the checkpoint was trained with, except ``epochs``: the
            same number continues exactly, another re-plans the schedule (see ``fit``).
        overwrite: replace the run in ``out_dir``; its files stay until the new run's first
            checkpoint is written.
        device: "cpu", "cuda" or "auto".
        threads: torch intra-op threads; None keeps torch's default (split between processes).
        progress: show progress bars and per-epoch lines (notes such as "nothing to do"
            are printed either way).
    """

    model: str = "binarynet-mlp"
    data: str = "mnist5k"
    data_path: str | None = None
    val_fraction: float = datasets.DEFAULT_VAL_FRACTION
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 100
    optimizer: str = "adam"
    optimizer_options: dict[str, Any] = field(default_factory=dict)
    lr: float = 0.01
    weight_decay: float = 0.0
    schedule: str = "cosine"
    seed: int = 0
    augment_shift: int = 0
    augment_audio: bool = False
    grad_rounding_bits: int | None = None
    teacher: str | None = None
    distill_weight: float = 1.0
    two_step: bool = False
    bit_mixer: bool = False
    mixer_samples: int = 0
    mixer_distill: bool = False
    mixer_narrowest: bool = False
    mixer_stages: tuple[int, int, int] = EQUAL_STAGES
    init_state: dict[str, Any] | None = None
    clip_weights: bool = True
    out_dir: str | None = None
    resume: bool = False
    overwrite: bool = False
    device: str = "auto"
    threads: int | None = None
    progress: bool = True

    def validate(self) -> None:
        datasets.check_val_fraction(self.val_fraction)
        if self.epochs < 1:
            raise OnebitError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 2:
            raise OnebitError(f"batch size must be at least 2 (BatchNorm), got {self.batch_size}")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise OnebitError(f"distill_weight must be in [0, 1], got {self.distill_weight}")
        if self.augment_shift < 0:
            raise OnebitError(f"augment_shift must be non-negative, got {self.augment_shift}")
        if self.threads is not None and self.threads < 1:
            raise OnebitError(f"threads must be at least 1, got {self.threads}")
        if self.two_step and self.bit_mixer:
            raise OnebitError("two_step and bit_mixer are two different schedules; pick one")
        if self.mixer_samples < 0:
            raise OnebitError(f"mixer_samples must be non-negative, got {self.mixer_samples}")
        if (self.mixer_distill or self.mixer_narrowest) and not self.mixer_samples:
            raise OnebitError(
                "mixer_distill and mixer_narrowest choose how the configurations besides the "
                "widest train: they need mixer_samples of at least 1"
            )
        check_stage_weights(self.mixer_stages)
        if self.mixer_samples and self.teacher is not None:
            raise OnebitError("mixer_samples trains with its own losses: it takes no teacher")
        if self.resume and self.out_dir is None:
            raise OnebitError("--resume needs an output directory to resume from")
        if self.resume and self.overwrite:
            raise OnebitError(
                "--resume and --overwrite contradict each other: one continues the run in the "
                "output directory, the other replaces it"
            )


@dataclass
class TrainResult:
    """What a run produced.

    Attributes:
        model: the trained model, in eval mode.
        history: the per-epoch metrics of the whole run (resumed epochs included).
        out_dir: the run directory, or None.
        is_main: whether this process is the main one of a distributed run.
        trained_epochs: the epochs this call trained (0: a resumed run had nothing to do).
    """

    model: nn.Module
    history: list[dict[str, float]]
    out_dir: Path | None
    is_main: bool = True
    trained_epochs: int = 0

    @property
    def final(self) -> dict[str, float]:
        return self.history[-1]

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean([row["epoch_seconds"] for row in self.history]))


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000
) -> tuple[float, int, int]:
    """Summed cross-entropy, correct count and sample count of a classifier in eval mode."""
    loss_sum, correct, seen = evaluate_task(model, x, (y,), Classification(), batch_size)
    return loss_sum, int(correct), int(seen)


def check_task(config: TrainConfig, task: Task, splits: Any = None) -> None:
    """Refuse the options a landmark run cannot take (they are the classifier's), image
    augmentation on text, and audio augmentation on data without waveforms."""
    if isinstance(splits, datasets.TextSplits) and config.augment_shift:
        raise OnebitError(f"{config.data} is a text dataset: augment_shift shifts images only")
    if config.augment_audio and not isinstance(splits, datasets.KeywordSplits):
        raise OnebitError(
            f"augment_audio needs a keyword set with waveforms (spoken-digits, keyword-folder); "
            f"{config.data} has none"
        )
    if config.augment_audio and config.augment_shift:
        raise OnebitError(
            "augment_audio shifts the waveforms in time; augment_shift would shift their "
            "spectrograms again: pick one"
        )
    if not isinstance(task, Landmarks):
        return
    classifier_only = {
        "teacher": config.teacher is not None,
        "mixer_samples": bool(config.mixer_samples),
        "augment_shift": bool(config.augment_shift),
    }
    used = [name for name, on in classifier_only.items() if on]
    if used:
        raise OnebitError(
            f"{config.data} is a landmark dataset: {', '.join(used)} train classifiers only"
        )


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator)


def _batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    batches = list(order.split(batch_size))
    if batches and len(batches[-1]) < 2:  # BatchNorm cannot train on one sample
        batches.pop()
    return batches


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def fit(
    config: TrainConfig,
    splits: datasets.DataSplits | None = None,
    callbacks: Sequence[EpochCallback] = (),
) -> TrainResult:
    """Train ``config.model`` on ``config.data`` and return the model and its per-epoch metrics.

    Resuming with ``epochs`` equal to the epochs the checkpoint finished does nothing but rewrite
    the metrics files and ``curves.png`` ("nothing to do"); fewer is an error. Resuming with
    another ``epochs`` than the run was started with re-plans the schedule over the new total
    and goes on from the step it reached, as a run planned that long would (a finished cosine
    run extended from 30 to 40 epochs restarts at the rate cosine gives 30/40 of the way); the
    run then no longer equals any uninterrupted run, and a note says so.

    Args:
        config: the run.
        splits: data to use instead of loading ``config.data`` (e.g. a subset in tests), without
            a validation split: ``config.val_fraction`` carves it out of their training part.
        callbacks: called on every process as ``callback(epoch, metrics, model)`` after each
            epoch, once the checkpoint is written (``model`` is the unwrapped module).
    """
    config.validate()
    held: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if config.out_dir is not None and launched_as_main():
        held = hold_run_directory(Path(config.out_dir))  # before any check: one run at a time
    with held:
        if config.out_dir is not None and not (config.two_step or config.bit_mixer):
            check_run_directory(Path(config.out_dir), config.resume, config.overwrite)
        if config.two_step:
            return two_step(config, splits, fit)
        if config.bit_mixer:
            return bit_mixer(config, splits, fit, callbacks)
        context = DistributedContext.from_env(config.device)
        try:
            return _fit(config, splits, callbacks, context)
        finally:
            context.close()


def _fit(
    config: TrainConfig,
    splits: datasets.DataSplits | None,
    callbacks: Sequence[EpochCallback],
    context: DistributedContext,
) -> TrainResult:
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    elif context.enabled:
        torch.set_num_threads(max(1, torch.get_num_threads() // context.world_size))
    if config.batch_size % context.world_size:
        raise OnebitError(
            f"batch size {config.batch_size} must divide evenly over {context.world_size} processes"
        )
    local_batch = config.batch_size // context.world_size

    if splits is None:
        splits = datasets.load(config.data, config.data_path, config.val_fraction)
    else:
        splits = splits.with_validation(config.val_fraction)
    task = task_for(splits)
    check_task(config, task, splits)
    device = context.device
    audio = None
    if config.augment_audio:
        audio = AudioAugmentation(splits.wave_train, FRONTEND, SAMPLE_RATE)
    x_train = torch.from_numpy(splits.x_train).to(device)
    train_targets = task.targets(splits, "train", device)
    eval_sets = {
        name: (
            torch.from_numpy(getattr(splits, f"x_{name}")).to(device),
            task.targets(splits, name, device),
        )
        for name in (("val", "test") if splits.has_validation else ("test",))
    }

    torch.manual_seed(config.seed)
    model_kwargs = {
        **models.data_kwargs(
            config.model,
            splits.input_shape,
            splits.num_outputs,
            getattr(splits, "vocab_size", None),
        ),
        **config.model_kwargs,
    }
    model = models.create(config.model, **model_kwargs).to(device)
    if config.init_state is not None:
        model.load_state_dict(config.init_state)
    optimizer = create_optimizer(
        config.optimizer, model, config.lr, config.weight_decay, **config.optimizer_options
    )
    if config.grad_rounding_bits is not None:
        optimizer = StochasticRounding(
            optimizer,
            bits=config.grad_rounding_bits,
            seed=config.seed,  # same draws on every rank
        )
    teacher = None
    if config.teacher is not None:
        teacher = load_teacher(config.teacher, device)
        check_teacher_fits(teacher, config.teacher, x_train[:2], splits.num_outputs)
    steps_per_epoch = len(_batches(context.shard(torch.arange(len(x_train))), local_batch))
    if steps_per_epoch == 0:
        raise OnebitError(f"the training split ({len(x_train)} samples) is too small to train on")
    schedule = create_schedule(config.schedule, optimizer, config.epochs * steps_per_epoch)

    out_dir = Path(config.out_dir) if config.out_dir is not None else None
    checkpoint_path = out_dir / CHECKPOINT_NAME if out_dir is not None else None
    if context.is_main and out_dir is not None:
        remove_stale_temporaries(out_dir)  # fit holds the directory: no other writer
    log = MetricsLog(out_dir, task.metric, task.loss_name)
    progress = TrainingProgress(
        enabled=config.progress and context.is_main, notes=context.is_main, metric=task.metric
    )
    start_epoch = 0
    if config.resume and checkpoint_path is not None:
        state = load_checkpoint(checkpoint_path)
        check_same_model(checkpoint_path, state["model_config"], model.onebit_config)
        check_same_settings(checkpoint_path, state.get("train_config"), plain_config(config))
        start_epoch = int(state["epoch"])
        if config.epochs < start_epoch:
            raise OnebitError(
                f"cannot resume {out_dir} for {config.epochs} epochs: "
                f"it already finished {start_epoch}"
            )
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        schedule.load_state_dict(state["schedule_state"])
        _set_rng_state(state["rng_state"], device)
        log.history = [dict(row) for row in state["history"]]
        planned = state.get("train_config", {}).get("epochs", config.epochs)
        if start_epoch == config.epochs:
            progress.note(f"nothing to do: {out_dir} already finished {start_epoch} epochs")
        elif planned != config.epochs:
            note = _replan(schedule, optimizer, config, planned, start_epoch)
            if note is not None:
                progress.note(note)
        if context.is_main:
            log.write()  # a kill between checkpoint and metrics writes left them one epoch behind

    trained = context.wrap(model)
    with progress:
        for epoch in range(start_epoch, config.epochs):
            order = context.shard(_epoch_order(len(x_train), config.seed, epoch).to(device))
            batches = _batches(order, local_batch)
            progress.start_epoch(epoch, config.epochs, len(batches))
            trained.train()
            loss_sum, counts, seen = 0.0, [0.0] * len(task.count_names), 0
            started = time.perf_counter()
            for batch in batches:
                if audio is not None:
                    images = audio(batch).to(device)
                else:
                    images = random_shift(x_train[batch], config.augment_shift)
                targets = tuple(t[batch] for t in train_targets)
                if config.mixer_samples:
                    loss, logits = mixer_loss(
                        trained,
                        images,
                        targets[0],
                        config.mixer_samples,
                        config.mixer_distill,
                        config.mixer_narrowest,
                    )
                else:
                    logits = trained(images)
                    loss = task.loss(logits, targets)
                if teacher is not None:
                    with torch.no_grad():
                        target = teacher(images)
                    distilled = distribution_loss(logits, target)
                    loss = config.distill_weight * distilled + (1 - config.distill_weight) * loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                if config.clip_weights:
                    clip_latent_weights(model)
                loss_sum += loss.item() * len(batch)
                counts = [a + b for a, b in zip(counts, task.counts(logits, targets), strict=True)]
                seen += len(batch)
                progress.advance(loss_sum / seen, task.metrics(counts, seen)[task.metric])
            epoch_seconds = time.perf_counter() - started
            if not math.isfinite(loss_sum):
                raise OnebitError(f"training diverged at epoch {epoch + 1} (loss is {loss_sum})")

            sums = [epoch_seconds, loss_sum, *counts, seen]
            for x_eval, eval_targets in eval_sets.values():
                part = torch.arange(context.rank, len(x_eval), context.world_size)
                part_targets = tuple(t[part] for t in eval_targets)
                sums += evaluate_task(model, x_eval[part], part_targets, task)
            totals = context.all_reduce_sum(sums)
            metrics: dict[str, float] = {"epoch": epoch + 1}
            width = len(task.count_names) + 2  # loss, counts, samples
            for i, name in enumerate(["train", *eval_sets]):
                split_loss, *split_counts, split_seen = totals[1 + width * i : 1 + width * (i + 1)]
                metrics[f"{name}_loss"] = split_loss / split_seen
                for key, value in task.metrics(split_counts, split_seen).items():
                    metrics[f"{name}_{key}"] = value
            metrics["lr"] = schedule.get_last_lr()[0]
            metrics["epoch_seconds"] = totals[0] / context.world_size
            log.append(metrics)
            progress.end_epoch(metrics)
            if context.is_main and checkpoint_path is not None:
                save_checkpoint(
                    checkpoint_path,
                    {
                        "model_config": model.onebit_config,
                        "model_state": model.state_dict(),
                        "optimizer_state": optimizer.state_dict(),
                        "schedule_state": schedule.state_dict(),
                        "rng_state": _rng_state(device),
                        "epoch": epoch + 1,
                        "history": log.history,
                        "train_config": plain_config(config),
                    },
                )
                log.write()
                if config.overwrite and epoch == 0:
                    remove_replaced_files(out_dir)
            context.barrier()
            for callback in callbacks:
                callback(epoch + 1, metrics, model)

    if context.is_main and out_dir is not None:
        log.plot()
    return TrainResult(
        unwrap(trained).eval(),
        log.history,
        out_dir,
        context.is_main,
        trained_epochs=config.epochs - start_epoch,
    )


def _replan(
    schedule: LRScheduler,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    planned: int,
    done: int,
) -> str | None:
    """Set the learning rates a schedule planned over ``config.epochs`` gives at the step the
    run reached (the schedule was built for ``config.epochs``; the optimizer's rates are still
    the old plan's). Returns the note that says so, or None when the rates did not change."""
    if not isinstance(schedule, LambdaLR):
        raise OnebitError(
            f"cannot resume a {planned}-epoch run for {config.epochs} epochs with the "
            f"{config.schedule!r} schedule: it cannot be re-planned"
        )
    before = optimizer.param_groups[0]["lr"]
    for group, base, factor in zip(
        optimizer.param_groups, schedule.base_lrs, schedule.lr_lambdas, strict=True
    ):
        group["lr"] = base * factor(schedule.last_epoch)
    if optimizer.param_groups[0]["lr"] == before:  # e.g. the constant schedule
        return None
    return (
        f"note: {config.out_dir} was planned for {planned} epochs and now runs to "
        f"{config.epochs}: the {config.schedule} schedule is re-planned over {config.epochs} "
        f"epochs, so the learning rate goes on from epoch {done + 1} at "
        f"{optimizer.param_groups[0]['lr']:.3g} (the old plan: {before:.3g})"
    )


def plain_config(config: TrainConfig) -> dict[str, Any]:
    """The run's settings as plain values (no initial weights), as checkpoints record them."""
    plain = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "init_state"}
    plain["model_kwargs"] = {
        k: v
        for k, v in plain["model_kwargs"].items()
        if isinstance(v, int | float | str | bool | None)
    }
    plain["mixer_stages"] = list(plain["mixer_stages"])  # as JSON and old checkpoints hold it
    return plain
