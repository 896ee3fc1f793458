"""Programs to other targets: ``to_c`` writes dependency-free C99 for microcontrollers."""

from onebit.export.c_model import CExport, to_c
from onebit.export.c_ops import ExportError

__all__ = ["CExport", "ExportError", "to_c"]
