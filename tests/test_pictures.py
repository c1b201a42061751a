"""Section 8 of the textbook, pictures: preprocessing a drawn digit like MNIST."""

import numpy as np
import pytest

import scratchcnn as sc


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def mnist_test():
    return sc.load_mnist("test")


def test_preprocess_digit_centres_and_scales(mnist_test):
    images, labels = mnist_test
    model = sc.load_model(sc.DEFAULT_MODEL_PATH)
    # Dark ink on light paper, drawn small in a corner of a big canvas:
    for index in range(20):
        canvas = np.ones((120, 90, 3))
        digit = sc.resize_image(images[index, 0], 56, 56)
        canvas[5:61, 3:59] -= digit[..., None]
        processed = sc.preprocess_digit(canvas)
        assert processed.shape == (28, 28) and processed.dtype == np.float32
        rows, cols = np.nonzero(processed > 0.1)
        assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 21
        assert np.all(np.abs(np.array(sc.centre_of_mass(processed)) - 13.5) <= 1.0)
    predictions = model.predict(np.stack([sc.preprocess_digit(1 - np.repeat(images[i, 0, :, :, None], 3, axis=2))
                                          for i in range(100)])[:, None])
    assert np.mean(predictions == labels[:100]) >= 0.95
    with pytest.raises(ValueError, match="blank"):
        sc.preprocess_digit(np.ones((30, 30)))


def test_centre_of_mass():
    image = np.zeros((3, 5))
    image[0, 4], image[2, 0] = 1.0, 3.0
    assert sc.centre_of_mass(image) == (1.5, 1.0)


def test_resize_image_preserves_mean():
    image = rng(0).random((37, 23))
    assert abs(sc.resize_image(image, 20, 11).mean() - image.mean()) < 1e-12
    np.testing.assert_allclose(sc.resize_image(image, 37, 23), image)


def test_read_picture_reads_a_png_and_names_what_is_wrong(tmp_path):
    import matplotlib.image
    picture = np.zeros((12, 9))
    picture[3:9, 4] = 1
    path = tmp_path / "digit.png"
    matplotlib.image.imsave(path, picture, cmap="gray", vmin=0, vmax=1)
    image = sc.read_picture(path)
    assert image.shape[:2] == (12, 9)
    np.testing.assert_allclose(sc.to_grey(image), picture, atol=1e-2)
    with pytest.raises(ValueError, match="does not exist"):
        sc.read_picture(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="is a folder"):
        sc.read_picture(tmp_path)
    (tmp_path / "text.png").write_text("not a picture")
    with pytest.raises(ValueError, match="cannot read picture .*Save it as a PNG or JPEG"):
        sc.read_picture(tmp_path / "text.png")


def test_preprocess_digit_puts_the_centre_of_mass_where_mnist_has_it():
    """MNIST's digits have their centre of mass at (14, 14) (notebook 09 measures it);
    preprocess_digit puts a drawing's there too, within the half pixel that rounding allows."""
    images, _ = sc.load_mnist("test")
    centres = np.array([sc.centre_of_mass(image[0]) for image in images[:2000]])
    np.testing.assert_allclose(centres.mean(axis=0), sc.MNIST_CENTRE_OF_MASS, atol=0.05)
    for digit in images[:50, 0]:
        drawing = np.zeros((200, 150))
        drawing[20:160, 10:150] = sc.resize_image(digit, 140, 140)   # big and off-centre
        processed = sc.preprocess_digit(drawing)
        offset = np.array(sc.centre_of_mass(processed)) - sc.MNIST_CENTRE_OF_MASS
        assert np.all(np.abs(offset) <= 0.5 + 1e-9), offset
