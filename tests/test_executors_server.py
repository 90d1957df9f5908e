"""The server's cycles run their jobs in a spawned worker (by default); a run may ask for another.

Real server on 127.0.0.1 (port 0), real DuckDB file, tiny BERT.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace

import grpc
import pytest

from recsys.cycles import list_cycles
from server._proto.adaptune.v1 import tuning_pb2 as pb
from server._proto.adaptune.v1 import tuning_pb2_grpc as pb_grpc
from server.cli import main as cli_main
from tests.cycle_logs import FINE, STRUGGLING, domain_events, mixed_log
from tuner.cycle.config import CycleConfig, CycleRequest
from tuner.executors.config import ExecutorConfig


def settings(tmp_path, model_dir, **overrides) -> dict:
    config = CycleConfig(base_model=str(model_dir), max_domains=1, min_examples=20)
    config = replace(config, train=replace(config.train, lr=5e-3, head_lr=1e-2, epochs=3, batch_size=16))
    return {"cycle": config, "adapters_dir": tmp_path / "adapters", "reports_dir": tmp_path / "reports", **overrides}


@pytest.fixture
def process_server(server_factory, tmp_path, tiny_bert_dir):
    server = server_factory(**settings(tmp_path, tiny_bert_dir))
    assert server.config.executor.kind == "process"  # the server's default
    assert server.client.log_interactions(mixed_log(STRUGGLING, FINE)).accepted == 320
    return server


def test_the_server_ingests_while_a_worker_process_trains(process_server):
    planned, events, acknowledged_before_finish = threading.Event(), [], []

    def run() -> None:
        with process_server.connect() as client:
            for event in client.stream_cycle():
                events.append(event)
                if event.stage == "planned":
                    planned.set()

    cycle = threading.Thread(target=run)
    cycle.start()
    assert planned.wait(300)
    later = domain_events(STRUGGLING, seed=1, prefix="during")
    for event in later[:40]:
        assert process_server.client.log_interaction(event).accepted == 1
        if not any(e.stage == "finished" for e in events):
            acknowledged_before_finish.append(event.event_id)
    cycle.join(600)

    finished = events[-1]
    assert finished.stage == "finished" and finished.summary["promoted"] == ["billing"]
    assert acknowledged_before_finish  # calls were answered while the cycle ran
    (job,) = finished.summary["jobs"]
    assert job["domain"] == "billing" and int(job["worker"].rsplit(":", 1)[1]) != os.getpid()
    stored = process_server.db.cursor().execute("SELECT count(*) FROM interactions WHERE event_id LIKE 'during%'").fetchone()
    assert stored == (40,)
    assert finished.summary["window"] == [0, 320]  # events logged meanwhile wait for the next cycle


def test_a_run_may_ask_for_the_inline_executor(process_server):
    with process_server.connect() as client:
        finished = client.run_cycle(executor="inline")
    (job,) = finished.summary["jobs"]
    assert int(job["worker"].rsplit(":", 1)[1]) == os.getpid()  # the in-process server ran it itself
    (cycle,) = process_server.client.list_cycles()
    assert cycle.status == "finished"


@pytest.mark.parametrize(
    "fields, name",
    [({"executor": "spark"}, "executor"), ({"executor": "ray", "ray_address": "nowhere"}, "ray_address"),
     ({"ray_address": "auto"}, "ray_address")],
)
def test_a_bad_executor_request_is_refused_naming_the_field_and_starts_nothing(process_server, fields, name):
    channel = grpc.insecure_channel(process_server.address)
    try:
        with pytest.raises(grpc.RpcError) as caught:
            list(pb_grpc.TuningServiceStub(channel).RunCycle(pb.RunCycleRequest(**fields)))
    finally:
        channel.close()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and name in caught.value.details()
    assert list_cycles(process_server.db) == []
    with pytest.raises(ValueError, match=name):
        CycleRequest(**fields)


def test_the_cycle_cli_refuses_an_unknown_executor(process_server, capsys):
    code = cli_main(["cycle", "--address", process_server.address, "--executor", "threads"])
    assert code != 0 and "executor must be one of" in capsys.readouterr().err
    assert list_cycles(process_server.db) == []


def test_the_server_config_refuses_a_non_executor_config():
    from server.config import ServerConfig

    with pytest.raises(ValueError, match="executor must be an ExecutorConfig"):
        ServerConfig(executor="process")  # type: ignore[arg-type]
    assert ServerConfig(executor=ExecutorConfig(kind="inline")).executor.kind == "inline"
