"""Exercise checks of notebook 07."""

from __future__ import annotations

import math

import numpy as np

import scratchcnn

from scratchcnn import (Adam, Layer, SGD, SoftmaxCrossEntropy, TrainingDiverged, load_mnist, reference_cnn, train)

from .framework import Case, Mistake, check_exercise


# --- Notebook 07: training ---------------------------------------------------

def _momentum_step_reference(weights, gradient, velocity, lr, momentum):
    """One step of the module's SGD on a single weight array: (new weights, new velocity)."""
    layer = Layer()
    layer.params["W"] = np.array(weights, dtype=np.float64)
    layer.grads["W"] = np.array(gradient, dtype=np.float64)
    optimizer = SGD([layer], lr=lr, momentum=momentum)
    optimizer.state[(0, "W")] = np.array(velocity, dtype=np.float64)
    optimizer.step()
    return layer.params["W"], optimizer.state[(0, "W")]


def check_sgd_momentum_step(answer):
    """Notebook 07, ``sgd_momentum_step(weights, gradient, velocity, lr, momentum)``
    -> (new_weights, new_velocity), the course's SGD with momentum:
    v <- momentum * v + gradient,  w <- w - lr * v."""
    rng = np.random.default_rng(70)
    settings = [
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
    ]
    cases = [Case(description, (w, g, v, lr, mu), _momentum_step_reference(w, g, v, lr, mu), hint)
             for description, w, g, v, lr, mu, hint in settings]
    mistakes = [
        Mistake("the weights moved with the OLD velocity (before adding the gradient)",
                lambda w, g, v, lr, mu: (w - lr * v, mu * v + g),
                "update the velocity first, then move the weights with the new one: "
                "v = momentum * v + gradient; w = w - lr * v"),
        Mistake("the moving-average form v <- momentum * v + (1 - momentum) * gradient",
                lambda w, g, v, lr, mu: (w - lr * (mu * v + (1 - mu) * g), mu * v + (1 - mu) * g),
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
                lambda w, g, v, lr, mu: (w - lr * (v + g), v + g),
                "multiply the old velocity by momentum before adding the gradient"),
        Mistake("the pair returned in the wrong order (velocity, weights)",
                lambda w, g, v, lr, mu: (mu * v + g, w - lr * (mu * v + g)),
                "return (new_weights, new_velocity)"),
    ]
    return check_exercise("sgd_momentum_step", answer, cases, mistakes)


