import itertools

import numpy as np
import pytest

from sharenas.data.mnist_scenes import Layout, rasterize, render_scenes
from sharenas.data.multimnist import compose, horizontal_bands
from sharenas.data.synthetic_mmoe import generate_mmoe


@pytest.mark.parametrize(("free", "digits"), [(8, 2), (8, 3), (12, 3), (28, 2)])
def test_bands_are_ordered_disjoint_and_cover_the_range(free: int, digits: int) -> None:
    bands = horizontal_bands(free, digits)
    assert bands[0][0] == 0 and bands[-1][1] == free
    for (lo, hi), (next_lo, _) in itertools.pairwise(bands):
        assert lo <= hi and next_lo == hi + 1


@pytest.mark.parametrize("digits", [2, 3])
def test_multimnist_canvases_hold_the_labelled_digits(fake_digits, digits: int) -> None:
    images, labels = fake_digits
    out = compose(images, labels, digits, 36, np.random.default_rng(0))
    assert out["x"].shape == (200, 1, 36, 36) and out["x"].dtype == np.uint8
    positions = ["left", "middle", "right"] if digits == 3 else ["left", "right"]
    assert set(out) == {"x", *positions}
    np.testing.assert_array_equal(out["left"], labels)  # left digit i is digit i
    assert out["x"].max() == 255
    # every canvas holds at least as much ink as its largest digit
    ink = (out["x"][:, 0] > 0).sum((1, 2))
    assert np.all(ink >= (images > 0).sum((1, 2)))


def test_multimnist_is_deterministic_in_seed(fake_digits) -> None:
    images, labels = fake_digits
    a = compose(images, labels, 2, 36, np.random.default_rng([0, 0]))
    b = compose(images, labels, 2, 36, np.random.default_rng([0, 0]))
    c = compose(images, labels, 2, 36, np.random.default_rng([1, 0]))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["x"], c["x"])


def test_single_digit_placed_in_its_band() -> None:
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, :, 0] = 255  # a vertical stroke on the digit's first column
    out = compose(image, np.array([3]), 2, 36, np.random.default_rng(0))
    columns = np.nonzero(out["x"][0, 0].max(0))[0]
    (left_lo, left_hi), (right_lo, right_hi) = horizontal_bands(8, 2)
    assert left_lo <= columns.min() <= left_hi
    assert right_lo <= columns.max() <= right_hi


def test_scenes_targets_are_consistent(fake_digits) -> None:
    images, labels = fake_digits
    out = render_scenes(images, labels, 40, 48, 2, 4, np.random.default_rng(0))
    assert out["x"].shape == (40, 1, 48, 48)
    assert out["segmentation"].shape == (40, 48, 48)
    assert out["depth"].shape == (40, 1, 48, 48) and out["normal"].shape == (40, 3, 48, 48)
    seg = out["segmentation"]
    assert seg.max() <= 10 and (seg > 0).any() and (seg == 0).any()
    depth = out["depth"].astype(np.float32)[:, 0]
    assert depth.min() > 0
    assert depth[seg > 0].max() < depth[seg == 0].min()  # digits stand in front of the background
    norms = np.linalg.norm(out["normal"].astype(np.float32), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=2e-3)
    assert (out["normal"][:, 2] > 0).all()  # every surface faces the viewer


def test_scenes_nearest_digit_occludes() -> None:
    """Two overlapping full-box digits: the nearer one is seen, with its own depth and normal."""
    images = np.full((2, 28, 28), 255, np.uint8)
    labels = np.array([3, 7])
    layout = Layout(
        active=np.array([[True, True]]),
        pick=np.array([[0, 1]]),
        half=np.array([[0.5, 0.5]]),
        angle=np.zeros((1, 2)),
        centre=np.array([[[-0.2, 0.0], [0.2, 0.0]]]),
        slope=np.array([[[0.0, 0.0], [0.5, 0.0]]]),
        z0=np.array([[5.0, 3.0]]),  # the digit labelled 7 is nearer
        bg_slope=np.zeros((1, 2)),
    )
    out = rasterize(images, labels, layout, 40)
    seg = out["segmentation"][0]
    depth = out["depth"][0, 0].astype(np.float32)
    middle = 20  # pixel column at u = 0.0125, inside both boxes
    assert seg[20, middle] == 8
    np.testing.assert_allclose(depth[20, middle], 3.0 + 0.5 * (0.0125 - 0.2), atol=1e-2)
    assert seg[20, 10] == 4  # u = -0.4875: only the far digit covers it
    np.testing.assert_allclose(depth[20, 10], 5.0, atol=1e-2)
    assert seg[20, 39] == 0 and depth[20, 39] == 12.0  # background
    expected = np.array([-0.5, 0.0, 1.0]) / np.linalg.norm([-0.5, 0.0, 1.0])
    np.testing.assert_allclose(out["normal"][0, :, 20, middle].astype(float), expected, atol=2e-3)


def test_scenes_deterministic(fake_digits) -> None:
    images, labels = fake_digits
    a = render_scenes(images, labels, 10, 32, 2, 3, np.random.default_rng(5))
    b = render_scenes(images, labels, 10, 32, 2, 3, np.random.default_rng(5))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_mmoe_deterministic_and_correlation_controls_similarity() -> None:
    x1, y1 = generate_mmoe(2000, 0.5, seed=3)
    x2, y2 = generate_mmoe(2000, 0.5, seed=3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert x1.shape == (2000, 100) and y1.shape == (2000, 2)
    _, same = generate_mmoe(2000, 1.0, seed=3)
    np.testing.assert_allclose(same[:, 0], same[:, 1], atol=0.1)  # only the noise differs
    correlations = []
    for p in (0.0, 0.5, 0.9):
        _, y = generate_mmoe(20000, p, seed=1)
        correlations.append(np.corrcoef(y[:, 0], y[:, 1])[0, 1])
    assert correlations[0] < correlations[1] < correlations[2]


def test_multimnist_corners_are_sener_and_koltuns_placement(fake_digits) -> None:
    from sharenas.data.multimnist import MultiMnistConfig, compose_corners

    images, labels = fake_digits
    out = compose_corners(images, labels, 36, np.random.default_rng(0))
    np.testing.assert_array_equal(out["left"], labels)
    partner = [int(np.nonzero(labels == r)[0][0]) for r in out["right"]]  # a digit of that label
    assert all(labels[p] == r for p, r in zip(partner, out["right"], strict=True))
    canvas = out["x"][:, 0]
    np.testing.assert_array_equal(canvas[:, :6, :28], images[:, :6, :])  # only the left digit
    assert canvas[:, 28:, :].max() > 0 and canvas[:, 34:, :].max() == 0  # right digit ends at 34
    with pytest.raises(ValueError, match="corners"):
        MultiMnistConfig(layout="corners", digits=3)
