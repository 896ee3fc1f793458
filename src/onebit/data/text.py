"""Text classification data: token-id splits, the vocabulary they index, and a loader for the usual
CSV and JSONL files.

Tokens come from scikit-learn's word analyzer (``CountVectorizer(lowercase=True,
token_pattern=TOKEN_PATTERN).build_analyzer()``: lower-cased runs of word characters); the
vocabulary is built from the training part only (the test part never adds a word) and ordered by
count, most frequent first, ties alphabetically. Id 0 is padding (:data:`PAD`), id 1 every word
outside the vocabulary (:data:`UNKNOWN`), ids 2.. the vocabulary's words. Each text becomes its
first ``seq_len`` ids, padded with 0 at the end.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from onebit._registry import OnebitError
from onebit.data._checks import describe_value
from onebit.data.splits import VAL_SPLIT_SEED, carve_validation, permutation_split

PAD = 0
"""The id that fills a text up to the sequence length."""
UNKNOWN = 1
"""The id of every word the vocabulary lacks."""
SPECIAL_TOKENS = ("<pad>", "<unk>")
TOKEN_PATTERN = r"(?u)\b\w+\b"
"""scikit-learn's default pattern without its two-character minimum: "C", "R" and "3" are words."""
TEXT_FILE_TEST_FRACTION = 0.2
"""The share of a single file that becomes the test split (by :func:`permutation_split`)."""


