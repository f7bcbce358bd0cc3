"""resbook: the code behind "Residual Networks, Reproduced".

Modules: data (data sets as tensors), models (the ResNet family), train (one run), cache (stored runs),
runs (cached and parallel sweeps), probes (measurements on trained nets), plots (figures),
papers (the papers' numbers), claims (verdicts), profiles (scales), book (executing the chapters).
"""

__version__ = "0.1.0"
