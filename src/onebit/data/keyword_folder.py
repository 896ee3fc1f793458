"""A keyword-spotting set in the usual layout: one folder of WAV clips per word
(``keyword-folder``), as Google's Speech Commands (Warden, "Speech Commands: A Dataset for
Limited-Vocabulary Speech Recognition", arXiv:1804.03209, 2018) ships.

How the set is read (:func:`load_keyword_folder`):

1. Classes: the sub-folders of the root, sorted by name, except those whose name starts with
   ``_`` (Speech Commands' ``_background_noise_``) or ``.``; each must hold at least one
   ``.wav`` file (sub-folders of a word folder are not read).
2. Clips: each file becomes a one-second 16 kHz clip by :func:`onebit.audio.clips.load_clip`
   (mono only; any rate from 8 kHz is resampled; centred on the speech).
3. Speakers: a file named ``<speaker>_nohash_<n>.wav`` (the Speech Commands convention) is
   spoken by ``<speaker>``; any other file is its own speaker.
4. Splits: when the root holds ``testing_list.txt`` or ``validation_list.txt`` (lines such as
   ``yes/0a7c2a8d_nohash_0.wav``, relative to the root), the files they name are the test clips
   and the clips validation takes; else whole speakers are held out for test: the last
   ``max(1, round(0.1 * S))`` of ``numpy.random.default_rng(0).permutation(S)`` over the ``S``
   sorted speakers. Validation is carved later from the training part
   (:data:`onebit.data.keywords.KEYWORD_VALIDATION_RULE`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from onebit._registry import OnebitError
from onebit.audio.clips import load_clip
from onebit.data._checks import existing_directory
from onebit.data.keywords import KeywordSplits, keyword_splits
from onebit.data.splits import SPLIT_SEED

TEST_FRACTION = 0.1
"""The share of the speakers held out for test when the set has no testing_list.txt."""
NOHASH = "_nohash_"


def speaker_of(path: Path) -> str:
    """Step 3: the speaker of a clip file."""
    stem = path.stem
    return stem.split(NOHASH, 1)[0] if NOHASH in stem else f"{path.parent.name}/{stem}"


def _read_list(root: Path, name: str, known: set[str]) -> set[str] | None:
    path = root / name
    if not path.exists():
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise OnebitError(f"{path}: not a UTF-8 text file ({err.reason})") from None
    listed = {line.strip() for line in lines if line.strip()}
    missing = sorted(listed - known)
    if missing:
        raise OnebitError(
            f"{path}: names {len(missing)} clip(s) that are not in the word folders, e.g. "
            f"{missing[0]!r}"
        )
    return listed


def load_keyword_folder(path: str | os.PathLike[str]) -> KeywordSplits:
    """Keyword clips in one folder of WAV files per word (Speech Commands' layout and lists).

    Args:
        path: the root directory: one sub-folder of ``.wav`` files per word, and optionally
            ``testing_list.txt`` and ``validation_list.txt``.

    Raises:
        OnebitError: naming what is wrong: no word folders, a word folder without WAV files, a
            file that is not a mono WAV clip, a list naming files that are not there, or a split
            left without clips.
    """
    root = existing_directory(path, "keyword")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    if len(folders) < 2:
        raise OnebitError(
            f"keyword directory {root} has {len(folders)} word folder(s); it needs one "
            "sub-folder of .wav files per word, at least two words"
        )
    files: list[Path] = []
    labels: list[int] = []
    for label, folder in enumerate(folders):
        clips = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".wav")
        if not clips:
            raise OnebitError(f"word folder {folder} has no .wav files")
        files += clips
        labels += [label] * len(clips)
    names = [p.relative_to(root).as_posix() for p in files]
    testing = _read_list(root, "testing_list.txt", set(names))
    validation = _read_list(root, "validation_list.txt", set(names))
    waves = np.stack([load_clip(p) for p in files])
    y = np.array(labels, np.int64)
    groups = np.array([speaker_of(p) for p in files], dtype=str)
    if testing is not None or validation is not None:
        test = np.array([n in (testing or set()) for n in names])
        listed = None if validation is None else np.array([n in validation for n in names])
        if listed is not None and (test & listed).any():
            raise OnebitError(f"{root}: a clip is in both testing_list.txt and validation_list.txt")
        rule = "the clips of testing_list.txt are the test set"
    else:
        speakers = np.unique(groups)
        if len(speakers) < 2:
            raise OnebitError(
                f"{root}: all clips are one speaker's; test holds out whole speakers (name "
                "files <speaker>_nohash_<n>.wav, or give testing_list.txt)"
            )
        n_test = max(1, round(TEST_FRACTION * len(speakers)))
        order = np.random.default_rng(SPLIT_SEED).permutation(len(speakers))
        test = np.isin(groups, speakers[order[len(speakers) - n_test :]])
        listed = None
        rule = f"{n_test} of {len(speakers)} speakers held out for test"
    if test.all() or not test.any():
        raise OnebitError(f"{root}: the test split would hold {int(test.sum())} of {len(y)} clips")
    return keyword_splits(
        "keyword-folder",
        tuple(p.name for p in folders),
        (waves[~test], y[~test], groups[~test]),
        (waves[test], y[test], groups[test]),
        listed_val=None if listed is None else listed[~test],
        built=f"{len(y)} clips in {len(folders)} word folders of {root}; {rule}",
    )
