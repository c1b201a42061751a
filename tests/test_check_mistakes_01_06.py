"""Typical wrong answers to the exercises of notebooks 01-06, as a student writes them.

Each wrong answer is written here, independently of the checks' Mistake functions:
either the notebook's own solution with one slip (``mutated``: the solution cell's
text with one piece replaced) or a small function of its own. Each must fail, and
a typical one must be told its own mistake by name, with its fix. (That every
solution passes and junk fails is tested for all notebooks in tests/test_checks.py.)
"""

import numpy as np
import pytest

import scratchcnn
from course_machinery import checks, plots
from course_machinery.checks import notebook_06
from exercise_helpers import assert_named
from notebook_answers import mutated, solutions

NOTEBOOKS = ("01", "02", "03", "04", "05", "06")


def check(name):
    return getattr(checks, f"check_{name}")


def slip(notebook, name, old, new, count=1):
    """The notebook's solution with one slip: (name, wrong answer)."""
    return name, mutated(notebook, name, old, new, count)


# --- small wrong answers of their own ---------------------------------------------------------

def _all_ties_backward(x, dout, kernel_size, stride):
    dx = np.zeros(x.shape)
    for n, c, y, x_ in np.ndindex(*dout.shape):
        rows, cols = slice(y * stride, y * stride + kernel_size), slice(x_ * stride, x_ * stride + kernel_size)
        dx[n, c, rows, cols] += (x[n, c, rows, cols] == x[n, c, rows, cols].max()) * dout[n, c, y, x_]
    return dx


def _last_maximum_backward(x, dout, kernel_size, stride):
    dx = np.zeros(x.shape)
    for n, c, y, x_ in np.ndindex(*dout.shape):
        window = x[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]
        i, j = np.argwhere(window == window.max())[-1]
        dx[n, c, y * stride + i, x_ * stride + j] += dout[n, c, y, x_]
    return dx


def _log_of_softmax_loss(logits, labels):
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return -np.log(probs[np.arange(len(labels)), labels]).mean()


def dense_db_mean(x, W, dout):
    return dout @ W.T, x.T @ dout, dout.mean(axis=0)


def dense_no_transpose(x, W, dout):
    return dout @ W, x.T @ dout, dout.sum(axis=0)


def dense_divided_by_n(x, W, dout):
    n = x.shape[0]
    return dout @ W.T, (x.T @ dout) / n, dout.sum(axis=0) / n


def dense_dw_transposed(x, W, dout):
    return dout @ W.T, dout.T @ x, np.sum(dout, axis=0)


def relu_mask_from_dout(x, dout):
    return np.where(dout > 0, dout, 0)


def relu_at_zero(x, dout):
    return dout * (x >= 0)


def dropout_over_p(x, keep, p):
    return np.where(keep, x / p, 0)


def dropout_unscaled(x, keep, p):
    out = x.astype(float).copy()
    out[~keep] = 0
    return out


def std_variance(fan_in, weight_std):
    return fan_in * weight_std ** 2


def std_added(fan_in, weight_std):
    return fan_in * weight_std


def two_layer(x, W1, b1, W2, b2, labels, divide=True, mask=True):
    z = x @ W1 + b1
    h = np.maximum(0, z)
    s = h @ W2 + b2
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[range(len(labels)), labels] -= 1
    ds = p / len(labels) if divide else p
    dh = ds @ W2.T
    dz = dh * (z > 0) if mask else dh
    return x.T @ dz, dz.sum(axis=0), h.T @ ds, ds.sum(axis=0)


