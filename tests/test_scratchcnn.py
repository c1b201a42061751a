"""Unit tests of scratchcnn.py: the loader's errors, model files, training sanity, and the
command line. (Layers and loss: test_layers.py; model and optimizers: test_model.py.)"""

import gzip
import hashlib
import math
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import scratchcnn as sc

def rng(seed=0):
    return np.random.default_rng(seed)


# --- model, training sanity ------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_test():
    return sc.load_mnist("test")


def test_initial_loss_is_about_ln10(mnist_test):
    images, labels = mnist_test
    model = sc.reference_cnn(seed=0)
    loss = sc.SoftmaxCrossEntropy().forward(model.forward(images[:500]), labels[:500])
    assert abs(loss - math.log(10)) < 0.1


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


# --- the data loader ---------------------------------------------------------------------

def test_load_mnist_real_data():
    images, labels = sc.load_mnist("train")
    assert images.shape == (60000, 1, 28, 28) and images.dtype == np.float32
    assert labels.shape == (60000,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert list(labels[:5]) == [5, 0, 4, 1, 9]
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def write_idx(path, array, magic):
    data = sc.idx_header(magic, array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return data


@pytest.fixture
def tiny_dataset(tmp_path):
    """A synthetic 5-image data set in MNIST's format (synthetic on purpose: it tests the loader)."""
    images = rng(0).integers(0, 256, size=(5, 4, 3))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images, sc.IMAGES_MAGIC)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([1, 2, 3, 4, 5]), sc.LABELS_MAGIC)
    return tmp_path, images


def test_loader_reads_plain_and_gz(tiny_dataset):
    folder, images = tiny_dataset
    x, y = sc.load_mnist("test", folder)
    assert x.shape == (5, 1, 4, 3) and list(y) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(x[:, 0] * 255, images, atol=1e-4)


def test_loader_missing_file(tmp_path):
    with pytest.raises(sc.DataFileError, match="missing data file.*t10k-images-idx3-ubyte"):
        sc.load_mnist("test", tmp_path)
    with pytest.raises(sc.DataFileError, match="missing data folder"):
        sc.load_mnist("test", tmp_path / "nowhere")


def test_loader_truncated_file(tiny_dataset):
    folder, _ = tiny_dataset
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(sc.DataFileError, match="truncated.*t10k-images|t10k-images.*truncated"):
        sc.load_mnist("test", folder)


def test_loader_truncated_gzip(tiny_dataset):
    folder, _ = tiny_dataset
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(sc.DataFileError, match="t10k-labels-idx1-ubyte.gz.*(gzip|truncated)"):
        sc.load_mnist("test", folder)


def test_loader_wrong_magic(tiny_dataset):
    folder, _ = tiny_dataset
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((5, 4, 3)), sc.LABELS_MAGIC)
    with pytest.raises(sc.DataFileError, match="wrong magic number"):
        sc.load_mnist("test", folder)


def test_loader_count_mismatch(tiny_dataset):
    folder, _ = tiny_dataset
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([1, 2, 3]), sc.LABELS_MAGIC)
    with pytest.raises(sc.DataFileError, match="count mismatch: .* 5 images .* 3 labels"):
        sc.load_mnist("test", folder)


def test_loader_checksum_mismatch(tiny_dataset):
    folder, _ = tiny_dataset
    good = hashlib.sha256((folder / "t10k-images-idx3-ubyte").read_bytes()).hexdigest()
    (folder / "SHA256SUMS").write_text(f"{good}  t10k-images-idx3-ubyte\n{'0' * 64}  t10k-labels-idx1-ubyte.gz\n")
    with pytest.raises(sc.DataFileError, match="checksum mismatch for .*t10k-labels-idx1-ubyte.gz"):
        sc.load_mnist("test", folder)
    (folder / "SHA256SUMS").write_text(f"{good}  t10k-images-idx3-ubyte\n")
    assert len(sc.load_mnist("test", folder)[0]) == 5


