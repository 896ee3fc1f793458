"""Training with a full-precision teacher.

Knowledge distillation here is ReActNet's distributional loss: the student matches the teacher's
class distribution, ``L = (1/n) sum_i sum_c p_T(c|x_i) log(p_T(c|x_i) / p_S(c|x_i))``, the KL
divergence from teacher to student (Liu et al., "ReActNet", ECCV 2020, eq. (5)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
