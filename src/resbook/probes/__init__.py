"""Measurements on trained nets, one module per kind of question; the public probes are importable from here.

Each quantity has one probe that returns a value per example (a claim's interval resamples the examples);
a probe that returns a mean (`block_alignment`, `norm_ratios`, `error_rate`, ...) is a wrapper of it. Probes
ask the net for its layout (`ResNet.block_info`) and its features (`ResNet.features`).

- `responses`: the spread of every 3x3 layer's output (He et al. Fig. 7)
- `lesions`: deleting and reordering blocks (Veit et al. Fig. 3, 5)
- `paths`: the input gradient split by path length, exactly and by sampling (Veit et al. Fig. 6)
- `refinement`: alignment with the loss gradient, norm ratios (Jastrzebski et al.)
- `readouts`: the head read after each block of the last stage, unrolling the last block (Jastrzebski et al.)
- `sharing`: activations and gradients of nets whose blocks share weights (Jastrzebski et al. Sec. 4.5)
- `controls`: the same net untrained, the control of a structural claim
"""

from .controls import untrained
from .lesions import (
    error_rate,
    lesion_mistakes,
    lesioned,
    losses,
    mistakes,
    random_lesions,
    random_reorderings,
    reordered,
    single_lesions,
    swappable_groups,
)
from .paths import effective_range, gradient_by_length, path_gradients, sampled_path_gradients
from .readouts import (
    best_scale,
    choose_unroll_scale,
    intermediate_readouts,
    readouts_per_example,
    unroll_last_block,
    unroll_per_example,
)
from .refinement import block_alignment, block_alignment_per_example, norm_ratios, norm_ratios_per_example
from .responses import layer_response_stds, response_frame, response_layers
from .sharing import activation_norms, activation_norms_per_example, stage_gradient_norms

__all__ = [
    "activation_norms", "activation_norms_per_example", "best_scale", "block_alignment", "block_alignment_per_example",
    "readouts_per_example", "unroll_per_example",
    "lesion_mistakes", "losses", "mistakes", "norm_ratios_per_example", "untrained", "choose_unroll_scale",
    "effective_range", "error_rate",
    "gradient_by_length", "intermediate_readouts", "layer_response_stds", "lesioned", "norm_ratios",
    "path_gradients", "random_lesions", "random_reorderings", "reordered", "response_frame", "response_layers",
    "sampled_path_gradients", "single_lesions", "stage_gradient_norms", "swappable_groups", "unroll_last_block",
]
