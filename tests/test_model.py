"""The model (scratchcnn.py, section 5) and the optimizers (section 4): Sequential and
Residual as layers, the reference and deep CNNs, the model running exactly what it lists,
nested models in model files, the shipped models, and SGD, Adam and RMSprop by hand."""

import json

import numpy as np
import pytest

import scratchcnn as sc
from layer_cases import POOL_CASES, batchnorm
from course_machinery.fast_layers import FastConv2D, FastMaxPool2D

GRAD_TOLERANCE = 1e-7   # "well under 1e-6"


def rng(seed=0):
    return np.random.default_rng(seed)


def with_ties(shape, seed=0):
    """Small integers: many ties inside pooling windows, many exact zeros for ReLU."""
    return rng(seed).integers(-2, 3, size=shape).astype(np.float64)


def run_listed(model, x, dlogits_of):
    """forward and backward strictly as a student writes them: the listed layers, one by one."""
    out = x
    for layer in model.layers:
        out = layer.forward(out)
    d = dlogits_of(out)
    for layer in reversed(model.layers):
        d = layer.backward(d)
    return out, d, {key: g.copy() for key, g in model.grads.items()}


def as_plain(model):
    """The same model (same arrays) with every fast layer switched to its textbook class."""
    for layer in model.layers:
        if isinstance(layer, sc.Sequential):
            as_plain(layer)
        elif isinstance(layer, (FastConv2D, FastMaxPool2D)):
            layer.__class__ = type(layer).__mro__[1]
    return model


# --- Sequential: a layer that runs what it lists --------------------------------------

def test_reference_cnn_lists_the_layers_it_runs():
    model = sc.reference_cnn(seed=0)
    assert [type(layer).__name__ for layer in model.layers] == [
        "FastConv2D", "FastMaxPool2D", "ReLU", "FastConv2D", "FastMaxPool2D", "ReLU",
        "Flatten", "Dense", "ReLU", "Dense"]
    assert "FastConv2D(in_channels=1, out_channels=8" in repr(model)      # the repr shows what runs
    plain = sc.reference_cnn(seed=0, fast=False)
    assert [type(layer) for layer in plain.layers[:3]] == [sc.Conv2D, sc.MaxPool2D, sc.ReLU]
    for a, b in zip(model.layers, plain.layers):                          # the same weights
        for name in a.params:
            np.testing.assert_array_equal(a.params[name], b.params[name])
    x = sc.load_mnist("test")[0][:8]
    np.testing.assert_allclose(model.forward(x), plain.forward(x), rtol=1e-5, atol=1e-6)


def test_a_students_reversed_loop_is_model_backward():
    """Bug 4: with the hidden reordering, this loop failed on shapes (2,16,14,14) (2,16,7,7)."""
    x = rng(0).random((2, 1, 28, 28))
    labels = np.array([3, 7])
    loss_fn = sc.SoftmaxCrossEntropy()
    dlogits = lambda logits: (loss_fn.forward(logits, labels), loss_fn.backward())[1]
    for model in (sc.reference_cnn(seed=1, dtype=np.float64), sc.load_model(sc.DEFAULT_MODEL_PATH, np.float64),
                  sc.deep_cnn(channels=(3, 4), hidden=8, seed=2, dtype=np.float64)):
        model.train()
        logits, dx, grads = run_listed(model, x, dlogits)
        np.testing.assert_array_equal(model.forward(x), logits)
        np.testing.assert_array_equal(model.backward(dlogits(logits)), dx)
        for key, g in model.grads.items():
            np.testing.assert_array_equal(g, grads[key])


