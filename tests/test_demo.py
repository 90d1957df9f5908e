"""`make demo`'s ingestion steps: a real server process, the traffic, stats, a clean SIGTERM stop.

The later steps (ranking, a tuning cycle, a variant) train models; these tests stop after
`show_stats` so they stay fast.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recsys.datasets import clinc150
from recsys.store import open_database


def run_demo(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "server.demo", "--stop-after", "show_stats", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def stored(db_path: Path) -> int:
    db = open_database(db_path, read_only=True)
    try:
        return db.cursor().execute("SELECT count(*) FROM interactions").fetchone()[0]
    finally:
        db.close()


def test_demo_with_example_traffic(tmp_path: Path):
    db = tmp_path / "demo.duckdb"
    done = run_demo("--db", str(db))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "360 stored, 0 duplicates, 0 rejected" in out
    for domain in ("customer_support", "legal", "contracts"):
        assert domain in out
    assert "chains: legal -> contracts" in out
    assert "[5/5] what the server stored" in out
    assert "server stopped with SIGTERM (exit code 0: stopped)" in out
    assert out.strip().splitlines()[-1].startswith(f"dashboard: adaptune serve --db {db} ")
    assert stored(db) == 360
    # A second run keeping the file sends the same events: all duplicates.
    again = run_demo("--db", str(db), "--keep-db")
    assert again.returncode == 0, again.stderr
    assert "0 stored, 360 duplicates" in again.stdout


def test_demo_refuses_an_unknown_step(tmp_path: Path):
    done = run_demo("--db", str(tmp_path / "d.duckdb"), "--stop-after", "nonsense")
    assert done.returncode == 2
    assert "--stop-after: invalid choice: 'nonsense'" in done.stderr


def test_demo_refuses_a_missing_data_folder(tmp_path: Path):
    done = run_demo("--db", str(tmp_path / "d.duckdb"), "--data", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert "--data" in done.stderr and "is not a folder" in done.stderr
    assert not (tmp_path / "d.duckdb").exists()


@pytest.mark.slow
@pytest.mark.skipif(not clinc150.available(), reason="CLINC150 not found beside the project")
def test_demo_with_clinc150_traffic(tmp_path: Path):
    db = tmp_path / "clinc.duckdb"
    done = run_demo("--db", str(db), "--data", str(clinc150.default_path()), "--events", "2000")
    assert done.returncode == 0, done.stderr
    assert "2000 stored" in done.stdout and "simulated CLINC150 traffic" in done.stdout
    assert "banking" in done.stdout
    assert stored(db) == 2000
