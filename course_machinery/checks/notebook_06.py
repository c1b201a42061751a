"""Exercise checks of notebook 06 (dense layers and activations), each an Exercise: its cases and its known mistakes."""

from __future__ import annotations

import math

import numpy as np

from scratchcnn import Dense, Dropout, ReLU, SoftmaxCrossEntropy

from .framework import Case, Exercise, Mistake, case_rng, secret_rng, varied_settings


def _dense(W, b=None):
    """A float64 Dense layer holding the weights W (and bias b)."""
    layer = Dense(*np.shape(W), dtype=np.float64)
    layer.params["W"] = np.asarray(W, dtype=np.float64)
    if b is not None:
        layer.params["b"] = np.asarray(b, dtype=np.float64)
    return layer


# --- dense_backward ---------------------------------------------------------------------

def _dense_backward_reference(x, W, dout):
    """(dx, dW, db) from Dense.backward, with the layer's weights set to W."""
    layer = _dense(W)
    layer.forward(np.asarray(x, dtype=np.float64))
    dx = layer.backward(np.asarray(dout, dtype=np.float64))
    return dx, layer.grads["W"], layer.grads["b"]


def _dense_backward_cases():
    rng = case_rng(60)
    settings = [   # (description, N, D, M, hint)
        ("a batch of one: N=1, D=3, M=2", 1, 3, 2,
         "dx = dout @ W.T has the shape of x (N, D), dW = x.T @ dout the shape of W (D, M), "
         "db = dout summed over the batch (M,)"),
        ("batch: N=4, D=3, M=2", 4, 3, 2,
         "db sums dout over the batch axis (axis=0), and x.T @ dout already sums over the batch: "
         "no mean, no division by N, every example counts"),
        ("square weights: N=2, D=M=3", 2, 3, 3,
         "with a square W a wrong transpose still has the right shape: dx = dout @ W.T (not dout @ W), "
         "dW = x.T @ dout (not dout.T @ x)"),
    ]
    cases = []
    for description, N, D, M, hint in settings:
        x, W, dout = rng.standard_normal((N, D)), rng.standard_normal((D, M)), rng.standard_normal((N, M))
        cases.append(Case(description, (x, W, dout), _dense_backward_reference(x, W, dout), hint))
    x, W, dout = rng.integers(-3, 4, (5, 2)), rng.integers(-3, 4, (2, 4)), rng.integers(-3, 4, (5, 4))
    cases.append(Case("integer inputs: N=5, D=2, M=4", (x, W, dout), _dense_backward_reference(x, W, dout),
                      "integer arrays work with @ and sum like floats; don't update them in place"))
    return cases


check_dense_backward = Exercise("dense_backward", _dense_backward_cases, [
    Mistake("dx = dout @ W, without the transpose", lambda x, W, dout: (dout @ W, x.T @ dout, dout.sum(axis=0)),
            "dx[n, d] = sum_m dout[n, m] W[d, m], i.e. dout @ W.T"),
    Mistake("dW = dout.T @ x, the transpose of dW", lambda x, W, dout: (dout @ W.T, dout.T @ x, dout.sum(axis=0)),
            "dW must have the shape of W (D, M): dW = x.T @ dout"),
    Mistake("db averaged over the batch (a mean instead of a sum)",
            lambda x, W, dout: (dout @ W.T, x.T @ dout, dout.mean(axis=0)),
            "db = dout.sum(axis=0): the 1/N of the mean loss is already inside dout"),
    Mistake("dW and db divided by the batch size N",
            lambda x, W, dout: (dout @ W.T, x.T @ dout / len(x), dout.sum(axis=0) / len(x)),
            "no division by N here: dout already carries the 1/N of the mean loss"),
    Mistake("db summed over the wrong axis (over the outputs, not over the batch)",
            lambda x, W, dout: (dout @ W.T, x.T @ dout, dout.sum(axis=1)),
            "sum over the batch axis 0: db has one entry per output unit, shape (M,)"),
], reference=_dense_backward_reference, doc="""Notebook 06, ``dense_backward(x, W, dout)`` -> (dx, dW, db) for out = x @ W + b,
    x (N, D), W (D, M), dout (N, M).""")


# --- relu_backward ----------------------------------------------------------------------

