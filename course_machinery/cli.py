"""The command line: ``python scratchcnn.py train|evaluate|predict`` (and ``python -m course_machinery.cli``)."""

from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import os
import shlex
import shutil
import signal
import stat
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import scratchcnn
from course_machinery.file_safety import check_dataset_folder, check_writable
from scratchcnn import (Adam, DEFAULT_DATA_DIR, DEFAULT_MODEL_PATH, DataFileError,
                        FASHION_MNIST_DIR, ModelFileError, RMSprop, SCHEDULES, SGD, TrainingDiverged,
                        confusion_matrix, deep_cnn, evaluate, load_model, preprocess_digit,
                        read_picture, reference_cnn, save_model, split_training_data, train)


# The data sets the command line knows, by name: their class names and their loaders.
DATASET_CLASSES = {"mnist": scratchcnn.MNIST_CLASSES, "fashion-mnist": scratchcnn.FASHION_MNIST_CLASSES,
                   "cifar10": scratchcnn.CIFAR10_CLASSES}


def load_dataset(name: str, split: str = "train", data_dir: str | os.PathLike | None = None):
    """load_mnist, load_fashion_mnist or load_cifar10, by the command line's name for the data set."""
    loaders = {"mnist": scratchcnn.load_mnist, "fashion-mnist": scratchcnn.load_fashion_mnist,
               "cifar10": scratchcnn.load_cifar10}
    return loaders[name](split, data_dir)


# =============================================================================
# 10. Command line
# =============================================================================

def _discard_the_rest(stream):
    """Point a stream's file descriptor at /dev/null: its reader has gone (``... | head``).
    Python's own flush at exit then has somewhere to write and prints no second error."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):        # not a file (a notebook's output): nothing to redirect
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _write(text, stream=None):
    """Write text to stdout (or stream) and flush. When nobody reads it any more
    (``train ... | head``, a terminal closed: SIGHUP), discard the rest and carry on:
    a training run is not lost for want of a reader."""
    stream = stream if stream is not None else sys.stdout
    try:
        stream.write(text)
        stream.flush()
    except OSError:                      # a broken pipe; EIO from a terminal that has gone
        _discard_the_rest(stream)


def _progress_bar(epochs, stream=None):
    """A one-line progress bar on stderr, redrawn at most 10 times a second. When
    stderr is not a terminal (a log file, a pipe) a redrawn line would flood it,
    so then it prints one plain line per epoch instead."""
    stream = stream if stream is not None else sys.stderr
    live = getattr(stream, "isatty", lambda: False)()
    last = [0.0]

    def show(epoch, done, total, loss, accuracy, seconds):
        now = time.perf_counter()
        speed = done / max(seconds, 1e-9)
        if not live:
            if done == total:
                _write(f"epoch {epoch}/{epochs}: {total} images, loss {loss:.4f} acc {100 * accuracy:5.2f}% "
                       f"{speed:6.0f} img/s\n", stream)
            return
        if done < total and now - last[0] < 0.1:
            return
        last[0] = now
        width = 30
        filled = int(width * done / total)
        left = (total - done) / max(speed, 1e-9)
        _write(f"\repoch {epoch}/{epochs} [{'#' * filled}{'.' * (width - filled)}] "
               f"loss {loss:.4f} acc {100 * accuracy:5.2f}% {speed:6.0f} img/s {left:4.0f}s left "
               + ("\r" + " " * 100 + "\r" if done == total else ""), stream)

    return show


# What `python scratchcnn.py train` does when given no options (benchmarks/bench.py
# --time-to-accuracy times exactly this). The shipped data/scratchcnn_mnist.npz was made
# with the earlier defaults: --epochs 20 --lr 0.002 --schedule cosine (README, Results).
TRAIN_DEFAULTS = dict(epochs=10, batch_size=128, lr=0.003, schedule="one-cycle", augment_shift=2, seed=0)


DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
# The shipped data sets' folders: their SHA256SUMS identify a folder's files (check_dataset_folder).
SHIPPED_DATA_DIRS = {"mnist": DEFAULT_DATA_DIR, "fashion-mnist": FASHION_MNIST_DIR}


def _check_model_fits(model, path, dataset, image_shape):
    """The model must take the data set's images (1 x 28 x 28 for MNIST, 3 x 32 x 32 for
    CIFAR-10) and have one output per class; say so, naming the data set, if not."""
    name, size = DATASET_NAMES[dataset], " x ".join(map(str, image_shape))
    try:
        outputs = model.predict_proba(np.zeros((1, *image_shape), np.float32)).shape[1]
    except (ValueError, TypeError) as error:
        raise ModelFileError(f"{path} does not take {size} {name} images: {error}") from None
    classes = len(DATASET_CLASSES[dataset])
    if outputs != classes:
        raise ModelFileError(f"{path} has {outputs} outputs, but {name} has {classes} classes: "
                             f"it was trained for another data set. Use a model trained on {name}.")


def _trained_on(model):
    """The data set a model's file says it was trained on (command_train writes it into
    the metadata); MNIST for a file that names none (saved before the metadata held it)."""
    dataset = model.metadata.get("dataset")
    return dataset if dataset in DATASET_CLASSES else "mnist"


def _named(class_names, index, width=0):
    """' Ankle boot' for a class with a name, '' for a digit (its number says it all)."""
    name = class_names[index]
    return "" if name == str(index) else " " + name.ljust(width)


def _widths(channels):
    """(8, 16) -> "8,16", as --channels takes them."""
    return ",".join(map(str, channels))


def _default(function, name):
    """The default value of a textbook function's argument, for --help."""
    return inspect.signature(function).parameters[name].default


