"""Bad input, as a new user (or a hostile file) would supply it: every case ends in a
clear error naming the problem and the fix, or a warning, and the command line never
shows a traceback (issue 11).

The data and model files here are SYNTHETIC UNIT-TEST DATA written by the tests
themselves (tiny IDX files, forged headers, gzip and zip bombs): they test the
loaders' defences, not the network. Real MNIST is used where training is involved.
"""

import gzip
import json
import math
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest

import scratchcnn as sc
from course_machinery import cli
from course_machinery import file_safety
from course_machinery import plots
from course_machinery import widgets
from cli_helpers import assert_one_line_error, run_cli, run_main

MB = 2 ** 20


def rng(seed=0):
    return np.random.default_rng(seed)


def peak_memory(function):
    """Run function() (which must raise), return (the exception, peak bytes NumPy/Python allocated)."""
    tracemalloc.start()
    try:
        function()
    except Exception as error:                  # noqa: BLE001 - returned to the test to check
        raised = error
    else:
        raised = None
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return raised, peak


@pytest.fixture(scope="module")
def mnist_test():
    return sc.load_mnist("test")


# --- synthetic data folders ----------------------------------------------------------------

def write_idx(path, array, magic):
    data = sc.idx_header(magic, array.shape) + np.asarray(array).astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def synthetic_data_dir(folder, images=None, labels=None):
    """A tiny MNIST-format folder (synthetic unit-test data) with both splits."""
    folder.mkdir(exist_ok=True)
    images = rng(0).integers(0, 256, size=(40, 28, 28)) if images is None else images
    labels = np.arange(len(images)) % 10 if labels is None else labels
    for split in ("train", "test"):
        image_name, label_name = sc.MNIST_FILES[split]
        write_idx(folder / (image_name + ".gz"), images, sc.IMAGES_MAGIC)
        write_idx(folder / (label_name + ".gz"), labels, sc.LABELS_MAGIC)
    return folder


def gzip_of_zeros(header: bytes, zero_bytes: int) -> bytes:
    """A gzip file: ``header`` then ``zero_bytes`` zeros, compressed as a stream (a few kB per 10 MB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)          # 31: gzip container
    parts = [compressor.compress(header)]
    chunk = bytes(MB)
    for _ in range(zero_bytes // MB):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.compress(bytes(zero_bytes % MB)))
    parts.append(compressor.flush())
    return b"".join(parts)


# --- memory bombs -----------------------------------------------------------------------------

def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    # The header promises 5 labels; the gzip then inflates to 64 MB more.
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip_of_zeros(sc.idx_header(sc.LABELS_MAGIC, (5,)) + bytes(5), 64 * MB))
    assert path.stat().st_size < MB
    error, peak = peak_memory(lambda: sc.read_idx(path, sc.LABELS_MAGIC))
    assert isinstance(error, sc.DataFileError) and "truncated or padded" in str(error)
    assert peak < 2 * MB


def test_gzip_bomb_with_a_forged_size_trailer_stops_after_the_promised_bytes(tmp_path):
    # The same bomb with its recorded size (the last 4 bytes) forged to match the header:
    # the stream is inflated only as far as the header promises, plus one byte.
    header = sc.idx_header(sc.LABELS_MAGIC, (5,))
    data = bytearray(gzip_of_zeros(header + bytes(5), 64 * MB))
    data[-4:] = struct.pack("<I", len(header) + 5)
    path = tmp_path / "bomb.gz"
    path.write_bytes(bytes(data))
    error, peak = peak_memory(lambda: sc.read_idx(path, sc.LABELS_MAGIC))
    assert isinstance(error, sc.DataFileError) and "goes on beyond" in str(error)
    assert peak < 2 * MB


def test_idx_header_declaring_gigabytes_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.gz"                      # 100,000 images of 1000 x 1000: 100 GB
    path.write_bytes(gzip.compress(sc.idx_header(sc.IMAGES_MAGIC, (100_000, 1000, 1000)) + bytes(100)))
    error, peak = peak_memory(lambda: sc.read_idx(path, sc.IMAGES_MAGIC))
    assert isinstance(error, sc.DataFileError)
    assert "declares shape (100000, 1000, 1000)" in str(error) and "max_bytes" in str(error)
    assert peak < MB
    # An honest file above the limit is refused too, and the limit can be raised.
    small = tmp_path / "small"
    write_idx(small, np.zeros((10, 4, 4)), sc.IMAGES_MAGIC)
    with pytest.raises(sc.DataFileError, match="more than the 100 read_idx accepts"):
        sc.read_idx(small, sc.IMAGES_MAGIC, max_bytes=100)
    assert sc.read_idx(small, sc.IMAGES_MAGIC, max_bytes=160).shape == (10, 4, 4)


def test_plain_idx_file_size_is_checked_against_its_header_first(tmp_path):
    path = tmp_path / "lying"
    path.write_bytes(sc.idx_header(sc.IMAGES_MAGIC, (60000, 28, 28)) + bytes(10))
    error, peak = peak_memory(lambda: sc.read_idx(path, sc.IMAGES_MAGIC))
    assert isinstance(error, sc.DataFileError) and "truncated or padded" in str(error)
    assert peak < MB


def model_arrays(model):
    """The arrays save_model would write, as a dict (to tamper with)."""
    arrays = {"architecture": np.array(json.dumps({
        "format": sc.MODEL_FORMAT, "metadata": {},
        "layers": [{"type": type(layer).__name__, "config": layer.config()} for layer in model.layers]}))}
    for i, layer in enumerate(model.layers):
        for name, value in layer.params.items():
            arrays[f"layer{i}.{name}"] = value
    return arrays


def small_model():
    return sc.Sequential([sc.Flatten(), sc.Dense(4, 3, rng=rng(0)), sc.ReLU(), sc.Dense(3, 2, rng=rng(1))])


def test_model_asking_for_a_huge_layer_is_refused_before_building_it(tmp_path):
    arrays = model_arrays(small_model())
    architecture = json.loads(str(arrays["architecture"]))
    architecture["layers"][1]["config"] = {"in_features": 30000, "out_features": 30000}   # 7 GB to initialise
    arrays["architecture"] = np.array(json.dumps(architecture))
    path = tmp_path / "huge_layer.npz"
    np.savez(path, **arrays)
    error, peak = peak_memory(lambda: sc.load_model(path))
    assert isinstance(error, sc.ModelFileError), error
    assert "layer1.W has shape (4, 3), the architecture needs (30000, 30000)" in str(error)
    assert peak < 2 * MB


def test_npz_with_a_huge_extra_member_is_refused_before_reading_any(tmp_path):
    path = tmp_path / "extra.npz"
    np.savez(path, **model_arrays(small_model()))
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("payload.npy", "w", force_zip64=True) as member:
            for _ in range(64):
                member.write(bytes(MB))                    # 64 MB inflated, 64 kB on disk
    assert path.stat().st_size < MB
    error, peak = peak_memory(lambda: sc.load_model(path))
    assert isinstance(error, sc.ModelFileError) and "unexpected entries ['payload.npy']" in str(error)
    assert peak < 2 * MB


def test_npz_whose_weights_inflate_beyond_the_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.npz"
    np.savez(path, **model_arrays(small_model()))
    monkeypatch.setattr(file_safety, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(sc.ModelFileError, match="would inflate to .* bytes, more than the 1,000"):
        sc.load_model(path)


def forged_png(width, height):
    """A PNG signature and IHDR chunk declaring width x height 8-bit grey, and no pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + bytes(12000)


