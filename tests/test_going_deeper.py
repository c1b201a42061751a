"""Tests of course part 3 (notebook 10): Fashion-MNIST and the CIFAR-10 loader, the command
line's --dataset, notebook 10's checks and train()'s snapshot of nested layers. (Batch
normalisation: test_layers.py; residual blocks, deep_cnn, RMSprop, nested model files and
the shipped models: test_model.py.)"""

import subprocess
import sys

import numpy as np
import pytest

import scratchcnn as sc

def rng(seed=0):
    return np.random.default_rng(seed)


# --- Data: Fashion-MNIST and CIFAR-10 ----------------------------------------------

def test_fashion_mnist_loads_with_class_names():
    images, labels = sc.load_fashion_mnist("test")
    assert images.shape == (10000, 1, 28, 28) and images.dtype == np.float32
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [1000] * 10
    assert 0 <= images.min() and images.max() == 1
    assert len(sc.FASHION_MNIST_CLASSES) == 10
    # the first test pictures of the official release: an ankle boot, a pullover, two trousers, a shirt
    assert [sc.FASHION_MNIST_CLASSES[k] for k in labels[:5]] == ["Ankle boot", "Pullover", "Trouser",
                                                                 "Trouser", "Shirt"]
    train_images, train_labels = sc.load_fashion_mnist("train")
    assert train_images.shape == (60000, 1, 28, 28) and len(train_labels) == 60000
    # not MNIST by mistake
    assert not np.array_equal(images[:10], sc.load_mnist("test")[0][:10])


def write_cifar_batch(path, labels, seed):
    """A file in exactly CIFAR-10's binary format: per record 1 label byte, then the
    red, green and blue planes of 32 x 32 bytes. Returns the images as (N, 3, 32, 32) bytes."""
    pixels = rng(seed).integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
    records = np.concatenate([np.asarray(labels, np.uint8)[:, None], pixels.reshape(len(labels), -1)], axis=1)
    path.write_bytes(records.tobytes())
    return pixels


@pytest.fixture
def cifar_folder(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    train = [write_cifar_batch(folder / f"data_batch_{i}.bin", [i, (i + 3) % 10], seed=i) for i in range(1, 6)]
    test = write_cifar_batch(folder / "test_batch.bin", [9, 0, 4], seed=0)
    return folder, np.concatenate(train), test


def test_load_cifar10_reads_the_official_format(cifar_folder):
    folder, train_pixels, test_pixels = cifar_folder
    for data_dir in (folder, folder.parent):       # the folder itself or its parent
        images, labels = sc.load_cifar10("train", data_dir)
        assert images.shape == (10, 3, 32, 32) and images.dtype == np.float32
        assert labels.dtype == np.int64 and labels.tolist() == [1, 4, 2, 5, 3, 6, 4, 7, 5, 8]
        np.testing.assert_array_equal(images, train_pixels / np.float32(255))
    images, labels = sc.load_cifar10("test", folder.parent)
    assert labels.tolist() == [9, 0, 4]
    # byte 1 + c*1024 + y*32 + x of a record is channel c (R, G, B), row y, column x
    raw = (folder / "test_batch.bin").read_bytes()
    assert images[1, 2, 3, 4] == np.float32(raw[3073 + 1 + 2 * 1024 + 3 * 32 + 4] / 255)
    assert sc.CIFAR10_CLASSES[labels[0]] == "truck"


def test_load_cifar10_errors_are_clear(cifar_folder, tmp_path):
    folder, _, _ = cifar_folder
    with pytest.raises(sc.DataFileError, match=r"cifar-10-binary\.tar\.gz.*tar xzf"):
        sc.load_cifar10("train", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="split"):
        sc.load_cifar10("validation", folder)
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(sc.DataFileError, match="data_batch_3.bin"):
        sc.load_cifar10("train", folder)
    raw = (folder / "test_batch.bin").read_bytes()
    (folder / "test_batch.bin").write_bytes(raw[:-100])                       # truncated
    with pytest.raises(sc.DataFileError, match="truncated"):
        sc.load_cifar10("test", folder)
    (folder / "test_batch.bin").write_bytes(raw + bytes(3073 * 2 - 1))        # wrong size
    with pytest.raises(sc.DataFileError, match="3073-byte"):
        sc.load_cifar10("test", folder)
    (folder / "test_batch.bin").write_bytes(bytes([12]) + raw[1:])             # label 12: not CIFAR-10
    with pytest.raises(sc.DataFileError, match="label 12"):
        sc.load_cifar10("test", folder)


# --- Command line --------------------------------------------------------------

def run_cli(*args, cwd):
    return subprocess.run([sys.executable, sc.__file__, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_cli_trains_the_deep_network_on_fashion_mnist(tmp_path):
    model_path = tmp_path / "fashion.npz"
    result = run_cli("train", "--dataset", "fashion-mnist", "--architecture", "deep", "--channels", "4,8",
                     "--train-limit", "1024", "--epochs", "1", "--quiet", "--model-out", str(model_path),
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "training on 1,024 images" in result.stdout and "test accuracy" in result.stdout
    accuracy = float(result.stdout.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 40             # one epoch on 1,024 pictures: far above chance (10%)
    model = sc.load_model(model_path)
    assert model.metadata["dataset"] == "fashion-mnist"
    assert any(isinstance(layer, sc.Residual) for layer in model.layers)
    result = run_cli("evaluate", "--model", str(model_path), cwd=tmp_path)     # the data set from the file
    assert result.returncode == 0, result.stderr
    assert "Ankle boot" in result.stdout and "T-shirt/top" in result.stdout
    assert float(result.stdout.split("test accuracy ")[1].split("%")[0]) == pytest.approx(accuracy, abs=0.01)


def test_cli_dataset_errors_are_clear(tmp_path):
    result = run_cli("train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cifar-10-binary.tar.gz" in result.stderr
    result = run_cli("train", "--dataset", "imagenet", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr and "invalid choice" in result.stderr
    result = run_cli("train", "--channels", "8,x", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr and "--channels" in result.stderr




def test_best_weights_snapshot_keeps_batchnorm_running_statistics_and_nested_layers():
    """train() restores the best weights after Ctrl-C: a BatchNorm's running statistics,
    also inside a Residual block, must come back with them."""
    model = sc.deep_cnn(channels=(4, 8), blocks=1, hidden=16, seed=0)
    model.forward(np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32))     # moves the statistics
    snapshot = sc._snapshot(model)
    norms = [layer for layer in model.layers if isinstance(layer, sc.BatchNorm2D)]
    inner = [l for block in model.layers if isinstance(block, sc.Residual) for l in block.layers
             if isinstance(l, sc.BatchNorm2D)]
    assert norms and inner
    before = [(n.running_mean.copy(), n.params["gamma"].copy()) for n in norms + inner]
    for n in norms + inner:
        n.running_mean += 1.0
        n.params["gamma"] += 1.0
    sc._restore(model, snapshot)
    for n, (mean, gamma) in zip(norms + inner, before):
        np.testing.assert_array_equal(n.running_mean, mean)
        np.testing.assert_array_equal(n.params["gamma"], gamma)
