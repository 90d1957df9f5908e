"""Wrapping gRPC method handlers: how interceptors add behaviour around a servicer method.

An interceptor can only return a handler (grpc issue 18459), so every guard here builds a
handler of the same shape whose behaviour calls the original. ``UndecodableRequestGuard``
turns request bytes that do not parse into INVALID_ARGUMENT, without the traceback gRPC
would log for each one (and the INTERNAL it would answer).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator

import grpc

log = logging.getLogger("adaptune.server")

Behavior = Callable[[Any, grpc.ServicerContext], Any]
_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


def behavior_of(handler: grpc.RpcMethodHandler) -> tuple[str, Behavior]:
    for kind in _KINDS:
        behavior = getattr(handler, kind)
        if behavior is not None:
            return kind, behavior
    raise ValueError("handler has no behaviour")


def replace_behavior(handler: grpc.RpcMethodHandler, wrap: Callable[[Behavior, grpc.RpcMethodHandler], Behavior], **fields) -> grpc.RpcMethodHandler:
    """The same handler with its behaviour replaced by ``wrap(behaviour, handler)`` (and ``fields`` changed)."""
    kind, behavior = behavior_of(handler)
    return handler._replace(**{kind: wrap(behavior, handler)}, **fields)


class _Undecodable:
    """Stands in for a request whose bytes did not parse."""


UNDECODABLE = _Undecodable()
UNDECODABLE_MESSAGE = "request bytes are not a valid protobuf message of this method's request type"


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # noqa: BLE001 - any parse failure is the client's bad bytes
            return UNDECODABLE

    return deserialize


def _refuse_undecodable(behavior: Behavior, handler: grpc.RpcMethodHandler) -> Behavior:
    def checked(request: Any, context: grpc.ServicerContext):
        if handler.request_streaming:
            request = _checked_stream(request, context)
        elif request is UNDECODABLE:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, UNDECODABLE_MESSAGE)
        return behavior(request, context)

    return checked


def _checked_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    for index, request in enumerate(requests):
        if request is UNDECODABLE:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"message {index} of the stream: {UNDECODABLE_MESSAGE}")
        yield request


class UndecodableRequestGuard(grpc.ServerInterceptor):
    """Undecodable request bytes: INVALID_ARGUMENT for that call, one debug line, no traceback."""

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails):
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return replace_behavior(
            handler, _refuse_undecodable, request_deserializer=_tolerant(handler.request_deserializer)
        )
