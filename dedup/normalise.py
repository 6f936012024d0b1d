"""Text clean-up shared by every later stage.

Two levels: `repair` fixes what a scrape or a wrong codec broke (mojibake, compatibility
characters, typographic quotes and dashes, stray control characters) and keeps case and
layout, so its output is what users are shown as evidence; `token_key` folds one token for
comparison.
"""
from __future__ import annotations

import html
import re
import unicodedata

import ftfy

try:  # the compiled layout rules for ASCII text (see setup.py); `repair` does the same without it
    from dedup._analysis import ascii_layout as _ascii_layout
except ImportError:  # pragma: no cover - depends on the install
    _ascii_layout = None

# Byte sequences that UTF-8 text shows after being decoded as cp1252 or latin-1:
# 'Â£' for '£', 'â€™' for '’', 'Ã©' for 'é'. Only text containing one goes to ftfy,
# which is slow (about 2 MB/s) and has nothing to do on clean text.
_MOJIBAKE_HINT = re.compile("[ÂÃâÅÐÑØÙ][\u0080-\u00ff\u2018-\u203a\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u20ac\u2122]")
# A lone 'Â' before white space is what remains of a mis-decoded no-break space
# ('\xc2\xa0') once the no-break space itself was turned into a plain space.
_STRAY_A_CIRCUMFLEX = re.compile("Â(?=\\s|$)")

_TYPOGRAPHY = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u00b4": "'", "\u0060": "'", "\u02bc": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2015": "-", "\u2212": "-", "\ufe58": "-", "\ufe63": "-", "\uff0d": "-",
    "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u200b": "", "\u200c": "",
    "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x0b": "\n", "\x0c": "\n",
    "\t": " ",
}
# The characters of `_TYPOGRAPHY`, found by one regex scan: `str.translate` looks every
# character of a non-ASCII text up in a dict (~70 ns each; a third of analysing a news page).
_TYPOGRAPHIC = re.compile("[" + "".join(map(re.escape, _TYPOGRAPHY)) + "]")
# Control characters other than newline carry no text; NUL bytes and friends are dropped.
_CONTROL = re.compile("[\x00-\x09\x0e-\x1f\x7f-\x9f]")
# The one Unicode space that NFKC leaves as it is (it maps U+2000-U+200A, U+205F and U+3000
# to a plain space).
_OGHAM_SPACE = "\u1680"
# Scraped text often keeps HTML character references ("&amp;", "&#3;", "&lt;ACME&gt;").
_CHAR_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def repair(text: str) -> str:
    """Return `text` with encoding damage repaired and typography unified.

    Keeps case, line breaks and punctuation, so that token offsets into the result can be
    shown to users. Idempotent except on doubly escaped character references.
    """
    if not text.isascii():  # mojibake shows as non-ASCII characters
        if _MOJIBAKE_HINT.search(text):
            text = _fix_mojibake(text)
        text = _STRAY_A_CIRCUMFLEX.sub(" ", text)
    if "&" in text and _CHAR_REFERENCE.search(text):
        text = html.unescape(text)
    if _ascii_layout is not None and text.isascii():
        # NFKC leaves ASCII as it is, so only the layout rules below apply: in one pass.
        return _ascii_layout(text)
    text = unicodedata.normalize("NFKC", text)
    text = _unify_typography(text)
    text = _CONTROL.sub("", text)
    text = _collapse_spaces(text)
    # NFKC can expose characters the table maps (e.g. compatibility quotes); one more pass
    # keeps the function idempotent.
    return _unify_typography(text)


def _fix_mojibake(text: str) -> str:
    """ftfy on the lines that show mojibake, the others untouched: ftfy reads about 2 MB/s,
    and a page's damage is usually in a few of its lines."""
    return "\n".join(ftfy.fix_encoding(line) if _MOJIBAKE_HINT.search(line) else line for line in text.split("\n"))


def _unify_typography(text: str) -> str:
    """Each character of `_TYPOGRAPHY` replaced: typographic quotes, dashes and spaces."""
    return _TYPOGRAPHIC.sub(_typographic_replacement, text)


def _collapse_spaces(text: str) -> str:
    """Each run of spaces as one space; after NFKC every space is a plain one but one. By
    `str.replace` (each pass halves the runs) rather than a regex, which tries every position."""
    if _OGHAM_SPACE in text:
        text = text.replace(_OGHAM_SPACE, " ")
    while "  " in text:
        text = text.replace("  ", " ")
    return text


def _typographic_replacement(found: re.Match) -> str:
    return _TYPOGRAPHY[found.group()]


def token_key(token: str) -> str:
    """Fold a token for comparison (case-insensitive, locale-independent)."""
    return token.casefold()
