"""Notebook 09's preprocessing puts digits where MNIST has them. (The exercise checks of
notebook 09 are tested in tests/test_check_mistakes_07_11.py and tests/test_checks.py.)"""
import numpy as np

import scratchcnn


def test_preprocess_digit_puts_the_centre_of_mass_where_mnist_has_it():
    """MNIST's digits have their centre of mass at (14, 14) (notebook 09 measures it);
    preprocess_digit puts a drawing's there too, within the half pixel that rounding allows."""
    images, _ = scratchcnn.load_mnist("test")
    centres = np.array([scratchcnn.centre_of_mass(image[0]) for image in images[:2000]])
    np.testing.assert_allclose(centres.mean(axis=0), scratchcnn.MNIST_CENTRE_OF_MASS, atol=0.05)
    for digit in images[:50, 0]:
        drawing = np.zeros((200, 150))
        drawing[20:160, 10:150] = scratchcnn.resize_image(digit, 140, 140)   # big and off-centre
        processed = scratchcnn.preprocess_digit(drawing)
        offset = np.array(scratchcnn.centre_of_mass(processed)) - scratchcnn.MNIST_CENTRE_OF_MASS
        assert np.all(np.abs(offset) <= 0.5 + 1e-9), offset
