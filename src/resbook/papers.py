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
}
