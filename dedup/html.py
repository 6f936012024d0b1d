"""Main text of a news page, through trafilatura (the field's standard extractor).

The page is parsed once; the title is read from that tree here rather than by trafilatura's
`extract_metadata`, which also searches for dates, authors and tags (three quarters of the
time of extracting a page, none of it used).
"""
from __future__ import annotations

import logging

import trafilatura

# trafilatura logs every page it finds too short; those pages are reported by the caller.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

# A publisher's own headline for sharing, when the page declares one.
_TITLE_META = ('//meta[@property="og:title" or @name="og:title" or @name="twitter:title" '
               'or @property="twitter:title"]/@content')


def extract_text(html: str | bytes) -> tuple[str, str]:
    """Return ``(title, text)`` of an HTML page (bytes are decoded as the page declares, else
    as guessed); both empty when no main text is found.

    Comments and tables of links are left out; paragraphs are kept one per line, which is
    what passage segmentation expects.
    """
    tree = trafilatura.load_html(html)
    if tree is None:
        return "", ""
    title = page_title(tree)  # first: the extraction prunes the tree it is given
    text = trafilatura.extract(
        tree, include_comments=False, include_tables=False, favor_recall=True, deduplicate=False
    )
    return title, (text or "")


def page_title(tree) -> str:
    """The page's headline: its declared sharing title, else its only ``<h1>``, else its
    ``<title>``, else its first ``<h1>``."""
    for value in tree.xpath(_TITLE_META):
        if value.strip():
            return " ".join(value.split())
    headings = [" ".join(h.text_content().split()) for h in tree.iter("h1")]
    if len(headings) == 1 and headings[0]:
        return headings[0]
    for element in tree.iter("title"):
        text = " ".join(element.text_content().split())
        if text:
            return text
    return next((h for h in headings if h), "")
