"""Tests for the exercise checks of notebooks 01-03 (scratchcnn.check_*).

For every check: the reference solution passes, a typical wrong answer fails
with a message naming the case, saying what was expected and giving the hint,
and an answer that still raises NotImplementedError prints "not implemented yet".
"""

import numpy as np
import pytest

import scratchcnn


# --- reference solutions (the same as in the notebooks) ----------------------

def parse_idx_header(data):
    magic = int.from_bytes(data[0:4], "big")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * d: 8 + 4 * d], "big") for d in range(ndim))
    return magic, shape


def predicted_image_bytes():
    return 60000 * 28 * 28


def class_counts(labels, num_classes=10):
    return np.bincount(labels, minlength=num_classes)


def mean_image_per_class(images, labels, num_classes=10):
    return np.stack([images[labels == k].mean(axis=0) for k in range(num_classes)])


def output_size(H, k, s, p):
    return (H + 2 * p - k) // s + 1


def conv2d_single(image, kernel, stride=1, padding=0):
    k = kernel.shape[0]
    padded = np.pad(image, padding)
    H_out = (padded.shape[0] - k) // stride + 1
    W_out = (padded.shape[1] - k) // stride + 1
    out = np.zeros((H_out, W_out))
    for y in range(H_out):
        for x in range(W_out):
            out[y, x] = np.sum(padded[stride * y:stride * y + k, stride * x:stride * x + k] * kernel)
    return out


def predicted_output_shape():
    return (4, 8, 15, 15)


def im2col_shape(x_shape, k, s, p):
    N, C, H, W = x_shape
    return (C * k * k, N * output_size(H, k, s, p) * output_size(W, k, s, p))


def col2im_loops(cols, x_shape, k, s=1, p=0):
    N, C, H, W = x_shape
    H_out, W_out = output_size(H, k, s, p), output_size(W, k, s, p)
    dx_padded = np.zeros((N, C, H + 2 * p, W + 2 * p))
    for c in range(C):
        for i in range(k):
            for j in range(k):
                row = c * k * k + i * k + j
                for n in range(N):
                    for y in range(H_out):
                        for x in range(W_out):
                            column = n * H_out * W_out + y * W_out + x
                            dx_padded[n, c, s * y + i, s * x + j] += cols[row, column]
    return dx_padded[:, :, p:p + H, p:p + W]


def bias_gradient(dout):
    return dout.sum(axis=(0, 2, 3))


def predicted_gradients_1d():
    return np.array([2.0, -4.0, -1.0]), np.array([1.0, -2.0, 2.0, 2.0, -3.0])


def conv_backward_single(image, kernel, dout, stride=1, padding=0):
    k, s, p = kernel.shape[0], stride, padding
    padded = np.pad(image, p)
    dpadded = np.zeros_like(padded)
    dkernel = np.zeros_like(kernel)
    for y in range(dout.shape[0]):
        for x in range(dout.shape[1]):
            dkernel += dout[y, x] * padded[s * y:s * y + k, s * x:s * x + k]
            dpadded[s * y:s * y + k, s * x:s * x + k] += dout[y, x] * kernel
    return dpadded[p:p + image.shape[0], p:p + image.shape[1]], dkernel


def my_relative_error(analytic, numeric):
    return np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-12))


# --- typical wrong answers -----------------------------------------------------

def parse_idx_header_little_endian(data):
    magic = int.from_bytes(data[0:4], "little")
    return magic, tuple(int.from_bytes(data[4 + 4 * d: 8 + 4 * d], "little") for d in range(data[3]))


def parse_idx_header_three_dims(data):
    return int.from_bytes(data[0:4], "big"), tuple(int.from_bytes(data[4 + 4 * d: 8 + 4 * d], "big") for d in range(3))


def predicted_image_bytes_with_header():
    return 60000 * 28 * 28 + 16


def predicted_image_bytes_as_float32():
    return 60000 * 28 * 28 * 4


def predicted_output_shape_with_input_channels():
    return (4, 3, 15, 15)


def class_counts_without_minlength(labels, num_classes=10):
    return np.bincount(labels)


def mean_image_divided_by_n_over_k(images, labels, num_classes=10):
    return np.stack([images[labels == k].sum(axis=0) / (len(images) / num_classes) for k in range(num_classes)])


def output_size_one_sided_padding(H, k, s, p):
    return (H + p - k) // s + 1


def output_size_true_division(H, k, s, p):
    return (H + 2 * p - k) / s + 1


def conv2d_single_flipped(image, kernel, stride=1, padding=0):
    return conv2d_single(image, kernel[::-1, ::-1], stride, padding)


def conv2d_single_ignores_padding(image, kernel, stride=1, padding=0):
    return conv2d_single(image, kernel, stride, 0)


def im2col_shape_without_channels(x_shape, k, s, p):
    N, C, H, W = x_shape
    return (k * k, N * output_size(H, k, s, p) * output_size(W, k, s, p))


def col2im_loops_assigning(cols, x_shape, k, s=1, p=0):
    N, C, H, W = x_shape
    H_out, W_out = output_size(H, k, s, p), output_size(W, k, s, p)
    dx_padded = np.zeros((N, C, H + 2 * p, W + 2 * p))
    for c in range(C):
        for i in range(k):
            for j in range(k):
                for n in range(N):
                    for y in range(H_out):
                        for x in range(W_out):
                            dx_padded[n, c, s * y + i, s * x + j] = cols[c * k * k + i * k + j,
                                                                         n * H_out * W_out + y * W_out + x]
    return dx_padded[:, :, p:p + H, p:p + W]


def bias_gradient_first_image_only(dout):
    return dout[0].sum(axis=(1, 2))


