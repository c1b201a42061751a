"""The command line, ``python scratchcnn.py train|evaluate|predict`` (course_machinery/cli.py):
options an architecture cannot use are refused, never ignored; impossible values are one
line on stderr, never a traceback; predict names the classes of the data set the model was
trained on; a closed output pipe ends the command quietly and never loses a trained model.
Issue 18.3: predict reports each bad picture and goes on; --data-dir must hold the data set
--dataset names; messages name the data set; a network too big for the memory is refused first.
Issue 18.1: train reads and checks everything it needs (both data splits, --model-out, the free
space) before the first epoch; saves before the final test; keeps what it trained under a full
disk, Ctrl-C, SIGTERM, SIGHUP or an error mid-run, never replacing an existing file with it.

Pictures and small models are made by the tests from the real MNIST and Fashion-MNIST data.
"""

import errno
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

import scratchcnn as sc
from cli_helpers import assert_one_line_error, run_cli, run_main
from course_machinery import cli

ROOT = os.path.dirname(sc.__file__)


def rng(seed=0):
    return np.random.default_rng(seed)


def save_picture(path, image):
    """A (28, 28) image in [0, 1] as a grey PNG, as a user would pass to predict."""
    matplotlib.image.imsave(path, image, cmap="gray", vmin=0, vmax=1)
    return path


def layer_types(path):
    """The types of a saved model's layers, Residual blocks' inner layers included (a fast
    layer counts as the textbook layer it speeds up: it is saved under that name)."""
    def walk(layers):
        for layer in layers:
            yield getattr(layer, "saved_as", type(layer).__name__)
            yield from walk(getattr(layer, "layers", ()))
    return list(walk(sc.load_model(path).layers))


def files_in(folder):
    return sorted(path.name for path in folder.iterdir())


# --- impossible values: one line, exit status 2, nothing trained ---------------------------------

@pytest.mark.parametrize("option,value,message", [
    ("--epochs", "0", "argument --epochs: must be at least 1, got 0"),
    ("--epochs", "-3", "argument --epochs: must be at least 1, got -3"),
    ("--batch-size", "-5", "argument --batch-size: must be at least 1, got -5"),
    ("--batch-size", "0", "argument --batch-size: must be at least 1, got 0"),
    ("--lr", "0", "argument --lr: must be a positive finite number"),
    ("--lr", "-0.1", "argument --lr: must be a positive finite number"),
    ("--lr", "nan", "argument --lr: must be a positive finite number"),
    ("--lr", "inf", "argument --lr: must be a positive finite number"),
    ("--train-limit", "0", "argument --train-limit: must be at least 1"),
    ("--validation-size", "-1", "argument --validation-size: must be at least 0"),
    ("--augment-shift", "-2", "argument --augment-shift: must be at least 0"),
    ("--epochs", "two", "argument --epochs: 'two' is not a whole number"),
    ("--seed", "-1", "argument --seed: must be at least 0"),
    ("--channels", "0,16", "argument --channels: '0,16' is not a list of channel counts"),
    ("--channels", "8,,16", "argument --channels: '8,,16' is not a list of channel counts"),
    ("--channels", "", "argument --channels: '' is not a list of channel counts"),
    ("--channels", "8.5,16", "argument --channels: '8.5,16' is not a list of channel counts"),
    ("--blocks", "-1", "argument --blocks: must be at least 0, got -1"),
    ("--blocks", "two", "argument --blocks: 'two' is not a whole number"),
    ("--optimizer", "adagrad", "argument --optimizer: invalid choice: 'adagrad'"),
    ("--architecture", "resnet", "argument --architecture: invalid choice: 'resnet'"),
])
def test_cli_refuses_nonsense_arguments_in_one_line(capsys, tmp_path, option, value, message):
    code, out, err = run_main(capsys, "train", option, value, "--model-out", str(tmp_path / "m.npz"))
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and err.startswith("error: ") and message in err
    assert not (tmp_path / "m.npz").exists()


# --- bug 8: options the architecture cannot use are refused, not ignored --------------------------

@pytest.mark.parametrize("channels", ["8,16,32", "8", "8,16,32,64"])
def test_reference_network_refuses_a_channel_count_other_than_two(capsys, tmp_path, channels):
    code, out, err = run_main(capsys, "train", "--channels", channels, "--model-out", str(tmp_path / "m.npz"))
    count = len(channels.split(","))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "too many values to unpack" not in err and "not enough values" not in err
    assert (f"argument --channels: the reference network (--architecture reference) has exactly 2 convolution "
            f"stages, so it takes 2 widths such as 8,16, not {count} ({channels})") in err
    assert "--architecture deep takes one or more" in err
    assert not (tmp_path / "m.npz").exists()


def test_reference_network_refuses_blocks_it_would_ignore(capsys, tmp_path):
    for blocks in ("3", "1", "0"):
        code, out, err = run_main(capsys, "train", "--blocks", blocks, "--model-out", str(tmp_path / "m.npz"))
        assert code == 2 and out == "" and err.count("\n") == 1
        assert ("argument --blocks: the reference network (--architecture reference) has no residual blocks; "
                "--blocks is for --architecture deep") in err
    code, *_ = run_main(capsys, "train", "--architecture", "reference", "--blocks", "2",
                        "--model-out", str(tmp_path / "m.npz"))
    assert code == 2 and not (tmp_path / "m.npz").exists()


def test_reference_network_with_two_channel_widths_trains_them(capsys, tmp_path):
    path = tmp_path / "m.npz"
    cli.main(["train", "--channels", "4,6", "--train-limit", "64", "--epochs", "1", "--quiet",
              "--model-out", str(path)])
    capsys.readouterr()
    convolutions = [layer for layer in sc.load_model(path).layers if isinstance(layer, sc.Conv2D)]
    assert [conv.params["W"].shape[0] for conv in convolutions] == [4, 6]


