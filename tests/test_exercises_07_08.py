"""The exercise checks of notebooks 07 (training) and 08 (looking inside): the
notebook's solution passes, typical wrong answers are each told their own mistake,
and an unanswered exercise says "not implemented yet"."""
import numpy as np
import pytest

import scratchcnn
from course_machinery import checks
from course_machinery import plots
from exercise_helpers import assert_named, not_implemented
from notebook_answers import solutions

EXERCISES = {"07": ["sgd_momentum_step", "adam_step", "steps_per_epoch", "prior_loss", "first_diverging_lr",
                    "overfit_tiny_batch"],
             "08": ["saliency_map", "occlusion_map", "conv2_output_shape", "fgsm_step"]}
ALL = [(notebook, name) for notebook, names in EXERCISES.items() for name in names]


@pytest.mark.parametrize("notebook, name", ALL, ids=[name for _, name in ALL])
def test_notebook_solution_passes(notebook, name):
    result = getattr(checks, f"check_{name}")(solutions(notebook)[name])
    assert result, result.message
    assert "pass" in result.message


@pytest.mark.parametrize("notebook, name", ALL, ids=[name for _, name in ALL])
def test_unanswered_exercise_says_not_implemented(notebook, name):
    result = getattr(checks, f"check_{name}")(not_implemented)
    assert not result and result.message.endswith("not implemented yet")


# --- notebook 07: typical wrong answers, as a student writes them ---------------------

def momentum_old_velocity(weights, gradient, velocity, lr, momentum):
    new_weights = weights - lr * velocity
    return new_weights, momentum * velocity + gradient


def momentum_moving_average(weights, gradient, velocity, lr, momentum):
    velocity = momentum * velocity + (1 - momentum) * gradient
    return weights - lr * velocity, velocity


def momentum_lr_inside(weights, gradient, velocity, lr, momentum):
    velocity = momentum * velocity - lr * gradient
    return weights + velocity, velocity


def adam(weights, gradient, m, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, correct=True, eps_inside=False,
         return_hats=False):
    m = beta1 * m + (1 - beta1) * gradient
    s = beta2 * s + (1 - beta2) * gradient ** 2
    m_hat, s_hat = (m / (1 - beta1 ** t), s / (1 - beta2 ** t)) if correct else (m, s)
    step = m_hat / (np.sqrt(s_hat + eps) if eps_inside else np.sqrt(s_hat) + eps)
    return (weights - lr * step, m_hat, s_hat) if return_hats else (weights - lr * step, m, s)


def prior(labels, num_classes, sign=-1, normalise=True, log=np.log):
    counts = np.bincount(labels, minlength=num_classes)
    f = counts / counts.sum() if normalise else counts
    f = f[f > 0]
    return sign * np.sum(f * log(f))


def diverging(candidates, images, labels, momentum=0.9, fresh=True):
    model = scratchcnn.reference_cnn(seed=0)
    for lr in candidates:
        if fresh:
            model = scratchcnn.reference_cnn(seed=0)
        try:
            scratchcnn.train(model, images, labels, epochs=1, batch_size=50,
                             optimizer=scratchcnn.SGD(model, lr=lr, momentum=momentum), schedule=None)
        except scratchcnn.TrainingDiverged:
            return lr
    return None


