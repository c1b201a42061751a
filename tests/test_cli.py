"""The command line, ``python scratchcnn.py train|evaluate|predict`` (course_machinery/cli.py):
options an architecture cannot use are refused, never ignored; impossible values are one
line on stderr, never a traceback; predict names the classes of the data set the model was
trained on; a closed output pipe ends the command quietly and never loses a trained model.

Pictures and small models are made by the tests from the real MNIST and Fashion-MNIST data.
"""

import os
import re
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
    """The types of a saved model's layers, Residual blocks' inner layers included."""
    def walk(layers):
        for layer in layers:
            yield type(layer).__name__
            yield from walk(getattr(layer, "layers", ()))
    return list(walk(sc.load_model(path).layers))


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
    assert code == 1 and err.startswith("error: out of memory") and "--train-limit" in err


def test_cli_second_ctrl_c_during_the_final_evaluation_still_saves(capsys, monkeypatch, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "evaluate", interrupted)
    path = tmp_path / "m.npz"
    cli.main(["train", "--train-limit", "64", "--epochs", "1", "--quiet", "--model-out", str(path)])
    out, err = capsys.readouterr()
    assert "interrupted again: saving the model without testing it" in out and "Traceback" not in err
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

