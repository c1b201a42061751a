"""Notebook 07's live learning curves. (The exercise checks of notebooks 07 and 08 are
tested in tests/test_check_mistakes_07_11.py and tests/test_checks.py.)"""
from course_machinery import plots


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
