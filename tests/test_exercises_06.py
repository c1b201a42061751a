"""The exercise checks of notebook 06 (dense layers and activations): the notebook's
solution passes, typical wrong answers are each told their own mistake, and an
unanswered exercise says "not implemented yet"."""

import numpy as np
import pytest

import scratchcnn
from course_machinery import checks
from course_machinery.checks import notebook_06
from exercise_helpers import assert_named, not_implemented
from notebook_answers import solutions

EXERCISES = ["dense_backward", "relu_backward", "inverted_dropout", "predicted_std", "two_layer_backward"]


@pytest.mark.parametrize("name", EXERCISES)
def test_notebook_solution_passes(name):
    result = getattr(checks, f"check_{name}")(solutions("06")[name])
    assert result, result.message
    assert "pass" in result.message


@pytest.mark.parametrize("name", EXERCISES)
def test_unanswered_exercise_says_not_implemented(name):
    result = getattr(checks, f"check_{name}")(not_implemented)
    assert not result and result.message.endswith("not implemented yet")


# --- typical wrong answers, as a student writes them ------------------------------------

def dense_db_mean(x, W, dout):
    return dout @ W.T, x.T @ dout, dout.mean(axis=0)


def dense_no_transpose(x, W, dout):
    return dout @ W, x.T @ dout, dout.sum(axis=0)


def dense_divided_by_n(x, W, dout):
    n = x.shape[0]
    return dout @ W.T, (x.T @ dout) / n, dout.sum(axis=0) / n


def dense_dw_transposed(x, W, dout):
    return dout @ W.T, dout.T @ x, np.sum(dout, axis=0)


def relu_mask_from_dout(x, dout):
    return np.where(dout > 0, dout, 0)


def relu_at_zero(x, dout):
    return dout * (x >= 0)


def dropout_over_p(x, keep, p):
    return np.where(keep, x / p, 0)


def dropout_unscaled(x, keep, p):
    out = x.astype(float).copy()
    out[~keep] = 0
    return out


def std_variance(fan_in, weight_std):
    return fan_in * weight_std ** 2


def std_added(fan_in, weight_std):
    return fan_in * weight_std


def two_layer(x, W1, b1, W2, b2, labels, divide=True, mask=True):
    z = x @ W1 + b1
    h = np.maximum(0, z)
    s = h @ W2 + b2
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[range(len(labels)), labels] -= 1
    ds = p / len(labels) if divide else p
    dh = ds @ W2.T
    dz = dh * (z > 0) if mask else dh
    return x.T @ dz, dz.sum(axis=0), h.T @ ds, ds.sum(axis=0)


WRONG = [
    ("dense_backward", dense_db_mean, "db averaged over the batch"),
    ("dense_backward", dense_no_transpose, "without the transpose"),
    ("dense_backward", dense_divided_by_n, "divided by the batch size"),
    ("dense_backward", dense_dw_transposed, "the transpose of dW"),
    ("relu_backward", relu_mask_from_dout, "built from dout"),
    ("relu_backward", relu_at_zero, "slope 1 at x = 0"),
    ("inverted_dropout", dropout_over_p, "1 / p instead of 1 / (1 - p)"),
    ("inverted_dropout", dropout_unscaled, "not scaled up"),
    ("predicted_std", std_variance, "the variance"),
    ("predicted_std", std_added, "standard deviations added"),
    ("two_layer_backward", lambda *args: two_layer(*args, divide=False), "not divided by N"),
    ("two_layer_backward", lambda *args: two_layer(*args, mask=False), "no ReLU mask"),
]


@pytest.mark.parametrize("name, answer, mistake", WRONG, ids=[f"{w[0]}-{w[2]}" for w in WRONG])
def test_typical_mistake_is_named(name, answer, mistake):
    assert_named(getattr(checks, f"check_{name}"), answer, mistake)


def test_two_layer_reference_against_numerical_gradients():
    """The check's reference (the module's layers) agrees with a numerical gradient in float64."""
    rng = np.random.default_rng(0)
    x, W1, b1 = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    W2, b2, labels = rng.standard_normal((5, 3)), rng.standard_normal(3), np.array([0, 2, 1])

    def loss():
        h = np.maximum(x @ W1 + b1, 0)
        return scratchcnn.SoftmaxCrossEntropy().forward(h @ W2 + b2, labels)

    analytic = notebook_06._two_layer_backward_reference(x, W1, b1, W2, b2, labels)
    for gradient, weights in zip(analytic, (W1, b1, W2, b2)):
        numeric = scratchcnn.numerical_gradient(loss, weights)
        assert scratchcnn.relative_error(gradient, numeric) < 1e-7
