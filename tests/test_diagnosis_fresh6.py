"""Fresh set 6 of typical wrong answers for the checks of the whole-layer exercises (issue 17, section 3).

Protocol. This set was written by a helper session from the exercise texts and solution cells of the solved
notebooks 02-07 and 10, the student copies' skeletons, tests/notebook_answers.py, tests/exercise_helpers.py and
scratchcnn.py only. It was written WITHOUT reading the checks' diagnosis (course_machinery/checks/diagnosis.py,
mutation.py), the check framework, the earlier sets (tests/test_diagnosis*.py) or tests/test_mutation.py, and
without calling any check or running this file: nobody writing it has seen a check's message for any of these
answers. A throwaway script (outside the repository) only built each answer and compared its outputs with the
notebook's solution on a few small random inputs (non-square, stride 1 and 2, padding 0 and 1, N != C): all 53
run, each is wrong on at least one of them, none raises or returns a wrong shape (the stride slips equal the
solution at stride 1, as they should). The file was committed before its first run; the lead runs it once and
judges each message by hand (FIRST_RUN).

What it holds: 53 wrong answers over the 26 exercises whose checks take whole layers, 2-3 each. Each is ONE
slip of the kind a tired student makes while coding rather than the classic textbook mistakes: an index from
the wrong loop variable, a size from the wrong axis, a loop bound one short, a statement in the wrong order, a
variable used before or after it was updated, the wrong array in one term, an extra or missing factor in one
term, a wrong axis in one reduction, a copy/paste slip in one of two symmetric lines.
- 27 are "source": the whole function as a student would write it in their own way (other names, vectorised
  where the solution loops or the other way round, another order), with the slip inside. The source is run in
  the notebook's namespace (tests/notebook_answers._namespace), where np and the notebook's helpers live.
- 26 are "edit": the notebook's solution with one piece of text replaced (tests/notebook_answers.mutated).

An entry: (notebook, exercise, how, mistake, words)
  how: ("edit", old, new[, count]) or ("source", full function text)
  mistake: the actual mistake in plain words (what a good message must get across)
  words: words a message that names the mistake might hold (a hint for the judge, not a requirement)
"""
import pytest

from exercise_helpers import answer_ids, assert_rejected_with_words, first_run_named

