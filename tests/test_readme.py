"""Every fenced ``bash`` and ``python`` block of README.md, run as written: the README cannot rot.

The blocks run in a temporary working directory (with ``.venv`` linked to the repository's, so
``. .venv/bin/activate`` works there), with the repository's virtual environment first on
``PATH`` and a temporary ``HOME`` holding small files in the real formats where the README reads
yours: ``~/mnist`` (MNIST IDX files), ``~/cifar-10-batches-py`` (CIFAR-10 pickles) and
``~/images`` (one folder a class), and ``OMP_NUM_THREADS=1``. Shell blocks run first, in README
order, then each Python block in a process of its own, because the Python blocks read what the
shell blocks wrote (the demo's checkpoint). Blocks fenced as ``text`` are sample output and do
not run.

To keep the file short, a few commands run shortened; these are the only changes
to a block's text, and the README's last section lists them too:

- ``make test`` runs as ``make -n test`` (a dry run: the suite it starts is the one running this);
  ``make demo`` runs with ``DEMO_EPOCHS=1`` and its run directory in the working directory;
- every ``onebit train`` (also under ``torchrun``) runs 1 epoch: ``--epochs N`` becomes
  ``--epochs 1``, or ``--epochs 1`` is added; in Python, ``epochs=N`` becomes ``epochs=1``;
- ``onebit bench`` of the kernel (``kbit`` too) and zoo benchmarks (minutes of timing) runs as
  ``--help`` (``onebit bench mlp`` runs in full).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from helpers import write_idx

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
VENV_BIN = Path(sys.executable).parent
SHELLS = ("bash", "sh", "shell")
RUN_LANGUAGES = (*SHELLS, "python")
BLOCK_TIMEOUT_S = 300


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, the line of its opening fence and its text."""

    language: str
    line: int
    text: str

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.language}"


def fenced_blocks(markdown: str) -> list[Block]:
    """Every fenced block of ``markdown`` (a fence is a line of three or more backticks)."""
    blocks: list[Block] = []
    opening: tuple[str, int] | None = None
    body: list[str] = []
    for number, line in enumerate(markdown.splitlines(), start=1):
        fence = re.match(r"^\s*```+\s*([\w+-]*)", line)
        if fence is None:
            if opening is not None:
                body.append(line)
            continue
        if opening is None:
            opening, body = (fence.group(1).lower(), number), []
        else:
            blocks.append(Block(opening[0], opening[1], "\n".join(body) + "\n"))
            opening = None
    if opening is not None:
        raise ValueError(f"README.md:{opening[1]}: a fenced block is never closed")
    return blocks


def runnable_blocks() -> list[Block]:
    """The blocks to run, shell blocks first: the Python blocks read what they write."""
    blocks = fenced_blocks(README.read_text(encoding="utf-8"))
    unknown = [b.id for b in blocks if b.language not in (*RUN_LANGUAGES, "text")]
    if unknown:
        raise ValueError(f"fence these as bash, python or text (sample output): {unknown}")
    shell = [b for b in blocks if b.language in SHELLS]
    return shell + [b for b in blocks if b.language == "python"]


SLOW_BENCHMARKS = re.compile(r"\bonebit bench(?: (?:zoo|bgemm|bconv2d|kbit|all))?(?=\s*(?:#|$))")


def shortened_shell_line(line: str, work: Path) -> str:
    """A shell line with the documented shortenings applied (see the module docstring)."""
    command, hash_, comment = line.partition(" #")
    make = re.match(r"^(\s*)make\s+(\w+)(.*)$", command)
    if make:
        indent, target, rest = make.groups()
        if target == "test":
            return f"{indent}make -n -C {REPO} test{rest}{hash_}{comment}"
        demo = f"DEMO_EPOCHS=1 DEMO_DIR={work / 'runs' / 'demo'}"
        return f"{indent}make -C {REPO} {target}{rest} {demo}{hash_}{comment}"
    if re.search(r"\bonebit train\b", command):
        if re.search(r"--epochs[ =]\d+", command):
            command = re.sub(r"--epochs([ =])\d+", r"--epochs\g<1>1", command)
        else:
            command = command.rstrip() + " --epochs 1 "
    command = SLOW_BENCHMARKS.sub(lambda m: m.group(0) + " --help", command)
    return command + hash_ + comment


