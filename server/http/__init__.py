"""The HTTP side of ``adaptune serve``: the dashboard and ``/metrics`` (off unless ``http_port`` is set).

``start_http`` binds, serves from a daemon thread and registers its shutdown first among
the server's stop callbacks, so it lives exactly as long as the gRPC server.
"""

from __future__ import annotations

import logging
import ssl
import threading

from server.context import AppContext
from server.http.app import Dashboard, DashboardServer, make_handler

log = logging.getLogger("adaptune.http")


def start_http(context: AppContext, *, ssl_context: ssl.SSLContext | None = None) -> int:
    """Listen on ``config.http_host:config.http_port`` (TLS when ``ssl_context``); returns the bound port.

    OSError (naming the address) when the port cannot be bound.
    """
    config = context.config
    try:
        httpd = DashboardServer((config.http_host, config.http_port), make_handler(Dashboard(context)))
    except OSError as exc:
        raise OSError(f"cannot listen for HTTP on {config.http_host}:{config.http_port}: {exc}") from exc
    httpd.ssl_context = ssl_context
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="adaptune-http", daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)

    context.on_stop.insert(0, stop)
    context.http_port = httpd.server_address[1]
    return context.http_port
