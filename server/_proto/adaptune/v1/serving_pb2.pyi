from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AdapterRef(_message.Message):
    __slots__ = ("domain", "version")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    domain: str
    version: str
    def __init__(self, domain: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class Variant(_message.Message):
    __slots__ = ("variant_id", "domain", "base_model", "chain", "fallback", "fallback_reason", "domain_source", "user_known", "task")
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_SOURCE_FIELD_NUMBER: _ClassVar[int]
    USER_KNOWN_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    variant_id: str
    domain: str
    base_model: str
    chain: _containers.RepeatedCompositeFieldContainer[AdapterRef]
    fallback: bool
    fallback_reason: str
    domain_source: str
    user_known: bool
    task: str
    def __init__(self, variant_id: _Optional[str] = ..., domain: _Optional[str] = ..., base_model: _Optional[str] = ..., chain: _Optional[_Iterable[_Union[AdapterRef, _Mapping]]] = ..., fallback: _Optional[bool] = ..., fallback_reason: _Optional[str] = ..., domain_source: _Optional[str] = ..., user_known: _Optional[bool] = ..., task: _Optional[str] = ...) -> None: ...

class GetVariantRequest(_message.Message):
    __slots__ = ("user_id", "domain", "base_only")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    BASE_ONLY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    domain: str
    base_only: bool
    def __init__(self, user_id: _Optional[str] = ..., domain: _Optional[str] = ..., base_only: _Optional[bool] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("user_id", "domain", "inputs", "max_new_tokens", "sample", "seed", "temperature", "base_only")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    BASE_ONLY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    domain: str
    inputs: _containers.RepeatedScalarFieldContainer[str]
    max_new_tokens: int
    sample: bool
    seed: int
    temperature: float
    base_only: bool
    def __init__(self, user_id: _Optional[str] = ..., domain: _Optional[str] = ..., inputs: _Optional[_Iterable[str]] = ..., max_new_tokens: _Optional[int] = ..., sample: _Optional[bool] = ..., seed: _Optional[int] = ..., temperature: _Optional[float] = ..., base_only: _Optional[bool] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("label", "score", "text")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    label: str
    score: float
    text: str
    def __init__(self, label: _Optional[str] = ..., score: _Optional[float] = ..., text: _Optional[str] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("variant", "predictions")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    variant: Variant
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    def __init__(self, variant: _Optional[_Union[Variant, _Mapping]] = ..., predictions: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ...) -> None: ...