def _build_model(args, in_channels, image_size):
    """The network --architecture names, for images of in_channels x image_size x image_size;
    --channels and --blocks when given, else the defaults of reference_cnn and deep_cnn."""
    options = dict(in_channels=in_channels, image_size=image_size, seed=args.seed)
    if args.channels:
        options["channels"] = args.channels
    if args.architecture == "reference":
        return reference_cnn(**options)
    # Each stage halves the image (2 x 2 max-pooling); at least one pixel must remain.
    most_stages = image_size.bit_length() - 1
    if args.channels and len(args.channels) > most_stages:
        raise ValueError(f"--channels {_widths(args.channels)}: the deep network (--architecture deep) halves the "
                         f"image in each of its {len(args.channels)} stages, and {image_size} x {image_size} images "
                         f"allow at most {most_stages}. Give at most {most_stages} widths, such as 32,64.")
    if args.blocks is not None:
        options["blocks"] = args.blocks
    return deep_cnn(**options)


# --- the model file: checked before training, never lost after it -------------------------------

class ModelNotSaved(Exception):
    """The trained model could not be saved where asked (and perhaps nowhere)."""


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (args[0] is the signal number), raised where Ctrl-C raises
    KeyboardInterrupt, so that train() stops the same way and keeps the model so far."""


SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
if hasattr(signal, "SIGHUP"):                        # not on Windows
    SIGNAL_NAMES[signal.SIGHUP] = "SIGHUP"

SPECIAL_FILE_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                      (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))


class _StopSignals:
    """Ctrl-C, SIGTERM (kill, timeout, docker stop, batch schedulers) and SIGHUP (a closed
    terminal) during training all stop it as Ctrl-C does. While the model is being saved
    (``with signals.held():``) they wait, so no save is cut in half. ``received``: the
    first signal that came, to report it and to exit with 128 + its number."""

    def __enter__(self):
        self.received, self.holding, self.previous = None, False, {}
        for number in SIGNAL_NAMES:
            try:
                self.previous[number] = signal.signal(number, self._handle)
            except ValueError:                       # not the main thread: signals stay as they are
                pass
        return self

    def __exit__(self, *exception):
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def _handle(self, number, frame):
        self.received = self.received or number
        if not self.holding:
            raise Stopped(number)

    @contextlib.contextmanager
    def held(self):
        self.holding = True
        try:
            yield
        finally:
            self.holding = False


def _stopped_by(number):
    """How a run ended by a signal is reported: "interrupted" (Ctrl-C), "stopped by SIGTERM"."""
    return "interrupted" if number == signal.SIGINT else f"stopped by {SIGNAL_NAMES[number]}"


def _check_model_out(path):
    """Refuse a --model-out that is not a new path or a regular file that may be replaced:
    saving renames a new file over it, which would replace a device (/dev/null as root),
    a FIFO or a symbolic link, and ignore a read-only file's mode (root ignores it too)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:                          # a new path (or one check_writable explains)
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        raise ModelFileError(f"cannot save to {path}: it is a symbolic link to {os.readlink(path)}, and saving "
                             f"would replace the link, not its target. Give the target itself "
                             f"(--model-out {os.path.realpath(path)}) or a new file name.")
    special = next((kind for is_kind, kind in SPECIAL_FILE_KINDS if mode is not None and is_kind(mode)), None)
    if special:
        raise ModelFileError(f"cannot save to {path}: it is {special}, not a regular file, and saving would "
                             f"replace it. Give a file name, such as --model-out model.npz.")
    if mode is not None and stat.S_ISREG(mode) and (not mode & stat.S_IWUSR or not os.access(path, os.W_OK)):
        raise ModelFileError(f"cannot save to {path}: it is read-only (mode {stat.S_IMODE(mode):04o}), so it is "
                             f"not replaced. Make it writable (chmod u+w {path}) or give another name.")
    check_writable(path)                     # a folder, a folder that is missing or that cannot be written


