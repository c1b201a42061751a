"""Exercise checks of notebook 07: training."""

from __future__ import annotations

import math

import numpy as np

from scratchcnn import Adam, SGD, SoftmaxCrossEntropy, TrainingDiverged, batch_bounds, reference_cnn, train

from .shared import mnist_test, reference_cases
from .framework import Case, Exercise, Mistake, case_rng, secret_active, secret_rng, varied, varied_settings


def _float(*arrays):
    return [np.asarray(array, dtype=np.float64) for array in arrays]


def momentum_update(weights, gradient, velocity, lr, momentum):
    """One step of the course's SGD with momentum (scratchcnn.SGD) on one weight array:
    v <- momentum * v + gradient, w <- w - lr * v. Returns (new weights, new velocity)."""
    weights, gradient, velocity = _float(weights, gradient, velocity)
    velocity = momentum * velocity + gradient
    return weights - lr * velocity, velocity


def adam_update(weights, gradient, m, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, *, correct_m=True,
                correct_s=True, t_offset=0, eps_inside=False, square=True, s_correction_power=1,
                return_corrected=False):
    """One step of scratchcnn.Adam at step number t (from 1) on one weight array:
    (new weights, new m, new s), m and s uncorrected. The keywords make the typical
    mistakes the checks of notebooks 07 and 11 name (their defaults are the right step)."""
    weights, gradient, m, s = _float(weights, gradient, m, s)
    m = beta1 * m + (1 - beta1) * gradient
    s = beta2 * s + (1 - beta2) * (gradient * gradient if square else gradient)
    step = t + t_offset
    m_hat = m / (1 - beta1 ** step) if correct_m else m
    s_hat = s / (1 - beta2 ** step) ** s_correction_power if correct_s else s
    denominator = np.sqrt(s_hat + eps) if eps_inside else np.sqrt(s_hat) + eps
    new_weights = weights - lr * m_hat / denominator
    return (new_weights, m_hat, s_hat) if return_corrected else (new_weights, m, s)


def _sgd_momentum_cases():
    rng = case_rng(70)
    return reference_cases(momentum_update, varied_settings([
    ("first step: velocity starts at zero", np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.5, -1.0]),
     np.zeros(3), 0.1, 0.9,
     "with zero velocity the first step is plain SGD: v = gradient and w - lr * gradient"),
    ("velocity from earlier steps", np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.5, -1.0]),
     np.array([2.0, -1.0, 0.0]), 0.1, 0.9,
     "first v <- momentum * v + gradient, then w <- w - lr * v with that NEW velocity"),
    ("zero gradient: momentum keeps moving", np.array([[0.5, 0.5], [0.5, 0.5]]), np.zeros((2, 2)),
     np.array([[1.0, -1.0], [0.5, 0.0]]), 0.1, 0.5,
     "even with a zero gradient the weights move by lr * momentum * v: that is what momentum means"),
    ("2-D weights, lr 0.5, momentum 0.99", rng.standard_normal((3, 4)), rng.standard_normal((3, 4)),
     rng.standard_normal((3, 4)), 0.5, 0.99,
     "use the lr and momentum you are given (no hard-coded 0.9 or 0.01), element-wise on any shape"),
    ("integer weights, gradient and velocity", np.array([3, -1, 2]), np.array([1, 2, -2]),
     np.array([1, 0, 1]), 0.25, 0.5,
     "integer arrays can't be updated in place with float results: build new arrays (w - lr * v)"),
], 700))


