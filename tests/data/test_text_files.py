"""Text classification files (CSV, JSONL) and the token ids they become: the vocabulary from the
training part only, unknown words and padding, and clear errors for malformed files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.data.text import (
    PAD,
    SPECIAL_TOKENS,
    UNKNOWN,
    TextSplits,
    build_vocabulary,
    encode,
    read_text_file,
)

TRAIN = [
    ("the cat sat on the mat", "animals"),
    ("a dog chased the cat", "animals"),
    ("stocks fell on monday", "money"),
    ("the bank raised rates", "money"),
    ("C and R are languages", "code"),
    ("write the code in C", "code"),
]
TEST = [("the dog and the bank", "animals"), ("rates fell", "money")]


def write_csv(path: Path, rows, columns=("text", "label")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows, keys=("text", "label")) -> Path:
    path.write_text(
        "".join(json.dumps(dict(zip(keys, row, strict=True))) + "\n" for row in rows), "utf-8"
    )
    return path


def test_vocabulary_is_the_training_words_by_count_then_alphabet() -> None:
    vocabulary = build_vocabulary([t for t, _ in TRAIN], max_size=100, min_count=1)
    assert vocabulary[:2] == SPECIAL_TOKENS
    assert vocabulary[2] == "the"  # 5 times
    assert vocabulary[3:5] == ("c", "cat")  # twice each, alphabetical
    assert "r" in vocabulary  # one-character words are words
    capped = build_vocabulary([t for t, _ in TRAIN], max_size=4, min_count=1)
    assert capped == (*SPECIAL_TOKENS, "the", "c")
    assert "dog" not in build_vocabulary([t for t, _ in TRAIN], max_size=100, min_count=2)


def test_encode_pads_cuts_and_marks_unknown_words() -> None:
    vocabulary = (*SPECIAL_TOKENS, "the", "cat")
    ids = encode(["The CAT", "the zebra cat the the", ""], vocabulary, seq_len=4)
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [[2, 3, PAD, PAD], [2, UNKNOWN, 3, 2], [PAD, PAD, PAD, PAD]])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_directory_with_train_and_test_files(tmp_path: Path, suffix: str) -> None:
    write = write_csv if suffix == ".csv" else write_jsonl
    write(tmp_path / f"train{suffix}", TRAIN)
    write(tmp_path / f"test{suffix}", TEST)
    splits = datasets.load("text-files", tmp_path, vocab_size=50, seq_len=6)
    assert isinstance(splits, TextSplits)
    assert splits.classes == ("animals", "code", "money")
    assert splits.input_shape == (6,) and splits.seq_len == 6
    np.testing.assert_array_equal(splits.y_test, [0, 2])
    # "dog", "and" and "bank" are seen once in training: below the vocabulary's minimum count
    the = splits.vocabulary.index("the")
    np.testing.assert_array_equal(splits.x_test[0], [the, UNKNOWN, UNKNOWN, the, UNKNOWN, PAD])
    assert "cat" in splits.vocabulary and "dog" not in splits.vocabulary


def test_other_columns_and_one_file_split_by_the_fixed_permutation(tmp_path: Path) -> None:
    rows = [(f"text number {i} {'odd' if i % 2 else 'even'}", i % 2) for i in range(20)]
    path = write_jsonl(tmp_path / "all.jsonl", rows, keys=("body", "stars"))
    splits = datasets.load(
        "text-files", path, text_column="body", label_column="stars", val_fraction=0.25
    )
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (12, 4, 4)
    assert splits.classes == ("0", "1")
    again = datasets.load("text-files", path, text_column="body", label_column="stars")
    np.testing.assert_array_equal(again.x_test, splits.x_test)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "a"}\n', "no 'label' column"),
        ('{"text": "a", "label": ""}\n', "'label' is empty"),
        ('{"text": "a", "label": "x"}\n{not json\n', "line 2: not JSON"),
        ('["a", "x"]\n', "expected an object"),
        ("", "no records"),
    ],
)
def test_malformed_jsonl_is_refused_by_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, "utf-8")
    with pytest.raises(OnebitError, match=message):
        read_text_file(path)


def test_malformed_csv_and_other_files_are_refused(tmp_path: Path) -> None:
    missing = write_csv(tmp_path / "a.csv", [("x", "y")], columns=("body", "label"))
    with pytest.raises(OnebitError, match="line 2: no 'text' column"):
        read_text_file(missing)
    latin = tmp_path / "b.csv"
    latin.write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(OnebitError, match="not UTF-8"):
        read_text_file(latin)
    with pytest.raises(OnebitError, match=r"must end in \.csv or \.jsonl"):
        read_text_file(tmp_path / "c.txt")


def test_a_test_label_unseen_in_training_is_refused(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", TRAIN)
    write_csv(tmp_path / "test.csv", [("what is this", "weather")])
    with pytest.raises(OnebitError, match=r"labels \['weather'\] are not among the classes"):
        datasets.load("text-files", tmp_path)


def test_a_directory_needs_exactly_one_file_per_split(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", TRAIN)
    with pytest.raises(OnebitError, match=r"expected one test\.csv or test\.jsonl, found none"):
        datasets.load("text-files", tmp_path)


def test_token_ids_outside_the_vocabulary_are_refused() -> None:
    ids = np.array([[2, 5]], np.int64)
    with pytest.raises(OnebitError, match=r"token ids range over 2\.\.5 but the vocabulary has 4"):
        TextSplits(
            "t",
            ids,
            np.zeros(1, np.int64),
            ids,
            np.zeros(1, np.int64),
            ("a", "b"),
            (*SPECIAL_TOKENS, "x", "y"),
        )
    with pytest.raises(OnebitError, match="int64 array of token ids"):
        TextSplits(
            "t",
            ids.astype(np.float32),
            np.zeros(1, np.int64),
            ids,
            np.zeros(1, np.int64),
            ("a", "b"),
            (*SPECIAL_TOKENS, "x", "y"),
        )
