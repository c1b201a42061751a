"""Tests of the exercise checks of notebooks 01-03 (scratchcnn.check_*).

For every exercise: the notebook's own solution passes its check, and typical wrong answers, written the
way a student writes them (the solution with one slip), are each told their own mistake by name. A few
checks are also fed junk: None, strings, ragged lists, exceptions, an endless loop, in-place edits.
"""

import functools

import numpy as np
import pytest

import scratchcnn
from course_machinery import checks
from course_machinery import plots
from course_machinery.checks import framework
from notebook_answers import mutated, solutions

NOTEBOOKS = ("01", "02", "03")
SOLVED = [(notebook, name) for notebook in NOTEBOOKS for name in solutions(notebook)]


def check(name, answer):
    return getattr(checks, f"check_{name}")(answer)


@pytest.mark.parametrize("notebook, name", SOLVED, ids=[name for _, name in SOLVED])
def test_the_notebook_solution_passes(notebook, name):
    result = check(name, solutions(notebook)[name])
    assert result, result.message
    assert "pass" in result.message and "warning" not in result.message


@pytest.mark.parametrize("notebook, name", SOLVED, ids=[name for _, name in SOLVED])
def test_an_unanswered_exercise_says_not_implemented(notebook, name):
    def unanswered(*args):
        raise NotImplementedError()

    result = check(name, unanswered)
    assert not result and "not implemented yet" in result.message


def slip(notebook, name, old, new, count=1):
    """The notebook's solution with one slip: (name, wrong answer)."""
    return name, mutated(notebook, name, old, new, count)


