"""Guards for the textbook: arguments and data that would train nothing, or nonsense, are
refused, saying which and why, before they can cost a minute of training:

  train and evaluate     data, labels, batch sizes, learning rates, divergence, a stalled loss
  constructors           layer arguments (check_layer_arguments), optimizer hyperparameters,
                         deep_cnn's sizes and dtype, a layer object used twice in one model
  load_model             a float dtype, nesting depth, running variances (the layers' own
                         constructors check each layer's config)
  forward and backward   an input of the wrong shape, a backward without its forward or with a
                         dout of the wrong shape, a mode switched in between, non-finite batch
                         statistics
  inference              drop_caches and inference_batch_size: predict_proba keeps no backward
                         caches and runs batches that bound memory

The textbook calls each in one line; tests/test_bad_input.py, tests/test_training.py and
tests/test_model.py test them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np


def check_data(model, images, labels, what: str, stacklevel: int = 4) -> int:
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
    warn_if_unscaled(images, what, stacklevel)            # the warning points at train's (evaluate's) caller
    return num_classes


def warn_if_unscaled(images, what: str, stacklevel: int = 3) -> None:
    """Pixels of 0..255 where the network expects [0, 1] give nonsense without an error."""
    if images.max() > 1.5:
        warnings.warn(f"the {what} images have pixel values up to {images.max():g}: divide them by 255 to "
                      f"scale 0..255 to [0, 1], the range the initialisation and learning rates assume.",
                      stacklevel=stacklevel)


def check_training_arguments(model, images, labels, validation, optimizer, lr, epochs, batch_size, schedule,
                             augment_shift):
    """Refuse data and arguments that would train nothing or nonsense, saying which and why.
    Returns K (the number of classes) and the validation pair (None if absent or empty)."""
    from scratchcnn import SCHEDULES
    num_classes = check_data(model, images, labels, "training", stacklevel=5)
    validation = validation if validation is not None and len(validation[0]) else None
    if validation is not None:
        check_data(model, *validation, "validation", stacklevel=5)
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
    return num_classes, validation


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
    layer.forward_training = layer.training          # check_backward compares it with the mode at backward


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


def layers_within(layer) -> list:
    """``layer`` and every layer inside it (a Sequential's or a Residual's), depth first."""
    return [layer] + [inner for outer in getattr(layer, "layers", ()) for inner in layers_within(outer)]


def check_grad_check_layer(layer) -> list:
    """grad_check needs float64 parameters (float32 drowns centred differences in rounding) and no
    layer that draws random numbers at every forward. Returns the layer and those inside it."""
    from scratchcnn import Dropout                 # scratchcnn imports this module
    layers = layers_within(layer)
    for name, param in layer.params.items():
        if param.dtype != np.float64:
            raise TypeError(f"grad_check needs a float64 layer, but {layer!r} keeps {name!r} in {param.dtype}: "
                            f"its ~7 digits drown centred differences in rounding (errors near 1e-2). Build the "
                            f"layer with dtype=np.float64.")
    if any(isinstance(inner, Dropout) and inner.p > 0 and inner.training for inner in layers):
        raise ValueError(f"grad_check cannot check {layer!r}: a Dropout with p > 0 in training mode draws a new "
                         f"random mask at every forward, so differences of the loss measure the masks, not the "
                         f"gradient. Check it in eval mode (layer.eval() or .training = False), or with p=0.")
    return layers


# ---------------------------------------------------------------------------------------------
# Layer, optimizer and model arguments: refused when the object is built, not epochs later.
# ---------------------------------------------------------------------------------------------

SIZE_ARGUMENTS = ("in_channels", "out_channels", "kernel_size", "stride", "in_features", "out_features",
                  "num_features", "num_channels")
# name: (lowest, highest, highest allowed?) for a real number; the reason each range is sensible:
FRACTION_ARGUMENTS = {
    "momentum": (0, 1, True, "BatchNorm's running statistics move by this fraction of each batch's: "
                             "0.1 is usual (PyTorch's default)"),
    "negative_slope": (0, 1, False, "a leaky ReLU passes this fraction of a negative input: 0.01 is usual; "
                                    "1 or more would make it no longer bend (or turn it upside down)"),
    "p": (0, 1, False, "Dropout zeroes each unit with probability p: 0.5 or less is usual"),
}


def _is_whole(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_layer_arguments(layer) -> None:
    """A layer's constructor arguments (its config): sizes and strides whole numbers >= 1, padding >= 0,
    fractions in their range, eps > 0. A model file's layers are built by the same constructors, so a
    file with momentum 7 or a slope of 1e38 is refused too (load_model reports the layer)."""
    for name, value in layer.config().items():
        if name in SIZE_ARGUMENTS and not (_is_whole(value) and value >= 1):
            raise ValueError(f"{type(layer).__name__}: {name} must be a whole number >= 1, got {value!r}"
                             + (" (write 2, not 2.0)" if isinstance(value, float) and value.is_integer() else ""))
        if name == "padding" and not (_is_whole(value) and value >= 0):
            raise ValueError(f"{type(layer).__name__}: padding must be a whole number >= 0 "
                             f"(1 keeps a 3x3 convolution's size), got {value!r}")
        if name == "eps" and not (_is_real(value) and math.isfinite(value) and value > 0):
            raise ValueError(f"{type(layer).__name__}: eps must be a small positive number such as 1e-5 "
                             f"(it keeps 1 / sqrt(var + eps) finite), got {value!r}")
        if name in FRACTION_ARGUMENTS:
            low, high, high_allowed, why = FRACTION_ARGUMENTS[name]
            if not (_is_real(value) and low <= value and (value <= high if high_allowed else value < high)):
                raise ValueError(f"{type(layer).__name__}: {name} must be a number in [{low}, {high}"
                                 f"{']' if high_allowed else ')'}, got {value!r}: {why}.")


def check_optimizer_arguments(optimizer) -> None:
    """An optimizer's hyperparameters (train checks lr): decay rates (momentum, alpha, Adam's betas) in [0, 1),
    eps > 0, weight_decay >= 0, all finite. Outside these ranges training diverges or never moves."""
    name = type(optimizer).__name__
    betas = getattr(optimizer, "betas", None)
    if "betas" in vars(optimizer) and not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise ValueError(f"{name}: betas must be a pair (beta1, beta2) such as (0.9, 0.999), got {betas!r}")
    values = dict(vars(optimizer), **({} if betas is None else {"beta1": betas[0], "beta2": betas[1]}))
    ranges = {"eps": "a small positive number such as 1e-8",
              "weight_decay": "a number >= 0 such as 0 or 5e-4 (negative decay pushes weights to grow)",
              "momentum": "a number in [0, 1) such as 0.9", "alpha": "a number in [0, 1) such as 0.99",
              "beta1": "in [0, 1) (betas=(0.9, 0.999) is usual)", "beta2": "in [0, 1) (betas=(0.9, 0.999) is usual)"}
    for attribute, wanted in ranges.items():
        if attribute not in values:
            continue
        value = values[attribute]
        fine = _is_real(value) and math.isfinite(value) and (
            value > 0 if attribute == "eps" else value >= 0 if attribute == "weight_decay" else 0 <= value < 1)
        if not fine:
            raise ValueError(f"{name}: {attribute} must be {wanted}, got {value!r}")


def check_float_dtype(dtype, what: str) -> None:
    """Weights are float32 or float64: integers round every update away, float16 overflows and underflows."""
    if dtype is not None and np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"{what}: dtype must be np.float32 or np.float64, got {np.dtype(dtype)} "
                        f"(integer weights cannot learn; float16 loses too many digits for training)")


def check_deep_cnn_arguments(in_channels, image_size, num_classes, channels, blocks, hidden, dtype) -> None:
    """deep_cnn's arguments: whole sizes (blocks may be 0), and an image size divisible by 4 that
    survives one 2x2 pooling per stage."""
    for name, value, least in (("in_channels", in_channels, 1), ("image_size", image_size, 1),
                               ("num_classes", num_classes, 2), ("blocks", blocks, 0), ("hidden", hidden, 1)):
        if not (_is_whole(value) and value >= least):
            raise ValueError(f"deep_cnn: {name} must be a whole number >= {least}, got {value!r}")
    if not (len(channels) >= 1 and all(_is_whole(c) and c >= 1 for c in channels)):
        raise ValueError(f"deep_cnn: channels must list whole numbers >= 1, one per stage, got {channels!r}")
    if image_size % 4:
        raise ValueError(f"deep_cnn needs an image size divisible by 4, got {image_size}")
    if image_size < 2 ** len(channels):
        raise ValueError(f"deep_cnn: image_size {image_size} is too small for {len(channels)} stages: each halves "
                         f"it with a 2x2 pooling, so it must be at least {2 ** len(channels)}. Use fewer channels "
                         f"(stages) or bigger images.")
    check_float_dtype(dtype, "deep_cnn")


def check_distinct_layers(model) -> None:
    """One layer object used twice in a model would overwrite its own backward caches and
    gradients (the first use's weight gradient is lost): refuse it, recursively."""
    seen = set()
    for layer in layers_within(model)[1:]:
        if id(layer) in seen:
            raise ValueError(f"{layer!r} appears twice in one model: a layer object caches its input for "
                             f"backward and keeps one gradient, so using it twice gives wrong gradients. "
                             f"Build a new layer for each place (two ReLU() objects, not one).")
        seen.add(id(layer))


MAX_NESTING = 16       # Residual inside Residual: deep enough for any course model, far below Python's recursion limit


def check_model_to_load(path, architecture: dict, dtype) -> None:
    """load_model: a float dtype, and no models nested more than MAX_NESTING deep (hundreds of levels
    take minutes to evaluate and end in a RecursionError)."""
    from .file_safety import ModelFileError
    check_float_dtype(dtype, "load_model")

    def depth(specs, level):
        if level > MAX_NESTING:
            raise ModelFileError(f"{path}: its Residual/Sequential blocks are nested more than {MAX_NESTING} "
                                 f"levels deep; no ScratchCNN model is. Refusing it (the file is damaged or "
                                 f"hostile).")
        for spec in specs:
            depth(spec.get("layers", ()), level + 1)
    depth(architecture["layers"], 0)


def check_loaded_model(path, model) -> None:
    """A loaded BatchNorm's running variance must be >= 0 (its square root divides every input)."""
    from .file_safety import ModelFileError
    for layer in layers_within(model):
        if hasattr(layer, "running_var") and (layer.running_var < 0).any():
            raise ModelFileError(f"{path}: {layer!r} has a negative running variance "
                                 f"({float(layer.running_var.min()):g}); a variance is never negative, so the "
                                 f"file is damaged. Re-create it with `python scratchcnn.py train`.")


# ---------------------------------------------------------------------------------------------
# Forward and backward: a backward needs the forward it undoes.
# ---------------------------------------------------------------------------------------------

def check_batch_statistics(layer, x, mean, var) -> None:
    """A BatchNorm in training: more than one value per feature, and finite statistics (NaN or inf
    would poison the running statistics for good)."""
    if x.size // layer.num_features < 2:
        raise ValueError(f"{layer!r} in training mode needs more than one value per feature "
                         f"to estimate a variance, got input shape {x.shape}; use a bigger batch.")
    if not (np.isfinite(mean).all() and np.isfinite(var).all()):
        raise ValueError(f"{layer!r}: the batch's mean or variance is NaN or infinite (the input holds NaN or "
                         f"inf, or values too large for {x.dtype}). The running statistics were left as they "
                         f"were. Clean the data, or lower the learning rate if training diverged.")


def _output_shape(layer, input_shape):
    """The shape a layer's forward returned for an input of input_shape (what backward's dout must have)."""
    from scratchcnn import Conv2D, Dense, Flatten, MaxPool2D, conv_output_size
    if isinstance(layer, (Conv2D, MaxPool2D)):
        padding = getattr(layer, "padding", 0)
        N, C, H, W = input_shape
        return (N, getattr(layer, "out_channels", C), conv_output_size(H, layer.kernel_size, layer.stride, padding),
                conv_output_size(W, layer.kernel_size, layer.stride, padding))
    if isinstance(layer, Dense):
        return input_shape[0], layer.out_features
    if isinstance(layer, Flatten):
        return input_shape[0], math.prod(input_shape[1:])
    return tuple(input_shape)


# What each layer's forward keeps for its backward (drop_caches forgets them; check_backward reads the
# input's shape from the first one present: a tuple, or an array of the input's shape).
CACHE_NAMES = ("x_shape", "positive", "x", "x_hat", "mask", "cols", "winner", "inv_std", "probs", "labels")


def drop_caches(layer) -> None:
    """Forget what forward kept for backward (inference: Sequential.forward(x, keep_caches=False))."""
    for name in CACHE_NAMES:
        layer.__dict__.pop(name, None)


def check_backward(layer, dout) -> None:
    """backward needs its forward (run last, in the mode the layer is in now, keeping its caches)
    and a dout of the shape that forward returned. One cheap look per layer and batch."""
    name, caches = type(layer).__name__, vars(layer)
    cache = next((caches[key] for key in CACHE_NAMES[:5] if key in caches), "missing")
    if isinstance(cache, str):
        raise RuntimeError(f"{name}.backward was called before {name}.forward (or after a forward that kept "
                           f"no caches, as in predict_proba and evaluate): run forward on the batch first.")
    if caches.get("forward_training", layer.training) != layer.training:
        raise RuntimeError(f"{name} ran forward in {'training' if layer.forward_training else 'eval'} mode but "
                           f"is now in {'training' if layer.training else 'eval'} mode: backward must undo the "
                           f"forward that ran. Switch modes before forward, not between forward and backward.")
    if cache is None:                                     # Dropout in eval mode: dout passes through
        return
    expected = _output_shape(layer, cache if isinstance(cache, tuple) else cache.shape)
    if not isinstance(dout, np.ndarray) or dout.shape != expected:
        got = f"shape {dout.shape}" if isinstance(dout, np.ndarray) else f"a {type(dout).__name__}"
        raise ValueError(f"{name}.backward needs dout of shape {expected}, the shape its forward returned, "
                         f"got {got}. Pass the gradient of the loss with respect to this layer's output.")


def check_loss_backward(loss) -> None:
    """The loss's backward needs its forward (it returns dL/dlogits of that batch)."""
    if "probs" not in vars(loss):
        raise RuntimeError("SoftmaxCrossEntropy.backward was called before forward: call "
                           "loss_fn.forward(logits, labels) on the batch first.")


def check_residual_shape(x, out) -> None:
    """y = x + f(x) needs f to keep the shape."""
    if out.shape != x.shape:
        raise ValueError(f"Residual: the inner layers turn shape {x.shape} into {out.shape}; "
                         f"y = x + f(x) needs f to keep the shape (same channels, padding 'same').")


def check_nudgeable(x) -> None:
    """numerical_gradient nudges x in place through a flat view: x must be float64 (else a warning) and
    reshape(-1) must be a view of it, not a copy."""
    if x.dtype != np.float64:
        warnings.warn(f"numerical_gradient got a {x.dtype} array: centred differences need float64 "
                      f"(with float32 the rounding error is about 1e-2). Convert the array, and the "
                      f"weights f uses, with .astype(np.float64) first.", stacklevel=3)
    if not np.shares_memory(x.reshape(-1), x):
        raise ValueError("numerical_gradient needs a contiguous array it can nudge in place")


def check_evaluation_data(model, images, labels, batch_size) -> None:
    """evaluate's arguments: arrays that pair up, integer labels of the model's classes, batch_size >= 1."""
    if not (_is_whole(batch_size) and batch_size >= 1):
        raise ValueError(f"batch_size must be a whole number >= 1 (such as 1000), got {batch_size!r}")
    check_data(model, images, labels, "evaluation", stacklevel=5)


INFERENCE_MEMORY = 16 * 2 ** 20      # bytes one layer's forward may take in predict_proba (its largest array)


def inference_batch_size(model, x, batch_size) -> int:
    """The batch size predict_proba runs: at most batch_size, and small enough that the largest
    array any layer makes (a convolution's im2col columns, usually) stays under INFERENCE_MEMORY.
    Measured on one image, whose caches are then dropped."""
    if not (_is_whole(batch_size) and batch_size >= 1):
        raise ValueError(f"batch_size must be a whole number >= 1 (such as 1000), got {batch_size!r}")
    if len(x) <= 1:
        return batch_size
    largest = 1
    model.forward(x[:1], keep_caches=True)
    for layer in layers_within(model):
        arrays = [value for value in vars(layer).values() if isinstance(value, np.ndarray)]
        largest = max([largest] + [a.nbytes for a in arrays if not any(a is p for p in layer.params.values())])
        drop_caches(layer)
    return max(1, min(batch_size, INFERENCE_MEMORY // largest))


def check_output_size(out: int, size: int, kernel_size: int, padding: int) -> int:
    """conv_output_size's result, if the kernel fits the (padded) input at least once."""
    if out < 1:
        raise ValueError(f"kernel {kernel_size} with padding {padding} does not fit an input of size {size}")
    return out


def check_loss_input(logits, labels) -> None:
    """SoftmaxCrossEntropy.forward: logits (N, K) and labels (N,) that are class numbers 0..K-1."""
    if not (isinstance(logits, np.ndarray) and isinstance(labels, np.ndarray)):
        raise TypeError(f"SoftmaxCrossEntropy expects NumPy arrays, got {type(logits).__name__} and "
                        f"{type(labels).__name__}; convert with np.asarray")
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"expected logits (N, K) and labels (N,), got {logits.shape} and {labels.shape}")
    check_labels(labels, logits.shape[1])
