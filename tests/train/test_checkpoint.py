from __future__ import annotations

import pickle

import pytest
import torch

from onebit import OnebitError
from onebit.train import load_checkpoint, save_checkpoint

STATE = {"model_config": {"name": "float-mlp"}, "model_state": {"w": torch.ones(3)}, "epoch": 2}


def test_round_trip(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, STATE)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 2
    assert torch.equal(loaded["model_state"]["w"], torch.ones(3))


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, STATE)

    def crash(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, {**STATE, "epoch": 3})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_missing_file(tmp_path):
    with pytest.raises(OnebitError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_garbage_and_truncated_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01not a checkpoint" * 10)
    with pytest.raises(OnebitError, match=r"garbage.pt: not a torch file$"):
        load_checkpoint(garbage)
    whole = tmp_path / "whole.pt"
    save_checkpoint(whole, STATE)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(whole.read_bytes()[:-100])
    with pytest.raises(OnebitError, match=r"truncated.pt: truncated or corrupt"):
        load_checkpoint(truncated)


def test_a_foreign_torch_file_is_refused(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.ones(1)}}, path)
    with pytest.raises(OnebitError, match=r"cannot read checkpoint .*: a torch file, but not an"):
        load_checkpoint(path)


class _Exploit:
    def __reduce__(self):
        return (open, ("/tmp/onebit-pwned-marker", "w"))


def test_a_pickle_that_runs_code_is_refused_without_running(tmp_path):
    marker = "/tmp/onebit-pwned-marker"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"format": "onebit-checkpoint", "x": _Exploit()}, handle)
    with pytest.raises(OnebitError):
        load_checkpoint(path)
    import os

    assert not os.path.exists(marker)


def test_other_version_is_refused(tmp_path):
    path = tmp_path / "v9.pt"
    torch.save({**STATE, "format": "onebit-checkpoint", "version": 9}, path)
    with pytest.raises(OnebitError, match="version 9"):
        load_checkpoint(path)
