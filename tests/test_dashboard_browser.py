"""The dashboard in a real browser: headless Chromium loads every page of a server that ran two cycles.

Chromium is driven from the command line (``--dump-dom`` for what a person sees after the
page's script ran, ``--screenshot`` for the pictures in README), no webdriver. Screenshots
go to ``bench/results/dashboard/``. Skipped, saying how to install it, where Chromium is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.dashboard import DashboardServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "dashboard"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install -y chromium)"
)


def chromium(tmp_path: Path, *args: str) -> str:
    """Run headless Chromium once with its own profile; returns stdout (the DOM for --dump-dom)."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dom(tmp_path: Path, dashboard: DashboardServer, path: str) -> str:
    separator = "&" if "?" in path else "?"
    return chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom",
                    f"{dashboard.base_url}{path}{separator}token={dashboard.token}")


def screenshot(tmp_path: Path, dashboard: DashboardServer, path: str, name: str, height: int = 1000) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    separator = "&" if "?" in path else "?"
    chromium(tmp_path, "--virtual-time-budget=5000", f"--window-size=1360,{height}", f"--screenshot={target}",
             f"{dashboard.base_url}{path}{separator}token={dashboard.token}")
    assert target.read_bytes().startswith(b"\x89PNG") and target.stat().st_size > 10_000
    return target


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_every_page_shows_what_the_server_did(dashboard: DashboardServer, tmp_path: Path):
    overview = dom(tmp_path, dashboard, "/")
    assert "billing" in text_of(overview) and "cards" in text_of(overview)
    assert "No cycle is running." in overview  # the progress box, after its script ran
    domain = dom(tmp_path, dashboard, "/domains/billing")
    assert re.search(r"<b>v0001</b>", domain) and re.search(r"<b>v0002</b>", domain)
    assert f'<b id="champion">{dashboard.champion("billing")}</b>' in domain
    assert 'action="/domains/billing/promote"' in domain  # the token may promote: buttons shown
    cycles = dom(tmp_path, dashboard, "/cycles")
    assert all(cycle_id in cycles for cycle_id in dashboard.cycle_ids)
    cycle = dom(tmp_path, dashboard, f"/cycles/{dashboard.cycle_ids[0]}")
    assert "layers.png" in cycle and "curves/billing.png" in cycle and "Ranked domains" in cycle
    assert "480 events" in text_of(dom(tmp_path, dashboard, "/ingestion"))

    shots = [
        screenshot(tmp_path, dashboard, "/", "domains", 700),
        screenshot(tmp_path, dashboard, "/domains/billing", "domain", 1000),
        screenshot(tmp_path, dashboard, "/cycles", "cycles", 600),
        screenshot(tmp_path, dashboard, f"/cycles/{dashboard.cycle_ids[0]}", "cycle", 2600),
        screenshot(tmp_path, dashboard, "/ingestion", "ingestion", 1000),
    ]
    assert len({shot.read_bytes() for shot in shots}) == len(shots)


def test_a_promote_shows_in_the_browser_and_an_unauthorized_one_is_refused(dashboard: DashboardServer, tmp_path: Path):
    before = dashboard.champion("billing")
    other = "v0002" if before == "v0001" else "v0001"
    refused = dashboard.request("POST", "/domains/billing/promote", form={"version": other})
    assert refused.status == 403
    assert f'<b id="champion">{before}</b>' in dom(tmp_path, dashboard, "/domains/billing")

    promoted = dashboard.request("POST", "/domains/billing/promote", form={"version": other}, token=dashboard.token)
    assert promoted.status == 303
    try:
        page = dom(tmp_path, dashboard, "/domains/billing")
        assert f'<b id="champion">{other}</b>' in page
        row = re.search(rf"<tr><td><b>{other}</b></td><td>(.*?)</td>", page).group(1)
        assert "champion" in row
    finally:
        assert dashboard.request("POST", "/domains/billing/rollback", form={}, token=dashboard.token).status == 303
    assert dashboard.champion("billing") == before
