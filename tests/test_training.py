"""Section 6 of the textbook, training: train, its schedules and batches, evaluation helpers."""

import warnings

import math

import numpy as np
import pytest

import scratchcnn as sc
from course_machinery import cli


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def mnist_test():
    return sc.load_mnist("test")


def test_small_model_overfits_64_images(mnist_test):
    images, labels = mnist_test[0][:64], mnist_test[1][:64]
    model = sc.reference_cnn(seed=1)
    history = sc.train(model, images, labels, epochs=40, batch_size=16, optimizer=sc.Adam(model, lr=2e-3),
                       schedule=None, seed=0)
    assert history["train_loss"][-1] < 0.01
    assert (model.predict(images) == labels).all()


def test_train_history_callback_and_divergence(mnist_test):
    images, labels = mnist_test[0][:256], mnist_test[1][:256]
    model = sc.reference_cnn(seed=2)
    calls = []
    history = sc.train(model, images, labels, epochs=2, batch_size=64, validation=(images[:64], labels[:64]),
                       callback=lambda h: calls.append(len(h["epoch"])), augment_shift=2)
    assert calls == [1, 2] and history["epoch"] == [1, 2] and len(history["val_accuracy"]) == 2
    with pytest.raises(sc.TrainingDiverged, match="Lower the learning rate"), np.errstate(all="ignore"), \
            pytest.warns(UserWarning, match="divide them by 255"):
        model = sc.reference_cnn(seed=2)      # on purpose: overflow is what this run is about
        sc.train(model, images * 1e6, labels, epochs=3, optimizer=sc.SGD(model, lr=10.0), schedule=None)


def test_ctrl_c_keeps_best_model(mnist_test):
    images, labels = mnist_test[0][:256], mnist_test[1][:256]
    model = sc.reference_cnn(seed=3)
    saved = {}

    def interrupt_in_epoch_two(epoch, done, total, loss, accuracy, seconds):
        if epoch == 2:
            raise KeyboardInterrupt
        saved["weights"] = [layer.params.get("W", np.zeros(0)).copy() for layer in model.layers]

    history = sc.train(model, images, labels, epochs=3, batch_size=64, progress=interrupt_in_epoch_two)
    assert history["interrupted"] and history["epoch"] == [1]
    for layer, weights in zip(model.layers, saved["weights"]):  # restored to the end of epoch 1
        np.testing.assert_array_equal(layer.params.get("W", np.zeros(0)), weights)


def test_random_shift_moves_images_by_at_most_max_shift():
    images = np.zeros((50, 1, 10, 10), np.float32)
    images[:, :, 5, 5] = 1
    shifted = sc.random_shift(images, 2, rng(0))
    ys, xs = np.nonzero(shifted[:, 0].reshape(50, -1) == 1)[1] // 10, np.nonzero(shifted[:, 0].reshape(50, -1) == 1)[1] % 10
    assert shifted.shape == images.shape and shifted.sum() == 50
    assert np.all(np.abs(ys - 5) <= 2) and np.all(np.abs(xs - 5) <= 2) and len(set(zip(ys, xs))) > 5


def test_split_training_data():
    images, labels = np.zeros((100, 1, 2, 2)), np.arange(100)
    x, y, xv, yv = sc.split_training_data(images, labels, train_limit=30, validation_size=20)
    assert len(x) == 30 and len(xv) == 20 and not set(y) & set(yv)
    with pytest.raises(ValueError, match="leaves no training data"):
        sc.split_training_data(images, labels, validation_size=100)


def tiny_cnn(seed=0):
    return sc.reference_cnn(seed=seed, channels=(2, 4), hidden=16)


def rates_at_each_step(optimizer):
    """A progress callback that records optimizer.lr after every batch."""
    rates = []
    return rates, lambda *args: rates.append(optimizer.lr)


