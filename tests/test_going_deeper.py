"""Tests of course part 3 (notebook 10): batch normalisation, residual blocks, RMSprop,
the deeper model builder, model files with running statistics and nested layers,
Fashion-MNIST and the CIFAR-10 loader, and the command line's --dataset."""

import subprocess
import sys

import numpy as np
import pytest

import scratchcnn as sc

GRAD_TOLERANCE = 1e-7   # "well under 1e-6"


def rng(seed=0):
    return np.random.default_rng(seed)


def batchnorm(cls, channels, seed=0):
    """A float64 batch-norm layer with random (not 1 and 0) gamma and beta."""
    layer = cls(channels, dtype=np.float64)
    r = rng(seed)
    layer.params["gamma"][:] = r.uniform(0.5, 2.0, channels) * r.choice([-1, 1], channels)
    layer.params["beta"][:] = r.standard_normal(channels)
    return layer


# --- Batch normalisation: gradients -------------------------------------------

@pytest.mark.parametrize("cls, shape", [
    (sc.BatchNorm1D, (6, 5)),
    (sc.BatchNorm1D, (3, 2)),                 # a tiny batch (with 2, x_hat is +-1 whatever x is)
    (sc.BatchNorm2D, (4, 3, 5, 3)),           # odd, non-square images
    (sc.BatchNorm2D, (1, 2, 3, 4)),           # one image: statistics over its pixels only
])
def test_batchnorm_gradients_train_mode(cls, shape):
    """dx of the WHOLE batch (every output depends on every input of its channel),
    dgamma and dbeta against centred differences. BN is smooth: a small h is fine."""
    layer = batchnorm(cls, shape[1])
    x = rng(1).standard_normal(shape) * 3 + 2
    errors = sc.grad_check(layer, x, seed=7, h=1e-5)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) < GRAD_TOLERANCE, errors


@pytest.mark.parametrize("cls, shape", [(sc.BatchNorm1D, (5, 4)), (sc.BatchNorm2D, (3, 2, 4, 5))])
def test_batchnorm_gradients_eval_mode(cls, shape):
    layer = batchnorm(cls, shape[1])
    layer.running_mean = rng(2).standard_normal(shape[1])
    layer.running_var = rng(3).uniform(0.5, 2.0, shape[1])
    layer.training = False
    errors = sc.grad_check(layer, rng(1).standard_normal(shape), seed=7, h=1e-5)
    assert max(errors.values()) < GRAD_TOLERANCE, errors


def test_batchnorm_backward_is_not_the_naive_one():
    """The batch coupling matters: treating mu and var as constants (the eval-mode
    gradient) would be wrong in training, and the gradient check catches it."""
    layer = batchnorm(sc.BatchNorm1D, 3)
    x = rng(1).standard_normal((4, 3))
    G = rng(2).standard_normal((4, 3))
    layer.forward(x)
    dx = layer.backward(G)
    naive = G * layer.params["gamma"] * layer.inv_std
    assert not np.allclose(dx, naive)
    # Each channel's dx sums to zero: shifting a whole channel changes nothing after BN.
    np.testing.assert_allclose(dx.sum(axis=0), 0, atol=1e-12)


# --- Batch normalisation: hand-computed values, running statistics, eval mode --

def test_batchnorm1d_by_hand():
    layer = sc.BatchNorm1D(1, dtype=np.float64)
    x = np.array([[1.0], [2.0], [3.0], [6.0]])          # mean 3, population variance 14/4 = 3.5
    out = layer.forward(x)
    np.testing.assert_allclose(out[:, 0], (x[:, 0] - 3) / np.sqrt(3.5 + 1e-5))
    # PyTorch's update: running = 0.9 * running + 0.1 * batch, with the unbiased variance 14/3
    np.testing.assert_allclose(layer.running_mean, [0.1 * 3])
    np.testing.assert_allclose(layer.running_var, [0.9 * 1 + 0.1 * 14 / 3])
    layer.forward(x)
    np.testing.assert_allclose(layer.running_mean, [0.9 * 0.3 + 0.1 * 3])
    # gamma and beta scale and shift the normalised values
    layer.params["gamma"][:], layer.params["beta"][:] = 2.0, -1.0
    np.testing.assert_allclose(layer.forward(x)[:, 0], 2 * (x[:, 0] - 3) / np.sqrt(3.5 + 1e-5) - 1)


