"""Exercise checks of notebook 08: looking inside the trained network."""

from __future__ import annotations

import copy
import functools

import numpy as np

from scratchcnn import SoftmaxCrossEntropy, reference_cnn, softmax

from .shared import mnist_test, trained_model
from .framework import Case, Exercise, Mistake, case_rng, secret_rng, varied

def _score_gradient(model, image, target_class):
    """d(score of target_class)/d(image) for one (H, W) image: forward, then backward a one-hot."""
    model.eval()
    logits = model.forward(image[None, None])
    onehot = np.zeros_like(logits)
    onehot[0, target_class] = 1
    return model.backward(onehot)[0, 0]


def _loss_gradient(model, image, label):
    """dL/d(image) for one (H, W) image, L the cross-entropy of ``label``."""
    model.eval()
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(image[None, None]), np.array([label]))
    return model.backward(loss_fn.backward())[0, 0]


def _probability_gradient(model, image, target_class):
    """d softmax(z)_c / d(image): backward of p_c (onehot_c - p), the Jacobian row of softmax."""
    model.eval()
    p = softmax(model.forward(image[None, None]))
    return model.backward(p[:, [target_class]] * (np.eye(p.shape[1])[[target_class]] - p))[0, 0]


def _digit_numbers(count=3):
    """The test digits the checks use: the first ``count``, or inside secret_cases ``count`` others."""
    return varied(list(range(count)), lambda secret: [int(n) for n in secret.choice(10000, count, replace=False)], 81)


def _digits_for_checks(count=3):
    """The first few test digits (float64, (H, W) each) and their labels (others inside secret_cases)."""
    images, labels = mnist_test()
    numbers = _digit_numbers(count)
    return [images[n, 0].astype(np.float64) for n in numbers], [int(labels[n]) for n in numbers]


@functools.lru_cache(maxsize=None)
def _untrained_model():
    return reference_cnn(seed=1, dtype=np.float64).eval()


# The cases name their model ("trained", "untrained"), so the framework compares and copies a
# short name instead of a whole network; every call gets its own copy of the model, so an answer
# that changes the model (or its forward caches) cannot change what the next call sees.
MODELS = {"trained": trained_model, "untrained": _untrained_model}


def _model_by_name(function):
    """``function(model, ...)`` called as ``f(model_name, ...)`` on a copy of that model."""
    run = lambda name, *args: function(copy.deepcopy(MODELS[name]()), *args)
    run.__wrapped__ = function                # messages name the answer's own arguments
    return run


def _models_by_name(mistakes):
    return [Mistake(mistake.name, _model_by_name(mistake.produce), mistake.fix) for mistake in mistakes]


def _saliency_cases():
    (digit, other_digit, _), (label, other_label, _) = _digits_for_checks()
    first, second, third = _digit_numbers()
    noise = case_rng(80).random((28, 28))
    wrong_class = (other_label + 3) % 10
    return [Case(description, (m, image, c), np.abs(_score_gradient(MODELS[m](), image, c)), hint,
                 rtol=1e-4, atol=1e-9) for description, m, image, c, hint in [
        (f"trained model, test digit {first} (a {label}), its own class", "trained", digit, label,
         "forward the image as a batch of one, image[None, None], then model.backward(onehot) with a 1 at "
         "target_class; return the ABSOLUTE value as a (28, 28) array"),
        (f"trained model, test digit {second} (a {other_label}), class {wrong_class}", "trained", other_digit,
         wrong_class,
         "use the target_class you are given, not the predicted class or the true label"),
        ("untrained model, a noise image, class 4", "untrained", noise, 4,
         "use the model you are given, and call model.forward on this image right before model.backward"),
    ]]


check_saliency_map = Exercise("saliency_map", _saliency_cases, _models_by_name([
    Mistake("the gradient without the absolute value", lambda m, image, c: _score_gradient(m, image, c),
            "saliency is |d score / d pixel|: wrap the gradient in np.abs"),
    Mistake("the batch and channel axes kept: shape (1, 1, 28, 28)",
            lambda m, image, c: np.abs(_score_gradient(m, image, c))[None, None],
            "return the (28, 28) image of the gradient: take [0, 0] of what backward returns"),
    Mistake("the gradient of the loss (softmax - onehot) instead of the class score",
            lambda m, image, c: np.abs(_loss_gradient(m, image, c)),
            "pass a one-hot row to model.backward: the 'loss' is then the score z_c itself"),
    Mistake("the gradient of the probability softmax(z)_c instead of the score z_c",
            lambda m, image, c: np.abs(_probability_gradient(m, image, c)),
            "differentiate the logit (before softmax): model.backward(onehot)"),
    Mistake("the predicted class used instead of target_class",
            lambda m, image, c: np.abs(_score_gradient(m, image, int(m.predict(image[None, None])[0]))),
            "put the 1 of the one-hot row at target_class"),
    Mistake("the shipped model loaded inside the function instead of the model you are given",
            lambda m, image, c: np.abs(_score_gradient(copy.deepcopy(trained_model()), image, c)),
            "use the model argument: the check passes untrained models too"),
]), prepare=_model_by_name, doc="""Notebook 08, ``saliency_map(model, image, target_class)`` -> (H, W) array
    |d score_c / d image|, the absolute gradient of the class score (the logit,
    before softmax) with respect to every input pixel of one (H, W) image.""")


