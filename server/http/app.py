"""Routing of the HTTP side: dashboard pages, report files, plots, ``/metrics``, login, promote/rollback.

A ``ThreadingHTTPServer`` from the standard library (no framework): each request is
authorized by ``Access.allows`` first, then one route function answers it. Changes
(promote, roll back) go through the same registry calls as the gRPC TuningService.
"""

from __future__ import annotations

import http.cookies
import io
import logging
import re
import ssl
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from recsys.domains import check_domain_name
from server.context import AppContext
from server.http import pages, state
from server.http.access import COOKIE, Access
from server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

log = logging.getLogger("adaptune.http")

MAX_FORM_BYTES = 16 * 1024
HTML = "text/html; charset=utf-8"
CYCLE_ID = r"[A-Za-z0-9_\-]{1,80}"
DOMAIN = r"[a-z0-9][a-z0-9_\-]{0,63}"
# Pages and buttons about one domain: their first route group is that domain.
DOMAIN_PREFIX = re.compile(r"/(?:plots/)?domains/")


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = HTML
    headers: tuple[tuple[str, str], ...] = ()


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def html_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode())


def redirect(location: str, *headers: tuple[str, str]) -> Response:
    return Response(HTTPStatus.SEE_OTHER, b"", headers=(("Location", location), *headers))


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    bearer: str | None
    cookie: str | None

    @property
    def token(self) -> str | None:
        """The credential for reads: header, then ?token=, then the login cookie."""
        return self.bearer or self.query.get("token") or self.cookie


