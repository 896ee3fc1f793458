"""Structured fuzzing of the ``.onebit`` loader: a file is untrusted input, so no file may crash,
hang, raise anything but :class:`ProgramFileError` / :class:`ProgramError`, or load and then
return non-finite outputs for finite inputs.

Seed programs (small graphs built here with NumPy, covering every op, or any ``.onebit`` files
given) are mutated in ways a fuzzer learns to try (JSON type swaps, sizes near 2^31, 2^32 and
2^63, huge integers, deep nesting, renamed or missing names, tensor dtypes, shapes and values,
header fields, flipped bytes, truncations). Graph mutations are saved with a valid checksum, so
they reach the graph's validation rather than stopping at the checksum.

Each case runs in a worker process (load, a call on a finite batch within ``[-1, 1]``, a call on
an empty batch) supervised with a timeout: a worker that dies or hangs is recorded with the case
and replaced, so one process serves many files. Used by ``tests/runtime/test_fuzz.py`` (a few
thousand cases) and ``onebit bench fuzz`` (the long run, :mod:`onebit.runtime.fuzz.campaign`).
"""

from onebit.runtime.fuzz.mutations import Case, Mutator
from onebit.runtime.fuzz.seeds import SEEDS, assemble, cnn_seed, mlp_seed, packed_seed, seed_files
from onebit.runtime.fuzz.supervise import FAILURES, Report, Worker, fuzz, run_case

__all__ = [
    "FAILURES",
    "SEEDS",
    "Case",
    "Mutator",
    "Report",
    "Worker",
    "assemble",
    "cnn_seed",
    "fuzz",
    "mlp_seed",
    "packed_seed",
    "run_case",
    "seed_files",
]
