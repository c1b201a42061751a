"""Fresh set 7 of typical wrong answers for the whole-layer exercises' checks (issue 17, section 3).

Protocol. A helper session wrote this set from the exercise text and the solution cells of the solved notebooks
02-07 and 10, the student copies' skeletons, tests/notebook_answers.py and tests/exercise_helpers.py. It did not
read course_machinery/checks (the diagnosis, the mutation tables, the framework), tests/test_mutation.py or any
earlier tests/test_diagnosis*.py set, and it never called a check or ran this file: it has not seen a single
message. Its only test of the answers was a throwaway script that compared each one with the notebook's solution
on small random inputs of its own: every answer runs without raising on ordinary inputs and differs from the
solution on some of them, except the in-place rmsprop_step, whose values are right but which changes the array it
was given; one answer (the dilate edit) returns the wrong shape. The set was committed before its first run; the
lead runs it once and judges each message by hand (FIRST_RUN).

What it holds: 52 answers, two for each of the 26 exercises whose checks take whole layers. One of each pair is a
student's own function ("source": the skeleton filled in another way than the solution, other names, loops where
the solution vectorises or the reverse, with one slip inside), the other is the solution with one piece of text
replaced ("edit", as tests/notebook_answers.mutated). The slips are mostly the ones a tired student makes while
coding rather than the textbook misconceptions: an index from the wrong loop variable, a size from the wrong axis,
a loop bound one short, a statement in the wrong place, a variable reused after it was overwritten, the wrong array
in one term, a factor missing or extra in one term, a wrong axis in one reduction, a slip in one of two symmetric
lines, a wrong slice bound, an in-place update of an argument.

An entry: (notebook, exercise, how, mistake, words). how is ("edit", old, new[, count]) or ("source", function
text); mistake says in plain words what a good message must get across; words are words a message naming it
might hold (a guide for the judge, not a requirement).
"""
import pytest

from exercise_helpers import answer_ids, assert_rejected_with_words, first_run_named

