"""The exercise checks of notebook 09 (play with it): the notebook's solution passes,
typical wrong answers are each told their own mistake, and an unanswered exercise
says "not implemented yet". Also: preprocess_digit puts digits where MNIST has them."""
import numpy as np
import pytest

import scratchcnn
from course_machinery import checks
from exercise_helpers import assert_named, not_implemented
from notebook_answers import solutions

EXERCISES = ["crop_to_ink", "centre_of_mass", "feature_map_shapes", "most_confident_mistake"]


@pytest.mark.parametrize("name", EXERCISES)
def test_notebook_solution_passes(name):
    result = getattr(checks, f"check_{name}")(solutions("09")[name])
    assert result, result.message
    assert "pass" in result.message


@pytest.mark.parametrize("name", EXERCISES)
def test_unanswered_exercise_says_not_implemented(name):
    result = getattr(checks, f"check_{name}")(not_implemented)
    assert not result and result.message.endswith("not implemented yet")


# --- typical wrong answers, as a student writes them ------------------------------------

def crop(image, threshold=lambda image: 0.1 * image.max(), end=1):
    rows, cols = np.nonzero(image > threshold(image))
    return image[rows.min():rows.max() + end, cols.min():cols.max() + end]


def centre(image, offset=0.0, swap=False, weighted=True):
    rows, cols = np.indices(image.shape)
    if weighted:
        result = (rows * image).sum() / image.sum() + offset, (cols * image).sum() / image.sum() + offset
    else:
        ink_rows, ink_cols = np.nonzero(image)
        result = ink_rows.mean(), ink_cols.mean()
    return result[::-1] if swap else result


def surest_mistake(probabilities, labels, confidence="predicted", among_mistakes=True, position=False):
    predictions = probabilities.argmax(axis=1)
    candidates = np.flatnonzero(predictions != labels) if among_mistakes else np.arange(len(labels))
    if confidence == "predicted":
        score = probabilities[candidates].max(axis=1)
    else:
        score = probabilities[candidates, labels[candidates]]
    best = np.argmax(score)
    return best if position else candidates[best]


WRONG = [
    ("crop_to_ink", lambda image: crop(image, end=0), "without + 1"),
    ("crop_to_ink", lambda image: crop(image, threshold=lambda image: 0.1), "an absolute threshold"),
    ("crop_to_ink", lambda image: crop(image, threshold=lambda image: 0), "every nonzero pixel"),
    ("centre_of_mass", lambda image: centre(image, swap=True), "axes swapped"),
    ("centre_of_mass", lambda image: centre(image, offset=0.5), "+0.5 pixel-centre convention"),
    ("centre_of_mass", lambda image: centre(image, weighted=False), "not weighted by their brightness"),
    ("feature_map_shapes", lambda: ((8, 26, 26), (16, 11, 11)), "no padding"),
    ("feature_map_shapes", lambda: ((1, 8, 28, 28), (1, 16, 14, 14)), "batch axis included"),
    ("feature_map_shapes", lambda: ((8, 14, 14), (16, 7, 7)), "after max-pooling"),
    ("most_confident_mistake", lambda p, y: surest_mistake(p, y, among_mistakes=False), "right or wrong"),
    ("most_confident_mistake", lambda p, y: surest_mistake(p, y, confidence="true"), "TRUE class"),
    ("most_confident_mistake", lambda p, y: surest_mistake(p, y, position=True), "position among the mistakes"),
]


@pytest.mark.parametrize("name, answer, mistake", WRONG, ids=[f"{w[0]}-{w[2]}" for w in WRONG])
def test_typical_mistake_is_named(name, answer, mistake):
    assert_named(getattr(checks, f"check_{name}"), answer, mistake)


def test_centre_of_mass_accepts_lists_and_arrays():
    solution = solutions("09")["centre_of_mass"]
    assert checks.check_centre_of_mass(lambda image: list(solution(image)))
    assert checks.check_centre_of_mass(lambda image: np.array(solution(image)))


def test_crop_reference_is_the_preprocessing_step():
    """The check's reference is preprocess_digit's own crop, so the exercise and the library agree."""
    images, _ = scratchcnn.load_mnist("test")
    solution = solutions("09")["crop_to_ink"]
    for digit in images[:5, 0]:
        _, steps = scratchcnn.preprocess_digit(digit, return_steps=True)
        np.testing.assert_array_equal(solution(steps["ink"]), steps["cropped"])


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