@pytest.mark.parametrize("channels,blocks", [("4", "0"), ("4,6,8", "2"), ("4,4,4,4", "1")])
def test_deep_network_takes_any_number_of_stages_and_blocks(capsys, tmp_path, channels, blocks):
    path = tmp_path / "deep.npz"
    cli.main(["train", "--architecture", "deep", "--channels", channels, "--blocks", blocks,
              "--train-limit", "64", "--batch-size", "32", "--epochs", "1", "--augment-shift", "0", "--quiet",
              "--model-out", str(path)])
    assert "saved" in capsys.readouterr().out
    widths = [int(width) for width in channels.split(",")]
    types = layer_types(path)
    assert types.count("Residual") == len(widths) * int(blocks)
    # one convolution per stage, two inside each residual block
    assert types.count("Conv2D") == len(widths) * (1 + 2 * int(blocks))
    model = sc.load_model(path)
    stage_convolutions = [layer for layer in model.layers if isinstance(layer, sc.Conv2D)]
    assert [conv.params["W"].shape[0] for conv in stage_convolutions] == widths


def test_deep_network_without_blocks_uses_one_block_per_stage(capsys, tmp_path):
    path = tmp_path / "deep.npz"
    cli.main(["train", "--architecture", "deep", "--channels", "4,4", "--train-limit", "64", "--batch-size", "32",
              "--epochs", "1", "--quiet", "--model-out", str(path)])
    capsys.readouterr()
    assert layer_types(path).count("Residual") == 2


def test_deep_network_refuses_more_stages_than_the_image_allows(capsys, tmp_path):
    code, out, err = run_main(capsys, "train", "--architecture", "deep", "--channels", "4,4,4,4,4",
                              "--train-limit", "64", "--model-out", str(tmp_path / "m.npz"))
    assert code == 1 and err.count("\n") == 1 and "training on" not in out
    assert ("--channels 4,4,4,4,4: the deep network (--architecture deep) halves the image in each of its "
            "5 stages, and 28 x 28 images allow at most 4. Give at most 4 widths") in err
    assert not (tmp_path / "m.npz").exists()


# --- bug 8: predict names the classes of the data set the model was trained on -------------------

def predicted_lines(capsys, model_path, picture):
    cli.main(["predict", "--model", str(model_path), str(picture)])
    sys.stdout.flush()
    return capsys.readouterr().out.splitlines()


def expected_class(model_path, picture):
    """The class the model gives the picture, computed with the library, not the CLI."""
    model = sc.load_model(model_path)
    image = sc.preprocess_digit(sc.read_picture(picture))
    return int(model.predict(image[None, None])[0])


def test_predict_with_a_fashion_mnist_model_trained_here_prints_class_names(capsys, tmp_path):
    model_path = tmp_path / "fashion.npz"
    cli.main(["train", "--dataset", "fashion-mnist", "--train-limit", "256", "--epochs", "1", "--quiet",
              "--model-out", str(model_path)])
    capsys.readouterr()
    assert sc.load_model(model_path).metadata["dataset"] == "fashion-mnist"
    images, labels = sc.load_fashion_mnist("test")
    picture = save_picture(tmp_path / "item.png", images[0, 0])
    lines = predicted_lines(capsys, model_path, picture)
    best = expected_class(model_path, picture)
    assert lines[0] == f"{picture}: {sc.FASHION_MNIST_CLASSES[best]}"
    assert len(lines) == 11
    for index, (line, name) in enumerate(zip(lines[1:], sc.FASHION_MNIST_CLASSES)):
        assert re.match(rf"  {index}: {re.escape(name)} +\d+\.\d%", line), line


def test_predict_with_the_shipped_fashion_mnist_model_says_ankle_boot(capsys, tmp_path):
    images, labels = sc.load_fashion_mnist("test")
    assert sc.FASHION_MNIST_CLASSES[labels[0]] == "Ankle boot"
    picture = save_picture(tmp_path / "boot.png", images[0, 0])
    lines = predicted_lines(capsys, os.path.join(ROOT, "data", "deep_fashion.npz"), picture)
    assert lines[0] == f"{picture}: Ankle boot"
    assert lines[10].startswith("  9: Ankle boot ")


def test_predict_with_an_mnist_model_prints_the_digit(capsys, tmp_path):
    images, labels = sc.load_mnist("test")
    assert labels[0] == 7
    picture = save_picture(tmp_path / "seven.png", images[0, 0])
    lines = predicted_lines(capsys, sc.DEFAULT_MODEL_PATH, picture)
    assert lines[0] == f"{picture}: 7"
    assert lines[8].startswith("  7: ") and lines[8].split()[1].endswith("%")     # no name after a digit


def test_predict_with_a_model_file_that_names_no_data_set_prints_digits(capsys, tmp_path):
    model_path = tmp_path / "plain.npz"
    sc.save_model(sc.reference_cnn(seed=0), model_path)                  # no metadata at all
    images, _ = sc.load_mnist("test")
    picture = save_picture(tmp_path / "digit.png", images[1, 0])
    lines = predicted_lines(capsys, model_path, picture)
    assert lines[0] == f"{picture}: {expected_class(model_path, picture)}"


# --- bug 8: a reader that goes away ---------------------------------------------------------------

