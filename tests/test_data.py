"""Section 1 of the textbook, data: reading IDX files (read_idx, load_mnist) and their errors.

The guards against hostile data files (gzip bombs, declared sizes) are tested in test_bad_input.py."""

import gzip
import hashlib
import warnings

import numpy as np
import pytest

import scratchcnn as sc


def rng(seed=0):
    return np.random.default_rng(seed)


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


def test_read_idx_gives_the_headers_shape_and_the_bytes_row_by_row(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("plain", "zipped.gz"):
        write_idx(tmp_path / name, array, sc.IMAGES_MAGIC)
        result = sc.read_idx(tmp_path / name, sc.IMAGES_MAGIC)
        assert result.dtype == np.uint8 and result.shape == (2, 3, 4)
        np.testing.assert_array_equal(result, array)
    # the file is the header, then the bytes in C order: the header is 4 + 4 * 3 bytes
    assert (tmp_path / "plain").read_bytes()[16:] == bytes(range(24))


def test_read_idx_refuses_a_padded_file_and_a_label_file_read_as_images(tmp_path):
    path = tmp_path / "padded"
    path.write_bytes(sc.idx_header(sc.LABELS_MAGIC, (3,)) + bytes(4))
    with pytest.raises(sc.DataFileError, match="truncated or padded"):
        sc.read_idx(path, sc.LABELS_MAGIC)
    write_idx(path, np.zeros(3), sc.LABELS_MAGIC)
    with pytest.raises(sc.DataFileError, match="wrong magic number 0x00000801.*starts with 0x00000803"):
        sc.read_idx(path, sc.IMAGES_MAGIC)


def test_load_mnist_scales_pixels_and_adds_the_channel_axis(tiny_dataset):
    folder, images = tiny_dataset
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, y = sc.load_mnist("test", folder)
    assert x.dtype == np.float32 and x.shape == (5, 1, 4, 3) and y.dtype == np.int64
    assert x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(np.round(x[:, 0] * 255).astype(int), images)
