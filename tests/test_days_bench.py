"""bench/days.py's target check on hand-made rows."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest
from PIL import Image

from bench.days import cycle_config, gold_labels, main, only_groups, plot, targets
from tests.fixtures.cli import refused
from tuner.config import DEFAULT_MAX_LENGTH
from recsys.datasets import clinc150
from recsys.events.model import Feedback
from recsys.traffic import TrafficConfig, simulate_clinc_traffic
from tuner.cycle.config import CycleConfig


def day(n: int, accuracy: float, ceiling: float | None, cycle_s: float | None = 10.0) -> dict:
    return {"day": n, "accuracy": accuracy, "ceiling_accuracy": ceiling, "cycle_s": cycle_s}


def test_twelve_rows_in_twelve_hundred_under_the_ceiling_is_within_one_point():
    rows = [day(0, 0.8, None, None), day(1, 1153 / 1200, 0.975), day(2, 1153 / 1200, 1165 / 1200, 14.0)]
    check = targets(rows)
    assert check["last_gap_to_ceiling"] == 0.01 and check["last_within_1pt_of_ceiling"] is True
    assert check["last_over_first_cycle_s"] == 1.4 and check["cost_within_1.5x"] is True
    # Day 1 was 1.4 points under its ceiling, so day 2 had to rise.
    assert check["rises_while_more_than_1pt_under_ceiling"] is False and check["never_falls"] is True


def test_a_flat_day_within_a_point_of_the_ceiling_is_allowed_and_a_fall_is_not():
    rows = [day(0, 0.8, None, None), day(1, 0.95, 0.955), day(2, 0.95, 0.96), day(3, 0.96, 0.965, 16.0)]
    check = targets(rows)
    assert check["rises_while_more_than_1pt_under_ceiling"] is True and check["never_falls"] is True
    assert check["cost_within_1.5x"] is False
    fell = targets(rows[:-1] + [day(3, 0.949, 0.955)])
    assert fell["never_falls"] is False and fell["last_within_1pt_of_ceiling"] is True


def test_without_a_ceiling_the_ceiling_targets_are_not_measured():
    rows = [day(0, 0.8, None, None), day(1, 0.9, None), day(2, 0.9, None, 12.0)]
    check = targets(rows)
    assert check["rises_while_more_than_1pt_under_ceiling"] is None
    assert check["last_gap_to_ceiling"] is None and check["last_within_1pt_of_ceiling"] is None
    assert check["never_falls"] is True and check["last_over_first_cycle_s"] == 1.2


def ablation_args(**overrides) -> argparse.Namespace:
    names = ("label_smoothing", "continue_label_smoothing", "replay_ratio", "min_epochs", "schedule", "eval_share", "continue_lr_scale", "continue_epochs", "max_length", "head_lr",
             "layer_budget", "continue_significance", "escalation_error_rate")
    values = {name: None for name in names} | {"warmup": 0.0, "no_spread_replay": False, "no_escalation": False,
                                                "keep_start": False, "no_imprint": False, "no_anchor_evidence": False, "no_rejections": False,
                                                "cold_start_patience": False, "model": "minilm-l6"}
    return argparse.Namespace(**(values | overrides))


def test_the_max_length_ablation_cuts_inputs_where_the_default_keeps_them():
    assert cycle_config(ablation_args()).train.max_length == DEFAULT_MAX_LENGTH
    cut = cycle_config(ablation_args(max_length=32))
    assert cut.train.max_length == 32 and cut.train_config(True).max_length == 32  # warm starts cut alike


def test_the_schedule_ablation_changes_the_cold_start_only():
    default = cycle_config(ablation_args())
    cosine = cycle_config(ablation_args(schedule="cosine", warmup=0.1))
    assert (default.train.schedule, default.train.warmup) == ("constant", 0.0)
    assert (cosine.train.schedule, cosine.train.warmup) == ("cosine", 0.1)
    # A continued candidate has its own schedule whatever the cold start's.
    assert cosine.train_config(True).schedule == default.train_config(True).schedule == default.continue_schedule


def test_the_imprint_ablation_starts_new_heads_from_the_names():
    assert cycle_config(ablation_args()).train.imprint_new_labels
    names = cycle_config(ablation_args(no_imprint=True))
    assert not names.train.imprint_new_labels and not names.train_config(True).imprint_new_labels


def test_the_head_rate_ablation_sets_the_cold_start_s_and_scales_the_continued_one():
    default, fast = cycle_config(ablation_args()), cycle_config(ablation_args(head_lr=5e-3))
    assert default.train.head_lr == 5e-4 and fast.train.head_lr == 5e-3 and fast.train.lr == default.train.lr
    assert fast.train_config(True).head_lr == pytest.approx(5e-3 * fast.continue_lr_scale)


def test_the_layer_budget_ablation_sets_the_cycle_s_budget_and_nothing_else():
    default, wide = cycle_config(ablation_args()), cycle_config(ablation_args(layer_budget=0.7))
    assert wide.layer_budget == 0.7 and default.layer_budget == CycleConfig().layer_budget
    assert replace(wide, layer_budget=default.layer_budget) == default


def test_the_escalation_error_rate_ablation_sets_the_rate_and_the_default_keeps_the_cycles():
    assert cycle_config(ablation_args()).escalation_error_rate == CycleConfig().escalation_error_rate
    assert cycle_config(ablation_args(escalation_error_rate=0.01)).escalation_error_rate == 0.01


def test_the_continue_significance_ablation_sets_the_level_or_falls_back_to_the_significance():
    default = cycle_config(ablation_args())
    assert default.continue_significance == CycleConfig().continue_significance
    assert cycle_config(ablation_args(continue_significance=0.1)).continue_significance == 0.1
    assert cycle_config(ablation_args(continue_significance=-1.0)).continue_significance is None


def test_the_rejections_ablation_stops_training_on_rejected_answers_and_nothing_else():
    assert cycle_config(ablation_args()).learn_from_rejections is True
    off = cycle_config(ablation_args(no_rejections=True))
    assert off.learn_from_rejections is False and replace(off, learn_from_rejections=True) == cycle_config(ablation_args())


def test_the_anchor_ablation_turns_evidence_across_nights_off():
    assert cycle_config(ablation_args()).anchor_evidence is True
    off = cycle_config(ablation_args(no_anchor_evidence=True))
    assert off.anchor_evidence is False and replace(off, anchor_evidence=True) == cycle_config(ablation_args())


def test_a_cold_start_runs_all_its_epochs_unless_an_ablation_lets_patience_stop_it():
    default = cycle_config(ablation_args())
    assert default.train_config(False).min_epochs == default.train.epochs
    for args in (ablation_args(cold_start_patience=True), ablation_args(min_epochs=1.0)):
        assert cycle_config(args).train_config(False).min_epochs == 1.0


@pytest.mark.parametrize("argv, message", [
    (["--warmup", "0.1"], "--warmup shapes the --schedule ablation"),
    (["--schedule", "cosine", "--warmup", "1.5"], "--warmup must be in [0, 1)"),
    (["--schedule", "sawtooth"], "invalid choice: 'sawtooth'"),
    (["--max-length", "0"], "--max-length must be >= 1, got 0"),
    (["--head-lr", "0"], "--head-lr must be in (0, 1), got 0.0"),
    (["--layer-budget", "0"], "--layer-budget must be in (0, 1], got 0.0"),
    (["--layer-budget", "1.5"], "--layer-budget must be in (0, 1], got 1.5"),
    (["--continue-significance", "1"], "--continue-significance must be under 1, got 1.0"),
    (["--escalation-error-rate", "-0.1"], "--escalation-error-rate must be in [0, 1], got -0.1"),
    (["--escalation-error-rate", "2"], "--escalation-error-rate must be in [0, 1], got 2.0"),
    (["--escalation-error-rate", "nan"], "--escalation-error-rate must be in [0, 1], got nan"),
    (["--tail-ratio", "0.5"], "--tail-ratio must be a finite number >= 1, got 0.5"),
    (["--tail-ratio", "inf"], "--tail-ratio must be a finite number >= 1, got inf"),
    (["--tail-ratio", "5", "--traffic", "repeats"], "--tail-ratio draws each day's distinct queries; it needs --traffic distinct"),
    (["--correction-rate", "0"], "--correction-rate must be in (0, 1], got 0.0"),
    (["--correction-rate", "1.2"], "--correction-rate must be in (0, 1], got 1.2"),
])
def test_bad_schedule_ablations_are_named_before_anything_loads(argv, message, tmp_path, capsys):
    out = tmp_path / "days.json"
    assert message in refused(main, [*argv, "--out", str(out)], out, capsys)


def test_the_plot_stacks_its_panels_when_many_arms_need_legend_room(tmp_path):
    rows = [day(0, 0.8, None, None), day(1, 0.9, 0.92), day(2, 0.93, None, 12.0)]
    split = lambda label: {"intents_seed": 0, "label": label, "rows": rows}  # noqa: E731
    plot([split("one domain")], tmp_path / "one.png", "one")
    plot([split(f"arm {i}, a variant with a long description of what it changes") for i in range(3)],
         tmp_path / "three.png", "three")
    one, three = Image.open(tmp_path / "one.png").size, Image.open(tmp_path / "three.png").size
    assert one[0] > one[1]  # side by side: wider than tall
    assert three[1] > one[1] * 1.5  # one above the other: about twice as tall


def test_uncorrected_wrong_answers_keep_their_true_intent_for_the_ceiling_and_the_pool():
    rows = [clinc150.LabeledText(f"query {i}", f"intent_{i % 4}", "assistant") for i in range(40)]
    pool = clinc150.Clinc150({"assistant": [f"intent_{i}" for i in range(4)]}, rows, [], [])
    config = TrafficConfig(n_users=5, n_events=40, n_segments=1, domains_per_segment=1, correction_rate=0.5, seed=3)
    events = simulate_clinc_traffic(pool, config, answer=lambda texts, domain: ["intent_0"] * len(texts))
    kinds = {e.feedback for e in events}
    assert kinds == {Feedback.POSITIVE, Feedback.CORRECTED, Feedback.NEGATIVE}
    truth = {row.text: row.intent for row in rows}
    assert gold_labels(pool, events) == [truth[e.input_text] for e in events]


def test_groups_cut_every_split_to_those_domains_intents_and_nothing_else():
    domains = {"banking": ["balance", "transfer"], "travel": ["book_flight"], "home": ["reminder"]}
    rows = lambda tag: [clinc150.LabeledText(f"{tag} {intent}", intent, group)  # noqa: E731
                        for group, intents in domains.items() for intent in intents]
    data = clinc150.Clinc150(domains, rows("train"), rows("val"), rows("test"))
    cut = only_groups(data, ["banking", "home"])
    assert cut.domains == {"banking": ["balance", "transfer"], "home": ["reminder"]}
    for split in (cut.train, cut.val, cut.test):
        assert [row.intent for row in split] == ["balance", "transfer", "reminder"]
    with pytest.raises(ValueError, match=r"--groups: sports not among CLINC150's domains \(banking, home, travel\)"):
        only_groups(data, ["banking", "sports"])


def test_groups_set_the_intents_so_an_intent_count_beside_them_is_refused(tmp_path, capsys):
    out = tmp_path / "days.json"
    message = refused(main, ["--groups", "banking", "--intents", "5", "--out", str(out)], out, capsys)
    assert "--groups sets the intents (all of those domains'); leave out --intents" in message


def test_groups_are_refused_on_an_intent_set_of_ones_own(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    for split in ("train", "test"):
        (folder / f"{split}.csv").write_text("text,label\nhow much is left,balance\nsend money,transfer\n")
    out = tmp_path / "days.json"
    message = refused(main, ["--data", str(folder), "--groups", "banking", "--out", str(out)], out, capsys)
    assert "--groups names CLINC150's domains; --data holds another set" in message


def test_an_unknown_group_is_refused_by_name_before_anything_runs(tmp_path, capsys):
    from tests.test_zero_shot_bench import tiny_clinc

    out = tmp_path / "days.json"
    message = refused(main, ["--data", str(tiny_clinc(tmp_path / "clinc")), "--groups", "banking", "sports",
                             "--out", str(out)], out, capsys)
    assert "--groups: sports not among CLINC150's domains (banking)" in message