# (exercise, wrong answer, words of the mistake's name the message must contain)
MISTAKES = [
    # --- notebook 01
    (*slip("01", "parse_idx_header", '"big"', '"little"', 2), "little-endian"),
    (*slip("01", "parse_idx_header", "ndim = data[3]", "ndim = data[2]"), "read from byte 2"),
    (*slip("01", "parse_idx_header", "range(ndim)", "range(3)"), "three dimensions hard-coded"),
    (*slip("01", "predicted_image_bytes", "60000 * 28 * 28", "16 + 60000 * 28 * 28"), "header bytes counted"),
    (*slip("01", "predicted_image_bytes", "60000 * 28 * 28", "4 * 60000 * 28 * 28"), "4 bytes per pixel"),
    (*slip("01", "class_counts", "counts[label] += 1", "counts[label] = 1"), "counts[label] = 1 instead of"),
    ("class_counts", lambda labels, num_classes=10: np.bincount(labels), "without minlength"),
    ("class_counts", lambda labels, num_classes=10: np.unique(labels, return_counts=True)[1], "np.unique"),
    (*slip("01", "mean_image_per_class", ".mean(axis=0)", ".sum(axis=0) / (len(images) / num_classes)"),
     "N / num_classes"),
    (*slip("01", "mean_image_per_class", ".mean(axis=0)", ".mean()"), "the mean over the pixels too"),
    (*slip("01", "to_network_input", "/ np.float32(255.0)", "// 255"), "integer division"),
    (*slip("01", "to_network_input", "[:, None, :, :]", "[..., None]"), "channel axis added last"),
    (*slip("01", "nearest_mean_predict", "distances.argmin()", "distances.argmax()"), "argmax of the distances"),
    ("nearest_mean_predict", lambda images, means: np.argmax(images @ means.T, axis=1), "largest dot product"),
    # --- notebook 02
    (*slip("02", "output_size", "H + 2 * p - k", "H + p - k"), "one side only"),
    (*slip("02", "output_size", "// s", "/ s"), "true division"),
    (*slip("02", "output_size", "// s + 1", "// s"), "off by one"),
    (*slip("02", "conv2d_single", "* kernel)", "* kernel[::-1, ::-1])"), "kernel flipped"),
    (*slip("02", "conv2d_single", "np.pad(image, padding)", "image"), "padding ignored"),
    (*slip("02", "conv2d_single", "padded[stride * y:stride * y + k, stride * x:stride * x + k]",
           "padded[y:y + k, x:x + k]"), "stride ignored"),
    ("predicted_output_shape", lambda: (4, 3, 15, 15), "3 channels instead of the 8 filters"),
    ("predicted_output_shape", lambda: (4, 8, 30, 30), "stride ignored"),
    ("predicted_output_shape", lambda: (4, 15, 15, 8), "channels last"),
    (*slip("02", "im2col_shape", "(C * k * k,", "(k * k,"), "channels left out"),
    (*slip("02", "im2col_shape", "N * ((H", "((H"), "batch left out"),
    (*slip("02", "conv2d_forward_loops", "np.sum(patch * W[f])", "np.sum(patch * W[f, :, ::-1, ::-1])"),
     "kernel flipped"),
    (*slip("02", "conv2d_forward_loops", " + b[f]", ""), "bias forgotten"),
    (*slip("02", "conv2d_forward_loops", "x_pad[n, :, s * y:s * y + k, s * x_:s * x_ + k]",
           "x_pad[n, :, y:y + k, x_:x_ + k]"), "stride ignored"),
    (*slip("02", "conv2d_forward_loops", "np.sum(patch * W[f])", "np.sum(patch[0] * W[f, 0])"),
     "only the first channel"),
    # --- notebook 03
    (*slip("03", "col2im_loops", "] += cols[row, column]", "] = cols[row, column]"), "= instead of +="),
    (*slip("03", "col2im_loops", "u * W_out + v", "u * H_out + v"), "H' where W' belongs"),
    (*slip("03", "col2im_loops", "c * k * k + i * k + j", "c * k * k + j * k + i"), "i and j swapped"),
    (*slip("03", "col2im_loops", "return dx_padded[:, :, p:p + H, p:p + W]", "return dx_padded"),
     "padding not cropped"),
    (*slip("03", "bias_gradient", "dout.sum(axis=(0, 2, 3))", "dout.mean(axis=(0, 2, 3))"), "the mean instead"),
    (*slip("03", "bias_gradient", "dout.sum(axis=(0, 2, 3))", "dout.sum(axis=(1, 2, 3))"), "wrong axis"),
    (*slip("03", "bias_gradient", "dout.sum(axis=(0, 2, 3))", "dout.sum(axis=(2, 3))"), "not summed over the batch"),
    ("predicted_gradients_1d", lambda: ([2.0, -4.0, -1.0], np.correlate([0, 0, 1.0, 0, -1.0, 0, 0], [1.0, -2.0, 3.0])),
     "kernel not flipped"),
    ("predicted_gradients_1d", lambda: ([1.0, -2.0, 2.0, 2.0, -3.0], [2.0, -4.0, -1.0]), "swapped"),
    (*slip("03", "conv_backward_single", "dpadded[s * u:s * u + k, s * v:s * v + k] += dout[u, v] * kernel",
           "dpadded[s * u:s * u + k, s * v:s * v + k] = dout[u, v] * kernel"), "into dimage"),
    (*slip("03", "conv_backward_single", "dout[u, v] * kernel\n", "dout[u, v] * kernel[::-1, ::-1]\n"),
     "kernel flipped in dimage"),
    (*slip("03", "conv_backward_single", "return dpadded[p:p + image.shape[0], p:p + image.shape[1]], dkernel",
           "return dpadded, dkernel"), "padding not cropped"),
    (*slip("03", "my_relative_error", "np.maximum(np.abs(analytic) + np.abs(numeric), 1e-12)",
           "(np.abs(analytic) + np.abs(numeric))"), "no floor"),
    (*slip("03", "my_relative_error", "np.abs(analytic) + np.abs(numeric)", "np.abs(analytic + numeric)"),
     "|a + n| instead of |a| + |n|"),
    (*slip("03", "my_relative_error", "return np.max(", "return np.mean("), "the mean instead of the maximum"),
    (*slip("03", "conv2d_backward_loops", "dx_pad[window] += ", "dx_pad[window] = "), "= instead of += in dx"),
    (*slip("03", "conv2d_backward_loops", "dout[n, f, u, v] * W[f]", "dout[n, f, u, v] * W[f, :, ::-1, ::-1]"),
     "NOT flipped"),
    (*slip("03", "conv2d_backward_loops", "slice(s * u, s * u + k), slice(s * v, s * v + k)",
           "slice(u, u + k), slice(v, v + k)"), "stride ignored"),
    (*slip("03", "conv2d_backward_loops", "dW, db\n", "dW, db / dout[:, 0].size\n"), "db as the mean"),
    (*slip("03", "dilate", "(N, F, s * (H_out - 1) + 1, s * (W_out - 1) + 1)", "(N, F, s * H_out, s * W_out)"),
     "after the last entry too"),
    ("dilate", lambda G, s: np.repeat(np.repeat(G, s, axis=2), s, axis=3), "np.repeat"),
    (*slip("03", "conv2d_backward_by_correlation", "W[:, :, ::-1, ::-1].transpose", "W.transpose"), "NOT flipped"),
    (*slip("03", "conv2d_backward_by_correlation", "G = dilate(dout, stride)", "G = dout"), "not dilated"),
    (*slip("03", "conv2d_backward_by_correlation", "[:, :, :k, :k]", ""), "not cut to the first k"),
]