def overfit(images, labels, steps, lr, backward=True, record_after=False, optimizer_per_step=False):
    model = scratchcnn.reference_cnn(seed=0)
    loss_fn = scratchcnn.SoftmaxCrossEntropy()
    optimizer = scratchcnn.Adam(model, lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn.forward(model.forward(images), labels)
        if not record_after:
            losses.append(loss)
        if backward:
            model.backward(loss_fn.backward())
        if optimizer_per_step:
            optimizer = scratchcnn.Adam(model, lr=lr)
        optimizer.step()
        if record_after:
            losses.append(loss_fn.forward(model.forward(images), labels))
    return np.array(losses)


# --- notebook 08 ------------------------------------------------------------------------

def gradient_of(model, image, dlogits):
    """model.backward of dlogits(logits) after a forward of the image as a batch of one."""
    logits = model.forward(image[None, None])
    return model.backward(dlogits(logits))[0, 0]


def onehot(target_class):
    def make(logits):
        row = np.zeros_like(logits)
        row[0, target_class] = 1
        return row
    return make


def saliency_loss_gradient(model, image, target_class):
    def dlogits(logits):
        p = scratchcnn.softmax(logits)
        p[0, target_class] -= 1
        return p
    return np.abs(gradient_of(model, image, dlogits))


def occlusion(model, image, label, patch_size, stride, sign=1, use_logits=False, plus_one=1):
    size = (image.shape[0] - patch_size) // stride + plus_one
    score = (lambda x: model.forward(x)) if use_logits else model.predict_proba
    original = score(image[None, None])[0, label]
    drops = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            occluded = image.copy()
            occluded[i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = 0
            drops[i, j] = sign * (original - score(occluded[None, None])[0, label])
    return drops


def fgsm(model, image, label, epsilon, sign=1, clip=True, use_sign=True):
    loss_fn = scratchcnn.SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(image[None, None]), np.array([label]))
    gradient = model.backward(loss_fn.backward())[0, 0]
    moved = image + sign * epsilon * (np.sign(gradient) if use_sign else gradient)
    return np.clip(moved, 0, 1) if clip else moved


WRONG = [
    ("sgd_momentum_step", momentum_old_velocity, "OLD velocity"),
    ("sgd_momentum_step", momentum_moving_average, "moving-average form"),
    ("sgd_momentum_step", momentum_lr_inside, "lr inside the velocity"),
    ("adam_step", lambda *args: adam(*args, correct=False), "no bias correction"),
    ("adam_step", lambda *args: adam(*args, eps_inside=True), "eps inside the square root"),
    ("adam_step", lambda *args: adam(*args, return_hats=True), "m_hat and s_hat returned"),
    ("steps_per_epoch", lambda n, b: n // b, "integer division"),
    ("steps_per_epoch", lambda n, b: n // b + 1, "one step too many"),
    ("prior_loss", lambda labels, k: prior(labels, k, sign=1), "minus sign missing"),
    ("prior_loss", lambda labels, k: prior(labels, k, normalise=False), "counts instead of frequencies"),
    ("prior_loss", lambda labels, k: prior(labels, k, log=np.log10), "log base 10"),
    ("prior_loss", lambda labels, k: -np.sum(np.bincount(labels, minlength=k) / len(labels)
                                             * np.log(np.bincount(labels, minlength=k) / len(labels))),
     "0 * ln 0 gives nan"),
    ("first_diverging_lr", lambda *args: diverging(*args, momentum=0.0), "momentum 0"),
    ("first_diverging_lr", lambda *args: diverging(*args, fresh=False), "one model shared"),
    ("overfit_tiny_batch", lambda *args: overfit(*args, backward=False), "no backward pass"),
    ("overfit_tiny_batch", lambda *args: overfit(*args, optimizer_per_step=True), "a new Adam every step"),
    ("overfit_tiny_batch", lambda *args: overfit(*args, record_after=True), "recorded after the step"),
    ("saliency_map", lambda model, image, c: gradient_of(model, image, onehot(c)), "without the absolute value"),
    ("saliency_map", saliency_loss_gradient, "gradient of the loss"),
    ("saliency_map", lambda model, image, c: np.abs(gradient_of(model, image, onehot(c)))[None, None],
     "batch and channel axes kept"),
    ("occlusion_map", lambda *args: occlusion(*args, sign=-1), "sign flipped"),
    ("occlusion_map", lambda *args: occlusion(*args, use_logits=True), "logits"),
    ("occlusion_map", lambda *args: occlusion(*args, plus_one=0), "without the + 1"),
    ("conv2_output_shape", lambda n: (n, 16, 7, 7), "after the second max-pool"),
    ("conv2_output_shape", lambda n: (16, 14, 14), "batch axis left out"),
    ("fgsm_step", lambda *args: fgsm(*args, sign=-1), "step DOWN"),
    ("fgsm_step", lambda *args: fgsm(*args, clip=False), "no clipping"),
    ("fgsm_step", lambda *args: fgsm(*args, use_sign=False), "the gradient itself"),
]


@pytest.mark.parametrize("name, answer, mistake", WRONG, ids=[f"{w[0]}-{w[2]}" for w in WRONG])
def test_typical_mistake_is_named(name, answer, mistake):
    assert_named(getattr(checks, f"check_{name}"), answer, mistake)


def test_occlusion_without_a_copy_is_named_and_warned():
    def no_copy(model, image, label, patch_size, stride):
        size = (image.shape[0] - patch_size) // stride + 1
        original = model.predict_proba(image[None, None])[0, label]
        drops = np.zeros((size, size))
        for i in range(size):
            for j in range(size):
                image[i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = 0
                drops[i, j] = original - model.predict_proba(image[None, None])[0, label]
        return drops

    assert_named(checks.check_occlusion_map, no_copy, "earlier patches stay black")
    assert "changed its argument `image` in place" in checks.check_occlusion_map(no_copy).message


def test_live_plot_epoch_ticks_are_whole_numbers():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curves = plots.LivePlot(live=False)
    curves({"epoch": [1, 2, 3], "train_loss": [0.5, 0.3, 0.2], "val_loss": [None] * 3,
            "train_accuracy": [0.8, 0.9, 0.95], "val_accuracy": [None] * 3})
    fig = curves.figure()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)
