"""Values across the sandbox's wall (course_machinery/grading/values.py): what a student's function
returns reaches the grader as data, never as code."""

import pickle

import numpy as np
import pytest

from course_machinery.grading.values import MAX_ARRAY_BYTES, Unsendable, decode, encode


@pytest.mark.parametrize("value", [
    None, True, 3, 2 ** 80, -0.5, float("nan"), float("inf"), "text", b"\x00\x01bytes",
    np.float32(1.5), np.int64(7), np.bool_(True), np.arange(12.).reshape(3, 4), np.zeros((2, 0, 3), np.uint8),
    (np.ones(2), (3, [4.0, "x"])), [1, 2, 3], {"a": np.eye(2), 3: None, (1, 2): "tuple key"},
], ids=repr)
def test_plain_values_cross_unchanged(value):
    back = decode(encode(value))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape and np.array_equal(back, value)
    elif isinstance(value, float) and value != value:
        assert back != back
    elif isinstance(value, np.generic):
        assert back.dtype == value.dtype and back == value
    elif isinstance(value, dict):
        assert back.keys() == value.keys() and np.array_equal(back["a"], value["a"])
    elif isinstance(value, tuple):
        assert np.array_equal(back[0], value[0]) and back[1] == value[1]
    else:
        assert back == value


class Model:
    pass


@pytest.mark.parametrize("value, words", [
    (Model(), "a Model object"), (lambda: 1, "a function object"),
    (np.array([None, 1], dtype=object), "Python objects"),
    (np.broadcast_to(np.float64(0), (MAX_ARRAY_BYTES // 4,)), "too large"), (iter([1]), "list_iterator"),
])
def test_anything_else_arrives_as_an_unsendable_that_equals_nothing(value, words):
    back = decode(encode(value))
    assert isinstance(back, Unsendable) and words in repr(back) and back != back


def test_a_pickle_is_refused_not_run():
    """A student's process could write a pickle where the grader expects a value file: it is refused."""
    class Exploit:
        def __reduce__(self):
            return (print, ("this must never run",))
    with pytest.raises(ValueError, match="not a value file"):
        decode(pickle.dumps(Exploit()))
    buffer = encode(np.array([1.0]))
    with pytest.raises(ValueError):
        decode(buffer[: len(buffer) // 2])            # a truncated file


def test_an_object_array_inside_a_value_file_is_refused(tmp_path):
    path = tmp_path / "forged.npz"
    np.savez(path, __tree__=np.frombuffer(b'{"array": "a0"}', np.uint8), a0=np.array([Model()], dtype=object))
    with pytest.raises(ValueError):
        decode(path.read_bytes())
