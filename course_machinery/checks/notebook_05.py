"""Exercise checks of notebook 05."""

from __future__ import annotations

import math

import numpy as np

from scratchcnn import (SoftmaxCrossEntropy, log_softmax, softmax)

from .framework import Case, Mistake, check_exercise


# --- Notebook 05: softmax and cross-entropy ---------------------------------

_SCALES_HINT = "rows of very different scale: subtract each row's OWN maximum (axis=1, keepdims=True)"


def _softmax_variants():
    """Typical mistakes of a batch softmax (N, K) -> (N, K), shared by the softmax and loss checks."""
    def normalised(z, shift, axis=1):
        exps = np.exp(z - shift)
        return exps / exps.sum(axis=axis, keepdims=axis is not None)

    return {
        "naive": ("no maximum subtracted (exp overflows to inf, inf / inf = nan)", lambda z: normalised(z, 0),
                  "subtract each row's maximum before np.exp: every exponent is then <= 0"),
        "global": ("the maximum of the whole array instead of each row's maximum",
                   lambda z: normalised(z, z.max()), _SCALES_HINT),
        "axis0": ("normalised over the wrong axis (columns, axis=0)",
                  lambda z: normalised(z, z.max(axis=0, keepdims=True), axis=0),
                  "each ROW is one example: sum over axis=1 with keepdims=True"),
        "total": ("divided by the sum of the whole array instead of each row's sum",
                  lambda z: normalised(z, z.max(axis=1, keepdims=True), axis=None),
                  "each row must sum to 1: exps.sum(axis=1, keepdims=True)"),
        "no_keepdims": ("the row maximum subtracted without keepdims (broadcast along the wrong axis)",
                        lambda z: normalised(z, z.max(axis=1)),
                        "z.max(axis=1, keepdims=True) has shape (N, 1) and lines up with the rows"),
    }


def _softmax_cases(rng):
    return [
        ("small logits [[1, 2, 3]] (a batch of one)", np.array([[1.0, 2.0, 3.0]])),
        ("batch of 3 rows, 4 classes", rng.standard_normal((3, 4))),
        ("huge logits [[1000, -1000, 0]]", np.array([[1000.0, -1000.0, 0.0]])),
        ("very negative logits [[-1000, -1001, -1002]]", np.array([[-1000.0, -1001.0, -1002.0]])),
        ("rows of very different scale [[1000, 999], [0, 1]]", np.array([[1000.0, 999.0], [0.0, 1.0]])),
        ("integer logits, 3 rows, 3 classes", rng.integers(-3, 4, (3, 3))),
    ]


def check_stable_softmax(answer):
    """Notebook 05, ``stable_softmax(logits (N, K)) -> probabilities (N, K)``, each row sums to 1."""
    cases = [Case(description, (z,), softmax(z), "exp(z - row max) / its row sum")
             for description, z in _softmax_cases(np.random.default_rng(50))]
    mistakes = [Mistake(name, wrong, fix)
                for name, wrong, fix in _softmax_variants().values()]
    return check_exercise("stable_softmax", answer, cases, mistakes=mistakes)


def _loss_and_gradient(logits, labels):
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(np.asarray(logits, dtype=np.float64), labels)
    return loss, loss_fn.backward()


def _loss_cases(rng):
    return [
        ("one example, logits [[2, 1, 0.1]], label 0", np.array([[2.0, 1.0, 0.1]]), np.array([0])),
        ("batch of 4 examples, 5 classes", rng.standard_normal((4, 5)), np.array([0, 3, 3, 1])),
        ("huge logits [[1000, 0, -1000]], label 2 (confident and wrong)", np.array([[1000.0, 0.0, -1000.0]]),
         np.array([2])),
        ("rows of very different scale [[1000, 999], [0, 1]], labels [1, 0]",
         np.array([[1000.0, 999.0], [0.0, 1.0]]), np.array([1, 0])),
        ("integer logits, 3 examples, 4 classes", rng.integers(-4, 5, (3, 4)), np.array([2, 2, 0])),
    ]


def _loss_variants():
    """Typical mistakes of the mean cross-entropy (N, K), (N,) -> float."""
    log_probs = lambda z: log_softmax(np.asarray(z, dtype=np.float64))
    pick = lambda z, y: log_probs(z)[np.arange(len(y)), y]

    def global_max(z, y):
        shifted = np.asarray(z, np.float64) - np.max(z)
        return -(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))[np.arange(len(y)), y].mean()

    return [
        ("the sum over the batch instead of the mean (the 1/N missing)", lambda z, y: -pick(z, y).sum(),
         "the loss is the MEAN over the N examples"),
        ("np.log(softmax(z)) (log(0) = -inf for a confident mistake)",
         lambda z, y: -np.log(softmax(np.asarray(z, np.float64))[np.arange(len(y)), y]).mean(),
         "compute log-softmax directly: z - max - log(sum(exp(z - max)))"),
        ("log_probs[:, labels] (every example scored against every label)",
         lambda z, y: -log_probs(z)[:, y].mean(), "pick one entry per row: log_probs[np.arange(N), labels]"),
        ("the maximum of the whole array instead of each row's maximum", global_max, _SCALES_HINT),
        ("log10 instead of the natural log", lambda z, y: -pick(z, y).mean() / np.log(10),
         "cross-entropy uses the natural log (np.log)"),
        ("the sign (+log p instead of -log p)", lambda z, y: pick(z, y).mean(),
         "the loss is -log p of the true class: positive, 0 when certain and right"),
    ]


