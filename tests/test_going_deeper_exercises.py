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


# --- BatchNorm2D from BatchNorm1D ------------------------------------------------------------

def batchnorm2d_per_image(x, gamma, beta, eps):
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            plane = x[n, c]
            out[n, c] = gamma[c] * (plane - plane.mean()) / np.sqrt(plane.var() + eps) + beta[c]
    return out


def batchnorm2d_per_position(x, gamma, beta, eps):
    N = x.shape[0]
    flat = x.reshape(N, -1)                                   # BatchNorm1D on every pixel as a feature
    x_hat = ((flat - flat.mean(axis=0)) / np.sqrt(flat.var(axis=0) + eps)).reshape(x.shape)
    return x_hat * gamma[:, None, None] + beta[:, None, None]


def batchnorm2d_plain_reshape(x, gamma, beta, eps):
    N, C, H, W = x.shape
    columns = x.reshape(N * H * W, C)                         # forgets to move the channels last
    x_hat = (columns - columns.mean(axis=0)) / np.sqrt(columns.var(axis=0) + eps)
    return gamma.reshape(1, C, 1, 1) * x_hat.reshape(N, C, H, W) + beta.reshape(1, C, 1, 1)


def batchnorm2d_unbiased(x, gamma, beta, eps):
    m = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).sum(axis=(0, 2, 3), keepdims=True) / (m - 1)
    return gamma[None, :, None, None] * (x - mean) / np.sqrt(var + eps) + beta[None, :, None, None]


def running_statistics(x, running_mean, running_var, momentum, m_is_batch=False, biased=False, keras=False,
                       per_image=False):
    N, C, H, W = x.shape
    if per_image:
        mean = x.mean(axis=(2, 3)).mean(axis=0)
        var = x.var(axis=(2, 3)).mean(axis=0)
    else:
        columns = x.transpose(1, 0, 2, 3).reshape(C, -1)
        mean, var = columns.mean(axis=1), columns.var(axis=1)
    m = N if m_is_batch else N * H * W
    unbiased = var if biased else var * m / (m - 1)
    keep = momentum if keras else 1 - momentum
    return keep * running_mean + (1 - keep) * mean, keep * running_var + (1 - keep) * unbiased


# --- batch norm in eval mode ------------------------------------------------------------------

def eval_with_batch_statistics(dout, x, gamma, beta, running_mean, running_var, eps):
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    return gamma * x_hat + beta, gamma * dout / np.sqrt(x.var(axis=0) + eps)


def eval_with_training_backward(dout, x, gamma, beta, running_mean, running_var, eps):
    std = np.sqrt(running_var + eps)
    x_hat = (x - running_mean) / std
    N = x.shape[0]
    dx = gamma / std * (dout - dout.sum(axis=0) / N - x_hat * (dout * x_hat).sum(axis=0) / N)
    return gamma * x_hat + beta, dx


def eval_without_root(dout, x, gamma, beta, running_mean, running_var, eps):
    return gamma * (x - running_mean) / (running_var + eps) + beta, gamma * dout / (running_var + eps)


def eval_eps_outside_the_root(dout, x, gamma, beta, running_mean, running_var, eps):
    std = np.sqrt(running_var) + eps
    return gamma * (x - running_mean) / std + beta, gamma * dout / std


def eval_dx_without_gamma(dout, x, gamma, beta, running_mean, running_var, eps):
    scale = (running_var + eps) ** -0.5
    return gamma * (x - running_mean) * scale + beta, dout * scale


IMAGE_AND_EVAL_WRONG = [
    ("batchnorm2d_forward", batchnorm2d_per_image, "statistics per image"),
    ("batchnorm2d_forward", batchnorm2d_per_position, "statistics per pixel position"),
    ("batchnorm2d_forward", batchnorm2d_plain_reshape, "without moving the channels last"),
    ("batchnorm2d_forward", batchnorm2d_unbiased, "sample variance"),
    ("batchnorm2d_running_statistics", lambda *a: running_statistics(*a, m_is_batch=True), "m = N"),
    ("batchnorm2d_running_statistics", lambda *a: running_statistics(*a, biased=True), "population variance"),
    ("batchnorm2d_running_statistics", lambda *a: running_statistics(*a, keras=True), "Keras convention"),
    ("batchnorm2d_running_statistics", lambda *a: running_statistics(*a, per_image=True), "per image"),
    ("batchnorm_eval", eval_with_batch_statistics, "batch's statistics"),
    ("batchnorm_eval", eval_with_training_backward, "training-mode backward"),
    ("batchnorm_eval", eval_without_root, "instead of its square root"),
    ("batchnorm_eval", eval_dx_without_gamma, "gamma left out of dx"),
    ("batchnorm_eval", eval_eps_outside_the_root, "eps added to the running standard deviation"),
]


