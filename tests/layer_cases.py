"""Shared inputs of the layer tests (test_layers, test_fast_layers, test_model)."""

import numpy as np

POOL_CASES = [  # (H, W, k, stride)
    (4, 6, 2, 2),     # windows tile x exactly: dx starts empty, every entry written
    (28, 28, 2, 2),   # the reference CNN's sizes
    (5, 7, 2, 2),     # odd sizes: the last row/column is in no window and must stay 0
    (7, 6, 3, 3),
    (6, 5, 3, 2),     # overlapping windows: gradients add up
    (5, 5, 2, 1),
    (9, 7, 4, 2),
    (7, 8, 2, 3),     # gaps between windows: those inputs get 0
    (5, 6, 5, 1),     # kernel as tall as the input
]


def batchnorm(cls, channels, seed=0):
    """A float64 batch-norm layer with random (not 1 and 0) gamma and beta."""
    layer = cls(channels, dtype=np.float64)
    r = np.random.default_rng(seed)
    layer.params["gamma"][:] = r.uniform(0.5, 2.0, channels) * r.choice([-1, 1], channels)
    layer.params["beta"][:] = r.standard_normal(channels)
    return layer