def test_batchnorm2d_is_batchnorm1d_over_pixels():
    """Per-channel statistics over (N, H, W): the same as BatchNorm1D on every pixel as one example."""
    x = rng(4).standard_normal((3, 4, 5, 2)) * 2 + 1
    bn2, bn1 = batchnorm(sc.BatchNorm2D, 4, seed=5), batchnorm(sc.BatchNorm1D, 4, seed=5)
    G = rng(6).standard_normal(x.shape)
    as_rows = lambda a: a.transpose(0, 2, 3, 1).reshape(-1, 4)
    np.testing.assert_allclose(as_rows(bn2.forward(x)), bn1.forward(as_rows(x)), atol=1e-12)
    np.testing.assert_allclose(as_rows(bn2.backward(G)), bn1.backward(as_rows(G)), atol=1e-12)
    for name in ("gamma", "beta"):
        np.testing.assert_allclose(bn2.grads[name], bn1.grads[name], atol=1e-12)
    np.testing.assert_allclose(bn2.running_mean, bn1.running_mean)
    np.testing.assert_allclose(bn2.running_var, bn1.running_var)
    # train-mode output: zero mean and unit (population) variance per channel when gamma=1, beta=0
    plain = sc.BatchNorm2D(4, dtype=np.float64).forward(x)
    np.testing.assert_allclose(plain.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(plain.var(axis=(0, 2, 3)), 1, atol=1e-4)   # eps = 1e-5


def test_batchnorm_running_statistics_converge_and_eval_uses_them():
    layer = sc.BatchNorm2D(2, momentum=0.1, dtype=np.float64)
    r = rng(7)
    for _ in range(200):        # batches from N(5, 2^2) in channel 0 and N(-1, 0.5^2) in channel 1
        x = r.standard_normal((16, 2, 4, 4)) * np.array([2.0, 0.5])[None, :, None, None] \
            + np.array([5.0, -1.0])[None, :, None, None]
        layer.forward(x)
    np.testing.assert_allclose(layer.running_mean, [5.0, -1.0], atol=0.15)
    np.testing.assert_allclose(layer.running_var, [4.0, 0.25], rtol=0.15)
    layer.training = False
    one = x[:1]
    expected = (one - layer.running_mean[None, :, None, None]) / np.sqrt(layer.running_var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(layer.forward(one), expected)
    # eval mode: every example's output is its own, whatever else is in the batch; no running update
    before = layer.running_mean.copy()
    np.testing.assert_allclose(layer.forward(x)[:1], layer.forward(one))
    np.testing.assert_array_equal(layer.running_mean, before)
    # the classic bug: "evaluating" in training mode normalises with the batch's own statistics
    layer.training = True
    assert not np.allclose(layer.forward(x[:4])[:1], layer.forward(one))


def test_batchnorm_needs_more_than_one_value_in_training():
    with pytest.raises(ValueError, match="more than one value"):
        sc.BatchNorm1D(3).forward(np.ones((1, 3), np.float32))
    layer = sc.BatchNorm1D(3)
    layer.training = False
    assert layer.forward(np.ones((1, 3), np.float32)).shape == (1, 3)     # fine in eval mode
    with pytest.raises(ValueError, match="expects 4 input channels"):
        sc.BatchNorm2D(4).forward(np.ones((2, 3, 5, 5), np.float32))


def test_batchnorm_float32_keeps_float32():
    layer = sc.BatchNorm2D(3)
    x = rng().standard_normal((4, 3, 6, 6)).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32 and layer.backward(out).dtype == np.float32
    assert layer.running_mean.dtype == np.float32 and layer.running_var.dtype == np.float32


def test_batchnorm_on_transposed_memory_layout():
    """Conv2D's outputs are NCHW views of (C, H, W, N) arrays: BN must give the same numbers."""
    x = rng(8).standard_normal((3, 4, 5, 6))
    strange = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    a, b = batchnorm(sc.BatchNorm2D, 4), batchnorm(sc.BatchNorm2D, 4)
    G = rng(9).standard_normal(x.shape)
    np.testing.assert_allclose(a.forward(x), b.forward(strange), atol=1e-13)
    np.testing.assert_allclose(a.backward(G), b.backward(G), atol=1e-13)


def test_batchnorm_agrees_with_pytorch():
    torch = pytest.importorskip("torch")
    x = rng(10).standard_normal((5, 3, 4, 6)) * 2 + 1
    G = rng(11).standard_normal(x.shape)
    ours = batchnorm(sc.BatchNorm2D, 3)
    theirs = torch.nn.BatchNorm2d(3, momentum=0.1, eps=1e-5).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.params["gamma"]))
        theirs.bias.copy_(torch.from_numpy(ours.params["beta"]))
    for _ in range(2):                                       # two steps of the running statistics
        xt = torch.from_numpy(x).requires_grad_()
        out = theirs(xt)
        out.backward(torch.from_numpy(G))
        np.testing.assert_allclose(ours.forward(x), out.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.backward(G), xt.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.grads["gamma"], theirs.weight.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.grads["beta"], theirs.bias.grad.numpy(), atol=1e-12)
        theirs.weight.grad = theirs.bias.grad = None
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), atol=1e-14)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), atol=1e-14)
        x = x * 0.5 - 1
    ours.training = False
    theirs.eval()
    np.testing.assert_allclose(ours.forward(x), theirs(torch.from_numpy(x)).detach().numpy(), atol=1e-12)


