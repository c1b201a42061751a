"""The fast layers of course_machinery/fast_layers.py (what training runs) against the
textbook's plain layers and the naive loops: forward, backward and the weight gradients,
on awkward shapes (strides 1-3, paddings 0-2, odd and non-square sizes, kernels as big
as the input allows, overlapping pooling windows, ties and all-zero windows), in float32
and float64, on contiguous inputs and on the memory layouts the layers meet in training.
Small random inputs, generated here; no timing (speed: benchmarks/bench.py)."""

import numpy as np
import pytest

import scratchcnn as sc
from course_machinery.fast_layers import (FastConv2D, FastMaxPool2D, col2im_batch_last,
                                          im2col_batch_last)


def rng(seed=0):
    return np.random.default_rng(seed)


def in_layout(x, layout):
    """x (N, C, H, W) with the same values in another memory layout."""
    if layout == "batch_last":     # what FastConv2D outputs: an NCHW view of a (C, H, W, N) array
        return np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    if layout == "strided":        # a non-contiguous slice of a bigger array
        bigger = np.zeros(x.shape[:3] + (2 * x.shape[3],), dtype=x.dtype)
        bigger[..., ::2] = x
        return bigger[..., ::2]
    return x


LAYOUTS = ["contiguous", "batch_last", "strided"]
TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-4)}

CONV_CASES = [  # (N, C, H, W, F, k, stride, padding)
    (3, 1, 28, 28, 8, 3, 1, 1),    # the reference CNN's first layer: one input channel
    (3, 8, 14, 14, 16, 3, 1, 1),   # and its second
    (2, 1, 7, 5, 3, 3, 2, 0),      # one channel, non-square, stride 2
    (2, 3, 9, 8, 4, 3, 2, 1),      # stride 2 with padding, odd/even mix
    (2, 2, 8, 7, 3, 3, 3, 2),      # stride 3, padding 2
    (1, 4, 11, 9, 2, 4, 2, 1),     # even kernel, odd sizes
    (2, 2, 5, 7, 2, 5, 1, 2),      # kernel as big as the padded input allows
    (1, 3, 6, 6, 2, 1, 1, 0),      # 1 x 1 kernel
]


