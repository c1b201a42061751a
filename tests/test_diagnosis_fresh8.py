"""Fresh set 8 of typical wrong answers for the layer exercises' checks (issue 17, section 3).

Protocol. Written by a helper session that the lead started for this one job, on its own branch
(fresh8), from the brief alone. Its sources: the solved notebooks 02-07 and 10 (the exercise text and
the nbgrader solution cells), the student copies (the skeletons a student fills in),
tests/notebook_answers.py, tests/exercise_helpers.py and scratchcnn.py. It did NOT read how the
checks diagnose (course_machinery/checks/diagnosis.py, the mutation tables, the check framework),
nor the earlier fresh sets, tests/test_diagnosis*.py or tests/test_mutation.py; it called no check
and did not run this file. It was committed before its first run: the lead runs it once and judges
each message by hand (FIRST_RUN below is filled in then, not before).

What it holds: 55 entries over the 26 exercises whose checks take whole layers (2 each, 3 for
conv2d_backward_by_correlation, stable_softmax and batchnorm2d_running_statistics), each ONE typical
mistake a real student makes while deriving and coding the exercise, the common ones included: a
flipped or unflipped kernel, the stride or the padding left out of one place, windows overwritten
instead of summed, a statistic over the wrong axis or from the wrong array, a missing or extra 1/N,
a missing term or factor, a step taken in the wrong order, a reshape where a transpose belongs.
27 are written as a student's own whole function ("source": the skeleton filled in differently from
the solution, with the slip inside; executed in the notebook's namespace), 28 as the solution with
one piece of text replaced ("edit", like notebook_answers.mutated). A throwaway script (in /tmp, not
kept) compared each answer with the notebook's solution on small random inputs of its own: every
answer runs, and every one differs from the solution on some of them; one (the dilate edit, index 11)
returns the wrong shape, none raises. Some are wrong only on some inputs, as the slip implies: with
stride > 1 (indexes 1, 13, 17), overlapping windows (4), padding > 0 (7), N > 1 (8, 9), a window of
negative values only (15), stride != kernel_size (16), s > 1 (10, 11); the missing m / (m - 1)
(index 50) is a change of 1/(m - 1), small for large m.

An entry: (notebook, exercise, how, mistake, words)
  how      ("edit", old, new[, count]) or ("source", full function text)
  mistake  the actual mistake in plain words: what a good message must get across
  words    words a message naming the mistake might hold (a hint for the judge, not a test)
"""
import pytest

from exercise_helpers import answer_ids, assert_rejected_with_words, first_run_named