def _estimated_file_size(model):
    """An upper bound of the model file's size: the parameters, as much again for saved
    state (a batch norm keeps two running statistics per pair of parameters) and 1 MiB
    for the architecture and the archive's headers."""
    itemsize = max((array.itemsize for layer in model.layers for array in layer.params.values()), default=8)
    return 2 * model.num_parameters() * itemsize + 2 ** 20


def _size_text(size):
    return f"{size / 2 ** 20:.1f} MB" if size >= 2 ** 20 else f"{size / 2 ** 10:.0f} kB"


def _check_free_space(path, needed):
    """Refuse to train when the folder of ``path`` lacks the room to save the model."""
    folder = Path(path).resolve().parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:                          # cannot tell: the save says so if it fails
        return
    if free < needed:
        raise ModelFileError(f"cannot save to {path}: the model file needs up to {_size_text(needed)}, but {folder} "
                             f"has only {_size_text(free)} free. Free some space or save elsewhere (--model-out).")


def _unused_name(folder, stem, suffix):
    """folder/stem+suffix, or stem.2, stem.3 ... if taken: a name that replaces no file."""
    candidate, number = folder / f"{stem}{suffix}", 1
    while os.path.lexists(candidate):
        number += 1
        candidate = folder / f"{stem}.{number}{suffix}"
    return candidate


def _rescue_paths(path):
    """New file names for a model that could not be saved at ``path`` (a full disk, a quota):
    in the current folder, then in the temporary folder (not path's own)."""
    tried = {path.resolve().parent}
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        if folder.resolve() not in tried:
            tried.add(folder.resolve())
            yield _unused_name(folder, path.stem, path.suffix or ".npz")


def _save(model, path, metadata):
    """save_model(model, path) (atomic: a failed save leaves no file behind). If it fails with
    an OSError, save in a _rescue_paths place instead; returns (the path saved, the reason
    path failed or None). Raises ModelNotSaved, saying what is lost, when nothing works."""
    try:
        save_model(model, path, metadata=metadata)
        return path, None
    except OSError as error:
        failures = [f"{path} ({error.strerror or error})"]
    for rescue in _rescue_paths(path):
        try:
            save_model(model, rescue, metadata=metadata)
            return rescue, failures[0]
        except OSError as error:
            failures.append(f"{rescue} ({error.strerror or error})")
    epochs = metadata["epochs_completed"]
    raise ModelNotSaved(f"cannot save the model to {', nor to '.join(failures)}: the model trained for "
                        f"{epochs} epoch{'s' * (epochs != 1)} is lost. Free some space and train again.")


