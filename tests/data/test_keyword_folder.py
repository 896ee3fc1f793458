"""keyword-folder: one folder of WAV clips per word, Speech Commands' names and lists, speakers
held out whole; and KeywordSplits' own checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keyword_clips import WORD_HZ, spoken, tone_splits, write_wav
from onebit import OnebitError
from onebit import data as datasets
from onebit.data import KeywordSplits, load_keyword_folder
from onebit.data.keywords import keyword_splits

WORDS = ("high", "low", "mid")  # sorted: the label order


def write_set(root: Path, speakers: int = 5, repeats: int = 1, rate: int = 16_000) -> Path:
    rng = np.random.default_rng(0)
    for speaker in range(speakers):
        for word, name in zip((2, 0, 1), WORDS, strict=True):
            for n in range(repeats):
                wave = spoken(word, speaker, rng, rate)
                write_wav(root / name / f"spk{speaker}_nohash_{n}.wav", wave, rate)
    return root


def test_words_are_folders_and_whole_speakers_are_held_out(tmp_path):
    write_set(tmp_path, speakers=10, repeats=2)
    (tmp_path / "_background_noise_").mkdir()  # Speech Commands' noise folder is no word
    splits = load_keyword_folder(tmp_path)
    assert splits.classes == WORDS and splits.input_shape == (1, 40, 49)
    assert len(splits.y_train) + len(splits.y_test) == 60
    speakers = sorted(f"spk{i}" for i in range(10))
    held = speakers[np.random.default_rng(0).permutation(10)[-1]]  # round(0.1 * 10) speakers
    assert splits.groups("test") == [held]
    assert not set(splits.groups("train")) & set(splits.groups("test"))
    assert splits.wave_test.dtype == np.int16 and splits.wave_test.shape == (6, 16_000)
    np.testing.assert_array_equal(np.bincount(splits.y_test), [2, 2, 2])


def test_validation_holds_out_whole_speakers_of_the_training_part(tmp_path):
    splits = datasets.load("keyword-folder", write_set(tmp_path, speakers=10), val_fraction=0.25)
    assert len(splits.groups("val")) == 2  # round(0.25 * 9)
    groups = [set(splits.groups(s)) for s in ("train", "val", "test")]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert len(splits.y_train) + len(splits.y_val) == 27
    assert len(splits.wave_val) == len(splits.x_val) == len(splits.y_val) == 6
    with pytest.raises(OnebitError, match="already has a validation split"):
        splits.with_validation(0.1)


def test_the_lists_of_speech_commands_decide_the_splits(tmp_path):
    write_set(tmp_path, speakers=4)
    (tmp_path / "testing_list.txt").write_text(
        "".join(f"{word}/spk3_nohash_0.wav\n" for word in WORDS)
    )
    (tmp_path / "validation_list.txt").write_text(
        "".join(f"{word}/spk2_nohash_0.wav\n" for word in WORDS)
    )
    splits = load_keyword_folder(tmp_path)
    assert len(splits.y_test) == 3 and splits.groups("test") == ["spk3"]
    assert not splits.has_validation  # until asked for: then the listed clips, whatever f
    carved = splits.with_validation(0.5)
    np.testing.assert_array_equal(np.sort(carved.y_val), [0, 1, 2])
    assert carved.groups("val") == ["spk2"] and len(carved.y_train) == 6
    assert splits.with_validation(0.0) is splits


def test_lists_that_split_a_speaker_or_name_missing_files_are_refused(tmp_path):
    write_set(tmp_path, speakers=3)
    (tmp_path / "testing_list.txt").write_text("low/spk2_nohash_0.wav\n")
    with pytest.raises(OnebitError, match=r"speaker groups \['spk2'\] are in two splits"):
        load_keyword_folder(tmp_path)
    (tmp_path / "testing_list.txt").write_text("low/nobody_nohash_0.wav\n")
    with pytest.raises(OnebitError, match=r"testing_list\.txt: names 1 clip"):
        load_keyword_folder(tmp_path)


def test_other_rates_are_resampled_and_files_without_speaker_ids_are_their_own(tmp_path):
    rng = np.random.default_rng(3)
    for word, name in enumerate(("a", "b")):
        for n in range(3):
            write_wav(tmp_path / name / f"take{n}.wav", spoken(word, n, rng, 22_050), 22_050)
    splits = load_keyword_folder(tmp_path)
    assert len(splits.groups("test")) == 1 and len(splits.groups("train")) == 5
    assert splits.groups("test")[0] in {f"{w}/take{n}" for w in "ab" for n in range(3)}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: (root / "only").mkdir(), "has 1 word folder"),
        (lambda root: ((root / "a").mkdir(), (root / "b").mkdir()), "a has no .wav files"),
        (
            lambda root: (
                write_set(root),
                (root / "low" / "spk9_nohash_0.wav").write_bytes(b"RIFF...."),
            ),
            "spk9_nohash_0.wav: not a readable WAV file",
        ),
        (
            lambda root: (
                write_set(root),
                write_wav(root / "low" / "spk9_nohash_0.wav", np.zeros((100, 2))),
            ),
            "spk9_nohash_0.wav: has 2 channels",
        ),
        (lambda root: write_set(root, speakers=1), "all clips are one speaker's"),
    ],
)
def test_bad_folders_and_files_are_named(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(OnebitError, match=message):
        load_keyword_folder(tmp_path)


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(OnebitError, match="does not exist"):
        datasets.load("keyword-folder", tmp_path / "nowhere")


def test_splits_check_their_waves_and_groups():
    splits = tone_splits(train_speakers=2, test_speakers=1, repeats=1)
    assert isinstance(splits, KeywordSplits) and len(WORD_HZ) == splits.num_classes
    waves = splits.wave_train
    groups = splits.group_train
    with pytest.raises(OnebitError, match="waveforms must be int16"):
        keyword_splits("bad", splits.classes, (waves.astype(np.float32), splits.y_train, groups),
                       (splits.wave_test, splits.y_test, splits.group_test))  # fmt: skip
    with pytest.raises(OnebitError, match="are in two splits"):
        keyword_splits("bad", splits.classes, (waves, splits.y_train, groups),
                       (splits.wave_test, splits.y_test, groups[: len(splits.y_test)]))  # fmt: skip
    with pytest.raises(OnebitError, match="needs at least 2"):
        tone_splits(train_speakers=1, test_speakers=1).with_validation(0.1)
