"""The textbook's layers (scratchcnn.py, section 2) and its loss (section 3): every backward
pass against centred differences in float64, every layer against the naive loops, the
shapes and errors a student meets. The fast layers are in test_fast_layers.py."""

import math

import numpy as np
import pytest

import scratchcnn as sc
from layer_cases import batchnorm

GRAD_TOLERANCE = 1e-7   # "well under 1e-6"


def rng(seed=0):
    return np.random.default_rng(seed)


def distinct_values(shape, seed=0):
    """Random values spaced apart, so max pooling has no ties and a centred
    difference never crosses a kink."""
    r = rng(seed)
    return (r.permutation(math.prod(shape)).reshape(shape) / 10.0 + r.uniform(-0.01, 0.01, shape)) * 0.1


# --- Conv2D --------------------------------------------------------------------------

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
def test_conv2d_forward_matches_naive_loops(N, C, H, W, F, k, s, p):
    conv = sc.Conv2D(C, F, k, stride=s, padding=p, rng=rng(1), dtype=np.float64)
    conv.params["b"][:] = rng(2).standard_normal(F)
    x = rng(3).standard_normal((N, C, H, W))
    out = conv.forward(x)
    naive = sc.conv2d_naive(x, conv.params["W"], conv.params["b"], stride=s, padding=p)
    assert out.shape == naive.shape == (N, F, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1)
    np.testing.assert_allclose(out, naive, rtol=1e-12, atol=1e-12)

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


# --- MaxPool2D ------------------------------------------------------------------------

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

def test_maxpool_big_kernel_routes_to_the_right_place():
    # 17 x 17 = 289 offsets: more than a uint8 can number.
    x = distinct_values((1, 1, 17, 17))
    pool = sc.MaxPool2D(17)
    assert pool.forward(x).item() == x.max()
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    assert dx[0, 0][np.unravel_index(np.argmax(x[0, 0]), (17, 17))] == 1 and dx.sum() == 1


# --- ReLU, LeakyReLU, Flatten, Dense, Dropout ---------------------------------------------

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


def test_dropout_gradient_with_a_fixed_mask():
    # Dropout draws a new mask on every forward; with the generator reset each time, the mask
    # stays fixed and the layer is linear in x, so centred differences apply.
    layer = sc.Dropout(0.3)
    x = rng(1).standard_normal((4, 6))
    G = rng(2).standard_normal(x.shape)

    def loss():
        layer.rng = np.random.default_rng(5)
        return float(np.sum(layer.forward(x) * G))

    loss()
    dx = layer.backward(G)
    assert np.count_nonzero(dx == 0) > 0                   # some units were dropped
    assert sc.relative_error(dx, sc.numerical_gradient(loss, x)) < GRAD_TOLERANCE

# --- Batch normalisation --------------------------------------------------------------

@pytest.mark.parametrize("cls, shape", [
    (sc.BatchNorm1D, (6, 5)),
    (sc.BatchNorm1D, (3, 2)),                 # a tiny batch (with 2, x_hat is +-1 whatever x is)
    (sc.BatchNorm2D, (4, 3, 5, 3)),           # odd, non-square images
    (sc.BatchNorm2D, (1, 2, 3, 4)),           # one image: statistics over its pixels only
])
def test_batchnorm_gradients_train_mode(cls, shape):
    """dx of the WHOLE batch (every output depends on every input of its channel),
    dgamma and dbeta against centred differences. BN is smooth: a small h is fine."""
    layer = batchnorm(cls, shape[1])
    x = rng(1).standard_normal(shape) * 3 + 2
    errors = sc.grad_check(layer, x, seed=7, h=1e-5)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) < GRAD_TOLERANCE, errors

@pytest.mark.parametrize("cls, shape", [(sc.BatchNorm1D, (5, 4)), (sc.BatchNorm2D, (3, 2, 4, 5))])
def test_batchnorm_gradients_eval_mode(cls, shape):
    layer = batchnorm(cls, shape[1])
    layer.running_mean = rng(2).standard_normal(shape[1])
    layer.running_var = rng(3).uniform(0.5, 2.0, shape[1])
    layer.training = False
    errors = sc.grad_check(layer, rng(1).standard_normal(shape), seed=7, h=1e-5)
    assert max(errors.values()) < GRAD_TOLERANCE, errors

