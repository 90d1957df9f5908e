"""The dashboard's HTTP side on a real server that ran two cycles: pages, auth, promote/rollback, bad input."""

from __future__ import annotations

import re

import pytest

from server.http.access import COOKIE, Access
from tests.fixtures.dashboard import DashboardServer


def login_cookie(dashboard: DashboardServer) -> str:
    answer = dashboard.request("POST", "/login", form={"token": dashboard.token})
    assert answer.status == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return cookie.split(";")[0]


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def test_pages_show_domains_versions_cycles_and_plots(dashboard: DashboardServer):
    overview = dashboard.request("GET", "/", token=dashboard.token)
    assert overview.status == 200 and overview.headers["content-type"].startswith("text/html")
    assert ">billing</a>" in overview.text and ">cards</a>" in overview.text
    assert dashboard.cycle_ids[1] in overview.text  # the ranking evidence names its cycle
    domain = dashboard.request("GET", "/domains/billing", token=dashboard.token).text
    for version in ("v0001", "v0002"):
        assert f"<b>{version}</b>" in domain
    assert f'<b id="champion">{dashboard.champion("billing")}</b>' in domain
    assert "Chain (root first)" in domain and 'src="/plots/domains/billing.png"' in domain
    cycles = dashboard.request("GET", "/cycles", token=dashboard.token).text
    assert all(cycle_id in cycles for cycle_id in dashboard.cycle_ids)
    cycle = dashboard.request("GET", f"/cycles/{dashboard.cycle_ids[0]}", token=dashboard.token).text
    images = re.findall(r'src="(/cycles/[^"]+\.png)"', cycle)
    assert any(path.endswith("/layers.png") for path in images) and any("/curves/" in path for path in images)
    for path in images + ["/plots/domains/billing.png", "/plots/ingestion.png"]:
        answer = dashboard.request("GET", path, token=dashboard.token)
        assert answer.status == 200 and answer.headers["content-type"] == "image/png", path
        assert answer.body.startswith(b"\x89PNG"), path
    ingestion = dashboard.request("GET", "/ingestion", token=dashboard.token).text
    assert "480 events" in ingestion
    assert dashboard.request("GET", "/progress.json", token=dashboard.token).json()["running"] is False


def test_every_page_needs_the_token(dashboard: DashboardServer):
    for path in ["/", "/domains/billing", "/cycles", "/ingestion", "/metrics", "/progress.json", "/plots/ingestion.png"]:
        assert dashboard.request("GET", path).status == 401, path
        assert dashboard.request("GET", path, token="wrong-token").status == 401, path
    refused = dashboard.request("GET", "/")
    assert 'action="/login"' in refused.text and dashboard.token not in refused.text
    wrong_login = dashboard.request("POST", "/login", form={"token": "nope"})
    assert wrong_login.status == 401 and "set-cookie" not in wrong_login.headers
    cookie = login_cookie(dashboard)
    assert dashboard.request("GET", "/cycles", headers={"Cookie": cookie}).status == 200
    by_query = dashboard.request("GET", f"/cycles?token={dashboard.token}")
    assert by_query.status == 200 and by_query.headers["set-cookie"].startswith(f"{COOKIE}=")


def test_promote_needs_more_than_the_cookie(dashboard: DashboardServer):
    before = dashboard.champion("billing")
    other = "v0002" if before == "v0001" else "v0001"
    cookie = login_cookie(dashboard)
    refused = [
        dashboard.request("POST", "/domains/billing/promote", form={"version": other}),
        dashboard.request("POST", "/domains/billing/promote", form={"version": other}, headers={"Cookie": cookie}),
        dashboard.request("POST", "/domains/billing/promote", form={"version": other, "csrf": "0" * 64},
                          headers={"Cookie": cookie}),
        dashboard.request("POST", "/domains/billing/promote", form={"version": other}, token="wrong-token"),
        dashboard.request("POST", "/domains/billing/rollback", form={}, headers={"Cookie": cookie}),
    ]
    assert [answer.status for answer in refused] == [403] * 5
    assert "promote refused" in refused[1].text
    assert dashboard.champion("billing") == before


def test_promote_then_roll_back_from_the_page(dashboard: DashboardServer):
    before = dashboard.champion("billing")
    other = "v0002" if before == "v0001" else "v0001"
    cookie = login_cookie(dashboard)
    page = dashboard.request("GET", "/domains/billing", headers={"Cookie": cookie}).text
    form = {"version": other, "csrf": csrf_of(page)}
    promoted = dashboard.request("POST", "/domains/billing/promote", form=form, headers={"Cookie": cookie})
    assert promoted.status == 303 and promoted.headers["location"] == "/domains/billing"
    assert dashboard.champion("billing") == other
    shown = dashboard.request("GET", "/domains/billing", headers={"Cookie": cookie}).text
    assert f'<b id="champion">{other}</b>' in shown
    rolled = dashboard.request("POST", "/domains/billing/rollback", form={"csrf": csrf_of(page)}, headers={"Cookie": cookie})
    assert rolled.status == 303 and dashboard.champion("billing") == before