# (exercise, wrong answer, words of the mistake's name the verdict must contain)
WRONG_ANSWERS = [
    # --- notebook 01
    (*slip("01", "parse_idx_header", '"big"', '"little"', 2), "little-endian"),
    (*slip("01", "parse_idx_header", "ndim = data[3]", "ndim = data[2]"), "read from byte 2"),
    (*slip("01", "parse_idx_header", "range(ndim)", "range(3)"), "three dimensions hard-coded"),
    (*slip("01", "predicted_image_bytes", "60000 * 28 * 28", "16 + 60000 * 28 * 28"), "header bytes counted"),
    (*slip("01", "predicted_image_bytes", "60000 * 28 * 28", "4 * 60000 * 28 * 28"), "4 bytes per pixel"),
    (*slip("01", "class_counts", "counts[label] += 1", "counts[label] = 1"), "counts[label] = 1 instead of"),
    ("class_counts", lambda labels, num_classes=10: np.bincount(labels), "without minlength"),
    ("class_counts", lambda labels, num_classes=10: np.unique(labels, return_counts=True)[1], "np.unique"),
    (*slip("01", "mean_image_per_class", ".mean(axis=0)", ".sum(axis=0) / (len(images) / num_classes)"),
     "N / num_classes"),
    (*slip("01", "mean_image_per_class", ".mean(axis=0)", ".mean()"), "the mean over the pixels too"),
    (*slip("01", "to_network_input", "/ np.float32(255.0)", "// 255"), "integer division"),
    (*slip("01", "to_network_input", "[:, None, :, :]", "[..., None]"), "channel axis added last"),
    (*slip("01", "nearest_mean_predict", "distances.argmin()", "distances.argmax()"), "argmax of the distances"),
    ("nearest_mean_predict", lambda images, means: np.argmax(images @ means.T, axis=1), "largest dot product"),
    # --- notebook 02
    (*slip("02", "output_size", "H + 2 * p - k", "H + p - k"), "one side only"),
    (*slip("02", "output_size", "// s", "/ s"), "true division"),
    (*slip("02", "output_size", "// s + 1", "// s"), "off by one"),
    (*slip("02", "conv2d_single", "* kernel)", "* kernel[::-1, ::-1])"), "kernel flipped"),
    (*slip("02", "conv2d_single", "np.pad(image, padding)", "image"), "padding ignored"),
    (*slip("02", "conv2d_single", "padded[stride * y:stride * y + k, stride * x:stride * x + k]",
           "padded[y:y + k, x:x + k]"), "stride ignored"),
    ("predicted_output_shape", lambda: (4, 3, 15, 15), "3 channels instead of the 8 filters"),
    ("predicted_output_shape", lambda: (4, 8, 30, 30), "stride ignored"),
    ("predicted_output_shape", lambda: (4, 15, 15, 8), "channels last"),
    (*slip("02", "im2col_shape", "(C * k * k,", "(k * k,"), "channels left out"),
    (*slip("02", "im2col_shape", "N * ((H", "((H"), "batch left out"),
    (*slip("02", "conv2d_forward_loops", "np.sum(patch * W[f])", "np.sum(patch * W[f, :, ::-1, ::-1])"),
     "kernel flipped"),
    (*slip("02", "conv2d_forward_loops", " + b[f]", ""), "bias forgotten"),
    (*slip("02", "conv2d_forward_loops", "x_pad[n, :, s * y:s * y + k, s * x_:s * x_ + k]",
           "x_pad[n, :, y:y + k, x_:x_ + k]"), "stride ignored"),
    (*slip("02", "conv2d_forward_loops", "np.sum(patch * W[f])", "np.sum(patch[0] * W[f, 0])"),
     "only the first channel"),
    # --- notebook 03
    (*slip("03", "col2im_loops", "] += cols[row, column]", "] = cols[row, column]"), "= instead of +="),
    (*slip("03", "col2im_loops", "u * W_out + v", "u * H_out + v"), "H' where W' belongs"),
    (*slip("03", "col2im_loops", "c * k * k + i * k + j", "c * k * k + j * k + i"), "i and j swapped"),
    (*slip("03", "col2im_loops", "return dx_padded[:, :, p:p + H, p:p + W]", "return dx_padded"),
     "padding not cropped"),
    (*slip("03", "bias_gradient", "dout.sum(axis=(0, 2, 3))", "dout.mean(axis=(0, 2, 3))"), "the mean instead"),
    (*slip("03", "bias_gradient", "dout.sum(axis=(0, 2, 3))", "dout.sum(axis=(1, 2, 3))"), "wrong axis"),
    (*slip("03", "bias_gradient", "dout.sum(axis=(0, 2, 3))", "dout.sum(axis=(2, 3))"), "not summed over the batch"),
    ("predicted_gradients_1d", lambda: ([2.0, -4.0, -1.0], np.correlate([0, 0, 1.0, 0, -1.0, 0, 0], [1.0, -2.0, 3.0])),
     "kernel not flipped"),
    ("predicted_gradients_1d", lambda: ([1.0, -2.0, 2.0, 2.0, -3.0], [2.0, -4.0, -1.0]), "swapped"),
    (*slip("03", "conv_backward_single", "dpadded[s * u:s * u + k, s * v:s * v + k] += dout[u, v] * kernel",
           "dpadded[s * u:s * u + k, s * v:s * v + k] = dout[u, v] * kernel"), "into dimage"),
    (*slip("03", "conv_backward_single", "dout[u, v] * kernel\n", "dout[u, v] * kernel[::-1, ::-1]\n"),
     "kernel flipped in dimage"),
    (*slip("03", "conv_backward_single", "return dpadded[p:p + image.shape[0], p:p + image.shape[1]], dkernel",
           "return dpadded, dkernel"), "padding not cropped"),
    (*slip("03", "my_relative_error", "np.maximum(np.abs(analytic) + np.abs(numeric), 1e-12)",
           "(np.abs(analytic) + np.abs(numeric))"), "no floor"),
    (*slip("03", "my_relative_error", "np.abs(analytic) + np.abs(numeric)", "np.abs(analytic + numeric)"),
     "|a + n| instead of |a| + |n|"),
    (*slip("03", "my_relative_error", "return np.max(", "return np.mean("), "the mean instead of the maximum"),
    (*slip("03", "conv2d_backward_loops", "dx_pad[window] += ", "dx_pad[window] = "), "= instead of += in dx"),
    (*slip("03", "conv2d_backward_loops", "dout[n, f, u, v] * W[f]", "dout[n, f, u, v] * W[f, :, ::-1, ::-1]"),
     "NOT flipped"),
    (*slip("03", "conv2d_backward_loops", "slice(s * u, s * u + k), slice(s * v, s * v + k)",
           "slice(u, u + k), slice(v, v + k)"), "stride ignored"),
    (*slip("03", "conv2d_backward_loops", "dW, db\n", "dW, db / dout[:, 0].size\n"), "db as the mean"),
    (*slip("03", "dilate", "(N, F, s * (H_out - 1) + 1, s * (W_out - 1) + 1)", "(N, F, s * H_out, s * W_out)"),
     "after the last entry too"),
    ("dilate", lambda G, s: np.repeat(np.repeat(G, s, axis=2), s, axis=3), "np.repeat"),
    (*slip("03", "conv2d_backward_by_correlation", "W[:, :, ::-1, ::-1].transpose", "W.transpose"), "NOT flipped"),
    (*slip("03", "conv2d_backward_by_correlation", "G = dilate(dout, stride)", "G = dout"), "not dilated"),
    (*slip("03", "conv2d_backward_by_correlation", "[:, :, :k, :k]", ""), "not cut to the first k"),
    # --- notebooks 04 and 05
    ("maxpool_forward", mutated("04", "maxpool_forward", "window.max()", "max(window.max(), 0)"), "started at 0"),
    ("maxpool_forward", mutated("04", "maxpool_forward", "window.max()", "window.mean()"), "mean of each window"),
    ("maxpool_forward", mutated("04", "maxpool_forward",
                                "x[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]",
                                "x[n, c, y:y + kernel_size, x_:x_ + kernel_size]"), "stride ignored"),
    ("maxpool_backward", mutated("04", "maxpool_backward", "] += dout[n, c, y, x_]", "] = dout[n, c, y, x_]"),
     "= instead of +="),
    ("maxpool_backward", _all_ties_backward, "every tied position"),
    ("maxpool_backward", _last_maximum_backward, "LAST maximum"),
    ("pooled_shape", lambda: (1, 1, 4, 4), "rounded up"),
    ("pooled_shape", lambda: (3, 3), "only the two spatial sizes"),
    ("centre_gradient", lambda: 4.0, "only the last window"),
    ("centre_gradient", lambda: 2.5, "the mean of the four"),
    ("stable_softmax", mutated("05", "stable_softmax", "logits - logits.max(axis=1, keepdims=True)", "logits"),
     "no maximum subtracted"),
    ("stable_softmax", mutated("05", "stable_softmax", "logits.max(axis=1, keepdims=True)", "logits.max()"),
     "whole array instead of each row"),
    ("stable_softmax", mutated("05", "stable_softmax", "axis=1", "axis=0", 2), "wrong axis"),
    ("cross_entropy_loss", mutated("05", "cross_entropy_loss", "labels].mean()", "labels].sum()"),
     "sum over the batch"),
    ("cross_entropy_loss", mutated("05", "cross_entropy_loss", "[np.arange(len(labels)), labels]", "[:, labels]"),
     "log_probs[:, labels]"),
    ("cross_entropy_loss", _log_of_softmax_loss, "np.log(softmax(z))"),
    ("cross_entropy_loss", mutated("05", "cross_entropy_loss", "logits.max(axis=1, keepdims=True)", "logits.max()"),
     "whole array instead of each row"),
    ("softmax_cross_entropy_gradient", mutated("05", "softmax_cross_entropy_gradient", "probs / len(labels)", "probs"),
     "1/N missing"),
    ("softmax_cross_entropy_gradient", mutated("05", "softmax_cross_entropy_gradient",
                                               "probs[np.arange(len(labels)), labels] -= 1", "probs[:, labels] -= 1"),
     "p[:, labels] -= 1 instead of p[np.arange(N), labels] -= 1"),
    ("softmax_cross_entropy_gradient", mutated("05", "softmax_cross_entropy_gradient",
                                               "logits.max(axis=1, keepdims=True)", "logits.max()"),
     "whole array instead of each row"),
    ("uniform_loss", mutated("05", "uniform_loss", "np.log(K)", "np.log10(K)"), "log10"),
    ("uniform_loss", mutated("05", "uniform_loss", "np.log(K)", "1 / K"), "the probability 1/K"),
    ("softmax_cross_entropy", mutated("05", "softmax_cross_entropy", "dlogits / N", "dlogits"),
     "in the gradient: the 1/N missing"),
    ("softmax_cross_entropy", mutated("05", "softmax_cross_entropy", "dlogits[np.arange(N), labels] -= 1",
                                      "dlogits[:, labels] -= 1"), "in the gradient: p[:, labels]"),
    ("softmax_cross_entropy", mutated("05", "softmax_cross_entropy", "labels].mean()", "labels].sum()"),
     "in the loss: the sum over the batch"),
    # --- notebook 06
    ("dense_backward", dense_db_mean, "db averaged over the batch"),
    ("dense_backward", dense_no_transpose, "without the transpose"),
    ("dense_backward", dense_divided_by_n, "divided by the batch size"),
    ("dense_backward", dense_dw_transposed, "the transpose of dW"),
    ("relu_backward", relu_mask_from_dout, "built from dout"),
    ("relu_backward", relu_at_zero, "slope 1 at x = 0"),
    ("inverted_dropout", dropout_over_p, "1 / p instead of 1 / (1 - p)"),
    ("inverted_dropout", dropout_unscaled, "not scaled up"),
    ("predicted_std", std_variance, "the variance"),
    ("predicted_std", std_added, "standard deviations added"),
    ("two_layer_backward", lambda *args: two_layer(*args, divide=False), "not divided by N"),
    ("two_layer_backward", lambda *args: two_layer(*args, mask=False), "no ReLU mask"),
]


