"""Audio augmentation at training time: time shifts, white and pink noise at a drawn SNR, and the
training loop's hook that makes each batch of a keyword set from its waveforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from keyword_clips import tone_splits
from onebit import OnebitError
from onebit.audio import FRONTEND
from onebit.train import TrainConfig, fit
from onebit.train.augment import (
    AudioAugmentation,
    add_noise,
    colored_noise,
    shift_waves,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("max_shift", [1, 7, 100])
def test_each_clip_is_delayed_or_advanced_within_range_with_silence_shifted_in(max_shift):
    torch.manual_seed(0)
    waves = torch.rand(16, 400) + 0.5  # no zeros of its own
    out = shift_waves(waves, max_shift)
    seen = set()
    for wave, result in zip(waves, out, strict=True):
        zeros = int((result == 0).sum())
        shift = zeros if result[0] == 0 else -zeros  # leading zeros: delayed
        assert abs(shift) <= max_shift
        expected = torch.zeros_like(wave)
        if shift >= 0:
            expected[shift:] = wave[: len(wave) - shift]
        else:
            expected[:shift] = wave[-shift:]
        assert torch.equal(result, expected)
        seen.add(shift)
    assert len(seen) > 1
    assert torch.equal(shift_waves(waves, 0), waves)


def test_noise_has_unit_power_and_pink_noise_falls_as_one_over_f():
    torch.manual_seed(0)
    noise = colored_noise(400, 4096)
    power = noise.pow(2).mean(dim=1)
    torch.testing.assert_close(power, torch.ones(400))
    spectrum = torch.fft.rfft(noise, dim=1).abs().pow(2)
    low, high = spectrum[:, 4:64].mean(dim=1), spectrum[:, 1024:2048].mean(dim=1)
    pink = low / high > 10  # 1/f: some 100x more power per bin at the low band
    white = (low / high - 1).abs() < 0.5
    assert (pink | white).all() and 120 < int(pink.sum()) < 280  # even odds


def test_noise_is_added_at_the_drawn_snr_to_the_chosen_clips():
    torch.manual_seed(0)
    waves = 0.1 * torch.sin(torch.arange(8000) * 0.05).repeat(500, 1)
    noisy = add_noise(waves, snr_db=(10.0, 10.0), probability=0.5)
    noise = noisy - waves
    got = 10 * torch.log10(waves.pow(2).mean(dim=1) / noise.pow(2).mean(dim=1))
    clean = noise.abs().max(dim=1).values == 0
    assert 200 < int(clean.sum()) < 300
    torch.testing.assert_close(got[~clean], torch.full_like(got[~clean], 10.0), atol=1e-3, rtol=0)
    silent = add_noise(torch.zeros(4, 100), probability=1.0)
    assert torch.equal(silent, torch.zeros(4, 100))  # no signal: no noise to scale


def test_batches_are_features_of_augmented_clips_and_follow_the_seed():
    splits = tone_splits(train_speakers=2, test_speakers=1, repeats=2)
    augment = AudioAugmentation(splits.wave_train, FRONTEND, 16_000)
    assert augment.max_shift == 1600  # 100 ms
    batch = torch.tensor([0, 3, 5])
    torch.manual_seed(4)
    first = augment(batch)
    torch.manual_seed(4)
    assert torch.equal(first, augment(batch))
    assert first.shape == (3, 1, 40, 49) and first.dtype == torch.float32
    assert float(first.min()) >= 0 and float(first.max()) <= 1
    clean = torch.from_numpy(splits.x_train[[0, 3, 5]])
    assert not torch.equal(first, clean)
    # the loud band of each clip's tone survives shift and noise
    np.testing.assert_array_equal(
        first.mean(dim=3).argmax(dim=2).numpy(), clean.mean(dim=3).argmax(dim=2).numpy()
    )


def small_config(**overrides) -> TrainConfig:
    settings = {
        "model": "kws-bnn",
        "data": "tones",
        "model_kwargs": {"channels": [8, 8, 8, 8]},
        "epochs": 2,
        "batch_size": 8,
        "lr": 0.01,
        "augment_audio": True,
        "val_fraction": 0.25,
        "device": "cpu",
        "progress": False,
    }
    return TrainConfig(**(settings | overrides))


def test_a_run_with_audio_augmentation_trains_reproduces_and_resumes(tmp_path):
    splits = tone_splits(train_speakers=5, test_speakers=1, repeats=2)
    first = fit(small_config(), splits)
    again = fit(small_config(), splits)
    assert first.history[-1]["epoch"] == 2 and "val_accuracy" in first.final
    for a, b in zip(
        first.model.state_dict().values(), again.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    plain = fit(small_config(augment_audio=False), splits)
    assert plain.final["train_loss"] != first.final["train_loss"]
    # stopped after one epoch, then resumed: the same weights as the uninterrupted run

    class Stop(Exception):
        pass

    def stop(epoch, metrics, model):
        raise Stop

    with pytest.raises(Stop):
        fit(small_config(out_dir=str(tmp_path)), splits, callbacks=[stop])
    resumed = fit(small_config(out_dir=str(tmp_path), resume=True), splits)
    for a, b in zip(
        first.model.state_dict().values(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_audio_augmentation_is_refused_without_waveforms_or_beside_image_shifts(small_digits):
    with pytest.raises(OnebitError, match="augment_audio needs a keyword set with waveforms"):
        fit(small_config(model="mcu-bnn", model_kwargs={}, data="digits"), small_digits)
    splits = tone_splits(train_speakers=4, test_speakers=1, repeats=1)
    with pytest.raises(OnebitError, match="pick one"):
        fit(small_config(augment_shift=2), splits)
