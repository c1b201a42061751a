"""Tests of the exercise checks of notebooks 07 (training) and 08 (looking inside).

For every check: the reference solution passes, a typical wrong answer fails
with a message naming the case, "expected" and the hint, and an unanswered
exercise (NotImplementedError) prints "not implemented yet".
"""

import math

import numpy as np
import pytest

import scratchcnn


def not_implemented(*args):
    raise NotImplementedError()


def assert_fails_with(capsys, check, wrong_answer, case, hint):
    assert not check(wrong_answer)
    message = capsys.readouterr().out
    assert f"case '{case}'" in message, message
    assert "expected" in message, message
    assert hint in message, message


def assert_not_implemented(capsys, check):
    assert not check(not_implemented)
    assert "not implemented yet" in capsys.readouterr().out


# --- notebook 07 -------------------------------------------------------------

def sgd_momentum_step(weights, gradient, velocity, lr, momentum):
    velocity = momentum * velocity + gradient
    return weights - lr * velocity, velocity


def test_sgd_momentum_step(capsys):
    assert scratchcnn.check_sgd_momentum_step(sgd_momentum_step)
    assert "all 4 cases pass" in capsys.readouterr().out

    def moves_with_gradient(weights, gradient, velocity, lr, momentum):
        return weights - lr * gradient, momentum * velocity + gradient

    assert_fails_with(capsys, scratchcnn.check_sgd_momentum_step, moves_with_gradient,
                      "velocity from earlier steps", "move the weights with that NEW velocity")

    def lr_inside_velocity(weights, gradient, velocity, lr, momentum):   # the other convention
        velocity = momentum * velocity - lr * gradient
        return weights + velocity, velocity

    assert_fails_with(capsys, scratchcnn.check_sgd_momentum_step, lr_inside_velocity,
                      "first step: velocity starts at zero", "the velocity collects GRADIENTS")
    assert_not_implemented(capsys, scratchcnn.check_sgd_momentum_step)


def test_steps_per_epoch(capsys):
    assert scratchcnn.check_steps_per_epoch(lambda n, b: math.ceil(n / b))
    capsys.readouterr()
    assert_fails_with(capsys, scratchcnn.check_steps_per_epoch, lambda n, b: n // b,
                      "60,000 images, batch size 128", "round UP")
    assert_fails_with(capsys, scratchcnn.check_steps_per_epoch, lambda n, b: n // b + 1,
                      "100 images, batch size 100", "exactly one full batch")
    assert_not_implemented(capsys, scratchcnn.check_steps_per_epoch)


def prior_loss(labels, num_classes):
    frequencies = np.bincount(labels, minlength=num_classes) / len(labels)
    present = frequencies > 0
    return float(-np.sum(frequencies[present] * np.log(frequencies[present])))


def test_prior_loss(capsys):
    assert scratchcnn.check_prior_loss(prior_loss)
    capsys.readouterr()

    def mean_over_classes(labels, num_classes):
        frequencies = np.bincount(labels, minlength=num_classes) / len(labels)
        return float(-np.mean(np.log(frequencies)))

    assert_fails_with(capsys, scratchcnn.check_prior_loss, mean_over_classes,
                      "unbalanced: labels [0, 0, 0, 1]", "weighted by the frequencies")

    def keeps_zero_frequencies(labels, num_classes):
        frequencies = np.bincount(labels, minlength=num_classes) / len(labels)
        return float(-np.sum(frequencies * np.log(frequencies)))

    assert_fails_with(capsys, scratchcnn.check_prior_loss, keeps_zero_frequencies,
                      "classes 3 and 7 never occur", "skip zero frequencies")
    assert_not_implemented(capsys, scratchcnn.check_prior_loss)


def first_diverging_lr(candidates, images, labels):
    for lr in candidates:
        model = scratchcnn.reference_cnn(seed=0)
        try:
            scratchcnn.train(model, images, labels, epochs=1, batch_size=50,
                             optimizer=scratchcnn.SGD(model, lr=lr, momentum=0.9), schedule=None)
        except scratchcnn.TrainingDiverged:
            return lr
    return None


def test_first_diverging_lr(capsys):
    assert scratchcnn.check_first_diverging_lr(first_diverging_lr)
    capsys.readouterr()

    def returns_last_lr(candidates, images, labels):
        return candidates[-1]

    assert_fails_with(capsys, scratchcnn.check_first_diverging_lr, returns_last_lr,
                      "learning rates [0.001, 0.01, 0.1]: none diverges", "return None")

    def one_shared_model(candidates, images, labels):
        model = scratchcnn.reference_cnn(seed=0)
        for lr in candidates:
            try:
                scratchcnn.train(model, images, labels, epochs=1, batch_size=50,
                                 optimizer=scratchcnn.SGD(model, lr=lr, momentum=0.9), schedule=None)
            except scratchcnn.TrainingDiverged:
                return lr
        return None

    assert_fails_with(capsys, scratchcnn.check_first_diverging_lr, one_shared_model,
                      "learning rates [0.01, 1.0, 100.0, 1e10]", "fresh scratchcnn.reference_cnn(seed=0)")
    assert_not_implemented(capsys, scratchcnn.check_first_diverging_lr)


# --- notebook 08 -------------------------------------------------------------

def score_gradient(model, image, target_class):
    logits = model.forward(image[None, None])
    onehot = np.zeros_like(logits)
    onehot[0, target_class] = 1
    return model.backward(onehot)[0, 0]