FRESH_WRONG_ANSWERS = [
    # ------------------------------------------------------------------ notebook 02
    ("02", "conv2d_single", ("source", """
        def conv2d_single(image, kernel, stride=1, padding=0):
            img = np.pad(image, ((padding, padding), (padding, padding)))
            kh, kw = kernel.shape
            rows = (img.shape[0] - kh) // stride + 1
            cols = (img.shape[1] - kw) // stride + 1
            result = np.zeros((rows, cols))
            for r in range(rows):
                for c in range(cols):
                    top = r * stride
                    result[r, c] = (img[top:top + kh, c:c + kw] * kernel).sum()
            return result
        """),
     "the window's left edge is c instead of c * stride: the stride is applied to the rows but not to the "
     "columns, so with stride > 1 the windows overlap along each row",
     ("stride", "column")),
    ("02", "conv2d_single", ("edit", "for x in range(W_out):", "for x in range(W_out - 1):"),
     "the loop over output columns stops one short: the last output column is never computed and stays 0",
     ("last", "column")),
    ("02", "conv2d_forward_loops", ("source", """
        def conv2d_forward_loops(x, W, b, stride=1, padding=0):
            N, C, H, Wd = x.shape
            F, _, kh, kw = W.shape
            xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
            Ho = (H + 2 * padding - kh) // stride + 1
            Wo = (Wd + 2 * padding - kw) // stride + 1
            out = np.zeros((N, F, Ho, Wo))
            for n in range(N):
                for f in range(F):
                    for c in range(C):
                        for i in range(Ho):
                            for j in range(Wo):
                                window = xp[n, c, i * stride:i * stride + kh, j * stride:j * stride + kw]
                                out[n, f, i, j] += np.sum(window * W[f, c]) + b[f]
            return out
        """),
     "the bias is added inside the loop over input channels, so each output gets b[f] C times instead of once",
     ("bias", "channel")),
    ("02", "conv2d_forward_loops", ("edit", "s * x_:s * x_ + k]", "s * y:s * y + k]"),
     "the window's column range uses the row index y instead of the column index x_: every output column "
     "reads the columns that belong to its row number",
     ("column", "index")),
    # ------------------------------------------------------------------ notebook 03
    ("03", "col2im_loops", ("edit", "row = c * k * k + i * k + j", "row = c * k * k + j * k + i"),
     "the row of cols is computed with i and j swapped: each kernel offset (i, j) adds the values of the "
     "transposed offset (j, i)",
     ("row", "swap")),
    ("03", "col2im_loops", ("source", """
        def col2im_loops(cols, x_shape, k, s=1, p=0):
            N, C, H, W = x_shape
            Hp, Wp = H + 2 * p, W + 2 * p
            out_h = (Hp - k) // s + 1
            out_w = (Wp - k) // s + 1
            padded = np.zeros((N, C, Hp, Wp))
            for n in range(N):
                col = 0
                for y in range(out_h):
                    for x in range(out_w):
                        patch = cols[:, col].reshape(C, k, k)
                        padded[n, :, y * s:y * s + k, x * s:x * s + k] += patch
                        col += 1
            return padded[:, :, p:p + H, p:p + W]
        """),
     "the column counter is reset to 0 for every image, so every image reads the columns of image 0: the "
     "column index leaves out the image's offset n * H_out * W_out",
     ("image", "column")),
    ("03", "conv_backward_single", ("edit", "+= dout[u, v] * kernel\n", "+= dout[u, v] * kernel.T\n"),
     "dx scatters the transposed kernel (kernel.T) into each window instead of the kernel itself",
     ("transpose", "kernel")),
    ("03", "conv_backward_single", ("source", """
        def conv_backward_single(image, kernel, dout, stride=1, padding=0):
            k = kernel.shape[0]
            xp = np.pad(image, padding)
            Ho, Wo = dout.shape
            dW = np.zeros((k, k))
            dxp = np.zeros(xp.shape)
            for i in range(k):
                for j in range(k):
                    dW[i, j] = np.sum(xp[i:i + stride * Ho:stride, j:j + stride * Wo:stride] * dout)
                    dxp[i:i + Ho, j:j + Wo] += kernel[i, j] * dout
            return dxp[padding:padding + image.shape[0], padding:padding + image.shape[1]], dW
        """),
     "in dx the stride is forgotten: dout's values are added at consecutive pixels i + u instead of at "
     "i + stride * u (dkernel uses the stride correctly), so dx is wrong whenever stride > 1",
     ("stride", "dx")),
    ("03", "conv2d_backward_loops", ("edit", "slice(s * v, s * v + k))", "slice(v, v + k))"),
     "the window's column range lacks the stride (v instead of s * v) while the row range has it: with "
     "stride > 1 both dW and dx use the wrong windows",
     ("stride", "column")),
    ("03", "conv2d_backward_loops", ("source", """
        def conv2d_backward_loops(x, W, dout, stride=1, padding=0):
            N, C, H, Wx = x.shape
            F, _, kh, kw = W.shape
            _, _, Ho, Wo = dout.shape
            xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))).astype(float)
            dxp = np.zeros(xp.shape)
            dW = np.zeros(W.shape)
            db = dout.sum(axis=(0, 2, 3)) / N
            for i in range(Ho):
                for j in range(Wo):
                    r, c = i * stride, j * stride
                    patch = xp[:, :, r:r + kh, c:c + kw]
                    g = dout[:, :, i, j]
                    dW += np.einsum("nf,nchw->fchw", g, patch)
                    dxp[:, :, r:r + kh, c:c + kw] += np.einsum("nf,fchw->nchw", g, W)
            return dxp[:, :, padding:padding + H, padding:padding + Wx], dW, db
        """),
     "db is divided by the batch size N (averaged over the batch) while dW and dx are not: db is N times "
     "too small",
     ("db", "N")),
    ("03", "dilate", ("source", """
        def dilate(G, s):
            N, F, Ho, Wo = G.shape
            out = np.zeros((N, F, (Ho - 1) * s + 1, (Wo - 1) * s + 1))
            for i in range(Ho - 1):
                for j in range(Wo):
                    out[:, :, i * s, j * s] = G[:, :, i, j]
            return out
        """),
     "the loop over rows stops one short (range(Ho - 1)): the last row of G is never copied and that row "
     "of the output stays 0",
     ("last", "row")),
    ("03", "dilate", ("source", """
        def dilate(G, s):
            N, F, Ho, Wo = G.shape
            up = np.repeat(np.repeat(G, s, axis=2), s, axis=3)
            return up[:, :, :s * (Ho - 1) + 1, :s * (Wo - 1) + 1]
        """),
     "the gaps between G's values are filled with copies of the values (np.repeat) instead of zeros",
     ("zero", "gap")),
    ("03", "dilate", ("edit", "spread[:, :, ::s, ::s] = G", "spread[:, :, ::s, ::s] = G[:, :, ::-1, ::-1]"),
     "G is flipped while it is spread out; dilating must keep G's order (the flip belongs to the kernel in "
     "the full correlation, not to G)",
     ("flip",)),
    ("03", "conv2d_backward_by_correlation", ("edit", "W[:, :, ::-1, ::-1]", "W[:, :, ::-1, :]"),
     "the kernel is flipped only vertically (rows) for dx; the horizontal flip (columns) is missing",
     ("flip", "column")),
    ("03", "conv2d_backward_by_correlation", ("source", """
        def conv2d_backward_by_correlation(x, W, dout, stride=1, padding=0):
            N, C, H, Wx = x.shape
            F, _, k, _ = W.shape
            p = padding
            xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
            db = dout.sum(axis=(0, 2, 3))
            Gd = dilate(dout, stride)
            dW = correlate_valid(xp.transpose(1, 0, 2, 3), Gd.transpose(1, 0, 2, 3))
            dW = dW.transpose(1, 0, 2, 3)[:, :, :k, :k]
            Gfull = np.pad(dout, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))
            Wflip = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
            dxp = correlate_valid(Gfull, Wflip)
            full = np.zeros((N, C, H + 2 * p, Wx + 2 * p))
            full[:, :, :dxp.shape[2], :dxp.shape[3]] = dxp
            return full[:, :, p:p + H, p:p + Wx], dW, db
        """),
     "the dx part pads the undilated dout instead of the dilated Gd (dW uses Gd correctly), so dx is wrong "
     "whenever stride > 1",
     ("dilate", "dx")),
    # ------------------------------------------------------------------ notebook 04
    ("04", "maxpool_forward", ("edit", "x_ * stride:x_ * stride + kernel_size]", "x_ * stride:x_ * stride + stride]"),
     "the window's width is the stride instead of kernel_size (columns only; the rows are right), so with "
     "stride != kernel_size the windows are too narrow or too wide",
     ("kernel_size", "stride", "column")),
    ("04", "maxpool_forward", ("source", """
        def maxpool_forward(x, kernel_size, stride):
            N, C, H, W = x.shape
            out_h = (H - kernel_size) // stride + 1
            out_w = (W - kernel_size) // stride + 1
            out = np.zeros((N, C, out_h, out_w))
            for a in range(kernel_size):
                for b in range(kernel_size):
                    shifted = x[:, :, a:a + stride * out_h:stride, b:b + stride * out_w:stride]
                    out = np.maximum(out, shifted)
            return out
        """),
     "the running maximum starts from zeros instead of -inf (or the first value): a window whose values are "
     "all negative gives 0 instead of its maximum",
     ("negative", "zero")),
    ("04", "maxpool_backward", ("edit", "x_ * stride + j] +=", "x_ * stride + i] +="),
     "the column of the arg-max uses the row offset i instead of j: the gradient goes to the wrong column "
     "of the window",
     ("column", "index")),
    ("04", "maxpool_backward", ("source", """
        def maxpool_backward(x, dout, kernel_size, stride):
            N, C, Ho, Wo = dout.shape
            dx = np.zeros(x.shape)
            for i in range(Ho):
                for j in range(Wo):
                    r, c = i * stride, j * stride
                    win = x[:, :, r:r + kernel_size, c:c + kernel_size]
                    mask = win == x.max(axis=(2, 3), keepdims=True)
                    dx[:, :, r:r + kernel_size, c:c + kernel_size] += mask * dout[:, :, i, j][:, :, None, None]
            return dx
        """),
     "the mask compares the window with the maximum of the whole image (x.max) instead of the window's own "
     "maximum: only windows that contain the image's global maximum pass any gradient",
     ("window", "max")),
    # ------------------------------------------------------------------ notebook 05
    ("05", "stable_softmax", ("edit", "logits.max(axis=1, keepdims=True)", "logits.max(axis=0, keepdims=True)"),
     "the shift subtracts each column's maximum over the batch (axis 0) instead of each row's maximum: the "
     "shift is not constant within a row, so the probabilities change",
     ("axis", "row")),
    ("05", "stable_softmax", ("source", """
        def stable_softmax(logits):
            out = np.empty(logits.shape)
            for i in range(logits.shape[0]):
                row = logits[i] - logits[i].max()
                out[i] = np.exp(row) / np.exp(logits[i]).sum()
            return out
        """),
     "the numerator is shifted by the row maximum but the denominator sums the unshifted exponentials: rows "
     "do not sum to 1 (they are scaled by exp(-max)) and the denominator can overflow",
     ("denominator", "shift")),
    ("05", "softmax_cross_entropy", ("edit", "dlogits = np.exp(log_probs)", "dlogits = np.exp(shifted)"),
     "the gradient starts from the unnormalised exponentials exp(shifted) instead of the probabilities "
     "exp(log_probs) (the division by the row sum is missing in the gradient; the loss is right)",
     ("probabilit", "normalis")),
    ("05", "softmax_cross_entropy", ("source", """
        def softmax_cross_entropy(logits, labels):
            n = logits.shape[0]
            z = logits - logits.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            grad = p
            grad[np.arange(n), labels] -= 1
            grad /= n
            loss = -np.mean(np.log(p[np.arange(n), labels]))
            return loss, grad
        """),
     "grad = p is the same array, not a copy, and the loss is computed after the in-place edits: the loss "
     "reads (p - 1) / n at the labels (the log of a negative number, nan). The gradient is right",
     ("copy", "loss")),
    # ------------------------------------------------------------------ notebook 06
    ("06", "dense_backward", ("edit", "db = dout.sum(axis=0)", "db = dout.mean(axis=0)"),
     "db is the mean of dout over the batch instead of the sum (an extra 1/N in db only)",
     ("db", "sum")),
    ("06", "dense_backward", ("source", """
        def dense_backward(x, W, dout):
            N = x.shape[0]
            dW = np.zeros(W.shape)
            db = np.zeros(W.shape[1])
            for n in range(N - 1):
                dW += np.outer(x[n], dout[n])
                db += dout[n]
            dx = dout @ W.T
            return dx, dW, db
        """),
     "the loop over the examples stops one short (range(N - 1)): the last example's contribution is missing "
     "from dW and db",
     ("last", "example")),
    ("06", "relu_backward", ("edit", "return dout * (x > 0)", "return dout * (dout > 0)"),
     "the mask is taken from the incoming gradient (dout > 0) instead of the layer's input (x > 0)",
     ("mask", "input")),
    ("06", "relu_backward", ("source", """
        def relu_backward(x, dout):
            grad = np.zeros(dout.shape)
            on = x > 0
            grad[on] = dout[on] * x[on]
            return grad
        """),
     "where x > 0 the gradient is multiplied by x; ReLU's slope there is 1, so dout must pass unchanged",
     ("slope", "1")),
    ("06", "two_layer_backward", ("edit", "dW1, db1 = x.T @ dz,", "dW1, db1 = x.T @ dh,"),
     "dW1 uses dh, the gradient before the ReLU mask, instead of dz (db1 is right)",
     ("dW1", "ReLU")),
    ("06", "two_layer_backward", ("source", """
        def two_layer_backward(x, W1, b1, W2, b2, labels):
            n = x.shape[0]
            a1 = x @ W1 + b1
            r1 = np.maximum(0, a1)
            logits = r1 @ W2 + b2
            logits = logits - logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            onehot = np.zeros_like(probs)
            onehot[np.arange(n), labels] = 1
            g = (probs - onehot) / n
            dW2 = r1.T @ g
            db2 = g.sum(axis=0)
            g = g @ W2.T
            db1 = g.sum(axis=0)
            g[a1 <= 0] = 0
            dW1 = x.T @ g
            return dW1, db1, dW2, db2
        """),
     "db1 is summed before the ReLU mask is applied (a statement in the wrong order): db1 includes the "
     "gradient of units whose input was negative; dW1 is right",
     ("db1", "ReLU")),
    # ------------------------------------------------------------------ notebook 07
    ("07", "sgd_momentum_step", ("edit", "return weights - lr * new_velocity,", "return weights - lr * velocity,"),
     "the step uses the old velocity (before this step's update) instead of the new one; the returned "
     "velocity is right",
     ("old", "velocity")),
    ("07", "sgd_momentum_step", ("source", """
        def sgd_momentum_step(weights, gradient, velocity, lr, momentum):
            v_next = momentum * (velocity + gradient)
            w_next = weights - lr * v_next
            return w_next, v_next
        """),
     "the momentum factor multiplies the gradient too (momentum * (velocity + gradient)); only the old "
     "velocity should be scaled: momentum * velocity + gradient",
     ("momentum", "gradient")),
    ("07", "adam_step", ("edit", "s_hat = s / (1 - beta2 ** t)", "s_hat = s / (1 - beta1 ** t)"),
     "the second moment's bias correction uses beta1 instead of beta2 (copied from the line above)",
     ("beta2", "bias correction")),
    ("07", "adam_step", ("source", """
        def adam_step(weights, gradient, m, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
            m_new = beta1 * m + (1 - beta1) * gradient
            s_new = beta2 * s + (1 - beta2) * gradient ** 2
            step = t + 1
            m_corr = m_new / (1 - beta1 ** step)
            s_corr = s_new / (1 - beta2 ** step)
            return weights - lr * m_corr / (np.sqrt(s_corr) + eps), m_new, s_new
        """),
     "the bias correction uses t + 1 instead of t (off by one: t already counts from 1)",
     ("t", "bias correction")),
    # ------------------------------------------------------------------ notebook 10
    ("10", "batchnorm_forward", ("edit", "(x - x.mean(axis=0))", "(x - x.mean(axis=1, keepdims=True))"),
     "the mean is taken per example over the features (axis 1) while the variance is per feature over the "
     "batch (axis 0): the centring uses the wrong axis",
     ("mean", "axis")),
    ("10", "batchnorm_forward", ("source", """
        def batchnorm_forward(x, gamma, beta, eps):
            mu = np.mean(x, axis=0)
            var = np.mean(x ** 2, axis=0)
            x_norm = (x - mu) / np.sqrt(var + eps)
            return gamma * x_norm + beta
        """),
     "the variance is the mean of x squared without centring (E[x^2] instead of E[(x - mu)^2])",
     ("variance", "centr")),
    ("10", "batchnorm_backward", ("edit", "x_hat * (dout * x_hat).mean(axis=0))", "x_hat * (dout * x_hat).sum(axis=0))"),
     "the last term of dx sums (dout * x_hat) over the batch instead of averaging it (a missing 1/N in that "
     "term only)",
     ("mean", "sum")),
    ("10", "batchnorm_backward", ("source", """
        def batchnorm_backward(dout, x, gamma, eps):
            N = x.shape[0]
            mu = x.mean(axis=0)
            std = np.sqrt(x.var(axis=0) + eps)
            xc = x - mu
            xhat = xc / std
            dbeta = np.sum(dout, axis=0)
            dgamma = np.sum(dout * xhat, axis=0)
            dx = gamma / (N * std) * (N * dout - dbeta - xc * dgamma)
            return dx, dgamma, dbeta
        """),
     "the last term of dx uses the centred x (x - mu) instead of x_hat (a missing 1/std in that term); "
     "dgamma and dbeta are right",
     ("x_hat", "dx")),
    ("10", "residual_backward", ("edit", "d_inner = dout * (x @ W > 0)", "d_inner = dout * (x > 0)"),
     "the ReLU mask is taken from the block's input x instead of the ReLU's input x @ W",
     ("mask", "x @ W")),
    ("10", "residual_backward", ("source", """
        def residual_backward(x, W, dout):
            pre = x @ W
            g = np.where(pre > 0, dout, 0.0)
            dW = x.T @ g
            dx = dout + g @ W
            return dx, dW
        """),
     "the inner path's dx multiplies by W instead of W.T (a missing transpose); the skip path and dW are right",
     ("transpose", "W.T")),
    ("10", "rmsprop_step", ("edit",
                            "mean_square = alpha * mean_square + (1 - alpha) * gradient ** 2\n"
                            "    return weights - lr * gradient / (np.sqrt(mean_square) + eps), mean_square",
                            "new_mean_square = alpha * mean_square + (1 - alpha) * gradient ** 2\n"
                            "    return weights - lr * gradient / (np.sqrt(mean_square) + eps), new_mean_square"),
     "the step divides by the root of the old mean square (before this step's update); the returned mean "
     "square is right",
     ("old", "mean square")),
    ("10", "rmsprop_step", ("source", """
        def rmsprop_step(weights, gradient, mean_square, lr, alpha, eps):
            ms = alpha * mean_square + (1 - alpha) * gradient ** 2
            new_weights = weights - lr * gradient / (np.sqrt(ms) + eps)
            return new_weights, mean_square
        """),
     "it returns the mean square it was given instead of the updated one (ms); the new weights are right",
     ("mean square", "updated")),
    ("10", "layernorm_forward", ("edit", "(x - x.mean(axis=1, keepdims=True))", "(x - x.mean(axis=0))"),
     "the centring subtracts each feature's mean over the batch (axis 0) instead of each example's mean over "
     "its features (axis 1); the variance is right",
     ("mean", "axis")),
    ("10", "layernorm_forward", ("source", """
        def layernorm_forward(x, gamma, beta, eps):
            out = np.empty(x.shape)
            for i in range(x.shape[0]):
                row = x[i]
                mean = row.mean()
                var = row.var()
                out[i] = (row - mean) / np.sqrt(var + eps)
            return beta * out + gamma
        """),
     "gamma and beta are swapped: the normalised values are scaled by beta and shifted by gamma",
     ("gamma", "beta")),
    ("10", "layernorm_backward", ("edit", "return dx, (dout * x_hat).sum(axis=0),", "return dx, (h * x_hat).sum(axis=0),"),
     "dgamma is computed from h = gamma * dout instead of dout (an extra factor gamma in dgamma); dx and "
     "dbeta are right",
     ("dgamma", "gamma")),
    ("10", "layernorm_backward", ("source", """
        def layernorm_backward(dout, x, gamma, eps):
            D = x.shape[1]
            mu = x.mean(axis=1, keepdims=True)
            std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
            xhat = (x - mu) / std
            dxhat = dout * gamma
            dx = (D * dxhat - dout.sum(axis=1, keepdims=True)
                  - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)) / (D * std)
            dgamma = (dout * xhat).sum(axis=0)
            dbeta = dout.sum(axis=0)
            return dx, dgamma, dbeta
        """),
     "the middle term of dx sums dout instead of dxhat = gamma * dout (gamma missing in that one term)",
     ("gamma", "dx")),
    ("10", "batchnorm2d_forward", ("edit", "return out.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
                                   "return out.reshape(N, C, H, W)"),
     "the way back reshapes straight to (N, C, H, W) without undoing the transpose: the channels-last "
     "values are scrambled across channels and pixels",
     ("transpose", "channel")),
    ("10", "batchnorm2d_forward", ("source", """
        def batchnorm2d_forward(x, gamma, beta, eps):
            mean = x.mean(axis=(0, 2, 3), keepdims=True)
            var = x.var(axis=(2, 3), keepdims=True)
            x_hat = (x - mean) / np.sqrt(var + eps)
            return gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
        """),
     "the variance is taken per image and channel (axes 2, 3) instead of per channel over the whole batch "
     "(axes 0, 2, 3); the mean is right",
     ("variance", "axis")),
    ("10", "batchnorm2d_running_statistics", ("edit", "m = x.shape[0] * x.shape[2]", "m = x.shape[1] * x.shape[2]"),
     "m counts C * H * W (channels instead of the batch size N) in the unbiased factor m / (m - 1)",
     ("m", "N")),
    ("10", "batchnorm2d_running_statistics", ("source", """
        def batchnorm2d_running_statistics(x, running_mean, running_var, momentum):
            N, C, H, W = x.shape
            per_channel = x.transpose(1, 0, 2, 3).reshape(C, -1)
            mu = per_channel.mean(axis=1)
            var = per_channel.var(axis=1, ddof=1)
            new_mean = momentum * mu + (1 - momentum) * running_mean
            new_var = momentum * var + (1 - momentum) * running_mean
            return new_mean, new_var
        """),
     "the new running variance mixes in the old running mean instead of the old running variance (a copy "
     "of the line above); the running mean is right",
     ("running_var", "running_mean")),
    ("10", "batchnorm_eval", ("edit", "return out, gamma * dout * inv_std", "return out, dout * inv_std"),
     "dx is missing the factor gamma; out is right",
     ("gamma", "dx")),
    ("10", "batchnorm_eval", ("source", """
        def batchnorm_eval(dout, x, gamma, beta, running_mean, running_var, eps):
            std = np.sqrt(running_var + eps)
            x_hat = (x - x.mean(axis=0)) / std
            out = gamma * x_hat + beta
            dx = gamma * dout / std
            return out, dx
        """),
     "out is centred with the batch's own mean instead of running_mean (the variance is the running one); "
     "dx is right",
     ("running_mean", "batch")),
    ("10", "batchnorm_backward_staged", ("edit", "dc = dc_first + 2 * c / m * dv", "dc = dc_first + 2 * c * dv"),
     "c's second share (from the variance) is missing the 1/m of the mean in step 3",
     ("1/m", "share")),
    ("10", "batchnorm_backward_staged", ("source", """
        def batchnorm_backward_staged(dout, x, gamma, eps):
            y, cache = batchnorm_forward_staged(x, gamma, 0, eps)
            N = x.shape[0]
            c, v, s, r, xh = cache["c"], cache["v"], cache["s"], cache["r"], cache["x_hat"]
            dbeta = np.sum(dout, axis=0)
            dgamma = np.sum(dout * xh, axis=0)
            dxh = dout * gamma
            dr = np.sum(dxh * c, axis=0)
            dc = dxh * r
            ds = -dr / s
            dv = ds * 0.5 / np.sqrt(v + eps)
            dc = dc + 2 * c * dv / N
            dmu = -np.sum(dc, axis=0)
            dx = dc + dmu / N
            return dx, dgamma, dbeta
        """),
     "step 5 differentiates r = 1/s as -1/s instead of -1/s^2 (ds = -dr / s): the square is missing",
     ("s^2", "step 5")),
]

