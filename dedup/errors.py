"""Typed errors of the engine; adapters map each to a status code or an exit code."""


class DedupError(Exception):
    """Base class of the errors the engine raises on purpose."""


class InvalidArticle(DedupError, ValueError):
    """The article cannot be indexed as given (empty text, bad id, too large, ...)."""


class UnknownArticle(DedupError, KeyError):
    """No article with this id is indexed."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown article"


class ConflictingArticle(DedupError):
    """An article with this id is indexed with different text."""


class IncompatibleIndex(DedupError):
    """The stored index was built with a configuration that differs from the requested one."""


class StoreUnavailable(DedupError):
    """The store cannot be reached or written right now; retrying later may succeed."""


class StoreFailure(DedupError):
    """The store refuses writes for a reason the operator must fix (read-only, disk full)."""


class IndexFull(StoreFailure):
    """The index has numbered as many articles as its band index can hold (see `dedup.lsh`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the index has numbered its maximum of {limit:,} articles; start a new index (shard) for more")


class RequestExpired(DedupError):
    """The caller's deadline passed or it cancelled before the change was committed."""
