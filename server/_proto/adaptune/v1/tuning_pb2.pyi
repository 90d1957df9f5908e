import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunCycleRequest(_message.Message):
    __slots__ = ("max_domains", "layer_budget", "dry_run", "min_examples", "domains", "executor", "ray_address")
    MAX_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    LAYER_BUDGET_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    MIN_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    RAY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    max_domains: int
    layer_budget: float
    dry_run: bool
    min_examples: int
    domains: _containers.RepeatedScalarFieldContainer[str]
    executor: str
    ray_address: str
    def __init__(self, max_domains: _Optional[int] = ..., layer_budget: _Optional[float] = ..., dry_run: _Optional[bool] = ..., min_examples: _Optional[int] = ..., domains: _Optional[_Iterable[str]] = ..., executor: _Optional[str] = ..., ray_address: _Optional[str] = ...) -> None: ...

class CycleEvent(_message.Message):
    __slots__ = ("cycle_id", "stage", "domain", "message", "step", "total_steps", "loss", "metrics", "adapter_version", "summary_json", "report_path")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CYCLE_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    REPORT_PATH_FIELD_NUMBER: _ClassVar[int]
    cycle_id: str
    stage: str
    domain: str
    message: str
    step: int
    total_steps: int
    loss: float
    metrics: _containers.ScalarMap[str, float]
    adapter_version: str
    summary_json: str
    report_path: str
    def __init__(self, cycle_id: _Optional[str] = ..., stage: _Optional[str] = ..., domain: _Optional[str] = ..., message: _Optional[str] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., loss: _Optional[float] = ..., metrics: _Optional[_Mapping[str, float]] = ..., adapter_version: _Optional[str] = ..., summary_json: _Optional[str] = ..., report_path: _Optional[str] = ...) -> None: ...

