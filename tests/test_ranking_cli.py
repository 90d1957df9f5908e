"""``adaptune rank`` against a live server and against a database file; the heatmap PNG."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.events.log import append_interactions
from recsys.layers import build_layer_importance, select_layers
from recsys.probes import write_probes
from recsys.store import open_database
from server.cli import main
from server.commands.rank import compress_layers
from tests.ranking_logs import BOTTOM_HEAVY, TOP_HEAVY, probe_run, segment_log, to_interactions
from tuner.reports.layer_heatmap import plot_layer_heatmap

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fill(db) -> None:
    events = segment_log({"a": ["banking", "credit_cards"], "b": ["kitchen", "auto"]}, 8, failing={"credit_cards": 0.5})
    assert append_interactions(db, to_interactions(events)).accepted == len(events)
    write_probes(db, probe_run("banking", TOP_HEAVY, "p1") + probe_run("banking", TOP_HEAVY, "p2")
                 + probe_run("kitchen", BOTTOM_HEAVY, "p3"))


@pytest.fixture
def db_file(tmp_path):
    path = tmp_path / "log.duckdb"
    db = open_database(path)
    fill(db)
    db.close()
    return path


def test_rank_from_a_database_file_prints_the_evidence(db_file, tmp_path, capsys):
    heatmap = tmp_path / "heat.png"
    assert main(["rank", "--db", str(db_file), "--top-k", "2", "--heatmap", str(heatmap)]) == 0
    out = capsys.readouterr().out
    assert "ranking global" in out and "ALS on 384 events" in out and "tiny-llama (6 layers)" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("#"))
    first = lines[header + 1].split()
    assert first[:2] == ["1", "credit_cards"] and "50.0%" in first and "96" in first
    assert "cost" in lines[header + 1] and "cf)" in lines[header + 1]
    assert heatmap.read_bytes()[:8] == PNG_MAGIC


def test_rank_through_the_server_as_json(live_server, tmp_path, capsys):
    fill(live_server.db)
    heatmap = tmp_path / "served.png"
    code = main(["rank", "--address", live_server.address, "--user", "a-u01", "--top-k", "2", "--json",
                 "--heatmap", str(heatmap)])
    assert code == 0
    out = capsys.readouterr().out
    report = json.loads(out[: out.rindex("}") + 1])
    assert report["user_id"] == "a-u01" and report["cold_start"] is False
    assert report["domains"][0]["domain"] == "credit_cards"
    assert report["domains"][0]["layers"] and report["num_layers"] == 6
    assert heatmap.read_bytes()[:8] == PNG_MAGIC


def test_cold_start_is_said_plainly(live_server, capsys):
    fill(live_server.db)
    assert main(["rank", "--address", live_server.address, "--user", "nobody"]) == 0
    assert "cold start" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--top-k", "0"], "top_k"),
        (["--top-k", "101"], "top_k"),
        (["--budget", "2"], "layer_budget"),
        (["--domain", "legal"], "legal"),
    ],
)
def test_bad_arguments_exit_2_naming_the_field(db_file, capsys, argv, named):
    assert main(["rank", "--db", str(db_file), *argv]) == 2
    assert named in capsys.readouterr().err


def test_empty_database_says_what_to_do(tmp_path, capsys):
    path = tmp_path / "empty.duckdb"
    open_database(path).close()
    assert main(["rank", "--db", str(path)]) == 2
    assert "ingest interactions" in capsys.readouterr().err


def test_heatmap_marks_completed_cells(db_file, tmp_path):
    db = open_database(db_file, read_only=True)
    importance = build_layer_importance(db, "tiny-llama", ["banking", "credit_cards", "kitchen", "auto"])
    db.close()
    selections = {d: select_layers(importance.row(d), importance.num_layers, 0.5) for d in importance.domains}
    path = plot_layer_heatmap(importance, tmp_path / "nested" / "heat.png", selections)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 2000
    assert not importance.probed[importance.domains.index("auto")].any()
    assert np.all(importance.probed[importance.domains.index("banking")])


def test_compress_layers():
    assert compress_layers([29, 28, 27, 25, 3]) == "3,25,27-29"
    assert compress_layers([4]) == "4"
    assert compress_layers([]) == ""
