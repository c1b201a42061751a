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

First run (commit 46c28e7, run once, each message read and judged by hand): 57 of 57 rejected, 0 accepted;
43 of the 57 messages (75%) named the actual mistake (20 by a listed Mistake: 16 for the whole answer,
4 for one output; 23 by the framework's diagnosis). Still under the 90% goal. The new rules decided 4 of the
43: the intervention with the size factors named 4 (np.mean of the patch: "when x changes, the output moves
0.1111 times as much ... 1/(W.shape[-2] * W.shape[-1]) ... a mean where a sum belongs"), and the intervention
alone 21 (max-pool backward's dx changes with x's values), 34 (the old velocity returned: new_velocity does
not move with gradient) and 42 (dbeta moves with gamma). Borderline, counted named: 10 (the
padding on one side: "padding left out or used wrongly"), 11 (the filter loop over C: "a loop over axis 0 that
stops one short"), 21, 34 ("is the computed array the one returned?", with an "all zeros" first), 41 and 44
(the statistics' axis, said of the mean and variance together), 42 (its first sentence, "right for the first
row only", misleads; its intervention names gamma in dbeta). Strictly, without those 8: 35 of 57 (61%).
The 14 unnamed (FIRST_RUN_UNNAMED), by index:
   2 conv forward + b.sum(): "an amount that depends only on the index along axis 1: a bias added wrongly?";
   3 conv forward's column window from y: "wrong values at 2 of 4 positions" only;
   6 col2im cropped to H columns: the shape and its generic size hint;
   7 col2im's W_out from H: "right on every case with p = 0 ... p left out" (misleading), "right at 162 of 180";
  22 maxpool backward, i where j belongs: "the right values in the wrong places: two indices swapped" (vague);
  25 dlogits[labels] -= N: "off by -0.75 (= -3/N) at each label", not that N is subtracted where 1 belongs;
  26 log inside the sum: "inf or nan ... an overflow" (misleading);
  27 db = dout.sum(): "0 axes instead of 1", not the missing axis=0;
  30 dz = dh * (h > 0) * h: "dW1 wrong, db1 wrong" only;
  36 Adam's t + 1 in m_hat: "0.526316 times", and "changes when beta1 changes, the right one does not"
     (true at t = 1, and misleading);
  45 dgamma from x: "does not change when eps changes" (true, but points at eps);
  47 BatchNorm2D's global mean: "a bias added wrongly?" (misleading);
  50 running statistics' m per image: the batch-of-one and square-input notes (misleading), "1.074 times";
  54 staged dc_first = dx_hat / r: "a scale per column (a 1/std) left out or applied twice?" (vague).
What the intervention still lacks: it says which input an output ignores or scales, but a wrong output that
depends on the right inputs in a wrong nonlinear way (26, 30, 36, 54) gets no words; and its changes are
run on the smallest failing case, which is sometimes degenerate (t = 1, zero velocity), where "does not depend
on beta1" is true but points away from the slip.
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


# The words each message held on the first run when it named the slip (judged by hand); an entry not here
# was not named (FIRST_RUN_UNNAMED). The guesses written with the set above are kept as they were committed.
FIRST_RUN_WORDS = {
    0: ["the kernel flipped"], 1: ["with the padding left out"],
    4: ["divided by that size (a mean over that axis where a sum belongs?)"], 5: ["i and j swapped"],
    8: ["dW divided by N"], 9: ["db is -1 times the right value"], 10: ["padding = 0", "padding left out or used wrongly"],
    11: ["a loop over axis 0 that stops one short"], 12: ["flipped along its rows only"], 13: ["axes 0 and 1 swapped"],
    14: ["db is 0.5 times the right value", "1/N = 1/2"], 15: ["s*H' instead of s*(H' - 1) + 1"],
    16: ["3 times the right value", "s applied twice?"], 17: ["the + 1 left out"], 18: ["the mean of each window"],
    19: ["right for the first channel (or filter) only"], 20: ["= instead of +="],
    21: ["the output changes when x changes, the right the output does not"],
    23: ["the sum over the batch instead of the mean"], 24: ["loss is 0.25 times the right value", "a 1/N applied twice?"],
    28: ["dW and db divided by the batch size N"], 29: ["dx is -1 times the right value"], 31: ["not divided by N"],
    32: ["no ReLU mask in the backward pass"], 33: ["new_velocity is -1 times the right value"],
    34: ["is the computed array the one returned?"], 35: ["new_m is 10 times the right value (1 / (1 - beta1)"],
    37: ["the bias-corrected m_hat and s_hat returned"], 38: ["alpha and 1 - alpha swapped"],
    39: ["eps inside the square root"], 40: ["the sample variance"], 41: ["the mean and variance taken over the wrong axis"],
    42: ["dbeta changes when gamma changes"], 43: ["1 / the standard deviation of x over axis 0: divided by it twice?"],
    44: ["the mean and variance taken over the wrong axis"], 46: ["dbeta is 0.333333 times the right value", "1/N = 1/3"],
    48: ["a reshape where a transpose belongs?"], 49: ["momentum as the weight of the OLD running value"],
    51: ["beta added 0 times instead of once", "out does not change when beta changes"],
    52: ["the batch's statistics instead of the running ones", "out does not change when running_var changes"],
    53: ["ds without the minus sign"], 55: ["forgetting the skip path"], 56: ["W not transposed in dx"],
}
JUDGED_WRONG_ANSWERS = [(notebook, name, old, new, FIRST_RUN_WORDS.get(index))
                        for index, (notebook, name, old, new, _) in enumerate(FRESH_WRONG_ANSWERS)]


@pytest.mark.parametrize("entry", JUDGED_WRONG_ANSWERS, ids=fresh_entry_ids(JUDGED_WRONG_ANSWERS))
def test_a_fresh_wrong_answer_fails_and_its_message_names_the_slip(entry):
    assert_fails_naming_the_slip(entry)


# The indices of the answers whose message did not name the slip on the first run (see the docstring).
FIRST_RUN_UNNAMED = {2, 3, 6, 7, 22, 25, 26, 27, 30, 36, 45, 47, 50, 54}


def test_the_rate_of_named_mistakes(capsys):
    named = named_count(JUDGED_WRONG_ANSWERS)
    assert set(range(len(FRESH_WRONG_ANSWERS))) - set(FIRST_RUN_WORDS) == FIRST_RUN_UNNAMED
    with capsys.disabled():
        print(f"\nfresh set 4: first run {len(FRESH_WRONG_ANSWERS) - len(FIRST_RUN_UNNAMED)} of "
              f"{len(FRESH_WRONG_ANSWERS)} named; now {named} of {len(FRESH_WRONG_ANSWERS)}")
    assert named >= len(FRESH_WRONG_ANSWERS) - len(FIRST_RUN_UNNAMED)
