"""Plain values across the sandbox's wall, in both directions, without pickle.

The grader sends a case's arguments into the sandbox and gets back what the student's function
returned. Unpickling what a student's process wrote would run the student's code in the grader, so
values travel as one .npz file: the arrays as NumPy's own format (read with allow_pickle=False) and
the structure around them (tuples, lists, dicts, numbers, strings, None) as JSON. Anything else (a
model, a generator, a lambda) arrives as an `Unsendable` whose repr names its type: the comparison
then says what the function returned instead of an array.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

MAX_DEPTH = 8                       # nesting of tuples, lists and dicts
MAX_ITEMS = 100_000                 # items in one tuple, list or dict
MAX_STRING = 10_000                 # characters of a string
MAX_ARRAY_BYTES = 256 * 2 ** 20     # one array; a broadcast view of 10**10 zeros is refused, not copied
MAX_FILE_BYTES = 512 * 2 ** 20      # a whole file, read back by the grader


class Unsendable:
    """Stands in for a value that cannot cross the wall; compares equal to nothing."""

    def __init__(self, description: str):
        self.description = description

    def __repr__(self):
        return f"<{self.description}>"

    def __eq__(self, other):
        return False

    __hash__ = object.__hash__


def _unsendable(value) -> dict:
    return {"unsendable": f"a {type(value).__name__} object, which the grader cannot compare"}


def encode(value) -> bytes:
    """``value`` as the bytes of an .npz file (see the module's docstring)."""
    arrays = {}

    def array_node(array) -> dict:
        key = f"a{len(arrays)}"
        arrays[key] = array
        return {"array": key}

    def node(item, depth):
        if depth > MAX_DEPTH:
            return {"unsendable": "a value nested too deep"}
        if isinstance(item, np.generic):                # a NumPy scalar keeps its dtype
            if item.dtype == object:
                return _unsendable(item)
            return {"scalar": array_node(np.asarray(item))["array"]}
        if item is None or isinstance(item, bool):
            return {"plain": item}
        if isinstance(item, int):
            return {"int": str(item)}                   # any size: JSON numbers lose big integers
        if isinstance(item, float):
            return {"float": repr(item)}                # repr round-trips, nan and inf included
        if isinstance(item, str):
            return {"str": item[:MAX_STRING]}
        if isinstance(item, (bytes, bytearray)):
            return {"bytes": array_node(np.frombuffer(bytes(item), np.uint8))["array"]}
        if isinstance(item, np.ndarray):
            if item.dtype == object or item.dtype.hasobject:
                return {"unsendable": f"an array of Python objects of shape {item.shape}"}
            if item.nbytes > MAX_ARRAY_BYTES:
                return {"unsendable": f"an array of shape {item.shape} ({item.nbytes / 2**20:.0f} MB, too large)"}
            return array_node(np.ascontiguousarray(item))
        if isinstance(item, (tuple, list)):
            if len(item) > MAX_ITEMS:
                return {"unsendable": f"a {type(item).__name__} of {len(item)} items"}
            return {type(item).__name__: [node(x, depth + 1) for x in item]}
        if isinstance(item, dict):
            if len(item) > MAX_ITEMS:
                return {"unsendable": f"a dict of {len(item)} items"}
            return {"dict": [[node(k, depth + 1), node(v, depth + 1)] for k, v in item.items()]}
        return _unsendable(item)

    tree = node(value, 0)
    buffer = io.BytesIO()
    np.savez(buffer, __tree__=np.frombuffer(json.dumps(tree).encode(), np.uint8), **arrays)
    return buffer.getvalue()


def decode(data: bytes):
    """The value that ``encode`` wrote. Raises ValueError on a file that is not one."""
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"a value file of {len(data)} bytes, more than {MAX_FILE_BYTES}")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"not a value file: {error}") from error
    try:
        tree = json.loads(arrays.pop("__tree__").tobytes())
    except (KeyError, ValueError) as error:
        raise ValueError("a value file without its structure") from error

    def value(item, depth=0):
        if not isinstance(item, dict) or len(item) != 1 or depth > MAX_DEPTH + 1:
            raise ValueError("a malformed value file")
        (kind, content), = item.items()
        if kind == "plain" and (content is None or isinstance(content, bool)):
            return content
        if kind == "int":
            return int(content)
        if kind == "float":
            return float(content)
        if kind == "str":
            return str(content)
        if kind == "bytes":
            return arrays[content].tobytes()
        if kind == "scalar":
            return arrays[content][()]
        if kind == "array":
            return arrays[content]
        if kind == "tuple":
            return tuple(value(x, depth + 1) for x in content)
        if kind == "list":
            return [value(x, depth + 1) for x in content]
        if kind == "dict":
            result = {}
            for key, item_value in content:
                key = value(key, depth + 1)
                try:
                    result[key] = value(item_value, depth + 1)
                except TypeError:                       # an unhashable key, e.g. a list
                    return Unsendable("a dict with a key the grader cannot use")
            return result
        if kind == "unsendable":
            return Unsendable(str(content))
        raise ValueError(f"a malformed value file (unknown kind {kind!r})")

    try:
        return value(tree)
    except (KeyError, TypeError, RecursionError) as error:
        raise ValueError(f"a malformed value file ({error})") from error
