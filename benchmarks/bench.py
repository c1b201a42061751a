"""How fast is ScratchCNN? Training and inference speed, memory, and a comparison with PyTorch.

Run from the repository root (PyTorch is optional: without it the comparison is skipped):

    python benchmarks/bench.py                # all cores, 5 interleaved repeats of 100 batches
    python benchmarks/bench.py --threads 1    # one thread, like the notebooks
    python benchmarks/bench.py --quick        # a smoke run, under 30 seconds

What it measures, for the reference CNN (batch 128, Adam, float32) on real MNIST:

  1. training speed: images/s and seconds per epoch, timing ``scratchcnn.train`` on a fixed
     number of batches after a warm-up and extrapolating to 60,000 images (``--full-epoch``
     also times a real epoch). With PyTorch installed, the same network (same layers, same
     initial weights, NCHW, batch size, Adam, thread count) trains in the same process,
     alternating with NumPy run by run, and the NumPy/PyTorch time ratio is printed with its
     spread over the repeats;
  2. inference speed on the 10,000 test images;
  3. where a training step spends its time, layer by layer (forward and backward);
  4. peak memory of training on full MNIST, in a fresh subprocess so nothing else counts;
  5. what the tricks are worth: the im2col convolution against the naive loops, and two
     deliberately slow "textbook" variants (float64, np.add.at) trained the same way.

Results go to benchmarks/results/<name>.json and a bar chart to benchmarks/results/<name>.png
(``--name``, default "latest"; the chart of the default run is benchmark.png).
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="BLAS/OpenMP threads for NumPy and PyTorch (default: all %(default)s cores)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per framework, interleaved (default 5)")
    parser.add_argument("--batches", type=int, default=100, help="batches of 128 per timed run (default 100)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few, short runs (< 30 s)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--full-epoch", action="store_true", help="also time one real epoch of 60,000 images")
    parser.add_argument("--name", default="latest", help="results file name: results/NAME.json and the chart")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)  # internal, see measure_memory
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.batches = min(args.repeats, 2), min(args.batches, 10)
    return args


ARGS = parse_args()
# BLAS libraries read their thread count once, when they load, i.e. when NumPy or PyTorch is
# imported. So we set it *before* the imports below.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after setting the thread count on purpose)

import scratchcnn  # noqa: E402

BATCH_SIZE = 128
EPOCH_IMAGES = 60_000
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def load_torch():
    """PyTorch, or None when it is not installed or switched off."""
    if ARGS.no_torch:
        return None
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(ARGS.threads)
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
    """DELIBERATELY SLOW comparison point: im2col forward, np.add.at col2im backward.

    Used with float64 weights this is the classic textbook implementation. Same parameters and
    results as scratchcnn.Conv2D; only the speed differs.
    """

    def forward(self, x):
        W, b = self.params["W"], self.params["b"]
        x = x.astype(W.dtype, copy=False)
        N, _, H, W_in = x.shape
        H_out = scratchcnn.conv_output_size(H, self.kernel_size, self.stride, self.padding)
        W_out = scratchcnn.conv_output_size(W_in, self.kernel_size, self.stride, self.padding)
        self.x_shape = x.shape
        self.cols = scratchcnn.im2col(x, self.kernel_size, self.stride, self.padding)
        out = W.reshape(self.out_channels, -1) @ self.cols + b[:, None]
        return out.reshape(self.out_channels, N, H_out, W_out).transpose(1, 0, 2, 3)

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


def reference_model(conv_class=scratchcnn.Conv2D, dtype=np.float32):
    """The reference CNN, its Conv2D layers optionally swapped for a slow variant (same weights)."""
    model = scratchcnn.reference_cnn(seed=0, dtype=dtype)
    for layer in model.layers:
        if type(layer) is scratchcnn.Conv2D:
            layer.__class__ = conv_class          # same parameters, another forward/backward
    return model


# =============================================================================
# The same network in PyTorch
# =============================================================================

def torch_model_like(model, torch):
    """A torch.nn.Sequential with the same layers, in the same order, and the same weights."""
    nn = torch.nn
    modules = []
    for layer in model.layers:
        name = type(layer).__name__
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


def torch_train(torch, model, optimizer, images, labels, batch_size=BATCH_SIZE, seed=0):
    """One epoch of PyTorch training, step for step what scratchcnn.train does
    (shuffle, forward, loss, backward, Adam step, running loss and accuracy)."""
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(images)))
    total_loss, total_correct = 0.0, 0
    model.train()
    for start in range(0, len(images), batch_size):
        batch = order[start:start + batch_size]
        x, y = images[batch], labels[batch]
        optimizer.zero_grad()
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(batch)
        total_correct += int((logits.argmax(dim=1) == y).sum())
    return total_loss / len(images), total_correct / len(images)


def torch_predict(torch, model, images, batch_size=1000):
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(images[i:i + batch_size]).argmax(dim=1) for i in range(0, len(images), batch_size)])


# =============================================================================
# Measurements
# =============================================================================

def seconds(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def numpy_train(model, optimizer, images, labels):
    """One epoch of scratchcnn.train over these images (constant learning rate)."""
    return scratchcnn.train(model, images, labels, epochs=1, batch_size=BATCH_SIZE, optimizer=optimizer,
                            schedule=None)


def training_speed(train_images, train_labels, torch):
    """Seconds per batch of every timed run, NumPy and PyTorch interleaved."""
    n = ARGS.batches * BATCH_SIZE
    images, labels = train_images[:n], train_labels[:n]
    model = reference_model()
    optimizer = scratchcnn.Adam(model, lr=1e-3)
    runs = {"numpy": lambda: numpy_train(model, optimizer, images, labels)}
    if torch is not None:
        torch_net = torch_model_like(model, torch)
        torch_optimizer = torch.optim.Adam(torch_net.parameters(), lr=1e-3)
        torch_images, torch_labels = torch.from_numpy(images), torch.from_numpy(labels)
        runs["torch"] = lambda: torch_train(torch, torch_net, torch_optimizer, torch_images, torch_labels)
    # Warm-up (first-call allocations, BLAS thread start-up) on a few batches, untimed.
    warm = 3 * BATCH_SIZE
    numpy_train(model, optimizer, images[:warm], labels[:warm])
    if torch is not None:
        torch_train(torch, torch_net, torch_optimizer, torch_images[:warm], torch_labels[:warm])
    per_batch = {name: [] for name in runs}
    for repeat in range(ARGS.repeats):
        # Alternate who goes first, so a slow drift of the machine's load hits both alike.
        order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for name in order:
            per_batch[name].append(seconds(runs[name]) / ARGS.batches)
    return per_batch, model, optimizer


def full_epoch(train_images, train_labels, torch):
    """Seconds for one real epoch over all 60,000 training images."""
    result = {}
    model = reference_model()
    history = numpy_train(model, scratchcnn.Adam(model, lr=1e-3), train_images, train_labels)
    result["numpy"] = history["seconds"][0]
    if torch is not None:
        torch_net = torch_model_like(reference_model(), torch)
        optimizer = torch.optim.Adam(torch_net.parameters(), lr=1e-3)
        result["torch"] = seconds(torch_train, torch, torch_net, optimizer,
                                  torch.from_numpy(train_images), torch.from_numpy(train_labels))
    return result


def inference_speed(model, test_images, torch, repeats):
    """Images per second of predicting the test set (batches of 1000), best of ``repeats``."""
    model.predict(test_images[:1000])                                          # warm-up
    result = {"numpy": len(test_images) / min(seconds(model.predict, test_images) for _ in range(repeats))}
    if torch is not None:
        torch_net, images = torch_model_like(model, torch), torch.from_numpy(test_images)
        torch_predict(torch, torch_net, images[:1000])                       # warm-up
        result["torch"] = len(test_images) / min(seconds(torch_predict, torch, torch_net, images)
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

    for layer, forward_bucket, backward_bucket in zip(model.layers, forward_times, backward_times):
        layer.forward = timed(layer.forward, forward_bucket)
        layer.backward = timed(layer.backward, backward_bucket)
    optimizer.step = timed(optimizer.step, step_times)
    try:
        total = seconds(numpy_train, model, optimizer, images, labels)
    finally:
        for layer in model.layers:
            del layer.forward, layer.backward    # the class's methods are visible again
        del optimizer.step
    batches = len(step_times)
    rows = [{"layer": f"{index} {layer!r}",
             "forward_ms": 1e3 * float(np.median(f)), "backward_ms": 1e3 * float(np.median(b))}
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
        if type(layer) is not scratchcnn.Conv2D:
            continue
        size = 28 if layer.in_channels == 1 else 14          # the reference CNN's input sizes
        x = rng.standard_normal((BATCH_SIZE, layer.in_channels, size, size)).astype(np.float32)
        fast = min(seconds(layer.forward, x) for _ in range(repeats)) / BATCH_SIZE
        W, b = layer.params["W"], layer.params["b"]
        naive = seconds(scratchcnn.conv2d_naive, x[:naive_images], W, b, layer.stride, layer.padding) / naive_images
        result.append({"layer": repr(layer), "im2col_ms_per_image": 1e3 * fast,
                       "naive_ms_per_image": 1e3 * naive, "speedup": naive / fast})
    return result


def variant_speed(train_images, train_labels, conv_class, dtype, batches, batch_size, repeats):
    """Training images/s of the reference CNN with another Conv2D class and dtype (median of ``repeats``)."""
    model = reference_model(conv_class, dtype)
    optimizer = scratchcnn.Adam(model, lr=1e-3)
    n = batches * batch_size
    images, labels = train_images[:n], train_labels[:n]

    def run():
        scratchcnn.train(model, images, labels, epochs=1, batch_size=batch_size, optimizer=optimizer, schedule=None)

    scratchcnn.train(model, images[:batch_size], labels[:batch_size], epochs=1, batch_size=batch_size,
                     optimizer=optimizer, schedule=None)                                   # warm-up
    return n / float(np.median([seconds(run) for _ in range(repeats)]))


def measure_memory():
    """Peak memory of training on full MNIST, measured in a fresh Python process."""
    command = [sys.executable, __file__, "--memory-child", "--threads", str(ARGS.threads)]
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


# =============================================================================
# Report
# =============================================================================

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
            "threads": ARGS.threads, "scratchcnn": scratchcnn.__version__}


def draw_chart(bars, env, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, values = list(bars), list(bars.values())
    colours = {"ScratchCNN (NumPy)": "tab:blue", "PyTorch": "tab:orange"}
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(bars) + 1.6))
    positions = range(len(bars))[::-1]
    ax.barh(positions, values, color=[colours.get(name, "tab:grey") for name in names])
    for position, value in zip(positions, values):
        ax.text(value * 1.08, position, f"{value:,.0f}", va="center")
    ax.set_yticks(list(positions), names)
    ax.set_xscale("log")
    ax.set_xlim(right=max(values) * 8)
    ax.set_xlabel("training images per second (log scale; more is better)")
    ax.set_title(f"Reference CNN on MNIST, batch 128, {env['threads']} thread(s)\n{env['cpu']}, {env['date']}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    if ARGS.memory_child:
        memory_child()
        return
    torch = load_torch()
    env = environment(torch)
    load_start = os.getloadavg()[0]
    print(f"ScratchCNN benchmark: {env['cpu']}, {env['cores']} cores, {ARGS.threads} thread(s); "
          f"NumPy {env['numpy']} ({env['blas']})" + (f", PyTorch {env['torch']}" if torch else ""))
    print(f"machine load (1-minute average) at start: {load_start:.2f}"
          + ("  -- other programs are running: expect noisy numbers" if load_start > 0.5 else ""))
    if torch is None:
        print("PyTorch is " + ("switched off (--no-torch)" if ARGS.no_torch else "not installed")
              + ": no comparison, the rest as usual.")
    train_images, train_labels = scratchcnn.load_mnist("train")
    test_images, _ = scratchcnn.load_mnist("test")
    results = {"environment": env, "settings": {"batch_size": BATCH_SIZE, "batches": ARGS.batches,
                                                "repeats": ARGS.repeats, "quick": ARGS.quick}}

    # 1. Training speed, interleaved with PyTorch.
    per_batch, model, optimizer = training_speed(train_images, train_labels, torch)
    print(f"\n1. Training: {ARGS.repeats} runs of {ARGS.batches} batches"
          + (" per framework, interleaved" if torch is not None else "")
          + f" (epoch time extrapolated to {EPOCH_IMAGES:,} images)")
    results["training"] = {}
    for name, times in per_batch.items():
        images_per_second = BATCH_SIZE / np.asarray(times)
        entry = {"images_per_second": spread(images_per_second),
                 "epoch_seconds": spread(EPOCH_IMAGES / images_per_second)}
        results["training"][name] = entry
        label = "ScratchCNN (NumPy)" if name == "numpy" else "PyTorch"
        print(f"   {label:20s} {entry['images_per_second']['median']:8,.0f} images/s "
              f"(runs {entry['images_per_second']['min']:,.0f} to {entry['images_per_second']['max']:,.0f})   "
              f"{entry['epoch_seconds']['median']:6.1f} s per epoch")
    if torch is not None:
        ratio = spread(np.asarray(per_batch["numpy"]) / np.asarray(per_batch["torch"]))
        results["training"]["numpy_over_torch_time"] = ratio
        print(f"   NumPy/PyTorch time ratio: median {ratio['median']:.2f} "
              f"(min {ratio['min']:.2f}, max {ratio['max']:.2f}; below 1 means NumPy is faster)")
    if ARGS.full_epoch:
        epoch = full_epoch(train_images, train_labels, torch)
        results["full_epoch_seconds"] = epoch
        print("   one real epoch: " + ", ".join(f"{'NumPy' if k == 'numpy' else 'PyTorch'} {v:.1f} s"
                                                for k, v in epoch.items()))

    # 2. Inference.
    inference = inference_speed(model, test_images, torch, repeats=1 if ARGS.quick else 3)
    results["inference_images_per_second"] = inference
    print(f"\n2. Inference on the {len(test_images):,} test images (batches of 1000): "
          + ", ".join(f"{'NumPy' if k == 'numpy' else 'PyTorch'} {v:,.0f} images/s" for k, v in inference.items()))

    # 3. Where the time goes.
    n = ARGS.batches * BATCH_SIZE
    rows, step_ms = layer_breakdown(model, optimizer, train_images[:n], train_labels[:n])
    results["layers"], results["training_step_ms"] = rows, step_ms
    print(f"\n3. One training step, layer by layer (median ms per batch of {BATCH_SIZE}; step {step_ms:.1f} ms)")
    print(f"   {'layer':52s} {'forward':>8s} {'backward':>9s} {'share':>6s}")
    for row in rows:
        share = 100 * (row["forward_ms"] + row["backward_ms"]) / step_ms
        print(f"   {row['layer'][:52]:52s} {row['forward_ms']:8.2f} {row['backward_ms']:9.2f} {share:5.0f}%")

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
    print("\n5. What the tricks are worth")
    speedups = conv_speedup(repeats=3 if ARGS.quick else 5)
    results["conv_forward_speedup"] = speedups
    for row in speedups:
        print(f"   {row['layer']}: im2col {row['im2col_ms_per_image']:.3f} ms/image, naive loops "
              f"{row['naive_ms_per_image']:.1f} ms/image: {row['speedup']:,.0f}x faster")
    slow_batches = 3 if ARGS.quick else max(5, ARGS.batches // 5)
    slow_repeats = 1 if ARGS.quick else 3
    variants = {
        "float64, the library's code": (scratchcnn.Conv2D, np.float64, BATCH_SIZE, slow_batches),
        "float32 + np.add.at col2im": (TextbookConv2D, np.float32, BATCH_SIZE, slow_batches),
        "textbook: float64 + np.add.at col2im": (TextbookConv2D, np.float64, BATCH_SIZE, slow_batches),
        "naive loops (float32)": (NaiveConv2D, np.float32, 1 if ARGS.quick else 2, 1 if ARGS.quick else 2),
    }
    results["variants_images_per_second"] = {}
    for label, (conv_class, dtype, batch_size, batches) in variants.items():
        speed = variant_speed(train_images, train_labels, conv_class, dtype, batches, batch_size, slow_repeats)
        results["variants_images_per_second"][label] = speed
        print(f"   training, {label:38s} {speed:10,.1f} images/s"
              + (f"  (batch of {batch_size}, per image)" if batch_size != BATCH_SIZE else ""))

    numpy_speed = results["training"]["numpy"]["images_per_second"]["median"]
    bars = {"ScratchCNN (NumPy)": numpy_speed}
    if torch is not None:
        bars["PyTorch"] = results["training"]["torch"]["images_per_second"]["median"]
    bars.update({"float64": results["variants_images_per_second"]["float64, the library's code"],
                 "float32 + np.add.at": results["variants_images_per_second"]["float32 + np.add.at col2im"],
                 "textbook (float64 + np.add.at)":
                     results["variants_images_per_second"]["textbook: float64 + np.add.at col2im"],
                 "naive loops": results["variants_images_per_second"]["naive loops (float32)"]})

    load_end = os.getloadavg()[0]
    env["load_average_start"], env["load_average_end"] = load_start, load_end
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS_DIR / f"{ARGS.name}.json"
    chart_path = RESULTS_DIR / ("benchmark.png" if ARGS.name == "latest" else f"{ARGS.name}.png")
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    draw_chart(bars, env, chart_path)
    print(f"\nmachine load at end: {load_end:.2f}. Saved {json_path} and {chart_path}")


if __name__ == "__main__":
    main()