def predicted_gradients_1d_unflipped():
    g, w = np.array([1.0, 0.0, -1.0]), np.array([1.0, -2.0, 3.0])
    return np.array([2.0, -4.0, -1.0]), np.correlate(np.pad(g, 2), w, "valid")


def conv_backward_single_ignores_padding(image, kernel, dout, stride=1, padding=0):
    k = kernel.shape[0]
    dimage, dkernel = np.zeros_like(image), np.zeros_like(kernel)
    for y in range(dout.shape[0]):
        for x in range(dout.shape[1]):
            window = (slice(stride * y, stride * y + k), slice(stride * x, stride * x + k))
            if image[window].shape != kernel.shape:
                continue
            dkernel += dout[y, x] * image[window]
            dimage[window] += dout[y, x] * kernel
    return dimage, dkernel


def my_relative_error_without_floor(analytic, numeric):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.max(np.abs(analytic - numeric) / (np.abs(analytic) + np.abs(numeric)))


def my_relative_error_abs_of_sum(analytic, numeric):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic + numeric), 1e-12))


# (check, reference, wrong answer, the case it fails, a piece of that case's hint)
EXERCISES = [
    ("check_parse_idx_header", parse_idx_header, parse_idx_header_little_endian,
     "the real t10k-images header (16 bytes)", "big-endian"),
    ("check_parse_idx_header", parse_idx_header, parse_idx_header_three_dims,
     "the whole real train-labels file", "byte 3 is the number of dimensions"),
    ("check_predicted_image_bytes", predicted_image_bytes, predicted_image_bytes_with_header,
     "bytes after the 16-byte header", "header bytes are not included"),
    ("check_predicted_image_bytes", predicted_image_bytes, predicted_image_bytes_as_float32,
     "bytes after the 16-byte header", "one unsigned byte per pixel"),
    ("check_class_counts", class_counts, class_counts_without_minlength,
     "labels [0, 0, 2] with 5 classes", "minlength"),
    ("check_mean_image_per_class", mean_image_per_class, mean_image_divided_by_n_over_k,
     "3 classes with 1, 3 and 2 images", "number of images OF THAT CLASS"),
    ("check_output_size", output_size, output_size_one_sided_padding,
     "28, k 3, padding 1", "BOTH sides"),
    ("check_output_size", output_size, output_size_true_division,
     "28, k 3, stride 2, padding 1 (remainder)", "integer division //"),
    ("check_conv2d_single", conv2d_single, conv2d_single_flipped,
     "3x3 image, 2x2 kernel (the worked example)", "NOT flipped"),
    ("check_conv2d_single", conv2d_single, conv2d_single_ignores_padding,
     "5x5 image, padding 1", "forgetting padding"),
    ("check_predicted_output_shape", predicted_output_shape, predicted_output_shape_with_input_channels,
     "Conv2D(3, 8, kernel_size=5, stride=2, padding=1)", "number of filters"),
    ("check_im2col_shape", im2col_shape, im2col_shape_without_channels,
     "3 channels, 2 images, padding 1", "the channels count too"),
    ("check_col2im_loops", col2im_loops, col2im_loops_assigning,
     "all-ones columns, (1, 1, 3, 3), k 2 (overlapping patches)", "+=, not ="),
    ("check_bias_gradient", bias_gradient, bias_gradient_first_image_only,
     "a batch of 4 images", "dout.sum(axis=(0, 2, 3))"),
    ("check_predicted_gradients_1d", predicted_gradients_1d, predicted_gradients_1d_unflipped,
     "dL/dx", "flipped"),
    ("check_conv_backward_single", conv_backward_single, conv_backward_single_ignores_padding,
     "5x5 image, padding 1", "PADDED image"),
    ("check_my_relative_error", my_relative_error, my_relative_error_without_floor,
     "both zero in some entries", "floor the denominator"),
    ("check_my_relative_error", my_relative_error, my_relative_error_abs_of_sum,
     "opposite signs [1] against [-1]", "not |a + n|"),
]
CHECKS = sorted({(check, reference) for check, reference, *_ in EXERCISES}, key=lambda pair: pair[0])


@pytest.mark.parametrize("check_name, reference", CHECKS, ids=[name for name, _ in CHECKS])
def test_reference_solution_passes(check_name, reference, capsys):
    assert getattr(scratchcnn, check_name)(reference)
    assert "pass" in capsys.readouterr().out


@pytest.mark.parametrize("check_name, reference, wrong, case, hint", EXERCISES,
                         ids=[f"{check}-{wrong.__name__}" for check, _, wrong, *_ in EXERCISES])
def test_typical_wrong_answer_fails_with_case_expected_and_hint(check_name, reference, wrong, case, hint, capsys):
    assert not getattr(scratchcnn, check_name)(wrong)
    output = capsys.readouterr().out
    assert f"case '{case}" in output
    assert "expected" in output
    assert "hint:" in output and hint in output


@pytest.mark.parametrize("check_name, reference", CHECKS, ids=[name for name, _ in CHECKS])
def test_not_implemented_says_so(check_name, reference, capsys):
    def unanswered(*args):
        raise NotImplementedError()

    assert not getattr(scratchcnn, check_name)(unanswered)
    assert "not implemented yet" in capsys.readouterr().out


def test_wrong_shape_is_reported_with_both_shapes(capsys):
    def mean_over_pixels(images, labels, num_classes=10):
        return np.array([images[labels == k].mean() for k in range(num_classes)])

    assert not scratchcnn.check_mean_image_per_class(mean_over_pixels)
    output = capsys.readouterr().out
    assert "expected shape (3, 2, 2), got shape (3,)" in output and "axis=0" in output