@pytest.mark.parametrize("name, answer, mistake", IMAGE_AND_EVAL_WRONG,
                         ids=[f"{name}-{words}" for name, _, words in IMAGE_AND_EVAL_WRONG])
def test_image_and_eval_mistake_is_named(name, answer, mistake, capsys):
    assert_named(getattr(checks, f"check_{name}"), answer, mistake)
    capsys.readouterr()


def test_the_independent_running_statistics_agree_with_batchnorm2d():
    """The helper above without a slip is BatchNorm2D's update (so each wrong answer differs by its slip)."""
    layer = scratchcnn.BatchNorm2D(3, momentum=0.2, dtype=np.float64)
    x = np.random.default_rng(2).standard_normal((2, 3, 3, 5))
    expected = running_statistics(x, layer.running_mean.copy(), layer.running_var.copy(), 0.2)
    layer.forward(x)
    np.testing.assert_allclose(layer.running_mean, expected[0])
    np.testing.assert_allclose(layer.running_var, expected[1])
    assert checks.check_batchnorm2d_running_statistics(running_statistics)


def test_batchnorm2d_solution_is_batchnorm2d_and_eval_solution_is_the_eval_layer():
    solutions_10 = solutions("10")
    r = np.random.default_rng(4)
    x, gamma, beta = r.standard_normal((2, 3, 4, 5)), r.standard_normal(3), r.standard_normal(3)
    layer = scratchcnn.BatchNorm2D(3, eps=1e-3, dtype=np.float64)
    layer.params["gamma"], layer.params["beta"] = gamma.copy(), beta.copy()
    np.testing.assert_allclose(solutions_10["batchnorm2d_forward"](x, gamma, beta, 1e-3), layer.forward(x))
    flat = scratchcnn.BatchNorm1D(3, eps=1e-3, dtype=np.float64)
    flat.params["gamma"], flat.params["beta"] = gamma.copy(), beta.copy()
    flat.running_mean, flat.running_var, flat.training = r.standard_normal(3), r.uniform(0.5, 2, 3), False
    x1, dout = r.standard_normal((1, 3)), r.standard_normal((1, 3))      # eval mode takes a batch of one
    out, dx = solutions_10["batchnorm_eval"](dout, x1, gamma, beta, flat.running_mean, flat.running_var, 1e-3)
    np.testing.assert_allclose(out, flat.forward(x1))
    np.testing.assert_allclose(dx, flat.backward(dout))


# --- batch norm's backward through the computational graph, node by node ----------------------

def staged_backward(dout, x, gamma, eps, slip=None):
    """A student's node-by-node backward in CS231n's names (xmu, sq, var, sqrtvar, ivar, xhat), with one slip."""
    N = x.shape[0]
    mu = np.sum(x, axis=0) / N
    xmu = x - mu
    sq = xmu ** 2
    var = np.sum(sq, axis=0) / (N - 1 if slip == "unbiased" else N)
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    dbeta = dout if slip == "dbeta not summed" else np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=1 if slip == "features axis" else 0)
    if slip == "features axis":
        dbeta = np.sum(dout, axis=1)
    dxhat = dout * gamma
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / sqrtvar ** 2 * divar
    if slip == "no half":
        dvar = 1.0 / sqrtvar * dsqrtvar
    elif slip == "power -1/2":
        dvar = -0.5 * divar * (var + eps) ** -0.5
    else:
        dvar = 0.5 / sqrtvar * dsqrtvar
    dsq = np.ones_like(dout) / (N - 1 if slip == "unbiased" else N) * dvar
    dxmu2 = 2 * xmu * dsq
    dxmu = dxmu1 if slip == "no variance path" else dxmu1 + dxmu2
    dmu = -np.sum(dxmu, axis=0)
    if slip == "no mean path":
        dx = dxmu
    elif slip == "dmu not divided":
        dx = dxmu + dmu
    else:
        dx = dxmu + np.ones_like(dout) / N * dmu
    return dx, dgamma, dbeta