def test_batchnorm_backward_is_not_the_naive_one():
    """The batch coupling matters: treating mu and var as constants (the eval-mode
    gradient) would be wrong in training, and the gradient check catches it."""
    layer = batchnorm(sc.BatchNorm1D, 3)
    x = rng(1).standard_normal((4, 3))
    G = rng(2).standard_normal((4, 3))
    layer.forward(x)
    dx = layer.backward(G)
    naive = G * layer.params["gamma"] * layer.inv_std
    assert not np.allclose(dx, naive)
    # Each channel's dx sums to zero: shifting a whole channel changes nothing after BN.
    np.testing.assert_allclose(dx.sum(axis=0), 0, atol=1e-12)

def test_batchnorm1d_by_hand():
    layer = sc.BatchNorm1D(1, dtype=np.float64)
    x = np.array([[1.0], [2.0], [3.0], [6.0]])          # mean 3, population variance 14/4 = 3.5
    out = layer.forward(x)
    np.testing.assert_allclose(out[:, 0], (x[:, 0] - 3) / np.sqrt(3.5 + 1e-5))
    # PyTorch's update: running = 0.9 * running + 0.1 * batch, with the unbiased variance 14/3
    np.testing.assert_allclose(layer.running_mean, [0.1 * 3])
    np.testing.assert_allclose(layer.running_var, [0.9 * 1 + 0.1 * 14 / 3])
    layer.forward(x)
    np.testing.assert_allclose(layer.running_mean, [0.9 * 0.3 + 0.1 * 3])
    # gamma and beta scale and shift the normalised values
    layer.params["gamma"][:], layer.params["beta"][:] = 2.0, -1.0
    np.testing.assert_allclose(layer.forward(x)[:, 0], 2 * (x[:, 0] - 3) / np.sqrt(3.5 + 1e-5) - 1)

