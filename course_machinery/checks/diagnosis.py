"""Diagnosis of a wrong answer that matches no listed Mistake: what differs from the reference, in words.

check_exercise calls ``diagnose`` after the listed mistakes have been tried. It compares the answer's
outputs with each failing case's expected values and says which outputs are right and which wrong, and
for a wrong array whether it is the reference times a constant (-1, the batch size N, 1/N, 2, a
learning rate or another number from the arguments), a step from an argument scaled by such a constant,
transposed, flipped or with its axes permuted, right for the first image (channel, filter) only, right
except at the border, right up to a tiny difference, or of a shape that differs on some axes. Across
cases it says when only batches of one image pass. Every test is a few array operations on small arrays
already in hand (arrays over MAX_ELEMENTS are not examined), and nothing here raises: a failure inside a
test only means that test says nothing.
"""

from __future__ import annotations

import copy
import itertools
import re

import numpy as np

MAX_ELEMENTS = 100_000            # a larger expected array is compared only by the verdict's own line


def output_names(doc, count):
    """The names of a tuple's ``count`` outputs, read from a doc's ``-> (dx, dW, db)``; else item 0, 1, ..."""
    match = re.search(r"->\s*`*\s*\(([^()]*)\)", doc or "")
    names = [name.strip().strip("`") for name in match.group(1).split(",")] if match else []
    if len(names) != count or not all(re.fullmatch(r"[\w/ ]{1,30}", name) for name in names):
        names = [f"item {position}" for position in range(count)]
    return names


def _close(actual, expected, case):
    return np.allclose(actual, expected, rtol=case.rtol, atol=case.atol, equal_nan=True)


def _as_float(value, shape=None):
    """``value`` as a float64 array (of ``shape`` when given), or None."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        return None
    try:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        if array.dtype.kind not in "iuf" or array.size > MAX_ELEMENTS or (shape is not None and array.shape != shape):
            return None
        return array.astype(np.float64)
    except Exception:
        return None


def _constants(case, argument_names):
    """[(value, words)]: the constants a wrong output may be scaled by, from the case's arguments."""
    constants = [(-1.0, "-1: a sign flipped"), (2.0, "2"), (0.5, "1/2")]
    first = case.args[0] if case.args else None
    batch = first.shape[0] if isinstance(first, np.ndarray) and first.ndim >= 2 else 0
    if batch > 1:
        constants += [(float(batch), f"N = {batch}, the batch size: a sum where a mean belongs, or the 1/N "
                                     f"left out?"),
                      (1.0 / batch, f"1/N = 1/{batch}: divided by the batch size N (a mean where a sum "
                                    f"belongs, or a 1/N applied twice?)"),
                      (-float(batch), f"-N = -{batch}: a sign flipped and the 1/N left out"),
                      (-1.0 / batch, "-1/N: a sign flipped and divided by the batch size")]
    scalars = [(float(value), name.strip("`")) for value, name in zip(case.args, argument_names)
               if isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
               and 0 < abs(float(value)) and float(value) not in (1.0, -1.0)]
    for value, name in scalars:
        constants += [(value, f"{name} = {value:g}: {name} applied twice?"),
                      (1.0 / value, f"1/{name}: {name} left out?"),
                      (value * value, f"{name}**2: {name} applied twice?"),
                      (1.0 / (value * value), f"1/{name}**2")]
        if 0 < value < 1:
            constants += [(1.0 - value, f"1 - {name}"), (1.0 / (1.0 - value), f"1 / (1 - {name})")]
    steps = [(int(value), name) for value, name in scalars if value == int(value) and 1 <= value <= 10_000]
    for (a, name_a), (t, name_t) in itertools.product(scalars, steps):     # Adam's bias corrections
        if 0 < a < 1:
            correction = 1 - a ** t
            constants += [(correction, f"(1 - {name_a}**{name_t}): a bias correction applied twice?"),
                          (1 / correction, f"1 / (1 - {name_a}**{name_t}): a bias correction left out?"),
                          (correction ** -0.5, f"1 / sqrt(1 - {name_a}**{name_t}): a bias correction of the "
                                               f"square root's term left out?")]
    for (a, name_a), (b, name_b) in itertools.permutations(scalars, 2):
        for t, name_t in steps:
            if 0 < a < 1 and 0 < b < 1:
                constants.append((((1 - a ** t) / (1 - b ** t)) ** 0.5,
                                  f"sqrt((1 - {name_a}**{name_t}) / (1 - {name_b}**{name_t})): {name_a} used in a "
                                  f"bias correction where {name_b} belongs?"))
        if 0 < a < 1 and 0 < b < 1:
            constants += [((1 - a) / (1 - b), f"(1 - {name_a}) / (1 - {name_b}): {name_b} and {name_a} swapped?"),
                          (a / b, f"{name_a} / {name_b}: {name_b} and {name_a} swapped?")]
    return constants


