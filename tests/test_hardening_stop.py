"""Issue 13, defect 3: stopping never hangs; ``--grace`` is enforced and the store is closed."""

from __future__ import annotations

import threading
import time

import duckdb
import grpc
import pytest

from server.app import STOP_MARGIN_S, create_server, stop_server
from server.config import ServerConfig


def test_stop_is_bounded_even_when_a_call_holds_the_write_lock(tmp_path):
    server, port, context = create_server(ServerConfig(db_path=tmp_path / "a.duckdb", host="127.0.0.1", port=0))
    holding, release = threading.Event(), threading.Event()

    def stuck(request, servicer_context):
        with context.db.write_lock:  # a commit that never finishes, deaf to cancellation
            holding.set()
            release.wait(60)
        return b""

    class Stuck(grpc.GenericRpcHandler):
        def service(self, details):
            return grpc.unary_unary_rpc_method_handler(stuck) if details.method == "/test.Stuck/Call" else None

    server.add_generic_rpc_handlers([Stuck()])
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    call = channel.unary_unary("/test.Stuck/Call").future(b"", timeout=60)
    assert holding.wait(10)
    outcome: list[bool] = []
    stopper = threading.Thread(target=lambda: outcome.append(stop_server(server, context, grace=0.2)), daemon=True)
    started = time.monotonic()
    stopper.start()
    stopper.join(0.2 + 2 * STOP_MARGIN_S + 10)
    try:
        assert outcome == [False], "stop_server hung on the held write lock"
        assert time.monotonic() - started < 0.2 + 2 * STOP_MARGIN_S + 10
        with pytest.raises(duckdb.Error):
            context.db.cursor()
    finally:
        release.set()
        call.cancel()
        channel.close()


def test_sigterm_after_a_malformed_stream_message_stops_the_process(serve_process, tmp_path):
    served = serve_process(tmp_path / "b.duckdb", extra_args=("--grace", "1"))
    with grpc.insecure_channel(served.address) as channel:
        method = channel.stream_unary("/adaptune.v1.InteractionService/LogInteractions")
        for _ in range(4):
            with pytest.raises(grpc.RpcError):
                method(iter([b"\x0a\xff\xff\xff\xff\x0f"]), timeout=10)
    assert served.stop(timeout=30) == 0
    assert "stopped" in served.log()