def test_batchnorm2d_is_batchnorm1d_over_pixels():
    """Per-channel statistics over (N, H, W): the same as BatchNorm1D on every pixel as one example."""
    x = rng(4).standard_normal((3, 4, 5, 2)) * 2 + 1
    bn2, bn1 = batchnorm(sc.BatchNorm2D, 4, seed=5), batchnorm(sc.BatchNorm1D, 4, seed=5)
    G = rng(6).standard_normal(x.shape)
    as_rows = lambda a: a.transpose(0, 2, 3, 1).reshape(-1, 4)
    np.testing.assert_allclose(as_rows(bn2.forward(x)), bn1.forward(as_rows(x)), atol=1e-12)
    np.testing.assert_allclose(as_rows(bn2.backward(G)), bn1.backward(as_rows(G)), atol=1e-12)
    for name in ("gamma", "beta"):
        np.testing.assert_allclose(bn2.grads[name], bn1.grads[name], atol=1e-12)
    np.testing.assert_allclose(bn2.running_mean, bn1.running_mean)
    np.testing.assert_allclose(bn2.running_var, bn1.running_var)
    # train-mode output: zero mean and unit (population) variance per channel when gamma=1, beta=0
    plain = sc.BatchNorm2D(4, dtype=np.float64).forward(x)
    np.testing.assert_allclose(plain.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(plain.var(axis=(0, 2, 3)), 1, atol=1e-4)   # eps = 1e-5

def test_batchnorm_running_statistics_converge_and_eval_uses_them():
    layer = sc.BatchNorm2D(2, momentum=0.1, dtype=np.float64)
    r = rng(7)
    for _ in range(200):        # batches from N(5, 2^2) in channel 0 and N(-1, 0.5^2) in channel 1
        x = r.standard_normal((16, 2, 4, 4)) * np.array([2.0, 0.5])[None, :, None, None] \
            + np.array([5.0, -1.0])[None, :, None, None]
        layer.forward(x)
    np.testing.assert_allclose(layer.running_mean, [5.0, -1.0], atol=0.15)
    np.testing.assert_allclose(layer.running_var, [4.0, 0.25], rtol=0.15)
    layer.training = False
    one = x[:1]
    expected = (one - layer.running_mean[None, :, None, None]) / np.sqrt(layer.running_var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(layer.forward(one), expected)
    # eval mode: every example's output is its own, whatever else is in the batch; no running update
    before = layer.running_mean.copy()
    np.testing.assert_allclose(layer.forward(x)[:1], layer.forward(one))
    np.testing.assert_array_equal(layer.running_mean, before)
    # the classic bug: "evaluating" in training mode normalises with the batch's own statistics
    layer.training = True
    assert not np.allclose(layer.forward(x[:4])[:1], layer.forward(one))

def test_batchnorm_needs_more_than_one_value_in_training():
    with pytest.raises(ValueError, match="more than one value"):
        sc.BatchNorm1D(3).forward(np.ones((1, 3), np.float32))
    layer = sc.BatchNorm1D(3)
    layer.training = False
    assert layer.forward(np.ones((1, 3), np.float32)).shape == (1, 3)     # fine in eval mode
    with pytest.raises(ValueError, match="expects 4 input channels"):
        sc.BatchNorm2D(4).forward(np.ones((2, 3, 5, 5), np.float32))

def test_batchnorm_float32_keeps_float32():
    layer = sc.BatchNorm2D(3)
    x = rng().standard_normal((4, 3, 6, 6)).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32 and layer.backward(out).dtype == np.float32
    assert layer.running_mean.dtype == np.float32 and layer.running_var.dtype == np.float32

def test_batchnorm_on_transposed_memory_layout():
    """FastConv2D's outputs are NCHW views of (C, H, W, N) arrays: BN must give the same numbers."""
    x = rng(8).standard_normal((3, 4, 5, 6))
    strange = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    a, b = batchnorm(sc.BatchNorm2D, 4), batchnorm(sc.BatchNorm2D, 4)
    G = rng(9).standard_normal(x.shape)
    np.testing.assert_allclose(a.forward(x), b.forward(strange), atol=1e-13)
    np.testing.assert_allclose(a.backward(G), b.backward(G), atol=1e-13)

def test_batchnorm_agrees_with_pytorch():
    torch = pytest.importorskip("torch")
    x = rng(10).standard_normal((5, 3, 4, 6)) * 2 + 1
    G = rng(11).standard_normal(x.shape)
    ours = batchnorm(sc.BatchNorm2D, 3)
    theirs = torch.nn.BatchNorm2d(3, momentum=0.1, eps=1e-5).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.params["gamma"]))
        theirs.bias.copy_(torch.from_numpy(ours.params["beta"]))
    for _ in range(2):                                       # two steps of the running statistics
        xt = torch.from_numpy(x).requires_grad_()
        out = theirs(xt)
        out.backward(torch.from_numpy(G))
        np.testing.assert_allclose(ours.forward(x), out.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.backward(G), xt.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.grads["gamma"], theirs.weight.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.grads["beta"], theirs.bias.grad.numpy(), atol=1e-12)
        theirs.weight.grad = theirs.bias.grad = None
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), atol=1e-14)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), atol=1e-14)
        x = x * 0.5 - 1
    ours.training = False
    theirs.eval()
    np.testing.assert_allclose(ours.forward(x), theirs(torch.from_numpy(x)).detach().numpy(), atol=1e-12)


# --- Loss ------------------------------------------------------------------------------

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


# --- Every layer ------------------------------------------------------------------------

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


# --- Layer normalisation ----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 5), (3, 7), (1, 6), (5, 3)])   # odd sizes, a batch of one
def test_layernorm_gradients(shape):
    """dx (every output of an example depends on every feature of it), dgamma, dbeta against
    centred differences in float64; LN is smooth, so a small h."""
    layer = batchnorm(sc.LayerNorm, shape[1])                  # random gamma, beta
    x = rng(1).standard_normal(shape) * 3 + 2
    errors = sc.grad_check(layer, x, seed=7, h=1e-5)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) < GRAD_TOLERANCE, errors

def test_layernorm_normalises_each_example_the_same_in_train_and_eval():
    layer = sc.LayerNorm(6, eps=1e-12, dtype=np.float64)
    x = rng(2).standard_normal((4, 6)) * np.array([[1], [10], [0.1], [100]]) + 5
    out = layer.forward(x)
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-12)    # per example, not per feature
    np.testing.assert_allclose(out.var(axis=1), 1, rtol=1e-9)
    assert not np.allclose(out.mean(axis=0), 0)
    np.testing.assert_allclose(layer.forward(x[2:3]), out[2:3], rtol=1e-12)   # one example alone: the same
    layer.training = False
    np.testing.assert_array_equal(layer.forward(x), out)             # no running statistics: eval is training
    assert not hasattr(layer, "running_mean") and getattr(layer, "state_names", ()) == ()

