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
    constants += _size_constants(case, argument_names, set())
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
    for value, name in zip(case.args, argument_names):             # a 1/std left out, or applied twice
        array = _as_float(value) if isinstance(value, np.ndarray) and np.size(value) >= 2 else None
        if array is not None and array.dtype.kind == "f" and np.all(np.isfinite(array)) and \
                abs(float(array.max())) < 50:              # a shift by the maximum on one side of a fraction
            constants.append((float(np.exp(-array.max())), f"exp(-the maximum of {name.strip('`')}): the maximum "
                              f"subtracted in one place (the numerator) but not in the other (the denominator)?"))
        if array is not None and array.var() > 0:
            for eps in _eps_values(case, argument_names):
                std, name = float(np.sqrt(array.var() + eps)), name.strip("`")
                constants += [(std, f"the standard deviation of {name}: a division by it left out?"),
                              (1 / std, f"1 / the standard deviation of {name}: divided by it twice?")]
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


def _size_constants(case, argument_names, known):
    """[(value, words)]: each size of an array argument's axes past the batch (F, C, H, W, k, D, ...), and
    of its last two axes together (H*W) and of all but axis 1 (m = N*H*W), as factors and as divisors:
    a sum where a mean over those axes belongs, or a mean where a sum belongs."""
    sizes = []
    for value, name in zip(case.args, argument_names):
        if isinstance(value, np.ndarray) and value.ndim >= 1:
            name = name.strip("`")
            sizes += [(size, f"{name}.shape[{axis}]") for axis, size in enumerate(value.shape)]
            if value.ndim >= 3:
                sizes.append((value.shape[-1] * value.shape[-2], f"{name}.shape[-2] * {name}.shape[-1]"))
            if value.ndim == 4:
                sizes.append((value.size // value.shape[1], f"N*H*W of {name}"))
    constants = []
    for size, words in sizes:
        if size > 1 and (size, words) not in known:
            known.add((size, words))
            if size > 2:                              # n / (n - 1): an unbiased (ddof=1) factor
                constants += [(size / (size - 1), f"{words} / ({words} - 1) = {size}/{size - 1}: the unbiased "
                                                  f"factor n/(n - 1) (ddof=1) applied twice, or where it does "
                                                  f"not belong?"),
                              ((size - 1) / size, f"({words} - 1) / {words} = {size - 1}/{size}: the unbiased "
                                                  f"factor n/(n - 1) left out, or ddof=1 where ddof=0 belongs?")]
            constants += [(float(size), f"{words} = {size}: a sum over that axis where a mean belongs, or "
                                        f"multiplied by that size?"),
                          (1.0 / size, f"1/({words}) = 1/{size}: divided by that size (a mean over that axis "
                                       f"where a sum belongs?)")]
    return constants


def _eps_values(case, argument_names):
    """0 and the value of an argument called eps (the variance's guard in a standard deviation)."""
    values = [0.0]
    for value, name in zip(case.args, argument_names):
        if name.strip("`").lower() in ("eps", "epsilon") and isinstance(value, (int, float, np.number)):
            values.append(float(value))
    return values


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
            last_row, last_column = int(wrong[..., -1, :].any()), int(wrong[..., :, -1].any())
            if not wrong[..., :-1, :-1].any():
                where = " and ".join(["the last row"] * last_row + ["the last column"] * last_column)
                return (f"right everywhere except in {where}: a loop that stops one short (range(H - 1) where "
                        f"range(H) belongs), or a slice that ends one early?")
            return ("right inside, wrong only at the border: look at the padding (added, cropped, or windows "
                    "at the edge)")
    return None


def _right_count(actual, expected, case):
    """'right at k of n positions', when fewer than a quarter are wrong."""
    wrong = ~np.isclose(actual, expected, rtol=case.rtol, atol=case.atol, equal_nan=True)
    if expected.ndim >= 1 and wrong.sum() * 4 < wrong.size:
        return f"right at {wrong.size - wrong.sum()} of {wrong.size} positions, wrong at {wrong.sum()}"
    return None


def _zeros_wrong(actual, expected, case):
    """Wrong only where the right value is 0 (something written where zeros belong), or only where the
    answer left a 0 (a mask or condition too strict, a value never written)."""
    wrong = ~np.isclose(actual, expected, rtol=case.rtol, atol=case.atol, equal_nan=True)
    if expected.ndim == 0 or not wrong.any() or wrong.all():
        return None
    zero_expected, zero_actual = np.isclose(expected, 0, atol=case.atol), np.isclose(actual, 0, atol=case.atol)
    count = int(wrong.sum())
    if np.all(zero_expected[wrong]) and (~zero_expected).any():
        return (f"right at every position where the right value is not 0, but not 0 at {count} of the "
                f"{int(zero_expected.sum())} positions where it is 0: values written where zeros belong (a gap "
                f"filled, a mask or condition too loose, an array not started at zeros)?")
    if np.all(zero_actual[wrong]) and (~zero_actual).any():
        return (f"right wherever yours is not 0, but 0 at {count} positions where the right value is not: a "
                f"mask or condition too strict (which positions get a value?), or values never written (a loop "
                f"that skips them)?")
    return None


def _positions(actual, expected, case):
    """'whole numbers where values belong' when a wrong output holds only small whole numbers (positions
    within a window or a row), and neither the right one nor any array argument does."""
    if actual.size < 2 or np.all(expected == np.round(expected)) or not np.all(actual == np.round(actual)):
        return None
    if any(isinstance(arg, np.ndarray) and arg.size > 1 and arg.dtype.kind in "iufb" and
           np.all(arg == np.round(arg)) for arg in case.args):
        return None
    if actual.min() < 0 or actual.max() >= max(16, actual.size):
        return None
    return (f"only whole numbers from {actual.min():.0f} to {actual.max():.0f}, where the right values are not "
            f"whole: positions (an np.argmax, an index) stored where the values themselves belong?")


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


def _factor_per_index(actual, expected, case, argument_names):
    """'times a factor that depends only on the row' when actual = f[i] * expected along axis 0 or 1, and
    which standard deviation of an argument that factor is (a per-row or per-column 1/std left out)."""
    for axis in (0, 1):
        if expected.ndim < 2 or expected.shape[axis] < 2 or expected.size < 2 * expected.shape[axis]:
            continue
        others = tuple(i for i in range(expected.ndim) if i != axis)
        norms = (expected * expected).sum(axis=others, keepdims=True)
        if not np.all(norms > 0):
            continue
        factors = (actual * expected).sum(axis=others, keepdims=True) / norms
        if np.allclose(factors, factors.ravel()[0], rtol=1e-6) or np.any(np.isclose(factors, 0, atol=1e-9)) \
                or np.any(np.isclose(factors, 1, rtol=1e-6)) or not _close(actual, factors * expected, case):
            continue                                  # one factor for all: _scaled's; some rows 0 or right: not a scale
        where = f"along axis {axis} ({'each row' if axis == 0 else 'each column'} its own factor)"
        for value, name in zip(case.args, argument_names):
            array = _as_float(value, expected.shape)
            if array is None:
                continue
            for sign in (-1, 1):                       # a shift by the maximum on one side of a fraction only
                if np.allclose(factors, np.exp(sign * array.max(axis=others, keepdims=True)), rtol=1e-5):
                    return (f"the right values times a factor that changes {where}: exp({'-' if sign < 0 else ''}"
                            f"the maximum of {name.strip('`')} there): the maximum subtracted in one place "
                            f"(the numerator) but not in the other (the denominator)?")
            for eps in _eps_values(case, argument_names):
                std = np.sqrt(array.var(axis=others, keepdims=True) + eps)
                for power, words in ((1, "a division by it left out"), (-1, "divided by it twice")):
                    if np.allclose(factors, std ** power, rtol=1e-5):
                        return (f"the right values times a factor that changes {where}: "
                                f"{'' if power == 1 else '1 / '}the standard deviation of {name.strip('`')} "
                                f"over axis {' and '.join(map(str, others))}: {words}?")
        return (f"the right values times a factor that changes {where}: a scale per "
                f"{'row' if axis == 0 else 'column'} (a 1/std, a normalisation) left out or applied twice?")
    return None


def _axis_groups(ndim):
    """The axis sets a statistic (a mean, a variance) may be taken over: each axis, and all but one."""
    groups = [(axis,) for axis in range(ndim)]
    if ndim > 2:
        groups += [tuple(i for i in range(ndim) if i != kept) for kept in range(ndim)]
    if ndim == 4:
        groups.append((2, 3))                         # per image and channel (over its pixels only)
    return groups


def _unscaled_statistics(actual, expected, case, argument_names):
    """_statistics of a normalisation's outputs with its gamma and beta undone, (out - beta) / gamma: the
    last resort, once nothing else (a bias, a factor) has explained the output."""
    given = dict(zip((name.strip("`") for name in argument_names), case.args))
    gamma, beta = given.get("gamma"), given.get("beta")
    if not (expected.ndim >= 2 and isinstance(gamma, np.ndarray) and isinstance(beta, np.ndarray) and
            gamma.shape == beta.shape == (expected.shape[1],) and np.all(gamma != 0)):
        return None
    shape = (1, -1) + (1,) * (expected.ndim - 2)
    words = _statistics((actual - beta.reshape(shape)) / gamma.reshape(shape),
                        (expected - beta.reshape(shape)) / gamma.reshape(shape), case, argument_names)
    return None if words is None or words.startswith("neither") else words     # only a definite finding


def _statistics(actual, expected, case, argument_names):
    """How the answer's means and variances over some axes differ from the right output's: a normalisation
    over the wrong axis, its variance (or only its mean) wrong, or the data's own mean subtracted where an
    argument's belongs."""
    if expected.ndim < 2 or min(expected.shape) < 2 and expected.ndim == 2:
        return None

    def centred(array, group):
        return np.allclose(array.mean(axis=group), 0, atol=1e-6 * max(1.0, float(np.abs(array).max())))
    def unit(array, group):
        return np.allclose(array.var(axis=group), 1, atol=1e-2)
    groups = [group for group in _axis_groups(expected.ndim)
              if all(expected.shape[i] > 1 for i in group) and np.prod([expected.shape[i] for i in group]) >= 2
              and not (group == (2, 3) and expected.shape[0] == 1)]       # one image: (2, 3) is (0, 2, 3)
    right = [group for group in groups if centred(expected, group) and unit(expected, group)]
    over = lambda group: f"over axis {' and '.join(map(str, group))}"     # noqa: E731
    if right:
        group = right[0]
        elsewhere = [g for g in groups if g != group and centred(actual, g) and unit(actual, g)]
        if elsewhere:
            return (f"normalised {over(elsewhere[0])}, where the right output is normalised {over(group)} "
                    f"(mean 0 and variance 1 there): the statistics over the wrong axis?")
        unit_elsewhere = sorted((g for g in groups if g != group and unit(actual, g)), key=len)
        if unit_elsewhere and not unit(actual, group):
            return (f"variance 1 {over(unit_elsewhere[0])}, where the right output has variance 1 {over(group)}: "
                    f"the variance (or the standard deviation) taken over the wrong axes?")
        if centred(actual, group) and not unit(actual, group):
            return (f"centred right (mean 0 {over(group)}) but without variance 1 there: the variance (or the "
                    f"standard deviation) over the wrong axis, or divided by the wrong one?")
        if not centred(actual, group) and unit(actual, group):
            return f"variance 1 {over(group)} as it should, but not mean 0 there: the mean over the wrong axis?"
        if not centred(actual, group):
            return (f"neither mean 0 nor variance 1 {over(group)}, as the right output is: the mean and "
                    f"variance taken over the wrong axis, or over the wrong groups of values?")
        return None
    given_means = [name.strip("`") for value, name in zip(case.args, argument_names)
                   if "mean" in name.lower() and isinstance(value, np.ndarray)]
    for group in groups:
        if given_means and centred(actual, group) and not centred(expected, group):
            return (f"centred {over(group)} (its own mean subtracted), where the right output is not: the data's "
                    f"own mean used where the given {given_means[0]} belongs?")
    return None


def _rearranged(actual, expected):
    """'the right values in the wrong places' when both hold the same numbers in another order."""
    if expected.size < 4 or len(np.unique(np.round(expected, 9))) < 4:
        return None
    if np.allclose(np.sort(actual, axis=None), np.sort(expected, axis=None), rtol=1e-9, atol=1e-12):
        return ("the right values in the wrong places (the same numbers, rearranged): two indices swapped, or "
                "a reshape where a transpose belongs?")
    return None


def _not_finite(actual, expected):
    """'inf or nan at k positions' when the right values are finite there."""
    bad = ~np.isfinite(actual)
    if not bad.any() or not np.all(np.isfinite(expected)):
        return None
    if np.isnan(actual).any() and not np.isinf(actual).any():        # nan alone: no overflow made it
        return (f"nan at {int(bad.sum())} of {bad.size} positions where the right values are finite: the log or "
                f"square root of a negative number, or 0/0? (an array changed in place before it is read gives "
                f"that: b = a makes no copy)")
    return (f"inf or nan at {int(bad.sum())} of {bad.size} positions where the right values are finite: an "
            f"overflow (np.exp of a large number: subtract the maximum first?) or a division by zero?")


_STRIDE_NAMES, _PADDING_NAMES, _KERNEL_NAMES = ("stride", "s"), ("padding", "pad", "p"), ("kernel_size", "k")


def _size_formula(actual_size, expected_size, axis, case, argument_names):
    """Which slip of the output-size formula (H + 2p - k) // s + 1 gives ``actual_size``, or None."""
    arrays = [value for value in case.args if isinstance(value, np.ndarray)]
    scalars = {name.strip("`"): value for value, name in zip(case.args, argument_names)
               if isinstance(value, (int, np.integer)) and not isinstance(value, bool)}
    if not arrays:
        return None
    named = lambda names, default: next((scalars[n] for n in names if n in scalars), default)  # noqa: E731
    s, p = named(_STRIDE_NAMES, 1), named(_PADDING_NAMES, 0)
    kernels = [named(_KERNEL_NAMES, None)] if named(_KERNEL_NAMES, None) else \
        [array.shape[-1] for array in arrays[1:] if array.ndim >= 2]
    first = arrays[0]
    if not kernels or s < 1 or first.ndim <= axis:
        return None
    H, k = first.shape[axis], kernels[0]
    if (H + 2 * p - k) // s + 1 != expected_size:
        return None                                   # not the convolution's size formula: say nothing
    slips = [((H + 2 * p - k) // s, "the + 1 left out"), ((H - k) // s + 1, "the padding left out"),
             ((H + p - k) // s + 1, "the padding added on one side only"),
             (H + 2 * p - k + 1, "the stride left out"), ((H + 2 * p) // s, "the kernel size left out"),
             (-(-(H + 2 * p - k) // s) + 1, "rounded up, not down"),
             ((H + 2 * p - k + 1) // s, "the + 1 inside the division")]
    matches = [words for size, words in slips if size == actual_size]
    if not matches:
        return None
    return (f"{actual_size} follows the size formula with {' or '.join(matches[:2])}, where the right one is "
            f"(H + 2p - k) // s + 1 = ({H} + 2*{p} - {k}) // {s} + 1 = {expected_size}")


def _shape_words(actual, expected, case=None, argument_names=()):
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
    formulas = [] if case is None else [_size_formula(shape[i], expected.shape[i], i, case, argument_names)
                                        for i in axes]
    if formulas and all(formulas):
        return f"shape {shape} where {expected.shape} is expected ({sizes}): along axis {axes[0]}, " + \
            "; along the next, ".join(dict.fromkeys(formulas))
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
            try:
                return _shape_words(actual, expected, case, argument_names)
            except Exception:
                return _shape_words(actual, expected)
        actual = array
    if not np.all(np.isfinite(actual)):
        return _not_finite(actual, expected)
    if not np.any(actual) and np.any(expected):
        return "all zeros: is it computed, and is the computed array the one returned?"
    for test in (lambda: _tiny(actual, expected), lambda: _scaled(actual, expected, case, constants),
                 lambda: _step_scaled(actual, expected, case, constants, argument_names),
                 lambda: _step_power(actual, expected, case, argument_names),
                 lambda: _transformed(actual, expected, case), lambda: _shifted(actual, expected, case),
                 lambda: _statistics(actual, expected, case, argument_names),
                 lambda: _factor_per_index(actual, expected, case, argument_names),
                 lambda: _offset_per_index(actual, expected, case, argument_names),
                 lambda: _at_labels(actual, expected, case, argument_names),
                 lambda: _rearranged(actual, expected),
                 lambda: _positions(actual, expected, case),
                 lambda: _unscaled_statistics(actual, expected, case, argument_names),
                 lambda: _partly_right(actual, expected, case),
                 lambda: _zeros_wrong(actual, expected, case),
                 lambda: _right_count(actual, expected, case)):
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


def _in_place_of(position, outputs, names, item_compare, case):
    """'the right <other output>' when output ``position`` holds what another output should: outputs returned
    in the wrong order, or one computed where the other belongs."""
    actual = outputs[position][2]
    for other, expected, _ in outputs:
        try:
            if other != position and item_compare(outputs[position][1], expected, case) is not None \
                    and item_compare(expected, actual, case) is None:
                return f"the right {names[other]}: the outputs returned in the wrong order (or mixed up)?"
        except Exception:
            continue
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
                words = None if position is None else _in_place_of(position, outputs, names, item_compare, case)
                words = words or (None if position is None else
                                  _known_mistake_in(position, failing, mistakes, produced, item_compare))
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


def _case_features(case, argument_names):
    """{feature in words: holds} for one case: each whole-number argument's value, each size-1 axis of an
    array argument past the first (the batch axis has its own note), and square last two axes."""
    features = {}
    for position, (value, name) in enumerate(zip(case.args, argument_names)):
        name = name.strip("`")
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            features[f"{name} = {value}"] = True
        elif isinstance(value, np.ndarray) and value.ndim >= 2:
            for axis in range(1 if position == 0 else 0, value.ndim - (2 if value.ndim >= 4 else 0)):
                features[f"{name}.shape[{axis}] = 1"] = value.shape[axis] == 1
            if value.ndim >= 3 or (value.ndim == 2 and name == "image"):
                features[f"{name} square (height = width)"] = value.shape[-1] == value.shape[-2]
    return features


def _separating_note(results, argument_names):
    """'right on every case with stride = 1, wrong on every other': the features that every passing case has
    and no failing case has (a failure that raised counts), with what each suggests; or None."""
    passing = [_case_features(case, argument_names) for case, _, _, problem in results if problem is None]
    failing = [_case_features(case, argument_names) for case, _, _, problem in results if problem is not None]
    if not passing or not failing:
        return None
    shared = [feature for feature in passing[0]
              if all(features.get(feature) for features in passing)
              and not any(features.get(feature) for features in failing)]
    if not shared:
        return None
    suggestions = []
    for feature in shared:
        name = feature.split(" ")[0].split(".")[0]
        if "square" in feature:
            suggestions.append("height and width mixed up somewhere (a size or an index from the other axis)")
        elif " = " in feature and "shape" not in feature:
            suggestions.append(f"{name} left out or used wrongly somewhere (it shows only when it is not "
                               f"{feature.split(' = ')[1]})")
        else:
            axis = feature.split("[")[1].split("]")[0]
            role = " (its channels)" if axis == "1" and feature.startswith(argument_names[0].strip("`")) else ""
            suggestions.append(f"{name}'s axis {axis}{role} handled wrongly "
                               f"(an index from another axis used for it, only index 0 counted, or its entries "
                               f"mixed with one another)")
    return (f"right on every case with {' and '.join(shared)}, wrong on the others: "
            + ", or ".join(suggestions) + "?")


def diagnose(results, item_compare, names, argument_names, edits=(), mistakes=(), rerun=None, reference=None):
    """(sentence, case) saying how the answer's outputs differ from the expected ones, or (None, None).

    ``results``: (case, value, error, problem) per case; ``item_compare(expected, actual, case)``: the
    check's comparison; ``names``: the tuple's output names; ``argument_names``: the answer's parameters;
    ``mistakes``: the listed Mistakes, which may each explain one output; ``rerun(args)`` and
    ``reference(*args)``: the answer (time-limited) and the right function, for ``intervene``."""
    failing = [(case, value) for case, value, error, problem in results
               if problem is not None and error is None and problem not in edits
               and not problem.startswith("returned an array view")]
    dtype_slip = any("floating-point result" in problem or " is asked" in problem
                     for _, _, error, problem in results if problem is not None)
    try:
        separating = None if dtype_slip or any(problem in edits for *_, problem in results) else \
            _separating_note(results, argument_names)
    except Exception:
        separating = None
    if not failing:
        first = next((case for case, _, _, problem in results if problem is not None), None)
        return (separating, first) if separating else (None, None)
    found, produced = [], {}
    for case, value in failing:
        sentence, specific = describe(case, value, item_compare, names, argument_names, mistakes, failing, produced)
        if sentence:
            found.append((specific, sentence, case))
    batch_note = None                                 # (not when a dtype slip explains the larger cases)
    passing_batches = {_batch(case) for case, _, _, problem in results if problem is None}
    failing_batches = {_batch(case) for case, _ in failing}
    if dtype_slip:
        pass
    elif 1 in passing_batches and None not in failing_batches and min(failing_batches, default=1) > 1:
        batch_note = ("right on every case with a batch of one (N = 1), wrong on larger batches: only the "
                      "first image counted, images overwriting each other (= where += belongs), or a mean "
                      "over the batch where a sum belongs?")
    if separating:
        batch_note = f"{batch_note}; also {separating}" if batch_note else separating
    if not found:
        moved = _intervention_note(failing, rerun, reference, item_compare, names, argument_names)
        batch_note = "; ".join(note for note in (batch_note, moved) if note)
        return (batch_note, failing[0][0]) if batch_note else (None, None)
    # The most telling case: a specific diagnosis, with the fewest alternatives ("...; or ...") in it.
    # "All zeros" counts as one alternative: a case where part of the output is right tells more.
    specific, sentence, case = min(found, key=lambda item: (not item[0], item[1].count("; or ")
                                                            + ("all zeros:" in item[1])))
    if batch_note and not specific:
        sentence = f"{sentence}; {batch_note}"
    moved = _intervention_note(failing, rerun, reference, item_compare, names, argument_names)
    if moved:
        sentence = f"{sentence}; {moved}"
    return sentence, case


def _intervention_note(failing, rerun, reference, item_compare, names, argument_names):
    """intervene on the failing case with the fewest argument entries, and say when the wrong outputs are
    the right ones for the batch without its last (or first) entry; or None (never raises)."""
    if rerun is None or reference is None:
        return None
    try:
        size = lambda item: sum(np.size(arg) for arg in item[0].args if isinstance(arg, np.ndarray))  # noqa
        case, value = min(failing, key=size)
        notes = [_dropped_entry(failing, reference, item_compare, names),
                 intervene(case, value, rerun, reference, item_compare, names, argument_names)]
        return "; ".join(note for note in notes if note) or None
    except Exception:
        return None


def _dropped_entry(failing, reference, item_compare, names):
    """'dW and db are the right ones without the batch's last entry' (a loop over the batch one short, or one
    that starts at 1), from the reference run on the batch less that entry; None when no such case shows it."""
    for case, value in failing:
        arrays = [arg for arg in case.args if isinstance(arg, np.ndarray) and arg.ndim >= 1]
        if not arrays or arrays[0].shape[0] < 2:
            continue
        batch = arrays[0].shape[0]
        outputs = _outputs(case, value)
        for which, part in (("last", slice(None, -1)), ("first", slice(1, None))):
            args = [arg[part] if isinstance(arg, np.ndarray) and arg.ndim >= 1 and arg.shape[0] == batch else arg
                    for arg in case.args]
            try:                                      # an argument whose axis 0 only happens to be N: no match
                with np.errstate(all="ignore"):
                    right = _outputs(case, reference(*copy.deepcopy(args)))
            except Exception:
                continue
            if outputs is None or right is None:
                return None
            matched = [position for (position, expected, actual), (_, _, without) in zip(outputs, right)
                       if item_compare(expected, actual, case) is not None and np.shape(without) == np.shape(actual)
                       and item_compare(without, actual, case) is None]
            wrong = [position for position, expected, actual in outputs if item_compare(expected, actual, case)]
            if matched and len(matched) == len(wrong):
                what = "the output is" if matched == [None] else \
                    " and ".join(names[position] for position in matched) + (" are" if len(matched) > 1 else " is")
                loop = "stops one short (range(N - 1))" if which == "last" else "starts at 1 (range(1, N))"
                return (f"{what} exactly what the right function gives for the batch without its {which} entry "
                        f"(case '{case.description}'): a loop over the batch that {loop}, or a slice that leaves "
                        f"it out?")
    return None


# --- intervention: run the answer and the reference again with one input changed -------------------
#
# A wrong output that holds none of the patterns above may still be told apart by how it MOVES: change
# one argument (or one image, channel or row of it) a little, run the answer and the reference again,
# and compare the two changes. An output that does not move where the right one does ignores that input
# (db ignores dout's image 1: only the first image counted); one that moves where the right one does not
# depends on an input it should not; one that moves c times as much has that input's term scaled by c
# (a momentum on the wrong term, a 1/N on one term only); one whose change is the right change flipped,
# transposed or shifted has that input's term flipped, transposed or shifted. Small changes keep a
# nonlinear function (a max, a square root) in its linear range. Each run goes through the framework's
# time-limited runner; a run that fails or takes too long ends the intervention (it only adds words).

MAX_RERUNS = 16                        # answer runs per diagnosis (the reference runs as often)

_AXIS_WORDS = {4: ("image", "channel (filter)"), 3: ("image", "channel"), 2: ("row (example)", "column")}


def _changes(case, argument_names, rng):
    """(words, position, new value): small changes of one argument, the whole of it first, then its
    entry 1 along axis 0, then along axis 1 (integer arrays get +1s; 1-D integer arrays such as labels,
    and whole numbers such as a stride, which change shapes and meanings, are left alone)."""
    for position, (value, name) in enumerate(zip(case.args, argument_names)):
        name = name.strip("`")
        if isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and 0 < value.size <= MAX_ELEMENTS:
            integer = value.dtype.kind in "iu"
            if integer and value.ndim < 2:
                continue

            def changed(where, value=value, integer=integer):
                new = value.copy()
                part = new[where]
                if integer:
                    new[where] = part + rng.integers(1, 3, part.shape).astype(new.dtype)
                else:
                    new[where] = part + 1e-3 * (1 + np.abs(part)) * rng.choice([-1.0, 1.0], part.shape) \
                        * rng.uniform(0.5, 1.5, part.shape)
                return new
            yield f"{name} changes", position, changed(Ellipsis)
            words = _AXIS_WORDS.get(value.ndim, ("index along axis 0", "index along axis 1"))
            for axis in (0, 1):
                if value.ndim >= 2 and value.shape[axis] > 1:
                    index = (slice(None),) * axis + (1,)
                    yield f"only {name}'s {words[axis]} 1 (index 1 along axis {axis}) changes", position, \
                        changed(index)
            if value.ndim == 1 and value.size > 1:
                yield f"only {name}[1] changes", position, changed((1,))
        elif isinstance(value, (float, np.floating)) and value != 0:
            yield f"{name} changes", position, value * (1 + 1e-3)


def _response(actual_change, right_change, case, constants, argument_names):
    """How one output's change compares with the right output's change: ('right' | 'ignores' | 'depends' |
    'scaled' | 'other', words or None)."""
    scale = max(float(np.abs(right_change).max()), float(np.abs(actual_change).max()))
    if scale == 0:
        return "right", None
    moves, right_moves = np.abs(actual_change).max() > 1e-6 * scale, np.abs(right_change).max() > 1e-6 * scale
    if right_moves and not moves:
        return "ignores", None
    if moves and not right_moves:
        return "depends", None
    loose = type("Loose", (), {"rtol": 1e-3, "atol": 1e-4 * scale, "args": case.args})
    if _close(actual_change, right_change, loose):
        return "right", None
    factor = float(np.dot(actual_change.ravel(), right_change.ravel()) / np.dot(right_change.ravel(),
                                                                                right_change.ravel()))
    if np.isfinite(factor) and factor != 0 and _close(actual_change, factor * right_change, loose):
        words = _named_factor(factor, constants)
        return "scaled", f"{factor:.4g} times as much as the right one" + (f" ({words})" if words else "")
    for test in (lambda: _transformed(actual_change, right_change, loose),
                 lambda: _shifted(actual_change, right_change, loose),
                 lambda: _partly_right(actual_change, right_change, loose),
                 lambda: _right_count(actual_change, right_change, loose)):
        words = test()
        if words:
            return "other", f"changes as {words.replace('the right values', 'the right change')}" \
                if words.startswith("the right values") else f"changes, compared with the right change: {words}"
    return "other", None


def intervene(case, value, rerun, reference, item_compare, names, argument_names):
    """A sentence on how the answer's wrong outputs move when one input changes, compared with the
    reference's, or None. ``rerun(args)``: the answer's value on ``args`` (raises when it fails);
    ``reference(*args)``: the right value."""
    outputs = _outputs(case, value)
    if outputs is None or rerun is None or reference is None:
        return None
    with np.errstate(all="ignore"):
        base = reference(*copy.deepcopy(list(case.args)))
        if item_compare(case.expected, base, case) is not None:
            return None                               # not the reference these cases come from
        wrong = [position for position, expected, actual in outputs
                 if item_compare(expected, actual, case) is not None
                 and _as_float(expected) is not None and _as_float(actual, np.shape(expected)) is not None]
        if not wrong:
            return None
        constants, rng = _constants(case, argument_names), np.random.default_rng(0)
        findings = {position: [] for position in wrong}    # position -> [(kind, change words, words)]
        for runs, (change, where, new) in enumerate(_changes(case, argument_names, rng)):
            if runs >= MAX_RERUNS:
                break
            args = list(case.args)
            args[where] = new
            try:
                answer_value, right_value = rerun(args), reference(*copy.deepcopy(args))
            except Exception:
                break                                 # the answer failed or took too long: say no more
            changed_outputs, right_outputs = _outputs(case, answer_value), _outputs(case, right_value)
            if changed_outputs is None or right_outputs is None:
                break
            for position in wrong:
                index = 0 if position is None else position
                before, after = _as_float(outputs[index][2]), _as_float(changed_outputs[index][2])
                right_before, right_after = _as_float(base if position is None else base[position]), \
                    _as_float(right_outputs[index][2])
                if any(item is None for item in (before, after, right_before, right_after)) or \
                        not before.shape == after.shape == right_before.shape == right_after.shape or \
                        not all(np.all(np.isfinite(item)) for item in (before, after, right_before, right_after)):
                    continue
                kind, words = _response(after - before, right_after - right_before, case, constants,
                                        argument_names)
                findings[position].append((kind, change, words))
    sentences = []
    for position in wrong:
        name = "the output" if position is None else names[position]
        found = findings[position]
        rights = [change.split()[0] for kind, change, _ in found          # whole arguments only
                  if kind == "right" and change == f"{change.split()[0]} changes"]
        for kind, change, words in sorted(found, key=lambda item: ("ignores", "depends", "scaled", "other",
                                                                   "right").index(item[0])):
            if kind == "ignores":
                text = f"{name} does not change when {change}, the right {name} does: that input left out"
                if "index 1" in change:
                    text += " (only index 0 counted, or one overwriting the other?)"
            elif kind == "depends":
                text = f"{name} changes when {change}, the right {name} does not: that input used where it " \
                       f"does not belong"
            elif words:
                text = f"when {change}, {name} {'moves ' if kind == 'scaled' else ''}{words}"
            else:
                continue
            if rights:
                text += f" (it moves rightly with {', '.join(rights[:3])})"
            sentences.append(text)
            break
    return "; ".join(sentences) or None