def test_relu_after_the_pool_is_the_same_network():
    """reference_cnn lists conv -> pool -> ReLU; the textbook order conv -> ReLU -> pool gives
    the same logits, input gradient and weight gradients (ties and exact zeros included)."""
    pool_first = sc.reference_cnn(seed=0, dtype=np.float64)
    relu_first = sc.reference_cnn(seed=0, dtype=np.float64)
    layers = relu_first.layers
    layers[1:3], layers[4:6] = layers[2:0:-1], layers[5:3:-1]
    assert [type(layer).__name__ for layer in layers[:3]] == ["FastConv2D", "ReLU", "FastMaxPool2D"]
    x = rng(0).random((5, 1, 28, 28))
    x[:, :, :, :4] = 0                                        # all-zero windows: ties at 0
    loss_fn = sc.SoftmaxCrossEntropy()
    dlogits = lambda logits: (loss_fn.forward(logits, np.arange(5)), loss_fn.backward())[1]
    a, b = run_listed(pool_first, x, dlogits), run_listed(relu_first, x, dlogits)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2].keys() == b[2].keys()
    for key in a[2]:
        np.testing.assert_array_equal(a[2][key], b[2][key])


def test_sequential_is_a_layer_and_nests():
    r = rng(3)
    inner = sc.Sequential([sc.Dense(4, 5, rng=r, dtype=np.float64), sc.Dropout(0.5), sc.ReLU()])
    model = sc.Sequential([inner, sc.Dense(5, 3, rng=r, dtype=np.float64)])
    assert isinstance(model, sc.Layer) and isinstance(sc.Residual(), sc.Sequential)
    assert set(model.params) == set(model.grads) == {"0.0.W", "0.0.b", "1.W", "1.b"}
    assert model.params["0.0.W"] is inner.layers[0].params["W"]         # the layers' arrays, not copies
    assert model.num_parameters() == 4 * 5 + 5 + 5 * 3 + 3
    model.eval()
    assert not inner.layers[1].training and not model.training
    model.train()
    assert all(layer.training for layer in inner.layers) and model.training
    model.eval()                                                        # dropout off: a deterministic function
    errors = sc.grad_check(model, rng(4).standard_normal((6, 4)))
    assert set(errors) == {"x", "0.0.W", "0.0.b", "1.W", "1.b"}
    assert max(errors.values()) < GRAD_TOLERANCE, errors
    before = inner.layers[0].params["W"].copy()
    sc.SGD(model, lr=0.1, momentum=0).step()                            # optimizers reach nested weights
    np.testing.assert_allclose(inner.layers[0].params["W"], before - 0.1 * inner.layers[0].grads["W"])
    assert "(0) Sequential(\n    (0) Dense(in_features=4" in repr(model)


def test_sequential_backward_can_skip_the_input_gradient():
    model = sc.reference_cnn(seed=7)
    x = sc.load_mnist("test")[0][:4]
    logits = model.forward(x)
    assert model.backward(np.ones_like(logits), input_gradient=False) is None
    grads = {k: v.copy() for k, v in model.layers[0].grads.items()}
    model.forward(x)
    dx = model.backward(np.ones_like(logits))            # the default still returns dL/dx ...
    assert dx.shape == x.shape and np.abs(dx).sum() > 0
    for key in grads:                                       # ... and the same weight gradients
        np.testing.assert_allclose(model.layers[0].grads[key], grads[key], rtol=1e-6)
    # A first layer without backward_weights_only (a plain Conv2D, a pool) returns dL/dx all the same.
    for first in (sc.Conv2D(1, 2, 3, dtype=np.float64), sc.MaxPool2D(2)):
        model = sc.Sequential([first, sc.Flatten()])
        out = model.forward(x.astype(np.float64))
        assert model.backward(np.ones_like(out), input_gradient=False).shape == x.shape
@pytest.mark.parametrize("H,W,k,s", POOL_CASES)
def test_pool_then_relu_equals_relu_then_pool(H, W, k, s):
    # Ties and exact zeros are where a difference would show: integers from -2 to 2.
    x = with_ties((4, 3, H, W), seed=k * s + H)
    relu_first, pool_first = (sc.ReLU(), sc.MaxPool2D(k, s)), (sc.MaxPool2D(k, s), sc.ReLU())
    outputs = []
    for layers in (relu_first, pool_first):
        out = x
        for layer in layers:
            out = layer.forward(out)
        outputs.append(out)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    dout = rng(1).standard_normal(outputs[0].shape)
    grads = []
    for layers in (relu_first, pool_first):
        d = dout
        for layer in reversed(layers):
            d = layer.backward(d)
        grads.append(d)
    np.testing.assert_array_equal(grads[0], grads[1])
    # and both match the loops (up to the order of additions where windows overlap)
    np.testing.assert_allclose(grads[0], sc.maxpool2d_backward_naive(np.maximum(x, 0), dout, k, s) * (x > 0),
                               rtol=0, atol=1e-12)