def test_the_independent_staged_backward_is_the_solution():
    """Without a slip, the student's graph above is the notebook's solution and passes (so each wrong answer
    below differs from a right one by its slip only)."""
    solution = solutions("10")["batchnorm_backward_staged"]
    r = np.random.default_rng(5)
    dout, x, gamma = r.standard_normal((7, 3)), r.standard_normal((7, 3)) * 2 + 1, r.standard_normal(3)
    for ours, theirs in zip(staged_backward(dout, x, gamma, 1e-5), solution(dout, x, gamma, 1e-5)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    assert checks.check_batchnorm_backward_staged(staged_backward)


def test_the_staged_solution_is_the_library_and_the_compact_formula_on_a_batch_of_two():
    """On two examples x_hat is +-1 and dx almost 0; the staged solution agrees with BatchNorm1D and
    with the compact-formula solution of Exercise 2, in float64."""
    solutions_10 = solutions("10")
    r = np.random.default_rng(6)
    x, dout, gamma = r.standard_normal((2, 5)) * 3, r.standard_normal((2, 5)), r.uniform(0.5, 2, 5)
    layer = scratchcnn.BatchNorm1D(5, eps=1e-5, dtype=np.float64)
    layer.params["gamma"] = gamma.copy()
    layer.forward(x)
    dx_library = layer.backward(dout)
    dx, dgamma, dbeta = solutions_10["batchnorm_backward_staged"](dout, x, gamma, 1e-5)
    np.testing.assert_allclose(dx, dx_library, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(dgamma, layer.grads["gamma"])
    np.testing.assert_allclose(dbeta, layer.grads["beta"])
    for ours, compact in zip((dx, dgamma, dbeta), solutions_10["batchnorm_backward"](dout, x, gamma, 1e-5)):
        np.testing.assert_allclose(ours, compact, rtol=1e-7, atol=1e-12)
    assert np.abs(dx).max() < 1e-3 * np.abs(dout).max()


def staged_with_flipped_dmu(dout, x, gamma, eps):
    dx, dgamma, dbeta = staged_backward(dout, x, gamma, eps)
    compact_mean_term = gamma / np.sqrt(x.var(axis=0) + eps) * dout.mean(axis=0)
    return dx + 2 * compact_mean_term, dgamma, dbeta         # + sum(dc) / N instead of - sum(dc) / N


def staged_with_positive_dsqrtvar(dout, x, gamma, eps):
    N = x.shape[0]
    xmu = x - x.mean(axis=0)
    sqrtvar = np.sqrt((xmu ** 2).mean(axis=0) + eps)
    xhat = xmu / sqrtvar
    dxhat = dout * gamma
    dsqrtvar = np.sum(dxhat * xmu, axis=0) / sqrtvar ** 2       # the minus sign of d(1/s)/ds lost
    dxmu = dxhat / sqrtvar + 2 * xmu / N * (dsqrtvar / (2 * sqrtvar))
    return dxmu - dxmu.sum(axis=0) / N, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def staged_without_the_two(dout, x, gamma, eps):
    N = x.shape[0]
    xmu = x - x.mean(axis=0)
    var = (xmu ** 2).mean(axis=0)
    xhat = xmu / np.sqrt(var + eps)
    dxhat = dout * gamma
    dvar = np.sum(dxhat * xmu, axis=0) * -0.5 * (var + eps) ** -1.5
    dxmu = dxhat / np.sqrt(var + eps) + xmu / N * dvar              # d(xmu**2) taken as xmu
    return dxmu - dxmu.mean(axis=0), (dout * xhat).sum(axis=0), dout.sum(axis=0)


STAGED_WRONG = [
    (lambda *args: staged_backward(*args, slip="no variance path"), "path through the variance"),
    (lambda *args: staged_backward(*args, slip="no mean path"), "path through the mean"),
    (lambda *args: staged_backward(*args, slip="dmu not divided"), "not divided by m"),
    (lambda *args: staged_backward(*args, slip="no half"), "factor 1/2"),
    (lambda *args: staged_backward(*args, slip="power -1/2"), "power -1/2"),
    (lambda *args: staged_backward(*args, slip="unbiased"), "N - 1"),
    (lambda *args: staged_backward(*args, slip="features axis"), "axis 1"),
    (lambda *args: staged_backward(*args, slip="dbeta not summed"), "without the sum over the batch"),
    (lambda *args: (lambda dx, dgamma, dbeta: (dx, dbeta, dgamma))(*staged_backward(*args)), "swapped"),
    (staged_with_flipped_dmu, "dmu without its minus sign"),
    (staged_with_positive_dsqrtvar, "ds without the minus sign"),
    (staged_without_the_two, "without the factor 2"),
]


@pytest.mark.parametrize("answer, mistake", STAGED_WRONG, ids=[words for _, words in STAGED_WRONG])
def test_staged_batchnorm_backward_mistake_is_named(answer, mistake, capsys):
    assert_named(checks.check_batchnorm_backward_staged, answer, mistake)
    capsys.readouterr()


def test_the_compact_formula_with_the_sample_variance_is_named_by_the_staged_check(capsys):
    """np.var(ddof=1) in a compact-formula answer is the same slip as N - 1 in the graph."""
    def compact_unbiased(dout, x, gamma, eps):
        inv_std = 1 / np.sqrt(np.var(x, axis=0, ddof=1) + eps)
        xhat = (x - x.mean(axis=0)) * inv_std
        dx = gamma * inv_std * (dout - dout.mean(axis=0) - xhat * (dout * xhat).mean(axis=0))
        return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)
    assert_named(checks.check_batchnorm_backward_staged, compact_unbiased, "N - 1")
    capsys.readouterr()
