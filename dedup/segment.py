"""Tokens and blocks: the units every later stage counts in.

A block is a paragraph as the page laid it out: one line, or for hard-wrapped text (the
Reuters wire style) a run of lines ending at an indented line or a line of only spaces (an
empty line ends nothing: in wire copy it falls mid-sentence). Blocks are what
boilerplate detection classifies and what passages are cut from.
"""
from __future__ import annotations

import re
from typing import NamedTuple

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


class Span(NamedTuple):
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


def _lines(text: str, start: int = 0) -> list[tuple[int, int]]:
    """The (start, end) of each line of `text[start:]` that is not empty. An empty line ends
    no block: wire copy breaks paragraphs at indented lines, and its stray blank lines fall
    mid-sentence."""
    lines = []
    at = start
    for line in (text[start:] if start else text).split("\n"):
        if line:
            lines.append((at, at + len(line)))
        at += len(line) + 1
    return lines


def _is_hard_wrapped(text: str, lines: list[tuple[int, int]]) -> bool:
    """True for text broken at a fixed width inside paragraphs (wire copy, e-mail).

    Recognised by many lines close to the longest one, most of them ending mid-sentence.
    """
    contents = [text[start:end] for start, end in lines]
    lengths = [len(content) for content in contents if not content.isspace()]
    if len(lengths) < 4:
        return False
    width = max(lengths)
    if width > 110:
        return False
    full = [content for content in contents if len(content) >= 0.7 * width]
    if len(full) < 0.5 * len(lengths):
        return False
    open_ended = sum(1 for content in full if not _SENTENCE_END.search(content.rstrip()))
    return open_ended >= 0.6 * len(full)


def split_blocks(text: str, start: int = 0) -> list[Span]:
    """Return the non-blank paragraphs of `text[start:]` (offsets into `text`), trimmed of
    surrounding white space."""
    lines = _lines(text, start)
    wrapped = _is_hard_wrapped(text, lines)
    blocks: list[tuple[int, int]] = []
    start = end = -1  # the block being gathered (start -1: none)
    for line_start, line_end in lines:
        content = text[line_start:line_end]
        if content.isspace():
            if start >= 0:
                blocks.append((start, end))
                start = -1
            continue
        if not wrapped or start < 0 or content[0].isspace():
            if start >= 0:
                blocks.append((start, end))
            start = line_start
        end = line_end
    if start >= 0:
        blocks.append((start, end))
    return [_trim(text, start, end) for start, end in blocks]


def _trim(text: str, start: int, end: int) -> Span:
    block = text[start:end]
    start += len(block) - len(block.lstrip())
    return Span(start, start + len(block.strip()))


def ends_sentence(text: str) -> bool:
    """True when `text` ends like a sentence (full stop, question or exclamation mark)."""
    return bool(_SENTENCE_END.search(text.rstrip()))
