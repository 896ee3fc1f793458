"""Bit-Mixer: transitional batch norm, the meta-quantized MLP's width draws, and the three-stage
schedule of the training loop."""

from __future__ import annotations

import pytest
import torch

from onebit import OnebitError, models
from onebit.nn.bitmixer import TransitionalBatchNorm, bit_layers, sample_bits
from onebit.train import TrainConfig, fit, model_from_checkpoint
from onebit.train.bit_mixer import layerwise_ramp, stage_epochs


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


def test_stage_lengths_and_the_layerwise_ramp() -> None:
    assert stage_epochs(3) == (1, 1, 1) and stage_epochs(10) == (3, 3, 4)
    with pytest.raises(OnebitError, match="at least 3 epochs"):
        stage_epochs(2)
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
        model_kwargs={"hidden": 32, "depth": 1},
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
