"""The library's own answer to each exercise (course_machinery/grading/library_answers.py, issue 19).

The grader scores 0 an answer that calls a function listed for its exercise. So the list must hold no
function an honest answer calls (the notebooks' own solutions call none of theirs, traced on every case),
and it must name the real answers (a cheat that calls a listed function passes the in-notebook check and
is seen by the same trace)."""

import copy
import sys

import numpy as np
import pytest

import scratchcnn
from course_machinery import checks
from course_machinery.checks import notebook_07, notebook_08, notebook_09, notebook_10
from course_machinery.checks.framework import Exercise
from course_machinery.fast_layers import FastConv2D
from course_machinery.grading.library_answers import LIBRARY_ANSWERS, answer_code_objects, resolve
from course_machinery.plots import conv_feature_maps
from notebook_answers import solutions

NOTEBOOKS = [f"{number:02d}" for number in range(1, 12)]
EXERCISES = {name[len("check_"):]: check for name, check in vars(checks).items()
             if name.startswith("check_") and isinstance(check, Exercise)}


def library_calls(name, answer, args):
    """The qualified names of the functions listed for exercise ``name`` that ``answer(*args)`` called,
    seen as the grader sees them: a profiler hook comparing each call's code object with the list."""
    listed, seen = set(answer_code_objects(name)), []

    def hook(frame, event, arg):
        if event == "call" and frame.f_code in listed:
            seen.append(frame.f_code.co_qualname)

    before = sys.getprofile()
    sys.setprofile(hook)
    try:
        with np.errstate(all="ignore"):
            answer(*copy.deepcopy(list(args)))
    finally:
        sys.setprofile(before)
    return seen


def run_as_checked(name, answer):
    """[(case description, listed functions called)] for ``answer`` on every case of exercise ``name``,
    wrapped as its check wraps it (``prepare``)."""
    exercise = EXERCISES[name]
    prepared = exercise.as_called(answer)
    return [(case.description, library_calls(name, prepared, case.args)) for case in exercise.cases()]


def test_every_exercise_has_an_entry():
    assert set(LIBRARY_ANSWERS) == set(EXERCISES)
    assert len(EXERCISES) == 73


@pytest.mark.parametrize("name", sorted(LIBRARY_ANSWERS))
def test_every_name_resolves_to_a_python_function(name):
    assert len(set(LIBRARY_ANSWERS[name])) == len(LIBRARY_ANSWERS[name]), "a name listed twice"
    for dotted in LIBRARY_ANSWERS[name]:
        assert callable(resolve(dotted)), dotted
    codes = answer_code_objects(name)
    assert len(codes) == len(LIBRARY_ANSWERS[name])
    assert all(code.co_filename.endswith(".py") for code in codes)


def test_resolve_reads_methods_from_the_class():
    assert resolve("scratchcnn.MaxPool2D.forward") is scratchcnn.MaxPool2D.__dict__["forward"]
    # BatchNorm2D inherits BatchNorm1D's forward: the same code object, found through the bases.
    assert resolve("scratchcnn.BatchNorm2D.forward") is scratchcnn.BatchNorm1D.__dict__["forward"]
    assert resolve("course_machinery.checks.notebook_07.adam_update") is notebook_07.adam_update
    with pytest.raises(AttributeError):
        resolve("scratchcnn.no_such_function")


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_no_solution_calls_its_own_exercises_library_answer(notebook):
    answers = solutions(notebook)
    assert answers and set(answers) <= set(EXERCISES)
    for name, answer in answers.items():
        for description, called in run_as_checked(name, answer):
            assert not called, f"{notebook} {name}, case '{description}': the solution calls {called}"


# --- cheats: an answer that only calls the library --------------------------------------------------

def _layer_with(layer, **params):
    """``layer`` with its parameters set to float64 copies of ``params``."""
    for key, value in params.items():
        layer.params[key] = np.array(value, np.float64)
    return layer