def _named_factor(factor, constants):
    """What the constants equal to ``factor`` say, joined by 'or' (at most three), or None."""
    matches = []
    for value, words in constants:
        if np.isclose(factor, value, rtol=1e-6, atol=0) and words not in matches:
            matches.append(words)
    return "; or ".join(matches[:3]) or None


def _scaled(actual, expected, case, constants, what="the right value"):
    """'N times the right value ...' when actual = c * expected for a constant c, else None."""
    norm = float(np.dot(expected.ravel(), expected.ravel()))
    if norm == 0 or not np.isfinite(norm):
        return None
    factor = float(np.dot(actual.ravel(), expected.ravel())) / norm
    if not np.isfinite(factor) or abs(factor - 1) < 1e-9 or factor == 0 or not _close(actual, factor * expected, case):
        return None
    words = _named_factor(factor, constants)
    if words is None and expected.size < 2:           # any two numbers differ by some factor: say nothing
        return None
    return f"{factor:.6g} times {what}" + (f" ({words})" if words else "")


def _transformed(actual, expected, case):
    """'flipped along axes 2 and 3' or 'transposed' or 'axes permuted' when one of those matches."""
    ndim = expected.ndim
    if ndim == 0 or ndim > 5:
        return None
    same_shape = actual.shape == expected.shape
    for count in range(1, ndim + 1 if same_shape else 1):      # flips along one axis, then two, ...
        for axes in itertools.combinations(range(ndim), count):
            if all(expected.shape[axis] > 1 for axis in axes) and _close(actual, np.flip(expected, axes), case):
                return f"the right values flipped along axis {' and '.join(map(str, axes))}" + (
                    " (a kernel flipped where it should not be, or not flipped where it should?)"
                    if ndim >= 2 and axes == (ndim - 2, ndim - 1) else "")
    for order in itertools.permutations(range(ndim)) if ndim <= 4 else ():
        if list(order) != sorted(order) and tuple(expected.shape[i] for i in order) == actual.shape and \
                _close(actual, expected.transpose(order), case):
            swapped = [i for i in range(ndim) if order[i] != i]
            if len(swapped) == 2:
                return f"the right values with axes {swapped[0]} and {swapped[1]} swapped (transposed)"
            return f"the right values with the axes permuted as {order}"
    if same_shape and ndim >= 2 and expected.shape[-1] == expected.shape[-2] > 1:
        for axes in ((ndim - 1,), (ndim - 2,), (ndim - 2, ndim - 1)):
            if _close(actual, np.flip(np.swapaxes(expected, -1, -2), axes), case):
                return "the right values rotated by 90 degrees (transposed and flipped): a kernel transposed " \
                       "instead of flipped?"
    return None


