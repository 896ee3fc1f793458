"""spoken-digits: digits spoken by espeak-ng's voices, built once and cached, test voices held out;
and ``onebit train`` / ``summary`` / ``datasets`` on it.

The synthesis needs espeak-ng: where it is missing these tests skip and
``build/speech/espeak-result`` says why; ``.ci/run`` installs espeak-ng and fails unless the file
says "passed". They build a small set (2 accents x 4 variants, one rendition: 80 clips).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import require_tools
from onebit import OnebitError
from onebit import data as datasets
from onebit.cli import app
from onebit.data import espeak as sd

RESULT = Path(__file__).resolve().parents[2] / "build" / "speech" / "espeak-result"
TINY = {
    "ACCENTS": ("en", "en-us"),
    "TRAIN_VARIANTS": ("m1", "f2", "klatt"),
    "TEST_VARIANTS": ("m3",),
    "RENDITIONS": 1,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The module's constants set to the small set, and a cache of its own."""
    require_tools(RESULT, ("espeak-ng",), "the spoken-digits synthesis test", "espeak-ng")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONEBIT_CACHE", str(tmp_path_factory.mktemp("cache")))
        for name, value in TINY.items():
            patch.setattr(sd, name, value)
        yield datasets.load("spoken-digits")


def passed() -> None:
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text("passed\n")


def test_every_speaker_says_every_digit_and_test_voices_are_held_out(tiny):
    assert tiny.classes == sd.WORDS and tiny.input_shape == (1, 40, 49)
    assert tiny.groups("train") == ["f2", "klatt", "m1"] and tiny.groups("test") == ["m3"]
    assert len(tiny.y_train) == 60 and len(tiny.y_test) == 20
    np.testing.assert_array_equal(np.bincount(tiny.y_test), [2] * 10)
    waves = tiny.wave_train.astype(np.float64)
    assert (np.abs(waves).max(axis=1) > 3000).all()  # every clip is speech, not silence
    assert len({w.tobytes() for w in tiny.wave_train}) == 60  # and no two clips are the same
    loud = [np.flatnonzero(np.abs(w) > 0.05 * np.abs(w).max()) for w in waves]
    centres = [(i[0] + i[-1]) / 2 for i in loud]
    assert np.allclose(centres, 8_000, atol=2)  # centred in the second
    # the log-mel of a digit is not the log-mel of another: speech, not one repeated sound
    assert np.abs(tiny.x_train[0] - tiny.x_train[1]).mean() > 0.01
    assert "never heard in training" in tiny.built and "espeak" in tiny.built.lower()
    passed()


def test_validation_holds_out_whole_voice_variants(tiny):
    carved = tiny.with_validation(0.3)
    assert len(carved.groups("val")) == 1 and len(carved.groups("train")) == 2
    assert len(carved.y_val) == 20 and carved.wave_val.shape == (20, 16_000)
    passed()


def test_the_set_is_cached_and_read_back_without_espeak(tiny, monkeypatch):
    def refuse(*args):
        raise AssertionError("synthesized again instead of reading the cache")

    monkeypatch.setattr(sd, "synthesize", refuse)
    again = datasets.load("spoken-digits")
    np.testing.assert_array_equal(again.wave_train, tiny.wave_train)
    np.testing.assert_array_equal(again.x_test, tiny.x_test)
    passed()


def test_a_corrupt_or_foreign_cache_is_refused_by_name(tiny, monkeypatch):
    parameters = sd._parameters(
        TINY["ACCENTS"], TINY["TRAIN_VARIANTS"], TINY["TEST_VARIANTS"], 1, 0
    )
    path = sd.cache_path(parameters)
    assert path.exists() and path.parent == sd.cache_directory()
    good = path.read_bytes()
    try:
        path.write_bytes(good[: len(good) // 2])
        with pytest.raises(OnebitError, match=r"not a spoken-digits cache.*rebuild=True"):
            datasets.load("spoken-digits")
        other = dict(parameters, seed=1)
        with path.open("wb") as handle:
            np.savez(handle, parameters=np.array(json.dumps(other)))
        with pytest.raises(OnebitError, match="built with other parameters"):
            datasets.load("spoken-digits")
    finally:
        path.write_bytes(good)
    passed()


def test_unknown_or_shared_variants_are_refused(tiny):
    with pytest.raises(OnebitError, match=r"no voice variants \['nosuch'\]"):
        sd.spoken_digits(train_variants=("m1", "nosuch"))
    with pytest.raises(OnebitError, match=r"variants \['m1'\] are both"):
        sd.spoken_digits(train_variants=("m1",), test_variants=("m1",))
    with pytest.raises(OnebitError, match=r"\['no-such-accent'\] are not espeak-ng English"):
        sd.spoken_digits(accents=("en", "no-such-accent"))
    with pytest.raises(OnebitError, match="espeak-ng -v zz failed on 'one'"):
        sd.synthesize("one", "zz", 150, 50)
    with pytest.raises(OnebitError, match="renditions must be at least 1"):
        sd.spoken_digits(renditions=0)
    passed()


def test_onebit_train_and_summary_work_on_it(tiny, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["train", "kws-bnn", "--data", "spoken-digits", "--epochs", "1", "--batch-size", "16",
         "--augment-audio", "--model-arg", "channels=[8,8,8,8]", "--threads", "1",
         "--no-progress", "--out", str(tmp_path / "run")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "kws-bnn on spoken-digits: validation" in result.output
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    result = runner.invoke(app, ["summary", "kws-bnn", "--data", "spoken-digits"])
    assert result.exit_code == 0, result.output
    assert "kws-bnn" in result.output and "Packed kB" in result.output
    passed()


def test_onebit_datasets_lists_the_keyword_sets_and_how_they_are_built():
    result = CliRunner().invoke(app, ["datasets"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "spoken-digits" in result.output and "synthesized by espeak-ng" in result.output
    assert "keyword-folder" in result.output and "one folder of WAV files per word" in result.output
    assert "whole speaker groups" in " ".join(result.output.split())