# The first run (commit 28a76c2: the code of 367d948, with the diagnosis by mutation; run once, each message read
# and judged by hand against the entry's plain-words mistake): 53 of 53 rejected, 0 accepted. 44 of the 53
# messages (83%) named the actual mistake: 11 by a listed Mistake, 33 by the framework's diagnosis, 24 of them
# with "the slip" of checks/mutation.py (for 14 of those the slip was the only naming sentence). Below the 90%
# goal: this set was written to avoid the classic mistakes the checks list. Borderline, counted named: 10 (rows
# one short: "except in the last row and the last column: a loop that stops one short"), 30 (momentum on the
# gradient too: "0.9 times ... momentum applied twice?"), 33 (only the mean over axis 1: "the mean and variance
# taken over the wrong axis"), 40 (the old mean square returned: "is the computed array the one returned?") and
# 47 (m = C*H*W: "`running_mean` in place of `x`, in the line `m = x.shape[0] * ...`"). Strictly, without
# those 5: 39 of 53 (74%). The 9 unnamed (FIRST_RUN_UNNAMED):
#   11 dilate's gaps filled with copies (np.repeat): only the hint;
#   18 max-pool backward's mask against the image's maximum: "right at 13 of 16 positions" only;
#   20 softmax's denominator unshifted: "0.0497871 times the right value" (e**-3, not said);
#   22 the loss computed from the gradient's array after its in-place edits: "inf or nan ... an overflow";
#   24 dense backward's loop over the examples one short: "a bias added wrongly?" (misleading);
#   34 the variance as E[x**2], not centred: "0.529151 times the right value" only;
#   36 the last term of batch norm's dx with x - mu for x_hat: "dx wrong" only;
#   42 layer norm's gamma and beta swapped: "the mean and variance taken over the wrong axis" (misleading);
#   46 BatchNorm2D's variance per image: "right on every case with a batch of one" and its guesses.
# Here the words each message held when it named the mistake; None: not named.
FIRST_RUN = {
    0: ["`x` in place of `stride * x` (each time)"], 1: ["`range((W_out - 1))` in place of `range(W_out)`"],
    2: ["b added 3 times instead of once"], 3: ["`y` in place of `x_` (each time)"],
    4: ["i and j swapped in the row index"], 5: ["`(u * W_out) + v` in place of `n * H_out * W_out + u * W_out + v`"],
    6: ["`dout[u, v] * kernel.T` in place of `dout[u, v] * kernel`"], 7: ["`1` in place of `s` (each time)"],
    8: ["`v` in place of `s * v` (each time)"], 9: ["db is 0.5 times the right value", "1/N = 1/2"],
    10: ["a loop that stops one short"], 11: None, 12: ["flipped along axis 2 and 3"],
    13: ["flipped along its rows only"], 14: ["the gradient not dilated", "`dout` in place of `G`"],
    15: ["`stride` in place of `kernel_size`"], 16: ["the running maximum started at 0"],
    17: ["`i` in place of `j`"], 18: None, 19: ["`logits.max(axis=0, keepdims=True)` in place of"], 20: None,
    21: ["`shifted` in place of `log_probs`"], 22: None, 23: ["db averaged over the batch"], 24: None,
    25: ["the mask built from dout"], 26: ["dout multiplied by the relu's output"],
    27: ["`dh` in place of `dz`"], 28: ["db1 is what the known mistake 'no relu mask in the backward pass' gives"],
    29: ["the weights moved with the old velocity"], 30: ["new_velocity is 0.9 times the right value"],
    31: ["`beta1` in place of `beta2`, in the line `s_hat = s / (1 - beta2 ** t)`"],
    32: ["the bias correction with t + 1 instead of t"], 33: ["the mean and variance taken over the wrong axis"],
    34: None, 35: ["`x_hat * (dout * x_hat).sum(axis=0)` in place of `x_hat * (dout * x_hat).mean(axis=0)`"],
    36: None, 37: ["`dout * (x > 0)` in place of `dout * (x @ w > 0)`"], 38: ["w not transposed in dx"],
    39: ["the old mean square used in the weight update"], 40: ["is the computed array the one returned?"],
    41: ["`x - x.mean(axis=0, keepdims=True)` in place of `x - x.mean(axis=1, keepdims=True)`"], 42: None,
    43: ["`h` in place of `dout`"], 44: ["`dout` in place of `h`"], 45: ["a reshape where a transpose belongs?"],
    46: None, 47: ["`running_mean` in place of `x`, in the line `m = x.shape[0]"],
    48: ["`running_mean` in place of `running_var`"], 49: ["gamma left out of dx"],
    50: ["the data's own mean used where the given running_mean belongs"],
    51: ["`dc_first + (2 * c) * dv` in place of `dc_first + 2 * c / m * dv`"],
    52: ["`-dr / s ** 1` in place of `-dr / s ** 2`"],
}
FIRST_RUN_UNNAMED = {11, 18, 20, 22, 24, 34, 36, 42, 46}
# Named since, by rules written after the first run (tuning on this set, not a measurement): zeros filled or
# missing, a per-row factor exp(-max), the batch less its last entry, nan alone, and the slips of the variance not centred,
# a name where part of its definition belongs, two names swapped in a line, the variance over other axes.
NAMED_SINCE = {
    11: ["values written where zeros belong"], 18: ["a mask or condition too strict"],
    20: ["exp(-the maximum of logits): the maximum subtracted in one place (the numerator) but not in the other"],
    24: ["dw and db are exactly what the right function gives for the batch without its last entry",
         "stops one short"],
    34: ["`np.sqrt((x ** 2).mean(axis=0) + eps)` in place of `np.sqrt(x.var(axis=0) + eps)`"],
    36: ["`(x - x.mean(axis=0)) * (dout * x_hat).mean(axis=0)` in place of `x_hat * (dout * x_hat).mean(axis=0)`"],
    42: ["`beta` and `gamma` swapped"], 22: ["an array changed in place before it is read gives that"],
    46: ["variance 1 over axis 2 and 3, where the right output has variance 1 over axis 0 and 2 and 3"],
}


@pytest.mark.parametrize("entry", FRESH_WRONG_ANSWERS, ids=answer_ids(FRESH_WRONG_ANSWERS))
def test_a_fresh_wrong_answer_fails_and_its_message_names_the_mistake(entry):
    assert_rejected_with_words(FRESH_WRONG_ANSWERS, entry, FIRST_RUN, NAMED_SINCE)


def test_the_first_run_rate(capsys):
    with capsys.disabled():
        named = first_run_named("fresh set 6", FRESH_WRONG_ANSWERS, FIRST_RUN, FIRST_RUN_UNNAMED, NAMED_SINCE)
    assert named >= 44
