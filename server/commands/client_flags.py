"""The TLS flags every client command shares (``--tls-ca``, ``--tls-cert``, ``--tls-key``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_tls_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TLS (when the server serves TLS)")
    group.add_argument("--tls-ca", type=Path, default=None, help="PEM of the CA that signed the server's certificate")
    group.add_argument("--tls-cert", type=Path, default=None, help="this client's certificate, for mutual TLS")
    group.add_argument("--tls-key", type=Path, default=None, help="this client's private key, for mutual TLS")


def tls_options(args: argparse.Namespace) -> dict[str, Path | None]:
    """Keyword arguments for ``AdaptuneClient``."""
    return {name: getattr(args, name, None) for name in ("tls_ca", "tls_cert", "tls_key")}
