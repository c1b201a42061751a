"""Exercise checks of notebook 10: going deeper."""

from __future__ import annotations

import numpy as np

from scratchcnn import BatchNorm1D, BatchNorm2D, Dense, LayerNorm, ReLU, Residual

from .framework import Case, Exercise, Mistake, case_rng, keep_signs, varied_settings
from .shared import reference_cases


def _norm_layer(layer_class, x, gamma, beta, eps):
    """scratchcnn's BatchNorm1D or LayerNorm for x (N, D) in float64 with these gamma, beta and eps."""
    layer = layer_class(x.shape[1], eps=eps, dtype=np.float64)
    layer.params["gamma"], layer.params["beta"] = np.array(gamma, np.float64), np.array(beta, np.float64)
    return layer


def _batchnorm_reference(x, gamma, beta, eps):
    return _norm_layer(BatchNorm1D, x, gamma, beta, eps)


def _batchnorm_cases(seed):
    """(description, x, gamma, beta, eps, dout, hint) for the batch-norm exercises."""
    rng = case_rng(seed)
    x_hand = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [6.0, 60.0]])
    return varied_settings([
        ("4 examples, 2 features, gamma 1 and beta 0", x_hand, np.ones(2), np.zeros(2), 1e-5,
         np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0], [0.5, -1.0]]),
         "statistics per feature, over the batch: mean and variance along axis 0"),
        ("gamma and beta not 1 and 0", rng.standard_normal((5, 3)) * 2 + 1, np.array([2.0, -0.5, 1.5]),
         np.array([0.3, -1.0, 2.0]), 1e-5, rng.standard_normal((5, 3)),
         "out = gamma * x_hat + beta, gamma scaling and beta shifting each feature"),
        ("features on very different scales, eps 0.1", rng.standard_normal((6, 4)) * np.array([0.01, 1, 100, 3]),
         rng.uniform(0.5, 2, 4), rng.standard_normal(4), 0.1, rng.standard_normal((6, 4)),
         "eps goes under the square root, next to the variance: (x - mean) / sqrt(var + eps)"),
        ("a batch of 3", rng.standard_normal((3, 2)), np.array([1.0, 3.0]), np.array([0.0, 0.5]), 1e-5,
         rng.standard_normal((3, 2)),
         "the batch variance divides by N (np.var's default), not by N - 1"),
    ], seed + 1000, positions=(1, 5))     # secret: x and dout scaled, signs kept (gamma 1 stays 1)


