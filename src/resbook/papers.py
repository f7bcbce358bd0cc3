"""The papers' numbers, in one place, each with where it comes from; the chapters' claims cite these.

Values are CIFAR-10 results as printed in the papers (see book/references.bib for the citations); each
chapter module declares its own claims (text, source, figure) next to the code that checks them.
"""

from __future__ import annotations

HE2016 = "he2016deep"
VEIT2016 = "veit2016residual"
JASTRZEBSKI2018 = "jastrzebski2018residual"
HE2016B = "he2016identity"
BALDUZZI2017 = "balduzzi2017shattered"
LI2018 = "li2018visualizing"
DESMITH2020 = "de2020batch"
ZHANG2019 = "zhang2019fixup"

# He et al. 2016, Table 6: parameters (millions) and CIFAR-10 test error (%) of the residual nets.
TABLE6_PARAMS_M = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}
TABLE6_TEST_ERROR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43}

# Jastrzebski et al. Table 1: train / test error (%) and parameters (thousands) on CIFAR-10.
TABLE1 = {
    "ResNet-32": (1.53, 7.14, 467), "ResNet-38": (1.20, 6.99, 565), "ResNet-110-UBN": (0.63, 6.62, 570),
    "ResNet-146-UBN": (0.68, 6.82, 573), "ResNet-182-UBN": (0.48, 6.97, 576), "ResNet-56": (0.58, 6.53, 857),
    "ResNet-110": (0.22, 6.13, 1734),
}
