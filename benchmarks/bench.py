"""How fast is ScratchCNN? Training against PyTorch (default and best set-up), time to accuracy,
inference, where a step spends its time, memory, and what the tricks are worth.

Run from the repository root, after the README's install (PyTorch is needed for the comparison
only: ``pip install torch==2.13.0``; without it, pass ``--no-torch``):

    python benchmarks/bench.py                      # the comparison at 1 and 2 threads, then the rest (~4 min)
    python benchmarks/bench.py --time-to-accuracy   # the CLI's default training, test accuracy after each epoch
    python benchmarks/bench.py --quick              # a smoke run (< 1 min)

1. Training step, NumPy against PyTorch, at each thread count of ``--threads`` (default 1,2; each in
   a fresh process, since BLAS reads its thread count when it loads). The same network with the
   same initial weights, batch 128, and the same work timed on both sides: forward, loss, backward
   and an Adam step, with no bookkeeping (no running accuracy). Both get the same batches,
   prepared in advance; slicing each batch out of a shuffled array instead is measured once on
   both sides, and its cost reported. PyTorch runs in two set-ups:
     - default: NCHW tensors, ``torch.optim.Adam`` as it comes;
     - best eager CPU set-up: channels_last model and inputs, ``Adam(fused=True)``, tried with
       and without ``torch.set_flush_denormal(True)``: the faster of the two is reported as
       "best", and the report says which it was.
   All runners alternate within every repeat (the order rotates), so a drift in the machine's
   load hits them alike; every ratio is taken within one repeat and reported as median (min-max).
2. Inference speed on the 10,000 test images.
3. Where a training step spends its time, layer by layer (forward and backward), in scratchcnn.train.
4. Peak memory of training on full MNIST, in a fresh process.
5. What the tricks are worth: im2col against the naive loops; training with the fast layers
   (course_machinery/fast_layers.py) against the textbook's plain Conv2D and MaxPool2D, and without
   each small trick of the textbook (ReLU after the pool, no dL/dx for the first layer, Flatten's
   layout-keeping backward, Adam's scalar bias corrections); and deliberately slow variants.

``--time-to-accuracy`` instead trains exactly as ``python scratchcnn.py train`` does by default
(cli.TRAIN_DEFAULTS), evaluates the test set after each epoch (not counted as training
time) and reports when 99.0% and 99.2% were first reached.

Results go to benchmarks/results/NAME.json (``--name``, default "latest", or "time_to_accuracy")
and a bar chart to benchmarks/results/NAME.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from course_machinery import cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="1,2",
                        help="thread counts for the NumPy/PyTorch comparison, comma-separated (default 1,2); "
                             "the other measurements use the largest")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per runner, interleaved (default 7)")
    parser.add_argument("--batches", type=int, default=40, help="batches of 128 per timed run (default 40)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few, short runs")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--time-to-accuracy", action="store_true",
                        help="only: train with the CLI's defaults, test accuracy after each epoch")
    parser.add_argument("--name", default=None, help="results file name: results/NAME.json and NAME.png")
    parser.add_argument("--child", choices=("comparison", "memory"), help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)
    try:
        args.thread_counts = sorted({int(n) for n in args.threads.split(",")})
        assert args.thread_counts[0] >= 1
    except (ValueError, AssertionError):
        parser.error(f"--threads takes positive whole numbers separated by commas, like 1,2; got {args.threads!r}")
    if args.quick:
        args.repeats, args.batches = min(args.repeats, 3), min(args.batches, 8)
    if args.name is None:
        args.name = "time_to_accuracy" if args.time_to_accuracy else "latest"
    return args


ARGS = parse_args()
THREADS = ARGS.thread_counts[-1]
# BLAS libraries read their thread count once, when they load, i.e. when NumPy or PyTorch is
# imported. So we set it *before* the imports below (a comparison child gets one count).
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[variable] = str(THREADS)

try:
    import numpy as np
    import scratchcnn
    from course_machinery.fast_layers import FastConv2D, FastMaxPool2D
except ImportError as error:
    sys.exit(f"bench.py: cannot import {error.name} ({error}). Install the course first, from the repository "
             f"root: pip install -r requirements.txt")

BATCH_SIZE = 128
EPOCH_IMAGES = 60_000
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def load_torch():
    """PyTorch, or None with --no-torch. Missing PyTorch stops the benchmark with a clear message."""
    if ARGS.no_torch:
        return None
    try:
        import torch
    except ImportError:
        sys.exit("bench.py: PyTorch is not installed, and the comparison needs it. Install the CPU build with "
                 "pip install torch==2.13.0, or run with --no-torch to measure ScratchCNN alone.")
    torch.set_num_threads(THREADS)
    return torch


# =============================================================================
# Deliberately slow variants: what the library's tricks are worth
# =============================================================================

def col2im_add_at(cols, x_shape, kernel_size, stride, padding):
    """col2im the textbook way: one scattered np.add.at over index arrays.

    Same result as scratchcnn.col2im (columns ordered (n, y, x)), but np.add.at adds one
    element at a time (it must, since indices repeat), where scratchcnn.col2im does k*k
    vectorised additions.
    """
    N, C, H, W = x_shape
    k, s, p = kernel_size, stride, padding
    H_out = scratchcnn.conv_output_size(H, k, s, p)
    W_out = scratchcnn.conv_output_size(W, k, s, p)
    # Broadcastable index arrays over (c, i, j, n, y, x): the layout of im2col's rows and columns.
    c, i, j, n, y, x = np.ix_(range(C), range(k), range(k), range(N), range(H_out), range(W_out))
    dx_padded = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=cols.dtype)
    np.add.at(dx_padded, (n, c, s * y + i, s * x + j), cols.reshape(C, k, k, N, H_out, W_out))
    return dx_padded[:, :, p:p + H, p:p + W]


class TextbookConv2D(scratchcnn.Conv2D):
    """DELIBERATELY SLOW comparison point: the textbook's im2col forward, np.add.at col2im backward.

    Used with float64 weights this is the classic textbook implementation. Same parameters and
    results as scratchcnn.Conv2D; only the speed differs.
    """

    def backward(self, dout):
        W = self.params["W"]
        D = dout.transpose(1, 0, 2, 3).reshape(self.out_channels, -1)
        self.grads["W"] = (D @ self.cols.T).reshape(W.shape)
        self.grads["b"] = D.sum(axis=1)
        dcols = W.reshape(self.out_channels, -1).T @ D
        return col2im_add_at(dcols, self.x_shape, self.kernel_size, self.stride, self.padding)


class NaiveConv2D(scratchcnn.Conv2D):
    """DELIBERATELY SLOW comparison point: a convolution written as four Python loops,
    forward (scratchcnn.conv2d_naive) and backward alike."""

    def forward(self, x):
        self.x = x.astype(self.params["W"].dtype, copy=False)
        return scratchcnn.conv2d_naive(self.x, self.params["W"], self.params["b"], self.stride, self.padding)

    def backward(self, dout):
        dx, self.grads["W"], self.grads["b"] = scratchcnn.conv2d_backward_naive(
            self.x, self.params["W"], dout, self.stride, self.padding)
        return dx


class FullBackwardConv2D(FastConv2D):
    """FastConv2D that computes dL/dx even as the first layer in training: what
    Sequential.backward(..., input_gradient=False) saves."""

    def backward_weights_only(self, dout):
        self.backward(dout)


class PlainFlatten(scratchcnn.Flatten):
    """Flatten whose backward returns dout reshaped, ignoring the memory layout of its input."""

    def backward(self, dout):
        return dout.reshape(self.x_shape)


class FormulaAdam(scratchcnn.Adam):
    """Adam as the formula reads, bias corrections applied to whole arrays (m_hat, v_hat)."""

    def step(self):
        self.t += 1
        for key, param, grad in self.parameters():
            m, v = self.state.setdefault(key, (np.zeros_like(param), np.zeros_like(param)))
            m *= self.beta1
            m += (1 - self.beta1) * grad
            v *= self.beta2
            v += (1 - self.beta2) * grad * grad
            m_hat, v_hat = m / (1 - self.beta1 ** self.t), v / (1 - self.beta2 ** self.t)
            param -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def reference_model(conv_class=FastConv2D, dtype=np.float32, pool_class=FastMaxPool2D, relu_first=False,
                    flatten_class=scratchcnn.Flatten):
    """The reference CNN (same weights), its convolutions, poolings and Flatten optionally swapped for
    other implementations; ``relu_first`` lists each ReLU before its pool, the textbook order."""
    model = scratchcnn.reference_cnn(seed=0, dtype=dtype)
    for layer in model.layers:
        if isinstance(layer, scratchcnn.Conv2D):
            layer.__class__ = conv_class          # same parameters, another forward/backward
        elif isinstance(layer, scratchcnn.MaxPool2D):
            layer.__class__ = pool_class
        elif isinstance(layer, scratchcnn.Flatten):
            layer.__class__ = flatten_class
    if relu_first:
        layers = model.layers
        for i in range(len(layers) - 1):
            if isinstance(layers[i], scratchcnn.MaxPool2D) and isinstance(layers[i + 1], scratchcnn.ReLU):
                layers[i], layers[i + 1] = layers[i + 1], layers[i]
    return model


# =============================================================================
# The same network in PyTorch
# =============================================================================

def torch_model_like(model, torch):
    """A torch.nn.Sequential with the same layers, in the same order, and the same weights."""
    nn = torch.nn
    modules = []
    for layer in model.layers:
        name = getattr(layer, "saved_as", type(layer).__name__)     # FastConv2D is a Conv2D
        if name == "Conv2D":
            module = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding)
            module.weight.data = torch.from_numpy(layer.params["W"].copy())
            module.bias.data = torch.from_numpy(layer.params["b"].copy())
        elif name == "Dense":
            module = nn.Linear(layer.in_features, layer.out_features)
            module.weight.data = torch.from_numpy(layer.params["W"].T.copy())   # torch stores (out, in)
            module.bias.data = torch.from_numpy(layer.params["b"].copy())
        elif name == "MaxPool2D":
            module = nn.MaxPool2d(layer.kernel_size, layer.stride)
        elif name == "ReLU":
            module = nn.ReLU()
        elif name == "Flatten":
            module = nn.Flatten()
        elif name == "Dropout":
            module = nn.Dropout(layer.p)
        else:
            raise ValueError(f"no PyTorch equivalent written for {layer!r}")
        modules.append(module)
    return nn.Sequential(*modules)


def torch_setup(torch, model, best):
    """(network, optimizer, to_input) in PyTorch's default set-up, or in its best eager CPU set-up:
    channels_last model and inputs (the layout its oneDNN convolutions prefer) and fused Adam."""
    net = torch_model_like(model, torch)
    if best:
        net = net.to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
        return net, optimizer, lambda x: torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
    return net, torch.optim.Adam(net.parameters(), lr=1e-3), torch.from_numpy


def torch_predict(torch, model, images, batch_size=1000):
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(images[i:i + batch_size]).argmax(dim=1) for i in range(0, len(images), batch_size)])


# =============================================================================
# 1. The training step, NumPy against PyTorch (runs in a child process per thread count)
# =============================================================================

def numpy_runner(batches):
    """One timed run: forward, loss, backward and Adam step over ``batches``, nothing else."""
    model = scratchcnn.reference_cnn(seed=0)
    optimizer, loss_fn = scratchcnn.Adam(model, lr=1e-3), scratchcnn.SoftmaxCrossEntropy()

    def run(batch_source):
        for x, y in batch_source():
            loss_fn.forward(model.forward(x), y)
            model.backward(loss_fn.backward(), input_gradient=False)
            optimizer.step()
    return run


def torch_runner(torch, best, flush_denormal=False):
    """The same for PyTorch. zero_grad sets the gradients to None (its default), so backward
    writes them fresh as ours does."""
    net, optimizer, to_input = torch_setup(torch, scratchcnn.reference_cnn(seed=0), best)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()

    def run(batch_source):
        torch.set_flush_denormal(flush_denormal)      # per run: NumPy's runs keep the CPU default (off)
        try:
            for x, y in batch_source(to_input):
                optimizer.zero_grad()
                loss_fn(net(x), y).backward()
                optimizer.step()
        finally:
            torch.set_flush_denormal(False)
    return run


def comparison_child():
    """Time every runner, interleaved, at this process's thread count; print JSON."""
    torch = load_torch()
    images, labels = scratchcnn.load_mnist("train")
    n = ARGS.batches * BATCH_SIZE
    rng = np.random.default_rng(0)
    # Feeding 1, the one used for every ratio: the batches prepared in advance (a copy each), so
    # both sides time the training step alone. (For PyTorch, converting them is part of the feeding.)
    order = rng.permutation(len(images))[:n]
    prepared = [(images[order[i:i + BATCH_SIZE]], labels[order[i:i + BATCH_SIZE]]) for i in range(0, n, BATCH_SIZE)]
    torch_prepared = {}

    def prepared_source(to_input=None):
        if to_input is None:
            return prepared
        if to_input not in torch_prepared:
            torch_prepared[to_input] = [(to_input(x), torch.from_numpy(y)) for x, y in prepared]
        return torch_prepared[to_input]

    # Feeding 2, what scratchcnn.train does: index each batch out of the full training set with a
    # shuffled order, inside the timed loop.
    def sliced_source(to_input=None):
        epoch_order = rng.permutation(len(images))[:n]
        for i in range(0, n, BATCH_SIZE):
            batch = epoch_order[i:i + BATCH_SIZE]
            x, y = images[batch], labels[batch]
            yield (x, y) if to_input is None else (to_input(x), torch.from_numpy(y))

    runs = {"numpy": (numpy_runner(prepared), prepared_source),
            "numpy, sliced": (numpy_runner(prepared), sliced_source)}
    if torch is not None:
        runs.update({"torch default": (torch_runner(torch, best=False), prepared_source),
                     "torch default, sliced": (torch_runner(torch, best=False), sliced_source),
                     "torch best": (torch_runner(torch, best=True), prepared_source),
                     "torch best, flush denormals": (torch_runner(torch, best=True, flush_denormal=True),
                                                     prepared_source)})
    for run, source in runs.values():          # warm-up: first-call allocations, thread start-up, caches
        run(source)
    per_batch = {name: [] for name in runs}
    names = list(runs)
    for repeat in range(ARGS.repeats):
        # Rotate who goes first, so a slow drift of the machine's load hits every runner alike.
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            run, source = runs[name]
            start = time.perf_counter()
            run(source)
            per_batch[name].append((time.perf_counter() - start) / ARGS.batches)
    print(json.dumps({"threads": THREADS, "per_batch_seconds": per_batch}))


