"""Issue 13, defects 4 and 9: stalled streams cannot make the server deaf, and no internals
(paths, exception classes, tracebacks) reach a client. Real server, real DuckDB file."""

from __future__ import annotations

import logging
import threading
import time

import grpc
import pytest

from server._proto.adaptune.v1 import interactions_pb2 as pb
from server._proto.adaptune.v1 import interactions_pb2_grpc as pb_grpc
from server.client import ClientError
from server.convert.interactions import interaction_to_proto
from tests.fixtures.events import event
from tests.cycle_logs import FINE, STRUGGLING, mixed_log
from tests.test_cycle_service import server_settings

LOG_METHOD = "/adaptune.v1.InteractionService/LogInteractions"
STATS_METHOD = "/adaptune.v1.InteractionService/InteractionStats"


def raw_call(address: str, method: str, payload: bytes, *, stream: bool = False):
    with grpc.insecure_channel(address) as channel:
        if stream:
            call = channel.stream_unary(method, request_serializer=None, response_deserializer=None)
            return call(iter([payload]), timeout=10)
        return channel.unary_unary(method, request_serializer=None, response_deserializer=None)(payload, timeout=10)


@pytest.mark.parametrize("stream, method", [(False, STATS_METHOD), (True, LOG_METHOD)])
def test_undecodable_bytes_are_invalid_argument_without_a_traceback(live_server, caplog, stream, method):
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as caught:
            raw_call(live_server.address, method, b"\xff\xff\xff\xff garbage", stream=stream)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid protobuf message" in caught.value.details()
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert live_server.client.interaction_stats().total == 0
    assert live_server.client.health() == "SERVING"


class StalledStream:
    """A LogInteractions stream that sends one batch and then waits until released."""

    def __init__(self, address: str, index: int = 0):
        self.index = index
        self.release = threading.Event()
        self.channel = grpc.insecure_channel(address)
        self.error: grpc.RpcError | None = None
        self.summary = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _requests(self):
        yield pb.InteractionBatch(interactions=[interaction_to_proto(event(self.index))])
        self.release.wait(30)

    def _run(self) -> None:
        try:
            self.summary = pb_grpc.InteractionServiceStub(self.channel).LogInteractions(self._requests(), timeout=30)
        except grpc.RpcError as exc:
            self.error = exc

    def close(self) -> None:
        self.release.set()
        self.thread.join(10)
        self.channel.close()


def test_workers_stalled_streams_leave_health_and_unary_calls_answering(server_factory):
    live = server_factory(workers=4)
    streams = [StalledStream(live.address, i) for i in range(4)]
    try:
        deadline = time.monotonic() + 20
        while live.client.interaction_stats().total < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        refused = [s for s in streams if s.error is not None]
        assert len(refused) == 4 - live.config.stream_limit == 2
        assert all(s.error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for s in refused)
        assert "too many open streams" in refused[0].error.details()
        assert live.client.health(timeout=5) == "SERVING"
        assert live.client.interaction_stats().total == 2  # the open streams' first batches
        assert live.client.list_domains()
    finally:
        for stream in streams:
            stream.close()
    assert sum(s.summary is not None for s in streams) == 2


def test_an_idle_stream_is_cancelled_and_what_it_sent_is_kept(server_factory):
    live = server_factory(stream_idle_seconds=0.5)
    stream = StalledStream(live.address)
    stream.thread.join(10)
    assert stream.error is not None and stream.error.code() == grpc.StatusCode.CANCELLED
    assert live.client.interaction_stats().total == 1
    stream.close()


def test_a_failed_cycle_tells_the_client_no_paths_or_exception_classes(server_factory, tmp_path, tiny_bert_dir):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the adapter root should be")
    settings = {**server_settings(tmp_path, tiny_bert_dir), "adapters_dir": blocker / "adapters"}
    live = server_factory(**settings)
    live.client.log_interactions(mixed_log(STRUGGLING, FINE))
    with pytest.raises(ClientError) as caught:
        list(live.client.stream_cycle())
    for text in (caught.value.details, live.client.list_cycles()[0].error):
        assert text and str(tmp_path) not in text and "Error:" not in text and "Errno" not in text
    assert live.client.health() == "SERVING"


@pytest.mark.parametrize(
    "exc, shown, hidden",
    [
        (PermissionError(1, "Operation not permitted", "/srv/adaptune/var/adapters/legal"), "Operation not permitted", "/srv"),
        (ValueError("model '/home/ops/models/bert' is neither a catalog name"), "model '.../bert' is neither", "/home"),
        (ValueError("x" * 2000), "x" * 100, "x" * 600),
    ],
)
def test_public_messages_carry_no_paths_and_stay_short(exc, shown, hidden):
    from tuner.public_errors import public_message

    message = public_message(exc)
    assert shown in message and hidden not in message and "Error" not in message
