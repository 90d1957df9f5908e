"""Exceptions map to status codes in one place; unexpected ones are INTERNAL without their details."""

from __future__ import annotations

import grpc
import pytest

from recsys.domains import DomainError, UnknownDomainError
from recsys.events.query import InvalidPageTokenError
from recsys.events.validate import BatchTooLargeError
from server.client import ClientError
from server.errors import status_for


@pytest.mark.parametrize(
    "exc, code",
    [
        (BatchTooLargeError(11, 10), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (UnknownDomainError("parent 'x' is not a known domain"), grpc.StatusCode.NOT_FOUND),
        (DomainError("domain 'X' is invalid"), grpc.StatusCode.INVALID_ARGUMENT),
        (InvalidPageTokenError("page_token 'x'"), grpc.StatusCode.INVALID_ARGUMENT),
        (PermissionError("read-only"), grpc.StatusCode.FAILED_PRECONDITION),
        (FileExistsError("exists"), grpc.StatusCode.ALREADY_EXISTS),
        (KeyError("a bug"), grpc.StatusCode.INTERNAL),
        (IndexError("a bug"), grpc.StatusCode.INTERNAL),
        (RuntimeError("a bug"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_for(exc, code):
    assert status_for(exc) == code


def test_unexpected_failure_is_internal_with_an_incident_id_and_no_details(live_server, caplog):
    live_server.db.close()  # the store going away under a running server
    with pytest.raises(ClientError) as raised:
        live_server.client.interaction_stats()
    assert raised.value.code == grpc.StatusCode.INTERNAL
    assert raised.value.details.startswith("internal error (incident ")
    assert "onnection" not in raised.value.details and "duckdb" not in raised.value.details.lower()
    incident = raised.value.details.split("incident ")[1].split(")")[0]
    assert any(incident in record.getMessage() for record in caplog.records)