# --- Residual blocks ---------------------------------------------------------------

def test_residual_by_hand():
    block = sc.Residual(sc.ReLU())
    x = np.array([[-1.0, 2.0, 0.5]])
    np.testing.assert_allclose(block.forward(x), [[-1.0, 4.0, 1.0]])          # x + relu(x)
    np.testing.assert_allclose(block.backward(np.ones((1, 3))), [[1.0, 2.0, 2.0]])  # skip path 1 + relu' 0/1
    # An empty inner path, f = identity: y = 2x and dx = 2 dout
    np.testing.assert_allclose(sc.Residual().forward(x), 2 * x)


def test_residual_block_gradients():
    """The block deep_cnn uses, conv-BN-ReLU-conv-BN plus the skip, in float64."""
    r = rng(12)
    block = sc.Residual(sc.Conv2D(3, 3, 3, padding=1, rng=r, dtype=np.float64), batchnorm(sc.BatchNorm2D, 3, 1),
                        sc.ReLU(), sc.Conv2D(3, 3, 3, padding=1, rng=r, dtype=np.float64),
                        batchnorm(sc.BatchNorm2D, 3, 2))
    x = r.standard_normal((3, 3, 5, 4))
    errors = sc.grad_check(block, x, seed=13, h=1e-5)
    assert set(errors) == {"x", "0.W", "0.b", "1.gamma", "1.beta", "3.W", "3.b", "4.gamma", "4.beta"}
    # A bias right before batch norm has no effect, so its gradient is 0 (up to rounding),
    # where a relative error means nothing; every other gradient is checked relatively.
    assert np.abs(block.grads["0.b"]).max() < 1e-10 and np.abs(block.grads["3.b"]).max() < 1e-10
    del errors["0.b"], errors["3.b"]
    assert max(errors.values()) < GRAD_TOLERANCE, errors


def test_residual_gradient_reaches_below_a_dead_branch():
    """dx = dout + f'(x)^T dout: when the inner path passes no gradient, dout still arrives."""
    dead = sc.Dense(4, 4, dtype=np.float64)
    dead.params["W"][:] = 0
    block = sc.Residual(dead)
    block.forward(rng().standard_normal((2, 4)))
    dout = rng(1).standard_normal((2, 4))
    np.testing.assert_allclose(block.backward(dout), dout)


def test_residual_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="keep the shape"):
        sc.Residual(sc.Conv2D(2, 4, 3, padding=1)).forward(np.zeros((1, 2, 5, 5), np.float32))


def test_residual_params_modes_and_optimizer():
    inner = [sc.Dense(3, 3, dtype=np.float64), sc.Dropout(0.5), sc.Dense(3, 3, dtype=np.float64)]
    block = sc.Residual(*inner)
    assert set(block.params) == {"0.W", "0.b", "2.W", "2.b"}
    assert block.params["0.W"] is inner[0].params["W"]       # views, not copies: optimizers update in place
    model = sc.Sequential([block]).eval()
    assert not inner[1].training and not block.training
    model.train()
    assert all(layer.training for layer in inner)
    model.eval()
    x = rng().standard_normal((2, 3))
    model.backward(model.forward(x))
    before = inner[0].params["W"].copy()
    sc.SGD(model, lr=0.1, momentum=0).step()
    np.testing.assert_allclose(inner[0].params["W"], before - 0.1 * inner[0].grads["W"])
    assert model.num_parameters() == 2 * (9 + 3)


