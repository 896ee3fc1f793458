"""Spoken digits made on this machine by the espeak-ng speech synthesizer (``spoken-digits``).

How the set is built (:func:`spoken_digits`):

1. Speakers: every accent of :data:`ACCENTS` (espeak-ng's Germanic-family English voices, not
   the MBROLA ones, which need the mbrola package) with every voice variant of
   :data:`TRAIN_VARIANTS` and :data:`TEST_VARIANTS` (``espeak-ng -v en-us+f3``): 8 x 24 = 192
   speakers by default.
2. Renditions: each speaker says each word of :data:`WORDS` ("zero" to "nine") ``renditions``
   times (:data:`RENDITIONS`, 3), each at a speed (``-s``, words per minute) and pitch (``-p``)
   drawn uniformly from :data:`SPEEDS` and :data:`PITCHES` by ``numpy.random.default_rng(seed)``
   in a fixed order (variant, accent, word, rendition). espeak-ng writes a 22,050 Hz WAV file,
   which becomes a one-second 16 kHz int16 clip by :func:`onebit.audio.clips.fit_clip`
   (resampled, centred on the speech). Two espeak-ng processes run at a time. The British
   accent is the voice ``en`` (see :data:`ACCENTS`); an accent or variant espeak-ng does not
   list is refused, since espeak-ng itself would quietly speak another voice.
3. Splits by voice: the speakers of a test variant form the test set, so test voices are unheard
   in training (each accent is heard, by other variants); a clip's speaker group is its variant,
   so validation (:meth:`~onebit.data.keywords.KeywordSplits.with_validation`) also holds out
   whole variants of the training ones.

Default size: 5,760 clips (4,800 of 20 training variants, 960 of 4 test variants), 184 MB of
int16 waveforms in memory; the cache (``$ONEBIT_CACHE``, else ``~/.cache/onebit``) is a
compressed ``.npz`` of the waveforms, labels and speakers, named by a hash of the build
parameters and the espeak-ng version, written atomically and refused when it does not match.
Loading needs espeak-ng even when the cache exists: its version is part of the cache's key.
Building takes about two minutes on two busy cores; the cache is 73 MB and loads in 4 s.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from onebit._registry import OnebitError
from onebit.atomic import atomic_open
from onebit.audio.clips import fit_clip, read_wav
from onebit.audio.features import CLIP_SAMPLES
from onebit.data.cache import cache_directory
from onebit.data.keywords import KeywordSplits, keyword_splits

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""The classes, in label order."""
ACCENTS = (
    "en",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
"""espeak-ng's English voices of the Germanic family (``espeak-ng --voices=en``, ``gmw/``);
British English is named ``en`` (its voice file), because espeak-ng 1.51 ignores a variant after
the name ``en-gb``. ``en-us-nyc`` differs from ``en-us`` on some digits only; its clips still
differ by their drawn speeds and pitches."""
TRAIN_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3",
    "klatt", "klatt2", "klatt3", "croak", "whisper",
    "adam", "david", "john", "linda", "paul", "steph",
)  # fmt: skip
"""Voice variants (``espeak-ng --voices=variant``) whose speakers train and validate."""
TEST_VARIANTS = ("m7", "f4", "klatt4", "robert")
"""Voice variants held out: their speakers form the test set."""
RENDITIONS = 3
"""Clips per word and speaker."""
SPEEDS = (110, 210)
"""The range of speeds, words per minute (espeak-ng's default is 175)."""
PITCHES = (20, 80)
"""The range of pitches, 0-99 (espeak-ng's default is 50)."""
CACHE_FORMAT = "onebit spoken-digits v1"
JOBS = 2
"""espeak-ng processes run at a time."""


