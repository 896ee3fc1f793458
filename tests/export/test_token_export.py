"""The C export refuses a program of token ids (an ``embedding``): its entry points take float
or 8-bit inputs."""

from __future__ import annotations

import pytest

from onebit.export.c_model import to_c
from onebit.export.c_ops import ExportError
from onebit.runtime.fuzz.seeds import text_seed


def test_a_program_of_token_ids_is_refused_with_the_reason(tmp_path) -> None:
    with pytest.raises(ExportError, match=r"reads token ids \(an embedding\)"):
        to_c(text_seed(), tmp_path)
    assert not list(tmp_path.iterdir())
