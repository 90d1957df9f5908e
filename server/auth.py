"""Optional bearer-token auth: one interceptor in front of every service but health.

Health checks stay open so load balancers and the demo can probe readiness without
the secret. The comparison is constant-time; the token is never logged.
"""

from __future__ import annotations

import hmac
from typing import Callable

import grpc

HEALTH_PREFIX = "/grpc.health.v1.Health/"
METADATA_KEY = "authorization"


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Refuses calls without ``authorization: Bearer <token>`` with UNAUTHENTICATED."""

    def __init__(self, token: str, exempt_prefixes: tuple[str, ...] = (HEALTH_PREFIX,)):
        if not token:
            raise ValueError("token must be non-empty")
        self._expected = f"Bearer {token}".encode()
        self._exempt = exempt_prefixes

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self._exempt):
            return handler
        problem = self._problem(handler_call_details.invocation_metadata or ())
        return handler if problem is None else _refusal(handler, problem)

    def _problem(self, metadata) -> str | None:
        values = [value for key, value in metadata if key == METADATA_KEY]
        if not values:
            return "missing authorization metadata: send 'authorization: Bearer <token>'"
        presented = values[0].encode() if isinstance(values[0], str) else values[0]
        if not hmac.compare_digest(presented, self._expected):
            return "invalid bearer token in authorization metadata"
        return None


def _refusal(handler: grpc.RpcMethodHandler, problem: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as the real one that aborts before reading any request."""

    def deny(request_or_iterator, context: grpc.ServicerContext):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)

    def deny_stream(request_or_iterator, context: grpc.ServicerContext):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)
        yield  # pragma: no cover - makes this a generator, as streaming handlers are

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny_stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny_stream)
    return grpc.unary_unary_rpc_method_handler(deny)
