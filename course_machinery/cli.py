"""The command line: ``python scratchcnn.py train|evaluate|predict`` (and ``python -m course_machinery.cli``)."""

from __future__ import annotations

import argparse
import inspect
import math
import os
import shlex
import sys
import time
import warnings

import numpy as np

from scratchcnn import (Adam, DATASET_CLASSES, DEFAULT_MODEL_PATH, DataFileError, ModelFileError, RMSprop,
                        SCHEDULES, SGD, TrainingDiverged, check_writable, confusion_matrix, deep_cnn, evaluate,
                        load_dataset, load_model, preprocess_digit, read_picture, reference_cnn, save_model,
                        split_training_data, train)


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
    (``train ... | head``), discard the rest and carry on: a training run is not
    lost for want of a reader."""
    stream = stream if stream is not None else sys.stdout
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
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


def _check_model_fits_mnist(model, path, image_shape=(1, 28, 28), num_classes=10):
    """A model for MNIST takes 1 x 28 x 28 images and has 10 outputs; say so if not."""
    try:
        outputs = model.predict_proba(np.zeros((1, *image_shape), np.float32)).shape[1]
    except (ValueError, TypeError) as error:
        size = " x ".join(map(str, image_shape))
        raise ModelFileError(f"{path} does not take {size} MNIST images: {error}") from None
    if outputs != num_classes:
        raise ModelFileError(f"{path} has {outputs} outputs, but MNIST has {num_classes} classes: "
                             f"it was trained for another data set. Use a model trained on MNIST.")


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


def command_train(args):
    check_writable(args.model_out)           # before training, not after: the model would be lost
    images, labels = load_dataset(args.dataset, "train", args.data_dir)
    x_train, y_train, x_val, y_val = split_training_data(images, labels, args.train_limit,
                                                         args.validation_size, args.seed)
    model = _build_model(args, in_channels=images.shape[1], image_size=images.shape[2])
    optimizer = (Adam(model, lr=args.lr) if args.optimizer == "adam"
                 else RMSprop(model, lr=args.lr) if args.optimizer == "rmsprop"
                 else SGD(model, lr=args.lr, momentum=0.9, weight_decay=5e-4))
    _write(f"training on {len(x_train):,} images, validating on {len(x_val):,}; "
           f"{model.num_parameters():,} parameters, {args.optimizer} lr {args.lr} ({args.schedule} schedule), "
           f"batch {args.batch_size}, seed {args.seed}\n")

    def report(history):
        e = history["epoch"][-1]
        val = history["val_accuracy"][-1]
        val_text = f"  val acc {100 * val:6.2f}%" if val is not None else ""
        _write(f"epoch {e:2d}/{args.epochs}  train loss {history['train_loss'][-1]:.4f}  "
               f"train acc {100 * history['train_accuracy'][-1]:6.2f}%{val_text}  "
               f"{history['seconds'][-1]:5.1f}s\n")

    with np.errstate(over="ignore", invalid="ignore"):      # a diverging run raises TrainingDiverged
        history = train(model, x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        optimizer=optimizer, augment_shift=args.augment_shift,
                        schedule=args.schedule,
                        validation=(x_val, y_val) if len(x_val) else None, seed=args.seed,
                        callback=report, progress=None if args.quiet else _progress_bar(args.epochs))
    if history["interrupted"]:
        _write("interrupted: keeping the best model so far\n")
    try:
        x_test, y_test = load_dataset(args.dataset, "test", args.data_dir)
        _, test_accuracy = evaluate(model, x_test, y_test)
        _write(f"test accuracy {100 * test_accuracy:.2f}%  ({sum(history['seconds']):.0f}s of training)\n")
    except KeyboardInterrupt:                 # a second Ctrl-C: save what was trained anyway
        test_accuracy = None
        _write("interrupted again: saving the model without testing it\n")
    save_model(model, args.model_out, metadata={
        "command": "python scratchcnn.py " + shlex.join(args.argv), "test_accuracy": test_accuracy,
        "epochs_completed": len(history["epoch"]), "seed": args.seed, "dataset": args.dataset})
    _write(f"saved {args.model_out}\n")


def command_evaluate(args):
    model = load_model(args.model)
    dataset = args.dataset or _trained_on(model)
    class_names = DATASET_CLASSES[dataset]
    images, labels = load_dataset(dataset, "test", args.data_dir)
    _check_model_fits_mnist(model, args.model, images.shape[1:])
    predictions = model.predict(images)
    counts = confusion_matrix(labels, predictions)
    print(f"test accuracy {100 * np.mean(predictions == labels):.2f}% on {len(labels):,} images\n")
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
    model = load_model(args.model)
    _check_model_fits_mnist(model, args.model)
    class_names = DATASET_CLASSES[_trained_on(model)]       # "Ankle boot", not "9", for Fashion-MNIST
    width = max(map(len, class_names))
    for path in args.images:
        digit_image = preprocess_digit(read_picture(path))
        probs = model.predict_proba(digit_image[None, None])[0]
        best = int(probs.argmax())
        print(f"{path}: {class_names[best]}")
        for digit in range(len(probs)):
            print(f"  {digit}:{_named(class_names, digit, width)} {probs[digit]:6.1%} "
                  f"{'#' * int(round(40 * probs[digit]))}")


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
    """argparse, but a usage mistake is one line on stderr (the usage is in --help)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


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
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (default: data/mnist)")
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
    p.add_argument("--model-out", default="scratchcnn_model.npz")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=command_train)

    p = commands.add_parser("evaluate", help="test accuracy, per class, and the confusion matrix")
    p.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    p.add_argument("--data-dir", default=None)
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
    except (DataFileError, ModelFileError, TrainingDiverged, ValueError, TypeError) as error:
        sys.exit(f"error: {error}")
    except BrokenPipeError:
        # The reader has gone (`evaluate | head`; an OSError, so caught first): stop quietly, as Unix tools do, with the
        # status a shell reports for a tool stopped by SIGPIPE (128 + 13).
        _discard_the_rest(sys.stdout)
        sys.exit(141)
    except OSError as error:             # permission denied, disk full, ...
        sys.exit(f"error: {error.strerror or error}" + (f": {error.filename}" if error.filename else ""))
    except MemoryError:
        sys.exit("error: out of memory. Use fewer images (--train-limit) or smaller batches (--batch-size).")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
