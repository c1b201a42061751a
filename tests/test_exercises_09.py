"""The exercise checks of notebook 09 (play with it): the reference solution passes,
a typical wrong answer fails with a message naming the case, "expected" and the hint,
and an unanswered exercise prints "not implemented yet"."""
import numpy as np
import pytest

import scratchcnn


def not_implemented(*args):
    raise NotImplementedError()


# --- reference solutions (as in the notebook) ------------------------------------

def crop_to_ink(image):
    rows, cols = np.nonzero(image > 0.1 * image.max())
    return image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def centre_of_mass(image):
    rows, cols = np.indices(image.shape)
    total = image.sum()
    return (rows * image).sum() / total, (cols * image).sum() / total


def feature_map_shapes():
    return (8, 28, 28), (16, 14, 14)


def most_confident_mistake(probabilities, labels):
    predictions = probabilities.argmax(axis=1)
    mistakes = np.flatnonzero(predictions != labels)
    return mistakes[np.argmax(probabilities[mistakes].max(axis=1))]


# --- typical mistakes ----------------------------------------------------------------

def crop_without_plus_one(image):
    rows, cols = np.nonzero(image > 0.1 * image.max())
    return image[rows.min():rows.max(), cols.min():cols.max()]


def crop_absolute_threshold(image):
    rows, cols = np.nonzero(image > 0.1)
    return image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def crop_any_nonzero(image):
    rows, cols = np.nonzero(image)
    return image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def centre_swapped(image):
    row, col = centre_of_mass(image)
    return col, row


def centre_unweighted(image):
    rows, cols = np.nonzero(image)
    return rows.mean(), cols.mean()


def shapes_without_padding():
    return (8, 26, 26), (16, 11, 11)


def shapes_with_batch_axis():
    return (1, 8, 28, 28), (1, 16, 14, 14)


def surest_overall(probabilities, labels):
    return int(np.argmax(probabilities.max(axis=1)))


def lowest_true_class_probability(probabilities, labels):
    mistakes = np.flatnonzero(probabilities.argmax(axis=1) != labels)
    return mistakes[np.argmin(probabilities[mistakes, labels[mistakes]])]


def position_among_mistakes(probabilities, labels):
    mistakes = np.flatnonzero(probabilities.argmax(axis=1) != labels)
    return int(np.argmax(probabilities[mistakes].max(axis=1)))


def last_on_a_tie(probabilities, labels):
    mistakes = np.flatnonzero(probabilities.argmax(axis=1) != labels)
    confidence = probabilities[mistakes].max(axis=1)
    return mistakes[len(confidence) - 1 - np.argmax(confidence[::-1])]


CHECKS = {
    "crop_to_ink": (scratchcnn.check_crop_to_ink, crop_to_ink),
    "centre_of_mass": (scratchcnn.check_centre_of_mass, centre_of_mass),
    "feature_map_shapes": (scratchcnn.check_feature_map_shapes, feature_map_shapes),
    "most_confident_mistake": (scratchcnn.check_most_confident_mistake, most_confident_mistake),
}

WRONG = [
    # (check, wrong answer, the failing case, a phrase of its hint)
    ("crop_to_ink", crop_without_plus_one, "a 3 x 4 block of ink", "slice ends are exclusive"),
    ("crop_to_ink", crop_absolute_threshold, "a dim drawing", "the threshold is relative"),
    ("crop_to_ink", crop_any_nonzero, "a faint smudge", "brighter than 10% of the brightest pixel"),
    ("centre_of_mass", centre_swapped, "one pixel at row 2, column 5", "return (row, column)"),
    ("centre_of_mass", centre_unweighted, "a bright pixel (1.0) and a dim one", "weight each position"),
    ("feature_map_shapes", shapes_without_padding, "the reference CNN", "padding 1 keeps the size"),
    ("feature_map_shapes", shapes_with_batch_axis, "the reference CNN", "without the batch axis"),
    ("most_confident_mistake", surest_overall, "four images, one mistake", "return that image's index"),
    ("most_confident_mistake", lowest_true_class_probability, "confidence is the probability of the predicted",
     "not probabilities[n, labels[n]]"),
    ("most_confident_mistake", position_among_mistakes, "four images, one mistake", "position among the mistakes"),
    ("most_confident_mistake", last_on_a_tie, "a tie between two mistakes", "return the first index"),
]


@pytest.mark.parametrize("name", CHECKS)
def test_reference_solution_passes(name, capsys):
    check, solution = CHECKS[name]
    assert check(solution)
    assert "pass" in capsys.readouterr().out


@pytest.mark.parametrize("name, answer, case, hint", WRONG, ids=[f"{w[0]}-{w[1].__name__}" for w in WRONG])
def test_typical_mistake_fails_with_case_expected_and_hint(name, answer, case, hint, capsys):
    check, _ = CHECKS[name]
    assert not check(answer)
    out = capsys.readouterr().out
    assert out.startswith(f"{name}: case '{case}")
    assert "expected" in out and "hint:" in out and hint in out


@pytest.mark.parametrize("name", CHECKS)
def test_unanswered_exercise_says_not_implemented(name, capsys):
    check, _ = CHECKS[name]
    assert not check(not_implemented)
    assert capsys.readouterr().out.strip() == f"{name}: not implemented yet"


def test_centre_of_mass_accepts_lists_and_arrays(capsys):
    assert scratchcnn.check_centre_of_mass(lambda image: list(centre_of_mass(image)))
    assert scratchcnn.check_centre_of_mass(lambda image: np.array(centre_of_mass(image)))


def test_crop_reference_is_the_preprocessing_step():
    """The check's reference is preprocess_digit's own crop, so the exercise and the library agree."""
    images, _ = scratchcnn.load_mnist("test")
    for digit in images[:5, 0]:
        _, steps = scratchcnn.preprocess_digit(digit, return_steps=True)
        np.testing.assert_array_equal(crop_to_ink(steps["ink"]), steps["cropped"])