# --- Whole models ----------------------------------------------------------------

def test_deep_cnn_input_gradient_float64():
    """The whole deep network (BN, residual blocks, pooling, dense) against centred differences."""
    model = sc.deep_cnn(in_channels=2, image_size=8, channels=(3, 4), blocks=1, hidden=5, seed=3,
                        dtype=np.float64)
    for layer in model.layers:         # start the blocks away from the identity, so they are tested
        if isinstance(layer, sc.Residual):
            layer.layers[-1].params["gamma"][:] = 0.7
    x = rng(14).standard_normal((3, 2, 8, 8))
    labels = np.array([0, 3, 9])
    loss_fn = sc.SoftmaxCrossEntropy()
    model.train()
    loss = lambda: loss_fn.forward(model.forward(x), labels)
    loss()
    dx = model.backward(loss_fn.backward())
    numeric = sc.numerical_gradient(loss, x, h=1e-4)     # no kink crossed at this seed; rounding stays small
    assert sc.relative_error(dx, numeric) < GRAD_TOLERANCE


def test_builders_take_the_image_shape():
    x = rng().random((2, 3, 32, 32), dtype=np.float32)
    assert sc.deep_cnn(in_channels=3, image_size=32, channels=(4, 8)).forward(x).shape == (2, 10)
    assert sc.reference_cnn(in_channels=3, image_size=32).forward(x).shape == (2, 10)
    assert sc.reference_cnn().layers[7].in_features == 16 * 7 * 7          # MNIST unchanged
    with pytest.raises(ValueError, match="divisible by 4"):
        sc.deep_cnn(image_size=30)
    # every residual block starts as the identity (its last BN's gamma is 0)
    model = sc.deep_cnn(channels=(4, 8), blocks=2)
    blocks = [layer for layer in model.layers if isinstance(layer, sc.Residual)]
    assert len(blocks) == 4 and all(not block.layers[-1].params["gamma"].any() for block in blocks)


# --- RMSprop ---------------------------------------------------------------------

def test_rmsprop_steps_by_hand():
    layer = sc.Layer()
    layer.params["W"] = np.array([1.0, -2.0, 0.0])
    layer.grads["W"] = np.array([0.5, -0.01, 0.0])
    optimizer = sc.RMSprop([layer], lr=0.1, alpha=0.9, eps=1e-8)
    optimizer.step()
    # v = 0.1 g^2, so the first step is lr * g / (sqrt(0.1) |g|): lr / sqrt(0.1) for every nonzero g
    # (up to eps = 1e-8 next to sqrt(v) = 0.0032 for the small gradient: a relative 3e-6)
    step = 0.1 / np.sqrt(0.1)
    np.testing.assert_allclose(layer.params["W"], [1.0 - step, -2.0 + step, 0.0], rtol=1e-5)
    np.testing.assert_allclose(optimizer.state[(0, "W")], [0.025, 1e-5, 0.0])
    optimizer.step()           # same gradient: v = (0.9 * 0.1 + 0.1) g^2 = 0.19 g^2
    second = 0.1 / np.sqrt(0.19)
    np.testing.assert_allclose(layer.params["W"], [1.0 - step - second, -2.0 + step + second, 0.0], rtol=1e-5)
    optimizer.zero_grad()
    assert not layer.grads["W"].any()


def test_rmsprop_agrees_with_pytorch():
    torch = pytest.importorskip("torch")
    w0 = rng(15).standard_normal((3, 4))
    layer = sc.Layer()
    layer.params["W"] = w0.copy()
    ours = sc.RMSprop([layer], lr=0.01, alpha=0.99, eps=1e-8)
    w = torch.tensor(w0, requires_grad=True)
    theirs = torch.optim.RMSprop([w], lr=0.01, alpha=0.99, eps=1e-8)
    for step in range(5):
        g = rng(16 + step).standard_normal((3, 4))
        layer.grads["W"] = g
        ours.step()
        w.grad = torch.from_numpy(g)
        theirs.step()
    np.testing.assert_allclose(layer.params["W"], w.detach().numpy(), rtol=1e-12)