BATCHNORM_FORWARD_MISTAKES = [
    Mistake("the sample variance (dividing by N - 1) instead of the population variance",
            lambda x, g, b, eps: g * (x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + eps) + b,
            "use x.var(axis=0) (ddof=0): batch norm divides by N, the number of values it averages"),
    Mistake("statistics over the features of each example (axis 1) instead of over the batch",
            lambda x, g, b, eps: g * (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + eps) + b,
            "take the mean and variance along axis 0, one pair per feature (that is layer norm)"),
    Mistake("eps added to the standard deviation instead of the variance",
            lambda x, g, b, eps: g * (x - x.mean(0)) / (x.std(0) + eps) + b,
            "divide by np.sqrt(var + eps), with eps inside the square root"),
    Mistake("dividing by the variance instead of the standard deviation",
            lambda x, g, b, eps: g * (x - x.mean(0)) / (x.var(0) + eps) + b,
            "x_hat = (x - mean) / sqrt(var + eps): the square root makes x_hat's variance 1"),
    Mistake("gamma and beta swapped", lambda x, g, b, eps: b * (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + g,
            "out = gamma * x_hat + beta: gamma multiplies, beta is added"),
    Mistake("gamma and beta left out (returning x_hat)",
            lambda x, g, b, eps: (x - x.mean(0)) / np.sqrt(x.var(0) + eps),
            "finish with out = gamma * x_hat + beta"),
    Mistake("the mean of the whole batch (x.mean() without an axis) instead of one mean per feature",
            lambda x, g, b, eps: g * (x - x.mean()) / np.sqrt(x.var(0) + eps) + b,
            "one mean per feature, over the batch: x.mean(axis=0)"),
]


check_batchnorm_forward = Exercise("batchnorm_forward", lambda: [
    Case(description, (x, g, b, eps), _batchnorm_reference(x, g, b, eps).forward(x), hint)
    for description, x, g, b, eps, _, hint in _batchnorm_cases(100)], BATCHNORM_FORWARD_MISTAKES,
    reference=lambda x, g, b, eps: _batchnorm_reference(x, g, b, eps).forward(x), doc="""Notebook 10, ``batchnorm_forward(x, gamma, beta, eps)`` -> out, batch normalisation of
    x (N, D) in training mode: per feature, x_hat = (x - mean) / sqrt(var + eps) with the
    batch's mean and (population) variance, out = gamma * x_hat + beta.""")


def _batchnorm_backward_reference(dout, x, gamma, eps):
    layer = _batchnorm_reference(x, gamma, np.zeros_like(gamma), eps)
    layer.forward(x)
    return layer.backward(dout), layer.grads["gamma"], layer.grads["beta"]


def _batchnorm_parts(dout, x, gamma, eps, ddof=0):
    inv_std = 1 / np.sqrt(x.var(0, ddof=ddof) + eps)
    x_hat = (x - x.mean(0)) * inv_std
    return x_hat, inv_std, (dout * x_hat).sum(0), dout.sum(0)

def _batchnorm_backward_with(kind):
    def produce(dout, x, gamma, eps):
        x_hat, inv_std, dgamma, dbeta = _batchnorm_parts(dout, x, gamma, eps, ddof=1 if kind == "sample" else 0)
        mean_dout, mean_dout_x_hat = dout.mean(0), (dout * x_hat).mean(0)
        if kind == "no means":
            return gamma * inv_std * dout, dgamma, dbeta
        if kind == "no x_hat term":
            return gamma * inv_std * (dout - mean_dout), dgamma, dbeta
        if kind == "no mean term":
            return gamma * inv_std * (dout - x_hat * mean_dout_x_hat), dgamma, dbeta
        if kind == "sums":
            return gamma * inv_std * (dout - dbeta - x_hat * dgamma), dgamma, dbeta
        if kind == "no gamma":
            return inv_std * (dout - mean_dout - x_hat * mean_dout_x_hat), dgamma, dbeta
        if kind == "x_hat term added":
            return gamma * inv_std * (dout - mean_dout + x_hat * mean_dout_x_hat), dgamma, dbeta
        if kind == "dgamma of the first example":
            return gamma * inv_std * (dout - mean_dout - x_hat * mean_dout_x_hat), (dout * x_hat)[0], dbeta
        if kind == "swapped":
            return gamma * inv_std * (dout - mean_dout - x_hat * mean_dout_x_hat), dbeta, dgamma
        return gamma * inv_std * (dout - mean_dout - x_hat * mean_dout_x_hat), dgamma, dbeta   # "sample"
    return produce

BATCHNORM_BACKWARD_MISTAKES = [
    Mistake("missing the mean-of-gradient terms: treating the batch mean and variance as constants",
            _batchnorm_backward_with("no means"), "in training the mean and variance depend on every x: subtract "
                               "mean(dout) and x_hat * mean(dout * x_hat) before scaling"),
    Mistake("missing the variance's term x_hat * mean(dout * x_hat)", _batchnorm_backward_with("no x_hat term"),
            "the variance depends on x too: dx = gamma * inv_std * (dout - mean(dout) - x_hat * mean(dout * x_hat))"),
    Mistake("missing the mean's term mean(dout)", _batchnorm_backward_with("no mean term"),
            "the batch mean depends on x: subtract mean(dout) (over the batch, axis 0)"),
    Mistake("sums where the formula has means", _batchnorm_backward_with("sums"),
            "mean(dout) = dout.sum(axis=0) / N: the compact formula averages over the batch"),
    Mistake("gamma left out of dx", _batchnorm_backward_with("no gamma"),
            "out = gamma * x_hat + beta, so dx_hat = gamma * dout"),
    Mistake("dgamma and dbeta swapped", _batchnorm_backward_with("swapped"),
            "dgamma = sum(dout * x_hat) and dbeta = sum(dout), over the batch; return (dx, dgamma, dbeta)"),
    Mistake("the sample variance (N - 1) instead of the population variance", _batchnorm_backward_with("sample"),
            "the forward pass used x.var(axis=0) (divide by N): backward must use the same"),
    Mistake("the variance's term added instead of subtracted (+ x_hat * mean(dout * x_hat))",
            _batchnorm_backward_with("x_hat term added"),
            "both terms are subtracted: dout - mean(dout) - x_hat * mean(dout * x_hat)"),
    Mistake("dgamma from the first example only ((dout * x_hat)[0])",
            _batchnorm_backward_with("dgamma of the first example"),
            "gamma scales every example: dgamma sums dout * x_hat over the batch, (dout * x_hat).sum(axis=0)"),
]


check_batchnorm_backward = Exercise("batchnorm_backward", lambda: [
    Case(description, (dout, x, g, eps), _batchnorm_backward_reference(dout, x, g, eps), hint)
    for description, x, g, _, eps, dout, hint in _batchnorm_cases(101)], BATCHNORM_BACKWARD_MISTAKES,
    reference=_batchnorm_backward_reference, doc="""Notebook 10, ``batchnorm_backward(dout, x, gamma, eps)`` -> (dx, dgamma, dbeta) for
    out = gamma * x_hat + beta in training mode, x (N, D), in the compact form
    dx = gamma / sqrt(var + eps) * (dout - mean(dout) - x_hat * mean(dout * x_hat)).""")


def _residual_dense_reference(x, W, dout):
    """(dx, dW) of y = x + ReLU(x @ W), by scratchcnn's Residual(Dense, ReLU) (bias 0)."""
    dense = Dense(*W.shape, dtype=np.float64)
    dense.params["W"] = np.array(W, np.float64)
    block = Residual(dense, ReLU())
    block.forward(x)
    return block.backward(dout), dense.grads["W"]


RESIDUAL_MISTAKES = [
    Mistake("forgetting the skip path: only the inner path's gradient",
            lambda x, W, dout: ((dout * (x @ W > 0)) @ W.T, x.T @ (dout * (x @ W > 0))),
            "y = x + f(x): the skip path passes dout unchanged, so add dout to the inner path's gradient"),
    Mistake("forgetting the inner path: dx = dout",
            lambda x, W, dout: (dout, x.T @ (dout * (x @ W > 0))),
            "dx = dout + (dout * relu_mask) @ W.T: the gradient also flows back through W"),
    Mistake("the ReLU left out of the backward pass",
            lambda x, W, dout: (dout + dout @ W.T, x.T @ dout),
            "multiply dout by the ReLU's mask (x @ W > 0) before going back through W"),
    Mistake("W not transposed in dx", lambda x, W, dout: (dout + (dout * (x @ W > 0)) @ W,
                                                          x.T @ (dout * (x @ W > 0))),
            "forward multiplies by W, backward by W.T: (dout * mask) @ W.T"),
]


def _residual_cases():
    rng = case_rng(102)
    return [Case(description, (x, W, dout), _residual_dense_reference(x, W, dout), hint)
            for description, x, W, dout, hint in varied_settings([
        ("2 examples, 2 features, by hand", np.array([[1.0, -1.0], [0.5, 2.0]]),
         np.array([[1.0, -2.0], [0.5, 1.0]]), np.array([[1.0, 1.0], [-1.0, 2.0]]),
         "dx = dout (the skip) + (dout * (x @ W > 0)) @ W.T (the inner path)"),
        ("a non-symmetric W", rng.standard_normal((4, 3)), rng.standard_normal((3, 3)),
         rng.standard_normal((4, 3)), "go back through W with W.T, and dW = x.T @ (dout * mask)"),
        ("a batch of 6", rng.standard_normal((6, 5)), rng.standard_normal((5, 5)),
         rng.standard_normal((6, 5)), "dW sums over the batch: x.T @ (dout * mask), no mean"),
    ], 1020)]


check_residual_backward = Exercise("residual_backward", _residual_cases, RESIDUAL_MISTAKES,
                                   reference=_residual_dense_reference, doc="""Notebook 10, ``residual_backward(x, W, dout)`` -> (dx, dW) for the
    residual block y = x + ReLU(x @ W), x (N, D), W (D, D): the skip path and the inner path add.""")


def rmsprop_update(weights, gradient, mean_square, lr, alpha, eps, *, average=None, denominator=None,
                   old_mean_square=False):
    """One step of scratchcnn.RMSprop on one weight array: (new weights, new mean square),
        v <- alpha v + (1 - alpha) g^2,   w <- w - lr g / (sqrt(v) + eps).
    The keywords make the typical mistakes the check names: ``average(g, v, alpha)`` replaces
    the running average, ``denominator(v, eps)`` sqrt(v) + eps, ``old_mean_square`` steps with the old v."""
    weights, gradient, mean_square = (np.asarray(a, dtype=np.float64) for a in (weights, gradient, mean_square))
    new_mean_square = (average or (lambda g, v, a: a * v + (1 - a) * g * g))(gradient, mean_square, alpha)
    used = mean_square if old_mean_square else new_mean_square
    denominator = denominator or (lambda v, eps: np.sqrt(v) + eps)
    return weights - lr * gradient / denominator(used, eps), new_mean_square


def _rmsprop_with(**mistake):
    return lambda *args: rmsprop_update(*args, **mistake)


def _rmsprop_cases():
    rng = case_rng(103)
    return reference_cases(rmsprop_update, varied_settings([
    ("first step: mean square starts at zero", np.array([1.0, -2.0, 0.5]), np.array([0.5, -0.1, 2.0]),
     np.zeros(3), 0.01, 0.9, 1e-8,
     "from v = 0 the first step is lr * g / sqrt((1 - alpha) g^2): the same size for every weight"),
    ("a mean square from earlier steps", np.array([1.0, -2.0, 0.5]), np.array([0.5, -0.1, 2.0]),
     np.array([0.2, 0.01, 1.0]), 0.01, 0.99, 1e-8,
     "v <- alpha * v + (1 - alpha) * g**2, then w <- w - lr * g / (np.sqrt(v) + eps)"),
    ("a zero gradient and eps 0.1", np.array([[0.5, -0.5], [1.0, 2.0]]), np.array([[0.0, 1.0], [0.0, -3.0]]),
     np.array([[0.0, 0.04], [1e-4, 0.5]]), 0.1, 0.9, 0.1,
     "eps is added to sqrt(v), after the root; a zero gradient moves nothing"),
    ("2-D weights, lr 0.5, alpha 0.5", rng.standard_normal((3, 4)), rng.standard_normal((3, 4)),
     rng.uniform(0, 1, (3, 4)), 0.5, 0.5, 1e-6,
     "use the lr, alpha and eps you are given; return (new_weights, new_mean_square)"),
], 1030))


check_rmsprop_step = Exercise("rmsprop_step", _rmsprop_cases, [
    Mistake("no square root: dividing by the mean square itself",
            _rmsprop_with(denominator=lambda v, eps: v + eps),
            "divide by np.sqrt(v) + eps: the root of the mean square has the units of the gradient"),
    Mistake("eps inside the square root", _rmsprop_with(denominator=lambda v, eps: np.sqrt(v + eps)),
            "w - lr * g / (np.sqrt(v) + eps), with eps outside the root (as PyTorch and scratchcnn)"),
    Mistake("alpha and 1 - alpha swapped", _rmsprop_with(average=lambda g, v, a: (1 - a) * v + a * g * g),
            "v <- alpha * v + (1 - alpha) * g**2: alpha (0.99) keeps the OLD average"),
    Mistake("the gradient instead of its square in the average",
            _rmsprop_with(average=lambda g, v, a: a * v + (1 - a) * g,
                          denominator=lambda v, eps: np.sqrt(np.abs(v)) + eps),
            "average the SQUARED gradient: v <- alpha * v + (1 - alpha) * g * g"),
    Mistake("the old mean square used in the weight update", _rmsprop_with(old_mean_square=True),
            "update v first, then use the NEW v in w <- w - lr * g / (sqrt(v) + eps)"),
], reference=rmsprop_update, doc="""Notebook 10, ``rmsprop_step(weights, gradient, mean_square, lr, alpha, eps)`` ->
    (new_weights, new_mean_square):  v <- alpha v + (1 - alpha) g^2,  w <- w - lr g / (sqrt(v) + eps).""")


# --- Layer normalisation (section 8) -----------------------------------------------------

def _layernorm_reference(x, gamma, beta, eps):
    return _norm_layer(LayerNorm, x, gamma, beta, eps)


def _layernorm_cases(seed):
    """(description, x, gamma, beta, eps, dout, hint) for the layer-norm exercises."""
    rng = case_rng(seed)
    return varied_settings([
        ("3 examples, 4 features, gamma 1 and beta 0",
         np.array([[1.0, 2.0, 3.0, 6.0], [10.0, 0.0, -10.0, 4.0], [0.5, 0.5, 1.5, 2.5]]), np.ones(4), np.zeros(4),
         1e-5, np.array([[1.0, 0.0, -1.0, 0.5], [0.0, 2.0, 1.0, -1.0], [0.5, -0.5, 2.0, 1.0]]),
         "statistics per example, over its features: mean and variance along axis 1 (keepdims=True)"),
        ("a batch of one example, 5 features (batch norm could not do this)", rng.standard_normal((1, 5)) * 3 + 1,
         rng.uniform(0.5, 2, 5), rng.standard_normal(5), 1e-5, rng.standard_normal((1, 5)),
         "a single example still has 5 values to average: mean and variance over axis 1"),
        ("examples on very different scales, eps 0.1, odd sizes", rng.standard_normal((5, 3))
         * np.array([[0.01], [1], [100], [3], [0.3]]), np.array([2.0, -0.5, 1.5]), np.array([0.3, -1.0, 2.0]),
         0.1, rng.standard_normal((5, 3)),
         "eps goes under the square root, next to the variance: (x - mean) / sqrt(var + eps)"),
        ("7 examples, 6 features, gamma different per feature", rng.standard_normal((7, 6)) * 2 - 1,
         rng.uniform(-2, 2, 6), rng.standard_normal(6), 1e-5, rng.standard_normal((7, 6)),
         "gamma varies along the normalised axis: dL/dx_hat = gamma * dout goes inside the means"),
    ], seed + 1000, positions=(1, 5))


def _layernorm_forward(x, gamma, beta, eps, axis=1, ddof=0, eps_on_std=False):
    mean = x.mean(axis=axis, keepdims=True)
    std = np.sqrt(x.var(axis=axis, ddof=ddof, keepdims=True) + (0 if eps_on_std else eps))
    return gamma * (x - mean) / (std + (eps if eps_on_std else 0)) + beta


LAYERNORM_FORWARD_MISTAKES = [
    Mistake("statistics over the batch (axis 0, batch norm) instead of over each example's features",
            lambda x, g, b, eps: _layernorm_forward(x, g, b, eps, axis=0),
            "layer norm averages each row: x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)"),
    Mistake("the sample variance (dividing by D - 1) instead of the population variance",
            lambda x, g, b, eps: _layernorm_forward(x, g, b, eps, ddof=1),
            "use x.var(axis=1, keepdims=True) (ddof=0): divide by D, the number of values averaged"),
    Mistake("eps added to the standard deviation instead of the variance",
            lambda x, g, b, eps: _layernorm_forward(x, g, b, eps, eps_on_std=True),
            "divide by np.sqrt(var + eps), with eps inside the square root"),
    Mistake("gamma and beta left out (returning x_hat)",
            lambda x, g, b, eps: _layernorm_forward(x, np.ones_like(g), np.zeros_like(b), eps),
            "finish with out = gamma * x_hat + beta"),
]


check_layernorm_forward = Exercise("layernorm_forward", lambda: [
    Case(description, (x, g, b, eps), _layernorm_reference(x, g, b, eps).forward(x), hint)
    for description, x, g, b, eps, _, hint in _layernorm_cases(104)], LAYERNORM_FORWARD_MISTAKES,
    reference=lambda x, g, b, eps: _layernorm_reference(x, g, b, eps).forward(x), doc="""Notebook 10, ``layernorm_forward(x, gamma, beta, eps)`` -> out, layer normalisation of
    x (N, D): per example, x_hat = (x - mean) / sqrt(var + eps) with the mean and (population)
    variance of its D features, out = gamma * x_hat + beta (gamma, beta: (D,)).""")


def _layernorm_backward_reference(dout, x, gamma, eps):
    layer = _layernorm_reference(x, gamma, np.zeros_like(gamma), eps)
    layer.forward(x)
    return layer.backward(dout), layer.grads["gamma"], layer.grads["beta"]


def _layernorm_backward(dout, x, gamma, eps, axis=1, ddof=0, means=True, gamma_outside=False, derived_ddof=0):
    """The layer-norm backward with the statistics along ``axis``, and the typical slips (``ddof`` in the
    variance; ``derived_ddof``: the variance's term derived for a variance that divides by D - ddof)."""
    inv_std = 1 / np.sqrt(x.var(axis=axis, ddof=ddof, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=axis, keepdims=True)) * inv_std
    g = dout if gamma_outside else gamma * dout
    variance_term = x_hat * (g * x_hat).sum(axis=axis, keepdims=True) / (x.shape[axis] - derived_ddof)
    dx = g - g.mean(axis=axis, keepdims=True) - variance_term if means else g
    return (gamma if gamma_outside else 1) * inv_std * dx, (dout * x_hat).sum(0), dout.sum(0)


def _layernorm_mean_over_batch(dout, x, gamma, eps):
    """The layer-norm backward with mean(g) taken over the batch (axis 0) instead of the features."""
    inv_std = 1 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=1, keepdims=True)) * inv_std
    g = gamma * dout
    dx = inv_std * (g - g.mean(axis=0, keepdims=True) - x_hat * (g * x_hat).mean(axis=1, keepdims=True))
    return dx, (dout * x_hat).sum(0), dout.sum(0)


