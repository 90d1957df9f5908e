"""Cycle settings and the nightly schedule: every bad value is named, good ones round-trip."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime, time

import pytest

from server.config import ServerConfig
from tests.fixtures.server import running_server
from server.scheduler import NightlyScheduler, next_run, parse_time_of_day
from tuner.architectures import MODULE_GROUPS
from tuner.config import TrainConfig
from tuner.cycle.config import LORA_GROUPS, TASKS, CycleConfig, CycleRequest
from tuner.cycle.errors import CycleBusyError
from tuner.cycle.progress import CycleEvent
from tuner.loading import TASKS as LOADING_TASKS


def test_torch_free_copies_match_the_tuner():
    assert LORA_GROUPS == MODULE_GROUPS and TASKS == LOADING_TASKS


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_domains", 0, "max_domains must be an integer in 1..100, got 0"),
        ("max_domains", True, "max_domains must be an integer in 1..100, got True"),
        ("min_examples", 0, "min_examples must be an integer >= 1, got 0"),
        ("layer_budget", 0.0, r"layer_budget must be a number in \(0, 1\], got 0.0"),
        ("layer_budget", 1.5, r"layer_budget must be a number in \(0, 1\], got 1.5"),
        ("layer_budget", float("nan"), r"layer_budget must be a number in \(0, 1\], got nan"),
        ("margin", 1.0, r"margin must be a number in \[0, 1\), got 1.0"),
        ("margin", -0.1, r"margin must be a number in \[0, 1\), got -0.1"),
        ("significance", 1.0, r"significance must be a number in \[0, 1\), got 1.0"),
        ("significance", -0.05, r"significance must be a number in \[0, 1\), got -0.05"),
        ("audit_bound", 2, r"audit_bound must be a number in \[0, 1\], got 2"),
        ("audit_min_group", 0, "audit_min_group must be an integer >= 1, got 0"),
        ("test", 0.0, r"test must be a number in \(0, 1\), got 0.0"),
        ("validation", 0.9, r"validation \+ test must be < 1, got 0.9 \+ 0.2"),
        ("task", "translation", "task must be one of \\['classification', 'generation'\\], got 'translation'"),
        ("base_model", " ", "base_model must be a catalog name or a checkpoint folder, got ' '"),
        ("groups", ("attention", "ffn"), "groups must be distinct values from \\['attention', 'mlp'\\], got \\['attention', 'ffn'\\]"),
        ("groups", (), "groups must be distinct values"),
        ("audit_attributes", ("region", "region"), "audit_attributes must be distinct attribute names"),
        ("audit_attributes", ("bad name",), "audit_attributes must be distinct attribute names, got \\['bad name'\\]"),
        ("domains", ("Banking",), "domains 'Banking' is invalid"),
        ("domains", ("a", "a"), "domains lists a domain twice"),
        ("dry_run", "yes", "dry_run must be a bool, got 'yes'"),
        ("cold_start_all_epochs", 1, "cold_start_all_epochs must be a bool, got 1"),
        ("train", {"epochs": 1}, "train must be a TrainConfig, got dict"),
        ("probe_examples", 0, "probe_examples must be an integer >= 1, got 0"),
        ("replay_ratio", -0.5, r"replay_ratio must be a number in \[0, inf\], got -0.5"),
        ("replay_ratio", float("nan"), r"replay_ratio must be a number in \[0, inf\], got nan"),
        ("replay_min", -1, "replay_min must be an integer >= 0, got -1"),
        ("max_validation", 0, "max_validation must be an integer >= 1, got 0"),
        ("max_test", 1.5, "max_test must be an integer >= 1, got 1.5"),
        ("continue_schedule", "step", "continue_schedule must be one of \\['constant', 'linear', 'cosine'\\], got 'step'"),
        ("continue_warmup", 1.0, r"continue_warmup must be a number in \[0, 1\), got 1.0"),
        ("continue_lr_scale", 0.0, r"continue_lr_scale must be a number in \(0, 1\], got 0.0"),
        ("continue_lr_scale", 1.5, r"continue_lr_scale must be a number in \(0, 1\], got 1.5"),
        ("continue_epochs", -1, "continue_epochs must be an integer >= 0, got -1"),
        ("continue_epochs", 1.5, "continue_epochs must be an integer >= 0, got 1.5"),
        ("continue_select_start", 1, "continue_select_start must be a bool, got 1"),
        ("continue_label_smoothing", 1.0, r"continue_label_smoothing must be a number in \[0, 1\), got 1.0"),
        ("continue_label_smoothing", -0.1, r"continue_label_smoothing must be a number in \[0, 1\), got -0.1"),
        ("continue_label_smoothing", "0.1", r"continue_label_smoothing must be a number in \[0, 1\), got '0.1'"),
        ("continue_significance", 1.0, r"continue_significance must be a number in \[0, 1\), got 1.0"),
        ("continue_significance", -0.2, r"continue_significance must be a number in \[0, 1\), got -0.2"),
        ("continue_significance", True, r"continue_significance must be a number in \[0, 1\), got True"),
    ],
)
def test_bad_cycle_config_values_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        CycleConfig(**{field: value})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_domains", 0, "max_domains must be an integer in 1..100, got 0"),
        ("min_examples", -3, "min_examples must be an integer >= 1, got -3"),
        ("layer_budget", 1.01, r"layer_budget must be a number in \(0, 1\], got 1.01"),
        ("domains", ("ok", "NOT ok"), "domains 'NOT ok' is invalid"),
        ("dry_run", 1, "dry_run must be a bool, got 1"),
    ],
)
def test_bad_cycle_requests_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        CycleRequest(**{field: value})


def test_a_request_overrides_only_what_it_sets():
    config = CycleConfig(max_domains=3, layer_budget=0.5, min_examples=20)
    merged = config.merged(CycleRequest(max_domains=1, dry_run=True, domains=("billing",)))
    assert (merged.max_domains, merged.layer_budget, merged.min_examples) == (1, 0.5, 20)
    assert merged.dry_run and merged.domains == ("billing",)
    assert config.merged(CycleRequest()) == replace(config, dry_run=False)


def test_config_round_trips_through_json_and_refuses_unknown_keys(tmp_path):
    config = CycleConfig(max_domains=2, audit_attributes=("region", "plan"), train=TrainConfig(epochs=7, progress=False))
    path = tmp_path / "cycle.json"
    path.write_text(json.dumps(config.to_json()))
    assert CycleConfig.from_file(path) == config
    # A partial train section keeps the cycle's training defaults for the rest.
    partial = CycleConfig.from_json({"train": {"epochs": 9}})
    assert partial.train.epochs == 9 and partial.train.batch_size == CycleConfig().train.batch_size
    with pytest.raises(ValueError, match=r"unknown CycleConfig fields \['max_domain'\]"):
        CycleConfig.from_json({"max_domain": 2})
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['epoch'\]"):
        CycleConfig.from_json({"train": {"epoch": 2}})
    path.write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        CycleConfig.from_file(path)
    with pytest.raises(ValueError, match="does not exist"):
        CycleConfig.from_file(tmp_path / "missing.json")


def test_events_name_their_stage():
    with pytest.raises(ValueError, match="stage must be one of .* got 'trained'"):
        CycleEvent("c1", "trained")


@pytest.mark.parametrize("text", ["2:00", "24:00", "02:60", "0200", "", "noon"])
def test_bad_nightly_times_are_named(text):
    with pytest.raises(ValueError, match=f"nightly_at must be a local time HH:MM .*got {text!r}"):
        parse_time_of_day(text)
    with pytest.raises(ValueError, match="nightly_at must be a local time HH:MM"):
        ServerConfig(nightly_at=text)


def test_next_run_is_the_next_occurrence_strictly_after_now():
    at = parse_time_of_day("02:00")
    assert at == time(2, 0)
    assert next_run(datetime(2026, 3, 1, 1, 59), at) == datetime(2026, 3, 1, 2, 0)
    assert next_run(datetime(2026, 3, 1, 2, 0), at) == datetime(2026, 3, 2, 2, 0)
    assert next_run(datetime(2026, 12, 31, 23, 0), at) == datetime(2027, 1, 1, 2, 0)


def test_the_scheduler_runs_once_when_due_and_survives_a_busy_or_failing_night():
    calls = []
    outcomes = iter([None, CycleBusyError("cycle-x"), RuntimeError("boom"), None])

    def run():
        calls.append(1)
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    scheduler = NightlyScheduler(time(2, 0), run, clock=lambda: datetime(2026, 3, 1, 12, 0))
    assert scheduler.due == datetime(2026, 3, 2, 2, 0)
    assert not scheduler.tick(datetime(2026, 3, 2, 1, 59))
    for day in (2, 3, 4, 5):
        assert scheduler.tick(datetime(2026, 3, day, 2, 0, 30))
        assert not scheduler.tick(datetime(2026, 3, day, 2, 1))  # not twice the same night
        assert scheduler.due == datetime(2026, 3, day + 1, 2, 0)
    assert len(calls) == 4 and scheduler.runs == 4


def test_the_scheduler_thread_runs_a_due_cycle_and_stops():
    ran = threading.Event()
    clock = iter([datetime(2026, 3, 1, 1, 0)] + [datetime(2026, 3, 1, 2, 0, 5)] * 10_000)
    scheduler = NightlyScheduler(time(2, 0), ran.set, clock=lambda: next(clock))
    scheduler.start()
    try:
        assert ran.wait(10), "the due cycle did not run"
    finally:
        scheduler.stop()
    assert scheduler.runs == 1 and scheduler.due == datetime(2026, 3, 2, 2, 0)


def test_a_server_with_a_nightly_schedule_starts_and_stops_it(tmp_path):
    config = ServerConfig(db_path=tmp_path / "nightly.duckdb", port=0, grace_seconds=1.0, nightly_at="02:00",
                          adapters_dir=tmp_path / "adapters", reports_dir=tmp_path / "reports")
    with running_server(config) as server:
        assert server.client.list_cycles() == []
        assert [t for t in threading.enumerate() if t.name == "adaptune-nightly"]
    assert not [t for t in threading.enumerate() if t.name == "adaptune-nightly"]


def test_a_warm_started_candidate_gets_the_continuing_schedule_at_the_scaled_rates():
    config = CycleConfig(continue_lr_scale=0.25)
    fresh, continued = config.train_config(False), config.train_config(True)
    # A cold start trains as configured, every epoch run (its imprinted head dips, then recovers).
    assert fresh == replace(config.train, min_epochs=float(config.train.epochs))
    assert CycleConfig(cold_start_all_epochs=False).train_config(False) == config.train
    assert (continued.schedule, continued.warmup) == (config.continue_schedule, config.continue_warmup)
    assert continued.lr == pytest.approx(config.train.lr * 0.25)
    assert continued.head_lr == pytest.approx(config.train.head_lr * 0.25)
    assert CycleConfig().train_config(True).lr == pytest.approx(config.train.lr * 0.5)  # half the rates by default
    # Every one of its continue_epochs passes runs: patience may not stop it before the end.
    assert (continued.epochs, continued.min_epochs) == (config.continue_epochs, float(config.continue_epochs))
    child = config.train_config(True, from_parent=True)  # a child's first candidate: only new rows
    assert (child.epochs, child.min_epochs, child.schedule) == (config.train.epochs, config.train.min_epochs, "cosine")
    # ... at the cold start's rates: a child's own scale (child_lr_scale) applies on top, not this one.
    assert (child.lr, child.head_lr) == (config.train.lr, config.train.head_lr)
    # Its start was selected on these validation rows: it may not be kept on them (the gate judges it).
    assert fresh.select_start and child.select_start and not continued.select_start
    assert CycleConfig(continue_select_start=True).train_config(True).select_start
    kept = CycleConfig(continue_epochs=0).train_config(True)
    assert (kept.epochs, kept.min_epochs, kept.patience) == (config.train.epochs, config.train.min_epochs, config.train.patience)


def test_a_warm_started_candidate_may_have_its_own_label_smoothing():
    cold = CycleConfig().train
    inherited = CycleConfig().train_config(True)
    assert inherited.label_smoothing == cold.label_smoothing  # None: the cold start's
    config = CycleConfig(continue_label_smoothing=0.05)
    assert config.train_config(False).label_smoothing == cold.label_smoothing
    assert config.train_config(True).label_smoothing == 0.05
    assert config.train_config(True, from_parent=True).label_smoothing == 0.05
    assert CycleConfig.from_json(config.to_json()) == config
