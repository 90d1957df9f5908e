"""Issue 13, defect 8: a corrupt database file is a one-line error (exit 2), and health
follows the store: NOT_SERVING while it cannot write, SERVING again once it can."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from server.client import ClientError
from tests.fixtures.events import event


def serve_exit(db: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "server.cli", "serve", "--db", str(db), "--port", "0"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()})


@pytest.mark.parametrize("content", [b"this is not a database" * 100, b"DUCK" + b"\x00" * 50])
def test_a_garbage_or_truncated_file_is_one_clear_line_and_exit_2(tmp_path, content):
    db = tmp_path / "broken.duckdb"
    db.write_bytes(content)
    result = serve_exit(db)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a valid DuckDB file, or it is truncated or corrupt" in lines[0]


def test_a_truncated_real_database_is_refused_the_same_way(tmp_path):
    from recsys.store import open_database

    db_path = tmp_path / "real.duckdb"
    open_database(db_path).close()
    db_path.write_bytes(db_path.read_bytes()[:5000])
    result = serve_exit(db_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "corrupt" in result.stderr


def wait_health(client, wanted: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    status = client.health()
    while status != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
        status = client.health()
    return status


class NoFileGrowth:
    """The process may not write past the start of any file: every store write fails (EFBIG),
    as on a full or failing disk."""

    def __enter__(self):
        self._saved = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, self._saved[1]))
        return self

    def __exit__(self, *exc_info):
        resource.setrlimit(resource.RLIMIT_FSIZE, self._saved)


def test_health_is_not_serving_while_the_store_cannot_write(server_factory, tmp_path):
    live = server_factory(health_interval_seconds=0.3)
    live.client.log_interaction(event(1))
    assert live.client.health() == "SERVING"
    with NoFileGrowth():
        with pytest.raises(ClientError) as caught:
            live.client.log_interactions([event(i) for i in range(2, 400)])
        assert caught.value.code == grpc.StatusCode.INTERNAL
        assert wait_health(live.client, "NOT_SERVING") == "NOT_SERVING"
    assert live.client.log_interaction(event(500)).accepted == 1  # the disk is back: writes commit again
    assert wait_health(live.client, "SERVING") == "SERVING"
    assert live.client.interaction_stats().total == 2


def test_a_quiet_server_notices_the_store_failing(server_factory):
    live = server_factory(health_interval_seconds=0.3)
    live.client.log_interaction(event(1))
    with NoFileGrowth():
        assert wait_health(live.client, "NOT_SERVING") == "NOT_SERVING"
    assert wait_health(live.client, "SERVING") == "SERVING"