def saliency_map(model, image, target_class):
    return np.abs(score_gradient(model, image, target_class))


@pytest.fixture(scope="module")
def first_test_digit():
    images, labels = scratchcnn.load_mnist("test")
    return int(labels[0])


def test_saliency_map(capsys, first_test_digit):
    assert scratchcnn.check_saliency_map(saliency_map)
    capsys.readouterr()
    first_case = f"trained model, test digit 0 (a {first_test_digit}), its own class"
    assert_fails_with(capsys, scratchcnn.check_saliency_map, score_gradient,   # forgot the absolute value
                      first_case, "ABSOLUTE value")
    assert_fails_with(capsys, scratchcnn.check_saliency_map,
                      lambda model, image, target_class: saliency_map(model, image, target_class)[None, None],
                      first_case, "drop the batch and channel axes")

    def loss_gradient(model, image, target_class):
        probabilities = scratchcnn.softmax(model.forward(image[None, None]))
        probabilities[0, target_class] -= 1
        return np.abs(model.backward(probabilities)[0, 0])

    assert_fails_with(capsys, scratchcnn.check_saliency_map, loss_gradient,
                      first_case, "not softmax - onehot")
    shipped = scratchcnn.load_model(scratchcnn.DEFAULT_MODEL_PATH, dtype=np.float64)
    assert_fails_with(capsys, scratchcnn.check_saliency_map,
                      lambda model, image, target_class: saliency_map(shipped, image, target_class),
                      "untrained model, a noise image, class 4", "use the model you are given")
    assert_not_implemented(capsys, scratchcnn.check_saliency_map)


def occlusion_map(model, image, label, patch_size, stride):
    size = (image.shape[0] - patch_size) // stride + 1
    original = model.predict_proba(image[None, None])[0, label]
    drops = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            occluded = image.copy()
            occluded[i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = 0
            drops[i, j] = original - model.predict_proba(occluded[None, None])[0, label]
    return drops


def test_occlusion_map(capsys, first_test_digit):
    assert scratchcnn.check_occlusion_map(occlusion_map)
    capsys.readouterr()
    assert_fails_with(capsys, scratchcnn.check_occlusion_map,
                      lambda *args: -occlusion_map(*args),
                      f"test digit 0 (a {first_test_digit}), patch 7, stride 7", "on a COPY of the image")

    def no_copy(model, image, label, patch_size, stride):   # earlier patches stay black
        size = (image.shape[0] - patch_size) // stride + 1
        original = model.predict_proba(image[None, None])[0, label]
        drops = np.zeros((size, size))
        for i in range(size):
            for j in range(size):
                image[i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = 0
                drops[i, j] = original - model.predict_proba(image[None, None])[0, label]
        return drops

    assert_fails_with(capsys, scratchcnn.check_occlusion_map, no_copy,
                      f"test digit 0 (a {first_test_digit}), patch 7, stride 7", "COPY")

    def wrong_size(model, image, label, patch_size, stride):
        return occlusion_map(model, image, label, patch_size, stride)[:, :-1]

    assert_fails_with(capsys, scratchcnn.check_occlusion_map, wrong_size,
                      f"test digit 0 (a {first_test_digit}), patch 7, stride 7", "map position (i, j)")
    assert_not_implemented(capsys, scratchcnn.check_occlusion_map)


def test_conv2_output_shape(capsys):
    assert scratchcnn.check_conv2_output_shape(lambda n: (n, 16, 14, 14))
    capsys.readouterr()
    assert_fails_with(capsys, scratchcnn.check_conv2_output_shape, lambda n: (n, 16, 7, 7),
                      "a batch of 1", "only the pooling BEFORE it halved 28 to 14")
    assert_fails_with(capsys, scratchcnn.check_conv2_output_shape, lambda n: (1, 16, 14, 14),
                      "a batch of 5", "(N, filters, height, width)")
    assert_not_implemented(capsys, scratchcnn.check_conv2_output_shape)


def fgsm_step(model, image, label, epsilon):
    loss_fn = scratchcnn.SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(image[None, None]), np.array([label]))
    gradient = model.backward(loss_fn.backward())[0, 0]
    return np.clip(image + epsilon * np.sign(gradient), 0, 1)


def test_fgsm_step(capsys, first_test_digit):
    assert scratchcnn.check_fgsm_step(fgsm_step)
    capsys.readouterr()
    assert_fails_with(capsys, scratchcnn.check_fgsm_step,
                      lambda model, image, label, epsilon: fgsm_step(model, image, label, -epsilon),
                      f"test digit 0 (a {first_test_digit}) dimmed to greys 0.25..0.75, epsilon 0.1 (no clipping needed)",
                      "move UP the gradient of the LOSS")

    def no_clip(model, image, label, epsilon):
        loss_fn = scratchcnn.SoftmaxCrossEntropy()
        loss_fn.forward(model.forward(image[None, None]), np.array([label]))
        return image + epsilon * np.sign(model.backward(loss_fn.backward())[0, 0])

    _, labels = scratchcnn.load_mnist("test")
    assert_fails_with(capsys, scratchcnn.check_fgsm_step, no_clip,
                      f"test digit 1 (a {int(labels[1])}), epsilon 0.3: clipping", "np.clip(..., 0, 1)")
    assert_not_implemented(capsys, scratchcnn.check_fgsm_step)