def _training_memory(args, in_channels, image_size):
    """(bytes, parameters): an estimate of the memory training takes, from the architecture alone,
    before anything is built: 4 copies of the float32 parameters (weights, gradients, two optimizer
    moments; batch norm's too) and, per image of a batch, each 3 x 3 convolution's unfolded input (im2col: 9 x C_in
    values a pixel, kept for backward) and its outputs (2 copies, 3 with batch norm). Within 10% of
    tracemalloc's peak for both architectures at 128 channels (tests/test_cli.py measures it)."""
    deep = args.architecture == "deep"
    builder = deep_cnn if deep else reference_cnn
    channels = args.channels or _default(builder, "channels")
    blocks = (args.blocks if args.blocks is not None else _default(deep_cnn, "blocks")) if deep else 0
    convs, size, c_in = [], image_size, in_channels          # (in channels, out channels, size) of each
    for c in channels:
        convs.append((c_in, c, size))
        size //= 2                                             # each stage ends with a 2 x 2 pooling
        convs += [(c, c, size)] * (2 * blocks)                 # a residual block: two convolutions
        c_in = c
    hidden = _default(builder, "hidden")
    norms = 2 * sum(o for _, o, _ in convs) + 2 * hidden if deep else 0    # batch norm's gamma and beta
    parameters = sum(9 * i * o + o for i, o, _ in convs) + (c_in * size * size + 11) * hidden + 10 + norms
    per_image = sum(s * s * (9 * i + (3 if deep else 2) * o) for i, o, s in convs)
    return 4 * (4 * parameters + args.batch_size * per_image), parameters