FRESH_WRONG_ANSWERS = [
    # ---------------------------------------------------------------- 02 conv2d_single
    ("02", "conv2d_single", ("source", """
        def conv2d_single(image, kernel, stride=1, padding=0):
            kh, kw = kernel.shape
            img = np.pad(image, ((padding, padding), (padding, padding)))
            rows = (img.shape[0] - kh) // stride + 1
            cols = (img.shape[1] - kw) // stride + 1
            result = np.zeros((rows, cols))
            flipped = kernel[::-1, ::-1]
            for i in range(rows):
                for j in range(cols):
                    r, c = i * stride, j * stride
                    result[i, j] = (img[r:r + kh, c:c + kw] * flipped).sum()
            return result
        """),
     "the kernel is flipped (rotated 180 degrees, a textbook convolution), where the course's layer "
     "slides the kernel as it is (cross-correlation)",
     ("flip",)),
    ("02", "conv2d_single",
     ("edit", "padded[stride * y:stride * y + k, stride * x:stride * x + k]", "padded[y:y + k, x:x + k]"),
     "the windows start at (y, x) instead of (stride*y, stride*x): the stride is left out of the window's "
     "position (the output size does use it), so with stride > 1 the windows crowd the top-left corner",
     ("stride",)),
    # ---------------------------------------------------------------- 02 conv2d_forward_loops
    ("02", "conv2d_forward_loops", ("source", """
        def conv2d_forward_loops(x, W, b, stride=1, padding=0):
            N, C, H, Wd = x.shape
            F, _, kh, kw = W.shape
            x_p = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
            Ho = (H + 2 * padding - kh) // stride + 1
            Wo = (Wd + 2 * padding - kw) // stride + 1
            y = np.zeros((N, F, Ho, Wo))
            for i in range(Ho):
                for j in range(Wo):
                    region = x_p[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]   # (N, C, kh, kw)
                    for f in range(F):
                        y[:, f, i, j] = (region * W[f]).mean(axis=(1, 2, 3)) + b[f]
            return y
        """),
     "each output is the MEAN of the window's products (divided by C*k*k) instead of their sum",
     ("mean", "sum")),
    ("02", "conv2d_forward_loops",
     ("edit", "np.sum(patch * W[f]) + b[f]", "np.sum(patch * W[f] + b[f])"),
     "the bias is added inside the sum, to each of the C*k*k products, so it counts C*k*k times "
     "instead of once per output",
     ("bias",)),
    # ---------------------------------------------------------------- 03 col2im_loops
    ("03", "col2im_loops", ("source", """
        def col2im_loops(cols, x_shape, k, s=1, p=0):
            N, C, H, W = x_shape
            Hp, Wp = H + 2 * p, W + 2 * p
            out_h = (Hp - k) // s + 1
            out_w = (Wp - k) // s + 1
            img = np.zeros((N, C, Hp, Wp))
            col = 0
            for n in range(N):
                for y in range(out_h):
                    for x in range(out_w):
                        patch = cols[:, col].reshape(C, k, k)
                        img[n, :, y * s:y * s + k, x * s:x * s + k] = patch
                        col += 1
            if p > 0:
                img = img[:, :, p:-p, p:-p]
            return img
        """),
     "overlapping windows overwrite each other (=) instead of adding up (+=): a pixel that lies in "
     "several windows keeps only the last window's value",
     ("overlap", "add")),
    ("03", "col2im_loops",
     ("edit", "row = c * k * k + i * k + j", "row = c * k * k + j * k + i"),
     "the row of a column entry swaps the kernel's row and column offsets (j*k + i instead of i*k + j): "
     "each window is put back transposed",
     ("transpos",)),
    # ---------------------------------------------------------------- 03 conv_backward_single
    ("03", "conv_backward_single", ("source", """
        def conv_backward_single(image, kernel, dout, stride=1, padding=0):
            k = kernel.shape[0]
            xp = np.pad(image, padding)
            dxp = np.zeros(xp.shape)
            dk = np.zeros(kernel.shape)
            H_out, W_out = dout.shape
            for i in range(H_out):
                for j in range(W_out):
                    top, left = i * stride, j * stride
                    window = xp[top:top + k, left:left + k]
                    dk += window * dout[i, j]
                    dxp[top:top + k, left:left + k] += kernel[::-1, ::-1] * dout[i, j]
            H, W = image.shape
            return dxp[padding:padding + H, padding:padding + W], dk
        """),
     "the input gradient scatters the flipped kernel: each window's share is dout[u, v] times the "
     "kernel as it is, not rotated",
     ("flip",)),
    ("03", "conv_backward_single",
     ("edit", "return dpadded[p:p + image.shape[0], p:p + image.shape[1]], dkernel",
      "return dpadded[:image.shape[0], :image.shape[1]], dkernel"),
     "the padding is cut off only at the bottom and right: the crop starts at 0 instead of p, so the "
     "input gradient is shifted by p rows and columns",
     ("padding",)),
    # ---------------------------------------------------------------- 03 conv2d_backward_loops
    ("03", "conv2d_backward_loops", ("source", """
        def conv2d_backward_loops(x, W, dout, stride=1, padding=0):
            N, C, H, Win = x.shape
            F, _, KH, KW = W.shape
            xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
            dxp = np.zeros(xp.shape)
            dW = np.zeros(W.shape)
            _, _, Ho, Wo = dout.shape
            for n in range(N):
                for i in range(Ho):
                    for j in range(Wo):
                        r, c = i * stride, j * stride
                        for f in range(F):
                            g = dout[n, f, i, j]
                            dW[f] += g * xp[n, :, r:r + KH, c:c + KW]
                            dxp[n, :, r:r + KH, c:c + KW] += g * W[f]
            db = dout.sum(axis=(0, 2, 3)) / N
            return dxp[:, :, padding:padding + H, padding:padding + Win], dW, db
        """),
     "the bias gradient is divided by the batch size N (a mean over the batch) instead of summed",
     ("bias", "batch")),
    ("03", "conv2d_backward_loops",
     ("edit", "    for n in range(N):\n        for f in range(W.shape[0]):",
      "    for n in range(N):\n        dW = np.zeros(W.shape)\n        for f in range(W.shape[0]):"),
     "dW is reset to zero for every example (its initialisation moved into the batch loop), so only the "
     "last example's share is returned instead of the sum over the batch",
     ("batch", "last")),
    # ---------------------------------------------------------------- 03 dilate
    ("03", "dilate", ("source", """
        def dilate(G, s):
            N, F, h, w = G.shape
            out = np.repeat(np.repeat(G, s, axis=2), s, axis=3)
            return out[:, :, :s * (h - 1) + 1, :s * (w - 1) + 1]
        """),
     "the gaps between the spread values are filled with copies of the values (np.repeat) instead of "
     "zeros",
     ("zero",)),
    ("03", "dilate",
     ("edit", "s * (H_out - 1) + 1, s * (W_out - 1) + 1", "s * H_out, s * W_out"),
     "s - 1 zeros are put after the last row and column too: the shape is s*H_out instead of "
     "s*(H_out - 1) + 1 (trailing zeros, wrong shape)",
     ("shape",)),
    # ---------------------------------------------------------------- 03 conv2d_backward_by_correlation
    ("03", "conv2d_backward_by_correlation",
     ("edit", "W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)", "W.transpose(1, 0, 2, 3)"),
     "the input gradient correlates the padded, dilated dout with the kernel unflipped; the full "
     "correlation needs the kernel rotated by 180 degrees",
     ("flip",)),
    ("03", "conv2d_backward_by_correlation",
     ("edit", "G = dilate(dout, stride)", "G = dout"),
     "dout is not dilated (no stride - 1 zeros between its values) before the correlations, so with "
     "stride > 1 both dW and dx come out wrong",
     ("dilat",)),
    ("03", "conv2d_backward_by_correlation", ("source", """
        def conv2d_backward_by_correlation(x, W, dout, stride=1, padding=0):
            F, C, k, _ = W.shape
            N, _, H, Wd = x.shape
            p = padding
            xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
            g = dilate(dout, stride)
            # weight gradient: correlate each input channel with each output gradient, over the batch
            dW = correlate_valid(xp.transpose(1, 0, 2, 3), g.transpose(1, 0, 2, 3))   # (C, F, ., .)
            dW = dW[:, :, :k, :k][:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
            # input gradient: full correlation of g with the flipped kernel
            g_full = np.pad(g, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))
            flipped = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
            dxp = correlate_valid(g_full, flipped)
            full = np.zeros((N, C, H + 2 * p, Wd + 2 * p))
            full[:, :, :dxp.shape[2], :dxp.shape[3]] = dxp
            db = dout.sum(axis=(0, 2, 3))
            return full[:, :, p:p + H, p:p + Wd], dW, db
        """),
     "dW is flipped (rotated 180 degrees): the weight gradient is the plain correlation of the padded "
     "input with the dilated dout, with no flip (only dx needs the flipped kernel)",
     ("flip",)),
    # ---------------------------------------------------------------- 04 maxpool_forward
    ("04", "maxpool_forward", ("source", """
        def maxpool_forward(x, kernel_size, stride):
            N, C, H, W = x.shape
            k, s = kernel_size, stride
            Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
            out = np.zeros((N, C, Ho, Wo))
            for di in range(k):
                for dj in range(k):
                    shifted = x[:, :, di:di + s * (Ho - 1) + 1:s, dj:dj + s * (Wo - 1) + 1:s]
                    out = np.maximum(out, shifted)
            return out
        """),
     "the running maximum starts from zeros instead of -inf (or the window's first value): a window "
     "whose values are all negative gives 0",
     ("negative", "zero")),
    ("04", "maxpool_forward",
     ("edit", "window = x[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]",
      "window = x[n, c, y * stride:y * stride + stride, x_ * stride:x_ * stride + stride]"),
     "the window is stride wide instead of kernel_size wide (the two agree only when they are equal)",
     ("kernel_size", "window")),
    # ---------------------------------------------------------------- 04 maxpool_backward
    ("04", "maxpool_backward", ("source", """
        def maxpool_backward(x, dout, kernel_size, stride):
            grad = np.zeros(x.shape)
            N, C, Hp, Wp = dout.shape
            for n in range(N):
                for c in range(C):
                    for i in range(Hp):
                        for j in range(Wp):
                            r0, c0 = i * stride, j * stride
                            patch = x[n, c, r0:r0 + kernel_size, c0:c0 + kernel_size]
                            a, b = np.unravel_index(patch.argmax(), patch.shape)
                            grad[n, c, i + a, j + b] += dout[n, c, i, j]
            return grad
        """),
     "the gradient goes to (i + a, j + b), the winner's offset added to the OUTPUT index, instead of "
     "(i*stride + a, j*stride + b): the window's start forgets the stride",
     ("stride",)),
    ("04", "maxpool_backward",
     ("edit", "dx[n, c, y * stride + i, x_ * stride + j] += dout[n, c, y, x_]",
      "dx[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size] "
      "+= dout[n, c, y, x_] / kernel_size ** 2"),
     "the gradient is shared evenly over the whole window (average pooling's backward) instead of all "
     "going to the window's maximum",
     ("max", "average")),
    # ---------------------------------------------------------------- 05 stable_softmax
    ("05", "stable_softmax", ("source", """
        def stable_softmax(logits):
            m = np.max(logits, axis=0, keepdims=True)
            e = np.exp(logits - m)
            return e / np.sum(e, axis=1, keepdims=True)
        """),
     "the shift subtracts each COLUMN's max (axis=0) instead of each row's: within a row the entries "
     "get different constants, which changes the softmax",
     ("axis", "row")),
    ("05", "stable_softmax",
     ("edit", "exps / exps.sum(axis=1, keepdims=True)", "exps / exps.sum(axis=0, keepdims=True)"),
     "normalised over the batch (each column sums to 1) instead of each row over its classes",
     ("axis", "row")),
    ("05", "stable_softmax", ("source", """
        def stable_softmax(logits):
            top = logits.max(axis=1, keepdims=True)
            numerator = np.exp(logits - top)
            denominator = np.sum(np.exp(logits), axis=1, keepdims=True)
            return numerator / denominator
        """),
     "the max is subtracted in the numerator only; the denominator sums the unshifted exponentials, so "
     "each row is off by the factor exp(-max) (and still overflows for large logits)",
     ("max", "denominator")),
    # ---------------------------------------------------------------- 05 softmax_cross_entropy
    ("05", "softmax_cross_entropy", ("source", """
        def softmax_cross_entropy(logits, labels):
            z = logits - np.max(logits, axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            n = logits.shape[0]
            loss = -np.mean(np.log(p[np.arange(n), labels]))
            grad = p.copy()
            grad[np.arange(n), labels] -= 1
            return loss, grad
        """),
     "the gradient is not divided by N: the loss is the batch mean, so dlogits = (p - onehot) / N",
     ("N", "mean")),
    ("05", "softmax_cross_entropy",
     ("edit", "dlogits[np.arange(N), labels] -= 1", "dlogits[:, labels] -= 1"),
     "1 is subtracted in the label columns of EVERY row (dlogits[:, labels]) instead of only at each "
     "row's own label (dlogits[np.arange(N), labels])",
     ("label", "row")),
    # ---------------------------------------------------------------- 06 dense_backward
    ("06", "dense_backward", ("source", """
        def dense_backward(x, W, dout):
            N = x.shape[0]
            grad_W = np.dot(x.T, dout) / N
            grad_b = np.sum(dout, axis=0) / N
            grad_x = np.dot(dout, W.T)
            return grad_x, grad_W, grad_b
        """),
     "dW and db are divided by the batch size N, though dout already carries the 1/N of the mean loss",
     ("N", "batch")),
    ("06", "dense_backward",
     ("edit", "dW = x.T @ dout", "dW = np.outer(x.sum(axis=0), dout.sum(axis=0))"),
     "dW is the outer product of the batch sums of x and dout, instead of the sum over the batch of "
     "each example's outer product (x.T @ dout)",
     ("outer", "batch")),
    # ---------------------------------------------------------------- 06 relu_backward
    ("06", "relu_backward", ("source", """
        def relu_backward(x, dout):
            dx = dout.copy()
            dx[dout <= 0] = 0
            return dx
        """),
     "the mask is taken from dout (where the incoming gradient is positive) instead of from the input x",
     ("mask", "x")),
    ("06", "relu_backward",
     ("edit", "dout * (x > 0)", "dout * np.maximum(x, 0)"),
     "dout is multiplied by ReLU(x), the forward output, instead of by the step 1[x > 0], ReLU's "
     "derivative",
     ("step", "derivative")),
    # ---------------------------------------------------------------- 06 two_layer_backward
    ("06", "two_layer_backward", ("source", """
        def two_layer_backward(x, W1, b1, W2, b2, labels):
            n = x.shape[0]
            hidden = np.maximum(0, x.dot(W1) + b1)
            out = hidden.dot(W2) + b2
            out = out - out.max(axis=1, keepdims=True)
            probs = np.exp(out)
            probs /= probs.sum(axis=1, keepdims=True)
            d_out = probs
            d_out[range(n), labels] -= 1
            d_out /= n
            grad_W2 = hidden.T.dot(d_out)
            grad_b2 = d_out.sum(axis=0)
            d_hidden = d_out.dot(W2.T)
            grad_W1 = x.T.dot(d_hidden)
            grad_b1 = d_hidden.sum(axis=0)
            return grad_W1, grad_b1, grad_W2, grad_b2
        """),
     "the backward pass skips the ReLU: the gradient reaching the first layer is dh, without the mask "
     "z > 0, so units that were off still pass gradient into dW1 and db1",
     ("ReLU", "mask")),
    ("06", "two_layer_backward",
     ("edit", "dW2, db2 = h.T @ dscores,", "dW2, db2 = z.T @ dscores,"),
     "dW2 uses the hidden layer BEFORE the ReLU (z) instead of its output h, the second layer's input",
     ("ReLU", "h")),
    # ---------------------------------------------------------------- 07 sgd_momentum_step
    ("07", "sgd_momentum_step", ("source", """
        def sgd_momentum_step(weights, gradient, velocity, lr, momentum):
            step = lr * velocity
            velocity = momentum * velocity + gradient
            return weights - step, velocity
        """),
     "the weights move with the OLD velocity (the step is taken before the velocity is updated), so "
     "this step's gradient arrives one step late",
     ("velocity", "old")),
    ("07", "sgd_momentum_step",
     ("edit", "momentum * velocity + gradient", "momentum * velocity + (1 - momentum) * gradient"),
     "the gradient is scaled by (1 - momentum) (an exponential average, dampening), where the course's "
     "momentum adds the gradient itself",
     ("1 - momentum",)),
    # ---------------------------------------------------------------- 07 adam_step
    ("07", "adam_step", ("source", """
        def adam_step(weights, gradient, m, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
            m_new = beta1 * m + (1 - beta1) * gradient
            s_new = beta2 * s + (1 - beta2) * gradient * gradient
            update = lr * m_new / (np.sqrt(s_new) + eps)
            return weights - update, m_new, s_new
        """),
     "no bias correction: m and s are used without dividing by 1 - beta1**t and 1 - beta2**t",
     ("bias correction",)),
    ("07", "adam_step",
     ("edit", "(np.sqrt(s_hat) + eps), m, s", "(np.sqrt(s_hat) + eps), m_hat, s_hat"),
     "the bias-corrected moments m_hat, s_hat are returned as the new state instead of the raw averages "
     "m, s (the correction then compounds from step to step)",
     ("corrected", "m_hat")),
    # ---------------------------------------------------------------- 10 batchnorm_forward
    ("10", "batchnorm_forward", ("source", """
        def batchnorm_forward(x, gamma, beta, eps):
            mu = np.mean(x, axis=0)
            sigma2 = np.var(x, axis=0, ddof=1)
            return gamma * (x - mu) / np.sqrt(sigma2 + eps) + beta
        """),
     "the batch variance is the unbiased one (divided by N - 1, ddof=1) instead of the population "
     "variance (divided by N) that training-mode batch norm normalises with",
     ("N - 1", "unbiased")),
    ("10", "batchnorm_forward",
     ("edit", "(x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)", "(x - x.mean()) / np.sqrt(x.var() + eps)"),
     "one mean and one variance over the whole batch and all features instead of one per feature "
     "(axis=0)",
     ("feature", "axis")),
    # ---------------------------------------------------------------- 10 batchnorm_backward
    ("10", "batchnorm_backward", ("source", """
        def batchnorm_backward(dout, x, gamma, eps):
            N = x.shape[0]
            mu = np.mean(x, axis=0)
            var = np.var(x, axis=0)
            std = np.sqrt(var + eps)
            xhat = (x - mu) / std
            dbeta = np.sum(dout, axis=0)
            dgamma = np.sum(dout * xhat, axis=0)
            dx = (N * dout - dbeta - xhat * dgamma) / (N * std)
            return dx, dgamma, dbeta
        """),
     "dx lacks the factor gamma (the gradient passes through y = gamma * x_hat + beta first)",
     ("gamma",)),
    ("10", "batchnorm_backward",
     ("edit", "(dout - dout.mean(axis=0) - x_hat", "(dout - x_hat"),
     "the term -mean(dout), the gradient through the batch mean, is missing from dx",
     ("mean",)),
    # ---------------------------------------------------------------- 10 residual_backward
    ("10", "residual_backward", ("source", """
        def residual_backward(x, W, dout):
            pre = x.dot(W)
            mask = (pre > 0).astype(float)
            g = dout * mask
            dW = x.T.dot(g)
            dx = g.dot(W.T)
            return dx, dW
        """),
     "the skip path's gradient is missing: dx must add dout itself (the identity path) to "
     "(dout * mask) @ W.T",
     ("skip", "identity")),
    ("10", "residual_backward",
     ("edit", "dout * (x @ W > 0)", "dout * (x > 0)"),
     "the ReLU mask is taken from the block's input x instead of from the ReLU's input x @ W",
     ("mask", "x @ W")),
    # ---------------------------------------------------------------- 10 rmsprop_step
    ("10", "rmsprop_step", ("source", """
        def rmsprop_step(weights, gradient, mean_square, lr, alpha, eps):
            step = lr * gradient / (np.sqrt(mean_square) + eps)
            new_ms = alpha * mean_square + (1 - alpha) * gradient ** 2
            return weights - step, new_ms
        """),
     "the step divides by the OLD mean square (wrong order): the new mean square, with this gradient "
     "in it, must be computed first",
     ("mean square", "old")),
    ("10", "rmsprop_step",
     ("edit", "alpha * mean_square + (1 - alpha) * gradient ** 2", "(1 - alpha) * mean_square + alpha * gradient ** 2"),
     "alpha and 1 - alpha are swapped: the old mean square gets 1 - alpha and the new squared gradient "
     "gets alpha",
     ("alpha",)),
    # ---------------------------------------------------------------- 10 layernorm_forward
    ("10", "layernorm_forward", ("source", """
        def layernorm_forward(x, gamma, beta, eps):
            mean = x.mean(axis=0, keepdims=True)
            var = ((x - mean) ** 2).mean(axis=0, keepdims=True)
            normed = (x - mean) / np.sqrt(var + eps)
            return normed * gamma + beta
        """),
     "the statistics are per feature over the batch (axis=0, batch norm's axis) instead of per example "
     "over its own features (axis=1)",
     ("axis",)),
    ("10", "layernorm_forward",
     ("edit", "np.sqrt(x.var(axis=1, keepdims=True) + eps)", "np.sqrt((x ** 2).mean(axis=1, keepdims=True) + eps)"),
     "the mean square of x is used instead of the variance: not centred, the mean is not subtracted "
     "before squaring",
     ("centred", "variance")),
    # ---------------------------------------------------------------- 10 layernorm_backward
    ("10", "layernorm_backward", ("source", """
        def layernorm_backward(dout, x, gamma, eps):
            D = x.shape[1]
            mu = x.mean(axis=1, keepdims=True)
            sigma = np.sqrt(x.var(axis=1, keepdims=True) + eps)
            xn = (x - mu) / sigma
            dgamma = np.sum(dout * xn, axis=0)
            dbeta = np.sum(dout, axis=0)
            dx = gamma / sigma * (dout - dout.sum(axis=1, keepdims=True) / D
                                  - xn * (dout * xn).sum(axis=1, keepdims=True) / D)
            return dx, dgamma, dbeta
        """),
     "gamma multiplies the whole bracket (its place in batch norm) instead of going in with dout: in "
     "layer norm gamma varies along the normalised axis, so the means must be of h = gamma * dout",
     ("gamma",)),
    ("10", "layernorm_backward",
     ("edit", "h - h.mean(axis=1, keepdims=True)", "h - h.mean(axis=0, keepdims=True)"),
     "the mean of h is taken over the batch (axis=0) instead of over each example's features (axis=1)",
     ("axis",)),
    # ---------------------------------------------------------------- 10 batchnorm2d_forward
    ("10", "batchnorm2d_forward", ("source", """
        def batchnorm2d_forward(x, gamma, beta, eps):
            N, C, H, W = x.shape
            flat = x.reshape(-1, C)
            mu = flat.mean(axis=0)
            var = flat.var(axis=0)
            y = gamma * (flat - mu) / np.sqrt(var + eps) + beta
            return y.reshape(N, C, H, W)
        """),
     "x is reshaped to (N H W, C) without first moving the channels last, so each column mixes values "
     "of different channels and positions",
     ("transpose", "channel")),
    ("10", "batchnorm2d_forward",
     ("edit", "return out.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "return out.reshape(N, C, H, W)"),
     "the result goes back to (N, C, H, W) with a plain reshape instead of reshaping to (N, H, W, C) and "
     "moving the channels back: values land in the wrong channels and pixels",
     ("transpose",)),
    # ---------------------------------------------------------------- 10 batchnorm2d_running_statistics
    ("10", "batchnorm2d_running_statistics", ("source", """
        def batchnorm2d_running_statistics(x, running_mean, running_var, momentum):
            N = x.shape[0]
            batch_mean = x.mean(axis=(0, 2, 3))
            batch_var = x.var(axis=(0, 2, 3)) * N / (N - 1)
            new_mean = momentum * batch_mean + (1 - momentum) * running_mean
            new_var = momentum * batch_var + (1 - momentum) * running_var
            return new_mean, new_var
        """),
     "the unbiased factor uses m = N, the batch size, instead of m = N*H*W, the number of values each "
     "channel's variance is taken over",
     ("N H W", "m")),
    ("10", "batchnorm2d_running_statistics",
     ("edit", "(1 - momentum) * running_mean + momentum * mean\n    new_var = (1 - momentum) * running_var + momentum * var",
      "momentum * running_mean + (1 - momentum) * mean\n    new_var = momentum * running_var + (1 - momentum) * var"),
     "momentum and 1 - momentum are swapped (Keras' convention): the running statistics keep the share "
     "momentum and the batch gets 1 - momentum",
     ("momentum",)),
    ("10", "batchnorm2d_running_statistics",
     ("edit", "momentum * var * m / (m - 1)", "momentum * var"),
     "the running variance takes the biased batch variance: the factor m / (m - 1) is missing",
     ("unbiased", "m - 1")),
    # ---------------------------------------------------------------- 10 batchnorm_eval
    ("10", "batchnorm_eval", ("source", """
        def batchnorm_eval(dout, x, gamma, beta, running_mean, running_var, eps):
            mu, var = x.mean(axis=0), x.var(axis=0)
            scale = gamma / np.sqrt(var + eps)
            out = scale * (x - mu) + beta
            dx = dout * scale
            return out, dx
        """),
     "eval mode normalises with the batch's own mean and variance instead of the running statistics",
     ("running",)),
    ("10", "batchnorm_eval",
     ("edit", "return out, gamma * dout * inv_std", "return out, gamma * inv_std * (dout - dout.mean(axis=0))"),
     "dx keeps the training-mode term -mean(dout); in eval mode the mean and variance are constants, so "
     "dx = gamma * dout / sqrt(running_var + eps) only",
     ("constant", "mean")),
    # ---------------------------------------------------------------- 10 batchnorm_backward_staged
    ("10", "batchnorm_backward_staged", ("source", """
        def batchnorm_backward_staged(dout, x, gamma, eps):
            _, nodes = batchnorm_forward_staged(x, gamma, 0, eps)
            c, s, r, x_hat = nodes["c"], nodes["s"], nodes["r"], nodes["x_hat"]
            N = x.shape[0]
            dbeta = np.sum(dout, axis=0)
            dgamma = np.sum(dout * x_hat, axis=0)
            dxhat = dout * gamma
            dr = np.sum(dxhat * c, axis=0)
            dc1 = dxhat * r
            ds = -dr / (s * s)
            dv = ds * 0.5 / s
            dc = dc1
            dmu = -np.sum(dc, axis=0)
            dx = dc + dmu / N
            return dx, dgamma, dbeta
        """),
     "c's second share, through the variance (2 c / m * dL/dv), is left out: dL/dc is only the first "
     "share dL/dx_hat * r (dv is computed but never used)",
     ("share", "variance")),
    ("10", "batchnorm_backward_staged",
     ("edit", "dv = ds / (2 * s)", "dv = ds / 2 * s"),
     "step 4's local derivative 1/(2s) is written ds / 2 * s, which multiplies by s instead of dividing "
     "(operator precedence)",
     ("step 4", "2s")),
]


# The first run (commit cae4c28: the code of a22f09f, after the tuning on sets 6 and 7; run once, each message
# read and judged by hand against the entry's plain-words mistake): 55 of 55 rejected, 0 accepted. 52 of the 55
# messages (95%) named the actual mistake: 34 by a listed Mistake, 18 by the framework's diagnosis (7 of them
# with "the slip" of checks/mutation.py; for 16, 19, 20 and 39 the slip was the only naming sentence).
# Borderline, counted named: 9 (dW reset for every image: "right on every case with a batch of one ... images
# overwriting each other (= where += belongs)"), 35 (one mean and variance for everything: "the mean and
# variance taken over the wrong axis, or over the wrong groups of values?") and 46 (the reshape without moving
# the channels last: "x's axis 1 (its channels) handled wrongly ... its entries mixed with one another", and the
# hint "move the channels last"). Strictly, without those 3: 49 of 55 (89%). The 3 unnamed (FIRST_RUN_UNNAMED):
#    4 col2im with = where += belongs, in the student's own loops: the failing case and its hint only (the
#      listed mistake, written another way, overwrites in another order);
#   18 max-pool backward sharing the gradient over the window (average pooling's): the hint only;
#   25 dW as the outer product of the batch sums of x and dout: "dW wrong" only.
# Here the words each message held when it named the mistake; None: not named.
FIRST_RUN = {
    0: ["the kernel flipped"], 1: ["the window at (y, x) instead of (s*y, s*x)"],
    2: ["`np.mean(patch * W[f]) + b[f]` in place of `np.sum(patch * W[f]) + b[f]`"],
    3: ["b added 27 times instead of once"], 4: None, 5: ["i and j swapped in the row index"],
    6: ["the kernel flipped in dimage"], 7: ["`0` in place of `p` (each time)"],
    8: ["db is 0.5 times the right value", "1/N = 1/2"], 9: ["images overwriting each other"],
    10: ["values written where zeros belong"], 11: ["s - 1 zeros after the last entry too"],
    12: ["not flipped"], 13: ["the gradient not dilated"], 14: ["dw is the right values flipped along axis 2 and 3"],
    15: ["the running maximum started at 0"], 16: ["`stride` in place of `kernel_size` (each time)"],
    17: ["the stride left out of dx's index"], 18: None,
    19: ["`logits.max(axis=0, keepdims=True)` in place of `logits.max(axis=1, keepdims=True)`"],
    20: ["`exps / exps.sum(axis=0, keepdims=True)` in place of `exps / exps.sum(axis=1, keepdims=True)`"],
    21: ["exp(-the maximum of logits)"], 22: ["the 1/n missing"],
    23: ["p[:, labels] -= 1 instead of p[np.arange(n), labels] -= 1"], 24: ["dw and db divided by the batch size n"],
    25: None, 26: ["the mask built from dout"], 27: ["dout multiplied by the relu's output"],
    28: ["no relu mask in the backward pass"], 29: ["dw2 from the pre-activation z"],
    30: ["the weights moved with the old velocity"], 31: ["the moving-average form"],
    32: ["no bias correction"], 33: ["the bias-corrected m_hat and s_hat returned"], 34: ["the sample variance"],
    35: ["the mean and variance taken over the wrong axis, or over the wrong groups of values"],
    36: ["gamma left out of dx"], 37: ["missing the mean's term"], 38: ["forgetting the skip path"],
    39: ["`dout * (x > 0)` in place of `dout * (x @ w > 0)`"], 40: ["the old mean square used in the weight update"],
    41: ["alpha and 1 - alpha swapped"], 42: ["statistics over the batch (axis 0, batch norm)"],
    43: ["`(x ** 2).mean(axis=1, keepdims=True) + eps` in place of `x.var(axis=1, keepdims=True) + eps`"],
    44: ["gamma outside the means"], 45: ["mean(g) over the batch (axis 0)"],
    46: ["x's axis 1 (its channels) handled wrongly"], 47: ["a reshape where a transpose belongs?"],
    48: ["m = n (the number of images)"], 49: ["momentum as the weight of the old running value"],
    50: ["the population variance in the running variance"], 51: ["the batch's statistics instead of the running ones"],
    52: ["dx is centred over axis 0 (its own mean subtracted)"], 53: ["forgetting c's second share"],
    54: ["dvar with the power -1/2"],
}
FIRST_RUN_UNNAMED = {4, 18, 25}
# Named since (tuning on this set, not a measurement): average pooling's backward, now a listed mistake.
NAMED_SINCE = {18: ["the gradient shared evenly over the window"]}


@pytest.mark.parametrize("entry", FRESH_WRONG_ANSWERS, ids=answer_ids(FRESH_WRONG_ANSWERS))
def test_a_fresh_wrong_answer_fails_and_its_message_names_the_mistake(entry):
    assert_rejected_with_words(FRESH_WRONG_ANSWERS, entry, FIRST_RUN, NAMED_SINCE)


def test_the_first_run_rate(capsys):
    with capsys.disabled():
        named = first_run_named("fresh set 8", FRESH_WRONG_ANSWERS, FIRST_RUN, FIRST_RUN_UNNAMED, NAMED_SINCE)
    assert named / len(FRESH_WRONG_ANSWERS) >= 0.9
