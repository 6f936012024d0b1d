"""Tokens and blocks: the units every later stage counts in.

A block is a paragraph as the page laid it out: one line, or for hard-wrapped text (the
Reuters wire style) a run of lines ending at a blank or indented line. Blocks are what
boilerplate detection classifies and what passages are cut from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from dedup.normalise import token_key

try:  # the compiled tokenizer (see setup.py); the regex below does the same without it
    from dedup import _analysis
except ImportError:  # pragma: no cover - depends on the install
    _analysis = None

# Numbers keep their separators ("1,912.65"); words keep inner apostrophes ("don't");
# CJK characters are one token each, since those scripts do not separate words by spaces.
_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]"
    r"|\d+(?:[.,:/]\d+)*"
    r"|[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]"
    r"[^\W_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]*"
    r"(?:'[^\W\d_]+)*"
)
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
_LINE = re.compile(r"[^\n]*")


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)`` of the repaired text."""

    start: int
    end: int


def tokenize(text: str) -> tuple[list[str], list[int], list[int]]:
    """Split `text` into tokens; return the tokens and their start and end offsets."""
    words, starts, ends = [], [], []
    for m in _TOKEN.finditer(text):
        words.append(m.group())
        starts.append(m.start())
        ends.append(m.end())
    return words, starts, ends


def folded_tokens(text: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The tokens of `text` folded by `token_key`, with their start and end offsets (int32)."""
    if _analysis is not None:
        keys, starts, ends = _analysis.tokenize(text)
        return keys, np.frombuffer(starts, np.int32), np.frombuffer(ends, np.int32)
    words, starts, ends = tokenize(text)
    return [token_key(w) for w in words], np.array(starts, np.int32), np.array(ends, np.int32)


def _lines(text: str) -> list[Span]:
    return [Span(m.start(), m.end()) for m in _LINE.finditer(text) if m.start() != m.end() or m.start() == 0]


def _is_hard_wrapped(text: str, lines: list[Span]) -> bool:
    """True for text broken at a fixed width inside paragraphs (wire copy, e-mail).

    Recognised by many lines close to the longest one, most of them ending mid-sentence.
    """
    lengths = [ln.end - ln.start for ln in lines if text[ln.start:ln.end].strip()]
    if len(lengths) < 4:
        return False
    width = max(lengths)
    if width > 110:
        return False
    full = [ln for ln in lines if (ln.end - ln.start) >= 0.7 * width]
    if len(full) < 0.5 * len(lengths):
        return False
    open_ended = sum(1 for ln in full if not _SENTENCE_END.search(text[ln.start:ln.end].rstrip()))
    return open_ended >= 0.6 * len(full)


def split_blocks(text: str) -> list[Span]:
    """Return the non-blank paragraphs of `text`, trimmed of surrounding white space."""
    lines = _lines(text)
    wrapped = _is_hard_wrapped(text, lines)
    blocks: list[Span] = []
    current: Span | None = None
    for ln in lines:
        content = text[ln.start:ln.end]
        if not content.strip():
            if current is not None:
                blocks.append(current)
                current = None
            continue
        starts_paragraph = not wrapped or current is None or content[:1].isspace()
        if starts_paragraph:
            if current is not None:
                blocks.append(current)
            current = ln
        else:
            current = Span(current.start, ln.end)
    if current is not None:
        blocks.append(current)
    return [_trim(text, b) for b in blocks]


def _trim(text: str, span: Span) -> Span:
    start, end = span.start, span.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end)


def ends_sentence(text: str) -> bool:
    """True when `text` ends like a sentence (full stop, question or exclamation mark)."""
    return bool(_SENTENCE_END.search(text.rstrip()))