def check_cross_entropy_loss(answer):
    """Notebook 05, ``cross_entropy_loss(logits (N, K), labels (N,)) -> float``: the mean of
    -log softmax(logits)[n, labels[n]]."""
    cases = [Case(description, (z, y), _loss_and_gradient(z, y)[0], "mean over n of -log_softmax(z)[n, labels[n]]")
             for description, z, y in _loss_cases(np.random.default_rng(51))]
    mistakes = [Mistake(name, wrong, fix)
                for name, wrong, fix in _loss_variants()]
    return check_exercise("cross_entropy_loss", answer, cases, mistakes=mistakes)


def _gradient_variants():
    """Typical mistakes of dL/dlogits = (softmax(z) - onehot(y)) / N."""
    p = lambda z: softmax(np.asarray(z, dtype=np.float64))
    onehot = lambda z, y: np.eye(np.shape(z)[1])[y]

    def columns(z, y):
        grad = p(z)
        grad[:, y] -= 1
        return grad / len(y)

    def global_max(z, y):
        exps = np.exp(np.asarray(z, np.float64) - np.max(z))
        return (exps / exps.sum(axis=1, keepdims=True) - onehot(z, y)) / len(y)

    return [
        ("the 1/N missing (the gradient of the sum, not the mean)", lambda z, y: p(z) - onehot(z, y),
         "the loss is the mean over N examples: divide p - y by N"),
        ("p[:, labels] -= 1 instead of p[np.arange(N), labels] -= 1", columns,
         "p[:, labels] subtracts 1 in whole columns, for every example: use p[np.arange(N), labels] -= 1"),
        ("the sign (y - p instead of p - y)", lambda z, y: (onehot(z, y) - p(z)) / len(y),
         "dL/dz = p - y: the true class's logit has a negative gradient (raising it lowers the loss)"),
        ("the one-hot labels not subtracted (softmax / N only)", lambda z, y: p(z) / len(y),
         "subtract 1 at each example's true class"),
        ("the maximum of the whole array instead of each row's maximum", global_max, _SCALES_HINT),
        ("divided by the number of classes K instead of N", lambda z, y: (p(z) - onehot(z, y)) / np.shape(z)[1],
         "the mean is over the N examples (rows), not over the classes"),
    ]


def check_softmax_cross_entropy_gradient(answer):
    """Notebook 05, ``softmax_cross_entropy_gradient(logits (N, K), labels (N,)) -> dL/dlogits (N, K)``
    for the MEAN cross-entropy: (softmax(logits) - onehot(labels)) / N."""
    cases = [Case(description, (z, y), _loss_and_gradient(z, y)[1], "(softmax(z) - onehot(labels)) / N")
             for description, z, y in _loss_cases(np.random.default_rng(52))]
    mistakes = [Mistake(name, wrong, fix)
                for name, wrong, fix in _gradient_variants()]
    return check_exercise("softmax_cross_entropy_gradient", answer, cases, mistakes=mistakes)


def check_softmax_cross_entropy(answer):
    """Notebook 05, ``softmax_cross_entropy(logits (N, K), labels (N,)) -> (loss, dlogits)``: the loss layer's
    forward and backward on a batch in one function."""
    rng = np.random.default_rng(53)
    inputs = _loss_cases(rng) + [("a batch of 6 with 10 classes, logits of size 50", 50 * rng.standard_normal((6, 10)),
                                  rng.integers(0, 10, 6))]
    cases = [Case(description, (z, y), _loss_and_gradient(z, y), "loss = mean of -log_softmax at the labels; "
                  "dlogits = (softmax - onehot) / N") for description, z, y in inputs]
    loss = lambda z, y: _loss_and_gradient(z, y)[0]
    gradient = lambda z, y: _loss_and_gradient(z, y)[1]
    mistakes = ([Mistake(f"in the loss: {name}", lambda z, y, wrong=wrong: (wrong(z, y), gradient(z, y)), fix)
                 for name, wrong, fix in _loss_variants()]
                + [Mistake(f"in the gradient: {name}",
                           lambda z, y, wrong=wrong: (loss(z, y), wrong(z, y)), fix)
                   for name, wrong, fix in _gradient_variants()])
    return check_exercise("softmax_cross_entropy", answer, cases, mistakes=mistakes)


def check_uniform_loss(answer):
    """Notebook 05, ``uniform_loss(K)``: the cross-entropy of a prediction giving each of K classes probability 1/K."""
    cases = [Case(f"K = {K} classes", (K,), SoftmaxCrossEntropy().forward(np.zeros((1, K)), np.array([0])),
                  "the true class gets p = 1/K; the loss is -log of that") for K in (10, 2, 1000, 1)]
    mistakes = [
        Mistake("log10 instead of the natural log", lambda K: math.log10(K), "cross-entropy uses np.log"),
        Mistake("log2 instead of the natural log", lambda K: math.log2(K), "cross-entropy uses np.log"),
        Mistake("the probability 1/K instead of the loss", lambda K: 1 / K, "the loss is -log(1/K) = ln K"),
        Mistake("the sign (log(1/K) = -ln K)", lambda K: -math.log(K), "the loss is MINUS the log-probability: ln K"),
    ]
    return check_exercise("uniform_loss", answer, cases, mistakes=mistakes)


