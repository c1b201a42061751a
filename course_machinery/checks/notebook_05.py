"""Exercise checks of notebook 05 (softmax and cross-entropy), each an Exercise: its cases and its known mistakes."""

from __future__ import annotations

import math

import numpy as np

from scratchcnn import SoftmaxCrossEntropy, log_softmax, softmax

from .common_mistakes import softmax_gradient_every_label_in_every_row, softmax_shifted
from .framework import Case, Exercise, Mistake, case_rng, secret_rng, varied_settings


_SCALES_HINT = "rows of very different scale: subtract each row's OWN maximum (axis=1, keepdims=True)"


def _float(z):
    return np.asarray(z, dtype=np.float64)


def _picked(z, labels):
    """log_softmax(z)[n, labels[n]] for every row n."""
    return log_softmax(_float(z))[np.arange(len(labels)), labels]


def _onehot(z, labels):
    return np.eye(np.shape(z)[1])[labels]


def _global_max_softmax(z):
    """A softmax that subtracts the maximum of the whole array instead of each row's."""
    return softmax_shifted(_float(z), np.max(z))


# --- stable_softmax ---------------------------------------------------------------------

def _stable_softmax_cases():
    rng = case_rng(50)
    inputs = [
        ("small logits [[1, 2, 3]] (a batch of one)", np.array([[1.0, 2.0, 3.0]])),
        ("batch of 3 rows, 4 classes", rng.standard_normal((3, 4))),
        ("huge logits [[1000, -1000, 0]]", np.array([[1000.0, -1000.0, 0.0]])),
        ("very negative logits [[-1000, -1001, -1002]]", np.array([[-1000.0, -1001.0, -1002.0]])),
        ("rows of very different scale [[1000, 999], [0, 1]]", np.array([[1000.0, 999.0], [0.0, 1.0]])),
        ("integer logits, 3 rows, 3 classes", rng.integers(-3, 4, (3, 3))),
    ]
    inputs = varied_settings(inputs, 500, integers=False)      # secret: the written logits scaled, signs kept
    return [Case(description, (z,), softmax(z), "exp(z - row max) / its row sum") for description, z in inputs]


check_stable_softmax = Exercise("stable_softmax", _stable_softmax_cases, [
    Mistake("no maximum subtracted (exp overflows to inf, inf / inf = nan)", lambda z: softmax_shifted(z, 0),
            "subtract each row's maximum before np.exp: every exponent is then <= 0"),
    Mistake("the maximum of the whole array instead of each row's maximum", _global_max_softmax, _SCALES_HINT),
    Mistake("normalised over the wrong axis (columns, axis=0)",
            lambda z: softmax_shifted(z, z.max(axis=0, keepdims=True), axis=0),
            "each ROW is one example: sum over axis=1 with keepdims=True"),
    Mistake("divided by the sum of the whole array instead of each row's sum",
            lambda z: softmax_shifted(z, z.max(axis=1, keepdims=True), axis=None),
            "each row must sum to 1: exps.sum(axis=1, keepdims=True)"),
    Mistake("the row maximum subtracted without keepdims (broadcast along the wrong axis)",
            lambda z: softmax_shifted(z, z.max(axis=1)),
            "z.max(axis=1, keepdims=True) has shape (N, 1) and lines up with the rows"),
], reference=softmax, doc="Notebook 05, ``stable_softmax(logits (N, K)) -> probabilities (N, K)``, each row sums to 1.")


# --- the loss, its gradient, and both at once --------------------------------------------

def _loss_and_gradient(logits, labels):
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(_float(logits), labels)
    return loss, loss_fn.backward()


def _loss_inputs(seed):
    rng = case_rng(seed)
    inputs = [
        ("one example, logits [[2, 1, 0.1]], label 0", np.array([[2.0, 1.0, 0.1]]), np.array([0])),
        ("batch of 4 examples, 5 classes", rng.standard_normal((4, 5)), np.array([0, 3, 3, 1])),
        ("huge logits [[1000, 0, -1000]], label 2 (confident and wrong)", np.array([[1000.0, 0.0, -1000.0]]),
         np.array([2])),
        ("rows of very different scale [[1000, 999], [0, 1]], labels [1, 0]",
         np.array([[1000.0, 999.0], [0.0, 1.0]]), np.array([1, 0])),
        ("integer logits, 3 examples, 4 classes", rng.integers(-4, 5, (3, 4)), np.array([2, 2, 0])),
    ]
    return varied_settings(inputs, seed + 500, integers=False), rng     # labels (integers) stay


def _global_max_loss(z, y):
    """The mean cross-entropy in log space, with the maximum of the whole array subtracted instead of each row's."""
    shifted = _float(z) - np.max(z)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(y)), y].mean()


# Typical mistakes of the mean cross-entropy (N, K), (N,) -> float: (name, wrong loss, fix).
_LOSS_MISTAKES = [
    ("the sum over the batch instead of the mean (the 1/N missing)", lambda z, y: -_picked(z, y).sum(),
     "the loss is the MEAN over the N examples"),
    ("np.log(softmax(z)) (log(0) = -inf for a confident mistake)",
     lambda z, y: -np.log(softmax(_float(z))[np.arange(len(y)), y]).mean(),
     "compute log-softmax directly: z - max - log(sum(exp(z - max)))"),
    ("log_probs[:, labels] (every example scored against every label)",
     lambda z, y: -log_softmax(_float(z))[:, y].mean(), "pick one entry per row: log_probs[np.arange(N), labels]"),
    ("the maximum of the whole array instead of each row's maximum", _global_max_loss, _SCALES_HINT),
    ("log10 instead of the natural log", lambda z, y: -_picked(z, y).mean() / np.log(10),
     "cross-entropy uses the natural log (np.log)"),
    ("the sign (+log p instead of -log p)", lambda z, y: _picked(z, y).mean(),
     "the loss is -log p of the true class: positive, 0 when certain and right"),
]


