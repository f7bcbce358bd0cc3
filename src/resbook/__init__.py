"""resbook: the code behind "Residual Networks, Reproduced".

The science:
- `data`: the data sets, as tensors (digits, MNIST-1D, CIFAR-10)
- `models`: He et al.'s ResNet family and its plain, highway, pre-activation and shared-block variants
- `train`: one training run, the maths of it (what the run cache's key hashes)
- `speed`: what only makes a run fast (layouts, compiling, fused kernels, autocast; not hashed)
- `profiles`: the named scales a chapter runs at (`ci`, `cpu`, `paper`)
- `runs/`: trained runs by config: the run cache (`runs.cache`), parallel sweeps, Ray (`runs.scaleout`)
- `probes/`: measurements on nets (layer responses, lesions, path gradients, refinement, sharing)
- `claims`: the machinery of a claim and its verdict (no chapter's logic)
- `papers`: the papers' numbers and bibliography keys
- `plots`: what every chapter's figures share (style, colours, the data)
- `chapters/`: one module per chapter: its runs, study steps, claims and figures
The tooling: `site/` (executing the chapters, staging and checking the website), `bench` (training speed),
`resources` (the CPUs and memory this process may use), `__main__` (the command line).
"""

__version__ = "0.1.0"
