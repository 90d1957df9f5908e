"""The one place where exceptions become gRPC status codes.

Servicer methods carry ``@grpc_errors``: domain errors raised by recsys and tuner map to
client-facing codes with their message (which names the field and the bad value);
anything unexpected becomes INTERNAL with an incident id, and the traceback goes to
the log, never to the client. Messages never carry paths or exception class names
(``tuner.public_errors``).
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable, TypeVar

import grpc

from recsys.events.validate import BatchTooLargeError
from recsys.cycles import CycleStateError
from recsys.ranking import RankingError
from tuner.cycle.errors import CycleCancelledError
from server.scopes import ScopeError
from tuner.public_errors import incident, public_message
from server.reviewers import ReviewPermissionError
from tuner.review.errors import ReviewStateError
from tuner.serving.errors import AdapterCapacityError, ServingPreconditionError

log = logging.getLogger("adaptune.server")

F = TypeVar("F", bound=Callable[..., Any])

# First match wins, so subclasses come before their bases. Other parts add their
# own exception types here (one line each) rather than catching in servicers.
STATUS_FOR_EXCEPTION: list[tuple[type[BaseException], grpc.StatusCode]] = [
    # A servicer's own server.auth.require(...) check failing.
    (ScopeError, grpc.StatusCode.PERMISSION_DENIED),
    (BatchTooLargeError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    # Empty log, diverged factorization: the message says what to do first.
    (RankingError, grpc.StatusCode.FAILED_PRECONDITION),
    # Missing/corrupt adapter files, no base model: the server keeps serving other variants.
    (ServingPreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (AdapterCapacityError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    # A cycle already running (the message names it), or a champion changed under a cycle.
    (CycleStateError, grpc.StatusCode.FAILED_PRECONDITION),
    (CycleCancelledError, grpc.StatusCode.ABORTED),
    # A review already decided, or its champion changed since the gate compared them.
    (ReviewStateError, grpc.StatusCode.FAILED_PRECONDITION),
    (ReviewPermissionError, grpc.StatusCode.PERMISSION_DENIED),
    (FileExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (PermissionError, grpc.StatusCode.FAILED_PRECONDITION),
    (LookupError, grpc.StatusCode.NOT_FOUND),
    (ValueError, grpc.StatusCode.INVALID_ARGUMENT),
    (TimeoutError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (NotImplementedError, grpc.StatusCode.UNIMPLEMENTED),
]

# Built-in lookups failing inside our own code are bugs, not a missing resource.
_BUGS: tuple[type[BaseException], ...] = (IndexError, KeyError)


def status_for(exc: BaseException) -> grpc.StatusCode:
    """The status an exception maps to; INTERNAL when it is not a known domain error."""
    if type(exc) in _BUGS:
        return grpc.StatusCode.INTERNAL
    for kind, code in STATUS_FOR_EXCEPTION:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


def abort_with(context: grpc.ServicerContext, exc: BaseException, method: str) -> None:
    """Abort the call with the mapped status (raises, as ``context.abort`` does)."""
    code = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        context.abort(code, incident(log, f"internal error in {method}", exc))
    context.abort(code, public_message(exc))


def grpc_errors(method: F) -> F:
    """Decorate a servicer method (unary or response-streaming) to map exceptions to status codes."""
    name = method.__qualname__

    def handle(exc: Exception, context: grpc.ServicerContext) -> None:
        # Already aborted by the method itself, or the client went away: nothing to map.
        if isinstance(exc, grpc.RpcError) or context.code() is not None:
            raise exc
        abort_with(context, exc, name)

    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def stream(self, request, context):
            try:
                yield from method(self, request, context)
            except Exception as exc:  # noqa: BLE001 - mapped or logged, never swallowed
                handle(exc, context)

        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    def unary(self, request, context):
        try:
            return method(self, request, context)
        except Exception as exc:  # noqa: BLE001 - mapped or logged, never swallowed
            handle(exc, context)

    return unary  # type: ignore[return-value]