_RELU_BACKWARD_SETTINGS = [    # (description, x, dout, hint)
    ("mixed signs", np.array([[-2.0, -0.5, 0.5, 2.0]]), np.array([[3.0, 3.0, 3.0, 3.0]]),
     "dx = dout * (x > 0): the gradient passes only where the layer's INPUT x was positive"),
    ("negative upstream gradient", np.array([[1.0, -1.0], [2.0, -2.0]]), np.array([[-1.5, 2.5], [-0.5, 4.0]]),
     "a negative dout passes unchanged where x > 0: only the input x decides what passes"),
    ("x exactly 0", np.array([[0.0, 1.0, 0.0, -1.0]]), np.array([[1.0, 1.0, 1.0, 1.0]]),
     "at x = 0 use gradient 0 (the mask is x > 0, strictly), as scratchcnn's ReLU does"),
    ("a 4-D (N, C, H, W) input", np.linspace(-1, 1, 16).reshape(1, 1, 4, 4),
     np.arange(16.0).reshape(1, 1, 4, 4), "work element-wise on any shape: no reshape, no matrix product"),
    ("integer inputs", np.array([[3, -2, 0, 5]]), np.array([[2, 2, -1, -4]]),
     "integers work like floats; return a new array rather than editing dout in place"),
]


def _relu_backward_reference(x, dout):
    layer = ReLU()
    layer.forward(x)
    return layer.backward(dout)


check_relu_backward = Exercise("relu_backward", lambda: [
    Case(description, (x, dout), _relu_backward_reference(x, dout), hint)
    for description, x, dout, hint in varied_settings(_RELU_BACKWARD_SETTINGS, 600)   # secret: scaled, signs kept
], [
    Mistake("the mask built from dout instead of from the input x", lambda x, dout: dout * (dout > 0),
            "multiply dout by (x > 0), x being the ReLU's input"),
    Mistake("dout clipped at 0 as well as masked", lambda x, dout: np.maximum(dout, 0) * (x > 0),
            "only x decides what passes; dout passes unchanged, negative or not: dout * (x > 0)"),
    Mistake("slope 1 at x = 0 (x >= 0 instead of x > 0)", lambda x, dout: dout * (x >= 0),
            "use the strict mask x > 0: scratchcnn's ReLU takes slope 0 at the kink"),
    Mistake("the mask (x > 0) returned without multiplying by dout", lambda x, dout: (x > 0) * 1.0,
            "the chain rule multiplies the upstream gradient by the local slope: dout * (x > 0)"),
    Mistake("dout multiplied by the ReLU's output max(x, 0) instead of its slope",
            lambda x, dout: dout * np.maximum(x, 0),
            "the slope of max(x, 0) is 1 for x > 0 and 0 otherwise: dout * (x > 0)"),
], reference=_relu_backward_reference, doc="Notebook 06, ``relu_backward(x, dout)`` -> dx = dout * [x > 0] (same shape as x).")


# --- inverted_dropout -------------------------------------------------------------------

def _inverted_dropout_cases():
    rng = case_rng(61)
    settings = [   # (description, p, x, hint)
        ("p = 0.5", 0.5, rng.standard_normal((4, 6)),
         "zero the dropped units (keep == False) and scale the survivors up by 1 / (1 - p)"),
        ("p = 0.2", 0.2, rng.standard_normal((4, 6)),
         "divide by the KEEP probability 1 - p, not by p (at p = 0.5 both are 2; here they differ)"),
        ("p = 0 (keep everything)", 0.0, rng.standard_normal((4, 6)),
         "with p = 0 nothing is dropped and the scale is 1: out must equal x"),
        ("integer inputs, a batch of one, p = 0.75", 0.75, rng.integers(-5, 6, (1, 8)),
         "integers work too: x * keep / (1 - p) is a new float array"),
    ]
    cases = []
    for seed, (description, p, x, hint) in enumerate(settings):
        layer = Dropout(p, rng=case_rng(seed))
        out = layer.forward(x.astype(np.float64))
        keep = layer.mask != 0 if layer.mask is not None else np.ones(x.shape, dtype=bool)
        cases.append(Case(description, (x, keep, p), out, hint))
    return cases


check_inverted_dropout = Exercise("inverted_dropout", _inverted_dropout_cases, [
    Mistake("the survivors scaled by 1 / p instead of 1 / (1 - p)", lambda x, keep, p: x * keep / p,
            "p is the DROP probability; a unit survives with probability 1 - p, so divide by 1 - p"),
    Mistake("the survivors not scaled up at all", lambda x, keep, p: x * keep,
            "scale the survivors by 1 / (1 - p) so the expected output equals x"),
    Mistake("multiplied by 1 - p (the old evaluation-time rule) instead of dividing",
            lambda x, keep, p: x * keep * (1 - p),
            "inverted dropout DIVIDES by 1 - p in training, so evaluation needs nothing"),
    Mistake("every unit scaled, the keep mask forgotten", lambda x, keep, p: x / (1 - p),
            "zero the dropped units first: x * keep / (1 - p)"),
    Mistake("the mask inverted: the units with keep == True dropped",
            lambda x, keep, p: x * ~np.asarray(keep, dtype=bool) / (1 - p),
            "keep is True where the unit SURVIVES: x * keep / (1 - p)"),
], doc="""Notebook 06, ``inverted_dropout(x, keep, p)`` -> the training-mode output of
    inverted dropout, given the boolean mask ``keep`` of surviving units.""")