@pytest.mark.parametrize("name, wrong, words", WRONG_ANSWERS,
                         ids=[f"{name}-{words}" for name, _, words in WRONG_ANSWERS])
def test_a_typical_mistake_is_named(name, wrong, words):
    assert_named(check(name), wrong, words)


def test_every_exercise_has_at_least_two_named_mistakes():
    named = {}
    for name, _, words in WRONG_ANSWERS:
        named.setdefault(name, set()).add(words)
    assert {name for notebook in NOTEBOOKS for name in solutions(notebook)} == set(named)
    assert all(len(words) >= 2 for words in named.values()), named


# --- wrong answers no known mistake explains: the failing case and its hint ----------------------

@pytest.mark.parametrize("name, wrong", [
    ("output_size", lambda H, k, s, p: H),
    ("class_counts", lambda labels, num_classes: np.ones(num_classes, dtype=int)),
    ("conv2d_single", lambda image, kernel, stride, padding: np.zeros((1, 1))),
    ("maxpool_forward", lambda x, kernel_size, stride: x[:, :, ::stride, ::stride]),
    ("stable_softmax", lambda logits: np.full(np.shape(logits), 0.5)),
    ("dense_backward", lambda x, W, dout: (dout @ W.T, x.T @ dout, dout.sum(axis=0) + 1)),
])
def test_an_unknown_wrong_answer_fails_on_its_first_case_with_the_hint(name, wrong):
    result = check(name)(wrong)
    assert not result and result.mistake is None
    assert "failed:" in result.message and "hint:" in result.message, result.message


