"""onebit.data's public entry points: load, list, describe and the DATASETS registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import onebit.data
from onebit._registry import OnebitError, UnknownNameError
from onebit.data import DATASETS, DataSplits, describe, load

FILE_BASED = ["cifar10", "folder", "keypoints-coco", "keyword-folder", "landmarks-pts", "mnist"]
FILE_OR_DIRECTORY = ["text-files"]  # one file, or a directory of train and test files
BUNDLED = ["digits", "mnist-landmarks", "mnist5k"]
MACHINE_BUILT = ["debian-packages"]  # built from this machine's tools; a path is optional
SYNTHESIZED = ["spoken-digits"]  # made by espeak-ng on this machine; no path


def test_load_mnist5k() -> None:
    splits = load("mnist5k")
    assert isinstance(splits, DataSplits)
    assert (splits.name, len(splits.x_train), len(splits.x_test)) == ("mnist5k", 4000, 1000)


def test_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(UnknownNameError, match="unknown dataset 'mnist5'; did you mean 'mnist5k'"):
        load("mnist5")


def test_list_and_describe() -> None:
    everything = FILE_BASED + FILE_OR_DIRECTORY + BUNDLED + MACHINE_BUILT + SYNTHESIZED
    assert onebit.data.list() == sorted(everything)
    assert onebit.data.list("mnist*") == ["mnist", "mnist-landmarks", "mnist5k"]
    rows = describe()
    assert [name for name, _, _ in rows] == onebit.data.list()
    for name, description, needs_path in rows:
        assert description
        assert "\n" not in description
        assert needs_path == (name in FILE_BASED + FILE_OR_DIRECTORY)


@pytest.mark.parametrize("name", BUNDLED + SYNTHESIZED)
def test_a_bundled_dataset_takes_no_path(name: str, tmp_path: Path) -> None:
    with pytest.raises(OnebitError, match=f"dataset '{name}' is bundled and takes no path"):
        load(name, tmp_path)


@pytest.mark.parametrize("name", MACHINE_BUILT)
def test_a_machine_built_dataset_takes_an_optional_path_that_must_exist(
    name: str, tmp_path: Path
) -> None:
    with pytest.raises(OnebitError, match="does not exist"):
        load(name, tmp_path / "nowhere")


@pytest.mark.parametrize("name", FILE_BASED)
def test_a_file_based_dataset_needs_an_existing_path(name: str, tmp_path: Path) -> None:
    with pytest.raises(OnebitError, match=f"dataset '{name}' reads files: give a path"):
        load(name)
    with pytest.raises(OnebitError, match="does not exist"):
        load(name, tmp_path / "nowhere")
    file = tmp_path / "file"
    file.write_bytes(b"")
    with pytest.raises(OnebitError, match="is not a directory"):
        load(name, file)


def test_load_mnist_reads_an_idx_directory(mnist_dir: Path) -> None:
    splits = load("mnist", str(mnist_dir))
    np.testing.assert_array_equal(splits.y_test, [2, 0, 7])


def test_load_passes_loader_arguments(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (3, 5)).save(tmp_path / name / "x.png")
    assert load("folder", tmp_path, image_size=4, grayscale=True).input_shape == (1, 4, 4)
    with pytest.raises(OnebitError, match=r"dataset 'folder': .*unexpected keyword .*colour"):
        load("folder", tmp_path, colour=True)
    with pytest.raises(OnebitError, match=r"dataset 'digits': .*unexpected keyword"):
        load("digits", test_fraction=0.5)


def test_registered_loaders_are_the_public_functions() -> None:
    assert DATASETS.builder("mnist") is onebit.data.load_mnist_idx
    assert DATASETS.builder("folder") is onebit.data.load_image_folder
    for name in onebit.data.__all__:
        assert hasattr(onebit.data, name)


def test_onebit_data_imports_no_torch_and_no_optional_readers() -> None:
    # The parent package may import torch; the torch-free runtime needs only onebit.data itself,
    # so the check stands in an empty package for onebit's __init__.
    package_dir = str(Path(onebit.data.__file__).parents[1])
    code = (
        "import sys, types; "
        "package = types.ModuleType('onebit'); "
        f"package.__path__ = [{package_dir!r}]; "
        "sys.modules['onebit'] = package; "
        "import onebit.data; "
        "print(sorted({'torch', 'PIL', 'sklearn', 'mlxtend'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
