"""course_machinery/plots.py: conv_feature_maps (what it shows, and that it leaves the model -
modes, running statistics, the caches a pending backward needs - exactly as it was) and the
live learning curves of notebook 07."""

import numpy as np

import scratchcnn as sc
from course_machinery import plots


def rng(seed=0):
    return np.random.default_rng(seed)


def all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, sc.Sequential):
            yield from all_layers(layer)


def test_feature_maps_do_not_touch_a_model_in_training():
    """Bug 3: a shallow copy of a Residual shared its inner layers, so the maps switched the live
    model's inner BatchNorms to eval mode and clobbered their caches; a pending backward failed."""
    model = sc.deep_cnn(channels=(3, 4), blocks=1, hidden=8, seed=0, dtype=np.float64)
    twin = sc.deep_cnn(channels=(3, 4), blocks=1, hidden=8, seed=0, dtype=np.float64)
    for block in (layer for m in (model, twin) for layer in m.layers if isinstance(layer, sc.Residual)):
        block.layers[-1].params["gamma"][:] = 0.7           # make the blocks' inner path count
    x, labels = rng(1).random((4, 1, 28, 28)), np.array([1, 2, 3, 4])
    loss_fn = sc.SoftmaxCrossEntropy()
    grads = []
    for m, show_maps in ((twin, False), (model, True)):
        m.train()
        loss_fn.forward(m.forward(x), labels)
        statistics = [layer.running_mean.copy() for layer in all_layers(m) if isinstance(layer, sc.BatchNorm2D)]
        if show_maps:
            maps = plots.conv_feature_maps(m, x[2])
            assert [a.shape for a in maps] == [(3, 28, 28), (4, 14, 14)]
        assert all(layer.training for layer in all_layers(m))           # inner BatchNorms too
        after = [layer.running_mean for layer in all_layers(m) if isinstance(layer, sc.BatchNorm2D)]
        for before, now in zip(statistics, after):
            np.testing.assert_array_equal(before, now)
        dx = m.backward(loss_fn.backward())                              # the pending backward
        grads.append((dx, {key: g.copy() for key, g in m.grads.items()}))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    for key, g in grads[0][1].items():
        np.testing.assert_array_equal(grads[1][1][key], g)


def test_feature_maps_are_each_convolution_after_its_activation():
    """The conv's full-resolution output after the ReLU that follows it, whether directly
    (the shipped model lists conv -> ReLU -> pool) or after the pool (reference_cnn today)."""
    image = sc.load_mnist("test")[0][0]
    for model in (sc.load_model(sc.DEFAULT_MODEL_PATH), sc.reference_cnn(seed=0)):
        maps = plots.conv_feature_maps(model, image)
        first = np.maximum(model.layers[0].forward(image[None]), 0)[0]
        assert [m.shape for m in maps] == [(8, 28, 28), (16, 14, 14)]
        np.testing.assert_allclose(maps[0], first, rtol=1e-6)
        assert maps[1].min() == 0 and maps[1].max() > 0
    assert plots.conv_feature_maps(sc.Sequential([sc.Flatten(), sc.Dense(784, 10)]), image) == []


def test_live_plot_epoch_ticks_are_whole_numbers():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curves = plots.LivePlot(live=False)
    curves({"epoch": [1, 2, 3], "train_loss": [0.5, 0.3, 0.2], "val_loss": [None] * 3,
            "train_accuracy": [0.8, 0.9, 0.95], "val_accuracy": [None] * 3})
    fig = curves.figure()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)
