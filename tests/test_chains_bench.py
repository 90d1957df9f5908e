"""bench/chains.py's pure parts: the few-shot sampling and the target verdict."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.chain_settings import main as screen_main
from bench.chain_settings import parse_setting
from bench.chains import PAIR_SETS, TARGET_GAIN, _sample, chains_configs, select_pairs, split_pool, verdict, verdict_lines
from tests.fixtures.cli import refused
from tuner.chains import child_config
from tuner.cycle.config import CycleConfig, default_train_config
from tuner.data import Example


def row(pair: str, n: int, gain: float, room: float = 0.1) -> dict:
    """A chains row: ``gain`` over a scratch of 0.8, ``room`` between scratch and all the child's data."""
    return {"pair": pair, "per_label": n, "gain": gain, "scratch": 0.8, "full_data": 0.8 + room}


def test_the_target_needs_the_gain_at_5_and_10_per_label_on_every_pair():
    good = [row("a", 5, 0.05), row("a", 10, TARGET_GAIN), row("a", 25, -0.02), row("b", 5, 0.04), row("b", 10, 0.09)]
    check = verdict(good)
    assert {k: check[k] for k in ("target_gain", "sizes", "min_gain", "met")} == {
        "target_gain": TARGET_GAIN, "sizes": [5, 10], "min_gain": TARGET_GAIN, "met": True}
    bad = good[:-1] + [row("b", 10, 0.029)]
    assert verdict(bad)["met"] is False and verdict(bad)["min_gain"] == 0.029
    assert verdict([row("a", 25, 0.2)])["met"] is False  # no row at the target sizes proves nothing


def test_the_verdict_says_per_size_how_often_and_where_there_was_room():
    rows = [row("a", 5, 0.05), row("b", 5, 0.01, room=0.01), row("c", 5, 0.02, room=0.05),
            row("a", 10, -0.01), row("b", 10, 0.04, room=0.02)]
    per_size = verdict(rows)["per_size"]
    assert per_size["5"] == {"pairs": 3, "mean_gain": (0.05 + 0.01 + 0.02) / 3, "pairs_met": 1,
                             "pairs_with_room": 2, "pairs_with_room_met": 1, "pairs_out_of_reach": 0,
                             "worst_gain": 0.01}
    # b at 10 met the gain without the room for it (all its data is 2 points over scratch).
    assert per_size["10"]["pairs_met"] == 1 and per_size["10"]["pairs_with_room"] == 1
    assert per_size["10"]["pairs_with_room_met"] == 0 and per_size["10"]["worst_gain"] == -0.01


def test_the_verdict_in_words_says_what_a_run_without_the_target_sizes_cannot_judge():
    # A --sizes 25 run crashed here on formatting a missing smallest gain, after every pair had trained.
    assert verdict_lines(verdict([row("a", 25, 0.004)])) == [
        f"target: warm start >= scratch + {TARGET_GAIN:.2f} at [5, 10] per label -> not judged (no row at [5, 10] per label in this run)"]
    lines = verdict_lines(verdict([row("a", 5, 0.05), row("a", 25, 0.0)]))
    assert lines[0].endswith("NOT met (smallest gain +0.050)")  # nothing at 10 per label: not met
    assert lines[1].startswith("  5/label: met on 1 of 1 pairs") and lines[2] == "  10/label: not run"


def test_the_verdict_counts_pairs_no_accuracy_could_meet():
    # Scratch at 0.975: winning 3 points would take 1.005; at exactly 0.97 it takes every row right.
    rows = [dict(row("a", 10, 0.001), scratch=0.975), dict(row("b", 10, 0.01), scratch=0.97), row("c", 10, 0.05)]
    assert verdict(rows)["per_size"]["10"]["pairs_out_of_reach"] == 1
    assert verdict(rows)["met"] is False


