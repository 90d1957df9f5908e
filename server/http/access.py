"""Who may do what on the HTTP side: the one place the dashboard decides access.

``Access.allows(token, action)`` takes the token a request presented (or None) and an
action (``read`` or ``promote``). Today one server token may do everything, as on the
gRPC side; a server without a token is read-only over HTTP (no button may change a
champion for anyone who can reach the port). Scoped tokens plug in here: this is the
function to route through their check.

Browsers authenticate with a cookie set by the login form (or ``?token=``); a cookie
alone never authorizes a change: a POST must also carry the CSRF value (an HMAC of the
token that only a page served to the token's holder contains) or a bearer header.
"""

from __future__ import annotations

import hashlib
import hmac

ACTIONS = ("read", "promote")
COOKIE = "adaptune_token"


class Access:
    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def required(self) -> bool:
        """Whether reads need a token at all."""
        return self._token is not None

    def allows(self, token: str | None, action: str) -> bool:
        """May a request presenting ``token`` do ``action``? Constant-time; never logs the token."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {list(ACTIONS)}, got {action!r}")
        if self._token is None:
            return action == "read"
        return token is not None and hmac.compare_digest(token.encode(), self._token)

    def csrf_value(self) -> str:
        """The value promote/rollback forms carry; '' when nothing may promote."""
        if self._token is None:
            return ""
        return hmac.new(self._token, b"adaptune-dashboard-csrf", hashlib.sha256).hexdigest()

    def csrf_ok(self, value: str | None) -> bool:
        expected = self.csrf_value()
        return bool(expected) and value is not None and hmac.compare_digest(value.encode(), expected.encode())