def _adam_step_reference(weights, gradient, m, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One step of the module's Adam at step number t on one weight array: (new weights, new m, new s)."""
    layer = Layer()
    layer.params["W"] = np.array(weights, dtype=np.float64)
    layer.grads["W"] = np.array(gradient, dtype=np.float64)
    optimizer = Adam([layer], lr=lr, betas=(beta1, beta2), eps=eps)
    optimizer.t = t - 1                                   # step() counts this step as t
    optimizer.state[(0, "W")] = (np.array(m, dtype=np.float64), np.array(s, dtype=np.float64))
    optimizer.step()
    return (layer.params["W"],) + optimizer.state[(0, "W")]


def _adam_step_with(mistake):
    """One Adam step by hand with one typical ``mistake`` (for the check's Mistakes)."""
    def produce(w, g, m, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        g = np.asarray(g, dtype=np.float64)
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * (g if mistake == "s from g" else g * g)
        step = t + 1 if mistake == "t + 1" else t
        m_hat, s_hat = (m, s) if mistake == "no correction" else (m / (1 - beta1 ** step), s / (1 - beta2 ** step))
        if mistake == "m not corrected":
            m_hat = m
        denominator = np.sqrt(s_hat + eps) if mistake == "eps inside" else np.sqrt(s_hat) + eps
        new_w = w - lr * m_hat / denominator
        return (new_w, m_hat, s_hat) if mistake == "corrected state" else (new_w, m, s)
    return produce


def check_adam_step(answer):
    """Notebook 07, ``adam_step(weights, gradient, m, s, t, lr, beta1, beta2, eps)`` ->
    (new_weights, new_m, new_s): one Adam step at step number t (from 1), m and s returned
    without bias correction."""
    rng = np.random.default_rng(72)
    g_sizes = np.array([0.001, -5.0, 100.0])
    settings = [
        ("first step (t = 1) from zero state, gradients of very different sizes", np.zeros(3), g_sizes,
         np.zeros(3), np.zeros(3), 1, 0.01, 0.9, 0.999, 1e-8,
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
    ]
    cases = [Case(description, args, _adam_step_reference(*args), hint, rtol=1e-6, atol=1e-10)
             for description, *args, hint in settings]
    mistakes = [
        Mistake("no bias correction (m and s used as they are)", _adam_step_with("no correction"),
                "divide m by 1 - beta1**t and s by 1 - beta2**t before the update: they start at 0 and are "
                "too small in the first steps"),
        Mistake("the bias correction with t + 1 instead of t", _adam_step_with("t + 1"),
                "t is already this step's number (1 for the first step): use 1 - beta**t"),
        Mistake("only s bias-corrected, m used as it is", _adam_step_with("m not corrected"),
                "correct both: m_hat = m / (1 - beta1**t), s_hat = s / (1 - beta2**t)"),
        Mistake("eps inside the square root, sqrt(s_hat + eps)", _adam_step_with("eps inside"),
                "the denominator is sqrt(s_hat) + eps"),
        Mistake("s averages the gradient, not its square", _adam_step_with("s from g"),
                "s <- beta2 * s + (1 - beta2) * gradient**2"),
        Mistake("the bias-corrected m_hat and s_hat returned as the new state",
                _adam_step_with("corrected state"),
                "return m and s WITHOUT the correction: the next step updates them and corrects again"),
    ]
    return check_exercise("adam_step", answer, cases, mistakes)


def check_steps_per_epoch(answer):
    """Notebook 07, ``steps_per_epoch(num_images, batch_size)`` -> how many optimizer
    steps (mini-batches) one epoch of ``train`` takes, the last batch possibly smaller."""
    settings = [
        (60000, 128, "60,000 / 128 = 468.75: the last 96 images form a 469th, smaller batch"),
        (100, 100, "exactly one full batch: one step"),
        (101, 100, "one image left over still makes a batch of its own: 2 steps"),
        (5, 64, "fewer images than one batch: a single, small batch, so 1 step"),
        (1, 1, "a batch of one image: one step"),
    ]
    # Expected: count the batches exactly as train() slices them.
    cases = [Case(f"{n:,} images, batch size {b}", (n, b), len(range(0, n, b)), hint)
             for n, b, hint in settings]
    mistakes = [
        Mistake("integer division n // b, which drops the last, smaller batch", lambda n, b: n // b,
                "round UP: math.ceil(n / b), or -(-n // b)"),
        Mistake("n // b + 1, one step too many when b divides n", lambda n, b: n // b + 1,
                "round up only when there is a remainder: math.ceil(n / b)"),
        Mistake("round(n / b), which rounds down below a half", lambda n, b: round(n / b),
                "any leftover images make one more batch: math.ceil(n / b)"),
        Mistake("n / b as a fraction, not a whole number of steps", lambda n, b: n / b,
                "a step is a whole batch: math.ceil(n / b)"),
    ]
    return check_exercise("steps_per_epoch", answer, cases, mistakes)


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


def check_prior_loss(answer):
    """Notebook 07, ``prior_loss(labels, num_classes)`` -> the mean cross-entropy of a
    network that ignores the image and always predicts the class frequencies
    f_k of ``labels``: -sum_k f_k ln f_k."""
    rng = np.random.default_rng(71)
    settings = [
        ("balanced: every one of 10 classes equally often", np.repeat(np.arange(10), 6), 10,
         "with equal frequencies f_k = 1/10 the loss is -sum_k f_k ln f_k = ln 10, the initial loss"),
        ("unbalanced: labels [0, 0, 0, 1]", np.array([0, 0, 0, 1]), 2,
         "f = (3/4, 1/4): average -ln f[label] over the examples, i.e. -sum_k f_k ln f_k"),
        ("classes 3 and 7 never occur", rng.choice([0, 1, 2, 4, 5, 6, 8, 9], size=40), 10,
         "a class with frequency 0 contributes 0 (0 * ln 0 = 0): skip zero frequencies"),
        ("one class only", np.zeros(7, dtype=np.int64), 3,
         "if every label is the same the frequencies are (1, 0, 0) and the loss is -1 * ln 1 = 0"),
        ("a single label", np.array([4]), 10, "one label: frequency 1 for its class, loss 0"),
    ]
    cases = [Case(description, (labels, K), _prior_loss_reference(labels, K), hint)
             for description, labels, K, hint in settings]
    mistakes = [
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
    ]

    return check_exercise("prior_loss", answer, cases, mistakes)


def _divergence_experiment(candidates, images, labels, momentum=0.9, fresh_model=True, stop_at_first=True):
    """Notebook 07's experiment, done with the module: (the first diverging lr or None,
    the settings (optimizer, momentum, epochs, batch_size, schedule) of every train call)."""
    calls, found = [], None
    model = reference_cnn(seed=0)
    for lr in candidates:
        model = reference_cnn(seed=0) if fresh_model else model
        calls.append(("SGD", momentum, 1, 50, None))
        try:
            train(model, images, labels, epochs=1, batch_size=50,
                  optimizer=SGD(model, lr=lr, momentum=momentum), schedule=None)
        except TrainingDiverged:
            found = lr if found is None or not stop_at_first else found
            if stop_at_first:
                break
    return found, calls


def _recording_train_calls(answer):
    """``answer`` wrapped to return (its result, the settings of every ``train`` call it made),
    so the check sees the optimizer and momentum it trained with, not only the lr it returned."""
    def run(candidates, images, labels):
        calls, real_train = [], scratchcnn.train

        def recording_train(model, images, labels, **settings):
            optimizer = settings.get("optimizer")
            calls.append((type(optimizer).__name__, getattr(optimizer, "momentum", None),
                          settings.get("epochs", 1), settings.get("batch_size", 64),
                          settings.get("schedule", "cosine")))
            return real_train(model, images, labels, **settings)

        scratchcnn.train = recording_train
        try:
            return answer(candidates, images, labels), calls
        finally:
            scratchcnn.train = real_train
    run.__wrapped__ = answer                  # messages name the answer's own arguments
    return run if callable(answer) else answer


def check_first_diverging_lr(answer):
    """Notebook 07, ``first_diverging_lr(candidates, images, labels)`` -> the first
    learning rate in ``candidates`` for which one epoch of ``train`` on a fresh
    ``reference_cnn(seed=0)`` (SGD momentum 0.9, batch_size=50, schedule=None)
    raises TrainingDiverged, or None if none does. The check also records how the
    answer called ``train`` (optimizer, momentum, epochs, batch size, schedule)."""
    images, labels = load_mnist("test")
    images, labels = images[:150], labels[:150]            # three batches of 50
    settings = [
        ("learning rates [0.01, 1.0, 100.0, 1e10]", [0.01, 1.0, 100.0, 1e10],
         "catch scratchcnn.TrainingDiverged around scratchcnn.train and return that lr at once. A loss above "
         "20 x ln 10 (about 46) counts as diverged too, not only NaN or inf"),
        ("learning rates [0.01, 0.1]: none diverges", [0.01, 0.1],
         "return None when no learning rate raises TrainingDiverged"),
        ("learning rates [2.0, 10.0]", [2.0, 10.0],
         "build a fresh scratchcnn.reference_cnn(seed=0) and SGD(model, lr=lr, momentum=0.9) for EVERY lr, and "
         "train exactly 1 epoch with batch_size=50 and schedule=None, as the exercise says"),
    ]
    runs = {}

    def experiment(candidates, **variant):
        # Each variant of the experiment is run once, and only when needed (training is slow).
        key = (tuple(candidates), tuple(sorted(variant.items())))
        if key not in runs:
            with np.errstate(all="ignore"):   # exploding weights overflow float32 on purpose here
                runs[key] = _divergence_experiment(candidates, images, labels, **variant)
        return runs[key]

    def last_instead_of_none(candidates, images, labels):
        found, calls = experiment(candidates)
        return (candidates[-1] if found is None else found), calls

    cases = [Case(description, (list(candidates), images, labels), experiment(candidates), hint)
             for description, candidates, hint in settings]
    mistakes = [
        Mistake("trained with momentum 0 (plain SGD) instead of momentum 0.9",
                lambda candidates, images, labels: experiment(candidates, momentum=0.0),
                "use scratchcnn.SGD(model, lr=lr, momentum=0.9), as the exercise says: momentum makes "
                "every step up to ten times larger"),
        Mistake("one model shared by all learning rates instead of a fresh one for each",
                lambda candidates, images, labels: experiment(candidates, fresh_model=False),
                "build a fresh scratchcnn.reference_cnn(seed=0) inside the loop: a model an earlier lr "
                "already broke (dead ReLUs) may never diverge"),
        Mistake("the last candidate returned when none diverges, instead of None", last_instead_of_none,
                "return None after the loop when no learning rate raised TrainingDiverged"),
        Mistake("every learning rate trained, and the LAST diverging one returned",
                lambda candidates, images, labels: experiment(candidates, stop_at_first=False),
                "return the first lr that diverges, at once, from inside the loop"),
    ]
    with np.errstate(all="ignore"):
        return check_exercise("first_diverging_lr", _recording_train_calls(answer), cases, mistakes,
                              time_limit=60.0)


def _overfit_tiny_batch_reference(images, labels, steps, lr):
    """Sanity check 2 of notebook 07: full-batch Adam steps on a fresh reference_cnn(seed=0);
    the loss before each step."""
    model, loss_fn = reference_cnn(seed=0), SoftmaxCrossEntropy()
    optimizer = Adam(model, lr=lr)
    losses = []
    for _ in range(steps):
        losses.append(loss_fn.forward(model.forward(images), labels))
        model.backward(loss_fn.backward())
        optimizer.step()
    return np.array(losses)


def _overfit_with(mistake):
    """The tiny-batch loop with one typical ``mistake`` (for the check's Mistakes)."""
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


def check_overfit_tiny_batch(answer):
    """Notebook 07, ``overfit_tiny_batch(images, labels, steps, lr)`` -> the losses (steps,) of
    full-batch Adam(lr) steps on a fresh reference_cnn(seed=0), each before its update."""
    images, labels = load_mnist("test")
    settings = [
        ("a batch of one digit, 15 steps, lr 0.002", images[:1], labels[:1], 15, 0.002),
        ("8 digits, 25 steps, lr 0.003", images[10:18], labels[10:18], 25, 0.003),
    ]
    cases = []
    for description, x, y, steps, lr in settings:
        expected = _overfit_tiny_batch_reference(x, y, steps, lr)
        assert expected[-1] < 0.05, "the sanity check itself must reach a near-zero loss"
        cases.append(Case(description, (x, y, steps, lr), expected,
                          f"a correct loop takes the loss from about ln 10 = 2.30 to {expected[-1]:.0e} here. Per "
                          "step: loss_fn.forward(model.forward(images), labels), model.backward(loss_fn.backward()), "
                          "optimizer.step(); one Adam for the whole run; record the loss before the step",
                          rtol=1e-4, atol=1e-5))
    mistakes = [
        Mistake("no backward pass before the step, so the gradients stay zero and nothing is learned",
                _overfit_with("no backward"),
                "call model.backward(loss_fn.backward()) after the loss and before optimizer.step()"),
        Mistake("a new Adam every step, so its step count and averages restart each time",
                _overfit_with("new Adam"), "create the optimizer once, before the loop"),
        Mistake("the loss recorded after the step instead of before it", _overfit_with("after the step"),
                "append the loss of the forward pass that the step's gradient comes from"),
        Mistake("scratchcnn.SGD instead of scratchcnn.Adam", _overfit_with("SGD"),
                "use scratchcnn.Adam(model, lr=lr)"),
    ]
    return check_exercise("overfit_tiny_batch", answer, cases, mistakes, time_limit=20.0)

