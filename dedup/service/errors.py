"""The one place where engine errors become gRPC status codes."""
from __future__ import annotations

import functools
import logging

import grpc

from dedup.errors import (
    ConflictingArticle, DedupError, IncompatibleIndex, InvalidArticle, RequestExpired, StoreFailure,
    StoreUnavailable, UnknownArticle,
)

log = logging.getLogger("dedup.service")

CODES: dict[type[DedupError], grpc.StatusCode] = {
    InvalidArticle: grpc.StatusCode.INVALID_ARGUMENT,
    UnknownArticle: grpc.StatusCode.NOT_FOUND,
    ConflictingArticle: grpc.StatusCode.ALREADY_EXISTS,
    IncompatibleIndex: grpc.StatusCode.FAILED_PRECONDITION,
    StoreFailure: grpc.StatusCode.FAILED_PRECONDITION,
    StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
    RequestExpired: grpc.StatusCode.DEADLINE_EXCEEDED,
}
INTERNAL_MESSAGE = "internal error; the server log has the details"


def status_of(exc: DedupError) -> grpc.StatusCode:
    for kind in type(exc).__mro__:
        if kind in CODES:
            return CODES[kind]
    return grpc.StatusCode.INTERNAL


def unary(method):
    """Turn a servicer method's engine errors into their status; anything else is INTERNAL."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except DedupError as exc:
            context.abort(status_of(exc), str(exc))
        except Exception:  # noqa: BLE001 - the client gets a generic message, the log the traceback
            log.exception("unexpected error in %s", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)

    return wrapper