def espeak_version() -> str:
    """The first line of ``espeak-ng --version``, without where its data lives.

    Raises:
        OnebitError: if espeak-ng is not installed.
    """
    if shutil.which("espeak-ng") is None:
        raise OnebitError(
            "spoken-digits needs the espeak-ng speech synthesizer (apt-get install espeak-ng)"
        )
    done = subprocess.run(
        ["espeak-ng", "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise OnebitError(f"espeak-ng --version failed: {done.stderr.strip()[:300]}")
    return done.stdout.strip().splitlines()[0].split("  Data at:")[0].strip()


def _voice_table(which: str) -> list[list[str]]:
    """The rows of ``espeak-ng --voices=WHICH`` (columns: priority, language, age/gender, name,
    file, other languages), without the header."""
    espeak_version()
    done = subprocess.run(
        ["espeak-ng", f"--voices={which}"], capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise OnebitError(f"espeak-ng --voices={which} failed: {done.stderr.strip()[:300]}")
    return [line.split() for line in done.stdout.splitlines()[1:] if len(line.split()) >= 5]


def espeak_variants() -> set[str]:
    """The voice variants espeak-ng has (the ``!v/NAME`` files of ``--voices=variant``)."""
    return {
        word.removeprefix("!v/")
        for row in _voice_table("variant")
        for word in row
        if word.startswith("!v/")
    }


def espeak_accents() -> set[str]:
    """The English voices espeak-ng speaks without MBROLA: the language names and the file
    names (without ``gmw/``) of the ``gmw/`` rows of ``--voices=en``."""
    rows = [row for row in _voice_table("en") if any(w.startswith("gmw/") for w in row)]
    files = {w.removeprefix("gmw/") for row in rows for w in row if w.startswith("gmw/")}
    return {row[1] for row in rows} | files


def synthesize(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """``word`` spoken by espeak-ng's ``voice`` (e.g. ``en-us+f3``) as an int16 one-second
    16 kHz clip.

    Raises:
        OnebitError: if espeak-ng fails or writes no sound (an unknown voice, say).
    """
    with tempfile.TemporaryDirectory(prefix="onebit-espeak-") as tmp:
        wav = Path(tmp) / "word.wav"
        command = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav)]
        done = subprocess.run(
            [*command, word], capture_output=True, text=True, check=False, timeout=60
        )
        if done.returncode != 0 or not wav.exists():
            raise OnebitError(
                f"espeak-ng -v {voice} failed on {word!r}: {done.stderr.strip()[:300]}"
            )
        wave, rate = read_wav(wav)
    if not np.abs(wave).max() > 0:
        raise OnebitError(f"espeak-ng -v {voice} wrote silence for {word!r}")
    return fit_clip(wave, rate)


def build_plan(
    accents: Sequence[str], variants: Sequence[str], renditions: int, seed: int
) -> list[dict[str, Any]]:
    """One entry (word, label, voice, speaker group, speed, pitch) per clip, in step 2's order."""
    rng = np.random.default_rng(seed)
    plan = []
    for variant in variants:
        for accent in accents:
            for label, word in enumerate(WORDS):
                for _ in range(renditions):
                    speed = int(rng.integers(SPEEDS[0], SPEEDS[1] + 1))
                    pitch = int(rng.integers(PITCHES[0], PITCHES[1] + 1))
                    plan.append(
                        {
                            "word": word,
                            "label": label,
                            "voice": f"{accent}+{variant}",
                            "group": variant,
                            "speed": speed,
                            "pitch": pitch,
                        }
                    )
    return plan


def _parameters(
    accents: Sequence[str],
    train_variants: Sequence[str],
    test_variants: Sequence[str],
    renditions: int,
    seed: int,
) -> dict[str, Any]:
    if renditions < 1:
        raise OnebitError(f"spoken-digits: renditions must be at least 1, got {renditions}")
    if not accents or not train_variants or not test_variants:
        raise OnebitError("spoken-digits: give at least one accent, training and test variant")
    both = sorted(set(train_variants) & set(test_variants))
    if both:
        raise OnebitError(f"spoken-digits: variants {both} are both training and test variants")
    # espeak-ng quietly speaks another voice for an unknown accent or variant: check them first
    foreign = sorted(set(accents) - espeak_accents())
    if foreign:
        raise OnebitError(
            f"spoken-digits: {foreign} are not espeak-ng English voices of its own (see "
            "espeak-ng --voices=en: the gmw/ rows)"
        )
    unknown = sorted((set(train_variants) | set(test_variants)) - espeak_variants())
    if unknown:
        raise OnebitError(
            f"spoken-digits: espeak-ng has no voice variants {unknown} (see espeak-ng "
            "--voices=variant)"
        )
    return {
        "format": CACHE_FORMAT,
        "espeak": espeak_version(),
        "words": list(WORDS),
        "accents": list(accents),
        "train_variants": list(train_variants),
        "test_variants": list(test_variants),
        "renditions": renditions,
        "speeds": list(SPEEDS),
        "pitches": list(PITCHES),
        "seed": seed,
        "sample_rate": 16_000,
        "clip_samples": CLIP_SAMPLES,
    }


def cache_path(parameters: dict[str, Any]) -> Path:
    """Where the clips of these build parameters are cached."""
    key = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:16]
    return cache_directory() / f"spoken-digits-{key}.npz"


def synthesize_clips(
    parameters: dict[str, Any], jobs: int = JOBS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-2: int16 waves ``(N, 16000)``, int64 labels and str speaker groups."""
    variants = [*parameters["train_variants"], *parameters["test_variants"]]
    plan = build_plan(parameters["accents"], variants, parameters["renditions"], parameters["seed"])
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        waves = list(
            pool.map(lambda e: synthesize(e["word"], e["voice"], e["speed"], e["pitch"]), plan)
        )
    return (
        np.stack(waves),
        np.array([e["label"] for e in plan], np.int64),
        np.array([e["group"] for e in plan], dtype=str),
    )


def spoken_clips(
    parameters: dict[str, Any], rebuild: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clips of ``parameters``, from the cache or synthesized (then cached)."""
    path = cache_path(parameters)
    if path.exists() and not rebuild:
        return _read_cache(path, parameters)
    waves, labels, groups = synthesize_clips(parameters)
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(
            handle,
            parameters=np.array(json.dumps(parameters, sort_keys=True)),
            waves=waves,
            labels=labels,
            groups=groups,
        )
    return waves, labels, groups


def _read_cache(path: Path, parameters: dict[str, Any]) -> tuple[np.ndarray, ...]:
    def corrupt(why: str) -> OnebitError:
        return OnebitError(f"{path}: {why}; delete it or load with rebuild=True")

    try:
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
            stored = json.loads(str(archive["parameters"]))
            if stored != json.loads(json.dumps(parameters, sort_keys=True)):
                raise corrupt("it was built with other parameters")
            waves, labels, groups = archive["waves"], archive["labels"], archive["groups"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise corrupt(f"not a spoken-digits cache ({err})") from None
    n = len(labels)
    expected = len(parameters["accents"]) * len(WORDS) * parameters["renditions"]
    expected *= len(parameters["train_variants"]) + len(parameters["test_variants"])
    if not (
        n == expected
        and waves.dtype == np.int16
        and waves.shape == (n, CLIP_SAMPLES)
        and labels.dtype == np.int64
        and groups.shape == (n,)
        and groups.dtype.kind == "U"
        and (n == 0 or (labels.min() >= 0 and labels.max() < len(WORDS)))
    ):
        raise corrupt("its arrays are missing or malformed")
    return waves, labels, groups


def spoken_digits(
    accents: Sequence[str] | None = None,
    train_variants: Sequence[str] | None = None,
    test_variants: Sequence[str] | None = None,
    renditions: int | None = None,
    seed: int = 0,
    rebuild: bool = False,
) -> KeywordSplits:
    """Spoken digits synthesized by espeak-ng: 192 voices, test voices held out (built once).

    Args:
        accents: espeak-ng English voices; None: :data:`ACCENTS`.
        train_variants: voice variants that train (and validate); None: :data:`TRAIN_VARIANTS`.
        test_variants: voice variants held out for test; None: :data:`TEST_VARIANTS`.
        renditions: clips per word and speaker, each at its own drawn speed and pitch; None:
            :data:`RENDITIONS`.
        seed: the seed of the speeds and pitches.
        rebuild: synthesize again instead of reading the cache.
    """
    parameters = _parameters(
        ACCENTS if accents is None else accents,
        TRAIN_VARIANTS if train_variants is None else train_variants,
        TEST_VARIANTS if test_variants is None else test_variants,
        RENDITIONS if renditions is None else renditions,
        seed,
    )
    waves, labels, groups = spoken_clips(parameters, rebuild)
    test = np.isin(groups, parameters["test_variants"])
    return keyword_splits(
        "spoken-digits",
        WORDS,
        (waves[~test], labels[~test], groups[~test]),
        (waves[test], labels[test], groups[test]),
        built=describe_build(parameters),
    )


def describe_build(parameters: dict[str, Any]) -> str:
    """How a ``spoken-digits`` set was built, in words."""
    speakers = len(parameters["accents"]) * (
        len(parameters["train_variants"]) + len(parameters["test_variants"])
    )
    return (
        f"{parameters['espeak']} says each of the {len(WORDS)} digits {parameters['renditions']} "
        f"times per speaker, {speakers} speakers ({len(parameters['accents'])} English accents "
        f"x voice variants), at a speed ({SPEEDS[0]}-{SPEEDS[1]} wpm) and pitch "
        f"({PITCHES[0]}-{PITCHES[1]}) drawn per clip (seed {parameters['seed']}); the speakers "
        f"of the test variants ({', '.join(parameters['test_variants'])}) are never heard in "
        "training; validation holds out whole training variants"
    )
