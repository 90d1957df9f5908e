"""The same cycle on every executor registers the same adapters; failures are retried, then reported.

Real parts throughout: a tiny BERT, real DuckDB files, a spawned worker process, a local
Ray instance. The inline executor is the oracle. The log has a chain (disputes is a child
of billing, so its job waits for billing's) and an independent domain (cards).
"""

from __future__ import annotations

import re

import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from recsys.cycles import last_watermark
from recsys.domains import DomainRecord, upsert_domain
from recsys.events.log import append_interactions
from recsys.store import open_database
from tests.cycle_logs import FINE, STRUGGLING, DomainSpec, mixed_log
from tests.executor_faults import STARTED, always_raise, hang_on_first_attempt, raise_on_first_attempt
from tuner.cycle.config import CycleConfig
from tuner.cycle.running import CycleResult, Workspace, run_cycle
from tuner.executors.config import ExecutorConfig
from tuner.executors.inline import InlineExecutor
from tuner.executors.process import ProcessExecutor
from tuner.executors.ray import RayExecutor
from tuner.registry import AdapterRegistry

CHILD = DomainSpec("disputes", STRUGGLING.labels, 200, 0.9, tuple(f"d{i}" for i in range(10)))


def config_for(model_dir: Path, **overrides) -> CycleConfig:
    config = CycleConfig(base_model=str(model_dir), max_domains=3, min_examples=20, layer_budget=1.0)
    config = replace(config, train=replace(config.train, lr=5e-3, head_lr=1e-2, epochs=3, batch_size=16))
    return replace(config, **overrides)


def workspace_with_log(folder: Path, base, *, chain: bool = True) -> Workspace:
    folder.mkdir(parents=True, exist_ok=True)
    db = open_database(folder / "adaptune.duckdb")
    if chain:
        upsert_domain(db, DomainRecord("billing"))
        upsert_domain(db, DomainRecord("disputes", parent="billing"))
        append_interactions(db, mixed_log(CHILD, STRUGGLING, FINE))
    else:
        append_interactions(db, mixed_log(STRUGGLING, FINE))
    return Workspace(db, AdapterRegistry(db, folder / "adapters"), base, folder / "reports")


def registered(ws: Workspace) -> dict[tuple, dict[str, torch.Tensor]]:
    """(domain, version, status, parent, layers) -> the adapter's saved tensors."""
    rows = {}
    for r in ws.registry.list():
        tensors = {}
        for file in sorted(r.path.glob("*.safetensors")):
            tensors.update({f"{file.name}:{k}": v for k, v in load_file(file).items()})
        rows[(r.domain, r.version, r.status, r.parent_domain, r.parent_version, r.layers)] = tensors
    return rows


def assert_same_adapters(expected: dict, actual: dict) -> None:
    assert list(actual) == list(expected)
    for key in expected:
        assert sorted(actual[key]) == sorted(expected[key]) and expected[key], key
        for name, tensor in expected[key].items():
            assert torch.equal(actual[key][name], tensor), (key, name, (actual[key][name] - tensor).abs().max())


