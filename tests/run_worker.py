"""A separate process that asks the run cache for runs, for the fault tests (tests/test_resume.py).

    python tests/run_worker.py CACHE_ROOT CONFIGS_JSON    # prints one JSON line per run: digest, resumed_from

FAULT (environment) injects one fault: `slow-entry-write` writes half of each cache entry, says
"WRITING" and sleeps (to be killed there); `no-training` fails loudly if any run would train.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time

import torch

from resbook import durable, runs
from resbook.runs.cache import RunCache
from resbook.train import TrainConfig, TrainResult


def digest(result: TrainResult) -> str:
    """Hash of a run's weights, history (wall-clock seconds left out) and kept checkpoints: equal digests,
    equal runs."""
    h = hashlib.sha256()
    for name, tensor in result.model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps({k: v for k, v in result.history.items() if k != "seconds"}).encode())
    for epoch, weights in sorted(result.checkpoints.items()):
        h.update(str(epoch).encode())
        for name, tensor in weights.items():
            h.update(name.encode())
            h.update(tensor.contiguous().numpy().tobytes())
    return h.hexdigest()


def config_from(d: dict) -> TrainConfig:
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def main() -> None:
    import os

    root, configs = sys.argv[1], [config_from(d) for d in json.loads(sys.argv[2])]
    fault = os.environ.get("FAULT", "")
    if fault == "slow-entry-write":
        real_write = durable._write

        def half_then_sleep(path, fill):
            if path.parent.name == ".state":
                return real_write(path, fill)

            def half(f):
                class Half:
                    def write(self, blob):
                        f.write(bytes(blob[: len(blob) // 2]))
                        f.flush()
                        print("WRITING", flush=True)
                        time.sleep(60)
                fill(Half())
            return real_write(path, half)

        durable._write = half_then_sleep
    if fault == "no-training":
        def refuse(*args, **kwargs):
            print("TRAINING STARTED", flush=True)
            sys.exit(3)
        runs.train = refuse
    torch.set_num_threads(1)
    results = [runs.run(configs[0], RunCache(root), progress=False)] if len(configs) == 1 else \
        runs.sweep(configs, RunCache(root), workers=1, progress=False)
    for result in results:
        print(json.dumps({"digest": digest(result), "resumed_from": result.resumed_from}), flush=True)


if __name__ == "__main__":
    main()
