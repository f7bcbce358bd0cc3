import pandas as pd

from resbook import claims
from resbook.chapters import ch1_degradation as ch1


def frames(plain_deep_err):
    rows = []
    for net in ("plain", "residual"):
        for depth in (8, 56):
            for seed in (0, 1, 2):
                deep_plain = net == "plain" and depth == 56
                rows.append({"dataset": "digits", "net": net, "depth": depth, "seed": seed,
                             "train_err": plain_deep_err if deep_plain else 0.0,
                             "test_err": 0.5 if deep_plain else 0.05 if depth == 56 else 0.02})
    responses = pd.DataFrame([
        {"dataset": "digits", "net": net, "depth": depth, "layer": 1, "std": std}
        for net, depth, std in [("plain", 8, 1.0), ("plain", 56, 2.0), ("residual", 8, 1.2), ("residual", 56, 1.1)]
    ])
    return pd.DataFrame(rows), responses


def test_verdicts_follow_the_numbers():
    verdicts = {v.key: v.holds for v in ch1.degradation_verdicts(*frames(0.6))}
    assert verdicts == {"params": True, "degradation": True, "residual_beats_plain": True,
                        "residual_train_depth": True, "residual_test_depth": False,
                        "responses_smaller": True, "responses_depth": True}


def test_no_degradation_when_plain_nets_train_equally():
    verdicts = {v.key: v.holds for v in ch1.degradation_verdicts(*frames(0.01))}
    assert not verdicts["degradation"] and not verdicts["residual_beats_plain"]


def test_table_and_summary():
    verdicts = ch1.degradation_verdicts(*frames(0.6))
    table = claims.table(verdicts, "ci")
    assert list(table.columns) == ["claim", "paper", "ours", "verdict", "data", "profile"]
    assert "Fig. 6" in table.paper.iloc[1]
    assert "degradation [digits]: holds" in claims.summary(verdicts)
