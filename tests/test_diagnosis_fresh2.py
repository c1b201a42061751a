"""A second fresh set of typical wrong answers to the whole-layer exercises, for the framework's diagnosis.

Protocol (issue 17, section 3): the set below was written in one go, from the solved notebooks' answer cells
alone, BEFORE its author read course_machinery/checks/diagnosis.py, the exercises' Mistake lists in
checks/notebook_NN.py, tests/test_diagnosis.py or the entries of tests/test_diagnosis_fresh.py. Each entry
is the notebook's solution (tests/notebook_answers.py) with one slip a student makes, and the words a message
must hold to name that slip (the words first written were the author's guess of how a message would name it;
on the first run each message was read and judged by hand, and a message naming the slip in other words
counts as named). The set was committed before it was run once. Each wrong answer must fail.

First run: (to be filled in after the one run)
"""

import pytest

from course_machinery import checks

from notebook_answers import mutated

# (notebook, exercise, old text, new text, words the message must hold when it names the slip)
FRESH_WRONG_ANSWERS = [
    # --- notebook 02: the convolution forward
    ("02", "conv2d_forward_loops", "np.sum(patch * W[f]) + b[f]", "np.sum(patch * W[f])",
     ["bias"]),                                                             # forgotten term
    ("02", "conv2d_forward_loops", "s * x_:s * x_ + k]", "x_:x_ + k]",
     ["stride"]),                                                           # stride only along the rows
    ("02", "conv2d_forward_loops", "np.sum(patch * W[f])", "np.sum(patch * W[f, :, ::-1, ::-1])",
     ["flipped"]),                                                          # convolution, not correlation
    ("02", "conv2d_forward_loops", "(H + 2 * p - k) // s + 1, (W_in", "(H + 2 * p - k) // s, (W_in",
     ["shape", "+ 1"]),                                                     # off by one in H_out
    ("02", "conv2d_forward_loops", "out = np.zeros((N, F, H_out, W_out))",
     "out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)", ["dtype"]),    # dtype slip
    ("02", "conv2d_forward_loops", "patch = x_pad[n, :, ", "patch = x_pad[n, f, ",
     ["channel"]),                                                          # index slip: channel f
    ("02", "conv2d_forward_loops", "(W_in + 2 * p - k) // s + 1\n", "(H + 2 * p - k) // s + 1\n",
     ["shape", "width"]),                                                   # W_out from the height
    ("02", "conv2d_single", "padded = np.pad(image, padding)", "padded = image",
     ["padding"]),                                                          # padding forgotten
    # --- notebook 03: col2im, the backward loops, dilate, the backward by correlation
    ("03", "col2im_loops", "+= cols[row, column]", "= cols[row, column]",
     ["+="]),                                                               # overwrite, not accumulate
    ("03", "col2im_loops", "row = c * k * k + i * k + j", "row = c * k * k + j * k + i",
     ["transposed"]),                                                       # kernel offsets transposed
    ("03", "col2im_loops", "u * W_out + v", "v * H_out + u",
     ["transposed"]),                                                       # output positions transposed
    ("03", "col2im_loops", "s * u + i, s * v + j", "u + i, v + j",
     ["stride"]),                                                           # stride forgotten
    ("03", "col2im_loops", "dx_padded[:, :, p:p + H, p:p + W]", "dx_padded[:, :, :H, :W]",
     ["padding"]),                                                          # cropped at the wrong corner
    ("03", "conv2d_backward_loops", "db[f] += dout[n, f, u, v]", "db[f] += dout[n, f, u, v] / x.shape[0]",
     ["db", "1/N"]),                                                        # db divided by N
    ("03", "conv2d_backward_loops", "dW[f] += dout", "dW[f] -= dout",
     ["dW", "-1"]),                                                         # wrong sign on dW
    ("03", "conv2d_backward_loops", "return dx_pad[:, :, p:p + H, p:p + W_in], dW, db",
     "return dx_pad[:, :, :H, :W_in], dW, db", ["dx", "padding"]),         # dx cropped at the wrong corner
    ("03", "conv2d_backward_loops", "slice(s * v, s * v + k)", "slice(v, v + k)",
     ["stride"]),                                                           # stride only along the rows
    ("03", "conv2d_backward_loops", "np.zeros(x_pad.shape)", "np.zeros(x_pad.shape, dtype=x.dtype)",
     ["dtype"]),                                                            # dx in the input's dtype
    ("03", "conv2d_backward_loops", "dW[f] += dout[n, f, u, v]", "dW[f] += dout[n, f, v, u]",
     ["dW"]),                                                               # index slip: u and v swapped
    ("03", "dilate", "s * (H_out - 1) + 1, s * (W_out - 1) + 1", "s * H_out, s * W_out",
     ["shape"]),                                                            # s - 1 zeros too many at the end
    ("03", "conv2d_backward_by_correlation", "[:, :, :k, :k]", "[:, :, -k:, -k:]",
     ["dW", "first"]),                                                      # the last k offsets, not the first
    ("03", "conv2d_backward_by_correlation", "W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)",
     "W.transpose(1, 0, 2, 3)", ["dx", "flipped"]),                         # kernel not flipped
    ("03", "conv2d_backward_by_correlation", "W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)",
     "W.transpose(1, 0, 3, 2)", ["dx", "transposed"]),                      # transposed instead of flipped
    ("03", "conv2d_backward_by_correlation", "G = dilate(dout, stride)", "G = dout",
     ["stride"]),                                                           # dilation forgotten
    ("03", "conv2d_backward_by_correlation", "dout.sum(axis=(0, 2, 3))", "dout[0].sum(axis=(1, 2))",
     ["db", "first image"]),                                                # db from the first image only
    # --- notebook 04: max pooling
    ("04", "maxpool_forward", "window.max()", "window.mean()",
     ["mean"]),                                                             # average, not max pooling
    ("04", "maxpool_forward", "H_out = (H - kernel_size) // stride + 1", "H_out = H // stride",
     ["shape"]),                                                            # output size formula
    ("04", "maxpool_forward",
     "x[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]",
     "x[n, c, x_ * stride:x_ * stride + kernel_size, y * stride:y * stride + kernel_size]",
     ["transposed"]),                                                       # rows and columns swapped
    ("04", "maxpool_forward", "window = x[n, c, ", "window = x[0, c, ",
     ["first image"]),                                                      # index slip: image 0
    ("04", "maxpool_backward", "+= dout[n, c, y, x_]", "= dout[n, c, y, x_]",
     ["+="]),                                                               # overlapping windows overwrite
    ("04", "maxpool_backward", "dx[n, c, y * stride + i, x_ * stride + j]",
     "dx[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]",
     ["max"]),                                                              # gradient to the whole window
    ("04", "maxpool_backward", "np.argmax(window)", "np.argmin(window)",
     ["min"]),                                                              # the smallest, not the largest
    ("04", "maxpool_backward", "dtype=dout.dtype", "dtype=x.dtype",
     ["dtype"]),                                                            # gradient in the input's dtype
    ("04", "maxpool_backward", "+= dout[n, c, y, x_]", "+= dout[n, c, x_, y]",
     ["transposed"]),                                                       # dout indexed transposed
    # --- notebook 05: the whole softmax-cross-entropy layer
    ("05", "softmax_cross_entropy", "return loss, dlogits / N", "return loss, dlogits",
     ["dlogits", "N"]),                                                     # gradient not averaged
    ("05", "softmax_cross_entropy", "labels].mean()", "labels].sum()",
     ["loss", "N"]),                                                        # loss summed, not averaged
    ("05", "softmax_cross_entropy", "loss = -log_probs", "loss = log_probs",
     ["loss", "sign"]),                                                     # sign of the loss
    ("05", "softmax_cross_entropy", "shifted = logits - logits.max(axis=1, keepdims=True)", "shifted = logits",
     ["overflow"]),                                                         # not stabilised
    ("05", "softmax_cross_entropy", "logits.max(axis=1, keepdims=True)", "logits.max(axis=0)",
     ["axis"]),                                                             # max over the wrong axis
    ("05", "softmax_cross_entropy", "dlogits[np.arange(N), labels] -= 1", "dlogits[:, labels] -= 1",
     ["labels"]),                                                           # fancy-index slip
    ("05", "softmax_cross_entropy", "shifted = logits - logits.max(axis=1, keepdims=True)",
     "logits -= logits.max(axis=1, keepdims=True)\n    shifted = logits", ["logits", "changed"]),  # in place
    # --- notebook 06: dense layer and the two-layer network
    ("06", "dense_backward", "db = dout.sum(axis=0)", "db = dout.sum(axis=1)",
     ["db", "axis"]),                                                       # wrong axis
    ("06", "dense_backward", "dW = x.T @ dout", "dW = dout.T @ x",
     ["dW", "transposed"]),                                                 # transposed
    ("06", "dense_backward", "db = dout.sum(axis=0)", "db = dout.mean(axis=0)",
     ["db", "1/N"]),                                                        # wrong normalisation
    ("06", "two_layer_backward", "dz = dh * (z > 0)", "dz = dh * (h >= 0)",
     ["relu"]),                                                             # mask forgotten (h >= 0 always)
    ("06", "two_layer_backward", "    dscores /= N\n", "",
     ["N"]),                                                                # all four gradients times N
    ("06", "two_layer_backward", "dscores.sum(axis=0)       # second", "dscores[0]       # second",
     ["db2", "first"]),                                                     # db2 from the first image
    ("06", "two_layer_backward", "dW1, db1 = x.T @ dz,", "dW1, db1 = x.T @ dh,",
     ["dW1", "relu"]),                                                      # dW1 skips the ReLU
    # --- notebook 07: optimisers
    ("07", "sgd_momentum_step", "return weights - lr * new_velocity", "return weights + lr * new_velocity",
     ["sign"]),                                                             # ascent, not descent
    ("07", "sgd_momentum_step", "momentum * velocity + gradient", "momentum * velocity + lr * gradient",
     ["lr"]),                                                               # learning rate applied twice
    ("07", "sgd_momentum_step", "new_velocity = momentum * velocity + gradient",
     "velocity *= momentum\n    velocity += gradient\n    new_velocity = velocity",
     ["velocity", "changed"]),                                              # in-place edit of the input
    ("07", "sgd_momentum_step", "momentum * velocity + gradient", "momentum * velocity + (1 - momentum) * gradient",
     ["1 - momentum"]),                                                     # dampened (another convention)
    ("07", "adam_step", "m_hat = m / (1 - beta1 ** t)", "m_hat = m",
     ["bias correction"]),                                                  # first moment not corrected
    ("07", "adam_step", "s = beta2 * s + (1 - beta2)", "s = beta1 * s + (1 - beta1)",
     ["beta"]),                                                             # beta1 in the second moment
    ("07", "adam_step", "** t)", "** (t + 1))",
     ["t"], 2),                                                             # off by one in the step count
    ("07", "adam_step", "m = beta1 * m + (1 - beta1) * gradient",
     "m *= beta1\n    m += (1 - beta1) * gradient", ["m", "changed"]),      # in-place edit of the input
    ("07", "adam_step", "(np.sqrt(s_hat) + eps), m, s", "(np.sqrt(s_hat) + eps), s, m",
     ["swapped"]),                                                          # outputs in the wrong order
    # --- notebook 10: RMSprop, batch norm, layer norm, residual block
    ("10", "rmsprop_step", "(np.sqrt(mean_square) + eps)", "np.sqrt(mean_square + eps)",
     ["eps"]),                                                              # eps inside the root
    ("10", "rmsprop_step", "alpha * mean_square + (1 - alpha) * gradient ** 2",
     "(1 - alpha) * mean_square + alpha * gradient ** 2", ["alpha"]),      # alpha on the wrong term
    ("10", "rmsprop_step",
     "mean_square = alpha * mean_square + (1 - alpha) * gradient ** 2\n"
     "    return weights - lr * gradient / (np.sqrt(mean_square) + eps), mean_square",
     "new_mean_square = alpha * mean_square + (1 - alpha) * gradient ** 2\n"
     "    return weights - lr * gradient / (np.sqrt(mean_square) + eps), new_mean_square",
     ["weights", "old"]),                                                   # steps with the old average
    ("10", "batchnorm_forward", "x.var(axis=0)", "x.var(axis=1, keepdims=True)",
     ["axis"]),                                                             # variance per row
    ("10", "batchnorm_forward", "np.sqrt(x.var(axis=0) + eps)", "(x.var(axis=0) + eps)",
     ["sqrt"]),                                                             # divided by the variance
    ("10", "batchnorm_forward", "gamma * x_hat + beta", "gamma * (x_hat + beta)",
     ["beta"]),                                                             # beta scaled by gamma
    ("10", "batchnorm_forward", "x.var(axis=0)", "x.var(axis=0, ddof=1)",
     ["unbiased"]),                                                         # wrong normalisation
    ("10", "batchnorm_backward", "dgamma = (dout * x_hat).sum(axis=0)", "dgamma = (dout * x).sum(axis=0)",
     ["dgamma"]),                                                           # x, not x_hat
    ("10", "batchnorm_backward", "dx = gamma * inv_std *", "dx = inv_std *",
     ["dx", "gamma"]),                                                      # missing factor
    ("10", "batchnorm_backward", "dout.mean(axis=0) - x_hat", "dout.mean(axis=0) + x_hat",
     ["dx", "sign"]),                                                       # wrong sign of one term
    ("10", "batchnorm_backward", "1 / np.sqrt(x.var(axis=0) + eps)", "1 / np.sqrt(x.var(axis=0))",
     ["eps"]),                                                              # eps left out
    ("10", "batchnorm_backward", "dbeta = dout.sum(axis=0)", "dbeta = dout.mean(axis=0)",
     ["dbeta", "1/N"]),                                                     # wrong normalisation
    ("10", "batchnorm_backward_staged", "dv = ds / (2 * s)", "dv = ds / s",
     ["dx", "2"]),                                                          # missing factor 1/2
    ("10", "batchnorm_backward_staged", "dmu = -dc.sum(axis=0)", "dmu = dc.sum(axis=0)",
     ["dx", "sign"]),                                                       # wrong sign
    ("10", "batchnorm_backward_staged", "2 * c / m * dv", "c / m * dv",
     ["dx", "2"]),                                                          # missing factor 2
    ("10", "layernorm_forward", "(x - x.mean(axis=1, keepdims=True))", "(x - x.mean(axis=0, keepdims=True))",
     ["axis"]),                                                             # mean over the batch
    ("10", "layernorm_forward", "x.var(axis=1, keepdims=True)", "x.var(axis=1)",
     ["keepdims"]),                                                         # broadcast along the wrong axis
    ("10", "layernorm_backward", "(dout * x_hat).sum(axis=0)", "(dout * x_hat).sum(axis=1)",
     ["dgamma", "axis"]),                                                   # wrong axis
    ("10", "layernorm_backward", "dx = inv_std * (h", "dx = (h",
     ["dx"]),                                                               # missing factor
    ("10", "batchnorm2d_forward", "x.transpose(0, 2, 3, 1).reshape(-1, C)", "x.reshape(-1, C)",
     ["channel"]),                                                          # reshape without the transpose
    ("10", "batchnorm2d_forward", "out.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "out.reshape(N, C, H, W)",
     ["axes"]),                                                             # not transposed back
    ("10", "batchnorm2d_forward", "np.sqrt(columns.var(axis=0) + eps)", "(np.sqrt(columns.var(axis=0)) + eps)",
     ["eps"]),                                                              # eps outside the root
    ("10", "batchnorm2d_running_statistics", "m = x.shape[0] * x.shape[2] * x.shape[3]", "m = x.shape[0]",
     ["m"]),                                                                # m = N, not N·H·W
    ("10", "batchnorm2d_running_statistics", "(1 - momentum) * running_mean + momentum * mean",
     "momentum * running_mean + (1 - momentum) * mean", ["momentum"]),     # the other convention
    ("10", "batchnorm2d_running_statistics", "momentum * var * m / (m - 1)", "momentum * var",
     ["unbiased"]),                                                         # factor m / (m - 1) forgotten
    ("10", "batchnorm_eval", "gamma * (x - running_mean)", "gamma * (x - x.mean(axis=0))",
     ["running"]),                                                          # batch mean in eval mode
    ("10", "batchnorm_eval", "gamma * dout * inv_std", "dout * inv_std",
     ["gamma"]),                                                            # missing factor
    ("10", "residual_backward", "return dout + d_inner @ W.T", "return d_inner @ W.T",
     ["skip"]),                                                             # forgotten term: the skip path
    ("10", "residual_backward", "(x @ W > 0)", "(x > 0)",
     ["relu"]),                                                             # mask from the wrong array
    ("10", "residual_backward", "x.T @ d_inner", "d_inner.T @ x",
     ["dW", "transposed"]),                                                 # transposed
]


def _entry(entry):
    notebook, name, old, new, words, *count = entry
    return notebook, name, old, new, words, (count[0] if count else 1)


def _verdict(notebook, name, old, new, count):
    return getattr(checks, f"check_{name}")(mutated(notebook, name, old, new, count))


@pytest.mark.parametrize("entry", FRESH_WRONG_ANSWERS,
                         ids=[f"{n}-{name}-{i}" for i, (n, name, *_) in enumerate(FRESH_WRONG_ANSWERS)])
def test_a_fresh_wrong_answer_fails_and_its_message_names_the_slip(entry):
    notebook, name, old, new, words, count = _entry(entry)
    result = _verdict(notebook, name, old, new, count)
    assert not result, f"accepted: {new!r}"
    missing = [word for word in words or [] if word.lower() not in result.message.lower()]
    assert not missing, f"{missing} not in:\n{result.message}"
