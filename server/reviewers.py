"""Who decides a review, and whether they may: the one place the server answers both.

Today there is one bearer token (``server.auth``): a call that passed the interceptor
with it is "token", a call to a server without auth is "anonymous", and both may promote.
When tokens get names and scopes, ``principal_name`` returns the token's name and
``may_promote`` checks its scope: the review RPCs call only these two functions.
"""

from __future__ import annotations

from typing import Callable

import grpc

from server.auth import METADATA_KEY

ANONYMOUS = "anonymous"
TOKEN_HOLDER = "token"


class ReviewPermissionError(PermissionError):
    """The caller's token may not promote, so it may not decide reviews (PERMISSION_DENIED)."""


def principal_name(context: grpc.ServicerContext) -> str:
    """The caller's name for the decision record (never the secret itself)."""
    metadata = context.invocation_metadata() or ()
    return TOKEN_HOLDER if any(key == METADATA_KEY for key, _ in metadata) else ANONYMOUS


def may_promote(principal: str) -> bool:
    """Today the single token (or an open server) may do everything; the scope check goes here."""
    return True


def require_decider(context: grpc.ServicerContext, allowed: Callable[[str], bool] = may_promote) -> str:
    """The caller's name when it may decide reviews; ReviewPermissionError naming it otherwise."""
    name = principal_name(context)
    if not allowed(name):
        raise ReviewPermissionError(f"{name!r} may not promote adapters, so it may not approve or reject candidates")
    return name
