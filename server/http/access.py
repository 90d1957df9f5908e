"""Who may do what on the HTTP side: the one place the dashboard decides access.

``Access.allows(token, action, domain)`` takes the token a request presented (or None),
an action (``read``, ``promote`` or ``rollback``) and the domain a page or button is about
(None: pages that span every domain). Tokens are the gRPC side's (``--token`` and the
``--token-file`` scopes, ``server.scopes``): the same principal may do the same things
here. A server without tokens is read-only over HTTP (no button may change a champion
for anyone who can reach the port).

Browsers authenticate with a cookie set by the login form (or ``?token=``); a cookie
alone never authorizes a change: a POST must also carry the CSRF value (an HMAC of the
token under a per-server secret, which only a page served to the token's holder contains) or a bearer header.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from server.scopes import TokenTable

ACTIONS = ("read", "promote", "rollback")
COOKIE = "adaptune_token"


class Access:
    def __init__(self, tokens: TokenTable | str | None) -> None:
        # A plain string is the single all-powerful --token (as on the gRPC side).
        self._tokens = TokenTable.single(tokens) if isinstance(tokens, str) else tokens
        self._secret = os.urandom(32)

    @property
    def required(self) -> bool:
        """Whether reads need a token at all."""
        return self._tokens is not None

    def allows(self, token: str | None, action: str, domain: str | None = None) -> bool:
        """May a request presenting ``token`` do ``action`` in ``domain`` (None: every domain)?

        Constant-time digest compare (``TokenTable.authenticate``); never logs the token."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {list(ACTIONS)}, got {action!r}")
        if self._tokens is None:
            return action == "read"
        principal = self._tokens.authenticate(token) if token else None
        return principal is not None and principal.may(action, domain)

    def knows(self, token: str | None) -> bool:
        """Is ``token`` any principal's (the login form accepts it; each page then checks its scope)?"""
        return self._tokens is not None and bool(token) and self._tokens.authenticate(token) is not None

    def csrf_value(self, token: str | None) -> str:
        """The value promote/rollback forms carry for ``token``; '' without tokens or a token."""
        if self._tokens is None or not token:
            return ""
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, value: str | None, token: str | None) -> bool:
        expected = self.csrf_value(token)
        return bool(expected) and value is not None and hmac.compare_digest(value.encode(), expected.encode())
