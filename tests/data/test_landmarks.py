"""Landmark sets: the split container, the mnist-landmarks task, and the .pts and COCO readers on
files the tests write."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from onebit._registry import OnebitError
from onebit.data.landmark_files import crop_square, load_coco_keypoints, load_pts_folder, read_pts
from onebit.data.landmarks import (
    MNIST_LANDMARKS,
    LandmarkSplits,
    digit_points,
    mnist_landmarks,
    place_digit,
)
from onebit.data.splits import validation_split


def splits(n: int = 10, k: int = 3, **overrides) -> LandmarkSplits:
    rng = np.random.default_rng(0)
    fields = {
        "name": "toy",
        "x_train": rng.random((n, 1, 8, 8), dtype=np.float32),
        "points_train": rng.random((n, k, 2), dtype=np.float32) * 7,
        "x_test": rng.random((2, 1, 8, 8), dtype=np.float32),
        "points_test": rng.random((2, k, 2), dtype=np.float32) * 7,
        "landmarks": tuple(f"p{i}" for i in range(k)),
    }
    return LandmarkSplits(**(fields | overrides))


def test_the_validation_split_follows_the_classification_rule() -> None:
    whole = splits(20)
    held = whole.with_validation(0.25)
    train, val = validation_split(20, 0.25)
    assert np.array_equal(held.x_val, whole.x_train[val])
    assert np.array_equal(held.points_train, whole.points_train[train])
    assert held.input_shape == (1, 8, 8) and held.num_landmarks == 3
    assert "val=5" in repr(held)
    with pytest.raises(OnebitError, match="already has a validation split"):
        held.with_validation(0.1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"points_train": np.zeros((10, 2, 2), np.float32)}, r"points must be a float32 array"),
        ({"points_train": np.zeros((10, 3, 2))}, "float32"),
        ({"x_test": np.zeros((2, 8, 8), np.float32)}, r"\(N, C, H, W\)"),
        ({"x_test": np.full((2, 1, 8, 8), 2, np.float32)}, r"\[0, 1\]"),
        ({"landmarks": ("a", "a", "b")}, "repeat"),
        ({"landmarks": ()}, "non-empty"),
        ({"x_test": np.zeros((2, 1, 9, 8), np.float32)}, "test images are"),
        ({"x_val": np.zeros((1, 1, 8, 8), np.float32)}, "both x_val and points_val"),
    ],
)
def test_bad_arrays_are_refused_by_name(overrides, message) -> None:
    with pytest.raises(OnebitError, match=message):
        splits(**overrides)


def test_points_not_given_are_nan_in_both_coordinates() -> None:
    points = np.zeros((10, 3, 2), np.float32)
    points[0, 1] = np.nan
    assert np.isnan(splits(points_train=points).points_train[0, 1]).all()
    points[0, 1, 0] = 1.0
    with pytest.raises(OnebitError, match="NaN in both coordinates"):
        splits(points_train=points)
    points[0, 1] = np.inf
    with pytest.raises(OnebitError, match="finite or NaN"):
        splits(points_train=points)


def test_digit_points_of_a_drawn_shape() -> None:
    image = np.zeros((7, 9), np.float32)
    image[1, 4] = 1.0  # the top
    image[2:6, 2:7] = 0.8
    image[5, 3] = 0.2  # below the threshold: not stroke
    points = digit_points(image)
    rows, cols = np.nonzero(image >= 0.5)
    weights = image[rows, cols]
    expected_centroid = [np.average(cols, weights=weights), np.average(rows, weights=weights)]
    assert np.allclose(points[0], expected_centroid)
    assert np.array_equal(points[1:], [[4, 1], [4.25, 5], [2, 3.5], [6, 3.5]])
    with pytest.raises(OnebitError, match="no stroke pixel"):
        digit_points(np.zeros((4, 4), np.float32))


def test_placing_a_digit_moves_and_scales_its_points() -> None:
    image = np.zeros((28, 28), np.float32)
    image[6:22, 10:14] = 1.0  # a bar
    placed, points = place_digit(image, 64, 1.0, (5, 9))
    assert np.array_equal(placed[9:37, 5:33], image)
    assert np.allclose(points, digit_points(image) + np.array([5, 9]))
    placed, points = place_digit(image, 64, 2.0, (3, 1))
    # the points of the scaled image itself lie within a pixel of the mapped ones
    assert np.abs(digit_points(placed) - points).max() <= 1.0
    with pytest.raises(OnebitError, match="leaves the 64 canvas"):
        place_digit(image, 64, 2.0, (10, 10))


def test_mnist_landmarks_is_real_digits_placed_reproducibly() -> None:
    data = mnist_landmarks()
    assert data.landmarks == MNIST_LANDMARKS and data.input_shape == (1, 64, 64)
    assert (len(data.x_train), len(data.x_test)) == (4000, 1000)
    assert not np.isnan(data.points_train).any()
    assert data.points_train.min() >= 0 and data.points_train.max() <= 63
    again = mnist_landmarks()
    assert np.array_equal(again.x_test, data.x_test)
    assert np.array_equal(again.points_test, data.points_test)
    assert not np.array_equal(mnist_landmarks(seed=1).points_test, data.points_test)
    for image, points in zip(data.x_test[:50, 0], data.points_test[:50], strict=True):
        seen = digit_points(image)  # the stroke, not noise
        assert np.abs(seen[0] - points[0]).max() <= 1.0
        extremes = [(1, 1), (2, 1), (3, 0), (4, 0)]  # top and bottom y, left and right x
        assert max(abs(seen[i, axis] - points[i, axis]) for i, axis in extremes) <= 1.5
    sides = (data.x_train[:, 0] >= 0.5).any(axis=1).sum(axis=1)
    assert np.median(sides) >= 20 and sides.max() <= 51  # digits 28 * [1, 1.8] high


def write_pts(path, points, one_based=True) -> None:
    lines = ["version: 1", f"n_points:  {len(points)}", "{"]
    lines += [f"{x + one_based:.3f} {y + one_based:.3f}" for x, y in points]
    path.write_text("\n".join([*lines, "}", ""]), encoding="ascii")


def test_read_pts_gives_zero_based_points(tmp_path) -> None:
    path = tmp_path / "face.pts"
    write_pts(path, [(10.0, 20.0), (30.5, 40.25)])
    assert np.array_equal(read_pts(path), [[10.0, 20.0], [30.5, 40.25]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\n{\n1 2\n}\n", "n_points"),
        ("n_points: x\n{\n1 2\n}\n", "n_points"),
        ("n_points: 2\n{\n1 2\n}\n", "n_points is 2 but 1 point lines"),
        ("n_points: 1\n1 2\n", "between a '{' line"),
        ("n_points: 1\n{\n1 two\n}\n", r"point 1 is '1 two'"),
        ("n_points: 1\n{\n1 2 3\n}\n", "not 'x y'"),
        ("n_points: 1\n{\nnan 2\n}\n", "finite"),
        ("\xff\xfe", "cannot read"),
    ],
)
def test_bad_pts_files_are_refused(tmp_path, text, message) -> None:
    path = tmp_path / "bad.pts"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(OnebitError, match=message):
        read_pts(path)


def dotted_image(size: tuple[int, int], points) -> Image.Image:
    """A black grey image with one white pixel at each (integer) point."""
    pixels = np.zeros((size[1], size[0]), np.uint8)
    for x, y in points:
        pixels[int(y), int(x)] = 255
    return Image.fromarray(pixels, mode="L")


def brightest(channel: np.ndarray) -> np.ndarray:
    row, col = np.unravel_index(np.argmax(channel), channel.shape)
    return np.array([col, row], np.float64)


def test_crop_square_maps_points_with_the_pixels() -> None:
    image = dotted_image((40, 30), [(12, 7)])
    pixels, (point,) = crop_square(image, (2.0, -3.0, 20.0), (40, 40), np.array([[12.0, 7.0]]))
    assert pixels.shape == (1, 40, 40) and pixels.dtype == np.float32
    assert np.allclose(point, [(12.5 - 2) * 2 - 0.5, (7.5 + 3) * 2 - 0.5])
    assert np.abs(brightest(pixels[0]) - point).max() <= 1.0


def test_pts_folder_with_split_folders(tmp_path) -> None:
    rng = np.random.default_rng(3)
    for split, count in (("train", 3), ("test", 2)):
        folder = tmp_path / "faces" / split
        folder.mkdir(parents=True)
        for i in range(count):
            points = rng.integers(10, 50, size=(4, 2)).astype(float)
            dotted_image((60, 64), points[:1]).save(folder / f"face{i}.png")
            write_pts(folder / f"face{i}.pts", points)
    data = load_pts_folder(tmp_path / "faces", image_size=32, grayscale=True)
    assert (len(data.x_train), len(data.x_test), data.num_landmarks) == (3, 2, 4)
    assert data.input_shape == (1, 32, 32) and data.landmarks[0] == "point 1"
    for image, points in zip(data.x_train, data.points_train, strict=True):
        assert np.abs(brightest(image[0]) - points[0]).max() <= 1.0
        assert points.min() >= 0 and points.max() <= 31  # the margin keeps them inside
    colour = load_pts_folder(tmp_path / "faces", image_size=(16, 24))
    assert colour.input_shape == (3, 16, 24)


def test_pts_folder_refusals(tmp_path) -> None:
    folder = tmp_path / "faces"
    folder.mkdir()
    with pytest.raises(OnebitError, match=r"no \.pts landmark file"):
        load_pts_folder(folder)
    dotted_image((20, 20), []).save(folder / "a.png")
    write_pts(folder / "a.pts", [(1, 1), (5, 5)])
    dotted_image((20, 20), []).save(folder / "b.png")
    with pytest.raises(OnebitError, match=r"without a .pts file: \['b'\]"):
        load_pts_folder(folder)
    write_pts(folder / "b.pts", [(1, 1)])
    with pytest.raises(OnebitError, match="has 1 points, the files before it 2"):
        load_pts_folder(folder)
    write_pts(folder / "b.pts", [(1, 1), (3, 4)])
    write_pts(folder / "c.pts", [(1, 1), (3, 4)])
    with pytest.raises(OnebitError, match="no image of the same name"):
        load_pts_folder(folder)
    (folder / "c.pts").unlink()
    (folder / "b.png").write_bytes(b"not a png")
    with pytest.raises(OnebitError, match="cannot read image"):
        load_pts_folder(folder)
    dotted_image((20, 20), []).save(folder / "b.png")
    split = load_pts_folder(folder, image_size=8, test_fraction=0.5)
    assert (len(split.x_train), len(split.x_test)) == (1, 1)
    with pytest.raises(OnebitError, match="margin"):
        load_pts_folder(folder, margin=-1)
    with pytest.raises(OnebitError, match="image_size"):
        load_pts_folder(folder, image_size=0)
    (folder / "train").mkdir()
    with pytest.raises(OnebitError, match="not its pair"):
        load_pts_folder(folder)


def coco(images, annotations, names=("nose", "left_eye", "right_eye")) -> dict:
    return {
        "images": [{"id": i, "file_name": name} for i, name in images],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": list(names)}],
    }


def person(image_id, keypoints, bbox) -> dict:
    return {"image_id": image_id, "keypoints": keypoints, "bbox": bbox, "category_id": 1}


def test_coco_keypoints_crop_each_person(tmp_path) -> None:
    root = tmp_path / "pose"
    (root / "img").mkdir(parents=True)
    dotted_image((80, 60), [(20, 15), (50, 40)]).save(root / "img" / "a.png")
    dotted_image((80, 60), [(60, 30)]).save(root / "img" / "b.png")
    train = coco(
        [(1, "img/a.png")],
        [
            person(1, [20, 15, 2, 22, 13, 1, 0, 0, 0], [10, 5, 20, 20]),
            person(1, [50, 40, 2, 0, 0, 0, 53, 38, 2], [40, 30, 20, 20]),
            person(1, [0, 0, 0] * 3, [0, 0, 5, 5]),  # nothing labelled: skipped
        ],
    )
    test = coco(
        [(7, "img/b.png")], [person(7, [60, 30, 2, 61, 28, 2, 58, 28, 2], [50, 20, 20, 20])]
    )
    (root / "train.json").write_text(json.dumps(train))
    (root / "test.json").write_text(json.dumps(test))
    data = load_coco_keypoints(root, image_size=50, grayscale=True)
    assert data.landmarks == ("nose", "left_eye", "right_eye")
    assert (len(data.x_train), len(data.x_test)) == (2, 1)
    assert np.isnan(data.points_train[0, 2]).all() and np.isnan(data.points_train[1, 1]).all()
    for image, points in zip(
        np.concatenate([data.x_train, data.x_test]),
        np.concatenate([data.points_train, data.points_test]),
        strict=True,
    ):
        assert np.abs(brightest(image[0]) - points[0]).max() <= 1.0
    # the box grown by 1/8 of its side on each side: 25 pixels of the image become 50
    assert np.allclose(data.points_train[0, 1] - data.points_train[0, 0], [4, -4])


def test_coco_keypoint_refusals(tmp_path) -> None:
    root = tmp_path / "pose"
    root.mkdir()
    with pytest.raises(OnebitError, match="holds neither"):
        load_coco_keypoints(root)
    single = root / "keypoints.json"
    single.write_text("{not json")
    with pytest.raises(OnebitError, match="cannot read keypoint file"):
        load_coco_keypoints(root)
    single.write_text(json.dumps({"images": []}))
    with pytest.raises(OnebitError, match="not COCO keypoints"):
        load_coco_keypoints(root)
    dotted_image((20, 20), [(5, 5)]).save(root / "a.png")
    cases = [
        (person(1, [1, 2, 2], [0, 0, 5, 5]), "must be 9 finite numbers"),
        (person(1, [1, 2, 2] * 3, [0, 0, -5, 5]), "w, h >= 0"),
        (person(2, [1, 2, 2] * 3, [0, 0, 5, 5]), "image_id 2 is not among"),
        ({"keypoints": [1, 2, 2] * 3}, "needs keypoints, bbox"),
    ]
    for annotation, message in cases:
        single.write_text(json.dumps(coco([(1, "a.png")], [annotation])))
        with pytest.raises(OnebitError, match=message):
            load_coco_keypoints(root)
    single.write_text(
        json.dumps(coco([(1, "../outside.png")], [person(1, [1, 2, 2] * 3, [0] * 4)]))
    )
    with pytest.raises(OnebitError, match="leaves"):
        load_coco_keypoints(root)
    single.write_text(json.dumps(coco([(1, "a.png")], [person(1, [0, 0, 0] * 3, [0] * 4)])))
    with pytest.raises(OnebitError, match="no annotation with a labelled keypoint"):
        load_coco_keypoints(root)
    people = [person(1, [5, 5, 2] * 3, [0, 0, 10, 10]) for _ in range(4)]
    single.write_text(json.dumps(coco([(1, "a.png")], people)))
    data = load_coco_keypoints(root, image_size=16, test_fraction=0.25)
    assert (len(data.x_train), len(data.x_test)) == (3, 1) and data.input_shape == (3, 16, 16)
