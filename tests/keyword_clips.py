"""Small keyword clips for the tests that need no speech synthesizer: each "word" is a tone of
its own frequency, each "speaker" says it at its own loudness, length and place in the clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from onebit.data.keywords import KeywordSplits, keyword_splits

RATE = 16_000
WORD_HZ = (440.0, 1200.0, 3000.0)


def tone(hz: float, seconds: float, rate: int = RATE, amplitude: float = 0.5) -> np.ndarray:
    """A sine with 10 ms fades, float64 in [-1, 1]."""
    t = np.arange(round(seconds * rate)) / rate
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)
    return amplitude * fade * np.sin(2 * np.pi * hz * t)


def spoken(word: int, speaker: int, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """``word`` said by ``speaker``: its tone, 0.2-0.5 s long, somewhere in a 1 s clip."""
    clip = np.zeros(rate)
    sound = tone(WORD_HZ[word] * (1 + 0.02 * speaker), rng.uniform(0.2, 0.5), rate)
    sound *= 0.3 + 0.1 * (speaker % 5)
    start = rng.integers(0, rate - len(sound))
    clip[start : start + len(sound)] = sound
    return clip


def tone_splits(
    train_speakers: int = 6, test_speakers: int = 2, repeats: int = 2, seed: int = 0
) -> KeywordSplits:
    """Keyword splits of the tone words, test speakers held out."""
    rng = np.random.default_rng(seed)

    def part(speakers: range):
        waves, labels, groups = [], [], []
        for speaker in speakers:
            for word in range(len(WORD_HZ)):
                for _ in range(repeats):
                    waves.append(np.round(spoken(word, speaker, rng) * 32767).astype(np.int16))
                    labels.append(word)
                    groups.append(f"speaker{speaker}")
        return np.stack(waves), np.array(labels), np.array(groups)

    return keyword_splits(
        "tones",
        ("low", "mid", "high"),
        part(range(train_speakers)),
        part(range(train_speakers, train_speakers + test_speakers)),
    )


def write_wav(path: Path, wave: np.ndarray, rate: int = RATE, dtype=np.int16) -> Path:
    """``wave`` (float in [-1, 1], (T,) or (T, channels)) as a WAV file of ``dtype``."""
    from scipy.io import wavfile

    path.parent.mkdir(parents=True, exist_ok=True)
    if dtype == np.int16:
        data = np.round(np.asarray(wave) * 32767).astype(np.int16)
    elif dtype == np.uint8:
        data = np.round(np.asarray(wave) * 127 + 128).astype(np.uint8)
    else:
        data = np.asarray(wave, dtype=dtype)
    wavfile.write(path, rate, data)
    return path
