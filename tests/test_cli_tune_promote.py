"""``adaptune tune --promote`` is gated by the bias audit, as cycles are (issue 15, item 2)."""

from __future__ import annotations

import json

import pytest

from recsys.store import open_database
from server.cli import main
from tests.fixtures.toy_data import toy_interactions
from tests.test_tuner_cli import tune_args, write_jsonl
from tuner.registry import AdapterRegistry

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def test_a_failed_bias_audit_refuses_the_promotion(tmp_path, tiny_bert_dir, capsys):
    data = tmp_path / "events.jsonl"
    write_jsonl(data, toy_interactions(150))
    # bound 0 cannot be met by any gap > 0; the toy data's regions differ (north 0.5, south 0.65)
    code = main(tune_args(tmp_path, data, tiny_bert_dir, "--json", "--audit", "region", "--audit-bound", "0", "--promote"))
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert code == 1
    assert out["audit"]["passed"] is False and out["promotion_refused"] is True
    assert out["status"] == "candidate"
    assert "not promoted: banking v0001 failed the bias audit on region" in captured.err
    db = open_database(tmp_path / "a.duckdb")
    try:
        records = AdapterRegistry(db, tmp_path / "adapters").list("banking")
    finally:
        db.close()
    assert [(r.version, r.status) for r in records] == [("v0001", "candidate")]


def test_a_passed_audit_promotes(tmp_path, tiny_bert_dir, capsys):
    data = tmp_path / "events.jsonl"
    write_jsonl(data, toy_interactions(150))
    assert main(tune_args(tmp_path, data, tiny_bert_dir, "--json", "--audit", "region", "--audit-bound", "1.0", "--promote")) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["audit"]["passed"] is True and out["promotion_refused"] is False and out["status"] == "champion"