@dataclass(frozen=True, eq=False, repr=False)
class TextSplits:
    """A text classification dataset as token-id arrays.

    Attributes:
        name: the dataset's name, for reports.
        x_train, x_test, x_val: token ids, int64 of shape (N, seq_len), each in
            ``0..vocab_size - 1``.
        y_train, y_test, y_val: labels, int64 of shape (N,), indices into ``classes``.
        classes: the class names.
        vocabulary: the token of each id (``vocabulary[0] == "<pad>"``, ``[1] == "<unk>"``).

    Raises:
        OnebitError: if the arrays have the wrong dtype, shape or range, or do not match.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    vocabulary: tuple[str, ...]
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.classes or not all(isinstance(c, str) for c in self.classes):
            raise OnebitError(f"dataset {self.name!r}: classes must be a non-empty tuple of str")
        if tuple(self.vocabulary[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise OnebitError(
                f"dataset {self.name!r}: the vocabulary must start with {SPECIAL_TOKENS}"
            )
        if (self.x_val is None) != (self.y_val is None):
            raise OnebitError(f"dataset {self.name!r}: give both x_val and y_val, or neither")
        if self.x_val is None:
            object.__setattr__(self, "x_val", self.x_train[:0])
            object.__setattr__(self, "y_val", np.zeros(0, np.int64))
        for split in ("train", "val", "test") if self.has_validation else ("train", "test"):
            self._check_split(split, getattr(self, f"x_{split}"), getattr(self, f"y_{split}"))

    def _check_split(self, split: str, x: np.ndarray, y: np.ndarray) -> None:
        where = f"dataset {self.name!r}, {split} split"
        if not isinstance(x, np.ndarray) or x.dtype != np.int64 or x.ndim != 2:
            raise OnebitError(
                f"{where}: texts must be an int64 array of token ids (N, seq_len), got "
                f"{describe_value(x)}"
            )
        if x.shape[1:] != self.x_train.shape[1:]:
            raise OnebitError(
                f"{where}: texts of {x.shape[1]} tokens, but training texts of "
                f"{self.x_train.shape[1]}"
            )
        if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
            raise OnebitError(
                f"{where}: labels must be an int64 array (N,), got {describe_value(y)}"
            )
        if len(x) != len(y) or len(x) == 0:
            raise OnebitError(f"{where}: {len(x)} texts and {len(y)} labels")
        if x.min() < 0 or x.max() >= self.vocab_size:
            raise OnebitError(
                f"{where}: token ids range over {x.min()}..{x.max()} but the vocabulary has "
                f"{self.vocab_size}"
            )
        if y.min() < 0 or y.max() >= len(self.classes):
            raise OnebitError(
                f"{where}: labels range over {y.min()}..{y.max()} but there are "
                f"{len(self.classes)} classes"
            )

    @property
    def has_validation(self) -> bool:
        return self.y_val is not None and len(self.y_val) > 0

    def with_validation(self, fraction: float, seed: int = VAL_SPLIT_SEED) -> TextSplits:
        """These splits with a validation split carved out of the training part
        (:func:`~onebit.data.splits.validation_split`'s rule)."""
        return carve_validation(self, "y", fraction, seed)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_outputs(self) -> int:
        """What a model of this data outputs: a score per class."""
        return len(self.classes)

    @property
    def vocab_size(self) -> int:
        """Token ids run over ``0..vocab_size - 1``."""
        return len(self.vocabulary)

    @property
    def seq_len(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def input_shape(self) -> tuple[int]:
        """The shape of one input: ``(seq_len,)`` token ids."""
        return (self.seq_len,)

    def __repr__(self) -> str:
        return (
            f"TextSplits({self.name!r}, train={len(self.x_train)}, val={len(self.y_val)}, "
            f"test={len(self.x_test)}, seq_len={self.seq_len}, vocab_size={self.vocab_size}, "
            f"num_classes={self.num_classes})"
        )


def _analyzer():
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(lowercase=True, token_pattern=TOKEN_PATTERN).build_analyzer()


def build_vocabulary(texts: Sequence[str], max_size: int, min_count: int = 2) -> tuple[str, ...]:
    """The special tokens, then the (at most ``max_size - 2``) words of ``texts`` seen at least
    ``min_count`` times, most frequent first (ties alphabetically)."""
    if max_size <= len(SPECIAL_TOKENS):
        raise OnebitError(f"vocab_size must be above {len(SPECIAL_TOKENS)}, got {max_size}")
    from collections import Counter

    analyze = _analyzer()
    counts = Counter(token for text in texts for token in analyze(text))
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return SPECIAL_TOKENS + tuple(words[: max_size - len(SPECIAL_TOKENS)])


def encode(texts: Sequence[str], vocabulary: Sequence[str], seq_len: int) -> np.ndarray:
    """Token ids (len(texts), seq_len) int64: each text's first ``seq_len`` words' ids, unknown
    words as :data:`UNKNOWN`, padded with :data:`PAD`."""
    if seq_len < 1:
        raise OnebitError(f"seq_len must be at least 1, got {seq_len}")
    index = {word: i for i, word in enumerate(vocabulary)}
    analyze = _analyzer()
    ids = np.full((len(texts), seq_len), PAD, np.int64)
    for row, text in enumerate(texts):
        tokens = [index.get(token, UNKNOWN) for token in analyze(text)[:seq_len]]
        ids[row, : len(tokens)] = tokens
    return ids


def text_splits(
    name: str,
    train: tuple[Sequence[str], Sequence[str]],
    test: tuple[Sequence[str], Sequence[str]],
    vocab_size: int,
    seq_len: int,
    classes: Sequence[str] | None = None,
) -> TextSplits:
    """Token-id splits of (texts, labels) pairs, the vocabulary built from the training texts.

    Args:
        name: the dataset's name.
        train, test: (texts, label names).
        vocab_size: ids in all, the two special ones included.
        seq_len: tokens per text.
        classes: the class names in label order; None: the training labels, sorted.

    Raises:
        OnebitError: if a test label is not among the classes.
    """
    classes = tuple(sorted(set(train[1]))) if classes is None else tuple(classes)
    if len(classes) < 2:
        raise OnebitError(f"dataset {name!r}: needs at least 2 classes, got {list(classes)}")
    label_of = {c: i for i, c in enumerate(classes)}

    def labels(names: Sequence[str], split: str) -> np.ndarray:
        unknown = sorted(set(names) - set(label_of))
        if unknown:
            raise OnebitError(
                f"dataset {name!r}, {split} split: labels {unknown[:5]} are not among the "
                f"classes {list(classes)[:20]}"
            )
        return np.array([label_of[n] for n in names], np.int64)

    vocabulary = build_vocabulary(train[0], vocab_size)
    return TextSplits(
        name=name,
        x_train=encode(train[0], vocabulary, seq_len),
        y_train=labels(train[1], "train"),
        x_test=encode(test[0], vocabulary, seq_len),
        y_test=labels(test[1], "test"),
        classes=classes,
        vocabulary=vocabulary,
    )


def read_text_file(
    path: str | os.PathLike[str], text_column: str = "text", label_column: str = "label"
) -> tuple[list[str], list[str]]:
    """(texts, labels) of a CSV file with a header row, or of a JSONL file (one JSON object per
    line), chosen by the suffix (``.csv``, ``.jsonl``/``.json``); labels are read as strings.

    Raises:
        OnebitError: naming the file and line of a missing column, an empty text or label,
            malformed JSON or CSV, or a file that is not UTF-8.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".json"):
        raise OnebitError(f"{path}: a text file must end in .csv or .jsonl, not {suffix!r}")
    texts: list[str] = []
    labels: list[str] = []

    def add(record: object, line: int) -> None:
        if not isinstance(record, dict):
            raise OnebitError(
                f"{path}, line {line}: expected an object, got {type(record).__name__}"
            )
        for column in (text_column, label_column):
            if column not in record:
                raise OnebitError(f"{path}, line {line}: no {column!r} column")
            value = record[column]
            if value is None or str(value).strip() == "" or isinstance(value, (dict, list)):
                raise OnebitError(f"{path}, line {line}: {column!r} is empty or not a scalar")
        texts.append(str(record[text_column]))
        labels.append(str(record[label_column]))

    try:
        with open(path, encoding="utf-8", newline="") as handle:
            if suffix == ".csv":
                reader = csv.DictReader(handle, strict=True)
                for record in reader:
                    add(record, reader.line_num)
            else:
                for line, raw in enumerate(handle, 1):
                    if raw.strip():
                        try:
                            record = json.loads(raw)
                        except json.JSONDecodeError as err:
                            raise OnebitError(
                                f"{path}, line {line}: not JSON ({err.msg})"
                            ) from None
                        add(record, line)
    except UnicodeDecodeError as err:
        raise OnebitError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise OnebitError(f"{path}: malformed CSV ({err})") from None
    if not texts:
        raise OnebitError(f"{path}: no records")
    return texts, labels


def load_text_files(
    path: str | os.PathLike[str],
    text_column: str = "text",
    label_column: str = "label",
    vocab_size: int = 8000,
    seq_len: int = 64,
) -> TextSplits:
    """Text classification CSV or JSONL files (text and label columns), split or not.

    ``path`` is a directory with ``train`` and ``test`` files (``.csv`` or ``.jsonl``), or one
    file whose last 20% (by :func:`~onebit.data.splits.permutation_split`) is the test set.

    Args:
        path: the directory or the file.
        text_column, label_column: the columns (CSV header names, or JSON keys).
        vocab_size: token ids in all, ``<pad>`` and ``<unk>`` included.
        seq_len: tokens kept per text.
    """
    path = Path(path)
    if path.is_dir():
        files = {}
        for split in ("train", "test"):
            found = [path / f"{split}{s}" for s in (".csv", ".jsonl", ".json")]
            found = [f for f in found if f.is_file()]
            if len(found) != 1:
                raise OnebitError(
                    f"{path}: expected one {split}.csv or {split}.jsonl, found "
                    f"{[f.name for f in found] or 'none'}"
                )
            files[split] = read_text_file(found[0], text_column, label_column)
        train, test = files["train"], files["test"]
    else:
        texts, labels = read_text_file(path, text_column, label_column)
        if len(texts) < 2:
            raise OnebitError(f"{path}: {len(texts)} record cannot be split into train and test")
        n_test = max(1, round(TEXT_FILE_TEST_FRACTION * len(texts)))
        train_idx, test_idx = permutation_split(len(texts), n_test)
        train = ([texts[i] for i in train_idx], [labels[i] for i in train_idx])
        test = ([texts[i] for i in test_idx], [labels[i] for i in test_idx])
    return text_splits(path.stem, train, test, vocab_size, seq_len)