def comparison(threads):
    """Run comparison_child in a fresh process with ``threads`` threads; per-batch seconds per runner."""
    command = [sys.executable, __file__, "--child", "comparison", "--threads", str(threads),
               "--repeats", str(ARGS.repeats), "--batches", str(ARGS.batches)] + (["--no-torch"] * ARGS.no_torch)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"bench.py: the comparison at {threads} thread(s) failed:\n{result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])["per_batch_seconds"]


def summarise_comparison(per_batch):
    """Medians and spreads of the step times, the choice of PyTorch's best, and the ratios (each taken
    within one repeat, so both sides saw the same machine load)."""
    times = {name: np.asarray(values) for name, values in per_batch.items()}
    summary = {"step_ms": {name: spread(1e3 * t) for name, t in times.items()}}
    if "torch best" in times:
        flush = np.median(times["torch best, flush denormals"]) < np.median(times["torch best"])
        summary["torch_best_flushes_denormals"] = bool(flush)
        best = times["torch best, flush denormals" if flush else "torch best"]
        summary["numpy_over_torch_default"] = spread(times["numpy"] / times["torch default"])
        summary["numpy_over_torch_best"] = spread(times["numpy"] / best)
        summary["torch_best_step_ms"] = spread(1e3 * best)
        summary["slicing_cost_torch_default"] = spread(times["torch default, sliced"] / times["torch default"] - 1)
    summary["slicing_cost_numpy"] = spread(times["numpy, sliced"] / times["numpy"] - 1)
    return summary