def test_shipped_data_matches_sha256sums():
    for line in (sc.DEFAULT_DATA_DIR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((sc.DEFAULT_DATA_DIR / name).read_bytes()).hexdigest() == digest


# --- model files -------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path, mnist_test):
    model = sc.reference_cnn(seed=4, dropout=0.25)
    path = tmp_path / "model.npz"
    sc.save_model(model, path, metadata={"note": "test"})
    loaded = sc.load_model(path)
    assert [repr(a) for a in loaded.layers] == [repr(b) for b in model.layers]
    assert loaded.metadata == {"note": "test"}
    np.testing.assert_array_equal(loaded.predict_proba(mnist_test[0][:50]), model.predict_proba(mnist_test[0][:50]))
    assert not list(tmp_path.glob("*.tmp"))          # the temporary file was renamed away
    with np.load(path, allow_pickle=False) as file:   # loads without pickle
        assert "architecture" in file.files


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    sc.save_model(sc.reference_cnn(seed=5), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        sc.save_model(sc.reference_cnn(seed=6), path)
    assert path.read_bytes() == before and not list(tmp_path.glob(".*tmp"))


def test_load_rejects_pickle_corrupt_truncated_and_foreign(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, architecture=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(sc.ModelFileError, match="pickled"):
        sc.load_model(pickled)
    raw_pickle = tmp_path / "raw.npz"
    raw_pickle.write_bytes(pickle.dumps({"W": 1}))
    with pytest.raises(sc.ModelFileError):
        sc.load_model(raw_pickle)
    good = tmp_path / "good.npz"
    sc.save_model(sc.reference_cnn(), good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(sc.ModelFileError, match="corrupt or truncated|not a readable"):
        sc.load_model(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a model")
    with pytest.raises(sc.ModelFileError):
        sc.load_model(garbage)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    with pytest.raises(sc.ModelFileError, match="not a ScratchCNN model"):
        sc.load_model(foreign)
    with pytest.raises(sc.ModelFileError, match="does not exist"):
        sc.load_model(tmp_path / "missing.npz")
    # Right format, wrong weight shape
    with zipfile.ZipFile(good) as archive:
        arrays = {name[:-4]: np.load(archive.open(name)) for name in archive.namelist()}
    arrays["layer0.W"] = np.zeros((1, 1, 1, 1), np.float32)
    bad_shape = tmp_path / "bad_shape.npz"
    np.savez(bad_shape, **arrays)
    with pytest.raises(sc.ModelFileError, match="layer0.W has shape"):
        sc.load_model(bad_shape)


def test_shipped_model_reaches_99_percent(mnist_test):
    model = sc.load_model(sc.DEFAULT_MODEL_PATH)
    images, labels = mnist_test
    assert np.mean(model.predict(images) == labels) >= 0.99


# --- preprocessing a drawn digit ---------------------------------------------------------

def test_preprocess_digit_centres_and_scales(mnist_test):
    images, labels = mnist_test
    model = sc.load_model(sc.DEFAULT_MODEL_PATH)
    # Dark ink on light paper, drawn small in a corner of a big canvas:
    for index in range(20):
        canvas = np.ones((120, 90, 3))
        digit = sc.resize_image(images[index, 0], 56, 56)
        canvas[5:61, 3:59] -= digit[..., None]
        processed = sc.preprocess_digit(canvas)
        assert processed.shape == (28, 28) and processed.dtype == np.float32
        rows, cols = np.nonzero(processed > 0.1)
        assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 21
        assert np.all(np.abs(np.array(sc.centre_of_mass(processed)) - 13.5) <= 1.0)
    predictions = model.predict(np.stack([sc.preprocess_digit(1 - np.repeat(images[i, 0, :, :, None], 3, axis=2))
                                          for i in range(100)])[:, None])
    assert np.mean(predictions == labels[:100]) >= 0.95
    with pytest.raises(ValueError, match="blank"):
        sc.preprocess_digit(np.ones((30, 30)))


def test_centre_of_mass():
    image = np.zeros((3, 5))
    image[0, 4], image[2, 0] = 1.0, 3.0
    assert sc.centre_of_mass(image) == (1.5, 1.0)


def test_resize_image_preserves_mean():
    image = rng(0).random((37, 23))
    assert abs(sc.resize_image(image, 20, 11).mean() - image.mean()) < 1e-12
    np.testing.assert_allclose(sc.resize_image(image, 37, 23), image)


# --- the command line ----------------------------------------------------------------------

def run_cli(*args, cwd):
    return subprocess.run([sys.executable, sc.__file__, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_cli_train_evaluate_predict(tmp_path, mnist_test):
    model_path = tmp_path / "cli_model.npz"
    result = run_cli("train", "--train-limit", "2000", "--validation-size", "500", "--epochs", "2",
                     "--model-out", str(model_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "training on 2,000 images, validating on 500" in result.stdout
    assert "epoch  2/2" in result.stdout and "val acc" in result.stdout and "test accuracy" in result.stdout
    assert "img/s" in result.stderr                                    # the progress bar
    assert model_path.is_file()
    result = run_cli("evaluate", "--model", str(model_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    accuracy = float(result.stdout.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 60   # 2 epochs on 2,000 images: far above chance (10%)
    assert "confusion matrix" in result.stdout and result.stdout.count("images)") == 10
    # predict: a test digit saved as a dark-on-light PNG
    import matplotlib.image
    png = tmp_path / "digit.png"
    image, label = mnist_test[0][0, 0], int(mnist_test[1][0])
    matplotlib.image.imsave(png, 1 - sc.resize_image(image, 140, 140), cmap="gray", vmin=0, vmax=1)
    result = run_cli("predict", "--model", str(sc.DEFAULT_MODEL_PATH), str(png), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{png}: {label}\n") and result.stdout.count("%") == 10


def test_cli_errors_are_clear(tmp_path):
    result = run_cli("train", "--validation-size", "60000", cwd=tmp_path)
    assert result.returncode != 0 and "leaves no training data" in result.stderr
    result = run_cli("train", "--data-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode != 0 and "missing data file" in result.stderr
    (tmp_path / "bad.npz").write_bytes(b"junk")
    result = run_cli("evaluate", "--model", str(tmp_path / "bad.npz"), cwd=tmp_path)
    assert result.returncode != 0 and "error:" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("train", "--train-limit", "500", "--epochs", "2", "--lr", "1e9", "--optimizer", "sgd",
                     "--quiet", "--model-out", str(tmp_path / "m.npz"), cwd=tmp_path)
    assert result.returncode != 0 and "Lower the learning rate" in result.stderr


def test_saved_model_file_is_readable_by_others(tmp_path):
    import os
    import stat
    path = tmp_path / "model.npz"
    umask = os.umask(0o022)
    try:
        sc.save_model(sc.reference_cnn(), path)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


