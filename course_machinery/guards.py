"""Guards for ``scratchcnn.train`` and ``scratchcnn.evaluate``: arguments and data that
would train nothing, or nonsense, are refused before the first step, saying which and why.

The textbook calls each in one line; tests/test_bad_input.py and tests/test_training.py test them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np


def check_data(model, images, labels, what: str) -> int:
    """Refuse data that would train or score nonsense; warn about unscaled pixels.
    Returns K, the number of classes (the model's outputs)."""
    if not isinstance(images, np.ndarray) or not isinstance(labels, np.ndarray):
        raise TypeError(f"{what} images and labels must be NumPy arrays, got {type(images).__name__} "
                        f"and {type(labels).__name__}")
    if len(images) == 0:
        raise ValueError(f"no {what} images: the {what} set is empty")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} {what} images but {len(labels)} labels: they must pair up")
    num_classes = model.predict_proba(images[:1]).shape[1]        # also checks the image shape
    check_labels(labels, num_classes)
    if images.dtype.kind == "f" and not np.isfinite(images).all():
        bad = ~np.isfinite(images)
        raise ValueError(f"the {what} images contain {int(bad.sum())} NaN or infinite pixel values (the first "
                         f"in image {int(np.argmax(bad.reshape(len(images), -1).any(axis=1)))}). Clean or drop "
                         f"those images first; no learning rate can fix them.")
    warn_if_unscaled(images, what, stacklevel=4)          # the warning points at train's caller
    return num_classes


def warn_if_unscaled(images, what: str, stacklevel: int = 3) -> None:
    """Pixels of 0..255 where the network expects [0, 1] give nonsense without an error."""
    if images.max() > 1.5:
        warnings.warn(f"the {what} images have pixel values up to {images.max():g}: divide them by 255 to "
                      f"scale 0..255 to [0, 1], the range the initialisation and learning rates assume.",
                      stacklevel=stacklevel)