# --- predicted_std ----------------------------------------------------------------------

def _measured_dense_std(fan_in, weight_std, seed):
    """The std of x @ W measured on a Dense layer: x ~ N(0, 1) (2000 x fan_in), W ~ N(0, weight_std^2)."""
    rng = np.random.default_rng(seed)
    layer = _dense(rng.standard_normal((fan_in, 256)) * weight_std)
    return float(layer.forward(rng.standard_normal((2000, fan_in))).std())


_PREDICTED_STD_SETTINGS = [("fan_in 100, weight std 0.1", 100, 0.1),
                           ("fan_in 256, weight std 0.01 (too small)", 256, 0.01),
                           ("fan_in 784, He weights std sqrt(2/784)", 784, math.sqrt(2 / 784)),
                           ("fan_in 9, weight std 1", 9, 1.0),
                           ("fan_in 1, weight std 0.5", 1, 0.5)]

def _secret_std_settings(settings, seed):
    """The settings as written; inside secret_cases, other fan-ins (fan_in 1 stays 1) and weight stds
    scaled by a random factor (He weights stay He weights)."""
    secret = secret_rng(seed)
    if secret is None:
        return settings
    varied = []
    for description, fan_in, weight_std in settings:
        new_fan_in = 1 if fan_in == 1 else int(secret.integers(fan_in // 2 + 2, 2 * fan_in + 2))
        he = description.startswith(f"fan_in {fan_in}, He")
        std = math.sqrt(2 / new_fan_in) if he else weight_std * float(secret.uniform(0.5, 2.0))
        varied.append((f"fan_in {new_fan_in}, weight std {std:.4g}" + (" (He)" if he else ""), new_fan_in, std))
    return varied


check_predicted_std = Exercise("predicted_std", lambda: [
    Case(description, (fan_in, weight_std), _measured_dense_std(fan_in, weight_std, seed),
         "variances add over the fan_in inputs: Var(out) = fan_in * weight_std**2 * Var(x); "
         "the standard deviation is its square root", rtol=0.05, atol=0.0)
    for seed, (description, fan_in, weight_std) in enumerate(_secret_std_settings(_PREDICTED_STD_SETTINGS, 601))
], [
    Mistake("the variance fan_in * weight_std**2 instead of the standard deviation",
            lambda fan_in, weight_std: fan_in * weight_std ** 2,
            "the standard deviation is the square root of the variance: sqrt(fan_in) * weight_std"),
    Mistake("the standard deviations added (fan_in * weight_std) instead of the variances",
            lambda fan_in, weight_std: fan_in * weight_std,
            "variances add, not standard deviations: std = sqrt(fan_in * weight_std**2)"),
    Mistake("weight_std alone: the fan_in terms of the sum forgotten", lambda fan_in, weight_std: weight_std,
            "each output sums fan_in terms, and their variances add: sqrt(fan_in) * weight_std"),
    Mistake("sqrt(fan_in * weight_std): the weights' std used as a variance",
            lambda fan_in, weight_std: math.sqrt(fan_in * weight_std),
            "Var(W_d x_d) = weight_std**2 * 1: square the std first, sqrt(fan_in * weight_std**2)"),
], doc="""Notebook 06, ``predicted_std(fan_in, weight_std)`` -> the std of the outputs
    x @ W of one Dense layer (no bias, no ReLU) when the inputs x are independent
    with mean 0 and std 1 and the weights have mean 0 and std ``weight_std``.
    The expected values are measured, so answers within 5% pass.""")


# --- two_layer_backward -----------------------------------------------------------------

def _two_layer_backward_reference(x, W1, b1, W2, b2, labels):
    """(dW1, db1, dW2, db2) of Dense -> ReLU -> Dense -> SoftmaxCrossEntropy, by the module's layers."""
    first, relu, second, loss_fn = _dense(W1, b1), ReLU(), _dense(W2, b2), SoftmaxCrossEntropy()
    loss_fn.forward(second.forward(relu.forward(first.forward(np.asarray(x, dtype=np.float64)))), labels)
    first.backward(relu.backward(second.backward(loss_fn.backward())))
    return first.grads["W"], first.grads["b"], second.grads["W"], second.grads["b"]


def _two_layer_backward_with(mistake):
    """A two-layer backward pass by hand with one typical ``mistake`` (for the check's Mistakes)."""
    def produce(x, W1, b1, W2, b2, labels):
        x, N = np.asarray(x, dtype=np.float64), len(labels)
        z = x @ W1 + b1
        h = np.maximum(z, 0)
        scores = h @ W2 + b2
        if mistake == "no max subtracted":
            exps = np.exp(scores)
        else:
            exps = np.exp(scores - scores.max(axis=1, keepdims=True))
        dscores = exps / exps.sum(axis=1, keepdims=True)
        if mistake != "no one-hot":
            dscores[np.arange(N), labels] -= 1
        if mistake != "no 1/N":
            dscores = dscores / N
        dW2 = (z if mistake == "z for dW2" else h).T @ dscores
        dh = dscores @ W2.T
        mask = {"no mask": 1.0, "mask from dh": dh > 0}.get(mistake, z > 0)
        dz = dh * mask
        return x.T @ dz, dz.sum(axis=0), dW2, dscores.sum(axis=0)
    return produce


def _two_layer_backward_cases():
    rng = case_rng(62)

    def case(description, N, D, H, K, hint, scale=1.0, integer_x=False):
        x = rng.integers(0, 4, (N, D)) if integer_x else rng.standard_normal((N, D))
        W1, b1 = rng.standard_normal((D, H)), 0.1 * rng.standard_normal(H)
        W2, b2 = scale * rng.standard_normal((H, K)), 0.1 * rng.standard_normal(K)
        labels = rng.integers(0, K, N)
        args = (x, W1, b1, W2, b2, labels)
        return Case(description, args, _two_layer_backward_reference(*args), hint, rtol=1e-5, atol=1e-9)

    return [
        case("a batch of one: N=1, D=4, H=5, K=3", 1, 4, 5, 3,
             "start from dL/ds = (softmax(s) - onehot(y)) / N, then dW2 = h.T @ ds, db2 = ds.sum(axis=0), "
             "dh = ds @ W2.T, dz = dh * (z > 0), dW1 = x.T @ dz, db1 = dz.sum(axis=0)"),
        case("a batch: N=6, D=4, H=5, K=3", 6, 4, 5, 3,
             "the loss is the MEAN over the batch: divide dL/ds by N once, and sum (not average) the "
             "bias gradients over the batch"),
        case("integer inputs x: N=5, D=3, H=4, K=4", 5, 3, 4, 4,
             "integer inputs work like floats: compute in floats (x @ W1 is float already)", integer_x=True),
        case("large scores: softmax must subtract each row's maximum, N=4, D=3, H=6, K=5", 4, 3, 6, 5,
             "exp of scores in the hundreds overflows: subtract each row's maximum before np.exp", scale=300.0),
    ]


check_two_layer_backward = Exercise("two_layer_backward", _two_layer_backward_cases, [
    Mistake("dL/ds not divided by N (the loss summed over the batch instead of averaged)",
            _two_layer_backward_with("no 1/N"),
            "the loss is the mean over the N examples, so dL/ds = (softmax(s) - onehot(y)) / N"),
    Mistake("no ReLU mask in the backward pass", _two_layer_backward_with("no mask"),
            "the gradient passes the ReLU only where its input was positive: dz = dh * (z > 0)"),
    Mistake("the ReLU mask taken from the gradient (dh > 0) instead of the input z",
            _two_layer_backward_with("mask from dh"), "the mask comes from the forward pass: dz = dh * (z > 0)"),
    Mistake("dW2 from the pre-activation z instead of the ReLU's output h", _two_layer_backward_with("z for dW2"),
            "the second layer's input is h = max(z, 0): dW2 = h.T @ dscores"),
    Mistake("softmax(s) used as dL/ds without subtracting the one-hot labels", _two_layer_backward_with("no one-hot"),
            "dL/ds = (softmax(s) - onehot(y)) / N: subtract 1 at each example's label"),
    Mistake("softmax without subtracting each row's maximum (it overflows on large scores)",
            _two_layer_backward_with("no max subtracted"),
            "compute exp(s - s.max(axis=1, keepdims=True)); the result is the same, without overflow"),
], reference=_two_layer_backward_reference, doc="""Notebook 06, ``two_layer_backward(x, W1, b1, W2, b2, labels)`` -> (dW1, db1, dW2, db2),
    the gradients of the mean cross-entropy of Dense(W1, b1) -> ReLU -> Dense(W2, b2).""")
