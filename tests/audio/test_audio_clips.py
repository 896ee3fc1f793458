"""One-second 16 kHz clips from WAV files: resampling, centring, and refusals of bad files."""

from __future__ import annotations

import numpy as np
import pytest

from keyword_clips import tone, write_wav
from onebit import OnebitError
from onebit.audio import fit_clip, load_clip, read_wav


def test_a_short_word_is_centred_in_one_second_and_stored_as_int16():
    wave = np.zeros(8_000)
    wave[500:2500] = tone(1000.0, 2000 / 16_000)
    clip = fit_clip(wave, 16_000)
    assert clip.shape == (16_000,) and clip.dtype == np.int16
    loud = np.flatnonzero(np.abs(clip) > 0.05 * np.abs(clip).max())
    assert abs((loud[0] + loud[-1]) / 2 - 8_000) <= 2


def test_a_long_recording_keeps_the_second_around_its_speech():
    wave = np.zeros(48_000)
    wave[30_000:34_000] = tone(500.0, 0.25)
    clip = fit_clip(wave, 16_000)
    assert np.abs(clip[6_000:10_000]).max() > 10_000  # the word, now in the middle
    assert (clip[:5_000] == 0).all() and (clip[11_000:] == 0).all()


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100])
def test_other_rates_are_resampled_to_16k_keeping_the_pitch(rate):
    wave = tone(1000.0, 0.5, rate)
    clip = fit_clip(wave, rate).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(clip))
    assert np.fft.rfftfreq(16_000, 1 / 16_000)[spectrum.argmax()] == pytest.approx(1000, abs=2)
    assert np.abs(clip).max() == pytest.approx(0.5 * 32767, rel=0.03)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32])
def test_wav_files_of_each_sample_format_read_as_floats(tmp_path, dtype):
    wave = tone(440.0, 0.3)
    got, rate = read_wav(write_wav(tmp_path / "a.wav", wave, dtype=dtype))
    assert rate == 16_000
    np.testing.assert_allclose(got, wave, atol=2 / 127 if dtype == np.uint8 else 1e-4)
    assert load_clip(tmp_path / "a.wav").shape == (16_000,)


def test_bad_files_are_refused_by_name(tmp_path):
    (tmp_path / "text.wav").write_text("not a wave file")
    with pytest.raises(OnebitError, match=r"text\.wav: not a readable WAV file"):
        read_wav(tmp_path / "text.wav")
    stereo = np.stack([tone(440.0, 0.2), tone(660.0, 0.2)], axis=1)
    with pytest.raises(OnebitError, match=r"stereo\.wav: has 2 channels; keyword clips are mono"):
        read_wav(write_wav(tmp_path / "stereo.wav", stereo))
    with pytest.raises(OnebitError, match=r"empty\.wav: has no samples"):
        read_wav(write_wav(tmp_path / "empty.wav", np.zeros(0)))
    with pytest.raises(OnebitError, match=r"slow\.wav: sample rate 4000 Hz is below 8000"):
        read_wav(write_wav(tmp_path / "slow.wav", tone(100.0, 0.2, 4_000), rate=4_000))
    nan = tone(440.0, 0.1).astype(np.float32)
    nan[3] = np.nan
    with pytest.raises(OnebitError, match="NaN or infinite"):
        read_wav(write_wav(tmp_path / "nan.wav", nan, dtype=np.float32))
    truncated = (tmp_path / "stereo.wav").read_bytes()[:30]
    with pytest.raises(OnebitError, match="WAV data: not a readable WAV file"):
        read_wav(truncated)
