"""The exercise checks of notebooks 07-11 fail wrong answers and name their mistake.

Every wrong answer here is written the way a student would write it, independently of
the checks' own Mistake functions (submitting a Mistake's own output would prove
nothing). That the notebooks' solutions pass, that an unanswered exercise says "not
implemented yet" and that junk never makes a check raise is tested for every exercise
of the course in tests/test_checks.py.

Also here: notebook 07's first_diverging_lr judges the rate an answer returns, however
the answer calls train (bug 5); the checks' optimizer steps, written as formulas, agree
with the library's optimizers; the cached model and data cannot be changed by an answer.
"""
import numpy as np
import pytest

import scratchcnn
from scratchcnn import SGD, TrainingDiverged, reference_cnn, train
from course_machinery import checks
from course_machinery.checks import notebook_07, notebook_10, shared
from exercise_helpers import assert_named
from notebook_answers import solutions


# --- notebook 07 ------------------------------------------------------------------------

def momentum_old_velocity(weights, gradient, velocity, lr, momentum):
    new_weights = weights - lr * velocity
    return new_weights, momentum * velocity + gradient


def momentum_moving_average(weights, gradient, velocity, lr, momentum):
    velocity = momentum * velocity + (1 - momentum) * gradient
    return weights - lr * velocity, velocity


def momentum_lr_inside(weights, gradient, velocity, lr, momentum):
    velocity = momentum * velocity - lr * gradient
    return weights + velocity, velocity


def momentum_not_decayed(weights, gradient, velocity, lr, momentum):
    velocity = velocity + gradient
    return weights - lr * velocity, velocity


def momentum_swapped(weights, gradient, velocity, lr, momentum):
    velocity = momentum * velocity + gradient
    return velocity, weights - lr * velocity


def adam(weights, gradient, m, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, correct=True, eps_inside=False,
         return_hats=False, next_t=False, square=True):
    m = beta1 * m + (1 - beta1) * gradient
    s = beta2 * s + (1 - beta2) * (gradient ** 2 if square else gradient)
    t = t + 1 if next_t else t
    m_hat, s_hat = (m / (1 - beta1 ** t), s / (1 - beta2 ** t)) if correct else (m, s)
    step = m_hat / (np.sqrt(s_hat + eps) if eps_inside else np.sqrt(s_hat) + eps)
    return (weights - lr * step, m_hat, s_hat) if return_hats else (weights - lr * step, m, s)


def prior(labels, num_classes, sign=-1, normalise=True, log=np.log):
    counts = np.bincount(labels, minlength=num_classes)
    f = counts / counts.sum() if normalise else counts
    f = f[f > 0]
    return sign * np.sum(f * log(f))


def diverging(candidates, images, labels, momentum=0.9, fresh=True, batch_size=50, schedule=None,
              optimizer=True, keep_going=False, last_if_none=False):
    model, found = scratchcnn.reference_cnn(seed=0), None
    for lr in candidates:
        if fresh:
            model = scratchcnn.reference_cnn(seed=0)
        settings = dict(optimizer=scratchcnn.SGD(model, lr=lr, momentum=momentum)) if optimizer else dict(lr=lr)
        try:
            scratchcnn.train(model, images, labels, epochs=1, batch_size=batch_size, schedule=schedule, **settings)
        except scratchcnn.TrainingDiverged:
            found = lr
            if not keep_going:
                return lr
    return candidates[-1] if found is None and last_if_none else found


