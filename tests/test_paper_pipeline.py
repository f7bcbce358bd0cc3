"""The paper profile end to end on the CPU: CIFAR-shaped files made here, read by torchvision's loader,
kept as uint8, augmented per batch, trained for one short epoch through `python -m resbook fill`."""

import pytest
import torch

from resbook import __main__ as cli
from resbook import chapters, data, profiles, speed, train
from resbook.runs.cache import RunCache

from .fakes import fake_cifar_files, trust_fake_cifar

TINY = '{"epochs": 1, "depths": [8], "seeds": [0], "widths": [4, 8, 16]}'


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    fake_cifar_files(tmp_path / "data")
    trust_fake_cifar(monkeypatch)
    monkeypatch.setenv("RESBOOK_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RESBOOK_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_fill_trains_the_paper_runs_of_chapter_1(fake_cifar, capsys):
    assert cli.main(["fill", "--profile", "paper", "--overrides", TINY, "--chapters", "01", "--workers", "1"]) == 0
    profile = profiles.resolve("paper", {"epochs": 1, "depths": [8], "seeds": [0], "widths": [4, 8, 16]})
    configs = chapters.plan(profile, ["01"])
    assert [c.label for c in configs] == ["plain-8", "residual-8", "residual-8 (option B)", "highway-8"]
    cache = RunCache(fake_cifar / "cache")
    for config in configs:
        result = cache.load(config)
        assert config.augment and config.dataset == "cifar10"
        assert len(result.history["train_err"]) == 1 and result.final["test_err"] <= 1
    assert "all 4 runs are in the cache" in capsys.readouterr().out


def test_export_then_import_through_the_command_line(fake_cifar, tmp_path, monkeypatch, capsys):
    cli.main(["fill", "--profile", "paper", "--overrides", TINY, "--chapters", "01", "--workers", "1"])
    archive = tmp_path / "paper-runs.tar.gz"
    assert cli.main(["export", str(archive), "--profile", "paper", "--overrides", TINY, "--chapters", "01"]) == 0
    monkeypatch.setenv("RESBOOK_CACHE", str(tmp_path / "elsewhere"))
    assert cli.main(["import", str(archive)]) == 0
    assert "imported 4, already present 0, refused 0" in capsys.readouterr().out


def test_cifar_training_data_stay_uint8_and_are_normalised_per_batch(fake_cifar):
    pixels = data.load("cifar10", pixels=True)
    assert pixels.train_x.dtype == torch.uint8 and pixels.train_x.shape == (200, 3, 32, 32)
    floats = data.load("cifar10")
    assert torch.allclose(pixels.prepare(pixels.test_x), floats.test_x)
    g = torch.Generator().manual_seed(0)
    fast = speed.Speedups.choose(torch.device("cpu"), pixels, steps=10)
    batch = train.prepare_batch(pixels, pixels.train_x[:16], True, g, fast)
    assert batch.dtype == torch.float32 and batch.shape == (16, 3, 32, 32)
    assert not (fast.compile or fast.bf16 or fast.channels_last)  # a short CPU run: nothing that would not pay


def test_bad_inputs_to_the_command_line_name_the_fix(fake_cifar, capsys):
    assert cli.main(["fill", "--profile", "gpu"]) == 2
    assert "valid profiles: ci, cpu, images, paper" in capsys.readouterr().err
    assert cli.main(["fill", "--profile", "ci", "--chapters", "09"]) == 2
    assert "unknown chapter" in capsys.readouterr().err
    assert cli.main(["import", str(fake_cifar / "nothing.tar.gz")]) == 2


def test_speedups_on_a_gpu_for_a_paper_length_run():
    images = data.Dataset("cifar10", torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.zeros(4).long(),
                          torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.zeros(4).long(), 10)
    fast = speed.Speedups.choose(torch.device("cuda"), images, steps=64_000)
    assert fast.channels_last and fast.compile and fast.fused_optimizer
    assert fast.compile_mode == "reduce-overhead"  # CUDA graphs (see the mode's comment in train.py)
    assert not speed.Speedups.choose(torch.device("cuda"), images, 64_000, short_paths=True).compile
    digits = data.digits()
    assert not speed.Speedups.choose(torch.device("cpu"), digits, 180).channels_last  # 8x8: no gain