FRESH_WRONG_ANSWERS = [
    # ---------------------------------------------------------------- 02: conv2d_single
    ("02", "conv2d_single", ("source", """
        def conv2d_single(image, kernel, stride=1, padding=0):
            k = len(kernel)
            img = np.pad(image, padding)
            rows = (img.shape[0] - k) // stride + 1
            cols = (img.shape[1] - k) // stride + 1
            result = np.zeros((rows, cols))
            for i in range(k):
                for j in range(k):
                    result += kernel[j, i] * img[i:i + stride * rows:stride, j:j + stride * cols:stride]
            return result
        """),
     "the kernel is indexed kernel[j, i] instead of kernel[i, j]: the image is correlated with the transposed "
     "kernel",
     ("kernel", "transpose")),
    ("02", "conv2d_single", ("edit", "padded[stride * y:stride * y + k, stride * x:stride * x + k]",
                             "padded[stride * y:stride * y + k, x:x + k]"),
     "the stride is applied to the rows only: along the columns the window moves one pixel at a time, so with "
     "stride > 1 the columns of the output are read from the wrong places",
     ("stride", "column")),

    # ---------------------------------------------------------------- 02: conv2d_forward_loops
    ("02", "conv2d_forward_loops", ("source", """
        def conv2d_forward_loops(x, W, b, stride=1, padding=0):
            N, C, H, W_in = x.shape
            F, _, kh, kw = W.shape
            xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
            H_out = (H + 2 * padding - kh) // stride + 1
            W_out = (W_in + 2 * padding - kw) // stride + 1
            out = np.zeros((N, F, H_out, W_out))
            for n in range(N):
                for f in range(F):
                    for c in range(C):
                        for i in range(H_out):
                            for j in range(W_out):
                                r, q = i * stride, j * stride
                                out[n, f, i, j] += np.sum(xp[n, c, r:r + kh, q:q + kw] * W[f, c]) + b[f]
            return out
        """),
     "the bias is added inside the loop over input channels, so every output gets C times the bias",
     ("bias", "channel")),
    ("02", "conv2d_forward_loops", ("edit", "for x_ in range(W_out):", "for x_ in range(W_out - 1):"),
     "the loop over output columns stops one short: the last output column is never computed and stays 0",
     ("last", "column")),

    # ---------------------------------------------------------------- 03: col2im_loops
    ("03", "col2im_loops", ("source", """
        def col2im_loops(cols, x_shape, k, s=1, p=0):
            N, C, H, W = x_shape
            Ho = (H + 2 * p - k) // s + 1
            Wo = (W + 2 * p - k) // s + 1
            out = np.zeros((N, C, H + 2 * p, W + 2 * p))
            for n in range(N):
                for u in range(Ho):
                    for v in range(Wo):
                        col = cols[:, (n * Ho + u) * Wo + v]
                        for c in range(C):
                            for i in range(k):
                                for j in range(k):
                                    out[n, c, u * s + i, v * s + j] += col[c * k * k + j * k + i]
            if p > 0:
                out = out[:, :, p:-p, p:-p]
            return out
        """),
     "the row of cols is computed as c*k*k + j*k + i instead of c*k*k + i*k + j: kernel row and column are "
     "swapped, each window's values land transposed",
     ("row", "transpose")),
    ("03", "col2im_loops", ("edit", "row = c * k * k + i * k + j", "row = c * k + i * k + j"),
     "a factor k is missing in the channel's offset of the row (c*k instead of c*k*k): with more than one "
     "channel the rows of different channels overlap and the wrong rows are read",
     ("row", "channel")),

    # ---------------------------------------------------------------- 03: conv_backward_single
    ("03", "conv_backward_single", ("source", """
        def conv_backward_single(image, kernel, dout, stride=1, padding=0):
            k = kernel.shape[0]
            H, W = image.shape
            xp = np.pad(image, padding)
            dxp = np.zeros(xp.shape)
            dk = np.zeros((k, k))
            for u in range(dout.shape[0]):
                for v in range(dout.shape[1]):
                    top, left = u * stride, v * stride
                    dxp[top:top + k, left:left + k] += dout[u, v] * kernel
                    dk += dout[u, v] * dxp[top:top + k, left:left + k]
            return dxp[padding:padding + H, padding:padding + W], dk
        """),
     "the kernel gradient multiplies dout by the window of the input gradient being accumulated (dxp) instead of "
     "the window of the padded input: dkernel is wrong, dimage is right",
     ("kernel", "input")),
    ("03", "conv_backward_single", ("edit", "dkernel += dout[u, v] * padded[s * u:s * u + k, s * v:s * v + k]",
                                    "dkernel += dout[u, v] * padded[u:u + k, v:v + k]"),
     "the stride is left out of the kernel gradient's window (only there; dimage uses it): with stride > 1 "
     "dkernel reads the wrong windows",
     ("stride", "kernel")),

    # ---------------------------------------------------------------- 03: conv2d_backward_loops
    ("03", "conv2d_backward_loops", ("source", """
        def conv2d_backward_loops(x, W, dout, stride=1, padding=0):
            N, C, H, Wd = x.shape
            F, _, k, _ = W.shape
            p, s = padding, stride
            xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
            dxp = np.zeros_like(xp, dtype=float)
            dW = np.zeros_like(W, dtype=float)
            db = dout.sum(axis=(0, 2, 3))
            _, _, Ho, Wo = dout.shape
            for n in range(N):
                for i in range(Ho):
                    for j in range(Wo):
                        patch = xp[n, :, i * s:i * s + k, j * s:j * s + k]
                        g = dout[n, :, i, j]
                        dW += g[:, None, None, None] * patch
                        dxp[n, :, i * s:i * s + k, j * s:j * s + k] += np.tensordot(g, W, axes=1)
            dW /= N
            return dxp[:, :, p:p + H, p:p + Wd], dW, db
        """),
     "the weight gradient is divided by the batch size N (averaged over the batch) although dout already "
     "carries the loss's 1/N: dW is N times too small, dx and db are right",
     ("dW", "batch")),
    ("03", "conv2d_backward_loops", ("edit", "dx_pad[window] += dout[n, f, u, v] * W[f]",
                                     "dx_pad[window] += dout[n, f, u, v] * dW[f]"),
     "the input gradient is accumulated with the weight gradient dW[f] (being summed in the same loop) instead "
     "of the weights W[f]",
     ("dx", "weights")),

    # ---------------------------------------------------------------- 03: dilate
    ("03", "dilate", ("source", """
        def dilate(G, s):
            N, F, h, w = G.shape
            out = np.zeros((N, F, (h - 1) * s + 1, (w - 1) * s + 1))
            for a in range(h):
                for e in range(w - 1):
                    out[:, :, a * s, e * s] = G[:, :, a, e]
            return out
        """),
     "the loop over G's columns stops one short: G's last column is never copied and stays 0",
     ("last", "column")),
    ("03", "dilate", ("edit", "np.zeros((N, F, s * (H_out - 1) + 1, s * (W_out - 1) + 1))",
                      "np.zeros((N, F, s * H_out, s * W_out))"),
     "the dilated size is taken as s*H' instead of s*(H'-1)+1: s-1 extra rows and columns of zeros at the end "
     "(wrong shape)",
     ("size", "s * (H' - 1) + 1")),

    # ---------------------------------------------------------------- 03: conv2d_backward_by_correlation
    ("03", "conv2d_backward_by_correlation", ("source", """
        def conv2d_backward_by_correlation(x, W, dout, stride=1, padding=0):
            N, C, H, Wd = x.shape
            F, _, k, _ = W.shape
            p = padding
            xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
            dW = correlate_valid(xp.transpose(1, 0, 2, 3), dout.transpose(1, 0, 2, 3))
            dW = dW.transpose(1, 0, 2, 3)[:, :, :k, :k]
            G = dilate(dout, stride)
            Gp = np.pad(G, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))
            flipped = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
            dxp = correlate_valid(Gp, flipped)
            full = np.zeros((N, C, H + 2 * p, Wd + 2 * p))
            full[:, :, :dxp.shape[2], :dxp.shape[3]] = dxp
            db = dout.sum(axis=(0, 2, 3))
            return full[:, :, p:p + H, p:p + Wd], dW, db
        """),
     "dW is computed from the undilated dout (dilate is applied only for dx): with stride > 1 dW is wrong",
     ("dW", "dilate")),
    ("03", "conv2d_backward_by_correlation", ("edit", "W[:, :, ::-1, ::-1]", "W[:, :, ::-1, :]"),
     "the kernel is flipped along its rows only, not its columns, in the full correlation for dx",
     ("dx", "flip")),

    # ---------------------------------------------------------------- 04: maxpool_forward
    ("04", "maxpool_forward", ("source", """
        def maxpool_forward(x, kernel_size, stride):
            N, C, H, W = x.shape
            k, s = kernel_size, stride
            out = np.zeros((N, C, (H - k) // s + 1, (W - k) // s + 1))
            for top in range(0, H - k + 1, s):
                for left in range(0, W - k, s):
                    out[:, :, top // s, left // s] = x[:, :, top:top + k, left:left + k].max(axis=(2, 3))
            return out
        """),
     "the range over window starts along the columns stops at W - k instead of W - k + 1: when (W - k) is a "
     "multiple of the stride the last output column is never computed and stays 0",
     ("last", "column")),
    ("04", "maxpool_forward", ("edit", "y * stride:y * stride + kernel_size,",
                               "y * stride:y * stride + kernel_size - 1,"),
     "the window's row slice ends one early (kernel_size - 1 rows): the window's last row is left out of the max",
     ("window", "row")),

    # ---------------------------------------------------------------- 04: maxpool_backward
    ("04", "maxpool_backward", ("source", """
        def maxpool_backward(x, dout, kernel_size, stride):
            k, s = kernel_size, stride
            dx = np.zeros_like(x, dtype=float)
            _, _, Ho, Wo = dout.shape
            for i in range(Ho):
                for j in range(Wo):
                    win = x[:, :, i * s:i * s + k, j * s:j * s + k]
                    is_max = win == win.max(axis=(1, 2, 3), keepdims=True)
                    dx[:, :, i * s:i * s + k, j * s:j * s + k] += is_max * dout[:, :, i, j][:, :, None, None]
            return dx
        """),
     "the window's maximum is taken over the channels too (axis (1, 2, 3) instead of (2, 3)): only the channel "
     "holding the largest value gets its gradient, the other channels get 0",
     ("channel", "axis")),
    ("04", "maxpool_backward", ("edit", "dx[n, c, y * stride + i, x_ * stride + j]",
                                "dx[n, c, y * stride + i, x_ * stride + i]"),
     "the winner's column inside the window uses the row offset i instead of j: the gradient goes to the wrong "
     "column",
     ("column", "winner")),

    # ---------------------------------------------------------------- 05: stable_softmax
    ("05", "stable_softmax", ("source", """
        def stable_softmax(logits):
            probs = np.zeros(logits.shape)
            for n in range(logits.shape[0]):
                row = logits[n] - logits[n].max()
                row = np.exp(row)
                probs[n] = row / np.exp(row).sum()
            return probs
        """),
     "row is overwritten with exp(row) and then exponentiated again in the denominator: it divides by the sum of "
     "exp(exp(.)), so the rows don't sum to 1",
     ("denominator", "sum to 1")),
    ("05", "stable_softmax", ("edit", "logits.max(axis=1, keepdims=True)", "logits.max(axis=0, keepdims=True)"),
     "the shift subtracts each column's maximum (axis 0) instead of each row's: a different constant per class, "
     "which changes the probabilities (and can overflow)",
     ("axis", "row")),

    # ---------------------------------------------------------------- 05: softmax_cross_entropy
    ("05", "softmax_cross_entropy", ("source", """
        def softmax_cross_entropy(logits, labels):
            N = logits.shape[0]
            z = logits - logits.max(axis=1, keepdims=True)
            probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            grad = probs
            grad[np.arange(N), labels] -= 1
            grad /= N
            loss = -np.mean(np.log(probs[np.arange(N), labels]))
            return loss, grad
        """),
     "grad = probs is not a copy: the gradient is made in place in probs, and the loss is computed afterwards "
     "from the modified array (log of (p - 1) / N): the loss is nan, the gradient is right",
     ("loss", "copy")),
    ("05", "softmax_cross_entropy", ("edit", "return loss, dlogits / N", "return loss, dlogits / logits.shape[1]"),
     "the gradient is divided by the number of classes K instead of the batch size N",
     ("gradient", "N")),

    # ---------------------------------------------------------------- 06: dense_backward
    ("06", "dense_backward", ("source", """
        def dense_backward(x, W, dout):
            N, D = x.shape
            M = W.shape[1]
            dW = np.zeros((D, M))
            db = np.zeros(M)
            for n in range(N):
                dW += np.outer(x[n], dout[n])
            db += dout[n]
            dx = dout @ W.T
            return dx, dW, db
        """),
     "the bias-gradient line is outside the loop over examples (indentation): db holds only the last example's "
     "dout, not the sum over the batch",
     ("db", "sum")),
    ("06", "dense_backward", ("edit", "dx = dout @ W.T\n    dW = x.T @ dout", "dW = x.T @ dout\n    dx = dout @ dW.T"),
     "dx is computed from dW (computed just before it) instead of the weights W: dx = dout @ dW.T",
     ("dx", "W")),

    # ---------------------------------------------------------------- 06: relu_backward
    ("06", "relu_backward", ("source", """
        def relu_backward(x, dout):
            grad = dout.copy()
            grad[dout <= 0] = 0
            return grad
        """),
     "the mask is taken from dout instead of the input x: it zeroes where the incoming gradient is negative, "
     "not where the input was negative",
     ("mask", "x")),
    ("06", "relu_backward", ("edit", "return dout * (x > 0)", "return dout * np.maximum(x, 0)"),
     "dout is multiplied by ReLU(x), the layer's output, instead of ReLU's derivative (1 where x > 0, else 0)",
     ("derivative", "output")),

    # ---------------------------------------------------------------- 06: two_layer_backward
    ("06", "two_layer_backward", ("source", """
        def two_layer_backward(x, W1, b1, W2, b2, labels):
            N = x.shape[0]
            hidden = np.maximum(0, x @ W1 + b1)
            logits = hidden @ W2 + b2
            logits = logits - logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(N), labels] -= 1
            dlogits = p / N
            dW2 = hidden.T @ dlogits
            db2 = dlogits.sum(axis=0)
            dhidden = dlogits @ W2.T
            dhidden[x @ W1 <= 0] = 0
            dW1 = x.T @ dhidden
            db1 = dhidden.sum(axis=0)
            return dW1, db1, dW2, db2
        """),
     "the ReLU mask in backward is recomputed from x @ W1 without the bias b1: it blocks the gradient where "
     "x @ W1 <= 0 instead of where x @ W1 + b1 <= 0",
     ("ReLU", "bias")),
    ("06", "two_layer_backward", ("edit", "dW2, db2 = h.T @ dscores", "dW2, db2 = z.T @ dscores"),
     "dW2 uses the first layer's pre-activation z instead of its ReLU output h (the second layer's input)",
     ("dW2", "ReLU")),

    # ---------------------------------------------------------------- 07: sgd_momentum_step
    ("07", "sgd_momentum_step", ("source", """
        def sgd_momentum_step(weights, gradient, velocity, lr, momentum):
            velocity = momentum * velocity + gradient
            weights = weights - lr * gradient
            return weights, velocity
        """),
     "the velocity is updated but the weights step with the raw gradient instead of the new velocity "
     "(plain SGD for the weights)",
     ("velocity", "weights")),
    ("07", "sgd_momentum_step", ("edit", "momentum * velocity + gradient", "momentum * (velocity + gradient)"),
     "the momentum factor multiplies the gradient too: v = momentum * (v + g) instead of momentum * v + g",
     ("momentum", "gradient")),

    # ---------------------------------------------------------------- 07: adam_step
    ("07", "adam_step", ("source", """
        def adam_step(weights, gradient, m, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
            m_new = beta1 * m + (1 - beta1) * gradient
            s_new = beta2 * s + (1 - beta2) * gradient * gradient
            m_corr = m_new / (1 - beta1 ** t)
            s_corr = s_new / (1 - beta1 ** t)
            step = lr * m_corr / (np.sqrt(s_corr) + eps)
            return weights - step, m_new, s_new
        """),
     "the second moment's bias correction divides by 1 - beta1**t instead of 1 - beta2**t (copied from the line "
     "above): the weights are wrong, m and s are right",
     ("bias correction", "beta2")),
    ("07", "adam_step", ("edit", "+ eps), m, s", "+ eps), m_hat, s_hat"),
     "the bias-corrected moments m_hat, s_hat are returned as the new state instead of m and s: the weights are "
     "right, the state carried to the next step is wrong",
     ("m_hat", "state")),

    # ---------------------------------------------------------------- 10: batchnorm_forward
    ("10", "batchnorm_forward", ("source", """
        def batchnorm_forward(x, gamma, beta, eps):
            mean = np.mean(x, axis=0)
            var = np.mean(x ** 2, axis=0)
            normed = (x - mean) / np.sqrt(var + eps)
            return normed * gamma + beta
        """),
     "the variance is the mean of x**2, not of (x - mean)**2: the mean is not subtracted before squaring",
     ("variance", "mean")),
    ("10", "batchnorm_forward", ("edit", "np.sqrt(x.var(axis=0) + eps)", "np.sqrt(x.var() + eps)"),
     "the variance is taken over the whole array (no axis), one number for all features, instead of per feature",
     ("variance", "feature")),

    # ---------------------------------------------------------------- 10: batchnorm_backward
    ("10", "batchnorm_backward", ("source", """
        def batchnorm_backward(dout, x, gamma, eps):
            N = x.shape[0]
            mu = x.mean(axis=0)
            std = np.sqrt(x.var(axis=0) + eps)
            xhat = (x - mu) / std
            dxhat = dout * gamma
            dgamma = np.sum(dout * xhat, axis=0)
            dbeta = np.sum(dout, axis=0)
            dx = (N * dxhat - dxhat.sum(axis=0) - xhat * (dout * xhat).sum(axis=0)) / (N * std)
            return dx, dgamma, dbeta
        """),
     "in dx's last term gamma is missing: it uses sum(dout * xhat) where sum(dxhat * xhat) = sum(gamma * dout * "
     "xhat) belongs (the other terms have gamma)",
     ("gamma", "term")),
    ("10", "batchnorm_backward", ("edit", "dgamma = (dout * x_hat).sum(axis=0)", "dgamma = (dout * x).sum(axis=0)"),
     "dgamma multiplies dout by the raw input x instead of the normalised x_hat",
     ("dgamma", "x_hat")),

    # ---------------------------------------------------------------- 10: residual_backward
    ("10", "residual_backward", ("source", """
        def residual_backward(x, W, dout):
            pre = x @ W
            y = x + np.maximum(pre, 0)
            dpre = dout * (pre > 0)
            dx = dout + dpre @ W.T
            dW = y.T @ dpre
            return dx, dW
        """),
     "dW uses the block's output y = x + ReLU(xW) instead of its input x: dW = y.T @ d_inner",
     ("dW", "input")),
    ("10", "residual_backward", ("edit", "dout * (x @ W > 0)", "dout * (x > 0)"),
     "the ReLU mask is taken from the block's input x instead of the ReLU's input x @ W",
     ("ReLU", "mask")),

    # ---------------------------------------------------------------- 10: rmsprop_step
    ("10", "rmsprop_step", ("source", """
        def rmsprop_step(weights, gradient, mean_square, lr, alpha, eps):
            mean_square *= alpha
            mean_square += (1 - alpha) * gradient ** 2
            new_weights = weights - lr * gradient / (np.sqrt(mean_square) + eps)
            return new_weights, mean_square
        """),
     "the mean square is updated in place (*=, +=): the values returned are right, but the caller's mean_square "
     "array is changed",
     ("in place", "mean_square")),
    ("10", "rmsprop_step", ("edit", "(1 - alpha) * gradient ** 2", "(1 - alpha) * weights ** 2"),
     "the running mean square averages the squared weights instead of the squared gradient",
     ("mean square", "gradient")),

    # ---------------------------------------------------------------- 10: layernorm_forward
    ("10", "layernorm_forward", ("source", """
        def layernorm_forward(x, gamma, beta, eps):
            mu = x.mean(axis=1, keepdims=True)
            var = x.var(axis=0, keepdims=True)
            return gamma * (x - mu) / np.sqrt(var + eps) + beta
        """),
     "the mean is per example (axis 1) but the variance is taken over the batch (axis 0), per feature",
     ("variance", "axis")),
    ("10", "layernorm_forward", ("edit", "return gamma * x_hat + beta", "return gamma * (x_hat + beta)"),
     "beta is added before scaling by gamma: gamma * (x_hat + beta) instead of gamma * x_hat + beta",
     ("beta", "gamma")),

    # ---------------------------------------------------------------- 10: layernorm_backward
    ("10", "layernorm_backward", ("source", """
        def layernorm_backward(dout, x, gamma, eps):
            N, D = x.shape
            xc = x - x.mean(axis=1, keepdims=True)
            std = np.sqrt((xc ** 2).mean(axis=1, keepdims=True) + eps)
            xhat = xc / std
            g = dout * gamma
            dx = (N * g - g.sum(axis=1, keepdims=True) - xhat * (g * xhat).sum(axis=1, keepdims=True)) / (N * std)
            dgamma = (dout * xhat).sum(axis=0)
            dbeta = dout.sum(axis=0)
            return dx, dgamma, dbeta
        """),
     "dx's formula uses the batch size N where the number of features D belongs (layer norm averages over the D "
     "features of each example): dx is wrong, dgamma and dbeta are right",
     ("dx", "D")),
    ("10", "layernorm_backward", ("edit", "h - h.mean(axis=1, keepdims=True)", "h - h.mean(axis=0, keepdims=True)"),
     "in dx the mean of gamma * dout is taken over the batch (axis 0) instead of over each example's features "
     "(axis 1); the other mean is right",
     ("axis", "mean")),

    # ---------------------------------------------------------------- 10: batchnorm2d_forward
    ("10", "batchnorm2d_forward", ("source", """
        def batchnorm2d_forward(x, gamma, beta, eps):
            mean = x.mean(axis=(0, 2, 3), keepdims=True)
            var = x.var(axis=(2, 3), keepdims=True)
            x_norm = (x - mean) / np.sqrt(var + eps)
            return gamma.reshape(1, -1, 1, 1) * x_norm + beta.reshape(1, -1, 1, 1)
        """),
     "the variance is taken per image and channel (axes (2, 3)) instead of per channel over the whole batch "
     "(axes (0, 2, 3)); the mean is right",
     ("variance", "batch")),
    ("10", "batchnorm2d_forward", ("edit", "return out.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
                                   "return out.reshape(N, C, H, W)"),
     "the (N*H*W, C) result is reshaped straight to (N, C, H, W) without moving the channels back: values land "
     "in the wrong places",
     ("reshape", "transpose")),

    # ---------------------------------------------------------------- 10: batchnorm2d_running_statistics
    ("10", "batchnorm2d_running_statistics", ("source", """
        def batchnorm2d_running_statistics(x, running_mean, running_var, momentum):
            N, C, H, W = x.shape
            m = N * H * W
            mu = x.mean(axis=(0, 2, 3))
            unbiased = ((x - mu[None, :, None, None]) ** 2).sum(axis=(0, 2, 3)) / (m - 1)
            new_mean = (1 - momentum) * running_mean + momentum * mu
            new_var = (1 - momentum) * running_var + momentum * unbiased * m / (m - 1)
            return new_mean, new_var
        """),
     "the variance is already unbiased (divided by m - 1) and is then multiplied by m / (m - 1) again: the "
     "correction is applied twice",
     ("m / (m - 1)", "twice")),
    ("10", "batchnorm2d_running_statistics", ("edit", "m = x.shape[0] * x.shape[2] * x.shape[3]",
                                              "m = x.shape[0] * x.shape[1] * x.shape[2]"),
     "m is computed as N * C * H (axes 0, 1, 2) instead of N * H * W: the unbiased factor m / (m - 1) uses the "
     "wrong count",
     ("m", "N H W")),

    # ---------------------------------------------------------------- 10: batchnorm_eval
    ("10", "batchnorm_eval", ("source", """
        def batchnorm_eval(dout, x, gamma, beta, running_mean, running_var, eps):
            std = np.sqrt(running_var + eps)
            out = (gamma * x - running_mean) / std + beta
            dx = dout * gamma / std
            return out, dx
        """),
     "gamma multiplies x before the running mean is subtracted: (gamma * x - mean) / std instead of "
     "gamma * (x - mean) / std; dx is right",
     ("gamma", "mean")),
    ("10", "batchnorm_eval", ("edit", "gamma * (x - running_mean) * inv_std + beta",
                              "gamma * (x - x.mean(axis=0)) * inv_std + beta"),
     "eval mode centres x with the batch's own mean instead of the running mean (the variance is the running one)",
     ("running mean", "batch")),

    # ---------------------------------------------------------------- 10: batchnorm_backward_staged
    ("10", "batchnorm_backward_staged", ("source", """
        def batchnorm_backward_staged(dout, x, gamma, eps):
            m = len(x)
            _, nodes = batchnorm_forward_staged(x, gamma, 0, eps)
            c, v, s, r, x_hat = nodes["c"], nodes["v"], nodes["s"], nodes["r"], nodes["x_hat"]
            dbeta = np.sum(dout, axis=0)
            dgamma = np.sum(dout * x_hat, axis=0)
            dx_hat = dout * gamma
            dr = np.sum(dx_hat * x_hat, axis=0)
            dc = dx_hat * r
            ds = -dr / s ** 2
            dv = ds / (2 * s)
            dc = dc + 2 * c * dv / m
            dmu = -np.sum(dc, axis=0)
            dx = dc + dmu / m
            return dx, dgamma, dbeta
        """),
     "step 6: dL/dr sums dL/dx_hat times x_hat instead of times c (the node r multiplies): dr is off by the "
     "factor r, so c's second share and dx are wrong",
     ("dr", "c")),
    ("10", "batchnorm_backward_staged", ("edit", "dc = dc_first + 2 * c / m * dv", "dc = dc_first + 2 * c * dv"),
     "c's second share (step 3) lacks the 1/m of the variance's mean: 2 c dv instead of 2 c dv / m",
     ("second share", "1/m")),
]