def _shifted(actual, expected, case):
    """'the right values shifted by (1, 1) along the last two axes' (a crop or an offset off by one or two)."""
    if expected.ndim < 2 or min(expected.shape[-2:]) < 3:
        return None
    for rows, columns in itertools.product(range(-2, 3), repeat=2):
        if (rows, columns) == (0, 0):
            continue
        def part(array, by, axis):
            index = [slice(None)] * array.ndim
            index[axis] = slice(by, None) if by > 0 else slice(None, array.shape[axis] + by)
            return array[tuple(index)]
        moved = part(part(actual, rows, -2), columns, -1)
        reference = part(part(expected, -rows, -2), -columns, -1)
        used = np.count_nonzero(reference)              # most of the values must be in view: not a sparse accident
        if used >= 4 and used * 2 >= np.count_nonzero(expected) and _close(moved, reference, case):
            return (f"the right values shifted by {rows} rows and {columns} columns (the entry expected at "
                    f"(i, j) sits at (i{rows:+d}, j{columns:+d})): a crop or an offset off by "
                    f"{max(abs(rows), abs(columns))}"
                    f", e.g. the padding cropped from the wrong side, or the last offsets taken instead of the first?")
    return None


def _offset_per_index(actual, expected, case, argument_names):
    """'off by 2 times b[f] for every f' when actual - expected depends only on the index along axis 1 (or 0
    for a 1-D output): a bias added the wrong number of times, or with the wrong sign."""
    axis = 1 if expected.ndim >= 2 else None
    if axis is None or expected.shape[axis] < 2 or expected.size < 2 * expected.shape[axis]:
        return None                                   # one position per index: any difference fits
    difference = actual - expected
    others = tuple(i for i in range(expected.ndim) if i != axis)
    per_index = difference.mean(axis=others, keepdims=True)
    if not np.any(np.abs(per_index) > case.atol) or not _close(actual, expected + per_index, case):
        return None
    offsets = per_index.ravel()
    for value, name in zip(case.args, argument_names):
        vector = _as_float(value, offsets.shape)
        if vector is not None and np.dot(vector, vector) > 0:
            factor = float(np.dot(offsets, vector) / np.dot(vector, vector))
            if np.allclose(offsets, factor * vector, rtol=1e-6, atol=case.atol):
                return (f"off by {factor:.6g} times {name.strip('`')}[f] at every position of filter (channel) f: "
                        f"{name.strip('`')} added {factor + 1:.6g} times instead of once")
    return (f"off by an amount that depends only on the index along axis {axis} (the filter, channel or column): "
            f"a bias added wrongly?")


def _partly_right(actual, expected, case):
    """Right for the first index along axis 0 or 1 only, or right except at the border."""
    wrong = ~np.isclose(actual, expected, rtol=case.rtol, atol=case.atol, equal_nan=True)
    words = {0: "image (or row)", 1: "channel (or filter)"}
    for axis in (0, 1):
        if expected.ndim > axis and expected.shape[axis] > 1:
            others = tuple(i for i in range(expected.ndim) if i != axis)
            wrong_at, used_at = wrong.any(axis=others), (expected != 0).any(axis=others)
            if not wrong_at[0] and used_at[0] and np.array_equal(wrong_at[1:], used_at[1:]) and wrong_at.any():
                return (f"right for the first {words[axis]} only (index 0 along axis {axis}), wrong for the "
                        f"others: a loop over axis {axis} that stops after the first"
                        + (" (or one short: range(N - 1))" if expected.shape[axis] == 2 else "")
                        + ", or = where += belongs?")
    for axis in (0, 1):
        if expected.ndim > axis + 1 and expected.shape[axis] > 1:
            others = tuple(i for i in range(expected.ndim) if i != axis)
            wrong_at, used_at = wrong.any(axis=others), (expected != 0).any(axis=others)
            if wrong_at[-1] and used_at[-1] and not wrong_at[:-1].any():
                zeros = " (all zeros there)" if not np.take(actual, -1, axis=axis).any() else ""
                return (f"right except for the last {words[axis]} (index {expected.shape[axis] - 1} along axis "
                        f"{axis}){zeros}: a loop over axis {axis} that stops one short (range(N - 1))?")
    if expected.ndim >= 2 and min(expected.shape[-2:]) > 2:
        border = np.ones(expected.shape[-2:], bool)
        border[1:-1, 1:-1] = False
        if not wrong[..., 1:-1, 1:-1].any() and wrong[..., border].any():
            return ("right inside, wrong only at the border: look at the padding (added, cropped, or windows "
                    "at the edge)")
    if expected.ndim >= 1 and wrong.sum() * 4 < wrong.size:
        return f"right at {wrong.size - wrong.sum()} of {wrong.size} positions, wrong at {wrong.sum()}"
    return None