def test_sampling_takes_at_most_n_per_label_reproducibly():
    examples = [Example(f"e{i}", f"text {i}", f"l{i % 3}") for i in range(30)]
    picked = _sample(examples, 4, seed=1)
    assert sorted(e.target for e in picked) == ["l0"] * 4 + ["l1"] * 4 + ["l2"] * 4
    assert picked == _sample(examples, 4, seed=1) and picked != _sample(examples, 4, seed=2)
    assert _sample(examples, None, seed=1) == examples and len(_sample(examples, 50, seed=0)) == 30


def test_a_screen_setting_names_its_start_and_its_changes():
    configs = chains_configs()
    start, config = parse_setting("warm:e=10:s=0.3", configs)
    assert start == "warm" and config == child_config(replace(configs.parent_rate, epochs=10, child_lr_scale=0.3))
    assert parse_setting("scratch", configs) == ("scratch", configs.scratch)
    assert parse_setting("warm", configs) == ("warm", configs.warm)
    assert parse_setting("warm:steps=0", configs)[1].max_steps == 0
    assert parse_setting("scratch:b=16", configs)[1].batch_size == 16
    assert parse_setting("scratch:hl=0.02:ls=0.2", configs)[1] == replace(configs.scratch, head_lr=0.02, label_smoothing=0.2)


@pytest.mark.parametrize("spec, names", [
    ("cold", "start"), ("warm:x=1", "key=value"), ("warm:e=", "key=value"), ("warm:e=three", "e must be a whole number"),
])
def test_a_bad_screen_setting_is_refused_naming_what(spec: str, names: str):
    with pytest.raises(ValueError, match=names):
        parse_setting(spec, chains_configs())


def test_a_screen_setting_out_of_range_is_refused_by_the_config():
    with pytest.raises(ValueError, match="child_lr_scale"):
        parse_setting("warm:s=2", chains_configs())


def test_only_picks_pairs_by_name_and_refuses_an_unknown_one():
    assert [p.name for p in select_pairs("small", "home>utility")] == ["home>utility"]
    assert select_pairs("small", None) == PAIR_SETS["small"]
    with pytest.raises(ValueError, match=r"--only: no pair \['nope'\] in --pairs small"):
        select_pairs("small", "home>utility,nope")


@pytest.mark.parametrize("argv, message", [
    (["--settings", "warm,cold"], "--settings 'cold': start must be one of"),
    (["--only", "nope"], "--only: no pair ['nope'] in --pairs rotation"),
])
def test_the_screen_refuses_bad_arguments_before_anything_loads(argv, message, tmp_path, capsys):
    out = tmp_path / "chain_settings.json"
    assert message in refused(screen_main, [*argv, "--out", str(out)], out, capsys)


def test_the_table_trains_each_start_as_a_cycle_would():
    cycle = CycleConfig(train=replace(default_train_config(), progress=False))
    configs = chains_configs()
    assert configs.scratch == cycle.train_config(warm_start=False)
    assert configs.parent_rate == cycle.train_config(warm_start=True, from_parent=True)
    assert configs.warm == child_config(configs.parent_rate)
    assert configs.warm.head_lr == configs.scratch.head_lr * configs.scratch.child_lr_scale
    assert configs.warm.schedule == cycle.continue_schedule != configs.scratch.schedule


def test_the_childs_pool_never_holds_a_row_the_parent_trains_on():
    examples = [Example(f"e{i}", f"text {i}", f"l{i % 4}") for i in range(40)]
    parent, child = split_pool(examples, {"l0", "l1"}, seed=3)
    assert not {e.event_id for e in parent} & {e.event_id for e in child}
    assert sorted(e.event_id for e in parent + child) == sorted(e.event_id for e in examples)
    assert all(e.target in {"l0", "l1"} for e in child)
    assert [sum(e.target == label for e in child) for label in ("l0", "l1")] == [5, 5]
    assert sum(e.target in {"l2", "l3"} for e in parent) == 20  # labels the child lacks: all the parent's
    assert split_pool(examples, {"l0", "l1"}, seed=3) == (parent, child) != split_pool(examples, {"l0", "l1"}, seed=4)
