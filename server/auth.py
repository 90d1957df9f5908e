"""Authentication and scopes in front of every service but health.

Health checks stay open so load balancers can probe readiness without a secret. A call
carries ``authorization: Bearer <token>``; the token table (``server.scopes``) names its
principal, and ``RPC_SCOPES`` (the one table mapping every RPC to an action and the
domains its request touches) decides: UNAUTHENTICATED without a valid token,
PERMISSION_DENIED naming the action or domain outside the token's scope. Tokens are
compared as sha256 digests in constant time and never logged.

Servicers (and other features) learn the caller through ``current_principal()`` and
can check more with ``require(action, domains)``: the interceptor wraps the method
handler and sets the principal for the call's thread (grpc issue 18459).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import grpc

from server.handlers import UNDECODABLE, Behavior, replace_behavior
from server.scopes import Principal, ScopeError, TokenTable

HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIX = "/grpc.reflection."
METADATA_KEY = "authorization"

_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("adaptune_principal", default=None)


def current_principal() -> Principal | None:
    """The caller of the RPC running on this thread; None when the server runs without auth."""
    return _principal.get()


def require(action: str, domains: Iterable[str] | None = None) -> None:
    """ScopeError unless the current caller may ``action`` in ``domains`` (None: all); no-op without auth."""
    principal = current_principal()
    if principal is not None:
        principal.require(action, domains)


def _one(field: str) -> Callable[[Any], list[str] | None]:
    """The request's ``field`` as the touched domain; empty means every domain."""
    return lambda request: [getattr(request, field)] if getattr(request, field) else None


def _none(request: Any) -> None:
    return None


@dataclass(frozen=True)
class Scope:
    action: str
    domains: Callable[[Any], list[str] | None]  # None: the call spans every domain


_I, _R, _T, _V = (f"/adaptune.v1.{s}/" for s in ("InteractionService", "RankingService", "TuningService", "VariantService"))
RPC_SCOPES: dict[str, Scope] = {
    _I + "LogInteractions": Scope("log", lambda batch: sorted({e.domain for e in batch.interactions})),
    _I + "LogInteraction": Scope("log", lambda request: [request.interaction.domain]),
    _I + "InteractionStats": Scope("read", _one("domain")),
    _I + "ListInteractions": Scope("read", _one("domain")),
    _I + "UpsertDomain": Scope("tune", lambda request: [request.domain.name] + [p for p in [request.domain.parent] if p]),
    _I + "ListDomains": Scope("read", _none),
    _R + "RankTargets": Scope("rank", _one("domain")),
    _T + "RunCycle": Scope("cycle", lambda request: list(request.domains) or None),
    _T + "ListCycles": Scope("read", _none),
    _T + "ListAdapters": Scope("read", _one("domain")),
    _T + "PromoteAdapter": Scope("promote", _one("domain")),
    _T + "RollbackAdapter": Scope("rollback", _one("domain")),
    _T + "ListReviews": Scope("read", _one("domain")),
    _T + "GetReview": Scope("read", _one("domain")),
    # Deciding a review promotes (approve) or refuses a promotion (reject): the promote right.
    _T + "ApproveCandidate": Scope("promote", _one("domain")),
    _T + "RejectCandidate": Scope("promote", _one("domain")),
    _V + "GetVariant": Scope("predict", _one("domain")),
    _V + "Predict": Scope("predict", _one("domain")),
}


class AuthInterceptor(grpc.ServerInterceptor):
    """Bearer token -> principal -> scope check of every request, before the servicer runs."""

    def __init__(self, tokens: TokenTable, exempt_prefixes: tuple[str, ...] = (HEALTH_PREFIX,)):
        self._tokens = tokens
        self._exempt = exempt_prefixes

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(self._exempt):
            return handler
        principal, problem = self._authenticate(handler_call_details.invocation_metadata or ())
        if principal is None:
            return _refusal(handler, grpc.StatusCode.UNAUTHENTICATED, problem)
        scope = RPC_SCOPES.get(method)
        if scope is None and not method.startswith(REFLECTION_PREFIX):
            return _refusal(handler, grpc.StatusCode.PERMISSION_DENIED, f"method {method} is not open to tokens")
        return replace_behavior(handler, lambda behavior, h: _scoped(behavior, h, principal, scope))

    def _authenticate(self, metadata) -> tuple[Principal | None, str]:
        values = [value for key, value in metadata if key == METADATA_KEY]
        if not values:
            return None, "missing authorization metadata: send 'authorization: Bearer <token>'"
        presented = values[0] if isinstance(values[0], str) else values[0].decode(errors="replace")
        if not presented.startswith("Bearer "):
            return None, "invalid bearer token in authorization metadata"
        principal = self._tokens.authenticate(presented[len("Bearer "):])
        return principal, "" if principal else "invalid bearer token in authorization metadata"


def _check(principal: Principal, scope: Scope | None, request: Any, context: grpc.ServicerContext) -> None:
    if scope is None or request is UNDECODABLE:  # reflection; undecodable bytes are refused further in
        return
    try:
        principal.require(scope.action, scope.domains(request))
    except ScopeError as exc:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))


def _scoped(behavior: Behavior, handler: grpc.RpcMethodHandler, principal: Principal, scope: Scope | None) -> Behavior:
    def checked_stream(requests, context):
        for request in requests:
            _check(principal, scope, request, context)
            yield request

    def checked(request, context):
        if handler.request_streaming:
            return checked_stream(request, context)
        _check(principal, scope, request, context)
        return request

    if handler.response_streaming:

        def streaming(request, context):
            token = _principal.set(principal)
            try:
                yield from behavior(checked(request, context), context)
            finally:
                _principal.reset(token)

        return streaming

    def unary(request, context):
        token = _principal.set(principal)
        try:
            return behavior(checked(request, context), context)
        finally:
            _principal.reset(token)

    return unary


def _refusal(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, problem: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as the real one that aborts before reading any request."""

    def deny(request_or_iterator, context: grpc.ServicerContext):
        context.abort(code, problem)

    def deny_stream(request_or_iterator, context: grpc.ServicerContext):
        context.abort(code, problem)
        yield  # pragma: no cover - makes this a generator, as streaming handlers are

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny_stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny_stream)
    return grpc.unary_unary_rpc_method_handler(deny)
