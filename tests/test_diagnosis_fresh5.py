"""Fresh set 5 of typical wrong answers for the exercise checks that take whole layers (issue 17, section 3).

Protocol. Written by a helper session from the exercise texts and solution cells of the solved notebooks
(02, 03, 04, 05, 06, 07 and 10), the student copies, tests/notebook_answers.py, tests/exercise_helpers.py and
scratchcnn.py only. Its author did not read how the checks diagnose (course_machinery/checks/diagnosis.py,
framework.py, any mutation module), nor the earlier sets (tests/test_diagnosis*.py), and never called a
``checks.check_*`` function or saw a check's message. The only runs before the commit were a throwaway script
that built every answer and compared it with the notebook's solution on small random inputs of the author's
own, to make sure each answer runs and really is wrong. The file was committed before its first run; the lead
runs it once and judges each message by hand (FIRST_RUN).

What it holds: one typical mistake per entry, 2-3 entries per exercise, of two kinds.
- "source": the whole function as a student would write it in their own way (other names, another order,
  vectorised where the solution loops or the other way round), with one slip inside. It is executed in the
  notebook's namespace (tests/notebook_answers._namespace: np and the notebook's helper functions).
- "edit": the notebook's solution with one piece of text replaced (tests/notebook_answers.mutated).
Two entries return an array of the wrong shape on some inputs, as the mistake itself does (dilate with zeros
after the last entry; dense_backward's dW transposed, which has the right shape only when D == M).
"""
import pytest

from exercise_helpers import answer_ids, assert_rejected_with_words, first_run_named

