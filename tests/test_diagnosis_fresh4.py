"""A fourth fresh set of typical wrong answers to the whole-layer exercises: the honest measurement after
diagnosis.py learnt to intervene (run the answer and the exercise's reference again with one input
changed, and compare how their outputs move) and to take the arguments' sizes (F, C, H*W, N*H*W, n/(n-1))
as scale factors.

Protocol: written in one go after those changes and committed before its first run; each entry is the
notebook's solution (tests/notebook_answers.py) with one slip a student makes, different from the slips of
the earlier sets (tests/test_diagnosis_fresh*.py), with the words its author guessed a naming message would
hold. Its author had read diagnosis.py (he wrote the intervention), but wrote the slips from the solutions'
text, as typical slips, without running any of them through the new rules first. On the first run each
message is read and judged by hand; the words below are then what the message said when it named the slip
(None: unnamed).

FIRST RUN: (to be filled in after the first run)
"""

import pytest


from exercise_helpers import assert_fails_naming_the_slip, fresh_entry_ids, named_count

# (notebook, exercise, old text, new text, words the message must hold when it names the slip)
FRESH_WRONG_ANSWERS = [
    # --- notebook 02
    ("02", "conv2d_single", "* kernel)", "* kernel[::-1, ::-1])", ["flipped"]),
    ("02", "conv2d_single", "H_out = (padded.shape[0] - k) // stride + 1", "H_out = (image.shape[0] - k) // stride + 1",
     ["padding left out"]),
    ("02", "conv2d_forward_loops", "np.sum(patch * W[f]) + b[f]", "np.sum(patch * W[f]) + b.sum()", ["b"]),
    ("02", "conv2d_forward_loops", "s * x_:s * x_ + k]", "s * y:s * y + k]", ["column"]),
    ("02", "conv2d_forward_loops", "np.sum(patch * W[f])", "np.mean(patch * W[f])", ["mean"]),
    # --- notebook 03
    ("03", "col2im_loops", "dx_padded[n, c, s * u + i, s * v + j]", "dx_padded[n, c, s * u + j, s * v + i]",
     ["i and j swapped"]),
    ("03", "col2im_loops", "return dx_padded[:, :, p:p + H, p:p + W]", "return dx_padded[:, :, p:p + H, p:p + H]", ["W"]),
    ("03", "col2im_loops", "(W + 2 * p - k) // s + 1\n", "(H + 2 * p - k) // s + 1\n", ["W_out"]),
    ("03", "conv2d_backward_loops", "dW[f] += dout[n, f, u, v] * x_pad[window]",
     "dW[f] += dout[n, f, u, v] * x_pad[window] / x.shape[0]", ["dW divided by N"]),
    ("03", "conv2d_backward_loops", "return dx_pad[:, :, p:p + H, p:p + W_in], dW, db",
     "return dx_pad[:, :, p:p + H, p:p + W_in], dW, -db", ["sign flipped"]),
    ("03", "conv2d_backward_loops", "(p, p), (p, p))).astype(np.float64)", "(p, 0), (p, 0))).astype(np.float64)",
     ["padding"]),
    ("03", "conv2d_backward_loops", "for f in range(W.shape[0]):", "for f in range(W.shape[1]):", ["W.shape"]),
    ("03", "conv2d_backward_by_correlation", "W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)",
     "W[:, :, ::-1, :].transpose(1, 0, 2, 3)", ["flipped along axis"]),
    ("03", "conv2d_backward_by_correlation", "[:, :, :k, :k].transpose(1, 0, 2, 3)", "[:, :, :k, :k]",
     ["axes 0 and 1 swapped"]),
    ("03", "conv2d_backward_by_correlation", "dW, dout.sum(axis=(0, 2, 3))", "dW, dout.sum(axis=(0, 2, 3)) / len(x)",
     ["db divided by N"]),
    ("03", "dilate", "np.zeros((N, F, s * (H_out - 1) + 1, s * (W_out - 1) + 1))", "np.zeros((N, F, s * H_out, s * W_out))",
     ["s*H'"]),
    ("03", "dilate", "spread[:, :, ::s, ::s] = G", "spread[:, :, ::s, ::s] = s * G", ["times s"]),
    # --- notebook 04
    ("04", "maxpool_forward", "H_out = (H - kernel_size) // stride + 1", "H_out = (H - kernel_size) // stride",
     ["the + 1 left out"]),
    ("04", "maxpool_forward", "out[n, c, y, x_] = window.max()", "out[n, c, y, x_] = window.mean()", ["mean"]),
    ("04", "maxpool_forward", "window = x[n, c, ", "window = x[n, 0, ", ["first channel"]),
    ("04", "maxpool_backward", "dx[n, c, y * stride + i, x_ * stride + j] += dout",
     "dx[n, c, y * stride + i, x_ * stride + j] = dout", ["= instead of +="]),
    ("04", "maxpool_backward", "+= dout[n, c, y, x_]", "+= dout[n, c, y, x_] * window.max()", ["window"]),
    ("04", "maxpool_backward", "x_ * stride + j] +=", "x_ * stride + i] +=", ["column"]),
    # --- notebook 05
    ("05", "softmax_cross_entropy", "log_probs[np.arange(N), labels].mean()", "log_probs[np.arange(N), labels].sum()",
     ["N"]),
    ("05", "softmax_cross_entropy", "return loss, dlogits / N", "return loss / N, dlogits / N", ["loss divided by N"]),
    ("05", "softmax_cross_entropy", "dlogits[np.arange(N), labels] -= 1", "dlogits[np.arange(N), labels] -= N",
     ["N subtracted"]),
    ("05", "softmax_cross_entropy", "np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
     "np.log(np.exp(shifted)).sum(axis=1, keepdims=True)", ["log"]),
    # --- notebook 06
    ("06", "dense_backward", "db = dout.sum(axis=0)", "db = dout.sum()", ["shape"]),
    ("06", "dense_backward", "dW = x.T @ dout", "dW = x.T @ dout / len(x)", ["dW divided by N"]),
    ("06", "dense_backward", "dx = dout @ W.T", "dx = -dout @ W.T", ["sign flipped"]),
    ("06", "two_layer_backward", "dz = dh * (z > 0)", "dz = dh * (h > 0) * h", ["ReLU"]),
    ("06", "two_layer_backward", "dscores /= N", "dscores *= 1", ["1/N"]),
    ("06", "two_layer_backward", "dW1, db1 = x.T @ dz, dz.sum(axis=0)", "dW1, db1 = x.T @ dz, dh.sum(axis=0)",
     ["db1"]),
    # --- notebook 07
    ("07", "sgd_momentum_step", "new_velocity = momentum * velocity + gradient",
     "new_velocity = momentum * velocity - gradient", ["sign"]),
    ("07", "sgd_momentum_step", "return weights - lr * new_velocity, new_velocity",
     "return weights - lr * new_velocity, velocity", ["velocity"]),
    ("07", "adam_step", "m = beta1 * m + (1 - beta1) * gradient", "m = beta1 * m + gradient", ["1 - beta1"]),
    ("07", "adam_step", "m_hat = m / (1 - beta1 ** t)", "m_hat = m / (1 - beta1 ** (t + 1))", ["t"]),
    ("07", "adam_step", "/ (np.sqrt(s_hat) + eps), m, s", "/ (np.sqrt(s_hat) + eps), m_hat, s_hat", ["corrected"]),
    # --- notebook 10
    ("10", "rmsprop_step", "mean_square = alpha * mean_square + (1 - alpha) * gradient ** 2",
     "mean_square = (1 - alpha) * mean_square + alpha * gradient ** 2", ["alpha"]),
    ("10", "rmsprop_step", "lr * gradient / (np.sqrt(mean_square) + eps)", "lr * gradient / np.sqrt(mean_square + eps)",
     ["eps"]),
    ("10", "batchnorm_forward", "np.sqrt(x.var(axis=0) + eps)", "np.sqrt(x.var(axis=0, ddof=1) + eps)", ["ddof"]),
    ("10", "batchnorm_forward", "(x - x.mean(axis=0))", "(x - x.mean(axis=1, keepdims=True))", ["axis"]),
    ("10", "batchnorm_backward", "dbeta = dout.sum(axis=0)", "dbeta = dout.sum(axis=0) * gamma", ["gamma"]),
    ("10", "batchnorm_backward", "dx = gamma * inv_std * (", "dx = gamma * inv_std ** 2 * (", ["inv_std"]),
    ("10", "layernorm_forward", "np.sqrt(x.var(axis=1, keepdims=True) + eps)",
     "np.sqrt(x.var(axis=0, keepdims=True) + eps)", ["axis"]),
    ("10", "layernorm_backward", "(dout * x_hat).sum(axis=0), dout", "(dout * x).sum(axis=0), dout", ["x_hat"]),
    ("10", "layernorm_backward", "(dout * x_hat).sum(axis=0), dout.sum(axis=0)",
     "(dout * x_hat).sum(axis=0), dout.sum(axis=0) / len(dout)", ["N"]),
    ("10", "batchnorm2d_forward", "x_hat = (columns - columns.mean(axis=0))", "x_hat = (columns - columns.mean())",
     ["mean"]),
    ("10", "batchnorm2d_forward", "return out.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "return out.reshape(N, C, H, W)",
     ["reshape"]),
    ("10", "batchnorm2d_running_statistics", "new_mean = (1 - momentum) * running_mean + momentum * mean",
     "new_mean = momentum * running_mean + (1 - momentum) * mean", ["momentum"]),
    ("10", "batchnorm2d_running_statistics", "m = x.shape[0] * x.shape[2] * x.shape[3]", "m = x.shape[2] * x.shape[3]",
     ["m"]),
    ("10", "batchnorm_eval", "out = gamma * (x - running_mean) * inv_std + beta",
     "out = gamma * (x - running_mean) * inv_std", ["beta"]),
    ("10", "batchnorm_eval", "inv_std = 1 / np.sqrt(running_var + eps)", "inv_std = 1 / np.sqrt(x.var(axis=0) + eps)",
     ["running_var"]),
    ("10", "batchnorm_backward_staged", "ds = -dr / s ** 2", "ds = dr / s ** 2", ["sign"]),
    ("10", "batchnorm_backward_staged", "dc_first = dx_hat * r", "dc_first = dx_hat / r", ["r"]),
    ("10", "residual_backward", "return dout + d_inner @ W.T, x.T @ d_inner", "return d_inner @ W.T, x.T @ d_inner",
     ["dout"]),
    ("10", "residual_backward", "d_inner @ W.T, x.T @ d_inner", "d_inner @ W, x.T @ d_inner", ["W.T"]),
]


@pytest.mark.parametrize("entry", FRESH_WRONG_ANSWERS, ids=fresh_entry_ids(FRESH_WRONG_ANSWERS))
def test_a_fresh_wrong_answer_fails_and_its_message_names_the_slip(entry):
    assert_fails_naming_the_slip(entry)


# The indices of the answers whose message did not name the slip on the first run (see the docstring).
FIRST_RUN_UNNAMED = set()


def test_the_rate_of_named_mistakes(capsys):
    named = named_count(FRESH_WRONG_ANSWERS)
    with capsys.disabled():
        print(f"\nfresh set 4: first run {len(FRESH_WRONG_ANSWERS) - len(FIRST_RUN_UNNAMED)} of "
              f"{len(FRESH_WRONG_ANSWERS)} named; now {named} of {len(FRESH_WRONG_ANSWERS)}")
    assert named >= len(FRESH_WRONG_ANSWERS) - len(FIRST_RUN_UNNAMED)
