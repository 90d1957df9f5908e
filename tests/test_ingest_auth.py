"""Bearer-token auth: UNAUTHENTICATED without the right token, nothing written; health stays open."""

from __future__ import annotations

import grpc
import pytest

from server.client import UnauthenticatedError
from tests.fixtures.events import event, events

TOKEN = "s3cret-token"


@pytest.fixture
def secured(server_factory):
    return server_factory(token=TOKEN)


def count(server) -> int:
    return server.db.cursor().execute("SELECT count(*) FROM interactions").fetchone()[0]


@pytest.mark.parametrize("token, message", [(None, "missing authorization metadata"), ("wrong", "invalid bearer token")])
def test_stream_without_the_right_token_is_refused_and_writes_nothing(secured, token, message):
    with secured.connect(token=token) as client:
        with pytest.raises(UnauthenticatedError, match=message) as raised:
            client.log_interactions(events(20))
        assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(UnauthenticatedError):
            client.log_interaction(event(1))
        with pytest.raises(UnauthenticatedError):
            client.interaction_stats()
    assert count(secured) == 0


def test_the_right_token_works(secured):
    assert secured.client.log_interactions(events(20)).accepted == 20
    assert secured.client.interaction_stats().total == 20


def test_health_needs_no_token(secured):
    with secured.connect(token=None) as client:
        assert client.health() == "SERVING"


def test_server_without_token_needs_none(live_server):
    with live_server.connect(token="anything") as client:
        assert client.log_interactions(events(3)).accepted == 3