LAYERNORM_BACKWARD_MISTAKES = [
    Mistake("statistics over the batch (axis 0, batch norm's backward) instead of over each example's features",
            lambda dout, x, g, eps: _layernorm_backward(dout, x, g, eps, axis=0),
            "swap the axes of batch norm's formula: the means in dx are over axis 1 (keepdims=True)"),
    Mistake("missing the mean terms: treating each example's mean and variance as constants",
            lambda dout, x, g, eps: _layernorm_backward(dout, x, g, eps, means=False),
            "mu and var depend on every feature of the example: dx = inv_std * (g - mean(g) - x_hat * "
            "mean(g * x_hat)) with g = gamma * dout and the means over axis 1"),
    Mistake("gamma outside the means (as in batch norm, where it is constant along the averaged axis)",
            lambda dout, x, g, eps: _layernorm_backward(dout, x, g, eps, gamma_outside=True),
            "here gamma changes along the features you average: first g = gamma * dout, then the means of g"),
    Mistake("the sample variance (D - 1) instead of the population variance",
            lambda dout, x, g, eps: _layernorm_backward(dout, x, g, eps, ddof=1, derived_ddof=1),
            "the forward pass divides by D (np.var's default): backward must use the same variance"),
    Mistake("the sample variance (D - 1) in the forward statistics of backward",
            lambda dout, x, g, eps: _layernorm_backward(dout, x, g, eps, ddof=1),
            "the forward pass divides by D (np.var's default): recompute x_hat with x.var(axis=1, keepdims=True)"),
    Mistake("dgamma and dbeta swapped", lambda *args: (lambda dx, dg, db: (dx, db, dg))(*_layernorm_backward(*args)),
            "dgamma = sum(dout * x_hat) and dbeta = sum(dout), over the batch (axis 0); return (dx, dgamma, dbeta)"),
    Mistake("gamma left out of dx (g = dout instead of gamma * dout)",
            lambda dout, x, g, eps: _layernorm_backward(dout, x, np.ones_like(g), eps)[:1]
            + _layernorm_backward(dout, x, g, eps)[1:],
            "out = gamma * x_hat + beta, so dL/dx_hat = gamma * dout: start from g = gamma * dout"),
    Mistake("mean(g) over the batch (axis 0) where the mean over the features (axis 1) belongs",
            lambda dout, x, g, eps: _layernorm_mean_over_batch(dout, x, g, eps),
            "every mean in layer norm's dx is over the features of one example: axis=1, keepdims=True"),
]