def test_rmsprop_trains():
    images, labels = sc.load_mnist("test")
    model = sc.deep_cnn(channels=(4, 8), hidden=32, seed=0)
    history = sc.train(model, images[:1024], labels[:1024], epochs=1, batch_size=64,
                       optimizer=sc.RMSprop(model, lr=1e-3))
    assert history["train_loss"][0] < 2.0          # from ln 10 = 2.30


# --- Model files -------------------------------------------------------------------

def test_save_load_round_trip_with_residual_and_running_statistics(tmp_path):
    model = sc.deep_cnn(channels=(3, 4), blocks=2, hidden=6, seed=1)
    model.train()
    for seed in range(3):            # move the running statistics away from 0 and 1
        model.forward(rng(seed).random((8, 1, 28, 28), dtype=np.float32) * 3)
    for layer in model.layers:
        if isinstance(layer, sc.Residual):
            layer.layers[-1].params["gamma"][:] = 0.5
    path = tmp_path / "deep.npz"
    sc.save_model(model, path, metadata={"dataset": "fashion-mnist"})
    with np.load(path, allow_pickle=False) as file:
        keys = set(file.files)
    assert "layer4.0.W" in keys and "layer4.1.running_mean" in keys and "layer1.running_var" in keys
    loaded = sc.load_model(path)
    assert loaded.metadata == {"dataset": "fashion-mnist"}
    assert repr(loaded) == repr(model)
    model.eval()
    x = rng(9).random((5, 1, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    block, loaded_block = model.layers[4], loaded.layers[4]
    np.testing.assert_array_equal(loaded_block.layers[1].running_var, block.layers[1].running_var)
    assert np.any(block.layers[1].running_var != 1)
    # a loaded model trains: optimizers reach the nested parameters
    loaded.train()
    loss_fn = sc.SoftmaxCrossEntropy()
    loss_fn.forward(loaded.forward(x), np.arange(5))
    loaded.backward(loss_fn.backward())
    before = loaded_block.layers[0].params["W"].copy()
    sc.Adam(loaded, lr=1e-2).step()
    assert not np.array_equal(loaded_block.layers[0].params["W"], before)
    # float64 on request, running statistics included
    as64 = sc.load_model(path, dtype=np.float64)
    assert as64.layers[1].running_mean.dtype == np.float64
    assert as64.layers[4].layers[1].params["gamma"].dtype == np.float64


def test_model_file_missing_running_statistics_is_a_clear_error(tmp_path):
    model = sc.deep_cnn(channels=(2, 2), blocks=1, hidden=4)
    path = tmp_path / "deep.npz"
    sc.save_model(model, path)
    with np.load(path, allow_pickle=False) as file:
        arrays = {key: file[key] for key in file.files if key != "layer4.4.running_var"}
    np.savez(tmp_path / "broken.npz", **arrays)
    with pytest.raises(sc.ModelFileError, match="layer4.4.running_var"):
        sc.load_model(tmp_path / "broken.npz")


def test_old_model_file_still_loads():
    model = sc.load_model(sc.DEFAULT_MODEL_PATH)
    assert not any(isinstance(layer, (sc.Residual, sc.BatchNorm1D)) for layer in model.layers)
    images, labels = sc.load_mnist("test")
    assert np.mean(model.predict(images[:1000]) == labels[:1000]) > 0.98


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


def test_shipped_deep_models():
    """The two shipped deep models reach the accuracies the README reports (the accuracy
    recorded in each file is recomputed; floors: the issue's 99.5% and 92.5%)."""
    for name, load, threshold in (("deep_mnist.npz", sc.load_mnist, 0.995),
                                  ("deep_fashion.npz", sc.load_fashion_mnist, 0.925)):
        path = sc.HERE / "data" / name
        if not path.is_file():
            pytest.fail(f"{path} is missing: train it with the command in README.md")
        model = sc.load_model(path)
        images, labels = load("test")
        accuracy = np.mean(model.predict(images) == labels)
        assert accuracy >= threshold
        assert accuracy == pytest.approx(model.metadata["test_accuracy"], abs=1e-9)


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