def print_comparison(threads, summary):
    ms = summary["step_ms"]
    print(f"   {threads} thread(s), ms per training step (median, min-max of {ARGS.repeats} runs of "
          f"{ARGS.batches} batches):")
    print(f"      ScratchCNN (NumPy)     {ms['numpy']['median']:6.2f} ({ms['numpy']['min']:.2f}-{ms['numpy']['max']:.2f})")
    if "numpy_over_torch_best" not in summary:
        return
    best = summary["torch_best_step_ms"]
    flush = "with" if summary["torch_best_flushes_denormals"] else "without"
    print(f"      PyTorch default        {ms['torch default']['median']:6.2f} "
          f"({ms['torch default']['min']:.2f}-{ms['torch default']['max']:.2f})")
    print(f"      PyTorch best           {best['median']:6.2f} ({best['min']:.2f}-{best['max']:.2f})   "
          f"channels_last, fused Adam, {flush} flush_denormal (the faster)")
    for key, label in (("numpy_over_torch_default", "default"), ("numpy_over_torch_best", "best")):
        r = summary[key]
        print(f"      NumPy / PyTorch {label:8s} time: {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})"
              + ("   below 1: NumPy faster" if label == "default" else ""))
    print(f"      feeding: slicing each batch out of a shuffled array in the loop costs NumPy "
          f"{100 * summary['slicing_cost_numpy']['median']:+.0f}%, PyTorch default "
          f"{100 * summary['slicing_cost_torch_default']['median']:+.0f}% (median)")


