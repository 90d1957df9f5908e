"""Client commands through a real server: domains, adapters over AdminService RPCs, the no-server hint,
defaults in ``--help``, the SDK's naive-time message, ``--nightly-at``'s notice and the demo's steps."""

from __future__ import annotations

import socket
from datetime import datetime

import pytest

from recsys.domains import list_domains
from recsys.events.model import Feedback, Interaction
from recsys.events.query import fetch_interactions
from server.cli import build_parser, main
from server.commands.serve import nightly_notice
from server.demo import parse_args, step_names
from tests.serving_support import build_world, one_torch_thread  # noqa: F401 (fixture)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_domains_add_and_list_through_the_server(live_server, capsys):
    address = ["--address", live_server.address]
    assert main(["domains", "add", "legal", "--description", "legal questions", *address]) == 0
    assert main(["domains", "add", "contracts", "--parent", "legal", *address]) == 0
    assert "domain contracts (parent legal)" in capsys.readouterr().out
    assert main(["domains", "list", *address]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["domain", "parent", "review", "labels", "description"]
    assert lines[1].split() == ["contracts", "legal", "auto", "0"]
    assert lines[2].split() == ["legal", "-", "auto", "0", "legal", "questions"]
    assert [(d.name, d.parent) for d in list_domains(live_server.db)] == [("contracts", "legal"), ("legal", None)]


def test_domains_add_sets_labels_and_review_policy(live_server, capsys):
    address = ["--address", live_server.address]
    assert main(["domains", "add", "billing", "--labels", "pay_bill, refund=money back", "--review", "required", *address]) == 0
    assert "2 declared labels, review required" in capsys.readouterr().out
    record = list_domains(live_server.db)[0]
    assert [(label.name, label.description) for label in record.labels] == [("pay_bill", ""), ("refund", "money back")]
    assert record.review_policy == "required"
    # An update without --labels or --review keeps both.
    assert main(["domains", "add", "billing", "--description", "bills", *address]) == 0
    record = list_domains(live_server.db)[0]
    assert (len(record.labels), record.review_policy, record.description) == (2, "required", "bills")


def test_domains_add_refuses_bad_labels_and_thresholds_and_changes_nothing(live_server, capsys):
    address = ["--address", live_server.address]
    assert main(["domains", "add", "billing", "--labels", "ok,ok", *address]) == 2
    err = capsys.readouterr().err
    assert "INVALID_ARGUMENT" in err and "labels[1].name 'ok' is a duplicate" in err
    assert main(["domains", "add", "billing", "--review", "required_above", "--review-threshold", "1.5", *address]) == 2
    assert "review_threshold" in capsys.readouterr().err
    assert main(["domains", "add", "billing", "--labels", " , ", *address]) == 2
    assert "--labels names no label" in capsys.readouterr().err
    assert list_domains(live_server.db) == []


def test_domains_add_refuses_an_unknown_parent_and_changes_nothing(live_server, capsys):
    assert main(["domains", "add", "contracts", "--parent", "legal", "--address", live_server.address]) == 2
    err = capsys.readouterr().err
    assert err == "adaptune domains: error: NOT_FOUND: parent 'legal' is not a known domain; create it first\n"
    assert main(["domains", "add", "Bad Name", "--address", live_server.address]) == 2
    assert "INVALID_ARGUMENT" in capsys.readouterr().err
    assert list_domains(live_server.db) == []


@pytest.mark.usefixtures("one_torch_thread")
def test_adapters_list_promote_rollback_go_through_the_server(server_factory, tmp_path, bert_classifier, capsys):
    live = server_factory(adapters_dir=tmp_path / "adapters")
    world = build_world(tmp_path, bert_classifier, domains=("banking",), db=live.db)
    second = world.registry.register(world.registry.load(bert_classifier, "banking"), domain="banking")
    address = ["--address", live.address]
    # the server holds the file: these only work through its RPCs
    assert main(["adapters", "list", *address]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in table[1:]] == [["banking", "v0001", "champion"], ["banking", "v0002", "candidate"]]
    assert main(["adapters", "promote", "--domain", "banking", "--version", second.version, *address]) == 0
    assert "banking v0002 is now the champion" in capsys.readouterr().out
    assert main(["adapters", "rollback", "--domain", "banking", *address]) == 0
    assert "v0001 is the champion again" in capsys.readouterr().out
    assert {r.version: r.status for r in world.registry.list("banking")} == {"v0001": "champion", "v0002": "retired"}
    assert main(["adapters", "rollback", "--domain", "banking", *address]) == 2  # no earlier champion left
    assert "adaptune adapters: error:" in capsys.readouterr().err
    assert world.registry.champion("banking").version == "v0001"


@pytest.mark.parametrize(
    "argv, db_hint",
    [
        (["stats"], False),
        (["cycle", "--history", "3"], False),
        (["predict", "--user", "u1", "hello"], False),
        (["domains", "list"], False),
        (["rank"], True),
        (["adapters", "list"], True),
        (["adapters", "rollback", "--domain", "legal"], True),
    ],
)
def test_no_server_is_one_line_saying_what_to_do(argv, db_hint, capsys, monkeypatch):
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("ADAPTUNE_ADDRESS", address)  # the default address comes from the environment
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"adaptune {argv[0]}: error: no adaptune server answers at {address}")
    assert "start one with `adaptune serve`" in err
    assert ("pass --db FILE" in err) is db_hint
    assert "UNAVAILABLE" not in err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["stats"], "(default $ADAPTUNE_ADDRESS, else 127.0.0.1:50051)"),
        (["variant"], "(default $ADAPTUNE_ADDRESS, else 127.0.0.1:50051)"),
        (["predict"], "(default $ADAPTUNE_ADDRESS, else 127.0.0.1:50051)"),
        (["serve"], "(default 10)"),
        (["serve"], "(default 8)"),
        (["export"], "(default 0.1, as tune)"),
        (["tune"], "--rank RANK"),
        (["log"], "events per streamed batch (default 1000)"),
    ],
)
def test_help_shows_defaults(argv, expected, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert expected in text
    assert "(default )" not in text  # an empty default says nothing
    if argv == ["tune"]:
        # options without a help string show their default too, 0 included
        assert "--rank RANK default 8" in text and "--lr LR default 0.001" in text and "--seed SEED default 0" in text


def test_the_sdk_says_a_naive_time_has_no_timezone(live_server):
    event = Interaction("n1", "u1", "legal", "hi", "x", Feedback.POSITIVE, datetime(2026, 1, 2, 10))
    with pytest.raises(ValueError, match=r"event_time has no timezone \(2026-01-02T10:00:00\)"):
        live_server.client.log_interaction(event)
    with pytest.raises(ValueError, match=r"batch 0 interactions\[0\] \(event_id 'n1'\): event_time has no timezone"):
        live_server.client.log_interactions([event])
    assert fetch_interactions(live_server.db) == []


def test_nightly_notice_says_when_the_next_cycle_runs():
    assert nightly_notice("02:00", datetime(2026, 3, 1, 23, 30)) == (
        "nightly cycle every day at 02:00 local time; the next one runs at 2026-03-02 02:00 (in 2 h 30 min)"
    )
    assert "2026-03-01 23:45 (in 0 h 15 min)" in nightly_notice("23:45", datetime(2026, 3, 1, 23, 30))


def test_demo_stop_after_lists_every_step_once_including_the_cycle():
    names = step_names()
    assert len(names) == len(set(names)) and {"rank", "cycle", "predict"} <= set(names)
    assert parse_args(["--stop-after", "cycle"]).stop_after == "cycle"


def test_serve_with_nightly_at_prints_the_next_run_at_start_up(serve_process, tmp_path):
    server = serve_process(tmp_path / "n.duckdb", extra_args=("--nightly-at", "03:15", "--reports", str(tmp_path / "r")))
    server.stop()
    first = server.log().splitlines()[0]
    assert first.startswith("nightly cycle every day at 03:15 local time; the next one runs at ") and first.endswith(" min)")
