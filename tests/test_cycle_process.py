"""A cycle killed with SIGKILL mid-training (a real ``adaptune serve`` child) changes nothing.

billing (few events, often wrong) trains first and its candidate folder is staged; the
server is killed while cards trains. The registry and the watermark must be as before,
the restarted server must mark the cycle interrupted, and the next cycle must redo the
work without the orphan folder blocking its version.
"""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from pathlib import Path

from recsys.cycles import last_watermark, list_cycles
from recsys.store import open_database
from server.client import AdaptuneClient
from tests.cycle_logs import FINE, STRUGGLING, mixed_log
from tuner.cycle.config import CycleConfig

# Enough billing rows that the gate's held-out share (a fifth) can tell a trained head from
# zero-shot: at 40 events it held 9 rows, and one answer decided.
FEW_BILLING = replace(STRUGGLING, events=80, error_rate=0.8)
MANY_CARDS = replace(FINE, events=300, error_rate=0.5)


def write_config(path: Path, **fields) -> Path:
    train = {"lr": 5e-3, "head_lr": 1e-2, "batch_size": 32, "patience": 0, **fields.pop("train", {})}
    path.write_text(json.dumps({"min_examples": 10, "train": train, **fields}))
    CycleConfig.from_file(path)  # valid before a server reads it
    return path


def test_sigkill_mid_training_leaves_registry_and_watermark_and_the_next_cycle_redoes_it(
    tmp_path, tiny_bert_dir, serve_process
):
    db_path, adapters = tmp_path / "cycle.duckdb", tmp_path / "adapters"
    long = write_config(tmp_path / "long.json", max_domains=2, train={"epochs": 12})
    short = write_config(tmp_path / "short.json", max_domains=1, train={"epochs": 20})

    def serve(config: Path):
        return serve_process(db_path, extra_args=(
            "--model", str(tiny_bert_dir), "--cycle-config", str(config),
            "--adapters", str(adapters), "--reports", str(tmp_path / "reports"),
        ))  # fmt: skip

    server = serve(long)
    with AdaptuneClient(server.address, timeout=60) as client:
        assert client.log_interactions(mixed_log(FEW_BILLING, MANY_CARDS)).accepted == 380
        staged = None
        for event in client.stream_cycle():
            if event.stage == "evaluated":
                staged = adapters / event.domain / event.adapter_version
            if staged is not None and event.stage == "training" and event.domain == "cards" and event.step > 0:
                cycle_id = event.cycle_id
                server.process.send_signal(signal.SIGKILL)
                break
    assert server.process.wait(30) == -signal.SIGKILL
    assert staged == adapters / "billing" / "v0001" and staged.is_dir()  # files, but no row
    db = open_database(db_path, read_only=True)
    try:
        assert db.cursor().execute("SELECT count(*) FROM adapters").fetchone()[0] == 0
        assert last_watermark(db) == 0
        assert [(r.cycle_id, r.status) for r in list_cycles(db)] == [(cycle_id, "running")]
    finally:
        db.close()

    restarted = serve(short)
    with AdaptuneClient(restarted.address, timeout=60) as client:
        (interrupted,) = client.list_cycles()
        assert (interrupted.cycle_id, interrupted.status) == (cycle_id, "interrupted")
        assert "killed or crashed" in interrupted.error
        assert client.list_adapters() == []
        finished = client.run_cycle()
        assert finished.summary["window"] == [0, 380]  # the killed cycle's events, again
        assert finished.summary["promoted"] == ["billing"]
        assert [(a.domain, a.version, a.status) for a in client.list_adapters()] == [("billing", "v0001", "champion")]
        assert [c.status for c in client.list_cycles()] == ["finished", "interrupted"]
    assert restarted.stop() == 0
    assert (adapters / "billing" / "v0001" / "adaptune.json").is_file()
