"""Training with a full-precision teacher, and the two-step binarization schedule.

Knowledge distillation here is ReActNet's distributional loss: the student matches the teacher's
class distribution, ``L = (1/n) sum_i sum_c p_T(c|x_i) log(p_T(c|x_i) / p_S(c|x_i))``, the KL
divergence from teacher to student (Liu et al., "ReActNet", ECCV 2020, eq. (5)). The two-step
schedule trains binary activations with real-valued weights first, then binarizes the weights
too, starting from the first step's weights (Martinez et al., "Training Binary Neural Networks
with Real-to-Binary Convolutions", ICLR 2020, sec. 4.2; ReActNet sec. 4.1).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from onebit.data import DataSplits


def distribution_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_teacher || p_student), averaged over the batch; the teacher gets no gradient."""
    teacher = F.log_softmax(teacher_logits.detach(), dim=1)
    student = F.log_softmax(student_logits, dim=1)
    return F.kl_div(student, teacher, reduction="batchmean", log_target=True)


def load_teacher(path: str, device: torch.device) -> nn.Module:
    """A trained model from its checkpoint, frozen and in eval mode."""
    from onebit.train.checkpoint import model_from_checkpoint

    teacher = model_from_checkpoint(path).to(device)
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher.eval()


def check_teacher_fits(
    teacher: nn.Module, path: str, images: torch.Tensor, num_classes: int
) -> None:
    """Refuse a teacher that cannot take the student's inputs or predicts other classes.

    Args:
        teacher: the loaded teacher.
        path: its checkpoint, for the message.
        images: a batch of the training data (at least one image).
        num_classes: the student's class count.
    """
    from onebit._registry import OnebitError

    data_shape = tuple(images.shape[1:])
    teacher_shape = tuple(getattr(teacher, "input_shape", data_shape))
    if teacher_shape != data_shape:
        raise OnebitError(
            f"teacher {path} takes inputs of shape {teacher_shape}, but the data has {data_shape}"
        )
    try:
        with torch.no_grad():
            logits = teacher(images)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise OnebitError(f"teacher {path} cannot run on the data: {first}") from None
    if logits.shape != (len(images), num_classes):
        raise OnebitError(
            f"teacher {path} predicts {tuple(logits.shape[1:])} outputs per image, but the "
            f"student has {num_classes} classes"
        )


def two_step(config, splits: DataSplits | None = None):
    """Train in two steps: binary activations and real weights for the first half of the epochs,
    then binary weights too, initialized from the first step. Each step writes its own run
    directory (``OUT/step1``, ``OUT/step2``) and can be resumed on its own; resuming a two-step
    run whose second step has no checkpoint yet starts that step.

    Returns the second step's result, with the first step's epochs prepended to its history.
    """
    from onebit.train.loop import fit

    if config.epochs < 2:
        from onebit._registry import OnebitError

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
    resume_second = config.resume and (out / "step2" / "checkpoint.pt").exists()
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