def _at_labels(actual, expected, case, argument_names):
    """'wrong only at each row's label' when a 2-D output differs from the reference only at
    (i, labels[i]) for an integer argument ``labels`` of one entry per row."""
    if expected.ndim != 2 or expected.shape[0] < 2:
        return None
    wrong = ~np.isclose(actual, expected, rtol=case.rtol, atol=case.atol, equal_nan=True)
    for value, name in zip(case.args, argument_names):
        if not (isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.shape == expected.shape[:1]
                and value.min() >= 0 and value.max() < expected.shape[1]):
            continue
        at_labels = np.zeros(expected.shape, bool)
        at_labels[np.arange(len(value)), value] = True
        if not wrong.any() or (wrong & ~at_labels).any():
            continue
        difference = (actual - expected)[at_labels]
        words = f"right everywhere except at each row's {name.strip('`')} position (row i, column " \
                f"{name.strip('`')}[i])"
        if np.allclose(difference, difference[0], rtol=1e-6, atol=case.atol):
            batch = expected.shape[0]
            words += f", where it is off by {difference[0]:+.6g} (= {difference[0] * batch:+.6g}/N)"
            if np.isclose(difference[0] * batch, 2) or np.isclose(difference[0], 2):
                words += ": 1 added where 1 is subtracted (a sign flipped at the label)?"
            elif np.isclose(difference[0] * batch, 1) or np.isclose(difference[0], 1):
                words += ": the 1 of the one-hot label not subtracted?"
        return words
    return None


def _tiny(actual, expected):
    difference = np.abs(actual - expected)
    largest = float(np.nanmax(difference)) if difference.size else 0.0
    scale = float(np.nanmax(np.abs(expected))) if expected.size else 0.0
    if 0 < largest <= 2e-5 * max(scale, 1e-300) or 0 < largest <= 1e-6:
        return (f"off by at most {largest:.1g} everywhere ({largest / scale:.1g} of the largest value): "
                f"an eps left out or put elsewhere, or float32 rounding?") if scale else None
    return None


def _shape_words(actual, expected):
    """How an answer's shape differs from the expected one."""
    shape = getattr(actual, "shape", None)
    if shape is None:
        return None
    if len(shape) != len(expected.shape):
        return f"shape {shape} where {expected.shape} is expected: {len(shape)} axes instead of {len(expected.shape)}"
    if sorted(shape) == sorted(expected.shape):
        return f"shape {shape} where {expected.shape} is expected: the axes in another order (transposed?)"
    axes = [i for i, (a, e) in enumerate(zip(shape, expected.shape)) if a != e]
    sizes = ", ".join(f"axis {i}: {shape[i]} instead of {expected.shape[i]} ({shape[i] - expected.shape[i]:+d})"
                      for i in axes)
    return f"shape {shape} where {expected.shape} is expected ({sizes}): a sum or mean over the wrong axis, " \
           f"or a size formula with the padding, the stride or the kernel size used differently?"