def stages(events) -> list[tuple[str, str]]:
    return [(e.stage, e.domain) for e in events if e.stage != "training"]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory, tiny_bert_dir, bert_classifier):
    """The inline cycle every other executor must match (one torch thread, as the workers use)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    ws = workspace_with_log(tmp_path_factory.mktemp("inline"), bert_classifier)
    events: list = []
    try:
        result = run_cycle(ws, config_for(tiny_bert_dir), emit=events.append, executor=ExecutorConfig(kind="inline"))
        yield result, registered(ws), events
    finally:
        torch.set_num_threads(threads)
        ws.db.close()


def run_elsewhere(tmp_path, base, model_dir, executor, **overrides) -> tuple[CycleResult, Workspace, list]:
    ws = workspace_with_log(tmp_path, base, chain=overrides.pop("chain", True))
    events: list = []
    result = run_cycle(ws, config_for(model_dir, **overrides), emit=events.append, executor=executor)
    return result, ws, events


def test_the_inline_oracle_trains_the_parent_before_its_child(oracle):
    result, adapters, _ = oracle
    assert [o.domain for o in result.outcomes] == ["billing", "cards", "disputes"]
    parent, kid = result.outcomes[0], result.outcomes[-1]
    assert parent.gate.promote, parent.gate.reason
    assert kid.warm_start == "billing/v0001" and result.summary["failed"] == []
    assert {k[0] for k in adapters} == {"billing", "cards", "disputes"}


@pytest.mark.parametrize("kind", ["process", "ray"])
def test_every_executor_registers_the_adapters_inline_registers(kind, oracle, tmp_path, tiny_bert_dir, bert_classifier, request):
    if kind == "ray":
        request.getfixturevalue("ray_local")
    expected_result, expected, expected_events = oracle
    result, ws, events = run_elsewhere(tmp_path, bert_classifier, tiny_bert_dir, ExecutorConfig(kind=kind))
    try:
        assert_same_adapters(expected, registered(ws))
        assert [o.gate.to_json() for o in result.outcomes] == [o.gate.to_json() for o in expected_result.outcomes]
        # Ray runs billing and cards side by side, so events may interleave; the child still
        # waited for its parent's candidate (it warm-started from it).
        assert sorted(stages(events)) == sorted(stages(expected_events))
        assert [o.warm_start for o in result.outcomes] == [None, None, "billing/v0001"]
        assert last_watermark(ws.db) == result.record.watermark_to == expected_result.record.watermark_to
        assert not (tmp_path / "cycle-snapshots" / result.cycle_id).exists()  # the snapshot is removed
    finally:
        ws.db.close()


def test_a_ray_task_that_fails_once_is_retried_by_ray(ray_local, tmp_path, tiny_bert_dir, bert_classifier):
    executor = RayExecutor(ExecutorConfig(kind="ray", max_retries=1), runner=raise_on_first_attempt)
    result, ws, _ = run_elsewhere(tmp_path, bert_classifier, tiny_bert_dir, executor, chain=False, max_domains=1)
    try:
        assert result.summary["failed"] == []
        assert [(r.domain, r.version, r.status) for r in ws.registry.list()] == [("billing", "v0001", "champion")]
    finally:
        ws.db.close()


def kill_the_worker_when_it_starts(executor: ProcessExecutor, snapshots: Path, killed: list) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        markers = list(snapshots.glob(f"*/{STARTED.format(domain='billing')}"))
        if markers and markers[0].read_text():
            pid = int(markers[0].read_text())
            assert pid in executor.worker_pids()
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.1)


def test_a_worker_killed_mid_job_is_replaced_and_the_job_retried(tmp_path, tiny_bert_dir, bert_classifier):
    executor = ProcessExecutor(ExecutorConfig(kind="process", max_retries=1), runner=hang_on_first_attempt)
    killed: list = []
    killer = threading.Thread(target=kill_the_worker_when_it_starts, args=(executor, tmp_path / "cycle-snapshots", killed))
    killer.start()
    result, ws, _ = run_elsewhere(tmp_path, bert_classifier, tiny_bert_dir, executor, chain=False, max_domains=1)
    killer.join()
    try:
        assert killed, "the worker never started the job"
        (billing,) = result.outcomes
        # The first attempt's error reaches the notes as an incident id (no exception class: #13);
        # the server log holds the detail under that id.
        assert re.fullmatch(r"succeeded at attempt 2 after: internal error \(incident [0-9a-f]+\); see the server log", billing.notes[-1])
        assert [(r.domain, r.version, r.status) for r in ws.registry.list()] == [("billing", "v0001", "champion")]
        assert sorted(p.name for p in (tmp_path / "adapters" / "billing").iterdir()) == ["v0001"]
    finally:
        ws.db.close()


def test_a_job_failing_every_attempt_is_reported_and_nothing_of_it_is_promoted(tmp_path, tiny_bert_dir, bert_classifier, caplog):
    executor = InlineExecutor(ExecutorConfig(kind="inline", max_retries=2), runner=always_raise)
    result, ws, events = run_elsewhere(tmp_path, bert_classifier, tiny_bert_dir, executor, chain=False, max_domains=1)
    try:
        assert result.outcomes == [] and ws.registry.list() == []
        (failure,) = result.summary["failed"]
        assert (failure["domain"], failure["attempts"]) == ("billing", 3)
        incident = re.fullmatch(r"internal error \(incident ([0-9a-f]+)\); see the server log", failure["error"]).group(1)
        assert any(incident in r.getMessage() and "injected failure for billing" in (r.exc_text or str(r.exc_info))
                   for r in caplog.records)
        assert ("skipped", "billing") in stages(events)
        assert result.record.status == "finished"  # the other domains (none here) still commit
        assert not (tmp_path / "adapters" / "billing").exists() or not any((tmp_path / "adapters" / "billing").iterdir())
    finally:
        ws.db.close()
