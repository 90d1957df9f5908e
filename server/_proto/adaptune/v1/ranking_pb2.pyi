from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RankTargetsRequest(_message.Message):
    __slots__ = ("user_id", "top_k", "layer_budget", "domain", "base_model", "include_importance")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    LAYER_BUDGET_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    top_k: int
    layer_budget: float
    domain: str
    base_model: str
    include_importance: bool
    def __init__(self, user_id: _Optional[str] = ..., top_k: _Optional[int] = ..., layer_budget: _Optional[float] = ..., domain: _Optional[str] = ..., base_model: _Optional[str] = ..., include_importance: _Optional[bool] = ...) -> None: ...

class LayerTarget(_message.Message):
    __slots__ = ("layer", "module_group", "score", "source")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    MODULE_GROUP_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    layer: int
    module_group: str
    score: float
    source: str
    def __init__(self, layer: _Optional[int] = ..., module_group: _Optional[str] = ..., score: _Optional[float] = ..., source: _Optional[str] = ...) -> None: ...

class DomainRank(_message.Message):
    __slots__ = ("domain", "score", "affinity", "error_rate", "event_count", "negative_count", "corrected_count", "probe_count", "layers", "layer_cost", "need", "user_count", "importance")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROBE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    LAYER_COST_FIELD_NUMBER: _ClassVar[int]
    NEED_FIELD_NUMBER: _ClassVar[int]
    USER_COUNT_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    domain: str
    score: float
    affinity: float
    error_rate: float
    event_count: int
    negative_count: int
    corrected_count: int
    probe_count: int
    layers: _containers.RepeatedCompositeFieldContainer[LayerTarget]
    layer_cost: float
    need: float
    user_count: int
    importance: _containers.RepeatedCompositeFieldContainer[LayerTarget]
    def __init__(self, domain: _Optional[str] = ..., score: _Optional[float] = ..., affinity: _Optional[float] = ..., error_rate: _Optional[float] = ..., event_count: _Optional[int] = ..., negative_count: _Optional[int] = ..., corrected_count: _Optional[int] = ..., probe_count: _Optional[int] = ..., layers: _Optional[_Iterable[_Union[LayerTarget, _Mapping]]] = ..., layer_cost: _Optional[float] = ..., need: _Optional[float] = ..., user_count: _Optional[int] = ..., importance: _Optional[_Iterable[_Union[LayerTarget, _Mapping]]] = ...) -> None: ...

class RankTargetsResponse(_message.Message):
    __slots__ = ("domains", "cold_start", "method", "events_used", "base_model", "layer_budget", "num_layers")
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    COLD_START_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    EVENTS_USED_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    LAYER_BUDGET_FIELD_NUMBER: _ClassVar[int]
    NUM_LAYERS_FIELD_NUMBER: _ClassVar[int]
    domains: _containers.RepeatedCompositeFieldContainer[DomainRank]
    cold_start: bool
    method: str
    events_used: int
    base_model: str
    layer_budget: float
    num_layers: int
    def __init__(self, domains: _Optional[_Iterable[_Union[DomainRank, _Mapping]]] = ..., cold_start: _Optional[bool] = ..., method: _Optional[str] = ..., events_used: _Optional[int] = ..., base_model: _Optional[str] = ..., layer_budget: _Optional[float] = ..., num_layers: _Optional[int] = ...) -> None: ...