def test_png_declaring_60000_by_60000_pixels_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(forged_png(60000, 60000))
    error, peak = peak_memory(lambda: sc.read_picture(path))
    assert isinstance(error, ValueError) and "60,000 x 60,000 pixels" in str(error)
    assert peak < MB
    result = run_cli("predict", str(path), cwd=tmp_path)
    assert_one_line_error(result, "60,000 x 60,000 pixels", "Scale the picture down")
    import base64                                       # the same file sent by the drawing pad
    url = "data:image/png;base64," + base64.b64encode(forged_png(60000, 60000)).decode("ascii")
    with pytest.raises(ValueError, match="the drawing says it is 60,000 x 60,000 pixels"):
        widgets._read_png_data_url(url)


# --- silent nonsense ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_weights_are_refused_at_load(tmp_path, bad):
    arrays = model_arrays(small_model())
    arrays["layer3.W"] = arrays["layer3.W"].copy()
    arrays["layer3.W"][1, 0] = bad
    path = tmp_path / "nan.npz"
    np.savez(path, **arrays)
    with pytest.raises(sc.ModelFileError, match=r"layer3.W contains 1 NaN or infinite weights.*retrain"):
        sc.load_model(path)


def test_integer_weights_are_refused_at_load(tmp_path):
    arrays = model_arrays(small_model())
    arrays["layer1.W"] = np.ones((4, 3), dtype=np.int64)
    path = tmp_path / "int.npz"
    np.savez(path, **arrays)
    with pytest.raises(sc.ModelFileError, match="layer1.W holds int64 numbers; weights must be floats"):
        sc.load_model(path)


def test_train_refuses_nonsense_arguments(mnist_test):
    images, labels = mnist_test[0][:64], mnist_test[1][:64]
    model = sc.reference_cnn(seed=0)
    for kwargs, message in [
        (dict(epochs=0), "epochs must be a whole number >= 1, got 0"),
        (dict(epochs=-1), "epochs must be a whole number >= 1"),
        (dict(batch_size=-4), "batch_size must be a whole number >= 1, got -4"),
        (dict(batch_size=0), "batch_size must be a whole number >= 1"),
        (dict(lr=0.0), "lr must be a positive finite number"),
        (dict(lr=-1.0), "lr must be a positive finite number"),
        (dict(lr=math.nan), "lr must be a positive finite number"),
        (dict(lr=math.inf), "lr must be a positive finite number"),
        (dict(optimizer=sc.Adam(model, lr=math.nan)), "the optimizer's lr must be a positive finite number"),
        (dict(schedule="cosin"), r"unknown schedule 'cosin': use one of \['constant', 'cosine', 'one-cycle'\] or None"),
        (dict(augment_shift=30), "augment_shift 30 does not fit images of shape \\(1, 28, 28\\)"),
    ]:
        with pytest.raises(ValueError, match=message):
            sc.train(model, images, labels, **kwargs)
    with pytest.raises(TypeError, match="optimizer must be an optimizer.*pass lr="):
        sc.train(model, images, labels, optimizer=0.01)


def test_train_on_flat_features_needs_no_image_axes():
    model = sc.Sequential([sc.Dense(6, 3, rng=rng(0))])
    x, y = rng(1).random((32, 6)), np.arange(32) % 3
    assert len(sc.train(model, x, y, epochs=2, batch_size=8)["epoch"]) == 2
    with pytest.raises(ValueError, match="augment_shift 2 does not fit images of shape \\(6,\\)"):
        sc.train(model, x, y, augment_shift=2)


def test_optimizer_built_for_another_model_is_refused(mnist_test):
    model, other = sc.reference_cnn(seed=0), sc.reference_cnn(seed=1)
    with pytest.raises(ValueError, match="the optimizer was built for another model.*Adam\\(model"):
        sc.train(model, mnist_test[0][:64], mnist_test[1][:64], optimizer=sc.Adam(other))


def test_adam_with_a_huge_rate_diverges_before_any_nan(mnist_test):
    # The loss climbs to 1e10 and beyond while staying finite: still diverged.
    model = sc.reference_cnn(seed=0)
    with np.errstate(all="ignore"), pytest.raises(sc.TrainingDiverged) as error:
        sc.train(model, mnist_test[0][:512], mnist_test[1][:512], epochs=2,
                 optimizer=sc.Adam(model, lr=10.0), schedule=None)
    message = str(error.value)
    assert "above 20 x ln 10 = 46" in message and "Lower the learning rate (it was 10; try 1)" in message
    loss = float(message.split("the loss became ")[1].split(" ")[0])
    assert math.isfinite(loss) and loss > 46


def test_labels_outside_the_classes_are_refused_by_the_loss_and_train(mnist_test):
    logits = rng(0).standard_normal((3, 10))
    loss_fn = sc.SoftmaxCrossEntropy()
    for bad in (-1, 10, 255):
        with pytest.raises(ValueError, match=f"label {bad} \\(at position 1\\) is not a class 0..9"):
            loss_fn.forward(logits, np.array([0, bad, 2]))
    with pytest.raises(TypeError, match="labels must be integers"):
        loss_fn.forward(logits, np.array([0.0, 1.0, 2.0]))
    labels = mnist_test[1][:64].copy()
    labels[5] = -1                                   # would silently be class 9
    with pytest.raises(ValueError, match="label -1 \\(at position 5\\)"):
        sc.train(sc.reference_cnn(), mnist_test[0][:64], labels)
    with pytest.raises(ValueError, match="label 255"):
        sc.evaluate(sc.reference_cnn(), mnist_test[0][:3], np.array([1, 255, 3]))


@pytest.mark.parametrize("bad_label", [10, 255])
def test_labels_outside_the_classes_in_a_data_file_are_refused(tmp_path, bad_label):
    labels = np.arange(40) % 10
    labels[7] = bad_label
    folder = synthetic_data_dir(tmp_path / "data", labels=labels)
    with pytest.raises(sc.DataFileError, match=f"label {bad_label} \\(at position 7\\) is not a class 0..9"):
        sc.load_mnist("train", folder)
    assert sc.load_mnist("train", folder, num_classes=256)[1][7] == bad_label
    result = run_cli("train", "--data-dir", str(folder), "--epochs", "1", "--model-out", "m.npz", cwd=tmp_path)
    assert_one_line_error(result, f"label {bad_label}", "num_classes=")


