"""The library's own answers to each exercise: an answer that calls one of them has not done the exercise.

Issue 19: "An answer that calls the library's own implementation of what the exercise asks (the references
the grader knows per exercise) scores 0 for that exercise, with a message saying why." The grader runs each
answer under a profiler hook that trips when a code object of ``answer_code_objects(exercise)`` is called.

``LIBRARY_ANSWERS`` maps every exercise (the names of ``course_machinery.checks``) to the dotted names of
the callables that compute what the exercise asks: the textbook's functions and layer methods, the fast
layers' methods, the naive loop references, and the checks' own reference helpers (private ones too: a
notebook can import them). Only what IS the exercise is listed, never what an exercise tells the student to
use: saliency_map is written with model.forward and model.backward, first_diverging_lr with train,
fgsm_step with SoftmaxCrossEntropy, so none of those is listed there. Nor is the answer of an earlier
exercise the student may build on listed for a later one (conv_output_size is output_size's answer, not
conv2d_forward_loops'; softmax is stable_softmax's, not softmax_cross_entropy_gradient's): a student who
reuses a finished exercise has not cheated.

The wrappers that only call a listed function need no entry of their own (the hook sees the call inside
them); a private helper is listed when it computes the answer itself (e.g. notebook_07.adam_update), or
when it is the check's named reference, so that the grader's message can name it.

For an exercise without arguments the expected value never changes, so the check's own cases hold the
answer: ``Exercise.cases`` is listed for those (every "predict" exercise and the diagnoses of notebook 11).
Reading ``check._cases`` as an attribute calls nothing and is not caught here.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
import textwrap

_S = "scratchcnn."
_FAST = "course_machinery.fast_layers."
_CHECKS = "course_machinery.checks."
_CASES = _CHECKS + "framework.Exercise.cases"          # the check's cases, expected values included

# Running a convolution layer: what a "predict the shape" exercise says not to do.
_CONV_FORWARD = (_S + "conv2d_naive", _S + "Conv2D.forward", _FAST + "FastConv2D.forward")
_CONV_BACKWARD = (_S + "conv2d_backward_naive", _S + "Conv2D.backward", _FAST + "FastConv2D.backward",
                  _FAST + "FastConv2D.backward_weights_only", _FAST + "FastConv2D._weight_gradients",
                  _CHECKS + "notebook_03._conv_backward_reference", _CHECKS + "notebook_03._backward_slipped",
                  _CHECKS + "notebook_03._correlation_slipped")
_POOL_FORWARD = (_S + "maxpool2d_naive", _S + "MaxPool2D.forward", _FAST + "FastMaxPool2D.forward")
_POOL_BACKWARD = (_S + "maxpool2d_backward_naive", _S + "MaxPool2D.backward", _FAST + "FastMaxPool2D.backward",
                  _CHECKS + "common_mistakes.maxpool_backward_slipped", _CHECKS + "notebook_04._winner_slipped")
_SOFTMAX = (_S + "softmax", _S + "log_softmax", _CHECKS + "common_mistakes.softmax_shifted")
_LOSS_LAYER = (_S + "SoftmaxCrossEntropy.forward", _S + "SoftmaxCrossEntropy.backward",
               _CHECKS + "notebook_05._loss_and_gradient", _CHECKS + "notebook_11._softmax_cross_entropy")
_ADAM = (_S + "Adam.step", _CHECKS + "notebook_07.adam_update", _CHECKS + "notebook_07._adam_with",
         _CHECKS + "notebook_11._adam_with")
_BATCHNORM_BACKWARD = (_S + "BatchNorm1D.backward", _CHECKS + "notebook_10._batchnorm_backward_reference",
                       _CHECKS + "notebook_10._batchnorm_backward_with", _CHECKS + "notebook_10._staged_backward")
# A diagnosis returns a key that only the check knows; no function of the library computes it.
_DIAGNOSIS = (_CASES,)

LIBRARY_ANSWERS: dict[str, tuple[str, ...]] = {
    # --- notebook 01 ---------------------------------------------------------------------------
    # read_idx parses a header too, but from a file path, and returns the data, not (magic, shape).
    "parse_idx_header": (_CHECKS + "notebook_01._parse_idx_header_reference", _CHECKS + "notebook_01._header"),
    "predicted_image_bytes": (_CHECKS + "notebook_01._training_image_bytes", _CASES),
    # counts[k] = #{labels == k} is the diagonal of confusion_matrix(labels, labels).
    "class_counts": (_S + "confusion_matrix",),
    "mean_image_per_class": (_CHECKS + "notebook_01._per_class",),
    # load_mnist scales the same way, but reads a file: no library function takes the raw bytes' array.
    "to_network_input": (),
    "nearest_mean_predict": (_CHECKS + "notebook_01._squared_distances",),
    # --- notebook 02 ---------------------------------------------------------------------------
    "output_size": (_S + "conv_output_size",),
    "conv2d_single": _CONV_FORWARD,
    "predicted_output_shape": _CONV_FORWARD + (_CHECKS + "notebook_02._predicted_output_shape_cases", _CASES),
    # "computed from the numbers alone (do not build the matrix)"
    "im2col_shape": (_S + "im2col", _FAST + "im2col_batch_last"),
    "conv2d_forward_loops": _CONV_FORWARD,
    # --- notebook 03 ---------------------------------------------------------------------------
    "col2im_loops": (_S + "col2im", _FAST + "col2im_batch_last", _CHECKS + "notebook_03._col2im_slipped"),
    "bias_gradient": _CONV_BACKWARD,
    # "on paper": a numerical or a layer's gradient is the check's own way of finding it.
    "predicted_gradients_1d": _CONV_BACKWARD + (_S + "numerical_gradient", _CHECKS + "notebook_03._gradients_1d",
                                                _CASES),
    "conv_backward_single": _CONV_BACKWARD,
    "conv2d_backward_loops": _CONV_BACKWARD,
    "conv2d_backward_by_correlation": _CONV_BACKWARD,
    "dilate": (_CHECKS + "notebook_03._dilate_reference", _CHECKS + "notebook_03._spread"),
    "my_relative_error": (_S + "relative_error",),
    # --- notebook 04 ---------------------------------------------------------------------------
    "maxpool_forward": _POOL_FORWARD,
    "maxpool_backward": _POOL_BACKWARD,
    "pooled_shape": _POOL_FORWARD + (_CASES,),
    # checks.centre_gradient_example() is the setting the exercise hands out: not listed.
    "centre_gradient": _POOL_BACKWARD + (_CASES,),
    # --- notebook 05 ---------------------------------------------------------------------------
    "stable_softmax": _SOFTMAX + (_S + "SoftmaxCrossEntropy.forward",),
    "cross_entropy_loss": (_S + "log_softmax", _S + "SoftmaxCrossEntropy.forward",
                           _CHECKS + "notebook_05._picked", _CHECKS + "notebook_05._loss_and_gradient",
                           _CHECKS + "notebook_11._softmax_cross_entropy"),
    "softmax_cross_entropy_gradient": (_S + "SoftmaxCrossEntropy.backward", _CHECKS + "notebook_05._loss_and_gradient",
                                       _CHECKS + "notebook_11._softmax_cross_entropy"),
    "softmax_cross_entropy": _LOSS_LAYER,
    # log_softmax of K equal logits is -ln K: the loss itself, sign aside.
    "uniform_loss": (_S + "log_softmax", _S + "SoftmaxCrossEntropy.forward"),
    # --- notebook 06 ---------------------------------------------------------------------------
    "dense_backward": (_S + "Dense.backward", _CHECKS + "notebook_06._dense_backward_reference"),
    # LeakyReLU(0) is ReLU; notebook 11's given relu_backward is this very mask.
    "relu_backward": (_S + "ReLU.backward", _S + "LeakyReLU.backward", _CHECKS + "notebook_06._relu_backward_reference",
                      _CHECKS + "notebook_11._given_relu_backward"),
    # Dropout's forward and backward apply a mask keep / (1 - p): given keep as their mask, they are the answer.
    "inverted_dropout": (_S + "Dropout.forward", _S + "Dropout.backward"),
    # "Predict": measuring a Dense layer's output is the check's way of finding the std, not a prediction.
    "predicted_std": (_S + "Dense.forward", _CHECKS + "notebook_06._measured_dense_std"),
    # "Use NumPy only (no scratchcnn layers)": their backward passes are the gradients asked for.
    "two_layer_backward": (_S + "Dense.backward", _S + "ReLU.backward", _S + "SoftmaxCrossEntropy.backward",
                           _S + "Sequential.backward", _CHECKS + "notebook_06._two_layer_backward_reference",
                           _CHECKS + "notebook_06._two_layer_backward_with"),
    # --- notebook 07 ---------------------------------------------------------------------------
    "sgd_momentum_step": (_S + "SGD.step", _CHECKS + "notebook_07.momentum_update"),
    "adam_step": _ADAM,
    # train's own count of its batches (batch_bounds) is the number of steps of an epoch.
    "steps_per_epoch": (_S + "batch_bounds",),
    "prior_loss": (_CHECKS + "notebook_07._prior_loss_reference", _CHECKS + "notebook_07._entropy_with"),
    # The exercise tells the student to call train, SGD and reference_cnn: only the check's experiment is listed.
    "first_diverging_lr": (_CHECKS + "notebook_07.divergence_experiment", _CHECKS + "notebook_07._experiment_with"),
    # The exercise IS the training loop (reference_cnn, Adam and SoftmaxCrossEntropy are its parts): train
    # with one full batch per epoch records the same losses.
    "overfit_tiny_batch": (_S + "train", _CHECKS + "notebook_07._overfit_with"),
    # --- notebook 08 ---------------------------------------------------------------------------
    # model.forward and model.backward are what the exercise uses; the check's helper is the whole answer.
    "saliency_map": (_CHECKS + "notebook_08._score_gradient",),
    # model.predict_proba is what the exercise says to use.
    "occlusion_map": (_CHECKS + "notebook_08._occlusion_reference",),
    # "Without running the network": running a convolution (directly or through the feature maps) is the check's way.
    "conv2_output_shape": _CONV_FORWARD + ("course_machinery.plots.conv_feature_maps",
                                           _CHECKS + "notebook_08._conv2_output_shape_cases"),
    # SoftmaxCrossEntropy and model.backward are what the exercise says to use; dL/dimage is the check's helper.
    "fgsm_step": (_CHECKS + "notebook_08._fgsm_reference", _CHECKS + "notebook_08._loss_gradient"),
    # --- notebook 09 ---------------------------------------------------------------------------
    # preprocess_digit's "cropped" step is this crop (its reference).
    "crop_to_ink": (_S + "preprocess_digit", _CHECKS + "notebook_09._crop_reference", _CHECKS + "notebook_09._crop"),
    "centre_of_mass": (_S + "centre_of_mass", _CHECKS + "notebook_09._centre_reference"),
    "feature_map_shapes": _CONV_FORWARD + ("course_machinery.plots.conv_feature_maps",
                                           _CHECKS + "notebook_09._feature_map_cases", _CASES),
    "most_confident_mistake": (_CHECKS + "notebook_09._most_confident_mistake",),
    # --- notebook 10 ---------------------------------------------------------------------------
    # BatchNorm2D inherits BatchNorm1D's forward (one code object for both, any number of axes).
    "batchnorm_forward": (_S + "BatchNorm1D.forward",),
    "batchnorm_backward": _BATCHNORM_BACKWARD,
    "residual_backward": (_S + "Residual.backward", _CHECKS + "notebook_10._residual_dense_reference"),
    "rmsprop_step": (_S + "RMSprop.step", _CHECKS + "notebook_10.rmsprop_update",
                     _CHECKS + "notebook_10._rmsprop_with"),
    "layernorm_forward": (_S + "LayerNorm.forward", _CHECKS + "notebook_10._layernorm_forward"),
    "layernorm_backward": (_S + "LayerNorm.backward", _CHECKS + "notebook_10._layernorm_backward_reference",
                           _CHECKS + "notebook_10._layernorm_backward"),
    # The exercise reuses the 1-D normalisation (exercise 1); BatchNorm2D.forward does the whole of it on 4-D x.
    "batchnorm2d_forward": (_S + "BatchNorm2D.forward", _CHECKS + "notebook_10._batchnorm2d_reference",
                            _CHECKS + "notebook_10._batchnorm2d_forward"),
    "batchnorm2d_running_statistics": (_S + "BatchNorm2D.forward", _CHECKS + "notebook_10._batchnorm2d_reference",
                                       _CHECKS + "notebook_10._running_reference",
                                       _CHECKS + "notebook_10._running_update"),
    "batchnorm_eval": (_S + "BatchNorm1D.forward", _S + "BatchNorm1D.backward",
                       _CHECKS + "notebook_10._batchnorm_eval_reference", _CHECKS + "notebook_10._batchnorm_eval"),
    # The exercise calls the notebook's own batchnorm_forward_staged for the nodes; the backward is the exercise.
    "batchnorm_backward_staged": _BATCHNORM_BACKWARD,
    # --- notebook 11 ---------------------------------------------------------------------------
    "bug_in_conv_forward": _DIAGNOSIS,
    "fixed_conv_forward": _CONV_FORWARD,
    "bug_in_maxpool_backward": _DIAGNOSIS,
    "fixed_maxpool_backward": _POOL_BACKWARD,
    "bug_in_softmax_cross_entropy": _DIAGNOSIS,
    "fixed_softmax_cross_entropy": _LOSS_LAYER,
    "bug_in_relu": _DIAGNOSIS,
    "fixed_relu_forward": (_S + "ReLU.forward", _S + "LeakyReLU.forward"),
    "bug_in_dropout": _DIAGNOSIS,
    # Dropout(p, rng=...).forward is inverted dropout itself; it draws its u in float32, so an answer passes it a
    # generator that draws as the notebook does (rng.random(x.shape)) and gets the fix's answer.
    "fixed_dropout_forward": (_S + "Dropout.forward", _CHECKS + "notebook_11._dropout"),
    "bug_in_adam": _DIAGNOSIS,
    "fixed_adam_step": _ADAM,
    "bug_in_im2col": _DIAGNOSIS,
    "fixed_im2col": (_S + "im2col", _FAST + "im2col_batch_last", _CHECKS + "notebook_11._im2col_variant",
                     _CHECKS + "notebook_11._im2col_with"),
    "bug_in_softmax": _DIAGNOSIS,
    "fixed_softmax": _SOFTMAX,
}


def resolve(dotted):
    """The callable a dotted name names: the longest importable module prefix, then its attributes.

    Attributes of a class are read from the class's (and its bases') __dict__ (inspect.getattr_static), so
    a method is the function itself, and a staticmethod or classmethod its underlying function."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            target = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and not module_name.startswith(error.name):
                raise                                  # a real module whose own import failed
            continue
        break
    else:
        raise ImportError(f"no module in {dotted!r}")
    for attribute in parts[split:]:
        target = inspect.getattr_static(target, attribute) if isinstance(target, type) else getattr(target, attribute)
        if isinstance(target, (staticmethod, classmethod)):
            target = target.__func__
    return target


