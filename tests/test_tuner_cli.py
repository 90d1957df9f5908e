"""``adaptune tune`` and ``adaptune adapters`` end to end on a tiny model and a JSONL file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from recsys.store import open_database
from server.cli import main
from server.commands.tune import parse_layers
from tests.fixtures.toy_data import toy_interactions
from tuner.registry import AdapterRegistry
from tuner.sources import read_interactions_jsonl

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def write_jsonl(path, events) -> None:
    lines = []
    for e in events:
        row = {
            "event_id": e.event_id, "user_id": e.user_id, "domain": e.domain, "input_text": e.input_text,
            "model_output": e.model_output, "feedback": e.feedback.value, "correction": e.correction,
            "attributes": e.attributes, "event_time": e.event_time.isoformat(),
        }
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def workspace(tmp_path):
    data = tmp_path / "events.jsonl"
    write_jsonl(data, toy_interactions(150) + toy_interactions(30, domain="legal", prefix="l"))
    return tmp_path, data


def tune_args(tmp_path, data, model_dir, *extra: str) -> list[str]:
    return [
        "tune", "--domain", "banking", "--data", str(data), "--model", str(model_dir), "--layers", "0-1",
        "--db", str(tmp_path / "a.duckdb"), "--adapters", str(tmp_path / "adapters"),
        "--epochs", "2", "--batch-size", "16", "--lr", "5e-3", "--test", "0.2", "--quiet", *extra,
    ]


def test_tune_trains_evaluates_and_registers(workspace, tiny_bert_dir, capsys):
    tmp_path, data = workspace
    # a generous bound: this test is about promotion; tests/test_cli_tune_promote.py tests a failed audit
    assert main(tune_args(tmp_path, data, tiny_bert_dir, "--json", "--audit", "region", "--audit-bound", "1.0", "--promote")) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["domain"], out["version"], out["status"], out["layers"]) == ("banking", "v0001", "champion", [0, 1])
    assert out["data"]["train"] + out["data"]["validation"] + out["data"]["test"] == 150  # legal's events left out
    assert set(out["audit"]["per_group"]) == {"north", "south"}
    assert 0.0 <= out["metrics"]["accuracy"] <= 1.0

    assert main(["adapters", "list", "--db", str(tmp_path / "a.duckdb"), "--adapters", str(tmp_path / "adapters")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["domain", "version", "status"]
    assert table[1].split()[:3] == ["banking", "v0001", "champion"]

    assert main(tune_args(tmp_path, data, tiny_bert_dir)) == 0
    assert "registered banking v0002 (candidate)" in capsys.readouterr().out
    common = ["--db", str(tmp_path / "a.duckdb"), "--adapters", str(tmp_path / "adapters")]
    assert main(["adapters", "promote", "--domain", "banking", "--version", "v0002", *common]) == 0
    assert main(["adapters", "rollback", "--domain", "banking", *common]) == 0
    assert "v0001 is the champion again" in capsys.readouterr().out
    db = open_database(tmp_path / "a.duckdb")
    assert {r.version: r.status for r in AdapterRegistry(db, tmp_path / "adapters").list()} == {
        "v0001": "champion", "v0002": "retired"
    }
    db.close()


def test_bad_input_is_one_line_and_registers_nothing(workspace, tiny_bert_dir, capsys):
    tmp_path, data = workspace
    args = tune_args(tmp_path, data, tiny_bert_dir)
    args[args.index("--layers") + 1] = "1,7"
    assert main(args) == 2
    assert "layers [7] are outside the model's range 0..1" in capsys.readouterr().err
    assert main(tune_args(tmp_path, tmp_path / "nope.jsonl", tiny_bert_dir)) == 2
    assert "'" + str(tmp_path / "nope.jsonl") + "'" in capsys.readouterr().err
    bad_model = tune_args(tmp_path, data, "no-such-model")
    assert main(bad_model) == 2
    assert "'no-such-model'" in capsys.readouterr().err
    assert main(["adapters", "rollback", "--domain", "banking", "--db", str(tmp_path / "a.duckdb")]) == 2
    assert "no champion" in capsys.readouterr().err
    db = open_database(tmp_path / "a.duckdb")
    assert AdapterRegistry(db, tmp_path / "adapters").list() == []
    db.close()
    assert not (tmp_path / "adapters").exists()


def test_a_database_held_by_another_process_is_a_clear_error(workspace, tiny_bert_dir, capsys):
    tmp_path, data = workspace
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(120)",
         str(tmp_path / "a.duckdb")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(tune_args(tmp_path, data, tiny_bert_dir)) == 2
        assert "is locked by" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"event_id": "e1", "user_id": "u", "domain": "banking", "input_text": "x", "feedback": "great"}\n')
    with pytest.raises(ValueError, match="line 1: feedback 'great'"):
        read_interactions_jsonl(path)
    path.write_text('\n{"event_id": "e1"}\n')
    with pytest.raises(ValueError, match=r"line 2: missing fields \['user_id'"):
        read_interactions_jsonl(path)


@pytest.mark.parametrize(("text", "expected"), [("4,5", [4, 5]), ("0-2,5", [0, 1, 2, 5]), ("all", "all")])
def test_parse_layers(text, expected):
    assert parse_layers(text) == expected


@pytest.mark.parametrize("text", ["", "a,b", "3-x", ","])
def test_parse_layers_refuses(text):
    with pytest.raises(ValueError, match="--layers"):
        parse_layers(text)