def test_a_learning_rate_too_small_warns_that_the_loss_stays_at_ln10(mnist_test):
    model = sc.reference_cnn(seed=0)
    with pytest.warns(sc.TrainingStalled, match=r"still 2.3\d\d, about ln 10 = 2.303.*1e-09 is probably far too small"):
        sc.train(model, mnist_test[0][:1600], mnist_test[1][:1600], epochs=1, batch_size=16,
                 optimizer=sc.SGD(model, lr=1e-9))
    model = sc.reference_cnn(seed=0)                     # a sensible rate learns: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", sc.TrainingStalled)
        sc.train(model, mnist_test[0][:1600], mnist_test[1][:1600], epochs=1, batch_size=16,
                 optimizer=sc.Adam(model, lr=2e-3))


def test_unscaled_pixels_warn_to_divide_by_255(mnist_test):
    images = np.round(mnist_test[0][:64] * 255)
    with pytest.warns(UserWarning, match="training images have pixel values up to 255: divide them by 255") as caught:
        sc.train(sc.reference_cnn(), images, mnist_test[1][:64])
    assert caught[0].filename == __file__                # points at the caller's line
    with pytest.warns(UserWarning, match="evaluation images have pixel values up to 255") as caught:
        sc.evaluate(sc.reference_cnn(), images, mnist_test[1][:64])
    assert caught[-1].filename == __file__


def test_nan_in_the_data_is_named_not_blamed_on_the_learning_rate(mnist_test):
    images = mnist_test[0][:64].copy()
    images[9, 0, 3, 4] = np.nan
    with pytest.raises(ValueError, match="contain 1 NaN or infinite pixel values \\(the first in image 9\\)") as error:
        sc.train(sc.reference_cnn(), images, mnist_test[1][:64])
    assert "Lower the learning rate" not in str(error.value)


def test_grad_check_on_float32_says_float64_is_needed():
    with pytest.raises(TypeError, match="grad_check needs a float64 layer.*dtype=np.float64"):
        sc.grad_check(sc.Dense(3, 2), np.ones((2, 3)))
    assert sc.grad_check(sc.Dense(3, 2, dtype=np.float64), rng(0).standard_normal((2, 3)))["W"] < 1e-7


# --- lost work -------------------------------------------------------------------------------------

def test_check_writable_before_training(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "a_file").write_text("synthetic")
    file_safety.check_writable(tmp_path / "ok.npz")
    with pytest.raises(sc.ModelFileError, match="it is a folder"):
        file_safety.check_writable(tmp_path / "folder")
    with pytest.raises(sc.ModelFileError, match="the folder .*nowhere does not exist.*mkdir -p"):
        file_safety.check_writable(tmp_path / "nowhere" / "m.npz")
    with pytest.raises(sc.ModelFileError, match="a_file is a file, not a folder"):
        file_safety.check_writable(tmp_path / "a_file" / "m.npz")
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        # root writes anywhere, so then use a folder the kernel itself refuses
        target = read_only if not os.access(read_only, os.W_OK) else sc.Path("/sys")
        with pytest.raises(sc.ModelFileError, match="is not writable \\(Permission denied\\)"):
            file_safety.check_writable(target / "m.npz")
    finally:
        read_only.chmod(0o755)
    assert not list(tmp_path.glob(".*.tmp"))            # the probe leaves nothing behind


def test_stale_temporary_files_are_removed_at_the_next_save(tmp_path):
    path = tmp_path / "model.npz"
    dead = tmp_path / ".model.npz.999999999.abc123.tmp"          # its process is gone
    alive = tmp_path / f".model.npz.{os.getppid()}.def456.tmp"  # a save in progress elsewhere
    old = tmp_path / f".model.npz.{os.getppid()}.ghi789.tmp"    # untouched for two hours
    other = tmp_path / ".other.npz.999999999.abc123.tmp"        # another file's
    for file in (dead, alive, old, other):
        file.write_bytes(b"synthetic half-written model")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    sc.save_model(small_model(), path)
    assert not dead.exists() and not old.exists() and alive.exists() and other.exists()


def test_a_save_killed_with_sigkill_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    path = tmp_path / "model.npz"
    script = (
        "import sys, time, numpy as np, scratchcnn\n"
        "real = np.savez\n"
        "def slow(file, **arrays):\n"
        "    real(file, **arrays); file.flush(); print('written', flush=True); time.sleep(60)\n"
        "np.savez = slow\n"
        f"scratchcnn.save_model(scratchcnn.reference_cnn(), {str(path)!r})\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(sc.__file__))
    saver = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert saver.stdout.readline().strip() == "written"
        saver.kill()                                             # SIGKILL: no cleanup runs
        saver.wait(timeout=30)
    finally:
        if saver.poll() is None:
            saver.kill()
        saver.stdout.close()
    leftovers = list(tmp_path.glob(".model.npz.*.tmp"))
    assert len(leftovers) == 1 and not path.exists()
    sc.save_model(small_model(), path)
    assert not list(tmp_path.glob(".*.tmp")) and path.is_file()


# --- integer inputs ------------------------------------------------------------------------------

def test_leaky_relu_and_dropout_keep_their_float_factor_on_integers():
    out = sc.LeakyReLU(0.1).forward(np.array([[-5, 3]]))
    np.testing.assert_allclose(out, [[-0.5, 3.0]])
    dropout = sc.Dropout(0.5, rng=rng(0))
    out = dropout.forward(np.ones((100, 10), dtype=np.int64))
    assert set(np.unique(out)) == {0.0, 2.0}
    assert np.isfinite(dropout.backward(np.ones((100, 10), dtype=np.int64))).all()
    leaky = sc.LeakyReLU(0.1)
    leaky.forward(np.array([[-5, 3]]))
    np.testing.assert_allclose(leaky.backward(np.array([[2, 2]])), [[0.2, 2.0]])


def test_layers_refuse_lists_and_text_with_a_hint():
    with pytest.raises(TypeError, match="expects a NumPy array of numbers, got a list.*np.asarray"):
        sc.Conv2D(1, 2, 3).forward([[[[0.0] * 5] * 5]])
    with pytest.raises(TypeError, match="got an array of <U1"):
        sc.Dense(2, 2).forward(np.array([["a", "b"]]))


# --- the command line: one clear line, never a traceback ---------------------------------------

def test_cli_corrupt_gzip_data(tmp_path):
    folder = synthetic_data_dir(tmp_path / "data")
    path = folder / "train-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 30] = bytes(range(30))        # damage the deflate stream: a zlib error
    path.write_bytes(bytes(data))
    result = run_cli("train", "--data-dir", str(folder), "--model-out", "m.npz", cwd=tmp_path)
    assert_one_line_error(result, "train-images-idx3-ubyte.gz", "truncated or corrupt")


def test_cli_unreadable_data_file_names_permission(tmp_path, monkeypatch):
    folder = synthetic_data_dir(tmp_path / "data")
    real_open = open

    def refusing_open(file, *args, **kwargs):
        if str(file).endswith("t10k-labels-idx1-ubyte.gz"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing_open)
    with pytest.raises(sc.DataFileError, match="cannot read .*t10k-labels-idx1-ubyte.gz: permission denied"):
        sc.load_mnist("test", folder)


def bad_config_model(tmp_path, config, layer_type="Dense"):
    arrays = model_arrays(small_model())
    architecture = json.loads(str(arrays["architecture"]))
    architecture["layers"][1] = {"type": layer_type, "config": config}
    arrays["architecture"] = np.array(json.dumps(architecture))
    path = tmp_path / "bad_config.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("config,layer_type", [
    ({"in_features": "four", "out_features": 3}, "Dense"),
    ({"in_features": 4}, "Dense"),
    ({"in_features": 4.5, "out_features": 3}, "Dense"),
    ({"in_features": -4, "out_features": 3}, "Dense"),
    ({"kernel_size": 2, "colour": 1}, "MaxPool2D"),
    ({"p": 1.5}, "Dropout"),
    ({"negative_slope": math.nan}, "LeakyReLU"),
    ({"kernel_size": True}, "MaxPool2D"),
])
def test_bad_layer_config_is_a_model_file_error(tmp_path, capsys, config, layer_type):
    path = bad_config_model(tmp_path, config, layer_type)
    with pytest.raises(sc.ModelFileError, match=f"layer 1 \\({layer_type}\\) has an invalid config"):
        sc.load_model(path)
    code, _, err = run_main(capsys, "evaluate", "--model", str(path))
    assert code == 1 and err.count("\n") == 1 and "layer 1" in err


