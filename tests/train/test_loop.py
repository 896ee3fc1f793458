from __future__ import annotations

import csv
import json

import pytest
import torch

from onebit.nn import binary_parameters
from onebit.train import TrainConfig, fit, model_from_checkpoint
from onebit.train.loop import CHECKPOINT_NAME, evaluate


def small_config(tmp_path, **overrides) -> TrainConfig:
    settings = dict(
        model="binarynet-mlp",
        data="digits",
        model_kwargs={"hidden": 64, "depth": 2, "dropout": 0.1},
        epochs=4,
        batch_size=50,
        lr=0.01,
        seed=3,
        out_dir=str(tmp_path / "run"),
        device="cpu",
        progress=False,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class Interrupt(Exception):
    pass


def interrupt_after(epoch: int):
    def callback(done: int, metrics: dict[str, float], model) -> None:
        if done == epoch:
            raise Interrupt

    return callback


def without_time(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in history]


@pytest.mark.parametrize(
    "input_quantizer", ["ste_sign", {"name": "stochastic_sign"}], ids=["ste", "stochastic"]
)
def test_resumed_run_equals_uninterrupted_run(tmp_path, small_digits, input_quantizer):
    kwargs = {"hidden": 64, "depth": 2, "dropout": 0.1, "input_quantizer": input_quantizer}
    whole = fit(small_config(tmp_path / "a", model_kwargs=kwargs, augment_shift=1), small_digits)

    config = small_config(tmp_path / "b", model_kwargs=kwargs, augment_shift=1)
    with pytest.raises(Interrupt):
        fit(config, small_digits, callbacks=[interrupt_after(2)])
    config.resume = True
    resumed = fit(config, small_digits)

    assert_same_state(whole.model.state_dict(), resumed.model.state_dict())
    assert without_time(whole.history) == without_time(resumed.history)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, small_digits):
    first = fit(small_config(tmp_path / "a", epochs=1), small_digits)
    again = fit(small_config(tmp_path / "b", epochs=1), small_digits)
    other = fit(small_config(tmp_path / "c", epochs=1, seed=4), small_digits)
    assert_same_state(first.model.state_dict(), again.model.state_dict())
    assert not torch.equal(first.model[1].weight, other.model[1].weight)


def test_binary_mlp_learns_digits(tmp_path, digits):
    config = small_config(tmp_path, model_kwargs={"hidden": 256}, epochs=6, batch_size=64)
    result = fit(config, digits)
    assert result.final["test_accuracy"] > 0.90
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_latent_weights_stay_clipped_unless_switched_off(tmp_path, small_digits):
    def largest_latent_weight(model) -> float:
        return max(float(w.detach().abs().max()) for _, w in binary_parameters(model))

    clipped = fit(small_config(tmp_path / "a", epochs=2, lr=0.2), small_digits)
    assert largest_latent_weight(clipped.model) <= 1.0
    free = fit(small_config(tmp_path / "b", epochs=2, lr=0.2, clip_weights=False), small_digits)
    assert largest_latent_weight(free.model) > 1.0


def test_run_directory_holds_checkpoint_metrics_and_plot(tmp_path, small_digits):
    result = fit(small_config(tmp_path, epochs=3), small_digits)
    run = tmp_path / "run"
    with open(run / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    assert float(rows[-1]["test_accuracy"]) == pytest.approx(result.final["test_accuracy"])
    assert json.loads((run / "metrics.json").read_text()) == result.history
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in run.iterdir() if p.name.startswith(".")], "temporary files left over"

    restored = model_from_checkpoint(run / CHECKPOINT_NAME)
    x = torch.from_numpy(small_digits.x_test)
    y = torch.from_numpy(small_digits.y_test)
    _, correct, seen = evaluate(restored, x, y)
    assert correct / seen == pytest.approx(result.final["test_accuracy"])


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path, small_digits):
    fit(small_config(tmp_path, epochs=1), small_digits)
    other = small_config(tmp_path, epochs=2, resume=True, model_kwargs={"hidden": 32})
    with pytest.raises(Exception, match="different model"):
        fit(other, small_digits)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1}, "batch size"),
        ({"lr": -1.0}, "learning rate"),
        ({"optimizer": "adamm"}, "did you mean 'adam'"),
        ({"schedule": "cosin"}, "did you mean 'cosine'"),
        ({"resume": True, "out_dir": None}, "output directory"),
        ({"model_kwargs": {"width": 3}}, "it takes"),
        ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\), got 1.0"),
        ({"val_fraction": 0.999}, "leaves 400 for validation and 0 for training"),
    ],
)
def test_bad_settings_are_clear_errors(tmp_path, small_digits, overrides, message):
    from onebit import OnebitError

    with pytest.raises(OnebitError, match=message):
        fit(small_config(tmp_path, **overrides), small_digits)


def test_history_reports_validation_and_test_separately(tmp_path, small_digits, capsys):
    result = fit(small_config(tmp_path, epochs=2, val_fraction=0.25, progress=True), small_digits)
    assert list(result.final) == [
        "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
        "test_loss", "test_accuracy", "lr", "epoch_seconds",
    ]  # fmt: skip
    carved = small_digits.with_validation(0.25)
    restored = model_from_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)
    _, correct, seen = evaluate(
        restored, torch.from_numpy(carved.x_val), torch.from_numpy(carved.y_val)
    )
    assert seen == 100 and correct / seen == pytest.approx(result.final["val_accuracy"])
    text = (tmp_path / "run" / "metrics.csv").read_bytes()
    assert b"\r" not in text and text.splitlines()[0].startswith(
        b"epoch,train_loss,train_accuracy,val_loss"
    )
    assert "val loss" in capsys.readouterr().err


def test_without_a_validation_split_there_are_no_val_metrics(tmp_path, small_digits):
    result = fit(small_config(tmp_path, epochs=1, val_fraction=0.0, out_dir=None), small_digits)
    assert "val_accuracy" not in result.final and "test_accuracy" in result.final


def test_splits_that_already_have_a_validation_split_are_refused(tmp_path, small_digits):
    from onebit import OnebitError

    with pytest.raises(OnebitError, match="already has a validation split"):
        fit(small_config(tmp_path, epochs=1), small_digits.with_validation(0.1))
