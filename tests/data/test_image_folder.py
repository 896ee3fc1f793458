"""Image folders: one sub-folder per class, optionally split into train/ and test/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from onebit._registry import OnebitError
from onebit.data.folder import load_image_folder
from onebit.data.splits import permutation_split

COLOURS = {"cat": (255, 0, 0), "dog": (0, 128, 255), "eel": (10, 200, 30)}


def save_image(path: Path, colour: tuple[int, ...] | int, size: tuple[int, int] = (5, 4)) -> None:
    """A solid image of ``size`` (width, height): RGB for a colour triple, else grey."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "RGB" if isinstance(colour, tuple) else "L"
    Image.new(mode, size, colour).save(path)


def make_classes(root: Path, per_class: int = 4, **kwargs: object) -> None:
    for name, colour in COLOURS.items():
        for i in range(per_class):
            save_image(root / name / f"{i}.png", colour, **kwargs)  # type: ignore[arg-type]


def colour_of(image: np.ndarray) -> tuple[int, ...]:
    pixels = np.round(image * 255).astype(int).reshape(image.shape[0], -1)
    assert (pixels == pixels[:, :1]).all()  # solid
    return tuple(pixels[:, 0])


def test_flat_layout_is_split_by_the_permutation(tmp_path: Path) -> None:
    make_classes(tmp_path / "pets")
    splits = load_image_folder(tmp_path / "pets")
    assert splits.name == "pets"
    assert splits.classes == ("cat", "dog", "eel")
    assert splits.input_shape == (3, 4, 5)
    assert (len(splits.x_train), len(splits.x_test)) == (10, 2)  # round(12 * 0.2) = 2
    labels_in_file_order = np.repeat([0, 1, 2], 4)
    train, test = permutation_split(12, 2)
    np.testing.assert_array_equal(splits.y_train, labels_in_file_order[train])
    np.testing.assert_array_equal(splits.y_test, labels_in_file_order[test])
    for x, y in zip(splits.x_train, splits.y_train, strict=True):
        assert colour_of(x) == COLOURS[splits.classes[y]]


def test_test_fraction_sets_the_test_size(tmp_path: Path) -> None:
    make_classes(tmp_path)
    assert len(load_image_folder(tmp_path, test_fraction=0.5).x_test) == 6
    assert len(load_image_folder(tmp_path, test_fraction=0.01).x_test) == 1  # at least one


@pytest.mark.parametrize("test_folder", ["test", "val"])
def test_train_and_test_folders_are_the_splits(tmp_path: Path, test_folder: str) -> None:
    make_classes(tmp_path / "train", per_class=3)
    make_classes(tmp_path / test_folder, per_class=1)
    splits = load_image_folder(tmp_path)
    assert (len(splits.x_train), len(splits.x_test)) == (9, 3)
    np.testing.assert_array_equal(splits.y_train, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(splits.y_test, [0, 1, 2])
    assert colour_of(splits.x_test[1]) == COLOURS["dog"]


def test_grayscale_reads_one_channel(tmp_path: Path) -> None:
    for i, level in enumerate([0, 51, 255]):
        save_image(tmp_path / f"class{i}" / "a.png", level)
        save_image(tmp_path / f"class{i}" / "b.png", (level, level, level))
    splits = load_image_folder(tmp_path, grayscale=True, test_fraction=0.3)
    assert splits.input_shape == (1, 4, 5)
    images = np.concatenate([splits.x_train, splits.x_test])
    labels = np.concatenate([splits.y_train, splits.y_test])
    for x, y in zip(images, labels, strict=True):
        assert colour_of(x) == ([0, 51, 255][y],)


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    for name, level in [("dark", 257 * 20), ("light", 65535)]:
        for i in range(2):
            path = tmp_path / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((3, 3), level, np.uint16)).save(path)
    splits = load_image_folder(tmp_path, grayscale=True)
    images = np.concatenate([splits.x_train, splits.x_test])
    labels = np.concatenate([splits.y_train, splits.y_test])
    for x, y in zip(images, labels, strict=True):
        assert colour_of(x) == ([20, 255][y],)


def test_palette_images_with_transparency_load_without_warnings(tmp_path: Path) -> None:
    for name in ("a", "b"):
        image = Image.new("P", (4, 4))
        image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] * 85)
        path = tmp_path / name / "x.png"
        path.parent.mkdir()
        image.save(path, transparency=b"\x00\x80\xff")
    assert load_image_folder(tmp_path).input_shape == (3, 4, 4)