def test_one_nan_pixel_is_not_called_blank():
    picture = np.ones((40, 40))
    picture[10:30, 18:22] = 0.0
    picture[3, 3] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite pixel values") as error:
        sc.preprocess_digit(picture)
    assert "blank" not in str(error.value)
    with pytest.raises(ValueError, match="the image is empty"):
        sc.preprocess_digit(np.zeros((0, 5)))


def test_empty_data_set_is_not_a_validation_size_problem(tmp_path):
    folder = synthetic_data_dir(tmp_path / "data", images=np.zeros((0, 28, 28)), labels=np.zeros(0))
    with pytest.raises(sc.DataFileError, match="holds no images") as error:
        sc.load_mnist("train", folder)
    assert "validation" not in str(error.value)
    with pytest.raises(ValueError, match="no training images at all"):
        sc.split_training_data(np.zeros((0, 1, 28, 28)), np.zeros(0, np.int64))
    assert_one_line_error(run_cli("train", "--data-dir", str(folder), "--model-out", "m.npz", cwd=tmp_path),
                          "holds no images")


def test_malformed_sha256sums_is_an_error(tmp_path):
    folder = synthetic_data_dir(tmp_path / "data")
    (folder / "SHA256SUMS").write_text("not a checksum line\n")
    with pytest.raises(sc.DataFileError, match="SHA256SUMS line 1 is malformed.*64-digit"):
        sc.load_mnist("test", folder)
    (folder / "SHA256SUMS").write_text(f"{'a' * 63}  t10k-images-idx3-ubyte.gz\n")   # one digit short
    assert_one_line_error(run_cli("evaluate", "--data-dir", str(folder), cwd=tmp_path), "is malformed")


