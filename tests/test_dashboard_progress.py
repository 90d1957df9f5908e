"""Live progress of a running cycle on the dashboard, and the HTTP side over TLS."""

from __future__ import annotations

import http.client
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from server.app import create_server, stop_server
from tests.cycle_logs import FINE, STRUGGLING, mixed_log
from tests.fixtures.dashboard import TOKEN, DashboardServer, dashboard_config
from tests.fixtures.server import running_server


def test_progress_follows_a_running_cycle(tmp_path: Path, tiny_bert_dir: Path):
    with running_server(dashboard_config(tmp_path, tiny_bert_dir)) as live:
        http = DashboardServer(live, live.http_port, TOKEN, [])
        assert http.request("GET", "/progress.json", token=TOKEN).json() == {
            "running": False, "cycle_id": "", "stage": "", "domain": "", "step": 0, "total_steps": 0, "loss": 0.0,
            "message": "",
        }
        live.client.log_interactions(mixed_log(STRUGGLING, FINE))
        seen = None
        for event in live.client.stream_cycle():
            if event.stage == "planned" and seen is None:  # training (many steps) follows: the cycle is still running
                seen = http.request("GET", "/progress.json", token=TOKEN).json()
                page = http.request("GET", "/cycles", token=TOKEN).text
        assert seen["running"] is True and seen["cycle_id"] == event.cycle_id
        assert seen["stage"] in ("planned", "training", "evaluated")
        assert f"{event.cycle_id}</a>" in page and '<span class="badge running">running</span>' in page
        assert http.request("GET", "/progress.json", token=TOKEN).json()["running"] is False


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed to make a test certificate")
def test_the_http_side_serves_tls_when_given_a_context(tmp_path: Path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    config = dashboard_config(tmp_path, tmp_path / "no-model-needed")
    server, _, context = create_server(config, http_ssl=server_side)
    server.start()
    silent = socket.create_connection(("127.0.0.1", context.http_port))  # connects, never says hello
    try:
        client_side = ssl.create_default_context(cafile=str(cert))
        connection = http.client.HTTPSConnection("127.0.0.1", context.http_port, context=client_side, timeout=30)
        connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        answer = connection.getresponse()
        assert answer.status == 200 and b"adaptune_store_up 1.0" in answer.read()
        connection.close()
        plain = http.client.HTTPConnection("127.0.0.1", context.http_port, timeout=10)
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            plain.request("GET", "/metrics")
            plain.getresponse()
    finally:
        silent.close()
        stop_server(server, context, grace=1.0)
