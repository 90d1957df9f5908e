"""`adaptune serve` / `adaptune stats` arguments and ServerConfig validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys.events.validate import EventLimits
from server.cli import main
from server.config import ServerConfig
from tests.fixtures.events import events


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--port", "70000"], "port must be an integer in 0-65535, got 70000"),
        (["--host", " "], "host must be a non-empty address"),
        (["--max-events-per-batch", "0"], "max_events_per_batch must be an integer >= 1, got 0"),
        (["--max-message-bytes", "10"], "max_message_bytes must be an integer 1024-2147483647, got 10"),
        (["--grace", "-1"], "grace_seconds must be a finite number >= 0, got -1.0"),
        (["--token", "has space"], "token must be a non-empty string without whitespace (value not shown)"),
    ],
)
def test_serve_refuses_bad_settings_before_touching_the_file(tmp_path: Path, capsys, argv, message):
    db = tmp_path / "never.duckdb"
    assert main(["serve", "--db", str(db), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert "has space" not in err
    assert not db.exists()


def test_serve_rejects_a_non_numeric_port(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["serve", "--port", "abc"])
    assert raised.value.code == 2
    assert "--port: invalid int value: 'abc'" in capsys.readouterr().err


def test_config_defaults_match_the_documented_ones():
    config = ServerConfig()
    assert (str(config.db_path), config.address, config.token) == ("var/adaptune.duckdb", "127.0.0.1:50051", None)
    assert config.event_limits.max_batch_events == config.max_events_per_batch
    assert ServerConfig(max_events_per_batch=7).event_limits.max_batch_events == 7


def test_config_refuses_wrong_limits_type():
    with pytest.raises(ValueError, match="limits must be an EventLimits, got dict"):
        ServerConfig(limits={"max_text_chars": 3})
    assert ServerConfig(limits=EventLimits(max_text_chars=3)).event_limits.max_text_chars == 3


def test_stats_prints_what_the_server_stored(live_server, capsys):
    live_server.client.log_interactions(events(30))
    assert main(["stats", "--address", live_server.address]) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[0].split() == ["domain", "positive", "negative", "corrected", "total"]
    assert {line.split()[0] for line in lines[1:4]} == {"contracts", "customer_support", "legal"}
    assert lines[4].split()[0] == "total" and lines[4].split()[-1] == "30"
    assert main(["stats", "--address", live_server.address, "--json", "--domain", "legal"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"] == sum(e.domain == "legal" for e in events(30))
    assert list(data["by_domain"]) == ["legal"]


def test_stats_without_a_server_is_a_one_line_error(capsys):
    assert main(["stats", "--address", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("adaptune stats: error: no adaptune server answers at 127.0.0.1:1") and "Traceback" not in err


def test_stats_with_a_secured_server_needs_the_token(server_factory, capsys, monkeypatch):
    server = server_factory(token="t0k")
    assert main(["stats", "--address", server.address]) == 2
    assert "UNAUTHENTICATED" in capsys.readouterr().err
    monkeypatch.setenv("ADAPTUNE_TOKEN", "t0k")
    assert main(["stats", "--address", server.address]) == 0


def test_a_command_module_that_fails_to_import_does_not_break_the_others(monkeypatch, capsys, live_server):
    import server.cli

    monkeypatch.setattr(server.cli, "COMMAND_MODULES", [*server.cli.COMMAND_MODULES, "server.commands.ghost_command"])
    assert main(["ghost_command"]) == 2
    assert "cannot be loaded from server.commands.ghost_command" in capsys.readouterr().err
    assert main(["stats", "--address", live_server.address]) == 0
