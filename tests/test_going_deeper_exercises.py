"""Notebook 10's new exercises (layer normalisation, BatchNorm2D from BatchNorm1D, batch norm in eval
mode): their checks fail typical wrong answers and name the mistake.

Every wrong answer here is written the way a student would write it, independently of the checks'
Mistake functions in course_machinery/checks/notebook_10.py (submitting a Mistake's own output would
prove nothing). That the notebook's solutions pass, that an unanswered exercise says "not implemented
yet" and that junk never makes a check raise is tested for every exercise in tests/test_checks.py."""

import numpy as np
import pytest

import scratchcnn
from course_machinery import checks
from exercise_helpers import assert_named
from notebook_answers import solutions


# --- layer normalisation ------------------------------------------------------------------

def layernorm_over_the_batch(x, gamma, beta, eps):
    mu = np.mean(x, axis=0)
    return gamma * (x - mu) / np.sqrt(np.mean((x - mu) ** 2, axis=0) + eps) + beta


def layernorm_unbiased(x, gamma, beta, eps):
    D = x.shape[1]
    mu = x.sum(axis=1, keepdims=True) / D
    var = ((x - mu) ** 2).sum(axis=1, keepdims=True) / (D - 1)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def layernorm_eps_outside(x, gamma, beta, eps):
    centred = x - x.mean(axis=1)[:, None]
    return gamma * centred / (x.std(axis=1)[:, None] + eps) + beta


def layernorm_without_gamma_and_beta(x, gamma, beta, eps):
    return (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + eps)


def layernorm_backward(dout, x, gamma, eps, axis=1, unbiased=False, mean_terms=True, gamma_first=True):
    """A student's layer-norm backward, following the graph node by node (not the compact formula)."""
    n = x.shape[axis]
    mu = x.mean(axis=axis, keepdims=True)
    c = x - mu
    v = (c * c).sum(axis=axis, keepdims=True) / (n - 1 if unbiased else n)
    s = np.sqrt(v + eps)
    x_hat = c / s
    d_x_hat = dout * gamma if gamma_first else dout
    if not mean_terms:
        dx = d_x_hat / s
    else:
        d_v = (d_x_hat * c).sum(axis=axis, keepdims=True) * (-0.5) * s ** -3
        d_c = d_x_hat / s + d_v * 2 * c / (n - 1 if unbiased else n)
        dx = d_c - d_c.sum(axis=axis, keepdims=True) / n
    if not gamma_first:
        dx = dx * gamma
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def test_layernorm_backward_by_the_graph_is_the_solution():
    """The independent node-by-node backward above is right when no slip is switched on (so the
    wrong answers below differ from the solution by their slip only)."""
    solution = solutions("10")["layernorm_backward"]
    r = np.random.default_rng(0)
    dout, x, gamma = r.standard_normal((3, 5)), r.standard_normal((3, 5)), r.standard_normal(5)
    for ours, theirs in zip(layernorm_backward(dout, x, gamma, 1e-5), solution(dout, x, gamma, 1e-5)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    assert checks.check_layernorm_backward(layernorm_backward)


LAYERNORM_WRONG = [
    ("layernorm_forward", layernorm_over_the_batch, "statistics over the batch"),
    ("layernorm_forward", layernorm_unbiased, "sample variance"),
    ("layernorm_forward", layernorm_eps_outside, "eps added to the standard deviation"),
    ("layernorm_forward", layernorm_without_gamma_and_beta, "gamma and beta left out"),
    ("layernorm_backward", lambda *args: layernorm_backward(*args, axis=0), "statistics over the batch"),
    ("layernorm_backward", lambda *args: layernorm_backward(*args, unbiased=True), "sample variance"),
    ("layernorm_backward", lambda *args: layernorm_backward(*args, mean_terms=False), "missing the mean terms"),
    ("layernorm_backward", lambda *args: layernorm_backward(*args, gamma_first=False), "gamma outside the means"),
    ("layernorm_backward", lambda *args: (lambda dx, dg, db: (dx, db, dg))(*layernorm_backward(*args)),
     "dgamma and dbeta swapped"),
]


@pytest.mark.parametrize("name, answer, mistake", LAYERNORM_WRONG,
                         ids=[f"{name}-{words}" for name, _, words in LAYERNORM_WRONG])
def test_layernorm_mistake_is_named(name, answer, mistake, capsys):
    assert_named(getattr(checks, f"check_{name}"), answer, mistake)
    capsys.readouterr()


def test_layernorm_checks_agree_with_the_library():
    """The cases' expected values are scratchcnn.LayerNorm's, and the notebook's solutions agree with it."""
    forward, backward = solutions("10")["layernorm_forward"], solutions("10")["layernorm_backward"]
    layer = scratchcnn.LayerNorm(4, eps=0.1, dtype=np.float64)
    r = np.random.default_rng(1)
    layer.params["gamma"][:], layer.params["beta"][:] = r.standard_normal(4), r.standard_normal(4)
    x, dout = r.standard_normal((1, 4)), r.standard_normal((1, 4))    # a batch of one
    np.testing.assert_allclose(forward(x, layer.params["gamma"], layer.params["beta"], 0.1), layer.forward(x))
    dx, dgamma, dbeta = backward(dout, x, layer.params["gamma"], 0.1)
    np.testing.assert_allclose(dx, layer.backward(dout), atol=1e-12)
    np.testing.assert_allclose(dgamma, layer.grads["gamma"])
    np.testing.assert_allclose(dbeta, layer.grads["beta"])


def layernorm_backward_compact_with_np_var_ddof_1(dout, x, gamma, eps):
    x_hat = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(np.var(x, axis=1, ddof=1, keepdims=True) + eps)
    h = dout * gamma
    dx = (h - h.mean(axis=1, keepdims=True) - x_hat * (h * x_hat).mean(axis=1, keepdims=True))
    return dx / np.sqrt(np.var(x, axis=1, ddof=1, keepdims=True) + eps), (x_hat * dout).sum(0), dout.sum(0)


def test_layernorm_backward_with_the_sample_variance_in_the_compact_formula_is_named(capsys):
    assert_named(checks.check_layernorm_backward, layernorm_backward_compact_with_np_var_ddof_1, "sample variance")
    capsys.readouterr()
