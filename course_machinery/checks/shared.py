"""What the checks of several notebooks share: the MNIST test set and the shipped model,
loaded once per process, and cases built by running a reference.

The loaded arrays are read-only: a check hands its cases' arguments to an answer only
as copies, so no answer and no check can change what the next check sees."""

from __future__ import annotations

import functools
import time

import numpy as np

from scratchcnn import DEFAULT_MODEL_PATH, load_mnist, load_model

from .framework import Case


@functools.lru_cache(maxsize=None)
def mnist_test():
    """load_mnist("test"): images float32 (10000, 1, 28, 28) in [0, 1] and labels int64 (10000,)."""
    images, labels = load_mnist("test")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


@functools.lru_cache(maxsize=None)
def mnist_test_bytes():
    """The MNIST test images as the file holds them: uint8 (10000, 28, 28), 0..255."""
    images = np.rint(mnist_test()[0][:, 0] * 255).astype(np.uint8)     # exact: load_mnist divided by 255
    images.setflags(write=False)
    return images


@functools.lru_cache(maxsize=None)
def trained_model():
    """The shipped trained model (data/scratchcnn_mnist.npz) in float64. Shared: hand answers a copy."""
    return load_model(DEFAULT_MODEL_PATH, dtype=np.float64)


def reference_cases(reference, settings, hint=None, **tolerances):
    """[Case(description, args, reference(*args), hint)] for settings (description, *args, hint), or
    (description, *args) when one ``hint`` serves every case; ``tolerances``: rtol, atol."""
    cases = []
    for description, *args in settings:
        case_hint = args.pop() if hint is None else hint
        start = time.perf_counter()
        expected = reference(*args)
        cases.append(Case(description, tuple(args), expected, case_hint, **tolerances,
                          reference_seconds=time.perf_counter() - start))
    return cases