# (notebook, exercise, how: ("edit", old, new[, count]) or ("source", full function text),
#  the actual mistake in plain words (what a good message must get across), words a naming message might hold)
FRESH_WRONG_ANSWERS = [
    # ---------------------------------------------------------------- notebook 02
    ("02", "conv2d_single", ("source", '''
        def conv2d_single(image, kernel, stride=1, padding=0):
            k = len(kernel)
            H, W = image.shape
            big = np.zeros((H + 2 * padding, W + 2 * padding))
            big[padding:padding + H, padding:padding + W] = image
            flipped = kernel[::-1, ::-1]
            rows = (big.shape[0] - k) // stride + 1
            cols = (big.shape[1] - k) // stride + 1
            result = np.zeros((rows, cols))
            for r in range(rows):
                for c in range(cols):
                    top, left = r * stride, c * stride
                    result[r, c] = (big[top:top + k, left:left + k] * flipped).sum()
            return result
        '''),
     "the kernel is flipped (a true convolution): the exercise asks for cross-correlation, kernel as given",
     ["flip", "cross-correlation"]),
    ("02", "conv2d_single", ("edit", "padded = np.pad(image, padding)",
                             "padded = np.pad(image, ((0, 2 * padding), (0, 2 * padding)))"),
     "all the padding goes after the image (bottom and right) instead of p zeros on each of the four sides",
     ["padding", "side"]),

    ("02", "conv2d_forward_loops", ("edit", "np.sum(patch * W[f]) + b[f]", "np.sum(patch * W[f] + b[f])"),
     "the bias is added inside the sum over the patch, so it is counted C*k*k times instead of once",
     ["bias", "once"]),
    ("02", "conv2d_forward_loops", ("source", '''
        def conv2d_forward_loops(x, W, b, stride=1, padding=0):
            N, C, H, Wd = x.shape
            F, _, k, _ = W.shape
            xp = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
            Ho = (H + 2 * padding - k) // stride + 1
            Wo = (Wd + 2 * padding - k) // stride + 1
            out = np.zeros((N, F, Ho, Wo))
            for n in range(N):
                for i in range(Ho):
                    for j in range(Wo):
                        patch = xp[n, :, i * stride:i * stride + k, j * stride:j * stride + k]
                        out[n, :, i, j] = np.einsum("chw,fcwh->f", patch, W) + b
            return out
        '''),
     "the kernel's rows and columns are swapped (einsum subscripts 'fcwh' for W): each patch meets the "
     "transposed kernel",
     ["transpose", "kernel"]),
    ("02", "conv2d_forward_loops", ("edit", "s * x_:s * x_ + k]", "x_:x_ + k]"),
     "the stride is applied to the row position only: the column window starts at x instead of s*x",
     ["stride", "column"]),

    # ---------------------------------------------------------------- notebook 03
    ("03", "col2im_loops", ("edit", "dx_padded[n, c, s * u + i, s * v + j] += cols[row, column]",
                            "dx_padded[n, c, s * u + i, s * v + j] = cols[row, column]"),
     "assigns instead of adding: a pixel in several overlapping patches keeps only the last value",
     ["overlap", "add"]),
    ("03", "col2im_loops", ("source", '''
        def col2im_loops(cols, x_shape, k, s=1, p=0):
            N, C, H, W = x_shape
            Hp, Wp = H + 2 * p, W + 2 * p
            out_h, out_w = (Hp - k) // s + 1, (Wp - k) // s + 1
            grad = np.zeros((N, C, Hp, Wp))
            for row in range(cols.shape[0]):
                i, rest = divmod(row, k * C)
                j, c = divmod(rest, C)
                for col in range(cols.shape[1]):
                    n, rest2 = divmod(col, out_h * out_w)
                    u, v = divmod(rest2, out_w)
                    grad[n, c, s * u + i, s * v + j] += cols[row, col]
            return grad[:, :, p:p + H, p:p + W]
        '''),
     "the row index is decoded as (i, j, c), channel fastest, instead of c*k*k + i*k + j: channels and "
     "kernel offsets get mixed up (only right for one channel)",
     ["row", "order", "channel"]),

    ("03", "conv_backward_single", ("edit",
                                    "return dpadded[p:p + image.shape[0], p:p + image.shape[1]], dkernel",
                                    "return dpadded[:image.shape[0], :image.shape[1]], dkernel"),
     "the padding is cropped from the bottom/right only: dimage is the top-left H x W corner of the padded "
     "gradient instead of dropping p rows and columns on every side",
     ["crop", "padding"]),
    ("03", "conv_backward_single", ("source", '''
        def conv_backward_single(image, kernel, dout, stride=1, padding=0):
            k = kernel.shape[0]
            xp = np.pad(image, ((padding, padding), (padding, padding)))
            dxp = np.zeros(xp.shape)
            dk = np.zeros((k, k))
            H_out, W_out = dout.shape
            for i in range(H_out):
                for j in range(W_out):
                    r, c = i * stride, j * stride
                    dxp[r:r + k, c:c + k] += kernel * dout[i, j]
                    dk += xp[i:i + k, j:j + k] * dout[i, j]
            H, W = image.shape
            return dxp[padding:padding + H, padding:padding + W], dk
        '''),
     "dkernel collects the image window at (i, j) instead of (s*i, s*j): the stride is left out of "
     "dkernel's window (dimage's is right)",
     ["stride", "dkernel"]),

    ("03", "conv2d_backward_loops", ("edit", "return dx_pad[:, :, p:p + H, p:p + W_in], dW, db",
                                     "return dx_pad[:, :, p:p + H, p:p + W_in], dW / N, db / N"),
     "dW and db are divided by the batch size N: dout already carries the loss's 1/N, the gradients are sums "
     "over the batch",
     ["divide", "N", "batch"]),
    ("03", "conv2d_backward_loops", ("source", '''
        def conv2d_backward_loops(x, W, dout, stride=1, padding=0):
            N, C, H, Wd = x.shape
            F, _, k, _ = W.shape
            s, p = stride, padding
            xp = np.pad(x.astype(float), ((0, 0), (0, 0), (p, p), (p, p)))
            dxp = np.zeros_like(xp)
            dW = np.zeros(W.shape)
            db = np.zeros(F)
            Ho, Wo = dout.shape[2], dout.shape[3]
            for n in range(N):
                for f in range(F):
                    for c in range(C):
                        for i in range(Ho):
                            for j in range(Wo):
                                g = dout[n, f, i, j]
                                db[f] += g
                                dW[f, c] += g * xp[n, c, s * i:s * i + k, s * j:s * j + k]
                                dxp[n, c, s * i:s * i + k, s * j:s * j + k] += g * W[f, c]
            return dxp[:, :, p:p + H, p:p + Wd], dW, db
        '''),
     "db is accumulated inside the loop over input channels, so it is C times too large (dx and dW are right)",
     ["db", "channel"]),

    ("03", "dilate", ("source", '''
        def dilate(G, s):
            N, F, h, w = G.shape
            out = np.zeros((N, F, h * s, w * s))
            out[:, :, ::s, ::s] = G
            return out
        '''),
     "the result is s*H' x s*W': s - 1 zeros are left after the last entry too, instead of s(H'-1)+1",
     ["shape", "last"]),
    ("03", "dilate", ("source", '''
        def dilate(G, s):
            N, F, Hg, Wg = G.shape
            out = np.zeros((N, F, (Hg - 1) * s + 1, (Wg - 1) * s + 1))
            for u in range(Hg - 1):
                for v in range(Wg - 1):
                    out[:, :, u * s, v * s] = G[:, :, u, v]
            return out
        '''),
     "off by one: the loops run to H'-1 and W'-1, so the last row and the last column of G are never copied "
     "(they stay 0)",
     ["last", "row", "column"]),

    ("03", "conv2d_backward_by_correlation", ("edit", "W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)",
                                              "W.transpose(1, 0, 2, 3)"),
     "dx correlates with the kernel unflipped: the full correlation needs W rotated by 180 degrees",
     ["flip", "dx"]),
    ("03", "conv2d_backward_by_correlation", ("edit", "G = dilate(dout, stride)", "G = dout"),
     "dout is not dilated: at stride s > 1 its entries must sit s pixels apart (s - 1 zeros between them)",
     ["dilate", "stride"]),
    ("03", "conv2d_backward_by_correlation", ("source", '''
        def conv2d_backward_by_correlation(x, W, dout, stride=1, padding=0):
            F, C, k, _ = W.shape
            N, _, H, Wd = x.shape
            p = padding
            xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
            G = dilate(dout, stride)
            db = G.sum(axis=(0, 2, 3))
            dW = correlate_valid(xp.transpose(1, 0, 2, 3), G.transpose(1, 0, 2, 3))
            dW = dW[:, :, :k, :k].transpose(1, 0, 2, 3)
            rotated = np.flip(W, axis=2).transpose(1, 0, 2, 3)
            Gp = np.pad(G, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))
            dxp = correlate_valid(Gp, rotated)
            missing_h, missing_w = H + 2 * p - dxp.shape[2], Wd + 2 * p - dxp.shape[3]
            dxp = np.pad(dxp, ((0, 0), (0, 0), (0, missing_h), (0, missing_w)))
            return dxp[:, :, p:p + H, p:p + Wd], dW, db
        '''),
     "the kernel is flipped along its rows only (np.flip axis=2): the 180-degree rotation needs both spatial "
     "axes flipped",
     ["flip", "both"]),

    # ---------------------------------------------------------------- notebook 04
    ("04", "maxpool_forward", ("source", '''
        def maxpool_forward(x, kernel_size, stride):
            N, C, H, W = x.shape
            out_h = (H - kernel_size) // stride + 1
            out_w = (W - kernel_size) // stride + 1
            pooled = np.zeros((N, C, out_h, out_w))
            for n in range(N):
                for c in range(C):
                    for i in range(out_h):
                        for j in range(out_w):
                            r0, c0 = i * stride, j * stride
                            region = x[n, c, r0:r0 + kernel_size, c0:c0 + kernel_size]
                            pooled[n, c, i, j] = np.argmax(region)
            return pooled
        '''),
     "stores the position of the maximum (np.argmax) instead of the maximum value",
     ["argmax", "value"]),
    ("04", "maxpool_forward", ("edit", "window = x[n, c, ", "window = x[n, :, "),
     "each window takes the maximum over all channels together instead of within its own channel c",
     ["channel"]),

    ("04", "maxpool_backward", ("edit", "+= dout[n, c, y, x_]", "= dout[n, c, y, x_]"),
     "assigns instead of adding into dx: where overlapping windows share their maximum, only the last "
     "window's gradient survives",
     ["overlap", "add"]),
    ("04", "maxpool_backward", ("source", '''
        def maxpool_backward(x, dout, kernel_size, stride):
            N, C, Ho, Wo = dout.shape
            dx = np.zeros(x.shape)
            for n in range(N):
                for c in range(C):
                    for i in range(Ho):
                        for j in range(Wo):
                            hs, ws = i * stride, j * stride
                            win = x[n, c, hs:hs + kernel_size, ws:ws + kernel_size]
                            mask = win == np.max(win)
                            dx[n, c, hs:hs + kernel_size, ws:ws + kernel_size] += mask * dout[n, c, i, j]
            return dx
        '''),
     "ties: the gradient goes to every position equal to the maximum instead of only the first one "
     "(row-major arg-max)",
     ["tie", "first"]),
    ("04", "maxpool_backward", ("edit", "dx[n, c, y * stride + i, x_ * stride + j]", "dx[n, c, y + i, x_ + j]"),
     "the arg-max is put back at the window's offset without the stride: (y + i, x + j) instead of "
     "(s*y + i, s*x + j)",
     ["stride"]),

    # ---------------------------------------------------------------- notebook 05
    ("05", "stable_softmax", ("edit", "shifted = logits - logits.max(axis=1, keepdims=True)",
                              "shifted = logits - logits.max()"),
     "subtracts the single largest logit of the whole batch instead of each row's own maximum: a row far "
     "below it underflows to 0/0",
     ["row", "max"]),
    ("05", "stable_softmax", ("source", '''
        def stable_softmax(logits):
            z = logits - np.max(logits, axis=1)[:, None]
            e = np.exp(z)
            return e / np.sum(e, axis=0, keepdims=True)
        '''),
     "normalises over the batch (axis 0, columns) instead of over each row's classes (axis 1)",
     ["axis", "row"]),

    ("05", "softmax_cross_entropy", ("edit", "return loss, dlogits / N", "return loss, dlogits"),
     "the gradient lacks the 1/N of the mean: it is the gradient of the summed loss (the loss itself is right)",
     ["1/N", "mean"]),
    ("05", "softmax_cross_entropy", ("source", '''
        def softmax_cross_entropy(logits, labels):
            n = logits.shape[0]
            z = logits - logits.max(axis=1, keepdims=True)
            logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
            p = np.exp(logp)
            loss = -logp[np.arange(n), labels].sum()
            grad = p.copy()
            grad[np.arange(n), labels] -= 1
            return loss, grad / n
        '''),
     "the loss is summed over the batch instead of averaged (the gradient does divide by N)",
     ["mean", "sum", "loss"]),
    ("05", "softmax_cross_entropy", ("source", '''
        def softmax_cross_entropy(logits, labels):
            N = logits.shape[0]
            shifted = logits - np.max(logits, axis=1, keepdims=True)
            log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            loss = np.mean(-log_softmax[np.arange(N), labels])
            d = np.exp(log_softmax)
            d[:, labels] -= 1
            return loss, d / N
        '''),
     "d[:, labels] -= 1 subtracts 1 in every row at all the batch's label columns instead of once per row at "
     "its own label (d[np.arange(N), labels])",
     ["label", "row", "one-hot"]),

    # ---------------------------------------------------------------- notebook 06
    ("06", "dense_backward", ("edit", "db = dout.sum(axis=0)", "db = dout.mean(axis=0)"),
     "db averages dout over the batch instead of summing it (dout already holds the 1/N)",
     ["db", "sum"]),
    ("06", "dense_backward", ("source", '''
        def dense_backward(x, W, dout):
            grad_x = dout @ W.T
            grad_W = dout.T @ x
            grad_b = np.sum(dout, axis=0)
            return grad_x, grad_W, grad_b
        '''),
     "dW is transposed: dout.T @ x is (M, D); it must be x.T @ dout, the shape of W (only square W hides it)",
     ["transpose", "dW"]),

    ("06", "relu_backward", ("source", '''
        def relu_backward(x, dout):
            mask = x >= 0
            return np.where(mask, dout, 0)
        '''),
     "at x == 0 the gradient passes (x >= 0): scratchcnn's convention is 0 there (x > 0)",
     ["zero", "x > 0"]),
    ("06", "relu_backward", ("edit", "return dout * (x > 0)", "return np.maximum(dout, 0)"),
     "applies the ReLU to the upstream gradient (keeps positive dout) instead of masking dout where the "
     "forward input x was positive",
     ["input", "mask"]),

    ("06", "two_layer_backward", ("edit", "dz = dh * (z > 0)", "dz = dh * (dh > 0)"),
     "the ReLU's backward masks by the sign of the gradient dh instead of where its forward input z was "
     "positive",
     ["ReLU", "z > 0"]),
    ("06", "two_layer_backward", ("edit", "dW2, db2 = h.T @ dscores", "dW2, db2 = z.T @ dscores"),
     "dW2 uses the pre-activation z instead of the second layer's actual input h = ReLU(z)",
     ["dW2", "h"]),
    ("06", "two_layer_backward", ("source", '''
        def two_layer_backward(x, W1, b1, W2, b2, labels):
            n = x.shape[0]
            a1 = x @ W1 + b1
            r1 = np.maximum(0, a1)
            out = r1 @ W2 + b2
            out = out - out.max(axis=1, keepdims=True)
            p = np.exp(out)
            p = p / p.sum(axis=1, keepdims=True)
            y = np.zeros_like(p)
            y[np.arange(n), labels] = 1
            d_out = p - y
            dW2 = r1.T @ d_out
            db2 = d_out.sum(0)
            d_r1 = d_out @ W2.T
            d_a1 = d_r1 * (a1 > 0)
            dW1 = x.T @ d_a1
            db1 = d_a1.sum(0)
            return dW1, db1, dW2, db2
        '''),
     "the 1/N of the mean loss is missing: dscores = p - onehot instead of (p - onehot)/N, so every "
     "gradient is N times too large",
     ["1/N", "mean"]),

    # ---------------------------------------------------------------- notebook 07
    ("07", "sgd_momentum_step", ("source", '''
        def sgd_momentum_step(weights, gradient, velocity, lr, momentum):
            v = momentum * velocity - lr * gradient
            return weights + v, v
        '''),
     "uses the other convention, lr inside the velocity (v = mu v - lr g, w = w + v): the course's v is "
     "mu v + g and w - lr v",
     ["convention", "velocity"]),
    ("07", "sgd_momentum_step", ("edit", "return weights - lr * new_velocity, new_velocity",
                                 "return weights - lr * velocity, new_velocity"),
     "the weights move with the old velocity instead of the updated one (update order)",
     ["old", "velocity"]),

    ("07", "adam_step", ("edit", "return weights - lr * m_hat / (np.sqrt(s_hat) + eps), m, s",
                         "return weights - lr * m_hat / (np.sqrt(s_hat) + eps), m_hat, s_hat"),
     "returns the bias-corrected m_hat and s_hat as the new running averages instead of the uncorrected m "
     "and s (the weights are right)",
     ["bias", "correct"]),
    ("07", "adam_step", ("source", '''
        def adam_step(weights, gradient, m, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
            m_new = beta1 * m + (1 - beta1) * gradient
            s_new = beta2 * s + (1 - beta2) * np.square(gradient)
            step = t + 1
            m_corr = m_new / (1 - beta1 ** step)
            s_corr = s_new / (1 - beta2 ** step)
            new_w = weights - lr * m_corr / (np.sqrt(s_corr) + eps)
            return new_w, m_new, s_new
        '''),
     "the bias correction uses t + 1 (as if t counted from 0): t already counts from 1",
     ["t", "bias correction"]),

    # ---------------------------------------------------------------- notebook 10
    ("10", "batchnorm_forward", ("source", '''
        def batchnorm_forward(x, gamma, beta, eps):
            mu = np.mean(x, axis=1, keepdims=True)
            var = np.var(x, axis=1, keepdims=True)
            x_norm = (x - mu) / np.sqrt(var + eps)
            return x_norm * gamma + beta
        '''),
     "the statistics are taken per example over its features (axis 1, layer norm) instead of per feature "
     "over the batch (axis 0)",
     ["axis", "batch"]),
    ("10", "batchnorm_forward", ("edit", "np.sqrt(x.var(axis=0) + eps)", "(x.var(axis=0) + eps)"),
     "divides by the variance instead of the standard deviation (the square root is missing)",
     ["sqrt", "standard deviation"]),

    ("10", "batchnorm_backward", ("edit", "dx = gamma * inv_std * (", "dx = inv_std * ("),
     "gamma is left out of dx (dx_hat = gamma * dout)",
     ["gamma", "dx"]),
    ("10", "batchnorm_backward", ("source", '''
        def batchnorm_backward(dout, x, gamma, eps):
            N = x.shape[0]
            mu = np.mean(x, axis=0)
            var = np.mean((x - mu) ** 2, axis=0)
            std = np.sqrt(var + eps)
            xhat = (x - mu) / std
            dbeta = np.sum(dout, axis=0)
            dgamma = np.sum(dout * xhat, axis=0)
            dx = (gamma / (N * std)) * (N * dout - xhat * dgamma)
            return dx, dgamma, dbeta
        '''),
     "dx misses the mean term: N*dout - dbeta - xhat*dgamma is written without the - dbeta (the path "
     "through the batch mean)",
     ["mean", "term"]),

    ("10", "residual_backward", ("edit", "return dout + d_inner @ W.T, x.T @ d_inner",
                                 "return d_inner @ W.T, x.T @ d_inner"),
     "dx drops the skip connection's identity path: it must be dout + (inner path)",
     ["skip", "identity", "dout"]),
    ("10", "residual_backward", ("source", '''
        def residual_backward(x, W, dout):
            mask = x > 0
            dz = dout * mask
            dW = x.T @ dz
            dx = dout + dz @ W.T
            return dx, dW
        '''),
     "the ReLU mask is taken from x instead of from the ReLU's own input x @ W",
     ["mask", "x @ W"]),
    ("10", "residual_backward", ("source", '''
        def residual_backward(x, W, dout):
            pre = x @ W
            g = np.where(pre > 0, dout, 0.0)
            dW = g.T @ x
            return dout + g @ W.T, dW
        '''),
     "dW is transposed: g.T @ x instead of x.T @ g (W is square, so the shape hides it)",
     ["transpose", "dW"]),

    ("10", "rmsprop_step", ("edit", "mean_square = alpha * mean_square + (1 - alpha) * gradient ** 2",
                            "mean_square = (1 - alpha) * mean_square + alpha * gradient ** 2"),
     "alpha and 1 - alpha are swapped: alpha must weight the old mean square, 1 - alpha the new g^2",
     ["alpha", "swap"]),
    ("10", "rmsprop_step", ("source", '''
        def rmsprop_step(weights, gradient, mean_square, lr, alpha, eps):
            new_weights = weights - lr * gradient / (np.sqrt(mean_square) + eps)
            new_mean_square = alpha * mean_square + (1 - alpha) * gradient ** 2
            return new_weights, new_mean_square
        '''),
     "the step divides by the old mean square: the average must be updated with this g^2 first, then used",
     ["order", "mean square"]),

    ("10", "layernorm_forward", ("source", '''
        def layernorm_forward(x, gamma, beta, eps):
            mean = x.mean(axis=0, keepdims=True)
            var = ((x - mean) ** 2).mean(axis=0, keepdims=True)
            return gamma * (x - mean) / np.sqrt(var + eps) + beta
        '''),
     "normalises each feature over the batch (axis 0, batch norm) instead of each example over its "
     "features (axis 1)",
     ["axis", "example"]),
    ("10", "layernorm_forward", ("edit", "np.sqrt(x.var(axis=1, keepdims=True) + eps)",
                                 "np.sqrt(x.var(axis=1, ddof=1, keepdims=True) + eps)"),
     "uses the unbiased variance (divides by D - 1) instead of the population variance (D)",
     ["variance", "ddof"]),

    ("10", "layernorm_backward", ("edit", "h = gamma * dout\n    dx = inv_std * (",
                                  "h = dout\n    dx = gamma * inv_std * ("),
     "gamma is put outside the bracket as in batch norm: in layer norm gamma varies along the axis of the "
     "means, so it must multiply dout inside them (h = gamma * dout)",
     ["gamma"]),
    ("10", "layernorm_backward", ("source", '''
        def layernorm_backward(dout, x, gamma, eps):
            mu = x.mean(axis=1, keepdims=True)
            sigma = np.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + eps)
            xh = (x - mu) / sigma
            g = dout * gamma
            dx = (g - g.mean(axis=0) - xh * (g * xh).mean(axis=0)) / sigma
            return dx, np.sum(dout * xh, axis=0), np.sum(dout, axis=0)
        '''),
     "the two means in dx are taken over the batch (axis 0, as in batch norm) instead of over each "
     "example's features (axis 1)",
     ["axis", "mean"]),
    ("10", "layernorm_backward", ("edit", "return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)",
                                  "return dx, (h * x_hat).sum(axis=0), dout.sum(axis=0)"),
     "dgamma uses h = gamma * dout instead of dout: it is multiplied by gamma once too often",
     ["dgamma", "gamma"]),

    ("10", "batchnorm2d_forward", ("edit", "x.transpose(0, 2, 3, 1)", "x.transpose(0, 3, 2, 1)"),
     "the forward transpose (0, 3, 2, 1) also swaps H and W, and the way back (0, 3, 1, 2) does not undo it: "
     "the pixels come back transposed / scrambled",
     ["transpose", "H", "W"]),
    ("10", "batchnorm2d_forward", ("source", '''
        def batchnorm2d_forward(x, gamma, beta, eps):
            mean = x.mean(axis=(2, 3), keepdims=True)
            var = x.var(axis=(2, 3), keepdims=True)
            xn = (x - mean) / np.sqrt(var + eps)
            return gamma[None, :, None, None] * xn + beta[None, :, None, None]
        '''),
     "the statistics are per image and channel (over H, W only, instance norm) instead of per channel over "
     "the whole batch (N, H, W)",
     ["batch", "axis"]),
    ("10", "batchnorm2d_forward", ("source", '''
        def batchnorm2d_forward(x, gamma, beta, eps):
            N, C, H, W = x.shape
            flat = x.reshape(-1, C)
            mu = flat.mean(axis=0)
            var = flat.var(axis=0)
            y = gamma * (flat - mu) / np.sqrt(var + eps) + beta
            return y.reshape(N, C, H, W)
        '''),
     "reshapes (N, C, H, W) to (-1, C) without moving the channels last first: each column mixes values of "
     "different channels",
     ["transpose", "channel"]),

    ("10", "batchnorm2d_running_statistics", ("edit", "m = x.shape[0] * x.shape[2] * x.shape[3]",
                                              "m = x.shape[0]"),
     "the unbiased factor m/(m-1) uses m = N (the batch size) instead of m = N*H*W, the number of values per "
     "channel",
     ["m", "N H W"]),
    ("10", "batchnorm2d_running_statistics", ("source", '''
        def batchnorm2d_running_statistics(x, running_mean, running_var, momentum):
            N, C, H, W = x.shape
            m = N * H * W
            batch_mean = x.mean(axis=(0, 2, 3))
            batch_var = x.var(axis=(0, 2, 3)) * m / (m - 1)
            new_mean = momentum * running_mean + (1 - momentum) * batch_mean
            new_var = momentum * running_var + (1 - momentum) * batch_var
            return new_mean, new_var
        '''),
     "momentum weights the old running value (Keras' convention) instead of the new batch statistic "
     "(PyTorch's, section 4)",
     ["momentum", "convention"]),
    ("10", "batchnorm2d_running_statistics", ("edit", "momentum * var * m / (m - 1)", "momentum * var"),
     "the running variance takes the biased batch variance: the unbiased factor m/(m-1) is missing",
     ["unbiased", "m/(m-1)"]),

    ("10", "batchnorm_eval", ("source", '''
        def batchnorm_eval(dout, x, gamma, beta, running_mean, running_var, eps):
            mu = x.mean(axis=0)
            var = x.var(axis=0)
            std = np.sqrt(var + eps)
            out = gamma * (x - mu) / std + beta
            dx = gamma * dout / std
            return out, dx
        '''),
     "eval mode normalises with the batch's own mean and variance instead of the running statistics",
     ["running"]),
    ("10", "batchnorm_eval", ("source", '''
        def batchnorm_eval(dout, x, gamma, beta, running_mean, running_var, eps):
            std = np.sqrt(running_var + eps)
            xhat = (x - running_mean) / std
            out = gamma * xhat + beta
            dx = gamma / std * (dout - dout.mean(axis=0) - xhat * (dout * xhat).mean(axis=0))
            return out, dx
        '''),
     "dx keeps the training-mode terms (minus the means of dout and dout*xhat): with constant statistics "
     "dx is just gamma * dout / sqrt(running_var + eps)",
     ["constant", "training"]),

    ("10", "batchnorm_backward_staged", ("edit", "dc = dc_first + 2 * c / m * dv", "dc = dc_first"),
     "c's second share, the path through the variance (2c/m * dv), is dropped from dc",
     ["variance", "share"]),
    ("10", "batchnorm_backward_staged", ("edit", "dv = ds / (2 * s)", "dv = ds / 2 * s"),
     "operator precedence: ds / 2 * s multiplies by s instead of dividing by 2s (ds/dv = 1/(2s))",
     ["sqrt", "2s"]),
    ("10", "batchnorm_backward_staged", ("source", '''
        def batchnorm_backward_staged(dout, x, gamma, eps):
            y, nd = batchnorm_forward_staged(x, gamma, 0, eps)
            N = len(x)
            dbeta = np.sum(dout, axis=0)
            dgamma = np.sum(dout * nd["x_hat"], axis=0)
            g_xhat = dout * gamma
            g_r = np.sum(g_xhat * nd["c"], axis=0)
            g_c1 = g_xhat * nd["r"]
            g_s = -g_r / nd["s"] ** 2
            g_v = g_s * 0.5 / nd["s"]
            g_c = g_c1 + (2.0 / N) * nd["c"] * g_v
            g_mu = -np.sum(g_c, axis=0)
            g_x = g_c + g_mu
            return g_x, dgamma, dbeta
        '''),
     "the mean's gradient is not divided by m in step 1: dx = dc + dmu instead of dc + dmu / m "
     "(mu = mean of x)",
     ["1/m", "mean"]),
]


