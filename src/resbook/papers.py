"""The papers' numbers, in one place, each with where it comes from.

Values are CIFAR-10 results as printed in the papers (see book/references.bib for the citations).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperClaim:
    source: str  # bibliography key
    where: str  # table or figure
    claim: str
    value: str  # what the paper reports, as text


HE2016 = "he2016deep"
VEIT2016 = "veit2016residual"
JASTRZEBSKI2018 = "jastrzebski2018residual"
HE2016B = "he2016identity"

# He et al. 2016, Table 6: parameters (millions) and CIFAR-10 test error (%) of the residual nets.
TABLE6_PARAMS_M = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}
TABLE6_TEST_ERROR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43}

CLAIMS: dict[str, PaperClaim] = {
    "params": PaperClaim(HE2016, "Table 6", "Plain and residual twins have the parameters of Table 6",
                         "0.27M / 0.46M / 0.66M / 0.85M / 1.7M for depths 20/32/44/56/110"),
    "degradation": PaperClaim(HE2016, "Fig. 1, Fig. 6 left", "Deeper plain nets have higher training error",
                              "plain-56 trains worse than plain-20; plain-110 above 60 %"),
    "residual_beats_plain": PaperClaim(HE2016, "Fig. 6", "At the same depth, the residual net trains better",
                                       "ResNet-56 6.97 % test error; plain-56 far worse"),
    "residual_train_depth": PaperClaim(HE2016, "Fig. 6 middle",
                                       "Residual nets' training error does not grow with depth",
                                       "training error falls from 20 to 110 layers"),
    "residual_test_depth": PaperClaim(HE2016, "Table 6", "Residual nets' test error falls with depth",
                                      "8.75 / 7.51 / 7.17 / 6.97 / 6.43 % for 20/32/44/56/110"),
    "responses_smaller": PaperClaim(HE2016, "Fig. 7", "Layer responses are smaller in residual than in plain nets",
                                    "std of 3x3 layer outputs lower for ResNets at every depth"),
    "responses_depth": PaperClaim(HE2016, "Fig. 7", "Deeper residual nets have smaller layer responses",
                                  "ResNet-110 below ResNet-56 below ResNet-20"),
    "option_b": PaperClaim(HE2016, "Table 3 (ImageNet)", "Projection shortcuts (option B) are only marginally better",
                           "ResNet-34 top-1 error 25.03 % with A, 24.52 % with B: projections are not essential"),
    "highway_worse": PaperClaim(HE2016B, "Table 1", "Gated (highway) shortcuts do worse than identity shortcuts",
                                "ResNet-110 with exclusive gating 8.70 % test error; identity 6.61 %"),
    # Veit, Wilber, Belongie 2016 (CIFAR-10, ResNet-110 = 54 blocks; VGG-style plain net of 15 layers)
    "paths_binomial": PaperClaim(VEIT2016, "Sec. 3, Fig. 6a", "Path lengths are binomial: most are middle-length",
                                 "for 54 blocks, > 95 % of the 2^54 paths pass through 19 to 35 blocks"),
    "lesion_residual": PaperClaim(VEIT2016, "Fig. 3a", "Deleting one block barely changes a residual net's error",
                                  "ResNet-110: small increase for almost every block"),
    "lesion_plain": PaperClaim(VEIT2016, "Fig. 3b", "Deleting one layer of a plain net destroys it",
                               "VGG-15: any deletion gives about chance (90 %) error"),
    "lesion_downsampling": PaperClaim(VEIT2016, "Fig. 3a", "Downsampling blocks matter more than the others",
                                      "the error jumps somewhat at the downsampling blocks"),
    "lesion_smooth": PaperClaim(VEIT2016, "Fig. 5a", "Error rises smoothly with the number of deleted blocks",
                                "gradual rise, like removing members of an ensemble"),
    "reorder_smooth": PaperClaim(VEIT2016, "Fig. 5b", "Error rises smoothly as blocks are reordered",
                                 "gradual rise as Kendall's tau falls"),
    "gradient_decay": PaperClaim(VEIT2016, "Fig. 6b", "The gradient along one path falls fast with its length",
                                 "roughly exponential decay with k"),
    "effective_paths": PaperClaim(VEIT2016, "Fig. 6c", "Almost all gradient comes from short paths",
                                  "paths of 5 to 17 of 54 blocks (0.09n to 0.31n), 0.45 % of all paths"),
    "short_paths_training": PaperClaim(VEIT2016, "Sec. 5", "Training with short paths only gives about the same error",
                                       "about 5.96 % vs 6.10 % test error [values to check against the paper]"),
    # Jastrzebski et al. 2018 (CIFAR-10, pre-activation ResNet-110 = 54 blocks)
    "alignment_negative": PaperClaim(JASTRZEBSKI2018, "Fig. 4", "Blocks move features against the loss gradient",
                                     "cos(F_i(h_i), dL/dh_i) < 0 in every block"),
    "alignment_higher": PaperClaim(JASTRZEBSKI2018, "Fig. 4", "The alignment is strongest in the higher blocks",
                                   "most negative in the last stage (about -0.1 in the last block)"),
    "norm_ratio": PaperClaim(JASTRZEBSKI2018, "Fig. 2", "Early blocks change the features a lot, later blocks little",
                             "||F(h)|| / ||h|| up to about 2 in the first blocks, small in the higher blocks"),
    "drop_first_blocks": PaperClaim(JASTRZEBSKI2018, "Fig. 3", "Dropping a block hurts most at the start of a stage",
                                    "catastrophic for the first blocks of a stage, minor for higher blocks"),
    "intermediate_accuracy": PaperClaim(JASTRZEBSKI2018, "Fig. 5", "Accuracy rises block by block in the last stage",
                                        "the final classifier applied after each block: gradual rise"),
    "borderline_corrected": PaperClaim(JASTRZEBSKI2018, "Fig. 6", "The next block corrects borderline examples",
                                       "many borderline examples are corrected, few broken"),
    "unroll_naive": PaperClaim(JASTRZEBSKI2018, "Sec. 4.4", "Unrolling the last block naively blows up the features",
                               "activations explode when the block is applied 20 more times"),
    "unroll_scaled": PaperClaim(JASTRZEBSKI2018, "Fig. 7", "Scaled unrolling lowers the training loss",
                                "train loss 0.0012 to 0.001 after 20 extra steps"),
    "unroll_borderline": PaperClaim(JASTRZEBSKI2018, "Fig. 7", "Scaled unrolling fixes borderline test examples",
                                    "accuracy on borderline test examples 43 % to 53 %"),
    "architectures_align": PaperClaim(JASTRZEBSKI2018, "Fig. 2-4",
                                      "All four architectures move features against the gradient",
                                      "negative cosine in the ResNet, single-representation, pooling and wide nets"),
    "single_sharper": PaperClaim(JASTRZEBSKI2018, "Fig. 2-3",
                                 "Change-then-refine is sharper in the single-representation net",
                                 "its first blocks change the features much more than the later ones"),
    # Jastrzebski et al. 2018, Sec. 4.5 and Table 1 (CIFAR-10 train / test error %, 4 runs)
    "sharing_naive_fails": PaperClaim(JASTRZEBSKI2018, "Sec. 4.5, Fig. 8",
                                      "Naive sharing does worse than an unshared net of the same size",
                                      "shared ResNet-110 (13 of 18 blocks a stage shared) worse than ResNet-38"),
    "sharing_ubn_fixes": PaperClaim(JASTRZEBSKI2018, "Table 1", "Unshared batch norm rescues the shared net",
                                    "ResNet-110-UBN 0.63 / 6.62 vs ResNet-38 1.20 / 6.99 (570k vs 565k params)"),
    "sharing_explodes": PaperClaim(JASTRZEBSKI2018, "Sec. 4.5",
                                   "Naive sharing makes activations grow through the repeated block",
                                   "activations explode at initialisation; UBN (scale 0.1) keeps them small"),
    "sharing_stats_matter": PaperClaim(JASTRZEBSKI2018, "Sec. 4.5 ablation",
                                       "Of UBN's parts, unsharing the statistics matters most",
                                       "unshared BN statistics give most of the gain"),
}

# Jastrzebski et al. Table 1: train / test error (%) and parameters (thousands) on CIFAR-10.
TABLE1 = {
    "ResNet-32": (1.53, 7.14, 467), "ResNet-38": (1.20, 6.99, 565), "ResNet-110-UBN": (0.63, 6.62, 570),
    "ResNet-146-UBN": (0.68, 6.82, 573), "ResNet-182-UBN": (0.48, 6.97, 576), "ResNet-56": (0.58, 6.53, 857),
    "ResNet-110": (0.22, 6.13, 1734),
}