def _conv_backward_by_fast_layer(x, W, dout, stride=1, padding=0):
    layer = _layer_with(FastConv2D(W.shape[1], W.shape[0], W.shape[2], stride, padding, dtype=np.float64),
                        W=W, b=np.zeros(W.shape[0]))
    layer.forward(np.asarray(x, np.float64))
    dx = layer.backward(np.asarray(dout, np.float64))
    return dx, layer.grads["W"], layer.grads["b"]


def _dense_backward(x, W, dout):
    layer = _layer_with(scratchcnn.Dense(*W.shape, dtype=np.float64), W=W)
    layer.forward(np.asarray(x, np.float64))
    return layer.backward(np.asarray(dout, np.float64)), layer.grads["W"], layer.grads["b"]


def _relu_backward(x, dout):
    layer = scratchcnn.ReLU()
    layer.forward(x)
    return layer.backward(dout)


class _DrawsLike:
    """A generator for Dropout whose uniform draws are ``draw(shape)`` (Dropout asks for float32 ones)."""

    def __init__(self, draw):
        self.draw = draw

    def random(self, shape, dtype=None):
        return self.draw(shape).astype(dtype)


def _inverted_dropout(x, keep, p):
    # u = 1 where a unit is kept, 0 where it is dropped: Dropout keeps u >= p.
    layer = scratchcnn.Dropout(p, rng=_DrawsLike(lambda shape: np.where(keep, 1.0, 0.0)))
    return layer.forward(x)


def _fixed_dropout_forward(x, p, rng):
    layer = scratchcnn.Dropout(p, rng=_DrawsLike(rng.random))
    out = layer.forward(x)
    return out, (layer.mask if layer.mask is not None else np.ones_like(out))


def _loss_layer(logits, labels):
    loss_fn = scratchcnn.SoftmaxCrossEntropy()
    loss = loss_fn.forward(np.asarray(logits, np.float64), labels)
    return loss, loss_fn.backward()


def _norm(layer_class, x, gamma, beta, eps):
    return _layer_with(layer_class(np.shape(x)[1], eps=eps, dtype=np.float64), gamma=gamma, beta=beta)


def _norm_backward(layer_class, dout, x, gamma, eps):
    layer = _norm(layer_class, x, gamma, np.zeros_like(gamma), eps)
    layer.forward(x)
    return layer.backward(dout), layer.grads["gamma"], layer.grads["beta"]


def _batchnorm_eval(dout, x, gamma, beta, running_mean, running_var, eps):
    layer = _norm(scratchcnn.BatchNorm1D, x, gamma, beta, eps)
    layer.running_mean, layer.running_var = np.array(running_mean, np.float64), np.array(running_var, np.float64)
    layer.training = False
    return layer.forward(x), layer.backward(dout)


def _residual_backward(x, W, dout):
    dense = _layer_with(scratchcnn.Dense(*W.shape, dtype=np.float64), W=W)
    block = scratchcnn.Residual(dense, scratchcnn.ReLU())
    block.forward(x)
    return block.backward(dout), dense.grads["W"]


def _crop_to_ink(image):
    if image.dtype == np.uint8:
        return np.rint(255 * _crop_to_ink(image / 255.0)).astype(np.uint8)
    return scratchcnn.preprocess_digit(image, return_steps=True)[1]["cropped"]


def _gradients_1d_numerically():
    x, w, g = np.array([2.0, -1.0, 0.0, 3.0, 1.0]), np.array([1.0, -2.0, 3.0]), np.array([1.0, 0.0, -1.0])
    loss = lambda: float(np.sum(g * np.correlate(x, w, "valid")))    # noqa: E731
    return scratchcnn.numerical_gradient(loss, w), scratchcnn.numerical_gradient(loss, x)