# --- odd answers a student writes: a verdict, never an exception ---------------------------------

@pytest.mark.parametrize("name, answer, words", [
    ("predicted_image_bytes", lambda: "47040000", "string"),
    ("class_counts", lambda labels, num_classes=10: [[1, 2], [3]], "not a rectangular array"),
    ("conv2d_single", lambda image, kernel, stride=1, padding=0: "an image", "string"),
    ("col2im_loops", lambda cols, x_shape, k, s=1, p=0: None, "got None"),
    ("mean_image_per_class", lambda images, labels, num_classes=10: images[labels == 99][0], "raised IndexError"),
    ("cross_entropy_loss", lambda logits, labels: "2.3", "string"),
    ("maxpool_backward", lambda x, dout, k, s: [[1, 2], [3]], "not a rectangular array"),
    ("softmax_cross_entropy", lambda logits, labels: None, "got None"),
    ("centre_gradient", lambda: [10.0, 0.0], "expected the number"),
])
def test_odd_answers_fail_with_a_message(name, answer, words):
    result = check(name)(answer)
    assert not result and words in result.message, result.message


def test_an_in_place_edit_of_the_input_is_named():
    def bias_gradient(dout):
        dout *= 1.0                                  # harmless here, but it edits the caller's array ...
        dout[0, 0, 0, 0] += 0.0
        np.negative(dout, out=dout)                  # ... and this one changes it
        return -dout.sum(axis=(0, 2, 3))

    result = checks.check_bias_gradient(bias_gradient)
    assert not result and "changed its argument `dout` in place" in result.message, result.message


