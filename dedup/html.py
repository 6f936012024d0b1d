"""Main text of a news page, through trafilatura (the field's standard extractor)."""
from __future__ import annotations

import logging

import trafilatura

# trafilatura logs every page it finds too short; those pages are reported by the caller.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)


def extract_text(html: str) -> tuple[str, str]:
    """Return ``(title, text)`` of an HTML page; both empty when no main text is found.

    Comments and tables of links are left out; paragraphs are kept one per line, which is
    what passage segmentation expects.
    """
    text = trafilatura.extract(
        html, include_comments=False, include_tables=False, favor_recall=True, deduplicate=False
    )
    title = ""
    meta = trafilatura.extract_metadata(html)
    if meta is not None and meta.title:
        title = meta.title
    return title, (text or "")