# --- Residual blocks ------------------------------------------------------------------

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


# --- The reference and deep CNNs --------------------------------------------------------

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


# --- Nested models in model files, the shipped models -----------------------------------

def test_model_files_name_layers_not_their_implementation(tmp_path):
    """Fast layers are saved as "Conv2D" and "MaxPool2D", so a file does not depend on them, and
    the same model built fast or plain writes the same file; load_model builds fast layers."""
    for fast in (True, False):
        sc.save_model(sc.reference_cnn(seed=4, fast=fast), tmp_path / f"fast_{fast}.npz")
    files = [np.load(tmp_path / f"fast_{fast}.npz", allow_pickle=False) for fast in (True, False)]
    assert files[0]["architecture"] == files[1]["architecture"]
    types = [spec["type"] for spec in json.loads(str(files[0]["architecture"]))["layers"]]
    assert types[:3] == ["Conv2D", "MaxPool2D", "ReLU"]
    for key in files[0].files:
        np.testing.assert_array_equal(files[0][key], files[1][key])
    loaded = sc.load_model(tmp_path / "fast_False.npz")
    assert [type(layer) for layer in loaded.layers[:3]] == [FastConv2D, FastMaxPool2D, sc.ReLU]


def test_nested_sequential_saves_and_loads(tmp_path):
    r = rng(5)
    model = sc.Sequential([sc.Sequential([sc.Conv2D(1, 2, 3, padding=1, rng=r), sc.BatchNorm2D(2), sc.ReLU()]),
                           sc.Residual(sc.Sequential([sc.Conv2D(2, 2, 3, padding=1, rng=r)]), sc.ReLU()),
                           sc.Flatten(), sc.Dense(2 * 6 * 6, 3, rng=r)])
    x = rng(6).random((4, 1, 6, 6), dtype=np.float32)
    model.forward(x)                                   # moves the running statistics
    sc.save_model(model, tmp_path / "nested.npz")
    loaded = sc.load_model(tmp_path / "nested.npz")
    assert type(loaded.layers[0]) is sc.Sequential and type(loaded.layers[1].layers[0]) is sc.Sequential
    assert repr(loaded) == repr(model).replace("Conv2D", "FastConv2D")
    np.testing.assert_array_equal(loaded.layers[0].layers[1].running_mean, model.layers[0].layers[1].running_mean)
    model.eval()
    np.testing.assert_allclose(loaded.forward(x), model.forward(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["scratchcnn_mnist.npz", "deep_mnist.npz", "deep_fashion.npz"])
def test_shipped_models_load_with_fast_layers_and_predict_as_the_plain_ones(name):
    model = sc.load_model(sc.HERE / "data" / name)
    assert any(isinstance(layer, FastConv2D) for layer in model.layers)
    load = sc.load_fashion_mnist if "fashion" in name else sc.load_mnist
    images = load("test")[0][:200]
    logits = model.forward(images)
    np.testing.assert_allclose(as_plain(model).forward(images), logits, rtol=1e-4, atol=1e-4)
    assert not any(isinstance(layer, FastConv2D) for layer in model.layers)


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

@pytest.mark.slow
def test_shipped_models_reach_their_recorded_accuracy():
    """The three shipped models, loaded with today's (fast) layers and run in their listed order,
    reproduce the test accuracy recorded in each file when it was trained (so the same predictions,
    up to ties), above the floors the README states (99%, the issue's 99.5% and 92.5%)."""
    for name, load, threshold in (("scratchcnn_mnist.npz", sc.load_mnist, 0.99),
                                  ("deep_mnist.npz", sc.load_mnist, 0.995),
                                  ("deep_fashion.npz", sc.load_fashion_mnist, 0.925)):
        path = sc.HERE / "data" / name
        if not path.is_file():
            pytest.fail(f"{path} is missing: train it with the command in README.md")
        model = sc.load_model(path)
        images, labels = load("test")
        accuracy = np.mean(model.predict(images) == labels)
        assert accuracy >= threshold
        assert accuracy == pytest.approx(model.metadata["test_accuracy"], abs=1e-9)


# --- Optimizers -------------------------------------------------------------------------

def test_sgd_and_adam_steps():
    layer = sc.Dense(2, 1, rng=rng(0), dtype=np.float64)
    model = sc.Sequential([layer])
    w0 = layer.params["W"].copy()
    layer.grads["W"] = np.array([[1.0], [-2.0]])
    layer.grads["b"] = np.array([0.5])
    sgd = sc.SGD(model, lr=0.1, momentum=0.9, weight_decay=0.0)
    sgd.step()
    np.testing.assert_allclose(layer.params["W"], w0 - 0.1 * layer.grads["W"])
    sgd.step()   # velocity = 0.9 g + g
    np.testing.assert_allclose(layer.params["W"], w0 - 0.1 * layer.grads["W"] - 0.1 * 1.9 * layer.grads["W"])
    sgd.zero_grad()
    assert np.all(layer.grads["W"] == 0)
    layer.params["W"][:] = w0
    layer.grads["W"] = np.array([[1.0], [-2.0]])
    sc.Adam(model, lr=0.01).step()   # the first Adam step moves each weight by lr * sign(g)
    np.testing.assert_allclose(layer.params["W"], w0 - 0.01 * np.sign(layer.grads["W"]), rtol=1e-6)

def test_adam_is_the_textbook_formula():
    # w <- w - lr * m_hat / (sqrt(v_hat) + eps), over several steps, with gradients as tiny as eps.
    layer = sc.Dense(3, 1, dtype=np.float64)
    model = sc.Sequential([layer])
    w = layer.params["W"].copy()
    m = v = np.zeros_like(w)
    adam = sc.Adam(model, lr=1e-3)
    for t in range(1, 6):
        g = rng(t).standard_normal(w.shape) * np.array([[1e-9], [1.0], [100.0]])
        layer.grads["W"], layer.grads["b"] = g, np.zeros(1)
        adam.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 1e-3 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        np.testing.assert_allclose(layer.params["W"], w, rtol=1e-12, atol=1e-15)

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


# --- inference keeps no backward caches (issue 18) -------------------------------------------

def test_evaluating_2000_images_peaks_far_below_training_and_predicts_the_same():
    import tracemalloc
    from course_machinery import guards
    images = np.random.default_rng(0).random((2000, 1, 28, 28), dtype=np.float32)
    labels = np.random.default_rng(1).integers(0, 10, 2000)
    model = sc.deep_cnn(blocks=1)
    tracemalloc.start()
    loss_fn = sc.SoftmaxCrossEntropy()                          # one training step of 128 images
    loss_fn.forward(model.forward(images[:128]), labels[:128])
    model.backward(loss_fn.backward(), input_gradient=False)
    training_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    loss, accuracy = sc.evaluate(model, images, labels)
    evaluation_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # measured: 187 MB for the training step; 35 MB to evaluate (1,535 MB with caches in batches of 1,000)
    assert evaluation_peak < training_peak / 3, (evaluation_peak, training_peak)
    assert guards.inference_batch_size(model.eval(), images, 1000) < 1000      # memory decides the batch
    for layer in guards.layers_within(model):
        assert not set(vars(layer)) & set(guards.CACHE_NAMES), layer       # nothing kept for backward
    with pytest.raises(RuntimeError, match="after a forward that kept no caches"):
        model.backward(np.ones((1, 10), np.float32))
    model.eval()
    expected = sc.softmax(model.forward(images[:300]))          # the plain forward, one batch, caches kept
    np.testing.assert_allclose(model.predict_proba(images[:300]), expected, atol=1e-6)
    assert (model.predict(images[:300]) == expected.argmax(axis=1)).all()
    probabilities = model.predict_proba(images)
    assert loss == pytest.approx(-np.log(probabilities[np.arange(2000), labels]).mean(), rel=1e-6)
    assert accuracy == np.mean(probabilities.argmax(axis=1) == labels)
