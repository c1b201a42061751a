"""The exercise checks, one module per notebook; ``checks.check_<name>(answer)`` in every notebook."""

from .framework import Case, CheckResult, Exercise, Mistake, check_exercise  # noqa: F401
from .notebook_01 import (  # noqa: F401
    check_parse_idx_header,
    check_predicted_image_bytes,
    check_class_counts,
    check_mean_image_per_class,
    check_to_network_input,
    check_nearest_mean_predict,
)
from .notebook_02 import (  # noqa: F401
    check_output_size,
    check_conv2d_single,
    check_predicted_output_shape,
    check_im2col_shape,
    check_conv2d_forward_loops,
)
from .notebook_03 import (  # noqa: F401
    check_col2im_loops,
    check_bias_gradient,
    check_predicted_gradients_1d,
    check_conv_backward_single,
    check_conv2d_backward_loops,
    check_conv2d_backward_by_correlation,
    check_dilate,
    check_my_relative_error,
)
from .notebook_04 import (  # noqa: F401
    check_maxpool_forward,
    check_maxpool_backward,
    check_pooled_shape,
    centre_gradient_example,
    check_centre_gradient,
)
from .notebook_05 import (  # noqa: F401
    check_stable_softmax,
    check_cross_entropy_loss,
    check_softmax_cross_entropy_gradient,
    check_softmax_cross_entropy,
    check_uniform_loss,
)
from .notebook_06 import (  # noqa: F401
    check_dense_backward,
    check_relu_backward,
    check_inverted_dropout,
    check_predicted_std,
    check_two_layer_backward,
)
from .notebook_07 import (  # noqa: F401
    check_sgd_momentum_step,
    check_adam_step,
    check_steps_per_epoch,
    check_prior_loss,
    check_first_diverging_lr,
    check_overfit_tiny_batch,
)
from .notebook_08 import (  # noqa: F401
    check_saliency_map,
    check_occlusion_map,
    check_conv2_output_shape,
    check_fgsm_step,
)
from .notebook_09 import (  # noqa: F401
    check_crop_to_ink,
    check_centre_of_mass,
    check_feature_map_shapes,
    check_most_confident_mistake,
)
from .notebook_10 import (  # noqa: F401
    check_batchnorm_forward,
    check_batchnorm_backward,
    check_residual_backward,
    check_rmsprop_step,
    check_layernorm_forward,
    check_layernorm_backward,
    check_batchnorm2d_forward,
    check_batchnorm2d_running_statistics,
    check_batchnorm_eval,
    check_batchnorm_backward_staged,
)
from .notebook_11 import (  # noqa: F401
    check_bug_in_conv_forward,
    check_fixed_conv_forward,
    check_bug_in_maxpool_backward,
    check_fixed_maxpool_backward,
    check_bug_in_softmax_cross_entropy,
    check_fixed_softmax_cross_entropy,
    check_bug_in_relu,
    check_fixed_relu_forward,
    check_bug_in_dropout,
    check_fixed_dropout_forward,
    check_bug_in_adam,
    check_fixed_adam_step,
    check_bug_in_im2col,
    check_fixed_im2col,
    check_bug_in_softmax,
    check_fixed_softmax,
)