CHEATS = {
    "class_counts": lambda labels, k: scratchcnn.confusion_matrix(labels, labels, k).diagonal(),
    "output_size": scratchcnn.conv_output_size,
    "conv2d_single": lambda image, kernel, stride=1, padding=0: scratchcnn.conv2d_naive(
        image[None, None], kernel[None, None], np.zeros(1), stride, padding)[0, 0],
    "predicted_output_shape": lambda: tuple(scratchcnn.Conv2D(3, 8, 5, 2, 1).forward(
        np.zeros((4, 3, 32, 32), np.float32)).shape),
    "im2col_shape": lambda shape, k, s, p: scratchcnn.im2col(np.zeros(shape), k, s, p).shape,
    "conv2d_forward_loops": scratchcnn.conv2d_naive,
    "col2im_loops": scratchcnn.col2im,
    "bias_gradient": lambda dout: _conv_backward_by_fast_layer(
        np.zeros((dout.shape[0], 1) + dout.shape[2:]), np.zeros((dout.shape[1], 1, 1, 1)), dout)[2],
    "predicted_gradients_1d": _gradients_1d_numerically,
    "conv_backward_single": lambda image, kernel, dout, stride=1, padding=0: tuple(
        gradient[0, 0] for gradient in scratchcnn.conv2d_backward_naive(
            np.asarray(image, np.float64)[None, None], kernel[None, None], dout[None, None], stride, padding)[:2]),
    "conv2d_backward_loops": lambda x, W, dout, stride=1, padding=0: scratchcnn.conv2d_backward_naive(
        np.asarray(x, np.float64), np.asarray(W, np.float64), dout, stride, padding),
    "conv2d_backward_by_correlation": _conv_backward_by_fast_layer,
    "my_relative_error": scratchcnn.relative_error,
    "maxpool_forward": scratchcnn.maxpool2d_naive,
    "maxpool_backward": scratchcnn.maxpool2d_backward_naive,
    "pooled_shape": lambda: tuple(scratchcnn.MaxPool2D(3, 2).forward(np.zeros((1, 1, 7, 7))).shape),
    "centre_gradient": lambda: float(scratchcnn.maxpool2d_backward_naive(
        *checks.centre_gradient_example(), 3, 2)[0, 0, 2, 2]),
    "stable_softmax": scratchcnn.softmax,
    "cross_entropy_loss": lambda logits, labels: _loss_layer(logits, labels)[0],
    "softmax_cross_entropy_gradient": lambda logits, labels: _loss_layer(logits, labels)[1],
    "softmax_cross_entropy": _loss_layer,
    "uniform_loss": lambda K: -scratchcnn.log_softmax(np.zeros((1, K)))[0, 0],
    "dense_backward": _dense_backward,
    "relu_backward": _relu_backward,
    "inverted_dropout": _inverted_dropout,
    "sgd_momentum_step": notebook_07.momentum_update,
    "adam_step": notebook_07.adam_update,
    "prior_loss": notebook_07._prior_loss_reference,
    "saliency_map": lambda model, image, c: np.abs(notebook_08._score_gradient(model, image, c)),
    "conv2_output_shape": lambda n: tuple(scratchcnn.conv2d_naive(
        np.zeros((n, 8, 14, 14)), np.zeros((16, 8, 3, 3)), np.zeros(16), 1, 1).shape),
    "fgsm_step": notebook_08._fgsm_reference,
    "crop_to_ink": _crop_to_ink,
    "centre_of_mass": lambda image: scratchcnn.centre_of_mass(np.asarray(image, np.float64)),
    "feature_map_shapes": lambda: tuple(maps.shape for maps in conv_feature_maps(
        scratchcnn.reference_cnn(), np.zeros((28, 28)))),
    "most_confident_mistake": notebook_09._most_confident_mistake,
    "batchnorm_forward": lambda x, gamma, beta, eps: _norm(scratchcnn.BatchNorm1D, x, gamma, beta, eps).forward(x),
    "batchnorm_backward": lambda dout, x, gamma, eps: _norm_backward(scratchcnn.BatchNorm1D, dout, x, gamma, eps),
    "residual_backward": _residual_backward,
    "rmsprop_step": notebook_10.rmsprop_update,
    "layernorm_forward": lambda x, gamma, beta, eps: _norm(scratchcnn.LayerNorm, x, gamma, beta, eps).forward(x),
    "layernorm_backward": lambda dout, x, gamma, eps: _norm_backward(scratchcnn.LayerNorm, dout, x, gamma, eps),
    "batchnorm2d_forward": lambda x, gamma, beta, eps: _norm(scratchcnn.BatchNorm2D, x, gamma, beta, eps).forward(x),
    "batchnorm_eval": _batchnorm_eval,
    "batchnorm_backward_staged": lambda dout, x, gamma, eps: _norm_backward(
        scratchcnn.BatchNorm1D, dout, x, gamma, eps),
    "bug_in_softmax": lambda: checks.check_bug_in_softmax.cases()[0].expected,
    "fixed_conv_forward": scratchcnn.conv2d_naive,
    "fixed_maxpool_backward": scratchcnn.maxpool2d_backward_naive,
    "fixed_softmax_cross_entropy": _loss_layer,
    "fixed_relu_forward": lambda x: (scratchcnn.ReLU().forward(x), x.copy()),
    "fixed_dropout_forward": _fixed_dropout_forward,
    "fixed_adam_step": notebook_07.adam_update,
    "fixed_im2col": scratchcnn.im2col,
    "fixed_softmax": scratchcnn.softmax,
}


