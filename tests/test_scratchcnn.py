"""Unit tests of scratchcnn.py: every layer against a numerical gradient and a naive
reference, the loader's errors, model files, training sanity, and the command line."""

import gzip
import hashlib
import math
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import scratchcnn as sc

GRAD_TOLERANCE = 1e-7   # "well under 1e-6"


def rng(seed=0):
    return np.random.default_rng(seed)


def distinct_values(shape, seed=0):
    """Random values spaced apart, so max pooling has no ties and a centred
    difference never crosses a kink."""
    r = rng(seed)
    return (r.permutation(math.prod(shape)).reshape(shape) / 10.0 + r.uniform(-0.01, 0.01, shape)) * 0.1


# --- gradient checks in float64 ----------------------------------------------------

CONV_CASES = [  # (N, C, H, W, F, k, stride, padding)
    (2, 3, 5, 5, 4, 3, 1, 0),
    (2, 3, 7, 5, 4, 3, 1, 1),     # non-square
    (2, 2, 9, 8, 3, 3, 2, 1),     # stride 2 with padding, odd/even mix
    (1, 1, 6, 6, 2, 2, 2, 0),
    (3, 2, 5, 7, 2, 5, 1, 2),     # kernel as big as the padded input allows
    (2, 2, 8, 7, 3, 3, 3, 2),     # stride 3, padding 2
    (1, 4, 11, 9, 2, 4, 2, 1),    # even kernel, odd sizes
]


@pytest.mark.parametrize("N,C,H,W,F,k,s,p", CONV_CASES)
def test_conv2d_gradients(N, C, H, W, F, k, s, p):
    conv = sc.Conv2D(C, F, k, stride=s, padding=p, rng=rng(1), dtype=np.float64)
    conv.params["b"][:] = rng(2).standard_normal(F)
    errors = sc.grad_check(conv, rng(3).standard_normal((N, C, H, W)))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < GRAD_TOLERANCE, errors