def _occlusion_reference(model, image, label, patch_size, stride, *, sign=1, scores="probabilities",
                         extra_position=1, cumulative=False):
    """Drop of p(label) when a patch_size square at each stride step is set to 0. The keywords
    make the typical mistakes the check names (flipped sign, logits, a missing + 1, no copy)."""
    size = (image.shape[0] - patch_size) // stride + extra_position
    occluded = np.repeat(image[None], size * size, axis=0)
    for i in range(size):
        for j in range(size):
            target = occluded[i * size + j:] if cumulative else occluded[i * size + j]
            target[..., i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = 0
    score = model.predict_proba if scores == "probabilities" else model.forward
    original = score(image[None, None])[0, label]
    return sign * (original - score(occluded[:, None])[:, label]).reshape(size, size)


def _occlusion_cases():
    (digit, other_digit, third_digit), (label, other_label, third_label) = _digits_for_checks()
    first, second, third = _digit_numbers()
    return [Case(description, ("trained", image, c, k, s), _occlusion_reference(trained_model(), image, c, k, s),
                 hint, rtol=1e-4, atol=1e-7) for description, image, c, k, s, hint in [
        (f"test digit {first} (a {label}), patch 7, stride 7", digit, label, 7, 7,
         "the patch at map position (i, j) covers rows i*stride : i*stride + patch_size and the same "
         "columns; set it to 0 on a COPY of the image"),
        (f"test digit {second} (a {other_label}), patch 4, stride 2 (overlapping patches)", other_digit, other_label,
         4, 2,
         "the map is (28 - patch_size) // stride + 1 = 13 wide, like a convolution without padding"),
        (f"test digit {third} (a {third_label}), patch 5, stride 3 (odd sizes)", third_digit, third_label, 5, 3,
         "(28 - 5) // 3 + 1 = 8 positions per axis; each entry is p(original) - p(occluded)"),
        (f"test digit {first} (a {label}), patch 28: the whole image", digit, label, 28, 1,
         "one position only: a (1, 1) map holding p(label | digit) - p(label | black image)"),
    ]]


check_occlusion_map = Exercise("occlusion_map", _occlusion_cases, _models_by_name([
    Mistake("the sign flipped: p(occluded) - p(original)",
            lambda *args: _occlusion_reference(*args, sign=-1),
            "a DROP is p(label | image) - p(label | occluded image): positive where hiding hurts"),
    Mistake("logits (scores before softmax) instead of probabilities",
            lambda *args: _occlusion_reference(*args, scores="logits"),
            "use model.predict_proba(...)[:, label], the softmax probabilities"),
    Mistake("one position too few per axis: (H - patch_size) // stride without the + 1",
            lambda *args: _occlusion_reference(*args, extra_position=0),
            "count positions like a convolution's output size: (H - patch_size) // stride + 1"),
    Mistake("the patches drawn on the same image, so earlier patches stay black",
            lambda *args: _occlusion_reference(*args, cumulative=True),
            "start every position from a fresh copy: occluded = image.copy()"),
]), prepare=_model_by_name, doc="""Notebook 08, ``occlusion_map(model, image, label, patch_size, stride)`` -> (H', W')
    array: entry (i, j) = p(label | image) - p(label | image with the square
    rows i*stride : i*stride + patch_size (same columns) set to 0),
    H' = (H - patch_size) // stride + 1.""")


def _conv2_output_shape_cases():
    model = reference_cnn(seed=0)
    cases = []
    secret = secret_rng(82)                           # inside secret_cases: other batch sizes
    for batch_size in ((1, 5, 64) if secret is None else [int(n) for n in secret.integers(65, 500, 3)]):
        x = np.zeros((batch_size, 1, 28, 28), dtype=np.float32)
        for layer in model.layers[:4]:
            x = layer.forward(x)
        cases.append(Case(f"a batch of {batch_size}", (batch_size,), tuple(x.shape),
                          "(N, filters, height, width): conv2 has 16 filters, one output channel each, and its "
                          "padding 1 keeps the size; only the pooling BEFORE it halved 28 to 14"))
    return cases


check_conv2_output_shape = Exercise("conv2_output_shape", _conv2_output_shape_cases, [
    Mistake("the shape after the second max-pool (7 x 7) instead of before it", lambda n: (n, 16, 7, 7),
            "layer 3 is the convolution itself; its pooling comes two layers later"),
    Mistake("the batch axis left out", lambda n: (16, 14, 14),
            "a layer's output keeps the batch axis first: (batch_size, 16, 14, 14)"),
    Mistake("a batch of 1 whatever batch_size is", lambda n: (1, 16, 14, 14),
            "the first axis is the batch_size you are given"),
    Mistake("the first convolution's 8 channels", lambda n: (n, 8, 14, 14),
            "conv2 has 16 filters, so 16 output channels (its input has 8)"),
    Mistake("the first max-pool forgotten (28 x 28)", lambda n: (n, 16, 28, 28),
            "the max-pool after conv1 halves 28 to 14 before conv2 sees it"),
], doc="""Notebook 08, ``conv2_output_shape(batch_size)`` -> the shape of the output of
    the reference CNN's second convolution (layer 3, before its ReLU) for a batch
    of ``batch_size`` digits.""")


def _fgsm_reference(model, image, label, epsilon):
    """One fast-gradient-sign step: clip(image + epsilon * sign(dL/dimage), 0, 1)."""
    return np.clip(image + epsilon * np.sign(_loss_gradient(model, image, label)), 0, 1)


def _fgsm_cases():
    (digit, other_digit, _), (label, other_label, _) = _digits_for_checks()
    first, second, third = _digit_numbers()
    return [Case(description, ("trained", image, c, eps), _fgsm_reference(trained_model(), image, c, eps), hint,
                 rtol=1e-6, atol=1e-9) for description, image, c, eps, hint in [
        (f"test digit {first} (a {label}) dimmed to greys 0.25..0.75, epsilon 0.1 (no clipping needed)",
         0.25 + 0.5 * digit, label, 0.1,
         "move UP the gradient of the LOSS, image + epsilon * sign(dL/dx); dL/dx = model.backward(dL/dlogits) "
         "with dL/dlogits from SoftmaxCrossEntropy's backward, after a forward of image[None, None]"),
        (f"test digit {second} (a {other_label}), epsilon 0.3: clipping", other_digit, other_label, 0.3,
         "clip the result to [0, 1] at both ends (np.clip(..., 0, 1))"),
        (f"test digit {second} (a {other_label}), epsilon 0", other_digit, other_label, 0.0,
         "epsilon 0 must give back the image unchanged, shape (28, 28)"),
    ]]


check_fgsm_step = Exercise("fgsm_step", _fgsm_cases, _models_by_name([
    Mistake("a step DOWN the loss gradient (minus instead of plus)",
            lambda m, image, c, eps: _fgsm_reference(m, image, c, -eps),
            "add epsilon * sign(dL/dx): going up the loss makes the true label LESS likely"),
    Mistake("no clipping to [0, 1]",
            lambda m, image, c, eps: image + eps * np.sign(_loss_gradient(m, image, c)),
            "np.clip(..., 0, 1): pixels can't be darker than black or brighter than white"),
    Mistake("the gradient itself instead of its sign",
            lambda m, image, c, eps: np.clip(image + eps * _loss_gradient(m, image, c), 0, 1),
            "FGSM moves every pixel by exactly epsilon: use np.sign(gradient)"),
    Mistake("the gradient of the class score instead of the loss",
            lambda m, image, c, eps: np.clip(image + eps * np.sign(_score_gradient(m, image, c)), 0, 1),
            "differentiate the cross-entropy loss: SoftmaxCrossEntropy's forward and backward, then "
            "model.backward of that"),
    Mistake("the batch and channel axes kept: shape (1, 1, 28, 28)",
            lambda m, image, c, eps: _fgsm_reference(m, image, c, eps)[None, None],
            "return an image of the shape you were given, (28, 28)"),
]), prepare=_model_by_name, doc="""Notebook 08, ``fgsm_step(model, image, label, epsilon)`` -> the (H, W) image
    clip(image + epsilon * sign(dL/dimage), 0, 1), L the cross-entropy of ``label``.""")
