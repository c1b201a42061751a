"""Section 7 of the textbook, gradient checking: numerical_gradient, relative_error and grad_check."""

import warnings

import numpy as np
import pytest

import scratchcnn as sc

GRAD_TOLERANCE = 1e-7   # "well under 1e-6"


def rng(seed=0):
    return np.random.default_rng(seed)


def test_numerical_gradient_of_a_known_function():
    x = rng(0).standard_normal((3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # float64: no warning
        numeric = sc.numerical_gradient(lambda: float(np.sum(x ** 3)), x)
    assert sc.relative_error(3 * x ** 2, numeric) < GRAD_TOLERANCE


def test_relative_error_is_scale_free_and_zero_when_equal():
    a = rng(1).standard_normal(10)
    assert sc.relative_error(a, a) == 0
    assert sc.relative_error(a * 1e-6, a * 1e-6 * (1 + 1e-3)) == pytest.approx(sc.relative_error(a, a * (1 + 1e-3)))
    assert sc.relative_error(np.array([1.0]), np.array([-1.0])) == 1.0


def test_numerical_gradient_warns_about_float32_and_float32_really_is_too_coarse():
    # Bug 7: float32 was accepted without a word, with errors near 1e-2.
    x32 = rng(2).standard_normal((4, 5)).astype(np.float32)
    w = rng(3).standard_normal((5, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match="numerical_gradient got a float32 array.*float64"):
        numeric = sc.numerical_gradient(lambda: float(np.sum(np.tanh(x32 @ w))), x32, h=1e-3)
    analytic = (1 - np.tanh(x32.astype(np.float64) @ w) ** 2) @ w.T.astype(np.float64)
    assert sc.relative_error(analytic, numeric) > 1e-4          # what the warning is about
    x64, w64 = x32.astype(np.float64), w.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        numeric = sc.numerical_gradient(lambda: float(np.sum(np.tanh(x64 @ w64))), x64)
    assert sc.relative_error((1 - np.tanh(x64 @ w64) ** 2) @ w64.T, numeric) < GRAD_TOLERANCE


def batchnorm_with_running_statistics(cls, channels):
    layer = cls(channels, dtype=np.float64)
    layer.params["gamma"][:] = rng(4).uniform(0.5, 1.5, channels)
    layer.params["beta"][:] = rng(5).standard_normal(channels)
    layer.running_mean = rng(6).standard_normal(channels)
    layer.running_var = rng(7).uniform(0.5, 2.0, channels)
    return layer


def test_grad_check_leaves_batchnorm_running_statistics_unchanged():
    # Bug 6: ~2 forward passes per entry in training mode moved the running mean from 0.47 to 4.74.
    layer = batchnorm_with_running_statistics(sc.BatchNorm1D, 4)
    before = layer.running_mean.copy(), layer.running_var.copy()
    x = rng(8).standard_normal((6, 4)) * 3 + 5
    errors = sc.grad_check(layer, x)
    assert max(errors.values()) < GRAD_TOLERANCE               # still checks the training-mode backward
    assert layer.training
    np.testing.assert_array_equal(layer.running_mean, before[0])
    np.testing.assert_array_equal(layer.running_var, before[1])
    # without the restore, the same forward passes would have moved them:
    layer.forward(x)
    assert not np.allclose(layer.running_mean, before[0])


def test_grad_check_leaves_the_running_statistics_inside_a_residual_unchanged():
    conv = sc.Conv2D(2, 2, 3, padding=1, rng=rng(9), dtype=np.float64)
    norm = batchnorm_with_running_statistics(sc.BatchNorm2D, 2)
    block = sc.Residual(conv, norm)
    before = norm.running_mean.copy(), norm.running_var.copy()
    errors = sc.grad_check(block, rng(10).standard_normal((3, 2, 4, 5)))
    assert errors["x"] < GRAD_TOLERANCE
    np.testing.assert_array_equal(norm.running_mean, before[0])
    np.testing.assert_array_equal(norm.running_var, before[1])


def test_grad_check_refuses_dropout_in_training_mode_and_checks_it_in_eval_mode():
    # Bug 6: each forward drew a new mask, so the comparison measured the masks.
    x = rng(11).standard_normal((4, 6))
    dropout = sc.Dropout(0.5, rng=rng(12))
    with pytest.raises(ValueError, match="Dropout with p > 0 in training mode.*eval mode"):
        sc.grad_check(dropout, x)
    with pytest.raises(ValueError, match="Dropout"):
        sc.grad_check(sc.Residual(sc.Dense(6, 6, rng=rng(13), dtype=np.float64), sc.Dropout(0.3)), x)
    dropout.training = False
    assert sc.grad_check(dropout, x)["x"] < GRAD_TOLERANCE
    assert sc.grad_check(sc.Dropout(0.0), x)["x"] < GRAD_TOLERANCE