@pytest.mark.parametrize("N,C,H,W,F,k,s,p", CONV_CASES)
def test_conv2d_fast_matches_naive(N, C, H, W, F, k, s, p):
    conv = sc.Conv2D(C, F, k, stride=s, padding=p, rng=rng(1), dtype=np.float64)
    conv.params["b"][:] = rng(2).standard_normal(F)
    x = rng(3).standard_normal((N, C, H, W))
    fast = conv.forward(x)
    naive = sc.conv2d_naive(x, conv.params["W"], conv.params["b"], stride=s, padding=p)
    assert fast.shape == naive.shape == (N, F, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1)
    np.testing.assert_allclose(fast, naive, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("N,C,H,W,F,k,s,p", CONV_CASES)
def test_conv2d_backward_matches_naive_loops(N, C, H, W, F, k, s, p):
    conv = sc.Conv2D(C, F, k, stride=s, padding=p, rng=rng(1), dtype=np.float64)
    x = rng(3).standard_normal((N, C, H, W))
    dout = rng(4).standard_normal(conv.forward(x).shape)
    dx = conv.backward(dout)
    dx_naive, dW_naive, db_naive = sc.conv2d_backward_naive(x, conv.params["W"], dout, stride=s, padding=p)
    np.testing.assert_allclose(dx, dx_naive, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.grads["W"], dW_naive, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.grads["b"], db_naive, rtol=1e-12, atol=1e-12)


def test_conv2d_random_configurations_match_naive():
    r = rng(10)
    for _ in range(25):
        k, s, p = int(r.integers(1, 5)), int(r.integers(1, 4)), int(r.integers(0, 3))
        H, W = int(r.integers(k, 10)), int(r.integers(k, 10))
        N, C, F = (int(v) for v in r.integers(1, 4, size=3))
        conv = sc.Conv2D(C, F, k, stride=s, padding=p, rng=r, dtype=np.float64)
        conv.params["b"][:] = r.standard_normal(F)
        x = r.standard_normal((N, C, H, W))
        np.testing.assert_allclose(conv.forward(x), sc.conv2d_naive(x, conv.params["W"], conv.params["b"], s, p),
                                   rtol=1e-12, atol=1e-12)


def test_conv2d_is_cross_correlation_like_pytorch():
    # A kernel with a single 1 at the top-left picks the top-left pixel of each
    # window; a true (flipped) convolution would pick the bottom-right one.
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    conv = sc.Conv2D(1, 1, 2, dtype=np.float64)
    conv.params["W"][:] = [[[[1, 0], [0, 0]]]]
    np.testing.assert_array_equal(conv.forward(x)[0, 0], [[0, 1], [3, 4]])


def test_conv2d_float32_path_matches_float64():
    conv64 = sc.Conv2D(3, 5, 3, stride=2, padding=1, rng=rng(4), dtype=np.float64)
    conv32 = sc.Conv2D(3, 5, 3, stride=2, padding=1, dtype=np.float32)
    conv32.params = {k: v.astype(np.float32) for k, v in conv64.params.items()}
    x = rng(5).standard_normal((4, 3, 9, 9))
    out32 = conv32.forward(x.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, conv64.forward(x), rtol=1e-4, atol=1e-5)
    dout = rng(6).standard_normal(out32.shape)
    dx32 = conv32.backward(dout.astype(np.float32))
    assert dx32.dtype == conv32.grads["W"].dtype == np.float32
    np.testing.assert_allclose(dx32, conv64.backward(dout), rtol=1e-4, atol=1e-4)


def test_im2col_and_col2im_are_adjoint():
    # <im2col(x), C> == <x, col2im(C)>: col2im is exactly the transpose of im2col.
    x = rng(7).standard_normal((2, 3, 7, 6))
    cols = sc.im2col(x, 3, stride=2, padding=1)
    C = rng(8).standard_normal(cols.shape)
    np.testing.assert_allclose(np.sum(cols * C), np.sum(x * sc.col2im(C, x.shape, 3, 2, 1)), rtol=1e-12)


POOL_CASES = [  # (N, C, H, W, k, stride)
    (2, 3, 4, 4, 2, None),
    (2, 2, 7, 7, 3, 2),      # overlapping windows, odd size
    (1, 2, 6, 5, 3, 1),      # heavy overlap, non-square
    (2, 1, 9, 7, 2, 2),      # odd sizes: the last row/column is dropped
    (1, 2, 8, 8, 3, 3),
]


@pytest.mark.parametrize("N,C,H,W,k,s", POOL_CASES)
def test_maxpool_gradients_and_naive(N, C, H, W, k, s):
    pool = sc.MaxPool2D(k, s)
    x = distinct_values((N, C, H, W))
    np.testing.assert_array_equal(pool.forward(x), sc.maxpool2d_naive(x, k, s))
    assert sc.grad_check(pool, x)["x"] < GRAD_TOLERANCE


@pytest.mark.parametrize("k,s", [(2, 2), (3, 2), (3, 1), (2, 1)])
def test_maxpool_ties_send_gradient_to_exactly_one_position(k, s):
    x = rng(9).integers(0, 2, size=(2, 2, 7, 7)).astype(np.float64)   # many ties
    x[0, 0] = 1.0                                                       # an all-tie channel
    pool = sc.MaxPool2D(k, s)
    out = pool.forward(x)
    dout = rng(10).standard_normal(out.shape)
    dx = pool.backward(dout)
    np.testing.assert_allclose(dx, sc.maxpool2d_backward_naive(x, dout, k, s), rtol=0, atol=1e-12)
    # Total gradient is conserved: each window passes on its dout exactly once.
    np.testing.assert_allclose(dx.sum(), dout.sum(), rtol=1e-12)
    if k == s:  # non-overlapping: exactly one non-zero per window
        ones = pool.backward(np.ones_like(out))
        assert ones.sum() == out.size and set(np.unique(ones)) <= {0.0, 1.0}


def test_maxpool_overlapping_windows_accumulate():
    # The centre pixel is the max of all four overlapping 3x3 windows (stride 1).
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = 5.0
    pool = sc.MaxPool2D(3, 1)
    pool.forward(x)
    dx = pool.backward(np.ones((1, 1, 2, 2)))
    assert dx[0, 0, 1, 1] == 4.0 and dx.sum() == 4.0


def test_maxpool_works_on_non_contiguous_input():
    x = distinct_values((3, 2, 6, 6)).transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3)
    assert not x.flags.c_contiguous
    np.testing.assert_array_equal(sc.MaxPool2D(2).forward(x), sc.maxpool2d_naive(np.ascontiguousarray(x), 2))


@pytest.mark.parametrize("layer", [sc.ReLU(), sc.LeakyReLU(0.1), sc.Flatten()], ids=repr)
def test_parameterless_layer_gradients(layer):
    x = distinct_values((3, 2, 3, 4)) - 0.5 * distinct_values((3, 2, 3, 4)).max()
    assert sc.grad_check(layer, x)["x"] < GRAD_TOLERANCE


def test_dense_gradients():
    dense = sc.Dense(7, 5, rng=rng(11), dtype=np.float64)
    dense.params["b"][:] = rng(12).standard_normal(5)
    errors = sc.grad_check(dense, rng(13).standard_normal((4, 7)))
    assert max(errors.values()) < GRAD_TOLERANCE, errors
    assert dense.params["W"].shape == (7, 5)


