"""bench/chains.py's pure parts: the few-shot sampling and the target verdict."""

from __future__ import annotations

from bench.chains import TARGET_GAIN, _sample, verdict
from tuner.data import Example


def row(pair: str, n: int, gain: float) -> dict:
    return {"pair": pair, "per_label": n, "gain": gain}


def test_the_target_needs_the_gain_at_5_and_10_per_label_on_every_pair():
    good = [row("a", 5, 0.05), row("a", 10, TARGET_GAIN), row("a", 25, -0.02), row("b", 5, 0.04), row("b", 10, 0.09)]
    assert verdict(good) == {"target_gain": TARGET_GAIN, "sizes": [5, 10], "min_gain": TARGET_GAIN, "met": True}
    bad = good[:-1] + [row("b", 10, 0.029)]
    assert verdict(bad)["met"] is False and verdict(bad)["min_gain"] == 0.029
    assert verdict([row("a", 25, 0.2)])["met"] is False  # no row at the target sizes proves nothing


def test_sampling_takes_at_most_n_per_label_reproducibly():
    examples = [Example(f"e{i}", f"text {i}", f"l{i % 3}") for i in range(30)]
    picked = _sample(examples, 4, seed=1)
    assert sorted(e.target for e in picked) == ["l0"] * 4 + ["l1"] * 4 + ["l2"] * 4
    assert picked == _sample(examples, 4, seed=1) and picked != _sample(examples, 4, seed=2)
    assert _sample(examples, None, seed=1) == examples and len(_sample(examples, 50, seed=0)) == 30