def check_training_arguments(model, images, optimizer, lr, epochs, batch_size, schedule, augment_shift) -> None:
    """Refuse arguments that would train nothing or nonsense, saying which and why."""
    from scratchcnn import SCHEDULES
    for name, value, least in (("epochs", epochs, 1), ("batch_size", batch_size, 1),
                               ("augment_shift", augment_shift, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name} must be a whole number >= {least}, got {value!r}")
    if augment_shift and (images.ndim != 4 or augment_shift >= min(images.shape[2:])):
        raise ValueError(f"augment_shift {augment_shift} does not fit images of shape {images.shape[1:]}: it shifts "
                         f"(C, H, W) images by a few pixels (MNIST: 2), less than their height and width")
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "parameters")):
        raise TypeError(f"optimizer must be an optimizer such as Adam(model, lr=0.001), got {optimizer!r} "
                        f"(for a learning rate alone, pass lr=)")
    for name, value in (("lr", lr), ("the optimizer's lr", optimizer.lr)):
        if value is not None and not (isinstance(value, (int, float, np.floating, np.integer))
                                      and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number (such as 0.001), got {value!r}")
    if schedule is not None and schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: use one of {sorted(SCHEDULES)} or None (constant)")
    model_params = {id(p) for layer in model.layers for p in layer.params.values()}
    if {id(p) for _, p, _ in optimizer.parameters()} != model_params:
        raise ValueError("the optimizer was built for another model: it would update weights this model does "
                         "not use, and training would change nothing. Build it for this model, "
                         "e.g. optimizer=Adam(model, lr=0.001).")
    for layer in model.layers:
        for name, param in layer.params.items():
            if not np.isfinite(param).all():
                raise ValueError(f"{layer!r} has NaN or infinite weights {name!r}: the model is broken "
                                 f"(an earlier run diverged?). Start again from a fresh model.")


def warn_if_stalled(history, steps_per_epoch: int, num_classes: int, base_lr: float) -> None:
    """Warn (TrainingStalled) at the first epoch end after 100 steps if the loss still
    sits at ln K, what guessing scores."""
    from scratchcnn import TrainingStalled
    steps_done = history["epoch"][-1] * steps_per_epoch
    if steps_done - steps_per_epoch < 100 <= steps_done and history["train_loss"][-1] > 0.97 * math.log(num_classes):
        warnings.warn(f"after {steps_done} steps the training loss is still {history['train_loss'][-1]:.3f}, "
                      f"about ln {num_classes} = {math.log(num_classes):.3f}, what guessing scores: the network "
                      f"is not learning. The learning rate {base_lr:.3g} is probably far too small (try 0.001 "
                      f"for Adam, 0.05 for SGD); otherwise check that labels match their images.",
                      TrainingStalled, stacklevel=3)


def check_split(n: int, train_limit, validation_size: int) -> None:
    """split_training_data's arguments: some images, a validation set that leaves some to train on."""
    if n == 0:
        raise ValueError("there are no training images at all: the data set is empty")
    if validation_size < 0 or (train_limit is not None and train_limit < 1):
        raise ValueError("--validation-size must be >= 0 and --train-limit >= 1")
    if validation_size >= n:
        raise ValueError(f"--validation-size {validation_size} leaves no training data: "
                         f"there are only {n} training images. Use a smaller validation set.")


def check_layer_input(layer, x: np.ndarray, ndim: int, channels: int | None = None) -> None:
    """Fail early, with a message a student can act on, when x has the wrong type or shape."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
        kind = f"an array of {x.dtype}" if isinstance(x, np.ndarray) else f"a {type(x).__name__}"
        raise TypeError(f"{layer!r} expects a NumPy array of numbers, got {kind}. "
                        f"Convert it with np.asarray(x, dtype=np.float32).")
    if x.ndim != ndim:
        wanted = "(N, C, H, W)" if ndim == 4 else "(N, features)"
        raise ValueError(
            f"{layer!r} expects a {ndim}-D input {wanted}, got shape {x.shape}. "
            + ("Add the channel axis with x[:, None] for grey images." if ndim == 4 and x.ndim == 3 else
               "Put a Flatten() before Dense." if ndim == 2 and x.ndim == 4 else "")
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{layer!r} expects {channels} input channels/features, got shape {x.shape}.")


def check_labels(labels: np.ndarray, num_classes: int) -> None:
    """Labels must be integer class numbers 0..K-1 (-1 would silently index class K-1)."""
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers (class numbers), got {labels.dtype}. "
                        f"Convert them with labels.astype(np.int64) if they are whole numbers.")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(np.argmax((labels < 0) | (labels >= num_classes)))
        raise ValueError(f"label {labels[bad]} (at position {bad}) is not a class 0..{num_classes - 1}: "
                         f"the model has {num_classes} outputs. Check the labels (-1 or 255 often mean "
                         f"'unknown'; drop those images) or build the model with one output per class.")


def check_divergence(loss: float, num_classes: int, epoch: int, step: int, lr: float) -> None:
    """Raise scratchcnn.TrainingDiverged when a batch loss is NaN, inf or above DIVERGED_LOSS_FACTOR x ln K."""
    from scratchcnn import DIVERGED_LOSS_FACTOR, TrainingDiverged   # scratchcnn imports this module
    limit = DIVERGED_LOSS_FACTOR * math.log(num_classes)
    if math.isfinite(loss) and loss <= limit:
        return
    how = "" if not math.isfinite(loss) else (f" (above {DIVERGED_LOSS_FACTOR} x ln {num_classes} = {limit:.0f}; "
                                              f"guessing scores {math.log(num_classes):.2f})")
    raise TrainingDiverged(f"the loss became {loss:.4g} at epoch {epoch}, batch {step}{how}: training diverged. "
                           f"Lower the learning rate (it was {lr:.3g}; try {lr / 10:.3g}).")


def check_grad_check_layer(layer, layers) -> None:
    """grad_check needs float64 parameters (float32 drowns centred differences in rounding) and no
    layer that draws random numbers at every forward (``layers``: the layer and those inside it)."""
    from scratchcnn import Dropout                 # scratchcnn imports this module
    for name, param in layer.params.items():
        if param.dtype != np.float64:
            raise TypeError(f"grad_check needs a float64 layer, but {layer!r} keeps {name!r} in {param.dtype}: "
                            f"its ~7 digits drown centred differences in rounding (errors near 1e-2). Build the "
                            f"layer with dtype=np.float64.")
    if any(isinstance(inner, Dropout) and inner.p > 0 and inner.training for inner in layers):
        raise ValueError(f"grad_check cannot check {layer!r}: a Dropout with p > 0 in training mode draws a new "
                         f"random mask at every forward, so differences of the loss measure the masks, not the "
                         f"gradient. Check it in eval mode (layer.eval() or .training = False), or with p=0.")
