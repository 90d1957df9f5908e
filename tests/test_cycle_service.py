"""RunCycle and the registry RPCs over a real gRPC server on 127.0.0.1, and ``adaptune cycle``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from recsys.cycles import last_watermark, list_cycles
from recsys.store import open_database
from server._proto.adaptune.v1 import tuning_pb2 as pb
from server._proto.adaptune.v1 import tuning_pb2_grpc as pb_grpc
from server.cli import main as cli_main
from server.client import ClientError
from server.config import ServerConfig
from tests.cycle_logs import FINE, STRUGGLING, domain_events, mixed_log
from tests.fixtures.server import running_server
from tuner.cycle.config import CycleConfig


def cycle_config(model_dir: Path, **train) -> CycleConfig:
    config = CycleConfig(base_model=str(model_dir), max_domains=1, min_examples=20)
    settings = {"lr": 5e-3, "head_lr": 1e-2, "epochs": 3, "batch_size": 16, **train}
    return replace(config, train=replace(config.train, **settings))


def server_settings(tmp_path: Path, model_dir: Path, **train) -> dict:
    return {
        "cycle": cycle_config(model_dir, **train),
        "adapters_dir": tmp_path / "adapters",
        "reports_dir": tmp_path / "reports",
    }


@pytest.fixture
def cycle_server(server_factory, tmp_path, tiny_bert_dir):
    server = server_factory(**server_settings(tmp_path, tiny_bert_dir))
    assert server.client.log_interactions(mixed_log(STRUGGLING, FINE)).accepted == 320
    return server


def test_run_cycle_streams_its_progress_and_promotes(cycle_server, tmp_path):
    events = list(cycle_server.client.stream_cycle())
    stages = [e.stage for e in events if e.stage != "training"]
    assert stages == ["started", "ranked", "skipped", "probing", "planned", "evaluated", "promoted", "finished"]
    assert len({e.cycle_id for e in events}) == 1
    finished = events[-1]
    assert finished.summary["promoted"] == ["billing"] and finished.summary["window"] == [0, 320]
    assert Path(finished.report_path).is_file() and Path(finished.report_path).parent.parent == tmp_path / "reports"

    (cycle,) = cycle_server.client.list_cycles()
    assert (cycle.cycle_id, cycle.status, cycle.watermark_to) == (finished.cycle_id, "finished", 320)
    assert cycle.summary["promoted"] == ["billing"] and cycle.finished_at >= cycle.started_at
    (adapter,) = cycle_server.client.list_adapters()
    assert (adapter.domain, adapter.version, adapter.status) == ("billing", "v0001", "champion")
    assert adapter.metrics["accuracy"] == finished.summary["domains"][0]["gate"]["candidate"]["accuracy"]


def test_promote_and_rollback_through_the_service(cycle_server):
    cycle_server.client.run_cycle()
    cycle_server.client.log_interactions(domain_events(STRUGGLING, seed=5, prefix="later"))
    again = cycle_server.client.run_cycle(min_examples=20)
    assert again.summary["window"] == [320, 480]
    version = again.summary["domains"][0]["version"]
    assert version == "v0002"
    promoted = cycle_server.client.promote_adapter("billing", version)
    assert (promoted.version, promoted.status) == ("v0002", "champion")
    restored = cycle_server.client.rollback_adapter("billing")
    assert (restored.version, restored.status) == ("v0001", "champion")
    assert [a.status for a in cycle_server.client.list_adapters("billing")] == ["champion", "retired"]
    with pytest.raises(ClientError) as error:
        cycle_server.client.promote_adapter("billing", "v9")
    assert error.value.code is grpc.StatusCode.INVALID_ARGUMENT and "'v9'" in error.value.details


def test_bad_requests_are_refused_and_start_nothing(cycle_server):
    raw = pb_grpc.TuningServiceStub(grpc.insecure_channel(cycle_server.address))
    for request, message in [
        (pb.RunCycleRequest(layer_budget=1.5), "layer_budget must be a number in (0, 1], got 1.5"),
        (pb.RunCycleRequest(domains=["nope"]), "domains ['nope'] are not known domains"),
        (pb.RunCycleRequest(domains=["Bad Name"]), "domains 'Bad Name' is invalid"),
    ]:
        with pytest.raises(grpc.RpcError) as error:
            list(raw.RunCycle(request))
        assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert message in error.value.details()
    with pytest.raises(ValueError, match="max_domains must be an integer in 1..100, got 0"):
        next(cycle_server.client.stream_cycle(max_domains=0))
    assert cycle_server.client.list_cycles() == []
    assert cycle_server.client.list_adapters() == []


def test_a_second_cycle_while_one_runs_is_refused_naming_it(tmp_path, tiny_bert_dir):
    """The first cycle trains (long); a second one is refused; stopping the server cancels the first."""
    settings = server_settings(tmp_path, tiny_bert_dir, epochs=100_000, patience=0)
    config = ServerConfig(db_path=tmp_path / "busy.duckdb", host="127.0.0.1", port=0, grace_seconds=1.0, **settings)
    with running_server(config) as server:
        server.client.log_interactions(mixed_log(STRUGGLING, FINE))
        first = server.client.stream_cycle()
        running_id = next(e for e in first if e.stage == "training" and e.step > 0).cycle_id
        with server.connect() as other:
            with pytest.raises(ClientError) as error:
                next(other.stream_cycle())
        assert error.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert f"cycle {running_id!r} is already running" in error.value.details
    db = open_database(tmp_path / "busy.duckdb", read_only=True)
    try:
        (record,) = list_cycles(db)
        assert (record.cycle_id, record.status) == (running_id, "failed")
        assert "was cancelled before it committed" in record.error and "Error" not in record.error
        assert db.cursor().execute("SELECT count(*) FROM adapters").fetchone()[0] == 0
        assert last_watermark(db) == 0
    finally:
        db.close()


def test_the_cli_runs_a_cycle_and_lists_the_history(cycle_server, capsys):
    assert cli_main(["cycle", "--address", cycle_server.address, "--dry-run", "--max-domains", "2"]) == 0
    out = capsys.readouterr().out
    assert "ranked: 2 domains in 320 new events" in out
    assert "plan billing: layers" in out and "plan cards: layers" in out
    assert "finished: planned ['billing', 'cards'] (dry run" in out
    assert cli_main(["cycle", "--address", cycle_server.address, "--history", "5"]) == 0
    assert "planned" in capsys.readouterr().out
    assert cli_main(["cycle", "--address", cycle_server.address, "--budget", "2"]) == 2
    assert "layer_budget must be a number in (0, 1], got 2.0" in capsys.readouterr().err
