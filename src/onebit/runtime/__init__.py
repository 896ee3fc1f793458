"""The torch-free runtime: load a ``.onebit`` program and run it on NumPy arrays.

Nothing here imports torch; the packed kernels come from the native extension (``_native``) or,
where it is not built, from the NumPy references (``kernels.BACKEND`` says which).
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