def test_a_softmax_that_edits_its_logits_fails_by_name():
    def stable_softmax(logits):
        logits -= logits.max(axis=1, keepdims=True)          # right numbers, but the caller's array changes
        exps = np.exp(logits)
        return exps / exps.sum(axis=1, keepdims=True)

    result = checks.check_stable_softmax(stable_softmax)
    assert not result and "changed its argument `logits` in place" in result.message, result.message


def test_a_naive_softmax_is_named_without_warnings(recwarn):
    result = checks.check_stable_softmax(mutated("05", "stable_softmax", "logits - logits.max(axis=1, keepdims=True)",
                                                 "logits"))
    assert not result and "no maximum subtracted" in result.message
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# --- the references the checks rely on ------------------------------------------------------------

def test_centre_gradient_example_matches_the_module():
    x, dout = checks.centre_gradient_example()
    layer = scratchcnn.MaxPool2D(3, 2)
    layer.forward(x)
    assert layer.backward(dout)[0, 0, 2, 2] == dout.sum() == 10.0


def test_two_layer_reference_against_numerical_gradients():
    """The check's reference (the module's layers) agrees with a numerical gradient in float64."""
    rng = np.random.default_rng(0)
    x, W1, b1 = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    W2, b2, labels = rng.standard_normal((5, 3)), rng.standard_normal(3), np.array([0, 2, 1])

    def loss():
        h = np.maximum(x @ W1 + b1, 0)
        return scratchcnn.SoftmaxCrossEntropy().forward(h @ W2 + b2, labels)

    analytic = notebook_06._two_layer_backward_reference(x, W1, b1, W2, b2, labels)
    for gradient, weights in zip(analytic, (W1, b1, W2, b2)):
        numeric = scratchcnn.numerical_gradient(loss, weights)
        assert scratchcnn.relative_error(gradient, numeric) < 1e-7


