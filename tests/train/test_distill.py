from __future__ import annotations

import math

import pytest
import torch

from onebit import OnebitError
from onebit.train import TrainConfig, fit, load_checkpoint
from onebit.train.distill import distribution_loss


def config(tmp_path, name: str, **overrides) -> TrainConfig:
    settings = dict(
        model="binarynet-mlp",
        data="digits",
        model_kwargs={"hidden": 64, "depth": 2},
        epochs=2,
        batch_size=50,
        lr=0.01,
        seed=2,
        out_dir=str(tmp_path / name),
        device="cpu",
        progress=False,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_distribution_loss_is_the_kl_divergence_from_teacher_to_student():
    student = torch.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
    teacher = torch.tensor([[0.5, 0.5, 1.0]], requires_grad=True)
    p = torch.softmax(teacher, 1)[0].tolist()
    q = torch.softmax(student, 1)[0].tolist()
    expected = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    loss = distribution_loss(student, teacher)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert student.grad is not None and teacher.grad is None
    assert distribution_loss(teacher.detach(), teacher.detach()).item() == pytest.approx(
        0, abs=1e-7
    )


def test_distillation_trains_and_weight_zero_is_plain_training(tmp_path, small_digits):
    teacher = fit(config(tmp_path, "teacher", model="float-mlp"), small_digits)
    path = str(teacher.out_dir / "checkpoint.pt")
    distilled = fit(config(tmp_path, "kd", teacher=path, epochs=4), small_digits)
    assert distilled.history[-1]["train_loss"] < distilled.history[0]["train_loss"]
    assert distilled.final["test_accuracy"] > 0.5  # 10 classes: chance is 0.1

    plain = fit(config(tmp_path, "plain"), small_digits)
    weightless = fit(config(tmp_path, "w0", teacher=path, distill_weight=0.0), small_digits)
    for key, value in plain.model.state_dict().items():
        assert torch.equal(value, weightless.model.state_dict()[key]), key


def test_two_step_trains_real_weights_first_then_binary_weights(tmp_path, small_digits):
    result = fit(config(tmp_path, "two", epochs=4, two_step=True), small_digits)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    step1 = load_checkpoint(tmp_path / "two" / "step1" / "checkpoint.pt")
    step2 = load_checkpoint(tmp_path / "two" / "step2" / "checkpoint.pt")
    assert step1["model_config"]["weight_quantizer"] == "identity"
    assert "weight_quantizer" not in step2["model_config"]
    assert step1["epoch"] == 2 and step2["epoch"] == 2
    assert result.model[3].weight_quantizer.name == "ste_sign"
    assert result.final["test_accuracy"] > 0.5


def test_bad_distillation_settings(tmp_path, small_digits):
    with pytest.raises(OnebitError, match="distill_weight"):
        fit(config(tmp_path, "x", teacher="t.pt", distill_weight=1.5), small_digits)
    with pytest.raises(OnebitError, match="checkpoint not found"):
        fit(config(tmp_path, "y", teacher=str(tmp_path / "none.pt")), small_digits)
    with pytest.raises(OnebitError, match="at least 2 epochs"):
        fit(config(tmp_path, "z", epochs=1, two_step=True), small_digits)