check_sgd_momentum_step = Exercise("sgd_momentum_step", _sgd_momentum_cases, [
    Mistake("the weights moved with the OLD velocity (before adding the gradient)",
            lambda w, g, v, lr, mu: (w - lr * v, mu * v + g),
            "update the velocity first, then move the weights with the new one: "
            "v = momentum * v + gradient; w = w - lr * v"),
    Mistake("the moving-average form v <- momentum * v + (1 - momentum) * gradient",
            lambda w, g, v, lr, mu: momentum_update(w, (1 - mu) * g, v, lr, mu),
            "the course's velocity SUMS the gradients, v = momentum * v + gradient (no 1 - momentum); "
            "that is what makes its steps up to 1 / (1 - momentum) times larger"),
    Mistake("the weights moved with the gradient instead of the velocity",
            lambda w, g, v, lr, mu: (w - lr * g, mu * v + g),
            "move the weights along the new velocity: w - lr * v"),
    Mistake("lr inside the velocity (v <- momentum * v - lr * gradient, w <- w + v)",
            lambda w, g, v, lr, mu: (w + (mu * v - lr * g), mu * v - lr * g),
            "the course's velocity collects gradients, v = momentum * v + gradient; lr multiplies only "
            "in the weight update w - lr * v"),
    Mistake("the old velocity not decayed (v <- v + gradient)",
            lambda w, g, v, lr, mu: momentum_update(w, g, v, lr, 1.0),
            "multiply the old velocity by momentum before adding the gradient"),
    Mistake("the pair returned in the wrong order (velocity, weights)",
            lambda *args: momentum_update(*args)[::-1],
            "return (new_weights, new_velocity)"),
], reference=momentum_update, doc="""Notebook 07, ``sgd_momentum_step(weights, gradient, velocity, lr, momentum)``
    -> (new_weights, new_velocity), the course's SGD with momentum:
    v <- momentum * v + gradient,  w <- w - lr * v.""")


def _adam_with(**mistake):
    return lambda *args: adam_update(*args, **mistake)


def _adam_cases():
    rng = case_rng(72)
    return reference_cases(adam_update, varied_settings([
    ("first step (t = 1) from zero state, gradients of very different sizes", np.zeros(3),
     np.array([0.001, -5.0, 100.0]), np.zeros(3), np.zeros(3), 1, 0.01, 0.9, 0.999, 1e-8,
     "at t = 1 the bias correction makes m_hat = g and s_hat = g**2, so every weight moves by about "
     "lr * sign(g), whatever the size of g"),
    ("step t = 3 with state from earlier steps", rng.standard_normal(4), rng.standard_normal(4),
     0.1 * rng.standard_normal(4), 0.1 * rng.random(4), 3, 0.001, 0.9, 0.999, 1e-8,
     "m = beta1 * m + (1 - beta1) * g and s = beta2 * s + (1 - beta2) * g**2 come first; divide by "
     "1 - beta**t with THIS step's t only for the update, and return m and s uncorrected"),
    ("2-D weights, t = 100, beta1 0.5, beta2 0.9, eps 0.001", rng.standard_normal((2, 3)),
     rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.random((2, 3)), 100, 0.1, 0.5, 0.9, 1e-3,
     "use the betas and eps you are given; eps is added to sqrt(s_hat), outside the square root"),
    ("integer weights and gradient, t = 2", np.array([1, -2, 3]), np.array([2, 0, -1]),
     np.array([0.5, 0.0, -0.2]), np.array([0.3, 0.0, 0.1]), 2, 0.1, 0.9, 0.999, 1e-8,
     "integer arrays can't be updated in place with float results: build new arrays"),
], 720), rtol=1e-6, atol=1e-10)


check_adam_step = Exercise("adam_step", _adam_cases, [
    Mistake("no bias correction (m and s used as they are)", _adam_with(correct_m=False, correct_s=False),
            "divide m by 1 - beta1**t and s by 1 - beta2**t before the update: they start at 0 and are "
            "too small in the first steps"),
    Mistake("the bias correction with t + 1 instead of t", _adam_with(t_offset=1),
            "t is already this step's number (1 for the first step): use 1 - beta**t"),
    Mistake("only s bias-corrected, m used as it is", _adam_with(correct_m=False),
            "correct both: m_hat = m / (1 - beta1**t), s_hat = s / (1 - beta2**t)"),
    Mistake("eps inside the square root, sqrt(s_hat + eps)", _adam_with(eps_inside=True),
            "the denominator is sqrt(s_hat) + eps"),
    Mistake("s averages the gradient, not its square", _adam_with(square=False),
            "s <- beta2 * s + (1 - beta2) * gradient**2"),
    Mistake("the bias-corrected m_hat and s_hat returned as the new state", _adam_with(return_corrected=True),
            "return m and s WITHOUT the correction: the next step updates them and corrects again"),
], reference=adam_update, doc="""Notebook 07, ``adam_step(weights, gradient, m, s, t, lr, beta1, beta2, eps)`` ->
    (new_weights, new_m, new_s): one Adam step at step number t (from 1), m and s returned
    without bias correction.""")