def answer_code_objects(name):
    """The code objects of the functions listed for exercise ``name``: a call of any of them is a library answer.

    A function behind functools.lru_cache gives the code of the function it wraps: a call answered from the
    cache runs no Python frame, so it is seen only in a process where the cache is still empty (a grading
    worker that has not built the check's cases)."""
    return [inspect.unwrap(resolve(dotted)).__code__ for dotted in LIBRARY_ANSWERS[name]]


# --- the library's code pasted under another name ------------------------------------------------------
#
# A profiler sees a call, not a copy: an answer that is the library's function pasted into the notebook,
# its names changed, calls nothing. Compared here by shape: the function's statements with its docstring
# left out and every local name (arguments too) renamed by order of first use, so that only the renaming
# differs. A short function may equal the library's by honest work (a softmax has one natural form), so only
# functions of at least MIN_PASTED_NODES syntax nodes count; and the grade stands: the teacher is asked to look.

MIN_PASTED_NODES = 60
_KEPT_NAMES = {"np", "numpy", "scratchcnn", "math"} | set(dir(builtins))


def code_shape(function: ast.FunctionDef) -> tuple[str, int]:
    """(the body's shape, its number of syntax nodes): the docstring left out, local names renamed."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
            isinstance(body[0].value.value, str):
        body = body[1:]
    renamed = {}

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node):
            if node.id not in _KEPT_NAMES:
                node.id = renamed.setdefault(node.id, f"name{len(renamed)}")
            return node

    for argument in function.args.args + function.args.kwonlyargs:
        renamed.setdefault(argument.arg, f"name{len(renamed)}")
    module = Rename().visit(ast.parse(ast.unparse(ast.Module(body=body, type_ignores=[]))))
    return ast.dump(module, annotate_fields=False), sum(1 for _ in ast.walk(module))


@functools.lru_cache(maxsize=None)
def _library_shapes(name: str) -> dict:
    """{shape: dotted name} of exercise ``name``'s library answers that are long enough to tell."""
    shapes = {}
    for dotted in LIBRARY_ANSWERS.get(name, ()):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(resolve(dotted)))))
        except (OSError, TypeError, SyntaxError, ImportError, AttributeError):
            continue
        if tree.body and isinstance(tree.body[0], ast.FunctionDef):
            shape, size = code_shape(tree.body[0])
            if size >= MIN_PASTED_NODES:
                shapes[shape] = dotted
    return shapes


def pasted_library_code(name: str, source: str) -> str | None:
    """The dotted name of the library answer that a function of this answer cell repeats with other names,
    or None."""
    if name.startswith("fixed_"):         # notebook 11 hands out the buggy code: its fix may be the library's
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    shapes = _library_shapes(name)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            dotted = shapes.get(code_shape(node)[0])
            if dotted:
                return dotted
    return None
