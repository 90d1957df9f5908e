"""``adaptune log`` against a real server: JSONL, CSV with a mapping, stdin, rejections by line, naive times."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest

from recsys.events.files import EventFileError, parse_mapping, read_csv
from recsys.events.query import fetch_interactions
from server.cli import main


def row(n: int, **overrides) -> dict:
    base = {
        "event_id": f"e{n}", "user_id": f"u{n % 3}", "domain": "legal", "input_text": f"question {n}",
        "model_output": "gdpr_request", "feedback": "positive", "event_time": "2026-01-02T10:00:00+00:00",
        "attributes": {"region": "north"},
    }  # fmt: skip
    return {**base, **overrides}


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def stored_ids(live) -> list[str]:
    return [e.event_id for e in fetch_interactions(live.db)]


def test_log_streams_a_jsonl_file_and_names_rejected_lines(live_server, tmp_path, capsys):
    path = tmp_path / "events.jsonl"
    rows = [row(n) for n in range(5)]
    rows[3] = row(3, feedback="corrected")  # corrected without a correction: the server refuses it
    write_jsonl(path, rows)
    path.write_text(path.read_text().replace("\n", "\n\n", 1))  # a blank line 2: line numbers count it
    assert main(["log", str(path), "--address", live_server.address, "--batch-size", "2"]) == 1
    out = capsys.readouterr().out
    assert "5 interactions read: 4 stored, 0 duplicates, 1 rejected (3 batches)" in out
    assert "line 5 (event_id 'e3'): correction is required when feedback is 'corrected'" in out
    assert stored_ids(live_server) == ["e0", "e1", "e2", "e4"]
    # again: every accepted event is a duplicate, nothing new is stored
    assert main(["log", str(path), "--address", live_server.address]) == 1
    assert "0 stored, 4 duplicates, 1 rejected" in capsys.readouterr().out
    assert len(stored_ids(live_server)) == 4


def test_log_reads_stdin(live_server, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(json.dumps(row(n)) + "\n" for n in range(3))))
    assert main(["log", "-", "--address", live_server.address]) == 0
    assert "3 interactions read: 3 stored" in capsys.readouterr().out
    assert stored_ids(live_server) == ["e0", "e1", "e2"]


def test_a_naive_time_names_its_line_and_sends_nothing_unless_assume_utc(live_server, tmp_path, capsys):
    path = tmp_path / "events.jsonl"
    write_jsonl(path, [row(0), row(1, event_time="2026-01-02T10:00:00")])
    assert main(["log", str(path), "--address", live_server.address]) == 2
    err = capsys.readouterr().err
    assert "line 2: event_time '2026-01-02T10:00:00' has no timezone" in err and "--assume-utc" in err
    assert stored_ids(live_server) == []
    assert main(["log", str(path), "--address", live_server.address, "--assume-utc"]) == 0
    stored = fetch_interactions(live_server.db)
    assert [e.event_id for e in stored] == ["e0", "e1"]
    assert stored[1].event_time == datetime(2026, 1, 2, 10, tzinfo=timezone.utc)


def test_log_maps_csv_columns(live_server, tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_text(
        "id,who,area,text,answer,feedback,fix,when,region\n"
        "c1,u1,legal,can we reuse the design,ip_ownership,positive,,2026-01-02T10:00:00Z,north\n"
        "c2,u2,legal,\"who owns code, really\",gdpr_request,corrected,ip_ownership,2026-01-02T11:00:00Z,south\n"
    )
    mapping = "id=id,user=who,domain=area,input=text,output=answer,correction=fix,time=when,attributes.region=region"
    assert main(["log", str(path), "--map", mapping, "--address", live_server.address]) == 0
    assert "2 interactions read: 2 stored" in capsys.readouterr().out
    second = fetch_interactions(live_server.db)[1]
    assert (second.input_text, second.correction, second.attributes) == ("who owns code, really", "ip_ownership", {"region": "south"})


def test_csv_errors_name_the_line_or_the_mapping():
    with pytest.raises(EventFileError, match=r"no column for input_text \(column 'input_text'\)"):
        list(read_csv(["event_id,user_id,domain,text,feedback\n"]))
    lines = ["event_id,user_id,domain,input_text,feedback\n", "a,u,legal,hi,positive\n", "b,u,legal,hi,maybe\n"]
    with pytest.raises(EventFileError, match=r"line 3: feedback 'maybe' is not one of"):
        list(read_csv(lines))
    with pytest.raises(EventFileError, match=r"--map field 'colour' is not an interaction field"):
        parse_mapping("colour=c")
    with pytest.raises(EventFileError, match=r"--map entry 'input' is not FIELD=COLUMN"):
        parse_mapping("input")


def test_missing_file_and_bad_json_are_one_line_errors(live_server, tmp_path, capsys):
    assert main(["log", str(tmp_path / "nope.jsonl"), "--address", live_server.address]) == 2
    assert f"file '{tmp_path / 'nope.jsonl'}' does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(row(0)) + "\n{not json\n")
    assert main(["log", str(bad), "--address", live_server.address]) == 2
    assert "line 2: not valid JSON" in capsys.readouterr().err
    assert stored_ids(live_server) == []
