"""`adaptune serve` as a real child process: crash durability, graceful SIGTERM, file and port conflicts."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from recsys.store import open_database
from server.client import AdaptuneClient, ClientError
from server.process import ServeProcessError
from tests.fixtures.events import events


def stored_ids(db_path: Path) -> set[str]:
    db = open_database(db_path, read_only=True)
    try:
        return {row[0] for row in db.cursor().execute("SELECT event_id FROM interactions").fetchall()}
    finally:
        db.close()


def test_sigkill_right_after_acknowledgement_keeps_every_acknowledged_event(tmp_path: Path, serve_process):
    db_path = tmp_path / "crash.duckdb"
    server = serve_process(db_path)
    sent = events(3000)
    with AdaptuneClient(server.address, timeout=60) as client:
        acknowledged = client.log_interactions(sent, batch_size=250)
        assert acknowledged.accepted == 3000
        server.process.send_signal(signal.SIGKILL)  # no graceful stop, no checkpoint
    assert server.process.wait(30) == -signal.SIGKILL
    assert stored_ids(db_path) == {e.event_id for e in sent}

    restarted = serve_process(db_path)
    with AdaptuneClient(restarted.address, timeout=60) as client:
        assert client.interaction_stats().total == 3000
        again = client.log_interactions(sent, batch_size=250)
        assert (again.accepted, again.duplicates) == (0, 3000)
    assert restarted.stop() == 0


def test_sigterm_mid_stream_finishes_the_stream_then_exits_cleanly(tmp_path: Path, serve_process):
    db_path = tmp_path / "graceful.duckdb"
    server = serve_process(db_path, extra_args=("--grace", "30"))
    sent = events(1000)

    def stopping() -> bool:
        with AdaptuneClient(server.address, timeout=5) as probe:
            try:
                return probe.health() != "SERVING"
            except ClientError:  # new calls are already refused
                return True

    def committed() -> int:
        with AdaptuneClient(server.address, timeout=5) as probe:
            return probe.interaction_stats().total

    def batches_with_sigterm_after_the_first():
        for start in range(0, 1000, 100):
            yield from sent[start:start + 100]
            if start == 0:
                # SIGTERM only once the server is handling this stream: a call it has not
                # picked up yet when shutdown begins is refused (CANCELLED), not in flight.
                deadline = time.monotonic() + 30
                while committed() < 100 and time.monotonic() < deadline:
                    time.sleep(0.02)
                server.process.send_signal(signal.SIGTERM)
                # The other nine batches go out only once the server has begun to stop.
                deadline = time.monotonic() + 30
                while not stopping() and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert stopping()

    with AdaptuneClient(server.address, timeout=60) as client:
        result = client.log_interactions(batches_with_sigterm_after_the_first(), batch_size=100)
    assert (result.accepted, result.batches) == (1000, 10)
    assert server.process.wait(60) == 0
    log = server.log()
    assert "stopping: finishing in-flight calls" in log and log.strip().endswith("stopped")
    assert stored_ids(db_path) == {e.event_id for e in sent}


def test_second_server_on_the_same_file_gets_a_clear_error(tmp_path: Path, serve_process):
    db_path = tmp_path / "owned.duckdb"
    first = serve_process(db_path)
    with pytest.raises(ServeProcessError) as raised:
        serve_process(db_path, timeout=60)
    message = str(raised.value)
    assert "exited with code 2" in message
    assert f"is locked by process {first.pid}" in message
    assert "Traceback" not in message
    with AdaptuneClient(first.address) as client:
        assert client.health() == "SERVING"


def test_second_server_on_the_same_port_gets_a_clear_error(tmp_path: Path, serve_process):
    first = serve_process(tmp_path / "a.duckdb")
    with pytest.raises(ServeProcessError) as raised:
        serve_process(tmp_path / "b.duckdb", port=first.port, timeout=60)
    assert "cannot listen on 127.0.0.1:" in str(raised.value)
    assert "Traceback" not in str(raised.value)


def test_token_from_the_environment_is_enforced(tmp_path: Path, serve_process):
    server = serve_process(tmp_path / "auth.duckdb", token="tok-123")
    with AdaptuneClient(server.address) as client:
        with pytest.raises(PermissionError, match="missing authorization"):
            client.interaction_stats()
    with AdaptuneClient(server.address, token="tok-123") as client:
        assert client.interaction_stats().total == 0
    assert "tok-123" not in server.log()