def shortened(block: Block, work: Path) -> str:
    if block.language == "python":
        return re.sub(r"\bepochs=\d+", "epochs=1", block.text)
    lines = [shortened_shell_line(line, work) for line in block.text.splitlines()]
    return "set -eo pipefail\n" + "\n".join(lines) + "\n"


def load_test_module(path: Path) -> ModuleType:
    """A test module of tests/data, for its file writers (loaded under a private name)."""
    spec = importlib.util.spec_from_file_location(f"_readme_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_user_files(home: Path) -> None:
    """Small datasets in the real formats, where the README's commands look for yours."""
    data_tests = Path(__file__).parent / "data"
    rng = np.random.default_rng(0)
    mnist = home / "mnist"
    mnist.mkdir()
    for prefix, count in (("train", 40), ("t10k", 10)):
        write_idx(
            mnist / f"{prefix}-images-idx3-ubyte.gz",
            rng.integers(0, 256, (count, 28, 28), dtype=np.uint8),
            compress=True,
        )
        write_idx(mnist / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, count, dtype=np.uint8))
    cifar = home / "cifar-10-batches-py"
    cifar.mkdir()
    load_test_module(data_tests / "test_cifar.py").write_cifar(cifar)
    load_test_module(data_tests / "test_image_folder.py").make_classes(home / "images")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The working directory the blocks share, and their environment."""
    root = tmp_path_factory.mktemp("readme")
    home, work = root / "home", root / "work"
    home.mkdir()
    work.mkdir()
    (work / ".venv").symlink_to(VENV_BIN.parent, target_is_directory=True)
    write_user_files(home)
    env = dict(os.environ)
    env.update(HOME=str(home), PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}")
    # One torch thread a process: on 2 shared cores, torch's default spin-waits made an epoch
    # 3x slower (torchrun's two processes share them too). The kernels' own pool is unchanged.
    env.update(MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    return work, env


@pytest.mark.slow
@pytest.mark.parametrize("block", runnable_blocks(), ids=lambda block: block.id)
def test_readme_block_runs(block: Block, workspace: tuple[Path, dict[str, str]]) -> None:
    work, env = workspace
    script = shortened(block, work)
    if block.language == "python":
        path = work / f"readme_block_{block.line}.py"
        path.write_text(script, encoding="utf-8")
        command = [sys.executable, str(path)]
    else:
        command = ["bash", "-c", script]
    done = subprocess.run(
        command,
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, (
        f"{block.id} failed (exit {done.returncode}) as run:\n{script}\n"
        f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
    )


def test_blocks_are_found_and_shell_blocks_come_first() -> None:
    blocks = runnable_blocks()
    languages = [b.language for b in blocks]
    assert "python" in languages and "bash" in languages
    first_python = languages.index("python")
    assert all(language == "python" for language in languages[first_python:])
    demo = next(b for b in blocks if "make demo" in b.text)
    assert blocks[0] == demo, "the set-up block writes what later blocks read"


def test_shortenings_are_the_documented_ones(tmp_path: Path) -> None:
    line = shortened_shell_line
    assert line("onebit train m --epochs 30 --out r  # note", tmp_path) == (
        "onebit train m --epochs 1 --out r  # note"
    )
    assert line("onebit train float-mlp --data digits", tmp_path).startswith(
        "onebit train float-mlp --data digits --epochs 1"
    )
    assert line("make test   # suite", tmp_path) == f"make -n -C {REPO} test   # suite"
    assert "DEMO_EPOCHS=1" in line("make demo", tmp_path)
    assert line("onebit bench zoo    # x", tmp_path) == "onebit bench zoo --help    # x"
    assert line("onebit bench mlp --checkpoint c.pt", tmp_path) == (
        "onebit bench mlp --checkpoint c.pt"
    )
    assert line("onebit run model.onebit", tmp_path) == "onebit run model.onebit"
    python = Block("python", 1, "fit(TrainConfig(epochs=30))\n")
    assert shortened(python, tmp_path) == "fit(TrainConfig(epochs=1))\n"


def test_an_unclosed_fence_is_an_error() -> None:
    with pytest.raises(ValueError, match="never closed"):
        fenced_blocks("text\n```bash\nls\n")
