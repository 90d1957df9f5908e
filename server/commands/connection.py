"""Client flags and the connection of every command that talks to a server.

The one place client flags live (``--address``, ``--token`` and the ``--tls-*`` flags of
``server.commands.client_flags``), so every command reaches a server the same way. ``--address`` defaults to
``$ADAPTUNE_ADDRESS``, else the local server ``serve`` starts (127.0.0.1:50051). A
refused connection becomes one line saying what to do instead of gRPC's UNAVAILABLE.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Iterator

from server.commands.client_flags import add_tls_flags, tls_options
from server.config import DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV, resolve_token

ADDRESS_ENV = "ADAPTUNE_ADDRESS"


class ServerUnreachableError(ConnectionError):
    """No server answered at the address (refused, or not serving)."""


def default_address() -> str:
    """``$ADAPTUNE_ADDRESS``, else the address ``adaptune serve`` listens on by default."""
    return os.environ.get(ADDRESS_ENV) or f"{DEFAULT_HOST}:{DEFAULT_PORT}"


def add_client_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--address``, ``--token`` and the TLS flags: the flags every client command shares."""
    parser.add_argument(
        "--address", default=None,
        help=f"server HOST:PORT (default ${ADDRESS_ENV}, else {DEFAULT_HOST}:{DEFAULT_PORT})",
    )  # fmt: skip
    parser.add_argument("--token", default=None, help=f"bearer token (default ${TOKEN_ENV}, else none)")
    add_tls_flags(parser)


def unreachable_message(address: str, *, db_flag: bool) -> str:
    fallback = ", or pass --db FILE to use the database file directly while no server runs" if db_flag else ""
    return (
        f"no adaptune server answers at {address}: start one with `adaptune serve` "
        f"(or point --address / ${ADDRESS_ENV} at a running one; a TLS server needs --tls-ca, "
        f"and --tls-cert/--tls-key when it requires client certificates){fallback}"
    )


@contextlib.contextmanager
def connect(args: argparse.Namespace, *, timeout: float | None = 60.0, db_flag: bool = False) -> Iterator:
    """An ``AdaptuneClient`` for ``args.address``/``args.token``; UNAVAILABLE becomes ServerUnreachableError."""
    from server.client import AdaptuneClient, UnavailableError

    address = getattr(args, "address", None) or default_address()
    client = AdaptuneClient(address, token=resolve_token(getattr(args, "token", None)), timeout=timeout, **tls_options(args))
    try:
        yield client
    except UnavailableError:
        raise ServerUnreachableError(unreachable_message(address, db_flag=db_flag)) from None
    finally:
        client.close()
