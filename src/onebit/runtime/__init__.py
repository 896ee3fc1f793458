"""The torch-free runtime: load a ``.onebit`` program and run it on NumPy arrays.

Nothing here imports torch. Programs are loaded, validated and run by the C++ executor in the
native extension (``onebit._native``, sources in ``csrc/executor/``); this package turns Python
arguments into its arguments. ``reference.py`` (NumPy kernels) and ``reference_program.py`` (the
executor in Python) are the definitions the tests hold the native code to.
"""

from onebit.runtime.format import ProgramFileError, load_program, save_program
from onebit.runtime.kernels import BACKEND
from onebit.runtime.ops import OPS, ProgramError
from onebit.runtime.program import Program, load

__all__ = [
    "BACKEND",
    "OPS",
    "Program",
    "ProgramError",
    "ProgramFileError",
    "load",
    "load_program",
    "save_program",
]
