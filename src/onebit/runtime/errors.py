"""The two errors a ``.onebit`` file can cause: every problem with a file, from unreadable bytes
to an op whose attributes disagree with the shapes they imply, is one of these, raised at load
with one line naming what was wrong."""

from __future__ import annotations

from onebit._registry import OnebitError


class ProgramFileError(OnebitError):
    """A ``.onebit`` file that cannot be loaded: missing, truncated, corrupt or foreign.

    :class:`ProgramError` subclasses it, so ``except ProgramFileError`` catches every problem a
    file can have.
    """


class ProgramError(ProgramFileError):
    """A program graph that is malformed, inconsistent with its tensors, or beyond the limits
    (sizes, memory, work, value range) the runtime accepts."""