# --- the numbers drawn beside the exercises of notebooks 02-04 -----------------------------------

def test_show_numbers_writes_white_on_dark_cells_and_black_on_light_ones():
    """Notebooks 02-04 draw small arrays with plots.show_numbers; a number on a dark cell must be readable."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3)
    plots.show_numbers(axes[0], [[0, 9]], cmap="Greens")                       # light green, dark green
    plots.show_numbers(axes[1], [[-5, 0, 5]], cmap="RdBu_r")                   # dark blue, white, dark red
    plots.show_numbers(axes[2], [[1, np.nan], [2, 3]], shade=np.array([[0, 1], [2, 0]]))
    colours = [[text.get_color() for text in ax.texts] for ax in axes]
    plt.close(fig)
    assert colours == [["black", "white"], ["white", "black", "white"], ["black"] * 3]   # NaN cells stay empty


# --- outputs of the wrong dtype are named (issue 17, section 2) ------------------------------------

def test_to_network_input_in_float64_fails_and_names_the_dtype():
    result = checks.check_to_network_input(lambda images: (images / 255.0)[:, None])
    assert not result and "returned float64 where float32 is asked" in result.message, result.message


def conv_forward_in_input_dtype(x, W, b, stride=1, padding=0):
    """A loop convolution whose output is allocated with x's dtype: right for float images, and for
    integer images with integer weights, but every fraction is cut off for integer images."""
    N, _, H, W_in = x.shape
    F, _, k, _ = W.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((N, F, (H + 2 * padding - k) // stride + 1, (W_in + 2 * padding - k) // stride + 1), x.dtype)
    for n, f, y, x_ in np.ndindex(*out.shape):
        out[n, f, y, x_] = np.sum(padded[n, :, y * stride:y * stride + k, x_ * stride:x_ * stride + k] * W[f]) + b[f]
    return out


def conv_backward_in_input_dtype(x, W, dout, stride=1, padding=0):
    """A loop convolution backward with dx and dW made by np.zeros_like of the integer inputs."""
    k = W.shape[2]
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dx_padded, dW = np.zeros_like(padded), np.zeros_like(W)
    for n, f, y, x_ in np.ndindex(*dout.shape):
        rows, cols = slice(y * stride, y * stride + k), slice(x_ * stride, x_ * stride + k)
        dW[f] += dout[n, f, y, x_] * padded[n, :, rows, cols]
        dx_padded[n, :, rows, cols] += dout[n, f, y, x_] * W[f]
    H, W_in = x.shape[2:]
    return dx_padded[:, :, padding:padding + H, padding:padding + W_in], dW, dout.sum(axis=(0, 2, 3))


# += of float gradients into an integer array raises, and the verdict quotes NumPy's casting error.
@pytest.mark.parametrize("name, answer, words", [
    ("conv2d_single", lambda image, kernel, stride=1, padding=0: conv_forward_in_input_dtype(
        image[None, None], kernel[None, None], np.zeros(1, image.dtype), stride, padding)[0, 0],
     "returned int64, expected a floating-point result"),
    ("conv2d_forward_loops", conv_forward_in_input_dtype, "returned int64, expected a floating-point result"),
    ("conv2d_backward_loops", conv_backward_in_input_dtype, "Cannot cast ufunc 'add' output from dtype('float64')"),
    ("conv2d_backward_by_correlation", conv_backward_in_input_dtype, "to dtype('int64')"),
])
def test_a_convolution_in_the_integer_inputs_dtype_fails_and_says_so(name, answer, words):
    with np.errstate(all="ignore"):
        result = check(name)(answer)
    assert not result and words in result.message, result.message
