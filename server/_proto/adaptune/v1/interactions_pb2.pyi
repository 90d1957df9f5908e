import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Feedback(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEEDBACK_UNSPECIFIED: _ClassVar[Feedback]
    FEEDBACK_POSITIVE: _ClassVar[Feedback]
    FEEDBACK_NEGATIVE: _ClassVar[Feedback]
    FEEDBACK_CORRECTED: _ClassVar[Feedback]
FEEDBACK_UNSPECIFIED: Feedback
FEEDBACK_POSITIVE: Feedback
FEEDBACK_NEGATIVE: Feedback
FEEDBACK_CORRECTED: Feedback

class Interaction(_message.Message):
    __slots__ = ("event_id", "user_id", "domain", "input_text", "model_output", "feedback", "correction", "variant_id", "event_time", "attributes", "seq")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    INPUT_TEXT_FIELD_NUMBER: _ClassVar[int]
    MODEL_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    user_id: str
    domain: str
    input_text: str
    model_output: str
    feedback: Feedback
    correction: str
    variant_id: str
    event_time: _timestamp_pb2.Timestamp
    attributes: _containers.ScalarMap[str, str]
    seq: int
    def __init__(self, event_id: _Optional[str] = ..., user_id: _Optional[str] = ..., domain: _Optional[str] = ..., input_text: _Optional[str] = ..., model_output: _Optional[str] = ..., feedback: _Optional[_Union[Feedback, str]] = ..., correction: _Optional[str] = ..., variant_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., seq: _Optional[int] = ...) -> None: ...

class InteractionBatch(_message.Message):
    __slots__ = ("interactions",)
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    interactions: _containers.RepeatedCompositeFieldContainer[Interaction]
    def __init__(self, interactions: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("batch_index", "index", "event_id", "field", "reason", "code")
    BATCH_INDEX_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    batch_index: int
    index: int
    event_id: str
    field: str
    reason: str
    code: str
    def __init__(self, batch_index: _Optional[int] = ..., index: _Optional[int] = ..., event_id: _Optional[str] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class LogSummary(_message.Message):
    __slots__ = ("accepted", "duplicates", "rejected", "rejections", "batches", "rejections_truncated")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    rejected: int
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    batches: int
    rejections_truncated: bool
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ..., batches: _Optional[int] = ..., rejections_truncated: _Optional[bool] = ...) -> None: ...

class LogInteractionRequest(_message.Message):
    __slots__ = ("interaction",)
    INTERACTION_FIELD_NUMBER: _ClassVar[int]
    interaction: Interaction
    def __init__(self, interaction: _Optional[_Union[Interaction, _Mapping]] = ...) -> None: ...

class LogInteractionResponse(_message.Message):
    __slots__ = ("duplicate",)
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    def __init__(self, duplicate: _Optional[bool] = ...) -> None: ...

class InteractionStatsRequest(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    def __init__(self, domain: _Optional[str] = ...) -> None: ...

class DomainFeedbackCount(_message.Message):
    __slots__ = ("domain", "feedback", "count")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    domain: str
    feedback: Feedback
    count: int
    def __init__(self, domain: _Optional[str] = ..., feedback: _Optional[_Union[Feedback, str]] = ..., count: _Optional[int] = ...) -> None: ...

class InteractionStatsResponse(_message.Message):
    __slots__ = ("total", "counts", "users")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    total: int
    counts: _containers.RepeatedCompositeFieldContainer[DomainFeedbackCount]
    users: int
    def __init__(self, total: _Optional[int] = ..., counts: _Optional[_Iterable[_Union[DomainFeedbackCount, _Mapping]]] = ..., users: _Optional[int] = ...) -> None: ...

class ListInteractionsRequest(_message.Message):
    __slots__ = ("domain", "user_id", "limit", "page_token")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    user_id: str
    limit: int
    page_token: str
    def __init__(self, domain: _Optional[str] = ..., user_id: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInteractionsResponse(_message.Message):
    __slots__ = ("interactions", "next_page_token")
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    interactions: _containers.RepeatedCompositeFieldContainer[Interaction]
    next_page_token: str
    def __init__(self, interactions: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DomainLabel(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class Domain(_message.Message):
    __slots__ = ("name", "parent", "description", "labels", "review_policy", "review_threshold")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    REVIEW_POLICY_FIELD_NUMBER: _ClassVar[int]
    REVIEW_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    name: str
    parent: str
    description: str
    labels: _containers.RepeatedCompositeFieldContainer[DomainLabel]
    review_policy: str
    review_threshold: float
    def __init__(self, name: _Optional[str] = ..., parent: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[DomainLabel, _Mapping]]] = ..., review_policy: _Optional[str] = ..., review_threshold: _Optional[float] = ...) -> None: ...

class UpsertDomainRequest(_message.Message):
    __slots__ = ("domain", "clear_labels")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    CLEAR_LABELS_FIELD_NUMBER: _ClassVar[int]
    domain: Domain
    clear_labels: bool
    def __init__(self, domain: _Optional[_Union[Domain, _Mapping]] = ..., clear_labels: _Optional[bool] = ...) -> None: ...

class ListDomainsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDomainsResponse(_message.Message):
    __slots__ = ("domains", "truncated")
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    domains: _containers.RepeatedCompositeFieldContainer[Domain]
    truncated: bool
    def __init__(self, domains: _Optional[_Iterable[_Union[Domain, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...