# =============================================================================
# Time to accuracy: the CLI's default training
# =============================================================================

def time_to_accuracy(targets=(0.990, 0.992)):
    """Train as `python scratchcnn.py train` does by default; test accuracy after every epoch."""
    settings = dict(cli.TRAIN_DEFAULTS)
    if ARGS.quick:
        settings["epochs"] = 1
    images, labels = scratchcnn.load_mnist("train")
    test_images, test_labels = scratchcnn.load_mnist("test")
    model = scratchcnn.reference_cnn(seed=settings["seed"])
    rows = []

    def after_epoch(history):
        # Runs outside train's per-epoch clock: the evaluation is not counted as training time.
        _, accuracy = scratchcnn.evaluate(model, test_images, test_labels)
        model.train()
        rows.append({"epoch": history["epoch"][-1], "training_seconds": sum(history["seconds"]),
                     "test_accuracy": accuracy})
        print(f"   epoch {rows[-1]['epoch']:2d}  {rows[-1]['training_seconds']:6.1f} s of training  "
              f"test accuracy {100 * accuracy:.2f}%", flush=True)

    print(f"Time to accuracy, {THREADS} thread(s): cli.TRAIN_DEFAULTS = {settings}")
    scratchcnn.train(model, images, labels, epochs=settings["epochs"], batch_size=settings["batch_size"],
                     optimizer=scratchcnn.Adam(model, lr=settings["lr"]), schedule=settings["schedule"],
                     augment_shift=settings["augment_shift"], seed=settings["seed"], callback=after_epoch)
    reached = {}
    for target in targets:
        first = next((row for row in rows if row["test_accuracy"] >= target), None)
        reached[f"{100 * target:.1f}%"] = first
        print(f"   {100 * target:.1f}%: " + (f"after epoch {first['epoch']}, {first['training_seconds']:.1f} s"
                                            if first else "not reached"))
    print(f"   final: {100 * rows[-1]['test_accuracy']:.2f}% after {rows[-1]['training_seconds']:.1f} s")
    return {"settings": settings, "epochs": rows, "reached": reached}


