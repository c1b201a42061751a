"""A third fresh set of typical wrong answers to the whole-layer exercises: the honest measurement after
diagnosis.py was improved on tests/test_diagnosis_fresh2.py's set.

Protocol: written in one go after those improvements and committed before its first run; each entry is the
notebook's solution (tests/notebook_answers.py) with one slip, different from every slip in the earlier
sets, with the words its author guessed a naming message would hold. Caveat: unlike set 2, its author had
read diagnosis.py by then (while improving it), so the set is fresh to the framework but not to its author;
no slip was chosen to fit (or to dodge) a rule. On the first run each message is read and judged by hand.

First run (commit f8f277e, run once, each message read and judged by hand): 42 of 42 rejected, 0 accepted;
25 of the 42 messages (60%) named the actual mistake (16 by a listed Mistake, 9 by the framework's diagnosis,
4 of those 9 by rules added for set 2: what the passing cases share (padding = 0, twice; p = 0) and the
... times beta[f] offset is older). Far under the 90% goal: the generic rules tuned on set 2 carried over to
few new slips. The 17 unnamed (FIRST_RUN_UNNAMED), by index:
   5 col2im's row = c*k + i*k + j: "right for the first channel only ... a loop that stops after the first,
     or = where += belongs?" (locates the channels, suggests the wrong slip);
   7 conv backward's dx divided by F: "dx is 0.333333 times the right value" (F not among the constants);
   9 correlation backward's gradient not padded by k - 1: "dx wrong" only;
  10 correlation backward's db summed over (2, 3): "db: shape (1, 1) ... 2 axes instead of 1";
  11 dilate with np.ones: no diagnosis;
  12 max-pool forward's window rows stride tall, not kernel_size: "wrong only at the border: look at the
     padding" (misleading);
  13 max-pool forward of |x|: "right at 14 of 16 positions";
  16 softmax-cross-entropy's dlogits divided by N twice (not at the labels): "right at 52 of 60 positions";
  17 the loss indexed [labels, arange(N)]: "right on every case with a batch of one" (misleading);
  18 the softmax normaliser summed over axis 0: "inf or nan ... an overflow" (misleading);
  20 dense dW from the first example only: "dW wrong" only;
  21 two-layer dh = dscores @ W2 (not W2.T): "dW1 wrong, db1 wrong" only;
  24 SGD velocity + momentum * gradient: "right for the first image (or row) only" (misleading);
  26 Adam's s from |g| instead of g**2: "a square root too many?" (misleading);
  33 staged backward's dr not summed: "a scale per column (a 1/std) left out?" (misleading);
  38 BatchNorm2D with the std inside the root: no diagnosis;
  39 running variance with ddof=1 and m / (m - 1): "new_running_var wrong" only.
Judged generously (5 and 10 counted), 27 of 42 (64%).

The words below are what each message said on the first run when it named the slip (None: unnamed).
"""

import pytest


from exercise_helpers import assert_fails_naming_the_slip, fresh_entry_ids, named_count

