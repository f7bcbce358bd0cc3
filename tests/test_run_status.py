"""A run that fails to train is data: divergence stops a run where it happens, and every run is classified once."""

from dataclasses import replace

import pytest
import torch

from resbook import batched, run_status, runs, train
from resbook.runs.cache import RunCache
from tests.test_train import tiny_digits

CONFIG = train.TrainConfig("digits", 8, width=(4, 8, 16), epochs=3, batch_size=64)


def test_a_huge_learning_rate_diverges_and_stops_where_it_happens():
    result = train.train(replace(CONFIG, lr=1e9), tiny_digits(), device="cpu", progress=False)
    d = result.diverged
    assert d is not None and d["step"] < 4 and d["epoch"] == 1 and d["lr"] == 1e9
    assert d["last_finite_loss"] == d["last_finite_loss"] or d["step"] == 0  # finite unless the first step blew
    assert result.history["train_err"] == []  # stopped in its first epoch: no epoch completed
    assert run_status.status(result) == run_status.DIVERGED
    assert "diverged at step" in train.describe_divergence(d)


def test_the_same_net_at_a_normal_rate_trains_and_is_not_flagged():
    """The check above can fail: the detector does not fire on a run that learns."""
    result = train.train(replace(CONFIG, epochs=8), tiny_digits(), device="cpu", progress=False)
    assert result.diverged is None and run_status.status(result) == run_status.TRAINED


def test_a_net_that_stays_near_chance_did_not_train():
    result = train.train(replace(CONFIG, lr=1e-7, epochs=1), tiny_digits(), device="cpu", progress=False)
    assert result.diverged is None and result.final["train_err"] >= run_status.STARTED_ERR
    assert run_status.status(result) == run_status.DID_NOT_TRAIN
    assert run_status.describe_failures([result]) == f"{CONFIG.label}: seed 0 did not train"


def test_the_watch_finds_the_first_bad_step_of_each_net():
    watch = train.LossWatch(3, 10, torch.device("cpu"))
    for step, losses in enumerate([[2.3, 2.3, 2.3], [2.0, float("nan"), 2.2], [1.8, 1.0, 1e6], [1.5, 1.0, 1.0]]):
        watch.add(step, 1, 0.1, torch.tensor(losses))
    assert watch.diverged[0] is None and not watch.all_diverged
    assert watch.diverged[1]["step"] == 1 and watch.diverged[1]["last_finite_loss"] == pytest.approx(2.3)
    assert watch.diverged[2]["step"] == 2 and watch.diverged[2]["loss"] == 1e6  # exploded, still finite


def test_a_diverged_run_is_stored_served_without_retraining_and_retrained_only_on_request(tmp_path, monkeypatch):
    cache = RunCache(tmp_path)
    config = replace(CONFIG, lr=1e9, epochs=1)
    first = runs.run(config, cache, progress=False)
    assert first.diverged is not None
    journal = (tmp_path / "journal.log").read_text()
    assert "stored: diverged at step" in journal
    monkeypatch.setattr(runs, "train", lambda *a, **k: pytest.fail("a diverged run was trained again"))
    again = runs.run(config, cache, progress=False)
    assert again.diverged == first.diverged and run_status.status(again) == run_status.DIVERGED
    monkeypatch.undo()
    assert cache.forget(config) and config not in cache
    assert runs.run(config, cache, progress=False).diverged is not None
    assert len(cache.trainings(config)) == 2


def test_one_diverging_net_of_a_group_stops_alone():
    """Seeds trained together: a net whose loss blows up is marked; the others train on, unharmed."""
    group = batched.members(replace(CONFIG, epochs=2, trained_with=(0, 1)))
    data = tiny_digits()
    real_step = batched.GroupStepper.step

    def poisoned(self, xbs, ybs, lr):
        losses = real_step(self, xbs, ybs, lr)
        return torch.stack([losses[0], losses[1] * float("inf")])  # seed 1's loss explodes at once

    alone = train.train(replace(group[0], trained_with=()), data, progress=False)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(batched.GroupStepper, "step", poisoned)
        results = batched.train_together(group, data, progress=False)
    assert results[0].diverged is None and len(results[0].history["train_err"]) == 2
    assert results[1].diverged["step"] == 0 and results[1].history["train_err"] == []
    assert results[0].history["train_err"] == alone.history["train_err"]


def _result(seed: int, train_err: list[float], diverged: dict | None = None) -> train.TrainResult:
    """A run as the cache serves it (no model needed to describe it)."""
    history = {k: [0.1 * (i + 1) for i in range(len(train_err))] for k in train.HISTORY_KEYS}
    history.update(train_err=train_err, epoch=list(range(1, len(train_err) + 1)))
    return train.TrainResult(replace(CONFIG, seed=seed), None, history, diverged=diverged)