class AdapterInfo(_message.Message):
    __slots__ = ("domain", "version", "status", "parent_domain", "parent_version", "layers", "metrics", "created_at", "base_model", "review_status", "reviewed_by", "reviewed_at", "review_reason")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PARENT_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PARENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    REVIEW_STATUS_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_BY_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_AT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_REASON_FIELD_NUMBER: _ClassVar[int]
    domain: str
    version: str
    status: str
    parent_domain: str
    parent_version: str
    layers: _containers.RepeatedScalarFieldContainer[int]
    metrics: _containers.ScalarMap[str, float]
    created_at: _timestamp_pb2.Timestamp
    base_model: str
    review_status: str
    reviewed_by: str
    reviewed_at: _timestamp_pb2.Timestamp
    review_reason: str
    def __init__(self, domain: _Optional[str] = ..., version: _Optional[str] = ..., status: _Optional[str] = ..., parent_domain: _Optional[str] = ..., parent_version: _Optional[str] = ..., layers: _Optional[_Iterable[int]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., base_model: _Optional[str] = ..., review_status: _Optional[str] = ..., reviewed_by: _Optional[str] = ..., reviewed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., review_reason: _Optional[str] = ...) -> None: ...

class ListAdaptersRequest(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    def __init__(self, domain: _Optional[str] = ...) -> None: ...

class ListAdaptersResponse(_message.Message):
    __slots__ = ("adapters",)
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    adapters: _containers.RepeatedCompositeFieldContainer[AdapterInfo]
    def __init__(self, adapters: _Optional[_Iterable[_Union[AdapterInfo, _Mapping]]] = ...) -> None: ...

class PromoteAdapterRequest(_message.Message):
    __slots__ = ("domain", "version")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    domain: str
    version: str
    def __init__(self, domain: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class RollbackAdapterRequest(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    def __init__(self, domain: _Optional[str] = ...) -> None: ...

class ListCyclesRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class CycleInfo(_message.Message):
    __slots__ = ("cycle_id", "status", "started_at", "finished_at", "summary_json", "watermark_from", "watermark_to", "error", "request_json")
    CYCLE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_FROM_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_TO_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_JSON_FIELD_NUMBER: _ClassVar[int]
    cycle_id: str
    status: str
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    summary_json: str
    watermark_from: int
    watermark_to: int
    error: str
    request_json: str
    def __init__(self, cycle_id: _Optional[str] = ..., status: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., summary_json: _Optional[str] = ..., watermark_from: _Optional[int] = ..., watermark_to: _Optional[int] = ..., error: _Optional[str] = ..., request_json: _Optional[str] = ...) -> None: ...

class ListCyclesResponse(_message.Message):
    __slots__ = ("cycles",)
    CYCLES_FIELD_NUMBER: _ClassVar[int]
    cycles: _containers.RepeatedCompositeFieldContainer[CycleInfo]
    def __init__(self, cycles: _Optional[_Iterable[_Union[CycleInfo, _Mapping]]] = ...) -> None: ...

class ReviewSample(_message.Message):
    __slots__ = ("input", "candidate", "champion", "gold", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    INPUT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_FIELD_NUMBER: _ClassVar[int]
    GOLD_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    input: str
    candidate: str
    champion: str
    gold: str
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, input: _Optional[str] = ..., candidate: _Optional[str] = ..., champion: _Optional[str] = ..., gold: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ReviewAudit(_message.Message):
    __slots__ = ("attribute", "metric", "gap", "bound", "passed", "per_group")
    class PerGroupEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    PER_GROUP_FIELD_NUMBER: _ClassVar[int]
    attribute: str
    metric: str
    gap: float
    bound: float
    passed: bool
    per_group: _containers.ScalarMap[str, float]
    def __init__(self, attribute: _Optional[str] = ..., metric: _Optional[str] = ..., gap: _Optional[float] = ..., bound: _Optional[float] = ..., passed: _Optional[bool] = ..., per_group: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ReviewInfo(_message.Message):
    __slots__ = ("domain", "version", "status", "cycle_id", "champion_version", "policy", "threshold", "change_rate", "created_at", "expires_at", "decided_at", "decided_by", "reason", "metric", "candidate_metrics", "champion_metrics", "gain", "gate_reason", "audits", "layers", "module_groups", "data_from_seq", "data_to_seq", "n_test", "n_changed", "samples", "reference_kind")
    class CandidateMetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ChampionMetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CYCLE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CHANGE_RATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_METRICS_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_METRICS_FIELD_NUMBER: _ClassVar[int]
    GAIN_FIELD_NUMBER: _ClassVar[int]
    GATE_REASON_FIELD_NUMBER: _ClassVar[int]
    AUDITS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    MODULE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    DATA_FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    DATA_TO_SEQ_FIELD_NUMBER: _ClassVar[int]
    N_TEST_FIELD_NUMBER: _ClassVar[int]
    N_CHANGED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_KIND_FIELD_NUMBER: _ClassVar[int]
    domain: str
    version: str
    status: str
    cycle_id: str
    champion_version: str
    policy: str
    threshold: float
    change_rate: float
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    decided_at: _timestamp_pb2.Timestamp
    decided_by: str
    reason: str
    metric: str
    candidate_metrics: _containers.ScalarMap[str, float]
    champion_metrics: _containers.ScalarMap[str, float]
    gain: float
    gate_reason: str
    audits: _containers.RepeatedCompositeFieldContainer[ReviewAudit]
    layers: _containers.RepeatedScalarFieldContainer[int]
    module_groups: _containers.RepeatedScalarFieldContainer[str]
    data_from_seq: int
    data_to_seq: int
    n_test: int
    n_changed: int
    samples: _containers.RepeatedCompositeFieldContainer[ReviewSample]
    reference_kind: str
    def __init__(self, domain: _Optional[str] = ..., version: _Optional[str] = ..., status: _Optional[str] = ..., cycle_id: _Optional[str] = ..., champion_version: _Optional[str] = ..., policy: _Optional[str] = ..., threshold: _Optional[float] = ..., change_rate: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_by: _Optional[str] = ..., reason: _Optional[str] = ..., metric: _Optional[str] = ..., candidate_metrics: _Optional[_Mapping[str, float]] = ..., champion_metrics: _Optional[_Mapping[str, float]] = ..., gain: _Optional[float] = ..., gate_reason: _Optional[str] = ..., audits: _Optional[_Iterable[_Union[ReviewAudit, _Mapping]]] = ..., layers: _Optional[_Iterable[int]] = ..., module_groups: _Optional[_Iterable[str]] = ..., data_from_seq: _Optional[int] = ..., data_to_seq: _Optional[int] = ..., n_test: _Optional[int] = ..., n_changed: _Optional[int] = ..., samples: _Optional[_Iterable[_Union[ReviewSample, _Mapping]]] = ..., reference_kind: _Optional[str] = ...) -> None: ...

class ListReviewsRequest(_message.Message):
    __slots__ = ("domain", "status")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    domain: str
    status: str
    def __init__(self, domain: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class ListReviewsResponse(_message.Message):
    __slots__ = ("reviews",)
    REVIEWS_FIELD_NUMBER: _ClassVar[int]
    reviews: _containers.RepeatedCompositeFieldContainer[ReviewInfo]
    def __init__(self, reviews: _Optional[_Iterable[_Union[ReviewInfo, _Mapping]]] = ...) -> None: ...

class GetReviewRequest(_message.Message):
    __slots__ = ("domain", "version")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    domain: str
    version: str
    def __init__(self, domain: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class ApproveCandidateRequest(_message.Message):
    __slots__ = ("domain", "version", "reason")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    domain: str
    version: str
    reason: str
    def __init__(self, domain: _Optional[str] = ..., version: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RejectCandidateRequest(_message.Message):
    __slots__ = ("domain", "version", "reason")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    domain: str
    version: str
    reason: str
    def __init__(self, domain: _Optional[str] = ..., version: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