check_layernorm_backward = Exercise("layernorm_backward", lambda: [
    Case(description, (dout, x, g, eps), _layernorm_backward_reference(dout, x, g, eps), hint)
    for description, x, g, _, eps, dout, hint in _layernorm_cases(105)], LAYERNORM_BACKWARD_MISTAKES,
    reference=_layernorm_backward_reference, doc="""Notebook 10, ``layernorm_backward(dout, x, gamma, eps)`` -> (dx, dgamma, dbeta) for
    out = gamma * x_hat + beta with per-example statistics, x (N, D): with g = gamma * dout and the
    means over the features, dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps).""")


# --- BatchNorm2D from BatchNorm1D, and the running statistics (section 4) ---------------------

def _images_cases(seed, with_running=False):
    """(description, x (N, C, H, W), gamma, beta, eps, running_mean, running_var, momentum, hint)."""
    rng = case_rng(seed)
    channel_offsets = np.array([0.0, 5.0, -3.0])[None, :, None, None]
    return [
        ("2 images, 3 channels of 4 x 5 pixels, channels on different scales",
         rng.standard_normal((2, 3, 4, 5)) * np.array([1.0, 10.0, 0.1])[None, :, None, None] + channel_offsets,
         np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.2, -0.3]), 1e-5, np.zeros(3), np.ones(3), 0.1,
         "per channel, over all m = N*H*W values: move the channels last, then reshape to (N*H*W, C)"),
        ("one image, 2 channels of 3 x 3", rng.standard_normal((1, 2, 3, 3)) * 2 + 1, np.array([1.0, 3.0]),
         np.array([0.0, 0.5]), 1e-5, np.array([0.5, -1.0]), np.array([2.0, 0.5]), 0.1,
         "one image still has H*W values per channel: the statistics are over (N, H, W), not per image"),
        ("3 images, 1 channel of 5 x 2, eps 0.1, momentum 0.3", rng.standard_normal((3, 1, 5, 2)) * 3,
         np.array([0.7]), np.array([-1.0]), 0.1, np.array([1.0]), np.array([3.0]), 0.3,
         "eps under the square root; running = (1 - momentum) * running + momentum * batch"),
        ("4 images, 3 channels of 2 x 3", rng.standard_normal((4, 3, 2, 3)) + channel_offsets,
         rng.uniform(0.5, 2, 3), rng.standard_normal(3), 1e-5, rng.standard_normal(3), rng.uniform(0.5, 2, 3), 0.1,
         "the population variance (divide by m) normalises; the running variance gets var * m / (m - 1)"),
    ]