def overfit(images, labels, steps, lr, backward=True, record_after=False, optimizer_per_step=False, sgd=False):
    model = scratchcnn.reference_cnn(seed=0)
    loss_fn = scratchcnn.SoftmaxCrossEntropy()
    optimizer = scratchcnn.SGD(model, lr=lr) if sgd else scratchcnn.Adam(model, lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn.forward(model.forward(images), labels)
        if not record_after:
            losses.append(loss)
        if backward:
            model.backward(loss_fn.backward())
        if optimizer_per_step:
            optimizer = scratchcnn.Adam(model, lr=lr)
        optimizer.step()
        if record_after:
            losses.append(loss_fn.forward(model.forward(images), labels))
    return np.array(losses)


# --- notebook 08 ------------------------------------------------------------------------

def gradient_of(model, image, dlogits):
    """model.backward of dlogits(logits) after a forward of the image as a batch of one."""
    logits = model.forward(image[None, None])
    return model.backward(dlogits(logits))[0, 0]


def onehot(target_class):
    def make(logits):
        row = np.zeros_like(logits)
        row[0, target_class] = 1
        return row
    return make


def saliency_loss_gradient(model, image, target_class):
    def dlogits(logits):
        p = scratchcnn.softmax(logits)
        p[0, target_class] -= 1
        return p
    return np.abs(gradient_of(model, image, dlogits))


def saliency_of_the_shipped_model(model, image, target_class):
    shipped = scratchcnn.load_model(scratchcnn.DEFAULT_MODEL_PATH, dtype=np.float64)
    return np.abs(gradient_of(shipped, image, onehot(target_class)))


def occlusion(model, image, label, patch_size, stride, sign=1, use_logits=False, plus_one=1):
    size = (image.shape[0] - patch_size) // stride + plus_one
    score = (lambda x: model.forward(x)) if use_logits else model.predict_proba
    original = score(image[None, None])[0, label]
    drops = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            occluded = image.copy()
            occluded[i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = 0
            drops[i, j] = sign * (original - score(occluded[None, None])[0, label])
    return drops


def fgsm(model, image, label, epsilon, sign=1, clip=True, use_sign=True):
    loss_fn = scratchcnn.SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(image[None, None]), np.array([label]))
    gradient = model.backward(loss_fn.backward())[0, 0]
    moved = image + sign * epsilon * (np.sign(gradient) if use_sign else gradient)
    return np.clip(moved, 0, 1) if clip else moved


# --- notebook 09 ------------------------------------------------------------------------

def crop(image, threshold=lambda image: 0.1 * image.max(), end=1):
    rows, cols = np.nonzero(image > threshold(image))
    return image[rows.min():rows.max() + end, cols.min():cols.max() + end]


def centre(image, offset=0.0, swap=False, weighted=True):
    rows, cols = np.indices(image.shape)
    if weighted:
        result = (rows * image).sum() / image.sum() + offset, (cols * image).sum() / image.sum() + offset
    else:
        ink_rows, ink_cols = np.nonzero(image)
        result = ink_rows.mean(), ink_cols.mean()
    return result[::-1] if swap else result


def surest_mistake(probabilities, labels, confidence="predicted", among_mistakes=True, position=False):
    predictions = probabilities.argmax(axis=1)
    candidates = np.flatnonzero(predictions != labels) if among_mistakes else np.arange(len(labels))
    if confidence == "predicted":
        score = probabilities[candidates].max(axis=1)
    else:
        score = probabilities[candidates, labels[candidates]]
    best = np.argmax(score)
    return best if position else candidates[best]


# --- notebook 10 ------------------------------------------------------------------------

def batchnorm_forward(x, gamma, beta, eps, ddof=0, axis=0, eps_on_std=False, root=True, swap=False):
    mean = x.mean(axis=axis, keepdims=True)
    var = ((x - mean) ** 2).sum(axis=axis, keepdims=True) / (x.shape[axis] - ddof)
    if eps_on_std:
        x_hat = (x - mean) / (np.sqrt(var) + eps)
    else:
        x_hat = (x - mean) / (np.sqrt(var + eps) if root else var + eps)
    return beta * x_hat + gamma if swap else gamma * x_hat + beta


def batchnorm_backward(dout, x, gamma, eps, mean_terms=True, variance_term=True, use_gamma=True):
    N = x.shape[0]
    inv_std = 1 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    dbeta, dgamma = dout.sum(axis=0), (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma if use_gamma else dout
    dx = dx_hat
    if mean_terms:
        dx = dx - dx_hat.sum(axis=0) / N
        if variance_term:
            dx = dx - x_hat * (dx_hat * x_hat).sum(axis=0) / N
    return dx * inv_std, dgamma, dbeta


def batchnorm_backward_treating_statistics_as_constants(dout, x, gamma, eps):
    return batchnorm_backward(dout, x, gamma, eps, mean_terms=False)


def batchnorm_backward_with_sums(dout, x, gamma, eps):
    inv_std = 1 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    dx = gamma * inv_std * (dout - dout.sum(axis=0) - x_hat * (dout * x_hat).sum(axis=0))
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def batchnorm_backward_swapped(dout, x, gamma, eps):
    dx, dgamma, dbeta = batchnorm_backward(dout, x, gamma, eps)
    return dx, dbeta, dgamma


def residual_backward(x, W, dout, skip=True, mask=True, transpose=True):
    d_inner = dout * (x @ W > 0) if mask else dout
    dx = d_inner @ (W.T if transpose else W)
    return (dout + dx if skip else dx), x.T @ d_inner


def rmsprop(weights, gradient, mean_square, lr, alpha, eps, eps_inside=False, swap_alpha=False, old=False,
            root=True):
    new_mean_square = ((1 - alpha) * mean_square + alpha * gradient ** 2 if swap_alpha
                       else alpha * mean_square + (1 - alpha) * gradient ** 2)
    used = mean_square if old else new_mean_square
    if not root:
        denominator = used + eps
    else:
        denominator = np.sqrt(used + eps) if eps_inside else np.sqrt(used) + eps
    return weights - lr * gradient / denominator, new_mean_square


WRONG = [
    ("sgd_momentum_step", momentum_old_velocity, "OLD velocity"),
    ("sgd_momentum_step", momentum_moving_average, "moving-average form"),
    ("sgd_momentum_step", momentum_lr_inside, "lr inside the velocity"),
    ("sgd_momentum_step", momentum_not_decayed, "not decayed"),
    ("sgd_momentum_step", momentum_swapped, "wrong order"),
    ("adam_step", lambda *args: adam(*args, correct=False), "no bias correction"),
    ("adam_step", lambda *args: adam(*args, eps_inside=True), "eps inside the square root"),
    ("adam_step", lambda *args: adam(*args, return_hats=True), "m_hat and s_hat returned"),
    ("adam_step", lambda *args: adam(*args, next_t=True), "t + 1"),
    ("adam_step", lambda *args: adam(*args, square=False), "not its square"),
    ("steps_per_epoch", lambda n, b: n // b, "integer division"),
    ("steps_per_epoch", lambda n, b: n // b + 1, "one step too many"),
    ("steps_per_epoch", lambda n, b: n / b, "as a fraction"),
    ("prior_loss", lambda labels, k: prior(labels, k, sign=1), "minus sign missing"),
    ("prior_loss", lambda labels, k: prior(labels, k, normalise=False), "counts instead of frequencies"),
    ("prior_loss", lambda labels, k: prior(labels, k, log=np.log10), "log base 10"),
    ("prior_loss", lambda labels, k: prior(labels, k, log=np.log2), "log base 2"),
    ("prior_loss", lambda labels, k: -np.sum(np.bincount(labels, minlength=k) / len(labels)
                                             * np.log(np.bincount(labels, minlength=k) / len(labels))),
     "0 * ln 0 gives nan"),
    ("prior_loss", lambda labels, k: np.log(k), "uniform prediction"),
    ("first_diverging_lr", lambda *args: diverging(*args, momentum=0.0), "momentum 0"),
    ("first_diverging_lr", lambda *args: diverging(*args, fresh=False), "one model shared"),
    ("first_diverging_lr", lambda *args: diverging(*args, last_if_none=True), "last candidate returned"),
    ("first_diverging_lr", lambda *args: diverging(*args, keep_going=True), "LAST diverging one"),
    ("first_diverging_lr", lambda c, x, y: diverging(c, x, y, schedule="cosine"), "cosine schedule"),
    ("first_diverging_lr", lambda c, x, y: diverging(c, x, y, batch_size=64), "batch size 64"),
    ("first_diverging_lr", lambda c, x, y: diverging(c, x, y, optimizer=False), "Adam"),
    ("overfit_tiny_batch", lambda *args: overfit(*args, backward=False), "no backward pass"),
    ("overfit_tiny_batch", lambda *args: overfit(*args, optimizer_per_step=True), "a new Adam every step"),
    ("overfit_tiny_batch", lambda *args: overfit(*args, record_after=True), "recorded after the step"),
    ("overfit_tiny_batch", lambda *args: overfit(*args, sgd=True), "SGD instead of"),
    ("saliency_map", lambda model, image, c: gradient_of(model, image, onehot(c)), "without the absolute value"),
    ("saliency_map", saliency_loss_gradient, "gradient of the loss"),
    ("saliency_map", lambda model, image, c: np.abs(gradient_of(model, image, onehot(c)))[None, None],
     "batch and channel axes kept"),
    ("saliency_map", saliency_of_the_shipped_model, "shipped model loaded inside"),
    ("occlusion_map", lambda *args: occlusion(*args, sign=-1), "sign flipped"),
    ("occlusion_map", lambda *args: occlusion(*args, use_logits=True), "logits"),
    ("occlusion_map", lambda *args: occlusion(*args, plus_one=0), "without the + 1"),
    ("conv2_output_shape", lambda n: (n, 16, 7, 7), "after the second max-pool"),
    ("conv2_output_shape", lambda n: (16, 14, 14), "batch axis left out"),
    ("conv2_output_shape", lambda n: (n, 8, 14, 14), "8 channels"),
    ("fgsm_step", lambda *args: fgsm(*args, sign=-1), "step DOWN"),
    ("fgsm_step", lambda *args: fgsm(*args, clip=False), "no clipping"),
    ("fgsm_step", lambda *args: fgsm(*args, use_sign=False), "the gradient itself"),
    ("crop_to_ink", lambda image: crop(image, end=0), "without + 1"),
    ("crop_to_ink", lambda image: crop(image, threshold=lambda image: 0.1), "an absolute threshold"),
    ("crop_to_ink", lambda image: crop(image, threshold=lambda image: 0), "every nonzero pixel"),
    ("centre_of_mass", lambda image: centre(image, swap=True), "axes swapped"),
    ("centre_of_mass", lambda image: centre(image, offset=0.5), "+0.5 pixel-centre convention"),
    ("centre_of_mass", lambda image: centre(image, weighted=False), "not weighted by their brightness"),
    ("feature_map_shapes", lambda: ((8, 26, 26), (16, 11, 11)), "no padding"),
    ("feature_map_shapes", lambda: ((1, 8, 28, 28), (1, 16, 14, 14)), "batch axis included"),
    ("feature_map_shapes", lambda: ((8, 14, 14), (16, 7, 7)), "after max-pooling"),
    ("most_confident_mistake", lambda p, y: surest_mistake(p, y, among_mistakes=False), "right or wrong"),
    ("most_confident_mistake", lambda p, y: surest_mistake(p, y, confidence="true"), "TRUE class"),
    ("most_confident_mistake", lambda p, y: surest_mistake(p, y, position=True), "position among the mistakes"),
    ("batchnorm_forward", lambda *args: batchnorm_forward(*args, ddof=1), "sample variance"),
    ("batchnorm_forward", lambda *args: batchnorm_forward(*args, axis=1), "features of each example"),
    ("batchnorm_forward", lambda *args: batchnorm_forward(*args, eps_on_std=True), "standard deviation"),
    ("batchnorm_forward", lambda *args: batchnorm_forward(*args, root=False), "dividing by the variance"),
    ("batchnorm_forward", lambda *args: batchnorm_forward(*args, swap=True), "gamma and beta swapped"),
    ("batchnorm_backward", batchnorm_backward_treating_statistics_as_constants, "as constants"),
    ("batchnorm_backward", lambda *args: batchnorm_backward(*args, variance_term=False), "variance's term"),
    ("batchnorm_backward", batchnorm_backward_with_sums, "sums where the formula has means"),
    ("batchnorm_backward", lambda *args: batchnorm_backward(*args, use_gamma=False), "gamma left out"),
    ("batchnorm_backward", batchnorm_backward_swapped, "dgamma and dbeta swapped"),
    ("residual_backward", lambda *args: residual_backward(*args, skip=False), "forgetting the skip path"),
    ("residual_backward", lambda *args: residual_backward(*args, mask=False), "ReLU left out"),
    ("residual_backward", lambda *args: residual_backward(*args, transpose=False), "not transposed"),
    ("rmsprop_step", lambda *args: rmsprop(*args, eps_inside=True), "eps inside the square root"),
    ("rmsprop_step", lambda *args: rmsprop(*args, swap_alpha=True), "alpha and 1 - alpha swapped"),
    ("rmsprop_step", lambda *args: rmsprop(*args, old=True), "old mean square"),
    ("rmsprop_step", lambda *args: rmsprop(*args, root=False), "no square root"),
]


@pytest.mark.parametrize("name, answer, mistake", WRONG, ids=[f"{w[0]}-{w[2]}" for w in WRONG])
def test_typical_mistake_is_named(name, answer, mistake, capsys):
    assert_named(getattr(checks, f"check_{name}"), answer, mistake)
    capsys.readouterr()


def test_occlusion_without_a_copy_is_named_and_warned(capsys):
    def no_copy(model, image, label, patch_size, stride):
        size = (image.shape[0] - patch_size) // stride + 1
        original = model.predict_proba(image[None, None])[0, label]
        drops = np.zeros((size, size))
        for i in range(size):
            for j in range(size):
                image[i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = 0
                drops[i, j] = original - model.predict_proba(image[None, None])[0, label]
        return drops

    assert_named(checks.check_occlusion_map, no_copy, "earlier patches stay black")
    assert "changed its argument `image` in place" in checks.check_occlusion_map(no_copy).message
    capsys.readouterr()


def test_centre_of_mass_accepts_lists_and_arrays(capsys):
    solution = solutions("09")["centre_of_mass"]
    assert checks.check_centre_of_mass(lambda image: list(solution(image)))
    assert checks.check_centre_of_mass(lambda image: np.array(solution(image)))
    capsys.readouterr()


def test_crop_reference_is_the_preprocessing_step():
    """The check's reference is preprocess_digit's own crop, so the exercise and the library agree."""
    images, _ = shared.mnist_test()
    solution = solutions("09")["crop_to_ink"]
    for digit in images[:5, 0]:
        _, steps = scratchcnn.preprocess_digit(digit, return_steps=True)
        np.testing.assert_array_equal(solution(steps["ink"]), steps["cropped"])


# --- bug 5: first_diverging_lr judges the returned rate, however train is called ----------

def diverging_with_imported_train(candidates, images, labels):
    """A correct answer that calls train by the name it imported (``from scratchcnn import train``)."""
    for lr in candidates:
        model = reference_cnn(seed=0)
        try:
            train(model, images, labels, epochs=1, batch_size=50, optimizer=SGD(model, lr=lr, momentum=0.9),
                  schedule=None)
        except TrainingDiverged:
            return lr
    return None


def test_first_diverging_lr_accepts_train_imported_by_name(capsys):
    real_train = scratchcnn.train
    result = checks.check_first_diverging_lr(diverging_with_imported_train)
    assert result, result.message
    assert scratchcnn.train is real_train                     # the check patches nothing
    capsys.readouterr()


def test_first_diverging_lr_accepts_the_constant_schedule(capsys):
    result = checks.check_first_diverging_lr(lambda *args: diverging(*args, schedule="constant"))
    assert result, result.message
    capsys.readouterr()


def test_first_diverging_lr_with_a_wrong_answer_names_no_train_calls(capsys):
    result = checks.check_first_diverging_lr(lambda candidates, images, labels: candidates[0])
    assert not result and "expected" in result.message and "[]" not in result.message, result.message
    capsys.readouterr()


# --- the checks' optimizer steps are the library's ---------------------------------------

@pytest.mark.parametrize("optimizer, settings", [
    ("SGD", dict(lr=0.1, momentum=0.9)), ("SGD", dict(lr=0.5, momentum=0.5)),
    ("Adam", dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8)), ("Adam", dict(lr=0.1, betas=(0.5, 0.9), eps=1e-3)),
    ("RMSprop", dict(lr=0.01, alpha=0.99, eps=1e-8)), ("RMSprop", dict(lr=0.1, alpha=0.5, eps=1e-3))])
def test_the_checks_step_formulas_agree_with_the_library_optimizers(optimizer, settings):
    """Five steps of scratchcnn's optimizer on a Dense layer's weights, gradients from real
    backward passes, against the checks' formulas (momentum_update, adam_update, rmsprop_update)
    fed the same gradients, the state carried from step to step by the formulas themselves."""
    rng = np.random.default_rng(7)
    layer = scratchcnn.Dense(3, 2, rng=rng, dtype=np.float64)
    library = getattr(scratchcnn, optimizer)(scratchcnn.Sequential([layer]), **settings)
    weights = {name: value.copy() for name, value in layer.params.items()}
    state = {name: (np.zeros_like(value), np.zeros_like(value)) for name, value in weights.items()}
    for t in range(1, 6):
        layer.forward(rng.standard_normal((4, 3)))
        layer.backward(rng.standard_normal((4, 2)))
        for name, gradient in layer.grads.items():
            first, second = state[name]
            if optimizer == "SGD":
                weights[name], first = notebook_07.momentum_update(weights[name], gradient, first, **settings)
            elif optimizer == "Adam":
                (beta1, beta2), lr, eps = settings["betas"], settings["lr"], settings["eps"]
                weights[name], first, second = notebook_07.adam_update(weights[name], gradient, first, second, t,
                                                                       lr, beta1, beta2, eps)
            else:
                weights[name], first = notebook_10.rmsprop_update(weights[name], gradient, first, **settings)
            state[name] = first, second
        library.step()
        for name, value in layer.params.items():
            np.testing.assert_allclose(value, weights[name], rtol=1e-12, atol=1e-14)


# --- the data and the model the checks share -----------------------------------------------

def test_shared_data_is_loaded_once_and_read_only():
    images, labels = shared.mnist_test()
    assert shared.mnist_test()[0] is images and shared.trained_model() is shared.trained_model()
    for array in (images, labels, shared.mnist_test_bytes()):
        assert not array.flags.writeable
    np.testing.assert_array_equal(shared.mnist_test_bytes()[:3],
                                  scratchcnn.read_idx(scratchcnn.DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz",
                                                      scratchcnn.IMAGES_MAGIC)[:3])


def test_an_answer_that_changes_its_model_changes_no_later_check(capsys):
    def wrecks_the_model(model, image, target_class):
        for layer in model.layers:
            for value in layer.params.values():
                value[...] = 0
        return np.zeros_like(image)

    assert not checks.check_saliency_map(wrecks_the_model)
    assert not checks.check_fgsm_step(lambda model, image, label, epsilon: wrecks_the_model(model, image, label))
    for name in ("saliency_map", "fgsm_step", "occlusion_map"):
        result = getattr(checks, f"check_{name}")(solutions("08")[name])
        assert result, result.message
    assert np.any(shared.trained_model().layers[0].params["W"])
    capsys.readouterr()


# --- notebook 11: diagnoses ------------------------------------------------------------------

DIAGNOSES = {
    "check_bug_in_conv_forward": ("flipped_kernel", {"stride": "start at the wrong places",
                                                     "bias": "b = 0", "channels": "wrong axes"}),
    "check_bug_in_maxpool_backward": ("assign_not_add", {"wrong_winner": "not its maximum",
                                                         "ties": "never tie"}),
    "check_bug_in_softmax_cross_entropy": ("missing_mean", {"wrong_labels": "constant factor",
                                                            "sign": "wrong sign"}),
    "check_bug_in_relu": ("shared_array", {"backward_mask": "ReLU's backward exactly",
                                           "forward_output": "scratchcnn.ReLU().forward(x)",
                                           "kink": "no gradient at x = 0"}),
    "check_bug_in_dropout": ("no_rescale", {"wrong_p": "kept fraction", "eval_mode": "evaluation"}),
    "check_bug_in_adam": ("no_bias_correction", {"no_sqrt": "gradient's size",
                                                 "momentum_only": "proportional"}),
    "check_bug_in_im2col": ("row_stride", {"column_stride": "first output COLUMN",
                                           "column_order": "stride 1 as well"}),
    "check_bug_in_softmax": ("no_max_subtracted", {"wrong_axis": "sums to 1", "float32": "709"}),
}


@pytest.mark.parametrize("check_name", DIAGNOSES)
def test_wrong_diagnosis_is_told_what_it_would_mean(check_name, capsys):
    check = getattr(checks, check_name)
    culprit, wrong_keys = DIAGNOSES[check_name]
    assert check(lambda: f"  {culprit.upper().replace('_', ' ')} ")      # case and spaces don't matter
    assert check(culprit)                                               # and the bare key is accepted
    for key, evidence in wrong_keys.items():
        result = check(lambda key=key: key)
        assert_named(check, lambda key=key: key, repr(key))
        assert evidence in result.message, result.message
        assert culprit not in result.message                            # the verdict keeps the answer secret
    unknown = check(lambda: "no idea")
    assert not unknown and "not one of the keys" in unknown.message and repr(culprit) in unknown.message
    capsys.readouterr()


# --- notebook 11: fixes ----------------------------------------------------------------------

def conv_forward(x, W, b, stride=1, padding=0, flip=lambda kernel: kernel, window_step=None, use_bias=True):
    N, C, H, W_in = x.shape
    F, _, k, _ = W.shape
    step = stride if window_step is None else window_step
    H_out = (H + 2 * padding - k) // stride + 1
    W_out = (W_in + 2 * padding - k) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((N, F, H_out, W_out))
    for f in range(F):
        kernel = flip(W[f])
        for y in range(H_out):
            for x_ in range(W_out):
                patch = x_pad[:, :, y * step:y * step + k, x_ * step:x_ * step + k]
                out[:, f, y, x_] = np.sum(patch * kernel, axis=(1, 2, 3)) + (b[f] if use_bias else 0)
    return out


def maxpool_backward_overwriting(x, dout, kernel_size, stride):
    dx = np.zeros_like(x, dtype=np.float64)
    for n, c, y, x_ in np.ndindex(*dout.shape):
        window = x[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]
        i, j = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, y * stride + i, x_ * stride + j] = dout[n, c, y, x_]      # = where += belongs
    return dx


def maxpool_backward_every_tie(x, dout, kernel_size, stride):
    dx = np.zeros_like(x, dtype=np.float64)
    N, C, H_out, W_out = dout.shape
    for n, c, y, x_ in np.ndindex(N, C, H_out, W_out):
        rows = slice(y * stride, y * stride + kernel_size)
        cols = slice(x_ * stride, x_ * stride + kernel_size)
        window = x[n, c, rows, cols]
        dx[n, c, rows, cols] += dout[n, c, y, x_] * (window == window.max())
    return dx


def maxpool_backward_last_tie(x, dout, kernel_size, stride):
    dx = np.zeros_like(x, dtype=np.float64)
    N, C, H_out, W_out = dout.shape
    for n, c, y, x_ in np.ndindex(N, C, H_out, W_out):
        window = x[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]
        i, j = np.argwhere(window == window.max())[-1]          # the last maximum, not the first
        dx[n, c, y * stride + i, x_ * stride + j] += dout[n, c, y, x_]
    return dx


def softmax_cross_entropy(logits, labels, divide_by=lambda logits, labels: len(labels)):
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    N = len(labels)
    loss = -np.log(probs[np.arange(N), labels]).mean()
    dlogits = probs.copy()
    dlogits[np.arange(N), labels] -= 1
    return loss, dlogits / divide_by(logits, labels)


def softmax_cross_entropy_every_label(logits, labels):
    loss, _ = softmax_cross_entropy(logits, labels)
    dlogits = scratchcnn.softmax(logits)
    dlogits[:, labels] -= 1
    return loss, dlogits / len(labels)


def relu_in_place(x):                 # the original bug
    out = x
    out[out < 0] = 0
    return out, x


def relu_caching_the_mask_with_zero(x):
    return np.maximum(x, 0), (x >= 0).astype(float)


def dropout(x, p, rng, scale=lambda p: 1 / (1 - p)):
    keep = rng.random(x.shape) >= p
    mask = keep * scale(p)
    return x * mask, mask


def dropout_scaled_output_only(x, p, rng):
    keep = rng.random(x.shape) >= p
    return x * keep / (1 - p), keep.astype(float)


def adam_fix(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, correct_m=True, correct_v=True,
             store_corrected=False, eps_inside=False):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat = m / (1 - beta1 ** t) if correct_m else m
    v_hat = v / (1 - beta2 ** t) if correct_v else v
    new_w = w - lr * m_hat / (np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps)
    return (new_w, m_hat, v_hat) if store_corrected else (new_w, m, v)


def im2col(x, kernel_size, stride=1, padding=0, row_step=None, column_step=None):
    N, C, H, W = x.shape
    k = kernel_size
    row_step = stride if row_step is None else row_step
    column_step = stride if column_step is None else column_step
    H_out = (H + 2 * padding - k) // stride + 1
    W_out = (W + 2 * padding - k) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.zeros((C * k * k, N * H_out * W_out))
    column = 0
    for n in range(N):
        for y in range(H_out):
            for x_ in range(W_out):
                top, left = y * row_step, x_ * column_step
                cols[:, column] = x_pad[n, :, top:top + k, left:left + k].ravel()
                column += 1
    return cols


def softmax(logits, shift=lambda z: z.max(axis=1, keepdims=True)):
    exps = np.exp(logits - shift(logits))
    return exps / exps.sum(axis=1, keepdims=True)


STILL_WRONG = "this is still wrong: it behaves exactly like buggy_"

FIXES = [
    ("fixed_conv_forward", lambda x, W, b, s=1, p=0: conv_forward(x, W, b, s, p, flip=lambda k: k[:, ::-1, ::-1]),
     STILL_WRONG),
    ("fixed_conv_forward", lambda x, W, b, s=1, p=0: conv_forward(x, W, b, s, p, flip=lambda k: k[:, ::-1, :]),
     "upside down only"),
    ("fixed_conv_forward", lambda x, W, b, s=1, p=0: conv_forward(x, W, b, s, p, window_step=1),
     "instead of y*stride"),
    ("fixed_conv_forward", lambda x, W, b, s=1, p=0: conv_forward(x, W, b, s, p, use_bias=False), "bias is missing"),
    ("fixed_maxpool_backward", maxpool_backward_overwriting, STILL_WRONG),
    ("fixed_maxpool_backward", maxpool_backward_every_tie, "every tied maximum"),
    ("fixed_maxpool_backward", maxpool_backward_last_tie, "last maximum wins"),
    ("fixed_softmax_cross_entropy", lambda z, y: softmax_cross_entropy(z, y, divide_by=lambda z, y: 1),
     STILL_WRONG),
    ("fixed_softmax_cross_entropy", lambda z, y: softmax_cross_entropy(z, y, divide_by=lambda z, y: z.shape[1]),
     "number of classes K"),
    ("fixed_softmax_cross_entropy", softmax_cross_entropy_every_label, "hits every label"),
    ("fixed_relu_forward", relu_in_place, STILL_WRONG),
    ("fixed_relu_forward", relu_caching_the_mask_with_zero, "gradient through at x = 0"),
    ("fixed_relu_forward", lambda x: (x.copy(), x), "not clipped any more"),
    ("fixed_dropout_forward", lambda x, p, rng: dropout(x, p, rng, scale=lambda p: 1), STILL_WRONG),
    ("fixed_dropout_forward", lambda x, p, rng: dropout(x, p, rng, scale=lambda p: 1 - p), "multiplied by 1 - p"),
    ("fixed_dropout_forward", lambda x, p, rng: dropout(x, p, rng, scale=lambda p: 1 / p if p else 1.0),
     "divided by p"),
    ("fixed_dropout_forward", dropout_scaled_output_only, "returned mask is not"),
    ("fixed_adam_step", lambda *args: adam_fix(*args, correct_m=False, correct_v=False), STILL_WRONG),
    ("fixed_adam_step", lambda *args: adam_fix(*args, store_corrected=True), "corrected m_hat and v_hat"),
    ("fixed_adam_step", lambda *args: adam_fix(*args, correct_v=False), "only m is bias-corrected"),
    ("fixed_adam_step", lambda *args: adam_fix(*args, eps_inside=True), "eps inside the square root"),
    ("fixed_im2col", lambda x, k, s=1, p=0: im2col(x, k, s, p, row_step=1), STILL_WRONG),
    ("fixed_im2col", lambda x, k, s=1, p=0: im2col(x, k, s, p, column_step=1), "first column ignores"),
    ("fixed_im2col", lambda x, k, s=1, p=0: im2col(x, k, s, p, row_step=1, column_step=1), "neither the rows"),
    ("fixed_softmax", lambda z: softmax(z, shift=lambda z: 0), STILL_WRONG),
    ("fixed_softmax", lambda z: softmax(z, shift=lambda z: z.max()), "whole array"),
    ("fixed_softmax", lambda z: softmax(z, shift=lambda z: z.max(axis=0, keepdims=True)), "each column"),
]


@pytest.mark.parametrize("name, answer, mistake", FIXES, ids=[f"{f[0]}-{f[2]}" for f in FIXES])
def test_wrong_fix_is_named(name, answer, mistake, capsys):
    assert_named(getattr(checks, f"check_{name}"), answer, mistake)
    capsys.readouterr()


def test_every_fix_check_knows_the_unchanged_function_and_two_other_slips():
    for name in {fix[0] for fix in FIXES}:
        assert sum(fix[0] == name and fix[2] == STILL_WRONG for fix in FIXES) == 1, name
        assert sum(fix[0] == name for fix in FIXES) >= 3, name


# Words that would answer a diagnosis: the bug's name or its fix (not the symptoms that the notebook's
# alarm shows, like overlapping windows or huge logits). The verdict on an unchanged function must not
# hold them, or the fix check gives the diagnosis away.
DIAGNOSIS_WORDS = {
    "fixed_conv_forward": ("flip", "rotat", "180", "cross-correlation", "orientation"),
    "fixed_maxpool_backward": ("+=", "overwrit", "assign", "last one", "collect"),
    "fixed_softmax_cross_entropy": ("1/n", "/ n", "mean", "summed", "batch size"),
    "fixed_relu_forward": ("in place", "copy", "clip", "shared", "same array"),
    "fixed_dropout_forward": ("rescal", "1 - p", "1 / (1 - p)", "scale"),
    "fixed_adam_step": ("bias", "correct", "m_hat", "1 - beta"),
    "fixed_im2col": ("row", "y * stride", "y*stride"),
    "fixed_softmax": ("maximum", "max(", "overflow", "subtract"),
}


@pytest.mark.parametrize("name, answer", [(fix[0], fix[1]) for fix in FIXES if fix[2] == STILL_WRONG],
                         ids=[fix[0] for fix in FIXES if fix[2] == STILL_WRONG])
def test_the_unchanged_function_is_still_wrong_and_its_bug_is_not_named(name, answer, capsys):
    with np.errstate(all="ignore"):
        result = getattr(checks, f"check_{name}")(answer)
    assert not result
    message = result.message.lower()
    assert f"it behaves exactly like buggy_{name[len('fixed_'):]}, the function you were given" in message, message
    named = [word for word in DIAGNOSIS_WORDS[name] if word in message]
    assert not named, f"the verdict names the bug ({named}): {result.message}"
    capsys.readouterr()


def test_relu_fix_that_still_edits_its_input_is_still_wrong(capsys):
    def clips_a_copy_and_x(x):
        out = np.maximum(x, 0)
        x[x < 0] = 0
        return out, x

    assert_named(checks.check_fixed_relu_forward, clips_a_copy_and_x, STILL_WRONG)
    capsys.readouterr()


def test_relu_fix_that_caches_the_output_is_right_with_the_given_backward(capsys):
    # relu_backward lets the gradient through where its cache is > 0, as scratchcnn.ReLU: the
    # output is > 0 exactly where x is, so caching it (as PyTorch's in-place ReLU does) is right.
    for answer in (lambda x: (np.maximum(x, 0), x), lambda x: (np.maximum(x, 0),) * 2):
        result = checks.check_fixed_relu_forward(answer)
        assert result, result.message
    capsys.readouterr()


def test_a_fixed_conv_forward_with_an_output_of_the_images_dtype_fails_and_says_so(capsys):
    def conv_in_image_dtype(x, W, b, stride=1, padding=0):
        N, _, H, W_in = x.shape
        F, _, k, _ = W.shape
        padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        out = np.zeros((N, F, (H + 2 * padding - k) // stride + 1, (W_in + 2 * padding - k) // stride + 1), x.dtype)
        for n, f, y, x_ in np.ndindex(*out.shape):
            window = padded[n, :, y * stride:y * stride + k, x_ * stride:x_ * stride + k]
            out[n, f, y, x_] = np.sum(window * W[f]) + b[f]
        return out

    result = checks.check_fixed_conv_forward(conv_in_image_dtype)
    assert not result and "returned int64, expected a floating-point result" in result.message, result.message
    capsys.readouterr()


def test_each_fix_starts_from_the_whole_given_function_and_its_answer_cell_marks_no_line():
    """The Markdown above each fix's answer cell shows the buggy function, whole and renamed (the student
    finds the wrong line), and the answer cell keeps only the signature and docstring outside its solution."""
    import ast

    import nbformat
    from notebook_answers import NOTEBOOKS

    notebook = nbformat.read(next(NOTEBOOKS.glob("11_*.ipynb")), as_version=4)
    cells = notebook.cells
    fixes = [(index, cell.metadata["nbgrader"]["grade_id"][3:]) for index, cell in enumerate(cells)
             if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("11_fixed_")
             and cell.metadata["nbgrader"].get("solution")]
    assert len(fixes) == 8
    for index, name in fixes:
        buggy = name.replace("fixed_", "buggy_", 1)
        given = next(cell.source for cell in cells if cell.cell_type == "code" and f"def {buggy}(" in cell.source)
        tree = ast.parse(given)
        node = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == buggy)
        whole = "\n".join(given.splitlines()[node.lineno - 1:node.end_lineno]).replace(f"def {buggy}(", f"def {name}(")
        assert f"```python\n{whole}\n```" in cells[index - 1].source, name
        answer = cells[index].source
        before, after = answer.split("    ### BEGIN SOLUTION\n")[0], answer.split("### END SOLUTION")[1]
        docstring_end = ast.parse(whole).body[0].body[0].end_lineno
        assert before.rstrip() == "\n".join(whole.splitlines()[:docstring_end]) and not after.strip(), name