def test_a_second_train_call_starts_at_the_base_rate_not_the_tail_of_the_schedule(mnist_test):
    # Bug 1: train left the scheduled rate in optimizer.lr, so a second call ran at 4.8e-5 -> 2.3e-6.
    images, labels = mnist_test[0][:128], mnist_test[1][:128]
    model = tiny_cnn()
    optimizer = sc.Adam(model, lr=1e-3)
    for _ in range(2):
        rates, progress = rates_at_each_step(optimizer)
        sc.train(model, images, labels, epochs=2, batch_size=32, optimizer=optimizer, schedule="cosine",
                 progress=progress)
        assert rates[0] == pytest.approx(1e-3) and rates[-1] < 1e-3 / 5      # the schedule did decay ...
        assert optimizer.lr == 1e-3                                          # ... and is undone
    # lr= replaces the optimizer's rate for one call only
    rates, progress = rates_at_each_step(optimizer)
    sc.train(model, images, labels, optimizer=optimizer, lr=5e-4, schedule=None, progress=progress)
    assert rates == [5e-4] * 2 and optimizer.lr == 1e-3


def test_the_optimizers_rate_is_restored_after_divergence_too(mnist_test):
    model = tiny_cnn()
    optimizer = sc.SGD(model, lr=10.0)
    with pytest.raises(sc.TrainingDiverged), np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.train(model, mnist_test[0][:256] * 1e6, mnist_test[1][:256], epochs=3, optimizer=optimizer)
    assert optimizer.lr == 10.0


def test_batch_bounds_merge_a_last_batch_of_one_into_the_one_before():
    assert sc.batch_bounds(128, 64) == [(0, 64), (64, 128)]
    assert sc.batch_bounds(129, 64) == [(0, 64), (64, 129)]            # not (128, 129): one image
    assert sc.batch_bounds(130, 64) == [(0, 64), (64, 128), (128, 130)]
    assert sc.batch_bounds(3, 1) == [(0, 1), (1, 2), (2, 3)]            # batch_size 1 asked for batches of one
    assert sc.batch_bounds(1, 64) == [(0, 1)]
    for n, batch_size in [(129, 64), (1000, 7), (65, 2), (10, 3)]:      # every image, once, in order
        bounds = sc.batch_bounds(n, batch_size)
        assert [i for first, end in bounds for i in range(first, end)] == list(range(n))
        assert all(end - first >= 2 for first, end in bounds) or batch_size == 1


def test_deep_cnn_trains_when_the_last_batch_would_hold_one_image(mnist_test):
    # Bug 2: 129 images in batches of 64 left one image for BatchNorm1D, which raised after the epoch's work.
    model = sc.deep_cnn(channels=(2, 4), blocks=1, hidden=8)
    seen = []
    history = sc.train(model, mnist_test[0][:129], mnist_test[1][:129], epochs=2, batch_size=64,
                       progress=lambda epoch, done, *rest: seen.append(done))
    assert history["epoch"] == [1, 2] and history["last_batch_merged"]
    assert seen == [64, 129, 64, 129]
    history = sc.train(model, mnist_test[0][:130], mnist_test[1][:130], batch_size=64)
    assert not history["last_batch_merged"]


def test_cli_trains_the_deep_network_on_129_images_in_batches_of_64_and_saves_it(tmp_path, capsys):
    # Bug 2 through the command line: the model file must be saved.
    path = tmp_path / "deep.npz"
    cli.main(["train", "--architecture", "deep", "--train-limit", "129", "--batch-size", "64", "--epochs", "1",
              "--channels", "2,4", "--quiet", "--model-out", str(path)])
    out = capsys.readouterr().out
    assert f"saved {path}" in out and "test accuracy" in out
    model = sc.load_model(path)
    assert any(isinstance(layer, sc.BatchNorm1D) for layer in model.layers)


def test_confusion_matrix_counts_pairs():
    counts = sc.confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), num_classes=3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_initial_loss_is_about_ln10(mnist_test):
    images, labels = mnist_test
    model = sc.reference_cnn(seed=0)
    loss = sc.SoftmaxCrossEntropy().forward(model.forward(images[:500]), labels[:500])
    assert abs(loss - math.log(10)) < 0.1
