"""Replay sampling: fill, stratification by label, determinism by seed; the bounded cycle split."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tuner.cycle.config import CycleConfig
from tuner.cycle.planning import bounded_split
from tuner.data import DataSplit, Example
from tuner.replay import ReplayPolicy, balanced_quotas, class_balanced_sample


def history(counts: dict[str, int], start: int = 0) -> list[Example]:
    rows, seq = [], start
    for label, n in counts.items():
        for _ in range(n):
            seq += 1
            rows.append(Example(f"e{seq}", f"text {seq}", label, seq=seq))
    return rows


SKEWED = {"common": 200, "medium": 40, "rare": 3, "single": 1}


@pytest.mark.parametrize("size", [0, 1, 3, 4, 10, 50, 100, 243, 244, 1000])
def test_fill_is_min_of_size_and_seen_and_labels_share_evenly(size):
    rows = history(SKEWED)
    sample = class_balanced_sample(rows, size, seed=3)
    assert len(sample) == min(size, len(rows))
    assert len({e.event_id for e in sample}) == len(sample)
    counts = Counter(e.target for e in sample)
    # A label is either taken whole or gets at least as much as any other label (water-filling).
    for label, n in counts.items():
        if n < SKEWED[label]:
            assert all(m <= n + 1 for m in counts.values()), counts
    if size >= len(SKEWED):
        assert set(counts) == set(SKEWED)  # every label kept, even the single one


def test_quotas_give_the_shares_rare_labels_cannot_use_to_the_others():
    assert balanced_quotas(SKEWED, 100) == {"common": 56, "medium": 40, "rare": 3, "single": 1}
    assert balanced_quotas(SKEWED, 60) == {"common": 28, "medium": 28, "rare": 3, "single": 1}
    assert balanced_quotas({"a": 5, "b": 5}, 3) in ({"a": 2, "b": 1}, {"a": 1, "b": 2})
    with pytest.raises(ValueError, match="size must be an integer >= 0, got -1"):
        balanced_quotas(SKEWED, -1)


def test_same_seed_same_sample_whatever_the_order_and_another_seed_differs():
    rows = history(SKEWED)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    first = class_balanced_sample(rows, 60, seed=7)
    assert class_balanced_sample(shuffled, 60, seed=7) == first
    assert class_balanced_sample(rows, 60, seed=8) != first


def test_the_policy_replays_a_multiple_of_the_new_examples_from_history():
    old, new = history(SKEWED), history({"common": 30, "rare": 10}, start=1000)
    policy = ReplayPolicy(ratio=0.5, minimum=4, seed=0)
    train = policy.training_set(new, old)
    assert len(train) == 40 + 20
    assert {e.event_id for e in new} <= {e.event_id for e in train}
    assert [e.seq for e in train] == sorted(e.seq for e in train)
    assert policy.size(2, 100) == 4 and policy.size(10, 3) == 3
    assert ReplayPolicy(ratio=None).size(1, 500) == 500


@pytest.mark.parametrize(("ratio", "minimum", "field"), [(-1.0, 0, "replay_ratio"), (float("inf"), 0, "replay_ratio"),
                                                         (True, 0, "replay_ratio"), (0.5, -2, "replay_min")])
def test_bad_policies_are_refused_naming_the_field(ratio, minimum, field):
    with pytest.raises(ValueError, match=field):
        ReplayPolicy(ratio, minimum)


def test_the_bounded_split_trains_on_new_plus_replay_and_judges_on_the_whole_history():
    old, new = history({"a": 300, "b": 300}), history({"a": 40, "b": 40}, start=5000)
    whole = DataSplit(old[:250] + old[310:] + new[8:], old[250:310] + new[:4], old[:5] + new[4:8])
    config = CycleConfig(replay_ratio=1.0, replay_min=0, max_validation=30, max_test=1000)
    split, fresh, replayed = bounded_split(whole, seen_seq=600, config=config)
    assert fresh == 72 and replayed == 72 and len(split.train) == 144
    assert Counter(e.target for e in split.train if e.seq <= 600) == {"a": 36, "b": 36}
    # Held-out rows: all of them (under the cap), old and new; validation capped, balanced, from both.
    assert split.test == whole.test
    assert len(split.validation) == 30 and Counter(e.target for e in split.validation) == {"a": 20, "b": 10}
    assert any(e.seq > 600 for e in split.validation) and any(e.seq <= 600 for e in split.validation)
    # Without a champion everything is new: the whole history trains.
    split, fresh, replayed = bounded_split(whole, seen_seq=0, config=config)
    assert (fresh, replayed, len(split.train)) == (612, 0, 612)