def test_evaluate_into_a_pipe_closed_early_exits_quietly(tmp_path):
    process = subprocess.Popen([sys.executable, sc.__file__, "evaluate"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()                    # the reader goes before the first line is written
    error = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=300) == 141          # 128 + SIGPIPE, as a shell reports for `cat`
    assert error == ""                               # no "error: Broken pipe", no "Exception ignored"


def test_evaluate_piped_into_head_prints_the_first_line_and_no_error(tmp_path):
    command = f"{sys.executable} {sc.__file__} evaluate | head -n 1"
    result = subprocess.run(["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("test accuracy ") and result.stdout.count("\n") == 1


def test_training_goes_on_and_saves_when_its_output_pipe_closes(tmp_path):
    path = tmp_path / "m.npz"
    process = subprocess.Popen([sys.executable, sc.__file__, "train", "--train-limit", "64", "--epochs", "2",
                                "--model-out", str(path)],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    error = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=300) == 0, error
    assert "Broken pipe" not in error and "Traceback" not in error
    assert [line.split(":")[0] for line in error.splitlines()] == ["epoch 1/2", "epoch 2/2"]   # the progress
    assert sc.load_model(path).metadata["epochs_completed"] == 2


def test_training_goes_on_and_saves_when_its_progress_and_output_pipes_close(tmp_path):
    path = tmp_path / "m.npz"
    process = subprocess.Popen([sys.executable, sc.__file__, "train", "--train-limit", "64", "--epochs", "2",
                                "--model-out", str(path)],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    process.stderr.close()                  # the progress lines on stderr have no reader either
    assert process.wait(timeout=300) == 0
    assert sc.load_model(path).metadata["epochs_completed"] == 2


# --- how the command line is started -------------------------------------------------------------

def test_python_m_course_machinery_cli_runs_the_command_line(tmp_path):
    images, _ = sc.load_mnist("test")
    picture = save_picture(tmp_path / "seven.png", images[0, 0])
    by_module = subprocess.run([sys.executable, "-m", "course_machinery.cli", "predict", str(picture)],
                               cwd=tmp_path, capture_output=True, text=True, timeout=300)
    by_textbook = run_cli("predict", str(picture), cwd=tmp_path)
    assert by_module.returncode == 0 and by_module.stderr == "", by_module.stderr
    assert by_module.stdout == by_textbook.stdout and by_module.stdout.startswith(f"{picture}: 7\n")



@pytest.mark.parametrize("where,message", [
    ("folder", "it is a folder"),
    ("a_file/m.npz", "is a file, not a folder"),
    ("nowhere/m.npz", "does not exist"),
])
def test_cli_checks_model_out_before_training(tmp_path, where, message):
    (tmp_path / "folder").mkdir()
    (tmp_path / "a_file").write_text("synthetic")
    result = run_cli("train", "--train-limit", "100", "--epochs", "1", "--model-out", str(tmp_path / where),
                     cwd=tmp_path)
    assert_one_line_error(result, message)
    assert "training on" not in result.stdout            # refused before any training


@pytest.mark.parametrize("classes", [5, 12])
def test_cli_model_with_the_wrong_number_of_classes(tmp_path, classes):
    path = tmp_path / f"model{classes}.npz"
    sc.save_model(sc.Sequential([sc.Flatten(), sc.Dense(784, classes, rng=rng(0))]), path)
    for command in (("evaluate", "--model", str(path)), ("predict", "--model", str(path), "x.png")):
        result = run_cli(*command, cwd=tmp_path)
        assert_one_line_error(result, f"has {classes} outputs, but MNIST has 10 classes")


def test_cli_model_that_does_not_take_mnist_images(tmp_path):
    path = tmp_path / "rgb.npz"
    sc.save_model(sc.Sequential([sc.Conv2D(3, 2, 3, rng=rng(0)), sc.Flatten(), sc.Dense(1352, 10, rng=rng(1))]), path)
    result = run_cli("evaluate", "--model", str(path), cwd=tmp_path)
    assert_one_line_error(result, "does not take 1 x 28 x 28 MNIST images", "expects 3 input channels")


def test_cli_permission_and_memory_errors(capsys, monkeypatch, tmp_path):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/data/mnist/train-images-idx3-ubyte.gz")

    monkeypatch.setattr(sc, "load_mnist", denied)
    code, _, err = run_main(capsys, "train", "--model-out", str(tmp_path / "m.npz"))
    assert code == 1 and err == "error: Permission denied: /data/mnist/train-images-idx3-ubyte.gz\n"

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(sc, "load_mnist", out_of_memory)
    code, _, err = run_main(capsys, "train", "--model-out", str(tmp_path / "m.npz"))
    assert code == 1 and err.startswith("error: out of memory") and "--batch-size" in err and "--channels" in err


def test_cli_ctrl_c_during_the_final_test_keeps_the_saved_model(capsys, monkeypatch, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "evaluate", interrupted)
    path = tmp_path / "m.npz"
    code, out, err = run_main(capsys, "train", "--train-limit", "64", "--epochs", "1", "--quiet",
                              "--model-out", str(path))
    assert code == 130 and f"saved {path}\n" in out
    assert err == (f"error: interrupted before the final test ended; the trained model is saved as {path}, untested "
                   f"(test it with `python scratchcnn.py evaluate --model {path}`)\n")
    assert sc.load_model(path).metadata["test_accuracy"] is None


def test_cli_ctrl_c_elsewhere_is_one_line(capsys, monkeypatch, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_model", interrupted)
    code, _, err = run_main(capsys, "evaluate")
    assert code == 130 and err == "interrupted\n"


def test_cli_messages_say_what_really_happened(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("my notes, not a model\n")
    assert_one_line_error(run_cli("evaluate", "--model", str(text), cwd=tmp_path),
                          "it is a text file (it starts 'my notes, not a model")
    assert "pickled" not in run_cli("evaluate", "--model", str(text), cwd=tmp_path).stderr
    (tmp_path / "models").mkdir()
    assert_one_line_error(run_cli("evaluate", "--model", str(tmp_path / "models"), cwd=tmp_path),
                          "is a folder, not a model file")
    (tmp_path / "pictures").mkdir()
    assert_one_line_error(run_cli("predict", str(tmp_path / "pictures"), cwd=tmp_path),
                          "is a folder, not a picture")
    assert_one_line_error(run_cli("predict", str(tmp_path / "missing.png"), cwd=tmp_path),
                          "missing.png does not exist")
    (tmp_path / "fake.png").write_text("synthetic: not a picture")
    assert_one_line_error(run_cli("predict", str(tmp_path / "fake.png"), cwd=tmp_path), "cannot read picture")


def test_cli_nan_in_the_data_is_not_blamed_on_the_learning_rate(tmp_path, monkeypatch, capsys):
    images = np.ones((40, 1, 28, 28), np.float32) * 0.5
    images[3, 0, 0, 0] = np.nan
    monkeypatch.setattr(sc, "load_mnist", lambda *args, **kwargs: (images, np.arange(40) % 10))
    code, _, err = run_main(capsys, "train", "--epochs", "1", "--quiet", "--model-out", str(tmp_path / "m.npz"))
    assert code == 1 and "NaN or infinite pixel values" in err and "Lower the learning rate" not in err
    assert "model so far" not in err and files_in(tmp_path) == []        # refused before a batch: nothing to keep


# --- issue 18.1: everything the run needs is checked before the first epoch ---------------------

def mnist_copy(folder, keep_checksums=True):
    """A copy of the shipped data/mnist folder, to damage."""
    shutil.copytree(os.path.join(ROOT, "data", "mnist"), folder)
    if not keep_checksums:
        (folder / "SHA256SUMS").unlink()
    return folder


@pytest.mark.parametrize("damage,message", [
    ("missing", "missing data file: neither {folder}/t10k-labels-idx1-ubyte.gz nor"),
    ("truncated", "{folder}/t10k-images-idx3-ubyte.gz is truncated"),
    ("truncated, with its checksum", "checksum mismatch for {folder}/t10k-images-idx3-ubyte.gz"),
])
def test_train_refuses_a_missing_or_truncated_test_split_before_training(tmp_path, damage, message):
    folder = mnist_copy(tmp_path / "mnist", keep_checksums="checksum" in damage)
    if damage == "missing":
        (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    else:
        images = folder / "t10k-images-idx3-ubyte.gz"
        images.write_bytes(images.read_bytes()[:100_000])
    result = run_cli("train", "--data-dir", str(folder), "--train-limit", "256", "--epochs", "1",
                     "--model-out", "m.npz", cwd=tmp_path)
    assert_one_line_error(result, message.format(folder=folder))
    assert result.stdout == "" and not (tmp_path / "m.npz").exists()          # not one epoch trained


def test_train_refuses_cifar10_without_its_test_batch_before_training(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    records = rng(0).integers(0, 256, size=(20, sc.CIFAR10_RECORD_BYTES), dtype=np.uint8)
    records[:, 0] = np.arange(20) % 10                                          # labels 0-9
    for name in sc.CIFAR10_FILES["train"]:
        records.tofile(folder / name)
    result = run_cli("train", "--dataset", "cifar10", "--data-dir", str(folder), "--epochs", "1",
                     "--model-out", "m.npz", cwd=tmp_path)
    assert_one_line_error(result, f"CIFAR-10 is not there: missing {folder / 'test_batch.bin'}")
    assert result.stdout == "" and not (tmp_path / "m.npz").exists()


def test_the_model_is_saved_before_the_final_test_and_kept_when_the_test_fails(capsys, monkeypatch, tmp_path):
    path = tmp_path / "m.npz"
    seen_by_the_test = []

    def out_of_memory(model, images, labels):
        seen_by_the_test.append(sc.load_model(path).metadata["epochs_completed"])   # already saved
        raise MemoryError

    monkeypatch.setattr(cli, "evaluate", out_of_memory)
    code, out, err = run_main(capsys, "train", "--train-limit", "64", "--epochs", "2", "--quiet",
                              "--model-out", str(path))
    assert code == 1 and seen_by_the_test == [2] and f"saved {path}\n" in out
    assert err == (f"error: out of memory, in the final test; the trained model is saved as {path}, untested "
                   f"(test it with `python scratchcnn.py evaluate --model {path}`)\n")
    assert sc.load_model(path).metadata["test_accuracy"] is None


@pytest.mark.slow
def test_the_test_accuracy_is_written_into_the_saved_model(capsys, tmp_path):
    path = tmp_path / "m.npz"
    cli.main(["train", "--train-limit", "128", "--epochs", "1", "--quiet", "--model-out", str(path)])
    out = capsys.readouterr().out
    model = sc.load_model(path)
    _, accuracy = sc.evaluate(model, *sc.load_mnist("test"))
    assert model.metadata["test_accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert out.index(f"saved {path}\n") < out.index(f"test accuracy {100 * accuracy:.2f}%")
    assert model.metadata["interrupted"] is False


# --- issue 18.1: free space, and a save that fails all the same ----------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """mount(size): a folder on a tmpfs of that size (a small, really full disk; needs root)."""
    mounted = []

    def mount(size):
        folder = tmp_path / f"disk_{size}"
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode:
            pytest.skip(f"cannot mount a tmpfs here (it needs root): {result.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)     # lazy: even if a failed test left it busy


def fill(folder):
    """Write zeros into folder/filler until the disk is full."""
    with open(folder / "filler", "wb", buffering=0) as file:
        for chunk in (2 ** 16, 2 ** 12, 2 ** 9):
            try:
                while True:
                    file.write(bytes(chunk))
            except OSError as error:
                assert error.errno == errno.ENOSPC


def test_estimated_file_size_is_an_upper_bound(tmp_path):
    for model in (sc.reference_cnn(seed=0), sc.deep_cnn(channels=(4, 8), blocks=2, seed=0),
                  sc.reference_cnn(seed=0, dtype=np.float64)):
        sc.save_model(model, tmp_path / "m.npz", metadata={"command": "x" * 300})
        size = (tmp_path / "m.npz").stat().st_size
        assert size < cli._estimated_file_size(model) < 2.5 * size + 2 ** 20


def test_train_refuses_a_disk_without_room_for_the_model_before_training(tmp_path, small_disk):
    disk = small_disk("64k")
    result = run_cli("train", "--train-limit", "256", "--epochs", "1", "--model-out", str(disk / "m.npz"),
                     cwd=tmp_path)
    assert_one_line_error(result, f"cannot save to {disk / 'm.npz'}: the model file needs up to 1.8 MB, but {disk} "
                                  f"has only 64 kB free. Free some space or save elsewhere (--model-out).")
    assert result.stdout == "" and files_in(disk) == []


def start_training(*arguments, cwd, **options):
    return subprocess.Popen([sys.executable, sc.__file__, "train", *arguments], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **options)


def wait_for_line(process, start):
    """Read the process's stdout up to a line that starts with ``start``; returns what was read."""
    read = ""
    for line in process.stdout:
        read += line
        if line.startswith(start):
            return read
    raise AssertionError(f"no line starting {start!r}; stderr: {process.stderr.read()}")


def test_a_disk_that_fills_during_training_loses_nothing(tmp_path, small_disk):
    disk = small_disk("4m")
    work = tmp_path / "work"
    work.mkdir()
    process = start_training("--train-limit", "256", "--epochs", "5", "--quiet", "--model-out",
                             str(disk / "m.npz"), cwd=work)
    wait_for_line(process, "training on")           # the free space was checked: now the disk fills up
    fill(disk)
    out, err = process.communicate(timeout=300)
    rescued = work / "m.npz"
    assert process.returncode == 1 and "Traceback" not in err
    assert err == (f"error: cannot save the model to {disk / 'm.npz'} (No space left on device); it is saved as "
                   f"{rescued} instead. Move it where you want it (mv {rescued} {disk / 'm.npz'}) once there "
                   f"is room.\n")
    assert "epoch  5/5" in out and "saved" not in out
    assert sc.load_model(rescued).metadata["epochs_completed"] == 5
    assert files_in(disk) == ["filler"]               # no half-written file left on the full disk


def test_a_save_that_fails_goes_to_the_current_folder_under_a_new_name(capsys, monkeypatch, tmp_path):
    out_folder, work = tmp_path / "out", tmp_path / "work"
    out_folder.mkdir()
    work.mkdir()
    (work / "m.npz").write_text("synthetic: a file of the user's, never replaced")
    real_save = sc.save_model

    def disk_full_in_out_folder(model, path, metadata=None):
        if os.path.dirname(path) == str(out_folder):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_save(model, path, metadata)

    monkeypatch.setattr(cli, "save_model", disk_full_in_out_folder)
    monkeypatch.chdir(work)
    code, out, err = run_main(capsys, "train", "--train-limit", "64", "--epochs", "1", "--quiet",
                              "--model-out", str(out_folder / "m.npz"))
    rescued = work / "m.2.npz"
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"error: cannot save the model to {out_folder / 'm.npz'} (No space left on device); "
                          f"it is saved as {rescued} instead.")
    assert sc.load_model(rescued).metadata["epochs_completed"] == 1
    assert (work / "m.npz").read_text() == "synthetic: a file of the user's, never replaced"


def test_when_no_save_works_the_message_says_the_model_is_lost(tmp_path):
    folders = out_folder, work, temporary = tmp_path / "out", tmp_path / "work", tmp_path / "tmp"
    for folder in folders:
        folder.mkdir()
    limit = 100_000                  # a file-size limit (ulimit -f) below the model's 0.4 MB: every save fails

    def small_file_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process = start_training("--train-limit", "64", "--epochs", "1", "--quiet", "--model-out",
                             str(out_folder / "m.npz"), cwd=work, preexec_fn=small_file_limit,
                             env=dict(os.environ, TMPDIR=str(temporary)))
    out, err = process.communicate(timeout=300)
    assert process.returncode == 1 and "Traceback" not in err
    assert err == (f"error: cannot save the model to {out_folder / 'm.npz'} (File too large), nor to "
                   f"{work / 'm.npz'} (File too large), nor to {temporary / 'm.npz'} (File too large): the model "
                   f"trained for 1 epoch is lost. Free some space and train again.\n")
    assert all(files_in(folder) == [] for folder in folders)    # no half-written file anywhere


# --- issue 18.1: an interrupted run never replaces a model ----------------------------------------

def interrupt_after_batches(monkeypatch, batches, exception=KeyboardInterrupt):
    """Ctrl-C (or another exception) during training, from the progress bar after ``batches`` batches."""
    def progress_bar(epochs, stream=None):
        count = [0]

        def show(*progress):
            count[0] += 1
            if count[0] == batches:
                raise exception
        return show

    monkeypatch.setattr(cli, "_progress_bar", progress_bar)


@pytest.mark.parametrize("model_out", ["given", "default"])
def test_an_early_ctrl_c_keeps_the_existing_model_and_saves_beside_it(capsys, monkeypatch, tmp_path, model_out):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "my.npz" if model_out == "given" else tmp_path / "scratchcnn_model.npz"
    shutil.copyfile(sc.DEFAULT_MODEL_PATH, path)          # a good model (99.27%), to keep
    before = path.read_bytes()
    arguments = ["train", "--train-limit", "512", "--batch-size", "64", "--epochs", "3"]
    arguments += ["--model-out", str(path)] if model_out == "given" else []
    interrupt_after_batches(monkeypatch, 2)                # two batches into the first epoch
    for name in (f"{path.stem}.interrupted.npz", f"{path.stem}.interrupted.2.npz"):
        code, out, err = run_main(capsys, *arguments)
        beside = tmp_path / name
        assert code == 130 and "saved" not in out
        assert err == (f"interrupted after 0 of 3 epochs (in the first): the model so far is saved as "
                       f"{beside if model_out == 'given' else name}; "
                       f"{path if model_out == 'given' else path.name} is left as it was\n")
        assert path.read_bytes() == before
        metadata = sc.load_model(beside).metadata
        assert metadata["interrupted"] is True and metadata["epochs_completed"] == 0


def test_a_run_interrupted_after_an_epoch_saves_its_best_epoch_at_a_new_path(capsys, monkeypatch, tmp_path):
    path = tmp_path / "new.npz"
    interrupt_after_batches(monkeypatch, 6)                # 4 batches an epoch: in the second epoch
    code, out, err = run_main(capsys, "train", "--train-limit", "256", "--batch-size", "64", "--epochs", "3",
                              "--model-out", str(path))
    assert code == 130 and "epoch  1/3" in out
    assert err == f"interrupted after 1 of 3 epochs: the model so far is saved as {path}\n"
    assert sc.load_model(path).metadata["epochs_completed"] == 1
    assert files_in(tmp_path) == ["new.npz"]


@pytest.mark.parametrize("interrupted", [False, True])
def test_a_signal_during_the_save_waits_until_the_model_is_saved(capsys, monkeypatch, tmp_path, interrupted):
    path = tmp_path / "m.npz"
    real_save = sc.save_model
    saves = []

    def terminated_while_saving(model, path, metadata=None):
        os.kill(os.getpid(), signal.SIGTERM)              # arrives in the middle of the save
        real_save(model, path, metadata)
        saves.append(path)

    monkeypatch.setattr(cli, "save_model", terminated_while_saving)
    if interrupted:                                       # Ctrl-C, then SIGTERM while saving
        interrupt_after_batches(monkeypatch, 1)
    code, out, err = run_main(capsys, "train", "--train-limit", "64", "--epochs", "1", "--model-out", str(path),
                              *([] if interrupted else ["--quiet"]))
    assert saves == [path] and sc.load_model(path).metadata["test_accuracy"] is None
    if interrupted:
        assert code == 130            # the first signal's status
        assert err == f"interrupted after 0 of 1 epochs (in the first): the model so far is saved as {path}\n"
    else:
        assert code == 128 + signal.SIGTERM
        assert f"saved {path}\n" in out and "test accuracy" not in out
        assert err.startswith(f"error: stopped by SIGTERM before the final test ended; the trained model is saved "
                              f"as {path}, untested")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL        # the handlers are put back


def test_sigterm_before_training_is_one_line_and_writes_nothing(capsys, monkeypatch, tmp_path):
    real_load = cli.load_dataset

    def terminated_while_loading(*arguments):
        os.kill(os.getpid(), signal.SIGTERM)
        return real_load(*arguments)

    monkeypatch.setattr(cli, "load_dataset", terminated_while_loading)
    code, out, err = run_main(capsys, "train", "--epochs", "1", "--model-out", str(tmp_path / "m.npz"))
    assert (code, out, err) == (128 + signal.SIGTERM, "", "stopped by SIGTERM\n")
    assert files_in(tmp_path) == []


def test_an_error_after_some_training_keeps_the_model_so_far(capsys, monkeypatch, tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"synthetic: an older model file")
    interrupt_after_batches(monkeypatch, 6, MemoryError)   # 4 batches an epoch: in the second epoch
    code, out, err = run_main(capsys, "train", "--train-limit", "256", "--batch-size", "64", "--epochs", "3",
                              "--model-out", str(path))
    beside = tmp_path / "m.interrupted.npz"
    assert code == 1 and "epoch  1/3" in out
    assert err == (f"error: out of memory (in epoch 2 of 3): the model so far is saved as {beside}; "
                   f"{path} is left as it was\n")
    assert sc.load_model(beside).metadata["epochs_completed"] == 1
    assert path.read_bytes() == b"synthetic: an older model file"


def test_a_completed_run_says_it_replaced_the_file(capsys, tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"synthetic: an older model file")
    cli.main(["train", "--train-limit", "64", "--epochs", "1", "--quiet", "--model-out", str(path)])
    assert f"saved {path} (replaced the file that was there)\n" in capsys.readouterr().out
    assert sc.load_model(path).metadata["epochs_completed"] == 1


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
@pytest.mark.parametrize("existing", [True, False])
def test_sigterm_sighup_and_ctrl_c_keep_the_model_so_far(tmp_path, signal_number, existing):
    path = tmp_path / "m.npz"
    if existing:
        shutil.copyfile(sc.DEFAULT_MODEL_PATH, path)
    process = start_training("--train-limit", "256", "--epochs", "100", "--quiet", "--model-out", str(path),
                             cwd=tmp_path)
    out = wait_for_line(process, "epoch  1/100")
    process.send_signal(signal_number)
    rest, err = process.communicate(timeout=120)
    out += rest
    stopped = "interrupted" if signal_number == signal.SIGINT else f"stopped by {signal.Signals(signal_number).name}"
    saved = tmp_path / "m.interrupted.npz" if existing else path
    assert process.returncode == 128 + signal_number
    completed = sc.load_model(saved).metadata["epochs_completed"]
    assert completed >= 1 and f"epoch {completed:2d}/100" in out
    assert err == (f"{stopped} after {completed} of 100 epochs: the model so far is saved as {saved}"
                   + (f"; {path} is left as it was\n" if existing else "\n"))
    if existing:
        assert path.read_bytes() == sc.DEFAULT_MODEL_PATH.read_bytes()


# --- issue 18.1: --model-out must be a new path or a regular file that may be replaced -----------

def special_model_out(tmp_path, kind):
    if kind == "device":
        return "/dev/null"
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind in ("symlink", "read-only"):
        shutil.copyfile(sc.DEFAULT_MODEL_PATH, tmp_path / "target.npz")
        if kind == "symlink":
            path.symlink_to(tmp_path / "target.npz")
        else:
            path = tmp_path / "target.npz"
            path.chmod(0o444)
    elif kind == "dangling symlink":
        path.symlink_to(tmp_path / "nowhere.npz")
    return str(path)


@pytest.mark.parametrize("kind,message", [
    ("device", "cannot save to /dev/null: it is a character device, not a regular file, and saving would "
               "replace it. Give a file name, such as --model-out model.npz."),
    ("fifo", "cannot save to {path}: it is a named pipe (FIFO), not a regular file"),
    ("folder", "cannot save to {path}: it is a folder. Give a file name"),
    ("symlink", "cannot save to {path}: it is a symbolic link to {folder}/target.npz, and saving would replace "
                "the link, not its target. Give the target itself (--model-out {folder}/target.npz)"),
    ("dangling symlink", "cannot save to {path}: it is a symbolic link to {folder}/nowhere.npz"),
    ("read-only", "cannot save to {path}: it is read-only (mode 0444), so it is not replaced. Make it writable "
                  "(chmod u+w {path}) or give another name."),
])
def test_model_out_that_is_not_a_regular_file_or_a_new_path_is_refused(capsys, tmp_path, kind, message):
    path = special_model_out(tmp_path, kind)
    before = {name: os.lstat(tmp_path / name) for name in files_in(tmp_path)}
    code, out, err = run_main(capsys, "train", "--train-limit", "64", "--epochs", "1", "--model-out", path)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("error: " + message.format(path=path, folder=tmp_path))
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    after = {name: os.lstat(tmp_path / name) for name in files_in(tmp_path)}
    assert {name: (s.st_mode, s.st_ino, s.st_mtime_ns) for name, s in after.items()} == \
           {name: (s.st_mode, s.st_ino, s.st_mtime_ns) for name, s in before.items()}


def test_read_only_model_out_is_refused_even_as_root(capsys, tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"synthetic")
    path.chmod(0o444)
    assert os.geteuid() != 0 or os.access(path, os.W_OK)      # root may write it: the mode bits decide
    code, _, err = run_main(capsys, "train", "--epochs", "1", "--model-out", str(path))
    assert code == 1 and "it is read-only (mode 0444)" in err and path.read_bytes() == b"synthetic"


@pytest.mark.slow
def test_cli_train_evaluate_predict(tmp_path):
    mnist_test = sc.load_mnist("test")
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
    png = tmp_path / "digit.png"
    image, label = mnist_test[0][0, 0], int(mnist_test[1][0])
    matplotlib.image.imsave(png, 1 - sc.resize_image(image, 140, 140), cmap="gray", vmin=0, vmax=1)
    result = run_cli("predict", "--model", str(sc.DEFAULT_MODEL_PATH), str(png), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{png}: {label}\n") and result.stdout.count("%") == 10


@pytest.mark.slow
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


# --- issue 18.3: pictures, data sets and memory on the command line --------------------------------

def synthetic_folder(folder, channels=1, size=28, count=40):
    """A tiny data set in MNIST's (or CIFAR-10's) files: SYNTHETIC UNIT-TEST DATA for the messages."""
    folder.mkdir()
    pixels = rng(0).integers(0, 256, size=(count, channels * size * size), dtype=np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    if channels == 3:
        records = np.concatenate([labels[:, None], pixels], axis=1).tobytes()
        for name in sc.CIFAR10_FILES["train"] + sc.CIFAR10_FILES["test"]:
            (folder / name).write_bytes(records)
        return folder
    for split in ("train", "test"):
        images_name, labels_name = sc.MNIST_FILES[split]
        (folder / images_name).write_bytes(sc.idx_header(sc.IMAGES_MAGIC, (count, size, size)) + pixels.tobytes())
        (folder / labels_name).write_bytes(sc.idx_header(sc.LABELS_MAGIC, (count,)) + labels.tobytes())
    return folder


def test_predict_reports_each_bad_picture_and_goes_on(tmp_path):
    images, labels = sc.load_mnist("test")
    first = save_picture(tmp_path / "first.png", images[0, 0])
    last = save_picture(tmp_path / "last.png", images[1, 0])
    (tmp_path / "text.png").write_text("not a picture")
    save_picture(tmp_path / "blank.png", np.zeros((28, 28)))
    result = run_cli("predict", str(first), "text.png", "missing.png", "blank.png", str(last), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert [line for line in result.stdout.splitlines() if not line.startswith(" ")] == \
        [f"{first}: {labels[0]}", f"{last}: {labels[1]}"]
    errors = result.stderr.splitlines()
    assert len(errors) == 3, result.stderr
    assert errors[0].startswith("error: cannot read picture text.png")
    assert errors[1] == "error: picture missing.png does not exist."
    assert errors[2].startswith("error: blank.png: the image is blank")
    assert run_cli("predict", str(first), cwd=tmp_path).returncode == 0


def test_a_picture_named_like_an_option_gets_a_hint_to_use_double_dash(tmp_path):
    images, labels = sc.load_mnist("test")
    save_picture(tmp_path / "-7.png", images[0, 0])
    line = assert_one_line_error(run_cli("predict", "-7.png", cwd=tmp_path), "-7.png is taken as an option")
    assert "put -- before it (python scratchcnn.py predict -- -7.png)" in line
    result = run_cli("predict", "--", "-7.png", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith(f"-7.png: {labels[0]}")
    result = run_cli("predict", "-8.png", cwd=tmp_path)            # no such file: no hint
    assert "taken as an option" not in result.stderr


@pytest.mark.parametrize("dataset,folder,holds", [("fashion-mnist", "mnist", "MNIST"),
                                                  ("mnist", "fashion-mnist", "Fashion-MNIST")])
def test_a_data_folder_holding_the_other_shipped_data_set_is_refused(capsys, tmp_path, dataset, folder, holds):
    data_dir = os.path.join(ROOT, "data", folder)
    code, out, err = run_main(capsys, "train", "--dataset", dataset, "--data-dir", data_dir,
                              "--model-out", str(tmp_path / "m.npz"))
    assert code == 1 and err.count("\n") == 1 and "training on" not in out
    wanted = "Fashion-MNIST" if dataset == "fashion-mnist" else "MNIST"
    assert f"{data_dir} holds {holds}, not {wanted}" in err and "SHA-256" in err
    assert f"--data-dir {os.path.join(ROOT, 'data', dataset)}" in err
    model = os.path.join(ROOT, "data", "deep_fashion.npz" if folder == "fashion-mnist" else "deep_mnist.npz")
    code, out, err = run_main(capsys, "evaluate", "--model", model, "--dataset", dataset, "--data-dir", data_dir)
    assert code == 1 and f"holds {holds}, not {wanted}" in err


def test_a_copied_folder_named_after_another_data_set_gets_a_warning(tmp_path):
    folder = synthetic_folder(tmp_path / "mnist")                  # checksums match no shipped set
    with pytest.warns(UserWarning, match="named like MNIST's folder, but --dataset is fashion-mnist"):
        cli.check_dataset_folder("fashion-mnist", folder, cli.SHIPPED_DATA_DIRS, cli.DATASET_NAMES)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cli.check_dataset_folder("mnist", folder, cli.SHIPPED_DATA_DIRS, cli.DATASET_NAMES)
        cli.check_dataset_folder("fashion-mnist", synthetic_folder(tmp_path / "clothes"),
                                 cli.SHIPPED_DATA_DIRS, cli.DATASET_NAMES)


def run_main_ok(capsys, *argv):
    """main(argv) that ends normally: (stdout, stderr)."""
    cli.main(list(argv))
    sys.stdout.flush()
    return capsys.readouterr()


def test_evaluate_notes_a_model_trained_on_another_data_set(capsys, tmp_path):
    folder = synthetic_folder(tmp_path / "digits")
    model = os.path.join(ROOT, "data", "deep_fashion.npz")
    out, err = run_main_ok(capsys, "evaluate", "--model", model, "--dataset", "mnist", "--data-dir", str(folder))
    assert err.count("\n") == 1
    assert err.startswith(f"note: {model} was trained on Fashion-MNIST (its file says so), and is evaluated "
                          f"here on MNIST")
    assert out.startswith("test accuracy ") and "% on 40 MNIST images" in out
    out, err = run_main_ok(capsys, "evaluate", "--model", model, "--data-dir", str(folder))
    assert err == "" and "Fashion-MNIST images" in out
    _, err = run_main_ok(capsys, "evaluate", "--model", os.path.join(ROOT, "data", "deep_mnist.npz"),
                         "--dataset", "mnist", "--data-dir", str(folder))
    assert err == ""


def test_cifar10_messages_name_cifar10_not_mnist(capsys, tmp_path):
    folder = synthetic_folder(tmp_path / "cifar", channels=3, size=32)
    code, _, err = run_main(capsys, "evaluate", "--model", str(sc.DEFAULT_MODEL_PATH), "--dataset", "cifar10",
                            "--data-dir", str(folder))
    assert code == 1 and "does not take 3 x 32 x 32 CIFAR-10 images" in err and "MNIST images" not in err
    cifar_model = tmp_path / "cifar.npz"
    sc.save_model(sc.reference_cnn(in_channels=3, image_size=32), cifar_model, metadata={"dataset": "cifar10"})
    out, err = run_main_ok(capsys, "evaluate", "--model", str(cifar_model), "--data-dir", str(folder))
    assert "% on 40 CIFAR-10 images" in out and "airplane" in out
    save_picture(tmp_path / "seven.png", sc.load_mnist("test")[0][0, 0])
    code, _, err = run_main(capsys, "predict", "--model", str(cifar_model), str(tmp_path / "seven.png"))
    assert code == 1 and "trained on CIFAR-10 (3 x 32 x 32 colour pictures)" in err and "MNIST's 1 x 28 x 28" in err


def test_fashion_mnist_errors_point_to_its_own_folder(capsys, tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    with pytest.raises(sc.DataFileError) as error:
        sc.load_fashion_mnist("test", folder)
    assert f"git checkout -- {folder}" in str(error.value) and "data/mnist" not in str(error.value)
    code, _, err = run_main(capsys, "train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "nowhere"),
                            "--model-out", str(tmp_path / "m.npz"))
    assert code == 1 and "Fashion-MNIST in data/fashion-mnist/" in err
    help_text = subprocess.run([sys.executable, sc.__file__, "train", "--help"], capture_output=True, text=True).stdout
    assert "data/fashion-mnist" in help_text


def test_training_memory_estimate_is_within_25_percent_of_the_measured_peak():
    import tracemalloc
    import types
    x = rng(0).random((128, 1, 28, 28), dtype=np.float32)
    y = np.arange(128) % 10
    for architecture, channels, blocks in (("reference", (64, 96), None), ("deep", (32, 48), 2)):
        args = types.SimpleNamespace(architecture=architecture, channels=channels, blocks=blocks,
                                     batch_size=64, seed=0)
        estimate, parameters = cli._training_memory(args, 1, 28)
        tracemalloc.start()
        model = cli._build_model(args, 1, 28)
        sc.train(model, x, y, epochs=1, batch_size=64, optimizer=sc.Adam(model, lr=1e-3))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert parameters == model.num_parameters()
        assert 0.8 < estimate / peak < 1.25, (architecture, estimate, peak)


def test_channels_4096_4096_is_refused_for_its_memory_before_building(tmp_path):
    """With 4 GB of address space (ulimit -v, as on a shared machine or a container), the
    network's estimate (about 10 GB) is refused before anything is built or trained."""
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2 ** 30, 4 * 2 ** 30))

    result = subprocess.run([sys.executable, sc.__file__, "train", "--channels", "4096,4096", "--model-out",
                             str(tmp_path / "m.npz")], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            preexec_fn=limit_memory, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    line = assert_one_line_error(result, "--architecture reference --channels 4096,4096 needs about",
                                 "GB of memory is available", "--batch-size")
    assert "would not help" in line and "training on" not in result.stdout
    needed = float(re.search(r"needs about ([\d.]+) GB", line).group(1))
    assert 8 < needed < 16
    assert not (tmp_path / "m.npz").exists()
