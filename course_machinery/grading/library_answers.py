"""PLACEHOLDER until the libanswers branch is merged."""
LIBRARY_ANSWERS = {"stable_softmax": ("scratchcnn.softmax",)}


def resolve(dotted):
    import importlib
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            target = getattr(target, part)
        return target
    raise ImportError(dotted)
