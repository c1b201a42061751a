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


# --- issue 18.3: what a picture holds decides what is ink ----------------------------------------

def mnist_seven(images, labels, model):
    """The first test-set 7 the shipped model reads right, as a big upright photo: dark ink on white."""
    index = next(i for i in range(len(labels)) if labels[i] == 7
                 and model.predict(images[i:i + 1])[0] == 7 and model.predict(np.rot90(images[i:i + 1], 1, (2, 3)))[0] != 7)
    return np.clip(1 - sc.resize_image(images[index, 0], 280, 280), 0, 1)


def test_jpeg_exif_orientation_is_applied(mnist_test, tmp_path):
    """A phone stores an upright photo sideways with an Orientation tag (6: turn it 90 degrees
    clockwise to show it); read as stored, the 7 lies on its side and is not read as a 7."""
    from PIL import Image
    images, labels = mnist_test
    model = sc.load_model(sc.DEFAULT_MODEL_PATH)
    upright = mnist_seven(images, labels, model)
    stored = np.rot90(upright, 1)                               # what the camera's sensor wrote
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray((255 * stored).astype(np.uint8)).save(tmp_path / "seven.jpg", exif=exif, quality=95)
    picture = sc.read_picture(tmp_path / "seven.jpg")
    assert picture.shape == upright.shape
    assert np.abs(sc.to_grey(picture) - upright).mean() < 0.02       # JPEG's loss only
    assert model.predict(sc.preprocess_digit(picture)[None, None])[0] == 7
    sideways = np.asarray(Image.open(tmp_path / "seven.jpg"), dtype=float) / 255
    assert model.predict(sc.preprocess_digit(sideways)[None, None])[0] != 7


def test_white_ink_on_a_transparent_background_is_ink(mnist_test, tmp_path):
    from PIL import Image
    images, labels = mnist_test
    model = sc.load_model(sc.DEFAULT_MODEL_PATH)
    read = []
    for index in range(20):
        alpha = sc.resize_image(images[index, 0], 112, 112)
        drawing = np.concatenate([np.ones((112, 112, 3)), alpha[..., None]], axis=2)   # white, opaque where drawn
        processed = sc.preprocess_digit(drawing)
        np.testing.assert_allclose(processed, sc.preprocess_digit(alpha), atol=1e-6)  # white ink on black
        read.append(model.predict(processed[None, None])[0] == labels[index])
        black_ink = drawing.copy()
        black_ink[..., :3] = 0                                 # the same strokes in black: the same digit
        np.testing.assert_allclose(sc.preprocess_digit(black_ink), processed, atol=1e-6)
    assert np.mean(read) >= 0.9
    Image.fromarray((255 * drawing).astype(np.uint8), "RGBA").save(tmp_path / "white.png")
    picture = sc.read_picture(tmp_path / "white.png")
    assert picture.shape == (112, 112, 4)
    np.testing.assert_allclose(sc.preprocess_digit(picture), processed, atol=0.02)     # 8 bits of alpha
    with pytest.raises(ValueError, match="blank"):             # nothing opaque: blank indeed
        sc.preprocess_digit(np.concatenate([np.ones((20, 20, 3)), np.zeros((20, 20, 1))], axis=2))


def test_negative_valued_images_are_not_blank(mnist_test):
    images, labels = mnist_test
    model = sc.load_model(sc.DEFAULT_MODEL_PATH)
    read = []
    for index in range(20):
        digit = sc.resize_image(images[index, 0], 84, 84)
        normalised = (digit - 0.1307) / 0.3081                  # as torchvision's MNIST examples normalise
        np.testing.assert_allclose(sc.preprocess_digit(normalised), sc.preprocess_digit(digit), atol=1e-6)
        processed = sc.preprocess_digit(-digit)                 # dark ink on paper at 0
        np.testing.assert_allclose(processed, sc.preprocess_digit(digit), atol=1e-6)
        read.append(model.predict(processed[None, None])[0] == labels[index])
    assert np.mean(read) >= 0.9
    assert sc.to_grey(np.array([[-3.0, 1.0], [5.0, -3.0]])).tolist() == [[0.0, 0.5], [1.0, 0.0]]


def test_to_grey_scales_integers_by_their_type(tmp_path):
    from PIL import Image
    assert sc.to_grey(np.array([[0, 255]], np.uint8)).tolist() == [[0.0, 1.0]]
    assert sc.to_grey(np.array([[0, 65535]], np.uint16)).tolist() == [[0.0, 1.0]]
    Image.fromarray(np.array([[0, 32768, 65535]], np.uint16)).save(tmp_path / "deep.png")   # 16-bit grey
    np.testing.assert_allclose(sc.read_picture(tmp_path / "deep.png"), [[0, 0.5, 1]], atol=1e-4)