def _batchnorm2d_reference(x, gamma, beta, eps, running_mean=None, running_var=None, momentum=0.1):
    layer = BatchNorm2D(x.shape[1], momentum=momentum, eps=eps, dtype=np.float64)
    layer.params["gamma"], layer.params["beta"] = np.array(gamma, np.float64), np.array(beta, np.float64)
    if running_mean is not None:
        layer.running_mean, layer.running_var = np.array(running_mean, np.float64), np.array(running_var, np.float64)
    return layer, layer.forward(x)


def _per_channel(v):
    return np.asarray(v)[None, :, None, None]


def _batchnorm2d_forward(x, gamma, beta, eps, axes=(0, 2, 3), ddof=0, reshape_without_transpose=False):
    if reshape_without_transpose:
        flat = x.reshape(-1, x.shape[1])
        out = (flat - flat.mean(0)) / np.sqrt(flat.var(0) + eps)
        return out.reshape(x.shape) * _per_channel(gamma) + _per_channel(beta)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, ddof=ddof, keepdims=True)
    return _per_channel(gamma) * (x - mean) / np.sqrt(var + eps) + _per_channel(beta)


BATCHNORM2D_FORWARD_MISTAKES = [
    Mistake("statistics per image (over H and W only) instead of per channel over the whole batch",
            lambda x, g, b, eps: _batchnorm2d_forward(x, g, b, eps, axes=(2, 3)),
            "one mean and one variance per channel, over all N*H*W values: axis=(0, 2, 3)"),
    Mistake("statistics per pixel position (over N only, BatchNorm1D on x.reshape(N, -1))",
            lambda x, g, b, eps: _batchnorm2d_forward(x, g, b, eps, axes=(0,)),
            "every pixel of a channel counts as one more example of that channel: average over (N, H, W)"),
    Mistake("x.reshape(-1, C) without moving the channels last first: the columns mix channels",
            lambda x, g, b, eps: _batchnorm2d_forward(x, g, b, eps, reshape_without_transpose=True),
            "x.transpose(0, 2, 3, 1).reshape(-1, C) puts one channel per column (and transpose back after)"),
    Mistake("the sample variance (dividing by m - 1) in the normalisation",
            lambda x, g, b, eps: _batchnorm2d_forward(x, g, b, eps, ddof=1),
            "normalise with the population variance (divide by m = N*H*W), as BatchNorm1D does"),
]