@pytest.mark.parametrize(
    ("path", "form", "status", "message"),
    [
        ("/domains/billing/promote", {"version": "v9"}, 400, "field version"),
        ("/domains/billing/promote", {}, 400, "field version"),
        ("/domains/billing/promote", {"version": "v0099"}, 404, "v0099"),
        ("/domains/nowhere/promote", {"version": "v0001"}, 404, "nowhere"),
        ("/domains/cards/rollback", {}, 409, "no champion"),
    ],
)
def test_bad_changes_are_refused_and_change_nothing(dashboard: DashboardServer, path, form, status, message):
    before = {a.version: a.status for a in dashboard.live.client.list_adapters()}
    answer = dashboard.request("POST", path, form=form, token=dashboard.token)
    assert answer.status == status and message in answer.text
    assert {a.version: a.status for a in dashboard.live.client.list_adapters()} == before


def test_unknown_pages_and_files_outside_a_report_are_not_found(dashboard: DashboardServer):
    cycle_id = dashboard.cycle_ids[0]
    for path in ["/nothing", "/domains/nowhere", "/cycles/cycle-none", f"/cycles/{cycle_id}/files/../../adaptune.duckdb",
                 f"/cycles/{cycle_id}/files/%2e%2e/%2e%2e/adaptune.duckdb", "/plots/domains/nowhere.png"]:
        assert dashboard.request("GET", path, token=dashboard.token).status == 404, path
    assert dashboard.request("POST", "/cycles", token=dashboard.token).status == 405
    assert dashboard.request("GET", "/domains/billing/promote", token=dashboard.token).status == 405


def test_a_server_without_a_token_is_read_only(server_factory):
    live = server_factory(http_port=0)
    assert live.http_port
    from tests.fixtures.dashboard import DashboardServer as Http

    http = Http(live, live.http_port, "", [])
    assert http.request("GET", "/").status == 200
    answer = http.request("POST", "/domains/billing/promote", form={"version": "v0001"})
    assert answer.status == 403 and "read-only" in answer.text


def test_access_is_one_decision_per_token_and_action():
    open_server, locked = Access(None), Access("s3cret")
    assert open_server.allows(None, "read") and not open_server.allows("anything", "promote")
    assert locked.allows("s3cret", "promote") and not locked.allows(None, "read") and not locked.allows("s3cre", "read")
    assert locked.csrf_ok(locked.csrf_value("s3cret"), "s3cret") and not locked.csrf_ok("", "s3cret")
    assert not locked.csrf_ok(locked.csrf_value("s3cret"), "other") and not open_server.csrf_ok("", None)
    with pytest.raises(ValueError, match="action must be one of"):
        locked.allows("s3cret", "delete")


def test_access_follows_the_token_files_scopes():
    from server.scopes import Principal, TokenTable, token_sha256

    tenant = Principal("acme", frozenset({"billing"}), frozenset({"read", "promote"}))
    access = Access(TokenTable({token_sha256("acme-secret"): tenant}))
    assert access.allows("acme-secret", "read", "billing") and access.allows("acme-secret", "promote", "billing")
    assert not access.allows("acme-secret", "read", "legal") and not access.allows("acme-secret", "promote", "legal")
    assert not access.allows("acme-secret", "rollback", "billing")  # not among its actions
    assert not access.allows("acme-secret", "read")  # pages spanning every domain need '*'
    assert access.knows("acme-secret") and not access.knows("guess")


def test_adaptune_serve_with_http_port_serves_metrics_and_stops_cleanly(serve_process, tmp_path):
    process = serve_process(tmp_path / "cli.duckdb", extra_args=("--http-port", "0"))
    match = re.search(r"dashboard and /metrics on http://127\.0\.0\.1:(\d+)/", process.log())
    assert match, process.log()
    http = DashboardServer(None, int(match.group(1)), "", [])
    assert http.request("GET", "/metrics").status == 200
    assert ">Domains<" in http.request("GET", "/").text
    assert process.stop() == 0


@pytest.mark.parametrize(("settings", "field"), [({"http_port": -1}, "http_port"), ({"http_port": "80"}, "http_port"),
                                                ({"http_port": True}, "http_port"), ({"http_host": " "}, "http_host")])
def test_bad_http_settings_name_the_field(settings, field):
    from server.config import ServerConfig

    with pytest.raises(ValueError, match=f"^{field} must be"):
        ServerConfig(**settings)


@pytest.mark.parametrize("token", ["plain-token", 'odd;token,with"quotes'])
def test_login_cookie_reads_back_the_whole_token(token):
    import http.cookies

    from server.http.app import _cookie

    jar = http.cookies.SimpleCookie(_cookie(token))
    assert jar[COOKIE].value == token and jar[COOKIE]["httponly"] and jar[COOKIE]["samesite"] == "Strict"