# (notebook, exercise, old text, new text, words the message must hold when it names the slip)
FRESH_WRONG_ANSWERS = [
    ("02", "conv2d_forward_loops", "np.sum(patch * W[f]) + b[f]", "np.sum(patch * W[f] + b[f])", ["b added 27 times instead of once"]),
    ("02", "conv2d_forward_loops", "np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))",
     "np.pad(x, ((p, p), (p, p), (0, 0), (0, 0)))", ["padding = 0", "padding left out or used wrongly"]),
    ("02", "conv2d_forward_loops", "out[n, f, y, x_] =", "out[n, f, x_, y] =", ["axes 2 and 3 swapped"]),
    ("02", "conv2d_single", "stride * y:stride * y + k, stride * x:stride * x + k", "y:y + k, x:x + k",
     ["stride ignored"]),
    ("03", "col2im_loops", "np.zeros((N, C, H + 2 * p, W + 2 * p))", "np.zeros((N, C, H + p, W + p))",
     ["p = 0", "p left out or used wrongly"]),
    ("03", "col2im_loops", "row = c * k * k + i * k + j", "row = c * k + i * k + j", None),
    ("03", "conv2d_backward_loops", "db[f] += dout[n, f, u, v]", "db[f] = dout[n, f, u, v]", ["= instead of +="]),
    ("03", "conv2d_backward_loops", "dx_pad[window] += dout[n, f, u, v] * W[f]",
     "dx_pad[window] += dout[n, f, u, v] * W[f] / W.shape[0]", None),
    ("03", "conv2d_backward_loops", "x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))).astype(np.float64)",
     "x_pad = x.astype(np.float64)", ["padding = 0", "padding left out or used wrongly"]),
    ("03", "conv2d_backward_by_correlation", "(k - 1, k - 1), (k - 1, k - 1)", "(0, 0), (0, 0)",
     None),
    ("03", "conv2d_backward_by_correlation", "dW, dout.sum(axis=(0, 2, 3))", "dW, dout.sum(axis=(2, 3))",
     None),
    ("03", "dilate", "np.zeros((N, F,", "np.ones((N, F,", None),
    ("04", "maxpool_forward", "y * stride:y * stride + kernel_size, x_", "y * stride:y * stride + stride, x_",
     None),
    ("04", "maxpool_forward", "window.max()", "np.abs(window).max()", None),
    ("04", "maxpool_backward", "i, j = np.unravel_index", "j, i = np.unravel_index", ["row and column swapped"]),
    ("04", "maxpool_backward", "dx[n, c, y * stride + i, x_ * stride + j]", "dx[n, c, y + i, x_ + j]",
     ["stride left out"]),
    ("05", "softmax_cross_entropy", "dlogits = np.exp(log_probs)", "dlogits = np.exp(log_probs) / N",
     None),
    ("05", "softmax_cross_entropy", "-log_probs[np.arange(N), labels]", "-log_probs[labels, np.arange(N)]",
     None),
    ("05", "softmax_cross_entropy", "np.exp(shifted).sum(axis=1, keepdims=True)",
     "np.exp(shifted).sum(axis=0, keepdims=True)", None),
    ("06", "dense_backward", "dx = dout @ W.T", "dx = dout @ W.T / len(dout)", ["dx wrong", "divided by the batch size"]),
    ("06", "dense_backward", "dW = x.T @ dout", "dW = x[:1].T @ dout[:1]", None),
    ("06", "two_layer_backward", "dh = dscores @ W2.T", "dh = dscores @ W2", None),
    ("06", "two_layer_backward", "dW2, db2 = h.T @ dscores", "dW2, db2 = z.T @ dscores", ["pre-activation z"]),
    ("07", "sgd_momentum_step", "return weights - lr * new_velocity", "return weights - lr * velocity",
     ["old velocity"]),
    ("07", "sgd_momentum_step", "momentum * velocity + gradient", "velocity + momentum * gradient",
     None),
    ("07", "adam_step", "s_hat = s / (1 - beta2 ** t)", "s_hat = s / (1 - beta1 ** t)", ["beta1 used in a bias correction where beta2 belongs"]),
    ("07", "adam_step", "(1 - beta2) * gradient ** 2", "(1 - beta2) * np.abs(gradient)", None),
    ("07", "adam_step", "lr * m_hat / (np.sqrt(s_hat) + eps)", "lr * m / (np.sqrt(s) + eps)",
     ["no bias correction"]),
    ("10", "rmsprop_step", "lr * gradient / (np.sqrt(mean_square) + eps)", "lr * gradient / (mean_square + eps)",
     ["no square root"]),
    ("10", "batchnorm_forward", "gamma * x_hat + beta", "gamma * x_hat - beta", ["beta added -1 times"]),
    ("10", "batchnorm_forward", "(x - x.mean(axis=0))", "(x - x.mean())", ["x.mean() without an axis"]),
    ("10", "batchnorm_backward", "dout - dout.mean(axis=0) - x_hat", "dout - x_hat", ["missing the mean's term"]),
    ("10", "batchnorm_backward", "dgamma = (dout * x_hat).sum(axis=0)", "dgamma = (dout * x_hat).mean(axis=0)",
     ["dgamma wrong", "divided by the batch size"]),
    ("10", "batchnorm_backward_staged", "dr = (dx_hat * c).sum(axis=0)", "dr = (dx_hat * c)", None),
    ("10", "batchnorm_backward_staged", "dx = dc + dmu / m", "dx = dc + dmu", ["not divided by m"]),
    ("10", "layernorm_forward", "np.sqrt(x.var(axis=1, keepdims=True) + eps)",
     "np.sqrt(x.var(axis=1, keepdims=True)) + eps", ["eps left out or put elsewhere"]),
    ("10", "layernorm_backward", "return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)",
     "return dx, dout.sum(axis=0), (dout * x_hat).sum(axis=0)", ["dgamma and dbeta swapped"]),
    ("10", "layernorm_backward", "h.mean(axis=1, keepdims=True) - x_hat", "h.mean(axis=0, keepdims=True) - x_hat",
     ["mean(g) over the batch"]),
    ("10", "batchnorm2d_forward", "np.sqrt(columns.var(axis=0) + eps)", "np.sqrt(columns.std(axis=0) + eps)",
     None),
    ("10", "batchnorm2d_running_statistics", "x.var(axis=(0, 2, 3))", "x.var(axis=(0, 2, 3), ddof=1)",
     None),
    ("10", "batchnorm_eval", "inv_std = 1 / np.sqrt(running_var + eps)", "inv_std = 1 / (running_var + eps)",
     ["instead of its square root"]),
    ("10", "residual_backward", "x.T @ d_inner", "x.T @ dout", ["relu left out"]),
]


@pytest.mark.parametrize("entry", FRESH_WRONG_ANSWERS, ids=fresh_entry_ids(FRESH_WRONG_ANSWERS))
def test_a_fresh_wrong_answer_fails_and_its_message_names_the_slip(entry):
    assert_fails_naming_the_slip(entry)


# The indices of the answers whose message did not name the slip on the first run (see the docstring).
FIRST_RUN_UNNAMED = {5, 7, 9, 10, 11, 12, 13, 16, 17, 18, 20, 21, 24, 26, 33, 38, 39}


def test_the_rate_of_named_mistakes(capsys):
    named = named_count(FRESH_WRONG_ANSWERS)
    with capsys.disabled():
        print(f"\nfresh set 3: first run {len(FRESH_WRONG_ANSWERS) - len(FIRST_RUN_UNNAMED)} of "
              f"{len(FRESH_WRONG_ANSWERS)} named; now {named} of {len(FRESH_WRONG_ANSWERS)}")
    assert named >= len(FRESH_WRONG_ANSWERS) - len(FIRST_RUN_UNNAMED)
