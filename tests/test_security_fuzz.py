"""Fuzzing every RPC (hypothesis): request fields drawn from each message's descriptor, and
raw bytes through the generic channel API. The server may refuse anything, but only with
a status that names the client's problem: never INTERNAL or UNKNOWN. A refused event is
never stored, and the server is still healthy afterwards."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server._proto.adaptune.v1 import interactions_pb2, ranking_pb2, serving_pb2, tuning_pb2
from server.config import ServerConfig
from server.scopes import token_sha256
from tests.fixtures.server import running_server
from tuner.cycle.config import CycleConfig
from tuner.serving.config import ServingConfig

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    # Documented answers about the server's state, not the request: an empty log to rank,
    # a base model that is not there (this server has none on purpose, so Predict stays fast).
    grpc.StatusCode.FAILED_PRECONDITION,
}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TOKEN = "fuzz-admin-token"
TENANT = "fuzz-tenant-token"

SERVICES = [
    interactions_pb2.DESCRIPTOR.services_by_name["InteractionService"],
    ranking_pb2.DESCRIPTOR.services_by_name["RankingService"],
    tuning_pb2.DESCRIPTOR.services_by_name["TuningService"],
    serving_pb2.DESCRIPTOR.services_by_name["VariantService"],
]
METHODS = [method for service in SERVICES for method in service.methods]
_MESSAGE_CLASSES = {
    m.full_name: cls
    for module in (interactions_pb2, ranking_pb2, serving_pb2, tuning_pb2)
    for m in module.DESCRIPTOR.message_types_by_name.values()
    if (cls := getattr(module, m.name, None)) is not None
}

_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["legal", "legal\n", "banking", "", " ", "a" * 65, "../etc", "v0001", "\x00", "Ω"]),
    st.text(min_size=1000, max_size=3000).map(lambda s: s * 3),
)
_SCALARS = {
    F.TYPE_STRING: _TEXT,
    F.TYPE_BYTES: st.binary(max_size=64),
    F.TYPE_BOOL: st.booleans(),
    F.TYPE_DOUBLE: st.floats(allow_nan=True, allow_infinity=True),
    F.TYPE_FLOAT: st.floats(width=32, allow_nan=True, allow_infinity=True),
    F.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    F.TYPE_SINT32: st.integers(-(2**31), 2**31 - 1),
    F.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    F.TYPE_SINT64: st.integers(-(2**63), 2**63 - 1),
    F.TYPE_UINT32: st.one_of(st.integers(0, 5), st.integers(0, 2**32 - 1)),
    F.TYPE_UINT64: st.integers(0, 2**64 - 1),
    F.TYPE_ENUM: st.integers(-5, 10),
}


def message_strategy(descriptor, depth: int = 0) -> st.SearchStrategy:
    """Messages of ``descriptor`` with any subset of fields set to any value of their type."""
    fields = {}
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            fields[field.name] = st.dictionaries(_SCALARS[key.type], _SCALARS[value.type], max_size=40)
            continue
        if field.type == F.TYPE_MESSAGE:
            if depth > 2:
                continue
            inner = message_strategy(field.message_type, depth + 1)
        else:
            inner = _SCALARS[field.type]
        # Repeated fields: mostly short, sometimes long enough to hit the batch limit (10 in this server).
        fields[field.name] = st.lists(inner, max_size=12) if field.is_repeated else inner
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: _build(descriptor, values))


def _build(descriptor, values: dict):
    message = _message_class(descriptor)()
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        target = getattr(message, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target.update(value)
        elif field.is_repeated:
            target.extend(value)
        elif field.type == F.TYPE_MESSAGE:
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def _message_class(descriptor):
    if descriptor.full_name in _MESSAGE_CLASSES:
        return _MESSAGE_CLASSES[descriptor.full_name]
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    tokens = folder / "tokens.json"
    tokens.write_text(
        '{"tokens": [{"name": "tenant", "sha256": "%s", "domains": ["legal"], "actions": ["log", "read"]}]}'
        % token_sha256(TENANT)
    )
    config = ServerConfig(
        db_path=folder / "fuzz.duckdb", host="127.0.0.1", port=0, grace_seconds=1.0, token=TOKEN, token_file=tokens,
        max_events_per_batch=10, adapters_dir=folder / "adapters", reports_dir=folder / "reports",
        serving=ServingConfig(base_model=str(folder / "no-model")), cycle=CycleConfig(base_model=str(folder / "no-model")),
    )  # fmt: skip
    with running_server(config) as live:
        channel = grpc.insecure_channel(live.address, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)])
        yield live, channel
        channel.close()


def _invoke(channel, method, payloads: list, token: str = TOKEN) -> tuple[grpc.StatusCode, object]:
    """Call ``method`` with serialized payloads (one, or a stream); the status and the last response."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = (("authorization", f"Bearer {token}"),)
    kind = ("stream" if method.client_streaming else "unary") + "_" + ("stream" if method.server_streaming else "unary")
    call = getattr(channel, kind)(path)  # bytes in, bytes out
    request = iter(payloads) if method.client_streaming else payloads[0]
    try:
        result = call(request, metadata=metadata, timeout=30)
        if method.server_streaming:
            result = list(result)
        return grpc.StatusCode.OK, result
    except grpc.RpcError as exc:
        return exc.code(), exc.details()


def stored_ids(live) -> set[str]:
    return {row[0] for row in live.db.cursor().execute("SELECT event_id FROM interactions").fetchall()}


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_fuzzed_fields_never_answer_internal(fuzzed, method):
    live, channel = fuzzed

    @FUZZ
    @given(requests=st.lists(message_strategy(method.input_type), min_size=1, max_size=3), tenant=st.booleans())
    def check(requests, tenant):
        before = stored_ids(live)
        code, answer = _invoke(channel, method, [r.SerializeToString() for r in requests], TENANT if tenant else TOKEN)
        assert code in ALLOWED, f"{method.name} answered {code.name}: {answer}"
        if method.name == "LogInteraction" and code is not grpc.StatusCode.OK:
            event_id = requests[0].interaction.event_id
            assert event_id in before or event_id not in stored_ids(live)
        if method.name == "LogInteractions":
            _check_refused_not_stored(live, requests, before, code, answer)

    check()
    assert live.client.health() == "SERVING"


def _check_refused_not_stored(live, batches, before: set[str], code, answer) -> None:
    after = stored_ids(live)
    if code is not grpc.StatusCode.OK:
        return  # a refused stream: batches before the refusal may be stored, as documented
    summary = interactions_pb2.LogSummary.FromString(answer)
    for rejection in summary.rejections:
        event_id = batches[rejection.batch_index].interactions[rejection.index].event_id
        assert event_id in before or event_id not in after, f"refused event {event_id[:40]!r} was stored"


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_raw_bytes_never_answer_internal(fuzzed, method):
    live, channel = fuzzed

    @FUZZ
    @given(payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=3))
    def check(payloads):
        code, answer = _invoke(channel, method, payloads)
        assert code in ALLOWED, f"{method.name} answered {code.name}: {answer}"

    check()
    assert live.client.health() == "SERVING"