# The first run (commit 28fd72b: the diagnosis by mutation of 3f2de47 and everything before it; run once, each
# message read and judged by hand against the entry's plain-words mistake): 62 of 62 rejected, 0 accepted.
# 59 of the 62 messages (95%) named the actual mistake: 43 by a listed Mistake, 16 by the framework's diagnosis
# (8 of them with "the slip" of checks/mutation.py: 4, 7, 8, 22, 42, 49, 50, 51; for 22, 42 and 49 the slip was
# the only naming sentence: 22's other words pointed at an overflow, 42's and 49's said only which outputs were
# wrong). Borderline, counted named: 1 (all the padding after the image: "shifted by -1 rows and -1 columns ...
# the padding cropped from the wrong side"), 10 (db summed inside the channel loop: "db is 3 times the right
# value (x.shape[1] = 3 ...)" with two other sizes of 3 beside it), 17 (the maximum over all channels: "x's axis 1
# (its channels) handled wrongly ... its entries mixed with one another") and 53 (reshape without moving the
# channels last: the same words, and the hint "move the channels last"). Strictly, without those 4: 55 of 62
# (89%). The 3 unnamed (FIRST_RUN_UNNAMED):
#    6 col2im's row decoded channel-fastest: "right on every case with p = 0 ... p left out or used wrongly"
#      (misleading: the cases with p = 0 have one channel);
#   12 dilate's loops one short: "right inside, wrong only at the border: look at the padding" and "does not
#      change when G changes" (the border is right, the padding is not the slip);
#   16 max-pool storing the argmax: "the output does not change when x changes ... that input left out" (true
#      for small changes, but it does not say that positions were stored where values belong).
# Here the words each message held when it named the mistake; None: not named.
FIRST_RUN = {
    0: ["the kernel flipped"], 1: ["shifted by -1 rows and -1 columns", "the padding cropped from the wrong side"],
    2: ["b added 27 times instead of once"], 3: ["the kernel transposed"],
    4: ["`x_` in place of `s * x_` (each time)"], 5: ["= instead of +="], 6: None,
    7: ["`0` in place of `p` (each time)"], 8: ["the stride ignored", "`1` in place of `s` (each time)"],
    9: ["dw divided by n", "db is 0.5 times the right value"], 10: ["db is 3 times the right value (x.shape[1] = 3"],
    11: ["s - 1 zeros after the last entry too"], 12: None, 13: ["not flipped"], 14: ["the gradient not dilated"],
    15: ["flipped along its rows only"], 16: None, 17: ["x's axis 1 (its channels) handled wrongly"],
    18: ["= instead of +="], 19: ["every tied position gets the gradient"],
    20: ["the stride left out of dx's index"], 21: ["the maximum of the whole array instead of each row's maximum"],
    22: ["`exps / exps.sum(axis=0, keepdims=True)` in place of `exps / exps.sum(axis=1, keepdims=True)`"],
    23: ["the 1/n missing"], 24: ["the sum over the batch instead of the mean"],
    25: ["p[:, labels] -= 1 instead of p[np.arange(n), labels] -= 1"], 26: ["db averaged over the batch"],
    27: ["the transpose of dw"], 28: ["x >= 0 instead of x > 0"], 29: ["the mask built from dout"],
    30: ["the relu mask taken from the gradient"], 31: ["dw2 from the pre-activation z"],
    32: ["not divided by n"], 33: ["lr inside the velocity"], 34: ["the weights moved with the old velocity"],
    35: ["the bias-corrected m_hat and s_hat returned"], 36: ["the bias correction with t + 1 instead of t"],
    37: ["statistics over the features of each example (axis 1)"],
    38: ["dividing by the variance instead of the standard deviation"], 39: ["gamma left out of dx"],
    40: ["missing the mean's term"], 41: ["forgetting the skip path"],
    42: ["`dout * (x > 0)` in place of `dout * (x @ w > 0)`"], 43: ["dw is the right values with axes 0 and 1 swapped"],
    44: ["alpha and 1 - alpha swapped"], 45: ["the old mean square used in the weight update"],
    46: ["statistics over the batch (axis 0, batch norm)"], 47: ["the sample variance"],
    48: ["gamma outside the means"], 49: ["`0` in place of `1` (each time)"], 50: ["`h` in place of `dout`"],
    51: ["`x.transpose(0, 3, 2, 1).reshape(-1, c)` in place of `x.transpose(0, 2, 3, 1).reshape(-1, c)`"],
    52: ["statistics per image (over h and w only)"], 53: ["x's axis 1 (its channels) handled wrongly"],
    54: ["m = n (the number of images)"], 55: ["momentum as the weight of the old running value"],
    56: ["the population variance in the running variance"], 57: ["the batch's statistics instead of the running ones"],
    58: ["the training-mode backward"], 59: ["forgetting c's second share"],
    60: ["dvar with the power -1/2"], 61: ["the mean's gradient not divided by m"],
}
FIRST_RUN_UNNAMED = {6, 12, 16}
# Named since, by rules written after the first run (tuning, not a measurement): a border wrong only in the
# last row and column (a loop one short), and whole numbers where values belong (an argmax stored).
NAMED_SINCE = {12: ["right everywhere except in the last row and the last column", "a loop that stops one short"],
               16: ["positions (an np.argmax, an index) stored where the values themselves belong"]}


@pytest.mark.parametrize("entry", FRESH_WRONG_ANSWERS, ids=answer_ids(FRESH_WRONG_ANSWERS))
def test_a_fresh_wrong_answer_fails_and_its_message_names_the_mistake(entry):
    assert_rejected_with_words(FRESH_WRONG_ANSWERS, entry, FIRST_RUN, NAMED_SINCE)


def test_the_first_run_rate(capsys):
    with capsys.disabled():
        named = first_run_named("fresh set 5", FRESH_WRONG_ANSWERS, FIRST_RUN, FIRST_RUN_UNNAMED, NAMED_SINCE)
    assert named / len(FRESH_WRONG_ANSWERS) >= 0.9