def inference_speed(model, test_images, torch, repeats):
    """Images per second of predicting the test set (batches of at most 1,000), best of ``repeats``."""
    model.predict(test_images[:1000])                                          # warm-up
    result = {"numpy": len(test_images) / min(seconds(model.predict, test_images) for _ in range(repeats))}
    if torch is not None:
        for name, best in (("torch default", False), ("torch best", True)):
            torch_net, _, to_input = torch_setup(torch, model, best)
            images = to_input(test_images)
            torch_predict(torch, torch_net, images[:1000])                   # warm-up
            result[name] = len(test_images) / min(seconds(torch_predict, torch, torch_net, images)
                                                  for _ in range(repeats))
    return result


def layer_breakdown(model, optimizer, images, labels):
    """Median milliseconds per batch of every layer's forward and backward during scratchcnn.train.

    We wrap each layer's forward/backward (and the optimizer's step) in a timer for one
    training run, then remove the wrappers again.
    """
    forward_times = [[] for _ in model.layers]
    backward_times = [[] for _ in model.layers]
    step_times = []

    def timed(function, bucket):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            bucket.append(time.perf_counter() - start)
            return result
        return wrapper

    # training's first layer runs backward_weights_only (no dL/d(images)): time that as its backward
    wrapped = [(layer, name) for layer in model.layers
               for name in ("forward", "backward", "backward_weights_only") if hasattr(layer, name)]
    for layer, forward_bucket, backward_bucket in zip(model.layers, forward_times, backward_times):
        layer.forward = timed(layer.forward, forward_bucket)
        layer.backward = timed(layer.backward, backward_bucket)
        if hasattr(layer, "backward_weights_only"):
            layer.backward_weights_only = timed(layer.backward_weights_only, backward_bucket)
    optimizer.step = timed(optimizer.step, step_times)
    try:
        total = seconds(numpy_train, model, optimizer, images, labels)
    finally:
        for layer, name in wrapped:
            delattr(layer, name)                 # the class's methods are visible again
        del optimizer.step
    batches = len(step_times)
    rows = [{"layer": f"{index} {layer!r}", "forward_ms": 1e3 * float(np.median(f)), "backward_ms": 1e3 * float(np.median(b))}
            for index, (layer, f, b) in enumerate(zip(model.layers, forward_times, backward_times))]
    accounted = sum(map(sum, forward_times)) + sum(map(sum, backward_times)) + sum(step_times)
    rows.append({"layer": "Adam step", "forward_ms": 0.0, "backward_ms": 1e3 * float(np.median(step_times))})
    rows.append({"layer": "rest (loss, batching, bookkeeping)", "forward_ms": 0.0,
                 "backward_ms": 1e3 * (total - accounted) / batches})
    return rows, 1e3 * total / batches


def conv_speedup(repeats):
    """Per-image time of Conv2D.forward (im2col, batch of 128) against conv2d_naive (loops, a few images)."""
    rng = np.random.default_rng(0)
    naive_images = 1 if ARGS.quick else 4
    result = []
    for layer in reference_model().layers:
        if not isinstance(layer, scratchcnn.Conv2D):
            continue
        size = 28 if layer.in_channels == 1 else 14          # the reference CNN's input sizes
        x = rng.standard_normal((BATCH_SIZE, layer.in_channels, size, size)).astype(np.float32)
        fast = min(seconds(layer.forward, x) for _ in range(repeats)) / BATCH_SIZE
        W, b = layer.params["W"], layer.params["b"]
        naive = seconds(scratchcnn.conv2d_naive, x[:naive_images], W, b, layer.stride, layer.padding) / naive_images
        result.append({"layer": repr(layer), "im2col_ms_per_image": 1e3 * fast,
                       "naive_ms_per_image": 1e3 * naive, "speedup": naive / fast})
    return result


