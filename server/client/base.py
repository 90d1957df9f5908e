"""The client's channel, auth metadata, health wait and error mapping, shared by every service mixin."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.tls import channel_credentials

S = TypeVar("S")

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ClientError(Exception):
    """A call failed; ``code`` is the gRPC status, ``details`` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class InvalidArgumentError(ClientError, ValueError):
    pass


class NotFoundError(ClientError, LookupError):
    pass


class UnauthenticatedError(ClientError, PermissionError):
    pass


class PermissionDeniedError(ClientError, PermissionError):
    """The token is valid but its scope does not cover this action or domain."""


class ResourceExhaustedError(ClientError):
    pass


class UnavailableError(ClientError, ConnectionError):
    pass


_ERROR_TYPES: dict[grpc.StatusCode, type[ClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
}


def error_from_rpc(exc: grpc.RpcError) -> ClientError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return _ERROR_TYPES.get(code, ClientError)(code, details or "")


class BaseClient:
    """One channel to one server; service mixins call ``_call`` and ``_stub``."""

    def __init__(
        self,
        address: str,
        token: str | None = None,
        *,
        timeout: float | None = 60.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        tls_ca: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ):
        """TLS when any of ``tls_ca`` (the CA that signed the server; else the system's roots),
        ``tls_cert``/``tls_key`` (this client's, for mutual TLS) or ``credentials`` is given."""
        if not address or ":" not in address:
            raise ValueError(f"address must be HOST:PORT, got {address!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds or None, got {timeout!r}")
        self.address = address
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if credentials is None and (tls_ca or tls_cert or tls_key):
            credentials = channel_credentials(tls_ca, tls_cert, tls_key)
        if credentials is not None:
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stubs: dict[type, Any] = {}

    def _stub(self, stub_type: Callable[[grpc.Channel], S]) -> S:
        if stub_type not in self._stubs:
            self._stubs[stub_type] = stub_type(self._channel)
        return self._stubs[stub_type]

    def _call(self, method: Callable[..., Any], request: Any, *, timeout: float | None = None) -> Any:
        """Invoke a unary or client-streaming method with auth; RpcError becomes a ClientError."""
        try:
            return method(request, metadata=self._metadata, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def health(self, service: str = "", *, timeout: float = 5.0) -> str:
        """The health status name of the server (or one service), e.g. 'SERVING'."""
        stub = self._stub(health_pb2_grpc.HealthStub)
        response = self._call(stub.Check, health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the server reports SERVING; UnavailableError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if self.health(timeout=max(0.1, min(2.0, deadline - time.monotonic()))) == "SERVING":
                    return
            except ClientError as exc:
                last = exc
            time.sleep(0.1)
        raise UnavailableError(grpc.StatusCode.UNAVAILABLE, f"server at {self.address} not ready after {timeout:g} s ({last})")

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
