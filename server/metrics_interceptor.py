"""Counts every finished gRPC call by method and status code, failed ones included.

One interceptor in front of all the others (auth included), so a call refused for a
missing token is counted as UNAUTHENTICATED; it wraps the method handler, as
py-grpc-prometheus does, and reads the code the handler left on its context.
"""

from __future__ import annotations

from typing import Callable

import grpc

from server.metrics import ServerMetrics


class RpcMetricsInterceptor(grpc.ServerInterceptor):
    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]
        record = self._metrics.record_rpc
        if handler.response_streaming:
            behavior = handler.stream_stream if handler.request_streaming else handler.unary_stream
            wrapped = _streaming(behavior, method, record)
        else:
            behavior = handler.stream_unary if handler.request_streaming else handler.unary_unary
            wrapped = _unary(behavior, method, record)
        factory = {
            (False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[(handler.request_streaming, handler.response_streaming)]
        return factory(wrapped, request_deserializer=handler.request_deserializer,
                       response_serializer=handler.response_serializer)


def _code(context: grpc.ServicerContext, failed: bool) -> str:
    code = context.code()
    if code is None:
        return "UNKNOWN" if failed else "OK"
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


def _unary(behavior: Callable, method: str, record: Callable[[str, str], None]) -> Callable:
    def call(request, context):
        failed = True
        try:
            response = behavior(request, context)
            failed = False
            return response
        finally:
            record(method, _code(context, failed))

    return call


def _streaming(behavior: Callable, method: str, record: Callable[[str, str], None]) -> Callable:
    def call(request, context):
        failed = True
        try:
            yield from behavior(request, context)
            failed = False
        finally:
            record(method, _code(context, failed))

    return call