def adam_step_ms(repeats=30, steps=20):
    """Median ms of one Adam step on the reference CNN's parameters: scratchcnn.Adam (bias corrections
    applied to two scalars) against FormulaAdam (applied to whole arrays), alternating every repeat."""
    model = scratchcnn.reference_cnn(seed=0)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for grad in layer.grads.values():
            grad[...] = rng.standard_normal(grad.shape)
    optimizers = {"as it is": scratchcnn.Adam(model, lr=1e-3), "formula": FormulaAdam(model, lr=1e-3)}
    times = {name: [] for name in optimizers}
    for repeat in range(repeats):
        for name in (list(optimizers) if repeat % 2 else list(optimizers)[::-1]):
            start = time.perf_counter()
            for _ in range(steps):
                optimizers[name].step()
            times[name].append(1e3 * (time.perf_counter() - start) / steps)
    return {name: float(np.median(values)) for name, values in times.items()}


def variant_speed(train_images, train_labels, variant, batches, batch_size, repeats):
    """Training images/s of the reference CNN built by reference_model(**variant), trained with
    variant["optimizer"] (default scratchcnn.Adam) (median of ``repeats``)."""
    variant = dict(variant)
    optimizer = variant.pop("optimizer", scratchcnn.Adam)
    model = reference_model(**variant)
    optimizer = optimizer(model, lr=1e-3)
    n = batches * batch_size
    images, labels = train_images[:n], train_labels[:n]

    def run():
        scratchcnn.train(model, images, labels, epochs=1, batch_size=batch_size, optimizer=optimizer, schedule=None)

    scratchcnn.train(model, images[:batch_size], labels[:batch_size], epochs=1, batch_size=batch_size,
                     optimizer=optimizer, schedule=None)                                   # warm-up
    return n / float(np.median([seconds(run) for _ in range(repeats)]))


def measure_memory():
    """Peak memory of training on full MNIST, measured in a fresh Python process."""
    command = [sys.executable, __file__, "--child", "memory", "--threads", str(THREADS)]
    if ARGS.quick:
        command.append("--quick")
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def memory_child():
    """Runs in the subprocess: peak RSS while loading MNIST and while training an epoch, then
    tracemalloc's peak of NumPy's allocations during training (tracemalloc costs memory
    itself, so it comes last)."""
    import tracemalloc

    def peak_rss_mb():
        # On Linux, ru_maxrss of a subprocess starts at its parent's peak (fork copied the
        # parent's memory before exec), so we read the process's own high-water mark VmHWM.
        status = Path("/proc/self/status")
        if status.is_file():
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10                          # kB -> MB
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10   # bytes on macOS, KiB elsewhere

    def reset_peak_rss():
        """Linux only: writing 5 to /proc/self/clear_refs restarts the peak-RSS count."""
        try:
            Path("/proc/self/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    images, labels = scratchcnn.load_mnist("train")
    rss_loading = peak_rss_mb()
    can_reset = reset_peak_rss()
    rss_data = peak_rss_mb() if can_reset else None          # right after the reset: what stays resident
    n = 50 * BATCH_SIZE if ARGS.quick else len(images)
    model = reference_model()
    optimizer = scratchcnn.Adam(model, lr=1e-3)
    history = scratchcnn.train(model, images[:n], labels[:n], epochs=1, batch_size=BATCH_SIZE,
                               optimizer=optimizer, schedule=None)
    rss_training = peak_rss_mb() if can_reset else None
    tracemalloc.start()
    tracemalloc.reset_peak()
    m = 20 * BATCH_SIZE
    scratchcnn.train(model, images[:m], labels[:m], epochs=1, batch_size=BATCH_SIZE, optimizer=optimizer,
                     schedule=None)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(json.dumps({"images": n, "epoch_seconds": history["seconds"][0],
                      "rss_peak_mb": max(rss_loading, rss_training or 0), "rss_peak_loading_mb": rss_loading,
                      "rss_after_loading_mb": rss_data, "rss_peak_training_mb": rss_training,
                      "training_allocations_peak_mb": traced_peak}))


def spread(values):
    values = np.asarray(values, dtype=float)
    return {"min": float(values.min()), "median": float(np.median(values)), "max": float(values.max())}


def environment(torch):
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").is_file():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
            "numpy": np.__version__, "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
            "torch": torch.__version__ if torch is not None else None, "cpu": cpu, "cores": os.cpu_count(),
            "threads": ARGS.thread_counts, "scratchcnn": scratchcnn.__version__}