check_batchnorm2d_forward = Exercise("batchnorm2d_forward", lambda: [
    Case(description, (x, g, b, eps), _batchnorm2d_reference(x, g, b, eps)[1], hint)
    for description, x, g, b, eps, *_, hint in _images_cases(106)], BATCHNORM2D_FORWARD_MISTAKES,
    reference=lambda x, g, b, eps: _batchnorm2d_reference(x, g, b, eps)[1], doc="""Notebook 10, ``batchnorm2d_forward(x, gamma, beta, eps)`` -> out, batch normalisation of
    images x (N, C, H, W) in training mode: per channel, over the m = N*H*W values of the batch
    (BatchNorm1D on x moved to (N*H*W, C)); gamma, beta: (C,).""")


def _running_update(x, running_mean, running_var, momentum, axes=(0, 2, 3), m=None, unbiased=True,
                    momentum_on_old=False):
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    if axes == (2, 3):                                     # per image: the means of the images' statistics
        mean, var = mean.mean(0), var.mean(0)
    m = m or x.size // x.shape[1]
    new = momentum if not momentum_on_old else 1 - momentum
    return ((1 - new) * running_mean + new * mean,
            (1 - new) * running_var + new * var * (m / (m - 1) if unbiased else 1))


RUNNING_STATISTICS_MISTAKES = [
    Mistake("m = N (the number of images) in the unbiased factor m / (m - 1) instead of m = N*H*W",
            lambda x, rm, rv, mom: _running_update(x, rm, rv, mom, m=x.shape[0]),
            "each channel's variance averages N*H*W values: the factor is m / (m - 1) with m = N*H*W"),
    Mistake("the population variance in the running variance (no m / (m - 1))",
            lambda x, rm, rv, mom: _running_update(x, rm, rv, mom, unbiased=False),
            "the running variance estimates the data's variance: multiply the batch's by m / (m - 1)"),
    Mistake("momentum as the weight of the OLD running value (the Keras convention) instead of the new batch",
            lambda x, rm, rv, mom: _running_update(x, rm, rv, mom, momentum_on_old=True),
            "PyTorch's (and scratchcnn's) momentum = 0.1 weighs the NEW batch: (1 - momentum) * running + "
            "momentum * batch"),
    Mistake("statistics per image, averaged over the images",
            lambda x, rm, rv, mom: _running_update(x, rm, rv, mom, axes=(2, 3)),
            "take each channel's mean and variance over all N*H*W values at once: axis=(0, 2, 3)"),
]