# The first run (commit a7c0ec9: the code of 6cecf48, after the tuning on set 6; run once, each message read and
# judged by hand against the entry's plain-words mistake): 52 of 52 rejected, 0 accepted. 43 of the 52 messages
# (83%) named the actual mistake: 11 by a listed Mistake, 32 by the framework's diagnosis (22 of them with "the
# slip" of checks/mutation.py). Below the 90% goal, like set 6, whose brief it shares (slips other than the
# classic ones). Borderline, counted named: 5 (c*k for c*k*k: "`c` in place of `k`, in the line `row = c * k *
# k + i * k + j`", an equivalent slip on these cases), 14 (the last output column never computed: "0 at 2
# positions ... values never written (a loop that skips them)?"), 22 (db outside the loop over the examples:
# "images overwriting each other (= where += belongs)"), 23 (dx from dW: "dx does not change when W changes ...
# that input left out") and 29 (momentum on the gradient too: "0.9 times ... momentum applied twice?"). Strictly,
# without those 5: 38 of 52 (73%). Entry 38 (mean_square edited in place) is named by the in-place verdict, but
# its message also held a wrong slip (an equivalent version of the solution, since its values are right): fixed
# after this run. The 9 unnamed (FIRST_RUN_UNNAMED):
#    6 dkernel from the window of the input gradient being accumulated: "dkernel wrong" only;
#   16 max-pool backward's maximum over the channels too: "values written where zeros belong" (misleading);
#   18 softmax's exp applied twice in the denominator: "0.283205 times the right value" only;
#   20 the loss from the gradient's array after its in-place edits: "inf or nan ... an overflow" (misleading);
#   26 the ReLU mask from x @ W1 without b1: "right at 16 of 20 positions" only;
#   34 gamma missing from one term of batch norm's dx: "right for the first channel only" (misleading);
#   36 the residual block's dW from its output y: "dW wrong" only;
#   42 layer norm's dx with the batch size N where the feature count D belongs: "dx wrong" only;
#   48 eval mode's gamma times x before the mean is subtracted: "a bias added wrongly?" (misleading).
# Here the words each message held when it named the mistake; None: not named.
FIRST_RUN = {
    0: ["`kernel.T` in place of `kernel`"], 1: ["`x` in place of `stride * x` (each time)"],
    2: ["b added 3 times instead of once"], 3: ["`range((W_out - 1))` in place of `range(W_out)`"],
    4: ["i and j swapped in the row index"], 5: ["in the line `row = c * k * k + i * k + j`"], 6: None,
    7: ["`1` in place of `s` (each time)"], 8: ["dw divided by n"], 9: ["`dw` in place of `w`"],
    10: ["a loop that stops one short"], 11: ["s - 1 zeros after the last entry too"],
    12: ["the gradient not dilated", "`dout` in place of `g`"], 13: ["flipped along its rows only"],
    14: ["values never written (a loop that skips them)"],
    15: ["`y * stride:y * stride + (kernel_size - 1)` in place of `y * stride:y * stride + kernel_size`"], 16: None,
    17: ["`i` in place of `j`"], 18: None, 19: ["`logits.max(axis=0, keepdims=True)` in place of"], 20: None,
    21: ["divided by the number of classes k instead of n"], 22: ["images overwriting each other"],
    23: ["dx does not change when w changes"], 24: ["the mask built from dout"],
    25: ["dout multiplied by the relu's output"], 26: None, 27: ["dw2 from the pre-activation z"],
    28: ["the weights moved with the gradient instead of the velocity"], 29: ["new_velocity is 0.9 times"],
    30: ["`beta1` in place of `beta2`, in the line `s_hat = s / (1 - beta2 ** t)`"],
    31: ["the bias-corrected m_hat and s_hat returned"],
    32: ["`np.sqrt((x ** 2).mean(axis=0) + eps)` in place of `np.sqrt(x.var(axis=0) + eps)`"],
    33: ["`np.sqrt(x.var() + eps)` in place of `np.sqrt(x.var(axis=0) + eps)`"], 34: None,
    35: ["`x` in place of `x_hat`, in the line `dgamma = (dout * x_hat).sum(axis=0)`"], 36: None,
    37: ["`dout * (x > 0)` in place of `dout * (x @ w > 0)`"],
    38: ["your function changed its argument `mean_square` in place"],
    39: ["`weights` in place of `gradient`"],
    40: ["`x.var(axis=0, keepdims=True) + eps` in place of `x.var(axis=1, keepdims=True) + eps`"],
    41: ["a bias added wrongly?"], 42: None, 43: ["mean(g) over the batch (axis 0)"],
    44: ["variance 1 over axis 2 and 3, where the right output has variance 1 over axis 0 and 2 and 3"],
    45: ["a reshape where a transpose belongs?"], 46: ["the unbiased factor n/(n - 1) (ddof=1) applied twice"],
    47: ["`x.shape[0] * x.shape[2] * x.shape[1]` in place of `x.shape[0] * x.shape[2] * x.shape[3]`"], 48: None,
    49: ["the data's own mean used where the given running_mean belongs"],
    50: ["`x_hat` in place of `c`, in the line `dr = (dx_hat * c).sum(axis=0)"],
    51: ["`dc_first + (2 * c) * dv` in place of `dc_first + 2 * c / m * dv`"],
}
FIRST_RUN_UNNAMED = {6, 16, 18, 20, 26, 34, 36, 42, 48}
# Named since, by rules written after the first run (tuning on this set, not a measurement): nan alone (the log
# of a negative number, an array changed in place before it is read) and a name where part of its definition
# belongs, for a sum too (x @ W1 where z = x @ W1 + b1 belongs).
NAMED_SINCE = {20: ["an array changed in place before it is read gives that: b = a makes no copy"],
               26: ["`dh * ((x @ W1) > 0)` in place of `dh * (z > 0)`"]}


@pytest.mark.parametrize("entry", FRESH_WRONG_ANSWERS, ids=answer_ids(FRESH_WRONG_ANSWERS))
def test_a_fresh_wrong_answer_fails_and_its_message_names_the_mistake(entry):
    assert_rejected_with_words(FRESH_WRONG_ANSWERS, entry, FIRST_RUN, NAMED_SINCE)


def test_the_first_run_rate(capsys):
    with capsys.disabled():
        named = first_run_named("fresh set 7", FRESH_WRONG_ANSWERS, FIRST_RUN, FIRST_RUN_UNNAMED, NAMED_SINCE)
    assert named >= 43