def test_image_size_resizes_mixed_sizes(tmp_path: Path) -> None:
    save_image(tmp_path / "a" / "small.png", (1, 2, 3), size=(3, 2))
    save_image(tmp_path / "a" / "large.png", (1, 2, 3), size=(9, 7))
    save_image(tmp_path / "b" / "wide.jpg", 7, size=(12, 2))
    assert load_image_folder(tmp_path, image_size=(6, 8)).input_shape == (3, 6, 8)
    square = load_image_folder(tmp_path, image_size=5, grayscale=True)
    assert square.input_shape == (1, 5, 5)
    images = np.concatenate([square.x_train, square.x_test])
    labels = np.concatenate([square.y_train, square.y_test])
    assert colour_of(images[labels == 1][0]) == (7,)


def test_mixed_sizes_without_image_size_name_the_file(tmp_path: Path) -> None:
    save_image(tmp_path / "a" / "1.png", 0, size=(5, 4))
    save_image(tmp_path / "b" / "2.png", 0, size=(6, 4))
    with pytest.raises(OnebitError, match=r"2\.png is 6x4 but .*1\.png is 5x4; pass image_size"):
        load_image_folder(tmp_path)


def test_hidden_and_non_image_files_are_skipped(tmp_path: Path) -> None:
    make_classes(tmp_path, per_class=2)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0\1junk")
    (tmp_path / "cat" / ".hidden.png").write_bytes(b"junk")
    (tmp_path / ".cache").mkdir()
    save_image(tmp_path / "dog" / "upper.PNG", COLOURS["dog"])
    save_image(tmp_path / "dog" / "nested" / "deep.jpeg", (0, 0, 0))
    splits = load_image_folder(tmp_path)
    assert splits.classes == ("cat", "dog", "eel")
    assert len(splits.x_train) + len(splits.x_test) == 8


def test_corrupt_image_is_named(tmp_path: Path) -> None:
    make_classes(tmp_path, per_class=2)
    (tmp_path / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(OnebitError, match=r"cannot read image .*dog.broken\.png"):
        load_image_folder(tmp_path)


def test_truncated_image_is_named(tmp_path: Path) -> None:
    noise = np.random.default_rng(3).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    for i, pixels in enumerate(noise):
        (tmp_path / f"class{i}").mkdir()
        Image.fromarray(pixels).save(tmp_path / f"class{i}" / "0.png")
    content = (tmp_path / "class2" / "0.png").read_bytes()
    (tmp_path / "class2" / "0.png").write_bytes(content[: len(content) // 2])
    with pytest.raises(OnebitError, match=r"cannot read image .*class2.0\.png"):
        load_image_folder(tmp_path)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "has no class sub-folders"),
        ({"a/x.png": 1, "b/": None}, "class folder .*b holds no images"),
        ({"a/x.png": 1}, "holds 1 image; need at least 2"),
        ({"a/x.png": 1, "loose.png": 1}, r"holds images directly \(loose.png"),
        ({"train/a/x.png": 1, "train/a/y.png": 1}, "has train/ but no test/ or val/"),
        ({"val/a/x.png": 1, "a/y.png": 1}, "has val/ but no train/"),
        ({"train/a/x.png": 1, "test/b/x.png": 1}, r"has classes \['a'\] but .*test has \['b'\]"),
    ],
)
def test_bad_layouts_are_refused(
    tmp_path: Path, layout: dict[str, int | None], message: str
) -> None:
    for relative, level in layout.items():
        if level is None:
            (tmp_path / relative).mkdir(parents=True)
        else:
            save_image(tmp_path / relative, level)
    with pytest.raises(OnebitError, match=message):
        load_image_folder(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": 0}, "image_size must be a positive int or"),
        ({"image_size": (4, 4, 4)}, "image_size must be"),
        ({"image_size": True}, "image_size must be"),
        ({"image_size": 4.0}, "image_size must be"),
        ({"test_fraction": "0.2"}, "test_fraction must lie"),
        ({"test_fraction": 1.0}, "test_fraction must lie strictly between 0 and 1"),
        ({"test_fraction": 0}, "test_fraction must lie"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    make_classes(tmp_path, per_class=1)
    with pytest.raises(OnebitError, match=message):
        load_image_folder(tmp_path, **kwargs)  # type: ignore[arg-type]


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(OnebitError, match=r"image folder directory .* does not exist"):
        load_image_folder(tmp_path / "nowhere")
