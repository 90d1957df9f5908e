"""TLS and mutual TLS on the gRPC port, with certificates made in the test."""

from __future__ import annotations

import grpc
import pytest

from server.cli import main as cli_main
from server.client import AdaptuneClient, UnavailableError
from server.config import ServerConfig
from tests.fixtures.certs import make_pki
from tests.fixtures.events import event


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


def test_tls_call_works_and_a_plain_channel_is_refused(server_factory, pki):
    live = server_factory(tls_cert=pki.server_cert, tls_key=pki.server_key, client_tls={"tls_ca": pki.ca})
    assert live.client.log_interaction(event(1)).accepted == 1
    assert live.client.interaction_stats().total == 1
    with AdaptuneClient(live.address, timeout=5) as plain:
        with pytest.raises(UnavailableError):
            plain.interaction_stats()


def test_a_client_that_does_not_trust_the_server_is_refused(server_factory, pki):
    live = server_factory(tls_cert=pki.server_cert, tls_key=pki.server_key, client_tls={"tls_ca": pki.ca})
    with AdaptuneClient(live.address, timeout=5, tls_ca=pki.stranger_cert) as wrong_ca:
        with pytest.raises(UnavailableError):
            wrong_ca.interaction_stats()


def test_mutual_tls_requires_a_client_certificate_from_the_ca(server_factory, pki):
    mine = {"tls_ca": pki.ca, "tls_cert": pki.client_cert, "tls_key": pki.client_key}
    live = server_factory(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca, client_tls=mine)
    assert live.client.log_interaction(event(1)).accepted == 1
    for refused in ({"tls_ca": pki.ca}, {"tls_ca": pki.ca, "tls_cert": pki.stranger_cert, "tls_key": pki.stranger_key}):
        with AdaptuneClient(live.address, timeout=5, **refused) as client:
            with pytest.raises(UnavailableError):
                client.interaction_stats()
    assert live.client.interaction_stats().total == 1


def test_the_cli_client_commands_speak_tls(server_factory, pki, capsys):
    mine = {"tls_ca": pki.ca, "tls_cert": pki.client_cert, "tls_key": pki.client_key}
    live = server_factory(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca, client_tls=mine)
    live.client.log_interaction(event(1))
    flags = ["--tls-ca", str(pki.ca), "--tls-cert", str(pki.client_cert), "--tls-key", str(pki.client_key)]
    assert cli_main(["stats", "--address", live.address, *flags]) == 0
    assert "1" in capsys.readouterr().out
    assert cli_main(["stats", "--address", live.address, "--tls-ca", str(pki.ca)]) == 2  # no client certificate
    err = capsys.readouterr().err
    assert f"no adaptune server answers at {live.address}" in err and "--tls-cert/--tls-key" in err


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"tls_cert": "cert"}, "tls_cert and tls_key go together"),
        ({"tls_client_ca": "ca"}, "tls_client_ca needs tls_cert and tls_key"),
        ({"tls_cert": "missing", "tls_key": "key"}, "tls_cert: cannot read"),
    ],
)
def test_bad_tls_settings_are_refused_naming_the_field(tmp_path, pki, fields, message):
    paths = {"cert": pki.server_cert, "key": pki.server_key, "ca": pki.ca, "missing": tmp_path / "nope.pem"}
    with pytest.raises(ValueError, match=message):
        ServerConfig(**{name: paths[value] for name, value in fields.items()})


def test_a_key_that_is_not_pem_is_refused(tmp_path, pki):
    junk = tmp_path / "junk.key"
    junk.write_text("not a key")
    with pytest.raises(ValueError, match="tls_key: .* is not a PEM file"):
        ServerConfig(tls_cert=pki.server_cert, tls_key=junk)


def test_serve_flags_reach_the_config_and_bad_files_are_one_line(tmp_path, pki, capsys):
    from server.cli import build_parser
    from server.commands.serve import config_from_args

    flags = ["serve", "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-client-ca", str(pki.ca)]
    config = config_from_args(build_parser().parse_args(flags + ["--max-streams", "3", "--stream-idle", "9"]))
    assert (config.tls_cert, config.tls_key, config.tls_client_ca) == (pki.server_cert, pki.server_key, pki.ca)
    assert (config.stream_limit, config.stream_idle_seconds) == (3, 9.0)

    bad_tokens = tmp_path / "tokens.json"
    bad_tokens.write_text('{"tokens": [{"name": "x"}]}')
    assert cli_main(["serve", "--db", str(tmp_path / "a.duckdb"), "--token-file", str(bad_tokens)]) == 2
    assert cli_main(["serve", "--db", str(tmp_path / "a.duckdb"), "--tls-cert", str(pki.server_cert)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "tokens[0].sha256 must be" in errors[0] and "tls_cert and tls_key go together" in errors[1]