@pytest.mark.parametrize("N,C,H,W,F,k,s,p", CONV_CASES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_fast_conv2d_matches_plain_and_loops(N, C, H, W, F, k, s, p, layout, dtype):
    plain = sc.Conv2D(C, F, k, stride=s, padding=p, rng=rng(1), dtype=dtype)
    fast = FastConv2D(C, F, k, stride=s, padding=p, rng=rng(1), dtype=dtype)
    plain.params["b"][:] = fast.params["b"][:] = rng(2).standard_normal(F)
    np.testing.assert_array_equal(fast.params["W"], plain.params["W"])
    x64 = rng(3).standard_normal((N, C, H, W))
    x = in_layout(x64.astype(dtype), layout)
    W64, b64 = plain.params["W"].astype(np.float64), plain.params["b"].astype(np.float64)

    out_fast, out_plain = fast.forward(x), plain.forward(x)
    assert out_fast.dtype == out_plain.dtype == dtype
    assert out_fast.shape == out_plain.shape == (N, F, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1)
    np.testing.assert_allclose(out_fast, out_plain, **TOLERANCE[dtype])
    np.testing.assert_allclose(out_fast, sc.conv2d_naive(x64, W64, b64, s, p), **TOLERANCE[dtype])

    dout64 = rng(4).standard_normal(out_fast.shape)
    dout = in_layout(dout64.astype(dtype), layout)
    dx_fast, dx_plain = fast.backward(dout), plain.backward(dout)
    dx_naive, dW_naive, db_naive = sc.conv2d_backward_naive(x64, W64, dout64, s, p)
    for name, naive in (("W", dW_naive), ("b", db_naive)):
        assert fast.grads[name].dtype == dtype and fast.grads[name].shape == fast.params[name].shape
        np.testing.assert_allclose(fast.grads[name], plain.grads[name], **TOLERANCE[dtype])
        np.testing.assert_allclose(fast.grads[name], naive, rtol=TOLERANCE[dtype]["rtol"],
                                   atol=TOLERANCE[dtype]["atol"] * 10 * N)   # float32 sums of many terms
    assert dx_fast.dtype == dtype and dx_fast.shape == x.shape
    np.testing.assert_allclose(dx_fast, dx_plain, **TOLERANCE[dtype])
    np.testing.assert_allclose(dx_fast, dx_naive, **TOLERANCE[dtype])

    # backward_weights_only: the same weight gradients, no dL/dx
    fast.grads = {name: np.zeros_like(value) for name, value in fast.params.items()}
    fast.forward(x)
    assert fast.backward_weights_only(dout) is None
    np.testing.assert_allclose(fast.grads["W"], plain.grads["W"], **TOLERANCE[dtype])
    np.testing.assert_allclose(fast.grads["b"], plain.grads["b"], **TOLERANCE[dtype])


@pytest.mark.parametrize("N,C,H,W,F,k,s,p", CONV_CASES)
def test_fast_conv2d_gradients(N, C, H, W, F, k, s, p):
    conv = FastConv2D(C, F, k, stride=s, padding=p, rng=rng(1), dtype=np.float64)
    conv.params["b"][:] = rng(2).standard_normal(F)
    errors = sc.grad_check(conv, rng(3).standard_normal((N, C, H, W)))
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("N,C,H,W,F,k,s,p", CONV_CASES)
def test_batch_last_columns_are_a_permutation_and_col2im_its_adjoint(N, C, H, W, F, k, s, p):
    x = rng(20).standard_normal((N, C, H, W))
    H_out, W_out = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    plain = sc.im2col(x, k, s, p)                          # columns ordered (n, y, x)
    batch_last = im2col_batch_last(x, k, s, p)             # columns ordered (y, x, n)
    reordered = plain.reshape(-1, N, H_out, W_out).transpose(0, 2, 3, 1).reshape(plain.shape[0], -1)
    np.testing.assert_array_equal(batch_last, reordered)
    cols = rng(21).standard_normal(batch_last.shape)
    dx = col2im_batch_last(cols, x.shape, k, s, p)
    np.testing.assert_allclose(np.sum(batch_last * cols), np.sum(x * dx), rtol=1e-12)   # <im2col(x), C> = <x, col2im(C)>
    back_to_plain = cols.reshape(-1, H_out, W_out, N).transpose(0, 3, 1, 2).reshape(cols.shape[0], -1)
    np.testing.assert_allclose(dx, sc.col2im(back_to_plain, x.shape, k, s, p), rtol=1e-12, atol=1e-12)


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


def pooling_inputs(shape, seed):
    """Inputs where the fast and plain pooling could disagree: small integers (ties in most
    windows), an all-zero channel (every window a tie at 0, as after a ReLU) and distinct values."""
    ties = rng(seed).integers(-2, 3, size=shape).astype(np.float64)
    ties[0, 0] = 0.0
    distinct = rng(seed).permutation(np.prod(shape)).reshape(shape) / 7.0
    return {"ties": ties, "distinct": distinct}


@pytest.mark.parametrize("H,W,k,s", POOL_CASES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_fast_maxpool_matches_plain_and_loops(H, W, k, s, layout, dtype):
    for kind, x64 in pooling_inputs((3, 2, H, W), seed=H * W + k).items():
        x = in_layout(x64.astype(dtype), layout)
        fast, plain = FastMaxPool2D(k, s), sc.MaxPool2D(k, s)
        out = fast.forward(x)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, plain.forward(x), err_msg=kind)
        np.testing.assert_array_equal(out, sc.maxpool2d_naive(x64, k, s).astype(dtype), err_msg=kind)
        dout64 = rng(5).standard_normal(out.shape)
        dout = in_layout(dout64.astype(dtype), layout)
        dx = fast.backward(dout)
        assert dx.dtype == dtype and dx.shape == x.shape
        # The same winner in every window (the first maximum), so the same numbers up to the
        # order of additions where windows overlap.
        np.testing.assert_allclose(dx, plain.backward(dout), **TOLERANCE[dtype], err_msg=kind)
        np.testing.assert_allclose(dx, sc.maxpool2d_backward_naive(x64, dout64, k, s), **TOLERANCE[dtype],
                                   err_msg=kind)
        # Ties: every window sends its gradient to exactly one input, so the total is conserved.
        np.testing.assert_allclose(dx.sum(dtype=np.float64), dout.sum(dtype=np.float64), rtol=1e-5)


def test_fast_maxpool_gradient_and_big_kernel():
    x = rng(6).permutation(2 * 3 * 9 * 8).reshape(2, 3, 9, 8) / 10.0       # distinct: no kink crossed
    assert sc.grad_check(FastMaxPool2D(3, 2), x)["x"] < 1e-7
    # 17 x 17 = 289 offsets: more than a uint8 can number.
    x = rng(7).permutation(17 * 17).reshape(1, 1, 17, 17) / 10.0
    pool = FastMaxPool2D(17)
    assert pool.forward(x).item() == x.max()
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    assert dx[0, 0][np.unravel_index(np.argmax(x[0, 0]), (17, 17))] == 1 and dx.sum() == 1


def test_fast_maxpool_backward_leaves_no_stale_memory():
    # The np.empty path must not leak old values: run a big batch, then a smaller one whose
    # dx could land in the same freed memory, and compare both with the loops.
    pool = FastMaxPool2D(2)
    for seed, shape in enumerate([(16, 4, 8, 8), (3, 4, 8, 8), (3, 4, 9, 9)]):
        x = pooling_inputs(shape, seed)["ties"]
        dout = rng(seed).standard_normal(pool.forward(x).shape)
        np.testing.assert_allclose(pool.backward(dout), sc.maxpool2d_backward_naive(x, dout, 2, 2),
                                   rtol=0, atol=1e-12)


def test_fast_layers_are_the_textbook_layers_to_everything_else():
    conv, pool = FastConv2D(3, 4, 5, stride=2, padding=1), FastMaxPool2D(3, 2)
    assert isinstance(conv, sc.Conv2D) and isinstance(pool, sc.MaxPool2D)
    assert conv.config() == sc.Conv2D(3, 4, 5, stride=2, padding=1).config()
    assert pool.config() == sc.MaxPool2D(3, 2).config() and FastMaxPool2D(3).stride == 3
    assert repr(conv).startswith("FastConv2D(in_channels=3") and repr(pool) == "FastMaxPool2D(kernel_size=3, stride=2)"
    assert conv.grads.keys() == conv.params.keys() and pool.params == {}
    with pytest.raises(ValueError, match=r"expects a 4-D input.*x\[:, None\]"):
        FastConv2D(1, 2, 3).forward(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="does not fit"):
        FastMaxPool2D(4).forward(np.zeros((1, 1, 3, 3), np.float32))