def _running_reference(x, running_mean, running_var, momentum):
    layer, _ = _batchnorm2d_reference(x, np.ones(x.shape[1]), np.zeros(x.shape[1]), 1e-5, running_mean,
                                      running_var, momentum)
    return layer.running_mean, layer.running_var


check_batchnorm2d_running_statistics = Exercise("batchnorm2d_running_statistics", lambda: [
    Case(description, (x, rm, rv, mom), _running_reference(x, rm, rv, mom), hint)
    for description, x, _, _, _, rm, rv, mom, hint in _images_cases(107)], RUNNING_STATISTICS_MISTAKES,
    reference=_running_reference, doc="""Notebook 10, ``batchnorm2d_running_statistics(x, running_mean, running_var, momentum)`` ->
    (new_running_mean, new_running_var) after one training batch x (N, C, H, W), as PyTorch:
    running <- (1 - momentum) running + momentum batch, the variance unbiased (m / (m - 1), m = N*H*W).""")


# --- Batch norm in eval mode (section 4) ------------------------------------------------------

def _batchnorm_eval_reference(dout, x, gamma, beta, running_mean, running_var, eps):
    layer = _batchnorm_reference(x, gamma, beta, eps)
    layer.running_mean, layer.running_var = np.array(running_mean, np.float64), np.array(running_var, np.float64)
    layer.training = False
    out = layer.forward(x)
    return out, layer.backward(dout)


def _batchnorm_eval(dout, x, gamma, beta, running_mean, running_var, eps, batch_statistics=False,
                    training_backward=False, root=True, use_gamma=True, eps_on_std=False):
    mean, var = (x.mean(0), x.var(0)) if batch_statistics else (running_mean, running_var)
    scale = 1 / (np.sqrt(var) + eps if eps_on_std else np.sqrt(var + eps) if root else var + eps)
    x_hat = (x - mean) * scale
    dx = dout * (gamma if use_gamma else 1) * scale
    if training_backward:
        g = gamma * dout
        dx = scale * (g - g.mean(0) - x_hat * (g * x_hat).mean(0))
    return gamma * x_hat + beta, dx


BATCHNORM_EVAL_MISTAKES = [
    Mistake("the batch's statistics instead of the running ones (training mode at test time)",
            lambda *args: _batchnorm_eval(*args, batch_statistics=True),
            "in eval mode mean and variance are the given running_mean and running_var, not the batch's"),
    Mistake("the training-mode backward (the mean terms) in eval mode",
            lambda *args: _batchnorm_eval(*args, training_backward=True),
            "in eval mode the statistics are constants: dx = gamma * dout / sqrt(running_var + eps), no means"),
    Mistake("dividing by the running variance instead of its square root",
            lambda *args: _batchnorm_eval(*args, root=False),
            "x_hat = (x - running_mean) / np.sqrt(running_var + eps)"),
    Mistake("eps added to the running standard deviation instead of the running variance",
            lambda *args: _batchnorm_eval(*args, eps_on_std=True),
            "divide by np.sqrt(running_var + eps), with eps inside the square root"),
    Mistake("gamma left out of dx", lambda *args: _batchnorm_eval(*args, use_gamma=False),
            "out = gamma * x_hat + beta, so dx = gamma * dout / sqrt(running_var + eps)"),
]


def _eval_cases():
    cases = []
    for description, x, g, b, eps, dout, hint in _batchnorm_cases(108):
        rng = case_rng(len(cases))
        running_mean, running_var = rng.standard_normal(x.shape[1]), rng.uniform(0.3, 3, x.shape[1])
        args = (dout, x, g, b, running_mean, running_var, eps)
        cases.append(Case(description, args, _batchnorm_eval_reference(*args),
                          "eval mode: x_hat = (x - running_mean) / sqrt(running_var + eps); the statistics are "
                          "constants, so dx = gamma * dout / sqrt(running_var + eps)"))
    x_one = np.array([[0.5, -2.0, 3.0]])
    vary = keep_signs(1080)                           # secret: other values, the same signs
    args = (vary(np.array([[1.0, -1.0, 0.5]])), vary(x_one), np.array([2.0, 1.0, -1.0]), np.array([0.0, 1.0, 0.0]),
            vary(np.array([1.0, 0.0, 2.0])), vary(np.array([4.0, 1.0, 0.25])), 1e-5)
    cases.append(Case("a batch of one example (eval mode does not need a batch)", args,
                      _batchnorm_eval_reference(*args), "each example is normalised with the running statistics alone"))
    return cases


check_batchnorm_eval = Exercise("batchnorm_eval", _eval_cases, BATCHNORM_EVAL_MISTAKES,
    reference=_batchnorm_eval_reference, doc="""Notebook 10, ``batchnorm_eval(dout, x, gamma, beta, running_mean, running_var, eps)`` ->
    (out, dx): batch norm of x (N, D) in eval mode, out = gamma (x - running_mean) / sqrt(running_var + eps)
    + beta, and its backward dx = gamma * dout / sqrt(running_var + eps).""")


