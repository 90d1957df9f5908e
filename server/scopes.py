"""Who may do what: principals, scopes and the token file, independent of gRPC.

A token file maps each token (only its sha256 is stored) to a name, the domains it may
touch (``*`` for all) and its actions. The gRPC interceptor (``server.auth``) and any
HTTP front end use the same ``TokenTable.authenticate`` and ``Principal.require``.

Token file (JSON)::

    {"tokens": [
      {"name": "acme-backend", "sha256": "<hex sha256 of the token>",
       "domains": ["legal", "contracts"], "actions": ["log", "read", "predict"]},
      {"name": "ops", "sha256": "...", "domains": ["*"], "actions": ["*"]}
    ]}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

ACTIONS: tuple[str, ...] = ("log", "read", "rank", "tune", "predict", "promote", "rollback", "cycle")
ALL = "*"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}")


class ScopeError(Exception):
    """A valid token asked for an action or a domain outside its scope (PERMISSION_DENIED)."""


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its name (for audit trails), domains and actions."""

    name: str
    domains: frozenset[str]
    actions: frozenset[str]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"name must be 1-64 letters, digits, '_', '.', '@' or '-', got {self.name!r}")
        unknown = set(self.actions) - set(ACTIONS) - {ALL}
        if unknown:
            raise ValueError(f"actions of {self.name!r}: unknown {sorted(unknown)}; use {', '.join(ACTIONS)} or '*'")
        if not self.domains:
            raise ValueError(f"domains of {self.name!r} is empty; list domains or '*'")

    def may(self, action: str, domain: str | None = None) -> bool:
        """``domain`` None means every domain (a listing without a domain filter)."""
        if ALL not in self.actions and action not in self.actions:
            return False
        return ALL in self.domains or (domain is not None and domain in self.domains)

    def require(self, action: str, domains: Iterable[str] | None = None) -> None:
        """ScopeError naming the action or the first domain outside the scope; ``None``: all domains."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
        if ALL not in self.actions and action not in self.actions:
            raise ScopeError(f"token {self.name!r} may not {action} (its actions: {', '.join(sorted(self.actions))})")
        if domains is None:
            if ALL not in self.domains:
                raise ScopeError(f"token {self.name!r} may not {action} across all domains; name one of its domains")
            return
        for domain in domains:
            if not self.may(action, domain):
                raise ScopeError(f"token {self.name!r} may not {action} in domain {domain[:64]!r}")


ADMIN = Principal("admin", frozenset({ALL}), frozenset({ALL}))


class TokenTable:
    """sha256(token) -> Principal; ``authenticate`` compares digests in constant time."""

    def __init__(self, entries: dict[str, Principal]):
        self._entries = dict(entries)

    @classmethod
    def single(cls, token: str, principal: Principal = ADMIN) -> "TokenTable":
        """The legacy ``--token``: one all-powerful token."""
        return cls({token_sha256(token): principal})

    @classmethod
    def load(cls, path: str | Path) -> "TokenTable":
        """Read a token file; ValueError naming the entry and field when it is malformed."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"token file {str(path)!r} cannot be read as JSON: {exc}") from exc
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list) or not tokens:
            raise ValueError(f"token file {str(path)!r}: 'tokens' must be a non-empty list")
        entries: dict[str, Principal] = {}
        for i, item in enumerate(tokens):
            where = f"token file tokens[{i}]"
            if not isinstance(item, dict):
                raise ValueError(f"{where} must be an object")
            digest = item.get("sha256")
            if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
                raise ValueError(f"{where}.sha256 must be 64 lowercase hex digits (sha256 of the token)")
            if digest in entries:
                raise ValueError(f"{where}.sha256 repeats an earlier token")
            lists = {}
            for field in ("domains", "actions"):
                value = item.get(field)
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{where}.{field} must be a list of strings")
                lists[field] = frozenset(value)
            try:
                entries[digest] = Principal(item.get("name"), lists["domains"], lists["actions"])
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from exc
        return cls(entries)

    def merged(self, other: "TokenTable") -> "TokenTable":
        return TokenTable({**self._entries, **other._entries})

    def authenticate(self, token: str | bytes) -> Principal | None:
        presented = hashlib.sha256(token if isinstance(token, bytes) else token.encode()).hexdigest().encode()
        found = None
        for digest, principal in self._entries.items():  # every entry compared: no early exit
            if hmac.compare_digest(presented, digest.encode()):
                found = principal
        return found