def test_enough_cheats():
    assert len(CHEATS) >= 25 and set(CHEATS) <= set(LIBRARY_ANSWERS)


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_a_cheat_passes_the_check_and_is_seen(name):
    with np.errstate(all="ignore"):
        result = EXERCISES[name](CHEATS[name])
    assert result, result.message
    for description, called in run_as_checked(name, CHEATS[name]):
        assert called, f"{name}, case '{description}': the cheat's call of the library was not seen"


PASTED_POOL_BACKWARD = '''
def maxpool_backward(inputs, grad, size, step):
    """my own max-pool backward"""
    step = step if step is not None else size
    out = np.zeros_like(inputs, dtype=np.result_type(inputs, grad))
    A, B, P, Q = grad.shape
    for a in range(A):
        for b in range(B):
            for p in range(P):
                for q in range(Q):
                    win = inputs[a, b, p * step:p * step + size, q * step:q * step + size]
                    r, c = np.unravel_index(np.argmax(win), win.shape)
                    out[a, b, p * step + r, q * step + c] += grad[a, b, p, q]
    return out
'''


def test_the_library_pasted_with_other_names_is_seen_and_the_solutions_are_not():
    from course_machinery.checks import mutation
    from course_machinery.grading.library_answers import pasted_library_code
    assert pasted_library_code("maxpool_backward", PASTED_POOL_BACKWARD) == "scratchcnn.maxpool2d_backward_naive"
    # the same code with one statement changed is the student's own
    assert pasted_library_code("maxpool_backward", PASTED_POOL_BACKWARD.replace("+= grad", "= grad")) is None
    # no solution of the solved notebooks is flagged, nor a short answer (it may equal the library by honest work)
    for name, (cell, _) in mutation._notebook_code().items():
        assert pasted_library_code(name, cell) is None, name
    softmax = "def stable_softmax(z):\n    e = np.exp(z - z.max(axis=1, keepdims=True))\n    return e / e.sum(axis=1)\n"
    assert pasted_library_code("stable_softmax", softmax) is None


def test_the_grader_asks_the_teacher_to_look_at_pasted_library_code():
    """The grade stands (the values are right), but the teacher is asked to look, with the reason."""
    import nbformat
    from course_machinery.grading import grader
    from grading_students import SOLVED, student_notebook
    notebook = student_notebook("04", {"maxpool_backward": PASTED_POOL_BACKWARD})
    solved = nbformat.read(SOLVED["04"], as_version=4)
    grade = grader.grade_notebook(notebook, solved, "a secret", sandbox="none").exercises["maxpool_backward"]
    assert grade.passed and "scratchcnn.maxpool2d_backward_naive with the names changed" in grade.suspicious