LOST = {"step": 5, "epoch": 1, "loss": float("nan"), "last_finite_loss": 2.3, "lr": 0.1}


def test_tidy_frames_carry_each_runs_status():
    results = [_result(0, [0.5, 0.1]), _result(1, [0.95, 0.9]), _result(2, [], LOST)]
    finals = runs.final_frame(results)
    assert list(finals.status) == ["trained", "did not train", "diverged"]
    assert finals.train_err.iloc[2] != finals.train_err.iloc[2]  # NaN: a diverged run has no final error
    history = runs.history_frame(results)
    assert history.groupby("seed").status.unique().map(list).to_dict() == {0: ["trained"], 1: ["did not train"],
                                                                          2: ["diverged"]}
    assert len(history[history.seed == 2]) == 1  # no completed epoch, but the run is still in the frame
    assert run_status.describe_rows(finals) == f"{CONFIG.label}: seed 1 did not train, seed 2 diverged"


def test_count_is_the_one_rule_for_which_runs_a_claim_counts():
    statuses = {"a": {0: "trained", 1: "did not train", 2: "diverged", 3: "trained"},
                "b": {0: "trained", 1: "trained", 2: "trained"}}
    every = run_status.count(statuses)  # training badly is the effect: only the diverged run is left out
    assert every.seeds == [0, 1] and every.left_out == {2: {"a": "diverged"}}
    assert every.says() == "left out: seed 2 (a diverged: its weights are NaN)"
    assert every.failed == "a: seed 1 did not train, seed 2 diverged"  # seed 3 has no b: not counted, not failed
    learned = run_status.count(statuses, learned=["a"])  # a claim about nets that learned
    assert learned.seeds == [0] and learned.left_out == {1: {"a": "did not train"}, 2: {"a": "diverged"}}
    assert run_status.count({"b": statuses["b"]}).failed == ""


def test_probed_leaves_out_diverged_runs_and_says_so(capsys):
    results = [_result(0, [0.9]), _result(1, [], LOST)]
    assert [r.config.seed for r in run_status.probed(results, "lesions")] == [0]  # one that did not train is probed
    said = capsys.readouterr().out.strip()
    assert said == f"lesions: not probed, diverged (NaN weights): {CONFIG.label}: seed 1 diverged"


def _ended(train_err: float, test_loss: float = 0.5, diverged: dict | None = None) -> train.TrainResult:
    history = {"epoch": [1], "lr": [0.1], "train_loss": [0.5], "train_err": [train_err], "test_loss": [test_loss],
               "test_err": [train_err], "seconds": [1.0]}
    return train.TrainResult(CONFIG, CONFIG.build_model(), history, diverged=diverged)


def test_a_non_finite_final_loss_is_a_divergence_the_watch_did_not_see():
    """Outside review: batch-norm statistics can overflow in eval mode while the training loss stays finite."""
    assert run_status.status(_ended(0.1)) == run_status.TRAINED
    assert run_status.status(_ended(0.1, test_loss=float("nan"))) == run_status.DIVERGED
    assert run_status.status(_ended(0.79)) == run_status.TRAINED  # trained badly is still trained
    assert run_status.status(_ended(0.8)) == run_status.DID_NOT_TRAIN


def test_a_diverged_runs_final_metrics_are_not_its_last_completed_epoch():
    """Outside review: figures and tables read `final_frame`; a diverged run's last epoch is not where it ended."""
    d = {"step": 40, "epoch": 2, "loss": float("nan"), "last_finite_loss": 2.0, "lr": 1.0}
    frame = runs.final_frame([_ended(0.1), _ended(0.1, diverged=d)])
    assert list(frame.status) == [run_status.TRAINED, run_status.DIVERGED]
    assert frame.train_err.iloc[0] == 0.1 and frame.train_err.isna().iloc[1] and frame.test_err.isna().iloc[1]


def test_a_step_whose_every_run_diverged_stops_with_the_fix():
    """Outside review: a chapter whose runs all diverged (e.g. an lr override of 1000) crashed on empty frames;
    it now stops at its first probe with what to change, and a frame of such runs still has its columns."""
    lost = [_result(0, [], LOST), _result(1, [], LOST)]
    assert {"train_err", "test_err"} <= set(runs.history_frame(lost).columns)
    with pytest.raises(run_status.AllDiverged, match='every run diverged.*Lower the learning rate .*"lr"'):
        run_status.probed(lost, "responses", stop_if_none=True)
    assert len(run_status.probed([*lost, _result(2, [0.5, 0.1])], "responses")) == 1