def test_dropout_is_inverted_and_identity_in_eval():
    layer = sc.Dropout(0.25, rng=rng(14))
    x = np.ones((2000, 50))
    y = layer.forward(x)
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert abs(y.mean() - 1.0) < 0.01                      # expectation preserved
    dout = rng(15).standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dout), dout * (y > 0) / 0.75, rtol=1e-14)
    layer.training = False
    assert layer.forward(x) is x and layer.backward(dout) is dout


def test_softmax_cross_entropy_gradient_and_stability():
    # Moderate logits: an entry whose true gradient is ~1e-6 drowns in float64
    # rounding (see relative_error); huge logits are tested for stability below.
    logits = rng(16).standard_normal((5, 10))
    labels = np.array([0, 3, 9, 3, 1])
    loss_fn = sc.SoftmaxCrossEntropy()
    loss_fn.forward(logits, labels)
    analytic = loss_fn.backward()
    numeric = sc.numerical_gradient(lambda: loss_fn.forward(logits, labels), logits)
    assert sc.relative_error(analytic, numeric) < GRAD_TOLERANCE
    one_hot = np.eye(10)[labels]
    np.testing.assert_allclose(analytic, (sc.softmax(logits) - one_hot) / 5, rtol=1e-12)
    # Huge logits: no overflow, exact answers.
    huge = np.array([[1000.0, -1000.0, 0.0], [-5e4, 5e4, 5e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow to 0 is harmless
        loss = loss_fn.forward(huge, np.array([0, 1]))
    np.testing.assert_allclose(loss, math.log(2) / 2, rtol=1e-12)
    assert np.all(np.isfinite(loss_fn.backward()))


def test_layers_keep_constructor_arguments():
    conv = sc.Conv2D(3, 4, 5, stride=2, padding=1)
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == (3, 4, 5, 2, 1)
    assert conv.params["W"].shape == (4, 3, 5, 5) and conv.params["b"].shape == (4,)
    assert conv.params["W"].dtype == np.float32 and conv.grads.keys() == conv.params.keys()
    assert sc.MaxPool2D(3).stride == 3 and sc.MaxPool2D(3, 2).stride == 2
    assert sc.LeakyReLU(0.2).negative_slope == 0.2 and sc.Dropout(0.3).p == 0.3
    dense = sc.Dense(6, 2)
    assert (dense.in_features, dense.out_features) == (6, 2)
    for layer in (sc.ReLU(), sc.Flatten(), sc.MaxPool2D()):
        assert layer.params == {} and layer.grads == {}


def test_wrong_input_shapes_give_clear_errors():
    with pytest.raises(ValueError, match=r"expects a 4-D input.*x\[:, None\]"):
        sc.Conv2D(1, 2, 3).forward(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="expects 3 input channels"):
        sc.Conv2D(3, 2, 3).forward(np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="Flatten"):
        sc.Dense(16, 2).forward(np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="does not fit"):
        sc.Conv2D(1, 1, 5).forward(np.zeros((1, 1, 3, 3), np.float32))


# --- optimizers ----------------------------------------------------------------------

def test_sgd_and_adam_steps():
    layer = sc.Dense(2, 1, rng=rng(0), dtype=np.float64)
    model = sc.Sequential([layer])
    w0 = layer.params["W"].copy()
    layer.grads["W"] = np.array([[1.0], [-2.0]])
    layer.grads["b"] = np.array([0.5])
    sgd = sc.SGD(model, lr=0.1, momentum=0.9, weight_decay=0.0)
    sgd.step()
    np.testing.assert_allclose(layer.params["W"], w0 - 0.1 * layer.grads["W"])
    sgd.step()   # velocity = 0.9 g + g
    np.testing.assert_allclose(layer.params["W"], w0 - 0.1 * layer.grads["W"] - 0.1 * 1.9 * layer.grads["W"])
    sgd.zero_grad()
    assert np.all(layer.grads["W"] == 0)
    layer.params["W"][:] = w0
    layer.grads["W"] = np.array([[1.0], [-2.0]])
    sc.Adam(model, lr=0.01).step()   # the first Adam step moves each weight by lr * sign(g)
    np.testing.assert_allclose(layer.params["W"], w0 - 0.01 * np.sign(layer.grads["W"]), rtol=1e-6)


# --- model, training sanity ------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_test():
    return sc.load_mnist("test")


def test_initial_loss_is_about_ln10(mnist_test):
    images, labels = mnist_test
    model = sc.reference_cnn(seed=0)
    loss = sc.SoftmaxCrossEntropy().forward(model.forward(images[:500]), labels[:500])
    assert abs(loss - math.log(10)) < 0.1


# --- the command line ----------------------------------------------------------------------

def run_cli(*args, cwd):
    return subprocess.run([sys.executable, sc.__file__, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_cli_train_evaluate_predict(tmp_path, mnist_test):
    model_path = tmp_path / "cli_model.npz"
    result = run_cli("train", "--train-limit", "2000", "--validation-size", "500", "--epochs", "2",
                     "--model-out", str(model_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "training on 2,000 images, validating on 500" in result.stdout
    assert "epoch  2/2" in result.stdout and "val acc" in result.stdout and "test accuracy" in result.stdout
    assert "img/s" in result.stderr                                    # the progress bar
    assert model_path.is_file()
    result = run_cli("evaluate", "--model", str(model_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    accuracy = float(result.stdout.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 60   # 2 epochs on 2,000 images: far above chance (10%)
    assert "confusion matrix" in result.stdout and result.stdout.count("images)") == 10
    # predict: a test digit saved as a dark-on-light PNG
    import matplotlib.image
    png = tmp_path / "digit.png"
    image, label = mnist_test[0][0, 0], int(mnist_test[1][0])
    matplotlib.image.imsave(png, 1 - sc.resize_image(image, 140, 140), cmap="gray", vmin=0, vmax=1)
    result = run_cli("predict", "--model", str(sc.DEFAULT_MODEL_PATH), str(png), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{png}: {label}\n") and result.stdout.count("%") == 10


def test_cli_errors_are_clear(tmp_path):
    result = run_cli("train", "--validation-size", "60000", cwd=tmp_path)
    assert result.returncode != 0 and "leaves no training data" in result.stderr
    result = run_cli("train", "--data-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode != 0 and "missing data file" in result.stderr
    (tmp_path / "bad.npz").write_bytes(b"junk")
    result = run_cli("evaluate", "--model", str(tmp_path / "bad.npz"), cwd=tmp_path)
    assert result.returncode != 0 and "error:" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("train", "--train-limit", "500", "--epochs", "2", "--lr", "1e9", "--optimizer", "sgd",
                     "--quiet", "--model-out", str(tmp_path / "m.npz"), cwd=tmp_path)
    assert result.returncode != 0 and "Lower the learning rate" in result.stderr


def test_maxpool_big_kernel_routes_to_the_right_place():
    # 17 x 17 = 289 offsets: more than a uint8 can number.
    x = distinct_values((1, 1, 17, 17))
    pool = sc.MaxPool2D(17)
    assert pool.forward(x).item() == x.max()
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    assert dx[0, 0][np.unravel_index(np.argmax(x[0, 0]), (17, 17))] == 1 and dx.sum() == 1


def test_adam_is_the_textbook_formula():
    # w <- w - lr * m_hat / (sqrt(v_hat) + eps), over several steps, with gradients as tiny as eps.
    layer = sc.Dense(3, 1, dtype=np.float64)
    model = sc.Sequential([layer])
    w = layer.params["W"].copy()
    m = v = np.zeros_like(w)
    adam = sc.Adam(model, lr=1e-3)
    for t in range(1, 6):
        g = rng(t).standard_normal(w.shape) * np.array([[1e-9], [1.0], [100.0]])
        layer.grads["W"], layer.grads["b"] = g, np.zeros(1)
        adam.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 1e-3 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        np.testing.assert_allclose(layer.params["W"], w, rtol=1e-12, atol=1e-15)


def test_im2col_batch_last_is_a_column_permutation_and_adjoint():
    x = rng(20).standard_normal((3, 2, 7, 6))
    k, s, p = 3, 2, 1
    H_out, W_out = (7 + 2 * p - k) // s + 1, (6 + 2 * p - k) // s + 1
    default = sc.im2col(x, k, s, p)                       # columns ordered (n, y, x)
    batch_last = sc.im2col(x, k, s, p, batch_last=True)  # columns ordered (y, x, n)
    reordered = default.reshape(-1, 3, H_out, W_out).transpose(0, 2, 3, 1).reshape(default.shape[0], -1)
    np.testing.assert_array_equal(batch_last, reordered)
    C = rng(21).standard_normal(batch_last.shape)
    np.testing.assert_allclose(np.sum(batch_last * C), np.sum(x * sc.col2im(C, x.shape, k, s, p, batch_last=True)),
                               rtol=1e-12)


def test_sequential_backward_can_skip_the_input_gradient():
    model = sc.reference_cnn(seed=7)
    x = sc.load_mnist("test")[0][:4]
    logits = model.forward(x)
    assert model.backward(np.ones_like(logits), input_gradient=False) is None
    grads = {k: v.copy() for k, v in model.layers[0].grads.items()}
    model.forward(x)
    dx = model.backward(np.ones_like(logits))            # the default still returns dL/dx ...
    assert dx.shape == x.shape and np.abs(dx).sum() > 0
    for key in grads:                                       # ... and the same weight gradients
        np.testing.assert_allclose(model.layers[0].grads[key], grads[key], rtol=1e-6)
    assert model.layers[0].needs_input_gradient           # the flag does not stick