@pytest.mark.parametrize("name, wrong, words", MISTAKES,
                         ids=[f"{name}-{words}" for name, _, words in MISTAKES])
def test_a_typical_mistake_is_named(name, wrong, words):
    result = check(name, wrong)
    assert not result
    assert "known mistake" in result.message and words in result.message, result.message
    assert "fix:" in result.message


def test_every_exercise_has_at_least_two_named_mistakes():
    named = {}
    for name, _, words in MISTAKES:
        named.setdefault(name, set()).add(words)
    assert {name for _, name in SOLVED} == set(named)
    assert all(len(words) >= 2 for words in named.values()), named


# --- junk answers: a check never raises and never hangs ---------------------------------------

@pytest.mark.parametrize("name, answer, words", [
    ("predicted_image_bytes", lambda: "47040000", "string"),
    ("predicted_image_bytes", lambda: None, "got None"),
    ("class_counts", lambda labels, num_classes=10: [[1, 2], [3]], "not a rectangular array"),
    ("parse_idx_header", lambda data: 1 / 0, "raised ZeroDivisionError"),
    ("conv2d_single", lambda image, kernel, stride=1, padding=0: "an image", "string"),
    ("col2im_loops", lambda cols, x_shape, k, s=1, p=0: None, "got None"),
    ("mean_image_per_class", lambda images, labels, num_classes=10: images[labels == 99][0], "raised IndexError"),
])
def test_junk_answers_fail_with_a_message(name, answer, words):
    result = check(name, answer)
    assert not result and words in result.message, result.message


def test_an_endless_loop_is_stopped(monkeypatch):
    from course_machinery.checks import notebook_02
    monkeypatch.setattr(notebook_02, "check_exercise", functools.partial(framework.check_exercise, time_limit=0.3))

    def output_size(H, k, s, p):
        while True:
            pass

    result = checks.check_output_size(output_size)
    assert not result and "longer than 0.3 s" in result.message


def test_an_in_place_edit_of_the_input_is_named():
    def bias_gradient(dout):
        dout *= 1.0                                  # harmless here, but it edits the caller's array ...
        dout[0, 0, 0, 0] += 0.0
        np.negative(dout, out=dout)                  # ... and this one changes it
        return -dout.sum(axis=(0, 2, 3))

    result = checks.check_bias_gradient(bias_gradient)
    assert result and "warning" in result.message and "`dout`" in result.message


def test_no_check_helper_is_shadowed_by_a_later_definition():
    """Two top-level definitions with one name in scratchcnn.py: the later one silently replaces the
    earlier for every check that uses it (it happened when two notebooks' checks met in one module)."""
    import ast
    import collections
    tree = ast.parse(open(scratchcnn.__file__, encoding="utf-8").read())
    names = collections.Counter(node.name for node in tree.body
                                if isinstance(node, (ast.FunctionDef, ast.ClassDef)))
    assert not [name for name, count in names.items() if count > 1]


def test_show_numbers_writes_white_on_dark_cells_and_black_on_light_ones():
    """Notebooks 02-04 draw small arrays with plots.show_numbers; a number on a dark cell must be readable."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3)
    plots.show_numbers(axes[0], [[0, 9]], cmap="Greens")                       # light green, dark green
    plots.show_numbers(axes[1], [[-5, 0, 5]], cmap="RdBu_r")                   # dark blue, white, dark red
    plots.show_numbers(axes[2], [[1, np.nan], [2, 3]], shade=np.array([[0, 1], [2, 0]]))
    colours = [[text.get_color() for text in ax.texts] for ax in axes]
    plt.close(fig)
    assert colours == [["black", "white"], ["white", "black", "white"], ["black"] * 3]   # NaN cells stay empty
