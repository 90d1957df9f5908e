"""Tuning errors: each names the bad value, and each is raised before anything is written.

All are ``ValueError`` subclasses so callers (CLI, gRPC servicers) can map them to an
"invalid argument" answer in one place; ``LookupError`` ones mean "not found".
"""

from __future__ import annotations


class TuningError(ValueError):
    """Base class of the tuner's input errors."""


class EmptyTrainingSetError(TuningError):
    pass


class UnseenLabelError(TuningError):
    pass


class UnknownTaskError(TuningError):
    pass


class IncompatibleAdapterError(TuningError):
    pass


class MissingParentAdapterError(TuningError, LookupError):
    pass


class AdapterNotFoundError(TuningError, LookupError):
    pass


class RegistryStateError(TuningError):
    """A promote/rollback that the current statuses do not allow."""