@pytest.mark.slow
def test_progress_is_one_line_per_epoch_when_stderr_is_not_a_terminal(tmp_path):
    result = run_cli("train", "--train-limit", "256", "--epochs", "3", "--model-out", "m.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    progress = [line for line in result.stderr.splitlines() if "img/s" in line]
    assert [line.split(":")[0] for line in progress] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "256 images" in progress[0]


def test_progress_bar_redraws_on_a_terminal():
    class Terminal:
        text = ""

        def isatty(self):
            return True

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    terminal = Terminal()
    show = cli._progress_bar(2, stream=terminal)
    show(1, 64, 128, 2.3, 0.1, 0.5)
    show(1, 128, 128, 2.2, 0.2, 1.0)
    assert terminal.text.startswith("\repoch 1/2 [") and "img/s" in terminal.text


# --- broken things a reviewer found ----------------------------------------------------------------

def test_conv_feature_maps_does_not_clobber_a_pending_backward(mnist_test):
    model = sc.reference_cnn(seed=0)
    x = mnist_test[0][:4]
    logits = model.forward(x)
    dout = rng(0).standard_normal(logits.shape).astype(np.float32)
    reference = sc.reference_cnn(seed=0)
    reference.forward(x)
    reference.backward(dout)
    maps = plots.conv_feature_maps(model, mnist_test[0][7, 0])   # between forward and backward
    assert [m.shape for m in maps] == [(8, 28, 28), (16, 14, 14)]
    model.backward(dout)
    for ours, theirs in zip(model.layers, reference.layers):
        for name in ours.grads:
            np.testing.assert_array_equal(ours.grads[name], theirs.grads[name])


def test_conv_feature_maps_runs_in_eval_mode_without_touching_the_mode():
    model = sc.Sequential([sc.Conv2D(1, 2, 3, rng=rng(0)), sc.ReLU(), sc.Dropout(0.9, rng=rng(1))]).train()
    image = rng(2).random((8, 8))
    first, second = plots.conv_feature_maps(model, image), plots.conv_feature_maps(model, image)
    np.testing.assert_array_equal(first[0], second[0])       # no dropout noise
    assert all(layer.training for layer in model.layers)


def test_load_model_checks_survive_python_O(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, architecture=np.array(json.dumps({"format": "something-else", "layers": []})))
    script = ("import sys, scratchcnn\n"
              "try:\n    scratchcnn.load_model(sys.argv[1])\n"
              "except scratchcnn.ModelFileError as error:\n    print('refused:', error)\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(sc.__file__))
    result = subprocess.run([sys.executable, "-O", "-c", script, str(foreign)], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout and "not a ScratchCNN model" in result.stdout


def test_command_train_records_the_argv_given_to_main(tmp_path, capsys):
    path = tmp_path / "m.npz"
    cli.main(["train", "--train-limit", "64", "--epochs", "1", "--quiet", "--model-out", str(path)])
    capsys.readouterr()
    assert sc.load_model(path).metadata["command"] == (
        f"python scratchcnn.py train --train-limit 64 --epochs 1 --quiet --model-out {path}")


@pytest.mark.slow
def test_drawing_pad_figure_marks_the_centre_of_mass_with_centre_of_mass(monkeypatch, mnist_test):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pad = widgets.drawing_pad(sc.reference_cnn(seed=0))
    pad.predict_drawing(np.kron(mnist_test[0][0, 0], np.ones((10, 10))))
    calls = []
    monkeypatch.setattr(widgets, "centre_of_mass", lambda image: calls.append(image) or (5.0, 7.0))
    figure = pad.figure()
    try:
        assert len(calls) == 1 and calls[0] is pad.steps["centred"]
        marker = [line for line in figure.axes[3].lines if line.get_label() == "centre of mass"][0]
        assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (7.0, 5.0)
    finally:
        plt.close(figure)


def test_data_folder_and_files_that_are_not_what_they_should_be(tmp_path):
    folder = synthetic_data_dir(tmp_path / "data")
    with pytest.raises(sc.DataFileError, match="is a file, not a folder"):
        sc.load_mnist("test", folder / "t10k-images-idx3-ubyte.gz")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    (folder / "t10k-labels-idx1-ubyte.gz").mkdir()
    with pytest.raises(sc.DataFileError, match="t10k-labels-idx1-ubyte.gz is a folder .*not a data file"):
        sc.load_mnist("test", folder)


# --- issue 18.3: files and pictures -------------------------------------------------------------

def test_cifar10_batch_of_1_5_gb_is_refused_from_its_size_before_reading(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for name in sc.CIFAR10_FILES["test"] + sc.CIFAR10_FILES["train"]:
        (folder / name).write_bytes(bytes(2 * sc.CIFAR10_RECORD_BYTES))
    with open(folder / "data_batch_3.bin", "r+b") as file:     # sparse: 1.5 GB that take no disk
        file.truncate(500_000 * sc.CIFAR10_RECORD_BYTES)
    error, peak = peak_memory(lambda: sc.load_cifar10("train", tmp_path))
    assert isinstance(error, sc.DataFileError), error
    assert "500,000 records" in str(error) and "more than the 100,000" in str(error)
    assert "data_batch_3.bin" in str(error)
    assert peak < MB                                           # nothing of the 1.5 GB was read
    with open(folder / "data_batch_3.bin", "r+b") as file:     # not whole records: refused too
        file.truncate(10_000 * sc.CIFAR10_RECORD_BYTES - 1)
    error, peak = peak_memory(lambda: sc.load_cifar10("train", tmp_path))
    assert isinstance(error, sc.DataFileError) and "not a whole number of 3073-byte" in str(error)
    assert peak < MB


IMAGES_13M = (1_300_000, 28, 28)                               # 1.02 GB declared


def test_gzip_declaring_1_3_million_images_that_holds_less_is_refused_before_allocating(tmp_path):
    header = sc.idx_header(sc.IMAGES_MAGIC, IMAGES_13M)
    data = gzip.compress(header + rng(0).integers(0, 256, 1_000_000, dtype=np.uint8).tobytes(), 1)
    assert 990_000 < len(data) < 1_020_000                      # about the 990 kB of the report
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(data)                                      # honest trailer: 1,000,016 bytes inside
    error, peak = peak_memory(lambda: sc.read_idx(path, sc.IMAGES_MAGIC))
    assert isinstance(error, sc.DataFileError) and "truncated or padded" in str(error)
    assert peak < MB
    forged = bytearray(data)                                    # the trailer forged to match the header
    forged[-4:] = struct.pack("<I", (len(header) + math.prod(IMAGES_13M)) % 2 ** 32)
    path.write_bytes(bytes(forged))
    error, peak = peak_memory(lambda: sc.read_idx(path, sc.IMAGES_MAGIC))
    assert isinstance(error, sc.DataFileError) and "truncated" in str(error)   # gzip's own length check
    assert peak < 40 * MB < math.prod(IMAGES_13M) / 20         # read in 16 MiB chunks, not 1 GB at once


@pytest.mark.slow
def test_gzip_of_1_3_million_blank_images_in_990_kb_is_refused_from_the_headers(tmp_path):
    """A gzip of zeros really holds the 1.02 GB it declares in 990 kB (deflate's limit is about
    1032:1); the labels beside it hold 10 labels, so the images are refused from the headers."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip_of_zeros(sc.idx_header(sc.IMAGES_MAGIC, IMAGES_13M), math.prod(IMAGES_13M)))
    assert (folder / "t10k-images-idx3-ubyte.gz").stat().st_size < 1_000_000
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(10), sc.LABELS_MAGIC)
    error, peak = peak_memory(lambda: sc.load_mnist("test", folder))
    assert isinstance(error, sc.DataFileError), error
    assert "count mismatch" in str(error) and "1,300,000 images" in str(error) and "10 labels" in str(error)
    assert peak < 2 * MB                                        # 3.8 GiB before


def forged_picture(path, fmt, width, height):
    """A small real picture whose header is patched to declare width x height pixels."""
    from PIL import Image
    Image.new("L", (300, 200), 255).save(path, fmt)
    data = bytearray(path.read_bytes())
    if fmt == "JPEG":                                           # SOF0: FF C0, length, precision, height, width
        at = data.index(b"\xff\xc0") + 5
        data[at:at + 4] = struct.pack(">HH", height, width)
    elif fmt == "BMP":                                          # BITMAPINFOHEADER: width, height at 18
        data[18:26] = struct.pack("<ii", width, height)
    elif fmt == "GIF":                                          # logical screen, then the image descriptor
        data[6:10] = struct.pack("<HH", width, height)
        at = data.index(b"\x2c")
        data[at + 5:at + 9] = struct.pack("<HH", width, height)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("fmt", ["JPEG", "BMP", "GIF"])
def test_one_pixel_limit_for_every_format_checked_from_the_header(tmp_path, fmt):
    path = forged_picture(tmp_path / f"huge.{fmt.lower()}", fmt, 12_000, 7_000)     # 84 megapixels
    from PIL import Image
    with Image.open(path) as picture:
        assert picture.size == (12_000, 7_000)                 # the forged header is what Pillow reads
    error, peak = peak_memory(lambda: sc.read_picture(path))
    assert isinstance(error, ValueError) and "12,000 x 7,000 pixels" in str(error), error
    assert "50,000,000" in str(error) and peak < MB
    assert_one_line_error(run_cli("predict", str(path), cwd=tmp_path), "12,000 x 7,000 pixels")


PICTURE_MEMORY = """
import sys, scratchcnn as sc
image = sc.read_picture(sys.argv[1])
digit = sc.preprocess_digit(image)
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
print(image.shape, int(digit.sum() > 0), int(peak) // 1024)
"""


def peak_of_reading(path):
    """(shape read, whether a digit was found, peak resident MB) of read_picture + preprocess_digit
    in a fresh process: Pillow's own memory is not seen by tracemalloc, the peak resident size
    (VmHWM; not ru_maxrss, which keeps the parent's from before exec) sees all."""
    result = subprocess.run([sys.executable, "-c", PICTURE_MEMORY, str(path)], capture_output=True, text=True,
                            timeout=300, cwd=os.path.dirname(sc.__file__))
    assert result.returncode == 0, result.stderr
    shape, found, peak = result.stdout.rsplit(" ", 2)
    return shape, found == "1", int(peak)


def test_a_1_by_50_million_pixel_png_is_read_and_resized_in_bounded_memory(tmp_path):
    from PIL import Image
    picture = Image.new("L", (50_000_000, 1), 255)
    picture.paste(0, (20_000_000, 0, 30_000_000, 1))          # a dark stroke across the middle
    picture.save(tmp_path / "line.png")
    del picture
    shape, found, peak = peak_of_reading(tmp_path / "line.png")
    assert shape == "(1, 2048)" and found
    assert peak < 300, peak                                     # MB, 178 measured; the resize matrices took 24 GB
    # resize_image itself: the 1 x 50,000,000 array's blocks are averaged first (no copy of it).
    line = np.zeros((1, 50_000_000), np.float32)
    line[0, 20_000_000:30_000_000] = 1
    tracemalloc.start()
    small = sc.resize_image(line, 1, 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * MB
    np.testing.assert_allclose(small[0], [0] * 8 + [1, 1, 1, 1] + [0] * 8, atol=5e-3)   # blocks of 24,415


@pytest.mark.slow
def test_a_7000_by_7000_png_peaks_far_below_1_76_gb(tmp_path):
    from PIL import Image
    picture = Image.new("RGBA", (7000, 7000), (255, 255, 255, 255))
    picture.paste((0, 0, 0, 255), (3000, 1000, 4000, 6000))
    picture.save(tmp_path / "big.png", compress_level=1)
    del picture
    shape, found, peak = peak_of_reading(tmp_path / "big.png")
    assert shape == "(1750, 1750, 4)" and found
    assert peak < 600, peak                                     # MB, 421 measured (Pillow decodes 196 MB of RGBA)


def test_resize_image_reduced_by_blocks_is_the_area_resize(tmp_path):
    """Exact when the block size divides the side (16,000 = 8 x 2,000), within a block otherwise."""
    image = rng(0).random((3, 16_000))
    resized = sc.resize_image(image, 1, 16)
    expected = image.reshape(3, 16, 1000).mean(axis=(0, 2))
    np.testing.assert_allclose(resized[0], expected, atol=1e-12)
    image = rng(1).random((2, 100_000))                         # blocks of 49, the last one of 40
    expected = image.reshape(2, 20, 5000).mean(axis=(0, 2))
    np.testing.assert_allclose(sc.resize_image(image, 1, 20)[0], expected, atol=2e-3)


# --- values that train nonsense are refused (issue 18, section 2) ---------------------------

def rewrite_model_file(path, change_architecture=None, change_arrays=None):
    """Rewrite a saved model file: change_architecture(dict) and change_arrays(dict) edit it in place."""
    with np.load(path, allow_pickle=False) as stored:
        arrays = dict(stored)
    architecture = json.loads(str(arrays["architecture"]))
    if change_architecture:
        change_architecture(architecture)
    if change_arrays:
        change_arrays(arrays)
    arrays["architecture"] = np.array(json.dumps(architecture))
    np.savez(path, **arrays)


@pytest.mark.parametrize("arguments, message", [
    (dict(momentum=1.5), r"momentum must be a number in \[0, 1\], got 1.5"),
    (dict(momentum=1.9), "momentum must be"), (dict(momentum=2.5), "momentum must be"),
    (dict(momentum=-0.5), "momentum must be"), (dict(momentum=math.nan), "momentum must be"),
    (dict(momentum="0.1"), "momentum must be a number in .*got '0.1'"),
    (dict(eps=0), "eps must be a small positive number such as 1e-5"), (dict(eps=-1), "eps must be"),
    (dict(eps=math.nan), "eps must be"),
])
def test_batch_norm_refuses_momentum_and_eps_that_train_nonsense(arguments, message):
    for layer_class in (sc.BatchNorm1D, sc.BatchNorm2D):
        with pytest.raises(ValueError, match=message):
            layer_class(4, **arguments)


@pytest.mark.parametrize("size", [0, -3, 1.5, 2.0, True])
def test_batch_norm_refuses_sizes_that_are_not_whole_numbers_from_1(size):
    with pytest.raises(ValueError, match="BatchNorm1D: num_features must be a whole number >= 1"):
        sc.BatchNorm1D(size)
    with pytest.raises(ValueError, match="BatchNorm2D: num_channels must be a whole number >= 1"):
        sc.BatchNorm2D(size)


def test_batch_norm_accepts_the_edges_of_its_ranges():
    for momentum in (0, 0.0, 1, 1.0, np.float32(0.1)):
        sc.BatchNorm1D(3, momentum=momentum)
    sc.BatchNorm2D(np.int64(3), eps=1e-12)


@np.errstate(invalid="ignore", over="ignore")            # NumPy's own warnings about the NaN; ours is the error
def test_nan_or_inf_in_a_training_batch_leaves_the_running_statistics_unpoisoned():
    layer = sc.BatchNorm2D(2)
    x = rng(0).standard_normal((4, 2, 3, 3)).astype(np.float32)
    layer.forward(x)
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    for bad in (np.nan, np.inf, -np.inf):
        poisoned = x.copy()
        poisoned[1, 0, 2, 2] = bad
        with pytest.raises(ValueError, match="mean or variance is NaN or infinite.*running statistics were left"):
            layer.forward(poisoned)
        np.testing.assert_array_equal(layer.running_mean, mean)
        np.testing.assert_array_equal(layer.running_var, var)
    with pytest.raises(ValueError, match="NaN or infinite"):        # finite, but too large for float32
        layer.forward(x * np.float32(1e30))
    assert np.isfinite(layer.forward(x)).all()


@pytest.mark.parametrize("switch", ["eval", "train"])
def test_a_batch_norm_switched_between_forward_and_backward_says_so(switch):
    layer = sc.BatchNorm1D(3)
    layer.training = switch == "train"
    out = layer.forward(rng(0).standard_normal((5, 3)))
    layer.training = switch != "train"
    with pytest.raises(RuntimeError, match="ran forward in .* mode but is now in .* mode.*Switch modes before"):
        layer.backward(np.ones_like(out))


def test_a_model_file_with_batch_norm_nonsense_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    sc.save_model(sc.deep_cnn(channels=(4, 4), hidden=8), path)
    assert sc.load_model(path).layers[1].momentum == 0.1
    for key, value, message in (("momentum", 7, "momentum must be a number in"), ("eps", -1, "eps must be")):
        copy = tmp_path / f"{key}.npz"
        copy.write_bytes(path.read_bytes())
        rewrite_model_file(copy, lambda architecture: architecture["layers"][1]["config"].update({key: value}))
        with pytest.raises(sc.ModelFileError, match=f"layer 1 \\(BatchNorm2D\\) has an invalid config.*{message}"):
            sc.load_model(copy)

    def negative_variance(arrays):
        arrays["layer1.running_var"] = arrays["layer1.running_var"] - 2
    rewrite_model_file(path, change_arrays=negative_variance)
    with pytest.raises(sc.ModelFileError, match="negative running variance \\(-1\\).*damaged"):
        sc.load_model(path)


@pytest.mark.parametrize("make, message", [
    (lambda model: sc.RMSprop(model, alpha=1), r"RMSprop: alpha must be a number in \[0, 1\)"),
    (lambda model: sc.RMSprop(model, alpha=1.5), "alpha must be"),
    (lambda model: sc.RMSprop(model, alpha=-0.1), "alpha must be"),
    (lambda model: sc.RMSprop(model, eps=0), "RMSprop: eps must be a small positive number"),
    (lambda model: sc.RMSprop(model, eps=-1e-8), "eps must be"),
    (lambda model: sc.RMSprop(model, weight_decay=-0.1), "RMSprop: weight_decay must be a number >= 0"),
    (lambda model: sc.SGD(model, momentum=1), r"SGD: momentum must be a number in \[0, 1\)"),
    (lambda model: sc.SGD(model, momentum=-0.5), "momentum must be"),
    (lambda model: sc.SGD(model, momentum=math.nan), "momentum must be"),
    (lambda model: sc.SGD(model, weight_decay=-1), "SGD: weight_decay must be"),
    (lambda model: sc.SGD(model, weight_decay=math.inf), "weight_decay must be"),
    (lambda model: sc.Adam(model, betas=(1.0, 0.999)), r"Adam: beta1 must be in \[0, 1\)"),
    (lambda model: sc.Adam(model, betas=(0.9, 1.5)), "Adam: beta2 must be"),
    (lambda model: sc.Adam(model, betas=(0.9,)), r"Adam: betas must be a pair \(beta1, beta2\)"),
    (lambda model: sc.Adam(model, eps=0), "Adam: eps must be"),
    (lambda model: sc.Adam(model, weight_decay=-0.01), "Adam: weight_decay must be"),
])
def test_optimizers_refuse_hyperparameters_outside_their_ranges(make, message):
    with pytest.raises(ValueError, match=message):
        make(sc.reference_cnn())


def test_optimizers_accept_their_usual_values():
    model = sc.reference_cnn()
    sc.SGD(model, momentum=0), sc.SGD(model, momentum=0.99, weight_decay=5e-4)
    sc.Adam(model, betas=[0, 0]), sc.RMSprop(model, alpha=0, weight_decay=0)


@pytest.mark.parametrize("make, message", [
    (lambda: sc.Conv2D(1, 4, 3, stride=0), "Conv2D: stride must be a whole number >= 1, got 0"),
    (lambda: sc.Conv2D(1, 4, 3, stride=-1), "stride must be"),
    (lambda: sc.Conv2D(1, 4, 0), "Conv2D: kernel_size must be a whole number >= 1"),
    (lambda: sc.Conv2D(1, 4, -3), "kernel_size must be"),
    (lambda: sc.Conv2D(1, 4, 3, padding=-1), "Conv2D: padding must be a whole number >= 0"),
    (lambda: sc.Conv2D(0, 4, 3), "in_channels must be"), (lambda: sc.Conv2D(1, 0, 3), "out_channels must be"),
    (lambda: sc.MaxPool2D(2.0), r"MaxPool2D: kernel_size must be a whole number >= 1, got 2.0 \(write 2, not 2.0\)"),
    (lambda: sc.MaxPool2D(2, stride=0), "MaxPool2D: stride must be"),
    (lambda: sc.MaxPool2D(0), "kernel_size must be"),
    (lambda: sc.Dense(0, 10), "Dense: in_features must be"), (lambda: sc.Dense(10, 0), "out_features must be"),
    (lambda: sc.LeakyReLU("abc"), r"LeakyReLU: negative_slope must be a number in \[0, 1\), got 'abc'"),
    (lambda: sc.LeakyReLU(1e38), "negative_slope must be"), (lambda: sc.LeakyReLU(-0.1), "negative_slope"),
    (lambda: sc.LeakyReLU(1.0), "negative_slope"), (lambda: sc.LeakyReLU(math.nan), "negative_slope"),
    (lambda: sc.Dropout(1.0), r"Dropout: p must be a number in \[0, 1\)"),
])
def test_layers_refuse_arguments_that_build_nonsense(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_fast_layers_refuse_the_same_arguments():
    from course_machinery.fast_layers import FastConv2D, FastMaxPool2D
    with pytest.raises(ValueError, match="FastConv2D: stride must be"):
        FastConv2D(1, 4, 3, stride=0)
    with pytest.raises(ValueError, match="FastMaxPool2D: kernel_size must be"):
        FastMaxPool2D(2.0)


def test_a_model_file_with_a_huge_leaky_relu_slope_is_refused(tmp_path):
    path = tmp_path / "leaky.npz"
    sc.save_model(sc.Sequential([sc.Flatten(), sc.Dense(4, 3), sc.LeakyReLU(0.1), sc.Dense(3, 2)]), path)
    assert sc.load_model(path).layers[2].negative_slope == 0.1
    rewrite_model_file(path, lambda architecture: architecture["layers"][2]["config"].update(negative_slope=1e38))
    with pytest.raises(sc.ModelFileError, match=r"layer 2 \(LeakyReLU\).*negative_slope must be a number in \[0, 1\)"):
        sc.load_model(path)


@pytest.mark.parametrize("arguments, message", [
    (dict(image_size=0), "image_size must be a whole number >= 1"),
    (dict(image_size=6), "needs an image size divisible by 4"),
    (dict(image_size=8, channels=(4, 4, 4, 4)), "image_size 8 is too small for 4 stages.*at least 16"),
    (dict(blocks=-1), "blocks must be a whole number >= 0"), (dict(blocks=1.5), "blocks must be"),
    (dict(hidden=0), "hidden must be"), (dict(num_classes=0), "num_classes must be a whole number >= 2"),
    (dict(in_channels=0), "in_channels must be"), (dict(channels=()), "channels must list"),
])
def test_deep_cnn_refuses_sizes_that_build_nothing(arguments, message):
    with pytest.raises(ValueError, match=message):
        sc.deep_cnn(**arguments)


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.int8])
def test_deep_cnn_and_load_model_want_float32_or_float64(tmp_path, dtype):
    with pytest.raises(TypeError, match="deep_cnn: dtype must be np.float32 or np.float64"):
        sc.deep_cnn(dtype=dtype)
    path = tmp_path / "model.npz"
    sc.save_model(sc.reference_cnn(channels=(2, 2), hidden=4), path)
    with pytest.raises(TypeError, match=f"load_model: dtype must be np.float32 or np.float64, got {np.dtype(dtype)}"):
        sc.load_model(path, dtype=dtype)
    assert sc.load_model(path, dtype=np.float64).layers[0].params["W"].dtype == np.float64


def test_the_same_layer_object_twice_in_a_model_is_refused():
    relu, conv = sc.ReLU(), sc.Conv2D(2, 2, 3, padding=1)
    with pytest.raises(ValueError, match=r"ReLU\(\) appears twice in one model.*two ReLU\(\) objects"):
        sc.Sequential([sc.Flatten(), relu, sc.Dense(4, 4), relu])
    with pytest.raises(ValueError, match="Conv2D.*appears twice"):
        sc.Residual(conv, sc.ReLU(), conv)
    with pytest.raises(ValueError, match="appears twice"):                 # found inside a nested block
        sc.Sequential([conv, sc.Residual(sc.ReLU(), conv)])
    block = sc.Residual(sc.Conv2D(2, 2, 3, padding=1))
    with pytest.raises(ValueError, match="Residual.*appears twice"):
        sc.Sequential([block, block])


def nested_residual_architecture(depth):
    spec = {"type": "ReLU", "config": {}}
    for _ in range(depth):
        spec = {"type": "Residual", "config": {}, "layers": [spec]}
    return spec


@pytest.mark.parametrize("depth", [17, 100, 300])
def test_a_model_file_nested_too_deep_is_refused_quickly(tmp_path, depth):
    path = tmp_path / "deep.npz"
    sc.save_model(sc.Sequential([sc.ReLU()]), path)
    rewrite_model_file(path, lambda architecture: architecture.update(layers=[nested_residual_architecture(depth)]))
    start = time.perf_counter()
    with pytest.raises(sc.ModelFileError, match="nested more than 16 levels deep"):
        sc.load_model(path)
    assert time.perf_counter() - start < 2


def test_a_model_file_nested_16_deep_still_loads(tmp_path):
    path = tmp_path / "deep.npz"
    sc.save_model(sc.Sequential([sc.ReLU()]), path)
    rewrite_model_file(path, lambda architecture: architecture.update(layers=[nested_residual_architecture(15)]))
    model = sc.load_model(path)
    np.testing.assert_allclose(model.forward(np.array([[-1.0, 2.0]])), [[-15.0, 32.0]])   # y = x + f(x), 15 times


def every_layer():
    """(layer, input) pairs: one of each kind, with an input it accepts."""
    from course_machinery.fast_layers import FastConv2D, FastMaxPool2D
    image = rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    return [(sc.Conv2D(3, 4, 3, stride=2, padding=1), image), (FastConv2D(3, 4, 3), image),
            (sc.MaxPool2D(2), image), (FastMaxPool2D(3, stride=2), image), (sc.ReLU(), image),
            (sc.LeakyReLU(), image), (sc.Flatten(), image), (sc.Dropout(0.5), image),
            (sc.Dense(5, 2), image[:, 0, 0, :5]), (sc.BatchNorm1D(5), image[:, 0, 0, :5]),
            (sc.BatchNorm2D(3), image), (sc.Sequential([sc.ReLU(), sc.Flatten()]), image),
            (sc.Residual(sc.Conv2D(3, 3, 3, padding=1), sc.BatchNorm2D(3)), image)]


@pytest.mark.parametrize("index", range(13))
def test_backward_before_forward_or_with_the_wrong_dout_says_so(index):
    from re import escape
    layer, x = every_layer()[index]
    name = type(layer.layers[-1] if hasattr(layer, "layers") else layer).__name__
    with pytest.raises(RuntimeError, match=f"{name}.backward was called before {name}.forward"):
        layer.backward(np.ones((2, 3)))
    out = layer.forward(x)
    for wrong in (np.ones(out.shape[:-1] + (out.shape[-1] + 1,)), np.ones(out.shape[1:]), out.tolist()):
        with pytest.raises(ValueError, match=f"{name}.backward needs dout of shape {escape(str(out.shape))}"):
            layer.backward(wrong)
    assert layer.backward(np.ones_like(out)).shape == x.shape            # the right dout still works


def test_the_loss_backward_before_forward_says_so():
    with pytest.raises(RuntimeError, match="SoftmaxCrossEntropy.backward was called before forward"):
        sc.SoftmaxCrossEntropy().backward()
    with pytest.raises(TypeError, match="SoftmaxCrossEntropy expects NumPy arrays"):
        sc.SoftmaxCrossEntropy().forward(np.zeros((2, 3)), [0, 1])


@pytest.mark.parametrize("images, labels, batch_size, error, message", [
    (np.zeros((0, 1, 28, 28), np.float32), np.zeros(0, np.int64), 1000, ValueError, "no evaluation images"),
    (np.zeros((5, 1, 28, 28), np.float32), np.zeros(4, np.int64), 1000, ValueError,
     "5 evaluation images but 4 labels: they must pair up"),
    (np.zeros((5, 1, 28, 28), np.float32), np.zeros(5, np.int64), 0, ValueError, "batch_size must be a whole number"),
    (np.zeros((5, 1, 28, 28), np.float32), np.zeros(5, np.int64), -3, ValueError, "batch_size must be"),
    (np.zeros((5, 1, 28, 28), np.float32), np.zeros(5, np.int64), 2.5, ValueError, "batch_size must be"),
    (np.zeros((5, 1, 28, 28), np.float32), [0, 1, 2, 3, 4], 1000, TypeError, "must be NumPy arrays, got ndarray and"),
    (np.zeros((5, 1, 28, 28), np.float32), np.zeros(5), 1000, TypeError, "labels must be integers"),
])
def test_evaluate_refuses_data_it_cannot_score(images, labels, batch_size, error, message):
    with pytest.raises(error, match=message):
        sc.evaluate(sc.reference_cnn(channels=(2, 2), hidden=4), images, labels, batch_size)


def test_predict_proba_refuses_a_batch_size_below_one():
    with pytest.raises(ValueError, match="batch_size must be"):
        sc.reference_cnn().predict_proba(np.zeros((3, 1, 28, 28), np.float32), batch_size=0)


def test_a_model_file_nested_thousands_deep_is_refused_without_a_recursion_error(tmp_path):
    depth = 3000                            # deeper than json can parse: built as text (json.dumps cannot either)
    inner = '{"type": "Residual", "config": {}, "layers": [' * depth + '{"type": "ReLU", "config": {}}' + "]}" * depth
    np.savez(tmp_path / "deep.npz", architecture=np.array(
        '{"format": %s, "layers": [%s], "metadata": {}}' % (json.dumps(sc.MODEL_FORMAT), inner)))
    with pytest.raises(sc.ModelFileError, match="not a ScratchCNN model"):
        sc.load_model(tmp_path / "deep.npz")