def _array_words(actual, expected, case, constants, argument_names):
    """A sentence on how one wrong output differs from its expected array, or None."""
    if np.ndim(expected) == 0:
        number = _as_float(actual)
        if number is None or number.size != 1:
            return None
        actual, expected = number.reshape(()), np.asarray(expected, np.float64)
    else:
        expected = np.asarray(expected)
        if expected.dtype.kind not in "iuf" or expected.size > MAX_ELEMENTS:
            return None
        expected = expected.astype(np.float64)
        array = _as_float(actual, expected.shape)
        if array is None:
            permuted = _as_float(actual)               # the same sizes in another order: which axes?
            if permuted is not None and permuted.ndim == expected.ndim and permuted.shape != expected.shape \
                    and sorted(permuted.shape) == sorted(expected.shape):
                words = _transformed(permuted, expected, case)
                if words:
                    return f"of shape {permuted.shape}, not {expected.shape}: {words}"
            return _shape_words(actual, expected)
        actual = array
    if not np.all(np.isfinite(actual)):
        return None
    if not np.any(actual) and np.any(expected):
        return "all zeros: is it computed, and is the computed array the one returned?"
    for test in (lambda: _tiny(actual, expected), lambda: _scaled(actual, expected, case, constants),
                 lambda: _step_scaled(actual, expected, case, constants, argument_names),
                 lambda: _step_power(actual, expected, case, argument_names),
                 lambda: _transformed(actual, expected, case), lambda: _shifted(actual, expected, case),
                 lambda: _offset_per_index(actual, expected, case, argument_names),
                 lambda: _at_labels(actual, expected, case, argument_names),
                 lambda: _partly_right(actual, expected, case)):
        words = test()
        if words:
            return words
    return None


def _step_scaled(actual, expected, case, constants, argument_names):
    """'the step from `weights` is lr times the right one' when actual - arg = c * (expected - arg)."""
    for value, name in zip(case.args, argument_names):
        start = _as_float(value, expected.shape) if isinstance(value, np.ndarray) else None
        if start is None:
            continue
        words = _scaled(actual - start, expected - start, case, constants, what="the right one")
        if words:
            return f"wrong by its change from {name}: {words}"
    return None


def _step_power(actual, expected, case, argument_names):
    """'the step from `weights` is the right one times |gradient|**-1' when actual - start divided by
    expected - start follows a power of an argument's size, elementwise (a square root left out or added)."""
    arrays = [(value, name.strip("`")) for value, name in zip(case.args, argument_names)
              if isinstance(value, np.ndarray) and value.shape == expected.shape and value.dtype.kind in "iuf"]
    for start, start_name in arrays:
        step, right = actual - start, expected - start
        used = np.abs(right) > 1e-12
        if used.sum() < 3:                            # a power law needs three points to be told apart
            continue
        ratio = step[used] / right[used]
        for value, name in arrays:
            size = np.abs(value[used].astype(np.float64))
            if name == start_name or not np.all(size > 0) or size.max() < 10 * size.min():
                continue
            for power, words in ((-1, "a square root left out (dividing by the square where its root belongs)?"),
                                 (1, "a square root taken twice, or a division by the gradient's size missing?"),
                                 (-0.5, "a square root left out?"), (0.5, "a square root too many?")):
                factor = ratio / size ** power
                if np.allclose(factor, factor[0], rtol=0.02) and not np.allclose(ratio, ratio[0], rtol=0.1):
                    return (f"wrong by its change from {start_name}: the right change times "
                            f"{factor[0]:.3g} * |{name}|**{power:g}, elementwise: {words}")
    return None


def _outputs(case, value):
    """[(position, expected item, actual item)]: the outputs of a tuple, or one output at position None."""
    expected = case.expected
    if isinstance(expected, (tuple, list)):
        if not isinstance(value, (tuple, list)) or len(value) != len(expected):
            return None
        return list(zip(range(len(expected)), expected, value))
    return [(None, expected, value)]


def _known_mistake_in(position, failing, mistakes, produced, item_compare):
    """'what the known mistake X gives' when output ``position`` of a tuple equals that output of a listed
    Mistake on every failing case where it is wrong (a slip that hits two outputs may be two listed
    mistakes at once), else None. ``failing``: (case, value) pairs; ``produced``: a cache."""
    for mistake in mistakes:
        matched = 0
        for case, value in failing:
            if (mistake, id(case)) not in produced:
                try:
                    with np.errstate(all="ignore"):
                        produced[mistake, id(case)] = mistake.produce(*copy.deepcopy(list(case.args)))
                except Exception:
                    produced[mistake, id(case)] = None
            try:
                expected, actual = case.expected[position], value[position]
                if item_compare(expected, actual, case) is None:
                    continue                          # this output is right on this case
                item = produced[mistake, id(case)][position]
                if item_compare(item, actual, case) is not None:
                    break
                matched += 1
            except Exception:
                break
        else:
            if matched:
                return f"what the known mistake '{mistake.name}' gives (fix: {mistake.fix})"
    return None