def _staged_backward(dout, x, gamma, eps, ddof=0, backward_ddof=None, variance_path=True, two=True, half=True, power_three_halves=True,
                     ds_sign=-1, mean_path=True, mean_divided=True, dmu_sign=-1, sum_axis=0, dbeta_summed=True):
    """Batch norm's backward walked node by node as in notebook 10's section 3, with one slip switched on."""
    m = x.shape[0]
    backward_ddof = ddof if backward_ddof is None else backward_ddof
    mu = x.mean(0)
    c = x - mu
    v = (c ** 2).sum(0) / (m - ddof)
    s = np.sqrt(v + eps)
    r = 1 / s
    x_hat = c * r
    dbeta = dout.sum(sum_axis) if dbeta_summed else dout
    dgamma = (dout * x_hat).sum(sum_axis)
    dx_hat = gamma * dout
    dr = (dx_hat * c).sum(0)
    ds = ds_sign * dr / s ** 2
    dv = ds / (2 * s) if half else ds / s
    if not power_three_halves:
        dv = -dr / (2 * s)                          # -1/2 dr (v + eps)^(-1/2)
    dc = dx_hat * r + (2 if two else 1) * c / (m - backward_ddof) * dv * variance_path
    dmu = dmu_sign * dc.sum(0)
    dx = dc + (dmu / m if mean_divided else dmu) * mean_path
    return dx, dgamma, dbeta


BATCHNORM_STAGED_MISTAKES = [
    Mistake("forgetting c's second share, the path through the variance (step 3)",
            lambda *args: _staged_backward(*args, variance_path=False),
            "c feeds both x_hat (step 6) and the variance v (step 3): dc = dx_hat * r + 2 * c / m * dv"),
    Mistake("forgetting the path through the mean: dx = dc",
            lambda *args: _staged_backward(*args, mean_path=False),
            "x feeds c directly and through mu (step 1): dx = dc + dmu / m, with dmu = -sum(dc) over the batch"),
    Mistake("the mean's gradient not divided by m: dx = dc + dmu",
            lambda *args: _staged_backward(*args, mean_divided=False),
            "mu = sum(x) / m, so each x_n receives dmu / m"),
    Mistake("dmu without its minus sign", lambda *args: _staged_backward(*args, dmu_sign=1),
            "c = x - mu: dmu = -sum(dc) over the batch"),
    Mistake("ds without the minus sign of d(1/s)/ds", lambda *args: _staged_backward(*args, ds_sign=1),
            "r = 1 / s, so dr/ds = -1 / s**2: ds = -dr / s**2"),
    Mistake("dvar without the factor 1/2 of the square root's derivative",
            lambda *args: _staged_backward(*args, half=False),
            "s = sqrt(v + eps), so ds/dv = 1 / (2 s): dv = ds / (2 * s)"),
    Mistake("dvar with the power -1/2 of (var + eps) instead of -3/2",
            lambda *args: _staged_backward(*args, power_three_halves=False),
            "r = (v + eps)**-0.5 has the derivative -0.5 * (v + eps)**-1.5: dv = -0.5 * dr * (v + eps)**-1.5"),
    Mistake("c's second share without the factor 2 of d(c**2)/dc",
            lambda *args: _staged_backward(*args, two=False),
            "v = mean(c**2), so dv/dc_n = 2 c_n / m"),
    Mistake("dividing by N - 1 (the sample variance) instead of N",
            lambda *args: _staged_backward(*args, ddof=1),
            "the variance of batch norm divides by m = N, in the forward pass and in c's second share 2 c / m"),
    Mistake("the sample variance (dividing by N - 1) in the forward nodes, N in c's second share",
            lambda *args: _staged_backward(*args, ddof=1, backward_ddof=0),
            "v = mean(c**2) divides by m = N (np.var's default, ddof=0), like c's second share 2 c / m"),
    Mistake("dgamma and dbeta summed over the features (axis 1) instead of over the batch",
            lambda *args: _staged_backward(*args, sum_axis=1),
            "gamma and beta have one value per feature: sum over the batch, axis 0"),
    Mistake("dbeta = dout, without the sum over the batch",
            lambda *args: _staged_backward(*args, dbeta_summed=False),
            "beta is added to every example: dbeta = dout.sum(axis=0)"),
    Mistake("dgamma and dbeta swapped", lambda *args: (lambda dx, dg, db: (dx, db, dg))(*_staged_backward(*args)),
            "dgamma = sum(dout * x_hat) and dbeta = sum(dout), over the batch; return (dx, dgamma, dbeta)"),
]


def _staged_cases():
    cases = [Case(description, (dout, x, g, eps), _batchnorm_backward_reference(dout, x, g, eps), hint)
             for description, x, g, _, eps, dout, hint in _batchnorm_cases(109)]
    rng = case_rng(110)
    x, gamma, dout = rng.standard_normal((2, 3)) * 3, np.array([1.5, -2.0, 0.5]), rng.standard_normal((2, 3))
    cases.append(Case("a batch of 2: x_hat is about +-1 whatever x is, so dx is almost 0", (dout, x, gamma, 1e-3),
                      _batchnorm_backward_reference(dout, x, gamma, 1e-3),
                      "every path must be there for dx to come out almost 0: through x_hat, the variance and mu"))
    return cases


check_batchnorm_backward_staged = Exercise("batchnorm_backward_staged", _staged_cases, BATCHNORM_STAGED_MISTAKES,
    reference=_batchnorm_backward_reference, doc="""Notebook 10, ``batchnorm_backward_staged(dout, x, gamma, eps)`` -> (dx, dgamma, dbeta) for
    batch norm in training mode, x (N, D), walked back through the computational graph of section 3
    node by node (x_hat, r, s, v, c, mu, x); compared with scratchcnn's BatchNorm1D backward.""")