def draw_chart(bars, env, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, values = list(bars), list(bars.values())
    colours = {"ScratchCNN (NumPy)": "tab:blue", "PyTorch default": "tab:orange", "PyTorch best": "tab:red"}
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(bars) + 1.6))
    positions = range(len(bars))[::-1]
    ax.barh(positions, values, color=[colours.get(name, "tab:grey") for name in names])
    for position, value in zip(positions, values):
        ax.text(value * 1.08, position, f"{value:,.0f}", va="center")
    ax.set_yticks(list(positions), names)
    ax.set_xscale("log")
    ax.set_xlim(right=max(values) * 8)
    ax.set_xlabel("training images per second (log scale; more is better)")
    ax.set_title(f"Reference CNN on MNIST, batch 128, {THREADS} thread(s)\n{env['cpu']}, {env['date']}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# =============================================================================
# Report
# =============================================================================

def seconds(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def numpy_train(model, optimizer, images, labels):
    """One epoch of scratchcnn.train over these images (constant learning rate)."""
    return scratchcnn.train(model, images, labels, epochs=1, batch_size=BATCH_SIZE, optimizer=optimizer,
                            schedule=None)


def save(results, bars, env):
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS_DIR / f"{ARGS.name}.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    saved = [json_path]
    if bars:
        chart_path = RESULTS_DIR / f"{ARGS.name}.png"
        draw_chart(bars, env, chart_path)
        saved.append(chart_path)
    print(f"\nmachine load at end: {os.getloadavg()[0]:.2f}. Saved " + " and ".join(map(str, saved)))


def main():
    if ARGS.child == "memory":
        memory_child()
        return
    if ARGS.child == "comparison":
        comparison_child()
        return
    torch = load_torch()
    env = environment(torch)
    load_start = os.getloadavg()[0]
    env["load_average_start"] = load_start
    print(f"ScratchCNN benchmark: {env['cpu']}, {env['cores']} cores; Python {env['python']}, "
          f"NumPy {env['numpy']} ({env['blas']})" + (f", PyTorch {env['torch']}" if torch else "")
          + f"; {env['date']}")
    print(f"machine load (1-minute average) at start: {load_start:.2f}"
          + ("  -- other programs are running: expect noisy numbers" if load_start > 0.5 else ""))
    results = {"environment": env, "settings": {"batch_size": BATCH_SIZE, "batches": ARGS.batches,
                                                "repeats": ARGS.repeats, "quick": ARGS.quick}}
    if ARGS.time_to_accuracy:
        results["time_to_accuracy"] = time_to_accuracy()
        save(results, None, env)
        return

    # 1. The training step against PyTorch, one fresh process per thread count.
    print("\n1. Training step (forward, loss, backward, Adam), batch 128, same network and initial weights, "
          "batches prepared in advance, runners interleaved")
    results["comparison"] = {}
    for threads in ARGS.thread_counts:
        summary = summarise_comparison(comparison(threads))
        results["comparison"][str(threads)] = summary
        print_comparison(threads, summary)

    train_images, train_labels = scratchcnn.load_mnist("train")
    test_images, _ = scratchcnn.load_mnist("test")
    n = ARGS.batches * BATCH_SIZE
    model = scratchcnn.reference_cnn(seed=0)
    optimizer = scratchcnn.Adam(model, lr=1e-3)
    numpy_train(model, optimizer, train_images[:n], train_labels[:n])        # trained a little, warmed up

    # 2. Inference.
    inference = inference_speed(model, test_images, torch, repeats=1 if ARGS.quick else 3)
    results["inference_images_per_second"] = inference
    print(f"\n2. Inference on the {len(test_images):,} test images (batches of at most 1,000), {THREADS} thread(s): "
          + ", ".join(f"{k.replace('numpy', 'NumPy').replace('torch', 'PyTorch')} {v:,.0f} images/s"
                      for k, v in inference.items()))

    # 3. Where the time goes.
    rows, step_ms = layer_breakdown(model, optimizer, train_images[:n], train_labels[:n])
    results["layers"], results["training_step_ms"] = rows, step_ms
    print(f"\n3. One step of scratchcnn.train, layer by layer, {THREADS} thread(s) "
          f"(median ms per batch of {BATCH_SIZE}; step {step_ms:.1f} ms)")
    print(f"   {'layer':62s} {'forward':>8s} {'backward':>9s} {'share':>6s}")
    for row in rows:
        share = 100 * (row["forward_ms"] + row["backward_ms"]) / step_ms
        print(f"   {row['layer'][:62]:62s} {row['forward_ms']:8.2f} {row['backward_ms']:9.2f} {share:5.0f}%")

    # 4. Memory.
    memory = measure_memory()
    results["memory"] = memory
    print(f"\n4. Memory of training on {memory['images']:,} images, in a fresh process: peak RSS "
          f"{memory['rss_peak_mb']:.0f} MB")
    print(f"   while loading MNIST: {memory['rss_peak_loading_mb']:.0f} MB (load_mnist's temporaries)")
    if memory["rss_peak_training_mb"] is not None:
        print(f"   while training:      {memory['rss_peak_training_mb']:.0f} MB "
              f"({memory['rss_after_loading_mb']:.0f} MB of it resident before the first batch)")
    print(f"   NumPy allocations made by training peak at {memory['training_allocations_peak_mb']:.1f} MB "
          f"(tracemalloc)")

    # 5. What the tricks are worth.
    print(f"\n5. What the tricks are worth, {THREADS} thread(s)")
    speedups = conv_speedup(repeats=3 if ARGS.quick else 5)
    results["conv_forward_speedup"] = speedups
    for row in speedups:
        print(f"   {row['layer']}: im2col {row['im2col_ms_per_image']:.3f} ms/image, naive loops "
              f"{row['naive_ms_per_image']:.1f} ms/image: {row['speedup']:,.0f}x faster")
    slow_batches = 3 if ARGS.quick else 10
    slow_repeats = 1 if ARGS.quick else 3
    plain = dict(conv_class=scratchcnn.Conv2D, pool_class=scratchcnn.MaxPool2D)
    variants = {   # label: (reference_model's arguments, batch size, batches)
        "ScratchCNN as it is (fast layers)": ({}, BATCH_SIZE, slow_batches),
        "ReLU before the pool": (dict(relu_first=True), BATCH_SIZE, slow_batches),
        "first layer computes dL/dx": (dict(conv_class=FullBackwardConv2D), BATCH_SIZE, slow_batches),
        "Flatten.backward ignores the layout": (dict(flatten_class=PlainFlatten), BATCH_SIZE, slow_batches),
        "Adam as the formula reads": (dict(optimizer=FormulaAdam), BATCH_SIZE, slow_batches),
        "plain Conv2D + MaxPool2D (textbook)": (plain, BATCH_SIZE, slow_batches),
        "float64, the fast layers": (dict(dtype=np.float64), BATCH_SIZE, slow_batches),
        "float32 + np.add.at col2im": (dict(plain, conv_class=TextbookConv2D), BATCH_SIZE, slow_batches),
        "textbook: float64 + np.add.at col2im": (dict(plain, conv_class=TextbookConv2D, dtype=np.float64),
                                                 BATCH_SIZE, slow_batches),
        "naive loops (float32)": (dict(plain, conv_class=NaiveConv2D), 1 if ARGS.quick else 2,
                                  1 if ARGS.quick else 2),
    }
    results["variants_images_per_second"] = {}
    for label, (variant, batch_size, batches) in variants.items():
        speed = variant_speed(train_images, train_labels, variant, batches, batch_size, slow_repeats)
        results["variants_images_per_second"][label] = speed
        print(f"   training, {label:38s} {speed:10,.1f} images/s"
              + (f"  (batch of {batch_size}, per image)" if batch_size != BATCH_SIZE else ""))

    adam = adam_step_ms(repeats=6 if ARGS.quick else 30)
    results["adam_step_ms"] = adam
    print(f"   one Adam step alone (interleaved): bias corrections on two scalars {adam['as it is']:.2f} ms, "
          f"on whole arrays (the formula as it reads) {adam['formula']:.2f} ms")

    step = results["comparison"][str(THREADS)]
    bars = {"ScratchCNN (NumPy)": BATCH_SIZE / (step["step_ms"]["numpy"]["median"] / 1e3)}
    if torch is not None:
        bars["PyTorch default"] = BATCH_SIZE / (step["step_ms"]["torch default"]["median"] / 1e3)
        bars["PyTorch best"] = BATCH_SIZE / (step["torch_best_step_ms"]["median"] / 1e3)
    speeds = results["variants_images_per_second"]
    bars.update({"plain textbook layers": speeds["plain Conv2D + MaxPool2D (textbook)"],
                 "float64": speeds["float64, the fast layers"],
                 "float32 + np.add.at": speeds["float32 + np.add.at col2im"],
                 "textbook (float64 + np.add.at)": speeds["textbook: float64 + np.add.at col2im"],
                 "naive loops": speeds["naive loops (float32)"]})
    env["load_average_end"] = os.getloadavg()[0]
    save(results, bars, env)


if __name__ == "__main__":
    main()
