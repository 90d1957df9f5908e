"""Scoped tokens per tenant: a token file maps sha256(token) to domains and actions; a call
outside its scope is PERMISSION_DENIED naming the action or domain and changes nothing."""

from __future__ import annotations

import json
import logging

import grpc
import pytest

from server.client import ClientError, PermissionDeniedError, UnauthenticatedError
from server.scopes import ADMIN, Principal, ScopeError, TokenTable, token_sha256
from tests.fixtures.events import event

ACME, OPS, LEGACY = "acme-token-1", "ops-token-2", "legacy-admin-3"


def write_tokens(path, entries) -> str:
    path.write_text(json.dumps({"tokens": entries}))
    return str(path)


@pytest.fixture
def scoped(server_factory, tmp_path):
    token_file = write_tokens(tmp_path / "tokens.json", [
        {"name": "acme", "sha256": token_sha256(ACME), "domains": ["legal"], "actions": ["log", "read", "predict"]},
        {"name": "ops", "sha256": token_sha256(OPS), "domains": ["*"], "actions": ["*"]},
    ])  # fmt: skip
    return server_factory(token=LEGACY, token_file=token_file)


def stored(live) -> list[str]:
    return [row[0] for row in live.db.cursor().execute("SELECT domain FROM interactions ORDER BY seq").fetchall()]


def test_a_tenant_works_inside_its_scope(scoped):
    with scoped.connect(token=ACME) as acme:
        assert acme.log_interactions([event(1, domain="legal"), event(2, domain="legal")]).accepted == 2
        assert acme.interaction_stats(domain="legal").total == 2
        assert [e.event_id for e in acme.list_interactions(domain="legal").interactions] == ["evt-000001", "evt-000002"]


def test_a_domain_outside_the_scope_is_denied_naming_it_and_nothing_is_stored(scoped):
    with scoped.connect(token=ACME) as acme:
        with pytest.raises(PermissionDeniedError, match="token 'acme' may not log in domain 'banking'") as caught:
            acme.log_interactions([event(1, domain="legal"), event(2, domain="banking")])
        assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(PermissionDeniedError, match="domain 'banking'"):
            acme.log_interaction(event(3, domain="banking"))
        with pytest.raises(PermissionDeniedError, match="may not read across all domains"):
            acme.interaction_stats()
        with pytest.raises(PermissionDeniedError, match="may not read in domain 'banking'"):
            acme.list_interactions(domain="banking")
    assert stored(scoped) == []


def test_an_action_outside_the_scope_is_denied_naming_it(scoped):
    with scoped.connect(token=ACME) as acme:
        for call, action in [
            (lambda: acme.promote_adapter("legal", "v0001"), "promote"),
            (lambda: acme.rollback_adapter("legal"), "rollback"),
            (lambda: acme.upsert_domain("legal", description="mine"), "tune"),
            (lambda: list(acme.stream_cycle(domains=["legal"])), "cycle"),
        ]:
            with pytest.raises(PermissionDeniedError, match=f"token 'acme' may not {action} "):
                call()
    assert scoped.client.list_domains() == []


def test_the_servicer_knows_the_principal(scoped, caplog):
    caplog.set_level(logging.INFO, logger="adaptune.audit")
    with scoped.connect(token=OPS) as ops:
        with pytest.raises(ClientError) as caught:
            ops.rollback_adapter("legal")
    assert caught.value.code != grpc.StatusCode.PERMISSION_DENIED  # allowed; there is just nothing to roll back
    assert "rollback 'legal' requested by 'ops'" in caplog.text


def test_the_single_token_stays_all_powerful_and_unknown_tokens_are_refused(scoped):
    assert scoped.client.log_interaction(event(1, domain="banking")).accepted == 1
    assert scoped.client.interaction_stats().total == 1
    with scoped.connect(token="nope") as stranger:
        with pytest.raises(UnauthenticatedError, match="invalid bearer token"):
            stranger.interaction_stats()


def test_principal_scopes_without_grpc():
    tenant = Principal("t", frozenset({"legal"}), frozenset({"read"}))
    tenant.require("read", ["legal"])
    with pytest.raises(ScopeError, match="may not read in domain 'x'"):
        tenant.require("read", ["legal", "x"])
    with pytest.raises(ScopeError, match="may not log"):
        tenant.require("log", ["legal"])
    ADMIN.require("promote", None)
    with pytest.raises(ValueError, match="action must be one of"):
        tenant.require("delete", ["legal"])


@pytest.mark.parametrize(
    "entries, message",
    [
        ([{"name": "a", "sha256": "abc", "domains": ["*"], "actions": ["*"]}], r"tokens\[0\].sha256 must be 64"),
        ([{"name": "a", "sha256": "a" * 64, "domains": "legal", "actions": ["*"]}], r"tokens\[0\].domains must be a list"),
        ([{"name": "a", "sha256": "a" * 64, "domains": ["*"], "actions": ["fly"]}], r"tokens\[0\]: actions of 'a': unknown \['fly'\]"),
        ([{"name": "", "sha256": "a" * 64, "domains": ["*"], "actions": ["*"]}], r"tokens\[0\]: name must be"),
        ([], "'tokens' must be a non-empty list"),
    ],
)
def test_a_malformed_token_file_is_refused_naming_the_entry(tmp_path, entries, message):
    with pytest.raises(ValueError, match=message):
        TokenTable.load(write_tokens(tmp_path / "t.json", entries))


def test_the_token_table_stores_and_matches_only_digests(tmp_path):
    table = TokenTable.load(write_tokens(tmp_path / "t.json", [
        {"name": "a", "sha256": token_sha256("secret"), "domains": ["*"], "actions": ["read"]},
    ]))  # fmt: skip
    assert table.authenticate("secret").name == "a"
    assert table.authenticate("secret ") is None and table.authenticate("") is None
    assert "secret" not in (tmp_path / "t.json").read_text()
