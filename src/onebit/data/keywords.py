"""Keyword-spotting splits: log-mel features for training and evaluation, with the waveforms they
came from (so training can augment the audio) and each clip's speaker group.

Splits hold out whole speaker groups, never single clips, so a score measures voices the network
never heard. The group is the unit a loader declares: a speaker for ``keyword-folder``, a voice
variant (spoken in every accent) for ``spoken-digits``. :meth:`KeywordSplits.with_validation`
carves validation from the training part by :data:`KEYWORD_VALIDATION_RULE` (or takes the clips a
dataset's own list names); the test split is the loader's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from onebit._registry import OnebitError
from onebit.audio.features import CLIP_SAMPLES, FRONTEND
from onebit.data._checks import describe_value
from onebit.data.splits import VAL_SPLIT_SEED, DataSplits, check_val_fraction

KEYWORD_VALIDATION_RULE = (
    "validation: whole speaker groups, the last round(f * G) (at least 1) of "
    "numpy.random.default_rng(1).permutation(G) over the G sorted groups of the training part, "
    "or the clips of the set's validation_list.txt when it has one; test groups are the loader's"
)
"""How keyword splits carve validation, in one line."""


@dataclass(frozen=True, eq=False, repr=False)
class KeywordSplits(DataSplits):
    """:class:`~onebit.data.DataSplits` of log-mel features (``(N, 1, n_mels, frames)`` in
    [0, 1], :data:`onebit.audio.FRONTEND`) that also carry, per split, the int16 one-second
    16 kHz waveforms and the speaker group of every clip.

    Attributes:
        wave_train, wave_val, wave_test: int16 ``(N, 16000)`` clips, row ``i`` the source of
            ``x_*[i]``.
        group_train, group_val, group_test: each clip's speaker group (str); no group is in two
            splits.
        listed_val: a bool mask over the training part: the clips the dataset's own
            ``validation_list.txt`` names (None: the set has no such list).
        built: how the loader built the set, in words, for reports.
    """

    wave_train: np.ndarray | None = None
    wave_val: np.ndarray | None = None
    wave_test: np.ndarray | None = None
    group_train: np.ndarray | None = None
    group_val: np.ndarray | None = None
    group_test: np.ndarray | None = None
    listed_val: np.ndarray | None = None
    built: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if (
            self.wave_val is None
            and self.group_val is None
            and isinstance(self.wave_train, np.ndarray)
        ):
            object.__setattr__(self, "wave_val", self.wave_train[:0])
            object.__setattr__(self, "group_val", np.zeros(0, dtype=str))
        for split in ("train", "val", "test"):
            labels = getattr(self, f"y_{split}")
            wave, group = getattr(self, f"wave_{split}"), getattr(self, f"group_{split}")
            where = f"dataset {self.name!r}, {split} split"
            if not (
                isinstance(wave, np.ndarray)
                and wave.dtype == np.int16
                and wave.shape == (len(labels), CLIP_SAMPLES)
            ):
                raise OnebitError(
                    f"{where}: waveforms must be int16 ({len(labels)}, {CLIP_SAMPLES}), "
                    f"got {describe_value(wave)}"
                )
            if not (isinstance(group, np.ndarray) and group.dtype.kind == "U"):
                raise OnebitError(
                    f"{where}: groups must be a str array, got {describe_value(group)}"
                )
            if group.shape != (len(labels),):
                raise OnebitError(f"{where}: {len(group)} groups for {len(labels)} clips")
        shared = (set(self.group_train) & set(self.group_test)) | (
            set(self.group_val) & (set(self.group_train) | set(self.group_test))
        )
        if shared:
            raise OnebitError(
                f"dataset {self.name!r}: speaker groups {sorted(map(str, shared))[:5]} are in two "
                "splits"
            )
        if self.listed_val is not None and (
            self.listed_val.dtype != np.bool_ or self.listed_val.shape != self.y_train.shape
        ):
            raise OnebitError(
                f"dataset {self.name!r}: listed_val must be a bool mask over the training part, "
                f"got {describe_value(self.listed_val)}"
            )

    def with_validation(self, fraction: float, seed: int = VAL_SPLIT_SEED) -> KeywordSplits:
        """These splits with validation carved from the training part by
        :data:`KEYWORD_VALIDATION_RULE`: whole speaker groups, or the clips the dataset's
        ``validation_list.txt`` names (then ``fraction`` only says whether: any positive one
        takes the list); 0 returns the splits unchanged.

        Raises:
            OnebitError: if there is a validation split already, the fraction is not in [0, 1),
                or the training part has too few groups (or listed clips) for both parts.
        """
        check_val_fraction(fraction)
        if self.has_validation:
            raise OnebitError(
                f"dataset {self.name!r} already has a validation split "
                f"({len(self.y_val)} samples); carve it from splits without one"
            )
        if fraction == 0:
            return self
        if self.listed_val is not None:
            val = self.listed_val
            if val.all() or not val.any():
                raise OnebitError(
                    f"dataset {self.name!r}: validation_list.txt names {int(val.sum())} of the "
                    f"{len(val)} training clips; both parts need clips"
                )
        else:
            groups = np.unique(self.group_train)
            n_val = max(1, math.floor(fraction * len(groups) + 0.5))
            if len(groups) - n_val < 1:
                raise OnebitError(
                    f"dataset {self.name!r}: the training part has {len(groups)} speaker "
                    f"group(s); validation holds out whole groups and needs at least 2"
                )
            order = np.random.default_rng(seed).permutation(len(groups))
            val = np.isin(self.group_train, groups[order[len(groups) - n_val :]])
        if (~val).sum() < 2:
            raise OnebitError(
                f"dataset {self.name!r}: validation would leave {(~val).sum()} training clip(s)"
            )
        keep = ~val
        return replace(
            self,
            x_train=self.x_train[keep],
            y_train=self.y_train[keep],
            wave_train=self.wave_train[keep],
            group_train=self.group_train[keep],
            x_val=self.x_train[val],
            y_val=self.y_train[val],
            wave_val=self.wave_train[val],
            group_val=self.group_train[val],
            listed_val=None,
        )

    def groups(self, split: str) -> list[str]:
        """The sorted speaker groups of ``split`` ("train", "val" or "test")."""
        return sorted(set(getattr(self, f"group_{split}").tolist()))

    def __repr__(self) -> str:
        return (
            f"KeywordSplits({self.name!r}, train={len(self.y_train)} clips of "
            f"{len(self.groups('train'))} groups, val={len(self.y_val)} of "
            f"{len(self.groups('val'))}, test={len(self.y_test)} of {len(self.groups('test'))}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes})"
        )


def keyword_splits(
    name: str,
    classes: tuple[str, ...],
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    listed_val: np.ndarray | None = None,
    built: str = "",
) -> KeywordSplits:
    """:class:`KeywordSplits` from ``(waves, labels, groups)`` of the training and test parts;
    the features are the clean log-mel of every clip (:data:`onebit.audio.FRONTEND`)."""
    (wave_train, y_train, group_train), (wave_test, y_test, group_test) = train, test
    return KeywordSplits(
        name=name,
        x_train=FRONTEND(wave_train),
        y_train=np.asarray(y_train, np.int64),
        x_test=FRONTEND(wave_test),
        y_test=np.asarray(y_test, np.int64),
        classes=classes,
        wave_train=wave_train,
        wave_test=wave_test,
        group_train=np.asarray(group_train, dtype=str),
        group_test=np.asarray(group_test, dtype=str),
        listed_val=listed_val,
        built=built,
    )
