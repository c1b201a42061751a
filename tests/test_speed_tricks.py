"""The speed tricks of scratchcnn.py, each checked against the naive loop references
(conv2d_naive, conv2d_backward_naive, maxpool2d_naive, maxpool2d_backward_naive) or
against the plain computation it replaces: across strides, paddings, odd and
non-square sizes, overlapping windows, ties, and the memory layouts the layers meet
in training. Small random inputs, generated here (the tests say so); no timing.
"""

import subprocess
import sys

import numpy as np
import pytest

import scratchcnn as sc
from course_machinery import cli


def rng(seed=0):
    return np.random.default_rng(seed)


def batch_last(x):
    """x with the memory layout Conv2D outputs have: an NCHW view of a (C, H, W, N) array."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def with_ties(shape, seed=0):
    """Small integers: many ties inside pooling windows, many exact zeros for ReLU."""
    return rng(seed).integers(-2, 3, size=shape).astype(np.float64)


# --- Conv2D: dW as cols @ D.T (the cheaper orientation), no dx for the first layer ---------

CONV_CASES = [  # (N, C, H, W, F, k, stride, padding)
    (3, 1, 28, 28, 8, 3, 1, 1),    # the reference CNN's first layer: one input channel
    (3, 8, 14, 14, 16, 3, 1, 1),   # and its second
    (2, 1, 7, 5, 3, 3, 2, 0),      # one channel, non-square, stride 2
    (2, 3, 9, 8, 4, 3, 2, 1),      # stride 2 with padding, odd/even mix
    (2, 2, 8, 7, 3, 3, 3, 2),      # stride 3, padding 2
    (1, 4, 11, 9, 2, 4, 2, 1),     # even kernel, odd sizes
    (2, 2, 5, 7, 2, 5, 1, 2),      # kernel as big as the padded input allows
]


@pytest.mark.parametrize("N,C,H,W,F,k,s,p", CONV_CASES)
@pytest.mark.parametrize("layout", ["contiguous", "batch_last"])
def test_conv2d_forward_and_backward_match_the_loops(N, C, H, W, F, k, s, p, layout):
    conv = sc.Conv2D(C, F, k, stride=s, padding=p, rng=rng(1), dtype=np.float64)
    conv.params["b"][:] = rng(2).standard_normal(F)
    x = rng(3).standard_normal((N, C, H, W))
    x = batch_last(x) if layout == "batch_last" else x
    out = conv.forward(x)
    np.testing.assert_allclose(out, sc.conv2d_naive(x, conv.params["W"], conv.params["b"], s, p),
                               rtol=1e-12, atol=1e-12)
    dout = rng(4).standard_normal(out.shape)
    dout = batch_last(dout) if layout == "batch_last" else dout
    dx = conv.backward(dout)
    dx_naive, dW_naive, db_naive = sc.conv2d_backward_naive(x, conv.params["W"], dout, s, p)
    np.testing.assert_allclose(dx, dx_naive, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.grads["W"], dW_naive, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.grads["b"], db_naive, rtol=1e-12, atol=1e-12)
    assert conv.grads["W"].shape == conv.params["W"].shape

    # The first layer in training skips dx; its weight gradients stay the same.
    conv.needs_input_gradient = False
    conv.forward(x)
    assert conv.backward(dout) is None
    np.testing.assert_allclose(conv.grads["W"], dW_naive, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.grads["b"], db_naive, rtol=1e-12, atol=1e-12)


def test_conv2d_float32_weight_gradient_matches_float64():
    # The reoriented product in float32 (what training runs) against the float64 loops.
    conv = sc.Conv2D(8, 16, 3, padding=1, rng=rng(1), dtype=np.float32)
    x = rng(2).standard_normal((4, 8, 14, 14)).astype(np.float32)
    dout = rng(3).standard_normal((4, 16, 14, 14)).astype(np.float32)
    conv.forward(x)
    conv.backward(dout)
    _, dW, db = sc.conv2d_backward_naive(x.astype(np.float64), conv.params["W"].astype(np.float64),
                                         dout.astype(np.float64), 1, 1)
    assert conv.grads["W"].dtype == np.float32
    np.testing.assert_allclose(conv.grads["W"], dW, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(conv.grads["b"], db, rtol=1e-4, atol=1e-3)


# --- MaxPool2D backward: written straight into dx, np.empty when the windows tile x -------

POOL_CASES = [  # (H, W, k, stride)
    (4, 6, 2, 2),     # windows tile x exactly: dx starts empty, every entry written
    (28, 28, 2, 2),   # the reference CNN's sizes
    (5, 7, 2, 2),     # odd sizes: the last row/column is in no window and must stay 0
    (7, 6, 3, 3),
    (6, 5, 3, 2),     # overlapping windows: gradients add up
    (5, 5, 2, 1),
    (7, 8, 2, 3),     # gaps between windows: those inputs get 0
]


@pytest.mark.parametrize("H,W,k,s", POOL_CASES)
@pytest.mark.parametrize("layout", ["contiguous", "batch_last"])
def test_maxpool_matches_the_loops_with_ties(H, W, k, s, layout):
    x = with_ties((3, 2, H, W), seed=H * W + k)
    x = batch_last(x) if layout == "batch_last" else x
    pool = sc.MaxPool2D(k, s)
    out = pool.forward(x)
    np.testing.assert_array_equal(out, sc.maxpool2d_naive(x, k, s))
    dout = rng(5).standard_normal(out.shape)
    dx = pool.backward(dout)
    np.testing.assert_allclose(dx, sc.maxpool2d_backward_naive(x, dout, k, s), rtol=0, atol=1e-12)
    # Ties: every window sends its gradient to exactly one input, so the total is conserved.
    np.testing.assert_allclose(dx.sum(), dout.sum(), rtol=1e-12)


def test_maxpool_backward_leaves_no_stale_memory():
    # The np.empty path must not leak old values: run a big batch, then a smaller one whose
    # dx could land in the same freed memory, and compare both with the loops.
    pool = sc.MaxPool2D(2)
    for seed, shape in enumerate([(16, 4, 8, 8), (3, 4, 8, 8), (3, 4, 9, 9)]):
        x = with_ties(shape, seed)
        dout = rng(seed).standard_normal(pool.forward(x).shape)
        np.testing.assert_allclose(pool.backward(dout), sc.maxpool2d_backward_naive(x, dout, 2, 2),
                                   rtol=0, atol=1e-12)


# --- max-pool before ReLU: exact, outputs and gradients ------------------------------------

@pytest.mark.parametrize("H,W,k,s", POOL_CASES)
def test_pool_then_relu_equals_relu_then_pool(H, W, k, s):
    # Ties and exact zeros are where a difference would show: integers from -2 to 2.
    x = with_ties((4, 3, H, W), seed=k * s + H)
    relu_first, pool_first = (sc.ReLU(), sc.MaxPool2D(k, s)), (sc.MaxPool2D(k, s), sc.ReLU())
    outputs = []
    for layers in (relu_first, pool_first):
        out = x
        for layer in layers:
            out = layer.forward(out)
        outputs.append(out)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    dout = rng(1).standard_normal(outputs[0].shape)
    grads = []
    for layers in (relu_first, pool_first):
        d = dout
        for layer in reversed(layers):
            d = layer.backward(d)
        grads.append(d)
    np.testing.assert_array_equal(grads[0], grads[1])
    # and both match the loops (up to the order of additions where windows overlap)
    np.testing.assert_allclose(grads[0], sc.maxpool2d_backward_naive(np.maximum(x, 0), dout, k, s) * (x > 0),
                               rtol=0, atol=1e-12)


def test_sequential_runs_relu_after_the_pool_with_identical_results():
    model = sc.reference_cnn(seed=0, dtype=np.float64)
    names = [type(layer).__name__ for layer in model.layers]
    assert names[:6] == ["Conv2D", "ReLU", "MaxPool2D"] * 2          # the textbook order, as listed
    assert [type(layer).__name__ for layer in model.execution_order()][:6] == ["Conv2D", "MaxPool2D", "ReLU"] * 2
    assert sorted(map(id, model.execution_order())) == sorted(map(id, model.layers))

    x = rng(0).random((5, 1, 28, 28))
    x[:, :, :, :4] = 0                                        # all-zero windows: ties at 0
    labels = np.arange(5)
    loss_fn = sc.SoftmaxCrossEntropy()
    logits = model.forward(x)
    loss_fn.forward(logits, labels)
    dx = model.backward(loss_fn.backward())
    fast = [{k: g.copy() for k, g in layer.grads.items()} for layer in model.layers]

    # The same model run strictly in the listed order, layer by layer.
    out = x
    for layer in model.layers:
        out = layer.forward(out)
    np.testing.assert_array_equal(out, logits)
    loss_fn.forward(out, labels)
    d = loss_fn.backward()
    for layer in reversed(model.layers):
        d = layer.backward(d)
    np.testing.assert_array_equal(d, dx)
    for layer, grads in zip(model.layers, fast):
        for key in grads:
            np.testing.assert_array_equal(layer.grads[key], grads[key])


def test_only_relu_directly_before_a_pool_moves():
    relu, pool, leaky = sc.ReLU(), sc.MaxPool2D(2), sc.LeakyReLU()
    conv = sc.Conv2D(1, 2, 3)
    assert sc.Sequential([conv, leaky, pool]).execution_order() == [conv, leaky, pool]
    assert sc.Sequential([conv, pool, relu]).execution_order() == [conv, pool, relu]
    assert sc.Sequential([relu, pool]).execution_order() == [pool, relu]


def test_first_layer_skips_input_gradient_in_execution_order():
    model = sc.Sequential([sc.ReLU(), sc.MaxPool2D(2)])       # runs as pool, ReLU: the pool is first
    x = rng(0).standard_normal((2, 1, 4, 4))
    model.forward(x)
    assert model.backward(np.ones((2, 1, 2, 2)), input_gradient=False).shape == x.shape  # pools always return dx
    assert all(layer.needs_input_gradient for layer in model.layers)                     # the flag does not stick


# --- the one-cycle schedule and the CLI defaults --------------------------------------------

def test_one_cycle_learning_rate_rises_then_falls():
    progress = np.linspace(0, 1, 401)
    rates = np.array([sc.one_cycle_learning_rate(0.004, p, warmup=0.25) for p in progress])
    assert rates[0] == pytest.approx(0.004 * 0.04) and rates[-1] == pytest.approx(0.004 * 0.001)
    assert rates.max() == pytest.approx(0.004) and progress[rates.argmax()] == pytest.approx(0.25)
    peak = rates.argmax()
    assert np.all(np.diff(rates[:peak + 1]) > 0) and np.all(np.diff(rates[peak:]) < 0)


def test_train_follows_the_one_cycle_schedule():
    images, labels = sc.load_mnist("test")
    model = sc.reference_cnn(seed=0)
    optimizer = sc.Adam(model, lr=0.004)
    history = sc.train(model, images[:256], labels[:256], epochs=4, batch_size=64, optimizer=optimizer,
                       schedule="one-cycle")
    steps = 4 * 4
    expected = [sc.one_cycle_learning_rate(0.004, (4 * epoch + 3) / steps) for epoch in range(4)]
    np.testing.assert_allclose(history["lr"], expected)
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_cli_defaults_and_the_command_that_made_the_shipped_model(tmp_path):
    assert cli.TRAIN_DEFAULTS["schedule"] == "one-cycle"
    # The README's command for data/scratchcnn_mnist.npz (the old defaults, spelled out) still runs.
    result = subprocess.run([sys.executable, sc.__file__, "train", "--epochs", "1", "--lr", "0.002",
                             "--schedule", "cosine", "--train-limit", "512", "--quiet",
                             "--model-out", str(tmp_path / "old.npz")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "adam lr 0.002 (cosine schedule)" in result.stdout
    assert (tmp_path / "old.npz").is_file()