# Typical mistakes of dL/dlogits = (softmax(z) - onehot(y)) / N: (name, wrong gradient, fix).
_GRADIENT_MISTAKES = [
    ("the 1/N missing (the gradient of the sum, not the mean)", lambda z, y: softmax(_float(z)) - _onehot(z, y),
     "the loss is the mean over N examples: divide p - y by N"),
    ("p[:, labels] -= 1 instead of p[np.arange(N), labels] -= 1", softmax_gradient_every_label_in_every_row,
     "p[:, labels] subtracts 1 in whole columns, for every example: use p[np.arange(N), labels] -= 1"),
    ("the sign (y - p instead of p - y)", lambda z, y: (_onehot(z, y) - softmax(_float(z))) / len(y),
     "dL/dz = p - y: the true class's logit has a negative gradient (raising it lowers the loss)"),
    ("the one-hot labels not subtracted (softmax / N only)", lambda z, y: softmax(_float(z)) / len(y),
     "subtract 1 at each example's true class"),
    ("the maximum of the whole array instead of each row's maximum",
     lambda z, y: (_global_max_softmax(z) - _onehot(z, y)) / len(y), _SCALES_HINT),
    ("divided by the number of classes K instead of N",
     lambda z, y: (softmax(_float(z)) - _onehot(z, y)) / np.shape(z)[1],
     "the mean is over the N examples (rows), not over the classes"),
]


def _loss_cases(seed, part, hint):
    """Cases (logits, labels) -> _loss_and_gradient(...)[part] (part None: both)."""
    inputs, _ = _loss_inputs(seed)
    return [Case(description, (z, y), _loss_and_gradient(z, y) if part is None else _loss_and_gradient(z, y)[part],
                 hint) for description, z, y in inputs]


check_cross_entropy_loss = Exercise(
    "cross_entropy_loss", lambda: _loss_cases(51, 0, "mean over n of -log_softmax(z)[n, labels[n]]"),
    [Mistake(name, wrong, fix) for name, wrong, fix in _LOSS_MISTAKES],
    doc="""Notebook 05, ``cross_entropy_loss(logits (N, K), labels (N,)) -> float``: the mean of
    -log softmax(logits)[n, labels[n]].""")

check_softmax_cross_entropy_gradient = Exercise(
    "softmax_cross_entropy_gradient", lambda: _loss_cases(52, 1, "(softmax(z) - onehot(labels)) / N"),
    [Mistake(name, wrong, fix) for name, wrong, fix in _GRADIENT_MISTAKES],
    doc="""Notebook 05, ``softmax_cross_entropy_gradient(logits (N, K), labels (N,)) -> dL/dlogits (N, K)``
    for the MEAN cross-entropy: (softmax(logits) - onehot(labels)) / N.""")


def _softmax_cross_entropy_cases():
    inputs, rng = _loss_inputs(53)
    inputs.append(("a batch of 6 with 10 classes, logits of size 50", 50 * rng.standard_normal((6, 10)),
                   rng.integers(0, 10, 6)))
    return [Case(description, (z, y), _loss_and_gradient(z, y),
                 "loss = mean of -log_softmax at the labels; dlogits = (softmax - onehot) / N")
            for description, z, y in inputs]


check_softmax_cross_entropy = Exercise("softmax_cross_entropy", _softmax_cross_entropy_cases, [
    Mistake(f"in the loss: {name}", lambda z, y, wrong=wrong: (wrong(z, y), _loss_and_gradient(z, y)[1]), fix)
    for name, wrong, fix in _LOSS_MISTAKES
] + [
    Mistake(f"in the gradient: {name}", lambda z, y, wrong=wrong: (_loss_and_gradient(z, y)[0], wrong(z, y)), fix)
    for name, wrong, fix in _GRADIENT_MISTAKES
], reference=_loss_and_gradient, doc="""Notebook 05, ``softmax_cross_entropy(logits (N, K), labels (N,)) -> (loss, dlogits)``: the loss layer's
    forward and backward on a batch in one function.""")


# --- uniform_loss ---------------------------------------------------------------------------

def _class_counts_for_uniform_loss():
    """K = 10, 2, 1000, 1; inside secret_cases, other K in the same ranges (1 stays: it has no other)."""
    secret = secret_rng(54)
    if secret is None:
        return 10, 2, 1000, 1
    return tuple(int(secret.integers(low, high)) for low, high in [(3, 10), (11, 100), (101, 5000), (5001, 20000)])


check_uniform_loss = Exercise("uniform_loss", lambda: [
    Case(f"K = {K} classes", (K,), SoftmaxCrossEntropy().forward(np.zeros((1, K)), np.array([0])),
         "the true class gets p = 1/K; the loss is -log of that") for K in _class_counts_for_uniform_loss()
], [
    Mistake("log10 instead of the natural log", lambda K: math.log10(K), "cross-entropy uses np.log"),
    Mistake("log2 instead of the natural log", lambda K: math.log2(K), "cross-entropy uses np.log"),
    Mistake("the probability 1/K instead of the loss", lambda K: 1 / K, "the loss is -log(1/K) = ln K"),
    Mistake("the sign (log(1/K) = -ln K)", lambda K: -math.log(K), "the loss is MINUS the log-probability: ln K"),
], doc="Notebook 05, ``uniform_loss(K)``: the cross-entropy of a prediction giving each of K classes probability 1/K.")
