"""Who decides a review, and whether they may: the one place the server answers both.

The caller is the principal ``server.auth`` authenticated (a scoped token's name, or
"token" for the single ``--token``); a server without auth has "anonymous" callers. The
right to decide is the right to promote in the review's domain (``RPC_SCOPES`` checks it
before the servicer runs; ``require_decider`` checks again, with the hook tests use).
"""

from __future__ import annotations

from typing import Callable

import grpc

from server.auth import METADATA_KEY, current_principal

ANONYMOUS = "anonymous"
TOKEN_HOLDER = "token"


class ReviewPermissionError(PermissionError):
    """The caller's token may not promote, so it may not decide reviews (PERMISSION_DENIED)."""


def principal_name(context: grpc.ServicerContext) -> str:
    """The caller's name for the decision record (never the secret itself)."""
    principal = current_principal()
    if principal is not None:
        return principal.name
    metadata = context.invocation_metadata() or ()
    return TOKEN_HOLDER if any(key == METADATA_KEY for key, _ in metadata) else ANONYMOUS


def may_promote(principal: str) -> bool:
    """Extra policy by name (a hook for tests and deployments); scopes are checked in ``require_decider``."""
    return True


def require_decider(
    context: grpc.ServicerContext, allowed: Callable[[str], bool] = may_promote, domain: str | None = None,
    action: str = "promote",
) -> str:
    """The caller's name when it may ``action`` in ``domain`` (None: any); ReviewPermissionError naming it otherwise."""
    name = principal_name(context)
    principal = current_principal()
    scoped_ok = principal is None or principal.may(action, domain)
    if not scoped_ok or not allowed(name):
        raise ReviewPermissionError(f"{name!r} may not {action} adapters, so it may not approve or reject candidates either")
    return name