def test_layernorm_with_two_features_gives_plus_minus_one_and_almost_no_gradient():
    """Two values per example: x_hat = +-1 whatever x is, so dx is almost 0 (only eps makes it move)."""
    layer = sc.LayerNorm(2, dtype=np.float64)
    x = rng(9).standard_normal((4, 2)) * 3
    np.testing.assert_allclose(np.abs(layer.forward(x)), 1, atol=1e-4)
    assert np.abs(layer.backward(rng(10).standard_normal((4, 2)))).max() < 1e-4

def test_layernorm_backward_rows_sum_to_zero_and_eval_backward_is_the_same():
    """Shifting one example's features by a constant changes nothing after LN, so each row of dx sums to 0."""
    layer = batchnorm(sc.LayerNorm, 5, seed=3)
    x, G = rng(4).standard_normal((3, 5)), rng(5).standard_normal((3, 5))
    layer.forward(x)
    dx = layer.backward(G)
    np.testing.assert_allclose(dx.sum(axis=1), 0, atol=1e-12)
    layer.training = False
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(G), dx)

def test_layernorm_matches_torch():
    torch = pytest.importorskip("torch")
    ours = batchnorm(sc.LayerNorm, 4, seed=6)
    theirs = torch.nn.LayerNorm(4, eps=1e-5).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.params["gamma"]))
        theirs.bias.copy_(torch.from_numpy(ours.params["beta"]))
    x = rng(7).standard_normal((3, 4))
    x_torch = torch.tensor(x, requires_grad=True)
    out = theirs(x_torch)
    G = rng(8).standard_normal(out.shape)
    out.backward(torch.from_numpy(G))
    np.testing.assert_allclose(ours.forward(x), out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.backward(G), x_torch.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.grads["gamma"], theirs.weight.grad.numpy(), rtol=1e-10)

def test_layernorm_arguments_shapes_and_model_file_round_trip(tmp_path):
    with pytest.raises(ValueError, match="num_features must be a whole number"):
        sc.LayerNorm(0)
    with pytest.raises(ValueError, match="eps must be a small positive number"):
        sc.LayerNorm(3, eps=0)
    with pytest.raises(ValueError, match="expects 3 input"):
        sc.LayerNorm(3).forward(np.zeros((2, 4), np.float32))
    layer = sc.LayerNorm(3)
    with pytest.raises(RuntimeError, match="before LayerNorm.forward"):
        layer.backward(np.zeros((2, 3), np.float32))
    layer.forward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"dout of shape \(2, 3\)"):
        layer.backward(np.zeros((2, 4), np.float32))
    model = sc.Sequential([sc.Dense(5, 4, rng=rng(1)), batchnorm(sc.LayerNorm, 4, seed=2), sc.ReLU(),
                           sc.Residual(sc.Dense(4, 4, rng=rng(3)), sc.LayerNorm(4, eps=1e-3)),
                           sc.Dense(4, 2, rng=rng(4))], )
    model.layers[1].params = {k: v.astype(np.float32) for k, v in model.layers[1].params.items()}
    sc.save_model(model, tmp_path / "layernorm.npz")
    loaded = sc.load_model(tmp_path / "layernorm.npz")
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "LayerNorm", "ReLU", "Residual", "Dense"]
    assert loaded.layers[3].layers[1].eps == 1e-3
    np.testing.assert_array_equal(loaded.layers[1].params["gamma"], model.layers[1].params["gamma"])
    x = rng(5).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.eval().forward(x))

def test_layernorm_in_a_model_trains_with_sgd_and_adam():
    """A model with LayerNorm trains like any other: its gamma and beta get gradients and the optimizers move
    them; the training loss falls on a small separable problem."""
    r = rng(11)
    images = r.random((64, 1, 4, 4), dtype=np.float32)              # pixels in [0, 1], as train expects
    top = images[:, 0, :2].sum(axis=(1, 2))
    labels = (top > np.median(top)).astype(np.int64)                # bright upper half or not
    for optimizer, lr in ((sc.SGD, 0.2), (sc.Adam, 0.01)):
        model = sc.Sequential([sc.Flatten(), sc.Dense(16, 8, rng=rng(1)), sc.LayerNorm(8), sc.ReLU(),
                               sc.Dense(8, 2, rng=rng(2))])
        history = sc.train(model, images, labels, epochs=30, batch_size=16, optimizer=optimizer(model, lr=lr),
                           seed=0)
        assert history["train_loss"][-1] < 0.6 * history["train_loss"][0], history["train_loss"]
        assert not np.allclose(model.layers[2].params["gamma"], 1)
