from __future__ import annotations

import os
import stat

import pytest

from onebit.atomic import atomic_open, atomic_write


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_atomic_write_removes_its_temporary_and_keeps_the_old_file(tmp_path, error):
    target = tmp_path / "curves.png"
    target.write_bytes(b"old")

    def half_then_fail(tmp):
        tmp.write_bytes(b"half a plot")
        raise error

    with pytest.raises(type(error)):
        atomic_write(target, half_then_fail)
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]
    assert target.read_bytes() == b"old"
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_atomic_open_removes_its_temporary_and_keeps_the_old_file(tmp_path, error):
    target = tmp_path / "metrics.csv"
    target.write_text("old")
    with pytest.raises(type(error)), atomic_open(target, "w") as handle:
        handle.write("half")
        raise error
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]
    assert target.read_text() == "old"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("writer", ["open", "write"])
def test_a_saved_file_gets_the_mode_of_one_written_in_place(tmp_path, writer):
    def save(target, data: bytes) -> None:
        if writer == "open":
            with atomic_open(target) as handle:
                handle.write(data)
        else:
            atomic_write(target, lambda tmp: tmp.write_bytes(data))

    new = tmp_path / "model.onebit"
    save(new, b"a")
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~_umask()  # not mkstemp's 0600
    new.chmod(0o640)
    save(new, b"b")
    assert stat.S_IMODE(new.stat().st_mode) == 0o640 and new.read_bytes() == b"b"