def describe(case, value, item_compare, names, argument_names, mistakes=(), failing=(), produced=None):
    """(sentence, is specific) on how ``value`` differs from ``case.expected``, or (None, False)."""
    outputs = _outputs(case, value)
    if outputs is None:
        return None, False
    constants, produced = _constants(case, argument_names), {} if produced is None else produced
    status, details = [], []
    for position, expected, actual in outputs:
        try:
            right = item_compare(expected, actual, case) is None
        except Exception:
            right = False
        name = names[position] if position is not None else "the output"
        status.append(f"{name} {'right' if right else 'wrong'}")
        if not right and isinstance(expected, (np.ndarray, float, int, np.number)) and not isinstance(expected, bool):
            try:
                words = None if position is None else \
                    _known_mistake_in(position, failing, mistakes, produced, item_compare)
                with np.errstate(all="ignore"):
                    words = words or _array_words(actual, expected, case, constants, argument_names)
            except Exception:
                words = None
            if words:
                details.append(f"{name} is {words}" if not words.startswith(("shape", "right", "off", "wrong")) else
                               f"{name}: {words}")
    if all(words.endswith(" right") for words in status):
        return None, False                            # a custom comparison failed it: nothing to add here
    summary = ", ".join(status) if len(outputs) > 1 else ""
    sentence = "; ".join(([summary] if summary else []) + details)
    return (sentence or None), bool(details)


def _batch(case):
    first = case.args[0] if case.args else None
    return first.shape[0] if isinstance(first, np.ndarray) and first.ndim >= 2 else None


def diagnose(results, item_compare, names, argument_names, edits=(), mistakes=()):
    """(sentence, case) saying how the answer's outputs differ from the expected ones, or (None, None).

    ``results``: (case, value, error, problem) per case; ``item_compare(expected, actual, case)``: the
    check's comparison; ``names``: the tuple's output names; ``argument_names``: the answer's parameters;
    ``mistakes``: the listed Mistakes, which may each explain one output."""
    failing = [(case, value) for case, value, error, problem in results
               if problem is not None and error is None and problem not in edits
               and not problem.startswith("returned an array view")]
    if not failing:
        return None, None
    found, produced = [], {}
    for case, value in failing:
        sentence, specific = describe(case, value, item_compare, names, argument_names, mistakes, failing, produced)
        if sentence:
            found.append((specific, sentence, case))
    batch_note = None                                 # (not when a dtype slip explains the larger cases)
    dtype_slip = any("floating-point result" in problem or " is asked" in problem
                     for _, _, error, problem in results if problem is not None)
    passing_batches = {_batch(case) for case, _, _, problem in results if problem is None}
    failing_batches = {_batch(case) for case, _ in failing}
    if dtype_slip:
        pass
    elif passing_batches == {1} or (1 in passing_batches and None not in failing_batches
                                  and min(failing_batches, default=1) > 1):
        batch_note = ("right on every case with a batch of one (N = 1), wrong on larger batches: only the "
                      "first image counted, images overwriting each other (= where += belongs), or a mean "
                      "over the batch where a sum belongs?")
    if not found:
        return (batch_note, failing[0][0]) if batch_note else (None, None)
    # The most telling case: a specific diagnosis, with the fewest alternatives ("...; or ...") in it.
    # "All zeros" counts as one alternative: a case where part of the output is right tells more.
    specific, sentence, case = min(found, key=lambda item: (not item[0], item[1].count("; or ")
                                                            + ("all zeros:" in item[1])))
    if batch_note and not specific:
        sentence = f"{sentence}; {batch_note}"
    return sentence, case