def _epoch_settings():
    """(num_images, batch_size, hint) as written; inside secret_cases, other sizes making the same points."""
    secret = secret_rng(73)
    if secret is None:
        return [(60000, 128, "60,000 / 128 = 468.75: the last 96 images form a 469th, smaller batch"),
                (100, 100, "exactly one full batch: one step"),
                (101, 100, "one image left over joins the batch before it (train never makes a batch of one, "
                           "which batch norm could not normalise): 1 step"),
                (102, 100, "two images left over make a smaller batch of their own: 2 steps"),
                (5, 64, "fewer images than one batch: a single, small batch, so 1 step"),
                (1, 1, "a batch of one image: one step")]
    b, full, small = (int(n) for n in secret.integers(2, 300, 3))
    return [(b * int(secret.integers(50, 500)) + int(secret.integers(1, b)), b,
             "the last, smaller batch is a step too: round up"),
            (full, full, "exactly one full batch: one step"),
            (full * 3 + 1, full, "one image left over joins the batch before it: train never makes a batch of one"),
            (full * 3 + 2, full, "two images left over make a smaller batch of their own"),
            (int(secret.integers(1, small)), small, "fewer images than one batch: a single, small batch, so 1 step"),
            (b * int(secret.integers(2, 50)), b, "the batch size divides the images: no smaller batch")]


