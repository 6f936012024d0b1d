"""The article as callers submit it, and its validation."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping

from dedup.errors import InvalidArticle

MAX_ID_LENGTH = 512
_ID_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Article:
    """One submitted article.

    `text` is the plain text; pages given as HTML are turned into text by
    `dedup.html.extract_text` before they get here (in a batch run, in the worker processes:
    see `dedup.inputs.Page`). `published_at`, when known, decides which
    member of a cluster is the original.
    """

    id: str
    text: str
    title: str = ""
    source: str = ""
    published_at: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def validate(self, max_text_bytes: int) -> None:
        """Raise `InvalidArticle` saying what to fix if this article cannot be indexed."""
        check_id(self.id)
        if not isinstance(self.text, str):
            raise InvalidArticle(f"article {self.id!r}: text must be a string")
        size = len(self.text.encode("utf-8", "surrogatepass"))
        if size > max_text_bytes:
            raise InvalidArticle(
                f"article {self.id!r}: text is {size:,} bytes, over the limit of {max_text_bytes:,}; "
                "split the document or raise max_text_bytes"
            )
        if not self.text.strip() and not self.title.strip():
            raise InvalidArticle(f"article {self.id!r}: text is empty; send the article's body text")
        if not any(ch.isalnum() for ch in self.text) and not any(ch.isalnum() for ch in self.title):
            raise InvalidArticle(f"article {self.id!r}: text has no words (only punctuation, symbols or control characters)")
        if self.published_at is not None and self.published_at.tzinfo is None:
            raise InvalidArticle(f"article {self.id!r}: published_at must carry a time zone")


def check_id(article_id: str) -> None:
    """Raise `InvalidArticle` unless `article_id` is a usable id."""
    if not isinstance(article_id, str) or not article_id.strip():
        raise InvalidArticle("article id is empty; give every article a unique, non-blank id")
    if len(article_id) > MAX_ID_LENGTH:
        raise InvalidArticle(f"article id is {len(article_id)} characters long; the limit is {MAX_ID_LENGTH}")
    if _ID_FORBIDDEN.search(article_id):
        raise InvalidArticle(f"article id {article_id!r} contains control characters")


def parse_timestamp(value: str | None) -> datetime | None:
    """Parse an ISO 8601 timestamp; a time without zone is taken as UTC.

    Raises `InvalidArticle` naming the value when it is not ISO 8601.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidArticle(f"published_at must be an ISO 8601 string, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArticle(f"published_at {value!r} is not an ISO 8601 timestamp (e.g. 2025-02-12T15:07:00Z)") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp
