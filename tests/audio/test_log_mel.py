"""The log-mel frontend: the filterbank by its properties, the features against a direct
computation on sines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onebit import OnebitError
from onebit.audio import FRONTEND, LogMel, hz_to_mel, mel_filterbank, mel_to_hz
from onebit.audio.features import hann


def test_the_mel_scale_is_htks_and_inverts():
    assert hz_to_mel(700.0) == pytest.approx(2595 * np.log10(2))
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.5)  # the scale's anchor
    f = np.array([0.0, 125.0, 1000.0, 7500.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    n_mels=st.integers(4, 40),
    f_min=st.floats(0.0, 300.0),
    f_max=st.floats(3000.0, 8000.0),
)
def test_triangles_peak_at_the_mel_centres_and_cover_the_band(n_mels, f_min, f_max):
    n_fft, rate = 1024, 16_000
    bank = mel_filterbank(n_mels, n_fft, rate, f_min, f_max)
    assert bank.shape == (n_mels, n_fft // 2 + 1) and bank.dtype == np.float32
    assert bank.min() >= 0 and bank.max() <= 1
    points = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    bins = np.arange(n_fft // 2 + 1) * rate / n_fft
    spacing = rate / n_fft
    for m in range(n_mels):
        peak = bins[bank[m].argmax()]
        assert abs(peak - points[m + 1]) < spacing  # one of the two bins around the centre
        rising, falling = bank[m][bins <= points[m + 1]], bank[m][bins >= points[m + 1]]
        assert (np.diff(rising) >= 0).all() and (np.diff(falling) <= 0).all()
        inside = bank[m] > 0
        assert bins[inside].min() > points[m] and bins[inside].max() < points[m + 2]
    # between the first centre and the last, neighbouring triangles sum to 1: full coverage
    middle = (bins >= points[1]) & (bins <= points[-2])
    np.testing.assert_allclose(bank[:, middle].sum(axis=0), 1.0, atol=1e-5)
    assert not bank[:, (bins <= f_min) | (bins >= f_max)].any()


def test_a_filterbank_too_fine_for_its_bins_is_refused():
    with pytest.raises(OnebitError, match="cover no FFT bin"):
        mel_filterbank(128, 256, 16_000, 0.0, 8000.0)
    with pytest.raises(OnebitError, match="f_min < f_max"):
        mel_filterbank(40, 512, 16_000, 500.0, 9000.0)


def direct_band_energy(wave: np.ndarray, frontend: LogMel, band: int, frame: int) -> float:
    """Band energy of one frame by the textbook sums: a DFT by its definition, weights in Hz."""
    start = frame * frontend.hop
    x = wave[start : start + frontend.window] * hann(frontend.window)
    n = np.arange(frontend.window)
    energy = 0.0
    points = mel_to_hz(
        np.linspace(hz_to_mel(frontend.f_min), hz_to_mel(frontend.f_max), frontend.n_mels + 2)
    )
    lo, centre, hi = points[band : band + 3]
    for k in range(frontend.n_fft // 2 + 1):
        f = k * frontend.sample_rate / frontend.n_fft
        weight = max(0.0, min((f - lo) / (centre - lo), (hi - f) / (hi - centre)))
        if weight:
            coefficient = np.sum(x * np.exp(-2j * np.pi * k * n / frontend.n_fft))
            energy += weight * abs(coefficient) ** 2 / np.sum(hann(frontend.window)) ** 2
    return energy


@pytest.mark.parametrize("hz", [300.0, 1000.0, 4000.0])
def test_a_sine_lands_in_its_band_with_the_energy_of_a_direct_computation(hz):
    t = np.arange(16_000) / 16_000
    wave = 0.5 * np.sin(2 * np.pi * hz * t)
    db = FRONTEND.power_db(wave)
    assert db.shape == (40, 49)
    centres = mel_to_hz(np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), 42))[1:-1]
    loudest = db.mean(axis=1).argmax()
    assert abs(centres[loudest] - hz) <= np.diff(centres)[max(loudest - 1, 0)]
    for band in (loudest, max(loudest - 2, 0)):
        expected = direct_band_energy(wave, FRONTEND, band, frame=7)
        assert db[band, 7] == pytest.approx(10 * np.log10(expected + 1e-10), abs=0.01)
    # the sine's power A^2/2 is spread over the bands around it, none above A^2/4
    assert db.max() <= 10 * np.log10(0.25) + 0.5


def test_features_map_the_fixed_db_range_to_unit_interval_as_the_dataset_needs():
    rng = np.random.default_rng(0)
    waves = rng.normal(0, 0.1, (3, 16_000)).astype(np.float32)
    waves[1] = 0.0  # digital silence: the floor, 0
    x = FRONTEND(waves)
    assert x.shape == (3, 1, 40, 49) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    assert (x[1] == 0).all()
    db = FRONTEND.power_db(waves[0])
    np.testing.assert_allclose(x[0, 0], np.clip((db + 100) / 100, 0, 1), atol=1e-6)


def test_int16_clips_read_as_x_over_32768_and_batches_match_single_clips():
    rng = np.random.default_rng(1)
    clips = rng.integers(-20_000, 20_000, (5, 16_000)).astype(np.int16)
    batch = FRONTEND(clips)
    for i in (0, 4):
        np.testing.assert_allclose(batch[i, 0], FRONTEND(clips[i]), atol=1e-6)
        np.testing.assert_allclose(
            batch[i, 0], FRONTEND(clips[i].astype(np.float64) / 32768), atol=1e-5
        )
    np.testing.assert_allclose(FRONTEND.power_db(clips), LogMel().power_db(clips, chunk=2))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: FRONTEND(np.zeros(100)), "shorter than one window"),
        (lambda: FRONTEND(np.zeros((2, 2, 16_000))), "must be \\(T,\\) or \\(N, T\\)"),
        (lambda: FRONTEND(np.zeros(16_000, np.int32)), "float or int16"),
        (lambda: LogMel(hop=600), "hop <= window"),
        (lambda: LogMel(db_floor=0.0), "db_floor"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(OnebitError, match=message):
        call()
