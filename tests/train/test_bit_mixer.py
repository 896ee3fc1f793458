"""Bit-Mixer: transitional batch norm, the meta-quantized MLP's width draws, the three-stage
schedule of the training loop, and its step options (several widths per batch, in-place
distillation)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from onebit import OnebitError, models
from onebit.models.bitmixer import build_bitmixer_mlp
from onebit.nn.bitmixer import (
    TransitionalBatchNorm,
    all_configurations,
    bit_layers,
    calibrate_norms,
    sample_bits,
    transitional_norms,
)
from onebit.train import TrainConfig, fit, model_from_checkpoint
from onebit.train.bit_mixer import layerwise_ramp, mixer_loss, stage_epochs


def test_transitional_norm_keeps_one_batch_norm_per_transition() -> None:
    norm = TransitionalBatchNorm(5, (2, 4), (2, 3, 4))
    assert list(norm.norms) == ["2_2", "2_3", "2_4", "4_2", "4_3", "4_4"]
    last = TransitionalBatchNorm(5, (2, 4))
    assert list(last.norms) == ["2", "4"]
    norm.train()
    x = torch.randn(8, 5) * 3 + 1
    norm.source_bits, norm.target_bits = 2, 3
    norm(x)
    touched = [key for key, bn in norm.norms.items() if int(bn.num_batches_tracked) > 0]
    assert touched == ["2_3"]  # only the current transition learns its statistics


def test_the_model_draws_widths_in_training_and_keeps_its_own_in_eval() -> None:
    torch.manual_seed(0)
    model = models.create("bitmixer-mlp", hidden=16, depth=2)
    assert model.bits == (4, 4, 4)
    model.set_bits([2, 3, 4])
    model.train()
    seen = set()
    for _ in range(20):
        model(torch.rand(4, 1, 28, 28))
        seen.add(model.bits)
        assert len(set(model.bits)) == 1  # stage 3 with probability 0: network-wide draws
    assert seen <= {(2, 2, 2), (3, 3, 3), (4, 4, 4)} and len(seen) > 1
    model.eval()
    assert model.bits == (2, 3, 4)
    norms = [m for m in model.modules() if isinstance(m, TransitionalBatchNorm)]
    assert [(n.source_bits, n.target_bits) for n in norms] == [(2, 3), (3, 4), (4, None)]
    model.layerwise_probability = 1.0
    model.train()
    draws = {model(torch.rand(4, 1, 28, 28)) is not None and model.bits for _ in range(30)}
    assert any(len(set(bits)) > 1 for bits in draws)  # layer-wise draws


def test_stage_one_trains_with_real_valued_activations() -> None:
    model = models.create("bitmixer-mlp", hidden=8, depth=1, stage=1)
    layers = bit_layers(model)
    assert layers[0].input_quantizer is None
    assert all(not layer.input_quantizer.enabled for layer in layers[1:])
    assert len(sample_bits(model, layerwise=True)) == len(layers)
    with pytest.raises(OnebitError, match="stage must be 1, 2 or 3"):
        models.create("bitmixer-mlp", stage=4)


def test_stage_lengths() -> None:
    assert stage_epochs(3) == (1, 1, 1) and stage_epochs(10) == (3, 3, 4)
    with pytest.raises(OnebitError, match="at least 3 epochs"):
        stage_epochs(2)
    assert stage_epochs(60, (1, 1, 4)) == (10, 10, 40) and stage_epochs(30, (1, 1, 4)) == (5, 5, 20)
    assert stage_epochs(3, (1, 100, 1)) == (1, 1, 1) and stage_epochs(4, (1, 100, 1)) == (1, 1, 2)
    for bad in ((1, 1), (1, 0, 1), (1, -1, 1), (1.5, 1, 1), (True, 1, 1)):
        with pytest.raises(OnebitError, match="three positive integers"):
            stage_epochs(30, bad)


@given(epochs=st.integers(3, 500), weights=st.tuples(*[st.integers(1, 50)] * 3))
def test_every_stage_gets_an_epoch_and_the_split_follows_the_weights(epochs, weights) -> None:
    lengths = stage_epochs(epochs, weights)
    assert sum(lengths) == epochs and min(lengths) >= 1
    total = sum(weights)
    for length, weight in zip(lengths[:2], weights[:2], strict=True):
        assert length == 1 + (epochs - 3) * weight // total
    if weights == (1, 1, 1):  # the old rule: a third each, the remainder to the last
        assert lengths[:2] == (epochs // 3, epochs // 3)


def test_the_layerwise_ramp() -> None:
    model = models.create("bitmixer-mlp", hidden=8, depth=1)
    ramp = layerwise_ramp(4)
    probabilities = []
    for epoch in range(1, 5):
        ramp(epoch, {}, model)
        probabilities.append(model.layerwise_probability)
    assert probabilities == [0.5, 1.0, 1.0, 1.0]


def test_three_stages_train_and_resume_stage_by_stage(tmp_path, small_digits) -> None:
    config = TrainConfig(
        model="bitmixer-mlp",
        data="digits",
        model_kwargs={"hidden": 64, "depth": 1},  # 32 units: 2 bits is a coin toss in 7 epochs
        epochs=7,
        batch_size=50,
        lr=0.01,
        seed=2,
        bit_mixer=True,
        out_dir=str(tmp_path / "run"),
        device="cpu",
        progress=False,
    )
    result = fit(config, small_digits)
    assert [row["stage"] for row in result.history] == [1, 1, 2, 2, 3, 3, 3]
    assert [row["epoch"] for row in result.history] == list(range(1, 8))
    assert result.model.layerwise_probability == 1.0
    for stage in (1, 2, 3):
        assert (tmp_path / "run" / f"stage{stage}" / "checkpoint.pt").exists()
    model = model_from_checkpoint(tmp_path / "run" / "stage3" / "checkpoint.pt")
    assert model.onebit_config["stage"] == 3 and model.layerwise_probability == 1.0
    x = torch.from_numpy(small_digits.x_test[:50])
    for bits in (2, 3, 4, (2, 4)):
        model.set_bits(bits)
        accuracy = (model(x).argmax(1).numpy() == small_digits.y_test[:50]).mean()
        assert accuracy > 0.5, bits
    again = fit(TrainConfig(**{**vars(config), "resume": True}), small_digits)
    assert again.trained_epochs == 0  # every stage was finished: nothing to do


def test_two_schedules_at_once_are_refused(tmp_path) -> None:
    config = TrainConfig(model="bitmixer-mlp", bit_mixer=True, two_step=True, epochs=3)
    with pytest.raises(OnebitError, match="pick one"):
        fit(config)


def test_a_given_configuration_runs_in_both_modes_and_leaves_the_eval_one() -> None:
    torch.manual_seed(0)
    model = models.create("bitmixer-mlp", hidden=16, depth=2)
    assert model.widest == (4, 4, 4)
    model.set_bits([2, 3, 4])
    model.train()
    x = torch.rand(6, 1, 28, 28)
    model(x, bits=(3, 2, 2))
    assert model.bits == (3, 2, 2)  # training: no draw when a configuration is given
    model.eval()
    at_given = model(x, bits=(4, 4, 2))
    assert model.bits == (2, 3, 4)  # eval mode returns to the configuration set
    model.set_bits([4, 4, 2])
    assert torch.equal(at_given, model(x))


def _recording(model: torch.nn.Module) -> list[tuple[int, ...]]:
    seen: list[tuple[int, ...]] = []
    model.register_forward_hook(lambda module, args, out: seen.append(module.bits))
    return seen


def test_mixer_loss_trains_the_widest_and_drawn_configurations() -> None:
    torch.manual_seed(1)
    model = models.create("bitmixer-mlp", hidden=16, depth=2).train()
    seen = _recording(model)
    x, y = torch.rand(8, 1, 28, 28), torch.randint(10, (8,))
    for _ in range(10):
        mixer_loss(model, x, y, samples=2, distill=False)
    assert len(seen) == 30
    assert all(bits == (4, 4, 4) for bits in seen[::3])  # the widest first
    drawn = [bits for i, bits in enumerate(seen) if i % 3]
    assert (4, 4, 4) not in drawn and {(2, 2, 2), (3, 3, 3)} <= set(drawn)


def test_the_sandwich_rule_always_trains_the_narrowest_too() -> None:
    torch.manual_seed(6)
    model = models.create("bitmixer-mlp", hidden=16, depth=2).train()
    seen = _recording(model)
    x, y = torch.rand(8, 1, 28, 28), torch.randint(10, (8,))
    for _ in range(5):
        mixer_loss(model, x, y, samples=2, distill=True, narrowest=True)
    # network-wide draws of three widths: the widest, the narrowest and the one between
    assert seen == [(4, 4, 4), (2, 2, 2), (3, 3, 3)] * 5
    model.stage, model.layerwise_probability = 3, 1.0
    seen.clear()
    mixer_loss(model, x, y, samples=3, distill=True, narrowest=True)
    assert seen[:2] == [(4, 4, 4), (2, 2, 2)]
    assert all(bits not in {(4, 4, 4), (2, 2, 2)} for bits in seen[2:]) and len(seen) == 4
    two = build_bitmixer_mlp((1, 28, 28), 10, hidden=8, depth=1, bit_options=(2, 4)).train()
    with pytest.raises(OnebitError, match="use one sample"):
        mixer_loss(two, x, y, samples=2, distill=True, narrowest=True)


@pytest.mark.parametrize("distill", [False, True], ids=["labels", "distill"])
def test_mixer_loss_is_the_mean_of_the_configurations_losses(distill: bool) -> None:
    torch.manual_seed(2)
    model = models.create("bitmixer-mlp", hidden=16, depth=1, stage=3)
    model.layerwise_probability = 1.0
    model.train()
    x, y = torch.rand(8, 1, 28, 28), torch.randint(10, (8,))
    model(x, bits=(2, 2))
    model(x, bits=(3, 3))  # every step initialized: the recomputation below sees the same
    seen = _recording(model)
    torch.manual_seed(3)
    loss, logits = mixer_loss(model, x, y, samples=2, distill=distill)
    assert len(seen) == 3 and seen[0] == (4, 4)
    drawn_bits = seen[1:]
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()

    wide = model(x, bits=(4, 4))
    assert torch.equal(wide, logits)
    expected = F.cross_entropy(wide, y)
    for bits in drawn_bits:
        drawn = model(x, bits=bits)
        if distill:  # KL(p_wide || p_drawn), the widest detached
            target = F.softmax(wide.detach(), 1)
            expected = expected + (target * (target.log() - F.log_softmax(drawn, 1))).sum(1).mean()
        else:
            expected = expected + F.cross_entropy(drawn, y)
    expected = expected / 3
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    expected.backward()
    again = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(again) == len(grads)
    for mine, theirs in zip(grads, again, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)
    first = bit_layers(model)[0]
    assert first.weight.grad.abs().sum() > 0  # gradients reach the shared weights


def test_with_distillation_the_widest_learns_from_the_labels_alone() -> None:
    torch.manual_seed(4)
    model = models.create("bitmixer-mlp", hidden=16, depth=1).train()
    x, y = torch.rand(8, 1, 28, 28), torch.randint(10, (8,))
    loss, logits = mixer_loss(model, x, y, samples=1, distill=True)
    logits.retain_grad()
    loss.backward()
    alone = logits.detach().requires_grad_()
    (labels_only,) = torch.autograd.grad(F.cross_entropy(alone, y) / 2, alone)
    torch.testing.assert_close(logits.grad, labels_only)  # the KL term sends it nothing


def test_mixer_options_are_checked() -> None:
    with pytest.raises(OnebitError, match="non-negative"):
        TrainConfig(mixer_samples=-1).validate()
    for option in ("mixer_distill", "mixer_narrowest"):
        with pytest.raises(OnebitError, match="need mixer_samples"):
            TrainConfig(**{option: True}).validate()
    with pytest.raises(OnebitError, match="no teacher"):
        TrainConfig(mixer_samples=1, teacher="t.pt").validate()
    with pytest.raises(OnebitError, match="mixer_stages must be three positive integers"):
        TrainConfig(bit_mixer=True, mixer_stages=(1, 0, 2)).validate()
    fixed = models.create("bitmixer-mlp", hidden=8, depth=1, train_bits=(4, 4)).train()
    with pytest.raises(OnebitError, match="several widths"):
        mixer_loss(fixed, torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), 1, False)


def test_three_stages_train_with_distillation_from_the_widest(small_digits) -> None:
    config = TrainConfig(
        model="bitmixer-mlp",
        data="digits",
        model_kwargs={"hidden": 32, "depth": 1},
        epochs=9,
        batch_size=50,
        lr=0.01,
        seed=3,
        bit_mixer=True,
        mixer_samples=1,
        mixer_distill=True,
        device="cpu",
        progress=False,
    )
    result = fit(config, small_digits)
    assert [row["stage"] for row in result.history] == [1] * 3 + [2] * 3 + [3] * 3
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    calibrate_norms(result.model, torch.from_numpy(small_digits.x_train).split(100))
    x = torch.from_numpy(small_digits.x_test[:100])
    for bits in (2, 3, 4, (2, 4), (4, 2)):
        result.model.set_bits(bits)
        accuracy = (result.model(x).argmax(1).numpy() == small_digits.y_test[:100]).mean()
        assert accuracy > 0.6, bits


def test_calibration_averages_the_batch_statistics_of_the_configurations() -> None:
    torch.manual_seed(5)
    model = models.create("bitmixer-mlp", hidden=16, depth=2).train()
    x = torch.rand(32, 1, 28, 28)
    for bits in all_configurations((2, 3, 4), 3):
        model(x, bits=bits)  # initialize every step; the statistics are then stale
    model.set_bits([3, 3, 3])
    model.eval()
    middle = transitional_norms(model)[1]
    inputs: list[torch.Tensor] = []
    middle.norms["3_4"].register_forward_hook(lambda m, args, out: inputs.append(args[0]))
    untouched = middle.norms["2_2"].running_mean.clone()
    batches = [x[:16], x[16:]]
    calibrate_norms(model, batches, [(2, 3, 4), (4, 3, 4)])
    assert len(inputs) == 4  # two batches x two configurations through the 3 -> 4 transition
    bn = middle.norms["3_4"]
    torch.testing.assert_close(bn.running_mean, torch.stack([i.mean(0) for i in inputs]).mean(0))
    variances = torch.stack([i.var(0) for i in inputs]).mean(0)  # unbiased, as BatchNorm keeps
    torch.testing.assert_close(bn.running_var, variances)
    assert torch.equal(middle.norms["2_2"].running_mean, untouched)  # not run: kept
    assert bn.momentum == 0.1 and not model.training and model.bits == (3, 3, 3)
    calibrate_norms(model, batches)  # every configuration: each transition run
    assert all(
        int(n.num_batches_tracked) > 0
        for norm in transitional_norms(model)
        for n in norm.norms.values()
    )


def test_the_train_command_passes_the_mixer_options(tmp_path) -> None:
    from typer.testing import CliRunner

    from onebit.cli import app
    from onebit.train.checkpoint import load_checkpoint

    out = tmp_path / "run"
    args = ["train", "bitmixer-mlp", "--data", "digits", "--epochs", "3", "--hidden", "8"]
    args += ["--depth", "1", "--bit-mixer", "--no-progress", "--device", "cpu"]
    done = CliRunner().invoke(
        app,
        [*args, "--mixer-samples", "2", "--mixer-distill", "--mixer-narrowest", "--out", str(out)],
    )
    assert done.exit_code == 0, done.output
    saved = load_checkpoint(out / "stage3" / "checkpoint.pt")["train_config"]
    assert saved["mixer_samples"] == 2 and saved["mixer_distill"] and saved["mixer_narrowest"]
    assert saved["mixer_stages"] == [1, 1, 1]
    refused = CliRunner().invoke(app, [*args, "--mixer-distill", "--out", str(tmp_path / "r")])
    assert refused.exit_code != 0 and "need mixer_samples" in refused.output


def test_the_train_command_sets_the_stage_lengths(tmp_path) -> None:
    from typer.testing import CliRunner

    from onebit.cli import app
    from onebit.train.checkpoint import load_checkpoint

    out = tmp_path / "run"
    args = ["train", "bitmixer-mlp", "--data", "digits", "--epochs", "6", "--hidden", "8"]
    args += ["--depth", "1", "--no-progress", "--device", "cpu"]
    done = CliRunner().invoke(
        app, [*args, "--bit-mixer", "--mixer-stages", "1,1,4", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    for stage, epochs in ((1, 1), (2, 1), (3, 4)):
        saved = load_checkpoint(out / f"stage{stage}" / "checkpoint.pt")
        assert saved["train_config"]["mixer_stages"] == [1, 1, 4]
        assert saved["train_config"]["epochs"] == epochs
    resumed = CliRunner().invoke(
        app, [*args, "--bit-mixer", "--mixer-stages", "1,1,1", "--resume", "--out", str(out)]
    )
    assert resumed.exit_code != 0 and "mixer_stages was [1, 1, 4], now [1, 1, 1]" in resumed.output
    for stages, message in (
        ("1,1", "three positive integers"),
        ("1,x,1", "comma-separated integers"),
    ):
        bad = CliRunner().invoke(
            app, [*args, "--bit-mixer", "--mixer-stages", stages, "--out", str(tmp_path / "b")]
        )
        assert bad.exit_code != 0 and message in bad.output
    plain = CliRunner().invoke(
        app, [*args, "--mixer-stages", "1,1,4", "--out", str(tmp_path / "p")]
    )
    assert plain.exit_code != 0 and "add --bit-mixer" in plain.output
