"""Serving failures the request cannot fix: the server is fine, a resource is not.

They are ``RuntimeError`` subclasses (not ``ValueError``), so the server maps them to
FAILED_PRECONDITION in one place and keeps serving every other variant.
"""

from __future__ import annotations


class ServingPreconditionError(RuntimeError):
    """Base class: the message names the resource and what to do."""


class AdapterUnavailableError(ServingPreconditionError):
    """A variant's adapter files are missing or corrupt; nothing was loaded."""


class BaseModelUnavailableError(ServingPreconditionError):
    """The configured base model could not be loaded."""


class NoLabelsError(ServingPreconditionError):
    """Zero-shot classification by the base model needs label names, and none are known."""


class AdapterCapacityError(RuntimeError):
    """Every resident adapter is in use by requests in flight and none freed up in time.

    Not a precondition: retrying later succeeds (the server answers RESOURCE_EXHAUSTED).
    """


class NonFiniteOutputError(ServingPreconditionError):
    """A variant produced NaN or infinite scores (corrupt weights); the answer is withheld."""


class UnknownAdapterError(RuntimeError):
    """A batch row names an adapter that is not resident: a bug in the caller, never served as the base."""