class Dashboard:
    """The routes over one server's context; ``handle`` never raises."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.access = Access(context.config.token_table())
        self.routes: list[tuple[str, re.Pattern, Callable[..., Response], str]] = [
            ("GET", re.compile(r"/"), self.overview, "read"),
            ("GET", re.compile(rf"/domains/({DOMAIN})"), self.domain, "read"),
            ("POST", re.compile(rf"/domains/({DOMAIN})/promote"), self.promote, "promote"),
            ("POST", re.compile(rf"/domains/({DOMAIN})/rollback"), self.rollback, "rollback"),
            ("GET", re.compile(r"/cycles"), self.cycles, "read"),
            ("GET", re.compile(rf"/cycles/({CYCLE_ID})"), self.cycle, "read"),
            ("GET", re.compile(rf"/cycles/({CYCLE_ID})/files/(.+)"), self.cycle_file, "read"),
            ("GET", re.compile(r"/ingestion"), self.ingestion, "read"),
            ("GET", re.compile(rf"/plots/domains/({DOMAIN})\.png"), self.domain_plot, "read"),
            ("GET", re.compile(r"/plots/ingestion\.png"), self.ingestion_plot, "read"),
            ("GET", re.compile(r"/progress\.json"), self.progress, "read"),
            ("GET", re.compile(r"/metrics"), self.metrics, "read"),
        ]

    @property
    def registry(self):
        return self.context.cycles.registry

    # -- dispatch ----------------------------------------------------------------------

    def handle(self, request: Request) -> tuple[str, Response]:
        """(route name for metrics, response)."""
        if request.path == "/login":
            return "login", self.login(request)
        for method, pattern, route, action in self.routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            name = route.__name__
            if request.method != method:
                return name, self._error(request, HTTPStatus.METHOD_NOT_ALLOWED, f"{request.path} answers {method} only")
            try:
                # Routes whose first group is a domain are checked in that domain's scope.
                domain = match.group(1) if DOMAIN_PREFIX.match(request.path) else None
                self._authorize(request, action, domain)
                return name, route(request, *match.groups())
            except HttpError as exc:
                return name, self._error(request, exc.status, str(exc))
            except Exception:  # noqa: BLE001 - logged with an incident id, never shown
                incident = uuid.uuid4().hex[:12]
                log.exception("dashboard error on %s (incident %s)", request.path, incident)
                return name, self._error(request, 500, f"internal error (incident {incident}); see the server log")
        return "unknown", self._error(request, HTTPStatus.NOT_FOUND, f"no page {request.path}")

    def _authorize(self, request: Request, action: str, domain: str | None) -> None:
        if action == "read":
            if not self.access.allows(request.token, "read", domain):
                raise HttpError(HTTPStatus.UNAUTHORIZED, "this page needs a token that may read it: log in, or send "
                                                         "'Authorization: Bearer <token>'")
            return
        # A change: a bearer header, or the page's CSRF value with the cookie; a cookie alone never suffices.
        csrf_ok = self.access.csrf_ok(request.form.get("csrf"), request.cookie)
        token = request.bearer if request.bearer else (request.cookie if csrf_ok else None)
        if not self.access.allows(token, action, domain):
            raise HttpError(HTTPStatus.FORBIDDEN, f"{action} refused: it needs the server token"
                            + ("" if self.access.required else " (this server runs without --token: read-only)"))

    def _error(self, request: Request, status: int, message: str) -> Response:
        if request.path in ("/metrics", "/progress.json") or request.path.endswith(".png") or "/files/" in request.path:
            return Response(status, (message + "\n").encode(), "text/plain; charset=utf-8")
        if status == HTTPStatus.UNAUTHORIZED:
            return html_response(pages.login_page(message), status)
        return html_response(pages.error_page(status, message), status)

    # -- pages -------------------------------------------------------------------------

    def overview(self, request: Request) -> Response:
        return self._with_cookie(request, html_response(pages.overview_page(
            state.overview(self.context.db, self.registry), state.progress(self.context.cycles))))

    def domain(self, request: Request, name: str, message: str = "", status: int = 200) -> Response:
        history = self._history(name)
        can_promote = self.access.allows(request.token, "promote", name)
        page = pages.domain_page(history, csrf=self.access.csrf_value(request.token) if can_promote else "", can_promote=can_promote,
                                 message=message)
        return self._with_cookie(request, html_response(page, status))

    def cycles(self, request: Request) -> Response:
        return self._with_cookie(request, html_response(pages.cycles_page(
            state.recent_cycles(self.context.db), state.progress(self.context.cycles))))

    def cycle(self, request: Request, cycle_id: str) -> Response:
        try:
            record = state.cycle(self.context.db, cycle_id)
        except LookupError as exc:
            raise HttpError(HTTPStatus.NOT_FOUND, str(exc)) from exc
        images = state.cycle_images(self.context.config.reports_dir, cycle_id)
        return self._with_cookie(request, html_response(pages.cycle_page(record, images)))

    def cycle_file(self, request: Request, cycle_id: str, relative: str) -> Response:
        try:
            path = state.report_file(self.context.config.reports_dir, cycle_id, relative)
        except LookupError as exc:
            raise HttpError(HTTPStatus.NOT_FOUND, str(exc)) from exc
        kind = "image/png" if path.suffix == ".png" else "text/plain; charset=utf-8"
        return Response(200, path.read_bytes(), kind)

    def ingestion(self, request: Request) -> Response:
        from recsys.events.timeline import ingestion_timeline

        return self._with_cookie(request, html_response(pages.ingestion_page(ingestion_timeline(self.context.db))))

    def domain_plot(self, request: Request, name: str) -> Response:
        from tuner.reports.adapter_history import plot_adapter_history

        history = self._history(name)
        buffer = io.BytesIO()
        plot_adapter_history(history.records, buffer, title=f"{name}: held-out metrics by adapter version")
        return Response(200, buffer.getvalue(), "image/png")

    def ingestion_plot(self, request: Request) -> Response:
        from recsys.events.timeline import ingestion_timeline
        from tuner.reports.ingestion import plot_ingestion

        buffer = io.BytesIO()
        plot_ingestion(ingestion_timeline(self.context.db), buffer)
        return Response(200, buffer.getvalue(), "image/png")

    def progress(self, request: Request) -> Response:
        return Response(200, pages.progress_json(state.progress(self.context.cycles)), "application/json")

    def metrics(self, request: Request) -> Response:
        return Response(200, self.context.metrics.exposition(), METRICS_CONTENT_TYPE)

    # -- changes -----------------------------------------------------------------------

    def promote(self, request: Request, name: str) -> Response:
        from tuner.registry import check_version

        version = request.form.get("version", "")
        try:
            check_version(version)
        except ValueError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"field version: {exc}") from exc
        return self._change(request, name, lambda: self.registry.promote(name, version), f"promoted {version}")

    def rollback(self, request: Request, name: str) -> Response:
        return self._change(request, name, lambda: self.registry.rollback(name), "rolled back")

    def _change(self, request: Request, name: str, change: Callable[[], object], done: str) -> Response:
        """Run a registry change; unknown version 404, a state that forbids it 409 (nothing changed)."""
        from tuner.errors import RegistryStateError

        self._history(name)
        try:
            change()
        except RegistryStateError as exc:
            return self.domain(request, name, message=str(exc), status=HTTPStatus.CONFLICT)
        except LookupError as exc:
            raise HttpError(HTTPStatus.NOT_FOUND, str(exc)) from exc
        log.info("dashboard: domain %s %s", name, done)
        return redirect(pages.url("domains", name))

    def _history(self, name: str) -> state.DomainHistory:
        try:
            return state.domain_history(self.context.db, self.registry, check_domain_name(name))
        except LookupError as exc:
            raise HttpError(HTTPStatus.NOT_FOUND, str(exc)) from exc

    # -- login -------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        if request.method == "GET":
            return html_response(pages.login_page())
        token = request.form.get("token", "")
        if not self.access.required or not self.access.knows(token):
            return html_response(pages.login_page("That is not this server's token."), HTTPStatus.UNAUTHORIZED)
        return redirect("/", ("Set-Cookie", _cookie(token)))

    def _with_cookie(self, request: Request, response: Response) -> Response:
        """A page opened with ?token= keeps the browser logged in (the cookie), as the login form does."""
        if request.query.get("token") and request.query.get("token") != request.cookie:
            response.headers = (*response.headers, ("Set-Cookie", _cookie(request.query["token"])))
        return response


def _cookie(token: str) -> str:
    """The Set-Cookie value; SimpleCookie quotes a token holding ';' or ',' so it reads back whole."""
    jar = http.cookies.SimpleCookie()
    jar[COOKIE] = token
    jar[COOKIE].update({"path": "/", "httponly": True, "samesite": "Strict"})
    return jar[COOKIE].OutputString()


def make_handler(dashboard: Dashboard) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "adaptune"
        sys_version = ""

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            try:
                request = self._request(method)
            except HttpError as exc:
                self._send("bad_request", Response(exc.status, (str(exc) + "\n").encode(), "text/plain; charset=utf-8"))
                return
            self._send(*dashboard.handle(request))

        def _request(self, method: str) -> Request:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            form: dict[str, str] = {}
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_FORM_BYTES:
                    raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"form body over {MAX_FORM_BYTES} bytes")
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode("utf-8", "replace")).items()}
            header = self.headers.get("Authorization", "")
            bearer = header[len("Bearer "):].strip() if header.startswith("Bearer ") else None
            jar = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
            cookie = jar[COOKIE].value if COOKIE in jar else None
            return Request(method, parts.path.rstrip("/") or "/", query, form, bearer, cookie)

        def _send(self, route: str, response: Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            for key, value in response.headers:
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(response.body)
            dashboard.context.metrics.record_http(route, response.status)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
            # The path without its query: ?token= must never reach a log.
            log.debug("%s %s %s", self.address_string(), self.command, urlsplit(self.path).path)

    return Handler


class DashboardServer(ThreadingHTTPServer):
    """One thread per connection; with ``ssl_context`` the TLS handshake happens in that thread,
    so a client that connects and stays silent cannot hold up the accept loop."""

    daemon_threads = True
    allow_reuse_address = False
    ssl_context: ssl.SSLContext | None = None
    handshake_timeout = 10.0

    def finish_request(self, request, client_address) -> None:
        if self.ssl_context is not None:
            request.settimeout(self.handshake_timeout)
            request = self.ssl_context.wrap_socket(request, server_side=True)
            request.settimeout(None)
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)  # e.g. plain HTTP to the TLS port
