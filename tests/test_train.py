import pytest
import torch

from resbook import data, profiles, train


def tiny_digits(n=256):
    d = data.digits()
    return data.Dataset("digits", d.train_x[:n], d.train_y[:n], d.test_x[:64], d.test_y[:64], 10)


def test_loss_falls_on_a_small_batch():
    config = train.TrainConfig("digits", 8, width=(8, 16, 32), epochs=8, batch_size=64, seed=0)
    result = train.train(config, tiny_digits(), device="cpu", progress=False)
    losses = result.history["train_loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert len(losses) == 8 and result.final["train_err"] < 0.2


def test_same_seed_same_result_different_seed_different():
    config = train.TrainConfig("digits", 8, width=(4, 8, 16), epochs=2, batch_size=64, seed=3)
    a = train.train(config, tiny_digits(), device="cpu", progress=False)
    b = train.train(config, tiny_digits(), device="cpu", progress=False)
    c = train.train(train.TrainConfig(**{**config.as_dict(), "seed": 4}), tiny_digits(), device="cpu", progress=False)
    assert a.history["train_loss"] == b.history["train_loss"]
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert a.history["train_loss"] != c.history["train_loss"]


def test_learning_rate_schedule():
    config = train.TrainConfig("digits", 8, epochs=10, lr=0.1, warmup_epochs=1, milestones=(0.5, 0.75))
    lrs = [train.learning_rate(config, step, steps_per_epoch=10) for step in range(100)]
    assert lrs[0] == pytest.approx(0.01) and lrs[9] == pytest.approx(0.01)
    assert lrs[10] == pytest.approx(0.1) and lrs[49] == pytest.approx(0.1)
    assert lrs[50] == pytest.approx(0.01) and lrs[75] == pytest.approx(0.001)


def test_paper_profile_warms_up_only_resnet110():
    paper = profiles.resolve("paper")
    assert train.config_for(paper, "cifar10", 56).warmup_epochs == 0
    assert train.config_for(paper, "cifar10", 110).warmup_epochs == 1
    c = train.config_for(paper, "cifar10", 20)
    assert (c.batch_size, c.lr, c.momentum, c.weight_decay, c.augment) == (128, 0.1, 0.9, 1e-4, True)
    # 164 epochs of 391 iterations: the paper's 64k iterations, with drops near 32k and 48k
    steps = 391
    lrs = [train.learning_rate(c, s, steps) for s in range(164 * steps)]
    drops = [s for s in range(1, len(lrs)) if lrs[s] < lrs[s - 1]]
    assert [round(s / 1000) for s in drops] == [32, 48]


def test_cifar_shaped_training_step_with_augmentation():
    x = torch.randn(32, 3, 32, 32)
    y = torch.randint(0, 10, (32,))
    fake = data.Dataset("cifar10", x, y, x[:8], y[:8], 10, pad=4, flip=True)
    config = train.TrainConfig("cifar10", 8, width=(4, 8, 16), epochs=1, batch_size=16, augment=True)
    result = train.train(config, fake, device="cpu", progress=False)
    assert len(result.history["train_loss"]) == 1


def test_short_paths_only_leaves_inactive_branches_without_gradient():
    model = train.TrainConfig("digits", 20, width=(4, 8, 16)).build_model()
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    with train._short_paths_only(model, 2, torch.Generator().manual_seed(0)):
        torch.nn.functional.cross_entropy(model(x), y).backward()
    updated = [any(p.grad is not None and p.grad.abs().sum() > 0 for p in b.branch.parameters())
               for b in model.blocks]
    assert sum(updated) == 2
    assert all(not b.branch._forward_hooks for b in model.blocks)  # hooks removed afterwards
    with pytest.raises(ValueError, match="between 1 and the number of blocks"):
        with train._short_paths_only(model, 10, torch.Generator()):
            pass


def test_short_path_training_runs_end_to_end():
    config = train.TrainConfig("digits", 14, width=(4, 8, 16), epochs=2, batch_size=128, active_branches=2)
    result = train.train(config, tiny_digits(), device="cpu", progress=False)
    assert len(result.history["train_loss"]) == 2