def _available_memory():
    """The bytes this process can still allocate: the least of the system's available memory
    (/proc/meminfo), a container's limit (cgroup v2 memory.max) and this process's address-space
    limit (ulimit -v); None where none can be read (not Linux)."""
    limits = []
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/meminfo") as file:
            limits.append(1024 * int(next(line for line in file if line.startswith("MemAvailable:")).split()[1]))
    with contextlib.suppress(OSError, ValueError):
        maximum = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if maximum != "max":
            limits.append(int(maximum) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    with contextlib.suppress(ImportError, OSError, ValueError, StopIteration):
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/status") as file:
                used = 1024 * int(next(line for line in file if line.startswith("VmSize:")).split()[1])
            limits.append(soft - used)
    return min(limits) if limits else None


class NotEnoughMemory(ValueError):
    """A network whose training would need more memory than there is (refused before building it)."""


def _check_training_memory(args, in_channels, image_size):
    """Refuse, before building the network, one whose training needs more memory than there is."""
    needed, parameters = _training_memory(args, in_channels, image_size)
    available = _available_memory()
    if available is None or needed <= available:
        return
    network = f"--architecture {args.architecture}" + (f" --channels {_widths(args.channels)}" if args.channels else "")
    raise NotEnoughMemory(
        f"{network} needs about {needed / 2 ** 30:.1f} GB to train ({parameters:,} parameters, and each batch of "
        f"{args.batch_size} images' intermediate results), but only {max(available, 0) / 2 ** 30:.1f} GB of memory "
        f"is available. Use narrower stages (--channels, default {_widths(_default(reference_cnn, 'channels'))} for "
        f"the reference network), fewer blocks (--blocks) or smaller batches (--batch-size); fewer images "
        f"(--train-limit) would not help.")


def _make_optimizer(args, model):
    if args.optimizer == "adam":
        return Adam(model, lr=args.lr)
    if args.optimizer == "rmsprop":
        return RMSprop(model, lr=args.lr)
    return SGD(model, lr=args.lr, momentum=0.9, weight_decay=5e-4)


def command_train(args):
    # Everything the run needs is read and checked before the first epoch: a trained model
    # is never lost to a missing test file, an unusable --model-out or a full disk.
    with _StopSignals() as signals:          # Ctrl-C, SIGTERM, SIGHUP: one message, the model kept
        model_out = Path(args.model_out)
        _check_model_out(model_out)
        check_dataset_folder(args.dataset, args.data_dir, SHIPPED_DATA_DIRS, DATASET_NAMES)
        images, labels = load_dataset(args.dataset, "train", args.data_dir)
        x_test, y_test = load_dataset(args.dataset, "test", args.data_dir)
        x_train, y_train, x_val, y_val = split_training_data(images, labels, args.train_limit,
                                                             args.validation_size, args.seed)
        _check_training_memory(args, in_channels=images.shape[1], image_size=images.shape[2])
        model = _build_model(args, in_channels=images.shape[1], image_size=images.shape[2])
        _check_free_space(model_out, _estimated_file_size(model))
        optimizer = _make_optimizer(args, model)
        _write(f"training on {len(x_train):,} images, validating on {len(x_val):,}; "
               f"{model.num_parameters():,} parameters, {args.optimizer} lr {args.lr} ({args.schedule} schedule), "
               f"batch {args.batch_size}, seed {args.seed}\n")

        history, metadata = _train_keeping_the_model(args, model, optimizer, x_train, y_train, x_val, y_val,
                                                     model_out, signals)
        with signals.held():                 # saved before the test, which could fail (memory, Ctrl-C)
            replacing = os.path.lexists(model_out)
            saved, failure = _save(model, model_out, metadata)
        if failure:
            raise ModelNotSaved(f"cannot save the model to {failure}; it is saved as {saved} instead. "
                                f"Move it where you want it (mv {saved} {model_out}) once there is room.")
        _write(f"saved {model_out}" + (" (replaced the file that was there)\n" if replacing else "\n"))
        if signals.received:                 # a signal came while saving: stop before testing
            _exit_untested(model_out, signals.received)
        _test_and_record(model, model_out, metadata, x_test, y_test, history, signals)


def _train_keeping_the_model(args, model, optimizer, x_train, y_train, x_val, y_val, model_out, signals):
    """train(), with the command line's progress; returns (history, metadata for the file). A run
    stopped early (a signal, or an error after some training) saves what it trained and exits."""
    done = {"epochs": 0, "batches": 0}

    def report(history):
        e = done["epochs"] = history["epoch"][-1]
        val = history["val_accuracy"][-1]
        val_text = f"  val acc {100 * val:6.2f}%" if val is not None else ""
        _write(f"epoch {e:2d}/{args.epochs}  train loss {history['train_loss'][-1]:.4f}  "
               f"train acc {100 * history['train_accuracy'][-1]:6.2f}%{val_text}  "
               f"{history['seconds'][-1]:5.1f}s\n")
        if e == args.epochs:             # trained: from here a signal waits until the model is saved
            signals.holding = True

    bar = None if args.quiet else _progress_bar(args.epochs)

    def progress(*state):
        done["batches"] += 1
        if bar is not None:
            bar(*state)

    metadata = {"command": "python scratchcnn.py " + shlex.join(args.argv), "test_accuracy": None,
                "seed": args.seed, "dataset": args.dataset}
    try:
        with np.errstate(over="ignore", invalid="ignore"):      # a diverging run raises TrainingDiverged
            history = train(model, x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                            optimizer=optimizer, augment_shift=args.augment_shift,
                            schedule=args.schedule,
                            validation=(x_val, y_val) if len(x_val) else None, seed=args.seed,
                            callback=report, progress=progress)
    except (MemoryError, ValueError, TypeError) as error:      # not TrainingDiverged: its weights are NaN
        if not done["batches"]:
            raise                        # nothing trained yet: main says what was wrong
        problem = "out of memory" if isinstance(error, MemoryError) else str(error).rstrip(".")
        metadata.update(epochs_completed=done["epochs"], interrupted=True)
        _keep_model_so_far(model, model_out, metadata, signals, 1,
                           f"error: {problem} (in epoch {done['epochs'] + 1} of {args.epochs})")
    metadata.update(epochs_completed=len(history["epoch"]), interrupted=history["interrupted"])
    if history["interrupted"]:
        number = signals.received or signal.SIGINT
        completed = metadata["epochs_completed"]
        _keep_model_so_far(model, model_out, metadata, signals, 128 + number,
                           f"{_stopped_by(number)} after {completed} of {args.epochs} epochs"
                           + (" (in the first)" if not completed else ""))
    return history, metadata


def _keep_model_so_far(model, model_out, metadata, signals, status, why):
    """A run stopped early (Ctrl-C, SIGTERM, SIGHUP, an error after some training) never replaces
    a file with its half-trained model: that goes beside it (m.interrupted.npz). Says why and
    where on one line, and exits with ``status``."""
    path = model_out
    if os.path.lexists(model_out):
        path = _unused_name(model_out.parent, f"{model_out.stem}.interrupted", model_out.suffix or ".npz")
    with signals.held():
        saved, failure = _save(model, path, metadata)
    where = f"saved as {saved}" if not failure else f"cannot save to {failure}, so saved as {saved}"
    kept = f"; {model_out} is left as it was" if saved != model_out else ""
    below_the_progress_bar = "\n" if sys.stderr.isatty() else ""
    _write(f"{below_the_progress_bar}{why}: the model so far is {where}{kept}\n", sys.stderr)
    sys.exit(status)


def _exit_untested(model_out, number, problem=None):
    """The model is saved; the final test was stopped (a signal) or failed (problem): say so and exit."""
    why = f"{problem}, in the final test" if problem else f"{_stopped_by(number)} before the final test ended"
    _write(f"error: {why}; the trained model is saved as {model_out}, untested "
           f"(test it with `python scratchcnn.py evaluate --model {model_out}`)\n", sys.stderr)
    sys.exit(128 + number if number else 1)


def _test_and_record(model, model_out, metadata, x_test, y_test, history, signals):
    """The final test on the test split, then its accuracy written into the saved model's file."""
    try:
        _, test_accuracy = evaluate(model, x_test, y_test)
    except KeyboardInterrupt:                # Ctrl-C, SIGTERM, SIGHUP
        _exit_untested(model_out, signals.received or signal.SIGINT)
    except MemoryError:
        _exit_untested(model_out, None, "out of memory")
    except (ValueError, TypeError, OSError) as error:
        _exit_untested(model_out, None, str(error))
    _write(f"test accuracy {100 * test_accuracy:.2f}%  ({sum(history['seconds']):.0f}s of training)\n")
    with signals.held():
        try:
            save_model(model, model_out, metadata={**metadata, "test_accuracy": test_accuracy})
        except OSError as error:
            _write(f"warning: the test accuracy could not be written into {model_out} ({error.strerror}); "
                   f"the model there is complete\n", sys.stderr)


def command_evaluate(args):
    model = load_model(args.model)
    trained_on = model.metadata.get("dataset")
    dataset = args.dataset or _trained_on(model)
    if trained_on in DATASET_NAMES and trained_on != dataset:
        _write(f"note: {args.model} was trained on {DATASET_NAMES[trained_on]} (its file says so), and is evaluated "
               f"here on {DATASET_NAMES[dataset]}: its classes mean other things, so expect chance-level accuracy. "
               f"Leave out --dataset to evaluate it on {DATASET_NAMES[trained_on]}.\n", sys.stderr)
    class_names = DATASET_CLASSES[dataset]
    check_dataset_folder(dataset, args.data_dir, SHIPPED_DATA_DIRS, DATASET_NAMES)
    images, labels = load_dataset(dataset, "test", args.data_dir)
    _check_model_fits(model, args.model, dataset, images.shape[1:])
    predictions = model.predict(images)
    counts = confusion_matrix(labels, predictions)
    print(f"test accuracy {100 * np.mean(predictions == labels):.2f}% on {len(labels):,} {DATASET_NAMES[dataset]} "
          f"images\n")
    print("per-class accuracy:")
    for digit in range(10):
        total = counts[digit].sum()
        accuracy = f"{100 * counts[digit, digit] / total:6.2f}%" if total else "    n/a"
        print(f"  {digit}:{_named(class_names, digit, 12)} {accuracy}  ({total} images)")
    print("\nconfusion matrix (rows: true class, columns: predicted):")
    print("     " + "".join(f"{d:6d}" for d in range(10)))
    for digit in range(10):
        print(f"  {digit}: " + "".join(f"{c:6d}" for c in counts[digit]))


def command_predict(args):
    """Classify each picture; a bad one is reported on one line and the others still run.
    The exit status is 1 if any picture could not be read."""
    model = load_model(args.model)
    dataset = _trained_on(model)
    if dataset == "cifar10":
        raise ModelFileError(f"{args.model} was trained on CIFAR-10 (3 x 32 x 32 colour pictures); predict "
                             f"prepares a picture like MNIST's 1 x 28 x 28 digits, so it needs a model trained "
                             f"on MNIST or Fashion-MNIST.")
    _check_model_fits(model, args.model, dataset, (1, 28, 28))
    class_names = DATASET_CLASSES[dataset]                  # "Ankle boot", not "9", for Fashion-MNIST
    width = max(map(len, class_names))
    failed = 0
    for path in args.images:
        try:
            digit_image = preprocess_digit(read_picture(path))
        except ValueError as error:
            failed += 1
            sys.stdout.flush()                              # the error lands between the right pictures
            _write(f"error: {path}: {error}\n" if str(path) not in str(error) else f"error: {error}\n", sys.stderr)
            continue
        probs = model.predict_proba(digit_image[None, None])[0]
        best = int(probs.argmax())
        print(f"{path}: {class_names[best]}")
        for digit in range(len(probs)):
            print(f"  {digit}:{_named(class_names, digit, width)} {probs[digit]:6.1%} "
                  f"{'#' * int(round(40 * probs[digit]))}")
    if failed:
        sys.stdout.flush()
        sys.exit(1)


def _whole_number(least):
    """An argparse type: an integer >= least."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value
    return parse


def _positive_number(text):
    """An argparse type: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number (such as 0.001), got {text}")
    return value


def _channel_list(text):
    """An argparse type: channels per stage, e.g. "32,64" -> (32, 64)."""
    try:
        channels = tuple(_whole_number(1)(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of channel counts such as 32,64") from None
    return channels


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (the usage is in --help). An
    argument that looks like an option but names an existing file (``-7.png``) gets a hint."""

    argv = ()                            # main sets it: the arguments being parsed

    def error(self, message):
        files = [arg for arg in self.argv if arg.startswith("-") and len(arg) > 1 and os.path.isfile(arg)]
        hint = (f"; {files[0]} is taken as an option: to name a file that starts with '-', put -- before it "
                f"(python scratchcnn.py predict -- {files[0]}) or write ./{files[0]}" if files else "")
        self.exit(2, f"error: {message}{hint} (see `{self.prog} --help`)\n")


def _show_warning(message, category, *rest, **kwargs):
    """Warnings in the CLI: one line, without the source line Python adds."""
    _write(f"warning: {message}\n", sys.stderr)


def _check_architecture_options(parser, args):
    """Options the chosen architecture cannot use are refused, never ignored."""
    if args.architecture == "reference":
        # reference_cnn has exactly two convolution stages (notebook 07): c1, c2 = channels
        if args.channels is not None and len(args.channels) != 2:
            parser.error(f"argument --channels: the reference network (--architecture reference) has exactly 2 "
                         f"convolution stages, so it takes 2 widths such as 8,16, not {len(args.channels)} "
                         f"({_widths(args.channels)}); --architecture deep takes one or more")
        if args.blocks is not None:
            parser.error("argument --blocks: the reference network (--architecture reference) has no residual "
                         "blocks; --blocks is for --architecture deep")


def main(argv=None):
    argv = list(argv) if argv is not None else sys.argv[1:]
    _ArgumentParser.argv = argv
    parser = _ArgumentParser(prog="python scratchcnn.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    p = train_parser = commands.add_parser("train", help="train a CNN (reference or deep) on MNIST, "
                                                         "Fashion-MNIST or CIFAR-10")
    p.add_argument("--epochs", type=_whole_number(1), default=TRAIN_DEFAULTS["epochs"])
    p.add_argument("--batch-size", type=_whole_number(1), default=TRAIN_DEFAULTS["batch_size"])
    p.add_argument("--lr", type=_positive_number, default=None,
                   help=f"the peak learning rate; default: {TRAIN_DEFAULTS['lr']} for adam, 0.001 for rmsprop, "
                        f"0.05 for sgd")
    p.add_argument("--optimizer", choices=("sgd", "adam", "rmsprop"), default="adam")
    p.add_argument("--schedule", choices=sorted(SCHEDULES), default=TRAIN_DEFAULTS["schedule"],
                   help="learning-rate schedule (default: %(default)s)")
    p.add_argument("--augment-shift", type=_whole_number(0), default=TRAIN_DEFAULTS["augment_shift"],
                   help="random shifts of up to this many pixels")
    p.add_argument("--seed", type=_whole_number(0), default=TRAIN_DEFAULTS["seed"])
    p.add_argument("--train-limit", type=_whole_number(1), default=None, help="train on at most this many images")
    p.add_argument("--validation-size", type=_whole_number(0), default=0, help="hold out this many training images")
    p.add_argument("--data-dir", default=None, help="the data set's folder (default: data/mnist, data/fashion-mnist, "
                                                    "or data/ for cifar10, by --dataset)")
    p.add_argument("--dataset", choices=tuple(DATASET_CLASSES), default="mnist",
                   help="mnist (data/mnist), fashion-mnist (data/fashion-mnist) or cifar10 (not shipped)")
    p.add_argument("--architecture", choices=("reference", "deep"), default="reference",
                   help="reference: reference_cnn; deep: deep_cnn with batch norm and residual blocks")
    p.add_argument("--channels", type=_channel_list, default=None,
                   help=f"channels of the convolution stages: two for reference "
                        f"(default {_widths(_default(reference_cnn, 'channels'))}), one or more for deep "
                        f"(default {_widths(_default(deep_cnn, 'channels'))})")
    p.add_argument("--blocks", type=_whole_number(0), default=None,
                   help=f"residual blocks per stage (deep only; default {_default(deep_cnn, 'blocks')})")
    p.add_argument("--model-out", default="scratchcnn_model.npz",
                   help="the file to save the model in (default: %(default)s): a new file, or a regular file to "
                        "replace; an interrupted run (Ctrl-C, SIGTERM) saves beside it, as NAME.interrupted.npz")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=command_train)

    p = commands.add_parser("evaluate", help="test accuracy, per class, and the confusion matrix")
    p.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    p.add_argument("--data-dir", default=None, help="the data set's folder (default: the data set's own, as for train)")
    p.add_argument("--dataset", choices=tuple(DATASET_CLASSES), default=None,
                   help="default: the data set the model was trained on (from its file)")
    p.set_defaults(run=command_evaluate)

    p = commands.add_parser("predict", help="classify pictures of handwritten digits "
                                            "(or of clothes, with a Fashion-MNIST model)")
    p.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    p.add_argument("images", nargs="+", metavar="IMAGE.png")
    p.set_defaults(run=command_predict)

    args = parser.parse_args(argv)
    args.argv = argv                     # recorded in a trained model's metadata
    if args.command == "train":
        _check_architecture_options(train_parser, args)
        if args.lr is None:
            args.lr = {"adam": TRAIN_DEFAULTS["lr"], "rmsprop": 0.001}.get(args.optimizer, 0.05)
    # Every mistake a user can make ends in one line on stderr and a non-zero exit.
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            args.run(args)
            sys.stdout.flush()           # here, where a closed pipe is caught, not at exit
    except (DataFileError, ModelFileError, ModelNotSaved, TrainingDiverged, ValueError, TypeError) as error:
        sys.exit(f"error: {error}")
    except BrokenPipeError:
        # The reader has gone (`evaluate | head`; an OSError, so caught first): stop quietly, as Unix tools do, with the
        # status a shell reports for a tool stopped by SIGPIPE (128 + 13).
        _discard_the_rest(sys.stdout)
        sys.exit(141)
    except OSError as error:             # permission denied, disk full, ...
        sys.exit(f"error: {error.strerror or error}" + (f": {error.filename}" if error.filename else ""))
    except MemoryError:
        sys.exit("error: out of memory. Smaller batches (--batch-size) or a smaller network (--channels, --blocks) "
                 "need less; the number of images (--train-limit) changes little.")
    except KeyboardInterrupt as interruption:     # Ctrl-C, or SIGTERM or SIGHUP during train's checks
        number = interruption.args[0] if isinstance(interruption, Stopped) else signal.SIGINT
        sys.stderr.write(f"{_stopped_by(number)}\n")
        sys.exit(128 + number)


if __name__ == "__main__":
    main()
