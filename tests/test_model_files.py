"""Section 9 of the textbook, model files: save_model and load_model (.npz + JSON, never pickle)."""

import pickle
import zipfile

import numpy as np
import pytest

import scratchcnn as sc


@pytest.fixture(scope="module")
def mnist_test():
    return sc.load_mnist("test")


def test_save_load_round_trip(tmp_path, mnist_test):
    model = sc.reference_cnn(seed=4, dropout=0.25)
    path = tmp_path / "model.npz"
    sc.save_model(model, path, metadata={"note": "test"})
    loaded = sc.load_model(path)
    assert [repr(a) for a in loaded.layers] == [repr(b) for b in model.layers]
    assert loaded.metadata == {"note": "test"}
    np.testing.assert_array_equal(loaded.predict_proba(mnist_test[0][:50]), model.predict_proba(mnist_test[0][:50]))
    assert not list(tmp_path.glob("*.tmp"))          # the temporary file was renamed away
    with np.load(path, allow_pickle=False) as file:   # loads without pickle
        assert "architecture" in file.files


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    sc.save_model(sc.reference_cnn(seed=5), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        sc.save_model(sc.reference_cnn(seed=6), path)
    assert path.read_bytes() == before and not list(tmp_path.glob(".*tmp"))


def test_load_rejects_pickle_corrupt_truncated_and_foreign(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, architecture=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(sc.ModelFileError, match="pickled"):
        sc.load_model(pickled)
    raw_pickle = tmp_path / "raw.npz"
    raw_pickle.write_bytes(pickle.dumps({"W": 1}))
    with pytest.raises(sc.ModelFileError):
        sc.load_model(raw_pickle)
    good = tmp_path / "good.npz"
    sc.save_model(sc.reference_cnn(), good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(sc.ModelFileError, match="corrupt or truncated|not a readable"):
        sc.load_model(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a model")
    with pytest.raises(sc.ModelFileError):
        sc.load_model(garbage)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    with pytest.raises(sc.ModelFileError, match="not a ScratchCNN model"):
        sc.load_model(foreign)
    with pytest.raises(sc.ModelFileError, match="does not exist"):
        sc.load_model(tmp_path / "missing.npz")
    # Right format, wrong weight shape
    with zipfile.ZipFile(good) as archive:
        arrays = {name[:-4]: np.load(archive.open(name)) for name in archive.namelist()}
    arrays["layer0.W"] = np.zeros((1, 1, 1, 1), np.float32)
    bad_shape = tmp_path / "bad_shape.npz"
    np.savez(bad_shape, **arrays)
    with pytest.raises(sc.ModelFileError, match="layer0.W has shape"):
        sc.load_model(bad_shape)


def test_shipped_model_reaches_99_percent(mnist_test):
    model = sc.load_model(sc.DEFAULT_MODEL_PATH)
    images, labels = mnist_test
    assert np.mean(model.predict(images) == labels) >= 0.99


def test_saved_model_file_is_readable_by_others(tmp_path):
    import os
    import stat
    path = tmp_path / "model.npz"
    umask = os.umask(0o022)
    try:
        sc.save_model(sc.reference_cnn(), path)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_model_file_is_an_npz_with_the_architecture_as_json(tmp_path):
    import json
    model = sc.deep_cnn(channels=(2, 4), hidden=8)
    path = tmp_path / "deep.npz"
    sc.save_model(model, path, metadata={"epochs": 3})
    with np.load(path, allow_pickle=False) as arrays:
        architecture = json.loads(str(arrays["architecture"]))
        assert architecture["format"] == sc.MODEL_FORMAT and architecture["metadata"] == {"epochs": 3}
        assert [spec["type"] for spec in architecture["layers"]][:4] == ["Conv2D", "BatchNorm2D", "MaxPool2D", "ReLU"]
        assert "layer1.running_mean" in arrays.files and "layer4.0.W" in arrays.files   # inside a Residual
    loaded = sc.load_model(path, dtype=np.float64)
    assert all(p.dtype == np.float64 for layer in loaded.layers for p in layer.params.values())
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x), rtol=1e-4)
