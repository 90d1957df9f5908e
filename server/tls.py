"""TLS and mutual TLS for the gRPC port, and the matching client channel credentials.

``--tls-cert/--tls-key`` serve TLS; ``--tls-client-ca`` also requires every client to
present a certificate signed by that CA (mTLS). Files are PEM. A client gets the same
three: the CA that signed the server (``tls_ca``) and, for mTLS, its own cert and key.
"""

from __future__ import annotations

from pathlib import Path

import grpc


def read_pem(path: Path | str | None, field: str) -> bytes | None:
    """The file's bytes; ValueError naming the field when it cannot be read or is not PEM."""
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{field}: cannot read {str(path)!r} ({exc.strerror or exc})") from exc
    if b"-----BEGIN " not in data:
        raise ValueError(f"{field}: {str(path)!r} is not a PEM file")
    return data


def check_tls_files(cert: Path | None, key: Path | None, client_ca: Path | None, *, prefix: str = "tls_") -> None:
    """Both of cert and key or neither; a client CA only with them; every file readable PEM."""
    if (cert is None) != (key is None):
        raise ValueError(f"{prefix}cert and {prefix}key go together: give both or neither")
    if client_ca is not None and cert is None:
        raise ValueError(f"{prefix}client_ca needs {prefix}cert and {prefix}key (mutual TLS is on top of TLS)")
    for name, path in ((f"{prefix}cert", cert), (f"{prefix}key", key), (f"{prefix}client_ca", client_ca)):
        read_pem(path, name)


def server_credentials(cert: Path | None, key: Path | None, client_ca: Path | None) -> grpc.ServerCredentials | None:
    """None for a plain port; TLS with ``cert``/``key``; mTLS (client certs required) with ``client_ca``."""
    if cert is None or key is None:
        return None
    pair = [(read_pem(key, "tls_key"), read_pem(cert, "tls_cert"))]
    roots = read_pem(client_ca, "tls_client_ca")
    return grpc.ssl_server_credentials(pair, root_certificates=roots, require_client_auth=roots is not None)


def channel_credentials(ca: Path | None = None, cert: Path | None = None, key: Path | None = None) -> grpc.ChannelCredentials:
    """Client TLS: trust ``ca`` (else the system roots); present ``cert``/``key`` for mTLS."""
    if (cert is None) != (key is None):
        raise ValueError("tls_cert and tls_key go together: give both or neither")
    return grpc.ssl_channel_credentials(
        root_certificates=read_pem(ca, "tls_ca"),
        private_key=read_pem(key, "tls_key"),
        certificate_chain=read_pem(cert, "tls_cert"),
    )


def http_ssl_context(cert: Path | None, key: Path | None, client_ca: Path | None) -> "ssl.SSLContext | None":
    """The HTTP side's TLS from the same files as the gRPC port (client certs required with ``client_ca``)."""
    import ssl

    if cert is None or key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        context.load_verify_locations(str(client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context