check_steps_per_epoch = Exercise("steps_per_epoch", lambda: [
    # Expected: count the batches exactly as train() slices them (batch_bounds).
    Case(f"{n:,} images, batch size {b}", (n, b), len(batch_bounds(n, b)), hint) for n, b, hint in _epoch_settings()
], [
    Mistake("a last batch of a single image counted as a step of its own", lambda n, b: -(-n // b),
            "train merges a last batch of one image into the batch before it (scratchcnn.batch_bounds): batch "
            "norm cannot normalise a single number, so math.ceil(n / b) is one too many then"),
    Mistake("integer division n // b, which drops the last, smaller batch", lambda n, b: n // b,
            "round UP: math.ceil(n / b), or -(-n // b)"),
    Mistake("n // b + 1, one step too many when b divides n", lambda n, b: n // b + 1,
            "round up only when there is a remainder: math.ceil(n / b)"),
    Mistake("round(n / b), which rounds down below a half", lambda n, b: round(n / b),
            "any leftover images make one more batch: math.ceil(n / b)"),
    Mistake("n / b as a fraction, not a whole number of steps", lambda n, b: n / b,
            "a step is a whole batch: math.ceil(n / b)"),
], doc="""Notebook 07, ``steps_per_epoch(num_images, batch_size)`` -> how many optimizer
    steps (mini-batches) one epoch of ``train`` takes: the last batch possibly smaller, and a last
    batch of a single image merged into the one before it.""")


def _prior_loss_reference(labels, num_classes):
    """Cross-entropy of predicting the class frequencies for every example: logits = log(frequencies)."""
    frequencies = np.bincount(labels, minlength=num_classes) / len(labels)
    with np.errstate(divide="ignore"):
        logits = np.tile(np.log(frequencies), (len(labels), 1))   # -inf for absent classes: p = 0
    return SoftmaxCrossEntropy().forward(logits, labels)


def _entropy_with(mistake):
    """-sum_k f_k log f_k with one typical ``mistake`` (for the check's Mistakes)."""
    def produce(labels, num_classes):
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
        f = counts if mistake == "counts" else counts / len(labels)
        log = {"log10": np.log10, "log2": np.log2}.get(mistake, np.log)
        present = f > 0
        if mistake == "zeros kept":
            return float(-np.sum(f * log(f)))
        if mistake == "class mean":
            return float(-np.mean(log(f)))
        if mistake == "uniform":
            return math.log(num_classes)
        total = float(np.sum(f[present] * log(f[present])))
        return total if mistake == "no minus" else -total
    return produce


def _prior_loss_cases():
    rng = case_rng(71)
    return reference_cases(_prior_loss_reference, [
    ("balanced: every one of 10 classes equally often",
     varied(np.repeat(np.arange(10), 6), lambda secret: np.repeat(np.arange(10), secret.integers(2, 9)), 710), 10,
     "with equal frequencies f_k = 1/10 the loss is -sum_k f_k ln f_k = ln 10, the initial loss"),
    ("unbalanced: " + varied("labels [0, 0, 0, 1]", lambda secret: "3 of one label, 1 of another", 711),
     varied(np.array([0, 0, 0, 1]), lambda secret: np.repeat(secret.permutation(2), [3, 1]), 711), 2,
     "f = (3/4, 1/4): average -ln f[label] over the examples, i.e. -sum_k f_k ln f_k"),
    ("classes 3 and 7 never occur", rng.choice([0, 1, 2, 4, 5, 6, 8, 9], size=40), 10,
     "a class with frequency 0 contributes 0 (0 * ln 0 = 0): skip zero frequencies"),
    ("one class only", varied(np.zeros(7, dtype=np.int64),
                              lambda secret: np.full(secret.integers(2, 12), secret.integers(0, 3)), 712), 3,
     "if every label is the same the frequencies are (1, 0, 0) and the loss is -1 * ln 1 = 0"),
    ("a single label", varied(np.array([4]), lambda secret: secret.integers(0, 10, 1), 713), 10,
     "one label: frequency 1 for its class, loss 0"),
])


check_prior_loss = Exercise("prior_loss", _prior_loss_cases, [
    Mistake("the minus sign missing (sum f ln f is negative)", _entropy_with("no minus"),
            "the loss is MINUS sum_k f_k ln f_k, a positive number"),
    Mistake("counts instead of frequencies (np.bincount not divided by the number of labels)",
            _entropy_with("counts"), "frequencies are counts / len(labels); they add up to 1"),
    Mistake("log base 10 instead of the natural log", _entropy_with("log10"),
            "cross-entropy uses the natural log, np.log (ln 10 = 2.303 is the initial loss)"),
    Mistake("log base 2 (bits) instead of the natural log", _entropy_with("log2"),
            "use np.log: the training loss is measured in nats"),
    Mistake("the plain mean of -ln f_k over the classes, not weighted by the frequencies",
            _entropy_with("class mean"),
            "average -ln f[label] over the EXAMPLES: that weights each class by its frequency f_k"),
    Mistake("classes that never occur kept: 0 * ln 0 gives nan", _entropy_with("zeros kept"),
            "leave out the zero frequencies (0 * ln 0 counts as 0)"),
    Mistake("ln K, the loss of the uniform prediction, whatever the labels", _entropy_with("uniform"),
            "use the frequencies of the labels you are given, not 1 / num_classes"),
], doc="""Notebook 07, ``prior_loss(labels, num_classes)`` -> the mean cross-entropy of a
    network that ignores the image and always predicts the class frequencies
    f_k of ``labels``: -sum_k f_k ln f_k.""")


# --- Exercise 5: which learning rate diverges? ----------------------------------------
#
# The check judges only the learning rate the answer returns, against the experiment run
# by the check itself: it does not watch how the answer calls train (an answer may import
# train under any name, and schedule="constant" trains exactly like schedule=None). So the
# hidden images and candidates are chosen to make every typical slip return another rate:
# on 150 test images of the digits 0 and 1 a fresh network first diverges at about lr 2.2 (measured),
# with momentum 0 at about 3.0, with the default cosine schedule at about 2.4, with the
# default batch size 64 at about 0.74, and after training at lr 1 already at 2.0. The tests
# (test_check_mistakes_07_11.py) check that each of these slips is told its own mistake.

def _diverging_images():
    """The 150 hidden images: the first 150 zeros and ones of the MNIST test set."""
    images, labels = mnist_test()
    zeros_and_ones = np.flatnonzero(labels <= 1)
    chosen = varied(zeros_and_ones[:150], lambda secret: np.sort(secret.choice(zeros_and_ones, 150, replace=False)), 74)
    return images[chosen], labels[chosen]


_experiments = {}


def divergence_experiment(candidates, images, labels, *, optimizer="SGD", momentum=0.9, batch_size=50,
                          schedule=None, fresh_model=True, stop_at_first=True):
    """Notebook 07's experiment: the first lr of ``candidates`` for which one epoch of train on a
    fresh reference_cnn(seed=0) raises TrainingDiverged, or None. The keywords make the typical
    mistakes the check names. Each experiment runs once per process (training is slow)."""
    settings = (optimizer, momentum, batch_size, schedule, fresh_model, stop_at_first)
    key = (tuple(candidates), images.shape, hash(images.tobytes()), hash(labels.tobytes()), settings)
    if key not in _experiments:
        found, model = None, reference_cnn(seed=0)
        for lr in candidates:
            model = reference_cnn(seed=0) if fresh_model else model
            chosen = SGD(model, lr=lr, momentum=momentum) if optimizer == "SGD" else Adam(model, lr=lr)
            try:
                with np.errstate(all="ignore"):      # exploding weights overflow float32 on purpose here
                    train(model, images, labels, epochs=1, batch_size=batch_size, optimizer=chosen,
                          schedule=schedule)
            except TrainingDiverged:
                found = lr
                if stop_at_first:
                    break
        _experiments[key] = found
    return _experiments[key]


def _diverging_cases():
    images, labels = _diverging_images()
    if secret_active():          # other images: whether a rate diverges is the experiment's to say
        return reference_cases(divergence_experiment, [
            (f"learning rates {candidates} on 150 other zeros and ones", candidates, images, labels,
             "catch scratchcnn.TrainingDiverged around scratchcnn.train and return that lr at once, or None "
             "when none diverges; train with batch_size=50")
            for candidates in ([0.01, 1.0, 100.0, 1e10], [0.01, 0.1, 1.5], [1.0, 2.0, 2.35, 2.8, 4.0])])
    return reference_cases(divergence_experiment, [
        ("learning rates [0.01, 1.0, 100.0, 1e10]", [0.01, 1.0, 100.0, 1e10], images, labels,
         "catch scratchcnn.TrainingDiverged around scratchcnn.train and return that lr at once. A loss above "
         "20 x ln 10 (about 46) counts as diverged too, not only NaN or inf"),
        ("learning rates [0.01, 0.1, 1.5]: none diverges", [0.01, 0.1, 1.5], images, labels,
         "return None when no learning rate raises TrainingDiverged; train with batch_size=50"),
        ("learning rates [1.0, 2.0, 2.35, 2.8, 4.0]", [1.0, 2.0, 2.35, 2.8, 4.0], images, labels,
         "build a fresh scratchcnn.reference_cnn(seed=0) and SGD(model, lr=lr, momentum=0.9) for EVERY lr, and "
         "train exactly 1 epoch with batch_size=50 and schedule=None, as the exercise says"),
    ])


def _experiment_with(**mistake):
    return lambda candidates, images, labels: divergence_experiment(candidates, images, labels, **mistake)


def _last_instead_of_none(candidates, images, labels):
    found = divergence_experiment(candidates, images, labels)
    return candidates[-1] if found is None else found


check_first_diverging_lr = Exercise("first_diverging_lr", _diverging_cases, [
    Mistake("trained with momentum 0 (plain SGD) instead of momentum 0.9", _experiment_with(momentum=0.0),
            "use scratchcnn.SGD(model, lr=lr, momentum=0.9), as the exercise says: momentum makes "
            "every step up to ten times larger"),
    Mistake("one model shared by all learning rates instead of a fresh one for each",
            _experiment_with(fresh_model=False),
            "build a fresh scratchcnn.reference_cnn(seed=0) inside the loop: a model an earlier lr "
            "already changed diverges at other rates"),
    Mistake("the last candidate returned when none diverges, instead of None", _last_instead_of_none,
            "return None after the loop when no learning rate raised TrainingDiverged"),
    Mistake("every learning rate trained, and the LAST diverging one returned",
            _experiment_with(stop_at_first=False),
            "return the first lr that diverges, at once, from inside the loop"),
    Mistake("train's default cosine schedule kept instead of schedule=None", _experiment_with(schedule="cosine"),
            "pass schedule=None (or \"constant\"): the cosine schedule lowers the rate after the first steps"),
    Mistake("train's default batch size 64 kept instead of batch_size=50", _experiment_with(batch_size=64),
            "pass batch_size=50, as the exercise says"),
    Mistake("train's default optimizer, Adam, instead of SGD with momentum", _experiment_with(optimizer="Adam"),
            "pass optimizer=scratchcnn.SGD(model, lr=lr, momentum=0.9) to train"),
], time_limit=60.0, doc="""Notebook 07, ``first_diverging_lr(candidates, images, labels)`` -> the first
    learning rate in ``candidates`` for which one epoch of ``train`` on a fresh
    ``reference_cnn(seed=0)`` (SGD momentum 0.9, batch_size=50, schedule=None)
    raises TrainingDiverged, or None if none does. Judged by the rate returned, against
    the check's own run of the experiment on 150 hidden images.""")


def _overfit_with(mistake=None):
    """Sanity check 2 of notebook 07: full-batch Adam steps on a fresh reference_cnn(seed=0), the
    loss before each step; with one typical ``mistake`` for the check's Mistakes."""
    def produce(images, labels, steps, lr):
        model, loss_fn = reference_cnn(seed=0), SoftmaxCrossEntropy()
        optimizer = SGD(model, lr=lr) if mistake == "SGD" else Adam(model, lr=lr)
        losses = []
        for _ in range(steps + 1):
            losses.append(loss_fn.forward(model.forward(images), labels))
            if mistake != "no backward":
                model.backward(loss_fn.backward())
            if mistake == "new Adam":
                optimizer = Adam(model, lr=lr)
            optimizer.step()
        return np.array(losses[1:] if mistake == "after the step" else losses[:-1])
    return produce


def _overfit_cases():
    images, labels = mnist_test()
    one = varied(slice(0, 1), lambda secret: secret.choice(len(images), 1), 75)         # secret: other digits
    eight = varied(slice(10, 18), lambda secret: np.sort(secret.choice(len(images), 8, replace=False)), 76)
    cases = []
    for description, x, y, steps, lr in [
            ("a batch of one digit, 15 steps, lr 0.002", images[one], labels[one], 15, 0.002),
            ("8 digits, 25 steps, lr 0.003", images[eight], labels[eight], 25, 0.003)]:
        expected = _overfit_with()(x, y, steps, lr)
        assert expected[-1] < 0.05, "the sanity check itself must reach a near-zero loss"
        cases.append(Case(description, (x, y, steps, lr), expected,
                          f"a correct loop takes the loss from about ln 10 = 2.30 to {expected[-1]:.0e} here. Per "
                          "step: loss_fn.forward(model.forward(images), labels), model.backward(loss_fn.backward()), "
                          "optimizer.step(); one Adam for the whole run; record the loss before the step",
                          rtol=1e-4, atol=1e-5))
    return cases


check_overfit_tiny_batch = Exercise("overfit_tiny_batch", _overfit_cases, [
    Mistake("no backward pass before the step, so the gradients stay zero and nothing is learned",
            _overfit_with("no backward"),
            "call model.backward(loss_fn.backward()) after the loss and before optimizer.step()"),
    Mistake("a new Adam every step, so its step count and averages restart each time",
            _overfit_with("new Adam"), "create the optimizer once, before the loop"),
    Mistake("the loss recorded after the step instead of before it", _overfit_with("after the step"),
            "append the loss of the forward pass that the step's gradient comes from"),
    Mistake("scratchcnn.SGD instead of scratchcnn.Adam", _overfit_with("SGD"),
            "use scratchcnn.Adam(model, lr=lr)"),
], time_limit=20.0, doc="""Notebook 07, ``overfit_tiny_batch(images, labels, steps, lr)`` -> the losses (steps,) of
    full-batch Adam(lr) steps on a fresh reference_cnn(seed=0), each before its update.""")
