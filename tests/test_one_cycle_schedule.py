"""The one-cycle learning-rate schedule, the command line's default: its shape, train()
following it, and the older command that made the shipped model still running."""

import subprocess
import sys

import numpy as np
import pytest

import scratchcnn as sc
from course_machinery import cli


def test_one_cycle_learning_rate_rises_then_falls():
    progress = np.linspace(0, 1, 401)
    rates = np.array([sc.one_cycle_learning_rate(0.004, p, warmup=0.25) for p in progress])
    assert rates[0] == pytest.approx(0.004 * 0.04) and rates[-1] == pytest.approx(0.004 * 0.001)
    assert rates.max() == pytest.approx(0.004) and progress[rates.argmax()] == pytest.approx(0.25)
    peak = rates.argmax()
    assert np.all(np.diff(rates[:peak + 1]) > 0) and np.all(np.diff(rates[peak:]) < 0)


def test_train_follows_the_one_cycle_schedule():
    images, labels = sc.load_mnist("test")
    model = sc.reference_cnn(seed=0)
    optimizer = sc.Adam(model, lr=0.004)
    history = sc.train(model, images[:256], labels[:256], epochs=4, batch_size=64, optimizer=optimizer,
                       schedule="one-cycle")
    steps = 4 * 4
    expected = [sc.one_cycle_learning_rate(0.004, (4 * epoch + 3) / steps) for epoch in range(4)]
    np.testing.assert_allclose(history["lr"], expected)
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_cli_defaults_and_the_command_that_made_the_shipped_model(tmp_path):
    assert cli.TRAIN_DEFAULTS["schedule"] == "one-cycle"
    # The README's command for data/scratchcnn_mnist.npz (the old defaults, spelled out) still runs.
    result = subprocess.run([sys.executable, sc.__file__, "train", "--epochs", "1", "--lr", "0.002",
                             "--schedule", "cosine", "--train-limit", "512", "--quiet",
                             "--model-out", str(tmp_path / "old.npz")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "adam lr 0.002 (cosine schedule)" in result.stdout
    assert (tmp_path / "old.npz").is_file()
